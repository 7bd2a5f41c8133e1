"""The instruction set: opcode table, encoding, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pybpf.errors import DecodeError, InstructionError
from pybpf.isa import (
    FORMS,
    FORMS_BY_NAME,
    Insn,
    Kind,
    decode,
    encode,
    find_problems,
    form_of,
    iter_logical,
    validate,
)
from strategies import any_slot, valid_instruction, valid_program


def test_table_forms_are_distinguishable():
    # No two forms may claim the same instruction.
    for form in FORMS:
        fields = {"dst": 1, "src": 1, "off": 0, "imm": 0}
        fields.update(dict(form.fixed))
        assert form_of(form.opcode, **fields) is form, form.name


def test_table_covers_the_rfc_and_linux_extensions():
    names = set(FORMS_BY_NAME)
    for expected in ["add", "add32", "sdiv", "smod32", "movsx864", "movsx1632", "neg", "le16",
                     "be64", "bswap32", "ja", "ja32", "jslt32", "call", "call local",
                     "call kfunc", "callx", "exit", "ldxsb", "ldxdw", "stdw", "stxb",
                     "lock add", "lock fetch xor32", "lock xchg", "lock cmpxchg32", "lddw",
                     "lddw map_fd", "lddw map_value", "lddw btf_id", "lddw func",
                     "lddw map_idx", "lddw map_idx_value", "ldabsw", "ldindb", "may_goto",
                     "addr_space_cast", "ldacqdw", "strelb"]:
        assert expected in names, expected
    assert FORMS_BY_NAME["sdiv"][0].version == 4
    assert FORMS_BY_NAME["jlt"][0].version == 2
    assert FORMS_BY_NAME["jeq32"][0].version == 3
    assert FORMS_BY_NAME["lock add"][0].group == "atomic64"
    assert FORMS_BY_NAME["mul32"][0].group == "divmul32"
    assert FORMS_BY_NAME["callx"][0].group == "callx"


def test_encode_layout_little_and_big_endian():
    insn = Insn(0xB7, dst=1, src=2, off=-2, imm=0x11223344)
    assert insn.encode() == bytes.fromhex("b721feff44332211")
    assert insn.encode("big") == bytes.fromhex("b712fffe11223344")
    assert decode(insn.encode("big"), "big") == [insn]


def test_lddw_occupies_two_slots():
    lo, hi = Insn.lddw(3, 0x1122334455667788)
    assert lo == Insn(0x18, 3, 0, 0, 0x55667788)
    assert hi == Insn(0, 0, 0, 0, 0x11223344)
    items = list(iter_logical([lo, hi, Insn(0x95)]))
    assert [i.pc for i in items] == [0, 2]
    assert items[0].imm64 == 0x1122334455667788


@given(st.lists(any_slot, max_size=30))
def test_encode_decode_round_trip(slots):
    data = encode(slots)
    assert len(data) == 8 * len(slots)
    assert decode(data) == slots
    assert decode(encode(slots, "big"), "big") == slots


def test_decode_rejects_partial_instruction():
    with pytest.raises(DecodeError, match="multiple of 8"):
        decode(b"\x95\0\0\0\0\0\0")


@given(valid_program())
def test_generated_programs_validate(program):
    validate(program)


@pytest.mark.parametrize("raw, message", [
    ("0700010001000000", "reserved field off"),       # add64 imm with an offset
    ("0710000001000000", "reserved field src"),       # add64 imm with a src register
    ("0f00000001000000", "reserved field imm"),       # add64 reg with an immediate
    ("8501000000000000", "reserved field dst"),       # call with a dst register
    ("9500000001000000", "reserved field imm"),       # exit with an immediate
    ("d400000011000000", "invalid variant"),          # le17
    ("ff00000000000000", "unknown opcode 0xff"),
    ("b70b000000000000", "invalid register r11"),
    ("3700020001000000", "div uses reserved field off"),  # div with offset 2
])
def test_validate_names_the_problem(raw, message):
    insns = decode(bytes.fromhex(raw) + bytes.fromhex("9500000000000000"))
    with pytest.raises(InstructionError, match=message) as info:
        validate(insns)
    assert info.value.pc == 0


def test_validate_program_structure():
    exit_ = Insn(0x95)
    with pytest.raises(InstructionError, match="no instructions"):
        validate([])
    with pytest.raises(InstructionError, match="jump out of range"):
        validate([Insn(0x05, off=5), exit_])
    lo, hi = Insn.lddw(0, 1)
    with pytest.raises(InstructionError, match="middle of lddw"):
        validate([Insn(0x05, off=1), lo, hi, exit_])
    with pytest.raises(InstructionError, match="second slot"):
        validate([lo])
    with pytest.raises(InstructionError, match="second slot"):
        validate([lo, hi._replace(opcode=0x95), exit_])
    with pytest.raises(InstructionError, match="needs CPU version v4"):
        validate([Insn(0x3F, 1, 2, 1, 0), exit_], version=3)
    assert len(find_problems([Insn(0xFF), Insn(0xFE), exit_])) == 2


@given(valid_instruction())
def test_every_valid_instruction_has_a_form(slots):
    form = slots[0].form
    assert form is not None
    assert all(getattr(slots[0], f) == 0 for f in form.reserved)
    assert (form.kind is Kind.LDDW) == (len(slots) == 2)
