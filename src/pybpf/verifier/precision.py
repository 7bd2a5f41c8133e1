"""Precision: which scalars' exact values the verdict depends on.

A scalar is *precise* when some check used its value (a pointer offset, a
size given to a helper, a branch decided by its range).  When pruning, only
precise scalars of the explored state must contain the current ones; the
others may differ, which is what lets the kernel (and pybpf) prune states
that differ in values nothing depends on.

:func:`mark_chain_precision` is the kernel's backtracking: from the
instruction that needs a register, it walks the path backwards (the
instructions of the current state, then each checkpoint state's, using
the jump history recorded along the way to know which instruction
preceded which) and marks precise, in the checkpoint states, every
register and spilled stack slot the value came from.  As in Linux 6.18,
the current state itself is not marked.  :func:`propagate_precision` does
the same for a pruned path, from the registers the explored state had
precise.  Where backtracking cannot follow (legacy packet loads, stores
through a scalar), every scalar of the path's checkpoints becomes precise.
"""

from __future__ import annotations

from ..isa.opcodes import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_END,
    BPF_EXIT,
    BPF_IND,
    BPF_JMP,
    BPF_JMP32,
    BPF_LD,
    BPF_LDX,
    BPF_LOAD_ACQ,
    BPF_MOV,
    BPF_NEG,
    BPF_ST,
    BPF_STX,
    BPF_X,
    PSEUDO_CALL_KFUNC,
    PSEUDO_CALL_LOCAL,
    PSEUDO_FUNC,
)
from ..spec.verifier import MODE_MASK, OP_MASK
from .env import Env
from .log import frame_state_str
from .state import (
    BPF_REG_FP,
    SCALAR_VALUE,
    STACK_SPILL,
    Reg,
    Slot,
    VerifierState,
)

STACK_ACCESS = 1 << 9
DST_REG_STACK = 1 << 10
SRC_REG_STACK = 1 << 11
FRAMENO_MASK = 7
SPI_SHIFT = 3
SPI_MASK = 63
REGMASK_ARGS = 0b111110
"""r1-r5."""
MAX_FRAMES = 8


def stack_access_flags(frameno: int, spi: int) -> int:
    """History flags of an instruction that spills to or fills from stack
    slot ``spi`` of frame ``frameno``."""
    return STACK_ACCESS | (spi << SPI_SHIFT) | frameno


class NotSupported(Exception):
    """Backtracking cannot follow this instruction."""


class Backtrack:
    """The registers and stack slots still to trace, per frame."""

    __slots__ = ("frame", "regs", "stack")

    def __init__(self, frame: int):
        self.frame = frame
        self.regs = [0] * MAX_FRAMES
        self.stack = [0] * MAX_FRAMES

    def empty(self) -> bool:
        return not any(self.regs[:self.frame + 1]) and not any(self.stack[:self.frame + 1])

    def set_reg(self, r: int, fr: int | None = None) -> None:
        self.regs[self.frame if fr is None else fr] |= 1 << r

    def clear_reg(self, r: int, fr: int | None = None) -> None:
        self.regs[self.frame if fr is None else fr] &= ~(1 << r)

    def is_reg_set(self, r: int, fr: int | None = None) -> bool:
        return bool(self.regs[self.frame if fr is None else fr] >> r & 1)

    def set_slot(self, fr: int, spi: int) -> None:
        self.stack[fr] |= 1 << spi

    def clear_slot(self, fr: int, spi: int) -> None:
        self.stack[fr] &= ~(1 << spi)

    def is_slot_set(self, fr: int, spi: int) -> bool:
        return bool(self.stack[fr] >> spi & 1)

    def subprog_enter(self) -> None:
        if self.frame == MAX_FRAMES - 1:
            raise NotSupported
        self.frame += 1

    def subprog_exit(self) -> None:
        if self.frame == 0:
            raise NotSupported
        self.frame -= 1


def _fmt_regs(mask: int) -> str:
    return ",".join(f"r{i}" for i in range(32) if mask >> i & 1)


def _fmt_stack(mask: int) -> str:
    return ",".join(f"{-(i + 1) * 8}" for i in range(64) if mask >> i & 1)


# --- the jump history ------------------------------------------------------------------

