"""The address space of the userspace virtual machine.

A program sees memory as 64-bit addresses.  Every byte it may touch belongs
to a :class:`Region` — a stack frame, the input memory or context, a packet,
a map's values — backed by a real buffer whose host address *is* the address
the program sees.  The interpreter checks every access against the regions;
a JIT can use the same buffers directly.  An access outside every region, or
a write to a read-only region, raises :class:`~pybpf.errors.MemoryFault`;
nothing outside the regions is ever read or written.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from ..errors import MemoryFault

M64 = (1 << 64) - 1

ATOMIC_LOCK = threading.Lock()
"""Held around the read and the write of every atomic instruction, so that
programs running in several threads on shared memory (a map value) never
interleave the two halves of a read-modify-write.  One lock for the
process: memory is shared between address spaces (two VMs using one map),
and only atomic instructions take it."""

_UNSIGNED = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
             8: struct.Struct("<Q")}
_SIGNED = {1: struct.Struct("<b"), 2: struct.Struct("<h"), 4: struct.Struct("<i"),
           8: struct.Struct("<q")}


class SpecialAccess(Protocol):
    """Loads and stores of a region that are not plain memory."""

    def load(self, offset: int, size: int, signed: bool) -> int:
        """The value a load of ``size`` bytes at ``offset`` sees."""
        ...

    def store(self, offset: int, size: int, value: int) -> None:
        """Carry out a store of ``size`` bytes at ``offset``."""
        ...


class Region:
    """A contiguous range of addresses backed by a buffer.

    ``start`` is the address of the first byte, ``size`` the number of bytes.
    ``view`` is a writable memoryview of the backing storage (permission is
    enforced by the address space, not by the view).  ``kind`` says what the
    memory is (``stack``, ``mem``, ``ctx``, ``packet``, ``map_value``,
    ``code``...) and ``name`` identifies it in error messages.  ``special``,
    when set, takes over every load and store (a context whose fields the
    kernel would rewrite, for example); ``owner`` is the object the memory
    belongs to (a map), if any.
    """

    __slots__ = ("_keep", "active", "kind", "name", "owner", "readable", "size", "special",
                 "start", "view", "writable")

    def __init__(self, name: str, storage: bytearray | memoryview | ctypes.Array, *,
                 kind: str = "mem", writable: bool = True, readable: bool = True):
        view = memoryview(storage).cast("B")
        if view.readonly:
            raise ValueError("a region needs writable storage; copy bytes into a bytearray")
        self.name = name
        self.kind = kind
        self.view = view
        self.size = len(view)
        self.writable = writable
        self.readable = readable
        self.active = True
        self.special: SpecialAccess | None = None
        self.owner: object = None
        if self.size:
            anchor = (ctypes.c_char * self.size).from_buffer(view)
            self.start = ctypes.addressof(anchor)
            self._keep = anchor  # pins the buffer: it cannot be resized while mapped
        else:
            self.start = 0
            self._keep = None

    @property
    def end(self) -> int:
        """One past the last address of the region."""
        return self.start + self.size

    def contains(self, address: int, size: int = 1) -> bool:
        """Whether ``size`` bytes at ``address`` lie inside the region."""
        return self.start <= address and address + size <= self.start + self.size

    def __repr__(self) -> str:
        perm = ("r" if self.readable else "-") + ("w" if self.writable else "-")
        return f"<Region {self.name} {self.kind} {self.start:#x}+{self.size} {perm}>"


class AddressSpace:
    """The set of regions a program can reach, with checked loads and stores.

    Lookups remember the region of the last access, so runs of accesses to
    the same region (the common case: stack or packet) cost one comparison.
    """

    def __init__(self) -> None:
        self._regions: list[Region] = []
        self._starts: list[int] = []
        self._hot_read: Region = _NOWHERE
        self._hot_write: Region = _NOWHERE
        self._loaders = {size: self.loader(size) for size in (1, 2, 4, 8)}
        self._storers = {size: self.storer(size) for size in (1, 2, 4, 8)}

    # --- managing regions ---------------------------------------------------

    def map(self, region: Region) -> Region:
        """Make ``region`` reachable; returns it."""
        if region.size == 0:
            return region
        i = bisect.bisect_left(self._starts, region.start)
        self._starts.insert(i, region.start)
        self._regions.insert(i, region)
        return region

    def map_buffer(self, storage: bytearray | memoryview | ctypes.Array, name: str, *,
                   kind: str = "mem", writable: bool = True) -> Region:
        """Wrap ``storage`` in a region and map it."""
        return self.map(Region(name, storage, kind=kind, writable=writable))

    def unmap(self, region: Region) -> None:
        """Make ``region`` unreachable."""
        for i, r in enumerate(self._regions):
            if r is region:
                del self._regions[i]
                del self._starts[i]
                break
        self.forget_hot()

    def forget_hot(self) -> None:
        """Drop the remembered regions (after regions change state)."""
        self._hot_read = _NOWHERE
        self._hot_write = _NOWHERE

    def regions(self) -> Iterator[Region]:
        """The mapped regions in address order."""
        return iter(list(self._regions))

    def find(self, address: int, size: int = 1) -> Region | None:
        """The active region holding ``size`` bytes at ``address``, if any."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0:
            r = self._regions[i]
            if r.active and address + size <= r.start + r.size:
                return r
        return None

    # --- checked access -------------------------------------------------------

    def region_for(self, address: int, size: int, write: bool) -> Region:
        """The region an access of ``size`` bytes at ``address`` may use, or a
        :class:`MemoryFault`."""
        r = self.find(address, size)
        if r is None:
            raise MemoryFault(self._describe_miss(address, size, write), address=address,
                              size=size, write=write)
        if write and not r.writable:
            raise MemoryFault(f"write of {size} bytes at {address & M64:#x} into read-only "
                              f"{r.kind} region {r.name}", address=address, size=size,
                              write=True)
        if not write and not r.readable:
            raise MemoryFault(f"read of {size} bytes at {address & M64:#x} from unreadable "
                              f"{r.kind} region {r.name}", address=address, size=size,
                              write=False)
        if r.special is None:
            if write:
                self._hot_write = r
            else:
                self._hot_read = r
        return r

    def loader(self, size: int, signed: bool = False) -> Callable[[int], int]:
        """A function ``load(address)`` returning the ``size``-byte
        little-endian value there as an unsigned 64-bit integer (sign-extended
        first when ``signed``).  The interpreter calls these in its hot path."""
        unpack = (_SIGNED if signed else _UNSIGNED)[size].unpack_from
        region_for = self.region_for
        space = self

        def load(address: int) -> int:
            r = space._hot_read
            off = address - r.start
            if off < 0 or off + size > r.size:
                r = region_for(address, size, False)
                off = address - r.start
                if r.special is not None:
                    return r.special.load(off, size, signed) & M64
            return unpack(r.view, off)[0] & M64

        return load

    def storer(self, size: int) -> Callable[[int, int], None]:
        """A function ``store(address, value)`` writing the low ``size`` bytes
        of ``value`` little-endian."""
        pack = _UNSIGNED[size].pack_into
        region_for = self.region_for
        mask = (1 << (size * 8)) - 1
        space = self

        def store(address: int, value: int) -> None:
            r = space._hot_write
            off = address - r.start
            if off < 0 or off + size > r.size:
                r = region_for(address, size, True)
                off = address - r.start
                if r.special is not None:
                    r.special.store(off, size, value & mask)
                    return
            pack(r.view, off, value & mask)

        return store

    def load(self, address: int, size: int) -> int:
        """The unsigned little-endian integer of ``size`` bytes at ``address``."""
        return self._loaders[size](address)

    def store(self, address: int, size: int, value: int) -> None:
        """Write the low ``size`` bytes of ``value`` at ``address``, little-endian."""
        self._storers[size](address, value)

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address`` (for helpers)."""
        if size == 0:
            return b""
        r = self.region_for(address, size, False)
        off = address - r.start
        if r.special is not None:
            return bytes(r.special.load(off + i, 1, False) for i in range(size))
        return bytes(r.view[off:off + size])

    def write(self, address: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` to ``address`` (for helpers)."""
        if not data:
            return
        r = self.region_for(address, len(data), True)
        off = address - r.start
        if r.special is not None:
            for i, byte in enumerate(bytes(data)):
                r.special.store(off + i, 1, byte)
            return
        r.view[off:off + len(data)] = data

    def read_cstring(self, address: int, limit: int) -> bytes:
        """The NUL-terminated string at ``address``, at most ``limit`` bytes,
        without its terminator; reads only as far as the region allows."""
        r = self.region_for(address, 1, False)
        off = address - r.start
        end = min(r.size, off + limit)
        chunk = bytes(r.view[off:end])
        nul = chunk.find(b"\0")
        return chunk if nul < 0 else chunk[:nul]

    # --- messages ---------------------------------------------------------------

    def _describe_miss(self, address: int, size: int, write: bool) -> str:
        verb = "write" if write else "read"
        address &= M64
        text = f"invalid memory access: {verb} of {size} bytes at {address:#x}"
        near = self._nearest(address)
        if near is not None:
            if near.start <= address < near.end:
                text += (f" runs past the end of {near.kind} region {near.name} "
                         f"[{near.start:#x}, {near.end:#x})")
            else:
                text += (f" is outside every region (nearest: {near.kind} {near.name} "
                         f"[{near.start:#x}, {near.end:#x}))")
        elif address == 0 or address < 4096:
            text += " (a NULL pointer?)"
        return text

    def _nearest(self, address: int) -> Region | None:
        best = None
        best_distance = 1 << 20  # only mention regions within a megabyte
        for r in self._regions:
            if not r.active:
                continue
            distance = 0 if r.start <= address < r.end else min(abs(address - r.start),
                                                                 abs(address - (r.end - 1)))
            if distance < best_distance:
                best, best_distance = r, distance
        return best


class _Nowhere:
    """A stand-in region that every fast-path bounds check misses."""

    start = 1 << 70
    size = 0


_NOWHERE = _Nowhere()  # type: ignore[assignment]
