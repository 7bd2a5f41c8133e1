"""One map interface for both backends: codecs, errors and the protocol.

A userspace map (:mod:`pybpf.maps`, what ``pybpf.vm.load`` gives) and a
kernel map (:class:`pybpf.kernel.KernelMap`, what ``pybpf.kernel.load``
gives) are driven the same way: both are :class:`MapProtocol`\\ s, whose
public methods are written once, here, on top of a few ``_op_*``
primitives that each backend implements with bytes (the userspace maps with
their own code, the kernel maps with ``bpf()``).  So the same call gives
the same result and the same errno in both.

MAP PROTOCOL
------------

==================================================  ============================================
``m[k]``, ``m.lookup(k, default, *, flags=0)``      decoded value; missing: :class:`MapKeyError`
                                                    (a KeyError and a MapError, ENOENT) unless
                                                    ``default`` is given
``m[k] = v``, ``m.update(k, v, flags=BPF_ANY)``     ``flags``: BPF_ANY, BPF_NOEXIST, BPF_EXIST,
                                                    or-ed with BPF_F_LOCK
``del m[k]``, ``m.delete(k)``                       missing: MapKeyError; arrays: EINVAL
``m.lookup_and_delete(k, *, flags=0)``              decoded value (hash types, queues, stacks)
``m.get_next_key(k=None)``                          decoded key after ``k`` (the first for None,
                                                    or for a missing hash key); None at the end
``m.freeze()``                                      no more userspace writes (BPF_MAP_FREEZE)
``k in m``, ``len(m)``                              a lookup; a key walk (arrays: max_entries)
``iter(m)``, ``keys()``, ``values()``, ``items()``  **lists**: snapshots taken when called
``get(k, default=None)``, ``pop(k[, default])``     as for dicts (pop: lookup_and_delete where
                                                    the type has it, else lookup then delete)
``clear()``                                         delete every key; arrays: zero every value;
                                                    queues and stacks: pop everything
``lookup_batch(cursor=None, count=64)``             one step: a ``Batch`` (keys, values, cursor,
                                                    done); pass ``cursor`` on until ``done``;
                                                    keywords ``elem_flags=0``, ``flags=0``
``lookup_and_delete_batch(cursor, count)``          the same, removing what it returns
``batches(count=64, *, delete=False)``              every step, start to end (``count`` doubles
                                                    when a hash bucket does not fit: ENOSPC)
``update_batch(keys, values)``                      how many were stored (keywords as above;
                                                    a failure's ``count``: how many went first)
``delete_batch(keys)``                              how many were removed (the same)
``push(v, flags=BPF_ANY)``, ``pop()``, ``peek()``   queues and stacks (``pop``/``peek`` of an
                                                    empty one: MapKeyError)
``push(v)``, ``peek(v)``, ``v in m``                bloom filters (``peek``: MapKeyError when
                                                    ``v`` is certainly absent)
``m.raw``                                           the same map with bytes keys and values
==================================================  ============================================

Keys and values go through ``m.key_codec`` and ``m.value_codec``
(:class:`BytesCodec`, :class:`IntCodec`, :class:`BTFCodec` or any object with
``size``, ``encode`` and ``decode``).  Every codec also takes bytes of the
right size and ints (little-endian).  :func:`default_codecs` picks them the
same way in both backends: BTF types when the spec or object has them,
integer keys for array-like maps, bytes otherwise.  Per-CPU values read as a
list with one value per CPU; a list (one per CPU), the kernel's layout
(values padded to 8 bytes, back to back) or a single value (written to every
CPU) are accepted.  Maps without keys (queue, stack, bloom filter) take
``None`` as the key.  ``m.raw`` is the one way to bytes: ``m.raw[k]``,
``m.raw.items()``, ``m.raw.lookup_batch()``... return what ``bpf()`` copies
out (per-CPU values as lists of bytes).

Every failure is a :class:`~pybpf.errors.MapError` with ``errno``, ``op``,
``key`` (as given), ``map_name`` and, for batches, ``count``.  The kernel
backend raises subclasses that are also :class:`~pybpf.errors.KernelError`\\ s.
A key or value a codec cannot encode is EINVAL in both backends.

What the backends cannot share: userspace maps of programs and maps
(``prog_array``, ``array_of_maps``, ``hash_of_maps``, ``perf_event_array``)
store and return the objects, the kernel returns their ids; ring buffers and
perf buffers are read through their own readers.
"""

