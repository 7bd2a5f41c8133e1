"""Reading the generated ABI tables of :mod:`pybpf.spec.linux`.

::

    from pybpf.spec.layout import struct_layout, enum_values, helper_name

    skb = struct_layout("__sk_buff")
    skb.size                       # 192
    skb.member("len")              # (0, 4): byte offset and size
    skb.field("flow_keys").type    # 'struct bpf_flow_keys *' (inside an anonymous union)
    attr = struct_layout("bpf_attr").variant("prog_type")   # the BPF_PROG_LOAD part
    enum_values("bpf_map_type")["BPF_MAP_TYPE_HASH"]        # 1
    helper_name(1), helper_id("map_lookup_elem")             # 'map_lookup_elem', 1

The data module is imported on first use, so importing this one is cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NamedTuple


class FieldLayout(NamedTuple):
    """One member, found by its C name: members of anonymous structs and
    unions appear under their own names, members of a named member whose
    type is an anonymous struct as ``outer.inner``."""

    name: str
    offset: int
    """Byte offset from the start of the outermost struct."""
    size: int
    """Size in bytes (of the whole storage unit for a bitfield)."""
    type: str
    """The C type, as a string (``__u32``, ``struct bpf_sock *``)."""
    bit_offset: int | None = None
    """For a bitfield: bit offset from the start of the outermost struct."""
    bits: int = 0
    """For a bitfield: its width."""
    elem_type: str | None = None
    """For an array: the element type."""
    elem_size: int = 0
    """For an array: the element size in bytes."""
    nelems: int = 0
    """For an array: the number of elements."""

    @property
    def is_bitfield(self) -> bool:
        """Whether the member is a bitfield."""
        return self.bits != 0


class StructLayout:
    """Size and members of one struct or union of the kernel's ABI."""

    def __init__(self, name: str, record: dict[str, Any]):
        self.name = name
        self.kind: str = record["kind"]
        self.size: int = record["size"]
        self.raw_members: list[dict[str, Any]] = record["members"]
        self.fields: list[FieldLayout] = []
        self._by_name: dict[str, FieldLayout] = {}
        self._flatten(self.raw_members, "")

    def _flatten(self, members: list[dict[str, Any]], prefix: str) -> None:
        for m in members:
            name = m["name"]
            if name:
                full = prefix + name
                f = FieldLayout(full, m["offset"], m["size"], m["type"], m.get("bit_offset"),
                                m.get("bits", 0), m.get("elem_type"), m.get("elem_size", 0),
                                m.get("nelems", 0))
                self.fields.append(f)
                self._by_name.setdefault(full, f)
                if "members" in m:
                    self._flatten(m["members"], full + ".")
            elif "members" in m:
                self._flatten(m["members"], prefix)

    def field(self, name: str) -> FieldLayout:
        """The member ``name`` (``"len"``, ``"info.prog_id"``).  Raises KeyError."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.kind} {self.name} has no member {name!r}") from None

    def member(self, name: str) -> tuple[int, int]:
        """``(byte offset, size)`` of member ``name``."""
        f = self.field(name)
        return f.offset, f.size

    def offset_of(self, name: str) -> int:
        """Byte offset of member ``name``."""
        return self.field(name).offset

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[FieldLayout]:
        return iter(self.fields)

    def variants(self) -> list[StructLayout]:
        """For a union of structs (``bpf_attr``): one layout per member whose
        type is an anonymous struct, in declaration order.  A named one
        (``info``) keeps its prefix: its fields are ``info.bpf_fd``..."""
        out = []
        for i, m in enumerate(self.raw_members):
            if "members" not in m:
                continue
            if m["name"]:
                out.append(StructLayout(f"{self.name}.{m['name']}", {
                    "kind": m["kind"], "size": m["offset"] + m["size"], "members": [m]}))
            else:
                out.append(StructLayout(f"{self.name}#{i}", {
                    "kind": m["kind"], "size": m["size"], "members": m["members"]}))
        return out

    def variant(self, containing: str) -> StructLayout:
        """The anonymous-struct variant that has member ``containing``
        (``struct_layout("bpf_attr").variant("prog_type")`` is BPF_PROG_LOAD's)."""
        for v in self.variants():
            if containing in v:
                return v
        raise KeyError(f"no variant of {self.kind} {self.name} has member {containing!r}")

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} size={self.size} fields={len(self.fields)}>"


def _data():
    from . import linux

    return linux


@functools.cache
def struct_layout(name: str) -> StructLayout:
    """The layout of a recorded struct or union (``"__sk_buff"``,
    ``"bpf_attr"``, ``"perf_event_attr"``...).  Raises KeyError."""
    try:
        record = _data().STRUCTS[name]
    except KeyError:
        raise KeyError(f"no layout recorded for {name!r}; add it to STRUCTS in "
                       f"generators/gen_spec.py") from None
    return StructLayout(name, record)


def struct_names() -> list[str]:
    """Names of all recorded structs and unions."""
    return list(_data().STRUCTS)


def enum_values(name: str) -> dict[str, int]:
    """Enumerators of a recorded enum (``"bpf_prog_type"``).  Raises KeyError."""
    try:
        return _data().ENUMS[name]
    except KeyError:
        raise KeyError(f"no enum {name!r} recorded in pybpf.spec.linux") from None


@functools.cache
def _reverse(name: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in enum_values(name).items():
        out.setdefault(v, k)
    return out


def enum_name(name: str, value: int) -> str | None:
    """The first enumerator of enum ``name`` with ``value``, or None."""
    return _reverse(name).get(value)


def constant(name: str) -> int:
    """An enumerator of the uapi's anonymous enums (``"BPF_F_NO_PREALLOC"``)
    or of any recorded enum.  Raises KeyError."""
    data = _data()
    if name in data.CONSTANTS:
        return data.CONSTANTS[name]
    for values in data.ENUMS.values():
        if name in values:
            return values[name]
    raise KeyError(f"no constant {name!r} recorded in pybpf.spec.linux")


def helper_name(helper_id: int) -> str | None:
    """The helper's name without prefix (1 -> ``"map_lookup_elem"``), or None."""
    return _data().HELPERS.get(helper_id)


@functools.lru_cache(maxsize=1)
def _helper_ids() -> dict[str, int]:
    return {v: k for k, v in _data().HELPERS.items()}


def helper_id(name: str) -> int:
    """The id of a helper named ``map_lookup_elem``, ``bpf_map_lookup_elem`` or
    ``BPF_FUNC_map_lookup_elem``.  Raises KeyError."""
    ids = _helper_ids()
    for candidate in (name, name.removeprefix("BPF_FUNC_"), name.removeprefix("bpf_")):
        if candidate in ids:
            return ids[candidate]
    raise KeyError(f"no helper named {name!r}")


def helpers() -> dict[int, str]:
    """Every helper id and name."""
    return dict(_data().HELPERS)
