"""Map keys and values taken apart into named fields, through BTF.

A key such as ``struct hist_key { u32 dev; u32 op; u32 slot; }`` becomes
three :class:`Field`\\ s — ``dev``, ``op`` and ``slot`` — each able to read
its value out of the key's bytes: an ``int`` for integers, bitfields,
pointers and enums (:attr:`Field.enum` names the enumerators), a ``bool``,
a ``float``, a ``str`` for a ``char`` array (cut at the first NUL) and
``bytes`` for other byte arrays.  Members of nested structs are named
``outer_inner``; members of anonymous structs and unions keep their own
names.  A key or value that is not a struct is one field named ``""``.

Without BTF a side of ``size`` bytes is one field: an unsigned
little-endian integer up to 8 bytes, else bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..btf.types import Array, Composite, EnumBase, Float, Int, Ptr
from ..btf.values import read_bits

_FLOATS = {4: "<f", 8: "<d"}
_INTS = {(1, False): "<B", (1, True): "<b", (2, False): "<H", (2, True): "<h",
         (4, False): "<I", (4, True): "<i", (8, False): "<Q", (8, True): "<q"}
_CHARS = ("char", "signed char", "unsigned char")
MAX_FIELDS = 256
"""A struct with more scalar fields than this is not taken apart further."""


@dataclass(frozen=True)
class Field:
    """One scalar part of a key or value: ``name`` (``""`` for the whole),
    where it sits (``bit_offset``, ``bits``; ``size`` bytes), and what it
    holds (``kind``: ``int``, ``bool``, ``float``, ``enum``, ``str``,
    ``bytes``, ``ptr``, ``array``)."""

    name: str
    kind: str
    bit_offset: int
    bits: int
    size: int
    signed: bool = False
    enum: dict[int, str] | None = None
    array: tuple[str, int, int] | None = None   # element kind, size, count

    @property
    def numeric(self) -> bool:
        """Whether the field reads as a number (a metric value can be it)."""
        return self.kind in ("int", "bool", "float", "enum", "ptr")

    @functools.cached_property
    def reader(self) -> Callable[[bytes], Any]:
        """:meth:`read` as one fast function (made once per field)."""
        code = _INTS.get((self.size, self.signed))
        if self.kind in ("int", "enum", "ptr") and code is not None and \
                self.bit_offset % 8 == 0 and self.bits == self.size * 8:
            unpack, offset = struct.Struct(code).unpack_from, self.bit_offset // 8
            return lambda data: unpack(data, offset)[0]
        return self.read

    def raw(self, data: bytes) -> bytes:
        """The field's bytes (the bytes that hold it, for a bitfield)."""
        first = self.bit_offset // 8
        return data[first:first + self.size]

    def read(self, data: bytes) -> Any:
        """The field's value in ``data``."""
        kind = self.kind
        if kind in ("int", "enum", "ptr"):
            if self.bit_offset % 8 == 0 and self.bits == self.size * 8:
                first = self.bit_offset // 8
                return int.from_bytes(data[first:first + self.size], "little",
                                      signed=self.signed)
            return read_bits(data, self.bit_offset, self.bits, self.signed, "little")
        if kind == "bool":
            return bool(read_bits(data, self.bit_offset, self.bits, False, "little"))
        if kind == "float":
            return struct.unpack_from(_FLOATS[self.size], data, self.bit_offset // 8)[0]
        if kind == "str":
            return self.raw(data).split(b"\0", 1)[0].decode("utf-8", "replace")
        if kind == "array":
            elem_kind, elem_size, count = self.array  # type: ignore[misc]
            raw = self.raw(data)
            signed = elem_kind == "sint"
            return [int.from_bytes(raw[i * elem_size:(i + 1) * elem_size], "little",
                                   signed=signed) for i in range(count)]
        return self.raw(data)


def plain_fields(size: int) -> list[Field]:
    """A side without BTF: one integer up to 8 bytes, else bytes."""
    if 0 < size <= 8:
        return [Field("", "int", 0, size * 8, size)]
    return [Field("", "bytes", 0, size * 8, size)]


def fields_of(btf: Any, type_ref: Any, size: int) -> list[Field]:
    """The fields of BTF type ``type_ref`` (plain fields of ``size`` bytes
    when there is no BTF, or the type cannot be taken apart)."""
    if btf is None or type_ref is None:
        return plain_fields(size)
    out: list[Field] = []
    try:
        _walk(btf, btf.type(type_ref), "", 0, 0, out)
    except (LookupError, ValueError, TypeError, KeyError):
        return plain_fields(size)
    if not out or len(out) > MAX_FIELDS:
        return plain_fields(size)
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}_{name}" if prefix and name else prefix or name


def _walk(btf: Any, t: Any, name: str, bit_offset: int, bitfield: int,
          out: list[Field]) -> None:
    t = btf.resolve(t)
    if isinstance(t, Int):
        bits = bitfield or t.bits
        kind = "bool" if t.is_bool else "int"
        out.append(Field(name, kind, bit_offset + t.bit_offset, bits, max(t.size, 1),
                         signed=t.is_signed))
    elif isinstance(t, EnumBase):
        out.append(Field(name, "enum", bit_offset, bitfield or t.size * 8, t.size,
                         signed=bool(t.signed), enum={v.value: v.name for v in t.values}))
    elif isinstance(t, Ptr):
        out.append(Field(name, "ptr", bit_offset, 64, 8))
    elif isinstance(t, Float):
        out.append(Field(name, "float", bit_offset, t.size * 8, t.size))
    elif isinstance(t, Array):
        elem = btf.resolve(t.elem_type_id)
        esize = btf.size_of(t.elem_type_id)
        total = esize * t.nelems
        if isinstance(elem, Int) and esize == 1 and (elem.is_char or elem.name in _CHARS[:2]):
            out.append(Field(name, "str", bit_offset, total * 8, total))
        elif isinstance(elem, Int) and esize == 1:
            out.append(Field(name, "bytes", bit_offset, total * 8, total))
        elif isinstance(elem, Int | EnumBase) and esize in (2, 4, 8):
            signed = getattr(elem, "is_signed", False) or getattr(elem, "signed", False)
            out.append(Field(name, "array", bit_offset, total * 8, total,
                             array=("sint" if signed else "uint", esize, t.nelems)))
        else:
            out.append(Field(name, "bytes", bit_offset, total * 8, total))
    elif isinstance(t, Composite):
        for m in t.members:
            _walk(btf, m.type_id, _join(name, m.name), bit_offset + m.bit_offset,
                  m.bitfield_size, out)
            if len(out) > MAX_FIELDS:
                return
    else:
        size = btf.size_of(t)
        out.append(Field(name, "bytes", bit_offset, size * 8, size))


def find_field(fields: list[Field], name: str, what: str) -> Field:
    """The field called ``name`` (``""``: the whole side, when it is one
    field); LookupError naming the fields there are."""
    for f in fields:
        if f.name == name:
            return f
    if name == "" and len(fields) == 1:
        return fields[0]
    if len(fields) == 1 and fields[0].name == "":
        raise LookupError(f"the {what} is not a struct and has no field {name!r}: leave "
                          f"field out (or give field = \"\") for the whole {what}")
    names = ", ".join(repr(f.name) for f in fields) or "none"
    raise LookupError(f"the {what} has no field {name!r} (fields: {names})")


__all__ = ["MAX_FIELDS", "Field", "fields_of", "find_field", "plain_fields"]
