"""Kernel maps as Python mappings.

::

    from pybpf.kernel import KernelMap

    with KernelMap.create("hash", key_size=4, value_size=8, max_entries=1024,
                          key_codec="int", value_codec="int") as m:
        m[1] = 100                      # BPF_MAP_UPDATE_ELEM, BPF_ANY
        m.update(2, 200, flags=NOEXIST)  # KernelError (EEXIST) if 2 is present
        print(m[1], dict(m.items()))     # 100 {1: 100, 2: 200}
        m.lookup_batch()                 # [(1, 100), (2, 200)] in batches

Keys and values are bytes by default and accept ints; a codec
(:mod:`pybpf.kernel.codec`) decodes them otherwise.  Per-CPU maps read as
lists with one value per possible CPU and accept a list or a single value
(written to every CPU).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from ..errors import BPFError, KernelError
from . import sys as _sys
from ._abi import INFO, MAP_FLAGS, MAP_TYPES, constant
from ._fd import FD, FDOwner
from .codec import Codec, make_codec

_UPDATE_FLAGS = {
    "ANY": "BPF_ANY",          # create or replace (the default, no flag bits)
    "NOEXIST": "BPF_NOEXIST",  # only create: EEXIST if present
    "EXIST": "BPF_EXIST",      # only replace: ENOENT if absent
    "F_LOCK": "BPF_F_LOCK",    # take the value's bpf_spin_lock
}


def __getattr__(name: str) -> int:
    # ANY, NOEXIST, EXIST, F_LOCK: read from pybpf.spec on first use
    if name in _UPDATE_FLAGS:
        value = constant(_UPDATE_FLAGS[name])
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

PERCPU_TYPES = frozenset({"percpu_hash", "percpu_array", "lru_percpu_hash",
                          "percpu_cgroup_storage"})
"""Map types whose values are per CPU."""
FD_VALUE_TYPES = frozenset({"prog_array", "perf_event_array", "cgroup_array", "array_of_maps",
                            "hash_of_maps", "devmap", "devmap_hash", "sockmap", "sockhash",
                            "cpumap", "xskmap", "reuseport_sockarray"})
"""Map types whose values are written as file descriptors (read back as ids)."""
KEYLESS_TYPES = frozenset({"queue", "stack", "bloom_filter"})
"""Map types with no keys (``key_size`` 0): push, pop and peek."""
ARRAY_TYPES = frozenset({"array", "percpu_array", "prog_array", "perf_event_array",
                         "cgroup_array", "array_of_maps"})
"""Map types with an element at every index below ``max_entries``."""

_MISSING = object()
_MISSING_VALUE = object()


def parse_cpu_list(text: str) -> int:
    """The number of CPU slots a kernel CPU list (``"0-3,5"``) spans: its
    highest CPU plus one."""
    highest = 0
    for part in text.strip().split(","):
        if part:
            highest = max(highest, int(part.split("-")[-1]))
    return highest + 1


@functools.cache
def possible_cpus() -> int:
    """How many CPUs the kernel may ever bring up (per-CPU values have one
    slot each), from ``/sys/devices/system/cpu/possible``."""
    with open("/sys/devices/system/cpu/possible") as f:
        return parse_cpu_list(f.read())


def map_type_id(type_: str | int) -> int:
    """The kernel's number for map type ``type_`` (``"hash"``, ``"array"``...)."""
    return MAP_TYPES.id_of(type_)


def map_type_name(type_id: int) -> str:
    """The name of map type number ``type_id`` (``"unknown(99)"`` if new)."""
    return MAP_TYPES.name_of(type_id)


def map_flags(flags: int | str | Iterable[str]) -> int:
    """Map flags from an int, a name (``"no_prealloc"``) or names."""
    if isinstance(flags, int):
        return flags
    names = [flags] if isinstance(flags, str) else list(flags)
    value = 0
    for n in names:
        value |= MAP_FLAGS.id_of(n.lower().removeprefix("bpf_f_"))
    return value


def object_name(name: str) -> str:
    """``name`` as the kernel accepts it for a map or program: letters,
    digits, ``_`` and ``.``, at most 15 characters."""
    clean = "".join(c if c.isascii() and (c.isalnum() or c in "_.") else "_" for c in name)
    return clean[:15]


