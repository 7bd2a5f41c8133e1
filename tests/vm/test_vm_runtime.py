"""The userspace runtime: maps and helpers used by programs, specs loaded into the VM."""

from __future__ import annotations

import pytest

import pybpf.vm
from conftest import EXAMPLES
from pybpf.errors import HelperError
from pybpf.helpers import Environment
from pybpf.objects import MapReference, MapSpec, ObjectSpec, ProgramSpec
from pybpf.vm import VM

PACKET = bytes(12) + b"\x08\x00" + bytes.fromhex(
    "450000280001000040110000c0a80001c0a80002") + bytes.fromhex("0035003500140000") + bytes(12)


def ip_checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def counter_spec() -> ObjectSpec:
    prog = ProgramSpec.from_assembly("count", """
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = map[idx:0] ll
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
    out:
        r0 = 2
        exit
    """, type="xdp")
    return ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1)])


def test_load_a_spec_and_count_packets():
    with pybpf.vm.load(counter_spec()) as coll:
        prog = coll.programs["count"]
        for _ in range(3):
            assert prog.test_run(PACKET).verdict == "XDP_PASS"
        assert coll.maps["counts"][0] == (3).to_bytes(8, "little")


def test_map_references_by_name_and_global_data():
    prog = ProgramSpec("knob", [*pybpf.assemble("""
        lddw %r1, 0
        ldxw %r0, [%r1+4]
        exit
    """)], type="socket_filter",
        map_references=[MapReference(0, ".rodata", value=True, offset=0)])
    spec = ObjectSpec.build([prog], [MapSpec(".rodata", "array", 4, 8, 1,
                                             contents=[(0, bytes(4) + (99).to_bytes(4, "little"))],
                                             freeze=True)])
    with pybpf.vm.load(spec) as coll:
        assert coll.programs["knob"].test_run(PACKET).retval == 99


def test_hash_map_helpers_and_errnos():
    vm = VM(max_insns=10_000)
    counts = vm.create_map(MapSpec("counts", "hash", 4, 8, 2))
    fd = vm.fd_of(counts)
    prog = vm.load(f"""
        r1 = map[fd:{fd}] ll
        r2 = r10
        r2 += -8
        r3 = r10
        r3 += -16
        r4 = 7
        *(u32 *)(r10 - 8) = r4
        *(u64 *)(r10 - 16) = r4
        r4 = 1                         ; BPF_NOEXIST
        call bpf_map_update_elem#2
        r6 = r0
        r1 = map[fd:{fd}] ll
        r2 = r10
        r2 += -8
        r3 = r10
        r3 += -16
        r4 = 1
        call bpf_map_update_elem#2     ; the key exists now: -EEXIST
        r0 <<= 32
        r0 |= r6
        exit
    """)
    r0 = prog.run().r0
    assert r0 & 0xFFFFFFFF == 0
    assert (r0 >> 32) - (1 << 32) == -17  # -EEXIST
    assert counts[7] == (7).to_bytes(8, "little")


def test_values_are_shared_between_programs_and_userspace():
    vm = VM()
    arr = vm.create_map(MapSpec("arr", "array", 4, 8, 4))
    arr[2] = 40
    prog = vm.load(f"""
        r1 = map[fd:{vm.fd_of(arr)}] ll
        r2 = r10
        r2 += -4
        r3 = 2
        *(u32 *)(r10 - 4) = r3
        call bpf_map_lookup_elem#1
        r1 = *(u64 *)(r0 + 0)
        r1 += 2
        *(u64 *)(r0 + 0) = r1
        r0 = r1
        exit
    """)
    assert prog.run().r0 == 42
    assert arr[2] == (42).to_bytes(8, "little")


def test_ring_buffer_records_reach_python():
    vm = VM()
    ring = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
    fd = vm.fd_of(ring)
    prog = vm.load(f"""
        r1 = map[fd:{fd}] ll
        r2 = 16
        r3 = 0
        call bpf_ringbuf_reserve#131
        if r0 == 0 goto out
        r1 = 0x1234
        *(u64 *)(r0 + 0) = r1
        *(u64 *)(r0 + 8) = r1
        r1 = r0
        r2 = 0
        call bpf_ringbuf_submit#132
    out:
        r0 = 0
        exit
    """)
    prog.run()
    prog.run()
    records = [bytes(r) for r in ring]
    assert records == [(0x1234).to_bytes(8, "little") * 2] * 2


