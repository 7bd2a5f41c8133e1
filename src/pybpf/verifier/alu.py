"""ALU instructions: operand checks, scalar results, pointer arithmetic.

:func:`check_alu_op` is the kernel's ``check_alu_op``: reserved fields,
division by a zero constant, shift ranges, moves (with the ids that link a
copy to its original), scalar operations through :mod:`.scalar`, and
:func:`adjust_ptr` for arithmetic on pointers (which pointer types allow
which operations, the offset limits, and for unprivileged programs the
Spectre v1 checks).
"""

from __future__ import annotations

from ..isa import Insn
from ..isa.opcodes import (
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_DIV,
    BPF_END,
    BPF_K,
    BPF_LSH,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_TO_LE,
    BPF_X,
    BPF_XOR,
)
from ..spec.verifier import BPF_MAX_VAR_OFF, MAX_BPF_STACK, OP_MASK
from . import scalar
from . import tnum as tn
from .env import DST_OP, DST_OP_NO_MARK, SRC_OP, Env
from .memory import check_map_access, check_stack_access_for_ptr_arithmetic
from .precision import mark_chain_precision
from .state import (
    BPF_ADD_CONST,
    BPF_REG_FP,
    CONST_PTR_TO_DYNPTR,
    CONST_PTR_TO_MAP,
    PTR_MAYBE_NULL,
    PTR_TO_BTF_ID,
    PTR_TO_BUF,
    PTR_TO_CTX,
    PTR_TO_FLOW_KEYS,
    PTR_TO_FUNC,
    PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_PACKET,
    PTR_TO_PACKET_META,
    PTR_TO_STACK,
    PTR_TO_TP_BUFFER,
    PTR_UNTRUSTED,
    S32_MAX,
    S64_MAX,
    S64_MIN,
    SCALAR_VALUE,
    Reg,
    base_type,
    set_known,
    set_unbounded32,
    type_str,
)
from .tnum import U64

ALU_NAMES = {BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=", BPF_AND: "&=",
             BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_NEG: "neg", BPF_MOD: "%=", BPF_XOR: "^=",
             BPF_MOV: "=", BPF_ARSH: "s>>=", BPF_END: "endian"}

ALU_SANITIZE_SRC = 1
ALU_SANITIZE_DST = 2
ALU_NEG_VALUE = 4
ALU_NON_POINTER = 8
ALU_IMMEDIATE = 16

REASON_BOUNDS = -1
REASON_TYPE = -2
REASON_PATHS = -3
REASON_LIMIT = -4
REASON_STACK = -5

POINTER_ARITH_TYPES = frozenset({PTR_TO_CTX, PTR_TO_MAP_VALUE, PTR_TO_MAP_KEY, PTR_TO_STACK,
                                 PTR_TO_PACKET_META, PTR_TO_PACKET, PTR_TO_TP_BUFFER,
                                 PTR_TO_BTF_ID, PTR_TO_MEM, PTR_TO_BUF, PTR_TO_FUNC,
                                 CONST_PTR_TO_DYNPTR})


def reg_width(r: Reg) -> int:
    """Bits needed for the largest unsigned value of ``r``."""
    return r.umax.bit_length()


def assign_scalar_id_before_mov(env: Env, regs: list, regno: int) -> Reg:
    """Give a scalar an id before it is copied (so that bounds learned on
    the copy reach the original); returns the register now in ``regs``."""
    r = regs[regno]
    if r.type != SCALAR_VALUE:
        return r
    if r.id & BPF_ADD_CONST or (not r.id and r.var_off[1] != 0):
        r = r.copy()
        if r.id & BPF_ADD_CONST:
            r.id = 0
            r.off = 0
        if not r.id and r.var_off[1] != 0:
            r.id = env.new_id()
        regs[regno] = r
    return r


FAST_K_OPS = frozenset({BPF_ADD, BPF_SUB, BPF_MUL, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH, BPF_RSH,
                        BPF_ARSH})
_K_REGS: dict[int, Reg] = {}


def _known_k(imm: int) -> Reg:
    """The (shared, never changed) scalar standing for immediate ``imm``."""
    r = _K_REGS.get(imm)
    if r is None:
        r = Reg(SCALAR_VALUE)
        set_known(r, imm)
        if len(_K_REGS) < 4096:
            _K_REGS[imm] = r
    return r


