"""Conditional jumps: decide them when the ranges allow, else explore both
sides, each with what the comparison proves.

:func:`check_cond_jmp_op` is the kernel's function of that name: a branch
whose outcome the operands' ranges decide is followed one way only;
otherwise the jump target is queued (:meth:`Env.push_stack`) and both sides
get narrowed operands (:func:`pybpf.verifier.scalar.refine`), registers
linked by id get the same bounds, a NULL check turns "map value or NULL"
into a map value on one side and a scalar 0 on the other, and a comparison
of a packet pointer with ``data_end`` proves a packet range.
"""

from __future__ import annotations

from ..isa import Insn
from ..isa.opcodes import (
    BPF_JA,
    BPF_JCOND,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JMP,
    BPF_JMP32,
    BPF_JNE,
    BPF_X,
)
from ..spec.verifier import LINKED_REGS_MAX, MAX_PACKET_OFF, OP_MASK
from . import scalar
from .env import SRC_OP, Env
from .precision import DST_REG_STACK, SRC_REG_STACK, mark_chain_precision, push_jmp_history
from .state import (
    BPF_ADD_CONST,
    CONST_PTR_TO_MAP,
    MEM_RINGBUF,
    NOT_INIT,
    PTR_MAYBE_NULL,
    PTR_TO_BTF_ID,
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
    PTR_TO_XDP_SOCK,
    PTR_TRUSTED,
    PTR_UNTRUSTED,
    SCALAR_VALUE,
    Reg,
    Slot,
    VerifierState,
    base_type,
    set_known,
)

AT_PKT_END = -1
BEYOND_PKT_END = -2


def reg_not_null(r: Reg) -> bool:
    t = r.type
    if t & PTR_MAYBE_NULL:
        return False
    b = base_type(t)
    return (b in (PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_MAP_VALUE, PTR_TO_MAP_KEY,
                  PTR_TO_SOCK_COMMON, CONST_PTR_TO_MAP)
            or (b == PTR_TO_BTF_ID and bool(t & PTR_TRUSTED))
            or (b == PTR_TO_MEM and not t & PTR_UNTRUSTED))


def _is_pkt_any(r: Reg) -> bool:
    return base_type(r.type) in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END)


def _pkt_branch_taken(dst: Reg, src: Reg, op: int) -> int:
    if src.type == PTR_TO_PACKET_END:
        pkt = dst
    elif dst.type == PTR_TO_PACKET_END:
        pkt = src
        op = scalar.FLIP[op]
    else:
        return -1
    if pkt.range >= 0:
        return -1
    if op in (BPF_JLE, BPF_JGT):
        if pkt.range == BEYOND_PKT_END:
            return int(op == BPF_JGT)
    elif op in (BPF_JLT, BPF_JGE) and pkt.range in (BEYOND_PKT_END, AT_PKT_END):
        return int(op == BPF_JGE)
    return -1


def branch_taken(r1: Reg, r2: Reg, op: int, w32: bool) -> int:
    """1 taken, 0 not taken, -1 unknown (pointers included)."""
    if _is_pkt_any(r1) and _is_pkt_any(r2) and not w32:
        return _pkt_branch_taken(r1, r2, op)
    if r1.type != SCALAR_VALUE or r2.type != SCALAR_VALUE:
        if not scalar.is_const(r2, w32):
            op = scalar.FLIP[op]
            r1, r2 = r2, r1
        if not scalar.is_const(r2, w32):
            return -1
        if not reg_not_null(r1):
            return -1
        if scalar.const_value(r2, w32) != 0:
            return -1
        if op == BPF_JEQ:
            return 0
        if op == BPF_JNE:
            return 1
        return -1
    return scalar.scalar_branch_taken(r1, r2, op, w32)


def _each_reg(state: VerifierState):
    """``(container, key, reg)`` for every register and spilled register."""
    for f in state.frame:
        for i, r in enumerate(f.regs):
            yield f.regs, i, r
        for spi, st in enumerate(f.stack):
            if st.kinds[7] == "r" and st.reg is not None:
                yield f.stack, spi, st.reg


def _store(container, key, reg: Reg) -> None:
    if isinstance(container[key], Slot):
        container[key] = Slot(container[key].kinds, reg)
    else:
        container[key] = reg


