"""Assembler and disassembler in both syntaxes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import AssemblerError
from pybpf.isa import FORMS, Insn, assemble, detect_syntax, disassemble, format_insn
from strategies import any_slot, valid_instruction, valid_program

SYNTAXES = ["ubpf", "llvm"]


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(data=st.data())
@settings(max_examples=300)
def test_every_form_round_trips(syntax, data):
    slots = data.draw(valid_instruction())
    text = disassemble(slots, syntax=syntax)
    assert not text.startswith(".insn"), text
    assert assemble(text, syntax) == slots, text


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_each_form_once(syntax):
    # Deterministic companion of the property test: every table entry prints
    # as an instruction and assembles back.
    for form in FORMS:
        fields = {"dst": 3, "src": 4, "off": -6, "imm": 7}
        fields = {k: (v if k in form.uses else 0) for k, v in fields.items()}
        fields.update(dict(form.fixed))
        slots = [Insn(form.opcode, **fields)]
        if form.slots == 2:
            slots.append(Insn(0, imm=0 if form.pseudo in (1, 4, 5) else 9))
        text = disassemble(slots, syntax=syntax)
        assert not text.startswith(".insn"), (form.name, text)
        assert assemble(text, syntax) == slots, (form.name, text)


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(program=valid_program())
def test_programs_round_trip_with_labels(syntax, program):
    text = disassemble(program, syntax=syntax, labels=True)
    assert assemble(text, syntax) == program, text


@pytest.mark.parametrize("syntax", SYNTAXES)
@given(st.lists(any_slot, min_size=1, max_size=12))
def test_arbitrary_slots_round_trip(syntax, slots):
    # Invalid slots print as .insn directives, so any bytes survive text.
    text = disassemble(slots, syntax=syntax)
    assert assemble(text, syntax) == slots, text


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_pc_prefixed_listing_assembles(syntax):
    program = assemble("mov %r0, 1\nlddw %r1, 0x1122334455667788\nja -3\nexit")
    assert assemble(disassemble(program, syntax=syntax, pcs=True), syntax) == program


UBPF_EXAMPLES = {
    "mov %r0, 1": Insn(0xB7, 0, 0, 0, 1),
    "mov32 %r0, 0xffffffff": Insn(0xB4, 0, 0, 0, -1),
    "ldxdw %r0, [%r1+8]": Insn(0x79, 0, 1, 8, 0),
    "ldxb %r2, [%r10-1]": Insn(0x71, 2, 10, -1, 0),
    "stw [%r1], -3": Insn(0x62, 1, 0, 0, -3),
    "jne %r1, 6, +3": Insn(0x55, 1, 0, 3, 6),
    "lock fetch add [%r10-8], %r1": Insn(0xDB, 10, 1, -8, 0x01),
    "lock cmpxchg32 [%r1+4], %r2": Insn(0xC3, 1, 2, 4, 0xF1),
    "call 1": Insn(0x85, 0, 0, 0, 1),
    "call %r2": Insn(0x8D, 2, 0, 0, 0),
    "movsx1664 %r1, %r2": Insn(0xBF, 1, 2, 16, 0),
    "sdiv32 %r1, -7": Insn(0x34, 1, 0, 1, -7),
    "swap16 %r0": Insn(0xD7, 0, 0, 0, 16),
    "be32 %r3": Insn(0xDC, 3, 0, 0, 32),
    "ldabsh 12": Insn(0x28, 0, 0, 0, 12),
    "ldindb %r1, 3": Insn(0x50, 0, 1, 0, 3),
}


@pytest.mark.parametrize("text, insn", UBPF_EXAMPLES.items())
def test_ubpf_syntax_examples(text, insn):
    assert assemble(text, "ubpf") == [insn]


LLVM_EXAMPLES = {
    "r0 = 1": Insn(0xB7, 0, 0, 0, 1),
    "w0 = w1": Insn(0xBC, 0, 1, 0, 0),
    "r0 = *(u64 *)(r1 + 8)": Insn(0x79, 0, 1, 8, 0),
    "w0 = *(u32 *)(r1 + 0x8)": Insn(0x61, 0, 1, 8, 0),
    "r0 = *(s16 *)(r1 - 2)": Insn(0x89, 0, 1, -2, 0),
    "*(u32 *)(r10 - 4) = r1": Insn(0x63, 10, 1, -4, 0),
    "*(u8 *)(r10 -1) = 7": Insn(0x72, 10, 0, -1, 7),
    "if r1 != 6 goto +3": Insn(0x55, 1, 0, 3, 6),
    "if w1 s< w2 goto -1": Insn(0xCE, 1, 2, -1, 0),
    "if r1 == 0x5 goto pc+2": Insn(0x15, 1, 0, 2, 5),
    "goto +3 <LBB0_4>": Insn(0x05, 0, 0, 3, 0),
    "lock *(u64 *)(r10 - 8) += r1": Insn(0xDB, 10, 1, -8, 0),
    "lock *(u32 *)(r10 - 8) ^= w1": Insn(0xC3, 10, 1, -8, 0xA0),
    "r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)": Insn(0xDB, 10, 1, -8, 0x01),
    "w2 = atomic_fetch_or((u32 *)(r3 + 0), w2)": Insn(0xC3, 3, 2, 0, 0x41),
    "r1 = xchg_64(r10 - 8, r1)": Insn(0xDB, 10, 1, -8, 0xE1),
    "w0 = cmpxchg32_32(r10 - 8, w0, w1)": Insn(0xC3, 10, 1, -8, 0xF1),
    "r0 = atomic64_cmpxchg((u64 *)(r2 +16), r0, r3)": Insn(0xDB, 2, 3, 16, 0xF1),
    "call bpf_map_lookup_elem#1": Insn(0x85, 0, 0, 0, 1),
    "call pc+4": Insn(0x85, 0, 1, 0, 4),
    "r1 = -r1": Insn(0x87, 1, 0, 0, 0),
    "r2 = (s8)r3": Insn(0xBF, 2, 3, 8, 0),
    "r1 = be16 r1": Insn(0xDC, 1, 0, 0, 16),
    "r1 = bswap64 r1": Insn(0xD7, 1, 0, 0, 64),
    "r1 s>>= 3": Insn(0xC7, 1, 0, 0, 3),
    "w1 s/= w2": Insn(0x3C, 1, 2, 1, 0),
    "r0 = *(u8 *)skb[12]": Insn(0x30, 0, 0, 0, 12),
    "r0 = *(u16 *)skb[r6 + 2]": Insn(0x48, 0, 6, 0, 2),
    "gotol +70000": Insn(0x06, 0, 0, 0, 70000),
    "may_goto +2": Insn(0xE5, 0, 0, 2, 0),
    "r1 = addr_space_cast(r2, 0, 1)": Insn(0xBF, 1, 2, 1, 1),
    "callx r5": Insn(0x8D, 5, 0, 0, 0),
}


@pytest.mark.parametrize("text, insn", LLVM_EXAMPLES.items())
def test_llvm_syntax_examples(text, insn):
    assert assemble(text, "llvm") == [insn]


def test_llvm_wide_immediates_become_lddw():
    assert assemble("r1 = 0x1122334455667788 ll", "llvm") == list(
        Insn.lddw(1, 0x1122334455667788))
    assert assemble("r1 = 5 ll", "llvm") == list(Insn.lddw(1, 5))
    # The kernel log prints lddw without "ll"; a value that does not fit 32 bits says it.
    assert assemble("r1 = 0x100000000", "llvm") == list(Insn.lddw(1, 1 << 32))
    # ... and so does the opcode in the kernel log's (18) column.
    assert assemble("7: (18) r1 = 0x5", "llvm") == list(Insn.lddw(1, 5))
    assert assemble("r1 = map[fd:5]", "llvm") == [Insn(0x18, 1, 1, 0, 5), Insn(0)]
    assert assemble("r1 = map[idx:2][0]+16 ll", "llvm") == [Insn(0x18, 1, 6, 0, 2),
                                                           Insn(0, imm=16)]


def test_tool_output_prefixes_are_skipped():
    objdump = ("       0:\tb7 01 00 00 01 00 00 00\tr1 = 0x1\n"
               "       1:\t18 02 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr2 = "
               "0x1122334455667788 ll\n"
               "       3:\t95 00 00 00 00 00 00 00\texit")
    assert assemble(objdump) == [Insn(0xB7, 1, 0, 0, 1), *Insn.lddw(2, 0x1122334455667788),
                                 Insn(0x95)]
    kernel_log = "0: (b7) r0 = 0\n1: (95) exit ; R0_w=0"
    assert assemble(kernel_log) == [Insn(0xB7), Insn(0x95)]


def test_helper_names_resolve_through_a_lookup():
    ids = {"bpf_map_lookup_elem": 1, "bpf_trace_printk": 6}
    assert assemble("call bpf_trace_printk", "llvm", helper_ids=ids) == [Insn(0x85, imm=6)]
    assert assemble("call bpf_map_lookup_elem", "ubpf", helper_ids=ids) == [Insn(0x85, imm=1)]
    text = format_insn(Insn(0x85, imm=6), syntax="llvm", helper_names={6: "bpf_trace_printk"})
    assert text == "call bpf_trace_printk#6"


def test_labels_and_the_exit_convention():
    program = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert program[0].off == 1  # "exit" names the first exit instruction
    program = assemble("ja end\nmov %r0, 1\nend:\nexit")
    assert program[0].off == 1
    program = assemble("call local f\nexit\nf:\nmov %r0, 3\nexit")
    assert program[0] == Insn(0x85, 0, 1, 0, 1)


def test_syntax_detection():
    assert detect_syntax("mov %r0, 1\nexit") == "ubpf"
    assert detect_syntax("r0 = 1\nexit") == "llvm"
    assert detect_syntax("; comment\nif r1 > 2 goto +1\nexit") == "llvm"


@pytest.mark.parametrize("text, line, column, fragment", [
    ("mov %r0, 1\nldxq %r0, %r1", 2, 1, "unknown instruction mnemonic"),
    ("or %r0, %r50", 1, 9, "invalid register"),
    ("mov32 %r0, 2147483648", 1, 12, "out of range"),
    ("mov32 %r0, 0x100000000", 1, 12, "out of range"),
    ("ldxb %r0, [%r1+0x10000]", 1, 15, "out of range"),
    ("ja NOT_A_LABEL\nexit", 1, 4, "undefined label"),
    ("lock or [%r10-8]", 1, 17, "Invalid number of operands for lock"),
    ("lock", 1, 5, "Invalid number of operands for lock"),
    ("lddw %r0", 1, 9, "takes 2 operands"),
    ("ldxb %r0, %r1", 1, 11, "memory operand"),
    ("add %r0, 1, 2", 1, 11, "too many operands"),
    ("x:\nx:\nexit", 2, 1, "label defined twice"),
])
def test_errors_name_line_column_and_token(text, line, column, fragment):
    with pytest.raises(AssemblerError, match=fragment) as info:
        assemble(text, "ubpf", source="t.s")
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"t.s line {line}, column {column}")


@pytest.mark.parametrize("text, fragment", [
    ("r0 += r1 r2", "unexpected"),
    ("if r1 ~ 2 goto +1", "unexpected character"),
    ("if r1 == w2 goto +1", "must be r or both w"),
    ("r1 = be16 r2", "in place"),
    ("r0 = *(u128 *)(r1 + 0)", "expected a type"),
    ("w1 = 0x100000000 ll", "needs an r register"),
    ("goto", "jump target"),
])
def test_llvm_errors(text, fragment):
    with pytest.raises(AssemblerError, match=fragment):
        assemble(text, "llvm")


@given(st.text(max_size=60))
@settings(max_examples=500)
def test_assembler_never_crashes(text):
    for syntax in ("ubpf", "llvm"):
        try:
            program = assemble(text, syntax)
        except AssemblerError as error:
            assert error.line is not None  # every error points at a line
        else:  # whatever it accepted, it reads back from its own disassembly
            assert assemble(disassemble(program, syntax=syntax), syntax) == program
