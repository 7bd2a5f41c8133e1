"""Memory accesses: loads, stores and atomics through every pointer type.

:func:`check_mem_access` is the kernel's function of that name: alignment,
then by the pointer's type the bounds of a map value or key, the stack
(spills and fills of registers, initialised bytes, the 512-byte frame),
the context (per program type, :mod:`.context`), the packet (the range
proven by comparisons with ``data_end``), memory returned by helpers,
sockets.  The instruction-level checks (:func:`check_load`,
:func:`check_store`, :func:`check_store_imm`, :func:`check_atomic`,
:func:`check_ld_abs`, :func:`check_ld_imm`) and the helper-argument
checks of memory regions (:func:`check_helper_mem_access`) are here too.
"""

from __future__ import annotations

from ..isa import Insn
from ..isa.opcodes import (
    BPF_ABS,
    BPF_ADD,
    BPF_AND,
    BPF_CMPXCHG,
    BPF_DW,
    BPF_FETCH,
    BPF_IND,
    BPF_LOAD_ACQ,
    BPF_MEM,
    BPF_MEMSX,
    BPF_OR,
    BPF_STORE_REL,
    BPF_W,
    BPF_XCHG,
    BPF_XOR,
    PSEUDO_BTF_ID,
    PSEUDO_FUNC,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    SIZE_BYTES,
)
from ..spec.verifier import BPF_MAX_VAR_OFF, MAX_BPF_STACK, MODE_MASK, SIZE_MASK
from . import context as ctxmod
from . import scalar
from . import tnum as tn
from .btfaccess import btf_reg_access, struct_access
from .env import DST_OP, DST_OP_NO_MARK, SRC_OP, Env, Reject
from .maps import SPECIAL_FIELD_SIZES
from .precision import mark_chain_precision, push_jmp_history, stack_access_flags
from .refs import check_resource_leak
from .state import (
    BPF_ADD_CONST,
    BPF_REG_SIZE,
    CONST_PTR_TO_MAP,
    MEM_RDONLY,
    NOT_INIT,
    NOT_INIT_REG,
    PTR_MAYBE_NULL,
    PTR_TO_ARENA,
    PTR_TO_BTF_ID,
    PTR_TO_BUF,
    PTR_TO_CTX,
    PTR_TO_FLOW_KEYS,
    PTR_TO_FUNC,
    PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_PACKET,
    PTR_TO_PACKET_END,
    PTR_TO_PACKET_META,
    PTR_TO_SOCK_COMMON,
    PTR_TO_SOCKET,
    PTR_TO_STACK,
    PTR_TO_TCP_SOCK,
    PTR_TO_TP_BUFFER,
    PTR_TO_XDP_SOCK,
    PTR_UNTRUSTED,
    S64_MIN,
    SCALAR_VALUE,
    STACK_INVALID,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    FuncState,
    Reg,
    Slot,
    base_type,
    set_known,
    type_str,
)
from .tnum import U32

READ = 0
WRITE = 1

SK_POINTERS = frozenset({PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK})
SPILLABLE = frozenset({PTR_TO_MAP_VALUE, PTR_TO_STACK, PTR_TO_CTX, PTR_TO_PACKET,
                       PTR_TO_PACKET_META, PTR_TO_PACKET_END, PTR_TO_FLOW_KEYS,
                       CONST_PTR_TO_MAP, PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK,
                       PTR_TO_XDP_SOCK, PTR_TO_BTF_ID, PTR_TO_BUF, PTR_TO_MEM, PTR_TO_FUNC,
                       PTR_TO_MAP_KEY, PTR_TO_ARENA})

DIRECT_PKT_READ_ONLY = frozenset({"lwt_in", "lwt_out", "lwt_seg6local", "sk_reuseport",
                                  "flow_dissector", "cgroup_skb"})
DIRECT_PKT_READ_WRITE = frozenset({"sched_cls", "sched_act", "xdp", "lwt_xmit", "sk_skb",
                                   "sk_msg"})
FLOW_KEYS_SIZE = 56


def _i32(v: int) -> int:
    v &= U32
    return v - (1 << 32) if v >> 31 else v


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


# --- alignment -----------------------------------------------------------------------------

ALIGN_DESC = {PTR_TO_FLOW_KEYS: "flow keys ", PTR_TO_MAP_KEY: "key ", PTR_TO_MAP_VALUE: "value ",
              PTR_TO_CTX: "context ", PTR_TO_STACK: "stack ", PTR_TO_SOCKET: "sock ",
              PTR_TO_SOCK_COMMON: "sock_common ", PTR_TO_TCP_SOCK: "tcp_sock ",
              PTR_TO_XDP_SOCK: "xdp_sock "}


def check_ptr_alignment(env: Env, reg: Reg, off: int, size: int, strict_once: bool) -> None:
    strict = env.strict_alignment or strict_once
    t = reg.type
    if t in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        if not strict or size == 1:
            return
        ip_align = 2
        reg_off = tn.add(reg.var_off, tn.const(ip_align + reg.off + off))
        if not tn.is_aligned(reg_off, size):
            raise env.error(f"misaligned packet access off {ip_align}+{tn.to_str(reg.var_off)}"
                            f"+{reg.off}+{off} size {size}")
        return
    if t == PTR_TO_ARENA:
        return
    if t == PTR_TO_STACK:
        strict = True
    desc = ALIGN_DESC.get(t, "")
    if not strict or size == 1:
        return
    reg_off = tn.add(reg.var_off, tn.const(reg.off + off))
    if not tn.is_aligned(reg_off, size):
        raise env.error(f"misaligned {desc}access off {tn.to_str(reg.var_off)}+{reg.off}+{off} "
                        f"size {size}")


# --- bounded regions -----------------------------------------------------------------------

