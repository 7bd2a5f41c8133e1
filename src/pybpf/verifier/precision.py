"""Precision: which scalars' exact values the verdict depends on.

A scalar is *precise* when some check used its value (a pointer offset, a
size given to a helper, a branch decided by its range).  Only precise
scalars must match exactly for one state to prune another; the others may
differ.  :func:`mark_chain_precision` marks a register precise.

This version marks the register itself; state comparison treats every
scalar as precise (see :mod:`.explore`), which is sound and prunes less
than the kernel's backtracking through the instruction history.
"""

from __future__ import annotations

from .env import Env
from .state import SCALAR_VALUE


def mark_chain_precision(env: Env, regno: int) -> None:
    """Mark register ``regno`` of the current frame precise."""
    if regno < 0:
        return
    regs = env.regs
    r = regs[regno]
    if r.type == SCALAR_VALUE and not r.precise:
        r = r.copy()
        r.precise = True
        regs[regno] = r
