"""Packet buffers for skb and XDP programs.

A :class:`Packet` owns one buffer with headroom before the data and tailroom
after it, like the kernel's skb and xdp_buff.  The program can reach the
bytes from ``data_meta`` (XDP metadata) or ``data`` to ``data_end`` through
one region of the address space; helpers that move those bounds
(``bpf_xdp_adjust_head``, ``bpf_skb_change_tail``...) remap the region.
The whole buffer has addresses reserved, so a byte keeps its address while
the bounds move (until the buffer is reallocated to grow).
"""

from __future__ import annotations

from .memory import AddressSpace, Region


class Packet:
    """Packet data with room to grow at both ends.

    Offsets (``meta``, ``data``, ``end``, and ``mac``, where the link-layer
    header starts) index :attr:`buffer`; the ``*_address`` properties give
    what the program sees (``base`` is the address of the buffer's first
    byte in the address space).
    """

    def __init__(self, space: AddressSpace, data: bytes, *, headroom: int = 0,
                 tailroom: int = 0, meta: int = 0, writable: bool = True,
                 name: str = "packet"):
        self.space = space
        self.name = name
        self.writable = writable
        self.buffer = bytearray(headroom + len(data) + tailroom)
        self.buffer[headroom:headroom + len(data)] = data
        self.base = space.reserve(len(self.buffer))
        self._reserved = True
        self.data = headroom
        self.end = headroom + len(data)
        self.meta = headroom - meta
        self.mac = headroom
        #: where the network header starts (skb programs; None: not set)
        self.network: int | None = None
        #: None for a CHECKSUM_NONE skb, else the csum_level of a
        #: CHECKSUM_UNNECESSARY one (bpf_csum_level changes it)
        self.csum_level: int | None = None
        self.region: Region | None = None
        self._remap()

    # --- what programs see -------------------------------------------------------

    @property
    def data_address(self) -> int:
        """Address of the first packet byte."""
        return self.base + self.data

    @property
    def end_address(self) -> int:
        """Address one past the last packet byte."""
        return self.base + self.end

    @property
    def meta_address(self) -> int:
        """Address of the metadata in front of the data (equal to data when none)."""
        return self.base + self.meta

    def __len__(self) -> int:
        return self.end - self.data

    def payload(self) -> bytes:
        """The packet bytes from data to data_end."""
        return bytes(self.buffer[self.data:self.end])

    def metadata(self) -> bytes:
        """The metadata bytes from data_meta to data."""
        return bytes(self.buffer[self.meta:self.data])

    # --- moving the bounds ---------------------------------------------------------

    def set_bounds(self, *, meta: int | None = None, data: int | None = None,
                   end: int | None = None) -> bool:
        """Move the bounds (buffer offsets); False, with nothing changed, when
        they would leave the buffer or cross each other."""
        new_meta = self.meta if meta is None else meta
        new_data = self.data if data is None else data
        new_end = self.end if end is None else end
        if not 0 <= new_meta <= new_data <= new_end <= len(self.buffer):
            return False
        self.meta, self.data, self.end = new_meta, new_data, new_end
        self._remap()
        return True

    def ensure_room(self, head: int = 0, tail: int = 0) -> None:
        """Reallocate so that at least ``head`` bytes precede ``meta`` and
        ``tail`` bytes follow ``end`` (the packet's address changes, as it
        does when the kernel expands an skb's head)."""
        have_head, have_tail = self.meta, len(self.buffer) - self.end
        if have_head >= head and have_tail >= tail:
            return
        grow_head = max(0, head - have_head)
        grow_tail = max(0, tail - have_tail)
        buffer = bytearray(grow_head) + self.buffer + bytearray(grow_tail)
        if self.region is not None:
            self.space.unmap(self.region)
            self.region = None
        self.space.release(self.base)
        self.buffer = buffer
        self.base = self.space.reserve(len(buffer))
        self.meta += grow_head
        self.data += grow_head
        self.end += grow_head
        self.mac += grow_head
        if self.network is not None:
            self.network += grow_head
        self._remap()

    def insert(self, offset: int, data: bytes) -> None:
        """Insert ``data`` at buffer offset ``offset`` by moving the bytes
        before it toward the head (``data`` and ``meta`` move down)."""
        self.ensure_room(head=len(data))
        n = len(data)
        start = min(self.meta, self.mac)
        self.buffer[start - n:offset - n] = self.buffer[start:offset]
        self.buffer[offset - n:offset] = data
        self.meta -= n
        self.data -= n
        self.mac -= n
        if self.network is not None and self.network < offset:
            self.network -= n
        self._remap()

    def remove(self, offset: int, size: int) -> None:
        """Remove ``size`` bytes at buffer offset ``offset`` by moving the
        bytes before them toward the tail."""
        start = min(self.meta, self.mac)
        self.buffer[start + size:offset + size] = self.buffer[start:offset]
        self.buffer[start:start + size] = bytes(size)
        self.meta += size
        self.data += size
        self.mac += size
        if self.network is not None and self.network < offset:
            self.network += size
        self._remap()

    def _remap(self) -> None:
        if self.region is not None:
            self.space.unmap(self.region)
        view = memoryview(self.buffer)[self.meta:self.end]
        if len(view):
            self.region = self.space.map(Region(self.name, view, kind="packet",
                                                writable=self.writable),
                                         at=self.base + self.meta)
        else:
            self.region = None
        self.space.forget_hot()

    def close(self) -> None:
        """Make the packet unreachable and give its addresses back."""
        if self.region is not None:
            self.space.unmap(self.region)
            self.region = None
        if self._reserved:
            self.space.release(self.base)
            self._reserved = False
