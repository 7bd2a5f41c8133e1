"""The types of bpftrace values, as semantic analysis gives them to
expressions and maps.

Integers are kept 64 bits wide in maps and records (bpftrace's ``int64``);
strings are ``char[N]`` (``comm`` 16, ``str()`` 64); tuples lay their items
out with C alignment.  :class:`Aggregate` is the value of a map function
(``count()``, ``hist()``...), which only a map can hold.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AGGREGATE_KINDS",
    "INT32",
    "INT64",
    "JOIN_ARGS",
    "JOIN_ARG_SIZE",
    "STRLEN",
    "UINT32",
    "UINT64",
    "Aggregate",
    "Args",
    "Buf",
    "Inet",
    "Int",
    "Pointer",
    "Record",
    "Stack",
    "String",
    "Symbol",
    "TType",
    "Tuple",
    "Void",
    "from_data",
    "int_named",
    "to_data",
    "type_name",
]

STRLEN = 64
"""Bytes of a ``str()`` result (bpftrace's BPFTRACE_STRLEN default)."""

JOIN_ARGS = 16
"""Elements ``join()`` reads from an array of strings (bpftrace's join_argnum)."""
JOIN_ARG_SIZE = 1024
"""Bytes ``join()`` reads of each element, its NUL included (bpftrace's join_argsize)."""

AGGREGATE_KINDS = ("count", "sum", "avg", "min", "max", "stats", "hist", "lhist")


class TType:
    """Base of the types: ``size`` in bytes when stored in a map or record.
    Types are values: equal (and hashing alike) when of the same class with
    the same fields (the annotated names of the class, see :func:`value_type`)."""

    _fields: tuple[str, ...] = ()
    size = 8
    align = 8

    def __init__(self, *args: Any, **kwargs: Any):
        fields = self._fields
        values = dict(zip(fields, args))
        values.update(kwargs)
        for name in fields:
            object.__setattr__(self, name, values[name] if name in values
                               else getattr(type(self), name))

    def _key(self) -> tuple:
        return (type(self), *(getattr(self, n) for n in self._fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TType) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"


def value_type(cls: type) -> type:
    """Make ``cls`` a type class: its own annotated names are its fields
    (defaults from the class attributes).  Plain classes rather than frozen
    dataclasses: creating classes at import is start-up time."""
    cls._fields = tuple(n for n in cls.__annotations__  # type: ignore[attr-defined]
                        if not n.startswith("_"))
    return cls


@value_type
class Int(TType):
    """An integer of ``bits`` bits, ``signed`` or not (stored as 8 bytes)."""

    bits: int = 64
    signed: bool = True

    @property
    def size(self) -> int:  # type: ignore[override]
        return 8

    def wrap(self, value: int) -> int:
        """``value`` as this type holds it."""
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value


INT64 = Int(64, True)
UINT64 = Int(64, False)
INT32 = Int(32, True)
UINT32 = Int(32, False)


@value_type
class String(TType):
    """A NUL-padded string of ``length`` bytes (``string[16]`` for comm)."""

    length: int = STRLEN

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.length

    align = 1


@value_type
class Buf(TType):
    """``buf()``: ``length`` raw bytes, printed with ``%r``."""

    length: int = STRLEN

    @property
    def size(self) -> int:  # type: ignore[override]
        return self.length + 8

    align = 8


@value_type
class Inet(TType):
    """``ntop()``: an address family and 16 address bytes."""

    size = 24
    align = 8


@value_type
class Symbol(TType):
    """``ksym()``/``usym()``/``func``: an address printed as its symbol; a
    user address is stored with the pid of the process it belongs to."""

    user: bool = False

    @property
    def size(self) -> int:  # type: ignore[override]
        return 16 if self.user else 8


@value_type
class Stack(TType):
    """``kstack``/``ustack``: a stack id (in a stack trace map), printed
    as frames; a user stack is stored with the pid of its process (whose
    mappings name its frames)."""

    user: bool = False
    limit: int = 127

    @property
    def size(self) -> int:  # type: ignore[override]
        return 16 if self.user else 8


@value_type
class Tuple(TType):
    """``(a, b, ...)``: items laid out with C alignment."""

    items: tuple = ()

    @property
    def offsets(self) -> list[int]:
        """Each item's byte offset."""
        out = []
        off = 0
        for t in self.items:
            off = (off + t.align - 1) // t.align * t.align
            out.append(off)
            off += t.size
        return out

    @property
    def size(self) -> int:  # type: ignore[override]
        if not self.items:
            return 0
        off = self.offsets[-1] + self.items[-1].size
        return (off + 7) // 8 * 8


@value_type
class Record(TType):
    """A kernel struct or union from BTF (``type_id`` in vmlinux), read
    through a pointer."""

    name: str = ""
    type_id: int = 0


@value_type
class Args(TType):
    """``args`` of a tracepoint: the record the format file describes."""

    probe: str = ""


@value_type
class Pointer(TType):
    """A pointer: to ``target`` (an :class:`Int`, :class:`Record`, or None
    for ``void *``), into kernel or ``user`` memory."""

    target: Any = None
    user: bool = False


@value_type
class Void(TType):
    """No value (``printf()`` and other statements)."""

    size = 0


@value_type
class Aggregate(TType):
    """A map function's value: ``kind`` in :data:`AGGREGATE_KINDS`; for
    ``lhist`` its ``(min, max, step)``."""

    kind: str = "count"
    lhist: tuple[int, int, int] | None = None

    @property
    def size(self) -> int:  # type: ignore[override]
        return 16 if self.kind in ("avg", "stats") else 8


_INT_NAMES = {
    "int8": Int(8, True), "int16": Int(16, True), "int32": Int(32, True),
    "int64": Int(64, True), "uint8": Int(8, False), "uint16": Int(16, False),
    "uint32": Int(32, False), "uint64": Int(64, False),
    "char": Int(8, True), "short": Int(16, True), "int": Int(32, True), "long": Int(64, True),
    "unsigned": Int(32, False), "unsigned int": Int(32, False),
    "unsigned char": Int(8, False), "unsigned short": Int(16, False),
    "unsigned long": Int(64, False), "long long": Int(64, True),
    "unsigned long long": Int(64, False), "bool": Int(8, False), "_Bool": Int(8, False),
    "size_t": Int(64, False), "ssize_t": Int(64, True), "pid_t": Int(32, True),
    "uid_t": Int(32, False), "gid_t": Int(32, False), "loff_t": Int(64, True),
    "umode_t": Int(16, False), "dev_t": Int(32, False),
}
for _b in (8, 16, 32, 64):
    for _p, _s in (("u", False), ("s", True), ("__u", False), ("__s", True)):
        _INT_NAMES[f"{_p}{_b}"] = Int(_b, _s)


def int_named(name: str) -> Int | None:
    """The integer type a C or bpftrace name denotes (``uint32``, ``u8``,
    ``unsigned int``, ``pid_t``), None if it is not one."""
    return _INT_NAMES.get(" ".join(name.split()))


def type_name(t: Any) -> str:
    """bpftrace's name for type ``t`` in messages (``int64``, ``string[16]``)."""
    if isinstance(t, Int):
        return f"{'' if t.signed else 'u'}int{t.bits}"
    if isinstance(t, String):
        return f"string[{t.length}]"
    if isinstance(t, Tuple):
        return "(" + ",".join(type_name(i) for i in t.items) + ")"
    if isinstance(t, Pointer):
        inner = type_name(t.target) if t.target is not None else "void"
        return f"{inner} *"
    if isinstance(t, Record):
        return t.name
    if isinstance(t, Aggregate):
        return f"{t.kind}_t"
    if isinstance(t, Symbol):
        return "usym_t" if t.user else "ksym_t"
    if isinstance(t, Stack):
        return "ustack" if t.user else "kstack"
    if isinstance(t, Buf):
        return "buffer"
    if isinstance(t, Inet):
        return "inet"
    if isinstance(t, Args):
        return f"args of {t.probe}"
    return "none"


def to_data(t: Any) -> Any:
    """Type ``t`` as plain data (tuples, strings, numbers) that :mod:`marshal`
    stores and :func:`from_data` turns back into the type; None stays None."""
    if t is None:
        return None
    if isinstance(t, (list, tuple)):
        return ("[]", tuple(to_data(x) for x in t))
    if not isinstance(t, TType):
        return t
    return (type(t).__name__, tuple(to_data(getattr(t, n)) for n in t._fields))


_TYPE_CLASSES = {c.__name__: c for c in (Int, String, Buf, Inet, Symbol, Stack, Tuple, Record,
                                         Args, Pointer, Void, Aggregate)}


def from_data(data: Any) -> Any:
    """The type (or tuple of types) :func:`to_data` gave ``data`` for."""
    if not isinstance(data, tuple):
        return data
    name, values = data
    if name == "[]":
        return tuple(from_data(x) for x in values)
    return _TYPE_CLASSES[name](*(from_data(v) for v in values))