from __future__ import annotations

import errno as _errno
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .errors import BPFError, MapError, MapKeyError
from .spec import constant
from .spec.defines import ENOTSUPP

BPF_ANY = constant("BPF_ANY")

PERCPU_TYPES = frozenset({"percpu_hash", "percpu_array", "lru_percpu_hash",
                          "percpu_cgroup_storage"})
"""Map types whose values are per CPU (read as one value per CPU)."""
INDEX_KEY_TYPES = frozenset({"array", "percpu_array", "prog_array", "perf_event_array",
                             "cgroup_array", "array_of_maps", "stack_trace", "devmap",
                             "cpumap", "xskmap", "sockmap", "reuseport_sockarray"})
"""Map types keyed by a u32 index: their keys decode as ints by default."""
ARRAY_TYPES = frozenset({"array", "percpu_array"})
"""Map types with a value at every index: ``len()`` is ``max_entries``,
``clear()`` zeroes."""
KEYLESS_TYPES = frozenset({"queue", "stack", "bloom_filter", "ringbuf", "user_ringbuf"})
"""Map types without keys (``key_size`` 0)."""
HASH_BATCH_TYPES = frozenset({"hash", "percpu_hash", "lru_hash", "lru_percpu_hash",
                              "hash_of_maps"})
"""Map types whose batch cursor is a 4-byte bucket (slot) number; other
types' cursors are the last key returned."""

KEY_OPS = frozenset({"lookup", "delete", "lookup_and_delete"})
"""Operations whose ENOENT means "no such key": they raise :class:`MapKeyError`."""

_RAISE: Any = object()


# --------------------------------------------------------------------- errnos

def errno_name(code: int) -> str:
    """The symbolic name of an errno value (``ENOENT``), including the
    kernel-internal ``ENOTSUPP`` that ``bpf()`` can return."""
    if code == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(code, f"errno {code}")


def errno_text(code: int) -> str:
    """A short description of an errno value."""
    if code == ENOTSUPP:
        return "operation not supported by this map type"
    return os.strerror(code)


def map_error(code: int, message: str | None = None, *, op: str, map_name: str | None = None,
              key: Any = None, count: int | None = None,
              classes: tuple[type[MapError], type[MapError]] = (MapError, MapKeyError),
              **extra: Any) -> MapError:
    """The error for ``op`` failing with ``code``: ``classes[1]`` (a
    KeyError too) for ENOENT from a key operation, else ``classes[0]``."""
    cls = classes[1] if code == _errno.ENOENT and op in KEY_OPS else classes[0]
    return cls(code, message or errno_text(code), map_name=map_name, op=op, key=key,
               count=count, errno_name=errno_name(code), **extra)


# --------------------------------------------------------------------- codecs

@runtime_checkable
class Codec(Protocol):
    """Turns one key or value into ``size`` bytes and back."""

    size: int

    def encode(self, value: Any) -> bytes:
        """The bytes of ``value``; TypeError or ValueError when it cannot."""
        ...

    def decode(self, data: bytes) -> Any:
        """The value ``data`` stands for."""
        ...


def encode_plain(value: Any, size: int) -> bytes | None:
    """``value`` as ``size`` bytes when it is bytes-like (exactly ``size``
    long) or an integer (little-endian; negative numbers in two's
    complement); None for anything else.  ValueError when it does not fit."""
    kind = type(value)
    if kind is bytes:
        data = value
    elif kind is int or isinstance(value, int) or hasattr(value, "__index__"):
        v = operator.index(value)
        try:
            if not size:
                raise OverflowError
            return v.to_bytes(size, "little", signed=v < 0)
        except OverflowError:
            raise ValueError(f"{v} does not fit in {size} bytes") from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        return None
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes given where {size} are wanted")
    return data


class BytesCodec:
    """Keys or values as ``bytes``; ints are accepted (little-endian)."""

    def __init__(self, size: int):
        self.size = size

    def encode(self, value: Any) -> bytes:
        """Bytes of the right size, or an integer."""
        data = encode_plain(value, self.size)
        if data is None:
            raise TypeError(f"expected bytes or an int, not {type(value).__name__}")
        return data

    def decode(self, data: bytes) -> bytes:
        """The bytes themselves."""
        return bytes(data)

    def __repr__(self) -> str:
        return f"BytesCodec({self.size})"


