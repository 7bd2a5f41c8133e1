"""The address space of the userspace virtual machine.

A program sees memory as 64-bit addresses.  Every byte it may touch belongs
to a :class:`Region` — a stack frame, the input memory or context, a packet,
a map's values — backed by a real buffer.  The interpreter checks every
access against the regions; an access outside every region, or a write to a
read-only region, raises :class:`~pybpf.errors.MemoryFault`; nothing outside
the regions is ever read or written.

LAYOUT: the addresses are the address space's own, not the host's.  Each
:class:`AddressSpace` places its regions in a range that looks like the
kernel's vmalloc area (:data:`LAYOUT_BASE`, far from any user-space host
address): the stack at a fixed address (:data:`STACK_BASE`), everything else
page-aligned from :data:`HEAP_BASE` up, first fit, at least :data:`GUARD`
bytes apart — more than an instruction's 16-bit offset reaches, so a
pointer that runs off its region by an offset lands on nothing.  Two address
spaces built the same way give the same addresses; a program never learns
where its memory lives in the host, and an address from another VM means
nothing (or something else) here.

TRANSLATION is a linear map per region: the byte at ``address`` is at host
address ``region.buffer_address + (address - region.start)``
(:meth:`AddressSpace.to_host`), which native code can compute inline.
Helpers that receive host addresses from maps (a value, a ring buffer
record) turn them back with :meth:`AddressSpace.from_host`, which knows
only this address space's regions.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from ..errors import MemoryFault
from ..spec.defines import VMALLOC_START

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


#: The bottom of every address space's layout (where the kernel's vmalloc area starts).
LAYOUT_BASE = VMALLOC_START
#: Bytes kept free between two regions (and around the stack).
GUARD = 1 << 16
#: Address granularity of the layout.
PAGE = 4096
#: Where the stack frames start (the deepest frame lowest; frame 0 ends
#: highest, so r10 of the entry function is the same in every VM of one shape).
STACK_BASE = LAYOUT_BASE + GUARD
#: Where the other regions go, upward.
HEAP_BASE = LAYOUT_BASE + (1 << 32)


def round_up(value: int, step: int) -> int:
    """``value`` rounded up to a multiple of ``step``."""
    return -(-value // step) * step


class Region:
    """A contiguous range of addresses backed by a buffer.

    ``start`` is the address of the first byte in the address space that
    maps the region (0 until mapped), ``size`` the number of bytes;
    ``buffer_address`` is the host address of the first byte of the
    buffer (pinned: the buffer cannot be resized while the region lives).
    ``view`` is a writable memoryview of the backing storage (permission is
    enforced by the address space, not by the view).  ``kind`` says what the
    memory is (``stack``, ``mem``, ``ctx``, ``packet``, ``map_value``,
    ``code``...) and ``name`` identifies it in error messages.  ``special``,
    when set, takes over every load and store (a context whose fields the
    kernel would rewrite, for example); ``owner`` is the object the memory
    belongs to (a map), if any.
    """

    __slots__ = ("_keep", "active", "buffer_address", "kind", "name", "owner", "readable",
                 "reserved", "size", "special", "start", "view", "writable")

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
        self.start = 0
        self.reserved = False   # whether mapping it reserved its addresses
        if self.size:
            anchor = (ctypes.c_char * self.size).from_buffer(view)
            self.buffer_address = ctypes.addressof(anchor)
            self._keep = anchor  # pins the buffer: it cannot be resized while mapped
        else:
            self.buffer_address = 0
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
    """The set of regions a program can reach, with checked loads and stores,
    laid out at this address space's own addresses (see LAYOUT above).

    Lookups remember the region of the last access, so runs of accesses to
    the same region (the common case: stack or packet) cost one comparison.
    """

    def __init__(self) -> None:
        self._regions: list[Region] = []
        self._starts: list[int] = []
        self._hosts: list[Region] = []          # the regions by host address
        self._host_starts: list[int] = []
        self._span_starts: list[int] = []       # reserved address ranges
        self._span_ends: list[int] = []
        self._fit_hint = 0      # no gap before reservation i < this holds a page
        self._hot_read: Region = _NOWHERE
        self._hot_write: Region = _NOWHERE
        self._hot_host: Region = _NOWHERE
        self._loaders = {size: self.loader(size) for size in (1, 2, 4, 8)}
        self._storers = {size: self.storer(size) for size in (1, 2, 4, 8)}

    # --- the layout -----------------------------------------------------------

    def reserve(self, size: int, *, at: int | None = None) -> int:
        """Reserve ``size`` bytes of addresses (whole pages): at ``at``, or
        the lowest free place from :data:`HEAP_BASE` at least :data:`GUARD`
        bytes from every other reservation.  Returns the first address;
        ValueError when ``at`` overlaps a reservation."""
        span = round_up(max(size, 1), PAGE)
        if at is None:
            at = self._first_fit(span)
        elif not self.is_free(at, span):
            raise ValueError(f"addresses [{at:#x}, {at + span:#x}) are already reserved")
        i = bisect.bisect_left(self._span_starts, at)
        self._span_starts.insert(i, at)
        self._span_ends.insert(i, at + span)
        if i < self._fit_hint:      # it split a gap that was already too small
            self._fit_hint += 1
        return at

    def release(self, start: int) -> None:
        """Give back the reservation that begins at ``start``."""
        i = bisect.bisect_left(self._span_starts, start)
        if i < len(self._span_starts) and self._span_starts[i] == start:
            del self._span_starts[i]
            del self._span_ends[i]
            self._fit_hint = min(self._fit_hint, i)

    def is_free(self, start: int, size: int) -> bool:
        """Whether no reservation touches ``[start, start + size)``."""
        i = bisect.bisect_right(self._span_starts, start)
        if i > 0 and self._span_ends[i - 1] > start:
            return False
        return i >= len(self._span_starts) or self._span_starts[i] >= start + size

    def _first_fit(self, span: int) -> int:
        # Gaps below the hint cannot hold even one page, so the search starts
        # there: reserving and releasing small regions stays O(1) amortized
        # however many reservations a long-lived VM holds.
        starts, ends = self._span_starts, self._span_ends
        i = max(self._fit_hint, bisect.bisect_right(starts, HEAP_BASE))
        candidate = HEAP_BASE if i == 0 else max(HEAP_BASE, round_up(ends[i - 1] + GUARD, PAGE))
        all_too_small = True
        for j in range(i, len(starts)):
            if candidate + span + GUARD <= starts[j]:
                break
            if all_too_small and candidate + PAGE + GUARD > starts[j]:
                self._fit_hint = j + 1
            else:
                all_too_small = False
            candidate = max(candidate, round_up(ends[j] + GUARD, PAGE))
        return candidate

    # --- managing regions ---------------------------------------------------

    def map(self, region: Region, *, at: int | None = None) -> Region:
        """Make ``region`` reachable at ``at`` (addresses the caller
        reserved), or at addresses reserved for it now; returns it."""
        if region.size == 0:
            return region
        if at is None:
            region.start = self.reserve(region.size)
            region.reserved = True
        else:
            region.start = at
        i = bisect.bisect_left(self._starts, region.start)
        self._starts.insert(i, region.start)
        self._regions.insert(i, region)
        i = bisect.bisect_left(self._host_starts, region.buffer_address)
        self._host_starts.insert(i, region.buffer_address)
        self._hosts.insert(i, region)
        return region

    def map_buffer(self, storage: bytearray | memoryview | ctypes.Array, name: str, *,
                   kind: str = "mem", writable: bool = True) -> Region:
        """Wrap ``storage`` in a region and map it."""
        return self.map(Region(name, storage, kind=kind, writable=writable))

    def unmap(self, region: Region) -> None:
        """Make ``region`` unreachable (and its addresses free again when
        mapping reserved them)."""
        for i in range(bisect.bisect_left(self._starts, region.start), len(self._regions)):
            if self._regions[i] is region:
                del self._regions[i]
                del self._starts[i]
                break
        for i in range(bisect.bisect_left(self._host_starts, region.buffer_address),
                       len(self._hosts)):
            if self._hosts[i] is region:
                del self._hosts[i]
                del self._host_starts[i]
                break
        if region.reserved:
            self.release(region.start)
            region.reserved = False
        self.forget_hot()

    def forget_hot(self) -> None:
        """Drop the remembered regions (after regions change state)."""
        self._hot_read = _NOWHERE
        self._hot_write = _NOWHERE
        self._hot_host = _NOWHERE

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

    # --- translation ------------------------------------------------------------

    def to_host(self, address: int, size: int = 1) -> int | None:
        """The host address of ``size`` bytes at ``address`` (one region
        holds them all), or None."""
        r = self.find(address, size)
        return None if r is None else r.buffer_address + (address - r.start)

    def from_host(self, host_address: int) -> int:
        """The address programs see for the host byte at ``host_address``
        (a map value, a ring buffer record), or 0 (NULL) when no region of
        this address space holds it."""
        r = self._hot_host
        off = host_address - r.buffer_address
        if off < 0 or off >= r.size:
            i = bisect.bisect_right(self._host_starts, host_address) - 1
            # Host buffers do not overlap, but a region may be a view inside
            # another's buffer: look a few regions down, no further.
            for r in reversed(self._hosts[max(i - 7, 0):i + 1]):
                off = host_address - r.buffer_address
                if off < r.size:
                    break
            else:
                return 0
            self._hot_host = r
        return r.start + off

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
    buffer_address = 1 << 70
    size = 0


_NOWHERE = _Nowhere()  # type: ignore[assignment]
