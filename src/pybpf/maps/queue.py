"""``queue`` and ``stack`` maps, and the ``bloom_filter``.

Queues and stacks have no keys (``key_size`` 0).  Push appends; with
``BPF_EXIST`` a full map drops its oldest element to make room (for both
kinds, as in the kernel), otherwise a full map fails with E2BIG.  A queue
pops its oldest element, a stack its newest; an empty one gives ENOENT.
From userspace, ``update(None, v)`` pushes, ``lookup(None)`` peeks and
``lookup_and_delete(None)`` pops, as ``bpf()`` does; ``push``, ``pop`` and
``peek`` of the map protocol (:mod:`pybpf.codecs`) say the same more
plainly.  Neither kind has keys to iterate or count (EINVAL, as the
kernel's get_next_key).

A bloom filter answers "maybe present" (0) or "definitely absent"
(ENOENT).  It uses the kernel's bit-array size and the kernel's hashes
(``jhash`` of the value seeded with ``seed + i`` for each of the
``map_extra & 0xf`` hash functions, 5 by default), so with
``BPF_F_ZERO_SEED`` it answers exactly as the kernel does, false positives
included.

Threads: pushes, pops and peeks hold the map's lock (from programs too); a
bloom filter's additions hold it (setting bits is a read-modify-write),
its tests do not.
"""

from __future__ import annotations

import errno as E
import random
from collections import deque
from typing import Any

from ..objects import MapSpec
from ._abi import (
    BLOOM_DEFAULT_HASH_FUNCS,
    BLOOM_NR_HASH_FUNCS_MASK,
    BPF_ANY,
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_NUMA_NODE,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    ENOTSUPP,
    KMALLOC_MAX_SIZE,
)
from .base import Map, zeroed_buffer
from .jhash import jhash

EOPNOTSUPP = E.EOPNOTSUPP


class QueueMap(Map):
    """``BPF_MAP_TYPE_QUEUE``: first in, first out."""

    type = "queue"
    lifo = False

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """key_size 0, value_size up to KMALLOC_MAX_SIZE."""
        cls._check_sizes(spec, key_size=0, allowed_flags=BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)
        if spec.value_size > KMALLOC_MAX_SIZE:
            raise cls._create_error(spec, E.E2BIG, f"value_size {spec.value_size} is too large")

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """The kernel's ring of max_entries + 1 values (kept here as a deque)."""
        return (spec.max_entries + 1) * spec.value_size

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self._items: deque[bytes] = deque()

    # ------------------------------------------------------------ core

    def _push(self, value: bytes, flags: int) -> int:
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return -E.EINVAL
        items = self._items
        if len(items) >= self.max_entries:
            if not flags & BPF_EXIST:
                return -E.E2BIG
            items.popleft()
        items.append(bytes(value))
        return 0

    def _take(self, remove: bool) -> bytes | None:
        items = self._items
        if not items:
            return None
        if self.lifo:
            return items.pop() if remove else items[-1]
        return items.popleft() if remove else items[0]

    # ------------------------------------------------------------ userspace

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self._push(value, flags)

    def _update_message(self, code: int, flags: int) -> str:
        if code == E.E2BIG:
            return f"the {self.type} is full ({self.max_entries} entries); BPF_EXIST overwrites"
        if code == E.EINVAL:
            return f"flags {flags:#x}: push takes BPF_ANY or BPF_EXIST"
        return super()._update_message(code, flags)

    def _sys_lookup(self, key: bytes, flags: int) -> bytes:
        """Peek (``bpf()`` lookup on a queue or stack)."""
        if flags:
            raise self._error(E.EINVAL, "lookup", None, f"bad flags {flags:#x}")
        value = self._take(False)
        if value is None:
            raise self._error(E.ENOENT, "lookup", None, f"the {self.type} is empty")
        return value

    def _sys_lookup_and_delete(self, key: bytes, flags: int) -> bytes:
        """Pop (``bpf()`` lookup-and-delete on a queue or stack)."""
        if flags:
            raise self._error(E.EINVAL, "lookup_and_delete", None, f"bad flags {flags:#x}")
        value = self._take(True)
        if value is None:
            raise self._error(E.ENOENT, "lookup_and_delete", None, f"the {self.type} is empty")
        return value

    def _sys_delete(self, key: bytes) -> int:
        return -E.EINVAL

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise self._error(E.EINVAL, "get_next_key", None, f"{self.type} maps have no keys")

    # ------------------------------------------------------------ BPF side

    def bpf_push(self, value: bytes | memoryview, flags: int = 0) -> int:
        """``bpf_map_push_elem``: 0, -EINVAL (flags) or -E2BIG (full)."""
        with self.lock:
            return self._push(value, flags)

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """``bpf_map_update_elem`` on a queue pushes, as in the kernel."""
        return self.bpf_push(value, flags)

    def bpf_pop(self, out: memoryview | bytearray) -> int:
        """``bpf_map_pop_elem``: the value goes into ``out``; 0 or -ENOENT."""
        with self.lock:
            value = self._take(True)
        if value is None:
            return -E.ENOENT
        out[:self.value_size] = value
        return 0

    def bpf_peek(self, buf: memoryview | bytearray) -> int:
        """``bpf_map_peek_elem``: the value goes into ``buf``; 0 or -ENOENT."""
        with self.lock:
            value = self._take(False)
        if value is None:
            return -E.ENOENT
        buf[:self.value_size] = value
        return 0