def mark_ptr_or_null_regs(env: Env, state: VerifierState, regno: int, is_null: bool) -> None:
    regs = state.frame[state.curframe].regs
    reg = regs[regno]
    ref_obj_id = reg.ref_obj_id
    rid = reg.id
    if ref_obj_id and ref_obj_id == rid and is_null:
        for i, ref in enumerate(state.refs):
            if ref.id == rid:
                del state.refs[i]
                break
    for container, key, r in list(_each_reg(state)):
        if not (r.type & PTR_MAYBE_NULL and r.id == rid):
            continue
        if r.smin or r.smax or r.var_off != (0, 0) or r.off:
            continue
        n = r.copy()
        if is_null:
            n.type = SCALAR_VALUE
            n.id = 0
            n.ref_obj_id = 0
            n.map = None
            n.mem_size = 0
            n.btf_id = None
            n.range = 0
            n.map_uid = 0
        else:
            mark_ptr_not_null(n)
            if not (n.type == PTR_TO_MAP_VALUE and n.map is not None and
                    n.map.has("bpf_spin_lock")):
                n.id = 0
        _store(container, key, n)


def mark_ptr_not_null(r: Reg) -> None:
    if base_type(r.type) == PTR_TO_MAP_VALUE:
        m = r.map
        if m.inner is not None:
            r.type = CONST_PTR_TO_MAP
            r.map = m.inner
            if m.inner.has("bpf_timer"):
                r.map_uid = r.id
        elif m.type == "xskmap":
            r.type = PTR_TO_XDP_SOCK
        elif m.type in ("sockmap", "sockhash"):
            r.type = PTR_TO_SOCKET
        else:
            r.type = PTR_TO_MAP_VALUE
        return
    r.type &= ~PTR_MAYBE_NULL


def find_good_pkt_pointers(state: VerifierState, dst: Reg, ptype: int,
                           range_right_open: bool) -> None:
    if dst.off < 0 or (dst.off == 0 and range_right_open):
        return
    if dst.umax > MAX_PACKET_OFF or dst.umax + dst.off > MAX_PACKET_OFF:
        return
    new_range = dst.off + (1 if range_right_open else 0)
    for container, key, r in list(_each_reg(state)):
        if r.type == ptype and r.id == dst.id and r.range < new_range:
            n = r.copy()
            n.range = max(r.range, new_range)
            _store(container, key, n)


def _mark_pkt_end(state: VerifierState, regno: int, range_open: bool) -> None:
    regs = state.frame[state.curframe].regs
    r = regs[regno]
    if r.type != PTR_TO_PACKET:
        return
    n = r.copy()
    n.range = BEYOND_PKT_END if range_open else AT_PKT_END
    regs[regno] = n


def _init_pkt(r: Reg, which: int) -> bool:
    return r.type == which and r.id == 0 and r.off == 0 and r.var_off == (0, 0)


def try_match_pkt_pointers(insn: Insn, dst: Reg, src: Reg, this: VerifierState,
                           other: VerifierState) -> bool:
    if not insn.opcode & BPF_X or insn.opcode & 7 == BPF_JMP32:
        return False
    op = insn.opcode & OP_MASK
    d_first = (dst.type == PTR_TO_PACKET and src.type == PTR_TO_PACKET_END) or \
        (dst.type == PTR_TO_PACKET_META and _init_pkt(src, PTR_TO_PACKET))
    s_first = (dst.type == PTR_TO_PACKET_END and src.type == PTR_TO_PACKET) or \
        (_init_pkt(dst, PTR_TO_PACKET) and src.type == PTR_TO_PACKET_META)
    if op == BPF_JGT:
        if d_first:
            find_good_pkt_pointers(this, dst, dst.type, False)
            _mark_pkt_end(other, insn.dst, True)
        elif s_first:
            find_good_pkt_pointers(other, src, src.type, True)
            _mark_pkt_end(this, insn.src, False)
        else:
            return False
    elif op == BPF_JLT:
        if d_first:
            find_good_pkt_pointers(other, dst, dst.type, True)
            _mark_pkt_end(this, insn.dst, False)
        elif s_first:
            find_good_pkt_pointers(this, src, src.type, False)
            _mark_pkt_end(other, insn.src, True)
        else:
            return False
    elif op == BPF_JGE:
        if d_first:
            find_good_pkt_pointers(this, dst, dst.type, True)
            _mark_pkt_end(other, insn.dst, False)
        elif s_first:
            find_good_pkt_pointers(other, src, src.type, False)
            _mark_pkt_end(this, insn.src, True)
        else:
            return False
    elif op == BPF_JLE:
        if d_first:
            find_good_pkt_pointers(other, dst, dst.type, False)
            _mark_pkt_end(this, insn.dst, True)
        elif s_first:
            find_good_pkt_pointers(this, src, src.type, True)
            _mark_pkt_end(other, insn.src, False)
        else:
            return False
    else:
        return False
    return True


