"""Which helper calls of a program get a native fast path, and the memory
those paths read.

:func:`plan` looks at a program's helper calls (the built-in helpers only:
a registry's own function always goes to Python) and fills the compile
options that make :mod:`pybpf.jit.codegen` emit a fast path before the call
into Python:

- ``bpf_map_lookup_elem`` on an ``array`` map: inlined (the kernel does the
  same); on a ``percpu_array``: inlined, the base being the running CPU's;
- ``bpf_map_update_elem`` on a plain ``array`` map: the value copied in
  native code (key and value on the stack, flags BPF_ANY or BPF_EXIST);
- ``bpf_map_lookup_elem`` on ``hash``, ``percpu_hash``, ``lru_hash`` and
  ``lru_percpu_hash`` maps with 1, 2, 4 or 8-byte keys: a per-call-site
  table of recent answers, trusted while the map's change counter holds
  (LRU hits record their touches for the map to apply in order);
- ``bpf_map_update_elem`` on a plain ``hash`` map with such keys, the key
  and value on the stack: a key whose value's offset the site learnt (the
  map records its last update) is written in place while the change
  counter holds (an update of an existing key; anything else goes to the
  helper, which keeps every insert, delete and LRU decision in Python);
- ``bpf_ktime_get_ns``, ``bpf_get_prandom_u32``, ``bpf_get_smp_processor_id``:
  answered from the environment's
  :class:`~pybpf.helpers.environment.NativeEnvironment`;
- ``bpf_ringbuf_output`` and ``bpf_ringbuf_reserve`` on a ring buffer, and
  ``bpf_ringbuf_submit`` / ``bpf_ringbuf_discard`` when the program reserves
  from one ring only (the record must be that ring's: the helper finds the
  ring by the record's address, which compiled code checks against the one
  ring's data area): in native code (the ring's data area is host memory,
  its positions a :class:`~pybpf.maps.ringbuf.RingPositions`).

A call qualifies when the last write to r1 before it is a ``lddw`` of the
map (the compiled code still compares r1 with the map's pointer at run
time: another path may reach the call with another map) and the map's
method is the class's own (a subclass that overrides it goes to Python).
Everything else, and every case a fast path does not cover, goes through
the one callback into the Python helper.

:meth:`FastPaths.bind` writes the facts into a program's runtime block
(map pointers, value addresses as programs see them, per-CPU bases, the
change counters, the lookup tables) and returns what must stay alive.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..isa import Insn
from ..vm.semantics import M64, Control
from . import layout as L
from .codegen import Options

#: Helpers answered from the environment's native mirror.
ENVIRONMENT_HELPERS = ("ktime_get_ns", "get_prandom_u32", "get_smp_processor_id")
#: Ring buffer helpers with native paths.
RING_HELPERS = ("ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard")

HASH_TABLE_MAX = 1 << 16
"""The most entries a hash lookup site's table has (24 bytes each)."""


def hash_table_entries(max_entries: int) -> int:
    """Entries of a hash lookup site's table: a power of two, twice the
    map's capacity (few collisions), at most :data:`HASH_TABLE_MAX`."""
    n = 16
    while n < 2 * max_entries and n < HASH_TABLE_MAX:
        n *= 2
    return n


