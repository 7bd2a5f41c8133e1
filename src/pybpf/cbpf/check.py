"""The kernel's structural check of a classic program, and seccomp's.

:func:`check` applies the rules of ``bpf_check_classic`` (what
``SO_ATTACH_FILTER`` and ``seccomp()`` run first), in the kernel's order,
and raises for the first broken one:

1. 1 to 4096 instructions;
2. every code is one the kernel knows (:data:`pybpf.cbpf.insn.FORMS`);
3. no division or modulo by a constant zero, no shift by a constant of
   32 or more;
4. scratch memory indexes ``M[0]`` to ``M[15]``;
5. jumps land inside the program (``ja`` too: forward by ``k``);
6. a packet load at ``SKF_AD_OFF`` or above names a known ancillary field;
7. the last instruction is a return;
8. on every path, a scratch word is stored before it is loaded.

With ``seccomp=True`` it then applies ``seccomp_check_filter``: only
32-bit ``seccomp_data`` loads (aligned, inside the 64-byte struct), no
byte or half-word loads, no indexed loads, no ``ldxb 4*([k]&0xf)``, no
ancillary loads.  The kernel answers all of these with a bare EINVAL;
here the error says which rule and which instruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from ..errors import InstructionError
from ..spec import cbpf as C
from ..spec import seccomp as S
from .insn import CONDITIONAL, RETURNS, Kind, SockFilter, s32

KNOWN_ANCILLARY = frozenset(C.ANCILLARY.values())
"""The ancillary offsets the kernel knows (``bpf_anc_helper``)."""


class FilterError(InstructionError):
    """A classic program the kernel would refuse (EINVAL), naming the rule
    and the instruction."""


class Problem(NamedTuple):
    """The first broken rule: the instruction index (None for the whole
    program) and why."""

    pc: int | None
    reason: str


def first_problem(program: Sequence[SockFilter], *, seccomp: bool = False) -> Problem | None:
    """The first rule ``program`` breaks, in the order the kernel checks
    them, or None when the kernel accepts it."""
    n = len(program)
    if n == 0 or n > C.BPF_MAXINSNS:
        return Problem(None, f"{n} instructions: a classic program has 1 to "
                             f"{C.BPF_MAXINSNS}")
    for pc, insn in enumerate(program):
        problem = _insn_problem(insn, pc, n)
        if problem:
            return Problem(pc, problem)
    last = program[-1].form
    if last is None or last.kind not in RETURNS:
        return Problem(n - 1, "the last instruction must be a return")
    problem = _memory_problem(program)
    if problem is not None:
        return problem
    if seccomp:
        for pc, insn in enumerate(program):
            problem = seccomp_problem(insn)
            if problem:
                return Problem(pc, problem)
    return None


def check(program: Sequence[SockFilter], *, seccomp: bool = False) -> None:
    """Raise :class:`FilterError` if the kernel would refuse ``program``."""
    problem = first_problem(program, seccomp=seccomp)
    if problem is not None:
        insn = program[problem.pc] if problem.pc is not None else None
        raise FilterError(problem.reason, pc=problem.pc, insn=insn)


def _insn_problem(insn: SockFilter, pc: int, n: int) -> str | None:
    form = insn.form
    if form is None:
        return f"code {insn.code:#x} is not a classic instruction the kernel accepts"
    kind, k = form.kind, insn.k
    if kind is Kind.ALU_K:
        if form.operation in ("div", "mod") and k == 0:
            return f"{form.operation} by the constant 0"
        if form.operation in ("lsh", "rsh") and k >= 32:
            return f"shift by {k}: at most 31"
    if kind in (Kind.LOAD_MEM, Kind.STORE) and k >= C.BPF_MEMWORDS:
        return f"scratch memory M[{k}]: the indexes are 0 to {C.BPF_MEMWORDS - 1}"
    if kind is Kind.JA and k >= n - pc - 1:
        return f"ja +{k} jumps past the end of the program ({n} instructions)"
    if kind in CONDITIONAL and (pc + insn.jt + 1 >= n or pc + insn.jf + 1 >= n):
        return f"jump target (jt {insn.jt}, jf {insn.jf}) past the end of the program " \
               f"({n} instructions)"
    if kind is Kind.LOAD_ABS and k >= C.SKF_AD_OFF & 0xFFFFFFFF and \
            s32(k) - C.SKF_AD_OFF not in KNOWN_ANCILLARY:
        return f"load at SKF_AD_OFF{s32(k) - C.SKF_AD_OFF:+d}: no such ancillary field"
    return None


def _memory_problem(program: Sequence[SockFilter]) -> Problem | None:
    """``check_load_and_stores``: the scratch words valid at each
    instruction are those stored on every path to it.  (As in the kernel,
    a return does not reset the set for the instruction after it.)"""
    everything = (1 << C.BPF_MEMWORDS) - 1
    masks = [everything] * len(program)
    valid = 0
    for pc, insn in enumerate(program):
        valid &= masks[pc]
        kind = insn.form.kind if insn.form else None
        if kind is Kind.STORE:
            valid |= 1 << insn.k
        elif kind is Kind.LOAD_MEM:
            if not valid & (1 << insn.k):
                return Problem(pc, f"M[{insn.k}] is loaded before it is stored on some path")
        elif kind is Kind.JA:
            masks[pc + 1 + insn.k] &= valid
            valid = everything
        elif kind in CONDITIONAL:
            masks[pc + 1 + insn.jt] &= valid
            masks[pc + 1 + insn.jf] &= valid
            valid = everything
    return None


_SECCOMP_ALLOWED = {Kind.RET_K, Kind.RET_A, Kind.ALU_K, Kind.ALU_X, Kind.NEG, Kind.LOAD_IMM,
                    Kind.TAX, Kind.TXA, Kind.LOAD_MEM, Kind.STORE, Kind.JA, Kind.JUMP_K,
                    Kind.JUMP_X, Kind.LOAD_LEN}


def seccomp_problem(insn: SockFilter) -> str | None:
    """Why ``seccomp_check_filter`` refuses ``insn``, or None."""
    form = insn.form
    if form is None:
        return f"code {insn.code:#x} is not a classic instruction"
    if form.kind is Kind.LOAD_ABS:
        if form.size != 4:
            return "seccomp filters load only 32-bit words of seccomp_data"
        if insn.k >= S.SECCOMP_DATA_SIZE or insn.k & 3:
            return f"seccomp_data has no aligned word at offset {s32(insn.k)} (0 to " \
                   f"{S.SECCOMP_DATA_SIZE - 4}, multiples of 4)"
        return None
    if form.kind not in _SECCOMP_ALLOWED:
        return f"{form.mnemonic} ({form.kind.value}) is not allowed in a seccomp filter"
    return None
