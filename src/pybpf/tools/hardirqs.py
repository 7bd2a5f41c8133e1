"""hardirqs: time spent in hard interrupt handlers, by handler name.

::

    pybpf tools hardirqs -d 5          # total time per handler after 5 seconds
    pybpf tools hardirqs -C -i 1       # runs per handler, every second
    pybpf tools hardirqs -D            # a latency histogram per handler
"""

from __future__ import annotations

import contextlib
import struct
import time

from . import _runtime as rt
from ._hist import format_log2, hist_json

NAME = "hardirqs"
DESCRIPTION = "Summarize hard interrupt handler time (or runs) by handler name, as totals " \
              "or log2 histograms."
SLOTS = 32
IRQ_NAME_LEN = 32
_KEY = struct.Struct(f"<{IRQ_NAME_LEN}sI")


def read_totals(m, *, clear: bool = False) -> dict[tuple[str, int], int]:
    """``{(name, slot): value}`` from the totals map (emptied with ``clear``)."""
    out: dict[tuple[str, int], int] = {}
    for key, value in m.items():
        raw, slot = _KEY.unpack(bytes(key)[:_KEY.size])
        name = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        count = value if isinstance(value, int) else int.from_bytes(bytes(value), "little")
        out[(name, slot)] = out.get((name, slot), 0) + count
        if clear:
            with contextlib.suppress(KeyError):  # gone meanwhile
                del m[key]
    return out


def build_parser():
    """hardirqs's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-T", "--timestamp", action="store_true", help="print the time with "
                   "each output")
    p.add_argument("-N", "--nanoseconds", action="store_true",
                   help="in nanoseconds (default: microseconds)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-C", "--count", action="store_true",
                      help="count handler runs instead of timing them")
    mode.add_argument("-D", "--dist", action="store_true",
                      help="a log2 histogram of handler time per name")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run hardirqs with command-line arguments ``argv``."""
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
                hists: dict[str, list[int]] = {}
                for (name, slot), n in table.items():
                    hists.setdefault(name, [0] * SLOTS)[min(slot, SLOTS - 1)] += n
                for name, counts in sorted(hists.items()):
                    if args.json:
                        rt.print_json({"time": time.time(),
                                       **hist_json(counts, unit, hardirq=name)})
                    else:
                        print(f"hardirq = {name!r}\n" + format_log2(counts, f"@{unit}:"))
                        print(flush=True)
                return
            rows = sorted(((name, n) for (name, _), n in table.items()), key=lambda r: -r[1])
            column = "COUNT" if args.count else f"TOTAL_{unit}"
            if args.json:
                for name, n in rows:
                    rt.print_json({"time": time.time(), "hardirq": name,
                                   ("count" if args.count else f"total_{unit}"): n})
                return
            print(f"{'HARDIRQ':<26} {column:>11}")
            for name, n in rows:
                print(f"{name:<26} {n:>11}", flush=True)

        header = "" if args.json else "Tracing hard irq event time... Hit Ctrl-C to end."
        status = rt.run(coll, [], args.duration, every=args.interval, tick=tick,
                        header=header, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