def _addr(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


class KernelMap(FDOwner, MutableMapping):
    """A map in the kernel, owned through its file descriptor.

    Behaves as a mutable mapping (``m[k]``, ``m[k] = v``, ``del m[k]``,
    ``in``, iteration, ``len``); ``update``, ``delete``, ``lookup`` take the
    kernel's flags; batch operations move many elements per system call.
    """

    def __init__(self, fd: FD, *, type: str | int, key_size: int, value_size: int,
                 max_entries: int, flags: int = 0, name: str = "",
                 key_codec: Codec | str | None = None, value_codec: Codec | str | None = None):
        self._fd = fd
        self.type_id = map_type_id(type)
        self.type = map_type_name(self.type_id)
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.key_codec = make_codec(key_codec, key_size) if key_size else None
        self.value_codec = make_codec(value_codec, value_size)
        self.percpu = self.type in PERCPU_TYPES
        self.ncpus = possible_cpus() if self.percpu else 1
        self._stride = (value_size + 7) & ~7 if self.percpu else value_size
        self._vsize = self._stride * self.ncpus
        self._what = f"map {name!r} ({self.type})" if name else f"{self.type} map"

    # --- creation --------------------------------------------------------------

    @classmethod
    def create(cls, type: str | int, key_size: int = 4, value_size: int = 4,
               max_entries: int = 1, *, flags: int | str | Iterable[str] = 0, name: str = "",
               inner: KernelMap | None = None, numa_node: int | None = None,
               map_extra: int = 0, btf: Any = None, btf_key_type_id: int = 0,
               btf_value_type_id: int = 0, key_codec: Codec | str | None = None,
               value_codec: Codec | str | None = None) -> KernelMap:
        """Create a map.

        ``type`` is a map type name (``"hash"``, ``"percpu_array"``,
        ``"ringbuf"``...); ``flags`` an int or flag names
        (``"no_prealloc"``, ``"rdonly_prog"``...); ``inner`` the template map
        of an array or hash of maps; ``btf`` a :class:`KernelBTF` (or fd)
        with the key and value type ids.  A refusal the kernel explains only
        with EINVAL says which map type or flag this kernel lacks.
        """
        type_id = map_type_id(type)
        flags = map_flags(flags)
        if numa_node is not None:
            flags |= MAP_FLAGS["numa_node"]
        kname = object_name(name)
        tname = map_type_name(type_id)
        what = (f"map {name!r} ({tname}" if name else f"{tname} map (") + \
            f", key {key_size}, value {value_size}, {max_entries} entries, flags {flags:#x})"
        btf_fd = int(getattr(btf, "fd", btf)) if btf is not None else 0
        try:
            fd = _sys.map_create(
                what=what, map_type=type_id, key_size=key_size, value_size=value_size,
                max_entries=max_entries, map_flags=flags, map_name=kname,
                inner_map_fd=inner.fd if inner is not None else 0,
                numa_node=numa_node or 0, map_extra=map_extra, btf_fd=btf_fd,
                btf_key_type_id=btf_key_type_id if btf_fd else 0,
                btf_value_type_id=btf_value_type_id if btf_fd else 0)
        except KernelError as e:
            raise _explain_create(e, type_id, flags, what) from e
        return cls(fd, type=type_id, key_size=key_size, value_size=value_size,
                   max_entries=max_entries, flags=flags, name=name,
                   key_codec=key_codec, value_codec=value_codec)

    @classmethod
    def from_fd(cls, fd: int | FD, *, key_codec: Codec | str | None = None,
                value_codec: Codec | str | None = None) -> KernelMap:
        """Wrap a map file descriptor (ownership passes to the map); its
        type and sizes come from the kernel."""
        owned = fd if isinstance(fd, FD) else FD(fd)
        try:
            info = _sys.obj_get_info_by_fd(int(owned), INFO["bpf_map_info"].new())
        except BaseException:
            owned.close()
            raise
        return cls(owned, type=info.type, key_size=info.key_size, value_size=info.value_size,
                   max_entries=info.max_entries, flags=info.map_flags, name=info.name,
                   key_codec=key_codec, value_codec=value_codec)

    @classmethod
    def from_id(cls, map_id: int, **codecs: Any) -> KernelMap:
        """Open the map with kernel id ``map_id``."""
        return cls.from_fd(_sys.get_fd_by_id("map", map_id), **codecs)

    @classmethod
    def from_pin(cls, path: str, *, flags: int = 0, **codecs: Any) -> KernelMap:
        """Open the map pinned at ``path``."""
        return cls.from_fd(_sys.obj_get(path, flags, what=f"map pinned at {path}"), **codecs)

    # --- the object -------------------------------------------------------------

    def info(self):
        """The kernel's view of the map (:class:`~pybpf.kernel.info.MapInfo`)."""
        from .info import map_info

        return map_info(self.fd)

    def pin(self, path: str) -> None:
        """Pin the map at ``path`` in a bpffs (mounted on demand at
        /sys/fs/bpf)."""
        from .pins import pin

        pin(self, path)

    def freeze(self) -> None:
        """Forbid further writes from user space (``BPF_MAP_FREEZE``);
        programs may still write unless the map is ``rdonly_prog``."""
        _sys.map_freeze(self.fd, self._what)

    def __repr__(self) -> str:
        return (f"<KernelMap {self.name or '?'} {self.type} key {self.key_size} value "
                f"{self.value_size} max {self.max_entries} {self._state()}>")

    # --- encoding ---------------------------------------------------------------

    def _key_bytes(self, key: Any) -> bytes:
        if self.key_codec is None:
            raise BPFError(f"{self._what} has no keys")
        return self.key_codec.encode(key)

    def _key(self, key: Any) -> ctypes.Array | None:
        if self.key_codec is None and key is None:
            return None
        return ctypes.create_string_buffer(self._key_bytes(key), self.key_size)

    def _value_bytes(self, value: Any) -> bytes:
        if not self.percpu:
            return self.value_codec.encode(value)
        if isinstance(value, list | tuple):
            if len(value) != self.ncpus:
                raise BPFError(f"{self._what} is per-CPU: give {self.ncpus} values "
                               f"(one per possible CPU) or a single value, not {len(value)}")
            parts = [self.value_codec.encode(v) for v in value]
        else:
            parts = [self.value_codec.encode(value)] * self.ncpus
        pad = bytes(self._stride - self.value_size)
        return b"".join(p + pad for p in parts)

    def _value(self, value: Any) -> ctypes.Array:
        return ctypes.create_string_buffer(self._value_bytes(value), self._vsize)

    def _decode_value(self, raw: bytes) -> Any:
        if not self.percpu:
            return self.value_codec.decode(raw)
        s, n = self._stride, self.value_size
        return [self.value_codec.decode(raw[i * s:i * s + n]) for i in range(self.ncpus)]

    def _decode_key(self, raw: bytes) -> Any:
        return self.key_codec.decode(raw) if self.key_codec is not None else None

    # --- element operations -----------------------------------------------------

    def lookup(self, key: Any, default: Any = _MISSING, *, flags: int = 0) -> Any:
        """The value of ``key`` (``default``, or KeyError, when absent).
        ``flags`` may be :data:`F_LOCK`."""
        kbuf = self._key(key)
        vbuf = ctypes.create_string_buffer(self._vsize)
        if _sys.map_lookup_elem(self.fd, _addr(kbuf), ctypes.addressof(vbuf), flags,
                                self._what):
            return self._decode_value(vbuf.raw)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def __getitem__(self, key: Any) -> Any:
        return self.lookup(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def update(self, key: Any = _MISSING, value: Any = _MISSING, flags: int = 0,
               **kwargs: Any) -> None:
        """``update(key, value, flags=0)``: write one element with the
        kernel's flags (0 is ``BPF_ANY``; :data:`NOEXIST`, :data:`EXIST`,
        or-ed with :data:`F_LOCK`).  ``update(mapping_or_pairs)`` writes many, as
        ``dict.update`` does."""
        if value is _MISSING:
            pairs = [] if key is _MISSING else (key.items() if hasattr(key, "items") else key)
            for k, v in [*pairs, *kwargs.items()]:
                self.update(k, v, flags)
            return
        kbuf = self._key(key)
        vbuf = self._value(value)
        _sys.map_update_elem(self.fd, _addr(kbuf), ctypes.addressof(vbuf), flags, self._what)

    def delete(self, key: Any) -> None:
        """Remove ``key`` (KeyError when absent)."""
        if not _sys.map_delete_elem(self.fd, _addr(self._key(key)), self._what):
            raise KeyError(key)

    def get_next_key(self, key: Any = None) -> Any:
        """The key after ``key`` (the first key for None), or None at the end."""
        kbuf = self._key(key) if key is not None else None
        nbuf = ctypes.create_string_buffer(self.key_size)
        if _sys.map_get_next_key(self.fd, _addr(kbuf), ctypes.addressof(nbuf), self._what):
            return self._decode_key(nbuf.raw)
        return None

    def _raw_keys(self) -> Iterator[bytes]:
        if self.key_codec is None:
            return
        cur = None
        nbuf = ctypes.create_string_buffer(self.key_size)
        while _sys.map_get_next_key(self.fd, _addr(cur), ctypes.addressof(nbuf), self._what):
            raw = nbuf.raw
            yield raw
            cur = ctypes.create_string_buffer(raw, self.key_size)

    def __iter__(self) -> Iterator[Any]:
        for raw in self._raw_keys():
            yield self._decode_key(raw)

    def __len__(self) -> int:
        if self.type in ("array", "percpu_array"):
            return self.max_entries
        return sum(1 for _ in self._raw_keys())

    def __contains__(self, key: object) -> bool:
        return self.lookup(key, _MISSING_VALUE) is not _MISSING_VALUE

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        """``(key, value)`` pairs, one lookup per key; keys that vanish
        meanwhile (or empty slots of fd arrays) are skipped."""
        vbuf = ctypes.create_string_buffer(self._vsize)
        for raw in self._raw_keys():
            kbuf = ctypes.create_string_buffer(raw, self.key_size)
            if _sys.map_lookup_elem(self.fd, ctypes.addressof(kbuf), ctypes.addressof(vbuf),
                                    0, self._what):
                yield self._decode_key(raw), self._decode_value(vbuf.raw)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        """The values, as :meth:`items` finds them."""
        for _, v in self.items():
            yield v

    def pop(self, key: Any = _MISSING, default: Any = _MISSING) -> Any:
        """Remove and return the value of ``key`` in one step
        (``BPF_MAP_LOOKUP_AND_DELETE_ELEM``); without a key, pop the front
        of a queue or the top of a stack.  ``default`` or KeyError when
        absent or empty."""
        kbuf = None if key is _MISSING else self._key(key)
        vbuf = ctypes.create_string_buffer(self._vsize)
        try:
            found = _sys.map_lookup_and_delete_elem(self.fd, _addr(kbuf),
                                                    ctypes.addressof(vbuf), 0, self._what)
        except KernelError as e:
            if key is _MISSING or e.errno not in (_sys.ENOTSUPP, _errno.EOPNOTSUPP):
                raise
            value = self.lookup(key, _MISSING_VALUE)  # a type without lookup-and-delete
            if value is _MISSING_VALUE:
                if default is _MISSING:
                    raise KeyError(key) from None
                return default
            self.delete(key)
            return value
        if found:
            return self._decode_value(vbuf.raw)
        if default is _MISSING:
            raise KeyError(key if key is not _MISSING else "pop from an empty map")
        return default

    def push(self, value: Any, flags: int = 0) -> None:
        """Append ``value`` to a queue, stack or bloom filter (with
        ``flags`` :data:`EXIST`, a full queue drops its oldest element)."""
        vbuf = self._value(value)
        _sys.map_update_elem(self.fd, 0, ctypes.addressof(vbuf), flags, self._what)

    def peek(self, default: Any = None) -> Any:
        """The front of a queue or top of a stack without removing it."""
        vbuf = ctypes.create_string_buffer(self._vsize)
        if _sys.map_lookup_elem(self.fd, 0, ctypes.addressof(vbuf), 0, self._what):
            return self._decode_value(vbuf.raw)
        return default

    # --- batch operations ------------------------------------------------------

    def _batches(self, cmd: str, batch_size: int | None) -> Iterator[list[tuple[Any, Any]]]:
        n = max(1, batch_size or min(self.max_entries, 4096))
        token_size = max(self.key_size, 8)
        token_in = ctypes.create_string_buffer(token_size)
        token_out = ctypes.create_string_buffer(token_size)
        first = True
        while True:
            keys = ctypes.create_string_buffer(n * self.key_size)
            values = ctypes.create_string_buffer(n * self._vsize)
            try:
                count, done = _sys.map_batch(
                    cmd, what=self._what, map_fd=self.fd,
                    in_batch=0 if first else ctypes.addressof(token_in),
                    out_batch=ctypes.addressof(token_out), keys=ctypes.addressof(keys),
                    values=ctypes.addressof(values), count=n)
            except KernelError as e:
                if e.errno == _errno.ENOSPC and n < (1 << 20):  # a hash bucket outgrew n
                    n *= 2
                    continue
                raise
            kraw, vraw = keys.raw, values.raw
            ks, vs = self.key_size, self._vsize
            yield [(self._decode_key(kraw[i * ks:(i + 1) * ks]),
                    self._decode_value(vraw[i * vs:(i + 1) * vs])) for i in range(count)]
            if done:
                return
            ctypes.memmove(token_in, token_out, token_size)
            first = False

    def lookup_batch(self, batch_size: int | None = None) -> list[tuple[Any, Any]]:
        """Every element, ``batch_size`` per system call
        (``BPF_MAP_LOOKUP_BATCH``)."""
        return [kv for batch in self._batches("map_lookup_batch", batch_size) for kv in batch]

    def lookup_and_delete_batch(self, batch_size: int | None = None) -> list[tuple[Any, Any]]:
        """Every element, removed as it is read
        (``BPF_MAP_LOOKUP_AND_DELETE_BATCH``)."""
        return [kv for batch in self._batches("map_lookup_and_delete_batch", batch_size)
                for kv in batch]

    def update_batch(self, items: Iterable[tuple[Any, Any]] | dict, flags: int = 0) -> int:
        """Write many elements in one system call (``BPF_MAP_UPDATE_BATCH``);
        ``flags`` (``BPF_F_LOCK`` or 0) apply to each element.  Returns how many were written."""
        pairs = list(items.items() if isinstance(items, dict) else items)
        if not pairs:
            return 0
        keys = ctypes.create_string_buffer(b"".join(self._key_bytes(k) for k, _ in pairs))
        values = ctypes.create_string_buffer(b"".join(self._value_bytes(v) for _, v in pairs))
        count, _ = _sys.map_batch("map_update_batch", what=self._what, map_fd=self.fd,
                                  keys=ctypes.addressof(keys), values=ctypes.addressof(values),
                                  count=len(pairs), elem_flags=flags)
        return count

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Remove many keys in one system call (``BPF_MAP_DELETE_BATCH``);
        returns how many were removed (a missing key stops the batch with
        ENOENT)."""
        ks = list(keys)
        if not ks:
            return 0
        kbuf = ctypes.create_string_buffer(b"".join(self._key_bytes(k) for k in ks))
        count, _ = _sys.map_batch("map_delete_batch", what=self._what, map_fd=self.fd,
                                  keys=ctypes.addressof(kbuf), count=len(ks))
        return count


# What each family of map types insists on, for refusals the kernel leaves at EINVAL.
_TYPE_RULES = {
    **dict.fromkeys(("ringbuf", "user_ringbuf"), "key and value size 0, max_entries a "
                    "power-of-2 multiple of the page size"),
    **dict.fromkeys(("queue", "stack", "bloom_filter"), "key size 0"),
    **dict.fromkeys(("array", "percpu_array"), "key size 4"),
    **dict.fromkeys(("prog_array", "perf_event_array", "cgroup_array"), "key and value size 4"),
    **dict.fromkeys(("array_of_maps", "hash_of_maps"), "value size 4 and an inner map template"),
    **dict.fromkeys(("sk_storage", "inode_storage", "task_storage", "cgrp_storage"),
                    "max_entries 0, the no_prealloc flag and BTF key and value types"),
    "lpm_trie": "the no_prealloc flag and a key of a 4-byte prefix length plus data",
    "arena": "key and value size 0 and the mmapable flag",
}


def _explain_create(e: KernelError, type_id: int, flags: int, what: str) -> KernelError:
    """Turn a bare refusal into one naming the missing feature (a probe
    decides) or the type's rules."""
    if e.errno not in (_errno.EINVAL, _errno.E2BIG, _errno.EOPNOTSUPP, _sys.ENOTSUPP):
        return e
    from .features import map_type_supported

    name = map_type_name(type_id)
    if not map_type_supported(name):
        return KernelError(f"BPF_MAP_CREATE {what}: this kernel does not support map type "
                           f"{name!r}", errno=e.errno, operation="BPF_MAP_CREATE")
    if e.errno == _errno.EINVAL and name in _TYPE_RULES:
        return KernelError(f"{e}; {name} maps need {_TYPE_RULES[name]}", errno=e.errno,
                           operation="BPF_MAP_CREATE")
    return e