class IntCodec:
    """Keys or values as little-endian integers (``signed`` for two's
    complement); bytes of the right size are accepted too."""

    def __init__(self, size: int, signed: bool = False):
        self.size = size
        self.signed = signed

    def encode(self, value: Any) -> bytes:
        """An integer (or bytes of the right size)."""
        data = encode_plain(value, self.size)
        if data is None:
            raise TypeError(f"expected an int, not {type(value).__name__}")
        return data

    def decode(self, data: bytes) -> int:
        """The integer."""
        return int.from_bytes(data, "little", signed=self.signed)

    def __repr__(self) -> str:
        return f"IntCodec({self.size}{', signed=True' if self.signed else ''})"


class BTFCodec:
    """Values of a BTF type: decoded with ``btf.decode`` (dicts for structs,
    ints, strings for ``char`` arrays...), encoded with ``btf.encode``
    (bytes of the right size and ints are taken as they are).

    ``size`` defaults to the type's size; a different ``size`` is a
    ValueError (the map and its BTF disagree)."""

    def __init__(self, btf: Any, type_ref: Any, size: int | None = None):
        self.btf = btf
        self.type = btf.type(type_ref)
        real = btf.size_of(self.type)
        if size is not None and size != real:
            raise ValueError(f"BTF type {self.type.name or self.type.id} is {real} bytes, "
                             f"not {size}")
        self.size = real

    def encode(self, value: Any) -> bytes:
        """Bytes of the right size or an int as they are; anything else (a
        dict for a struct, a str for a char array...) through ``btf.encode``."""
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == self.size:
            return bytes(value)
        if isinstance(value, int) and not isinstance(value, bool):
            data = encode_plain(value, self.size)
            assert data is not None
            return data
        data = bytes(self.btf.encode(self.type, value))
        if len(data) != self.size:
            raise ValueError(f"encoded {len(data)} bytes where {self.size} are wanted")
        return data

    def decode(self, data: bytes) -> Any:
        """``data`` decoded as the BTF type."""
        return self.btf.decode(self.type, data)

    def __repr__(self) -> str:
        return f"BTFCodec({self.type.name or self.type.id!r}, {self.size})"


def make_codec(codec: Codec | str | None, size: int) -> Codec:
    """A codec from a codec object, ``"bytes"``, ``"int"`` or ``"sint"``
    (signed); None gives bytes.  ValueError for an unknown name or a codec
    of the wrong size."""
    if codec is None or codec == "bytes":
        return BytesCodec(size)
    if codec == "int":
        return IntCodec(size)
    if codec == "sint":
        return IntCodec(size, signed=True)
    if isinstance(codec, str):
        raise ValueError(f"unknown codec {codec!r}: use 'bytes', 'int', 'sint' or a codec "
                         f"object")
    if getattr(codec, "size", size) != size:
        raise ValueError(f"codec {codec!r} encodes {codec.size} bytes, the map needs {size}")
    return codec


def default_codec(btf: Any, type_ref: Any, size: int, *, integer: bool = False) -> Codec:
    """The codec for one side of a map when none is given: BTF when there
    is a type of the right size, else integers for index keys
    (``integer``), else bytes."""
    if btf is not None and type_ref is not None and size:
        try:
            return BTFCodec(btf, type_ref, size)
        except (BPFError, ValueError, TypeError, LookupError):
            pass  # a type the BTF cannot size, or of another size: keep to plain codecs
    if integer and size:
        return IntCodec(size)
    return BytesCodec(size)


def default_codecs(map_type: str, key_size: int, value_size: int, *, btf: Any = None,
                   key_type: Any = None, value_type: Any = None) -> tuple[Codec, Codec]:
    """``(key codec, value codec)`` of a map when none are given — the same
    choice in both backends: BTF types when there are some, int keys for
    array-like types (:data:`INDEX_KEY_TYPES`), bytes otherwise."""
    return (default_codec(btf, key_type, key_size, integer=map_type in INDEX_KEY_TYPES),
            default_codec(btf, value_type, value_size))


