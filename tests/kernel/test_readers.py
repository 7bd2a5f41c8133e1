"""Reading what BPF programs send: ring buffers (callbacks, iteration,
batches, discards, wrap-around, BTF decoding), perf buffers (samples and
lost-sample reports), the trace pipe — and nothing left behind afterwards:
the same file descriptors, no mappings, none of our programs loaded."""

from __future__ import annotations

import os
import struct
import subprocess
import time

import pytest

from pybpf import kernel
from pybpf.errors import BPFError
from pybpf.kernel import info, perf
from pybpf.kernel.ringbuf import RingBuffer
from pybpf.kernel.tracepipe import parse_line
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec
from pybpf.records import RecordType, infer_record_size

# N records of 32 bytes per run: (magic, i, i * 2, SIZE-tagged) ...
PRODUCE = """
    r6 = r1
    r7 = 0
loop:
    r1 = map[idx:0] ll
    r2 = {size}
    r3 = 0
    call 131
    if r0 == 0 goto out
    r8 = 0x1122334455667788 ll
    *(u64 *)(r0 + 0) = r8
    *(u64 *)(r0 + 8) = r7
    r9 = r7
    r9 *= 2
    *(u64 *)(r0 + 16) = r9
    *(u64 *)(r0 + 24) = r7
    r1 = r0
    r2 = 0
    r8 = r7
    r8 &= {discard_mask}
    if r8 != 0 goto discard
    call 132
    goto next
discard:
    call 133
next:
    r7 += 1
    if r7 < {n} goto loop
out:
    r0 = 0
    exit
"""


def producer(n: int = 10, *, size: int = 32, ring: int = 1 << 16, discard_mask: int = 0):
    text = PRODUCE.format(n=n, size=size, discard_mask=discard_mask)
    prog = ProgramSpec.from_assembly("produce", text, type="socket_filter")
    return ObjectSpec.build([prog], [MapSpec("rb", "ringbuf", 0, 0, ring)])


def run(coll, repeat: int = 1) -> None:
    coll.programs["produce"].test_run(bytes(64), repeat=repeat)


EVENT = RecordType("event", 32, [("magic", "int", 0, "Q", 1), ("i", "int", 8, "Q", 1),
                                 ("twice", "int", 16, "Q", 1), ("again", "int", 24, "Q", 1)])


# --- record types -----------------------------------------------------------------------

def test_record_type_decodes_and_round_trips():
    rt = RecordType("ev", 40, [("pid", "int", 0, "i", 1), ("ok", "bool", 4, "?", 1),
                               ("comm", "str", 5, "s", 8), ("raw", "bytes", 13, "s", 3),
                               ("vals", "array", 16, "H", 4), ("names", "strs", 24, "4", 2)])
    data = struct.pack("<i?8s3s4H4s4s", -5, True, b"bash\0xyz", b"\x01\x02\x03",
                       1, 2, 3, 4, b"ab\0\0", b"cdef") + bytes(8)
    e = rt.decode(data)
    assert (e.pid, e.ok, e.comm, e.raw, e.vals, e.names) == (
        -5, True, "bash", b"\x01\x02\x03", (1, 2, 3, 4), ("ab", "cdef"))
    assert e._asdict()["pid"] == -5
    again = RecordType.from_data(rt.to_data())
    assert again.decode(data) == e
    assert rt.decoder()(b"short") == b"short"  # too short for the type: raw bytes
    with pytest.raises(BPFError, match="overlapping"):
        RecordType("bad", 8, [("a", "int", 0, "Q", 1), ("b", "int", 4, "I", 1)])


