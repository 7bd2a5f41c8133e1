"""How bpftrace values are laid out in maps and ring buffer records, both
ways: the structs the code generator stores (:class:`Layout`, which
:mod:`pybpf.trace.codegen` turns into C types), and decoding the bytes
user space reads back (:func:`decode`); and the :class:`Plan` user space
runs a program by, which :meth:`Plan.to_data` keeps as plain data beside
the prepared object in the start-up cache (:mod:`pybpf.trace.startup`).
Nothing here needs LLVM, the parser or semantic analysis, so a program
read back from the cache starts without them.

Integers are 8 bytes, strings ``char[N]``, tuples C structs; a map's key
is a struct of its key parts (``u64 0`` for a map without a key, plus a
``bucket`` for histograms); a record is ``u64 action id`` then the values.
"""

from __future__ import annotations

import re
import struct
from typing import Any, NamedTuple

from . import types as T

__all__ = ["CONFIG_MAP", "EVENTS_MAP", "STACKS_MAP", "Action", "Layout", "LayoutField",
           "MapInfo", "MapLayout", "Plan", "ProgramInfo", "Target", "decode", "plan",
           "program_name", "record_layout"]

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
    if isinstance(t, (T.Symbol, T.Stack)) and t.user:  # (value, pid)
        return (int.from_bytes(data[:8], "little", signed=isinstance(t, T.Stack)),
                int.from_bytes(data[8:16], "little"))
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


class _Record:
    """Plain classes with a readable repr and equality by their fields
    (not dataclasses: creating those at import is start-up time)."""

    _fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment]


class Target(_Record):
    """One concrete attach point: ``kind`` (the provider's long name),
    ``name`` (what the ``probe`` builtin gives: ``tracepoint:sched:sched_switch``)
    and what attaching needs in ``params``: ``category``/``event``/``format``
    for tracepoints, ``binary``/``symbol``/``offset`` for uprobes,
    ``binary``/``provider``/``probe``/``sites`` for USDT, ``period_ns`` or
    ``frequency`` for interval and profile, ``event``/``event_type``/``period``
    for software and hardware events."""

    _fields = ("kind", "name", "params")

    def __init__(self, kind: str, name: str, params: dict[str, Any] | None = None):
        self.kind = kind
        self.name = name
        self.params: dict[str, Any] = {} if params is None else params

    @property
    def format(self) -> Any:
        """The tracepoint's record (a :class:`~pybpf.trace.tracefs.EventFormat`;
        tracepoints only)."""
        return self.params.get("format")


class MapInfo(_Record):
    """A map: ``kind`` (an aggregate kind, or ``value`` for plain
    assignments), ``keys`` (types of its key parts; None for a map without
    a key), ``value`` type, and ``lhist`` parameters."""

    _fields = ("name", "kind", "keys", "value", "lhist", "span")

    def __init__(self, name: str, kind: str, keys: list[Any] | None, value: Any,
                 lhist: tuple[int, int, int] | None = None, span: tuple[int, int] = (0, 0)):
        self.name = name
        self.kind = kind
        self.keys = keys
        self.value = value
        self.lhist = lhist
        self.span = span

    @property
    def key_type(self) -> T.Tuple | None:
        """The key as one tuple type (None without a key)."""
        return T.Tuple(tuple(self.keys)) if self.keys else None


class Action(_Record):
    """Something user space does for the program: ``kind`` is ``printf``,
    ``system``, ``cat``, ``time``, ``print`` (a value), ``print_map``,
    ``clear``, ``zero``, ``exit``, ``join``; ``fmt`` the format string (or map
    name); ``args`` the types of the values sent; ``extra`` constant arguments
    (``print(@m, top, div)``)."""

    _fields = ("id", "kind", "fmt", "args", "extra")

    def __init__(self, id: int, kind: str, fmt: str = "", args: tuple = (),
                 extra: tuple = ()):
        self.id = id
        self.kind = kind
        self.fmt = fmt
        self.args = args
        self.extra = extra

    @property
    def record(self) -> T.Tuple:
        """The layout of the values after the 8-byte action id."""
        return T.Tuple(tuple(self.args))


class ProgramInfo(_Record):
    """One program of the object: its function ``name``, the probe
    ``target`` it serves, and (when compiled in this process, not read
    back from the cache) the :class:`~pybpf.trace.semantic.ProbeProgram`."""

    _fields = ("name", "target")

    def __init__(self, name: str, target: Target, program: Any = None):
        self.name = name
        self.target = target
        self.program = program


_PLAIN = (int, str, float, bool, type(None))


class Plan(_Record):
    """What user space needs to know of a lowered program: its programs,
    map layouts, actions and their records, whether it records stacks;
    ``analysis`` the semantic analysis and ``module`` the backend module
    once generated (both None for a plan read back with :meth:`from_data`)."""

    _fields = ("programs", "maps", "actions", "uses_stacks")

    def __init__(self, analysis: Any, programs: list[ProgramInfo], maps: list[MapInfo],
                 actions: list[Action], uses_stacks: bool = False, module: Any = None):
        self.analysis = analysis
        self.programs = programs
        self.maps = maps
        self.actions = actions
        self.layouts = {info.name: MapLayout(info) for info in maps}
        self.records = {a.id: record_layout(a.args) for a in actions}
        self.uses_stacks = uses_stacks
        self.module = module

    def object_spec(self) -> Any:
        """The compiled object (see :meth:`pybpf.lang.backend.Module.object_spec`)."""
        return self.module.object_spec()

    def to_data(self) -> dict[str, Any]:
        """The plan as plain data for :mod:`marshal` (probe parameters that
        are not plain values, such as tracepoint formats, are left out:
        attaching does not need them)."""
        return {
            "programs": [(p.name, p.target.kind, p.target.name,
                          {k: v for k, v in p.target.params.items() if isinstance(v, _PLAIN)})
                         for p in self.programs],
            "maps": [(m.name, m.kind, T.to_data(m.keys), T.to_data(m.value), m.lhist)
                     for m in self.maps],
            "actions": [(a.id, a.kind, a.fmt, T.to_data(a.args), a.extra) for a in self.actions],
            "uses_stacks": self.uses_stacks,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Plan:
        """The plan :meth:`to_data` gave ``data`` for."""
        programs = [ProgramInfo(name, Target(kind, probe, dict(params)))
                    for name, kind, probe, params in data["programs"]]
        maps = []
        for name, kind, keys, value, lhist in data["maps"]:
            keys = T.from_data(keys)
            maps.append(MapInfo(name, kind, None if keys is None else list(keys),
                                T.from_data(value), lhist))
        actions = [Action(i, kind, fmt, T.from_data(args), tuple(extra))
                   for i, kind, fmt, args, extra in data["actions"]]
        return cls(None, programs, maps, actions, bool(data["uses_stacks"]))


def program_name(pp: Any) -> str:
    """The function (and program) name of probe program ``pp``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", pp.target.name)[:40]
    return f"p{pp.index}_{base}"


def plan(analysis: Any) -> Plan:
    """The layouts, records and program names of ``analysis`` (no code)."""
    from . import ast as A

    maps = [info for _, info in sorted(analysis.maps.items())]
    uses_stacks = any(isinstance(getattr(n, "type", None), T.Stack)
                      for b in analysis.program.blocks for n in A.walk(b))
    programs = [ProgramInfo(program_name(pp), pp.target, pp) for pp in analysis.programs]
    return Plan(analysis, programs, maps, list(analysis.actions), uses_stacks)
