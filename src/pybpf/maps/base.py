"""What every userspace map shares: identity, memory, the userspace
operations' common checks and batches.

Two faces per map:

* **userspace** — the map protocol both backends share
  (:class:`pybpf.codecs.MapProtocol`: ``m[k]``, ``lookup``, ``update``,
  ``get_next_key``, batches, ``freeze``, ``m.raw``...), raising
  :class:`~pybpf.errors.MapError` with the errno ``bpf()`` would set.  This
  module implements its ``_op_*`` primitives on raw bytes; the protocol
  encodes and decodes around them with the map's codecs.
* **BPF side** — ``bpf_*`` methods that helpers call while a program runs.
  They never raise: they return what the helper returns (an address, 0 for
  NULL, or a negative errno).

Values live in :attr:`Map.arenas`, preallocated buffers that the VM maps as
memory regions.  The ``bpf_*`` methods name memory by host address (a
value's, a ring buffer record's); the VM maps the buffers at addresses of
its own and translates, so programs never see these addresses.

THREADS: maps are safe to use from several threads (several VMs, or a VM
and userspace) with the kernel's guarantees.  Each map has one lock
(:attr:`Map.lock`); every element operation that changes the map's
structure, and every lookup that walks shared structure, holds it, so
element operations are atomic with respect to each other, batches
element by element.  Lookups that are a single dictionary probe (hash and
array maps from programs) take no lock, as the kernel's RCU lookups take
none: they may return a value that is being deleted, as the kernel's may.
The ``struct bpf_spin_lock`` in a value is a real lock between threads:
programs take it with ``bpf_spin_lock`` (:meth:`Map.bpf_spin_lock`), and
``BPF_F_LOCK`` lookups and updates copy the value while holding it.
"""

from __future__ import annotations

import ctypes
import errno as E
import itertools
import mmap
import os
import struct
import threading
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from ..codecs import Batch, Codec, MapProtocol, default_codecs, make_codec, round8
from ..objects import MapSpec
from ._abi import (
    BPF_ATTR_U32_LIMIT,
    BPF_ATTR_U64_LIMIT,
    BPF_F_LOCK,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    ENOTSUPP,
    MAP_NORESERVE,
    MAP_TYPE_IDS,
)
from .errors import MapError, errno_text

_ids = itertools.count(1)
_by_address: weakref.WeakValueDictionary[int, Map] = weakref.WeakValueDictionary()
_by_id: weakref.WeakValueDictionary[int, Map] = weakref.WeakValueDictionary()

HANDLE_SIZE = 64
_HANDLE = struct.Struct("<IIIIII")  # map type id, key size, value size, max entries, flags, id
_LOCK_WORD = struct.Struct("<I")

SPIN_LOCK_TIMEOUT = 10.0
"""Seconds a ``bpf_spin_lock`` or a ``BPF_F_LOCK`` copy waits for a lock that
another thread holds before giving up with EDEADLK.  The kernel spins
forever, but its verifier guarantees every lock is released; in the VM a
program can exit holding one."""


LAZY_BYTES = 1 << 20
"""Buffers this large are anonymous mappings that reserve address space and
take memory only for the pages written, as the kernel's maps that allocate
per element do; smaller ones are plain bytearrays."""


def zeroed_buffer(size: int) -> bytearray | mmap.mmap:
    """``size`` zero bytes of writable storage with a fixed address; large
    ones take memory only as they are written.  Raises MemoryError when the
    address space cannot hold them."""
    if size < LAZY_BYTES:
        return bytearray(size)
    try:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | MAP_NORESERVE)
    except (OSError, OverflowError, ValueError) as exc:
        raise MemoryError(str(exc)) from None


