"""bpftop: what every loaded BPF program costs — runs per second, average
run time and share of CPU — refreshed like top.

The kernel counts programs' runs and run time only while run-time
statistics are enabled (``BPF_ENABLE_STATS``, held by this tool while it
runs); each refresh shows the change since the previous one.

::

    pybpf tools bpftop                 # refresh every second until Ctrl-C
    pybpf tools bpftop -n 3 -i 0.5     # three tables, half a second apart
    pybpf tools bpftop -j -n 1         # JSON lines, one per program
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from . import _runtime as rt

NAME = "bpftop"
DESCRIPTION = ("Show the BPF programs loaded in the kernel with their runs per second, "
               "average run time and CPU share, refreshed every INTERVAL (run-time "
               "statistics are enabled while it runs).")
SORT_KEYS = ("cpu", "events", "avg", "id", "name")


@dataclass(frozen=True)
class ProgramCost:
    """One program's cost over one period."""

    id: int
    type: str
    name: str
    run_cnt: int
    """Runs since statistics were first enabled."""
    run_time_ns: int
    period_runs: int
    period_time_ns: int
    period_s: float

    @property
    def events_per_second(self) -> float:
        """Runs per second over the period."""
        return self.period_runs / self.period_s if self.period_s > 0 else 0.0

    @property
    def avg_ns(self) -> float:
        """Average run time over the period (0 without runs)."""
        return self.period_time_ns / self.period_runs if self.period_runs else 0.0

    @property
    def total_avg_ns(self) -> float:
        """Average run time since statistics were enabled."""
        return self.run_time_ns / self.run_cnt if self.run_cnt else 0.0

    @property
    def cpu_percent(self) -> float:
        """The period's run time as a share of all CPUs' time, in percent."""
        if self.period_s <= 0:
            return 0.0
        return 100.0 * self.period_time_ns / (self.period_s * 1e9 * (os.cpu_count() or 1))

    def as_json(self) -> dict:
        """The row as a JSON object."""
        return {"id": self.id, "type": self.type, "name": self.name,
                "period_avg_ns": round(self.avg_ns, 1), "total_avg_ns": round(
                    self.total_avg_ns, 1), "events_per_second": round(
                    self.events_per_second, 2), "cpu_percent": round(self.cpu_percent, 4),
                "run_cnt": self.run_cnt, "run_time_ns": self.run_time_ns,
                "period_runs": self.period_runs, "period_time_ns": self.period_time_ns}


def snapshot() -> dict[int, tuple[str, str, int, int]]:
    """``{id: (type, name, run_cnt, run_time_ns)}`` for every loaded program."""
    from ..kernel.info import programs

    return {p.id: (p.type, p.name, p.run_cnt, p.run_time_ns) for p in programs()}


def costs(before: dict[int, tuple[str, str, int, int]],
          after: dict[int, tuple[str, str, int, int]], seconds: float) -> list[ProgramCost]:
    """The programs of ``after`` with what they cost since ``before``
    (programs loaded meanwhile count from zero)."""
    rows = []
    for pid, (ptype, name, cnt, ns) in after.items():
        _t, _n, cnt0, ns0 = before.get(pid, (ptype, name, 0, 0))
        rows.append(ProgramCost(pid, ptype, name, cnt, ns, max(cnt - cnt0, 0),
                                max(ns - ns0, 0), seconds))
    return rows


def sort_rows(rows: list[ProgramCost], key: str) -> list[ProgramCost]:
    """``rows`` ordered by ``key`` (one of :data:`SORT_KEYS`), costliest first."""
    order = {"cpu": lambda r: (-r.cpu_percent, -r.events_per_second, r.id),
             "events": lambda r: (-r.events_per_second, r.id),
             "avg": lambda r: (-r.avg_ns, r.id), "id": lambda r: r.id,
             "name": lambda r: (r.name, r.id)}[key]
    return sorted(rows, key=order)


def format_table(rows: list[ProgramCost]) -> str:
    """The rows as columns."""
    lines = [f"{'ID':>7} {'TYPE':<16} {'NAME':<16} {'AVG_NS':>10} {'TOTAL_AVG_NS':>12} "
             f"{'EVENTS/S':>10} {'CPU%':>8}"]
    for r in rows:
        lines.append(f"{r.id:>7} {r.type[:16]:<16} {r.name[:16]:<16} {r.avg_ns:>10.0f} "
                     f"{r.total_avg_ns:>12.0f} {r.events_per_second:>10.1f} "
                     f"{r.cpu_percent:>8.4f}")
    return "\n".join(lines)


def positive(text: str) -> float:
    """An option's value that must be above zero."""
    import argparse

    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text}")
    return value


def build_parser():
    """bpftop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-i", "--interval", type=positive, default=1.0,
                   help="seconds between refreshes (default 1)")
    p.add_argument("-n", "--iterations", type=int,
                   help="print this many tables, then exit (default: until Ctrl-C)")
    p.add_argument("-s", "--sort", choices=SORT_KEYS, default="cpu",
                   help="order rows by CPU share (default), events per second, average "
                        "run time, id or name")
    p.add_argument("-T", "--top", type=int, metavar="ROWS",
                   help="print only the first ROWS programs")
    p.add_argument("-a", "--all", action="store_true",
                   help="list programs that did not run in the period too")
    p.add_argument("--no-clear", action="store_true",
                   help="on a terminal, print each table below the last instead of "
                        "redrawing the screen")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run bpftop with command-line arguments ``argv``."""
    import subprocess

    from ..errors import BPFError
    from ..kernel import sys as ksys
    from ..spec.linux import ENUMS

    args = rt.parse_args(build_parser(), argv)
    redraw = sys.stdout.isatty() and not args.json and not args.no_clear
    stats = ksys.enable_stats(ENUMS["bpf_stats_type"]["BPF_STATS_RUN_TIME"])
    child = None
    try:
        before, taken = snapshot(), time.monotonic()
        rt.attached()
        if args.command:
            try:
                child = subprocess.Popen(args.command)
            except OSError as e:
                raise BPFError(f"cannot run {args.command[0]!r}: {e.strerror or e}") from None
        end = taken + args.duration if args.duration else None
        done = 0
        while args.iterations is None or done < args.iterations:
            wait = args.interval if end is None else min(args.interval, end - time.monotonic())
            if wait > 0:
                time.sleep(wait)
            after, now = snapshot(), time.monotonic()
            rows = costs(before, after, now - taken)
            before, taken = after, now
            if not args.all:
                rows = [r for r in rows if r.period_runs]
            rows = sort_rows(rows, args.sort)[:args.top]
            if args.json:
                stamp = time.time()
                for r in rows:
                    rt.print_json({"time": stamp, **r.as_json()})
            else:
                if redraw:
                    print("\x1b[H\x1b[2J", end="")
                print(time.strftime("%H:%M:%S") + f"  {len(after)} programs loaded")
                print(format_table(rows) + "\n", flush=True)
            done += 1
            if end is not None and now >= end:
                break
            if child is not None and child.poll() is not None:
                break
    finally:
        stats.close()
        if child is not None and child.poll() is None:
            child.terminate()
            child.wait()
    if child is None:
        return 0
    return 128 - child.returncode if child.returncode < 0 else child.returncode


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
