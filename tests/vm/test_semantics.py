"""The semantics table: one entry per opcode-table form, consistent with the
form, and templates that use exactly the documented placeholders and names."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from pybpf.isa import FORMS, Kind, assemble
from pybpf.vm import AddressSpace, semantics
from pybpf.vm.interpreter import CompiledProgram, StackFrames
from pybpf.vm.semantics import (
    ENVIRONMENT_NAMES,
    OPERATIONS,
    RUNTIME_NAMES,
    SEMANTICS,
    STATE_NAMES,
    TAIL_CALL_ID,
    Control,
    Operands,
    Semantics,
    helper_name,
    semantics_of,
)

REGISTERS = {f"r{i}" for i in range(11)}


def _form_id(form) -> str:
    return f"{form.name}-{form.source}" if form.source else form.name


# Operand sets that reach every branch of the emitters: a tail call and another
# helper, each addr_space_cast direction and an unsupported one, resolved and
# unresolved lddw references, negative offsets and immediates.
OPERAND_SETS = [
    Operands(pc=4, dst=1, src=2, off=3, imm=5, value=0x1122334455667788),
    Operands(pc=9, dst=10, src=0, off=-2, imm=-7, value=None),
    Operands(pc=0, dst=3, src=4, off=0, imm=TAIL_CALL_ID, value=0),
    Operands(pc=2, dst=5, src=6, off=1, imm=1, value=1),          # addr_space_cast 0 <- 1
    Operands(pc=2, dst=5, src=6, off=1, imm=0x10000, value=1),    # addr_space_cast 1 <- 0
    Operands(pc=2, dst=5, src=6, off=1, imm=0x20003, value=1),    # unsupported spaces
]


def _code(sem: Semantics, operands: Operands) -> list[str]:
    """The statement and, for a branch, the condition for these operands."""
    code = [sem.statement_for(operands)]
    if sem.control is Control.BRANCH:
        code.append(sem.condition_for(operands))
    return [c for c in code if c]


def test_every_form_of_the_opcode_table_has_semantics():
    # A form added to pybpf.isa without semantics fails here, not in a program.
    missing = [_form_id(f) for f in FORMS if f not in SEMANTICS]
    assert missing == []
    assert set(SEMANTICS) <= set(FORMS)
    assert len(SEMANTICS) == len(FORMS)


@pytest.mark.parametrize("form", FORMS, ids=_form_id)
def test_entry_agrees_with_its_form(form):
    sem = semantics_of(form)
    assert sem.operation in OPERATIONS
    if form.source is not None:
        assert sem.source == form.source
    if form.kind in (Kind.ALU, Kind.NEG, Kind.MOV, Kind.MOVSX, Kind.JCOND, Kind.ATOMIC):
        assert sem.width == form.width
    if form.kind in (Kind.END, Kind.BSWAP):
        assert sem.size * 8 == form.size  # the form counts bits, the entry bytes
    elif form.size:
        assert sem.size == form.size
    assert sem.fetch == form.fetch
    assert (sem.control in (Control.JUMP, Control.BRANCH)) == form.is_jump
    assert sem.signed == (form.op in ("sdiv", "smod", "arsh", "jsgt", "jsge", "jslt", "jsle")
                          or form.kind in (Kind.MOVSX, Kind.LOAD_SX))
    if sem.control in (Control.JUMP, Control.BRANCH, Control.CALL):
        assert sem.target in ("off", "imm")
    # A template or an emitter says what the form does (a jump's only effect is
    # its control transfer); a branch has a condition.
    assert not (sem.emitter is not None and sem.statement)
    if sem.control not in (Control.JUMP, Control.BRANCH):
        assert sem.emitter is not None or sem.statement
    assert bool(sem.condition) == (sem.control is Control.BRANCH)


def test_every_operation_is_used_and_described():
    assert {sem.operation for sem in SEMANTICS.values()} == set(OPERATIONS)


def _documented_placeholders() -> set[str]:
    doc = semantics.__doc__
    section = doc[doc.index("Placeholders\n"):doc.index("Names the statements use\n")]
    return set(re.findall(r"``\{(\w+)\}``", section))


def test_the_docstring_documents_exactly_the_placeholders_the_templates_use(monkeypatch):
    used: set[str] = set()
    fields = Semantics.fields

    class Recording(dict):
        def __getitem__(self, key):
            used.add(key)
            return super().__getitem__(key)

    monkeypatch.setattr(Semantics, "fields", lambda self, ops: Recording(fields(self, ops)))
    for sem in SEMANTICS.values():
        for operands in OPERAND_SETS:
            _code(sem, operands)
    documented = _documented_placeholders()
    assert used == documented
    assert set(fields(next(iter(SEMANTICS.values())), OPERAND_SETS[0])) == documented


def _names(code: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}


@pytest.mark.parametrize("form", FORMS, ids=_form_id)
def test_statements_compile_and_use_only_documented_names(form):
    sem = semantics_of(form)
    known = REGISTERS | set(RUNTIME_NAMES) | set(ENVIRONMENT_NAMES) | set(STATE_NAMES)
    for operands in OPERAND_SETS:
        for code in _code(sem, operands):
            # Statements run inside the generated function's dispatch loop.
            compile("def run():\n    while True:\n" + textwrap.indent(code, " " * 8) + "\n",
                    form.name, "exec")
            unknown = {n for n in _names(code) - known if not re.fullmatch(r"H\d+", n)}
            assert unknown == set(), (form.name, code)


def test_the_interpreter_provides_every_environment_name():
    space = AddressSpace()
    program = CompiledProgram(assemble("call 1\nexit"), space=space, stack=StackFrames(space),
                              helpers={1: lambda *args: 0})
    provided = set(program._run.__globals__)
    expected = set(ENVIRONMENT_NAMES) - {"H<id>"} | set(RUNTIME_NAMES) | {helper_name(1)}
    assert expected <= provided


def test_signed_comparison_flips_the_sign_bit_of_an_immediate():
    form = next(f for f in FORMS if f.name == "jsgt32" and f.source == "imm")
    condition = semantics_of(form).condition_for(Operands(0, 1, 0, 0, -1))
    assert condition == "((r1 & M32) ^ S32) > 0x7fffffff"


def test_the_table_depends_on_nothing_of_the_vm():
    # A compiler to another target reads the table without the interpreter.
    tree = ast.parse(Path(semantics.__file__).read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0}
    assert imported <= {"isa.opcodes", "spec"}, imported
