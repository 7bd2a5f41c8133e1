#!/usr/bin/env python3
"""How long pybpf.lang takes to compile a tool program written in Python,
beside clang and zig compiling the same tool's C version, in one run.

    PYTHONPATH=src python benchmarks/bench_lang.py [--runs 7] [--tools exitsnoop,syscount]

For each tool of examples/lang/ (the programs of src/pybpf/tools/*.bpf.c
written in Python): the Python front end (AST -> LLVM IR text) and LLVM
(parse, O2 pipeline, BPF code generation) in one warm process — the
median of ``--runs`` compiles after one warm-up — and, for the C version,
``clang -target bpf -O2 -g`` and zig (``pybpf cc``'s compiler) as
pybpf.toolchain runs them: the exact command line, run ``--runs`` times as
a process (median wall time).  Ratios are C time over Python time.  The
first compile in a process also reads vmlinux BTF (for CO-RE types) and
initialises LLVM; that one-time cost is printed apart.  Two tables: wall
time, and CPU time (user + system: this process's for the Python compile,
the child's for clang and zig), which a loaded machine lengthens far less.
The machine's load average is printed too: on a shared machine every wall
figure grows with it; the ratios (same minutes) and CPU times are steadier.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "src"))

from pybpf.lang import types  # noqa: E402
from pybpf.lang.compiler import compile_module, load_module  # noqa: E402

TOOLS = ["exitsnoop", "execsnoop", "opensnoop", "syscount", "runqlat"]


def c_command(name: str, compiler: str, out_dir: Path) -> list[str] | None:
    """The command line pybpf.toolchain runs to compile tool ``name``'s C."""
    from pybpf.toolchain import compile as compile_c

    tools = ROOT / "src" / "pybpf" / "tools"
    seen: list[list[str]] = []
    try:
        compile_c(tools / f"{name}.bpf.c", out_dir / f"{name}.{compiler}.o",
                  compiler=compiler, include_dirs=[tools / "include"], vmlinux=False,
                  on_command=seen.append)
    except Exception as e:          # no such compiler here
        print(f"  ({compiler}: skipped, {e})", file=sys.stderr)
        return None
    return seen[-1] if seen else None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``cmd``."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu0 = children_cpu()
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        cpus.append(children_cpu() - cpu0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--tools", default=",".join(TOOLS))
    args = ap.parse_args()
    names = args.tools.split(",")

    start = time.perf_counter()
    have_btf = Path("/sys/kernel/btf/vmlinux").exists()
    if have_btf:
        types.vmlinux()
    btf_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    compile_module(load_module(ROOT / "examples" / "lang" / "xdp_count.py"))
    first_ms = (time.perf_counter() - start) * 1000
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; one-time costs: "
          f"vmlinux BTF {btf_ms:.0f} ms, first compile (LLVM start) {first_ms:.0f} ms")
    header = (f"{'tool':<10} {'front':>7} {'LLVM':>7} {'python':>7} {'clang':>7} {'zig':>7} "
              f"{'clang/py':>8} {'zig/py':>7}")
    rows: dict[str, list[str]] = {"wall": [], "cpu": []}
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)
        for name in names:
            module = load_module(ROOT / "examples" / "lang" / f"{name}.py")
            compile_module(module)                      # warm: the module's kernel types
            front, llvm, cpu = [], [], []
            for _ in range(args.runs):
                cpu0 = time.process_time()
                c = compile_module(module)
                cpu.append(time.process_time() - cpu0)
                front.append(c.frontend_seconds)
                llvm.append(c.llvm_seconds)
            py_wall = statistics.median(front) + statistics.median(llvm)
            py_cpu = statistics.median(cpu)
            c_times: list[tuple[float, float] | None] = []
            for compiler in ("clang", "zig"):
                if compiler == "clang" and not shutil.which("clang"):
                    if name == names[0]:
                        print("  (clang: not installed, its columns show '-'; "
                              "apt-get install clang)", file=sys.stderr)
                    cmd = None
                else:
                    cmd = c_command(name, compiler, out)
                c_times.append(time_command(cmd, args.runs) if cmd else None)
            for kind, py, front_llvm in (
                    ("wall", py_wall, [statistics.median(front), statistics.median(llvm)]),
                    ("cpu", py_cpu, [None, None])):
                idx = 0 if kind == "wall" else 1
                cells = [f"{v * 1000:7.1f}" if v is not None else "      -" for v in front_llvm]
                cells.append(f"{py * 1000:7.1f}")
                cells += [f"{t[idx] * 1000:7.1f}" if t else "      -" for t in c_times]
                cells.append(f"{c_times[0][idx] / py:8.1f}" if c_times[0] else "       -")
                cells.append(f"{c_times[1][idx] / py:7.1f}" if c_times[1] else "      -")
                rows[kind].append(f"{name:<10} " + " ".join(cells))
            print(f"  {name} done", file=sys.stderr, flush=True)
    for kind, title in (("wall", "wall time"), ("cpu", "CPU time")):
        print(f"\n{title} (ms, medians of {args.runs})")
        print(header)
        print("\n".join(rows[kind]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
