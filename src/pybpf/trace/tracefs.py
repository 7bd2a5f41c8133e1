"""Tracepoint records as tracefs describes them
(``events/<category>/<event>/format``): each field's C type, offset, size
and signedness, which ``args.field`` reads."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from .types import Int, Pointer, String, TType

__all__ = ["EventField", "EventFormat", "event_format", "parse_format", "tracefs_dir"]

_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"\s*signed:(?P<signed>\d+);", re.M)
_DECL = re.compile(r"^(?P<ctype>.*?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(?P<len>[^\]]*)\])?$")


@dataclass(frozen=True)
class EventField:
    """One field: ``name``, its C type text, byte ``offset`` and ``size``,
    ``signed``; ``array`` its element count for ``char comm[16]``;
    ``data_loc`` for ``__data_loc char[] name`` (a 32-bit offset and length
    of data stored after the record)."""

    name: str
    ctype: str
    offset: int
    size: int
    signed: bool
    array: int | None = None
    data_loc: bool = False

    @property
    def type(self) -> TType:
        """The bpftrace type of ``args.<name>``."""
        base = self.ctype.replace("const ", "").replace("volatile ", "").strip()
        if self.data_loc:
            return String(64)
        if self.array is not None and base in ("char", "unsigned char", "u8", "__u8"):
            return String(self.size)
        if base.endswith("*"):
            inner = base[:-1].strip()
            if inner in ("char", "unsigned char"):
                return Pointer(Int(8, True))
            return Pointer(None)
        if self.size in (1, 2, 4, 8):
            return Int(self.size * 8, self.signed)
        return Int(64, self.signed)

    @property
    def is_string_pointer(self) -> bool:
        """``const char *`` fields (``str(args.filename)``)."""
        base = self.ctype.replace("const ", "").strip()
        return base in ("char *", "unsigned char *")


@dataclass(frozen=True)
class EventFormat:
    """A tracepoint's record: ``category``, ``event`` and its fields
    (the common ``common_*`` ones excluded, as bpftrace hides them)."""

    category: str
    event: str
    fields: tuple[EventField, ...]

    def field(self, name: str) -> EventField | None:
        """The field called ``name``, None if there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        return None


def parse_format(text: str, category: str = "", event: str = "") -> EventFormat:
    """A tracefs ``format`` file's fields."""
    fields = []
    for m in _FIELD.finditer(text):
        decl = " ".join(m.group("decl").split())
        data_loc = decl.startswith("__data_loc ")
        if data_loc:
            decl = decl[len("__data_loc "):]
            decl = re.sub(r"\[\]\s*", " ", decl)
        d = _DECL.match(decl)
        if not d:
            continue
        name = d.group("name")
        if name.startswith("common_"):
            continue
        array = None
        if d.group("len") is not None:
            try:
                array = int(d.group("len"), 0)
            except ValueError:
                array = 0
        fields.append(EventField(name, d.group("ctype").strip(), int(m.group("off")),
                                 int(m.group("size")), m.group("signed") == "1", array,
                                 data_loc))
    return EventFormat(category, event, tuple(fields))


def tracefs_dir() -> str:
    """The tracefs directory (mounted if needed, as :mod:`pybpf.kernel.perf` does)."""
    from ..kernel import perf

    return perf.tracefs()


@functools.lru_cache(maxsize=256)
def event_format(category: str, event: str) -> EventFormat | None:
    """The record of tracepoint ``category:event``, None if it does not exist."""
    path = os.path.join(tracefs_dir(), "events", category, event, "format")
    try:
        with open(path) as f:
            return parse_format(f.read(), category, event)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
