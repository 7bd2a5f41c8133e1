"""Ring buffers and perf event buffers: record layout, wrap-around, loss accounting."""

from __future__ import annotations

import ctypes
import errno
import random
import struct
import threading

import pytest

from pybpf.maps import (
    BPF_F_CURRENT_CPU,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
    ENOTSUPP,
    MapError,
    PerfBuffer,
    PerfLost,
    PerfSample,
    create_map,
    map_owning,
)
from pybpf.objects import MapSpec

BUSY, DISCARD = 1 << 31, 1 << 30


def ringbuf(size: int = 4096):
    return create_map(MapSpec("rb", "ringbuf", 0, 0, size), num_cpus=2)


def header(rb, pos: int) -> tuple[int, int]:
    return struct.unpack_from("<II", rb.data, pos & rb.mask)


def test_record_header_layout():
    rb = ringbuf()
    addr = rb.bpf_ringbuf_reserve(13)
    assert addr == rb.arena_addresses[0] + 8
    assert header(rb, 0) == (13 | BUSY, 3)            # busy, pg_off 3 (after the meta pages)
    ctypes.memmove(addr, b"x" * 13, 13)
    rb.bpf_ringbuf_submit(addr)
    assert header(rb, 0) == (13, 3)
    assert rb.producer_pos == 24                      # 8 + 13 rounded up to 8
    assert rb.consume() == [b"x" * 13] and rb.consumer_pos == 24


def test_pg_off_counts_pages_from_the_ring_structure():
    rb = ringbuf(16384)
    for _ in range(3):
        assert rb.bpf_ringbuf_output(b"a" * 2040) == 0   # 2048-byte records
    assert header(rb, 4096)[1] == 4                   # second data page
    rb.consume()


def test_discard_and_busy_records():
    rb = ringbuf()
    a = rb.bpf_ringbuf_reserve(8)
    b = rb.bpf_ringbuf_reserve(8)
    ctypes.memmove(b, b"BBBBBBBB", 8)
    rb.bpf_ringbuf_submit(b)
    assert rb.consume() == []                        # a is still busy: nothing passes it
    rb.bpf_ringbuf_discard(a)
    assert header(rb, 0)[0] == 8 | DISCARD
    assert rb.consume() == [b"BBBBBBBB"]             # the discarded one is skipped
    assert rb.avail_data == 0


def test_reserve_failures_match_the_kernel():
    rb = ringbuf()
    assert rb.bpf_ringbuf_reserve(8, flags=1) == 0
    assert rb.bpf_ringbuf_reserve(4096) == 0          # 8 + 4096 > ring size
    assert rb.bpf_ringbuf_output(b"x", flags=4) == -errno.EINVAL
    # the producer may get at most size - 1 bytes ahead: 4088 fits, 4096 does not
    assert rb.bpf_ringbuf_output(b"y" * 4080) == 0
    assert rb.bpf_ringbuf_output(b"") == -errno.EAGAIN
    assert rb.dropped == 2                            # too large, then no room


def test_pending_record_blocks_even_after_consumer_moves():
    rb = ringbuf()
    busy = rb.bpf_ringbuf_reserve(2000)              # never committed yet
    assert rb.bpf_ringbuf_output(b"z" * 2000) == 0
    assert rb.bpf_ringbuf_output(b"z" * 100) == -errno.EAGAIN
    rb.bpf_ringbuf_submit(busy)
    assert len(rb.consume()) == 2


def test_query():
    rb = ringbuf(8192)
    rb.bpf_ringbuf_output(b"q" * 10)
    assert rb.bpf_ringbuf_query(BPF_RB_AVAIL_DATA) == 24
    assert rb.bpf_ringbuf_query(BPF_RB_RING_SIZE) == 8192
    assert rb.bpf_ringbuf_query(BPF_RB_PROD_POS) == 24
    assert rb.bpf_ringbuf_query(BPF_RB_CONS_POS) == 0
    assert rb.bpf_ringbuf_query(99) == 0
    rb.consume()
    assert rb.bpf_ringbuf_query(BPF_RB_CONS_POS) == 24


def test_wakeups():
    rb = ringbuf()
    rb.bpf_ringbuf_output(b"1")                      # record at the consumer: wakes
    rb.bpf_ringbuf_output(b"2")                      # behind another: does not
    rb.bpf_ringbuf_output(b"3", BPF_RB_FORCE_WAKEUP)
    assert rb.wakeups == 2
    rb.consume()
    rb.bpf_ringbuf_output(b"4", BPF_RB_NO_WAKEUP)
    assert rb.wakeups == 2