def _mem_access_ok(env: Env, regno: int, off: int, size: int, mem_size: int,
                   zero_size_allowed: bool) -> bool:
    off = _i32(off)
    size_ok = size > 0 or (size == 0 and zero_size_allowed)
    if off >= 0 and size_ok and off + size <= mem_size:
        return True
    reg = env.regs[regno]
    t = reg.type
    if t == PTR_TO_MAP_KEY:
        env.verbose(f"invalid access to map key, key_size={mem_size} off={off} size={size}")
    elif t == PTR_TO_MAP_VALUE:
        env.verbose(f"invalid access to map value, value_size={mem_size} off={off} size={size}")
    elif t in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END):
        env.verbose(f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},"
                    f"off={off},r={mem_size})")
    else:
        env.verbose(f"invalid access to memory, mem_size={mem_size} off={off} size={size}")
    return False


def check_mem_region_access(env: Env, regno: int, off: int, size: int, mem_size: int,
                            zero_size_allowed: bool) -> None:
    """An access at ``off`` of a register that may carry a variable offset
    stays inside ``mem_size`` bytes for its smallest and largest value."""
    reg = env.regs[regno]
    if reg.smin < 0 and (reg.smin == S64_MIN or _i32(off + reg.smin) != off + reg.smin
                         or reg.smin + off < 0):
        raise env.error(f"R{regno} min value is negative, either use unsigned index or do a "
                        f"if (index >=0) check.")
    if not _mem_access_ok(env, regno, reg.smin + off, size, mem_size, zero_size_allowed):
        raise env.error(f"R{regno} min value is outside of the allowed memory range")
    if reg.umax >= BPF_MAX_VAR_OFF:
        raise env.error(f"R{regno} unbounded memory access, make sure to bounds check any such "
                        f"access")
    if not _mem_access_ok(env, regno, reg.umax + off, size, mem_size, zero_size_allowed):
        raise env.error(f"R{regno} max value is outside of the allowed memory range")


def map_value_size(m) -> int:
    return m.value_size


def check_map_access(env: Env, regno: int, off: int, size: int, zero_size_allowed: bool,
                     helper: bool = False, quiet: bool = False) -> None:
    reg = env.regs[regno]
    m = reg.map
    if quiet:
        saved = env.log.level
        env.log.level = 0
        try:
            check_mem_region_access(env, regno, off, size, map_value_size(m), zero_size_allowed)
        finally:
            env.log.level = saved
    else:
        check_mem_region_access(env, regno, off, size, map_value_size(m), zero_size_allowed)
    for p, kind in m.special_fields.items():
        fsize = _special_size(kind)
        if reg.smin + off < p + fsize and p < reg.umax + off + size:
            if kind == "kptr":
                if helper:
                    raise env.error("kptr cannot be accessed indirectly by helper")
                if reg.var_off[1]:
                    raise env.error("kptr access cannot have variable offset")
                if p != off + reg.var_off[0]:
                    raise env.error(f"kptr access misaligned expected={p} "
                                    f"off={off + reg.var_off[0]}")
                if size != 8:
                    raise env.error("kptr access size must be BPF_DW")
                continue
            raise env.error(f"{kind} cannot be accessed directly by load/store")


def _special_size(kind: str) -> int:
    return SPECIAL_FIELD_SIZES.get(kind, 8)


def check_map_access_type(env: Env, regno: int, off: int, size: int, t: int) -> None:
    m = env.regs[regno].map
    if t == WRITE and m.rdonly_prog:
        raise env.error(f"write into map forbidden, value_size={m.value_size} off={off} "
                        f"size={size}")
    if t == READ and m.wronly_prog:
        raise env.error(f"read from map forbidden, value_size={m.value_size} off={off} "
                        f"size={size}")


def may_access_direct_pkt_data(env: Env, pkt_access: bool | None, t: int) -> bool:
    pt = env.prog_type
    if pt in DIRECT_PKT_READ_ONLY:
        if t == WRITE:
            return False
        return pkt_access if pkt_access is not None else True
    if pt in DIRECT_PKT_READ_WRITE:
        if pkt_access is not None:
            return pkt_access
        env.seen_direct_write = True
        return True
    return pt == "cgroup_sockopt"


def check_packet_access(env: Env, regno: int, off: int, size: int,
                        zero_size_allowed: bool) -> None:
    reg = env.regs[regno]
    if reg.smin < 0:
        raise env.error(f"R{regno} min value is negative, either use unsigned index or do a "
                        f"if (index >=0) check.")
    if reg.range < 0 or not _mem_access_ok(env, regno, off, size, reg.range, zero_size_allowed):
        raise env.error(f"R{regno} offset is outside of the packet")
    env.max_pkt_offset = max(env.max_pkt_offset, off + reg.umax + size - 1)


def check_ptr_off_reg(env: Env, reg: Reg, regno: int, fixed_off_ok: bool = False) -> None:
    if reg.off < 0:
        raise env.error(f"negative offset {type_str(reg.type)} ptr R{regno} off={reg.off} "
                        f"disallowed")
    if not fixed_off_ok and reg.off:
        raise env.error(f"dereference of modified {type_str(reg.type)} ptr R{regno} "
                        f"off={reg.off} disallowed")
    if reg.var_off[1] or reg.var_off[0]:
        raise env.error(f"variable {type_str(reg.type)} access var_off={tn.to_str(reg.var_off)} "
                        f"disallowed")


# --- the stack -----------------------------------------------------------------------------

def check_stack_access_within_bounds(env: Env, regno: int, off: int, size: int, t: int) -> None:
    reg = env.regs[regno]
    state = env.func_of(reg)
    extra = " read from" if t == READ else " write to"
    if reg.var_off[1] == 0:
        min_off = _s64(reg.var_off[0]) + off
        max_off = min_off + size
    else:
        if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            raise env.error(f"invalid unbounded variable-offset{extra} stack R{regno}")
        min_off = reg.smin + off
        max_off = reg.smax + off + size
    if t == WRITE or env.allow_uninit_stack:
        min_valid = -MAX_BPF_STACK
    else:
        min_valid = -state.allocated_stack
    bad = min_off < min_valid or min_off > -1 or max_off > 0 or size < 0
    if bad:
        if reg.var_off[1] == 0:
            raise env.error(f"invalid{extra} stack R{regno} off={off} size={size}")
        raise env.error(f"invalid variable-offset{extra} stack R{regno} "
                        f"var_off={tn.to_str(reg.var_off)} off={off} size={size}")
    grow_stack(env, state, -min_off)


