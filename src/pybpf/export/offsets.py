"""Counters that never go backwards across a configuration reload.

When a reload replaces the map a counter metric reads (its object was
loaded again, with new variables or a new file), the new map counts from
zero.  :class:`CounterOffsets` remembers the last value served for each
series (family, sample name and labels) and, for the metrics a reload
rebased, adds that value to every later reading of the series::

    offsets = CounterOffsets()
    offsets.apply(family)            # at each scrape: values served, remembered
    offsets.rebase({"packets_total"})  # its map was replaced: last values become offsets

Counters and histograms (buckets, ``_sum`` and ``_count`` are counters too)
are offset; gauges pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from .textformat import MetricFamily, Sample

CUMULATIVE_TYPES = frozenset({"counter", "histogram"})
"""Family types whose samples only grow (and so get offsets)."""

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]
"""A series: its family's name, the sample's name and its labels."""


class CounterOffsets:
    """Per series: the last value served and the offset added to readings."""

    def __init__(self) -> None:
        self.last: dict[SeriesKey, float] = {}
        self.offset: dict[SeriesKey, float] = {}

    def apply(self, family: MetricFamily) -> MetricFamily:
        """Add each series' offset to ``family``'s samples (in place, for
        counters and histograms) and remember the values served."""
        if family.type not in CUMULATIVE_TYPES:
            return family
        out = []
        offset, last = self.offset, self.last
        for sample in family.samples:
            key = (family.name, sample.name, sample.labels)
            extra = offset.get(key)
            value = sample.value if extra is None else sample.value + extra
            last[key] = value
            out.append(sample if extra is None else Sample(sample.name, sample.labels, value))
        family.samples = out
        return family

    def rebase(self, families: Iterable[str]) -> None:
        """The maps of ``families`` start again from zero: each of their
        series' last value served becomes its offset."""
        names = set(families)
        for key, value in self.last.items():
            if key[0] in names:
                self.offset[key] = value

    def keep_only(self, families: Iterable[str]) -> None:
        """Forget the series of every family not in ``families``."""
        names = set(families)
        self.last = {k: v for k, v in self.last.items() if k[0] in names}
        self.offset = {k: v for k, v in self.offset.items() if k[0] in names}


__all__ = ["CUMULATIVE_TYPES", "CounterOffsets", "SeriesKey"]
