"""KernelProgram against the running kernel: loading, BPF_PROG_TEST_RUN for
socket filters, XDP, tc and raw tracepoints, verifier errors and logs,
pinning and fd hygiene."""

from __future__ import annotations

import errno
import gc
import os
import struct

import pytest

from pybpf import assemble
from pybpf.errors import BPFError, KernelError, VerifierError
from pybpf.isa import encode
from pybpf.kernel import KernelMap, KernelProgram, possible_cpus, probe_test_run
from pybpf.kernel.info import program_code

pytestmark = pytest.mark.kernel



def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


PACKET = bytes(range(64))


def test_socket_filter_test_run():
    with KernelProgram.load(assemble("r0 = 42\nexit"), "socket_filter", name="sf") as p:
        r = p.test_run(PACKET, repeat=10)
        assert r.retval == 42
        # socket filters see the packet from L3 on; the kernel zeroes the L2 header it hid
        assert r.data_out == bytes(14) + PACKET[14:]
        assert p.type == "socket_filter" and p.name == "sf"


def test_bytecode_and_insns_load_alike():
    code = encode(assemble("r0 = 7\nexit"))
    with KernelProgram.load(code) as a, KernelProgram.load(assemble("r0 = 7\nexit")) as b:
        assert a.tag == b.tag and len(a.tag) == 16
        assert a.test_run(PACKET).retval == b.test_run(PACKET).retval == 7


XDP_MARK = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 2
    if r4 > r3 goto drop
    r5 = 0xab
    *(u8 *)(r2 + 0) = r5
    r5 = *(u8 *)(r2 + 1)
    *(u8 *)(r2 + 1) = r5
    r0 = 3
    exit
drop:
    r0 = 1
    exit
