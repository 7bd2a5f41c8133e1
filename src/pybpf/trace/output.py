"""bpftrace's output formats: maps at exit, ``hist()``/``lhist()`` ASCII
histograms, ``stats``/``avg``, ``printf`` and ``-f json``.

Everything here works on plain Python values (a :class:`MapDump` holds a
map's entries already read and reduced over CPUs), so the formats are
tested without a kernel.  The text forms follow bpftrace 0.17 byte for
byte: a histogram row is the bucket's label left-aligned in 16 columns,
its count right-aligned in 8, and a bar of ``@`` scaled to 52 columns; maps
are printed in name order, entries sorted by value (histograms by their
total), with the blank lines bpftrace puts after histograms and after
``avg``/``stats`` maps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BAR_WIDTH",
    "MapDump",
    "Stack",
    "format_key",
    "format_map",
    "format_maps",
    "format_printf",
    "format_value",
    "hist_bucket",
    "hist_label",
    "hist_lines",
    "json_line",
    "json_map",
    "lhist_bucket",
    "lhist_lines",
]

BAR_WIDTH = 52
"""Columns of a histogram's bar (bpftrace's)."""

AGGREGATES = ("count", "sum", "min", "max", "avg", "stats", "hist", "lhist")
"""Map functions whose value is an aggregation (kept per CPU)."""


class Stack(tuple):
    """A stack trace as symbol names, innermost first (``kstack``/``ustack``
    values and keys)."""


@dataclass
class MapDump:
    """One map as read at print time: ``name`` (without ``@``), ``kind``
    (an entry of :data:`AGGREGATES`, or ``value`` for a plain assignment),
    ``entries`` as ``(key tuple, value)`` in the kernel's iteration order,
    and ``lhist`` the ``(min, max, step)`` of an ``lhist`` map.

    Values: an int for count/sum/min/max/plain ints; ``(count, total)`` for
    avg and stats; ``{bucket index: count}`` for hist and lhist; a str or a
    tuple for plain values."""

    name: str
    kind: str
    entries: list[tuple[tuple, Any]] = field(default_factory=list)
    lhist: tuple[int, int, int] | None = None
    keyed: bool = False


# --- keys and values -----------------------------------------------------------------

def _item(v: Any) -> str:
    if isinstance(v, Stack):
        return "\n" + "".join(f"    {frame}\n" for frame in v) if v else ""
    if isinstance(v, tuple):
        return "(" + ", ".join(_item(x) for x in v) + ")"
    if isinstance(v, bytes):
        return v.split(b"\0", 1)[0].decode("utf-8", "replace")
    return str(v)


def format_key(key: tuple) -> str:
    """``[1, bash]`` for a two-part key, ``""`` for none."""
    if not key:
        return ""
    return "[" + ", ".join(_item(k) for k in key) + "]"


def format_value(value: Any) -> str:
    """A scalar the way ``print()`` and map printing show it."""
    return _item(value)


def _average(count: int, total: int) -> int:
    if not count:
        return 0
    q = abs(total) // count
    return q if total >= 0 else -q


# --- histograms ------------------------------------------------------------------------

def hist_bucket(value: int) -> int:
    """The ``hist()`` bucket of ``value``: 0 for negative values, 1 for 0,
    ``k + 2`` for ``2**k <= value < 2**(k+1)``."""
    if value < 0:
        return 0
    if value == 0:
        return 1
    return value.bit_length() + 1


def lhist_bucket(value: int, lo: int, hi: int, step: int) -> int:
    """The ``lhist(value, lo, hi, step)`` bucket: 0 below ``lo``, ``1 + (value
    - lo) // step`` inside, the last (``1 + (hi - lo) // step``) at or above ``hi``."""
    if value < lo:
        return 0
    if value >= hi:
        return 1 + (hi - lo) // step
    return 1 + (value - lo) // step


_UNITS = ("", "K", "M", "G", "T", "P", "E")


def _power_label(n: int) -> str:
    unit = 0
    while n >= 1024 and n % 1024 == 0 and unit < len(_UNITS) - 1:
        n //= 1024
        unit += 1
    return f"{n}{_UNITS[unit]}"


def hist_label(index: int) -> str:
    """The label of ``hist()`` bucket ``index``: ``(..., 0)``, ``[0]``,
    ``[1]``, ``[2, 4)``, ``[512, 1K)``..."""
    if index == 0:
        return "(..., 0)"
    if index == 1:
        return "[0]"
    if index == 2:
        return "[1]"
    lo = 1 << (index - 2)
    return f"[{_power_label(lo)}, {_power_label(lo * 2)})"


def _hist_range(index: int) -> tuple[int | None, int | None]:
    if index == 0:
        return None, -1
    if index == 1:
        return 0, 0
    lo = 1 << (index - 2)
    return lo, lo * 2 - 1