def grow_stack(env: Env, state: FuncState, size: int) -> None:
    size = (size + BPF_REG_SIZE - 1) // BPF_REG_SIZE * BPF_REG_SIZE
    if size > state.allocated_stack:
        state.grow_stack(size)
        sp = env.subprogs[state.subprogno]
        if sp.stack_depth < size:
            sp.stack_depth = size


def _set_kind(slot: Slot, index: int, kind: str) -> str:
    return slot.kinds[:index] + kind + slot.kinds[index + 1:]


def is_spilled_reg(slot: Slot) -> bool:
    return slot.kinds[7] == STACK_SPILL


def is_spilled_scalar(slot: Slot) -> bool:
    return slot.kinds[7] == STACK_SPILL and slot.reg is not None and \
        slot.reg.type == SCALAR_VALUE


def save_register_state(state: FuncState, spi: int, reg: Reg, size: int) -> None:
    kinds = list(state.stack[spi].kinds)
    i = BPF_REG_SIZE
    while i > BPF_REG_SIZE - size:
        kinds[i - 1] = STACK_SPILL
        i -= 1
    while i:
        if kinds[i - 1] not in (STACK_ZERO, STACK_INVALID):
            kinds[i - 1] = STACK_MISC
        i -= 1
    state.stack[spi] = Slot("".join(kinds), reg)


def _scrub(kind: str) -> str:
    return kind if kind == STACK_INVALID else STACK_MISC


def _is_null(reg: Reg | None) -> bool:
    return reg is not None and reg.type == SCALAR_VALUE and reg.var_off == (0, 0)


def check_stack_write_fixed_off(env: Env, state: FuncState, off: int, size: int,
                                value_regno: int, is_st_imm: bool, imm: int) -> None:
    slot = -off - 1
    spi = slot // BPF_REG_SIZE
    cur_frame = env.cur.frame[env.cur.curframe]
    old = state.stack[spi]
    if not env.allow_ptr_leaks and is_spilled_reg(old) and not is_spilled_scalar(old) and \
            size != BPF_REG_SIZE:
        raise env.error("attempt to corrupt spilled pointer on stack")
    reg = cur_frame.regs[value_regno] if value_regno >= 0 else None
    if not env.bypass_spec_v4:
        sanitize = reg is not None and base_type(reg.type) in SPILLABLE
        if not sanitize:
            for i in range(size):
                k = old.kinds[(slot - i) % BPF_REG_SIZE]
                if k not in (STACK_MISC, STACK_ZERO):
                    sanitize = True
                    break
        if sanitize:
            env.aux[env.insn_idx].nospec_result = True
    env.scratch_slot(spi)
    if reg is not None and not off % BPF_REG_SIZE and reg.type == SCALAR_VALUE and \
            env.bpf_capable:
        fits = reg.umax.bit_length() <= 8 * size
        if fits:
            reg = env_scalar_id(env, cur_frame.regs, value_regno)
        if not fits and reg.id:
            reg = reg.copy()
            reg.id = 0
        save_register_state(state, spi, reg, size)
        push_jmp_history(env, env.cur, stack_access_flags(state.frameno, spi))
    elif reg is None and not off % BPF_REG_SIZE and is_st_imm and env.bpf_capable:
        fake = Reg(SCALAR_VALUE)
        set_known(fake, imm)
        save_register_state(state, spi, fake, size)
        push_jmp_history(env, env.cur, stack_access_flags(state.frameno, spi))
    elif reg is not None and base_type(reg.type) in SPILLABLE:
        if size != BPF_REG_SIZE:
            raise env.error("invalid size of register spill")
        if state is not cur_frame and reg.type == PTR_TO_STACK:
            raise env.error("cannot spill pointers to stack into stack frame of the caller",
                            "EINVAL")
        save_register_state(state, spi, reg, size)
        push_jmp_history(env, env.cur, stack_access_flags(state.frameno, spi))
    else:
        kinds = old.kinds
        if old.kinds[7] in (STACK_SPILL, "d", "i", "f"):
            kinds = "".join(_scrub(k) for k in kinds)
        kind = STACK_MISC
        if _is_null(reg) or (reg is None and is_st_imm and imm == 0):
            mark_chain_precision(env, value_regno)
            kind = STACK_ZERO
        kl = list(kinds)
        for i in range(size):
            kl[(slot - i) % BPF_REG_SIZE] = kind
        state.stack[spi] = Slot("".join(kl), NOT_INIT_REG if old.reg is not None else None)


def env_scalar_id(env: Env, regs: list, regno: int) -> Reg:
    """Give a scalar register an id before it is copied (see
    :func:`pybpf.verifier.alu.assign_scalar_id_before_mov`)."""
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


def check_stack_write_var_off(env: Env, state: FuncState, ptr_regno: int, off: int,
                              size: int, value_regno: int, is_st_imm: bool, imm: int) -> None:
    cur_frame = env.cur.frame[env.cur.curframe]
    ptr = cur_frame.regs[ptr_regno]
    min_off = ptr.smin + off
    max_off = ptr.smax + off + size
    value = cur_frame.regs[value_regno] if value_regno >= 0 else None
    writing_zero = _is_null(value) or (value is None and is_st_imm and imm == 0)
    zero_used = False
    for i in range(min_off, max_off):
        slot = -i - 1
        spi = slot // BPF_REG_SIZE
        env.scratch_slot(spi)
        st = state.stack[spi]
        k = st.kinds[slot % BPF_REG_SIZE]
        if not env.allow_ptr_leaks and k not in (STACK_MISC, STACK_ZERO):
            raise env.error(f"spilled ptr in range of var-offset stack write; insn "
                            f"{env.insn_idx}, ptr off: {i}", "EINVAL")
        if writing_zero and k == STACK_SPILL and is_spilled_scalar(st) and \
                st.reg.var_off == (0, 0):
            zero_used = True
            continue
        new = STACK_MISC
        if writing_zero and k == STACK_ZERO:
            new = STACK_ZERO
            zero_used = True
        if k == STACK_INVALID and not env.allow_uninit_stack:
            raise env.error(f"uninit stack in range of var-offset write prohibited for !root; "
                            f"insn {env.insn_idx}, off: {i}", "EINVAL")
        st = state.stack[spi]
        state.stack[spi] = Slot(_set_kind(st, slot % BPF_REG_SIZE, new),
                                NOT_INIT_REG if st.reg is not None else None)
    if zero_used:
        mark_chain_precision(env, value_regno)