"""


def test_xdp_rewrites_the_packet():
    with KernelProgram.load(assemble(XDP_MARK), "xdp", name="xdp_mark") as p:
        r = p.test_run(PACKET)
        assert r.retval == 3  # XDP_TX
        assert r.data_out == b"\xab" + PACKET[1:]


def test_small_output_buffer_is_enospc():
    with KernelProgram.load(assemble(XDP_MARK), "xdp") as p:
        with pytest.raises(KernelError) as e:
            p.test_run(PACKET, data_size_out=10)
        assert e.value.errno == errno.ENOSPC


def test_sched_cls_reads_skb_and_ctx():
    # return skb->len + skb->mark (struct __sk_buff: len at 0, mark at 8)
    text = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 8)\nr0 += r2\nexit"
    with KernelProgram.load(assemble(text), "sched_cls", name="tc") as p:
        assert p.test_run(PACKET).retval == 64
        ctx = bytearray(192)
        ctx[8:12] = struct.pack("<I", 1000)
        r = p.test_run(PACKET, ctx=bytes(ctx))
        assert r.retval == 1064
        assert struct.unpack_from("<I", r.ctx_out, 8)[0] == 1000


def test_raw_tracepoint_test_run_with_ctx_and_cpu():
    with KernelProgram.load(assemble("r0 = *(u64 *)(r1 + 0)\nexit"), "raw_tracepoint") as p:
        assert p.test_run(ctx=struct.pack("<Q", 4242)).retval == 4242
    cpu = possible_cpus() - 1
    if cpu not in os.sched_getaffinity(0):
        pytest.skip(f"cpu {cpu} is not usable here")
    with KernelProgram.load(assemble("call 8\nexit"), "raw_tracepoint") as p:  # smp_processor_id
        assert p.test_run(ctx=bytes(8), cpu=cpu).retval == cpu


def test_verifier_error_summary_and_log():
    text = "r2 = 0\nr0 = *(u64 *)(r2 + 0)\nexit"
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(assemble(text), "socket_filter", name="bad")
    err = e.value
    assert err.pc == 1 and err.program == "bad"
    assert str(err) == ("program 'bad' (socket_filter) rejected by the verifier at insn 1 "
                        "(r0 = *(u64 *)(r2 +0)): R2 invalid mem access 'scalar'")
    assert "processed" in err.log and "1: (79) r0 = *(u64 *)(r2 +0)" in err.log
    assert err.errno == errno.EACCES and err.operation == "BPF_PROG_LOAD"


def test_verifier_error_for_helper_the_type_cannot_use():
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(assemble("call 44\nr0 = 0\nexit"), "socket_filter")  # xdp_adjust_head
    assert str(e.value) == ("socket_filter program rejected by the verifier at insn 0 "
                            "(call bpf_xdp_adjust_head#44): program of this type cannot use "
                            "helper bpf_xdp_adjust_head#44")
    assert e.value.pc == 0


def test_long_log_is_summarized_from_its_tail():
    # a log longer than the retry buffer: the kernel keeps its tail, which says why
    body = "r0 = 0\n" + "r0 += 1\n" * 30000 + "r0 = *(u64 *)(r0 + 0)\nexit"
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(assemble(body), "socket_filter")
    assert e.value.pc == 30001
    assert e.value.errno == errno.EACCES  # the refusal's errno, not the truncated log's ENOSPC
    assert "R0 invalid mem access 'scalar'" in str(e.value)
    assert not e.value.log.startswith("0: R1=ctx()")  # the head was dropped


def test_too_many_instructions_is_e2big():
    code = encode(assemble("r0 = 0")) * 1_000_001 + encode(assemble("exit"))
    with pytest.raises(KernelError) as e:
        KernelProgram.load(code, "socket_filter")
    assert e.value.errno == errno.E2BIG and "too large" in str(e.value)


def test_log_levels_keep_the_log():
    with KernelProgram.load(assemble("r0 = 0\nexit"), log_level=1) as p:
        assert "processed 2 insns" in p.log
    with KernelProgram.load(assemble("r0 = 0\nexit"), log_level=2 | 4) as p:
        assert "0: (b7) r0 = 0                        ; R0" in p.log
        assert "verification time" in p.log


def test_log_buffer_grows_until_the_log_fits():
    body = "r0 = 0\n" + "r0 += 1\n" * 1500 + "exit"
    with KernelProgram.load(assemble(body), log_level=2, log_size=256) as p:
        assert "1500: (07) r0 += 1" in p.log and "processed 1502 insns" in p.log
        assert p.test_run(PACKET).retval == 1500


def test_unsupported_program_type_is_named():
    with pytest.raises(KernelError, match="does not support program type 'unknown\\(300\\)'"):
        KernelProgram.load(assemble("r0 = 0\nexit"), 300)
    with pytest.raises(BPFError, match="unknown program type 'kprobes'"):
        KernelProgram.load(assemble("r0 = 0\nexit"), "kprobes")


def test_info_reports_maps_and_sizes():
    with KernelMap.create("array", 4, 8, 1, name="counter") as m:
        text = ("r1 = 0 ll\n*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\ncall 1\n"
                "r0 = 0\nexit")
        insns = assemble(text)
        insns[0] = insns[0]._replace(src=1, imm=m.fd)  # BPF_PSEUDO_MAP_FD
        with KernelProgram.load(insns, "socket_filter", name="uses_map") as p:
            info = p.info()
            assert info.name == "uses_map" and info.type == "socket_filter"
            assert info.map_ids == (m.info().id,)
            assert info.tag == p.tag and info.id == p.id
            assert len(program_code(p.fd)) == info.xlated_size > 0
            assert len(program_code(p.fd, jited=True)) == info.jited_size > 0
            assert info.verified_insns > 0 and info.gpl_compatible


def test_pin_and_reopen(tmp_path):
    from pybpf.kernel.pins import unpin

    path = f"/sys/fs/bpf/pybpf-test-{os.getpid()}/prog"
    with KernelProgram.load(assemble("r0 = 9\nexit"), name="pinned") as p:
        p.pin(path)
        try:
            with KernelProgram.from_pin(path) as again:
                assert again.id == p.id and again.name == "pinned"
                assert again.test_run(PACKET).retval == 9
        finally:
            unpin(path)
            os.rmdir(os.path.dirname(path))
    assert not os.path.exists(path)


def test_probe_test_run():
    retval, ns = probe_test_run(encode(assemble("r0 = -1\nexit")), 100)
    assert retval == 0xFFFFFFFF and isinstance(ns, float)


def test_no_fd_leaks():
    before = open_fds()
    for _ in range(20):
        with KernelProgram.load(assemble("r0 = 1\nexit"), "xdp") as p:
            p.test_run(PACKET)
            p.info()
    for _ in range(3):
        with pytest.raises(VerifierError):
            KernelProgram.load(assemble("r0 = r5\nexit"))
    KernelProgram.load(assemble("r0 = 1\nexit"))  # dropped: closed when collected
    gc.collect()
    assert open_fds() == before


def test_map_index_loads_with_fd_array():
    text = "r1 = map[idx:1][0]+0 ll\nr0 = *(u32 *)(r1 + 0)\nexit"
    with KernelMap.create("array", 4, 4, 1) as unused, \
            KernelMap.create("array", 4, 4, 1, value_codec="int") as m:
        m[0] = 321
        with KernelProgram.load(assemble(text), fd_array=[unused.fd, m.fd]) as p:
            assert p.test_run(PACKET).retval == 321
            assert p.info().map_ids == (m.info().id,)


def test_source_info_needs_btf():
    with pytest.raises(BPFError, match="need the program's BTF"):
        KernelProgram.load(assemble("r0 = 0\nexit"), func_info=b"\0" * 8)
