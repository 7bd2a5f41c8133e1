"""The classic instruction set: encode/decode, constructors, the builder,
and the three tcpdump dump formats compared with libpcap and tcpdump."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import pcap_image, tcpdump_dump

from pybpf.cbpf import FORMS, Builder, Kind, SockFilter, decode, dump, encode, image
from pybpf.cbpf import insn as c
from pybpf.cbpf.disasm import bpf_asm_output
from pybpf.errors import DecodeError, InstructionError
from pybpf.spec import cbpf as C

sock_filters = st.builds(SockFilter, st.integers(0, 0xFFFF), st.integers(0, 255),
                         st.integers(0, 255), st.integers(0, 0xFFFFFFFF))


@given(st.lists(sock_filters, max_size=20))
def test_encode_decode_round_trip(program):
    raw = encode(program)
    assert len(raw) == 8 * len(program)
    assert decode(raw) == program


def test_decode_refuses_a_partial_instruction():
    with pytest.raises(DecodeError, match="whole number"):
        decode(bytes(12))


def test_as_program_checks_fields():
    assert c.as_program([(6, 0, 0, -1)]) == [SockFilter(6, 0, 0, 0xFFFFFFFF)]
    with pytest.raises(InstructionError, match="out of range"):
        c.as_program([(6, 256, 0, 0)])


def test_forms_cover_the_kernels_codes():
    # bpf_check_classic's list: 10 ALU ops x 2 sources + neg, 3 sizes x
    # (abs, ind), ld imm/mem/len, ldx imm/mem/len/msh, st, stx, ja,
    # 4 conditions x 2, ret k/a, tax, txa.
    assert len(FORMS) == 21 + 6 + 3 + 4 + 2 + 1 + 8 + 2 + 2
    assert FORMS[0x28].kind is Kind.LOAD_ABS and FORMS[0x28].size == 2
    assert FORMS[0xB1].kind is Kind.LOAD_MSH
    assert 0x0E not in FORMS  # ret x: bpf_asm emits it, the kernel refuses it


def test_constructors_make_the_classic_codes():
    assert c.ld_abs("h", 12) == SockFilter(0x28, 0, 0, 12)
    assert c.ld_ind(4, 14) == SockFilter(0x40, 0, 0, 14)
    assert c.ldx_msh(14) == SockFilter(0xB1, 0, 0, 14)
    assert c.jeq(0x800, 0, 10) == SockFilter(0x15, 0, 10, 0x800)
    assert c.jset(c.X, 1, 2) == SockFilter(0x4D, 1, 2, 0)
    assert c.alu("add", c.X) == SockFilter(0x0C)
    assert c.ret(c.A) == SockFilter(0x16)
    assert c.ret(-1) == SockFilter(6, 0, 0, 0xFFFFFFFF)
    anc = c.ld_ancillary("vlan_tag_present")
    assert anc.k == (C.SKF_AD_OFF + C.SKF_AD_VLAN_TAG_PRESENT) & 0xFFFFFFFF
    assert anc.ancillary == C.SKF_AD_VLAN_TAG_PRESENT
    assert c.ld_abs("b", 14).ancillary is None
    with pytest.raises(ValueError, match="unknown ancillary"):
        c.ld_ancillary("colour")


def test_builder_resolves_labels():
    b = Builder()
    b.emit(c.ld_abs("h", 12))
    b.jump("jeq", 0x800, None, "drop")
    b.jump("ja", jt="accept")
    b.emit(c.ret(1))
    b.label("accept")
    b.emit(c.ret(-1))
    b.label("drop")
    b.emit(c.ret(0))
    assert b.build() == [SockFilter(0x28, 0, 0, 12), SockFilter(0x15, 0, 3, 0x800),
                         SockFilter(0x05, 0, 0, 1), SockFilter(6, 0, 0, 1),
                         SockFilter(6, 0, 0, 0xFFFFFFFF), SockFilter(6, 0, 0, 0)]


def test_builder_refuses_backward_and_far_jumps():
    b = Builder()
    b.label("top")
    b.emit(c.ld_len())
    b.jump("jeq", 1, "top")
    with pytest.raises(ValueError, match="backwards"):
        b.build()
    b = Builder()
    b.jump("jeq", 1, "far")
    b.emit(*[c.ld_len()] * 300)
    b.label("far")
    with pytest.raises(ValueError, match="at most 255"):
        b.build()


# --- tcpdump -d against libpcap's bpf_image -----------------------------------------

INTERESTING_K = [0, 1, 5, 14, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF5, 0xFFFFFFFF,
                 (C.SKF_AD_OFF - 4) & 0xFFFFFFFF, C.SKF_NET_OFF & 0xFFFFFFFF,
                 C.SKF_LL_OFF & 0xFFFFFFFF] + \
                [(C.SKF_AD_OFF + n) & 0xFFFFFFFF for n in range(0, C.SKF_AD_MAX + 8, 4)]


@pytest.mark.parametrize("code", range(256), ids=lambda v: f"{v:#04x}")
def test_image_matches_libpcap_for_every_code(code):
    for k in INTERESTING_K:
        for pc in (0, 7, 1234):
            ours = image(SockFilter(code, 3, 250, k), pc)
            if code == C.BPF_LDX | C.BPF_W | C.BPF_LEN:
                # the documented departure: libpcap prints "unimp" for ldx #len
                assert ours == f"({pc:03d}) ldx      #pktlen"
                continue
            assert ours == pcap_image(code, 3, 250, k, pc), (code, k, pc)


@given(sock_filters, st.integers(0, 5000))
@settings(max_examples=500)
def test_image_matches_libpcap_on_random_instructions(insn, pc):
    if insn.code == C.BPF_LDX | C.BPF_W | C.BPF_LEN:
        return
    assert image(insn, pc) == pcap_image(*insn, pc)


EXPRESSIONS = [
    "ip and tcp port 80",
    "vlan and ip",
    "ip[2:2] > 576 and tcp[13]&2!=0 or ip[0]*3 + 4 - 2 / 2 % 5 == 1",
    "ether[0] << 2 >> 1 ^ 5 | 3 != 0",
    "arp or rarp",
    "ip6 and udp portrange 1000-2000",
    "host 10.0.0.1 and not net 192.168.0.0/16",
    "less 100 or greater 1000",
    "icmp[icmptype] == icmp-echo",
    "ip proto 47",
    "ether host 01:02:03:04:05:06",
]


@pytest.mark.parametrize("fmt", ["d", "dd", "ddd"])
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_dump_formats_match_tcpdump(expression, fmt):
    reference = tcpdump_dump(expression, "ddd")
    lines = reference.split("\n")
    program = [SockFilter(*map(int, line.split())) for line in lines[1:int(lines[0]) + 1]]
    assert dump(program, fmt) == tcpdump_dump(expression, fmt)


def test_bpf_asm_output_forms():
    program = [c.ld_abs("h", 12), c.jeq(0x800, 0, 1), c.ret(-1), c.ret(0)]
    assert bpf_asm_output(program) == "4,40 0 0 12,21 0 1 2048,6 0 0 4294967295,6 0 0 0,\n"
    assert bpf_asm_output(program, c_style=True).splitlines() == [
        "{ 0x28,  0,  0, 0x0000000c },",
        "{ 0x15,  0,  1, 0x00000800 },",
        "{ 0x06,  0,  0, 0xffffffff },",
        "{ 0x06,  0,  0, 0000000000 },",  # C's %#010x prints no 0x for zero
    ]
