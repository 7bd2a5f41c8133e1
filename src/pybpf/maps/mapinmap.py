"""Maps of maps: ``array_of_maps`` and ``hash_of_maps``.

Values are :class:`~pybpf.maps.base.Map` objects shaped like the spec's
``inner`` map: same type, key size, value size and flags, and the same
``max_entries`` unless the inner spec has ``BPF_F_INNER_MAP``.  Anything
else fails with EINVAL, as ``bpf_map_meta_equal`` does in the kernel.  From
userspace a value is given as a Map (or a map id) and read back as the Map;
a program's lookup returns the inner map's :attr:`~Map.address`.
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..objects import MapSpec
from ._abi import BPF_F_ACCESS_MASK, BPF_F_INNER_MAP, BPF_F_NO_PREALLOC, BPF_F_NUMA_NODE
from .array import ObjectArray
from .base import Map, map_by_id
from .hash import HashMap

_NESTED = ("array_of_maps", "hash_of_maps")


def _check_inner(spec: MapSpec) -> None:
    if spec.inner is None:
        raise Map._create_error(spec, E.EINVAL, f"{spec.type} needs an inner map spec")
    if spec.value_size != 4:
        raise Map._create_error(spec, E.EINVAL, f"{spec.type}: value_size must be 4")
    if spec.inner.type in _NESTED:
        raise Map._create_error(spec, E.EINVAL, "maps of maps cannot nest more than one level")


class _InnerMaps:
    """What both kinds share: accepting a compatible inner map."""

    spec: MapSpec
    name: str

    def _accept(self, obj: Any, op: str, key: Any) -> Map:
        if isinstance(obj, int) and not isinstance(obj, bool):
            found = map_by_id(obj)
            if found is None:
                raise self._error(E.EBADF, op, key, f"no map with id {obj}")  # type: ignore[attr-defined]
            obj = found
        if not isinstance(obj, Map):
            raise self._error(E.EBADF, op, key,  # type: ignore[attr-defined]
                              f"a {type(obj).__name__} is not a map")
        inner = self.spec.inner
        assert inner is not None
        mismatch = self.incompatibility(obj)
        if mismatch:
            raise self._error(E.EINVAL, op, key,  # type: ignore[attr-defined]
                              f"map {obj.name!r} does not fit the inner map spec: {mismatch}")
        return obj

    def incompatibility(self, candidate: Map) -> str | None:
        """Why ``candidate`` cannot be stored here, or None when it can."""
        inner = self.spec.inner
        assert inner is not None
        if candidate.type != inner.type:
            return f"type {candidate.type}, expected {inner.type}"
        if candidate.key_size != inner.key_size:
            return f"key_size {candidate.key_size}, expected {inner.key_size}"
        if candidate.value_size != inner.value_size:
            return f"value_size {candidate.value_size}, expected {inner.value_size}"
        if candidate.flags != inner.flags:
            return f"flags {candidate.flags:#x}, expected {inner.flags:#x}"
        if not inner.flags & BPF_F_INNER_MAP and candidate.max_entries != inner.max_entries:
            return (f"max_entries {candidate.max_entries}, expected {inner.max_entries} "
                    f"(the inner spec lacks BPF_F_INNER_MAP)")
        return None


class ArrayOfMaps(_InnerMaps, ObjectArray):
    """``BPF_MAP_TYPE_ARRAY_OF_MAPS``: an array of maps of one shape."""

    type = "array_of_maps"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """Needs ``inner``; key 4 bytes, value 4 bytes."""
        _check_inner(spec)
        super().check_spec(spec, num_cpus)

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """The inner map's address (a map pointer), or 0."""
        inner = self._objects.get(int.from_bytes(key, "little"))
        return 0 if inner is None else inner.address

    def bpf_lookup_map(self, key: bytes) -> Map | None:
        """The inner map itself, or None."""
        return self.object_at(int.from_bytes(key, "little"))

    def _has_batch(self, which: str) -> bool:
        return which in ("lookup", "update")


class HashOfMaps(_InnerMaps, HashMap):
    """``BPF_MAP_TYPE_HASH_OF_MAPS``: a hash map whose values are maps."""

    type = "hash_of_maps"
    value_is_bytes = False
    allowed_flags = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """Needs ``inner``; value 4 bytes."""
        _check_inner(spec)
        super().check_spec(spec, num_cpus)

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self._maps: dict[int, Map] = {}

    def _accept_value(self, value: Any, op: str, key: Any) -> Any:
        return self._accept(value, op, key)

    def _write_value(self, arena: bytearray, offset: int, value: Any,
                     locked: bool = False) -> None:
        self._maps[offset] = value
        arena[offset:offset + 4] = value.id.to_bytes(4, "little")

    def _copy(self, offset: int, locked: bool = False) -> Any:
        return self._maps[offset]

    def _remove(self, key: bytes) -> int:
        offset = super()._remove(key)
        self._maps.pop(offset, None)
        return offset

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """The inner map's address (a map pointer), or 0."""
        inner = self.bpf_lookup_map(key)
        return 0 if inner is None else inner.address

    def bpf_lookup_map(self, key: bytes) -> Map | None:
        """The inner map itself, or None."""
        with self.lock:
            offset = self._index.get(key)
            return None if offset is None else self._maps[offset]

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Programs cannot update a map of maps."""
        return -E.EINVAL

    def bpf_for_each(self, cpu: int = 0):
        """Maps of maps have no for_each."""
        return super(HashMap, self).bpf_for_each(cpu)