def mark_reg_stack_read(env: Env, ptr_state: FuncState, min_off: int, max_off: int,
                        dst_regno: int) -> None:
    zeros = 0
    for i in range(min_off, max_off):
        slot = -i - 1
        spi = slot // BPF_REG_SIZE
        env.scratch_slot(spi)
        if ptr_state.stack[spi].kinds[slot % BPF_REG_SIZE] != STACK_ZERO:
            break
        zeros += 1
    if zeros == max_off - min_off:
        env.regs[dst_regno] = env.const_zero()
    else:
        env.mark_unknown(dst_regno)


def check_stack_read_fixed_off(env: Env, reg_state: FuncState, off: int, size: int,
                               dst_regno: int) -> None:
    slot = -off - 1
    spi = slot // BPF_REG_SIZE
    st = reg_state.stack[spi]
    kinds = st.kinds
    env.scratch_slot(spi)
    regs = env.regs
    if is_spilled_reg(st):
        spill_size = 1
        i = BPF_REG_SIZE - 1
        while i > 0 and kinds[i - 1] == STACK_SPILL:
            spill_size += 1
            i -= 1
        reg = st.reg
        if size != BPF_REG_SIZE or spill_size != BPF_REG_SIZE:
            if reg.type != SCALAR_VALUE:
                raise env.error("invalid size of register fill")
            if dst_regno < 0:
                return
            if size <= spill_size and not off % BPF_REG_SIZE:
                if env.bpf_capable and size == 4 and spill_size == 4 and \
                        reg.umax.bit_length() <= 32:
                    reg = _slot_scalar_id(env, reg_state, spi)
                d = reg
                if reg.umax.bit_length() > size * 8 and reg.id:
                    d = reg.copy()
                    d.id = 0
                regs[dst_regno] = d
                push_jmp_history(env, env.cur, stack_access_flags(reg_state.frameno, spi))
            else:
                spill_cnt = zero_cnt = 0
                for i in range(size):
                    k = kinds[(slot - i) % BPF_REG_SIZE]
                    if k == STACK_SPILL:
                        spill_cnt += 1
                    elif k == STACK_MISC:
                        pass
                    elif k == STACK_ZERO:
                        zero_cnt += 1
                    elif k == STACK_INVALID and env.allow_uninit_stack:
                        pass
                    else:
                        raise env.error(f"invalid read from stack off {off}+{i} size {size}")
                if spill_cnt == size and reg.var_off == (0, 0):
                    # a fill of a spilled zero: this is a register fill
                    regs[dst_regno] = env.const_zero()
                    push_jmp_history(env, env.cur, stack_access_flags(reg_state.frameno, spi))
                elif zero_cnt == size:
                    regs[dst_regno] = env.const_zero()
                else:
                    env.mark_unknown(dst_regno)
        elif dst_regno >= 0:
            if env.bpf_capable:
                reg = _slot_scalar_id(env, reg_state, spi)
            regs[dst_regno] = reg
            push_jmp_history(env, env.cur, stack_access_flags(reg_state.frameno, spi))
        elif not env.allow_ptr_leaks and reg.type != SCALAR_VALUE:
            raise env.error(f"leaking pointer from stack off {off}")
    else:
        for i in range(size):
            k = kinds[(slot - i) % BPF_REG_SIZE]
            if k in (STACK_MISC, STACK_ZERO):
                continue
            if k == STACK_INVALID and env.allow_uninit_stack:
                continue
            raise env.error(f"invalid read from stack off {off}+{i} size {size}")
        if dst_regno >= 0:
            mark_reg_stack_read(env, reg_state, off, off + size, dst_regno)


def _slot_scalar_id(env: Env, state: FuncState, spi: int) -> Reg:
    st = state.stack[spi]
    r = st.reg
    if r.type != SCALAR_VALUE:
        return r
    if r.id & BPF_ADD_CONST or (not r.id and r.var_off[1] != 0):
        r = r.copy()
        if r.id & BPF_ADD_CONST:
            r.id = 0
            r.off = 0
        if not r.id and r.var_off[1] != 0:
            r.id = env.new_id()
        state.stack[spi] = Slot(st.kinds, r)
    return r


