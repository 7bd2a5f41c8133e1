"""Start-up: from launching ``exitsnoop`` to its program being attached.

Two figures, each next to libbpf (C) doing the same where libbpf is
installed:

* **whole process** — wall time from spawning the tool to the line it
  prints once attached (``PYBPF_TOOL_ATTACHED_MARK``), warm caches (the
  shipped object's prepared form cached; bytecode of pybpf compiled as an
  installed package has it), and the CPU time (user + system) the process
  used, which other work on the same CPUs disturbs less than wall time.
  Target: 150 ms.
* **in process** — loading the exitsnoop object and attaching it inside a
  running Python process: from the prepared cache, from a parsed
  ObjectSpec (CO-RE against the kernel's BTF once per process), and the
  first load of a process (parsing vmlinux BTF included).  Target: 10 ms.
  libbpf's figure includes its own parse of vmlinux BTF for CO-RE, which
  it does for every object.

The load average is printed with the figures.  Detaching is left out of
every figure (closing a tracepoint attachment waits for an RCU grace
period in the kernel).

    PYTHONPATH=src python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HERE, print_table

SRC = HERE.parent / "src"
MARK = "PYBPF-ATTACHED"

LIBBPF_REF = r"""
#include <bpf/libbpf.h>
#include <stdio.h>
#include <time.h>

static double ms(struct timespec a, struct timespec b)
{
	return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_link *link;

	libbpf_set_print(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj))
		return 1;
	prog = bpf_object__find_program_by_name(obj, argv[2]);
	link = prog ? bpf_program__attach(prog) : NULL;
	if (!link)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "PYBPF-ATTACHED\n");
	printf("%.3f\n", ms(t0, t1));
	fflush(stdout);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
"""


def time_to_mark(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawning ``cmd`` to the attach mark on its stderr, and
    its stdout."""
    wall, _cpu, out = run_to_mark(cmd, env)
    return wall, out


