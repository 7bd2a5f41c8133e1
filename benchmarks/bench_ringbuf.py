"""Ring buffer reading: 32-byte records per second into Python.

A BPF program (C, compiled with the ziglang wheel) emits N records per run
with ``bpf_loop``; ``BPF_PROG_TEST_RUN`` with ``repeat`` runs it.  Rows:

* **drain** — the ring is filled first, then read: only the consumer is
  timed, for each reading style (raw batches, batches unpacked to tuples,
  records decoded to objects, one callback per record, iteration);
* **live** — a producer thread keeps running the program while the consumer
  reads: records received per second with both sides running.

libbpf (C, ``ring_buffer__consume`` with an empty callback) drains the same
ring for reference where libbpf is installed.  Target: 1,000,000 records/s
with batch polling.

    PYTHONPATH=src python benchmarks/bench_ringbuf.py [--ring-mb N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from common import print_table

PRODUCER_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile unsigned int per_run = 1000;
const volatile unsigned long long flags = 0;

struct rec { unsigned long long seq, twice, tag, pad; };
const struct rec *unused_rec __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_SIZE);
} rb SEC(".maps");

unsigned long long seq = 0;
unsigned long long dropped = 0;

static long emit(unsigned int i, void *ctx)
{
	struct rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&dropped, 1);
		return 1;
	}
	r->seq = seq++;
	r->twice = 2 * i;
	r->tag = 0x5eed;
	r->pad = 0;
	bpf_ringbuf_submit(r, flags);
	return 0;
}

SEC("socket")
int produce(struct __sk_buff *skb)
{
	bpf_loop(per_run, emit, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

LIBBPF_DRAIN = r"""
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long seen;
static int on_record(void *ctx, void *data, size_t size) { seen++; return 0; }

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct timespec t0, t1;
	char pkt[64] = {0};
	int repeat = atoi(argv[2]), rounds = atoi(argv[3]);
	double best = 1e9;
	unsigned long long total = 0;

	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj))
		return 1;
	int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "produce"));
	rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "rb"), on_record, NULL, NULL);
	for (int r = 0; r < rounds; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt,
			.data_size_in = sizeof(pkt), .repeat = repeat);
		bpf_prog_test_run_opts(prog, &opts);
		seen = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		ring_buffer__consume(rb);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (s < best) { best = s; total = seen; }
	}
	printf("%llu %.9f\n", total, best);
	return 0;
}
"""

RECORD = 32


def read_u64(m, offset: int) -> int:
    """A u64 at ``offset`` of element 0 of array map ``m`` (raw, no codecs)."""
    import ctypes

    from pybpf.kernel import sys as ksys

    key = ctypes.c_uint32(0)
    value = ctypes.create_string_buffer(m.value_size)
    ksys.map_lookup_elem(m.fd, ctypes.addressof(key), ctypes.addressof(value))
    return int.from_bytes(value.raw[offset:offset + 8], "little")


def build_producer(ring: int, out_dir: Path) -> Path:
    from pybpf.toolchain import compile_source

    return compile_source(PRODUCER_C, out_dir / "producer.bpf.o", name="producer.bpf.c",
                          defines={"RING_SIZE": ring})


def libbpf_drain(obj: Path, repeat: int, rounds: int) -> float | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or not Path("/usr/include/bpf/libbpf.h").exists():
        return None
    d = Path(tempfile.mkdtemp(prefix="pybpf-bench-"))
    (d / "drain.c").write_text(LIBBPF_DRAIN)
    try:
        subprocess.run([cc, "-O2", "-o", str(d / "drain"), str(d / "drain.c"), "-lbpf"],
                       check=True, capture_output=True)
        out = subprocess.run([str(d / "drain"), str(obj), str(repeat), str(rounds)],
                             check=True, capture_output=True, text=True).stdout.split()
    except subprocess.CalledProcessError:
        return None
    return int(out[0]) / float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ring-mb", type=int, default=64, help="ring size in MiB (default 64)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--live-seconds", type=float, default=2.0)
    args = ap.parse_args()

    import pybpf
    from pybpf import kernel
    from pybpf.records import RecordType

    reason = kernel.unavailable_reason()
    if reason:
        raise SystemExit(f"bpf() refused: {reason}")
    ring = args.ring_mb << 20
    tmp = Path(tempfile.mkdtemp(prefix="pybpf-bench-"))
    obj = build_producer(ring, tmp)
    spec = pybpf.load_object(obj)
    per_run = 1000
    fill = (ring // (RECORD + 8)) // per_run  # runs that fill the ring
    spec.set_variable("per_run", per_run)
    spec.set_variable("flags", 1)  # BPF_RB_NO_WAKEUP while filling
    rt = RecordType.from_btf(spec.btf, "rec")
    rows = []

    with kernel.load(spec) as coll:
        prog = coll.programs["produce"]
        rb = coll.ringbuf("rb", type=rt)

        def drain(consume) -> float:
            best = 0.0
            for _ in range(args.rounds):
                prog.test_run(bytes(64), repeat=fill)
                t0 = time.perf_counter()
                n = consume()
                elapsed = time.perf_counter() - t0
                best = max(best, n / elapsed)
            return best

        def raw_batches() -> int:
            n = 0
            while batch := rb.read_batch():
                n += len(batch)
            return n

        def tuples() -> int:
            n = 0
            while batch := rb.read_batch():
                n += len(batch.unpack("QQQQ"))
            return n

        def objects() -> int:
            n = 0
            while batch := rb.read_batch():
                n += len(batch.decode(rt))
            return n

        counter = [0]

        def on_record(r) -> None:
            counter[0] += 1

        def callbacks() -> int:
            counter[0] = 0
            rb.callback = on_record
            while rb.consume():
                pass
            return counter[0]

        def iteration() -> int:
            n = 0
            for _ in rb.records(0):
                n += 1
            return n

        for label, fn in (("drain: read_batch (raw records)", raw_batches),
                          ("drain: read_batch + unpack to tuples", tuples),
                          ("drain: read_batch + decode to records", objects),
                          ("drain: callback per decoded record", callbacks),
                          ("drain: iterate decoded records", iteration)):
            rows.append([label, f"{drain(fn) / 1e6:.2f}"])

    # live: producer thread and consumer together (wake-ups on)
    spec.set_variable("flags", 0)
    with kernel.load(spec) as coll:
        prog = coll.programs["produce"]
        rb = coll.ringbuf("rb", type=rt)
        stop = threading.Event()

        def produce() -> None:
            while not stop.is_set():
                prog.test_run(bytes(64), repeat=100)

        received = 0
        th = threading.Thread(target=produce)
        t0 = time.perf_counter()
        th.start()
        while time.perf_counter() - t0 < args.live_seconds:
            received += len(rb.read_batch(0.1).unpack("QQQQ"))
        stop.set()
        th.join()
        elapsed = time.perf_counter() - t0
        dropped = read_u64(coll.maps[".bss"], spec.variables["dropped"][1])
        rows.append(["live: producer thread + read_batch/unpack",
                     f"{received / elapsed / 1e6:.2f}"])

    ref = libbpf_drain(obj, fill, args.rounds)
    headers = ["what", "M records/s"]
    if ref:
        headers.append("vs libbpf")
        for r in rows:
            r.append(f"{float(r[1]) * 1e6 / ref:.3f}x")
        rows.append(["libbpf (C): ring_buffer__consume", f"{ref / 1e6:.2f}", "1.00x"])
    print(f"ring buffer, {RECORD}-byte records, {args.ring_mb} MiB ring "
          f"({fill * per_run} records per fill); best of {args.rounds}; target 1.00 M/s")
    print_table(headers, rows)
    print(f"live run: {received} records received, {dropped} not reserved (ring full)")


if __name__ == "__main__":
    main()
