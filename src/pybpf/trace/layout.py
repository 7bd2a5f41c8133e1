"""How bpftrace values are laid out in maps and ring buffer records, both
ways: the C types the code generator stores (:func:`ctype`), and decoding
the bytes user space reads back (:func:`decode`).

Integers are 8 bytes, strings ``char[N]``, tuples C structs; a map's key
is a struct of its key parts (``u64 0`` for a map without a key, plus a
``bucket`` for histograms); a record is ``u64 action id`` then the values.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

from ..lang.types import CHAR, S64, U8, U64, ArrayType, CType, StructType
from . import types as T

__all__ = ["CONFIG_MAP", "EVENTS_MAP", "STACKS_MAP", "MapLayout", "Plan", "ProgramInfo", "ctype", "decode", "plan", "program_name",
           "record_ctype", "struct_of"]

EVENTS_MAP = "events"
"""The ring buffer carrying printf and every other action to user space."""
STACKS_MAP = "stacks"
"""The stack trace map ``kstack`` and ``ustack`` record into."""
CONFIG_MAP = "config"
"""An array user space fills before attaching: [0] the start time
(``elapsed``), [1] the child's pid (``cpid``)."""


def ctype(t: Any) -> CType:
    """The C type a value of bpftrace type ``t`` is stored as."""
    if isinstance(t, T.Int):
        return S64 if t.signed else U64
    if isinstance(t, T.String):
        return ArrayType(CHAR, t.length)
    if isinstance(t, T.Tuple):
        return struct_of("tuple", list(t.items))
    if isinstance(t, (T.Symbol, T.Pointer)):
        return U64
    if isinstance(t, T.Stack):
        return S64
    if isinstance(t, T.Inet):
        return ArrayType(U8, 24)
    if isinstance(t, T.Buf):
        return ArrayType(U8, t.length + 8)
    raise TypeError(f"no storage for {T.type_name(t)}")


def struct_of(name: str, items: list[Any], *, lead: list[tuple[str, CType]] = ()) -> StructType:
    """A struct of ``lead`` fields then ``items`` (bpftrace types) named
    ``f0``, ``f1``..., at the offsets :class:`~pybpf.trace.types.Tuple` gives."""
    fields = list(lead)
    for i, t in enumerate(items):
        fields.append((f"f{i}", ctype(t)))
    offsets = []
    off = 0
    for _, c in fields:
        off = -(-off // c.align) * c.align
        offsets.append(off)
        off += c.size
    size = -(-off // 8) * 8 if fields else 8
    return StructType(name, fields, offsets=offsets, size=max(size, 8))


def record_ctype(args: tuple) -> StructType:
    """The ring buffer record of an action: ``u64 id`` then its values."""
    return struct_of("record", list(args), lead=[("id", U64)])


def decode(t: Any, data: bytes) -> Any:
    """The Python value of bpftrace type ``t`` from its stored bytes."""
    if isinstance(t, T.Int):
        return int.from_bytes(data[:8], "little", signed=t.signed)
    if isinstance(t, T.String):
        return data[:t.length].split(b"\0", 1)[0].decode("utf-8", "replace")
    if isinstance(t, T.Tuple):
        st = struct_of("tuple", list(t.items))
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
        lead = [] if keys else [("zero", U64)]
        if self.histogram:
            self.key = struct_of(f"key_{info.name or 'AT'}", keys,
                                 lead=[*lead, ("bucket", U64)])
        else:
            self.key = struct_of(f"key_{info.name or 'AT'}", keys, lead=lead)
        if info.kind in ("avg", "stats"):
            self.value: CType = StructType(f"val_{info.name}", [("count", U64), ("total", S64)])
        elif info.kind in ("min", "max"):
            self.value = StructType(f"val_{info.name}", [("value", S64), ("set", U64)])
        elif info.kind in ("count",):
            self.value = U64
        elif info.kind in ("sum", "hist", "lhist"):
            self.value = S64 if info.kind == "sum" else U64
        else:
            self.value = ctype(info.value)

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
    records: dict[int, StructType] = field(default_factory=dict)
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
    records = {a.id: record_ctype(a.args) for a in analysis.actions}
    uses_stacks = any(isinstance(getattr(n, "type", None), T.Stack)
                      for b in analysis.program.blocks for n in A.walk(b))
    programs = [ProgramInfo(program_name(pp), pp) for pp in analysis.programs]
    return Plan(analysis, programs, layouts, records, uses_stacks)
