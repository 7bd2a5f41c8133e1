"""Map definitions in BPF objects.

*BTF-defined maps* live in the ``.maps`` section: each map is a global
variable whose type is an anonymous struct, and each member of that struct
describes one attribute through its *type*, not its value::

    struct {
        __uint(type, BPF_MAP_TYPE_HASH);      // int (*type)[1]: the count is the value
        __uint(max_entries, 1024);
        __type(key, u32);                     // u32 *key: the pointee is the key type
        __type(value, struct event);
        __array(values, struct inner);        // struct inner *values[]: inner map
        __ulong(map_extra, 1ULL << 40);       // an enum whose one value is the value
    } counts SEC(".maps");

*Legacy maps* live in the ``maps`` section as ``struct bpf_map_def``
(type, key_size, value_size, max_entries, map_flags: five 32-bit words).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..btf import BTF, Array, EnumBase, FuncProto, Ptr, Struct, Union
from ..errors import BTFError, ObjectError
from ..objects import MapSpec

PIN_NONE, PIN_BY_NAME = 0, 1

_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "pinning", "key_size",
               "value_size", "map_extra")
_TYPE_FIELDS = ("key", "value")


def map_type_name(number: int) -> str | None:
    """``BPF_MAP_TYPE_*`` number -> our name (``hash``), or None if unknown."""
    from ..spec import enum_name

    name = enum_name("bpf_map_type", number)
    if name is None or not name.startswith("BPF_MAP_TYPE_") or name.startswith("__"):
        return None
    return name[len("BPF_MAP_TYPE_"):].lower()


def map_type_number(name: str) -> int:
    """Our map type name -> its ``BPF_MAP_TYPE_*`` number."""
    from ..spec import enum_values

    return enum_values("bpf_map_type")["BPF_MAP_TYPE_" + name.upper()]


class BTFMapDef:
    """One map definition read from BTF, before it becomes a :class:`MapSpec`.

    ``values_offset`` is the byte offset of the ``values`` member inside the
    definition (where ``.rel.maps`` relocations write initial values),
    ``values_kind`` is ``maps`` for maps of maps, ``progs`` for program
    arrays, None without a ``values`` member.
    """

    def __init__(self, spec: MapSpec, values_offset: int | None, values_kind: str | None):
        self.spec = spec
        self.values_offset = values_offset
        self.values_kind = values_kind


def parse_btf_map(btf: BTF, name: str, type_id: int, *,
                  error: Callable[[str], ObjectError], inner: bool = False) -> BTFMapDef:
    """Read the map definition struct ``type_id`` of map ``name``."""
    t = btf.resolve(type_id)
    if not isinstance(t, Struct):
        raise error(f"map {name!r}: its definition is a {t.kind.name}, not a struct")
    fields: dict[str, int] = {}
    key_type = value_type = None
    values_offset: int | None = None
    values_kind: str | None = None
    inner_spec: MapSpec | None = None
    for m in t.members:
        if m.name in _INT_FIELDS:
            fields[m.name] = _int_field(btf, name, m.name, m.type_id, error)
        elif m.name in _TYPE_FIELDS:
            target = _pointee(btf, m.type_id)
            if target is None:
                raise error(f"map {name!r}: member {m.name!r} must be a pointer to the "
                            f"{m.name} type (use __type({m.name}, ...))")
            size = btf.size_of(target)
            if m.name == "key":
                key_type = btf[target]
                fields["_key_size"] = size
            else:
                value_type = btf[target]
                fields["_value_size"] = size
        elif m.name == "values":
            if inner:
                raise error(f"map {name!r}: an inner map cannot have 'values'")
            values_offset = m.bit_offset // 8
            values_kind, inner_spec = _values(btf, name, m.type_id, error)
        else:
            raise error(f"map {name!r}: unknown field {m.name!r} in its definition")
    if "type" not in fields:
        raise error(f"map {name!r}: the definition has no 'type'")
    type_name = map_type_name(fields["type"])
    if type_name is None:
        raise error(f"map {name!r}: unknown map type {fields['type']}")
    key_size = _agree(name, "key", fields.get("key_size"), fields.get("_key_size"), error)
    value_size = _agree(name, "value", fields.get("value_size"), fields.get("_value_size"),
                        error)
    if type_name in ("perf_event_array", "cgroup_array") or values_kind is not None:
        key_size = key_size or 4
        value_size = value_size or 4
    # __type(value, struct event) on a buffer names its records (pybpf.records):
    # the kernel's ring buffers have neither key nor value, a perf event
    # array's values are 4-byte fds
    if type_name in ("ringbuf", "user_ringbuf") and (key_type or value_type):
        key_size = value_size = 0
    elif type_name == "perf_event_array" and value_type is not None and \
            isinstance(btf.resolve(value_type), Struct | Union):
        key_size = value_size = 4
    pinning = fields.get("pinning", PIN_NONE)
    if pinning not in (PIN_NONE, PIN_BY_NAME):
        raise error(f"map {name!r}: unsupported pinning {pinning} (0: none, 1: by name)")
    if inner_spec is not None:
        inner_spec.name = f"{name}.inner"
    spec = MapSpec(
        name=name, type=type_name, key_size=key_size or 0, value_size=value_size or 0,
        max_entries=fields.get("max_entries", 0), flags=fields.get("map_flags", 0),
        key_type=key_type, value_type=value_type, btf=btf, inner=inner_spec,
        pinning="by_name" if pinning == PIN_BY_NAME else None, section=".maps",
        numa_node=fields.get("numa_node"), map_extra=fields.get("map_extra", 0))
    return BTFMapDef(spec, values_offset, values_kind)


def _agree(name: str, what: str, given: int | None, from_type: int | None,
           error: Callable[[str], ObjectError]) -> int | None:
    if given is not None and from_type is not None and given != from_type:
        raise error(f"map {name!r}: {what}_size {given} disagrees with the {what} type's "
                    f"size {from_type}")
    return given if given is not None else from_type


def _int_field(btf: BTF, name: str, field: str, type_id: int,
               error: Callable[[str], ObjectError]) -> int:
    t = btf.resolve(type_id)
    if isinstance(t, EnumBase):  # __ulong(field, value)
        if len(t.values) != 1:
            raise error(f"map {name!r}: {field!r} is an enum with {len(t.values)} values, "
                        f"expected exactly one")
        return t.values[0].value
    if isinstance(t, Ptr):
        arr = btf.resolve(t.type_id)
        if isinstance(arr, Array):
            return arr.nelems
    raise error(f"map {name!r}: {field!r} must be written __uint({field}, N) "
                f"(a pointer to an array of N), not a {t.kind.name}")


def _pointee(btf: BTF, type_id: int) -> int | None:
    t = btf.resolve(type_id)
    if not isinstance(t, Ptr):
        return None
    return t.type_id


def _values(btf: BTF, name: str, type_id: int, error: Callable[[str], ObjectError]
            ) -> tuple[str, MapSpec | None]:
    arr = btf.resolve(type_id)
    if not isinstance(arr, Array):
        raise error(f"map {name!r}: 'values' must be an array (use __array(values, ...))")
    elem = btf.resolve(arr.elem_type_id)
    if not isinstance(elem, Ptr):
        raise error(f"map {name!r}: 'values' must be an array of pointers")
    target = btf.resolve(elem.type_id)
    if isinstance(target, FuncProto):
        return "progs", None
    if isinstance(target, (Struct, Union)):
        inner = parse_btf_map(btf, f"{name}.inner", target.id or elem.type_id, error=error,
                              inner=True).spec
        inner.section = None
        return "maps", inner
    raise error(f"map {name!r}: 'values' must point to a map definition or a function "
                f"prototype, not a {target.kind.name}")


def parse_legacy_maps(data: bytes, symbols: list[tuple[str, int]], byteorder: str, *,
                      error: Callable[[str], ObjectError]) -> list[tuple[MapSpec, int]]:
    """``struct bpf_map_def`` entries of the ``maps`` section, named by the
    (name, offset) symbols in it; returns (spec, offset) pairs."""
    if not symbols:
        if data.strip(b"\0"):
            raise error("the legacy 'maps' section has definitions but no symbols naming them")
        return []
    size = len(data) // len(symbols)
    if size < 20:
        raise error(f"legacy map definitions of {size} bytes are too small (need 20: type, "
                    f"key_size, value_size, max_entries, map_flags)")
    fmt = struct.Struct(("<" if byteorder == "little" else ">") + "IIIII")
    out = []
    for name, offset in sorted(symbols, key=lambda s: s[1]):
        if offset % size or offset + fmt.size > len(data):
            raise error(f"legacy map {name!r} at offset {offset} does not start a definition")
        map_type, key_size, value_size, max_entries, flags = fmt.unpack_from(data, offset)
        type_name = map_type_name(map_type)
        if type_name is None:
            raise error(f"legacy map {name!r}: unknown map type {map_type}")
        out.append((MapSpec(name=name, type=type_name, key_size=key_size,
                            value_size=value_size, max_entries=max_entries, flags=flags,
                            section="maps"), offset))
    return out


def safe_btf(call: Callable[[], Any], error: Callable[[str], ObjectError]) -> Any:
    """Run a BTF query, turning a BTF failure into an ObjectError of the caller's."""
    try:
        return call()
    except BTFError as e:
        raise error(f"bad BTF: {e.reason}") from None


__all__ = [
    "PIN_BY_NAME",
    "PIN_NONE",
    "BTFMapDef",
    "map_type_name",
    "map_type_number",
    "parse_btf_map",
    "parse_legacy_maps",
]