def test_wrap_around_record_is_contiguous_and_copied_back():
    rb = ringbuf()
    assert rb.bpf_ringbuf_output(b"a" * 4000) == 0   # 4008 bytes
    rb.consume()
    payload = bytes(range(256)) * 2
    addr = rb.bpf_ringbuf_reserve(len(payload))       # header at 4008, data wraps
    assert addr - rb.arena_addresses[0] == 4016
    ctypes.memmove(addr, payload, len(payload))       # one flat write, as a program does
    rb.bpf_ringbuf_submit(addr)
    wrapped = 4016 + len(payload) - 4096
    assert rb.ring()[:wrapped] == payload[-wrapped:]  # the kernel's view of the ring
    assert rb.consume() == [payload]
    assert rb.consumer_pos == rb.producer_pos == 4008 + 8 + len(payload)


def test_userspace_map_operations_are_not_supported():
    rb = ringbuf()
    for op, args in ((rb.lookup, (None,)), (rb.update, (None, b"")), (rb.delete, (None,)),
                     (rb.get_next_key, (None,))):
        with pytest.raises(MapError) as info:
            op(*args)
        assert info.value.errno == ENOTSUPP


def test_iteration_and_callback_stop():
    rb = ringbuf()
    for i in range(5):
        rb.bpf_ringbuf_output(bytes([i]) * 3)
    seen = []
    assert rb.consume(lambda s: seen.append(s) or (1 if len(seen) == 2 else 0)) == 2
    assert seen == [b"\0\0\0", b"\1\1\1"]
    assert list(rb) == [b"\2\2\2", b"\3\3\3", b"\4\4\4"]
    assert list(rb) == []


def test_a_record_is_copied_out_before_its_space_goes_back_to_producers(monkeypatch):
    # a producer in another thread may reuse the space as soon as the
    # consumer position passes it: the copy must come first
    from pybpf.maps import ringbuf as module

    rb = ringbuf()
    for i in range(3):
        rb.bpf_ringbuf_output(bytes([i]) * 5)
    positions_at_copy = []

    def spying_bytes(view):
        positions_at_copy.append(rb.consumer_pos)
        return bytes(view)
    monkeypatch.setattr(module, "bytes", spying_bytes, raising=False)
    assert rb.consume() == [bytes([i]) * 5 for i in range(3)]
    assert positions_at_copy == [0, 16, 32]       # each copied while still owned


def test_poll_wakes_on_producer_in_another_thread():
    rb = ringbuf()
    got: list[bytes] = []
    consumer = threading.Thread(target=lambda: got.extend(rb.poll(timeout=5)))
    consumer.start()
    rb.bpf_ringbuf_output(b"hello")
    consumer.join(5)
    assert got == [b"hello"]
    assert rb.poll(timeout=0.01) == []


