"""softirqs: time spent in soft interrupts, by kind (timer, net_rx, rcu...).

::

    pybpf tools softirqs -d 5          # total time per kind after 5 seconds
    pybpf tools softirqs -C -i 1       # runs per kind, every second
    pybpf tools softirqs -D            # a latency histogram per kind
"""

from __future__ import annotations

import contextlib
import struct
import time

from . import _runtime as rt
from ._hist import format_log2, hist_json

NAME = "softirqs"
DESCRIPTION = "Summarize soft interrupt time (or runs) by kind, as totals or log2 histograms."
SLOTS = 32
_KEY = struct.Struct("<II")

VECTORS = ("hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched",
           "hrtimer", "rcu")
"""Soft interrupt kinds by vector number (include/linux/interrupt.h)."""


def vector_name(vec: int) -> str:
    """``net_rx`` for 3; the number for unknown vectors."""
    return VECTORS[vec] if 0 <= vec < len(VECTORS) else str(vec)


def read_totals(m, *, clear: bool = False) -> dict[tuple[int, int], int]:
    """``{(vector, slot): value}`` from the totals map (emptied with ``clear``)."""
    out: dict[tuple[int, int], int] = {}
    for key, value in m.items():
        vec, slot = _KEY.unpack(bytes(key)[:_KEY.size])
        count = value if isinstance(value, int) else int.from_bytes(bytes(value), "little")
        out[(vec, slot)] = out.get((vec, slot), 0) + count
        if clear:
            with contextlib.suppress(KeyError):  # gone meanwhile
                del m[key]
    return out


def build_parser():
    """softirqs's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-T", "--timestamp", action="store_true", help="print the time with "
                   "each output")
    p.add_argument("-N", "--nanoseconds", action="store_true",
                   help="in nanoseconds (default: microseconds)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-C", "--count", action="store_true",
                      help="count soft interrupt runs instead of timing them")
    mode.add_argument("-D", "--dist", action="store_true",
                      help="a log2 histogram of time per kind")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run softirqs with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    unit = "nsecs" if args.nanoseconds else "usecs"
    variables = {"count_only": 1 if args.count else None,
                 "distribution": 1 if args.dist else None,
                 "nanoseconds": 1 if args.nanoseconds else None}
    with rt.open_tool(NAME, variables=variables) as coll:
        totals = coll.maps["totals"]

        def tick() -> None:
            table = read_totals(totals, clear=bool(args.interval))
            if not args.json and (args.interval or args.timestamp):
                print(time.strftime("%H:%M:%S"))
            if args.dist:
                hists: dict[int, list[int]] = {}
                for (vec, slot), n in table.items():
                    hists.setdefault(vec, [0] * SLOTS)[min(slot, SLOTS - 1)] += n
                for vec, counts in sorted(hists.items()):
                    if args.json:
                        rt.print_json({"time": time.time(),
                                       **hist_json(counts, unit, softirq=vector_name(vec))})
                    else:
                        print(f"softirq = {vector_name(vec)!r}\n" +
                              format_log2(counts, f"@{unit}:"))
                        print(flush=True)
                return
            rows = sorted(((vector_name(v), n) for (v, _), n in table.items()),
                          key=lambda r: -r[1])
            column = "COUNT" if args.count else f"TOTAL_{unit}"
            if args.json:
                for name, n in rows:
                    rt.print_json({"time": time.time(), "softirq": name,
                                   ("count" if args.count else f"total_{unit}"): n})
                return
            print(f"{'SOFTIRQ':<18} {column:>11}")
            for name, n in rows:
                print(f"{name:<18} {n:>11}", flush=True)

        header = "" if args.json else "Tracing soft irq event time... Hit Ctrl-C to end."
        status = rt.run(coll, [], args.duration, every=args.interval, tick=tick,
                        header=header, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
