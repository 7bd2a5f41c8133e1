"""Metrics from maps: counters, gauges and histograms read at each scrape.

A :class:`MetricSpec` says which map a metric reads and how: the value
field (``value``, a numeric field of the value struct; per-CPU values are
summed over the CPUs), the labels (key fields, each through a decoder of
:mod:`pybpf.export.decoders`; by default every key field, named after it)
and for histograms the buckets (``bucket_type`` ``log2`` or ``linear``,
the key field holding the bucket index — or a value field that is an array
of per-bucket counts — and a multiplier that turns a bucket bound into the
metric's unit).  :class:`MapMetric` is a spec bound to a map
(:class:`MapHandle`): it checks the spec against the map's BTF once, then
turns the map into a :class:`~pybpf.export.textformat.MetricFamily` at
every scrape.

Reads are bounded: :func:`read_entries` stops after ``limit`` elements (in
batches where the map type has them, else a key walk) and says whether it
stopped early, so a huge map never fills memory; the exporter reports that
in ``pybpf_exporter_map_entries_truncated``.

Keys that map to the same labels (a label set that leaves key fields out)
add up.  Histogram buckets are cumulative, as Prometheus wants them
(``le`` is the upper bound of the bucket times ``bucket_multiplier``;
log2 bucket ``i`` counts values in ``[2^(i-1), 2^i)``, linear bucket
``i`` values in ``[i, i+1)``); ``_count`` is every count, and ``_sum`` is
estimated from each bucket's lower bound (a map of counts has no sum).
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import BPFError, MapError
from ..spec.defines import ENOTSUPP
from .decoders import DECODERS, default_text
from .fields import Field, fields_of, find_field
from .textformat import MetricFamily, format_value, is_label_name, is_metric_name

BUCKET_TYPES = ("log2", "linear")
"""How a histogram's bucket index becomes its bounds."""
METRIC_KINDS = ("counter", "gauge", "histogram")
"""The kinds of metric a map can give."""
BATCH_COUNT = 256
"""Elements asked for per batch step."""


class MetricConfigError(BPFError):
    """A metric the configuration describes cannot be made from its map."""


@dataclass
class LabelSpec:
    """One label: its ``name``, the key ``field`` it comes from (``""``:
    the whole key), an optional ``decoder`` (a name in
    :data:`~pybpf.export.decoders.DECODERS`) and ``values``, a table from
    the decoded text to the text to show (texts not in it stay as they are)."""

    name: str
    field: str = ""
    decoder: str | None = None
    values: dict[str, str] | None = None


@dataclass
class MetricSpec:
    """What one metric is: ``name``, ``kind`` (counter, gauge,
    histogram), ``help`` and how its map becomes samples (see the module
    docstring).  ``labels`` None: one label per key field (histograms:
    except the bucket field), named after the field (``key`` for a key that
    is not a struct).  ``scale`` multiplies counter and gauge values
    (``1e-9``: nanoseconds as seconds)."""

    name: str
    kind: str
    help: str = ""
    value: str = ""
    labels: list[LabelSpec] | None = None
    bucket_type: str = "log2"
    bucket_field: str = ""
    bucket_multiplier: float = 1.0
    bucket_max: int | None = None
    scale: float = 1.0

    def check(self) -> None:
        """Raise :class:`MetricConfigError` for a spec no map could satisfy."""
        where = f"metric {self.name!r}"
        if not is_metric_name(self.name):
            raise MetricConfigError(f"{where}: not a valid Prometheus metric name "
                                    f"(letters, digits, '_' and ':', not starting with a digit)")
        if self.kind not in METRIC_KINDS:
            raise MetricConfigError(f"{where}: kind {self.kind!r} is not one of "
                                    f"{', '.join(METRIC_KINDS)}")
        if self.kind == "histogram" and self.bucket_type not in BUCKET_TYPES:
            raise MetricConfigError(f"{where}: bucket_type {self.bucket_type!r} is not one of "
                                    f"{', '.join(BUCKET_TYPES)}")
        if self.bucket_max is not None and not 0 <= self.bucket_max <= 1024:
            raise MetricConfigError(f"{where}: bucket_max must be between 0 and 1024")
        seen: set[str] = set()
        for label in self.labels or ():
            if not is_label_name(label.name) or label.name == "le":
                raise MetricConfigError(f"{where}: {label.name!r} is not a usable label name")
            if label.name in seen:
                raise MetricConfigError(f"{where}: label {label.name!r} given twice")
            seen.add(label.name)
            if label.decoder is not None and label.decoder not in DECODERS:
                raise MetricConfigError(f"{where}: label {label.name!r}: unknown decoder "
                                        f"{label.decoder!r} (decoders: "
                                        f"{', '.join(sorted(DECODERS))})")