def check_stack_range_initialized(env: Env, regno: int, off: int, access_size: int,
                                  zero_size_allowed: bool, t: int,
                                  raw_mode: bool = False) -> bool:
    """Bytes ``[off, off + access_size)`` from a stack pointer are readable
    (or, for a helper that writes them, ``t`` WRITE clobbers them).
    Returns True when the access is a raw (uninitialised) one left to the
    helper call to mark."""
    reg = env.regs[regno]
    state = env.func_of(reg)
    if access_size == 0 and not zero_size_allowed:
        raise env.error("invalid zero-sized read")
    clobber = t == WRITE
    check_stack_access_within_bounds(env, regno, off, access_size, t)
    if reg.var_off[1] == 0:
        min_off = max_off = _s64(reg.var_off[0]) + off
    else:
        if not env.bypass_spec_v1:
            raise env.error(f"R{regno} variable offset stack access prohibited for !root, "
                            f"var_off={tn.to_str(reg.var_off)}")
        raw_mode = False
        min_off = reg.smin + off
        max_off = reg.smax + off
    if raw_mode:
        for i in range(min_off, max_off + access_size):
            stack_off = -i - 1
            if state.allocated_stack <= stack_off:
                continue
            if state.stack[stack_off // 8].kinds[stack_off % 8] == "d":
                raise env.error(f"potential write to dynptr at off={i} disallowed")
        return True
    for i in range(min_off, max_off + access_size):
        slot = -i - 1
        spi = slot // BPF_REG_SIZE
        if state.allocated_stack <= slot:
            raise env.error("allocated_stack too small", "EFAULT")
        st = state.stack[spi]
        k = st.kinds[slot % BPF_REG_SIZE]
        if k == STACK_MISC:
            continue
        if k == STACK_ZERO or (k == STACK_INVALID and env.allow_uninit_stack):
            if clobber:
                state.stack[spi] = Slot(_set_kind(st, slot % BPF_REG_SIZE, STACK_MISC), st.reg)
            continue
        if is_spilled_reg(st) and (st.reg.type == SCALAR_VALUE or env.allow_ptr_leaks):
            if clobber:
                u = env.unknown()
                state.stack[spi] = Slot("".join(_scrub(x) for x in st.kinds), u)
            continue
        if reg.var_off[1] == 0:
            raise env.error(f"invalid read from stack R{regno} off {min_off}+{i - min_off} "
                            f"size {access_size}")
        raise env.error(f"invalid read from stack R{regno} var_off {tn.to_str(reg.var_off)}"
                        f"+{i - min_off} size {access_size}")
    return False


def check_stack_read(env: Env, ptr_regno: int, off: int, size: int, dst_regno: int) -> None:
    reg = env.regs[ptr_regno]
    state = env.func_of(reg)
    var_off = reg.var_off[1] != 0
    if dst_regno < 0 and var_off:
        raise env.error(f"variable offset stack pointer cannot be passed into helper "
                        f"function; var_off={tn.to_str(reg.var_off)} off={off} size={size}")
    if not var_off:
        check_stack_read_fixed_off(env, state, off + _s64(reg.var_off[0]), size, dst_regno)
    else:
        check_stack_range_initialized(env, ptr_regno, off, size, False, READ)
        min_off = reg.smin + off
        max_off = reg.smax + off
        mark_reg_stack_read(env, state, min_off, max_off + size, dst_regno)


def check_stack_write(env: Env, ptr_regno: int, off: int, size: int, value_regno: int,
                      is_st_imm: bool, imm: int) -> None:
    reg = env.regs[ptr_regno]
    state = env.func_of(reg)
    if reg.var_off[1] == 0:
        check_stack_write_fixed_off(env, state, off + _s64(reg.var_off[0]), size, value_regno,
                                    is_st_imm, imm)
    else:
        check_stack_write_var_off(env, state, ptr_regno, off, size, value_regno, is_st_imm,
                                  imm)


def check_stack_access_for_ptr_arithmetic(env: Env, regno: int, reg: Reg, off: int) -> None:
    """Unprivileged stack pointers keep a known offset inside the frame."""
    off = _i32(off)
    if reg.var_off[1]:
        raise env.error(f"R{regno} variable stack access prohibited for !root, "
                        f"var_off={tn.to_str(reg.var_off)} off={off}")
    if off >= 0 or off < -MAX_BPF_STACK:
        raise env.error(f"R{regno} stack pointer arithmetic goes out of range, prohibited for "
                        f"!root; off={off}")


# --- the access ------------------------------------------------------------------------

def check_mem_access(env: Env, regno: int, off: int, size: int, t: int, value_regno: int,
                     strict_once: bool = False, is_ldsx: bool = False,
                     is_st_imm: bool = False, imm: int = 0) -> None:
    """Check a ``size``-byte access at ``off`` from register ``regno``; a
    read puts its result in ``value_regno`` (when >= 0)."""
    regs = env.regs
    reg = regs[regno]
    check_ptr_alignment(env, reg, off, size, strict_once)
    off += reg.off
    rtype = reg.type
    b = base_type(rtype)
    if rtype == PTR_TO_MAP_KEY:
        if t == WRITE:
            raise env.error(f"write to change key R{regno} not allowed")
        check_mem_region_access(env, regno, off, size, reg.map.key_size, False)
        if value_regno >= 0:
            env.mark_unknown(value_regno)
    elif rtype == PTR_TO_MAP_VALUE:
        if t == WRITE and value_regno >= 0 and env.is_pointer_value(value_regno):
            raise env.error(f"R{value_regno} leaks addr into map")
        check_map_access_type(env, regno, off, size, t)
        check_map_access(env, regno, off, size, False)
        if t == READ and value_regno >= 0:
            m = reg.map
            if reg.var_off[1] == 0 and m.rdonly_prog and m.frozen and m.contents is not None \
                    and m.type in ("array", "percpu_array"):
                map_off = off + reg.var_off[0]
                raw = m.contents[map_off:map_off + size].ljust(size, b"\0")
                val = int.from_bytes(raw, "little", signed=is_ldsx)
                regs[value_regno] = env.known(val)
            else:
                env.mark_unknown(value_regno)
    elif b == PTR_TO_MEM:
        rdonly = bool(rtype & MEM_RDONLY)
        if rtype & PTR_MAYBE_NULL:
            raise env.error(f"R{regno} invalid mem access '{type_str(rtype)}'")
        if t == WRITE and rdonly:
            raise env.error(f"R{regno} cannot write into {type_str(rtype)}")
        if t == WRITE and value_regno >= 0 and env.is_pointer_value(value_regno):
            raise env.error(f"R{value_regno} leaks addr into mem")
        if not (rdonly and rtype & PTR_UNTRUSTED):
            check_mem_region_access(env, regno, off, size, reg.mem_size, False)
        if value_regno >= 0 and (t == READ or rdonly):
            env.mark_unknown(value_regno)
    elif rtype == PTR_TO_CTX:
        if t == WRITE and value_regno >= 0 and env.is_pointer_value(value_regno):
            raise env.error(f"R{value_regno} leaks addr into ctx")
        check_ptr_off_reg(env, reg, regno)
        acc = ctxmod.ctx_access(env.prog_type, env.attach_type, off, size, t, is_ldsx,
                                env.bpf_capable)
        if acc is None:
            raise env.error(f"invalid bpf_context access off={off} size={size}")
        env.aux[env.insn_idx].ctx_field_size = acc.field_size
        env.max_ctx_offset = max(env.max_ctx_offset, off + size)
        if t == READ and value_regno >= 0:
            if acc.reg_type == SCALAR_VALUE:
                env.mark_unknown(value_regno)
            else:
                r = env.known(0)
                r.type = acc.reg_type
                r.precise = False
                if acc.reg_type & PTR_MAYBE_NULL:
                    r.id = env.new_id()
                regs[value_regno] = r
    elif rtype == PTR_TO_STACK:
        check_stack_access_within_bounds(env, regno, off, size, t)
        if t == READ:
            check_stack_read(env, regno, off, size, value_regno)
        else:
            check_stack_write(env, regno, off, size, value_regno, is_st_imm, imm)
    elif rtype in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        if t == WRITE and not may_access_direct_pkt_data(env, None, t):
            raise env.error("cannot write into packet")
        if t == WRITE and value_regno >= 0 and env.is_pointer_value(value_regno):
            raise env.error(f"R{value_regno} leaks addr into packet")
        check_packet_access(env, regno, off, size, False)
        if t == READ and value_regno >= 0:
            env.mark_unknown(value_regno)
    elif rtype == PTR_TO_FLOW_KEYS:
        if t == WRITE and value_regno >= 0 and env.is_pointer_value(value_regno):
            raise env.error(f"R{value_regno} leaks addr into flow keys")
        if off < 0 or size < 0 or off + size > FLOW_KEYS_SIZE:
            raise env.error(f"invalid access to flow keys off={off} size={size}")
        if t == READ and value_regno >= 0:
            env.mark_unknown(value_regno)
    elif rtype in SK_POINTERS:
        if t == WRITE:
            raise env.error(f"R{regno} cannot write into {type_str(rtype)}")
        if reg.smin < 0:
            raise env.error(f"R{regno} min value is negative, either use unsigned index or do "
                            f"a if (index >=0) check.")
        acc = ctxmod.sock_access(rtype, off, size, t)
        if acc is None:
            raise env.error(f"R{regno} invalid {type_str(rtype)} access off={off} size={size}")
        env.aux[env.insn_idx].ctx_field_size = acc.field_size
        if value_regno >= 0:
            env.mark_unknown(value_regno)
    elif rtype == PTR_TO_TP_BUFFER:
        if off < 0:
            raise env.error(f"R{regno} invalid tracepoint buffer access: off={off}, size={size}")
        if reg.var_off[1]:
            raise env.error(f"R{regno} invalid variable buffer offset: off={off}, "
                            f"var_off={tn.to_str(reg.var_off)}")
        if t == READ and value_regno >= 0:
            env.mark_unknown(value_regno)
    elif rtype == CONST_PTR_TO_MAP:
        _check_ptr_to_map_access(env, regno, off, size, t, value_regno)
    elif b == PTR_TO_BTF_ID and not rtype & PTR_MAYBE_NULL:
        _check_ptr_to_btf_access(env, regno, off, size, t, value_regno)
    elif b == PTR_TO_BUF:
        if t == WRITE and rtype & MEM_RDONLY:
            raise env.error(f"R{regno} cannot write into {type_str(rtype)}")
        if off < 0:
            raise env.error(f"R{regno} invalid rdonly buffer access: off={off}, size={size}")
        if value_regno >= 0 and t == READ:
            env.mark_unknown(value_regno)
    else:
        raise env.error(f"R{regno} invalid mem access '{type_str(rtype)}'")
    if size < 8 and value_regno >= 0 and t == READ and regs[value_regno].type == SCALAR_VALUE:
        r = regs[value_regno].copy()
        if not is_ldsx:
            scalar.coerce_to_size(r, size)
        else:
            scalar.coerce_to_size_sx(r, size)
        regs[value_regno] = r


MAP_BTF_STRUCT = {"array": "bpf_array", "percpu_array": "bpf_array", "prog_array": "bpf_array",
                  "perf_event_array": "bpf_array", "cgroup_array": "bpf_array",
                  "array_of_maps": "bpf_array", "hash": "bpf_htab", "percpu_hash": "bpf_htab",
                  "lru_hash": "bpf_htab", "lru_percpu_hash": "bpf_htab",
                  "hash_of_maps": "bpf_htab", "ringbuf": "bpf_ringbuf_map",
                  "stack_trace": "bpf_stack_map", "lpm_trie": "lpm_trie",
                  "sockmap": "bpf_stab", "sockhash": "bpf_shtab", "xskmap": "xsk_map",
                  "devmap": "bpf_dtab", "devmap_hash": "bpf_dtab", "cpumap": "bpf_cpu_map",
                  "queue": "bpf_queue_stack", "stack": "bpf_queue_stack",
                  "sk_storage": "bpf_local_storage_map", "bloom_filter": "bpf_bloom_filter"}


def _check_ptr_to_map_access(env: Env, regno: int, off: int, size: int, t: int,
                             value_regno: int) -> None:
    m = env.regs[regno].map
    tname = MAP_BTF_STRUCT.get(m.type)
    if tname is None:
        raise env.error(f"map_ptr access not supported for map type {m.type}", "ENOTSUPP")
    if not env.allow_ptr_leaks:
        raise env.error(f"'struct {tname}' access is allowed only to CAP_PERFMON and "
                        f"CAP_SYS_ADMIN", "EPERM")
    if off < 0:
        raise env.error(f"R{regno} is {tname} invalid negative access: off={off}")
    if t != READ:
        raise env.error(f"only read from {tname} is supported")
    result = struct_access(env, tname, off, size)
    if value_regno >= 0:
        env.regs[value_regno] = result


def _check_ptr_to_btf_access(env: Env, regno: int, off: int, size: int, t: int,
                             value_regno: int) -> None:
    reg = env.regs[regno]
    btf_reg_access(env, regno, reg, off, size, t, value_regno)


# --- instructions ---------------------------------------------------------------------------

def _reg_type_mismatch_ok(t: int) -> bool:
    return base_type(t) not in (PTR_TO_CTX, PTR_TO_SOCKET, PTR_TO_SOCK_COMMON, PTR_TO_TCP_SOCK,
                                PTR_TO_XDP_SOCK, PTR_TO_BTF_ID, PTR_TO_ARENA)


def save_aux_ptr_type(env: Env, t: int, allow_trust_mismatch: bool) -> None:
    aux = env.aux[env.insn_idx]
    prev = aux.ptr_type
    if prev == NOT_INIT:
        aux.ptr_type = t
    elif t != prev and (not _reg_type_mismatch_ok(t) or not _reg_type_mismatch_ok(prev)):
        mem_or_btf = (PTR_TO_MEM, PTR_TO_BTF_ID)
        if allow_trust_mismatch and base_type(t) in mem_or_btf and base_type(prev) in mem_or_btf:
            merged = PTR_TO_MEM if PTR_TO_MEM in (base_type(t), base_type(prev)) \
                else PTR_TO_BTF_ID
            merged |= (t | prev) & (PTR_UNTRUSTED | MEM_RDONLY)
            aux.ptr_type = merged
        else:
            raise env.error("same insn cannot be used with different pointers", "EINVAL")


def _size_of(insn: Insn) -> int:
    return SIZE_BYTES[insn.opcode & SIZE_MASK]


def check_load(env: Env, insn: Insn) -> None:
    """``LDX``: ``dst = *(size *)(src + off)``."""
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, DST_OP_NO_MARK)
    src_type = env.regs[insn.src].type
    is_ldsx = insn.opcode & MODE_MASK == BPF_MEMSX
    check_mem_access(env, insn.src, insn.off, _size_of(insn), READ, insn.dst, False, is_ldsx)
    save_aux_ptr_type(env, src_type, True)
    _sanity(env, insn.dst, "ldx")


