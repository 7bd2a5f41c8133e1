"""What every userspace map shares: identity, memory, key and value handling,
the userspace operations' common checks, batches and the mapping protocol.

Two faces per map:

* **userspace** — ``lookup``/``update``/``delete``/``get_next_key``/batches/
  ``freeze`` with bytes (or ints) in and bytes out, raising
  :class:`~pybpf.maps.errors.MapError` with the errno ``bpf()`` would set;
  and the Python mapping protocol (``m[k]``, ``items()``...) through the
  map's codecs.
* **BPF side** — ``bpf_*`` methods that helpers call while a program runs.
  They never raise: they return what the helper returns (an address, 0 for
  NULL, or a negative errno).

Values live in :attr:`Map.arenas`, preallocated buffers that the VM maps as
memory regions.  Because a region's address is the buffer's own host address,
``bpf_lookup`` can return the very address a program dereferences.
"""

from __future__ import annotations

import ctypes
import errno as E
import itertools
import struct
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, NamedTuple

from ..objects import MapSpec
from ._abi import (
    BPF_F_LOCK,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    ENOTSUPP,
    MAP_TYPE_IDS,
)
from .codecs import Codec, default_codec, encode_plain
from .errors import MapError, MapKeyError, errno_text

_ids = itertools.count(1)
_by_address: weakref.WeakValueDictionary[int, Map] = weakref.WeakValueDictionary()
_by_id: weakref.WeakValueDictionary[int, Map] = weakref.WeakValueDictionary()

_KEY_OPS = frozenset({"lookup", "delete", "lookup_and_delete"})
HANDLE_SIZE = 64
_HANDLE = struct.Struct("<IIIIII")  # map type id, key size, value size, max entries, flags, id


def round8(n: int) -> int:
    """``n`` rounded up to a multiple of 8 (the kernel's value stride)."""
    return (n + 7) & ~7


def map_at(address: int) -> Map | None:
    """The map whose :attr:`Map.address` is ``address`` (what a program holds
    as a map pointer), or None."""
    return _by_address.get(address)


