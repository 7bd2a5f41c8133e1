"""What hardirqs and softirqs share: their options, reading the totals map
(keyed by interrupt and histogram slot) and printing totals or log2
histograms, as text or JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from ..bindings.runtime import TypedMap
from ..errors import BPFError
from . import _runtime as rt
from ._hist import HistogramView, add_picture_options, hist_json
from .bindings.hardirqs_bpf import Hardirqs
from .bindings.softirqs_bpf import Softirqs

SLOTS = 32
"""Slots of a log2 histogram."""

KeyLabel = Callable[[Any], tuple[str, int]]
"""A totals-map key -> (the interrupt's label, histogram slot)."""


def read_totals(totals: TypedMap[Any, int], label_key: KeyLabel, *, clear: bool = False
                ) -> dict[tuple[str, int], int]:
    """``{(label, slot): value}`` from the totals map (emptied with ``clear``)."""
    out: dict[tuple[str, int], int] = {}
    for key, count in totals.items():
        label, slot = label_key(key)
        out[(label, slot)] = out.get((label, slot), 0) + count
        if clear:
            with contextlib.suppress(KeyError):  # gone meanwhile
                del totals[key]
    return out


def build_parser(name: str, description: str, *, count_help: str,
                 dist_help: str) -> argparse.ArgumentParser:
    """The options both tools have."""
    p = rt.parser(name, description)
    p.add_argument("-T", "--timestamp", action="store_true", help="print the time with "
                   "each output")
    p.add_argument("-N", "--nanoseconds", action="store_true",
                   help="in nanoseconds (default: microseconds)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-C", "--count", action="store_true", help=count_help)
    mode.add_argument("-D", "--dist", action="store_true", help=dist_help)
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    add_picture_options(p)
    rt.add_json_option(p)
    return p


def run(skel: Hardirqs | Softirqs, args: argparse.Namespace, label_key: KeyLabel, *,
        kind: str, width: int, header: str, order: Callable[[str], Any] | None = None) -> int:
    """Load tool ``skel`` (bindings, not loaded yet), run it, and print its
    totals map every interval and at the end; ``label_key`` labels its keys;
    ``kind`` (``hardirq``/``softirq``) names the label column
    and JSON field, ``width`` the label column's width, ``order`` sorts the
    histograms (by label without it)."""
    unit = "nsecs" if args.nanoseconds else "usecs"
    if args.bars or args.heatmap:  # pictures of histograms: -D's histograms
        if args.count:
            raise BPFError(f"{kind}s: --bars and --heatmap draw histograms; -C counts runs")
        args.dist = True
    view = HistogramView(args, unit)
    skel.rodata.count_only = args.count
    skel.rodata.distribution = args.dist
    skel.rodata.nanoseconds = args.nanoseconds
    with rt.open_tool(skel):
        totals = skel.maps.totals

        def tick() -> None:
            table = read_totals(totals, label_key, clear=bool(args.interval))
            if not args.json and not view.heatmap and (args.interval or args.timestamp):
                print(time.strftime("%H:%M:%S"))
            if args.dist:
                hists: dict[str, list[int]] = {}
                for (label, slot), n in table.items():
                    hists.setdefault(label, [0] * SLOTS)[min(slot, SLOTS - 1)] += n
                for label, counts in sorted(hists.items(), key=lambda h: (order or str)(h[0])):
                    if args.json:
                        rt.print_json({"time": time.time(),
                                       **hist_json(counts, unit, **{kind: label})})
                    elif view.heatmap:
                        print(view.render(counts, when=f"{time.strftime('%H:%M:%S')} {label}"),
                              flush=True)
                    else:
                        print(view.render(counts, f"{kind} = {label!r}\n"))
                        print(flush=True)
                return
            rows = sorted(((label, n) for (label, _), n in table.items()), key=lambda r: -r[1])
            column = "COUNT" if args.count else f"TOTAL_{unit}"
            if args.json:
                for label, n in rows:
                    rt.print_json({"time": time.time(), kind: label,
                                   ("count" if args.count else f"total_{unit}"): n})
                return
            print(f"{kind.upper():<{width}} {column:>11}")
            for label, n in rows:
                print(f"{label:<{width}} {n:>11}", flush=True)

        return rt.run(skel, [], args.duration, every=args.interval, tick=tick,
                      header="" if args.json else header, command=args.command)
