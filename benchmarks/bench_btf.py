#!/usr/bin/env python3
"""How fast pybpf reads and writes the kernel's BTF, next to bpftool.

    PYTHONPATH=src python benchmarks/bench_btf.py [--btf /sys/kernel/btf/vmlinux] [--runs 9]

Two tables.  **Commands**: ``pybpf btf vmlinux`` as a user runs it — a
fresh process each time, its output to a file — warm (the dump kept in the
per-user cache, :mod:`pybpf.btf.dumpcache`) and cold (no cache: the dump
written from the parsed BTF), beside ``bpftool btf dump file ... format c``
and the interpreter's own start (``python -c pass``); medians of wall time
and of CPU time (user + system of the child, steadier than wall time on a
loaded machine).  **In process**: parsing and dumping inside one Python
process, best of the runs.  The machine's load is printed with the
figures: other work on the same CPUs lengthens wall times.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from pybpf.btf import BTF  # noqa: E402


def best(fn, repeat: int) -> float:
    """Fastest of ``repeat`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``cmd``, output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                   env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(cmd: list[str], runs: int, env: dict[str, str] | None = None,
            ) -> tuple[float, float, float]:
    """(median wall, median CPU, min wall) over ``runs`` runs, in seconds."""
    samples = [run_timed(cmd, env) for _ in range(runs)]
    walls = [w for w, _ in samples]
    return statistics.median(walls), statistics.median(c for _, c in samples), min(walls)


def ms(value: float | None) -> str:
    return f"{value * 1000:8.1f}" if value is not None else f"{'-':>8}"


def main() -> int:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cold-runs", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(args.btf):
        print(f"{args.btf} does not exist: nothing to measure", file=sys.stderr)
        return 1
    data = Path(args.btf).read_bytes()
    n = args.runs
    compileall.compile_dir(str(SRC / "pybpf"), quiet=1)  # as an installed package has it
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="pybpf-bench-btf-"))
    out = tmp / "vmlinux.h"
    env = dict(os.environ, PYTHONPATH=str(SRC), XDG_CACHE_HOME=str(tmp / "cache"))
    pybpf_cmd = [py, "-m", "pybpf", "btf", "vmlinux", "--btf", args.btf, "-o", str(out)]

    rows = []
    rows.append(("python -c pass (interpreter start)", *medians([py, "-c", "pass"], n)))
    cold = []
    for i in range(args.cold_runs):
        cold_env = dict(env, XDG_CACHE_HOME=str(tmp / f"cold{i}"))
        cold.append(run_timed(pybpf_cmd, cold_env))
    rows.append(("pybpf btf vmlinux, cold (no cache)", statistics.median(w for w, _ in cold),
                 statistics.median(c for _, c in cold), min(w for w, _ in cold)))
    run_timed(pybpf_cmd, env)  # fills the cache
    rows.append(("pybpf btf vmlinux, warm (cached)", *medians(pybpf_cmd, n, env)))
    tool = shutil.which("bpftool")
    if tool is not None:
        bpftool_cmd = [tool, "btf", "dump", "file", args.btf, "format", "c"]
        rows.append(("bpftool btf dump file ... format c", *medians(bpftool_cmd, n)))

    load = os.getloadavg()
    print(f"BTF: {args.btf}, {len(data) / 1e6:.1f} MB; {os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {n} runs (cold: {args.cold_runs})")
    if tool is None:
        print("bpftool is not installed: its row is missing (apt-get install bpftool)")
    print(f"{'command':<38} {'wall ms':>8} {'cpu ms':>8} {'min ms':>8}   (medians)")
    for name, wall, cpu, low in rows:
        print(f"{name:<38} {ms(wall)} {ms(cpu)} {ms(low)}")
    if tool is not None:
        warm = rows[2]
        ref = rows[3]
        print(f"warm pybpf / bpftool: {warm[1] / ref[1]:.1f}x wall, {warm[2] / ref[2]:.1f}x cpu; "
              f"target: warm wall <= 500 ms")

    def index_names():
        BTF.from_bytes(data).find("task_struct")

    def all_types():
        for _ in BTF.from_bytes(data):
            pass

    few = max(1, n // 4)
    inproc = [
        ("parse (header + type index)", best(lambda: BTF.from_bytes(data), n)),
        ("parse + first lookup by name", best(index_names, n)),
        ("parse + build every type object", best(all_types, few)),
        ("dump format raw", best(lambda: BTF.from_bytes(data).dump_raw(), few)),
        ("dump format c (vmlinux.h)", best(lambda: BTF.from_bytes(data).dump_c(), few)),
    ]
    print()
    print(f"{'in process (best of runs)':<38} {'ms':>8}")
    for name, value in inproc:
        print(f"{name:<38} {ms(value)}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
