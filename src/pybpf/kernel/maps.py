"""Kernel maps, driven through the map protocol both backends share.

::

    from pybpf.kernel import KernelMap
    from pybpf.kernel import maps

    with KernelMap.create("hash", key_size=4, value_size=8, max_entries=1024,
                          value_codec="int") as m:
        m[1] = 100                           # BPF_MAP_UPDATE_ELEM, BPF_ANY
        m.update(2, 200, maps.NOEXIST)       # MapError (EEXIST) if 2 is present
        print(m[1], dict(m.items()))         # 100 {b'\\x01\\x00\\x00\\x00': 100, ...}
        m.lookup_batch(None, 64)             # Batch(keys, values, cursor, done)

MAP_PROTOCOL: :class:`KernelMap` implements the primitives of
:class:`pybpf.codecs.MapProtocol` with ``bpf()``; every public method
(``m[k]``, ``lookup``, ``update``, ``get_next_key``, batches, ``push``/
``pop``/``peek``, ``m.raw``...) is the one the userspace maps of
:mod:`pybpf.maps` have, with the same results and errnos (the protocol is
described in :mod:`pybpf.codecs`).  Failures raise :class:`KernelMapError`:
a :class:`~pybpf.errors.MapError` and a :class:`~pybpf.errors.KernelError`
(``operation`` names the command); a missing key :class:`KernelMapKeyError`,
a KeyError too.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
from collections.abc import Iterable
from typing import Any

from ..codecs import (
    HASH_BATCH_TYPES,
    KEY_OPS,
    PERCPU_TYPES,
    Batch,
    Codec,
    MapProtocol,
    default_codecs,
    encode_plain,
    join_percpu,
    make_codec,
    map_error,
    round8,
    split_percpu,
)
from ..errors import KernelError, MapError, MapKeyError
from . import sys as _sys
from ._abi import ATTR, COMMANDS, INFO, MAP_FLAGS, MAP_TYPES, constant
from ._fd import FD, FDOwner

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

FD_VALUE_TYPES = frozenset({"prog_array", "perf_event_array", "cgroup_array", "array_of_maps",
                            "hash_of_maps", "devmap", "devmap_hash", "sockmap", "sockhash",
                            "cpumap", "xskmap", "reuseport_sockarray"})
"""Map types whose values are written as file descriptors (read back as ids)."""

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


class KernelMapError(MapError, KernelError):
    """A map operation the kernel refused: a :class:`~pybpf.errors.MapError`
    (``errno``, ``op``, ``key``, ``map_name``, ``count``) that is also a
    :class:`~pybpf.errors.KernelError` (``operation`` is the command,
    ``BPF_MAP_UPDATE_ELEM``...)."""

    def __init__(self, code: int, message: str, *, operation: str | None = None,
                 **fields: Any):
        super().__init__(code, message, **fields)
        self.operation = operation


class KernelMapKeyError(KernelMapError, MapKeyError):
    """ENOENT from a key operation on a kernel map: also a KeyError."""

    __str__ = MapError.__str__


_COMMAND_OF = {
    "lookup": "map_lookup_elem", "update": "map_update_elem", "delete": "map_delete_elem",
    "lookup_and_delete": "map_lookup_and_delete_elem", "get_next_key": "map_get_next_key",
    "freeze": "map_freeze", "lookup_batch": "map_lookup_batch",
    "lookup_and_delete_batch": "map_lookup_and_delete_batch",
    "update_batch": "map_update_batch", "delete_batch": "map_delete_batch",
}
_LOOKUP, _UPDATE, _DELETE, _NEXT_KEY, _LOOKUP_AND_DELETE = 2, 3, 4, 5, 6  # in _sys._elem()


class KernelMap(FDOwner, MapProtocol):
    """A map in the kernel, owned through its file descriptor.

    The map protocol of :mod:`pybpf.codecs` (the one the userspace maps
    have): ``m[k]``, ``m[k] = v``, ``del m[k]``, ``in``, ``len``, iteration,
    ``keys``/``values``/``items`` (lists), ``lookup``/``update``/``delete``
    with the kernel's flags, ``get_next_key``, batches, ``push``/``pop``/
    ``peek``, ``freeze`` and ``m.raw``.  ``num_cpus`` is the number of
    possible CPUs per-CPU values are spread over.
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
        default_key, default_value = default_codecs(self.type, key_size, value_size)
        self.key_codec = default_key if key_codec is None else make_codec(key_codec, key_size)
        self.value_codec = (default_value if value_codec is None
                            else make_codec(value_codec, value_size))
        self.percpu = self.type in PERCPU_TYPES
        self.num_cpus = possible_cpus() if self.percpu else 1
        self._vsize = max(round8(value_size) * self.num_cpus if self.percpu else value_size, 1)
        self._ksize = max(key_size, 1)
        self._what = f"map {name!r} ({self.type})" if name else f"{self.type} map"

    @property
    def ncpus(self) -> int:
        """The number of per-CPU value slots (:attr:`num_cpus`)."""
        return self.num_cpus

    # --- creation --------------------------------------------------------------

    @classmethod
    def create(cls, type: str | int, key_size: int = 4, value_size: int = 4,
               max_entries: int = 1, *, flags: int | str | Iterable[str] = 0, name: str = "",
               inner: KernelMap | None = None, numa_node: int | None = None,
               map_extra: int = 0, btf: Any = None, btf_key_type_id: int = 0,
               btf_value_type_id: int = 0, key_codec: Codec | str | None = None,
               value_codec: Codec | str | None = None, btf_optional: bool = False
               ) -> KernelMap:
        """Create a map.

        ``type`` is a map type name (``"hash"``, ``"percpu_array"``,
        ``"ringbuf"``...); ``flags`` an int or flag names
        (``"no_prealloc"``, ``"rdonly_prog"``...); ``inner`` the template map
        of an array or hash of maps; ``btf`` a :class:`KernelBTF` (or fd)
        with the key and value type ids.  ``key_codec``/``value_codec``:
        a codec, ``"bytes"``, ``"int"`` or ``"sint"`` (default: ints for
        array-like keys, bytes otherwise).  A refusal raises
        :class:`KernelMapError` (op ``create``, as the userspace maps'
        refusals); one the kernel explains only with EINVAL says which map
        type or flag this kernel lacks.

        With ``btf_optional`` the BTF ids are a description the map can do
        without, as an object loader treats them (libbpf's behaviour): they
        are left out for map types that take none (``perf_event_array``,
        ``cgroup_array``, ``sockmap``, ``sockhash``...: a cached probe of
        :mod:`pybpf.kernel.features` says which), and a create the kernel
        refuses with them (EINVAL, ENOTSUPP) is tried again without.
        """
        if btf is not None and btf_optional and (btf_key_type_id or btf_value_type_id):
            from .features import map_btf_ids_supported

            if map_btf_ids_supported(map_type_name(map_type_id(type))) is False:
                btf = None
            else:
                try:
                    return cls.create(type, key_size, value_size, max_entries, flags=flags,
                                      name=name, inner=inner, numa_node=numa_node,
                                      map_extra=map_extra, btf=btf,
                                      btf_key_type_id=btf_key_type_id,
                                      btf_value_type_id=btf_value_type_id,
                                      key_codec=key_codec, value_codec=value_codec)
                except KernelError as e:
                    if e.errno not in _BTF_REFUSALS:
                        raise
                btf = None  # the kernel disliked the description: create the map without it
        type_id = map_type_id(type)
        flags = map_flags(flags)
        if numa_node is not None:
            flags |= MAP_FLAGS["numa_node"]
        kname = object_name(name)
        tname = map_type_name(type_id)
        shape = (f"({tname}, key {key_size}, value {value_size}, {max_entries} entries, "
                 f"flags {flags:#x})")
        what = f"map {name!r} {shape}" if name else f"{tname} map {shape}"
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
            explained = _explain_create(e, type_id, flags, what)
            code = explained.errno or _errno.EINVAL
            reason = str(explained).replace(f" {what}", f" {shape}", 1).replace(
                f" ({_sys.errno_name(code)})", "", 1)
            raise KernelMapError(code, reason, op="create", map_name=name or None,
                                 operation="BPF_MAP_CREATE",
                                 errno_name=_sys.errno_name(code)) from e
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
        from .bpffs import pin

        pin(self, path)

    def __repr__(self) -> str:
        return (f"<KernelMap {self.name or '?'} {self.type} key {self.key_size} value "
                f"{self.value_size} max {self.max_entries} {self._state()}>")

    # --- errors and encoding ----------------------------------------------------

    def _error(self, code: int, op: str, key: Any = None, message: str | None = None,
               count: int | None = None) -> MapError:
        return map_error(code, message, op=op, map_name=self.name or None, key=key,
                         count=count, classes=(KernelMapError, KernelMapKeyError),
                         operation="BPF_" + _COMMAND_OF.get(op, op).upper())

    def _failed(self, op: str, err: int, key: Any = None, count: int | None = None) -> MapError:
        """The error for ``bpf()`` refusing ``op`` with ``err``: the kernel's
        words, with the hint :mod:`pybpf.kernel.sys` has for it."""
        cmd = _COMMAND_OF[op]
        if err == _errno.ENOENT and op in KEY_OPS:
            reason = f"the {self.type} is empty" if not self.key_size else "no such key"
        else:
            text = str(_sys.error(cmd, err))
            reason = text.replace(f" ({_sys.errno_name(err)})", "", 1)
        return self._error(err, op, key, reason, count)

    def _encode_one(self, value: Any) -> bytes:
        if self.type in FD_VALUE_TYPES and self.value_size == 4 and \
                encode_plain(value, 4) is None and getattr(value, "fd", None) is not None:
            return int(value.fd).to_bytes(4, "little")  # a program or map to store
        return MapProtocol._encode_one(self, value)

    def _key_buf(self, key: bytes | None) -> ctypes.Array | None:
        if key is None or not self.key_size:
            return None
        return ctypes.create_string_buffer(key, self._ksize)

    def _value_buf(self, value: Any) -> ctypes.Array:
        raw = join_percpu(value, self.value_size) if self.percpu else value
        return ctypes.create_string_buffer(bytes(raw), self._vsize)

    def _split(self, raw: bytes) -> Any:
        if self.percpu:
            return split_percpu(raw, self.num_cpus, self.value_size)
        return raw[:self.value_size]

    def _elem(self, which: int, key: int, value: int, flags: int) -> int:
        """One BPF_MAP_*_ELEM command; the errno (0 on success)."""
        ops = _sys._elem_ops or _sys._elem()
        _ret, err = _sys.raw_bpf(ops[which], ops[0](self.fd, key, value, flags), ops[1])
        return err

    # --- protocol primitives ----------------------------------------------------

    def _op_lookup(self, key: bytes, flags: int) -> Any:
        kbuf = self._key_buf(key)
        vbuf = ctypes.create_string_buffer(self._vsize)
        err = self._elem(_LOOKUP, _addr(kbuf), ctypes.addressof(vbuf), flags)
        if err:
            raise self._failed("lookup", err, key)
        return self._split(vbuf.raw)

    def _op_update(self, key: bytes, value: Any, flags: int) -> None:
        kbuf = self._key_buf(key)
        vbuf = self._value_buf(value)
        err = self._elem(_UPDATE, _addr(kbuf), ctypes.addressof(vbuf), flags)
        if err:
            raise self._failed("update", err, key or None)

    def _op_delete(self, key: bytes) -> None:
        kbuf = self._key_buf(key)  # held until the call returns: the kernel reads it
        err = self._elem(_DELETE, _addr(kbuf), 0, 0)
        if err:
            raise self._failed("delete", err, key or None)

    def _op_lookup_and_delete(self, key: bytes, flags: int) -> Any:
        kbuf = self._key_buf(key)
        vbuf = ctypes.create_string_buffer(self._vsize)
        err = self._elem(_LOOKUP_AND_DELETE, _addr(kbuf), ctypes.addressof(vbuf), flags)
        if err:
            raise self._failed("lookup_and_delete", err, key or None)
        return self._split(vbuf.raw)

    def _op_next_key(self, key: bytes | None) -> bytes | None:
        nbuf = ctypes.create_string_buffer(self._ksize)
        kbuf = self._key_buf(key)  # held until the call returns: the kernel reads it
        err = self._elem(_NEXT_KEY, _addr(kbuf), ctypes.addressof(nbuf), 0)
        if err == _errno.ENOENT:
            return None
        if err:
            raise self._failed("get_next_key", err, key)
        return nbuf.raw[:self.key_size]

    def _op_freeze(self) -> None:
        attr = ATTR["map_elem"].new(map_fd=self.fd)
        _ret, err = _sys.raw_bpf(COMMANDS["map_freeze"], attr.buf, attr.layout.size)
        if err:
            raise self._failed("freeze", err)

    def _op_peek_value(self, value: bytes) -> None:
        vbuf = ctypes.create_string_buffer(value, self._vsize)
        err = self._elem(_LOOKUP, 0, ctypes.addressof(vbuf), 0)
        if err:
            raise self._failed("lookup", err)

    def _op_keys(self) -> list[bytes]:
        out: list[bytes] = []
        seen: set[bytes] = set()
        ksize = self.key_size
        nbuf = ctypes.create_string_buffer(self._ksize)
        cur = ctypes.create_string_buffer(self._ksize)
        caddr, naddr = 0, ctypes.addressof(nbuf)
        while True:
            err = self._elem(_NEXT_KEY, caddr, naddr, 0)
            if err == _errno.ENOENT:
                return out
            if err:
                raise self._failed("get_next_key", err)
            raw = nbuf.raw[:ksize]
            if raw not in seen:  # a key deleted meanwhile restarts a hash walk
                seen.add(raw)
                out.append(raw)
            ctypes.memmove(cur, nbuf, ksize)
            caddr = ctypes.addressof(cur)

    def _op_items(self) -> list[tuple[bytes, Any]]:
        vbuf = ctypes.create_string_buffer(self._vsize)
        kbuf = ctypes.create_string_buffer(self._ksize)
        kaddr, vaddr = ctypes.addressof(kbuf), ctypes.addressof(vbuf)
        out = []
        for raw in self._op_keys():
            ctypes.memmove(kbuf, raw, self.key_size)
            err = self._elem(_LOOKUP, kaddr, vaddr, 0)
            if err == _errno.ENOENT:  # deleted meanwhile, or an empty fd-array slot
                continue
            if err:
                raise self._failed("lookup", err, raw)
            out.append((raw, self._split(vbuf.raw)))
        return out

    def _op_zero_all(self) -> None:
        zero = bytes(self.value_size)
        value: Any = [zero] * self.num_cpus if self.percpu else zero
        chunk = 4096
        for start in range(0, self.max_entries, chunk):
            keys = [i.to_bytes(self.key_size, "little")
                    for i in range(start, min(start + chunk, self.max_entries))]
            self._op_update_batch(keys, [value] * len(keys), 0, 0)

    # --- batches --------------------------------------------------------------------

    def _batch(self, op: str, **fields: Any) -> tuple[int, int]:
        """One BPF_MAP_*_BATCH command: ``(errno, elements processed)``."""
        attr = ATTR["batch"].new(map_fd=self.fd, **fields)
        _ret, err = _sys.raw_bpf(COMMANDS[_COMMAND_OF[op]], attr.buf, attr.layout.size)
        return err, attr.count

    def _op_lookup_batch(self, cursor: bytes | None, count: int, elem_flags: int, flags: int,
                         delete: bool) -> Batch:
        op = "lookup_and_delete_batch" if delete else "lookup_batch"
        hashed = self.type in HASH_BATCH_TYPES
        token_size = max(self.key_size, 4)
        token_in = None if cursor is None else \
            ctypes.create_string_buffer(bytes(cursor), token_size)
        token_out = ctypes.create_string_buffer(token_size)
        n = max(count, 0)
        keys = ctypes.create_string_buffer(max(n * self.key_size, 1))
        values = ctypes.create_string_buffer(max(n * self._vsize, 1))
        err, got = self._batch(op, in_batch=_addr(token_in),
                               out_batch=ctypes.addressof(token_out),
                               keys=ctypes.addressof(keys), values=ctypes.addressof(values),
                               count=n, elem_flags=elem_flags, flags=flags)
        done = err == _errno.ENOENT
        if err and not done:
            raise self._failed(op, err)
        if count <= 0 or (not got and not hashed):
            out_cursor = cursor            # the kernel leaves out_batch alone then
        else:
            out_cursor = token_out.raw[:4 if hashed else self.key_size]
        kraw, vraw = keys.raw, values.raw
        ks, vs = self.key_size, self._vsize
        return Batch([kraw[i * ks:(i + 1) * ks] for i in range(got)],
                     [self._split(vraw[i * vs:(i + 1) * vs]) for i in range(got)],
                     out_cursor, done)

    def _op_update_batch(self, keys: list[bytes], values: list[Any], elem_flags: int,
                         flags: int) -> int:
        kbuf = ctypes.create_string_buffer(b"".join(keys), max(len(keys) * self.key_size, 1))
        vraw = b"".join(join_percpu(v, self.value_size) if self.percpu else bytes(v)
                        for v in values)
        vbuf = ctypes.create_string_buffer(vraw, max(len(vraw), 1))
        err, got = self._batch("update_batch", keys=ctypes.addressof(kbuf),
                               values=ctypes.addressof(vbuf), count=len(keys),
                               elem_flags=elem_flags, flags=flags)
        if err:
            raise self._failed("update_batch", err, keys[got] if got < len(keys) else None,
                               count=got)
        return got

    def _op_delete_batch(self, keys: list[bytes], elem_flags: int, flags: int) -> int:
        kbuf = ctypes.create_string_buffer(b"".join(keys), max(len(keys) * self.key_size, 1))
        err, got = self._batch("delete_batch", keys=ctypes.addressof(kbuf), count=len(keys),
                               elem_flags=elem_flags, flags=flags)
        if err:
            raise self._failed("delete_batch", err, keys[got] if got < len(keys) else None,
                               count=got)
        return got


_BTF_REFUSALS = frozenset({_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP})
"""Errnos of a map create that may be the BTF description's fault."""


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
    if e.errno == _errno.EPERM and map_type_name(type_id) == "arena":
        return KernelError(f"BPF_MAP_CREATE {what}: this kernel refuses arena maps "
                           f"(BPF_MAP_TYPE_ARENA: Linux 6.9+ with a JIT that supports them) "
                           f"even to root (EPERM); pybpf's VM runs programs that use an arena",
                           errno=e.errno, operation="BPF_MAP_CREATE")
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