def _lhist_label(index: int, lo: int, hi: int, step: int) -> str:
    last = 1 + (hi - lo) // step
    if index == 0:
        return f"(..., {lo})"
    if index >= last:
        return f"[{hi}, ...)"
    start = lo + (index - 1) * step
    return f"[{start}, {start + step})"


def _lhist_range(index: int, lo: int, hi: int, step: int) -> tuple[int | None, int | None]:
    last = 1 + (hi - lo) // step
    if index == 0:
        return None, lo - 1
    if index >= last:
        return hi, None
    start = lo + (index - 1) * step
    return start, start + step - 1


def _rows(buckets: dict[int, int], label) -> list[str]:
    used = [i for i, c in buckets.items() if c]
    if not used:
        return []
    top = max(buckets[i] for i in used)
    rows = []
    for i in range(min(used), max(used) + 1):
        count = buckets.get(i, 0)
        bar = "@" * (count * BAR_WIDTH // top) if top else ""
        rows.append(f"{label(i):<16}{count:>8} |{bar:<{BAR_WIDTH}}|\n")
    return rows


def hist_lines(buckets: dict[int, int]) -> str:
    """The rows of a ``hist()`` histogram, from its first used bucket to its last."""
    return "".join(_rows(buckets, hist_label))


def lhist_lines(buckets: dict[int, int], lo: int, hi: int, step: int) -> str:
    """The rows of an ``lhist(_, lo, hi, step)`` histogram."""
    return "".join(_rows(buckets, lambda i: _lhist_label(i, lo, hi, step)))


# --- maps --------------------------------------------------------------------------------

def _sort_key(kind: str, value: Any) -> Any:
    if kind in ("hist", "lhist"):
        return sum(value.values())
    if kind in ("avg", "stats"):
        return _average(*value)
    if isinstance(value, int):
        return value
    return 0


def sorted_entries(dump: MapDump, top: int = 0) -> list[tuple[tuple, Any]]:
    """``dump``'s entries in bpftrace's order: by value ascending (histograms
    by total, avg/stats by average), equal values in iteration order
    (histograms: in key order); the last ``top`` only when ``top`` is given."""
    entries = list(dump.entries)
    if dump.kind in ("hist", "lhist"):
        entries.sort(key=lambda kv: [(_item(k) if not isinstance(k, int) else "", k
                                      if isinstance(k, int) else 0) for k in kv[0]])
    if dump.kind in AGGREGATES or all(isinstance(v, int) for _, v in entries):
        entries.sort(key=lambda kv: _sort_key(dump.kind, kv[1]))
    if top:
        entries = entries[-top:]
    return entries


def format_map(dump: MapDump, top: int = 0, div: int = 0) -> str:
    """``dump`` as bpftrace prints it (``print(@m, top, div)`` or at exit)."""
    name = "@" + dump.name
    entries = sorted_entries(dump, top)
    if not entries:
        return "\n"
    out: list[str] = []
    if dump.kind in ("hist", "lhist"):
        for key, buckets in entries:
            out.append(f"{name}{format_key(key)}: \n")
            if dump.kind == "hist":
                out.append(hist_lines(buckets))
            else:
                out.append(lhist_lines(buckets, *dump.lhist))  # type: ignore[misc]
            out.append("\n")
        return "".join(out)
    for key, value in entries:
        if dump.kind == "stats":
            count, total = value
            text = f"count {count}, average {_average(count, total)}, total {total}"
        elif dump.kind == "avg":
            text = str(_average(*value))
        else:
            if div and isinstance(value, int):
                value = value // div
            text = format_value(value)
        out.append(f"{name}{format_key(key)}: {text}\n")
    if dump.kind in ("avg", "stats"):
        out.append("\n")
    return "".join(out)


def format_maps(dumps: Sequence[MapDump]) -> str:
    """Every map in name order, as bpftrace prints them at exit (after the
    two blank lines it prints first)."""
    return "\n\n" + "".join(format_map(d) for d in sorted(dumps, key=lambda d: d.name))


# --- JSON ---------------------------------------------------------------------------------

def _json_scalar(v: Any) -> Any:
    if isinstance(v, Stack):
        return list(v)
    if isinstance(v, bytes):
        return _item(v)
    return v


def _json_key(key: tuple) -> str:
    return ",".join(_item(k) if not isinstance(k, Stack) else "\n".join(k) for k in key)


def _json_buckets(dump: MapDump, buckets: dict[int, int]) -> list[dict[str, int]]:
    used = [i for i, c in buckets.items() if c]
    if not used:
        return []
    out = []
    for i in range(min(used), max(used) + 1):
        if dump.kind == "hist":
            lo, hi = _hist_range(i)
        else:
            lo, hi = _lhist_range(i, *dump.lhist)  # type: ignore[misc]
        item: dict[str, int] = {}
        if lo is not None:
            item["min"] = lo
        if hi is not None:
            item["max"] = hi
        item["count"] = buckets.get(i, 0)
        out.append(item)
    return out


def _json_dumps(value: Any) -> str:
    import json  # only -f json needs it: imported on first use (start-up)

    return json.dumps(value)


def _dumps(value: Any) -> str:
    if isinstance(value, tuple) and not isinstance(value, Stack):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_json_dumps(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    return _json_dumps(_json_scalar(value))


def json_line(kind: str, data: Any) -> str:
    """One line of ``-f json`` output: ``{"type": kind, "data": data}``."""
    return '{"type": ' + _json_dumps(kind) + ', "data": ' + _dumps(data) + "}\n"


def json_map(dump: MapDump, top: int = 0, div: int = 0) -> str:
    """``dump`` as one line of ``-f json`` output (types ``map``, ``hist``, ``stats``)."""
    entries = sorted_entries(dump, top)
    name = "@" + dump.name

    def value_of(v: Any) -> Any:
        if dump.kind in ("hist", "lhist"):
            return _json_buckets(dump, v)
        if dump.kind == "stats":
            return {"count": v[0], "average": _average(*v), "total": v[1]}
        if dump.kind == "avg":
            return _average(*v)
        if div and isinstance(v, int):
            return v // div
        return v

    kind = {"hist": "hist", "lhist": "hist", "stats": "stats", "avg": "stats"}.get(dump.kind,
                                                                                "map")
    if dump.keyed or any(k for k, _ in entries):
        data: Any = {_json_key(k): value_of(v) for k, v in entries}
    elif entries:
        data = value_of(entries[0][1])
    else:
        data = {}
    return json_line(kind, {name: data})


# --- printf -------------------------------------------------------------------------------

FORMAT_SPEC = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d+|\*)?(?:\.(?P<prec>\d+))?"
                         r"(?P<length>hh|h|ll|l|j|z|t)?(?P<conv>rx|rh|[diouxXcspr%])")