def test_tail_calls_chain_and_stop_at_the_kernel_limit():
    vm = VM(max_insns=1_000_000)
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 2))
    fd = vm.fd_of(jumps)
    # Program 0 counts its entries in r6... kept in a map value instead, since
    # a tail call starts the target with only r1.
    counter = vm.create_map(MapSpec("n", "array", 4, 8, 1))
    cfd = vm.fd_of(counter)
    again = vm.load(f"""
        r6 = r1
        r1 = map[fd:{cfd}] ll
        r2 = r10
        r2 += -4
        r3 = 0
        *(u32 *)(r10 - 4) = r3
        call bpf_map_lookup_elem#1
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r1 = r6
        r2 = map[fd:{fd}] ll
        r3 = 0
        call bpf_tail_call#12
        r0 = 41                      ; only reached when the chain stops
        exit
    """, prog_type="xdp")
    jumps[0] = again
    assert again.test_run(PACKET).retval == 41
    assert counter[0] == (1 + 33).to_bytes(8, "little")   # the first run plus 33 tail calls
    target = vm.load("r0 = 7\nexit", prog_type="xdp")
    jumps[1] = target
    jump = vm.load(f"""
        r2 = map[fd:{fd}] ll
        r3 = 1
        call bpf_tail_call#12
        r0 = 99
        exit
    """, prog_type="xdp")
    assert jump.test_run(PACKET).retval == 7
    del jumps[1]
    assert jump.test_run(PACKET).retval == 99   # an empty slot falls through


def test_loop_and_for_each_call_back_into_the_program():
    vm = VM()
    arr = vm.create_map(MapSpec("arr", "array", 4, 8, 3))
    for i in range(3):
        arr[i] = i + 1
    prog = vm.load(f"""
        r1 = 5
        r2 = func[sum] ll
        r3 = r10
        r3 += -8
        r4 = 0
        *(u64 *)(r10 - 8) = r4
        call bpf_loop#181
        r6 = *(u64 *)(r10 - 8)       ; 0+1+2+3+4
        r1 = map[fd:{vm.fd_of(arr)}] ll
        r2 = func[add_value] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_for_each_map_elem#164
        r0 = *(u64 *)(r10 - 8)       ; 10 + 1+2+3
        r0 <<= 8
        r0 |= r6
        exit
    sum:
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        exit
    add_value:
        r5 = *(u64 *)(r3 + 0)
        r6 = *(u64 *)(r4 + 0)
        r6 += r5
        *(u64 *)(r4 + 0) = r6
        r0 = 0
        exit
    """)
    assert prog.run().r0 == (16 << 8) | 10


def test_trace_printk_and_comm_use_the_environment():
    vm = VM(env=Environment.fixed(comm=b"tester", pid=42, tgid=40))
    prog = vm.load("""
        r1 = 0x0a6425                ; "%d\\n"
        *(u32 *)(r10 - 8) = r1
        r1 = r10
        r1 += -8
        r2 = 4
        call bpf_get_current_pid_tgid#14
        r3 = r0
        r3 &= 0xffffffff
        call bpf_trace_printk#6
        r1 = r10
        r1 += -16
        r2 = 16
        call bpf_get_current_comm#16
        r0 = *(u32 *)(r10 - 16)
        exit
    """)
    assert prog.run().r0 == int.from_bytes(b"test", "little")
    assert vm.trace_pipe == [b"42\n"]


def test_skb_helpers_and_checksums():
    vm = VM()
    # Rewrite the IPv4 destination and fix the header checksum incrementally.
    prog = vm.load("""
        r6 = r1
        r2 = 30                       ; daddr offset from the Ethernet header
        r3 = r10
        r3 += -4
        r4 = 4
        call bpf_skb_load_bytes#26
        r7 = *(u32 *)(r10 - 4)        ; old daddr, as stored
        r1 = 0x0300a8c0               ; 192.168.0.3 as the program stores it
        *(u32 *)(r10 - 8) = r1
        r1 = r6
        r2 = 30
        r3 = r10
        r3 += -8
        r4 = 4
        r5 = 0
        call bpf_skb_store_bytes#9
        r1 = r6
        r2 = 24                       ; the header checksum
        r3 = r7
        r4 = 0x0300a8c0
        r5 = 4
        call bpf_l3_csum_replace#10
        r0 = 0
        exit
    """, prog_type="sched_cls")
    header = bytearray(PACKET[14:34])
    header[10:12] = ip_checksum(bytes(header)).to_bytes(2, "big")
    packet = PACKET[:14] + bytes(header) + PACKET[34:]
    out = prog.test_run(packet).data_out
    new_header = out[14:34]
    assert new_header[16:20] == bytes([192, 168, 0, 3])
    assert ip_checksum(new_header) == 0  # a valid header sums to zero


def test_csum_diff_matches_a_full_recompute():
    vm = VM()
    old, new = bytes.fromhex("c0a80002"), bytes.fromhex("0a000001")
    prog = vm.load(f"""
        r1 = 0x{int.from_bytes(old, 'little'):x}
        *(u32 *)(r10 - 4) = r1
        r1 = 0x{int.from_bytes(new, 'little'):x}
        *(u32 *)(r10 - 8) = r1
        r1 = r10
        r1 += -4
        r2 = 4
        r3 = r10
        r3 += -8
        r4 = 4
        r5 = 0
        call bpf_csum_diff#28
        exit
    """)
    diff = prog.run().r0
    folded = diff
    while folded >> 16:
        folded = (folded & 0xFFFF) + (folded >> 16)
    # Adding the difference to the old sum gives the new sum.
    old_sum = int.from_bytes(old[:2], "little") + int.from_bytes(old[2:], "little")
    new_sum = int.from_bytes(new[:2], "little") + int.from_bytes(new[2:], "little")

    def fold(v):
        while v >> 16:
            v = (v & 0xFFFF) + (v >> 16)
        return v

    assert fold(old_sum + folded) == fold(new_sum) or fold(old_sum + folded) == 0xFFFF


