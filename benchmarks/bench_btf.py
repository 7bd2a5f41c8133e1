#!/usr/bin/env python3
"""How fast pybpf reads and writes the kernel's BTF, next to bpftool.

    PYTHONPATH=src python benchmarks/bench_btf.py [--btf /sys/kernel/btf/vmlinux] [--repeat 5]

Prints one row per task: pybpf's best time over the repeats, and bpftool's
for the same job when bpftool is installed (``apt-get install bpftool``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pybpf.btf import BTF


def best(fn, repeat: int) -> float:
    """Fastest of ``repeat`` runs of ``fn``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bpftool_time(args: list[str], repeat: int) -> float | None:
    """Fastest run of ``bpftool args > /dev/null``, or None without bpftool."""
    tool = shutil.which("bpftool")
    if tool is None:
        return None

    def run():
        subprocess.run([tool, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    return best(run, repeat)


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(args.btf):
        print(f"{args.btf} does not exist: nothing to measure", file=sys.stderr)
        return 1
    data = Path(args.btf).read_bytes()
    n = args.repeat
    btf = BTF.from_bytes(data)

    def index_names():
        fresh = BTF.from_bytes(data)
        fresh.find("task_struct")

    def all_types():
        fresh = BTF.from_bytes(data)
        for _ in fresh:
            pass

    def dump_raw():
        BTF.from_bytes(data).dump_raw()

    def dump_c():
        BTF.from_bytes(data).dump_c()

    rows = [
        ("parse (header + type index)", best(lambda: BTF.from_bytes(data), n), None),
        ("parse + first lookup by name", best(index_names, n), None),
        ("parse + build every type object", best(all_types, max(1, n // 2)), None),
        ("dump format raw", best(dump_raw, max(1, n // 2)),
         bpftool_time(["btf", "dump", "file", args.btf, "format", "raw"], n)),
        ("dump format c (vmlinux.h)", best(dump_c, max(1, n // 2)),
         bpftool_time(["btf", "dump", "file", args.btf, "format", "c"], n)),
    ]
    print(f"BTF: {args.btf}, {len(data) / 1e6:.1f} MB, {len(btf) - 1} types; best of {n} runs")
    if shutil.which("bpftool") is None:
        print("bpftool is not installed: its column is empty (apt-get install bpftool)")
    print(f"{'task':<34} {'pybpf':>10} {'bpftool':>10}")
    for name, ours, theirs in rows:
        other = f"{theirs * 1000:8.1f}ms" if theirs is not None else f"{'-':>10}"
        print(f"{name:<34} {ours * 1000:8.1f}ms {other}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