@pytest.mark.kernel
def test_record_type_from_btf_and_inference(tmp_path):
    from pybpf.elf import load_object
    from pybpf.toolchain import CompilerNotFound, compile_source

    src = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct ev { int pid; unsigned char flag; char comm[16]; unsigned long long ts;
                unsigned short vals[3]; };
    const struct ev *unused_ev __attribute__((unused));
    struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
    SEC("socket")
    int produce(struct __sk_buff *skb)
    {
        struct ev *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
        if (!e)
            return 0;
        e->pid = 42; e->flag = 1; e->ts = 7;
        __builtin_memcpy(e->comm, "pybpf", 6);
        e->vals[0] = 1; e->vals[1] = 2; e->vals[2] = 3;
        bpf_ringbuf_submit(e, 0);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """
    try:
        obj = compile_source(src, tmp_path / "ev.o", name="ev.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))
    spec = load_object(obj)
    assert infer_record_size(spec, "rb") == 40
    rt = RecordType.from_btf(spec.btf, "struct ev")
    assert [f[0] for f in rt.fields] == ["pid", "flag", "comm", "ts", "vals"]
    with kernel.load(spec) as coll:
        rb = coll.ringbuf("rb")  # type inferred: the one 40-byte struct
        run(coll, 3)
        events = rb.read()
        assert [(e.pid, e.flag, e.comm, e.ts, e.vals) for e in events] == \
            [(42, 1, "pybpf", 7, (1, 2, 3))] * 3
        raw = coll.ringbuf("rb", raw=True)
        run(coll)
        assert len(raw.read()[0]) == 40


# --- ring buffers --------------------------------------------------------------------------

@pytest.mark.kernel
def test_ringbuf_callback_and_iteration():
    with kernel.load(producer(10)) as coll:
        got = []
        rb = coll.ringbuf("rb", got.append, type=EVENT)
        assert rb.poll(0) == 0
        run(coll)
        assert rb.available == 10 * 40
        assert rb.poll(1.0) == 10
        assert [e.i for e in got] == list(range(10))
        assert all(e.magic == 0x1122334455667788 and e.twice == 2 * e.i for e in got)
        assert rb.available == 0
        run(coll, 2)
        it = iter(rb)
        assert [next(it).i for _ in range(20)] == list(range(10)) * 2
        assert list(rb.records(0.05)) == []


@pytest.mark.kernel
def test_ringbuf_batches_unpack_without_python_per_record():
    with kernel.load(producer(100, ring=1 << 20)) as coll:
        rb = coll.ringbuf("rb", raw=True)
        run(coll, 50)
        batch = rb.read_batch()
        assert len(batch) == 5000
        assert batch.runs == [(0, 5000, 40, 32)]  # one run of equal records
        tuples = batch.unpack("QQQQ")
        assert tuples[123] == (0x1122334455667788, 23, 46, 23)
        assert [r.i for r in batch.decode(EVENT)][:3] == [0, 1, 2]
        views = batch.memoryviews()
        assert bytes(views[1][8:16]) == (1).to_bytes(8, "little")
        assert not rb.read_batch()


@pytest.mark.kernel
def test_ringbuf_skips_discarded_records():
    with kernel.load(producer(10, discard_mask=1)) as coll:  # odd ones discarded
        rb = coll.ringbuf("rb", type=EVENT)
        run(coll)
        assert [e.i for e in rb.read()] == [0, 2, 4, 6, 8]
        assert rb.available == 0


@pytest.mark.kernel
def test_ringbuf_mixed_sizes_and_wraparound():
    # a 4 KiB ring, filled and drained many times with 32- and 48-byte records
    small, big = producer(20, size=32, ring=4096), producer(20, size=48, ring=4096)
    big.programs["produce"].name = "produce_big"
    big.programs = {"produce_big": big.programs["produce"]}
    spec = ObjectSpec.build([small.programs["produce"], big.programs["produce_big"]],
                            [MapSpec("rb", "ringbuf", 0, 0, 4096)])
    with kernel.load(spec) as coll:
        rb = coll.ringbuf("rb", raw=True)
        seen = []
        for _ in range(30):
            coll.programs["produce"].test_run(bytes(64))
            coll.programs["produce_big"].test_run(bytes(64))
            batch = rb.read_batch()
            assert [r[3] for r in batch.runs] == [32, 48]
            seen += [len(r) for r in batch]
        assert seen == ([32] * 20 + [48] * 20) * 30


@pytest.mark.kernel
def test_ringbuf_wakes_epoll_and_refuses_other_maps():
    with kernel.load(producer(3)) as coll:
        rb = coll.ringbuf("rb", type=EVENT)
        import select

        ep = select.epoll()
        ep.register(rb.fileno(), select.EPOLLIN)
        assert ep.poll(0) == []
        run(coll)
        assert ep.poll(1.0)
        ep.close()
        assert len(rb.read()) == 3
    spec = ObjectSpec.build([], [MapSpec("arr", "array", 4, 4, 1)])
    with kernel.load(spec) as coll:
        with pytest.raises(BPFError, match="not ringbuf"):
            coll.ringbuf("arr")
        with pytest.raises(BPFError, match="no map 'nope'"):
            coll.ringbuf("nope")
        with pytest.raises(BPFError, match="not a ringbuf"):
            RingBuffer(coll.maps["arr"])


# --- perf buffers ------------------------------------------------------------------------

PERF_OUT = """
    r6 = r1
    r7 = 0
loop:
    *(u64 *)(r10 - 8) = r7
    r1 = 0x1234
    *(u64 *)(r10 - 16) = r1
    r1 = r6
    r2 = map[idx:0] ll
    r3 = 0xffffffff ll
    r4 = r10
    r4 += -16
    r5 = 16
    call 25
    r7 += 1
    if r7 < {n} goto loop
    r0 = 0
    exit
"""


def perf_spec(n: int):
    prog = ProgramSpec.from_assembly("produce", PERF_OUT.format(n=n), type="socket_filter")
    return ObjectSpec.build([prog], [MapSpec("pb", "perf_event_array", 4, 4, 0)])


@pytest.mark.kernel
def test_perfbuf_samples():
    spec = perf_spec(5)  # max_entries 0: one slot per possible CPU
    with kernel.load(spec) as coll:
        assert coll.maps["pb"].max_entries == kernel.possible_cpus()
        got = []
        pb = coll.perfbuf("pb", got.append)
        assert pb.cpus == list(perf.online_cpus())
        run(coll, 2)
        assert pb.poll(1.0) == 10
        assert [struct.unpack_from("<QQ", s) for s in got] == \
            [(0x1234, i) for i in range(5)] * 2


@pytest.mark.kernel
def test_perfbuf_reports_lost_samples():
    spec = perf_spec(200)
    spec.maps["pb"].max_entries = os.cpu_count() or 1
    with kernel.load(spec) as coll:
        lost = []
        got = []
        pb = coll.perfbuf("pb", got.append, lost=lambda cpu, n: lost.append((cpu, n)),
                          pages=1)
        run(coll, 5)  # 1000 samples of 32 bytes into one 4 KiB page
        while pb.poll(0.2):
            pass
        run(coll)  # a new sample after the loss: the LOST record comes first
        pb.poll(0.5)
        assert lost and sum(n for _, n in lost) == pb.lost_count > 0
        assert len(got) + pb.lost_count >= 1000


# --- the trace pipe ----------------------------------------------------------------------

@pytest.mark.parametrize("line,expected", [
    ("            bash-1234    [001] d..31  4567.891234: bpf_trace_printk: hello 42",
     ("bash", 1234, 1, 4567.891234, "bpf_trace_printk", "hello 42", "d..31")),
    ("   kworker/u8:2-77      [000] .....   12.000001: bpf_trace_printk: x: y",
     ("kworker/u8:2", 77, 0, 12.000001, "bpf_trace_printk", "x: y", ".....")),
    ("  my-prog-name-9 (    9) [003] ....  1.5: bpf_trace_printk: tgid shown",
     ("my-prog-name", 9, 3, 1.5, "bpf_trace_printk", "tgid shown", "....")),
    ("           <...>-55    [002]  100.25: bpf_trace_printk: no flags",
     ("<...>", 55, 2, 100.25, "bpf_trace_printk", "no flags", "")),
])
def test_trace_line_parsing(line, expected):
    assert tuple(parse_line(line)) == expected


def test_trace_line_parsing_ignores_other_lines():
    assert parse_line("CPU:1 [LOST 12 EVENTS]") is None
    assert parse_line("# tracer: nop") is None


PRINTK = """
    r1 = 0x0a6425206968 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r10
    r1 += -8
    r2 = 7
    r3 = {value}
    call 6
    r0 = 0
    exit
"""


@pytest.mark.kernel
def test_trace_pipe_reads_printk():
    value = 4000 + os.getpid() % 1000
    prog = ProgramSpec.from_assembly("say", PRINTK.format(value=value), type="socket_filter")
    with kernel.load(ObjectSpec.build([prog])) as coll:
        tp = coll.trace_pipe()
        coll.programs["say"].test_run(bytes(64), repeat=3)
        mine = [ln for ln in tp.lines(1.0) if ln.message == f"hi {value}"]
        assert len(mine) == 3
        assert mine[0].pid == os.getpid() and mine[0].event == "bpf_trace_printk"


# --- nothing left behind ---------------------------------------------------------------------

def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _bpf_mappings() -> list[str]:
    with open("/proc/self/maps") as f:
        return [ln for ln in f if "bpf" in ln or "perf_event" in ln]


EXIT_COUNT = """
    r1 = map[idx:0] ll
    r2 = 32
    r3 = 0
    call 131
    if r0 == 0 goto out
    r1 = 7
    *(u64 *)(r0 + 0) = r1
    *(u64 *)(r0 + 8) = r1
    *(u64 *)(r0 + 16) = r1
    *(u64 *)(r0 + 24) = r1
    r1 = r0
    r2 = 0
    call 132
out:
    r0 = 0
    exit
"""


@pytest.mark.kernel
def test_closing_a_collection_leaves_nothing_behind():
    spec_tp = ProgramSpec.from_assembly("on_exit", EXIT_COUNT, type="tracepoint",
                                        section="tracepoint/sched/sched_process_exit",
                                        attach_to="sched/sched_process_exit")
    spec_perf = perf_spec(1)
    spec_perf.maps["pb"].max_entries = os.cpu_count() or 1
    spec = ObjectSpec.build([spec_tp, spec_perf.programs["produce"]],
                            [MapSpec("rb", "ringbuf", 0, 0, 1 << 14), spec_perf.maps["pb"]])
    # the perf producer's map reference is index 0 in its own spec: point it at "pb"
    text = PERF_OUT.format(n=1).replace("map[idx:0]", "map[idx:1]")
    spec.programs["produce"] = ProgramSpec.from_assembly("produce", text, type="socket_filter")
    perf.online_cpus()  # cached helpers open nothing later
    perf.tracefs()
    before_fds, before_maps = _fds(), _bpf_mappings()
    coll = kernel.load(spec)
    ids = {p.info().id for p in coll.programs.values()}
    coll.programs["on_exit"].attach()
    link_ids = {lk.id for lk in info.links() if lk.prog_id in ids}
    rb = coll.ringbuf("rb", type=EVENT)
    pb = coll.perfbuf("pb", lambda s: None)
    tp = coll.trace_pipe()
    subprocess.run(["true"], check=True)
    assert rb.read(1.0)
    coll.programs["produce"].test_run(bytes(64))
    assert pb.poll(1.0) == 1
    assert len(_bpf_mappings()) > len(before_maps) and len(_fds()) > len(before_fds)
    coll.close()
    assert rb.closed and pb.closed and tp.closed
    assert _fds() == before_fds
    assert _bpf_mappings() == before_maps
    time.sleep(0.05)  # programs go once RCU lets them
    assert not ids & {p.id for p in info.programs()}
    assert not link_ids & {lk.id for lk in info.links()}
