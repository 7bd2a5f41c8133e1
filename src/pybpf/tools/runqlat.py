"""runqlat: run queue latency — how long runnable tasks wait for a CPU.

::

    pybpf tools runqlat -d 5           # one histogram after 5 seconds
    pybpf tools runqlat -i 1 -m        # every second, in milliseconds
"""

from __future__ import annotations

import time

from ..bindings.runtime import TypedMap
from . import _runtime as rt
from ._hist import HistogramView, add_picture_options, hist_json
from .bindings.runqlat_bpf import Runqlat

NAME = "runqlat"
DESCRIPTION = "Summarize run queue (scheduler) latency as a log2 histogram."
SLOTS = 32


def read_hist(hist: TypedMap[int, int], *, clear: bool = False) -> list[int]:
    """The histogram's slot counts (zeroed afterwards with ``clear``)."""
    counts = [hist[slot] for slot in range(SLOTS)]
    if clear:
        for slot, n in enumerate(counts):
            if n:
                hist[slot] = 0
    return counts


def build_parser():
    """runqlat's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-m", "--milliseconds", action="store_true", help="in milliseconds")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    add_picture_options(p)
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run runqlat with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    unit = "msecs" if args.milliseconds else "usecs"
    view = HistogramView(args, unit)
    skel = Runqlat(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.millis = args.milliseconds
    with rt.open_tool(skel):
        hist = skel.maps.hist

        def tick() -> None:
            counts = read_hist(hist, clear=bool(args.interval))
            if args.json:
                rt.print_json({"time": time.time(), **hist_json(counts, unit)})
                return
            if view.heatmap:
                print(view.render(counts, when=time.strftime("%H:%M:%S")), flush=True)
                return
            if args.interval:
                print(time.strftime("%H:%M:%S"))
            print(view.render(counts), flush=True)
            print()

        status = rt.run(skel, [], args.duration, every=args.interval, tick=tick,
                        header="" if args.json else
                        "Tracing run queue latency... Ctrl-C to end.",
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