def check_alu_op(env: Env, insn: Insn) -> None:
    """Check one ALU or ALU64 instruction and update its destination."""
    code = insn.opcode
    dst = insn.dst
    if not code & BPF_X and insn.src == 0 and insn.off == 0 and dst < BPF_REG_FP:
        # the common case, a scalar and an immediate: the general path below
        # without what cannot apply to it
        op = code & OP_MASK
        regs = env.regs
        if op == BPF_MOV:
            env.scratched_regs.add(dst)
            r = env.unknown()
            set_known(r, insn.imm if code & 7 == BPF_ALU64 else insn.imm & 0xFFFFFFFF)
            regs[dst] = r
            return
        d = regs[dst]
        if op in FAST_K_OPS and d.type == SCALAR_VALUE:
            alu64 = code & 7 == BPF_ALU64
            imm = insn.imm
            if op in (BPF_LSH, BPF_RSH, BPF_ARSH) and not 0 <= imm < (64 if alu64 else 32):
                pass
            else:
                env.scratched_regs.add(dst)
                nd = d.copy()
                k = _known_k(imm)
                scalar.alu(nd, k, op, not alu64)
                if env.bpf_capable and op == BPF_ADD and alu64 and nd.id:
                    val = k.var_off[0]
                    if nd.id & BPF_ADD_CONST or val > S32_MAX:
                        nd.off = 0
                        nd.id = 0
                    else:
                        nd.id |= BPF_ADD_CONST
                        nd.off = val
                else:
                    nd.id = 0
                if nd.var_off[1]:
                    why = scalar.bounds_sane(nd)
                    if why:
                        regs[dst] = nd
                        _bounds_violation(env, dst, "alu", why)
                regs[dst] = nd
                return
    regs = env.regs
    op = code & OP_MASK
    cls = code & 7
    alu64 = cls == BPF_ALU64
    dst = insn.dst
    if op in (BPF_END, BPF_NEG):
        if op == BPF_NEG:
            if code & BPF_X or insn.src != 0 or insn.off != 0 or insn.imm != 0:
                raise env.error("BPF_NEG uses reserved fields", "EINVAL")
        elif (insn.src != 0 or insn.off != 0 or insn.imm not in (16, 32, 64)
              or (alu64 and code & BPF_X != BPF_TO_LE)):
            raise env.error("BPF_END uses reserved fields", "EINVAL")
        env.check_reg_arg(dst, SRC_OP)
        if env.is_pointer_value(dst):
            raise env.error(f"R{dst} pointer arithmetic prohibited")
        if op == BPF_NEG and regs[dst].type == SCALAR_VALUE:
            env.check_reg_arg(dst, DST_OP_NO_MARK)
            d = regs[dst].copy()
            scalar.alu(d, d, BPF_NEG, not alu64)
            d.id = 0
            regs[dst] = d
        elif op == BPF_END and regs[dst].type == SCALAR_VALUE:
            env.check_reg_arg(dst, DST_OP_NO_MARK)
            d = regs[dst].copy()
            # on this little-endian model, to_le only truncates; to_be and
            # the ALU64 bswap reverse the bytes
            scalar.byte_swap(d, insn.imm, alu64 or bool(code & BPF_X))
            d.id = 0
            regs[dst] = d
        else:
            env.check_reg_arg(dst, DST_OP)
    elif op == BPF_MOV:
        if code & BPF_X:
            if cls == BPF_ALU:
                if insn.off not in (0, 8, 16) or insn.imm:
                    raise env.error("BPF_MOV uses reserved fields", "EINVAL")
            elif insn.off == 1:
                if insn.imm not in (1, 1 << 16):
                    raise env.error("addr_space_cast insn can only convert between address "
                                    "space 1 and 0", "EINVAL")
                raise env.error("addr_space_cast insn can only be used in a program that has "
                                "an associated arena", "EINVAL")
            elif insn.off not in (0, 8, 16, 32) or insn.imm:
                raise env.error("BPF_MOV uses reserved fields", "EINVAL")
            env.check_reg_arg(insn.src, SRC_OP)
        elif insn.src != 0 or insn.off != 0:
            raise env.error("BPF_MOV uses reserved fields", "EINVAL")
        env.check_reg_arg(dst, DST_OP_NO_MARK)
        if code & BPF_X:
            src = insn.src
            s = regs[src]
            if alu64:
                if insn.off == 0:
                    s = assign_scalar_id_before_mov(env, regs, src)
                    regs[dst] = s
                else:
                    if env.is_pointer_value(src):
                        raise env.error(f"R{src} sign-extension part of pointer")
                    if s.type == SCALAR_VALUE:
                        no_sext = s.umax < (1 << (insn.off - 1))
                        if no_sext:
                            s = assign_scalar_id_before_mov(env, regs, src)
                        d = s.copy()
                        if not no_sext:
                            d.id = 0
                        scalar.coerce_to_size_sx(d, insn.off >> 3)
                        regs[dst] = d
                    else:
                        regs[dst] = env.unknown()
            else:
                if env.is_pointer_value(src):
                    raise env.error(f"R{src} partial copy of pointer")
                if s.type == SCALAR_VALUE:
                    if insn.off == 0:
                        is_u32 = reg_width(s) <= 32
                        if is_u32:
                            s = assign_scalar_id_before_mov(env, regs, src)
                        d = s.copy()
                        if not is_u32:
                            d.id = 0
                    else:
                        no_sext = s.umax < (1 << (insn.off - 1))
                        if no_sext:
                            s = assign_scalar_id_before_mov(env, regs, src)
                        d = s.copy()
                        if not no_sext:
                            d.id = 0
                        scalar.coerce_subreg_to_size_sx(d, insn.off >> 3)
                else:
                    d = env.unknown()
                scalar.zext_32_to_64(d)
                scalar.sync(d)
                regs[dst] = d
        else:
            d = env.unknown()
            set_known(d, insn.imm if alu64 else insn.imm & 0xFFFFFFFF)
            regs[dst] = d
    elif op > BPF_END:
        raise env.error(f"invalid BPF_ALU opcode {op >> 4:x}", "EINVAL")
    else:
        if code & BPF_X:
            if insn.imm != 0 or insn.off not in (0, 1) or \
                    (insn.off == 1 and op not in (BPF_MOD, BPF_DIV)):
                raise env.error("BPF_ALU uses reserved fields", "EINVAL")
            env.check_reg_arg(insn.src, SRC_OP)
        elif insn.src != 0 or insn.off not in (0, 1) or \
                (insn.off == 1 and op not in (BPF_MOD, BPF_DIV)):
            raise env.error("BPF_ALU uses reserved fields", "EINVAL")
        env.check_reg_arg(dst, SRC_OP)
        if op in (BPF_MOD, BPF_DIV) and not code & BPF_X and insn.imm == 0:
            raise env.error("div by zero", "EINVAL")
        if op in (BPF_LSH, BPF_RSH, BPF_ARSH) and not code & BPF_X:
            size = 64 if alu64 else 32
            if insn.imm < 0 or insn.imm >= size:
                raise env.error(f"invalid shift {insn.imm}", "EINVAL")
        env.check_reg_arg(dst, DST_OP_NO_MARK)
        adjust_reg_min_max_vals(env, insn)
    why = scalar.bounds_sane(env.regs[dst])
    if why:
        _bounds_violation(env, dst, "alu", why)


