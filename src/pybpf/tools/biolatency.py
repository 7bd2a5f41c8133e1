"""biolatency: block device I/O latency as log2 histograms.

::

    pybpf tools biolatency -d 10       # one histogram after 10 seconds
    pybpf tools biolatency -D -i 1     # per disk, every second
    pybpf tools biolatency -Q -m       # from the OS queue, in milliseconds
"""

from __future__ import annotations

import argparse
import contextlib
import time

from ..bindings.runtime import TypedMap
from . import _runtime as rt
from ._block import disk_dev, disk_name, op_name
from ._hist import HistogramView, add_picture_options, format_log2, hist_json
from .bindings.biolatency_bpf import Biolatency, HistKey

NAME = "biolatency"
DESCRIPTION = "Summarize block device I/O latency as log2 histograms (overall, per disk " \
              "or per operation)."
SLOTS = 32


def read_hists(hist: TypedMap[HistKey, int], *, clear: bool = False
               ) -> dict[tuple[int, int], list[int]]:
    """``{(dev, op): slot counts}`` from the histogram map (``dev`` and
    ``op`` are 0 unless counted per disk/operation); emptied with ``clear``."""
    out: dict[tuple[int, int], list[int]] = {}
    for key, count in hist.items():
        out.setdefault((key.dev, key.op), [0] * SLOTS)[min(key.slot, SLOTS - 1)] += count
        if clear:
            with contextlib.suppress(KeyError):  # gone meanwhile
                del hist[key]
    return out


def parse_disk(text: str) -> int:
    """A ``-d``-style disk option: the disk's ``dev_t``."""
    try:
        return disk_dev(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser():
    """biolatency's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-T", "--timestamp", action="store_true", help="print the time with each "
                   "output")
    p.add_argument("-Q", "--queued", action="store_true",
                   help="include the time queued in the OS (from block_rq_insert)")
    p.add_argument("-m", "--milliseconds", action="store_true", help="in milliseconds")
    p.add_argument("-D", "--disks", action="store_true", help="one histogram per disk")
    p.add_argument("-F", "--flags", action="store_true",
                   help="one histogram per operation (Read, Write, Flush...)")
    p.add_argument("--disk", type=parse_disk, metavar="DISK",
                   help="only this disk (vda, /dev/sda)")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    add_picture_options(p)
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run biolatency with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    unit = "msecs" if args.milliseconds else "usecs"
    view = HistogramView(args, unit)
    skel = Biolatency(rt.object_path(NAME))
    skel.rodata.per_disk = args.disks
    skel.rodata.per_op = args.flags
    skel.rodata.millis = args.milliseconds
    skel.rodata.queued = args.queued
    skel.rodata.target_dev = args.disk or 0
    with rt.open_tool(skel):
        hist = skel.maps.hist

        def tick() -> None:
            hists = read_hists(hist, clear=bool(args.interval))
            now = time.strftime("%H:%M:%S")
            if view.heatmap and not args.json:
                for (dev, op), counts in sorted(hists.items()) or [((0, 0), [0] * SLOTS)]:
                    who = " ".join(([disk_name(dev)] if args.disks else [])
                                   + ([op_name(op)] if args.flags else []))
                    print(view.render(counts, when=f"{now} {who}".rstrip()), flush=True)
                return
            if not args.json and (args.interval or args.timestamp):
                print(now)
            if not hists and not args.json:
                print(format_log2([0] * SLOTS, f"@{unit}:"))
            for (dev, op), counts in sorted(hists.items()):
                labels = {}
                if args.disks:
                    labels["disk"] = disk_name(dev)
                if args.flags:
                    labels["op"] = op_name(op)
                if args.json:
                    rt.print_json({"time": time.time(), **hist_json(counts, unit, **labels)})
                    continue
                title = "".join(f"{k} = {v!r}\n" for k, v in labels.items())
                print(view.render(counts, title))
                print(flush=True)

        header = "" if args.json else "Tracing block device I/O... Hit Ctrl-C to end."
        status = rt.run(skel, [], args.duration, every=args.interval, tick=tick,
                        optional=("on_insert",), header=header, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