def _sanity(env: Env, regno: int, ctx: str) -> None:
    why = scalar.bounds_sane(env.regs[regno])
    if why:
        r = env.regs[regno]
        raise env.error(f"REG INVARIANTS VIOLATION ({ctx}): {why} u64=[{r.umin:#x}, "
                        f"{r.umax:#x}]", "EFAULT")


def check_store(env: Env, insn: Insn) -> None:
    """``STX``: ``*(size *)(dst + off) = src``."""
    if insn.opcode & MODE_MASK != BPF_MEM or insn.imm != 0:
        raise env.error("BPF_STX uses reserved fields", "EINVAL")
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, SRC_OP)
    dst_type = env.regs[insn.dst].type
    check_mem_access(env, insn.dst, insn.off, _size_of(insn), WRITE, insn.src)
    save_aux_ptr_type(env, dst_type, False)


def check_store_imm(env: Env, insn: Insn) -> None:
    """``ST``: ``*(size *)(dst + off) = imm``."""
    if insn.opcode & MODE_MASK != BPF_MEM or insn.src != 0:
        raise env.error("BPF_ST uses reserved fields", "EINVAL")
    env.check_reg_arg(insn.dst, SRC_OP)
    dst_type = env.regs[insn.dst].type
    check_mem_access(env, insn.dst, insn.off, _size_of(insn), WRITE, -1, is_st_imm=True,
                     imm=insn.imm)
    save_aux_ptr_type(env, dst_type, False)