def push_jmp_history(env: Env, st: VerifierState, flags: int = 0,
                     linked: tuple | None = None) -> None:
    """Record that the current instruction followed ``env.prev_insn_idx``
    (with what backtracking must know about it)."""
    if not env.bpf_capable:
        return
    if env.cur_hist_state is st and st.jmp_history:
        idx, prev, old_flags, old_linked = st.jmp_history[-1]
        st.jmp_history[-1] = (idx, prev, old_flags | flags, linked or old_linked)
        return
    st.jmp_history.append((env.insn_idx, env.prev_insn_idx, flags, linked))
    env.cur_hist_state = st


def _hist_entry(st: VerifierState, hist_end: int, idx: int):
    if hist_end > 0 and st.jmp_history[hist_end - 1][0] == idx:
        return st.jmp_history[hist_end - 1]
    return None


def _prev_insn(st: VerifierState, i: int, hist: list[int]) -> int:
    cnt = hist[0]
    jh = st.jmp_history
    if i == st.first_insn_idx:
        if cnt == 0:
            return -1
        if cnt == 1 and jh[0][0] == i:
            return -1
    if cnt and jh[cnt - 1][0] == i:
        i = jh[cnt - 1][1]
        hist[0] -= 1
    else:
        i -= 1
    return i


# --- backtracking one instruction ---------------------------------------------------------

def _sync_linked(bt: Backtrack, ent) -> None:
    if ent is None or not ent[3]:
        return
    linked = ent[3]
    some = False
    for fr, is_reg, n in linked:
        if (is_reg and bt.is_reg_set(n, fr)) or (not is_reg and bt.is_slot_set(fr, n)):
            some = True
            break
    if not some:
        return
    for fr, is_reg, n in linked:
        if is_reg:
            bt.set_reg(n, fr)
        else:
            bt.set_slot(fr, n)


def _backtrack_insn(env: Env, idx: int, subseq_idx: int, ent, bt: Backtrack) -> None:
    insn = env.insns[idx]
    code = insn.opcode
    if code == 0:
        return
    if env.log.level >= 2:
        env.log.line(f"mark_precise: frame{bt.frame}: regs={_fmt_regs(bt.regs[bt.frame])} "
                     f"stack={_fmt_stack(bt.stack[bt.frame])} before {idx}: "
                     f"{env.insn_text(idx)}")
    _sync_linked(bt, ent)
    cls = code & 7
    op = code & OP_MASK
    dreg, sreg = insn.dst, insn.src
    if cls in (BPF_ALU, BPF_ALU64):
        if not bt.is_reg_set(dreg):
            return
        if op in (BPF_END, BPF_NEG):
            return
        if op == BPF_MOV:
            bt.clear_reg(dreg)
            if code & BPF_X and sreg != BPF_REG_FP:
                bt.set_reg(sreg)
        elif code & BPF_X and sreg != BPF_REG_FP:
            bt.set_reg(sreg)
    elif cls == BPF_LDX or (cls == BPF_STX and code & MODE_MASK == BPF_ATOMIC and
                            insn.imm == BPF_LOAD_ACQ):
        if not bt.is_reg_set(dreg):
            return
        bt.clear_reg(dreg)
        if ent is None or not ent[2] & STACK_ACCESS:
            return
        bt.set_slot(ent[2] & FRAMENO_MASK, (ent[2] >> SPI_SHIFT) & SPI_MASK)
    elif cls in (BPF_STX, BPF_ST):
        if bt.is_reg_set(dreg):
            raise NotSupported
        if ent is None or not ent[2] & STACK_ACCESS:
            return
        fr = ent[2] & FRAMENO_MASK
        spi = (ent[2] >> SPI_SHIFT) & SPI_MASK
        if not bt.is_slot_set(fr, spi):
            return
        bt.clear_slot(fr, spi)
        if cls == BPF_STX:
            bt.set_reg(sreg)
    elif cls in (BPF_JMP, BPF_JMP32):
        if code == BPF_JMP | BPF_CALL and insn.src == PSEUDO_CALL_LOCAL:
            sub = env.subprog_index(idx + insn.imm + 1)
            if env.subprogs[sub].is_global:
                bt.clear_reg(0)
                return
            if bt.regs[bt.frame] & ~REGMASK_ARGS or bt.stack[bt.frame]:
                raise NotSupported
            for r in range(1, 6):
                if bt.is_reg_set(r):
                    bt.clear_reg(r)
                    bt.set_reg(r, bt.frame - 1)
            bt.subprog_exit()
            return
        if code == BPF_JMP | BPF_CALL and insn.src == 0 and insn.imm in env.callback_helpers \
                and idx != subseq_idx - 1:
            if bt.regs[bt.frame] & ~REGMASK_ARGS or bt.stack[bt.frame]:
                raise NotSupported
            for r in range(1, 6):
                bt.clear_reg(r)
            bt.subprog_exit()
            return
        if op == BPF_CALL:
            if insn.src == PSEUDO_CALL_KFUNC and insn.imm == 0:
                raise NotSupported
            bt.clear_reg(0)
            if bt.regs[bt.frame] & REGMASK_ARGS:
                raise NotSupported
            if insn.src == 0 and insn.imm == env.tail_call_id and subseq_idx - idx != 1:
                bt.subprog_enter()
            return
        if op == BPF_EXIT:
            if subseq_idx >= 0 and env.aux[subseq_idx].calls_callback:
                for r in range(1, 6):
                    bt.clear_reg(r)
            if bt.regs[bt.frame] & REGMASK_ARGS:
                raise NotSupported
            prev = env.insns[subseq_idx - 1] if subseq_idx >= 1 else None
            r0_precise = prev is not None and prev.opcode == BPF_JMP | BPF_CALL and \
                prev.src == PSEUDO_CALL_LOCAL and bt.is_reg_set(0)
            bt.clear_reg(0)
            bt.subprog_enter()
            if r0_precise:
                bt.set_reg(0)
            return
        if code & BPF_X:
            if not bt.is_reg_set(dreg) and not bt.is_reg_set(sreg):
                return
            if ent is None or not ent[2] & SRC_REG_STACK:
                bt.set_reg(sreg)
            if ent is None or not ent[2] & DST_REG_STACK:
                bt.set_reg(dreg)
    elif cls == BPF_LD:
        if not bt.is_reg_set(dreg):
            return
        bt.clear_reg(dreg)
        if code & MODE_MASK in (BPF_IND, BPF_ABS):
            raise NotSupported
    _sync_linked(bt, ent)