# --------------------------------------------------------------------- per-CPU values

def round8(n: int) -> int:
    """``n`` rounded up to a multiple of 8 (the kernel's per-CPU value stride)."""
    return (n + 7) & ~7


def percpu_values(encode: Callable[[Any], bytes], value: Any, ncpus: int,
                  value_size: int) -> list[bytes]:
    """One encoded value per CPU from a list or tuple of ``ncpus`` values,
    from the kernel's layout (``ncpus`` values each padded to 8 bytes) or
    from a single value (the same on every CPU).  ValueError for a list of
    another length."""
    stride = round8(value_size)
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) != value_size \
            and len(value) == stride * ncpus:
        raw = bytes(value)
        return [raw[i * stride:i * stride + value_size] for i in range(ncpus)]
    if isinstance(value, (list, tuple)):
        if len(value) != ncpus:
            raise ValueError(f"{len(value)} per-CPU values given for {ncpus} CPUs (give one "
                             f"per CPU, or a single value for all)")
        return [encode(v) for v in value]
    return [encode(value)] * ncpus


def split_percpu(raw: bytes, ncpus: int, value_size: int) -> list[bytes]:
    """The kernel's per-CPU layout as a list of ``ncpus`` values."""
    stride = round8(value_size)
    return [raw[i * stride:i * stride + value_size] for i in range(ncpus)]


def join_percpu(values: list[bytes], value_size: int) -> bytes:
    """Per-CPU values in the kernel's layout (each padded to 8 bytes)."""
    pad = bytes(round8(value_size) - value_size)
    return b"".join(bytes(v) + pad for v in values)


# --------------------------------------------------------------------- the protocol

class Batch(NamedTuple):
    """One step of a batch operation.

    ``keys`` and ``values`` are what the step returned, decoded (per-CPU
    maps give a list per key; ``m.raw`` gives bytes).  ``cursor`` is the
    kernel's opaque ``out_batch``: pass it as ``cursor=`` to continue.
    ``done`` is True where the kernel returns ENOENT: nothing follows.
    """

    keys: list[Any]
    values: list[Any]
    cursor: bytes | None
    done: bool


