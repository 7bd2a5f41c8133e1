"""Compiled pcap filters on every backend: for a sample of expressions,
pybpf's classic interpreter, the eBPF translation in pybpf's VM, the same
translation in the kernel (``BPF_PROG_TEST_RUN``) and the kernel running
the classic program on a packet socket (``SO_ATTACH_FILTER``, real frames
on a private loopback) agree on every frame of the test capture.

A socket-filter test run hands the filter the data after an Ethernet
header, so the test runs use programs compiled for raw IP; the packet
socket sees whole Ethernet frames, so it runs the EN10MB programs."""

from __future__ import annotations

import filter_expressions as X
import filter_frames as F
import pytest
from kernel_rig import ARPHRD_LOOPBACK, TX_MARK, RigUnavailable, loopback_rig

from pybpf.cbpf.interp import Machine, Skb
from pybpf.cbpf.pcap_compile import compile_filter
from pybpf.cbpf.pcap_errors import FilterExpressionError
from pybpf.cbpf.translate import translate

# protochain loops backwards: the kernel refuses such programs
SAMPLE = [e for e in X.LINK_EXPRESSIONS if "protochain" not in e] + [
    "vlan 100 and udp", "mpls 100 and tcp", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn",
    "icmp6[icmp6type] = icmp6-echo", "ip[6:2] & 0x1fff != 0", "ether multicast",
    "portrange 5000-6000", "sctp port 6000", "arp host 10.0.0.1",
]
ETHERTYPES = {4: 0x0800, 6: 0x86DD}
OTHER_ETHERTYPE = 0x88B5  # IEEE 802 local experimental
FAKE_ETHERNET = bytes(6) + bytes.fromhex("02000000000a")


def make_test_run_inputs() -> list[tuple[bytes, Skb]]:
    """(test-run data, the skb the kernel builds from it) for each raw frame."""
    out = []
    for _, packet in F.link_frames("raw"):
        ethertype = ETHERTYPES.get(packet[0] >> 4, OTHER_ETHERTYPE)
        if len(packet) < (20 if ethertype == 0x0800 else 40):
            ethertype = OTHER_ETHERTYPE  # test runs refuse IP packets shorter than a header
        data = FAKE_ETHERNET + ethertype.to_bytes(2, "big") + packet
        out.append((data, Skb(data, data=14, mac=0, network=14, protocol=ethertype,
                              pkttype=0, ifindex=1)))
    return out


INPUTS = make_test_run_inputs()


def raw_programs() -> list[tuple[str, list]]:
    """The sample compiled for raw IP (link-layer expressions do not compile there)."""
    out = []
    for expression in SAMPLE:
        try:
            out.append((expression, compile_filter(expression, "raw")))
        except FilterExpressionError:
            continue
    assert len(out) > 20
    return out


def test_translation_in_the_vm_agrees_with_the_interpreter():
    from pybpf.vm import VM

    compared = 0
    for expression, program in raw_programs():
        machine = Machine(program)
        prog = VM().load(translate(program).instructions, prog_type="socket_filter")
        for data, skb in INPUTS:
            want = machine.run(skb).value
            assert prog.test_run(data).retval == want, f"{expression}: {data.hex()}"
            compared += 1
    assert compared > 20 * len(INPUTS)


@pytest.mark.kernel("test_run")
def test_translation_in_the_kernel_agrees_with_the_interpreter():
    from pybpf.kernel import KernelProgram

    for expression, program in raw_programs():
        machine = Machine(program)
        with KernelProgram.load(translate(program).instructions, "socket_filter") as kprog:
            for data, skb in INPUTS:
                want = machine.run(skb).value
                assert kprog.test_run(data).retval == want, f"{expression}: {data.hex()}"


@pytest.mark.kernel
def test_the_kernel_socket_filter_agrees_with_the_interpreter():
    try:
        rig = loopback_rig()
    except (RigUnavailable, PermissionError) as e:
        pytest.skip(f"no private network namespace with packet sockets here: {e}")
    frames = [f for _, f in F.build_frames() if len(f) >= 14]
    skbs = [Skb.received(f, broadcast=bytes(6), ifindex=rig.ifindex, hatype=ARPHRD_LOOPBACK,
                         mark=TX_MARK) for f in frames]
    pairs = [(f, s) for f, s in zip(frames, skbs, strict=True) if s is not None]
    assert len(pairs) > 50
    for expression in SAMPLE:
        try:
            program = compile_filter(expression)
        except FilterExpressionError:  # inbound/outbound: Linux cooked captures only
            continue
        machine = Machine(program)
        got = rig.run(program, [f for f, _ in pairs])
        for (frame, skb), received in zip(pairs, got, strict=True):
            keep = machine.run(skb).value
            want = None if keep == 0 else skb.buffer[:min(keep, skb.len)]
            assert received == want, f"{expression}: frame {frame.hex()}"
