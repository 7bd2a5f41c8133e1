"""Hash maps: ``hash``, ``percpu_hash``, ``lru_hash``, ``lru_percpu_hash``.

Values sit in preallocated slots of the arenas (one arena, or one per CPU
for per-CPU maps), ``value_stride`` bytes apart.  A dict maps each key to
its slot's offset, so a lookup from a program is one dict probe and an add.
A deleted slot goes on a free list and the next insert reuses it, as the
kernel's preallocated elements are recycled; updating an existing key writes
its slot in place (the kernel swaps in a fresh element instead, which only a
program holding an old pointer across the update could tell apart).

Iteration (get_next_key, batches, the mapping protocol) walks the keys in
ascending byte order; the kernel walks its buckets, in an order its random
seed decides.  What matters is shared: a key's place in the order is its
own, so a key deleted and inserted again comes back to the same place, and
a walk under concurrent updates meets every key present throughout exactly
once, unless it restarts.  A missing key passed to get_next_key restarts
from the first key, as the kernel does.  A batch cursor is the key the next
batch starts at (the kernel's is a bucket number): opaque either way.  The
order is sorted on the first walk after a change; ``bpf_for_each`` (which
may not wait for that) walks the slots instead.

LRU maps never fail with E2BIG: an update of a full map first evicts the
least recently used element — as the kernel, which takes a fresh element
before looking the key up, even when the key exists or the update then
fails its flag check.  Programs' lookups and every update make a key most recent; lookups from
userspace do not (the kernel only marks on program lookups).  With
``BPF_F_NO_COMMON_LRU`` each CPU has its own list of ``max_entries /
num_cpus`` elements (``max_entries`` is rounded up to a multiple of the CPU
count, as the kernel does) and evicts from its own list.  The kernel's LRU is
approximate and may evict a little early; this one is exact.

A JIT-compiled program's lookups on an LRU map mark keys in native code:
they write the map's touch record (:meth:`HashMap.native_touches`), and the
map applies those touches, in the order they happened, before it next reads
or changes its LRU order, so evictions come out as the interpreter's.

Threads: updates, deletes and walks hold the map's lock; a new element's
value is written before its key is published, so a lookup (which takes no
lock) never sees a half-made element.
"""

from __future__ import annotations

import ctypes
import errno as E
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ..codecs import round8
from ..objects import MapSpec
from ._abi import (
    BPF_ATTR_U32_LIMIT,
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_NUMA_NODE,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    ENOTSUPP,
    HTAB_BUCKET_SIZE,
    HTAB_ELEM_OVERHEAD,
    HTAB_MAX_ENTRIES,
    KMALLOC_MAX_SIZE,
    PCPU_MIN_UNIT_SIZE,
)
from .base import Batch, Map

# The LRU touch record (u64 words) native code writes on a lookup hit: a busy
# word (set while the map applies the record: native code then leaves the
# touch to Python), a clock, the length of the list of slots touched; then
# two words per value slot: slot s's stamp (the clock at its last touch,
# 0: not since the record was last applied) at TOUCH_STAMP + 2 s, and the
# list's entry i at TOUCH_LOG + 2 i.
TOUCH_BUSY, TOUCH_CLOCK, TOUCH_COUNT, TOUCH_STAMP, TOUCH_LOG = 0, 1, 2, 3, 4


def _buckets(max_entries: int) -> int:
    """The kernel's bucket count: max_entries rounded up to a power of two."""
    return 1 << (max_entries - 1).bit_length()