class MapProtocol:
    """The map interface both backends share (see the module docstring).

    Backends provide the attributes ``name``, ``type``, ``key_size``,
    ``value_size``, ``max_entries``, ``flags``, ``num_cpus``,
    ``key_codec``, ``value_codec`` (and ``percpu``/``value_is_bytes`` where
    they differ from the defaults) and the primitives, which take and return
    raw keys and values (bytes; a list of bytes per CPU; objects where
    ``value_is_bytes`` is False) and raise :class:`MapError` as ``bpf()``
    fails: ``_op_lookup``, ``_op_update``, ``_op_delete``,
    ``_op_lookup_and_delete``, ``_op_next_key`` (None at the end),
    ``_op_freeze``, ``_op_lookup_batch``, ``_op_update_batch``,
    ``_op_delete_batch`` and ``_op_peek_value`` (bloom filters).  They may
    replace ``_op_keys``, ``_op_items``, ``_op_len``, ``_op_contains`` and
    ``_op_zero_all`` with faster equivalents.
    """

    name: str = ""
    type: str = ""
    key_size: int = 0
    value_size: int = 0
    max_entries: int = 0
    flags: int = 0
    num_cpus: int = 1
    percpu: bool = False
    value_is_bytes: bool = True
    key_codec: Codec
    value_codec: Codec

    # ------------------------------------------------------------ errors and encoding

    def _error(self, code: int, op: str, key: Any = None, message: str | None = None,
               count: int | None = None) -> MapError:
        """The MapError for ``op`` failing with ``code``."""
        return map_error(code, message, op=op, map_name=self.name, key=key, count=count)

    def _encode_key(self, key: Any, op: str) -> bytes:
        """The raw key for ``key`` (None or b'' for maps without keys)."""
        size = self.key_size
        if not size:
            if key is None or (isinstance(key, (bytes, bytearray)) and not key):
                return b""
            raise self._error(_errno.EINVAL, op, key, f"{self.type} maps have no keys: "
                                                      f"pass None")
        try:
            data = self.key_codec.encode(key)
            if len(data) != size:
                raise ValueError(f"{len(data)} bytes given where {size} are wanted")
        except (TypeError, ValueError, BPFError) as exc:
            raise self._error(_errno.EINVAL, op, key, f"bad key: {exc}") from None
        return data

    def _encode_one(self, value: Any) -> bytes:
        """One value (one CPU's, for per-CPU maps) through the value codec."""
        data = self.value_codec.encode(value)
        if len(data) != self.value_size:
            raise ValueError(f"{len(data)} bytes given where {self.value_size} are wanted")
        return data

    def _encode_value(self, value: Any, op: str, key: Any = None) -> Any:
        """The raw value for ``value``: bytes, a list of bytes per CPU, or
        the object itself for maps of objects."""
        if not self.value_is_bytes:
            return value
        try:
            if self.percpu:
                return percpu_values(self._encode_one, value, self.num_cpus, self.value_size)
            return self._encode_one(value)
        except (TypeError, ValueError, BPFError) as exc:
            raise self._error(_errno.EINVAL, op, key, f"bad value: {exc}") from None

    def decode_key(self, raw: bytes) -> Any:
        """A raw key through the key codec."""
        return self.key_codec.decode(raw)

    def decode_value(self, raw: Any) -> Any:
        """A raw value (a list per CPU for per-CPU maps) through the value
        codec; objects stay as they are."""
        if not self.value_is_bytes:
            return raw
        if self.percpu:
            decode = self.value_codec.decode
            return [decode(v) for v in raw]
        return self.value_codec.decode(raw)

    def _decode_batch(self, step: Batch) -> Batch:
        dk, dv = self.key_codec.decode, self.decode_value
        return Batch([dk(k) for k in step.keys], [dv(v) for v in step.values], step.cursor,
                     step.done)

    @staticmethod
    def _named(exc: MapError, key: Any) -> MapError:
        """``exc`` naming the key as the caller gave it."""
        if exc.key is not None:
            exc.key = key
        return exc

    # ------------------------------------------------------------ bpf() operations

    def lookup(self, key: Any, default: Any = _RAISE, *, flags: int = 0) -> Any:
        """The decoded value of ``key`` (BPF_MAP_LOOKUP_ELEM; ``flags`` may be
        BPF_F_LOCK).  A missing key raises :class:`MapKeyError` (ENOENT)
        unless ``default`` is given; other failures raise MapError."""
        raw_key = self._encode_key(key, "lookup")
        try:
            raw = self._op_lookup(raw_key, flags)
        except MapError as exc:
            if default is not _RAISE and exc.errno == _errno.ENOENT:
                return default
            raise self._named(exc, key) from None
        return self.decode_value(raw)

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key`` (BPF_MAP_UPDATE_ELEM): ``flags``
        BPF_ANY, BPF_NOEXIST (EEXIST when present) or BPF_EXIST (ENOENT when
        absent), or-ed with BPF_F_LOCK.  Raises MapError."""
        raw_key = self._encode_key(key, "update")
        raw_value = self._encode_value(value, "update", key)
        try:
            self._op_update(raw_key, raw_value, flags)
        except MapError as exc:
            raise self._named(exc, key) from None

    def delete(self, key: Any) -> None:
        """Remove ``key`` (BPF_MAP_DELETE_ELEM); MapKeyError when absent,
        MapError EINVAL for arrays."""
        raw_key = self._encode_key(key, "delete")
        try:
            self._op_delete(raw_key)
        except MapError as exc:
            raise self._named(exc, key) from None

    def lookup_and_delete(self, key: Any, *, flags: int = 0) -> Any:
        """Remove ``key`` and return its decoded value
        (BPF_MAP_LOOKUP_AND_DELETE_ELEM: hash types, and ``None`` for queues
        and stacks).  MapKeyError when absent, ENOTSUPP for other types."""
        raw_key = self._encode_key(key, "lookup_and_delete")
        try:
            raw = self._op_lookup_and_delete(raw_key, flags)
        except MapError as exc:
            raise self._named(exc, key) from None
        return self.decode_value(raw)

    def get_next_key(self, key: Any = None) -> Any:
        """The decoded key after ``key`` (BPF_MAP_GET_NEXT_KEY): the first key
        for None (and for a key a hash map does not have); None after the
        last key."""
        raw_key = None if key is None else self._encode_key(key, "get_next_key")
        try:
            nxt = self._op_next_key(raw_key)
        except MapError as exc:
            raise self._named(exc, key) from None
        return None if nxt is None else self.key_codec.decode(nxt)

    def freeze(self) -> None:
        """Forbid writes from userspace from now on (BPF_MAP_FREEZE);
        programs may still write.  Freezing twice is EPERM."""
        self._op_freeze()

    # ------------------------------------------------------------ batches

    def lookup_batch(self, cursor: bytes | None = None, count: int = 64, *,
                     elem_flags: int = 0, flags: int = 0) -> Batch:
        """Up to ``count`` elements after ``cursor`` (BPF_MAP_LOOKUP_BATCH),
        decoded.  Start with None and pass each result's ``cursor`` on until
        one is ``done``.  MapError ENOSPC when a hash bucket does not fit in
        ``count``; EINVAL for bad flags; ENOTSUPP or EINVAL for types
        without batches, as the kernel says."""
        return self._decode_batch(self._op_lookup_batch(cursor, count, elem_flags, flags,
                                                        False))

    def lookup_and_delete_batch(self, cursor: bytes | None = None, count: int = 64, *,
                                elem_flags: int = 0, flags: int = 0) -> Batch:
        """Like :meth:`lookup_batch`, removing what it returns
        (BPF_MAP_LOOKUP_AND_DELETE_BATCH)."""
        return self._decode_batch(self._op_lookup_batch(cursor, count, elem_flags, flags,
                                                        True))

    def batches(self, count: int = 64, *, delete: bool = False) -> Iterator[Batch]:
        """Every batch step from the start to the end (lookup, or
        lookup-and-delete); ``count`` doubles when a hash bucket holds more."""
        step_fn = self.lookup_and_delete_batch if delete else self.lookup_batch
        cursor = None
        while True:
            try:
                step = step_fn(cursor, count)
            except MapError as exc:
                if exc.errno == _errno.ENOSPC and count < (1 << 20):
                    count *= 2
                    continue
                raise
            yield step
            if step.done:
                return
            cursor = step.cursor

    def update_batch(self, keys: Iterable[Any], values: Iterable[Any], *,
                     elem_flags: int = 0, flags: int = 0) -> int:
        """Store each value under its key (BPF_MAP_UPDATE_BATCH); returns how
        many were stored.  ``elem_flags`` is BPF_ANY, BPF_NOEXIST... as for
        :meth:`update`.  On failure the MapError's ``count`` says how many
        were stored first."""
        keys, values = list(keys), list(values)
        if len(keys) != len(values):
            raise self._error(_errno.EINVAL, "update_batch", None,
                              f"{len(keys)} keys but {len(values)} values", count=0)
        try:
            raw_keys = [self._encode_key(k, "update_batch") for k in keys]
            raw_values = [self._encode_value(v, "update_batch", k) for k, v in zip(keys, values)]
        except MapError as exc:
            exc.count = 0
            raise
        try:
            return self._op_update_batch(raw_keys, raw_values, elem_flags, flags)
        except MapError as exc:
            raise self._batch_named(exc, keys) from None

    def delete_batch(self, keys: Iterable[Any], *, elem_flags: int = 0, flags: int = 0) -> int:
        """Remove each key (BPF_MAP_DELETE_BATCH); returns how many were
        removed.  A missing key stops it with ENOENT; the MapError's
        ``count`` says how many went first."""
        keys = list(keys)
        try:
            raw_keys = [self._encode_key(k, "delete_batch") for k in keys]
        except MapError as exc:
            exc.count = 0
            raise
        try:
            return self._op_delete_batch(raw_keys, elem_flags, flags)
        except MapError as exc:
            raise self._batch_named(exc, keys) from None

    @staticmethod
    def _batch_named(exc: MapError, keys: list[Any]) -> MapError:
        if exc.key is not None and exc.count is not None and exc.count < len(keys):
            exc.key = keys[exc.count]
        return exc

    # ------------------------------------------------------------ queues, stacks, bloom filters

    def _keyless_only(self, op: str) -> None:
        if self.key_size:
            raise self._error(_errno.EINVAL, op, None, f"{op} is for queue, stack and "
                                                       f"bloom_filter maps; {self.type} maps "
                                                       f"have keys")

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Add ``value`` to a queue, stack or bloom filter (an update without
        a key).  A full queue or stack is E2BIG unless ``flags`` is
        BPF_EXIST, which drops the oldest element."""
        self._keyless_only("push")
        self._op_update(b"", self._encode_value(value, "update"), flags)

    def peek(self, value: Any = None) -> Any:
        """The decoded value :meth:`pop` would return, left in place (queues
        and stacks; MapKeyError when empty).  Bloom filters take the value
        to test: None when it may be present, MapKeyError when it is
        certainly absent."""
        self._keyless_only("peek")
        if self.type == "bloom_filter":
            self._op_peek_value(self._encode_value(value, "lookup", value))
            return None
        if value is not None:
            raise self._error(_errno.EINVAL, "lookup", None,
                              f"peek() of a {self.type} takes no value")
        return self.lookup(None)

    # ------------------------------------------------------------ the mapping protocol

    def __getitem__(self, key: Any) -> Any:
        return self.lookup(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def __contains__(self, key: Any) -> bool:
        if self.type == "bloom_filter":
            try:
                raw_value = self._encode_value(key, "lookup", key)
            except MapError:
                return False
            try:
                self._op_peek_value(raw_value)
            except MapError as exc:
                if exc.errno == _errno.ENOENT:
                    return False
                raise
            return True
        if not self.key_size:
            raise self._error(_errno.EINVAL, "lookup", None,
                              f"{self.type} maps have no keys: use peek()")
        try:
            raw_key = self._encode_key(key, "lookup")
        except MapError:
            return False
        return self._op_contains(raw_key)

    def __len__(self) -> int:
        if self.type in ARRAY_TYPES:
            return self.max_entries
        return self._op_len()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __bool__(self) -> bool:
        return True

    def keys(self) -> list[Any]:
        """Every key, decoded, in get_next_key order (a snapshot)."""
        decode = self.key_codec.decode
        return [decode(k) for k in self._op_keys()]

    def values(self) -> list[Any]:
        """Every value, decoded, in key order (a snapshot)."""
        decode = self.decode_value
        return [decode(v) for _, v in self._op_items()]

    def items(self) -> list[tuple[Any, Any]]:
        """``(key, value)`` pairs, decoded, in key order (a snapshot; keys
        that vanish meanwhile and empty slots of fd arrays are left out)."""
        dk, dv = self.key_codec.decode, self.decode_value
        return [(dk(k), dv(v)) for k, v in self._op_items()]

    def get(self, key: Any, default: Any = None) -> Any:
        """``m[key]``, or ``default`` when the key is absent."""
        return self.lookup(key, default)

    def pop(self, key: Any = _RAISE, default: Any = _RAISE) -> Any:
        """Remove ``key`` and return its decoded value, or ``default`` when
        absent (MapKeyError without one).  One BPF_MAP_LOOKUP_AND_DELETE_ELEM
        where the type has it, else a lookup and a delete.  Queues and
        stacks: ``pop()`` takes the next element."""
        if key is _RAISE:
            if self.key_size:
                raise TypeError(f"pop() of a {self.type} map needs a key")
            key = None
        try:
            return self.lookup_and_delete(key)
        except MapError as exc:
            if exc.errno == _errno.ENOENT and default is not _RAISE:
                return default
            if exc.errno not in (ENOTSUPP, _errno.EOPNOTSUPP) or not self.key_size:
                raise
        value = self.lookup(key, default)
        if default is not _RAISE and value is default:
            return default
        self.delete(key)
        return value

    def clear(self) -> None:
        """Empty the map: delete every key; arrays (whose elements cannot be
        deleted) get every value zeroed; queues and stacks are popped."""
        if self.type in ARRAY_TYPES:
            self._op_zero_all()
            return
        if self.type in ("queue", "stack"):
            while True:
                try:
                    self._op_lookup_and_delete(b"", 0)
                except MapError as exc:
                    if exc.errno == _errno.ENOENT:
                        return
                    raise
        for raw_key in self._op_keys():
            try:
                self._op_delete(raw_key)
            except MapError as exc:
                if exc.errno != _errno.ENOENT:
                    raise

    @property
    def raw(self) -> RawView:
        """This map with bytes keys and values (per-CPU values as lists of
        bytes): every method of the protocol, without the codecs."""
        return RawView(self)

    # ------------------------------------------------------------ primitive defaults

    def _op_keys(self) -> list[bytes]:
        """Every raw key in get_next_key order."""
        out: list[bytes] = []
        seen: set[bytes] = set()
        key = self._op_next_key(None)
        while key is not None:
            if key not in seen:  # a key deleted meanwhile restarts a hash walk
                seen.add(key)
                out.append(key)
            key = self._op_next_key(key)
        return out

    def _op_items(self) -> list[tuple[bytes, Any]]:
        """Every ``(raw key, raw value)``, skipping keys without a value."""
        out = []
        for key in self._op_keys():
            try:
                out.append((key, self._op_lookup(key, 0)))
            except MapError as exc:
                if exc.errno != _errno.ENOENT:
                    raise
        return out

    def _op_len(self) -> int:
        return len(self._op_keys())

    def _op_contains(self, key: bytes) -> bool:
        try:
            self._op_lookup(key, 0)
        except MapError as exc:
            if exc.errno == _errno.ENOENT:
                return False
            raise
        return True

    def _op_zero_all(self) -> None:
        """Zero every value of an array."""
        zero = bytes(self.value_size)
        value: Any = [zero] * self.num_cpus if self.percpu else zero
        for index in range(self.max_entries):
            self._op_update(index.to_bytes(self.key_size, "little"), value, 0)

    def _op_peek_value(self, value: Any) -> None:
        raise self._error(ENOTSUPP, "lookup", None)

    def _op_lookup(self, key: bytes, flags: int) -> Any:
        raise NotImplementedError

    def _op_update(self, key: bytes, value: Any, flags: int) -> None:
        raise NotImplementedError

    def _op_delete(self, key: bytes) -> None:
        raise NotImplementedError

    def _op_lookup_and_delete(self, key: bytes, flags: int) -> Any:
        raise NotImplementedError

    def _op_next_key(self, key: bytes | None) -> bytes | None:
        raise NotImplementedError

    def _op_freeze(self) -> None:
        raise NotImplementedError

    def _op_lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int, flags: int,
                         delete: bool) -> Batch:
        raise NotImplementedError

    def _op_update_batch(self, keys: list[bytes], values: list[Any], elem_flags: int,
                         flags: int) -> int:
        raise NotImplementedError

    def _op_delete_batch(self, keys: list[bytes], elem_flags: int, flags: int) -> int:
        raise NotImplementedError


