"""Four runs of every classic program must agree, on every frame:

1. pybpf's classic interpreter;
2. its eBPF translation in pybpf's VM (a socket-filter test run);
3. the same translation in the kernel (``BPF_PROG_TEST_RUN``), which
   also proves the verifier accepts it;
4. the kernel running the classic program itself: a packet socket with
   the filter (``SO_ATTACH_FILTER``) on the loopback device of a private
   network namespace, receiving real frames — accepted or dropped, and
   how many bytes it keeps.

Programs are random (``programs.classic_programs``), frames are samples
of every protocol the tests know, cut short or with bytes changed.
"""

from __future__ import annotations

import pytest
from frames import SAMPLES, frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_rig import ARPHRD_LOOPBACK, TX_MARK, RigUnavailable, loopback_rig
from programs import TRANSLATABLE_ANCILLARY, classic_programs

from pybpf.cbpf import SockFilter, disassemble, dump
from pybpf.cbpf.interp import Machine, Skb
from pybpf.cbpf.translate import translate
from pybpf.spec import cbpf as C
from pybpf.spec import struct_layout

SKB_MARK = 0x1234ABCD
ETH_HEADER = bytes(6) + bytes.fromhex("02000000000a")  # to the loopback's zero address
KERNEL_ANCILLARY = tuple(n for n in C.ANCILLARY if n not in ("cpu", "random"))


def _ctx(mark: int) -> bytes:
    layout = struct_layout("__sk_buff")
    raw = bytearray(layout.size)
    f = layout.field("mark")
    raw[f.offset:f.offset + f.size] = mark.to_bytes(f.size, "little")
    return bytes(raw)


CTX = _ctx(SKB_MARK)


@st.composite
def run_inputs(draw) -> tuple[bytes, int]:
    """(test-run data, the EtherType of its made-up Ethernet header): the
    filter of a socket-filter test run sees the data after that header."""
    frame = draw(frames(min_size=0))
    candidates = [0x88B5, 0x0026]
    if len(frame) >= 20:
        candidates.append(0x0800)
    if len(frame) >= 40:
        candidates.append(0x86DD)
    ethertype = draw(st.sampled_from(candidates))
    return ETH_HEADER + ethertype.to_bytes(2, "big") + frame, ethertype


def skb_of_test_run(data: bytes, ethertype: int) -> Skb:
    """The skb a socket-filter test run builds: data after the Ethernet
    header (which SKF_LL_OFF still reaches), the loopback device, the
    ctx_in mark."""
    protocol = ethertype if ethertype >= 0x600 else \
        1 if data[14:16] == b"\xff\xff" else 4      # eth_type_trans: ETH_P_802_3, ETH_P_802_2
    return Skb(data, data=14, mac=0, network=14, protocol=protocol, pkttype=0, ifindex=1,
               mark=SKB_MARK)


def _describe(program) -> str:
    return "\n" + dump(program) + disassemble(program)


