"""The classic interpreter's semantics, one rule at a time."""

from __future__ import annotations

import struct
import sys

import pytest
from frames import SAMPLES, nlattrs

from pybpf.cbpf import assemble
from pybpf.cbpf import insn as c
from pybpf.cbpf.interp import Machine, Skb, run
from pybpf.cbpf.packets import payload_offset
from pybpf.errors import VMError
from pybpf.spec import cbpf as C

FRAME = SAMPLES["ipv4-tcp-syn"][:54]  # Ethernet, IPv4, TCP headers


def result(text: str, packet: Skb | bytes = FRAME):
    return Machine(assemble(text)).run(packet)


def test_the_frame():
    assert len(FRAME) == 54


def test_accept_and_drop():
    assert result("ret #-1").value == 0xFFFFFFFF
    assert result("ret #0").value == 0
    assert result("ldh [12]\nret a").value == 0x0800


def test_loads_are_big_endian_and_sized():
    assert result("ld [12]\nret a").value == int.from_bytes(FRAME[12:16], "big")
    assert result("ldb [14]\nret a").value == 0x45
    assert result("ldx #2\nldh [x + 10]\nret a").value == 0x0800


@pytest.mark.parametrize("text", ["ld [len]", "ldb [54]", "ld [51]", "ldh [x + 53]",
                                  "ldx 4*([54]&0xf)", "ldx #-1\nld [x + 0]", "ld [0x7fffffff]"])
def test_out_of_bounds_returns_zero(text):
    text = text.replace("[len]", f"[{len(FRAME) - 3}]")
    r = result(f"{text}\nret #99")
    assert (r.value, r.reason) == (0, "bounds")


def test_indirect_offset_wraps_at_32_bits():
    # X + k = 2**32 + 12 -> 12
    assert result("ldx #0xfffffffe\nldh [x + 14]\nret a").value == 0x0800
    # X + k negative but in the network area
    assert result(f"ldx #{C.SKF_NET_OFF & 0xFFFFFFFF:#x}\nldb [x + 0]\nret a").value == 0x45


def test_negative_areas_reach_headers_before_the_data():
    # data starts at the network header; the link-layer header lies before it
    skb = Skb(FRAME, data=14, mac=0, network=14)
    assert Machine(assemble("ldb [0]\nret a")).run(skb).value == 0x45
    ll = C.SKF_LL_OFF
    assert Machine(assemble(f"ldh [{ll + 12}]\nret a")).run(skb).value == 0x0800
    assert Machine(assemble(f"ldb [{C.SKF_NET_OFF}]\nret a")).run(skb).value == 0x45
    assert Machine(assemble(f"ldb [{ll - 1}]\nret #5")).run(skb).reason == "bounds"
    no_mac = Skb(FRAME, data=14, mac=None, network=14)
    assert Machine(assemble(f"ldb [{ll}]\nret #5")).run(no_mac).value == 0


def test_len():
    assert result("ld #len\nret a").value == len(FRAME)
    assert result("ldx #len\ntxa\nret a").value == len(FRAME)
    assert Machine(assemble("ld #len\nret a")).run(Skb(FRAME, data=14)).value == len(FRAME) - 14


def test_msh():
    assert result("ldx 4*([14]&0xf)\ntxa\nret a").value == 20
    assert result("ld #7\nldx 4*([14]&0xf)\nret a").value == 7  # A kept


def test_arithmetic_wraps_at_32_bits():
    assert result("ld #0xffffffff\nadd #2\nret a").value == 1
    assert result("ld #0\nsub #1\nret a").value == 0xFFFFFFFF
    assert result("ld #0x10000\nmul #0x10000\nret a").value == 0
    assert result("ld #7\nneg\nret a").value == (-7) & 0xFFFFFFFF
    assert result("ld #0x80000000\nrsh #31\nret a").value == 1
    assert result("ld #1\nldx #33\nlsh x\nret a").value == 2  # shift by X uses 5 bits
    assert result("ld #17\nmod #5\nret a").value == 2
    assert result("ld #0xfffffff0\ndiv #16\nret a").value == 0x0FFFFFFF


def test_division_by_x_zero_returns_zero():
    for op in ("div", "mod"):
        r = result(f"ld #5\nldx #0\n{op} x\nret #9")
        assert (r.value, r.reason) == (0, "div0")


def test_comparisons_are_unsigned():
    assert result("ld #0xffffffff\njgt #1, yes, no\nyes: ret #1\nno: ret #2").value == 1
    assert result("ld #1\njge #0xffffffff, yes, no\nyes: ret #1\nno: ret #2").value == 2
    assert result("ld #6\njset #2, yes, no\nyes: ret #1\nno: ret #2").value == 1
    assert result("ld #6\nldx #6\njeq x, yes, no\nyes: ret #1\nno: ret #2").value == 1


def test_scratch_memory():
    assert result("ld #5\nst M[3]\nldx #9\nstx M[15]\nld M[15]\nldx M[3]\nadd x\nret a").value \
        == 14