"""A conversion of a printf format string."""

_WIDTH_BITS = {"hh": 8, "h": 16, None: 32, "l": 64, "ll": 64, "j": 64, "z": 64, "t": 64}


def format_conversions(fmt: str) -> list[re.Match]:
    """The conversions of ``fmt`` that take an argument (``%%`` excluded)."""
    return [m for m in FORMAT_SPEC.finditer(fmt) if m.group("conv") != "%"]


def _buf_text(data: bytes, conv: str) -> str:
    if conv == "rh":
        return " ".join(f"{b:02x}" for b in data)
    if conv == "rx":
        return "".join(f"\\x{b:02x}" for b in data)
    return "".join(chr(b) if 32 <= b <= 126 else f"\\x{b:02x}" for b in data)


def format_printf(fmt: str, args: Sequence[Any]) -> str:
    """``printf(fmt, args...)`` with C's integer widths: ``%d`` is a 32-bit
    int, ``%ld``/``%lld`` 64-bit, ``%hhx`` 8-bit (as bpftrace's printf
    passes the values to C's)."""
    out: list[str] = []
    pos = 0
    it = iter(args)
    for m in FORMAT_SPEC.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        conv = m.group("conv")
        if conv == "%":
            out.append("%")
            continue
        value = next(it, 0)
        flags = m.group("flags") or ""
        width = m.group("width") or ""
        prec = m.group("prec")
        spec = flags + width + (f".{prec}" if prec is not None else "")
        if conv in ("s", "r", "rx", "rh"):
            if isinstance(value, bytes) and conv != "s":
                text = _buf_text(value, conv)
            elif isinstance(value, Stack):  # printf indents frames by 8, maps by 4
                text = "\n" + "".join(f"        {frame}\n" for frame in value) if value else ""
            else:
                text = value if isinstance(value, str) else format_value(value)
            out.append(("%" + spec + "s") % text)
        elif conv == "c":
            ch = chr(value & 0xFF) if isinstance(value, int) else str(value)[:1]
            out.append(("%" + flags + width + "s") % ch)
        elif conv == "p":
            out.append(("%" + flags + width + "s") % hex(value & (1 << 64) - 1))
        else:
            if not isinstance(value, int):
                value = 0
            bits = _WIDTH_BITS[m.group("length")]
            value &= (1 << bits) - 1
            if conv in "di" and value >> (bits - 1):
                value -= 1 << bits
            pyconv = "d" if conv in "diu" else conv
            out.append(("%" + spec + pyconv) % value)
    out.append(fmt[pos:])
    return "".join(out)
