"""The bpf_asm assembler and disassembler, and reading tcpdump's dumps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from programs import any_programs, classic_programs

from pybpf.cbpf import (
    FORMS,
    SockFilter,
    assemble,
    bpf_asm_output,
    disassemble,
    dump,
    parse_program,
    parse_tcpdump,
)
from pybpf.cbpf.asm import detect_format, parse_number
from pybpf.cbpf.disasm import is_canonical
from pybpf.errors import AssemblerError
from pybpf.spec import cbpf as C

KERNEL_DOC_EXAMPLE = """
  ; the IPv4 TCP example of Documentation/networking/filter.rst
  ldh [12]
  jne #0x800, drop
  ldb [23]
  jneq #6, drop
  ret #-1
  drop: ret #0
"""


def test_the_kernel_documentation_example():
    assert bpf_asm_output(assemble(KERNEL_DOC_EXAMPLE)) == \
        "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 6,6 0 0 4294967295,6 0 0 0,\n"


def test_every_operand_form():
    text = """
        ld #0x10        ; 0
        ldi 5
        ldx #len
        ld len
        ldxi #7
        ld M[0]         ; 5 (stored first below? no: the assembler does not check)
        ldx M[15]
        st M[1]
        stx M[2]
        ldh [x + 14]
        ldb [%x + 0]    ; 10
        ld [-1048576]
        ldxb 4*([14]&0xf)
        ldx 4*([0x0e]&0xf)
        ld #proto
        ldh type        ; 15
        ldb #vlan_avail
        ld [vlanp]
        add #1
        sub x
        mul %x          ; 20
        div #010
        mod #0b11
        neg
        and #0xff
        or x            ; 25
        xor #-1
        lsh #2
        rsh x
        tax
        txa             ; 30
        jmp end
        ja end
        jeq #1, end
        jeq x, end, end
        jgt #2, end     ; 35
        jge %x, end, end
        jset #4, end
        jne #5, end
        jlt #6, end
        jle x, end      ; 40
        jlt #7, a, b
a:
b:  ret a
        ret x
        ret %a
end:    ret #0          ; 45
    """
    prog = assemble(text)
    assert len(prog) == 46
    expect = {
        0: (0x00, 0, 0, 16), 1: (0x00, 0, 0, 5), 2: (0x81, 0, 0, 0), 3: (0x80, 0, 0, 0),
        4: (0x01, 0, 0, 7), 9: (0x48, 0, 0, 14), 10: (0x50, 0, 0, 0),
        11: (0x20, 0, 0, C.SKF_NET_OFF & 0xFFFFFFFF), 12: (0xB1, 0, 0, 14),
        13: (0xB1, 0, 0, 14), 14: (0x20, 0, 0, (C.SKF_AD_OFF + C.SKF_AD_PROTOCOL) & 0xFFFFFFFF),
        15: (0x28, 0, 0, (C.SKF_AD_OFF + C.SKF_AD_PKTTYPE) & 0xFFFFFFFF),
        16: (0x30, 0, 0, (C.SKF_AD_OFF + C.SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF),
        17: (0x20, 0, 0, (C.SKF_AD_OFF + C.SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF),
        21: (0x34, 0, 0, 8), 22: (0x94, 0, 0, 3), 26: (0xA4, 0, 0, 0xFFFFFFFF),
        31: (0x05, 0, 0, 13), 33: (0x15, 11, 0, 1), 34: (0x1D, 10, 10, 0),
        38: (0x15, 0, 6, 5), 39: (0x35, 0, 5, 6), 40: (0x2D, 0, 4, 0), 41: (0x35, 0, 0, 7),
        42: (0x16, 0, 0, 0), 43: (0x0E, 0, 0, 0), 45: (0x06, 0, 0, 0),
    }
    for pc, fields in expect.items():
        assert tuple(prog[pc]) == fields, (pc, prog[pc])


@given(classic_programs(ancillary=tuple(C.ANCILLARY)))
@settings(max_examples=300)
def test_disassembly_assembles_back(program):
    assert assemble(disassemble(program)) == program


@given(st.builds(SockFilter, st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 255),
                 st.integers(0, 0xFFFFFFFF)))
def test_any_instruction_round_trips_raw_or_named(insn):
    # a lone instruction: jumps print as relative counts, anything whose
    # text could not say every field as .insn
    from pybpf.cbpf.disasm import format_bpf_asm, is_canonical

    text = format_bpf_asm(insn)
    assert text.startswith(".insn") == (not is_canonical(insn))
    assert assemble(text) == [insn]


@pytest.mark.parametrize("fmt", ["d", "dd", "ddd"])
@given(program=any_programs())
@settings(max_examples=200)
def test_tcpdump_dumps_read_back(fmt, program):
    if not program:
        return
    if fmt == "d" and not all(is_canonical(i) for i in program):
        return  # -d prints invalid codes as "unimp", and not the fields codes ignore
    assert detect_format(dump(program, fmt)) == fmt
    assert parse_tcpdump(dump(program, fmt)) == program
    assert parse_program(dump(program, fmt)) == program


def test_bpf_asm_output_reads_back():
    program = assemble(KERNEL_DOC_EXAMPLE)
    assert parse_program(bpf_asm_output(program)) == program
    assert detect_format(bpf_asm_output(program)) == "bpf_asm"


def test_numbers():
    assert parse_number("0x10") == 16
    assert parse_number("010") == 8
    assert parse_number("0b101") == 5
    assert parse_number("-1") == 0xFFFFFFFF
    assert parse_number("+7") == 7
    with pytest.raises(ValueError):
        parse_number("0x1_0000_0000")
    with pytest.raises(ValueError):
        parse_number("4294967296")


@pytest.mark.parametrize("text, message, token", [
    ("ldq [12]", "unknown instruction", "ldq"),
    ("ld [12\nret #0", "cannot read operand", "[12"),
    ("jeq #1, nowhere\nret #0", "no such label", "nowhere"),
    ("a: ret #0\njmp a", "backwards", "a"),
    ("a: ld #1\na: ret #0", "defined twice", "a"),
    ("add 5", "#k or x", "5"),
    ("ldxb [14]", "4*([k]&0xf)", "[14]"),
    ("ldx 2*([14]&0xf)", "only 4*([k]&0xf)", None),
    ("st [3]", "M[k]", "[3]"),
    ("tax x", "no operand", "x"),
])
def test_errors_name_the_line_and_token(text, message, token):
    with pytest.raises(AssemblerError) as info:
        assemble(text, source="f.bpf")
    assert message in str(info.value)
    assert str(info.value).startswith("f.bpf line ")
    if token:
        assert info.value.token is not None and token in info.value.token


def test_far_conditional_jump_is_refused():
    text = "jeq #1, far\n" + "ld #0\n" * 300 + "far: ret #0"
    with pytest.raises(AssemblerError, match="at most 255"):
        assemble(text)
    # ja reaches anywhere forward
    assert assemble("ja far\n" + "ld #0\n" * 300 + "far: ret #0")[0].k == 300


def test_comments_and_label_lines():
    prog = assemble("/* block\ncomment */ ld #1 // trailing\nl1:\n\n ret a ; done")
    assert prog == [SockFilter(0, 0, 0, 1), SockFilter(0x16)]


def test_unimp_lines_are_refused():
    with pytest.raises(AssemblerError, match="unimp"):
        parse_tcpdump("(000) unimp    0x81\n")


def test_forms_all_have_a_name():
    for form in FORMS.values():
        assert form.mnemonic