ATOMIC_RMW = frozenset({BPF_ADD, BPF_ADD | BPF_FETCH, BPF_AND, BPF_AND | BPF_FETCH, BPF_OR,
                        BPF_OR | BPF_FETCH, BPF_XOR, BPF_XOR | BPF_FETCH, BPF_XCHG,
                        BPF_CMPXCHG})


def check_atomic(env: Env, insn: Insn) -> None:
    """``STX | ATOMIC``: read-modify-write, load-acquire, store-release."""
    imm = insn.imm
    if imm in ATOMIC_RMW:
        _check_atomic_rmw(env, insn)
    elif imm == BPF_LOAD_ACQ:
        _check_atomic_load(env, insn)
    elif imm == BPF_STORE_REL:
        _check_atomic_store(env, insn)
    else:
        raise env.error(f"BPF_ATOMIC uses invalid atomic opcode {imm & 0xFF:02x}", "EINVAL")


def _atomic_ptr_type_ok(env: Env, regno: int) -> bool:
    r = env.regs[regno]
    return not (r.type == PTR_TO_CTX or r.is_pkt_pointer() or r.type == PTR_TO_FLOW_KEYS
                or r.type in SK_POINTERS)


def _check_atomic_rmw(env: Env, insn: Insn) -> None:
    size_code = insn.opcode & SIZE_MASK
    if size_code not in (BPF_W, BPF_DW):
        raise env.error("invalid atomic operand size", "EINVAL")
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, SRC_OP)
    if insn.imm == BPF_CMPXCHG:
        env.check_reg_arg(0, SRC_OP)
        if env.is_pointer_value(0):
            raise env.error("R0 leaks addr into mem")
    if env.is_pointer_value(insn.src):
        raise env.error(f"R{insn.src} leaks addr into mem")
    if not _atomic_ptr_type_ok(env, insn.dst):
        raise env.error(f"BPF_ATOMIC stores into R{insn.dst} "
                        f"{type_str(env.regs[insn.dst].type)} is not allowed")
    load_reg = -1
    if insn.imm & BPF_FETCH:
        load_reg = 0 if insn.imm == BPF_CMPXCHG else insn.src
        env.check_reg_arg(load_reg, DST_OP)
    size = _size_of(insn)
    check_mem_access(env, insn.dst, insn.off, size, READ, -1, True)
    if load_reg >= 0:
        check_mem_access(env, insn.dst, insn.off, size, READ, load_reg, True)
    check_mem_access(env, insn.dst, insn.off, size, WRITE, -1, True)


def _check_atomic_load(env: Env, insn: Insn) -> None:
    if not _atomic_ptr_type_ok(env, insn.src):
        raise env.error(f"BPF_ATOMIC loads from R{insn.src} "
                        f"{type_str(env.regs[insn.src].type)} is not allowed")
    check_load(env, insn)