def _bounds_violation(env: Env, regno: int, ctx: str, why: str) -> None:
    r = env.regs[regno]
    raise env.error(
        f"REG INVARIANTS VIOLATION ({ctx}): {why} u64=[{r.umin:#x}, {r.umax:#x}] "
        f"s64=[{r.smin & U64:#x}, {r.smax & U64:#x}] u32=[{r.u32_min:#x}, {r.u32_max:#x}] "
        f"s32=[{r.s32_min & 0xFFFFFFFF:#x}, {r.s32_max & 0xFFFFFFFF:#x}] "
        f"var_off=({r.var_off[0]:#x}, {r.var_off[1]:#x})", "EFAULT")


def adjust_reg_min_max_vals(env: Env, insn: Insn) -> None:
    regs = env.regs
    code = insn.opcode
    alu32 = code & 7 != BPF_ALU64
    op = code & OP_MASK
    dst_reg = regs[insn.dst]
    ptr_is_dst = dst_reg.type != SCALAR_VALUE
    if code & BPF_X:
        src_reg = regs[insn.src]
        if src_reg.type != SCALAR_VALUE:
            if dst_reg.type != SCALAR_VALUE:
                if op == BPF_SUB and env.allow_ptr_leaks:
                    env.mark_unknown(insn.dst)
                    return
                raise env.error(f"R{insn.dst} pointer {ALU_NAMES[op]} pointer prohibited")
            mark_chain_precision(env, insn.dst)
            adjust_ptr(env, insn, src_reg, regs[insn.dst], ptr_is_dst=False)
            return
        if ptr_is_dst:
            mark_chain_precision(env, insn.src)
            adjust_ptr(env, insn, dst_reg, src_reg, ptr_is_dst=True)
            return
        if dst_reg.precise:
            mark_chain_precision(env, insn.src)
        src_reg = regs[insn.src]
    else:
        src_reg = _known_k(insn.imm)
        if ptr_is_dst:
            adjust_ptr(env, insn, dst_reg, src_reg, ptr_is_dst=True)
            return
    if op in (BPF_ADD, BPF_SUB) and not _can_skip_sanitation(env, insn):
        aux = env.aux[env.insn_idx]
        if aux.alu_state and (aux.alu_state != ALU_NON_POINTER or aux.alu_limit != 0):
            _sanitize_err(env, insn, REASON_PATHS, None, None)
        aux.alu_state = ALU_NON_POINTER
        aux.alu_limit = 0
    d = regs[insn.dst].copy()
    same = insn.src == insn.dst and code & BPF_X
    scalar.alu(d, d.copy() if same else src_reg, op, alu32)
    if env.bpf_capable and op == BPF_ADD and not alu32 and d.id and \
            scalar.is_const(src_reg, False):
        val = src_reg.var_off[0]
        if d.id & BPF_ADD_CONST or val > S32_MAX:
            d.off = 0
            d.id = 0
        else:
            d.id |= BPF_ADD_CONST
            d.off = val
    else:
        d.id = 0
    regs[insn.dst] = d