_FORWARDED = ("_error", "_op_lookup", "_op_update", "_op_delete", "_op_lookup_and_delete",
              "_op_next_key", "_op_freeze", "_op_lookup_batch", "_op_update_batch",
              "_op_delete_batch", "_op_peek_value", "_op_keys", "_op_items", "_op_len",
              "_op_contains", "_op_zero_all")
_SHARED_ATTRIBUTES = ("name", "type", "key_size", "value_size", "max_entries", "flags",
                      "num_cpus", "percpu", "value_is_bytes")


class RawView(MapProtocol):
    """A map seen without its codecs: keys and values are bytes (per-CPU
    values lists of bytes) — what ``bpf()`` copies in and out.  Get one
    from ``m.raw``; other attributes are the map's."""

    def __init__(self, target: MapProtocol):
        self._target = target
        for name in _SHARED_ATTRIBUTES:
            setattr(self, name, getattr(target, name))
        self.key_codec = BytesCodec(target.key_size)
        self.value_codec = BytesCodec(target.value_size)

    def __getattr__(self, name: str) -> Any:
        if name == "_target":
            raise AttributeError(name)
        return getattr(self._target, name)

    @property
    def raw(self) -> RawView:
        """Itself."""
        return self

    def __repr__(self) -> str:
        return f"<raw view of {self._target!r}>"


def _forward(name: str) -> Callable[..., Any]:
    def method(self: RawView, *args: Any) -> Any:
        return getattr(self._target, name)(*args)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"The map's own ``{name}``."
    return method


for _name in _FORWARDED:
    setattr(RawView, _name, _forward(_name))
del _name
