"""What the verifier knows about a map: a description, not a map.

The kernel verifies a program against the maps it references: their type,
key and value sizes, flags, the special fields of the value (a
``bpf_spin_lock``, a ``bpf_timer``...) that BTF declares, and, for a frozen
read-only map, its contents.  :class:`MapDescription` holds exactly that,
so a program verifies without creating any map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..spec import constant

SPECIAL_FIELD_SIZES = {"bpf_spin_lock": 4, "bpf_timer": 16, "bpf_wq": 16, "bpf_list_head": 16,
                       "bpf_rb_root": 16, "bpf_refcount": 4, "bpf_task_work": 8,
                       "bpf_res_spin_lock": 8, "kptr": 8}
"""Special value fields the verifier knows, by BTF struct name, and their sizes."""

ARRAY_LIKE = frozenset({"array", "percpu_array", "array_of_maps", "prog_array",
                        "perf_event_array", "cgroup_array"})


@dataclass(eq=False)
class MapDescription:
    """A map as the verifier sees it.

    ``type`` is pybpf's map type name (``"hash"``, ``"array"``...);
    ``special_fields`` maps a byte offset in the value to the kind of field
    there (``"bpf_spin_lock"``, ``"bpf_timer"``, ``"kptr"``...);
    ``inner`` describes the maps a map of maps holds; ``frozen`` and
    ``contents`` (element 0's value) let reads from a read-only array be
    known constants; ``name`` is the map's kernel name (printed in logs).
    """

    type: str
    key_size: int = 4
    value_size: int = 4
    max_entries: int = 1
    flags: int = 0
    name: str = ""
    inner: MapDescription | None = None
    special_fields: dict[int, str] = field(default_factory=dict)
    frozen: bool = False
    contents: bytes | None = None
    btf_value_type: Any = None

    @property
    def kernel_name(self) -> str:
        """The name as the kernel keeps it (15 characters at most)."""
        return self.name[:15]

    @property
    def rdonly_prog(self) -> bool:
        return bool(self.flags & constant("BPF_F_RDONLY_PROG"))

    @property
    def wronly_prog(self) -> bool:
        return bool(self.flags & constant("BPF_F_WRONLY_PROG"))

    def field_at(self, kind: str) -> int | None:
        """The offset of the value's field of ``kind``, or None."""
        for off, k in self.special_fields.items():
            if k == kind:
                return off
        return None

    def has(self, kind: str) -> bool:
        return kind in self.special_fields.values()

    @classmethod
    def from_linked(cls, lm: Any, btf: Any = None) -> MapDescription:
        """The description of a :class:`pybpf.linked.LinkedMap` (its value's
        special fields read from ``btf``, the object's
        :class:`pybpf.btf.BTF`, when it has a value type)."""
        inner = cls.from_linked(lm.inner, btf) if lm.inner is not None else None
        special: dict[int, str] = {}
        if btf is not None and lm.btf_value_type_id:
            special = special_fields(btf, lm.btf_value_type_id)
        contents = None
        if lm.contents:
            first = lm.contents[0][1]
            if isinstance(first, bytes | bytearray):
                contents = bytes(first)
        return cls(lm.type, lm.key_size, lm.value_size, lm.max_entries, lm.flags, lm.name,
                   inner, special, bool(getattr(lm, "freeze", False)), contents)


def special_fields(btf: Any, type_id: int, base: int = 0) -> dict[int, str]:
    """Offsets of the special fields inside BTF type ``type_id``."""
    out: dict[int, str] = {}
    try:
        t = btf.resolve(type_id) if hasattr(btf, "resolve") else btf[type_id]
    except Exception:
        return out
    name = getattr(t, "name", "") or ""
    if name in SPECIAL_FIELD_SIZES and name != "kptr":
        out[base] = name
        return out
    members = getattr(t, "members", None)
    if members is None:
        elem = getattr(t, "type_id", None)
        nelems = getattr(t, "nelems", None)
        if elem is not None and nelems:
            sub = special_fields(btf, elem, 0)
            if sub:
                size = _size(btf, elem)
                for i in range(nelems):
                    for off, kind in sub.items():
                        out[base + i * size + off] = kind
        return out
    for m in members:
        out.update(special_fields(btf, m.type_id, base + m.bit_offset // 8))
    return out


def _size(btf: Any, type_id: int) -> int:
    try:
        return int(btf.size_of(type_id))
    except Exception:
        return 0
