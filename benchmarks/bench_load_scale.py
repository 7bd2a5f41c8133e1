"""Time and memory to load large programs into the userspace VM.

Run: ``PYTHONPATH=src python benchmarks/bench_load_scale.py [SIZES...]``
(default 10000 100000 1000000 instructions).  Each size runs in a child
process of its own, twice: once timed, once under :mod:`tracemalloc`
(which slows allocation down, so it is not timed).  Printed per size:

- ``load``: ``vm.load`` of the bytecode (decode, validate, prepare);
- ``first run``: the first run, which takes the early exit (four
  instructions) and so compiles only the code it reaches;
- ``full run``: a run through every instruction (with ``--full``; it
  compiles the rest of the program and executes it all, map lookups
  included);
- ``py peak``: the peak of Python allocations during load and first run
  (tracemalloc);
- ``rss``: the child's resident memory after the load and first run,
  beyond what it held before (``/proc/self/statm``), and its peak
  (``ru_maxrss``).

The program is a realistic mix repeated to size: stack stores and loads,
ALU on 64 and 32 bits, forward branches, and a map lookup (``lddw`` of a
map, ``call bpf_map_lookup_elem``) in every block.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table

BLOCK = """
    r1 = {key}
    *(u32 *)(r10 - 4) = r1
    r1 = map[fd:3] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem#1
    if r0 == 0 goto +2
    r3 = *(u64 *)(r0 + 0)
    r6 += r3
    r7 = r6
    r7 <<= 3
    r7 ^= {salt}
    r8 = r7
    r8 &= 0xff
    if r8 > 100 goto +1
    r8 += 7
    *(u64 *)(r10 - 16) = r8
    r9 = *(u64 *)(r10 - 16)
    r6 += r9
    w6 = w6
    w7 = w6
    w7 *= {factor}
    w7 >>= 1
    r6 -= r7
    r6 |= 1
"""

PROLOGUE = """
    r6 = *(u64 *)(r1 + 0)
    r0 = 0
    if r6 != 0 goto +1
    exit
"""

EPILOGUE = """
    r0 = r6
    exit
"""


def make_program(size: int) -> bytes:
    """About ``size`` instruction slots of bytecode: the block repeated with
    its constants varied (so that slots repeat about as often as in compiled
    code, not every block alike)."""
    from pybpf.isa import assemble, encode

    head, tail = assemble(PROLOGUE, "llvm"), assemble(EPILOGUE, "llvm")
    variants = [assemble(BLOCK.format(key=0, salt=i, factor=3 + i % 7), "llvm")
                for i in range(997)]
    body = []
    while len(head) + len(body) + len(variants[0]) + len(tail) <= size:
        body += variants[len(body) // len(variants[0]) % len(variants)]
    return encode(head + body + tail)


def rss_bytes() -> int:
    """The resident memory of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(path: str, traced: bool, full: bool) -> dict:
    """Load the bytecode at ``path`` in a fresh VM and run it (in the child)."""
    import tracemalloc

    import pybpf.vm
    from pybpf.objects import MapSpec

    bytecode = Path(path).read_bytes()
    vm = pybpf.vm.VM(max_insns=None)
    m = vm.create_map(MapSpec("values", "array", 4, 8, 1))
    assert vm.fd_of(m) == 3
    m[0] = (5).to_bytes(8, "little")
    before = rss_bytes()
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    prog = vm.load(bytecode)
    t1 = time.perf_counter()
    first = prog.run(bytes(8))
    t2 = time.perf_counter()
    out = {"slots": len(bytecode) // 8, "load": t1 - t0, "first": t2 - t1,
           "first_insns": first.insn_count, "rss": rss_bytes() - before,
           "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if traced:
        out["py_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if full:
        t3 = time.perf_counter()
        result = prog.run((1).to_bytes(8, "little"))
        out["full"] = time.perf_counter() - t3
        out["full_insns"] = result.insn_count
    return out


def child(path: str, traced: bool, full: bool) -> dict:
    args = [sys.executable, __file__, "--child", path]
    args += ["--traced"] if traced else []
    args += ["--full"] if full else []
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--full", action="store_true", help="also run every instruction once")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.traced, args.full)))
        return
    rows = []
    for size in args.sizes:
        with tempfile.NamedTemporaryFile(suffix=".bin") as f:
            f.write(make_program(size))
            f.flush()
            timed = child(f.name, False, args.full)
            traced = child(f.name, True, False)
        row = [f"{timed['slots']:,}", f"{timed['load']:.2f} s",
               f"{timed['first'] * 1000:.1f} ms ({timed['first_insns']} insns)",
               mib(traced["py_peak"]), mib(timed["rss"]), mib(timed["maxrss"])]
        if args.full:
            row.append(f"{timed['full']:.2f} s ({timed['full_insns']:,} insns)")
        rows.append(row)
        print(f"{size:,}: done", file=sys.stderr, flush=True)
    headers = ["instructions", "load", "first run", "py peak", "rss", "max rss"]
    print_table(headers + (["full run"] if args.full else []), rows)


if __name__ == "__main__":
    main()