# --- marking --------------------------------------------------------------------------------

def _precise(r: Reg) -> Reg:
    n = r.copy()
    n.precise = True
    return n


def mark_all_scalars_precise(env: Env, st: VerifierState) -> None:
    if env.log.level >= 2:
        env.log.line(f"mark_precise: frame{st.curframe}: falling back to forcing all scalars "
                     f"precise")
    p = st.parent
    while p is not None:
        for fi in range(p.curframe + 1):
            f = p.frame[fi]
            for j in range(BPF_REG_FP):
                r = f.regs[j]
                if r.type == SCALAR_VALUE and not r.precise:
                    f.regs[j] = _precise(r)
                    if env.log.level >= 2:
                        env.log.line(f"force_precise: frame{fi}: forcing r{j} to be precise")
            for spi, slot in enumerate(f.stack):
                r = slot.reg
                if slot.kinds[7] == STACK_SPILL and r is not None and \
                        r.type == SCALAR_VALUE and not r.precise:
                    f.stack[spi] = Slot(slot.kinds, _precise(r))
                    if env.log.level >= 2:
                        env.log.line(f"force_precise: frame{fi}: forcing fp{-(spi + 1) * 8} "
                                     f"to be precise")
        p = p.parent


def mark_all_scalars_imprecise(st: VerifierState) -> None:
    for f in st.frame[:st.curframe + 1]:
        regs = f.regs
        for j in range(BPF_REG_FP):
            r = regs[j]
            if r.precise and r.type == SCALAR_VALUE:
                n = r.copy()
                n.precise = False
                regs[j] = n
        for spi, slot in enumerate(f.stack):
            r = slot.reg
            if r is not None and r.precise and slot.kinds[7] == STACK_SPILL and \
                    r.type == SCALAR_VALUE:
                n = r.copy()
                n.precise = False
                f.stack[spi] = Slot(slot.kinds, n)


