#!/usr/bin/env python3
"""Start-up to attached: ``pybpf trace`` beside ``bpftrace`` in the same run.

    PYTHONPATH=src python benchmarks/bench_trace.py [--runs 7]

Each tool is started (a fresh process each time) on a one-liner whose probe
fires as soon as it is attached: this process calls ``getppid()`` every
half millisecond, and the program prints one line on the first call it sees
and exits::

    tracepoint:syscalls:sys_enter_getppid /pid == PID/ { printf("attached\\n"); exit(); }

The time from starting the tool to reading that line is start-up to
attached (plus at most half a millisecond).  pybpf runs from a warm cache:
its bytecode is compiled first (``compileall``: this environment may set
PYTHONDONTWRITEBYTECODE) and one run before the measured ones fills its
start-up cache (the object prepared for this kernel is read back: no
parsing, no LLVM, no ELF or BTF); bpftrace has no such cache.  pybpf
cold is each run with an empty cache directory (``XDG_CACHE_HOME`` a new
temporary directory: parsed, analysed, compiled with LLVM, linked against
the kernel's BTF).  Medians of wall
time and of CPU time (user + system of the tool's process, steadier than
wall time on a loaded machine), and their ratio; the machine's load is
printed with the figures.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
TARGET_MS = 150.0


def program() -> str:
    return (f"tracepoint:syscalls:sys_enter_getppid /pid == {os.getpid()}/ "
            '{ printf("attached\\n"); exit(); }')


class Poke:
    """A thread calling getppid() every half millisecond while running."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.stop.is_set():
            os.getppid()
            time.sleep(0.0005)

    def __enter__(self) -> Poke:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def one_run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the 'attached' line, CPU seconds of the tool's process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    assert proc.stdout is not None
    seen = None
    for line in proc.stdout:
        if line.strip() == "attached":
            seen = time.perf_counter() - start
            break
    proc.stdout.read()
    proc.wait(60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if seen is None:
        raise SystemExit(f"{cmd[0]}: no 'attached' line (exit status {proc.returncode})")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seen, cpu


def measure(cmd: list[str], runs: int, env: dict[str, str],
            cold: bool = False) -> tuple[float, float]:
    """Medians of (wall, CPU); ``cold``: each run with an empty cache directory."""
    if not cold:
        one_run(cmd, env)                  # warm: page cache, pybpf's start-up cache
    walls, cpus = [], []
    for _ in range(runs):
        if cold:
            with tempfile.TemporaryDirectory(prefix="bench-trace-cold-") as cache:
                w, c = one_run(cmd, dict(env, XDG_CACHE_HOME=cache))
        else:
            w, c = one_run(cmd, env)
        walls.append(w)
        cpus.append(c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cold-runs", type=int, default=3,
                    help="runs of pybpf with an empty cache (0: none)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(SRC))
    compileall.compile_dir(str(SRC / "pybpf"), quiet=1)   # warm: bytecode written once
    prog = program()
    ours = [sys.executable, "-m", "pybpf", "trace", "-e", prog]
    bpftrace = shutil.which("bpftrace")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"{args.runs} runs each, medians")
    print(f"program: {prog}")
    with Poke():
        rows = [("pybpf trace (warm cache)", *measure(ours, args.runs, env))]
        cold = ("pybpf trace (cold cache)", *measure(ours, args.cold_runs, env, cold=True)) \
            if args.cold_runs else None
        if bpftrace:
            rows.append(("bpftrace " + subprocess.run([bpftrace, "--version"],
                                                      capture_output=True, text=True)
                         .stdout.strip().removeprefix("bpftrace "),
                         *measure([bpftrace, "-e", prog], args.runs, env)))
    print(f"{'tool':28} {'to attached (wall)':>20} {'CPU time':>12}")
    for name, wall, cpu in rows + ([cold] if cold else []):
        print(f"{name:28} {wall * 1000:>17.1f} ms {cpu * 1000:>9.1f} ms")
    if len(rows) == 2:
        print(f"ratio pybpf / bpftrace: wall {rows[0][1] / rows[1][1]:.2f}, "
              f"CPU {rows[0][2] / rows[1][2]:.2f}")
    else:
        print("bpftrace is not installed: no ratio (apt-get install bpftrace)")
    verdict = "meets" if rows[0][1] * 1000 <= TARGET_MS else "misses"
    print(f"pybpf {verdict} the {TARGET_MS:.0f} ms target (wall, this load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