@dataclass
class FastPaths:
    """The fast paths chosen for one program (see :func:`plan`)."""

    #: pc of an inlined array call -> (the map, its pointer in the VM).
    arrays: dict[int, tuple[Any, int]] = field(default_factory=dict)
    #: pc of a cached hash lookup -> (the map, its pointer in the VM).
    hashes: dict[int, tuple[Any, int]] = field(default_factory=dict)
    #: pc of a hash update site with a table -> (the map, its pointer in the VM).
    hash_updates: dict[int, tuple[Any, int]] = field(default_factory=dict)
    #: pc of a native ring buffer call -> (the ring, its pointer in the VM).
    rings: dict[int, tuple[Any, int]] = field(default_factory=dict)
    #: The environment whose native mirror the code reads (None: no code does).
    env: Any = None
    #: The VM's address space (host addresses -> program addresses).
    memory: Any = None

    def bind(self, rt: ctypes.Array, layout: L.Layout) -> list[Any]:
        """Write the facts of the paths into the runtime block ``rt`` laid
        out as ``layout``; returns the native memory they use (keep it
        alive as long as the block)."""
        keep: list[Any] = []
        if self.env is not None:
            rt[L.ENV] = ctypes.addressof(self.env.native)
            keep.append(self.env)
        for i, pc in enumerate(layout.maps):
            m, pointer = self.arrays[pc]
            bases = self._bases(m)
            keep.append(bases)
            base = layout.maps_base + L.MAP_SLOTS * i
            rt[base:base + L.MAP_SLOTS] = [
                pointer & M64, bases[0], m.max_entries, ctypes.addressof(bases), len(bases),
                m.value_address(0)]
        for i, pc in enumerate(layout.hashes):
            update = pc in self.hash_updates
            m, pointer = self.hash_updates[pc] if update else self.hashes[pc]
            entries = hash_table_entries(m.max_entries)
            table = (ctypes.c_uint64 * (L.HASH_ENTRY * entries))()
            if update:       # the values' host address, the map's record of its last update
                record = m.native_updates()
                keep += [m, table]
                base = layout.hashes_base + L.HASH_SLOTS * i
                rt[base:base + L.HASH_SLOTS] = [
                    pointer & M64, ctypes.addressof(m.changes), ctypes.addressof(table),
                    entries - 1, m.arena_addresses[0], 1, ctypes.addressof(record),
                    m.value_stride, m.max_entries * m.value_stride]
                continue
            bases = self._bases(m)
            touches = m.native_touches() if m.lru else None
            keep += [m, table, bases]
            base = layout.hashes_base + L.HASH_SLOTS * i
            rt[base:base + L.HASH_SLOTS] = [
                pointer & M64, ctypes.addressof(m.changes), ctypes.addressof(table), entries - 1,
                ctypes.addressof(bases), len(bases),
                ctypes.addressof(touches) if touches is not None else 0,
                m.value_stride, m.max_entries * m.value_stride]
        for i, pc in enumerate(layout.rings):
            m, pointer = self.rings[pc]
            keep.append(m)
            base = layout.rings_base + L.RING_SLOTS * i
            rt[base:base + L.RING_SLOTS] = [pointer & M64, m.data_address, m.size,
                                            ctypes.addressof(m.positions),
                                            self.memory.from_host(m.data_address)]
        return keep

    def _bases(self, m: Any) -> ctypes.Array:
        """The program address of each of the map's arenas (one per CPU for
        per-CPU maps) as a u64 array in native memory."""
        return (ctypes.c_uint64 * len(m.arena_addresses))(
            *(self.memory.from_host(a) for a in m.arena_addresses))


def plan(insns: list[Insn], sems: Any, helpers: Mapping[int, Any], values: Mapping[int, int],
         decisive: Sequence[int], options: Options) -> FastPaths:
    """Choose the fast paths of a program's helper calls: fills ``options``
    (``inline_lookups``, ``percpu_lookups``, ``array_updates``,
    ``inline_hash``, ``hash_kinds``, ``hash_updates``, ``native_helpers``,
    ``ringbuf_calls``)
    and returns what
    :meth:`FastPaths.bind` needs.  ``values`` holds the resolved ``lddw``
    values by pc, ``decisive`` the pcs of the calls and ``lddw``."""
    from ..helpers.core import BUILTINS

    names = {id(fn): name for name, fn in BUILTINS.items()
             if name in ENVIRONMENT_HELPERS or
             name in ("map_lookup_elem", "map_update_elem", *RING_HELPERS)}
    commits: list[tuple[int, str]] = []
    paths = FastPaths()
    for pc in decisive:
        sem = sems[pc]
        if sem is None or sem.operation != "call_helper":
            continue
        fn = helpers.get(insns[pc].imm)
        name = names.get(id(getattr(fn, "func", None)))
        if name is None:
            continue
        owner = fn.args[0] if getattr(fn, "args", None) else None     # the VM's Program
        if owner is None or not hasattr(owner, "map_at"):
            continue
        env = getattr(owner, "env", None)
        native_env = env if hasattr(env, "native") else None
        if name in ("ringbuf_submit", "ringbuf_discard"):
            commits.append((pc, name))
            continue
        if name in ENVIRONMENT_HELPERS:
            if native_env is not None and _same_env(paths, native_env):
                options.native_helpers[pc] = name
            continue
        source = last_write_of_r1(insns, sems, pc)
        if source is None or source not in values:
            continue
        m = owner.map_at(values[source])
        if m is None:
            continue
        memory = getattr(getattr(owner, "vm", None), "memory", None)
        if memory is None:
            continue
        if paths.memory is not None and paths.memory is not memory:
            continue
        if name in ("ringbuf_output", "ringbuf_reserve"):
            if _native_ring(m) and memory.from_host(m.data_address):
                paths.memory = memory
                options.ringbuf_calls[pc] = name.removeprefix("ringbuf_")
                paths.rings[pc] = (m, values[source])
            continue
        choice = _map_path(name, m, options, memory)
        if choice is None:
            continue
        kind, what = choice
        if kind in ("percpu", "lru_percpu", "percpu_array") and \
                (native_env is None or not _same_env(paths, native_env)):
            continue
        paths.memory = memory
        if kind == "hash_update":
            options.hash_updates[pc] = what
            paths.hash_updates[pc] = (m, values[source])
        elif kind in ("array", "percpu_array", "update"):
            {"array": options.inline_lookups, "percpu_array": options.percpu_lookups,
             "update": options.array_updates}[kind][pc] = what
            paths.arrays[pc] = (m, values[source])
        else:
            options.inline_hash[pc] = what
            if kind != "hash":
                options.hash_kinds[pc] = kind
            paths.hashes[pc] = (m, values[source])
    reserving = {id(paths.rings[pc][0]): paths.rings[pc] for pc, kind in
                 options.ringbuf_calls.items() if kind == "reserve"}
    if len(reserving) == 1:
        ring = next(iter(reserving.values()))
        for pc, name in commits:
            options.ringbuf_calls[pc] = name.removeprefix("ringbuf_")
            paths.rings[pc] = ring
    return paths


