"""Decoding and printing values with their BTF type: map keys and values,
ring-buffer and perf events, global variables.

:func:`decode` turns bytes into plain Python: ``int`` for integers, enums
and pointers, ``bool`` for ``_Bool``, ``float``, ``str`` for ``char`` arrays
(up to the first NUL), ``bytes`` for ``unsigned char``/``u8`` arrays,
``list`` for other arrays and ``dict`` for structs and unions (members of an
anonymous struct or union appear in the enclosing dict, as C spells them).
Bitfields are extracted and sign-extended.

:func:`format_value` prints the same value in C initializer style, with
enumerator names and pointers in hex::

    {.pid = 1234, .comm = "bash", .state = TASK_RUNNING, .prev = 0xffff8881...}

Decoders are compiled once per type and cached on the BTF, so decoding a
stream of events of one type stays cheap.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..errors import BTFError
from .types import (
    MAX_NESTING,
    Array,
    Composite,
    Datasec,
    EnumBase,
    Float,
    Int,
    Ptr,
    Type,
    TypeTable,
    Var,
)

Decoder = Callable[[bytes, int], Any]


def decode(btf: TypeTable, ref: Type | int | str, data: bytes | bytearray | memoryview) -> Any:
    """Decode ``data`` as a value of type ``ref`` (see the module docstring).

    ``data`` may be longer than the type; shorter raises BTFError.
    """
    t = btf.type(ref)
    size = btf.size_of(t)
    if len(data) < size:
        raise BTFError(f"{size} bytes needed to decode {_label(btf, t)}, got {len(data)}",
                       path=btf.path)
    buf = bytes(data) if not isinstance(data, bytes) else data
    try:
        return decoder(btf, t.id)(buf, 0)
    except (struct.error, IndexError):
        raise BTFError(f"{_label(btf, t)} has members outside its {size} bytes",
                       path=btf.path) from None


def decoder(btf: TypeTable, type_id: int) -> Decoder:
    """A function ``f(buf, offset)`` that decodes a value of ``type_id`` found
    at byte ``offset`` of ``buf``; compiled once and cached on ``btf``."""
    cache = _cache(btf)
    d = cache.get(type_id)
    if d is None:
        d = _Compiler(btf, cache).compile(type_id, 0)
    return d


def _cache(btf: TypeTable) -> dict[int, Decoder]:
    cache = getattr(btf, "_decoders", None)
    if cache is None:
        cache = {}
        btf._decoders = cache  # type: ignore[attr-defined]
    return cache


def _label(btf: TypeTable, t: Type) -> str:
    return f"[{t.id}] {btf.type_name(t.id)}" if t.id else repr(t)


def is_char(t: Type) -> bool:
    """Whether ``t`` (resolved) is ``char``: arrays of it decode as ``str``."""
    return isinstance(t, Int) and t.size == 1 and (t.is_char or t.name == "char")


def _is_byte(t: Type) -> bool:
    return isinstance(t, Int) and t.size == 1 and not t.is_signed and not t.is_bool


_STRUCTS = {}
MAX_EMPTY_ELEMENTS = 1 << 16
"""Longest array of zero-sized elements decoded (longer ones are corrupt)."""


def _int_struct(size: int, signed: bool, endian: str) -> struct.Struct | None:
    code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(size)
    if code is None:
        return None
    key = (code if signed else code.upper(), endian)
    s = _STRUCTS.get(key)
    if s is None:
        s = _STRUCTS[key] = struct.Struct(endian + key[0])
    return s


def read_bits(buf: bytes, bit_offset: int, nbits: int, signed: bool, byteorder: str) -> int:
    """The ``nbits``-wide field at ``bit_offset`` of ``buf`` (BTF numbers bits
    from the first byte's least significant bit on little-endian targets and
    from its most significant bit on big-endian ones)."""
    first = bit_offset // 8
    last = (bit_offset + nbits + 7) // 8
    chunk = int.from_bytes(buf[first:last], byteorder)
    if byteorder == "little":
        value = (chunk >> (bit_offset % 8)) & ((1 << nbits) - 1)
    else:
        value = (chunk >> ((last - first) * 8 - bit_offset % 8 - nbits)) & ((1 << nbits) - 1)
    if signed and nbits and value >> (nbits - 1):
        value -= 1 << nbits
    return value


class _Compiler:
    def __init__(self, btf: TypeTable, cache: dict[int, Decoder]):
        self.btf = btf
        self.cache = cache
        self.endian = "<" if btf.byteorder == "little" else ">"
        self.in_progress: set[int] = set()

    def compile(self, tid: int, depth: int) -> Decoder:
        d = self.cache.get(tid)
        if d is not None:
            return d
        if depth > MAX_NESTING or tid in self.in_progress:
            raise BTFError(f"type [{tid}] contains itself (or nests too deeply) and cannot be "
                           f"decoded", path=self.btf.path)
        self.in_progress.add(tid)
        try:
            d = self._build(tid, depth)
        finally:
            self.in_progress.discard(tid)
        self.cache[tid] = d
        return d

    def _build(self, tid: int, depth: int) -> Decoder:
        btf = self.btf
        t = btf.resolve(tid)
        if t.id != tid:
            return self.compile(t.id, depth + 1)
        if isinstance(t, Var):
            return self.compile(t.type_id, depth + 1)
        if isinstance(t, Int):
            return self._int(t)
        if isinstance(t, EnumBase):
            s = _int_struct(t.size, t.signed, self.endian)
            if s is None:
                return self._wide_int(t.size, t.signed)
            unpack = s.unpack_from
            return lambda buf, off: unpack(buf, off)[0]
        if isinstance(t, Ptr):
            unpack = _int_struct(btf.pointer_size, False, self.endian).unpack_from
            return lambda buf, off: unpack(buf, off)[0]
        if isinstance(t, Float):
            code = {4: "f", 8: "d", 2: "e"}.get(t.size)
            if code is None:
                size = t.size
                return lambda buf, off: bytes(buf[off:off + size])
            unpack = struct.Struct(self.endian + code).unpack_from
            return lambda buf, off: unpack(buf, off)[0]
        if isinstance(t, Array):
            return self._array(t, depth)
        if isinstance(t, Composite):
            return self._composite(t, depth)
        if isinstance(t, Datasec):
            entries = [(var.name, self.compile(var.id, depth + 1), off)
                       for var, off, _ in btf.datasec_vars(t)]
            return lambda buf, off: {name: d(buf, off + o) for name, d, o in entries}
        raise BTFError(f"cannot decode a value of {_label(btf, t)}: it has no size",
                       path=btf.path)

    def _int(self, t: Int) -> Decoder:
        if t.bits != t.size * 8 or t.bit_offset:
            bit_offset, bits, signed, order = t.bit_offset, t.bits, t.is_signed, self.btf.byteorder
            return lambda buf, off: read_bits(buf, off * 8 + bit_offset, bits, signed, order)
        if t.is_bool:
            size = t.size
            return lambda buf, off: any(buf[off:off + size])
        s = _int_struct(t.size, t.is_signed, self.endian)
        if s is None:
            return self._wide_int(t.size, t.is_signed)
        unpack = s.unpack_from
        return lambda buf, off: unpack(buf, off)[0]

    def _wide_int(self, size: int, signed: bool) -> Decoder:
        order = self.btf.byteorder
        return lambda buf, off: int.from_bytes(buf[off:off + size], order, signed=signed)

    def _array(self, t: Array, depth: int) -> Decoder:
        btf = self.btf
        elem = btf.resolve(t.elem_type_id)
        n = t.nelems
        if is_char(elem):
            def as_str(buf, off):
                raw = buf[off:off + n]
                end = raw.find(b"\0")
                return (raw if end < 0 else raw[:end]).decode("utf-8", "backslashreplace")
            return as_str
        if _is_byte(elem):
            return lambda buf, off: bytes(buf[off:off + n])
        step = btf.size_of(t.elem_type_id)
        if step == 0 and n > MAX_EMPTY_ELEMENTS:
            raise BTFError(f"{_label(btf, t)}: {n} elements of size 0 are too many to decode",
                           path=btf.path)
        if isinstance(elem, Int) and elem.bits == elem.size * 8 and not elem.bit_offset \
                and not elem.is_bool:
            s = _int_struct(elem.size, elem.is_signed, self.endian)
            if s is not None:
                many = struct.Struct(f"{self.endian}{n}{s.format[-1]}").unpack_from
                return lambda buf, off: list(many(buf, off))
        inner = self.compile(t.elem_type_id, depth + 1)
        total = n * step

        def decode_array(buf, off):
            if off + total > len(buf):
                raise IndexError  # the enclosing type is smaller than this array
            return [inner(buf, off + i * step) for i in range(n)]
        return decode_array

    def _composite(self, t: Composite, depth: int) -> Decoder:
        btf = self.btf
        # One step per member, in member order: (how, name, a, b, c, d).
        steps: list[tuple] = []
        for m in t.members:
            mt = btf.resolve(m.type_id)
            nbits, bit_off = m.bitfield_size, m.bit_offset
            if not nbits and isinstance(mt, Int) and (mt.bits != mt.size * 8 or mt.bit_offset):
                nbits, bit_off = mt.bits, m.bit_offset + mt.bit_offset
            if nbits:
                signed = (isinstance(mt, Int) and mt.is_signed) or (
                    isinstance(mt, EnumBase) and mt.signed)
                steps.append((_BITS, m.name, bit_off, nbits, signed,
                              isinstance(mt, Int) and mt.is_bool))
            elif not m.name and isinstance(mt, Composite):
                steps.append((_MERGE, "", self.compile(m.type_id, depth + 1), bit_off // 8,
                              None, None))
            elif m.name:
                steps.append((_PLAIN, m.name, self.compile(m.type_id, depth + 1), bit_off // 8,
                              None, None))
        if all(step[0] == _PLAIN for step in steps):
            plain = [(name, d, o) for _, name, d, o, _, _ in steps]
            return lambda buf, off: {name: d(buf, off + o) for name, d, o in plain}
        order = btf.byteorder

        def decode_record(buf, off):
            out = {}
            for how, name, a, b, c, d in steps:
                if how == _PLAIN:
                    out[name] = a(buf, off + b)
                elif how == _BITS:
                    v = read_bits(buf, off * 8 + a, b, c, order)
                    out[name] = bool(v) if d else v
                else:
                    for k, v in a(buf, off + b).items():
                        out.setdefault(k, v)
            return out
        return decode_record


_PLAIN, _BITS, _MERGE = 0, 1, 2


# ------------------------------------------------------------------ printing


def format_value(btf: TypeTable, ref: Type | int | str, data: bytes | bytearray | memoryview, *,
                 indent: int | None = None, max_items: int = 64) -> str:
    """``data`` as a value of type ``ref``, for humans.

    One line by default; ``indent=N`` spreads records and arrays over lines
    indented by N spaces.  Arrays longer than ``max_items`` are cut with
    ``...``.
    """
    t = btf.type(ref)
    size = btf.size_of(t)
    if len(data) < size:
        raise BTFError(f"{size} bytes needed to format {_label(btf, t)}, got {len(data)}",
                       path=btf.path)
    try:
        return _Formatter(btf, bytes(data), indent, max_items).value(t.id, 0, None, 0)
    except (struct.error, IndexError):
        raise BTFError(f"{_label(btf, t)} has members outside its {size} bytes",
                       path=btf.path) from None


class _Formatter:
    def __init__(self, btf: TypeTable, buf: bytes, indent: int | None, max_items: int):
        self.btf = btf
        self.buf = buf
        self.indent = indent
        self.max_items = max_items
        self.order = btf.byteorder

    def _join(self, items: list[str], open_: str, close: str, level: int) -> str:
        if not items:
            return open_ + close
        if self.indent is None:
            return open_ + ", ".join(items) + close
        pad = " " * (self.indent * (level + 1))
        return (open_ + "\n" + ",\n".join(pad + i for i in items) + ",\n"
                + " " * (self.indent * level) + close)

    def value(self, tid: int, off: int, bitfield: tuple[int, int] | None, level: int) -> str:
        btf = self.btf
        if level > MAX_NESTING:
            raise BTFError(f"type [{tid}] nests too deeply to format", path=btf.path)
        t = btf.resolve(tid)
        if isinstance(t, Var):
            return self.value(t.type_id, off, bitfield, level + 1)
        if bitfield is not None:
            bit_off, nbits = bitfield
            signed = (isinstance(t, Int) and t.is_signed) or (isinstance(t, EnumBase) and t.signed)
            v = read_bits(self.buf, bit_off, nbits, signed, self.order)
            return self._scalar(t, v)
        if isinstance(t, (Int, EnumBase, Ptr)):
            v = decoder(btf, t.id)(self.buf, off)
            return self._scalar(t, v)
        if isinstance(t, Float):
            return repr(decoder(btf, t.id)(self.buf, off))
        if isinstance(t, Array):
            elem = btf.resolve(t.elem_type_id)
            if is_char(elem):
                return _c_string(self.buf[off:off + t.nelems])
            step = btf.size_of(t.elem_type_id)
            shown = min(t.nelems, self.max_items)
            items = [self.value(t.elem_type_id, off + i * step, None, level + 1)
                     for i in range(shown)]
            if shown < t.nelems:
                items.append(f"... {t.nelems - shown} more")
            if isinstance(elem, (Int, EnumBase, Ptr, Float)):
                return "[" + ", ".join(items) + "]"
            return self._join(items, "[", "]", level)
        if isinstance(t, Composite):
            items = [f".{name} = {text}" if name else text
                     for name, text in self._members(t, off * 8, level)]
            return self._join(items, "{", "}", level)
        if isinstance(t, Datasec):
            items = [f".{var.name} = {self.value(var.type_id, off + o, None, level + 1)}"
                     for var, o, _ in btf.datasec_vars(t)]
            return self._join(items, "{", "}", level)
        raise BTFError(f"cannot format a value of {_label(btf, t)}: it has no size",
                       path=btf.path)

    def _members(self, t: Composite, base_bits: int, level: int) -> list[tuple[str, str]]:
        btf = self.btf
        out = []
        for m in t.members:
            mt = btf.resolve(m.type_id)
            nbits, bit_off = m.bitfield_size, base_bits + m.bit_offset
            if not nbits and isinstance(mt, Int) and (mt.bits != mt.size * 8 or mt.bit_offset):
                nbits, bit_off = mt.bits, bit_off + mt.bit_offset
            if nbits:
                out.append((m.name, self.value(m.type_id, 0, (bit_off, nbits), level + 1)))
            elif not m.name and isinstance(mt, Composite):
                out.extend(self._members(mt, bit_off, level))
            else:
                out.append((m.name, self.value(m.type_id, bit_off // 8, None, level + 1)))
        return out

    def _scalar(self, t: Type, v: int) -> str:
        if isinstance(t, Ptr):
            return "NULL" if v == 0 else hex(v)
        if isinstance(t, EnumBase):
            name = t.name_of(v)
            return name if name is not None else _enum_flags(t, v)
        if isinstance(t, Int):
            if t.is_bool:
                return "true" if v else "false"
            if is_char(t):
                return _c_char(v)
        return str(v)


def _enum_flags(t: EnumBase, v: int) -> str:
    """``A | B`` when ``v`` is an OR of single-bit enumerators, else the number."""
    if v > 0:
        names = []
        rest = v
        for e in t.values:
            if e.value > 0 and e.value & (e.value - 1) == 0 and rest & e.value:
                names.append(e.name)
                rest &= ~e.value
        if names and not rest:
            return " | ".join(names)
    return str(v)


_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x09: "\\t", 0x0D: "\\r"}


def _c_string(raw: bytes) -> str:
    end = raw.find(b"\0")
    if end >= 0:
        raw = raw[:end]
    out = []
    for b in raw:
        if b in _ESCAPES:
            out.append(_ESCAPES[b])
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return '"' + "".join(out) + '"'


def _c_char(v: int) -> str:
    b = v & 0xFF
    if b == 0x27:
        return "'\\''"
    if b == 0x22:
        return "'\"'"
    if b in _ESCAPES:
        return f"'{_ESCAPES[b]}'"
    if 0x20 <= b < 0x7F:
        return f"'{chr(b)}'"
    return str(v)


# ------------------------------------------------------------------ encoding


def encode(btf: TypeTable, ref: Type | int | str, value: Any) -> bytes:
    """The bytes of ``value`` as type ``ref``: the inverse of :func:`decode`.

    Accepts what :func:`decode` returns, and a little more: enumerator names
    for enums, ``str`` or ``bytes`` for ``char`` arrays, shorter lists for
    arrays and dicts without some members (the rest is zero).  Raises
    BTFError for a value that does not fit.
    """
    t = btf.type(ref)
    buf = bytearray(btf.size_of(t))
    _Encoder(btf).put(buf, t.id, 0, value, 0)
    return bytes(buf)


def write_bits(buf: bytearray, bit_offset: int, nbits: int, value: int, byteorder: str) -> None:
    """Store ``value`` in the ``nbits``-wide field at ``bit_offset`` (the
    numbering of :func:`read_bits`)."""
    first = bit_offset // 8
    last = (bit_offset + nbits + 7) // 8
    if last > len(buf):
        raise BTFError(f"bitfield at bit {bit_offset} lies outside its {len(buf)}-byte record")
    chunk = int.from_bytes(buf[first:last], byteorder)
    mask = (1 << nbits) - 1
    shift = bit_offset % 8 if byteorder == "little" else (last - first) * 8 - bit_offset % 8 - nbits
    chunk = (chunk & ~(mask << shift)) | ((value & mask) << shift)
    buf[first:last] = chunk.to_bytes(last - first, byteorder)


class _Encoder:
    def __init__(self, btf: TypeTable):
        self.btf = btf
        self.order = btf.byteorder

    def _error(self, t: Type, value: Any, why: str) -> BTFError:
        return BTFError(f"cannot encode {value!r} as {_label(self.btf, t)}: {why}",
                        path=self.btf.path)

    def _int_value(self, t: Type, value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and isinstance(t, EnumBase):
            for v in t.values:
                if v.name == value:
                    return v.value
            raise self._error(t, value, "no such enumerator")
        if not isinstance(value, int):
            raise self._error(t, value, "expected an integer")
        return value

    def _check_range(self, t: Type, value: int, bits: int, signed: bool) -> None:
        if not 0 < bits <= 128:
            raise self._error(t, value, f"{bits}-bit integers are not supported")
        low = -(1 << (bits - 1))  # an unsigned field takes -1 as all ones, as in C
        high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        if not low <= value <= high:
            raise self._error(t, value, f"out of range for {bits} bits")

    def put(self, buf: bytearray, tid: int, off: int, value: Any, depth: int) -> None:
        btf = self.btf
        if depth > MAX_NESTING:
            raise BTFError(f"type [{tid}] nests too deeply to encode", path=btf.path)
        t = btf.resolve(tid)
        if isinstance(t, Var):
            return self.put(buf, t.type_id, off, value, depth + 1)
        if isinstance(t, (Int, EnumBase, Ptr)):
            size = btf.pointer_size if isinstance(t, Ptr) else t.size
            if not 0 < size <= 16 or off + size > len(buf):
                raise self._error(t, value, f"a {size}-byte integer at offset {off} does not fit "
                                  f"in {len(buf)} bytes")
            v = self._int_value(t, value)
            signed = (isinstance(t, Int) and t.is_signed) or (isinstance(t, EnumBase) and t.signed)
            if isinstance(t, Int) and (t.bits != t.size * 8 or t.bit_offset):
                self._check_range(t, v, t.bits, signed)
                write_bits(buf, off * 8 + t.bit_offset, t.bits, v, self.order)
                return None
            self._check_range(t, v, size * 8, signed)
            buf[off:off + size] = (v & ((1 << (size * 8)) - 1)).to_bytes(size, self.order)
            return None
        if isinstance(t, Float):
            code = {4: "f", 8: "d", 2: "e"}.get(t.size)
            if code is None or not isinstance(value, (int, float)) or off + t.size > len(buf):
                raise self._error(t, value, "expected a float of 2, 4 or 8 bytes")
            struct.pack_into(("<" if self.order == "little" else ">") + code, buf, off, value)
            return None
        if isinstance(t, Array):
            return self._array(buf, t, off, value, depth)
        if isinstance(t, Composite):
            if not isinstance(value, dict):
                raise self._error(t, value, "expected a dict of members")
            rest = dict(value)
            self._members(buf, t, off * 8, rest, depth)
            if rest:
                raise self._error(t, value, f"no member {next(iter(rest))!r}")
            return None
        if isinstance(t, Datasec):
            if not isinstance(value, dict):
                raise self._error(t, value, "expected a dict of variables")
            for var, o, _ in btf.datasec_vars(t):
                if var.name in value:
                    self.put(buf, var.type_id, off + o, value[var.name], depth + 1)
            return None
        raise self._error(t, value, "the type has no size")

    def _array(self, buf: bytearray, t: Array, off: int, value: Any, depth: int) -> None:
        btf = self.btf
        elem = btf.resolve(t.elem_type_id)
        n = t.nelems
        if isinstance(value, str) and is_char(elem):
            value = value.encode("utf-8", "surrogateescape")
        if isinstance(value, (bytes, bytearray)) and isinstance(elem, Int) and elem.size == 1:
            if len(value) > n:
                raise self._error(t, value, f"longer than {n} bytes")
            if off + len(value) > len(buf):
                raise self._error(t, value, "the array lies outside its enclosing type")
            buf[off:off + len(value)] = value
            return
        if not isinstance(value, (list, tuple)):
            raise self._error(t, value, "expected a list")
        if len(value) > n:
            raise self._error(t, value, f"more than {n} elements")
        step = btf.size_of(t.elem_type_id)
        for i, item in enumerate(value):
            self.put(buf, t.elem_type_id, off + i * step, item, depth + 1)

    def _members(self, buf: bytearray, t: Composite, base_bits: int, rest: dict,
                 depth: int) -> None:
        btf = self.btf
        for m in t.members:
            mt = btf.resolve(m.type_id)
            bit_off = base_bits + m.bit_offset
            nbits = m.bitfield_size
            if not nbits and isinstance(mt, Int) and (mt.bits != mt.size * 8 or mt.bit_offset):
                nbits, bit_off = mt.bits, bit_off + mt.bit_offset
            if not m.name:
                if isinstance(mt, Composite):
                    self._members(buf, mt, bit_off, rest, depth + 1)
                continue
            if m.name not in rest:
                continue
            item = rest.pop(m.name)
            if nbits:
                v = self._int_value(mt, item)
                signed = (isinstance(mt, Int) and mt.is_signed) or (
                    isinstance(mt, EnumBase) and mt.signed)
                self._check_range(mt, v, nbits, signed)
                write_bits(buf, bit_off, nbits, v, self.order)
            else:
                self.put(buf, m.type_id, bit_off // 8, item, depth + 1)