def _can_skip_sanitation(env: Env, insn: Insn) -> bool:
    return env.bypass_spec_v1 or not insn.opcode & BPF_X or env.aux[env.insn_idx].nospec


def _sanitize_err(env: Env, insn: Insn, reason: int, off_is_dst: bool | None,
                  _unused: object) -> None:
    err = "pointer arithmetic with it prohibited for !root"
    op = "add" if insn.opcode & OP_MASK == BPF_ADD else "sub"
    dst, src = insn.dst, insn.src
    if reason == REASON_BOUNDS:
        raise env.error(f"R{dst if off_is_dst else src} has unknown scalar with mixed signed "
                        f"bounds, {err}")
    if reason == REASON_TYPE:
        raise env.error(f"R{dst} has pointer with unsupported alu operation, {err}")
    if reason == REASON_PATHS:
        raise env.error(f"R{dst} tried to {op} from different maps, paths or scalars, {err}")
    if reason == REASON_LIMIT:
        raise env.error(f"R{dst} tried to {op} beyond pointer bounds, {err}")
    raise env.error(f"R{dst} could not be pushed for speculative verification, {err}",
                    "ENOMEM")


def _retrieve_ptr_limit(ptr: Reg, mask_to_left: bool) -> int:
    if ptr.type == PTR_TO_STACK:
        limit_max = MAX_BPF_STACK + int(mask_to_left)
        limit = (-(ptr.var_off[0] + ptr.off)) & 0xFFFFFFFF
    elif ptr.type == PTR_TO_MAP_VALUE:
        limit_max = ptr.map.value_size
        limit = ((ptr.smin if mask_to_left else ptr.umax) + ptr.off) & 0xFFFFFFFF
    else:
        return REASON_TYPE
    if limit >= limit_max:
        return REASON_LIMIT
    return limit


