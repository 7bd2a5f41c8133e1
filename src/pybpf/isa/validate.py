"""Structural validation: is every slot of a program a well-formed instruction?

This is the check every loader does before anything else (the kernel's
"unknown opcode" and "uses reserved fields" errors, uBPF's validator): known
opcodes and variants, reserved fields zero, registers r0-r10, ``lddw`` pairs
complete, jump and call targets inside the program and not inside an
``lddw``.  It says nothing about safety; that is the verifier's job.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InstructionError
from .insn import Insn
from .opcodes import (
    FORMS_BY_OPCODE,
    PSEUDO_FUNC,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    Kind,
    OpForm,
    form_of,
)

# lddw sources whose second slot carries nothing: its imm must be zero too.
_NO_SECOND_IMM = (PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_FUNC)

MAX_REGISTER = 10

LATEST_CPU_VERSION = 4
"""The newest instruction set version (``-mcpu=v4``): every form is allowed."""


def validate(insns: Sequence[Insn], *, version: int = LATEST_CPU_VERSION,
             extensions: bool = True) -> None:
    """Raise :class:`InstructionError` for the first malformed instruction.

    ``version`` is the highest CPU version (1-4) whose instructions are
    allowed; ``extensions`` allows the Linux-only forms (may_goto,
    addr_space_cast, load-acquire/store-release, kfunc calls, pseudo
    ``lddw`` sources).
    """
    problems = find_problems(insns, version=version, extensions=extensions, first_only=True)
    if problems:
        raise problems[0]


def find_problems(insns: Sequence[Insn], *, version: int = LATEST_CPU_VERSION, extensions: bool = True,
                  first_only: bool = False) -> list[InstructionError]:
    """Every structural problem of a program, as errors naming the pc."""
    found: list[InstructionError] = []
    n = len(insns)
    if n == 0:
        return [InstructionError("program has no instructions")]
    second_slots: set[int] = set()
    targets: list[tuple[int, int, Insn, str]] = []  # (pc, target, insn, what)
    # Each distinct slot is checked once.  A valid one-slot instruction that
    # neither jumps nor calls (most slots) needs nothing more, so only the
    # other slots are visited, in order.
    checked: dict[Insn, tuple[OpForm | None, str | None]] = {}
    for insn in set(insns):
        form = form_of(*insn)
        known = (form, slot_problem(insn, form, version, extensions))
        if not _is_plain(*known):
            checked[insn] = known
    skip = -1       # the second slot of the lddw before
    for pc in [pc for pc, insn in enumerate(insns) if insn in checked]:
        if pc == skip:
            continue
        insn = insns[pc]
        form, problem = checked[insn]
        if problem is None and form is not None:
            if form.kind is Kind.LDDW:
                problem = lddw_tail_problem(insns, pc)
                second_slots.add(pc + 1)
                if form.pseudo == PSEUDO_FUNC:
                    targets.append((pc, pc + 1 + insn.imm, insn, "function"))
            elif form.kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO):
                targets.append((pc, pc + 1 + insn.off, insn, "jump"))
            elif form.kind is Kind.GOTOL:
                targets.append((pc, pc + 1 + insn.imm, insn, "jump"))
            elif form.kind is Kind.CALL_LOCAL:
                targets.append((pc, pc + 1 + insn.imm, insn, "call"))
        if form is not None and form.kind is Kind.LDDW:
            skip = pc + 1                       # as iter_logical joins the two slots
        if problem is not None:
            found.append(InstructionError(problem, pc=pc, insn=insn))
            if first_only:
                return found
    for pc, target, insn, what in targets:
        if not 0 <= target < n:
            found.append(InstructionError(f"{what} out of range: target {target} is outside "
                                          f"the program (0..{n - 1})", pc=pc, insn=insn))
        elif target in second_slots:
            found.append(InstructionError(f"{what} into the middle of lddw at {target - 1}",
                                          pc=pc, insn=insn))
        else:
            continue
        if first_only:
            return found
    return found


_BRANCHING = (Kind.LDDW, Kind.JA, Kind.JCOND, Kind.MAY_GOTO, Kind.GOTOL, Kind.CALL_LOCAL)


def _is_plain(form: OpForm | None, problem: str | None) -> bool:
    return problem is None and form is not None and form.kind not in _BRANCHING


def slot_problem(insn: Insn, form, version: int, extensions: bool) -> str | None:
    """What is wrong with one slot read as ``form`` (None when it is a valid
    instruction of CPU ``version``; ``extensions`` admits the Linux-only forms)."""
    if form is None:
        if insn.opcode not in FORMS_BY_OPCODE:
            return f"unknown opcode 0x{insn.opcode:02x}"
        variants = ", ".join(sorted({f.name for f in FORMS_BY_OPCODE[insn.opcode]}))
        return (f"invalid variant of opcode 0x{insn.opcode:02x} (dst={insn.dst} src={insn.src} "
                f"off={insn.off} imm={insn.imm}); the opcode means one of: {variants}")
    for field in form.reserved:
        value = getattr(insn, field)
        if value:
            return f"{form.name} uses reserved field {field} (= {value}); it must be 0"
    for field in ("dst", "src"):
        if field in form.uses and not (form.kind is Kind.LDDW and field == "src"):
            reg = getattr(insn, field)
            if reg > MAX_REGISTER:
                return f"invalid register r{reg} in {field}"
    if form.version > version:
        return f"{form.name} needs CPU version v{form.version} (allowed: v{version})"
    if form.group == "linux" and not extensions:
        return f"{form.name} is a Linux extension, not allowed here"
    return None


def lddw_tail_problem(insns: Sequence[Insn], pc: int) -> str | None:
    """What is wrong with the second slot of the ``lddw`` at ``pc`` (None when
    it is a valid tail)."""
    if pc + 1 >= len(insns):
        return "lddw is missing its second slot at the end of the program"
    tail = insns[pc + 1]
    if tail.opcode or tail.dst or tail.src or tail.off:
        return "invalid second slot of lddw: only its imm may be non-zero"
    src = insns[pc].src
    if src in _NO_SECOND_IMM and tail.imm:
        return f"invalid second slot of lddw with src {src}: its imm must be 0"
    return None