def _native_ring(m: Any) -> bool:
    """Whether ``m`` is a ring buffer whose output native code may do."""
    from ..maps.ringbuf import RingBuf

    return isinstance(m, RingBuf) and m.type == "ringbuf" and \
        getattr(m.bpf_ringbuf_output, "__func__", None) is RingBuf.bpf_ringbuf_output and \
        hasattr(m, "positions")


def _same_env(paths: FastPaths, env: Any) -> bool:
    """Adopt ``env`` as the program's environment; False when it already has another."""
    if paths.env is None:
        paths.env = env
    return paths.env is env


def _map_path(name: str, m: Any, options: Options, memory: Any) -> tuple[str, Any] | None:
    """(kind, option value) of the fast path for helper ``name`` on map
    ``m``, or None: "array" / "percpu_array" (value stride) and "update"
    ((stride, value size)) for arrays, "hash", "percpu", "lru",
    "lru_percpu" (key size) for hash map lookups, "hash_update" ((key
    size, value size)) for plain hash map updates."""
    from ..maps.array import ArrayMap
    from ..maps.hash import HashMap

    if not all(memory.from_host(a) for a in getattr(m, "arena_addresses", ())) or \
            not getattr(m, "arena_addresses", ()):
        return None
    method = getattr(m, "bpf_lookup" if name == "map_lookup_elem" else "bpf_update", None)
    func = getattr(method, "__func__", None)
    if isinstance(m, ArrayMap):
        if name == "map_update_elem":
            if m.type == "array" and func is ArrayMap._bpf_update_plain and \
                    0 < m.value_size <= options.frame_size:
                return "update", (m.value_stride, m.value_size)
            return None
        if m.type == "array" and func is ArrayMap.bpf_lookup:
            return "array", m.value_stride
        if m.type == "percpu_array" and func is ArrayMap._bpf_lookup_percpu:
            return "percpu_array", m.value_stride
        return None
    if isinstance(m, HashMap) and name == "map_update_elem":
        if m.type == "hash" and func is HashMap._bpf_update_plain and \
                m.key_size in (1, 2, 4, 8) and hasattr(m, "changes") and \
                0 < m.value_size <= options.frame_size:
            return "hash_update", (m.key_size, m.value_size)
        return None
    if isinstance(m, HashMap) and name == "map_lookup_elem" and \
            m.key_size in (1, 2, 4, 8) and hasattr(m, "changes"):
        expected = {"hash": HashMap.bpf_lookup, "percpu_hash": HashMap._bpf_lookup_percpu,
                    "lru_hash": HashMap._bpf_lookup_lru,
                    "lru_percpu_hash": HashMap._bpf_lookup_lru}.get(m.type)
        if expected is None or func is not expected:
            return None
        kind = {"hash": "hash", "percpu_hash": "percpu", "lru_hash": "lru",
                "lru_percpu_hash": "lru_percpu"}[m.type]
        return kind, m.key_size
    return None


def last_write_of_r1(insns: list[Insn], sems: Any, pc: int) -> int | None:
    """The pc of the ``lddw`` that last set r1 before ``pc``, looking back
    through straight-line code that leaves r1 alone; None otherwise."""
    back = pc - 1
    while back >= 0:
        sem = sems[back]
        if sem is None:                     # the second half of a lddw
            back -= 1
            continue
        insn = insns[back]
        if sem.operation == "load_imm64":
            if insn.dst == 1:
                return back if sem.reference is not None and not sem.enters_function else None
        elif insn.dst == 1 or insn.src == 1 or sem.control is not Control.NEXT or \
                sem.operation in ("call_helper", "call_kfunc"):
            return None
        back -= 1
    return None


__all__ = ["ENVIRONMENT_HELPERS", "FastPaths", "hash_table_entries", "last_write_of_r1", "plan"]