class StackMap(QueueMap):
    """``BPF_MAP_TYPE_STACK``: last in, first out."""

    type = "stack"
    lifo = True


class BloomFilter(Map):
    """``BPF_MAP_TYPE_BLOOM_FILTER``: membership with false positives."""

    type = "bloom_filter"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """key_size 0; map_extra holds only the number of hash functions."""
        extra = spec.map_extra
        checked = MapSpec(spec.name, spec.type, spec.key_size, spec.value_size,
                          spec.max_entries, spec.flags)
        cls._check_sizes(checked, key_size=0,
                         allowed_flags=BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK)
        if extra & ~BLOOM_NR_HASH_FUNCS_MASK:
            raise cls._create_error(spec, E.EINVAL, f"map_extra {extra:#x}: only the low 4 "
                                                    f"bits (number of hash functions) may be set")
        if spec.value_size > KMALLOC_MAX_SIZE:
            raise cls._create_error(spec, E.E2BIG, f"value_size {spec.value_size} is too large")

    @staticmethod
    def _geometry(spec: MapSpec) -> tuple[int, int, int]:
        """``(hash functions, bit mask, bytes)`` of the kernel's bit array."""
        nr_hash_funcs = (spec.map_extra & BLOOM_NR_HASH_FUNCS_MASK) or BLOOM_DEFAULT_HASH_FUNCS
        nr_bits = spec.max_entries * nr_hash_funcs
        overflow = nr_bits > 0xFFFFFFFF
        nr_bits = nr_bits // 5 * 7
        if overflow or nr_bits > 1 << 31:
            return nr_hash_funcs, 0xFFFFFFFF, 1 << 29
        nr_bits = 64 if nr_bits <= 64 else 1 << (nr_bits - 1).bit_length()
        return nr_hash_funcs, nr_bits - 1, nr_bits // 8

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """The bit array."""
        return cls._geometry(spec)[2]

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self.nr_hash_funcs, self.bitset_mask, nbytes = self._geometry(spec)
        self.seed = 0 if self.flags & BPF_F_ZERO_SEED else random.getrandbits(32)
        try:
            self.bits = zeroed_buffer(-(-nbytes // 8) * 8)
        except MemoryError:
            raise self._error(E.ENOMEM, "create", None, "cannot allocate the bit array") from None

    def _positions(self, value: bytes) -> list[int]:
        seed, mask = self.seed, self.bitset_mask
        return [jhash(value, (seed + i) & 0xFFFFFFFF) & mask for i in range(self.nr_hash_funcs)]

    def _add(self, value: bytes) -> None:
        bits = self.bits
        for bit in self._positions(bytes(value)):
            bits[bit >> 3] |= 1 << (bit & 7)

    def _test(self, value: bytes) -> bool:
        bits = self.bits
        return all(bits[bit >> 3] >> (bit & 7) & 1 for bit in self._positions(bytes(value)))

    # ------------------------------------------------------------ userspace

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        if flags != BPF_ANY:
            return -E.EINVAL
        self._add(value)
        return 0

    def _sys_lookup(self, key: bytes, flags: int) -> bytes:
        """``bpf()`` lookup without a value to test: the kernel tests the
        zero-filled value buffer; so does this."""
        zero = bytes(self.value_size)
        self._op_peek_value(zero)
        return zero

    def _op_peek_value(self, value: bytes) -> None:
        """Nothing when ``value`` may be present; MapKeyError ENOENT when it
        is certainly absent (the kernel's lookup, which takes the value)."""
        self._check_read("lookup")
        if not self._test(value):
            raise self._error(E.ENOENT, "lookup", None, "not in the bloom filter")

    def _sys_delete(self, key: bytes) -> int:
        return -EOPNOTSUPP

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise self._error(EOPNOTSUPP, "get_next_key", None, "bloom filters cannot iterate")

    # ------------------------------------------------------------ BPF side

    def bpf_push(self, value: bytes | memoryview, flags: int = 0) -> int:
        """``bpf_map_push_elem``: add; 0 or -EINVAL (flags other than BPF_ANY)."""
        if flags != BPF_ANY:
            return -E.EINVAL
        with self.lock:
            self._add(value)
        return 0

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Bloom filters are not updated by key."""
        return -ENOTSUPP

    def bpf_peek(self, buf: memoryview | bytearray) -> int:
        """``bpf_map_peek_elem``: ``buf`` holds the value to test (read, not
        written); 0 when it may be present, -ENOENT when it is not."""
        return 0 if self._test(bytes(buf[:self.value_size])) else -E.ENOENT
