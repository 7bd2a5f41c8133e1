"""pybpf.cbpf.backends: one socket filter over the same packet in the
classic interpreter, the translation in the VM and in the kernel's test
run; the skb the interpreter is given is the one the test run builds."""

from __future__ import annotations

import pytest
from frames import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import TRANSLATABLE_ANCILLARY, classic_programs

from pybpf.cbpf import assemble
from pybpf.cbpf import insn as c
from pybpf.cbpf.backends import (
    FilterRunner,
    frame_for_test_run,
    guess_protocol,
    run_everywhere,
    skb_for_test_run,
)
from pybpf.spec import net as N

# the samples from their network header, as a socket of the network layer sees them
PACKETS = [frame[N.ETH_HLEN:] for frame in SAMPLES.values()] + [b"", b"\x45", bytes(3)]
ANCILLARY = [n for n in TRANSLATABLE_ANCILLARY if n not in ("cpu", "random")]


def test_the_made_up_header_and_the_skb():
    packet = bytes.fromhex("45000014") + bytes(16)
    data = frame_for_test_run(packet)
    assert data[N.ETH_HLEN:] == packet and data[12:14] == b"\x08\x00"
    skb = skb_for_test_run(packet, mark=7)
    assert (skb.buffer, skb.data, skb.len, skb.protocol, skb.mark) == (data, 14, 20, 0x0800, 7)
    assert guess_protocol(bytes([0x60]) + bytes(39)) == N.ETH_P_IPV6
    assert guess_protocol(bytes([0x45]) + bytes(5)) == N.ETH_P_802_EX1  # too short for IPv4
    assert skb_for_test_run(b"", protocol=0x0100).protocol == N.ETH_P_802_2  # a length field


@pytest.mark.parametrize("name", ANCILLARY)
def test_ancillary_loads_agree_in_the_interpreter_and_the_vm(name):
    program = [c.ld_ancillary(name), c.alu("add", 1), c.ret(c.A)]
    with FilterRunner(program, "interp") as interp, FilterRunner(program, "vm") as vm:
        assert interp.run_many(PACKETS) == vm.run_many(PACKETS)


def test_link_and_network_offsets_agree():
    program = assemble("ldb [-1048576]\nldx #0\nadd x\nldb [-2097140]\nret a")
    for packet in PACKETS:
        values = run_everywhere(program, packet)
        assert values["interp"] == values["vm"], packet.hex()
    # SKF_LL_OFF + 12: the made-up header's EtherType, high byte
    assert run_everywhere(program, bytes([0x45]) + bytes(19)) == {"interp": 8, "vm": 8}


@given(program=classic_programs(ancillary=tuple(ANCILLARY)),
       packets=st.lists(st.sampled_from(PACKETS), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_programs_agree(program, packets):
    with FilterRunner(program, "interp") as interp, FilterRunner(program, "vm") as vm:
        assert interp.run_many(packets) == vm.run_many(packets)


@pytest.mark.kernel("test_run")
def test_the_kernel_agrees_on_every_sample():
    program = assemble("""
        ldb [0]
        and #0xf0
        jeq #0x40, v4, other
v4:     ldxb 4*([0]&0xf)
        ldh [x + 2]
        ret a
other:  ld #len
        ret a
""")
    with FilterRunner(program, "interp") as interp, FilterRunner(program, "kernel") as kernel:
        assert interp.run_many(PACKETS) == kernel.run_many(PACKETS, repeat=3)


def test_unknown_backend():
    with pytest.raises(ValueError, match="one of interp, vm, kernel"):
        FilterRunner([c.ret(0)], "jit")