def _mark_chain(env: Env, start: VerifierState, bt: Backtrack) -> None:
    st = start
    first_idx = st.first_insn_idx
    last_idx = env.insn_idx
    subseq_idx = -1
    skip_first = True
    log2 = env.log.level >= 2
    while True:
        hist = [len(st.jmp_history)]
        if log2:
            env.log.line(f"mark_precise: frame{bt.frame}: last_idx {last_idx} first_idx "
                         f"{first_idx} subseq_idx {subseq_idx} ")
        if last_idx < 0:
            f0 = st.frame[0]
            if st.curframe == 0 and f0.subprogno > 0 and f0.callsite == -1 and \
                    not bt.stack[0] and not bt.regs[0] & ~REGMASK_ARGS:
                for i in range(32):
                    if bt.regs[0] >> i & 1:
                        bt.clear_reg(i, 0)
                        r = f0.regs[i]
                        if r.type == SCALAR_VALUE:
                            f0.regs[i] = _precise(r)
                return
            raise NotSupported
        i = last_idx
        while True:
            if skip_first:
                skip_first = False
            else:
                _backtrack_insn(env, i, subseq_idx, _hist_entry(st, hist[0], i), bt)
            if bt.empty():
                return
            subseq_idx = i
            i = _prev_insn(st, i, hist)
            if i < 0:
                break
        st = st.parent
        if st is None:
            break
        for fr in range(bt.frame, -1, -1):
            if fr > st.curframe:
                continue
            f = st.frame[fr]
            mask = bt.regs[fr]
            for r in range(32):
                if not mask >> r & 1:
                    continue
                reg = f.regs[r] if r < len(f.regs) else None
                if reg is None or reg.type != SCALAR_VALUE or reg.precise:
                    bt.clear_reg(r, fr)
                else:
                    f.regs[r] = _precise(reg)
            smask = bt.stack[fr]
            for spi in range(64):
                if not smask >> spi & 1:
                    continue
                if spi >= len(f.stack):
                    raise NotSupported
                slot = f.stack[spi]
                reg = slot.reg
                if slot.kinds[7] != STACK_SPILL or reg is None or reg.type != SCALAR_VALUE \
                        or reg.precise:
                    bt.clear_slot(fr, spi)
                else:
                    f.stack[spi] = Slot(slot.kinds, _precise(reg))
            if log2:
                env.log.line(f"mark_precise: frame{fr}: parent state regs={_fmt_regs(bt.regs[fr])} "
                             f"stack={_fmt_stack(bt.stack[fr])}:  " + frame_state_str(st, fr))
        if bt.empty():
            return
        subseq_idx = first_idx
        last_idx = st.last_insn_idx
        first_idx = st.first_insn_idx
    if not bt.empty():
        mark_all_scalars_precise(env, start)


def mark_chain_precision(env: Env, regno: int) -> None:
    """The value of scalar register ``regno`` matters: mark precise, in the
    checkpoints of this path, everything it was computed from."""
    if regno < 0 or not env.bpf_capable:
        return
    cur = env.cur
    reg = cur.frame[cur.curframe].regs[regno]
    if reg.type != SCALAR_VALUE:
        return
    bt = Backtrack(cur.curframe)
    bt.set_reg(regno)
    _run(env, cur, bt)


def mark_stack_slot_precision(env: Env, frameno: int, spi: int) -> None:
    """Like :func:`mark_chain_precision` for a spilled scalar."""
    if not env.bpf_capable:
        return
    cur = env.cur
    bt = Backtrack(cur.curframe)
    bt.set_slot(frameno, spi)
    _run(env, cur, bt)


def _run(env: Env, st: VerifierState, bt: Backtrack) -> None:
    try:
        _mark_chain(env, st, bt)
    except NotSupported:
        mark_all_scalars_precise(env, st)


def propagate_precision(env: Env, old: VerifierState) -> None:
    """The current path is pruned against ``old``: what ``old`` needed
    precise, this path needs precise too."""
    if not env.bpf_capable:
        return
    cur = env.cur
    bt = Backtrack(cur.curframe)
    for fr in range(old.curframe, -1, -1):
        f = old.frame[fr]
        names = []
        for i in range(BPF_REG_FP):
            r = f.regs[i]
            if r.type == SCALAR_VALUE and r.precise:
                bt.set_reg(i, fr)
                names.append(f"r{i}")
        for spi, slot in enumerate(f.stack):
            r = slot.reg
            if slot.kinds[7] == STACK_SPILL and r is not None and r.type == SCALAR_VALUE \
                    and r.precise:
                bt.set_slot(fr, spi)
                names.append(f"fp{-(spi + 1) * 8}")
        if names and env.log.level >= 2:
            env.log.line(f"frame {fr}: propagating " + ",".join(names))
    if bt.empty():
        return
    _run(env, cur, bt)


__all__ = ["BPF_EXIT", "PSEUDO_FUNC", "mark_all_scalars_imprecise", "mark_chain_precision",
           "propagate_precision", "push_jmp_history", "stack_access_flags"]
