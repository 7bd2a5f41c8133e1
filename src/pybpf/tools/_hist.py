"""Log2 histograms printed the way bpftrace's ``hist()`` prints them, and
the pictures the histogram tools draw instead with ``--bars`` and
``--heatmap`` (:mod:`pybpf.pictures`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from ..bindings.runtime import TypedMap
from ..pictures import HeatmapRows, Style, log2_axis_labels, log2_bars, log2_label

WIDTH = 52

bucket_label = log2_label
"""The range slot ``slot`` counts: ``[0]``, ``[1]``, ``[2, 4)``, ``[1K, 2K)``..."""


def format_log2(counts: Sequence[int], title: str = "") -> str:
    """Slot counts (slot 0 counts zeros, slot i values in [2^(i-1), 2^i)) as
    lines of ``[lo, hi)  count |@@@@   |``, from the first to the last
    non-empty slot."""
    used = [i for i, c in enumerate(counts) if c]
    lines = [title] if title else []
    if not used:
        return "\n".join([*lines, "(no samples)"])
    top = max(counts)
    for slot in range(used[0], used[-1] + 1):
        c = counts[slot]
        bar = "@" * (c * WIDTH // top if top else 0)
        lines.append(f"{bucket_label(slot):<16}{c:>8} |{bar:<{WIDTH}}|")
    return "\n".join(lines)


def hist_json(counts: list[int], unit: str, **labels) -> dict:
    """One histogram as a JSON object: its labels and non-empty buckets."""
    buckets = [{"bucket": bucket_label(i), "low": 0 if i == 0 else 1 << (i - 1),
                "high": 1 if i == 0 else (1 << i), "count": c} for i, c in enumerate(counts) if c]
    return {**labels, "unit": unit, "buckets": buckets}


def add_picture_options(p: argparse.ArgumentParser) -> None:
    """Give a histogram tool ``--bars`` and ``--heatmap`` (bcc's ``@`` bars
    stay the default: scripts parse them)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--bars", action="store_true",
                   help="draw histograms with Unicode block bars (eighths of a cell; colour "
                        "on a terminal unless NO_COLOR is set; ASCII where the terminal "
                        "cannot show them)")
    g.add_argument("--heatmap", action="store_true",
                   help="draw a heatmap: one row per interval (time down, buckets across, "
                        "shaded by count); implies -i 1 unless -i is given")


class HistogramView:
    """How a histogram tool prints its histograms: bcc's ``@`` bars,
    ``--bars`` or ``--heatmap`` rows, for the stream it writes to."""

    def __init__(self, args: argparse.Namespace, unit: str, stream: TextIO | None = None):
        self.mode = "heatmap" if getattr(args, "heatmap", False) else \
            "bars" if getattr(args, "bars", False) else "text"
        if self.mode == "heatmap" and not getattr(args, "interval", None):
            args.interval = 1.0
        self.unit = unit
        self.style = Style.for_stream(stream if stream is not None else sys.stdout)
        self.rows: HeatmapRows | None = None

    @property
    def heatmap(self) -> bool:
        """Whether each interval is one heatmap row (the tool then prints no
        time line or blank line of its own)."""
        return self.mode == "heatmap"

    def render(self, counts: Sequence[int], title: str = "", when: str = "") -> str:
        """One histogram as the options ask: ``title`` over it (bcc's
        ``@usecs:``-style name goes first), or, for a heatmap, one row
        labelled ``when`` (the time, and which histogram when there are several)."""
        if self.mode == "heatmap":
            if self.rows is None:
                self.rows = HeatmapRows(log2_axis_labels(max(len(counts), 1)), unit=self.unit,
                                        style=self.style)
            return self.rows.row(when, counts)
        name = f"@{self.unit}:"
        if self.mode == "bars":
            return log2_bars(counts, title + name, style=self.style)
        return title + format_log2(counts, name)


def read_u64_array(counters: TypedMap[int, int], count: int, *, clear: bool = False
                   ) -> list[int]:
    """The first ``count`` values of an array map of 64-bit counters
    (zeroed afterwards with ``clear``)."""
    out = [counters[i] for i in range(count)]
    if clear:
        for i, n in enumerate(out):
            if n:
                counters[i] = 0
    return out