def _sanitize_ptr_alu(env: Env, insn: Insn, ptr: Reg, off_reg: Reg, commit: bool,
                      info: dict) -> int:
    """The unprivileged masking bookkeeping of pointer ``+=``/``-=`` (0 or a
    REASON_*)."""
    if _can_skip_sanitation(env, insn):
        return 0
    if env.cur.speculative:
        return 0
    op = insn.opcode & OP_MASK
    off_is_imm = off_reg.var_off[1] == 0
    off_is_neg = off_reg.smin < 0
    if not commit:
        if not off_is_imm and (off_reg.smin < 0) != (off_reg.smax < 0):
            return REASON_BOUNDS
        info["mask_to_left"] = (op == BPF_ADD and off_is_neg) or (op == BPF_SUB and not off_is_neg)
    limit = _retrieve_ptr_limit(ptr, info.get("mask_to_left", False))
    if limit < 0:
        return limit
    aux = env.aux[env.insn_idx]
    if commit:
        state = info["alu_state"]
        limit = abs(info["alu_limit"] - limit)
    else:
        state = (ALU_NEG_VALUE if off_is_neg else 0) | (ALU_IMMEDIATE if off_is_imm else 0)
        state |= ALU_SANITIZE_SRC if info["ptr_is_dst"] else ALU_SANITIZE_DST
        info["alu_state"] = state
        info["alu_limit"] = limit
        return 0
    if aux.alu_state and (aux.alu_state != state or aux.alu_limit != limit):
        return REASON_PATHS
    aux.alu_state = state
    aux.alu_limit = limit
    return 0


def check_reg_sane_offset(env: Env, reg: Reg, ptype: int) -> None:
    known = reg.var_off[1] == 0
    val = reg.var_off[0] - (1 << 64) if reg.var_off[0] >> 63 else reg.var_off[0]
    name = type_str(ptype)
    if known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
        raise env.error(f"math between {name} pointer and {val} is not allowed")
    if reg.off >= BPF_MAX_VAR_OFF or reg.off <= -BPF_MAX_VAR_OFF:
        raise env.error(f"{name} pointer offset {reg.off} is not allowed")
    if reg.smin == S64_MIN:
        raise env.error(f"math between {name} pointer and register with unbounded min value "
                        f"is not allowed")
    if reg.smin >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
        raise env.error(f"value {reg.smin} makes {name} pointer be out of bounds")


def _s32_fits(v: int) -> bool:
    return -(1 << 31) <= v <= (1 << 31) - 1


