"""Hypothesis strategies for instructions and programs, shared by the tests."""

from __future__ import annotations

from hypothesis import strategies as st

from pybpf.isa import FORMS, Insn, Kind
from pybpf.isa.opcodes import PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_IDX

regs = st.integers(0, 10)
offs = st.integers(-(1 << 15), (1 << 15) - 1)
imms = st.integers(-(1 << 31), (1 << 31) - 1)

_NO_SECOND_IMM = (PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_FUNC)


@st.composite
def valid_instruction(draw, forms=FORMS) -> list[Insn]:
    """The slots of one valid instruction of a random form (jump offsets arbitrary)."""
    form = draw(st.sampled_from(forms))
    fields = {"dst": 0, "src": 0, "off": 0, "imm": 0}
    for name in form.uses:
        fields[name] = draw({"dst": regs, "src": regs, "off": offs, "imm": imms}[name])
    fields.update(dict(form.fixed))
    first = Insn(form.opcode, fields["dst"], fields["src"], fields["off"], fields["imm"])
    if form.kind is Kind.LDDW:
        hi = 0 if form.pseudo in _NO_SECOND_IMM else draw(imms)
        return [first, Insn(0, 0, 0, 0, hi)]
    return [first]


@st.composite
def valid_program(draw, max_size: int = 20) -> list[Insn]:
    """A structurally valid program: valid instructions whose jump and call
    targets land on instruction starts."""
    parts = draw(st.lists(valid_instruction(), min_size=1, max_size=max_size))
    starts, pc = [], 0
    for part in parts:
        starts.append(pc)
        pc += len(part)
    slots: list[Insn] = []
    for index, part in enumerate(parts):
        first = part[0]
        form = first.form
        here = starts[index]
        target = draw(st.sampled_from(starts))
        rel = target - (here + 1)
        if form.kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO) and -(1 << 15) <= rel < (1 << 15):
            first = first._replace(off=rel)
        elif form.kind in (Kind.GOTOL, Kind.CALL_LOCAL) or (
                form.kind is Kind.LDDW and form.pseudo == PSEUDO_FUNC):
            first = first._replace(imm=rel)
        slots.append(first)
        slots.extend(part[1:])
    return slots


any_slot = st.builds(Insn, st.integers(0, 255), st.integers(0, 15), st.integers(0, 15), offs,
                     imms)