def _check_atomic_store(env: Env, insn: Insn) -> None:
    if not _atomic_ptr_type_ok(env, insn.dst):
        raise env.error(f"BPF_ATOMIC stores into R{insn.dst} "
                        f"{type_str(env.regs[insn.dst].type)} is not allowed")
    env.check_reg_arg(insn.src, SRC_OP)
    env.check_reg_arg(insn.dst, SRC_OP)
    dst_type = env.regs[insn.dst].type
    check_mem_access(env, insn.dst, insn.off, _size_of(insn), WRITE, insn.src)
    save_aux_ptr_type(env, dst_type, False)


MAY_ACCESS_SKB = frozenset({"socket_filter", "sched_cls", "sched_act"})
CALLER_SAVED = (0, 1, 2, 3, 4, 5)


def check_ld_abs(env: Env, insn: Insn) -> None:
    """``LD_ABS``/``LD_IND``: legacy packet loads into r0 (r6 is the skb)."""
    regs = env.regs
    mode = insn.opcode & MODE_MASK
    if env.prog_type not in MAY_ACCESS_SKB:
        raise env.error("BPF_LD_[ABS|IND] instructions not allowed for this program type",
                        "EINVAL")
    if insn.dst != 0 or insn.off != 0 or insn.opcode & SIZE_MASK == BPF_DW or \
            (mode == BPF_ABS and insn.src != 0):
        raise env.error("BPF_LD_[ABS|IND] uses reserved fields", "EINVAL")
    env.check_reg_arg(6, SRC_OP)
    check_resource_leak(env, False, True, "BPF_LD_[ABS|IND]")
    if regs[6].type != PTR_TO_CTX:
        raise env.error("at the time of BPF_LD_ABS|IND R6 != pointer to skb", "EINVAL")
    if mode == BPF_IND:
        env.check_reg_arg(insn.src, SRC_OP)
    check_ptr_off_reg(env, regs[6], 6)
    for r in CALLER_SAVED:
        regs[r] = NOT_INIT_REG
        env.scratch_reg(r)
    env.mark_unknown(0)


def check_ld_imm(env: Env, insn: Insn) -> None:
    """``lddw``: a 64-bit constant, a map, a map value address, a
    subprogram address or a kernel symbol."""
    if insn.opcode & SIZE_MASK != BPF_DW:
        raise env.error("invalid BPF_LD_IMM insn", "EINVAL")
    if insn.off != 0:
        raise env.error("BPF_LD_IMM64 uses reserved fields", "EINVAL")
    env.check_reg_arg(insn.dst, DST_OP)
    regs = env.regs
    pc = env.insn_idx
    nxt = env.insns[pc + 1]
    if insn.src == 0:
        imm = ((nxt.imm & U32) << 32) | (insn.imm & U32)
        regs[insn.dst] = env.known(imm)
        return
    r = env.known(0)
    r.precise = False
    if insn.src == PSEUDO_BTF_ID:
        regs[insn.dst] = ksym_reg(env, insn, nxt)
        return
    if insn.src == PSEUDO_FUNC:
        target = pc + insn.imm + 1
        sub = env.subprog_index(target)
        if env.func_info is None:
            raise env.error("missing btf func_info", "EINVAL")
        if env.subprogs[sub].is_global:
            raise env.error("callback function not static", "EINVAL")
        r.type = PTR_TO_FUNC
        r.subprogno = sub
        regs[insn.dst] = r
        return
    m = env.map_at[pc]
    r.map = m
    if insn.src in (PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX_VALUE):
        r.type = PTR_TO_MAP_VALUE
        r.off = nxt.imm & U32
    else:
        r.type = CONST_PTR_TO_MAP
    env.aux[pc].const_map = m
    regs[insn.dst] = r


def ksym_reg(env: Env, insn: Insn, nxt: Insn) -> Reg:
    """``lddw`` of a kernel symbol (``PSEUDO_BTF_ID``)."""
    raise env.unmodelled("kernel symbol loads (ksym)",
                         "pybpf: kernel symbol loads (ksym) need kernel BTF, not supported yet")


def check_helper_mem_access(env: Env, regno: int, access_size: int, t: int,
                            zero_size_allowed: bool, raw_mode: bool = False,
                            pkt_access: bool = False) -> bool:
    """A helper reads (or writes, ``t``) ``access_size`` bytes at register
    ``regno``.  Returns True for a raw stack access the call marks later."""
    regs = env.regs
    reg = regs[regno]
    b = base_type(reg.type)
    if b in (PTR_TO_PACKET, PTR_TO_PACKET_META):
        check_packet_access(env, regno, reg.off, access_size, zero_size_allowed)
        return False
    if b == PTR_TO_MAP_KEY:
        if t == WRITE:
            raise env.error(f"R{regno} cannot write into {type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, access_size, reg.map.key_size, False)
        return False
    if b == PTR_TO_MAP_VALUE:
        check_map_access_type(env, regno, reg.off, access_size, t)
        check_map_access(env, regno, reg.off, access_size, zero_size_allowed, helper=True)
        return False
    if b == PTR_TO_MEM:
        if reg.type & MEM_RDONLY and t == WRITE:
            raise env.error(f"R{regno} cannot write into {type_str(reg.type)}")
        check_mem_region_access(env, regno, reg.off, access_size, reg.mem_size,
                                zero_size_allowed)
        return False
    if b == PTR_TO_BUF:
        if reg.type & MEM_RDONLY and t == WRITE:
            raise env.error(f"R{regno} cannot write into {type_str(reg.type)}")
        return False
    if b == PTR_TO_STACK:
        return check_stack_range_initialized(env, regno, reg.off, access_size,
                                             zero_size_allowed, t, raw_mode)
    if b == PTR_TO_BTF_ID:
        return False
    if b == PTR_TO_CTX and env.prog_type == "syscall":
        if access_size == 0:
            if zero_size_allowed:
                return False
            raise Reject("invalid zero-sized ctx access")
        check_mem_access(env, regno, access_size - 1, 1, t, -1)
        return False
    if zero_size_allowed and access_size == 0 and _is_null(reg):
        return False
    raise env.error(f"R{regno} type={type_str(reg.type)} expected={type_str(PTR_TO_STACK)}")
