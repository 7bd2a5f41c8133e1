"""How bpftrace values are laid out in maps and ring buffer records, both
ways: the structs the code generator stores (:class:`Layout`, which
:mod:`pybpf.trace.codegen` turns into C types), and decoding the bytes
user space reads back (:func:`decode`).  Nothing here needs LLVM, so a
program read back from the compile cache starts without it.

Integers are 8 bytes, strings ``char[N]``, tuples C structs; a map's key
is a struct of its key parts (``u64 0`` for a map without a key, plus a
``bucket`` for histograms); a record is ``u64 action id`` then the values.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import types as T

__all__ = ["CONFIG_MAP", "EVENTS_MAP", "STACKS_MAP", "Layout", "LayoutField", "MapLayout",
           "Plan", "ProgramInfo", "decode", "plan", "program_name", "record_layout"]

EVENTS_MAP = "events"
"""The ring buffer carrying printf and every other action to user space."""
STACKS_MAP = "stacks"
"""The stack trace map ``kstack`` and ``ustack`` record into."""
CONFIG_MAP = "config"
"""An array user space fills before attaching: [0] the start time
(``elapsed``), [1] the child's pid (``cpid``)."""


class LayoutField(NamedTuple):
    """One member of a :class:`Layout`: its bpftrace ``type`` at byte ``offset``."""

    name: str
    offset: int
    type: Any


class Layout:
    """A C struct of bpftrace values: members at natural alignment, the
    size a multiple of 8 (at least 8)."""

    def __init__(self, name: str, members: list[tuple[str, Any]]):
        self.name = name
        self.fields: dict[str, LayoutField] = {}
        off = 0
        for fname, t in members:
            off = -(-off // t.align) * t.align
            self.fields[fname] = LayoutField(fname, off, t)
            off += t.size
        self.size = max(-(-off // 8) * 8, 8)

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, {list(self.fields.values())!r})"


def tuple_layout(t: T.Tuple) -> Layout:
    """The struct a tuple is stored as (items ``f0``, ``f1``...)."""
    return Layout("tuple", [(f"f{i}", item) for i, item in enumerate(t.items)])


def record_layout(args: tuple) -> Layout:
    """The ring buffer record of an action: ``u64 id`` then its values."""
    return Layout("record", [("id", T.UINT64), *((f"f{i}", t) for i, t in enumerate(args))])


def decode(t: Any, data: bytes) -> Any:
    """The Python value of bpftrace type ``t`` from its stored bytes."""
    if isinstance(t, T.Int):
        return int.from_bytes(data[:8], "little", signed=t.signed)
    if isinstance(t, T.String):
        return data[:t.length].split(b"\0", 1)[0].decode("utf-8", "replace")
    if isinstance(t, T.Tuple):
        st = tuple_layout(t)
        return tuple(decode(item, data[st.fields[f"f{i}"].offset:])
                     for i, item in enumerate(t.items))
    if isinstance(t, (T.Symbol, T.Pointer)):
        return int.from_bytes(data[:8], "little")
    if isinstance(t, T.Stack):
        return int.from_bytes(data[:8], "little", signed=True)
    if isinstance(t, T.Inet):
        return bytes(data[:24])
    if isinstance(t, T.Buf):
        n = min(int.from_bytes(data[:8], "little"), t.length)
        return bytes(data[8:8 + n])
    return None


class MapLayout:
    """A bpftrace map as a BPF map: its BPF ``kind`` (per-CPU hash for
    aggregations), key and value C types, and how to read entries back
    (:meth:`decode_key`, :meth:`reduce`)."""

    def __init__(self, info: Any):
        self.info = info
        self.name = "AT_" + info.name
        self.aggregate = info.kind != "value"
        self.kind = "percpu_hash" if self.aggregate else "hash"
        keys = list(info.keys or [])
        self.histogram = info.kind in ("hist", "lhist")
        lead = [] if keys else [("zero", T.UINT64)]
        if self.histogram:
            lead.append(("bucket", T.UINT64))
        self.key = Layout(f"key_{info.name or 'AT'}",
                          lead + [(f"f{i}", t) for i, t in enumerate(keys)])
        self.value: Any
        if info.kind in ("avg", "stats"):
            self.value = Layout(f"val_{info.name}", [("count", T.UINT64), ("total", T.INT64)])
        elif info.kind in ("min", "max"):
            self.value = Layout(f"val_{info.name}", [("value", T.INT64), ("set", T.UINT64)])
        elif info.kind in ("count", "hist", "lhist"):
            self.value = T.UINT64
        elif info.kind == "sum":
            self.value = T.INT64
        else:
            self.value = info.value
        self.decl: Any = None

    def decode_key(self, raw: bytes) -> tuple[tuple, int | None]:
        """``(the key's parts, the histogram bucket or None)``."""
        parts = []
        for i, t in enumerate(self.info.keys or []):
            off = self.key.fields[f"f{i}"].offset
            parts.append(decode(t, raw[off:]))
        bucket = None
        if self.histogram:
            off = self.key.fields["bucket"].offset
            bucket = int.from_bytes(raw[off:off + 8], "little")
        return tuple(parts), bucket

    def reduce(self, raw: Any) -> Any:
        """One entry's value over CPUs (``raw``: bytes, or a list per CPU)."""
        values = raw if isinstance(raw, list) else [raw]
        kind = self.info.kind
        if kind in ("count", "hist", "lhist"):
            return sum(int.from_bytes(v[:8], "little") for v in values)
        if kind == "sum":
            return sum(int.from_bytes(v[:8], "little", signed=True) for v in values)
        if kind in ("avg", "stats"):
            pairs = [struct.unpack_from("<Qq", v) for v in values]
            return (sum(p[0] for p in pairs), sum(p[1] for p in pairs))
        if kind in ("min", "max"):
            pairs = [struct.unpack_from("<qQ", v) for v in values]
            got = [p[0] for p in pairs if p[1]]
            if not got:
                return 0
            return min(got) if kind == "min" else max(got)
        return decode(self.info.value, values[0])


@dataclass
class ProgramInfo:
    """One program of the object: its function name and the probe it serves
    (a :class:`~pybpf.trace.semantic.ProbeProgram`)."""

    name: str
    program: Any


@dataclass
class Plan:
    """What user space needs to know of a lowered program: its programs,
    map layouts, action records, whether it records stacks; ``module`` the
    backend module once generated (None when the object came from the cache)."""

    analysis: Any
    programs: list[ProgramInfo]
    layouts: dict[str, MapLayout]
    records: dict[int, Layout] = field(default_factory=dict)
    uses_stacks: bool = False
    module: Any = None

    def object_spec(self) -> Any:
        """The compiled object (see :meth:`pybpf.lang.backend.Module.object_spec`)."""
        return self.module.object_spec()


def program_name(pp: Any) -> str:
    """The function (and program) name of probe program ``pp``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", pp.target.name)[:40]
    return f"p{pp.index}_{base}"


def plan(analysis: Any) -> Plan:
    """The layouts, records and program names of ``analysis`` (no code)."""
    from . import ast as A

    layouts = {name: MapLayout(info) for name, info in sorted(analysis.maps.items())}
    records = {a.id: record_layout(a.args) for a in analysis.actions}
    uses_stacks = any(isinstance(getattr(n, "type", None), T.Stack)
                      for b in analysis.program.blocks for n in A.walk(b))
    programs = [ProgramInfo(program_name(pp), pp) for pp in analysis.programs]
    return Plan(analysis, programs, layouts, records, uses_stacks)