def map_owning(address: int) -> tuple[Map, int, int] | None:
    """``(map, arena index, offset)`` for an address inside some live map's
    values (a ring buffer sample, a value pointer), or None.  Walks every
    map: cache the answer per region where speed matters."""
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
    messages, ``buffer`` the storage, ``writable`` whether programs may
    write it, ``kind`` the region kind."""

    name: str
    buffer: bytearray
    writable: bool
    kind: str


class Batch(NamedTuple):
    """One step of a batch operation.

    ``keys`` and ``values`` are what the step returned (raw bytes; per-CPU
    maps give a list of per-CPU values for each key).  ``cursor`` is the
    kernel's ``out_batch``: pass it as ``cursor=`` to continue.  ``done`` is
    True where the kernel returns ENOENT: nothing follows this step.
    """

    keys: list[bytes]
    values: list[Any]
    cursor: bytes | None
    done: bool


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


class Map:
    """A userspace eBPF map with the kernel's semantics.

    Create maps with :func:`pybpf.maps.create_map`.  Attributes: ``spec``,
    ``name``, ``type``, ``key_size``, ``value_size``, ``max_entries``,
    ``flags``, ``num_cpus``, ``id`` (unique, like a kernel map id),
    ``address`` (the map pointer programs hold), ``arenas`` (value storage),
    ``frozen``, ``key_codec``/``value_codec``.
    """

    type: ClassVar[str] = ""
    percpu: ClassVar[bool] = False
    index_keys: ClassVar[bool] = False
    value_is_bytes: ClassVar[bool] = True

    def __init__(self, spec: MapSpec, *, num_cpus: int, key_codec: Codec | None = None,
                 value_codec: Codec | None = None, spin_lock_offset: int | None = None):
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
        self.arenas: list[bytearray] = []
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
        self.key_codec: Codec = key_codec or default_codec(
            spec.btf, spec.key_type, self.key_size, integer=self.index_keys)
        self.value_codec: Codec = value_codec or default_codec(
            spec.btf, spec.value_type, self.value_size)
        self.spin_lock_offset: int | None = (
            spin_lock_offset if spin_lock_offset is not None else find_spin_lock_offset(spec))

    # ------------------------------------------------------------------ memory

    def _pin(self, buffer: bytearray) -> int:
        """The host address of ``buffer``; the buffer can no longer be resized."""
        if not len(buffer):
            return 0
        anchor = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        self._anchors.append(anchor)
        return ctypes.addressof(anchor)

    def _new_arena(self, size: int) -> tuple[bytearray, int]:
        try:
            buffer = bytearray(size)
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
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """Raise :class:`MapError` (op ``create``) for a spec the kernel would
        refuse.  Subclasses add their type's rules."""

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

    def _error(self, code: int, op: str, key: Any = None, message: str | None = None,
               count: int | None = None) -> MapError:
        cls = MapKeyError if code == E.ENOENT and op in _KEY_OPS else MapError
        return cls(code, message or errno_text(code), map_name=self.name, op=op, key=key,
                   count=count)

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

    def _key(self, key: Any, op: str) -> bytes:
        """The raw key for ``key`` (bytes, int, or anything the key codec takes;
        None or b'' for maps without keys)."""
        if not self.key_size and (key is None or key == b""):
            return b""
        try:
            data = encode_plain(key, self.key_size)
            if data is None:
                data = self.key_codec.encode(key)
                if len(data) != self.key_size:
                    raise ValueError(f"{len(data)} bytes given where the map wants "
                                     f"{self.key_size}")
        except (TypeError, ValueError) as exc:
            raise self._error(E.EINVAL, op, key, f"bad key: {exc}") from None
        return data

    def _value(self, value: Any, op: str, key: Any) -> bytes:
        """The raw value for ``value`` (one value, even for per-CPU maps)."""
        try:
            data = encode_plain(value, self.value_size)
            if data is None:
                data = self.value_codec.encode(value)
                if len(data) != self.value_size:
                    raise ValueError(f"{len(data)} bytes given where the map wants "
                                     f"{self.value_size}")
        except (TypeError, ValueError) as exc:
            raise self._error(E.EINVAL, op, key, f"bad value: {exc}") from None
        return data

    def _percpu_values(self, value: Any, op: str, key: Any) -> list[bytes]:
        """Per-CPU values from a list of ``num_cpus`` values or from the
        kernel's layout (``num_cpus`` values, each padded to 8 bytes)."""
        stride, n = self.value_stride, self.num_cpus
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) != stride * n:
                raise self._error(E.EINVAL, op, key,
                                  f"a per-CPU value is a list of {n} values or {stride * n} "
                                  f"bytes ({n} CPUs x {stride}), not {len(raw)} bytes")
            return [raw[i * stride:i * stride + self.value_size] for i in range(n)]
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise self._error(E.EINVAL, op, key,
                                  f"{len(value)} per-CPU values given for {n} CPUs")
            return [self._value(v, op, key) for v in value]
        raise self._error(E.EINVAL, op, key,
                          f"a per-CPU value is a list of {n} values, one per CPU")

    def _user_value(self, value: Any, op: str, key: Any) -> Any:
        return self._percpu_values(value, op, key) if self.percpu else \
            self._value(value, op, key)

    def _read_value(self, arena: bytearray, offset: int) -> bytes:
        """A copy of the value at ``offset``, spin lock zeroed as the kernel does."""
        data = bytes(arena[offset:offset + self.value_size])
        lock = self.spin_lock_offset
        if lock is not None:
            data = data[:lock] + bytes(4) + data[lock + 4:]
        return data

    def _write_value(self, arena: bytearray, offset: int, value: bytes | memoryview) -> None:
        """Store a value, leaving the spin lock word alone as the kernel does."""
        lock = self.spin_lock_offset
        if lock is None:
            arena[offset:offset + self.value_size] = value
        else:
            held = arena[offset + lock:offset + lock + 4]
            arena[offset:offset + self.value_size] = value
            arena[offset + lock:offset + lock + 4] = held

    # ------------------------------------------------------ userspace operations

    def lookup(self, key: Any = None, flags: int = 0) -> Any:
        """The value stored under ``key`` (a copy): bytes, or for per-CPU maps a
        list of per-CPU values.  Raises MapError (ENOENT when absent)."""
        self._check_read("lookup", key)
        if flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "lookup", key, f"bad flags {flags:#x}")
        self._check_lock_flag(flags, "lookup", key)
        try:
            return self._sys_lookup(self._key(key, "lookup"), flags)
        except MapError as exc:
            raise self._as_given(exc, key) from None

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        """Store ``value`` under ``key``; ``flags`` is BPF_ANY, BPF_NOEXIST or
        BPF_EXIST, optionally with BPF_F_LOCK.  Raises MapError."""
        self._check_write("update", key)
        self._check_lock_flag(flags, "update", key)
        raw_key = self._key(key, "update")
        err = self._sys_update(raw_key, self._user_value(value, "update", key), flags)
        if err:
            raise self._error(-err, "update", key, self._update_message(-err, flags))

    def delete(self, key: Any) -> None:
        """Remove ``key``.  Raises MapError (ENOENT when absent)."""
        self._check_write("delete", key)
        err = self._sys_delete(self._key(key, "delete"))
        if err:
            raise self._error(-err, "delete", key)

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> Any:
        """Remove ``key`` and return its value.  Raises MapError."""
        self._check_write("lookup_and_delete", key)
        self._check_read("lookup_and_delete", key)
        self._check_lock_flag(flags, "lookup_and_delete", key)
        try:
            return self._sys_lookup_and_delete(self._key(key, "lookup_and_delete"), flags)
        except MapError as exc:
            raise self._as_given(exc, key) from None

    def _as_given(self, exc: MapError, key: Any) -> MapError:
        """``exc`` naming the key as the caller gave it."""
        if key is None or isinstance(key, (bytes, bytearray)):
            return exc
        return self._error(exc.errno, exc.op or "", key, exc.reason, exc.count)

    def get_next_key(self, key: Any = None) -> bytes:
        """The key after ``key`` in the map's iteration order (the first key when
        ``key`` is None, or missing for hash maps).  Raises MapError ENOENT
        after the last key."""
        self._check_read("get_next_key", key)
        raw = None if key is None else self._key(key, "get_next_key")
        nxt = self._next_key(raw)
        if nxt is None:
            raise self._error(E.ENOENT, "get_next_key", key, "no next key")
        return nxt

    def freeze(self) -> None:
        """Forbid writes from userspace from now on (BPF_MAP_FREEZE); programs
        may still write.  A second freeze fails with EPERM, as in the kernel."""
        if self.frozen or self.flags & BPF_F_RDONLY:
            raise self._error(E.EPERM, "freeze", None, "the map is already frozen")
        self.frozen = True

    # Subclass hooks; the defaults are what a type without the operation does.

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

    def lookup_batch(self, cursor: bytes | None = None, count: int = 64, *,
                     elem_flags: int = 0, flags: int = 0) -> Batch:
        """Up to ``count`` entries after ``cursor`` (BPF_MAP_LOOKUP_BATCH).

        Start with ``cursor=None`` and pass each result's ``cursor`` on until
        a result has ``done`` set.  Raises MapError (ENOSPC when a hash
        bucket does not fit in ``count``, EINVAL for bad flags)."""
        self._check_read("lookup_batch")
        return self._lookup_batch(cursor, count, elem_flags, flags, delete=False)

    def lookup_and_delete_batch(self, cursor: bytes | None = None, count: int = 64, *,
                                elem_flags: int = 0, flags: int = 0) -> Batch:
        """Like :meth:`lookup_batch`, removing what it returns."""
        self._check_read("lookup_and_delete_batch")
        self._check_write("lookup_and_delete_batch")
        return self._lookup_batch(cursor, count, elem_flags, flags, delete=True)

    def update_batch(self, keys: Iterable[Any], values: Iterable[Any], *,
                     elem_flags: int = 0, flags: int = 0) -> int:
        """Store each value under its key (BPF_MAP_UPDATE_BATCH); returns the
        count.  ``elem_flags`` may only be 0 or BPF_F_LOCK, as in the kernel.
        On failure the MapError's ``count`` says how many were stored."""
        self._check_write("update_batch")
        if not self._has_batch("update"):
            raise self._error(ENOTSUPP, "update_batch")
        keys, values = list(keys), list(values)
        if len(keys) != len(values):
            raise self._error(E.EINVAL, "update_batch", None,
                              f"{len(keys)} keys but {len(values)} values", count=0)
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "update_batch", None,
                              f"elem_flags {elem_flags:#x}: only BPF_F_LOCK is allowed", count=0)
        self._check_lock_flag(elem_flags, "update_batch")
        done = 0
        for key, value in zip(keys, values):
            try:
                raw_key = self._key(key, "update_batch")
                raw_value = self._user_value(value, "update_batch", key)
            except MapError as exc:
                exc.count = done
                raise
            err = self._sys_update(raw_key, raw_value, elem_flags)
            if err:
                raise self._error(-err, "update_batch", key, self._update_message(-err,
                                                                                   elem_flags),
                                  count=done)
            done += 1
        return done

    def delete_batch(self, keys: Iterable[Any], *, elem_flags: int = 0, flags: int = 0) -> int:
        """Remove each key (BPF_MAP_DELETE_BATCH); returns the count.  On
        failure (a missing key: ENOENT) the MapError's ``count`` says how many
        were removed."""
        self._check_write("delete_batch")
        if not self._has_batch("delete"):
            raise self._error(ENOTSUPP, "delete_batch")
        if elem_flags & ~BPF_F_LOCK:
            raise self._error(E.EINVAL, "delete_batch", None,
                              f"elem_flags {elem_flags:#x}: only BPF_F_LOCK is allowed", count=0)
        done = 0
        for key in keys:
            try:
                raw_key = self._key(key, "delete_batch")
            except MapError as exc:
                exc.count = done
                raise
            err = self._sys_delete(raw_key)
            if err:
                raise self._error(-err, "delete_batch", key, count=done)
            done += 1
        return done

    def batches(self, count: int = 64, *, delete: bool = False) -> Iterator[Batch]:
        """Every batch from the start to the end (lookup, or lookup-and-delete)."""
        cursor = None
        while True:
            step = (self.lookup_and_delete_batch if delete else self.lookup_batch)(
                cursor, count)
            yield step
            if step.done:
                return
            cursor = step.cursor

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
        prev = None if cursor is None else self._key(cursor, op)
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

    # ---------------------------------------------------------- mapping protocol

    def _raw_keys(self) -> list[bytes]:
        """Every key in get_next_key order (subclasses make this fast)."""
        out = []
        key = self._next_key(None)
        while key is not None:
            out.append(key)
            key = self._next_key(key)
        return out

    def __len__(self) -> int:
        return len(self._raw_keys())

    def __iter__(self) -> Iterator[Any]:
        decode = self.key_codec.decode
        for key in self._raw_keys():
            yield decode(key)

    def __contains__(self, key: Any) -> bool:
        try:
            self._sys_lookup(self._key(key, "lookup"), 0)
        except MapError as exc:
            if exc.errno in (E.ENOENT, E.EINVAL):
                return False
            raise
        return True

    def decode_value(self, raw: Any) -> Any:
        """A raw value (or list of per-CPU values) through the value codec."""
        if self.percpu:
            return [self.value_codec.decode(v) for v in raw]
        return self.value_codec.decode(raw)

    def __getitem__(self, key: Any) -> Any:
        try:
            raw = self.lookup(key)
        except MapError as exc:
            if exc.errno == E.ENOENT:
                raise KeyError(key) from None
            raise
        return self.decode_value(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        try:
            self.delete(key)
        except MapError as exc:
            if exc.errno == E.ENOENT:
                raise KeyError(key) from None
            raise

    def get(self, key: Any, default: Any = None) -> Any:
        """``m[key]``, or ``default`` when the key is absent."""
        try:
            return self[key]
        except KeyError:
            return default

    def pop(self, key: Any, *default: Any) -> Any:
        """Remove ``key`` and return its decoded value (``default`` if absent)."""
        try:
            value = self[key]
        except KeyError:
            if default:
                return default[0]
            raise
        self.delete(key)
        return value

    def keys(self) -> list[Any]:
        """Decoded keys in iteration order."""
        return list(self)

    def values(self) -> list[Any]:
        """Decoded values in iteration order."""
        return [v for _, v in self.items()]

    def items(self) -> list[tuple[Any, Any]]:
        """``(key, value)`` pairs decoded through the codecs, in iteration order."""
        decode_key = self.key_codec.decode
        return [(decode_key(k), self.decode_value(v)) for k, v in self.raw_items()]

    def raw_items(self) -> list[tuple[bytes, Any]]:
        """``(key, value)`` pairs as raw bytes, in iteration order."""
        out = []
        for key in self._raw_keys():
            try:
                out.append((key, self._sys_lookup(key, 0)))
            except MapError:
                continue
        return out

    def clear(self) -> None:
        """Delete every key (arrays: EINVAL, as the kernel cannot delete)."""
        for key in self._raw_keys():
            self.delete(key)

    def __bool__(self) -> bool:
        return True

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