def adjust_ptr(env: Env, insn: Insn, ptr: Reg, off_reg: Reg, *, ptr_is_dst: bool) -> None:
    """Pointer arithmetic: ``dst = ptr <op> off_reg`` where one operand is a
    pointer and the other a scalar (the kernel's ``adjust_ptr_min_max_vals``)."""
    regs = env.regs
    dstno = insn.dst
    op = insn.opcode & OP_MASK
    known = off_reg.var_off[1] == 0
    smin_val, smax_val = off_reg.smin, off_reg.smax
    umin_val, umax_val = off_reg.umin, off_reg.umax
    if (known and (smin_val != smax_val or umin_val != umax_val)) or smin_val > smax_val \
            or umin_val > umax_val:
        regs[dstno] = Reg(SCALAR_VALUE)
        regs[dstno].precise = not env.bpf_capable
        return
    if insn.opcode & 7 != BPF_ALU64:
        if op == BPF_SUB and env.allow_ptr_leaks:
            regs[dstno] = env.unknown()
            return
        raise env.error(f"R{dstno} 32-bit pointer arithmetic prohibited")
    if ptr.type & PTR_MAYBE_NULL:
        raise env.error(f"R{dstno} pointer arithmetic on {type_str(ptr.type)} prohibited, "
                        f"null-check it first")
    if base_type(ptr.type) == PTR_TO_MEM and ptr.type & PTR_UNTRUSTED:
        return
    b = base_type(ptr.type)
    if b not in POINTER_ARITH_TYPES:
        ok = False
        if (b == PTR_TO_FLOW_KEYS and known) or (b in (PTR_TO_FLOW_KEYS, CONST_PTR_TO_MAP) and known and smin_val == 0 and \
                op == BPF_ADD):
            ok = True
        if not ok:
            raise env.error(f"R{dstno} pointer arithmetic on {type_str(ptr.type)} prohibited")
    d = ptr.copy()
    d.type = ptr.type
    d.id = ptr.id
    check_reg_sane_offset(env, off_reg, ptr.type)
    check_reg_sane_offset(env, ptr, ptr.type)
    set_unbounded32(d)
    info: dict = {"ptr_is_dst": ptr_is_dst}
    if op in (BPF_ADD, BPF_SUB):
        ret = _sanitize_ptr_alu(env, insn, ptr, off_reg, False, info)
        if ret < 0:
            _sanitize_err(env, insn, ret, not ptr_is_dst, None)
    smin_ptr, smax_ptr, umin_ptr, umax_ptr = ptr.smin, ptr.smax, ptr.umin, ptr.umax
    if op == BPF_ADD:
        if known and _s32_fits(ptr.off + smin_val):
            d.smin, d.smax, d.umin, d.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            d.var_off = ptr.var_off
            d.off = ptr.off + smin_val
        else:
            lo, hi = smin_ptr + smin_val, smax_ptr + smax_val
            if lo < S64_MIN or lo > S64_MAX or hi < S64_MIN or hi > S64_MAX:
                d.smin, d.smax = S64_MIN, S64_MAX
            else:
                d.smin, d.smax = lo, hi
            lo, hi = umin_ptr + umin_val, umax_ptr + umax_val
            if lo > U64 or hi > U64:
                d.umin, d.umax = 0, U64
            else:
                d.umin, d.umax = lo, hi
            d.var_off = tn.add(ptr.var_off, off_reg.var_off)
            d.off = ptr.off
            if ptr.is_pkt_pointer():
                d.id = env.new_id()
                d.range = 0
    elif op == BPF_SUB:
        if not ptr_is_dst:
            raise env.error(f"R{dstno} tried to subtract pointer from scalar")
        if ptr.type == PTR_TO_STACK:
            raise env.error(f"R{dstno} subtraction from stack pointer prohibited")
        if known and _s32_fits(ptr.off - smin_val):
            d.smin, d.smax, d.umin, d.umax = smin_ptr, smax_ptr, umin_ptr, umax_ptr
            d.var_off = ptr.var_off
            d.id = ptr.id
            d.off = ptr.off - smin_val
        else:
            lo, hi = smin_ptr - smax_val, smax_ptr - smin_val
            if lo < S64_MIN or lo > S64_MAX or hi < S64_MIN or hi > S64_MAX:
                d.smin, d.smax = S64_MIN, S64_MAX
            else:
                d.smin, d.smax = lo, hi
            if umin_ptr < umax_val:
                d.umin, d.umax = 0, U64
            else:
                d.umin, d.umax = umin_ptr - umax_val, umax_ptr - umin_val
            d.var_off = tn.sub(ptr.var_off, off_reg.var_off)
            d.off = ptr.off
            if ptr.is_pkt_pointer():
                d.id = env.new_id()
                if smin_val < 0:
                    d.range = 0
    elif op in (BPF_AND, BPF_OR, BPF_XOR):
        raise env.error(f"R{dstno} bitwise operator {ALU_NAMES[op]} on pointer prohibited")
    else:
        raise env.error(f"R{dstno} pointer arithmetic with {ALU_NAMES[op]} operator prohibited")
    check_reg_sane_offset(env, d, ptr.type)
    scalar.sync(d)
    regs[dstno] = d
    if not env.bypass_spec_v1:
        _sanitize_check_bounds(env, dstno, d)
    if op in (BPF_ADD, BPF_SUB):
        ret = _sanitize_ptr_alu(env, insn, d, off_reg, True, info)
        if ret < 0:
            _sanitize_err(env, insn, ret, not ptr_is_dst, None)


def _sanitize_check_bounds(env: Env, dstno: int, d: Reg) -> None:
    """Unprivileged pointers must stay inside their object."""
    if d.type == PTR_TO_STACK:
        check_stack_access_for_ptr_arithmetic(env, dstno, d, d.off + d.var_off[0])
    elif d.type == PTR_TO_MAP_VALUE:
        try:
            saved = list(env.messages)
            check_map_access(env, dstno, d.off, 1, False, helper=True, quiet=True)
        except Exception:
            env.messages = saved
            raise env.error(f"R{dstno} pointer arithmetic of map value goes out of range, "
                            f"prohibited for !root") from None


def is_safe_pointer_to_mov(r: Reg) -> bool:
    return r.type != SCALAR_VALUE


def mark_reg32_unbounded(r: Reg) -> None:
    set_unbounded32(r)


def is_alu_k(insn: Insn) -> bool:
    return not insn.opcode & BPF_X and insn.opcode & 7 in (BPF_ALU, BPF_ALU64) and \
        insn.opcode & OP_MASK != BPF_K