def collect_linked_regs(state: VerifierState, rid: int) -> list[tuple[int, bool, int]]:
    """Registers and spills sharing scalar id ``rid``: (frame, is_reg, index)."""
    rid &= ~BPF_ADD_CONST
    out = []
    for fi, f in enumerate(state.frame):
        for i, r in enumerate(f.regs):
            if r.type == SCALAR_VALUE and (r.id & ~BPF_ADD_CONST) == rid and r.id:
                out.append((fi, True, i))
        for spi, st in enumerate(f.stack):
            r = st.reg
            if st.kinds[7] == "r" and r is not None and r.type == SCALAR_VALUE and r.id and \
                    (r.id & ~BPF_ADD_CONST) == rid:
                out.append((fi, False, spi))
    return out


def sync_linked_regs(state: VerifierState, known: Reg, linked: list) -> None:
    kid = known.id & ~BPF_ADD_CONST
    for fi, is_reg, idx in linked:
        f = state.frame[fi] if fi < len(state.frame) else None
        if f is None:
            continue
        if is_reg:
            r = f.regs[idx]
        else:
            if idx >= len(f.stack):
                continue
            r = f.stack[idx].reg
        if r is None or r.type != SCALAR_VALUE or r is known:
            continue
        if (r.id & ~BPF_ADD_CONST) != kid:
            continue
        if (not r.id & BPF_ADD_CONST and not known.id & BPF_ADD_CONST) or r.off == known.off:
            n = known.copy()
        else:
            delta = _s32(r.off) - _s32(known.off)
            fake = Reg(SCALAR_VALUE)
            set_known(fake, delta)
            n = known.copy()
            n.off = r.off
            n.id = r.id
            scalar.add_bounds(n, fake)
            n.off = r.off
        if is_reg:
            f.regs[idx] = n
        else:
            f.stack[idx] = Slot(f.stack[idx].kinds, n)


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def check_cond_jmp_op(env: Env, insn: Insn) -> int:
    """A conditional jump; returns the index of the next instruction on the
    current path (the other side, if any, is queued)."""
    this = env.cur
    regs = this.frame[this.curframe].regs
    op = insn.opcode & OP_MASK
    pc = env.insn_idx
    if op == BPF_JA or op > BPF_JCOND:
        raise env.error(f"invalid BPF_JMP/JMP32 opcode {op >> 4:x}", "EINVAL")
    if op == BPF_JCOND:
        if insn.opcode != BPF_JMP | BPF_JCOND or insn.src != 0 or insn.dst or insn.imm:
            raise env.error(f"invalid may_goto imm {insn.imm}", "EINVAL")
        queued = env.push_stack(pc + 1, pc, False)
        queued.may_goto_depth += 1
        return pc + insn.off + 1
    env.check_reg_arg(insn.dst, SRC_OP)
    dst = regs[insn.dst]
    if insn.opcode & BPF_X:
        if insn.imm != 0:
            raise env.error("BPF_JMP/JMP32 uses reserved fields", "EINVAL")
        env.check_reg_arg(insn.src, SRC_OP)
        src = regs[insn.src]
        if not (_is_pkt_any(dst) and _is_pkt_any(src)) and env.is_pointer_value(insn.src):
            raise env.error(f"R{insn.src} pointer comparison prohibited")
    else:
        if insn.src != 0:
            raise env.error("BPF_JMP/JMP32 uses reserved fields", "EINVAL")
        src = Reg(SCALAR_VALUE)
        set_known(src, insn.imm)
    flags = (SRC_REG_STACK if insn.opcode & BPF_X and src.type == PTR_TO_STACK else 0) | \
        (DST_REG_STACK if dst.type == PTR_TO_STACK else 0)
    if flags:
        push_jmp_history(env, this, flags)
    w32 = insn.opcode & 7 == BPF_JMP32
    pred = branch_taken(dst, src, op, w32)
    if pred >= 0:
        if dst.type == SCALAR_VALUE:
            mark_chain_precision(env, insn.dst)
        if insn.opcode & BPF_X and src.type == SCALAR_VALUE:
            mark_chain_precision(env, insn.src)
    if pred == 1:
        if not env.bypass_spec_v1:
            env.push_speculative(pc + 1, pc, insn)
        env.print_insn_state()
        return pc + insn.off + 1
    if pred == 0:
        if not env.bypass_spec_v1:
            env.push_speculative(pc + insn.off + 1, pc, insn)
        env.print_insn_state()
        return pc + 1
    linked: list = []
    if insn.opcode & BPF_X and src.type == SCALAR_VALUE and src.id:
        linked += collect_linked_regs(this, src.id)
    if dst.type == SCALAR_VALUE and dst.id:
        linked += [e for e in collect_linked_regs(this, dst.id) if e not in linked]
    linked = linked[:LINKED_REGS_MAX]
    if len(linked) > 1:
        push_jmp_history(env, this, 0, tuple(linked))
    other = env.push_stack(pc + insn.off + 1, pc, False)
    oregs = other.frame[other.curframe].regs
    if insn.opcode & BPF_X:
        _reg_set_min_max(env, oregs, insn.dst, insn.src, regs, insn.dst, insn.src, op, w32)
    else:
        fake_true = src
        fake_false = src.copy()
        if regs[insn.dst].type == SCALAR_VALUE and insn.dst is not None:
            t1 = oregs[insn.dst].copy()
            f1 = regs[insn.dst].copy()
            t2 = fake_true.copy()
            f2 = fake_false
            scalar.refine(f1, f2, scalar.REVERSE[op], w32)
            scalar.sync(f1)
            scalar.refine(t1, t2, op, w32)
            scalar.sync(t1)
            _sane(env, t1, "true_reg1")
            _sane(env, f1, "false_reg1")
            regs[insn.dst] = f1
            oregs[insn.dst] = t1
    if insn.opcode & BPF_X and src.type == SCALAR_VALUE and src.id:
        sync_linked_regs(this, regs[insn.src], linked)
        sync_linked_regs(other, oregs[insn.src], linked)
    if dst.type == SCALAR_VALUE and dst.id:
        sync_linked_regs(this, regs[insn.dst], linked)
        sync_linked_regs(other, oregs[insn.dst], linked)
    dst = regs[insn.dst]
    src_now = regs[insn.src] if insn.opcode & BPF_X else src
    if not w32 and insn.opcode & BPF_X and src_now.type not in (SCALAR_VALUE, NOT_INIT) and \
            dst.type not in (SCALAR_VALUE, NOT_INIT) and \
            bool(src_now.type & PTR_MAYBE_NULL) != bool(dst.type & PTR_MAYBE_NULL) and \
            base_type(src_now.type) != PTR_TO_BTF_ID and base_type(dst.type) != PTR_TO_BTF_ID:
        eq_regs = oregs if op == BPF_JEQ else regs if op == BPF_JNE else None
        if eq_regs is not None:
            which = insn.src if src_now.type & PTR_MAYBE_NULL else insn.dst
            n = eq_regs[which].copy()
            mark_ptr_not_null(n)
            eq_regs[which] = n
    if not w32 and not insn.opcode & BPF_X and insn.imm == 0 and op in (BPF_JEQ, BPF_JNE) and \
            dst.type & PTR_MAYBE_NULL:
        mark_ptr_or_null_regs(env, this, insn.dst, op == BPF_JNE)
        mark_ptr_or_null_regs(env, other, insn.dst, op == BPF_JEQ)
    elif not try_match_pkt_pointers(insn, dst, regs[insn.src], this, other) and \
            env.is_pointer_value(insn.dst):
        raise env.error(f"R{insn.dst} pointer comparison prohibited")
    env.print_insn_state()
    return pc + 1