def run_to_mark(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds from spawning ``cmd`` to the attach mark on its stderr, the
    CPU seconds (user + system) the whole process used, and its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    for line in proc.stderr:
        if MARK in line:
            elapsed = time.perf_counter() - t0
            break
    else:
        out, err = proc.communicate()
        raise SystemExit(f"{cmd[0]} did not attach:\n{err}")
    out = proc.stdout.read()
    proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    proc.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime, out


def run_cpu(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def build_libbpf_ref() -> Path | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or not Path("/usr/include/bpf/libbpf.h").exists():
        return None
    d = Path(tempfile.mkdtemp(prefix="pybpf-bench-"))
    (d / "ref.c").write_text(LIBBPF_REF)
    try:
        subprocess.run([cc, "-O2", "-o", str(d / "ref"), str(d / "ref.c"), "-lbpf"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return None
    return d / "ref"


def stats(values: list[float]) -> tuple[str, str]:
    return f"{statistics.median(values) * 1e3:.1f}", f"{min(values) * 1e3:.1f}"


def cpu_median(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:.1f}"


def ratio(value: float, reference: float) -> str:
    r = value / reference
    return f"{r:.1f}x libbpf" if r >= 0.95 else f"1/{1 / r:.0f} of libbpf"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()

    from pybpf.kernel import unavailable_reason

    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"bpf() refused: {reason}")
    from pybpf.tools._runtime import object_path

    obj = object_path("exitsnoop")  # compiled once (cached)
    compileall.compile_dir(str(SRC / "pybpf"), quiet=1)  # as an installed package has it
    env = dict(os.environ, PYTHONPATH=str(SRC), PYBPF_TOOL_ATTACHED_MARK=MARK)
    py = sys.executable

    # warm every cache (prepared object, page cache)
    time_to_mark([py, "-m", "pybpf.tools.exitsnoop"], dict(env, PYBPF_TOOL_EXIT_AFTER_ATTACH="1"))

    rows = []
    floor = [run_cpu([py, "-c", "pass"], env) for _ in range(args.runs)]
    rows.append(["python -c pass (interpreter floor)", *stats([w for w, _ in floor]),
                 cpu_median([c for _, c in floor]), "", ""])

    exit_env = dict(env, PYBPF_TOOL_EXIT_AFTER_ATTACH="1")
    whole = [run_to_mark([py, "-m", "pybpf.tools.exitsnoop"], exit_env)
             for _ in range(args.runs)]
    rows.append(["python -m pybpf.tools.exitsnoop", *stats([w for w, _, _ in whole]),
                 cpu_median([c for _, c, _ in whole]), "150", ""])
    cli_ok = subprocess.run([py, "-m", "pybpf", "tools", "--help"], env=env,
                            capture_output=True).returncode == 0
    if cli_ok:
        via_cli = [run_to_mark([py, "-m", "pybpf", "tools", "exitsnoop"], exit_env)
                   for _ in range(args.runs)]
        rows.append(["python -m pybpf tools exitsnoop", *stats([w for w, _, _ in via_cli]),
                     cpu_median([c for _, c, _ in via_cli]), "150", ""])
    ref = build_libbpf_ref()
    ref_whole, ref_cpu, ref_inproc = [], [], []
    if ref is not None:
        for _ in range(args.runs):
            t, cpu, out = run_to_mark([str(ref), str(obj), "handle_exit"], env)
            ref_whole.append(t)
            ref_cpu.append(cpu)
            ref_inproc.append(float(out.split()[0]) / 1e3)
        rows.append(["libbpf (C): open+load+attach process", *stats(ref_whole),
                     cpu_median(ref_cpu), "", ""])
        rows[1][5] = ratio(statistics.median(w for w, _, _ in whole),
                           statistics.median(ref_whole))

    # in process
    code = f"""
import sys, time, statistics
sys.path.insert(0, {str(SRC)!r})
t0 = time.perf_counter()
import pybpf
from pybpf.kernel.load_cache import load_cached
from pybpf import kernel
obj = {str(obj)!r}
first_import = time.perf_counter() - t0
t0 = time.perf_counter()
spec = pybpf.load_object(obj)
coll = kernel.load(spec)
coll.programs["handle_exit"].attach()
first = time.perf_counter() - t0
coll.close()
cached, from_spec = [], []
for _ in range({args.runs}):
    t0 = time.perf_counter()
    c = load_cached(obj, pybpf.load_object)
    c.programs["handle_exit"].attach()
    cached.append(time.perf_counter() - t0)
    c.close()
    t0 = time.perf_counter()
    c = kernel.load(spec)
    c.programs["handle_exit"].attach()
    from_spec.append(time.perf_counter() - t0)
    c.close()
print(first_import, first, " ".join(map(str, cached)), " ".join(map(str, from_spec)))
"""
    out = subprocess.run([py, "-c", code], env=env, capture_output=True, text=True, check=True)
    parts = out.stdout.split()
    n = args.runs
    first_import = float(parts[0])
    first = float(parts[1])
    cached = [float(x) for x in parts[2:2 + n]]
    from_spec = [float(x) for x in parts[2 + n:2 + 2 * n]]
    ref_med = statistics.median(ref_inproc) if ref_inproc else None

    def vs_ref(values: list[float]) -> str:
        return ratio(statistics.median(values), ref_med) if ref_med else ""

    rows.append(["in process: load_cached + attach", *stats(cached), "", "10", vs_ref(cached)])
    rows.append(["in process: kernel.load(spec) + attach", *stats(from_spec), "", "10",
                 vs_ref(from_spec)])
    rows.append(["in process: first load (parse + CO-RE) + attach",
                 f"{first * 1e3:.1f}", f"{first * 1e3:.1f}", "", "", vs_ref([first])])
    rows.append(["in process: import pybpf, kernel, load_cache", f"{first_import * 1e3:.1f}",
                 f"{first_import * 1e3:.1f}", "", "", ""])
    if ref_inproc:
        rows.append(["libbpf (C): open+load+attach in process", *stats(ref_inproc), "", "",
                     ""])
    load = os.getloadavg()
    print(f"exitsnoop start-up, {args.runs} runs, milliseconds (kernel {os.uname().release}; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print_table(["what", "median", "min", "cpu", "target", "ratio"], rows)
    print("median/min: wall time to attached; cpu: median CPU time (user + system) of the "
          "whole process, steadier than wall time when other work shares the CPUs")


if __name__ == "__main__":
    main()