@dataclass
class MapHandle:
    """A map to read, with what is known of its types: ``btf`` and the
    key and value types in it (None where unknown), and ``name``, which
    the exporter's own metrics label it with."""

    name: str
    map: Any
    btf: Any = None
    key_type: Any = None
    value_type: Any = None
    source: Any = None
    """For a kernel map the exporter opened: the selector's key
    (:func:`pybpf.export.sources.selector_key`), so a reload can keep it."""

    @property
    def key_fields(self) -> list[Field]:
        """The key taken apart (:func:`pybpf.export.fields.fields_of`)."""
        return fields_of(self.btf, self.key_type, self.map.key_size)

    @property
    def value_fields(self) -> list[Field]:
        """The value taken apart."""
        return fields_of(self.btf, self.value_type, self.map.value_size)


@dataclass
class ReadResult:
    """What one bounded read of a map gave: ``(key, value)`` raw pairs
    (per-CPU values as lists of bytes) and whether more were left unread."""

    entries: list[tuple[bytes, Any]] = field(default_factory=list)
    truncated: bool = False


def read_entries(m: Any, limit: int) -> ReadResult:
    """At most ``limit`` elements of map ``m``, raw: in batch steps where
    the map type has them, else by walking its keys."""
    raw = m.raw
    try:
        return _read_batches(raw, limit)
    except MapError as e:
        if e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, ENOTSUPP):
            raise
    return _read_walk(raw, limit)


def _read_batches(raw: Any, limit: int) -> ReadResult:
    out = ReadResult()
    cursor = None
    count = min(BATCH_COUNT, max(limit, 1))
    while True:
        try:
            step = raw.lookup_batch(cursor, count)
        except MapError as e:
            if e.errno == _errno.ENOSPC and count < (1 << 16):
                count *= 2  # a hash bucket holds more than a step
                continue
            raise
        out.entries.extend(zip(step.keys, step.values))
        if len(out.entries) >= limit:
            out.truncated = len(out.entries) > limit or not step.done
            del out.entries[limit:]
            return out
        if step.done:
            return out
        cursor = step.cursor


def _read_walk(raw: Any, limit: int) -> ReadResult:
    out = ReadResult()
    seen: set[bytes] = set()
    key = raw.get_next_key(None)
    steps = limit * 2 + 16  # a walk restarted by deletions ends too
    while key is not None and steps:
        steps -= 1
        if key not in seen:
            if len(out.entries) >= limit:
                out.truncated = True
                return out
            seen.add(key)
            try:
                out.entries.append((key, raw.lookup(key)))
            except MapError as e:
                if e.errno != _errno.ENOENT:
                    raise
        key = raw.get_next_key(key)
    return out