ANCILLARY_VALUES = dict(protocol=0x86DD, pkttype=3, ifindex=7, hatype=772, mark=0xDEADBEEF,
                        queue=2, hash=0x12345678, cpu=1, vlan_tci=0xE064, vlan_present=True,
                        vlan_proto=0x88A8)


@pytest.mark.parametrize("name, want", [
    ("protocol", 0x86DD), ("pkttype", 3), ("ifindex", 7), ("hatype", 772),
    ("mark", 0xDEADBEEF), ("queue", 2), ("rxhash", 0x12345678), ("cpu", 1),
    ("vlan_tag", 0xE064), ("vlan_tag_present", 1), ("vlan_tpid", 0x88A8),
])
def test_ancillary_loads(name, want):
    skb = Skb(FRAME, **ANCILLARY_VALUES)
    for size in "wbh":  # the load size does not matter
        assert run([c.ld_ancillary(name, size), c.ret(c.A)], skb) == want


def test_random_and_xor_x():
    skb = Skb(FRAME, random=lambda: 0xC0FFEE)
    assert run([c.ld_ancillary("random"), c.ret(c.A)], skb) == 0xC0FFEE
    assert run([c.ld_imm(0b1100), c.ldx_imm(0b1010), c.ld_ancillary("alu_xor_x"), c.ret(c.A)],
               skb) == 0b0110


def test_no_device_returns_a():
    skb = Skb(FRAME, has_device=False)
    r = Machine([c.ld_imm(42), c.ld_ancillary("ifindex"), c.ret(0)]).run(skb)
    assert (r.value, r.reason) == (42, "no_device")


def test_nlattr():
    attrs = nlattrs((1, b"abcd"), (2, nlattrs((7, b"zz"), (9, b""))), (3, b""))
    skb = Skb(attrs)
    find = [c.ld_imm(0), c.ldx_imm(3), c.ld_ancillary("nlattr"), c.ret(c.A)]
    assert run(find, skb) == 8 + 16
    find[1] = c.ldx_imm(5)
    assert run(find, skb) == 0
    nest = [c.ld_imm(8), c.ldx_imm(9), c.ld_ancillary("nlattr_nest"), c.ret(c.A)]
    assert run(nest, skb) == 8 + 4 + 8
    assert run([c.ld_imm(len(attrs)), c.ld_ancillary("nlattr"), c.ret(c.A)], skb) == 0
    # the attribute type compares without the nested and byte-order flags
    flagged = Skb(struct.pack("=HH", 8, 0x8000 | 5) + b"abcd")
    assert run([c.ld_imm(0), c.ldx_imm(5), c.ld_ancillary("nlattr"), c.ret(c.A)], flagged) == 0
    assert sys.byteorder  # attributes are in native byte order


@pytest.mark.parametrize("name, offset", [
    ("ipv4-tcp-syn", 14 + 20 + 20), ("ipv4-tcp-options", 14 + 20 + 28),
    ("ipv4-udp-dns", 14 + 20 + 8), ("ipv4-icmp-echo", 14 + 20 + 8),
    ("ipv4-options", 14 + 24 + 8), ("ipv4-first-fragment", 14 + 20 + 8),
    ("ipv4-later-fragment", 14 + 20), ("ipv4-sctp", 14 + 20 + 12),
    ("ipv4-in-ipv4", 14 + 20 + 20 + 20), ("ipv6-udp", 14 + 40 + 8),
    ("ipv6-hopopts-udp", 14 + 40 + 8 + 8), ("ipv6-routing-dstopts-tcp", 14 + 40 + 16 + 20),
    ("ipv6-fragment", 14 + 40 + 8 + 8), ("arp-request", 14), ("short-ip", 0), ("llc", 0),
])
def test_payload_offset(name, offset):
    frame = SAMPLES[name]
    assert payload_offset(frame, 0, 14, int.from_bytes(frame[12:14], "big")) == offset


def test_seccomp_data_is_native_endian():
    data = struct.pack("=iIQ6Q", 257, 0xC000003E, 0x401000, 1, 2, 3, 4, 5, 0xFFFFFFFF00000006)
    prog = assemble("ld [0]\nret a")
    assert Machine(prog, seccomp=True).run(data).value == 257
    assert Machine(assemble("ld [56]\nret a"), seccomp=True).run(data).value == 6
    assert Machine(assemble("ld [60]\nret a"), seccomp=True).run(data).value == 0xFFFFFFFF
    assert Machine(assemble("ld #len\nret a"), seccomp=True).run(data).value == 64
    with pytest.raises(VMError, match="64 bytes"):
        Machine(prog, seccomp=True).run(data[:8])


def test_received_frames_lose_their_vlan_tag():
    tagged = SAMPLES["vlan-ipv4-udp"]
    skb = Skb.received(tagged)
    assert skb.vlan_present and skb.vlan_tci == 100 and skb.vlan_proto == 0x8100
    assert skb.protocol == 0x0800 and skb.buffer == tagged[:12] + tagged[16:]
    assert Skb.received(tagged[:19]) is None
    assert Skb.received(tagged, untag=False).protocol == 0x8100
    assert Skb.received(SAMPLES["arp-request"]).pkttype == 1  # broadcast
