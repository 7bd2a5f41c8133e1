"""Program types in the VM: contexts and test runs as BPF_PROG_TEST_RUN gives them."""

from __future__ import annotations

import pytest

from pybpf.errors import VMError
from pybpf.vm import VM
from pybpf.vm.progtypes import TestRunError

ETH_IP = bytes(12) + b"\x08\x00"
IPV4 = bytes.fromhex("45000054000040004001" "0000" "0a000001" "0a000002")
PACKET = ETH_IP + IPV4 + bytes(20)


def load(text: str, prog_type: str):
    return VM(max_insns=100_000).load(text, prog_type=prog_type)


def test_xdp_reads_the_packet_through_data_and_data_end():
    prog = load("""
        r2 = *(u32 *)(r1 + 0)       ; data
        r3 = *(u32 *)(r1 + 4)       ; data_end
        r0 = r3
        r0 -= r2                    ; the packet length
        r4 = r2
        r4 += 14
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 12)       ; the first byte of the ethertype
        *(u8 *)(r2 + 0) = 0xaa      ; XDP may write the packet
        r0 += r5
    out:
        exit
    """, "xdp")
    result = prog.test_run(PACKET)
    assert result.retval == len(PACKET) + 8
    assert result.data_out == b"\xaa" + PACKET[1:]
    assert result.verdict == f"unknown XDP action {len(PACKET) + 8}"
    assert load("r0 = 2\nexit", "xdp").test_run(PACKET).verdict == "XDP_PASS"


def test_xdp_metadata_from_ctx_in():
    prog = load("""
        r2 = *(u32 *)(r1 + 8)       ; data_meta
        r3 = *(u32 *)(r1 + 0)       ; data
        r0 = r3
        r0 -= r2
        exit
    """, "xdp")
    ctx = (4).to_bytes(4, "little") + (len(PACKET) + 4).to_bytes(4, "little") + bytes(16)
    result = prog.test_run(b"meta" + PACKET, ctx)
    assert result.retval == 4
    assert result.data_out == b"meta" + PACKET
    assert result.ctx_out[:8] == ctx[:8]


def test_skb_fields_follow_eth_type_trans():
    text = """
        r0 = *(u32 *)(r1 + 0)       ; len
        r2 = *(u32 *)(r1 + 16)      ; protocol, network order
        r0 <<= 16
        r0 |= r2
        exit
    """
    tc = load(text, "sched_cls").test_run(PACKET)
    sock = load(text, "socket_filter").test_run(PACKET)
    assert tc.retval == (len(PACKET) << 16) | 0x0008
    assert sock.retval == ((len(PACKET) - 14) << 16) | 0x0008   # from the network header
    # Copied out from L2, with the link-layer header zeroed as the kernel returns it.
    assert sock.data_out == bytes(14) + PACKET[14:]


def test_skb_context_writes_and_ctx_out():
    prog = load("""
        r2 = 7
        *(u32 *)(r1 + 8) = r2       ; mark
        *(u32 *)(r1 + 48) = r2      ; cb[0]
        r0 = *(u32 *)(r1 + 96)      ; local_ip4
        exit
    """, "sched_cls")
    result = prog.test_run(PACKET)
    assert result.retval == int.from_bytes(bytes.fromhex("0a000001"), "little")
    assert result.ctx_out[8:12] == (7).to_bytes(4, "little")
    assert result.ctx_out[48:52] == (7).to_bytes(4, "little")
    with pytest.raises(VMError, match=r"read-only context field __sk_buff\.len"):
        load("r2 = 1\n*(u32 *)(r1 + 0) = r2\nexit", "sched_cls").test_run(PACKET)
    with pytest.raises(VMError, match="invalid bpf_context access off=2 size=4"):
        load("r0 = *(u32 *)(r1 + 2)\nexit", "sched_cls").test_run(PACKET)


def test_socket_filter_cannot_write_the_packet():
    with pytest.raises(VMError, match="read-only packet"):
        load("r2 = *(u32 *)(r1 + 76)\n*(u8 *)(r2 + 0) = 1\nexit", "socket_filter").test_run(
            PACKET)


def test_test_run_refuses_what_the_kernel_refuses():
    with pytest.raises(TestRunError, match="shorter than an Ethernet header"):
        load("r0 = 0\nexit", "xdp").test_run(b"short")
    ctx = bytearray(192)
    ctx[0] = 1  # len cannot be set
    with pytest.raises(TestRunError, match=r"__sk_buff\.len"):
        load("r0 = 0\nexit", "sched_cls").test_run(PACKET, bytes(ctx))


def test_legacy_packet_loads_use_the_skb():
    prog = load("ldabsh 12\nexit", "socket_filter")
    assert prog.test_run(PACKET).retval == IPV4[12] << 8 | IPV4[13]   # offsets from L3


def test_repeat_runs_on_the_same_packet():
    prog = load("""
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u8 *)(r2 + 40)
        r3 += 1
        *(u8 *)(r2 + 40) = r3
        r0 = r3
        exit
    """, "xdp")
    assert prog.test_run(PACKET, repeat=5).retval == 5
