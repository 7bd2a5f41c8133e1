"""Which registers hold stack addresses: a layout hint for checked accesses.

Code compiled for a program loaded without its verification checks every
memory access: first against the stack frame, then against the region the
access site last reached.  Either may be the common case.  A base register
that was computed from the frame pointer r10 by moves and additions on every
path points into the stack nearly always, so the code for such an access
lays the stack path out straight ahead and the other one aside.  A wrong
hint costs a taken branch, never a wrong result: the checks are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..isa import Insn
from ..vm.semantics import Control, Semantics

#: r0..r5: what a call leaves undefined.
CALL_CLOBBERED = frozenset(range(6))
MEMORY_OPS = frozenset({"load", "load_acquire", "store", "store_release"})


def stack_registers(insns: Sequence[Insn], sems: Sequence[Semantics | None],
                    flow: Mapping[int, tuple[int, Sequence[int]]],
                    entries: Sequence[int]) -> dict[int, frozenset[int]]:
    """pc of each memory access -> the registers that hold a stack address
    there on every path from its function's entry (r10 at least).
    ``flow`` maps each block's start to (its end, the blocks it continues
    at); ``entries`` are the functions' first pcs."""
    into: dict[int, frozenset[int]] = {e: frozenset({10}) for e in entries if e in flow}
    found: dict[int, frozenset[int]] = {}
    work = sorted(into)
    while work:
        start = work.pop()
        end, following = flow[start]
        state = set(into[start])
        pc = start
        while pc < end:
            sem = sems[pc]
            if sem is None:
                break
            if sem.operation in MEMORY_OPS or sem.operation.startswith("atomic_"):
                found[pc] = frozenset(state)
            _transfer(state, insns[pc], sem)
            pc += 2 if insns[pc].is_lddw else 1
        out = frozenset(state)
        for nxt in following:
            if nxt not in flow:
                continue
            before = into.get(nxt)
            after = out if before is None else before & out
            if after != before:
                into[nxt] = after
                work.append(nxt)
    return found


def _transfer(state: set[int], insn: Insn, sem: Semantics) -> None:
    """``state`` after ``insn``: which registers still hold stack addresses."""
    op = sem.operation
    if sem.control in (Control.CALL, Control.INDIRECT) or \
            op in ("call_helper", "call_kfunc", "load_packet"):
        state -= CALL_CLOBBERED
    elif op in ("load", "load_acquire"):
        state.discard(insn.dst)
    elif op.startswith("atomic_"):
        if sem.fetch:
            state.discard(insn.src)
        if op == "atomic_cmpxchg":
            state.discard(0)
    elif op in MEMORY_OPS or sem.control is not Control.NEXT:
        pass
    elif op == "mov" and sem.source == "reg" and sem.width == 64 and not sem.signed:
        if insn.src in state:
            state.add(insn.dst)
        else:
            state.discard(insn.dst)
    elif op in ("add", "sub") and sem.width == 64:
        pass                            # a stack address moved along the stack
    else:
        state.discard(insn.dst)
