"""Array maps: ``array``, ``percpu_array``, and arrays whose values are
objects (``prog_array``; the map-in-map and perf-event arrays build on it).

Keys are u32 indexes below ``max_entries``; every index always has a value
(zero at creation), so lookups of a valid index succeed, deletes fail with
EINVAL and ``len()`` is ``max_entries``.  Value ``i`` sits at ``i *
value_stride`` of its arena (``value_stride`` is ``value_size`` rounded up
to 8, the kernel's layout) and never moves, so a program's pointer stays
valid and sees every later update.

Threads: an array's structure never changes, so programs' lookups and
updates take no lock (a value is stored in one copy); userspace operations
hold the map's lock, so a per-CPU update from userspace is atomic too.
"""

from __future__ import annotations

import errno as E
import mmap
from collections.abc import Iterator
from typing import Any

from ..codecs import round8
from ..objects import MapSpec
from ._abi import (
    ARRAY_VALUE_SIZE_MAX,
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NUMA_NODE,
    BPF_NOEXIST,
    ENOTSUPP,
    FD_ARRAY_SLOT_SIZE,
    PAGE_SIZE,
    PCPU_MIN_UNIT_SIZE,
)
from .base import Map


class ArrayMap(Map):
    """``BPF_MAP_TYPE_ARRAY``: ``max_entries`` values indexed by a u32 key."""

    type = "array"
    allowed_flags = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_MMAPABLE | BPF_F_INNER_MAP

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """The kernel's array_map_alloc_check."""
        allowed = cls.allowed_flags & ~(BPF_F_MMAPABLE if cls.percpu else 0)
        cls._check_sizes(spec, key_size=4, allowed_flags=allowed)
        if spec.value_size > ARRAY_VALUE_SIZE_MAX:
            raise cls._create_error(spec, E.E2BIG, f"value_size {spec.value_size} is too large")
        if cls.percpu and round8(spec.value_size) > PCPU_MIN_UNIT_SIZE:
            raise cls._create_error(spec, E.E2BIG, f"per-CPU value_size {spec.value_size} is "
                                                   f"over {PCPU_MIN_UNIT_SIZE}")

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """Every value (per-CPU arrays: a pointer per index, the values apart)."""
        if cls.percpu:
            return spec.max_entries * FD_ARRAY_SLOT_SIZE
        return spec.max_entries * round8(spec.value_size)

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        size = self.max_entries * self.value_stride
        if self.flags & BPF_F_MMAPABLE:
            size = -(-size // PAGE_SIZE) * PAGE_SIZE
        for _ in range(self.num_cpus if self.percpu else 1):
            self._new_arena(size)
        self._base = self.arena_addresses[0]
        self._bases = self.arena_addresses
        self._offsets: dict[bytes, int] = {}    # key bytes -> value offset, filled on use
        if self.percpu:
            self.bpf_lookup = self._bpf_lookup_percpu  # type: ignore[method-assign]
        elif self.spin_lock_offset is None:
            self.bpf_update = self._bpf_update_plain  # type: ignore[method-assign]

    def value_address(self, index: int = 0, cpu: int = 0) -> int:
        """The address of value ``index`` (on ``cpu``): what a ``lddw`` of a
        map value (global data) loads."""
        return self._bases[cpu] + index * self.value_stride

    # ------------------------------------------------------------ core

    def _index_of(self, key: bytes) -> int:
        return int.from_bytes(key, "little")

    def _update(self, key: bytes, value: Any, flags: int, cpu: int, all_cpus: bool) -> int:
        # The kernel's order of checks: flags, index, NOEXIST, then the lock.
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -E.EINVAL
        offset = self._offsets.get(key)
        if offset is None:
            offset = self._offset(key)
            if offset < 0:
                return -E.E2BIG
        if flags & BPF_NOEXIST:
            return -E.EEXIST
        if flags & BPF_F_LOCK and (self.spin_lock_offset is None or self.percpu):
            return -E.EINVAL
        if not self.percpu:
            self._write_value(self.arenas[0], offset, value, bool(flags & BPF_F_LOCK))
        elif all_cpus:
            for arena, v in zip(self.arenas, value):
                self._write_value(arena, offset, v)
        else:
            self._write_value(self.arenas[cpu], offset, value)
        return 0

    # ------------------------------------------------------------ userspace

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            raise self._error(E.ENOENT, "lookup", key, f"index {index} is out of range "
                                                       f"(max_entries {self.max_entries})")
        offset = index * self.value_stride
        if self.percpu:
            return [self._read_value(arena, offset) for arena in self.arenas]
        return self._read_value(self.arenas[0], offset, bool(flags & BPF_F_LOCK))

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self._update(key, value, flags, self.user_cpu, True)

    def _sys_delete(self, key: bytes) -> int:
        return -E.EINVAL

    def _update_message(self, code: int, flags: int) -> str:
        if code == E.EEXIST:
            return "array elements always exist: BPF_NOEXIST cannot succeed"
        if code == E.E2BIG:
            return f"index out of range (max_entries {self.max_entries})"
        return super()._update_message(code, flags)

    def _next_key(self, key: bytes | None) -> bytes | None:
        if key is None:
            return (0).to_bytes(4, "little")
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return (0).to_bytes(4, "little")
        if index == self.max_entries - 1:
            return None
        return (index + 1).to_bytes(4, "little")

    def _raw_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in range(self.max_entries)]

    def _count(self) -> int:
        return self.max_entries

    def _has(self, key: bytes) -> bool:
        return int.from_bytes(key, "little") < self.max_entries

    def _op_zero_all(self) -> None:
        """Zero every value (array elements cannot be deleted), as updates
        with zeros would."""
        self._check_write("update")
        with self.lock:
            self._zero_all()

    def _zero_all(self) -> None:
        lock = self.spin_lock_offset
        for arena in self.arenas:
            if lock is None:
                if isinstance(arena, bytearray):
                    arena[:] = bytes(len(arena))
                else:                   # a lazy mapping: give its pages back, zeroed
                    arena.madvise(mmap.MADV_DONTNEED)
                continue
            for offset in range(0, self.max_entries * self.value_stride, self.value_stride):
                self._write_value(arena, offset, bytes(self.value_size))

    def _has_batch(self, which: str) -> bool:
        return which in ("lookup", "update")

    # ------------------------------------------------------------ BPF side

    def _offset(self, key: bytes) -> int:
        """The value offset of a 4-byte key, or -1 when out of range (cached)."""
        index = int.from_bytes(key, "little")
        if index >= self.max_entries or len(key) != 4:
            return -1
        offset = self._offsets[bytes(key)] = index * self.value_stride
        return offset

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """The address of value ``key`` (a u32 index), or 0 when out of range."""
        offset = self._offsets.get(key)
        if offset is None:
            offset = self._offset(key)
            if offset < 0:
                return 0
        return self._base + offset

    def _bpf_lookup_percpu(self, key: bytes, cpu: int = 0) -> int:
        offset = self._offsets.get(key)
        if offset is None:
            offset = self._offset(key)
            if offset < 0:
                return 0
        return self._bases[cpu] + offset

    def _bpf_update_plain(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        offset = self._offsets.get(key)
        if offset is None or flags:
            return self._update(key, value, flags, cpu, False)
        self.arenas[0][offset:offset + self.value_size] = value
        return 0

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Overwrite value ``key`` (this CPU's, for per-CPU arrays): 0, or
        -EINVAL (flags), -E2BIG (index), -EEXIST (BPF_NOEXIST)."""
        return self._update(key, value, flags, cpu, False)

    def bpf_delete(self, key: bytes, cpu: int = 0) -> int:
        """Arrays cannot delete: -EINVAL."""
        return -E.EINVAL

    def bpf_for_each(self, cpu: int = 0) -> Iterator[tuple[int, int]]:
        """``(key address, value address)`` for every index in order."""
        scratch, key_address = self.key_scratch, self.key_scratch_address
        base, stride = self._bases[cpu if self.percpu else 0], self.value_stride
        for index in range(self.max_entries):
            scratch[:4] = index.to_bytes(4, "little")
            yield key_address, base + index * stride


class PercpuArrayMap(ArrayMap):
    """``BPF_MAP_TYPE_PERCPU_ARRAY``: one value per CPU for each index."""

    type = "percpu_array"
    percpu = True


class ObjectArray(Map):
    """An array whose values are objects rather than bytes (the kernel's fd
    arrays): programs, maps, perf buffers.  Updates take only BPF_ANY;
    deleting an empty slot is ENOENT, an index past the end E2BIG."""

    value_is_bytes = False
    allowed_flags = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """Key and value are 4 bytes (an index and an fd in the kernel)."""
        cls._check_sizes(spec, key_size=4, value_size=4, allowed_flags=cls.allowed_flags)

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """A pointer per slot."""
        return spec.max_entries * FD_ARRAY_SLOT_SIZE

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self._objects: dict[int, Any] = {}      # index -> object, for the slots in use

    def _accept(self, obj: Any, op: str, key: Any) -> Any:
        """Check an object for storing; subclasses refuse the wrong kind."""
        if obj is None:
            raise self._error(E.EBADF, op, key, "no object given")
        return obj

    def _accept_value(self, value: Any, op: str, key: Any) -> Any:
        return self._accept(value, op, key)

    def _op_update(self, key: bytes, value: Any, flags: int) -> None:
        """Store an object at index ``key``.  As in the kernel, the flags
        (only BPF_ANY: else EINVAL) and the index (E2BIG) are checked before
        the object."""
        self._check_write("update", key)
        err = 0
        if flags:
            err = E.EINVAL
        elif int.from_bytes(key, "little") >= self.max_entries:
            err = E.E2BIG
        if err:
            raise self._error(err, "update", key, self._update_message(err, flags))
        value = self._accept(value, "update", key)
        with self.lock:
            self._sys_update(key, value, flags)

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        obj = self._objects.get(int.from_bytes(key, "little"))
        if obj is None:
            raise self._error(E.ENOENT, "lookup", key, "empty slot")
        return obj

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        if flags:
            return -E.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -E.E2BIG
        self._objects[index] = value
        return 0

    def _update_message(self, code: int, flags: int) -> str:
        if code == E.EINVAL:
            return f"flags {flags:#x}: this map type only takes BPF_ANY"
        return super()._update_message(code, flags)

    def _sys_delete(self, key: bytes) -> int:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -E.E2BIG
        if self._objects.pop(index, None) is None:
            return -E.ENOENT
        return 0

    _next_key = ArrayMap._next_key

    def _raw_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in sorted(self._objects)]

    def _raw_items(self) -> list[tuple[bytes, Any]]:
        objects = self._objects
        return [(i.to_bytes(4, "little"), objects[i]) for i in sorted(objects)]

    def _count(self) -> int:
        return len(self._objects)

    def _has(self, key: bytes) -> bool:
        return int.from_bytes(key, "little") in self._objects

    def object_at(self, index: int) -> Any:
        """The object in slot ``index``, or None (no errors; for helpers)."""
        return self._objects.get(index)


class ProgArray(ObjectArray):
    """``BPF_MAP_TYPE_PROG_ARRAY``: programs for ``bpf_tail_call``.  Values are
    opaque program objects, stored and returned as given."""

    type = "prog_array"

    def bpf_tail_call_target(self, index: int) -> Any:
        """The program ``bpf_tail_call`` jumps to for ``index`` (an unsigned
        32-bit index), or None: then the call falls through."""
        return self._objects.get(index)

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Programs cannot update a program array."""
        return -ENOTSUPP
