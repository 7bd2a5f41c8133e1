"""The Prometheus text exposition format (version 0.0.4), written out.

A scrape is a list of :class:`MetricFamily`: a name, a type (``counter``,
``gauge``, ``histogram``, ``untyped``), a help text and samples, each a
name (the family's, or ``_bucket``/``_sum``/``_count`` for histograms), a
label set and a number.  :func:`render` writes them as Prometheus reads
them::

    # HELP syscalls_total System calls by number.
    # TYPE syscalls_total counter
    syscalls_total{syscall="read"} 1234

Label values escape ``\\``, ``"`` and newlines; help texts escape ``\\``
and newlines; names that are not valid Prometheus names are refused where
they are configured (:func:`check_metric_name`, :func:`check_label_name`)
and :func:`sanitize_name` makes one from any text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The HTTP Content-Type of the text format."""

METRIC_TYPES = ("counter", "gauge", "histogram", "untyped")
"""The family types this writer knows."""

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class Sample(NamedTuple):
    """One line: ``name{labels} value``; ``labels`` are ``(name, value)``
    pairs in the order they are written."""

    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class MetricFamily:
    """A metric's ``# HELP``/``# TYPE`` header and its samples."""

    name: str
    type: str
    help: str = ""
    samples: list[Sample] = field(default_factory=list)

    def add(self, labels: Iterable[tuple[str, str]], value: float, suffix: str = "") -> None:
        """Append a sample of this family (``suffix``: ``_bucket``, ``_sum``...)."""
        self.samples.append(Sample(self.name + suffix, tuple(labels), value))

    def add_many(self, rows: Iterable[tuple[tuple[tuple[str, str], ...], float]]) -> None:
        """Append ``(labels, value)`` samples of the family's own name."""
        name = self.name
        self.samples.extend(Sample(name, labels, value) for labels, value in rows)


def is_metric_name(name: str) -> bool:
    """Whether ``name`` is a valid Prometheus metric name."""
    return bool(_METRIC_NAME.match(name))


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a valid label name (``__`` names are reserved)."""
    return bool(_LABEL_NAME.match(name)) and not name.startswith("__")


def sanitize_name(text: str) -> str:
    """A valid metric or label name made from ``text``: every other
    character becomes ``_``, and a leading digit gets a ``_`` before it."""
    name = _INVALID.sub("_", text) or "_"
    return "_" + name if name[0].isdigit() else name


def escape_label_value(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    """A help text as the text format writes it."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, ``+Inf``, ``-Inf``,
    ``NaN``, other floats in Python's shortest round-trip form."""
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


_NEEDS_ESCAPE = re.compile(r'[\\"\n]').search


def format_labels(labels: tuple[tuple[str, str], ...]) -> str:
    """``{a="x",b="y"}``, or nothing for no labels."""
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{escape_label_value(value)}"' if _NEEDS_ESCAPE(value)
                          else f'{name}="{value}"' for name, value in labels) + "}"


def render(families: Iterable[MetricFamily]) -> str:
    """The text format of ``families``, in order, ending with a newline."""
    out: list[str] = []
    for family in families:
        if family.help:
            out.append(f"# HELP {family.name} {escape_help(family.help)}")
        out.append(f"# TYPE {family.name} {family.type}")
        for s in family.samples:
            out.append(f"{s.name}{format_labels(s.labels)} {format_value(s.value)}")
    return "\n".join(out) + "\n" if out else ""


__all__ = ["CONTENT_TYPE", "METRIC_TYPES", "MetricFamily", "Sample", "escape_help",
           "escape_label_value", "format_labels", "format_value", "is_label_name",
           "is_metric_name", "render", "sanitize_name"]