@given(program=classic_programs(), inputs=st.lists(run_inputs(), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_translation_in_the_vm_matches_the_interpreter(program, inputs):
    from pybpf.vm import VM

    machine = Machine(program)
    vm_prog = VM().load(translate(program).instructions, prog_type="socket_filter")
    for data, ethertype in inputs:
        want = machine.run(skb_of_test_run(data, ethertype)).value
        got = vm_prog.test_run(data, CTX).retval
        assert got == want, f"{data.hex()}{_describe(program)}"


@pytest.mark.kernel("test_run")
@given(program=classic_programs(), inputs=st.lists(run_inputs(), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_translation_in_the_kernel_matches_the_interpreter(program, inputs):
    from pybpf.kernel import KernelProgram

    machine = Machine(program)
    with KernelProgram.load(translate(program).instructions, "socket_filter") as kprog:
        for data, ethertype in inputs:
            want = machine.run(skb_of_test_run(data, ethertype)).value
            got = kprog.test_run(data, CTX).retval
            assert got == want, f"{data.hex()}{_describe(program)}"


def _rig():
    try:
        return loopback_rig()
    except (RigUnavailable, PermissionError) as e:
        pytest.skip(f"no private network namespace with packet sockets here: {e}")


def _received(frame: bytes, ifindex: int) -> Skb | None:
    # the loopback device's own and broadcast addresses are both zeros
    return Skb.received(frame, broadcast=bytes(6), ifindex=ifindex, hatype=ARPHRD_LOOPBACK,
                        mark=TX_MARK)


def _compare_with_socket(program, frame_list) -> None:
    rig = _rig()
    machine = Machine(program)
    skbs = [_received(f, rig.ifindex) for f in frame_list]
    frame_list = [f for f, s in zip(frame_list, skbs, strict=True) if s is not None]
    skbs = [s for s in skbs if s is not None]
    got = rig.run(program, frame_list)
    for frame, skb, received in zip(frame_list, skbs, got, strict=True):
        keep = machine.run(skb).value
        want = None if keep == 0 else skb.buffer[:min(keep, skb.len)]
        assert received == want, f"frame {frame.hex()}: kernel kept " \
            f"{None if received is None else len(received)} bytes, interpreter " \
            f"{None if want is None else len(want)}{_describe(program)}"


@pytest.mark.kernel
@given(program=classic_programs(ancillary=KERNEL_ANCILLARY),
       frame_list=st.lists(frames(), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_kernel_running_the_classic_filter_matches_the_interpreter(program, frame_list):
    _compare_with_socket(program, frame_list)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(set(C.ANCILLARY) - {"cpu", "random"}))
def test_each_ancillary_load_on_every_sample(name):
    # A ancillary value goes out as the return value (+1 so that 0 is kept).
    from pybpf.cbpf import insn as c

    program = [c.ld_imm(4), c.ldx_imm(2), c.ld_ancillary(name), c.alu("add", 1), c.ret(c.A)]
    _compare_with_socket(program, list(SAMPLES.values()))


@pytest.mark.kernel("test_run")
@pytest.mark.parametrize("name", TRANSLATABLE_ANCILLARY)
def test_each_translated_ancillary_load_in_both_backends(name):
    from pybpf.cbpf import insn as c
    from pybpf.kernel import KernelProgram
    from pybpf.vm import VM

    program = [c.ldx_imm(0x5A5A), c.ld_ancillary(name), c.alu("add", 1), c.ret(c.A)]
    insns = translate(program).instructions
    vm_prog = VM().load(insns, prog_type="socket_filter")
    with KernelProgram.load(insns, "socket_filter") as kprog:
        for frame in SAMPLES.values():
            data = ETH_HEADER + frame[12:14] + frame[14:]
            ethertype = int.from_bytes(frame[12:14], "big")
            if (ethertype == 0x0800 and len(frame) < 34) or \
                    (ethertype == 0x86DD and len(frame) < 54):
                continue
            want = Machine(program).run(skb_of_test_run(data, ethertype)).value
            assert vm_prog.test_run(data, CTX).retval == want
            assert kprog.test_run(data, CTX).retval == want


@pytest.mark.kernel("test_run")
def test_a_length_field_before_ffff_is_raw_802_3_as_eth_type_trans_says():
    # hypothesis found it: a payload starting ff ff after a length field
    # makes skb->protocol ETH_P_802_3 (1), not ETH_P_802_2 (4)
    from pybpf.kernel import KernelProgram

    program = [SockFilter(0x20, 0, 0, 0xFFFFF000), SockFilter(0x16, 0, 0, 0)]   # ret [proto]
    data = bytes(6) + bytes.fromhex("02000000000a") + b"\x00\x26" + b"\xff" * 8 + bytes(16)
    machine = Machine(program)
    with KernelProgram.load(translate(program).instructions, "socket_filter") as kprog:
        got = kprog.test_run(data, CTX).retval
    assert got == machine.run(skb_of_test_run(data, 0x26)).value == 1