class MapMetric:
    """A :class:`MetricSpec` bound to a :class:`MapHandle`, checked against
    the map's types: :meth:`family` reads the map into samples."""

    def __init__(self, spec: MetricSpec, handle: MapHandle):
        spec.check()
        self.spec = spec
        self.handle = handle
        where = f"metric {spec.name!r} (map {handle.name!r})"
        keys, values = handle.key_fields, handle.value_fields
        m = handle.map
        if not m.key_size:
            raise MetricConfigError(f"{where}: {m.type} maps have no keys to read")
        self.percpu = bool(getattr(m, "percpu", False))
        self.bucket: Field | None = None
        self.bucket_array = False
        if spec.value == "" and len(values) > 1:
            numeric = [f.name for f in values if f.numeric or f.kind == "array"]
            raise MetricConfigError(
                f"{where}: the value is a struct, not a number: name a field with value = "
                f"... (numeric fields: {', '.join(repr(n) for n in numeric) or 'none'})")
        try:
            self.value = find_field(values, spec.value, "value")
            if spec.kind == "histogram":
                if self.value.kind == "array":
                    self.bucket_array = True
                else:
                    self.bucket = find_field(keys, spec.bucket_field, "key")
                    if not self.bucket.numeric:
                        raise MetricConfigError(f"{where}: the bucket field "
                                                f"{self.bucket.name!r} is not a number")
            if not (self.value.numeric or self.bucket_array):
                numeric = [f.name for f in values if f.numeric]
                raise MetricConfigError(
                    f"{where}: the value {('field ' + repr(spec.value)) if spec.value else ''}"
                    f" is not a number: name one with value = ... (numeric fields: "
                    f"{', '.join(repr(n) for n in numeric) or 'none'})")
            if spec.labels is None:
                labels = [LabelSpec(f.name or "key", f.name) for f in keys
                          if f is not self.bucket]
            else:
                labels = spec.labels
            self.labels = [(label, find_field(keys, label.field, "key")) for label in labels]
        except LookupError as e:
            raise MetricConfigError(f"{where}: {e}") from None
        for label, _ in self.labels:
            if not is_label_name(label.name) or label.name == "le":
                raise MetricConfigError(f"{where}: key field {label.name!r} is not a usable "
                                        f"label name: name the labels with labels = [...]")
        self._label_texts = self._texts()

    def _texts(self) -> list[tuple[str, Callable[[bytes], str]]]:
        """Per label: its name and a function from the raw key to its text."""
        out = []
        for label, f in self.labels:
            read = f.reader
            if label.decoder is not None:
                decoder, raw = DECODERS[label.decoder], f.raw

                def text(key: bytes, read=read, decoder=decoder, raw=raw, f=f) -> str:
                    try:
                        return decoder(read(key), raw(key), f)
                    except (ValueError, TypeError) as e:
                        return f"<{e}>"
            elif f.kind == "int":
                def text(key: bytes, read=read) -> str:
                    return str(read(key))
            else:
                def text(key: bytes, read=read, f=f) -> str:
                    return default_text(read(key), f)
            if label.values is not None:
                def renamed(key: bytes, text=text, table=label.values) -> str:
                    value = text(key)
                    return table.get(value, value)
                out.append((label.name, renamed))
            else:
                out.append((label.name, text))
        return out

    def label_values(self, key: bytes) -> tuple[tuple[str, str], ...]:
        """The labels of the element with raw key ``key``."""
        return tuple((name, text(key)) for name, text in self._label_texts)

    def _number(self, value: Any) -> Any:
        """The value field of one element, summed over the CPUs."""
        read = self.value.reader
        if isinstance(value, list):
            if self.bucket_array:
                total: list[int] = []
                for v in value:
                    part = read(v)
                    total = [a + b for a, b in zip(total, part)] if total else list(part)
                return total
            return sum(read(v) for v in value)
        return read(value)

    def family(self, entries: Iterable[tuple[bytes, Any]]) -> MetricFamily:
        """The metric family of these raw elements."""
        spec = self.spec
        family = MetricFamily(spec.name, spec.kind, spec.help)
        if spec.kind != "histogram":
            sums: dict[tuple, Any] = {}
            texts = self._label_texts
            number = self._number
            get = sums.get
            for key, value in entries:
                labels = tuple([(name, text(key)) for name, text in texts])
                sums[labels] = get(labels, 0) + number(value)
            scale = spec.scale
            family.add_many((labels, sums[labels] if scale == 1.0 else sums[labels] * scale)
                            for labels in sorted(sums))
            return family
        hists: dict[tuple, dict[int, int]] = {}
        for key, value in entries:
            labels = self.label_values(key)
            slots = hists.setdefault(labels, {})
            if self.bucket_array:
                for i, count in enumerate(self._number(value)):
                    if count:
                        slots[i] = slots.get(i, 0) + count
            else:
                assert self.bucket is not None
                slot = int(self.bucket.read(key))
                slots[slot] = slots.get(slot, 0) + self._number(value)
        for labels in sorted(hists):
            self._histogram(family, labels, hists[labels])
        return family

    def bounds(self, slot: int) -> tuple[float, float]:
        """``(lower, upper)`` bound of bucket ``slot`` in the metric's unit."""
        mult = self.spec.bucket_multiplier
        if self.spec.bucket_type == "log2":
            lower = 0 if slot <= 0 else 2 ** (slot - 1)
            return lower * mult, (2 ** slot) * mult
        return slot * mult, (slot + 1) * mult

    def _histogram(self, family: MetricFamily, labels: tuple, slots: dict[int, int]) -> None:
        top = max([s for s in slots if s >= 0], default=0)
        if self.spec.bucket_max is not None:
            top = self.spec.bucket_max
        cumulative, total, estimate = 0, 0, 0.0
        for slot, count in slots.items():
            total += count
            estimate += count * self.bounds(max(slot, 0))[0]
        for slot in range(top + 1):
            cumulative += slots.get(slot, 0)
            le = self.bounds(slot)[1]
            family.add((*labels, ("le", format_value(float(le)))), cumulative, "_bucket")
        family.add((*labels, ("le", "+Inf")), total, "_bucket")
        family.add(labels, estimate, "_sum")
        family.add(labels, total, "_count")


__all__ = ["BATCH_COUNT", "BUCKET_TYPES", "METRIC_KINDS", "LabelSpec", "MapHandle",
           "MapMetric", "MetricConfigError", "MetricSpec", "ReadResult", "read_entries"]