def physical_memory() -> int:
    """Bytes of memory this machine has: what the kernel's map allocations
    (vmalloc) refuse to exceed in one piece."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 1 << 62


def map_at(address: int) -> Map | None:
    """The map whose :attr:`Map.address` (its handle's host address) is
    ``address``, or None.  For userspace code: the VM never looks maps up
    here, so programs reach only the maps of their own VM."""
    return _by_address.get(address)


def map_owning(address: int) -> tuple[Map, int, int] | None:
    """``(map, arena index, offset)`` for a host address inside some live
    map's values (a ring buffer sample, a value pointer), or None.  Walks
    every map; for userspace code, like :func:`map_at`."""
    for m in list(_by_address.values()):
        where = m.locate(address)
        if where is not None:
            return m, where[0], where[1]
    return None


def map_by_id(map_id: int) -> Map | None:
    """The live map with this :attr:`Map.id`, or None."""
    return _by_id.get(map_id)


class MapBuffer(NamedTuple):
    """A buffer the VM must map for programs to use a map: ``name`` for
    messages, ``buffer`` the storage (a bytearray, or an anonymous mmap for
    large maps), ``writable`` whether programs may write it, ``kind`` the
    region kind."""

    name: str
    buffer: bytearray | mmap.mmap
    writable: bool
    kind: str


def find_spin_lock_offset(spec: MapSpec) -> int | None:
    """Byte offset of the ``struct bpf_spin_lock`` in the spec's BTF value
    type, or None when there is no BTF or no lock."""
    btf, vtype = spec.btf, spec.value_type
    if btf is None or vtype is None:
        return None
    try:
        t = btf.resolve(vtype)
        for member in getattr(t, "members", ()):
            mt = btf.resolve(member.type_id)
            if getattr(mt, "name", None) == "bpf_spin_lock":
                return member.bit_offset // 8
    except Exception:  # BTF without a usable value type: no lock
        return None
    return None


class Map(MapProtocol):
    """A userspace eBPF map with the kernel's semantics and the map protocol
    both backends share (:mod:`pybpf.codecs`).

    Create maps with :func:`pybpf.maps.create_map`.  Attributes: ``spec``,
    ``name``, ``type``, ``key_size``, ``value_size``, ``max_entries``,
    ``flags``, ``num_cpus``, ``id`` (unique, like a kernel map id),
    ``address`` (the map pointer programs hold), ``arenas`` (value storage),
    ``frozen``, ``key_codec``/``value_codec``.
    """

    type: ClassVar[str] = ""
    percpu: ClassVar[bool] = False
    value_is_bytes: ClassVar[bool] = True

    def __init__(self, spec: MapSpec, *, num_cpus: int, key_codec: Codec | str | None = None,
                 value_codec: Codec | str | None = None, spin_lock_offset: int | None = None):
        self.spec = spec
        self.name = spec.name
        self.key_size = spec.key_size
        self.value_size = spec.value_size
        self.max_entries = spec.max_entries
        self.flags = spec.flags
        self.num_cpus = num_cpus
        self.value_stride = round8(spec.value_size)
        self.frozen = False
        self.user_cpu = 0
        self.id = next(_ids)
        self.arenas: list[Any] = []           # bytearrays, or mmaps for large maps
        self.arena_addresses: list[int] = []
        self._anchors: list[Any] = []
        self.handle = bytearray(HANDLE_SIZE)
        _HANDLE.pack_into(self.handle, 0, MAP_TYPE_IDS.get(self.type, 0), self.key_size,
                          self.value_size, self.max_entries, self.flags & 0xFFFFFFFF, self.id)
        self.address = self._pin(self.handle)
        self.key_scratch = bytearray(max(8, round8(self.key_size)))
        self.key_scratch_address = self._pin(self.key_scratch)
        _by_address[self.address] = self
        _by_id[self.id] = self
        default_key, default_value = default_codecs(
            self.type, self.key_size, self.value_size, btf=spec.btf, key_type=spec.key_type,
            value_type=spec.value_type)
        self.key_codec: Codec = (default_key if key_codec is None
                                 else make_codec(key_codec, self.key_size))
        self.value_codec: Codec = (default_value if value_codec is None
                                   else make_codec(value_codec, self.value_size))
        self.spin_lock_offset: int | None = (
            spin_lock_offset if spin_lock_offset is not None else find_spin_lock_offset(spec))
        #: Held around every change of the map's structure (see THREADS above).
        self.lock = threading.Lock()
        self._spin = threading.Condition()          # guards every spin-lock word of the values
        self._spin_holders: dict[tuple[int, int], int] = {}   # (arena, offset) -> thread id

    # ------------------------------------------------------------------ memory

    def _pin(self, buffer: bytearray) -> int:
        """The host address of ``buffer``; the buffer can no longer be resized."""
        if not len(buffer):
            return 0
        anchor = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        self._anchors.append(anchor)
        return ctypes.addressof(anchor)

    def _new_arena(self, size: int) -> tuple[Any, int]:
        """A zeroed value buffer (large ones take memory only as values are
        written) and its address."""
        try:
            buffer = zeroed_buffer(size)
        except MemoryError:
            raise MapError(E.ENOMEM, f"cannot allocate {size} bytes of values",
                           map_name=self.name, op="create") from None
        address = self._pin(buffer)
        self.arenas.append(buffer)
        self.arena_addresses.append(address)
        return buffer, address

    def buffers(self) -> list[MapBuffer]:
        """Every buffer the VM maps so programs can use this map: the value
        arenas (writable unless ``BPF_F_RDONLY_PROG``), the key scratch that
        ``for_each`` callbacks read keys from, and the handle a map pointer
        points at (both read-only)."""
        writable = not self.flags & BPF_F_RDONLY_PROG
        out = [MapBuffer(f"{self.name}.values{'' if len(self.arenas) == 1 else i}", arena,
                         writable, "map_value")
               for i, arena in enumerate(self.arenas)]
        out.append(MapBuffer(f"{self.name}.key", self.key_scratch, False, "map_key"))
        out.append(MapBuffer(f"{self.name}", self.handle, False, "map_ptr"))
        return out

    def locate(self, address: int) -> tuple[int, int] | None:
        """``(arena index, offset)`` of a value address, or None."""
        for i, (base, arena) in enumerate(zip(self.arena_addresses, self.arenas)):
            if base <= address < base + len(arena):
                return i, address - base
        return None

    @property
    def prog_writable(self) -> bool:
        """Whether programs may write values (not ``BPF_F_RDONLY_PROG``;
        freezing a map only stops userspace)."""
        return not self.flags & BPF_F_RDONLY_PROG

    @property
    def prog_readable(self) -> bool:
        """Whether programs may read values (not ``BPF_F_WRONLY_PROG``)."""
        return not self.flags & BPF_F_WRONLY_PROG

    # ---------------------------------------------------------------- creation

    @classmethod
    def check_fields(cls, spec: MapSpec) -> None:
        """EINVAL for sizes, counts and flags that ``union bpf_attr`` cannot
        carry (negative, or wider than its ``__u32``/``__u64`` fields)."""
        for field in ("key_size", "value_size", "max_entries", "flags"):
            value = getattr(spec, field)
            if not isinstance(value, int) or not 0 <= value < BPF_ATTR_U32_LIMIT:
                raise cls._create_error(spec, E.EINVAL, f"{field} {value!r} does not fit the "
                                                        f"kernel's u32 field")
        if not isinstance(spec.map_extra, int) or not 0 <= spec.map_extra < BPF_ATTR_U64_LIMIT:
            raise cls._create_error(spec, E.EINVAL, f"map_extra {spec.map_extra!r} does not "
                                                    f"fit the kernel's u64 field")

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """Raise :class:`MapError` (op ``create``) for a spec the kernel would
        refuse.  Subclasses add their type's rules."""

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """Bytes of the largest single allocation the kernel makes when it
        creates such a map (what it preallocates); 0 for maps that
        allocate element by element."""
        return 0

    @classmethod
    def check_memory(cls, spec: MapSpec, num_cpus: int) -> None:
        """ENOMEM, as the kernel's vmalloc answers, for a map that would
        preallocate more than the machine's memory in one piece."""
        need = cls.largest_allocation(spec, num_cpus)
        have = physical_memory()
        if need > have:
            raise cls._create_error(spec, E.ENOMEM, f"the kernel would preallocate {need} "
                                                    f"bytes; this machine has {have}")

    @staticmethod
    def _create_error(spec: MapSpec, code: int, message: str) -> MapError:
        return MapError(code, message, map_name=spec.name, op="create")

    @classmethod
    def _check_sizes(cls, spec: MapSpec, *, key_size: int | None = None,
                     value_size: int | None = None, allowed_flags: int = 0) -> None:
        def bad(msg: str, code: int = E.EINVAL) -> MapError:
            return cls._create_error(spec, code, f"{spec.type} map: {msg}")

        if key_size is not None and spec.key_size != key_size:
            raise bad(f"key_size must be {key_size}, not {spec.key_size}")
        if key_size is None and spec.key_size <= 0:
            raise bad("key_size must be positive")
        if value_size is not None and spec.value_size != value_size:
            raise bad(f"value_size must be {value_size}, not {spec.value_size}")
        if value_size is None and spec.value_size <= 0:
            raise bad("value_size must be positive")
        if spec.max_entries <= 0:
            raise bad("max_entries must be positive")
        if spec.flags & ~allowed_flags:
            raise bad(f"flags {spec.flags & ~allowed_flags:#x} are not allowed for this type")
        if (spec.flags & (BPF_F_RDONLY | BPF_F_WRONLY)) == (BPF_F_RDONLY | BPF_F_WRONLY) or \
                (spec.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) == \
                (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            raise bad("read-only and write-only flags together")
        if spec.map_extra:
            raise bad("map_extra must be 0 for this type")

    # ------------------------------------------------------- errors and checks

    def _check_write(self, op: str, key: Any = None) -> None:
        if self.frozen:
            raise self._error(E.EPERM, op, key, "the map is frozen: userspace cannot write it")
        if self.flags & BPF_F_RDONLY:
            raise self._error(E.EPERM, op, key, "the map is read-only for userspace")

    def _check_read(self, op: str, key: Any = None) -> None:
        if self.flags & BPF_F_WRONLY:
            raise self._error(E.EPERM, op, key, "the map is write-only for userspace")

    def _check_lock_flag(self, flags: int, op: str, key: Any = None) -> None:
        if flags & BPF_F_LOCK and self.spin_lock_offset is None:
            raise self._error(E.EINVAL, op, key,
                              "BPF_F_LOCK needs a struct bpf_spin_lock in the value")

    def _accept_value(self, value: Any, op: str, key: Any) -> Any:
        """A raw value about to be stored; maps of objects check the object
        here (after the checks ``bpf()`` makes first)."""
        return value

    def _cursor_key(self, cursor: Any, op: str) -> bytes:
        """A generic batch cursor (the last key returned) as raw key bytes."""
        if isinstance(cursor, int):
            return cursor.to_bytes(self.key_size, "little")
        data = bytes(cursor)
        if len(data) != self.key_size:
            raise self._error(E.EINVAL, op, cursor, f"a batch cursor of {len(data)} bytes; "
                                                    f"this map's are {self.key_size}")
        return data

    def _read_value(self, arena: bytearray, offset: int, locked: bool = False) -> bytes:
        """A copy of the value at ``offset``, spin lock zeroed as the kernel
        does; ``locked`` (BPF_F_LOCK) copies it while holding the value's
        spin lock."""
        lock = self.spin_lock_offset
        if lock is None:
            return bytes(arena[offset:offset + self.value_size])
        with self._spin:
            if locked:
                self._wait_unlocked(arena, offset + lock)
            data = bytes(arena[offset:offset + self.value_size])
        return data[:lock] + bytes(4) + data[lock + 4:]

    def _write_value(self, arena: bytearray, offset: int, value: bytes | memoryview,
                     locked: bool = False) -> None:
        """Store a value, leaving the spin lock word alone as the kernel
        does; ``locked`` (BPF_F_LOCK) stores it while holding the value's
        spin lock."""
        lock = self.spin_lock_offset
        if lock is None:
            arena[offset:offset + self.value_size] = value
            return
        at = offset + lock
        with self._spin:           # no bpf_spin_lock may slip in between
            if locked:
                self._wait_unlocked(arena, at)
            held = arena[at:at + 4]
            arena[offset:offset + self.value_size] = value
            arena[at:at + 4] = held

    # ------------------------------------------------------------ spin locks

    def _wait_unlocked(self, arena: bytearray, at: int) -> None:
        """With ``_spin`` held: wait until the lock word at ``at`` is free.
        EDEADLK at once when waiting cannot end: this thread holds the lock,
        its holder's thread has ended, or no bpf_spin_lock holds it (a
        program stored to it directly, which the verifier forbids)."""
        if not _LOCK_WORD.unpack_from(arena, at)[0]:
            return
        holder = self._spin_holders.get((id(arena), at))
        if holder == threading.get_ident():
            raise self._error(E.EDEADLK, "spin_lock", None,
                              "this thread already holds the value's bpf_spin_lock")
        if holder is None:
            raise self._error(E.EDEADLK, "spin_lock", None,
                              "the value's bpf_spin_lock word is set but no bpf_spin_lock "
                              "holds it (a program stored to it directly)")
        if holder not in {t.ident for t in threading.enumerate()}:
            raise self._error(E.EDEADLK, "spin_lock", None,
                              "the value's bpf_spin_lock is held by a thread that has ended "
                              "(a program exited holding it)")
        if not self._spin.wait_for(lambda: not _LOCK_WORD.unpack_from(arena, at)[0],
                                   SPIN_LOCK_TIMEOUT):
            raise self._error(E.EDEADLK, "spin_lock", None,
                              f"the value's bpf_spin_lock has been held by another thread "
                              f"for over {SPIN_LOCK_TIMEOUT:g} s (did a program exit "
                              f"holding it?)")

    def spin_lock_word(self, buffer: Any, offset: int) -> tuple[int, int] | None:
        """``(arena index, offset)`` when ``offset`` in ``buffer`` (the storage
        of a region the VM mapped) can hold a ``struct bpf_spin_lock``: a
        4-aligned word inside a value of a hash or array map, at the lock's
        offset when the map knows where its values keep it.  None otherwise:
        the kernel's verifier refuses such a call."""
        if self.type not in ("hash", "array") or offset % 4:
            return None
        index = next((i for i, arena in enumerate(self.arenas) if arena is buffer), None)
        if index is None:
            return None
        stride = self.value_stride
        if not 0 <= offset < self.max_entries * stride:
            return None
        within = offset % stride
        if within + 4 > self.value_size:
            return None
        if self.spin_lock_offset is not None and within != self.spin_lock_offset:
            return None
        return index, offset

    def bpf_spin_lock(self, arena_index: int, offset: int) -> None:
        """``bpf_spin_lock`` on the word at ``offset`` of arena
        ``arena_index``: wait while another thread holds it.  Raises
        :class:`MapError` EDEADLK when this thread holds it already or the
        holder keeps it longer than :data:`SPIN_LOCK_TIMEOUT`."""
        arena = self.arenas[arena_index]
        with self._spin:
            self._wait_unlocked(arena, offset)
            _LOCK_WORD.pack_into(arena, offset, 1)
            self._spin_holders[(id(arena), offset)] = threading.get_ident()

    def bpf_spin_unlock(self, arena_index: int, offset: int) -> None:
        """``bpf_spin_unlock``: release the word and wake its waiters."""
        arena = self.arenas[arena_index]
        with self._spin:
            _LOCK_WORD.pack_into(arena, offset, 0)
            self._spin_holders.pop((id(arena), offset), None)
            self._spin.notify_all()

    # ------------------------------------------- protocol primitives (raw bytes)

    def _op_lookup(self, key: bytes, flags: int) -> Any:
        self._check_read("lookup", key)
        if flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "lookup", key, f"bad flags {flags:#x}")
        self._check_lock_flag(flags, "lookup", key)
        lock = self.lock
        lock.acquire()
        try:
            return self._sys_lookup(key, flags)
        finally:
            lock.release()

    def _op_update(self, key: bytes, value: Any, flags: int) -> None:
        self._check_write("update", key)
        self._check_lock_flag(flags, "update", key)
        value = self._accept_value(value, "update", key)
        lock = self.lock
        lock.acquire()
        try:
            err = self._sys_update(key, value, flags)
        finally:
            lock.release()
        if err:
            raise self._error(-err, "update", key, self._update_message(-err, flags))

    def _op_delete(self, key: bytes) -> None:
        self._check_write("delete", key)
        with self.lock:
            err = self._sys_delete(key)
        if err:
            raise self._error(-err, "delete", key)

    def _op_lookup_and_delete(self, key: bytes, flags: int) -> Any:
        self._check_write("lookup_and_delete", key)
        self._check_read("lookup_and_delete", key)
        self._check_lock_flag(flags, "lookup_and_delete", key)
        with self.lock:
            return self._sys_lookup_and_delete(key, flags)

    def _op_next_key(self, key: bytes | None) -> bytes | None:
        self._check_read("get_next_key", key)
        with self.lock:
            return self._next_key(key)

    def _op_freeze(self) -> None:
        if self.spin_lock_offset is not None:  # the kernel: a map with a BTF record
            raise self._error(ENOTSUPP, "freeze", None,
                              "maps whose values hold a bpf_spin_lock cannot be frozen")
        if self.frozen or self.flags & BPF_F_RDONLY:
            raise self._error(E.EPERM, "freeze", None, "the map is already frozen")
        self.frozen = True

    def _op_keys(self) -> list[bytes]:
        self._check_read("get_next_key")
        with self.lock:
            return self._raw_keys()

    def _op_items(self) -> list[tuple[bytes, Any]]:
        self._check_read("lookup")
        with self.lock:
            return self._raw_items()

    def _op_len(self) -> int:
        self._check_read("get_next_key")
        with self.lock:
            return self._count()

    def _op_contains(self, key: bytes) -> bool:
        self._check_read("lookup", key)
        with self.lock:
            return self._has(key)

    # Subclass hooks; the defaults are what a type without the operation does,
    # or a generic (slow) walk.

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        raise self._error(ENOTSUPP, "lookup", key)

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return -ENOTSUPP

    def _sys_delete(self, key: bytes) -> int:
        return -ENOTSUPP

    def _sys_lookup_and_delete(self, key: bytes, flags: int) -> Any:
        raise self._error(ENOTSUPP, "lookup_and_delete", key)

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise self._error(ENOTSUPP, "get_next_key", key)

    # The hooks below run with the map's lock held: they call each other,
    # never the locking ``_op_*`` primitives.

    def _raw_keys(self) -> list[bytes]:
        """Every key in get_next_key order."""
        out: list[bytes] = []
        seen: set[bytes] = set()
        key = self._next_key(None)
        while key is not None and key not in seen:
            seen.add(key)
            out.append(key)
            key = self._next_key(key)
        return out

    def _raw_items(self) -> list[tuple[bytes, Any]]:
        """Every ``(key, value)`` in get_next_key order, skipping keys without
        a value."""
        out = []
        for key in self._raw_keys():
            try:
                out.append((key, self._sys_lookup(key, 0)))
            except MapError as exc:
                if exc.errno != E.ENOENT:
                    raise
        return out

    def _count(self) -> int:
        return len(self._raw_keys())

    def _has(self, key: bytes) -> bool:
        try:
            self._sys_lookup(key, 0)
        except MapError as exc:
            if exc.errno == E.ENOENT:
                return False
            raise
        return True

    def _update_message(self, code: int, flags: int) -> str:
        if code == E.EEXIST:
            return "the key exists and BPF_NOEXIST was given"
        if code == E.ENOENT:
            return "the key does not exist and BPF_EXIST was given"
        if code == E.E2BIG:
            return f"the map is full ({self.max_entries} entries) or the index is out of range"
        if code == E.EINVAL:
            return f"invalid flags {flags:#x} for this map type"
        return errno_text(code)

    # ------------------------------------------------------------------ batches

    def _op_lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int, flags: int,
                         delete: bool) -> Batch:
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        self._check_read(op)
        if delete:
            self._check_write(op)
        with self.lock:
            return self._lookup_batch(cursor, count, elem_flags, flags, delete)

    def _op_update_batch(self, keys: list[bytes], values: list[Any], elem_flags: int,
                         flags: int) -> int:
        self._check_write("update_batch")
        if not self._has_batch("update"):
            raise self._error(ENOTSUPP, "update_batch")
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "update_batch", None,
                              f"elem_flags {elem_flags:#x}: only BPF_F_LOCK is allowed", count=0)
        self._check_lock_flag(elem_flags, "update_batch")
        done = 0
        for key, value in zip(keys, values):
            try:
                raw_value = self._accept_value(value, "update_batch", key)
            except MapError as exc:
                exc.count = done
                raise
            with self.lock:                 # element by element, as the kernel's batches
                err = self._sys_update(key, raw_value, elem_flags)
            if err:
                raise self._error(-err, "update_batch", key,
                                  self._update_message(-err, elem_flags), count=done)
            done += 1
        return done

    def _op_delete_batch(self, keys: list[bytes], elem_flags: int, flags: int) -> int:
        self._check_write("delete_batch")
        if not self._has_batch("delete"):
            raise self._error(ENOTSUPP, "delete_batch")
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "delete_batch", None,
                              f"elem_flags {elem_flags:#x}: only BPF_F_LOCK is allowed", count=0)
        done = 0
        for key in keys:
            with self.lock:
                err = self._sys_delete(key)
            if err:
                raise self._error(-err, "delete_batch", key, count=done)
            done += 1
        return done

    def _has_batch(self, which: str) -> bool:
        return False

    def _lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int, flags: int,
                      delete: bool) -> Batch:
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        if not self._has_batch("lookup_and_delete" if delete else "lookup"):
            raise self._error(ENOTSUPP, op)
        return self._generic_lookup_batch(cursor, count, elem_flags, op)

    def _generic_lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int,
                              op: str) -> Batch:
        """The kernel's generic batch: get_next_key walks on from ``cursor``,
        skipping keys without a value; the new cursor is the last key
        visited (left as it was when nothing was returned)."""
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, op, None, f"elem_flags {elem_flags:#x}")
        self._check_lock_flag(elem_flags, op)
        if count <= 0:
            return Batch([], [], cursor, False)
        prev = None if cursor is None else self._cursor_key(cursor, op)
        keys: list[bytes] = []
        values: list[Any] = []
        done = False
        while len(keys) < count:
            nxt = self._next_key(prev)
            if nxt is None:
                done = True
                break
            prev = nxt
            try:
                value = self._sys_lookup(nxt, elem_flags)
            except MapError as exc:
                if exc.errno == E.ENOENT:    # an empty slot (maps of maps): skipped
                    continue
                raise
            keys.append(nxt)
            values.append(value)
        return Batch(keys, values, prev if keys else cursor, done)

    def __repr__(self) -> str:
        frozen = " frozen" if self.frozen else ""
        return (f"<{type(self).__name__} {self.name!r} {self.type} key={self.key_size} "
                f"value={self.value_size} max={self.max_entries}{frozen}>")

    # ---------------------------------------------------------------- BPF side

    def bpf_lookup(self, key: bytes, cpu: int = 0) -> int:
        """``bpf_map_lookup_elem``: the address of the value for ``key`` on
        ``cpu``, or 0 (NULL)."""
        return 0

    def bpf_lookup_percpu(self, key: bytes, cpu: int) -> int:
        """``bpf_map_lookup_percpu_elem``: the value on an explicit CPU, or 0."""
        if not 0 <= cpu < self.num_cpus:
            return 0
        return self.bpf_lookup(key, cpu)

    def bpf_update(self, key: bytes, value: bytes, flags: int = 0, cpu: int = 0) -> int:
        """``bpf_map_update_elem``: 0 or a negative errno."""
        return -ENOTSUPP

    def bpf_delete(self, key: bytes, cpu: int = 0) -> int:
        """``bpf_map_delete_elem``: 0 or a negative errno."""
        return -ENOTSUPP

    def bpf_for_each(self, cpu: int = 0) -> Iterator[tuple[int, int]]:
        """``bpf_for_each_map_elem``: ``(key address, value address)`` for
        each element; the key is copied into :attr:`key_scratch` just before
        it is yielded.  Types without the helper raise ENOTSUPP."""
        raise self._error(ENOTSUPP, "for_each_map_elem")

    def bpf_push(self, value: bytes | memoryview, flags: int = 0) -> int:
        """``bpf_map_push_elem``: 0 or a negative errno."""
        return -ENOTSUPP

    def bpf_pop(self, out: memoryview | bytearray) -> int:
        """``bpf_map_pop_elem``: writes the value into ``out``; 0 or -errno."""
        return -ENOTSUPP

    def bpf_peek(self, buf: memoryview | bytearray) -> int:
        """``bpf_map_peek_elem``: 0 or -errno (see the queue and bloom maps)."""
        return -ENOTSUPP
