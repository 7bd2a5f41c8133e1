"""Reading any map in the kernel as bpftool shows it.

A map found by id (or pin) is read as raw bytes — its keys and values,
per-CPU values one per possible CPU — and, where it was created with BTF,
also as plain values shaped the way ``bpftool map dump`` prints them::

    from pybpf.kernel import map_dump

    with map_dump.open_map(12) as m:
        btf = map_dump.map_btf(m.info())
        shown, total = map_dump.entries(m, limit=100)
        for e in shown:
            print(map_dump.formatted(btf, m.info(), e))   # {"key": 7, "value": {"x": 3}}

The shapes follow bpftool's JSON: structs are objects, arrays lists,
``char`` arrays holding a NUL-terminated printable string are strings,
enumerators are their names, ``_Bool`` is ``true``/``false``, integers wider
than 64 bits are hex strings, a data section (``.bss``, ``.rodata``) is
``{section: [{variable: value}, ...]}`` and per-CPU values are
``[{"cpu": N, "value": ...}]``.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from ..btf.types import (
    Array,
    Composite,
    Datasec,
    EnumBase,
    Float,
    Int,
    Ptr,
    Var,
)
from ..btf.values import read_bits
from ..codecs import ARRAY_TYPES, INDEX_KEY_TYPES
from ..errors import BPFError
from .maps import KernelMap

_FLOAT_FORMATS = {4: "<f", 8: "<d"}
_CHAR_NAMES = ("char", "signed char", "unsigned char")


def open_map(map_id: int) -> KernelMap:
    """The map with kernel id ``map_id``, with bytes keys and values."""
    return KernelMap.from_id(map_id, key_codec="bytes", value_codec="bytes")


def map_btf(info: Any) -> Any:
    """The BTF a map was created with (:class:`pybpf.btf.BTF`), or None when
    it has none (or none for its key and value)."""
    if not info.btf_id or not (info.btf_key_type_id or info.btf_value_type_id):
        return None
    from ..btf import BTF
    from .kernel_btf import KernelBTF

    try:
        with KernelBTF.from_id(info.btf_id) as kb:
            return BTF.from_bytes(kb.raw())
    except BPFError:
        return None


class MapEntry(NamedTuple):
    """One element: ``key`` bytes and ``value`` bytes (a list of bytes, one
    per possible CPU, for per-CPU maps)."""

    key: bytes
    value: bytes | list[bytes]


def entries(m: KernelMap, limit: int | None = None) -> tuple[list[MapEntry], int]:
    """The first ``limit`` elements of ``m`` (all with None) in key order,
    and how many keys the map holds in all.  Keys without a value (empty
    slots of fd arrays, keys deleted meanwhile) are skipped.

    Memory stays bounded by ``limit`` for maps keyed by index (their walk
    never revisits a key), and a plain array stops at ``limit``: every index
    holds a value, so the total is ``max_entries``.  Other maps are walked to
    the end to count them (an fd array of 2**31 empty slots takes that long;
    Ctrl-C stops it)."""
    raw = m.raw
    indexed = m.type in INDEX_KEY_TYPES
    shown: list[MapEntry] = []
    total = 0
    key = raw.get_next_key(None)
    seen: set[bytes] = set()
    steps = 2 * m.max_entries + 16  # a walk that restarts (keys deleted meanwhile) ends too
    while key is not None and steps:
        steps -= 1
        if indexed or key not in seen:
            if not indexed:
                seen.add(key)
            total += 1
            if limit is None or len(shown) < limit:
                try:
                    value = raw.lookup(key)
                except KeyError:
                    value = None
                except BPFError:  # fd-valued maps refuse lookups from user space
                    value = None
                if value is not None:
                    shown.append(MapEntry(key, value))
                else:
                    total -= 1
            elif m.type in ARRAY_TYPES:
                return shown, m.max_entries
        key = raw.get_next_key(key)
    return shown, total


def formatted(btf: Any, info: Any, entry: MapEntry) -> dict[str, Any]:
    """An element through the map's BTF: ``{"key": ..., "value": ...}`` (or
    ``"values": [{"cpu": N, "value": ...}]`` for per-CPU maps); the key is
    left out when the map has no BTF for it, as bpftool does."""
    out: dict[str, Any] = {}
    if info.btf_key_type_id:
        out["key"] = btf_json(btf, info.btf_key_type_id, entry.key)
    if info.btf_value_type_id:
        if isinstance(entry.value, list):
            out["values"] = [{"cpu": i, "value": btf_json(btf, info.btf_value_type_id, v)}
                             for i, v in enumerate(entry.value)]
        else:
            out["value"] = btf_json(btf, info.btf_value_type_id, entry.value)
    return out


def btf_json(btf: Any, type_id: int, data: bytes, bit_offset: int = 0,
             bitfield_size: int = 0) -> Any:
    """The value of type ``type_id`` at ``bit_offset`` bits into ``data``,
    as bpftool's JSON shows it (see the module docstring)."""
    t = btf.resolve(type_id)
    byte = bit_offset // 8
    if isinstance(t, Int):
        nbits = bitfield_size or t.bits
        start = bit_offset + t.bit_offset
        if t.size > 8 and not bitfield_size:
            return "0x" + data[byte:byte + t.size][::-1].hex()
        value = read_bits(data, start, nbits, t.is_signed, "little")
        if t.is_bool:
            return bool(value)
        if t.is_char and t.size == 1 and not bitfield_size:
            ch = value & 0xFF
            return chr(ch) if 0x20 <= ch < 0x7F else ch
        return value
    if isinstance(t, EnumBase):
        value = read_bits(data, bit_offset, bitfield_size or t.size * 8, t.signed, "little")
        name = t.name_of(value)
        return name if name is not None else value
    if isinstance(t, Ptr):
        return int.from_bytes(data[byte:byte + 8], "little")
    if isinstance(t, Float):
        fmt = _FLOAT_FORMATS.get(t.size)
        return struct.unpack_from(fmt, data, byte)[0] if fmt else \
            "0x" + data[byte:byte + t.size][::-1].hex()
    if isinstance(t, Array):
        elem = btf.type(t.elem_type_id)
        size = btf.size_of(t.elem_type_id)
        chunk = data[byte:byte + size * t.nelems]
        if getattr(elem, "name", "") in _CHAR_NAMES and size == 1 and b"\0" in chunk:
            text = chunk.split(b"\0", 1)[0]
            if all(0x20 <= c < 0x7F for c in text):
                return text.decode("ascii")
        return [btf_json(btf, t.elem_type_id, data, bit_offset + i * size * 8)
                for i in range(t.nelems)]
    if isinstance(t, Composite):
        return {m.name: btf_json(btf, m.type_id, data, bit_offset + m.bit_offset,
                                 m.bitfield_size) for m in t.members}
    if isinstance(t, Datasec):
        values = []
        for v in t.vars:
            var = btf[v.type_id]
            if isinstance(var, Var):
                values.append({var.name: btf_json(btf, var.type_id, data,
                                                  bit_offset + v.offset * 8)})
        return {t.name: values}
    if isinstance(t, Var):
        return {t.name: btf_json(btf, t.type_id, data, bit_offset)}
    return None