class HashMap(Map):
    """``BPF_MAP_TYPE_HASH``: keys of ``key_size`` bytes to values."""

    type = "hash"
    lru = False
    allowed_flags = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_ZERO_SEED

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """The kernel's htab_map_alloc_check, then htab_map_alloc's limits."""
        allowed = cls.allowed_flags
        if cls.lru:
            allowed |= BPF_F_NO_COMMON_LRU
        cls._check_sizes(spec, allowed_flags=allowed | BPF_F_NO_COMMON_LRU)
        if spec.flags & BPF_F_NO_COMMON_LRU and not cls.lru:
            raise cls._create_error(spec, E.EINVAL,
                                    "BPF_F_NO_COMMON_LRU is only for LRU hash maps")
        if cls.lru and spec.flags & BPF_F_NO_PREALLOC:
            raise cls._create_error(spec, ENOTSUPP, "LRU hash maps are always preallocated")
        if spec.key_size + spec.value_size >= KMALLOC_MAX_SIZE - HTAB_ELEM_OVERHEAD:
            raise cls._create_error(spec, E.E2BIG, f"key_size {spec.key_size} and value_size "
                                                   f"{spec.value_size} are too large together")
        if cls.percpu and round8(spec.value_size) > PCPU_MIN_UNIT_SIZE:
            raise cls._create_error(spec, E.E2BIG,
                                    f"per-CPU value_size {spec.value_size} is over "
                                    f"{PCPU_MIN_UNIT_SIZE}")
        if spec.max_entries > HTAB_MAX_ENTRIES or \
                _buckets(spec.max_entries) * HTAB_BUCKET_SIZE >= BPF_ATTR_U32_LIMIT:
            raise cls._create_error(spec, E.E2BIG, f"max_entries {spec.max_entries} needs more "
                                                   f"buckets than a hash map may have")

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """The buckets, and the preallocated elements unless BPF_F_NO_PREALLOC."""
        buckets = _buckets(spec.max_entries) * HTAB_BUCKET_SIZE
        if spec.flags & BPF_F_NO_PREALLOC:
            return buckets
        value = 8 if cls.percpu else round8(spec.value_size)   # per-CPU: a pointer
        return max(buckets, spec.max_entries * (HTAB_ELEM_OVERHEAD + round8(spec.key_size) +
                                                value))

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        if self.lru and self.flags & BPF_F_NO_COMMON_LRU:
            n = self.num_cpus
            self.max_entries = -(-self.max_entries // n) * n
        size = self.max_entries * self.value_stride
        for _ in range(self.num_cpus if self.percpu else 1):
            self._new_arena(size)
        self._base = self.arena_addresses[0]
        self._bases = self.arena_addresses
        self._arena = self.arenas[0]
        # values are plain bytes stored in one copy: updates skip _store
        self._plain = not self.percpu and self.spin_lock_offset is None and self.value_is_bytes
        self._index: dict[bytes, int] = {}          # key -> offset of its value slot
        self._slot_keys: list[bytes | None] = []    # slot -> key; grows as slots are used
        self._free: list[int] = []                  # freed slots, reused last-freed first
        self._order: list[bytes] | None = []        # the keys sorted; None after a change
        self.changes = ctypes.c_uint64(0)
        """Counts the keys that came into or left the map (never an update
        in place), where native code can read it: a JIT's lookup cache
        trusts what it saw only while this has not moved."""
        self._touch_words: memoryview | None = None
        self._last_update: ctypes.Array | None = None
        if self.lru:
            self._touches: ctypes.Array | None = None
            self._touch_lock = threading.Lock()
            per_cpu_lists = bool(self.flags & BPF_F_NO_COMMON_LRU)
            nlists = self.num_cpus if per_cpu_lists else 1
            self._lists: list[OrderedDict[bytes, None]] = [OrderedDict() for _ in range(nlists)]
            self._list_capacity = self.max_entries // nlists
            self._home: dict[bytes, int] | None = {} if per_cpu_lists else None
            self.bpf_lookup = self._bpf_lookup_lru  # type: ignore[method-assign]
        elif self.percpu:
            self.bpf_lookup = self._bpf_lookup_percpu  # type: ignore[method-assign]
        elif self.spin_lock_offset is None and self.value_is_bytes:
            self.bpf_update = self._bpf_update_plain  # type: ignore[method-assign]

    # ------------------------------------------------------------ slots

    def _make_room(self, cpu: int) -> None:
        """LRU: evict the least recently used element of the list ``cpu``
        updates when that list is full.  The kernel takes a fresh element
        before it looks the key up, so this happens even when the key exists
        (the map then has a free element afterwards) or the update fails."""
        if self._touch_words is not None:
            self._apply_touches()
        lst = self._lists[cpu if self._home is not None else 0]
        if len(lst) >= self._list_capacity:
            # popitem, not an iterator: lookups reorder the list without the lock
            oldest, _ = lst.popitem(last=False)
            self._remove(oldest)

    def _take_slot(self) -> int:
        """A free slot for a new key, or -1."""
        if self._free:
            return self._free.pop()
        used = len(self._slot_keys)
        if used < self.max_entries:
            self._slot_keys.append(None)
            return used
        return -1

    def _remove(self, key: bytes) -> int:
        """Drop ``key`` (present); returns its value offset."""
        if self._touch_words is not None:
            self._apply_touches()
        offset = self._index.pop(key)
        self._order = None
        self.changes.value += 1
        slot = offset // self.value_stride
        self._slot_keys[slot] = None
        self._free.append(slot)
        if self.lru:
            home = self._home
            self._lists[0 if home is None else home.pop(key)].pop(key, None)
        return offset

    def _touch(self, key: bytes) -> None:
        if self._touch_words is not None:
            self._apply_touches()
        home = self._home
        self._lists[0 if home is None else home[key]].move_to_end(key)

    def native_touches(self) -> ctypes.Array:
        """LRU maps: the touch record native code writes when a lookup hits
        (see TOUCH_BUSY... above), made on first use; the map applies it
        before it reads or changes its LRU order."""
        if self._touches is None:
            words = 5 + 2 * self.max_entries
            touches = (ctypes.c_uint64 * words)()
            self._touches = touches
            self._touch_words = memoryview(touches).cast("B").cast("Q")
        return self._touches

    def _apply_touches(self) -> None:
        """Move the keys native code touched to the recent end of their LRU
        lists, in the order of their last touches (what touching them one
        by one then would have left), and empty the record."""
        words = self._touch_words
        if words is None or not words[TOUCH_COUNT]:
            return
        with self._touch_lock:
            n = words[TOUCH_COUNT]
            if not n:
                return
            words[TOUCH_BUSY] = 1
            try:
                touched = [words[TOUCH_LOG + 2 * i] for i in range(n)]
                touched.sort(key=lambda slot: words[TOUCH_STAMP + 2 * slot])
                keys, lists, home = self._slot_keys, self._lists, self._home
                for slot in touched:
                    words[TOUCH_STAMP + 2 * slot] = 0
                    key = keys[slot] if slot < len(keys) else None
                    if key is None:
                        continue
                    try:  # noqa: SIM105 - deleted meanwhile by another thread
                        lists[0 if home is None else home[key]].move_to_end(key)
                    except KeyError:
                        pass
                words[TOUCH_COUNT] = 0
            finally:
                words[TOUCH_BUSY] = 0

    # ------------------------------------------------------------ core operations

    def _update(self, key: bytes, value: Any, flags: int, cpu: int, all_cpus: bool) -> int:
        """Insert or overwrite ``key``; the caller holds the map's lock."""
        if (flags & ~BPF_F_LOCK) > BPF_EXIST:
            return -E.EINVAL
        if flags & BPF_F_LOCK and (self.spin_lock_offset is None or self.lru or self.percpu):
            return -E.EINVAL
        if self.lru:
            self._make_room(cpu)
        index = self._index
        offset = index.get(key)
        if offset is not None:
            if flags & BPF_NOEXIST:
                return -E.EEXIST
            if self.lru:
                self._touch(key)
            if self._plain:
                self._arena[offset:offset + self.value_size] = value
            else:
                self._store(offset, value, cpu, all_cpus, False, bool(flags & BPF_F_LOCK))
            return 0
        if flags & BPF_EXIST:
            return -E.ENOENT
        free = self._free
        slot = free.pop() if free else self._take_slot()
        if slot < 0:
            return -E.E2BIG
        offset = slot * self.value_stride
        if self._plain:
            self._arena[offset:offset + self.value_size] = value
        else:
            self._store(offset, value, cpu, all_cpus, True, False)
        # Published only now: a lookup never finds a key before its value.
        self._slot_keys[slot] = key
        index[key] = offset
        self._order = None
        self.changes.value += 1
        if self.lru:
            home = self._home
            if home is None:
                self._lists[0][key] = None
            else:
                home[key] = cpu
                self._lists[cpu][key] = None
        return 0

    def _store(self, offset: int, value: Any, cpu: int, all_cpus: bool, new: bool,
               locked: bool) -> None:
        arenas = self.arenas
        if not self.percpu:
            self._write_value(arenas[0], offset, value, locked)
        elif all_cpus:
            for arena, v in zip(arenas, value):
                self._write_value(arena, offset, v)
        else:
            self._write_value(arenas[cpu], offset, value)
            if new:
                blank = bytes(self.value_size)
                for other, arena in enumerate(arenas):
                    if other != cpu:
                        arena[offset:offset + self.value_size] = blank

    def _copy(self, offset: int, locked: bool = False) -> Any:
        if self.percpu:
            return [self._read_value(arena, offset) for arena in self.arenas]
        return self._read_value(self.arenas[0], offset, locked)

    # ------------------------------------------------------------ userspace

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        offset = self._index.get(key)
        if offset is None:
            raise self._error(E.ENOENT, "lookup", key, "no such key")
        return self._copy(offset, bool(flags & BPF_F_LOCK))

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return self._update(key, value, flags, self.user_cpu, True)

    def _sys_delete(self, key: bytes) -> int:
        if key not in self._index:
            return -E.ENOENT
        self._remove(key)
        return 0

    def _sys_lookup_and_delete(self, key: bytes, flags: int) -> Any:
        if flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "lookup_and_delete", key, f"bad flags {flags:#x}")
        offset = self._index.get(key)
        if offset is None:
            raise self._error(E.ENOENT, "lookup_and_delete", key, "no such key")
        value = self._copy(offset, bool(flags & BPF_F_LOCK))
        self._remove(key)
        return value

    def _sorted_keys(self) -> list[bytes]:
        """The keys in walk order (sorted once after each change)."""
        order = self._order
        if order is None:
            order = self._order = sorted(self._index)
        return order

    def _next_key(self, key: bytes | None) -> bytes | None:
        order = self._sorted_keys()
        if key is None or key not in self._index:     # the kernel restarts too
            return order[0] if order else None
        at = bisect_right(order, key)
        return order[at] if at < len(order) else None

    def _raw_keys(self) -> list[bytes]:
        return list(self._sorted_keys())

    def _raw_items(self) -> list[tuple[bytes, Any]]:
        index = self._index
        return [(k, self._copy(index[k])) for k in self._sorted_keys()]

    def _count(self) -> int:
        return len(self._index)

    def _has(self, key: bytes) -> bool:
        return key in self._index

    def _has_batch(self, which: str) -> bool:
        return True

    def _lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int, flags: int,
                      delete: bool) -> Batch:
        """The kernel's hash batch walk, in key order; the cursor is the key
        the next batch starts at."""
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, op, None, f"elem_flags {elem_flags:#x}")
        self._check_lock_flag(elem_flags, op)
        if flags:
            raise self._error(E.EINVAL, op, None, f"flags {flags:#x} must be 0")
        if count <= 0:
            return Batch([], [], cursor, False)
        order = self._sorted_keys()
        start = 0 if cursor is None else bisect_left(order, self._cursor_key(cursor, op))
        keys = order[start:start + count]
        locked = bool(elem_flags & BPF_F_LOCK)
        index = self._index
        values = [self._copy(index[k], locked) for k in keys]
        end = start + len(keys)
        done = end >= len(order)
        next_cursor = None if done else order[end]
        if delete:
            for key in keys:
                self._remove(key)
        if not keys:
            return Batch([], [], cursor, True)
        return Batch(keys, values, next_cursor if next_cursor is not None else keys[-1], done)

    # ------------------------------------------------------------ BPF side

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """The address of ``key``'s value, or 0."""
        offset = self._index.get(key)
        if offset is None:
            return 0
        return self._base + offset

    def _bpf_lookup_percpu(self, key: bytes, cpu: int = 0) -> int:
        offset = self._index.get(key)
        if offset is None:
            return 0
        return self._bases[cpu] + offset

    def _bpf_lookup_lru(self, key: bytes, cpu: int = 0) -> int:
        offset = self._index.get(key)
        if offset is None:
            return 0
        try:  # noqa: SIM105 - contextlib.suppress would cost a context manager per lookup
            self._touch(key)
        except KeyError:          # deleted meanwhile by another thread: nothing to mark
            pass
        return self._bases[cpu if self.percpu else 0] + offset

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """Insert or overwrite (this CPU's value for per-CPU maps; a new per-CPU
        element starts zeroed on the other CPUs).  0 or -EINVAL/-EEXIST/
        -ENOENT/-E2BIG."""
        lock = self.lock
        lock.acquire()
        try:
            return self._update(key, value, flags, cpu, False)
        finally:
            lock.release()

    def _bpf_update_plain(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        lock = self.lock
        lock.acquire()
        try:
            offset = self._index.get(key)
            if offset is None or flags:
                ret = self._update(key, value, flags, cpu, False)
                offset = self._index.get(key) if ret == 0 else None
            else:
                self._arena[offset:offset + self.value_size] = value
                ret = 0
            last = self._last_update
            if last is not None and offset is not None:
                last[0], last[1], last[2] = 1, int.from_bytes(key, "little"), offset
            return ret
        finally:
            lock.release()

    def native_updates(self) -> ctypes.Array:
        """Plain hash maps with keys of at most 8 bytes: the record of the
        last successful program update (three u64 words: 1 once written,
        the key as a little-endian number, its value's offset), made on
        first use.  A JIT's update call site reads it after the helper
        returns to learn where the key's value lives, and writes later
        updates of that key in place itself while no key has come into or
        left the map (:attr:`changes`)."""
        if self._last_update is None:
            self._last_update = (ctypes.c_uint64 * 3)()
        return self._last_update

    def bpf_delete(self, key: bytes, cpu: int = 0) -> int:
        """Remove ``key``: 0 or -ENOENT."""
        lock = self.lock
        lock.acquire()
        try:
            if key not in self._index:
                return -E.ENOENT
            self._remove(key)
        finally:
            lock.release()
        return 0

    def bpf_for_each(self, cpu: int = 0) -> Iterator[tuple[int, int]]:
        """``(key address, value address)`` of each element, in slot order;
        elements deleted by the callback are skipped.  Takes no lock (the
        callback may update and delete), as the kernel's walk takes none."""
        scratch, key_address = self.key_scratch, self.key_scratch_address
        base = self._bases[cpu if self.percpu else 0]
        stride, size = self.value_stride, self.key_size
        slots = self._slot_keys
        for slot in range(len(slots)):
            key = slots[slot]
            if key is None:
                continue
            scratch[:size] = key
            yield key_address, base + slot * stride


class PercpuHashMap(HashMap):
    """``BPF_MAP_TYPE_PERCPU_HASH``: one value per CPU for each key."""

    type = "percpu_hash"
    percpu = True


class LruHashMap(HashMap):
    """``BPF_MAP_TYPE_LRU_HASH``: a full map evicts its least recently used key."""

    type = "lru_hash"
    lru = True


class LruPercpuHashMap(HashMap):
    """``BPF_MAP_TYPE_LRU_PERCPU_HASH``: LRU eviction, one value per CPU."""

    type = "lru_percpu_hash"
    lru = True
    percpu = True

