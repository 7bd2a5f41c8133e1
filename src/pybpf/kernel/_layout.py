"""C struct layouts described as data, and records over ctypes buffers.

A :class:`Layout` is built from a declarative description — the struct's
size and ``(field, offset, type)`` rows, with types such as ``u32``,
``s32``, ``u64``, ``char[16]``, ``u8[8]`` or a bitfield ``u32:1@0`` (one
bit at bit 0 of the u32) — the shape the BTF of ``/sys/kernel/btf/vmlinux``
gives after anonymous structs and unions are flattened.  Unions are simply
fields that share an offset.  A :class:`Record` is one struct value in a
zeroed ctypes buffer whose address can be handed to the kernel.
"""

from __future__ import annotations

import ctypes
import re
import struct
from collections.abc import Iterable
from typing import Any, NamedTuple

_INT_FORMATS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q",
                "s8": "b", "s16": "h", "s32": "i", "s64": "q"}
_TYPE = re.compile(r"^(?P<base>[us](?:8|16|32|64)|char)(?:\[(?P<count>\d+)\])?"
                   r"(?::(?P<bits>\d+)@(?P<bit>\d+))?$")


class Field(NamedTuple):
    """One field: byte offset and size; ``fmt`` is the struct format of an
    integer field (None for arrays) and ``codec`` its compiled form;
    ``mask`` wraps an unsigned value (0 for signed fields); ``text`` marks a
    NUL-terminated char array; a bitfield has a non-zero ``bits`` starting
    at ``bit``."""

    name: str
    offset: int
    size: int
    fmt: str | None
    text: bool = False
    bits: int = 0
    bit: int = 0
    codec: struct.Struct | None = None
    mask: int = 0


def _field(name: str, offset: int, ctype: str) -> Field:
    m = _TYPE.match(ctype)
    if m is None:
        raise ValueError(f"field {name}: unknown type {ctype!r}")
    base, count = m["base"], m["count"]
    if base == "char":
        return Field(name, offset, int(count or 1), None, text=True)
    fmt = _INT_FORMATS[base]
    size = struct.calcsize(fmt)
    if count is not None:
        return Field(name, offset, size * int(count), None)
    codec = struct.Struct("<" + fmt)
    mask = (1 << (8 * size)) - 1 if base[0] == "u" else 0
    if m["bits"]:
        return Field(name, offset, size, "<" + fmt, bits=int(m["bits"]), bit=int(m["bit"]),
                     codec=codec, mask=mask)
    return Field(name, offset, size, "<" + fmt, codec=codec, mask=mask)


class Layout:
    """A struct layout: ``name``, ``size`` and fields by name."""

    __slots__ = ("fields", "name", "size")

    def __init__(self, name: str, size: int, fields: Iterable[tuple[str, int, str]]):
        self.name = name
        self.size = size
        self.fields: dict[str, Field] = {}
        for fname, offset, ctype in fields:
            f = _field(fname, offset, ctype)
            if f.offset + f.size > size:
                raise ValueError(f"{name}.{fname} ends at {f.offset + f.size}, past {size}")
            self.fields[fname] = f

    def new(self, **values: Any) -> Record:
        """A zeroed record with ``values`` set (zeros and None are skipped:
        the buffer starts zeroed)."""
        rec = Record(self, ctypes.create_string_buffer(self.size))
        for k, v in values.items():
            if v:
                rec[k] = v
            elif k not in self.fields:
                raise KeyError(f"{self.name} has no field {k!r}")
        return rec

    def from_bytes(self, data: bytes) -> Record:
        """A record holding a copy of ``data`` (padded or cut to the size)."""
        buf = ctypes.create_string_buffer(self.size)
        n = min(len(data), self.size)
        buf[:n] = data[:n]
        return Record(self, buf)

    def packer(self, *names: str) -> struct.Struct:
        """A ``struct.Struct`` that packs integer fields ``names`` in that
        order into the whole struct (padding zeroed): the fast path for
        records built on every call."""
        fmt, pos = "<", 0
        for name in names:
            f = self.fields[name]
            if f.fmt is None or f.bits or f.offset < pos:
                raise ValueError(f"{self.name}.{name} cannot be packed in this order")
            fmt += "x" * (f.offset - pos) + f.fmt[1:]
            pos = f.offset + f.size
        return struct.Struct(fmt + "x" * (self.size - pos))

    def __repr__(self) -> str:
        return f"<Layout {self.name} ({self.size} bytes, {len(self.fields)} fields)>"


class Record:
    """One struct value in a ctypes buffer: ``rec["field"]`` or
    ``rec.field`` reads and writes fields; ``address`` is what the kernel
    gets."""

    __slots__ = ("buf", "layout")

    def __init__(self, layout: Layout, buf: ctypes.Array):
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "buf", buf)

    @property
    def address(self) -> int:
        """Address of the buffer."""
        return ctypes.addressof(self.buf)

    def __getitem__(self, name: str) -> Any:
        f = self.layout.fields[name]
        if f.codec is not None:
            value = f.codec.unpack_from(self.buf, f.offset)[0]
            if f.bits:
                value = (value >> f.bit) & ((1 << f.bits) - 1)
            return value
        raw = bytes(self.buf[f.offset:f.offset + f.size])
        return raw.split(b"\0", 1)[0].decode("utf-8", "replace") if f.text else raw

    def __setitem__(self, name: str, value: Any) -> None:
        f = self.layout.fields[name]
        if f.codec is not None:
            if f.bits:
                old = f.codec.unpack_from(self.buf, f.offset)[0]
                mask = ((1 << f.bits) - 1) << f.bit
                value = (old & ~mask) | ((int(value) << f.bit) & mask)
            elif f.mask:
                value = int(value) & f.mask
            f.codec.pack_into(self.buf, f.offset, value)
            return
        data = value.encode() if isinstance(value, str) else bytes(value)
        limit = f.size - 1 if f.text else f.size
        if len(data) > limit:
            raise ValueError(f"{self.layout.name}.{name} holds {limit} bytes, "
                             f"got {len(data)}")
        self.buf[f.offset:f.offset + f.size] = data.ljust(f.size, b"\0")

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{self.layout.name} has no field {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def to_dict(self) -> dict[str, Any]:
        """Every field by name."""
        return {name: self[name] for name in self.layout.fields}

    def __bytes__(self) -> bytes:
        return bytes(self.buf)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if v)
        return f"{self.layout.name}({body})"
