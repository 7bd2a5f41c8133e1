"""Userspace eBPF maps with the kernel's semantics.

::

    from pybpf.maps import create_map, BPF_NOEXIST, MapError
    from pybpf.objects import MapSpec

    counts = create_map(MapSpec("counts", "hash", key_size=4, value_size=8,
                                max_entries=1024), value_codec="int")
    counts[7] = 1                      # keys: bytes or ints (little-endian)
    counts.update(7, 2, BPF_NOEXIST)   # MapError: ... (EEXIST)
    counts.lookup(7)                   # 1
    counts.raw[7]                      # b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00'

MAP_PROTOCOL: every map type answers userspace calls through the map
protocol it shares with the kernel backend's :class:`pybpf.kernel.KernelMap`
(``m[k]``, ``lookup``, ``update``, ``delete``, ``get_next_key``, batches,
``freeze``, ``push``/``pop``/``peek``, ``m.raw``; described in
:mod:`pybpf.codecs`) with the errno ``bpf()`` would give, and programs'
helper calls through ``bpf_*`` methods that return what the helpers return.
Values live in preallocated :attr:`Map.arenas` that the VM maps as memory, so
a program's pointer into a value sees userspace updates and the other way
round.

For the VM: map every :meth:`Map.buffers` entry as a region.  Maps name
their storage by host address (:attr:`Map.address`, the values' addresses
``bpf_lookup`` returns, the records ``bpf_ringbuf_reserve`` returns); the
VM places the regions at addresses of its own and translates at the helper
boundary, so a program never sees a host address.  Helpers call
``bpf_lookup``/``bpf_update``/``bpf_delete``/``bpf_push``/``bpf_pop``/
``bpf_peek``/``bpf_for_each``, ``bpf_ringbuf_*``, ``bpf_perf_event_output``,
``bpf_get_stackid`` and ``bpf_tail_call_target`` with the raw bytes read from
program memory and the current CPU.  :func:`map_at` and :func:`map_owning`
answer for host addresses, for userspace: the VM never consults them (a
program reaches only its own VM's maps).
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

from ..codecs import Batch, BTFCodec, BytesCodec, Codec, IntCodec, RawView
from ..objects import MapSpec
from ._abi import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CURRENT_CPU,
    BPF_F_FAST_STACK_CMP,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_REUSE_STACKID,
    BPF_F_WRONLY,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
    ENOTSUPP,
)
from .arena import ArenaMap
from .array import ArrayMap, ObjectArray, PercpuArrayMap, ProgArray
from .base import Map, MapBuffer, map_at, map_by_id, map_owning
from .errors import MapError, MapKeyError
from .hash import HashMap, LruHashMap, LruPercpuHashMap, PercpuHashMap
from .lpm import LpmTrie
from .mapinmap import ArrayOfMaps, HashOfMaps
from .perf import PerfBuffer, PerfEventArray, PerfLost, PerfReader, PerfSample
from .queue import BloomFilter, QueueMap, StackMap
from .ringbuf import RingBuf
from .stacktrace import StackTraceMap

MAP_TYPES: dict[str, type[Map]] = {cls.type: cls for cls in (
    HashMap, PercpuHashMap, LruHashMap, LruPercpuHashMap, ArrayMap, PercpuArrayMap,
    ProgArray, PerfEventArray, StackTraceMap, LpmTrie, ArrayOfMaps, HashOfMaps,
    QueueMap, StackMap, BloomFilter, RingBuf, ArenaMap,
)}
"""Map type name (as in :attr:`MapSpec.type`) -> implementing class."""


def create_map(spec: MapSpec, *, num_cpus: int | None = None,
               key_codec: Codec | str | None = None, value_codec: Codec | str | None = None,
               spin_lock_offset: int | None = None) -> Map:
    """A userspace map for ``spec``, filled with ``spec.contents`` and frozen
    if ``spec.freeze`` says so.

    ``num_cpus`` is the number of simulated CPUs (per-CPU maps keep one value
    per CPU; default: this machine's).  ``key_codec``/``value_codec`` replace
    the codecs the map protocol uses (a codec, or ``"bytes"``, ``"int"``,
    ``"sint"``; default: BTF when the spec has types, ints for array
    indexes, else bytes — :func:`pybpf.codecs.default_codecs`).  ``spin_lock_offset`` places
    a ``struct bpf_spin_lock`` in the value when there is no BTF to say so.

    Raises :class:`MapError` (op ``create``) with the kernel's errno for a
    spec the kernel would refuse (EINVAL, E2BIG, or ENOMEM for a map that
    would preallocate more than the machine's memory), and EINVAL for a type
    not implemented.  Large maps the kernel accepts cost memory only for
    the values written.
    """
    cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
    if cpus <= 0:
        raise ValueError("num_cpus must be positive")
    cls = MAP_TYPES.get(spec.type)
    if cls is None:
        known = ", ".join(sorted(MAP_TYPES))
        raise MapError(_errno.EINVAL, f"map type {spec.type!r} is not implemented in "
                       f"userspace (implemented: {known})", map_name=spec.name, op="create")
    cls.check_fields(spec)
    if cls is PerfEventArray and spec.max_entries == 0:
        spec = spec.copy()
        spec.max_entries = cpus
    cls.check_spec(spec, cpus)
    cls.check_memory(spec, cpus)
    m = cls(spec, num_cpus=cpus, key_codec=key_codec, value_codec=value_codec,
            spin_lock_offset=spin_lock_offset)
    for key, value in spec.contents:
        m.update(key, value)
    if spec.freeze:
        m.freeze()
    return m


def open_maps(specs: dict[str, MapSpec] | list[MapSpec], **options: Any) -> dict[str, Map]:
    """:func:`create_map` for each spec, by name (inner specs of maps of maps
    are not instantiated: fill those with maps you create)."""
    items = specs.values() if isinstance(specs, dict) else specs
    return {spec.name: create_map(spec, **options) for spec in items}


__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_CURRENT_CPU",
    "BPF_F_FAST_STACK_CMP",
    "BPF_F_INNER_MAP",
    "BPF_F_LOCK",
    "BPF_F_MMAPABLE",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_NO_PREALLOC",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_REUSE_STACKID",
    "BPF_F_WRONLY",
    "BPF_F_ZERO_SEED",
    "BPF_NOEXIST",
    "BPF_RB_AVAIL_DATA",
    "BPF_RB_CONS_POS",
    "BPF_RB_FORCE_WAKEUP",
    "BPF_RB_NO_WAKEUP",
    "BPF_RB_PROD_POS",
    "BPF_RB_RING_SIZE",
    "ENOTSUPP",
    "MAP_TYPES",
    "ArenaMap",
    "ArrayMap",
    "ArrayOfMaps",
    "BTFCodec",
    "Batch",
    "BloomFilter",
    "BytesCodec",
    "Codec",
    "HashMap",
    "HashOfMaps",
    "IntCodec",
    "LpmTrie",
    "LruHashMap",
    "LruPercpuHashMap",
    "Map",
    "MapBuffer",
    "MapError",
    "MapKeyError",
    "ObjectArray",
    "PercpuArrayMap",
    "PercpuHashMap",
    "PerfBuffer",
    "PerfEventArray",
    "PerfLost",
    "PerfReader",
    "PerfSample",
    "ProgArray",
    "QueueMap",
    "RawView",
    "RingBuf",
    "StackMap",
    "StackTraceMap",
    "create_map",
    "map_at",
    "map_by_id",
    "map_owning",
    "open_maps",
]
