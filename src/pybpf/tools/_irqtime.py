"""What hardirqs and softirqs share: their options, reading the totals map
(keyed by interrupt and histogram slot) and printing totals or log2
histograms, as text or JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from ..errors import BPFError
from . import _runtime as rt
from ._hist import HistogramView, add_picture_options, hist_json

SLOTS = 32
"""Slots of a log2 histogram."""

KeyDecoder = Callable[[bytes], tuple[str, int]]
"""A totals-map key's bytes -> (the interrupt's label, histogram slot)."""


def read_totals(m: Any, decode_key: KeyDecoder, *, clear: bool = False
                ) -> dict[tuple[str, int], int]:
    """``{(label, slot): value}`` from the totals map (emptied with ``clear``)."""
    out: dict[tuple[str, int], int] = {}
    for key, value in m.items():
        label, slot = decode_key(bytes(key))
        count = value if isinstance(value, int) else int.from_bytes(bytes(value), "little")
        out[(label, slot)] = out.get((label, slot), 0) + count
        if clear:
            with contextlib.suppress(KeyError):  # gone meanwhile
                del m[key]
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


def run(name: str, args: argparse.Namespace, decode_key: KeyDecoder, *, kind: str,
        width: int, header: str, order: Callable[[str], Any] | None = None) -> int:
    """Load tool ``name``, run it, and print its totals map every interval and
    at the end; ``kind`` (``hardirq``/``softirq``) names the label column
    and JSON field, ``width`` the label column's width, ``order`` sorts the
    histograms (by label without it)."""
    unit = "nsecs" if args.nanoseconds else "usecs"
    if args.bars or args.heatmap:  # pictures of histograms: -D's histograms
        if args.count:
            raise BPFError(f"{name}: --bars and --heatmap draw histograms; -C counts runs")
        args.dist = True
    view = HistogramView(args, unit)
    variables = {"count_only": 1 if args.count else None,
                 "distribution": 1 if args.dist else None,
                 "nanoseconds": 1 if args.nanoseconds else None}
    with rt.load_tool(name, variables=variables) as coll:
        totals = coll.maps["totals"]

        def tick() -> None:
            table = read_totals(totals, decode_key, clear=bool(args.interval))
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

        return rt.run(coll, [], args.duration, every=args.interval, tick=tick,
                      header="" if args.json else header, command=args.command)