def test_xdp_adjust_head_and_tail():
    prog = VM().load("""
        r6 = r1
        r2 = -4
        call bpf_xdp_adjust_head#44
        r1 = r6
        r2 = -10
        call bpf_xdp_adjust_tail#65
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r0 = r3
        r0 -= r2
        exit
    """, prog_type="xdp")
    result = prog.test_run(PACKET)
    assert result.retval == len(PACKET) + 4 - 10
    assert result.data_out == bytes(4) + PACKET[:-10]


def test_redirect_is_recorded():
    prog = VM().load("r1 = 3\nr2 = 0\ncall bpf_redirect#23\nexit", prog_type="sched_cls")
    result = prog.test_run(PACKET)
    assert result.verdict == "TC_ACT_REDIRECT"
    assert result.redirect.ifindex == 3 and result.redirect.map is None


def test_helper_misuse_names_the_helper():
    with pytest.raises(HelperError, match="bpf_map_lookup_elem: 0x7 is not a map pointer"):
        VM().run("r1 = 7\nr2 = r10\ncall bpf_map_lookup_elem#1\nexit")


def test_ring_buffer_stress_produced_equals_consumed_plus_dropped():
    # A program produces records of varying sizes with reserve/submit, discard
    # and output; Python consumes at irregular times.  Every record the program
    # was told succeeded is consumed exactly once, every refused one is counted
    # as dropped, and the ring wraps around many times.
    import random

    vm = VM(max_insns=1_000_000)
    ring = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
    stats = vm.create_map(MapSpec("stats", "array", 4, 8, 3))  # ok, dropped, discarded
    rfd, sfd = vm.fd_of(ring), vm.fd_of(stats)
    prog = vm.load(f"""
        r6 = r1                      ; record size (8..512), from the caller
        r7 = r2                      ; sequence number
        r8 = r3                      ; 0: reserve+submit, 1: output, 2: reserve+discard
        if r8 == 1 goto output
        r1 = map[fd:{rfd}] ll
        r2 = r6
        r3 = 0
        call bpf_ringbuf_reserve#131
        if r0 == 0 goto dropped
        *(u64 *)(r0 + 0) = r7
        r1 = r0
        r2 = 0
        if r8 == 2 goto discard
        call bpf_ringbuf_submit#132
        r9 = 0
        goto count
    discard:
        call bpf_ringbuf_discard#133
        r9 = 2
        goto count
    output:
        *(u64 *)(r10 - 512) = r7
        r1 = map[fd:{rfd}] ll
        r2 = r10
        r2 += -512
        r3 = r6
        r4 = 0
        call bpf_ringbuf_output#130
        r9 = 0
        if r0 == 0 goto count
    dropped:
        r9 = 1
    count:
        *(u32 *)(r10 - 4) = r9
        r1 = map[fd:{sfd}] ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem#1
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r0 = r9
        exit
    """)
    rng = random.Random(7)
    produced, consumed = [], []
    for seq in range(3000):
        size = rng.choice([8, 16, 24, 100, 256, 512])
        mode = rng.choice([0, 0, 1, 2])
        if prog.run(args=[size, seq, mode]).r0 == 0:
            produced.append(seq)
        if rng.random() < 0.1:
            consumed += [int.from_bytes(bytes(r)[:8], "little") for r in ring]
    consumed += [int.from_bytes(bytes(r)[:8], "little") for r in ring]
    ok, dropped, discarded = (int.from_bytes(stats[i], "little") for i in range(3))
    assert ok + dropped + discarded == 3000
    assert consumed == produced              # in order, each exactly once
    assert len(produced) == ok and dropped > 0 and discarded > 0
    assert ok * 8 > 4 * 4096                 # the ring wrapped around several times


def test_exitsnoop_object_runs_in_the_vm_and_its_events_decode(tmp_path):
    # The same object the kernel runs: the tracepoint program reads the task
    # with CO-RE (the VM's task pointer leads nowhere, so those reads give 0)
    # and its ring-buffer records decode through the object's BTF, the record
    # type inferred from the size the program reserves.
    pytest.importorskip("ziglang")

    from pybpf.toolchain import compile

    source = EXAMPLES / "exitsnoop.bpf.c"
    spec = pybpf.load_object(compile(source, tmp_path / "exitsnoop.bpf.o", compiler="zig"))
    env = Environment.fixed(comm=b"true", pid=7, tgid=7, monotonic_ns=lambda: 5_000)
    with pybpf.vm.load(spec, env=env) as coll:
        assert coll.programs["handle_exit"].test_run(ctx=bytes(64)).retval == 0
        events = list(coll.ringbuf("events"))
    assert len(events) == 1
    event = events[0]
    assert (event.comm, event.pid, event.exit_code, event.duration_ns) == ("true", 7, 0, 5_000)
