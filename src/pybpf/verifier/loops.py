"""What loops of callbacks (and, later, open-coded iterators) need to converge.

A callback of ``bpf_loop``/``bpf_for_each_map_elem`` is walked again and
again from its helper call until the state at the call repeats.  Scalars
that change on each round (a counter in the caller's stack) would keep the
states apart for ever, so at each return to the call, scalars that differ
from the previous round's and that no decision depends on (not precise)
are widened to unknown, as the kernel does.
"""

from __future__ import annotations

from .env import Env
from .state import SCALAR_VALUE, STACK_SPILL, IdMap, Reg, Slot, VerifierState, regs_exact


def same_callsites(a: VerifierState, b: VerifierState) -> bool:
    """Whether two states are in the same chain of calls."""
    if a.curframe != b.curframe:
        return False
    return all(a.frame[i].callsite == b.frame[i].callsite for i in range(a.curframe + 1))


def find_prev_entry(env: Env, cur: VerifierState, insn_idx: int) -> VerifierState | None:
    """The latest checkpoint at ``insn_idx`` on the current path (a loop's
    previous round), or None."""
    for sl in reversed(env.explored.get(insn_idx, ())):
        st = sl.state
        if st.insn_idx == insn_idx and st.branches and same_callsites(st, cur) and \
                st.dfs_depth < cur.dfs_depth:
            return st
    return None


def _widened(env: Env, old: Reg, cur: Reg, idmap: IdMap) -> Reg | None:
    if old.type != SCALAR_VALUE or cur.type != SCALAR_VALUE:
        return None
    if old.precise or cur.precise or regs_exact(old, cur, idmap):
        return None
    return env.unknown()


def widen_imprecise_scalars(env: Env, old: VerifierState, cur: VerifierState) -> None:
    """Forget the value of every imprecise scalar of ``cur`` that differs
    from its value in ``old`` (registers and spilled slots, every frame of
    ``old``)."""
    idmap = IdMap()
    for fr in range(old.curframe, -1, -1):
        fold = old.frame[fr]
        fcur = cur.frame[fr]
        for i in range(len(fold.regs)):
            w = _widened(env, fold.regs[i], fcur.regs[i], idmap)
            if w is not None:
                fcur.regs[i] = w
        for spi in range(min(len(fold.stack), len(fcur.stack))):
            so, sc = fold.stack[spi], fcur.stack[spi]
            if so.kinds[7] != STACK_SPILL or sc.kinds[7] != STACK_SPILL or \
                    so.reg is None or sc.reg is None:
                continue
            w = _widened(env, so.reg, sc.reg, idmap)
            if w is not None:
                fcur.stack[spi] = Slot(sc.kinds, w)


__all__ = ["find_prev_entry", "same_callsites", "widen_imprecise_scalars"]
