"""The ``arena`` map (``BPF_MAP_TYPE_ARENA``): memory shared by programs
and userspace, ``max_entries`` pages long.

Programs reach an arena through pointers in address space 1: ``__arena``
globals (the ``.addr_space.1`` section of an object, placed at the start
of the arena) and pages from ``bpf_arena_alloc_pages``.  The kernel keeps
one 4 GiB window per arena and turns a 32-bit arena offset into a kernel
address by adding the window's base (``addr_space_cast``); here the arena
is one buffer of host memory that does not cross a 4 GiB boundary, so the
VM's ``ARENA_BASE`` (:attr:`ArenaMap.base`, the upper 32 bits of its
address) and the low 32 bits of a pointer give back the same address, and
userspace and programs share the bytes (:attr:`ArenaMap.memory`).

From userspace an arena has no elements: lookups and ``get_next_key``
fail with EINVAL and updates and deletes with EOPNOTSUPP, as ``bpf()``
answers; read and write :attr:`ArenaMap.memory` instead (what ``mmap`` of
the map gives a libbpf program).
"""

from __future__ import annotations

import errno as E
from typing import Any

from ..objects import MapSpec
from ..spec import constant
from ._abi import BPF_F_MMAPABLE, PAGE_SIZE
from .base import Map, MapBuffer

WINDOW = 1 << 32
"""An arena lives in one 4 GiB window: pointers into it keep 32 bits."""

MAX_VM_ARENA_BYTES = 1 << 30
"""Largest arena the VM allocates (the kernel allows a whole 4 GiB window)."""

_ALLOWED_FLAGS = (BPF_F_MMAPABLE | constant("BPF_F_SEGV_ON_FAULT")
                  | constant("BPF_F_NO_USER_CONV"))


class ArenaMap(Map):
    """``BPF_MAP_TYPE_ARENA``: ``max_entries`` pages of memory shared by
    programs and userspace (see the module docstring)."""

    type = "arena"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """The kernel's arena_map_alloc checks: no key or value, at least one
        page, ``BPF_F_MMAPABLE``, a page-aligned ``map_extra`` (the address
        userspace asks for) whose window the arena does not cross."""
        def bad(msg: str, code: int = E.EINVAL) -> Exception:
            return cls._create_error(spec, code, f"arena map: {msg}")

        if spec.key_size or spec.value_size:
            raise bad("key_size and value_size must be 0")
        if spec.max_entries <= 0:
            raise bad("max_entries (pages) must be positive")
        if not spec.flags & BPF_F_MMAPABLE:
            raise bad("the BPF_F_MMAPABLE flag is required")
        if spec.flags & ~_ALLOWED_FLAGS:
            raise bad(f"flags {spec.flags & ~_ALLOWED_FLAGS:#x} are not allowed")
        if spec.map_extra % PAGE_SIZE:
            raise bad(f"map_extra {spec.map_extra:#x} is not page aligned")
        size = spec.max_entries * PAGE_SIZE
        if size > WINDOW:
            raise bad(f"{spec.max_entries} pages are more than 4 GiB", E.E2BIG)
        if spec.map_extra // WINDOW != (spec.map_extra + size - 1) // WINDOW:
            raise bad("the arena would cross a 4 GiB boundary", E.ERANGE)
        if size > MAX_VM_ARENA_BYTES:
            raise bad(f"{size} bytes is more than the VM allocates", E.ENOMEM)

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        size = self.max_entries * PAGE_SIZE
        # a buffer that does not cross a 4 GiB boundary (rarely needs a second try)
        rejected = []
        while True:
            _buffer, address = self._new_arena(size)
            if address // WINDOW == (address + size - 1) // WINDOW:
                break
            rejected.append(self.arenas.pop())
            self.arena_addresses.pop()
        self.address_of_memory = address
        self.base = address - address % WINDOW
        """The start of the 4 GiB window (the VM's ``ARENA_BASE``)."""

    @property
    def memory(self) -> memoryview:
        """The arena's bytes, shared with programs."""
        return memoryview(self.arenas[0])

    def value_address(self, index: int = 0, cpu: int = 0) -> int:
        """The arena's address: what a ``lddw`` of an ``__arena`` global
        loads, plus the global's offset (the kernel gives the start of the
        user mapping)."""
        return self.address_of_memory

    def write(self, offset: int, data: bytes) -> None:
        """Copy ``data`` into the arena at ``offset`` (an object's
        ``__arena`` globals go at 0)."""
        if offset < 0 or offset + len(data) > len(self.arenas[0]):
            raise self._error(E.E2BIG, "update", None,
                              f"{len(data)} bytes at {offset} do not fit the arena's "
                              f"{len(self.arenas[0])}")
        self.arenas[0][offset:offset + len(data)] = data

    def buffers(self) -> list[MapBuffer]:
        """The arena's memory (writable by programs) and the map handle."""
        return [MapBuffer(f"{self.name}.arena", self.arenas[0], True, "arena"),
                MapBuffer(f"{self.name}", self.handle, False, "map_ptr")]

    # --- bpf() from userspace: an arena has no elements -------------------------

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        raise self._error(E.EINVAL, "lookup", key, "an arena has no elements: read its memory")

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return -E.EOPNOTSUPP

    def _sys_delete(self, key: bytes) -> int:
        return -E.EOPNOTSUPP

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise self._error(E.EINVAL, "get_next_key", key, "an arena has no keys")

    def _op_freeze(self) -> None:
        raise self._error(E.EINVAL, "freeze", None, "an arena cannot be frozen")


__all__ = ["MAX_VM_ARENA_BYTES", "WINDOW", "ArenaMap"]