def _stress(rb, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    produced = consumed = dropped = 0
    held: list[int] = []
    expected: list[bytes] = []
    received: list[bytes] = []
    for i in range(rounds):
        action = rng.random()
        if action < 0.55:
            size = rng.choice((0, 1, 7, 8, 9, 100, 500, 1000, 2000))
            data = (i.to_bytes(4, "little") * (size // 4 + 1))[:size]
            rc = rb.bpf_ringbuf_output(data)
            produced += 1
            if rc == 0:
                expected.append(data)
            else:
                assert rc == -errno.EAGAIN
                dropped += 1
        elif action < 0.65:
            size = rng.randrange(1, 600)
            addr = rb.bpf_ringbuf_reserve(size)
            produced += 1
            if addr:
                data = bytes([i & 0xFF]) * size
                ctypes.memmove(addr, data, size)
                held.append((addr, data, rng.random() < 0.3))
            else:
                dropped += 1
        elif action < 0.8 and held:
            addr, data, discard = held.pop(0)
            if discard:
                rb.bpf_ringbuf_discard(addr)
                dropped += 1
            else:
                rb.bpf_ringbuf_submit(addr)
                expected.append(data)
        else:
            got = rb.consume(limit=rng.randrange(1, 8))
            received.extend(got)
            consumed += len(got)
    for addr, data, _ in held:
        rb.bpf_ringbuf_submit(addr)
        expected.append(data)
    got = rb.consume()
    received.extend(got)
    consumed += len(got)
    assert produced == consumed + dropped
    assert sorted(received) == sorted(expected)
    assert rb.avail_data == 0
    assert rb.producer_pos > 4 * rb.size             # wrapped many times


def test_stress_produced_equals_consumed_plus_dropped():
    _stress(ringbuf(8192), 3000, seed=1)


@pytest.mark.slow
def test_stress_long():
    for seed in range(5):
        _stress(ringbuf(4096), 20000, seed=seed)


# --------------------------------------------------------------------- perf event array

def perf_array(cpus: int = 2):
    return create_map(MapSpec("events", "perf_event_array", 4, 4, 0), num_cpus=cpus)


def test_perf_output_routing_and_errors():
    m = perf_array(2)
    reader = m.open_buffers(page_count=1)
    assert m.bpf_perf_event_output(b"abc", BPF_F_CURRENT_CPU, cpu=1) == 0
    assert m.bpf_perf_event_output(b"def", 0, cpu=0) == 0
    assert m.bpf_perf_event_output(b"x", 1, cpu=0) == -errno.EOPNOTSUPP
    assert m.bpf_perf_event_output(b"x", 7, cpu=0) == -errno.E2BIG
    assert m.bpf_perf_event_output(b"x", 1 << 40, cpu=0) == -errno.EINVAL
    m.delete(1)
    assert m.bpf_perf_event_output(b"x", 1, cpu=1) == -errno.ENOENT
    records = reader.read()
    assert records == [PerfSample(0, b"def\0"), PerfSample(1, b"abc\0")]  # padded like the kernel
    with pytest.raises(MapError) as info:
        m.lookup(0)
    assert info.value.errno == ENOTSUPP


def test_perf_ctx_data_for_packet_programs():
    m = perf_array(1)
    reader = m.open_buffers(page_count=1)
    flags = BPF_F_CURRENT_CPU | (6 << 32)
    assert m.bpf_perf_event_output(b"meta", flags, cpu=0, ctx_data=b"packet-bytes") == 0
    assert m.bpf_perf_event_output(b"meta", 99 << 32 | BPF_F_CURRENT_CPU, 0,
                                   ctx_data=b"short") == -errno.EFAULT
    assert reader.read() == [PerfSample(0, b"metapacket\0\0")]


def test_perf_record_format_in_the_ring():
    buf = PerfBuffer(0, 1)
    assert buf.output(b"12345") == 0
    rtype, _misc, size = struct.unpack_from("<IHH", buf.data, 0)
    raw_size = struct.unpack_from("<I", buf.data, 8)[0]
    assert (rtype, size, raw_size) == (9, 8 + 16, 12)  # 4 + 12 is a multiple of 8
    assert bytes(buf.data[12:24]) == b"12345" + bytes(7)


def test_perf_lost_samples_are_counted_and_reported():
    m = perf_array(1)
    reader = m.open_buffers(page_count=1)             # 4096 bytes
    sent = ok = 0
    for i in range(100):
        rc = m.bpf_perf_event_output(bytes([i]) * 100, BPF_F_CURRENT_CPU, 0)
        sent += 1
        ok += rc == 0
        assert rc in (0, -errno.ENOSPC)
    lost = sent - ok
    assert lost > 0 and reader.lost == lost
    records = reader.read()
    assert sum(isinstance(r, PerfSample) for r in records) == ok
    assert m.bpf_perf_event_output(b"after", BPF_F_CURRENT_CPU, 0) == 0
    records = reader.read()
    assert records[0] == PerfLost(0, lost) and records[1] == PerfSample(0, b"after" + bytes(7))


def test_perf_ring_wraps():
    buf = PerfBuffer(3, 1)
    total = 0
    for i in range(500):
        data = bytes([i & 0xFF]) * (i % 50 + 1)
        assert buf.output(data) == 0
        got = buf.read()
        assert len(got) == 1 and got[0].data[:len(data)] == data and got[0].cpu == 3
        total += 1
    assert buf.head > 4 * buf.size and buf.lost_total == 0 and total == 500


def test_perf_reader_poll_callbacks():
    m = perf_array(2)
    reader = m.open_buffers(page_count=1)
    m.bpf_perf_event_output(b"s1\0\0", BPF_F_CURRENT_CPU, 1)
    samples, lost = [], []
    n = reader.poll(0, lambda cpu, data: samples.append((cpu, data)),
                    lambda cpu, count: lost.append((cpu, count)))
    assert n == 1 and samples == [(1, b"s1\0\0")] and lost == []


def test_sample_address_leads_back_to_its_ring_buffer():
    rb = ringbuf()
    other = ringbuf()
    sample = rb.bpf_ringbuf_reserve(16)
    owner, arena, offset = map_owning(sample)
    assert owner is rb and arena == 0 and offset == 8
    owner.bpf_ringbuf_submit(sample)
    assert rb.consume() == [bytes(16)] and other.consume() == []
    assert map_owning(12) is None