def _sane(env: Env, r: Reg, ctx: str) -> None:
    why = scalar.bounds_sane(r)
    if why:
        raise env.error(f"REG INVARIANTS VIOLATION ({ctx}): {why} u64=[{r.umin:#x}, "
                        f"{r.umax:#x}]", "EFAULT")


def _reg_set_min_max(env: Env, tregs: list, tdst: int, tsrc: int, fregs: list, fdst: int,
                     fsrc: int, op: int, w32: bool) -> None:
    if fregs[fdst].type != SCALAR_VALUE or fregs[fsrc].type != SCALAR_VALUE:
        return
    if fdst == fsrc:
        return
    f1, f2 = fregs[fdst].copy(), fregs[fsrc].copy()
    scalar.refine(f1, f2, scalar.REVERSE[op], w32)
    scalar.sync(f1)
    scalar.sync(f2)
    t1, t2 = tregs[tdst].copy(), tregs[tsrc].copy()
    scalar.refine(t1, t2, op, w32)
    scalar.sync(t1)
    scalar.sync(t2)
    _sane(env, t1, "true_reg1")
    _sane(env, t2, "true_reg2")
    _sane(env, f1, "false_reg1")
    _sane(env, f2, "false_reg2")
    fregs[fdst], fregs[fsrc] = f1, f2
    tregs[tdst], tregs[tsrc] = t1, t2


__all__ = ["BPF_JGE", "BPF_JGT", "MEM_RINGBUF", "PTR_TO_MEM", "check_cond_jmp_op"]
