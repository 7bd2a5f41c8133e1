"""``ringbuf``: the BPF ring buffer, byte for byte as the kernel lays it out.

The data area holds ``max_entries`` bytes (a power of two, a multiple of the
page size).  Each record starts with an 8-byte header — a u32 ``len`` whose
bit 31 is the busy bit (reserved, not yet committed) and bit 30 the discard
bit, and a u32 ``pg_off``, the record's page offset from the start of the
kernel's ``struct bpf_ringbuf`` — followed by the sample, and is padded to a
multiple of 8.  Positions only grow; ``pos & (size - 1)`` is the offset.

The kernel maps the data pages twice in a row so that a record that wraps
past the end is contiguous in memory.  Here the arena is twice the data
size: a program writes a wrapping record straight through into the second
half, and committing copies that part back to the start, so the first half
is always the kernel's ring and every sample pointer is one flat range.

Reservation follows ``__bpf_ringbuf_reserve``: it fails (NULL, and
``bpf_ringbuf_output`` gives -EAGAIN) when the producer would get ``size``
or more bytes ahead of the consumer, or of the oldest record still being
written.  :attr:`RingBuf.dropped` counts failures — pybpf's figure, the
kernel keeps none.

Consumers call :meth:`RingBuf.consume` (or iterate, or :meth:`RingBuf.poll`
from another thread): committed records in order, skipping discarded ones,
stopping at the first busy record.

Threads: reservations and commits hold the map's lock, as the kernel's
producers hold the ring's spin lock; a producer writes its record without
it (the record is busy until committed).  Consumers hold a lock of their
own, so two consuming threads never both take one record.

The positions live in native memory (:class:`RingPositions`), where a JIT's
``bpf_ringbuf_output`` reads and moves them: it reserves, copies and
commits in one step while holding the GIL, and leaves the record to Python
while a Python reservation is under way (the ``busy`` word), when the ring
is full or when the commit would wake a consumer.
"""

from __future__ import annotations

import ctypes
import errno as E
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..objects import MapSpec
from ._abi import (
    BPF_F_NUMA_NODE,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ,
    PAGE_SIZE,
    RINGBUF_MAX_RECORD_SZ,
    RINGBUF_META_PAGES,
)
from .base import Map

_HDR = struct.Struct("<II")
_LEN = struct.Struct("<I")
_LEN_MASK = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & 0xFFFFFFFF


class RingPositions(ctypes.Structure):
    """A ring buffer's positions in native memory: the consumer's, the
    producer's, the oldest record possibly still being written (pending),
    and ``busy``, set while Python reserves a record."""

    _fields_ = [("consumer", ctypes.c_uint64), ("producer", ctypes.c_uint64),
                ("pending", ctypes.c_uint64), ("busy", ctypes.c_uint64)]


def _position(field: str) -> property:
    def get(self: RingBuf) -> int:
        return getattr(self.positions, field)

    def put(self: RingBuf, value: int) -> None:
        setattr(self.positions, field, value)

    return property(get, put, doc=f"The {field} position (bytes written since creation).")


class RingBuf(Map):
    """``BPF_MAP_TYPE_RINGBUF``: variable-size records from programs to userspace."""

    type = "ringbuf"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """No key or value; ``max_entries`` a power of two and page-aligned."""
        size = spec.max_entries
        if spec.flags & ~BPF_F_NUMA_NODE:
            raise cls._create_error(spec, E.EINVAL, f"ringbuf flags {spec.flags:#x} are not "
                                                    f"allowed")
        if spec.key_size or spec.value_size:
            raise cls._create_error(spec, E.EINVAL, "ringbuf key_size and value_size must be 0")
        if size <= 0 or size & (size - 1) or size % PAGE_SIZE:
            raise cls._create_error(spec, E.EINVAL, f"ringbuf size {size} must be a power of "
                                                    f"two and a multiple of {PAGE_SIZE}")
        if spec.map_extra:
            raise cls._create_error(spec, E.EINVAL, "map_extra must be 0")

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """The data pages."""
        return spec.max_entries

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self.size = self.max_entries
        self.mask = self.size - 1
        self.data, self._data_address = self._new_arena(2 * self.size)
        self.positions = RingPositions()
        self.dropped = 0
        self.wakeups = 0
        self._ready = threading.Condition()
        self._consumer = threading.Lock()

    consumer_pos = _position("consumer")
    producer_pos = _position("producer")
    pending_pos = _position("pending")

    @property
    def data_address(self) -> int:
        """The host address of the data area (twice ``size`` bytes)."""
        return self._data_address

    # ------------------------------------------------------------ BPF side

    def bpf_ringbuf_reserve(self, size: int, flags: int = 0) -> int:
        """``bpf_ringbuf_reserve``: the address of ``size`` writable bytes, or 0
        (non-zero flags, too large, or no room)."""
        if flags:
            return 0
        with self.lock:
            return self._reserve(size)

    def _reserve(self, size: int) -> int:
        positions = self.positions
        positions.busy = 1
        try:
            return self._reserve_now(size)
        finally:
            positions.busy = 0

    def _reserve_now(self, size: int) -> int:
        if size > RINGBUF_MAX_RECORD_SZ:
            self.dropped += 1
            return 0
        length = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
        if length > self.size:
            self.dropped += 1
            return 0
        data, mask = self.data, self.mask
        prod = self.producer_pos
        pend = self.pending_pos
        while pend < prod:
            hdr_len = _LEN.unpack_from(data, pend & mask)[0]
            if hdr_len & BPF_RINGBUF_BUSY_BIT:
                break
            pend += ((hdr_len & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7
        self.pending_pos = pend
        new_prod = prod + length
        if new_prod - self.consumer_pos > mask or new_prod - pend > mask:
            self.dropped += 1
            return 0
        offset = prod & mask
        _HDR.pack_into(data, offset, size | BPF_RINGBUF_BUSY_BIT,
                       RINGBUF_META_PAGES + offset // PAGE_SIZE)
        self.producer_pos = new_prod
        return self._data_address + offset + BPF_RINGBUF_HDR_SZ

    def _commit(self, address: int, flags: int, discard: bool) -> None:
        offset = address - self._data_address - BPF_RINGBUF_HDR_SZ
        if not 0 <= offset < self.size:
            return
        data = self.data
        hdr_len = _LEN.unpack_from(data, offset)[0]
        if not hdr_len & BPF_RINGBUF_BUSY_BIT:
            return
        size = hdr_len & _LEN_MASK
        end = offset + ((size + BPF_RINGBUF_HDR_SZ + 7) & ~7)
        if end > self.size:
            data[0:end - self.size] = data[self.size:end]
        new_len = hdr_len ^ BPF_RINGBUF_BUSY_BIT
        if discard:
            new_len |= BPF_RINGBUF_DISCARD_BIT
        _LEN.pack_into(data, offset, new_len)
        if flags & BPF_RB_FORCE_WAKEUP or (
                not flags & BPF_RB_NO_WAKEUP and self.consumer_pos & self.mask == offset):
            self.wakeups += 1
            with self._ready:
                self._ready.notify_all()

    def bpf_ringbuf_submit(self, address: int, flags: int = 0) -> None:
        """``bpf_ringbuf_submit``: commit the record reserved at ``address``."""
        with self.lock:
            self._commit(address, flags, False)

    def bpf_ringbuf_discard(self, address: int, flags: int = 0) -> None:
        """``bpf_ringbuf_discard``: drop the record reserved at ``address``
        (consumers skip it)."""
        with self.lock:
            self._commit(address, flags, True)

    def bpf_ringbuf_output(self, data: bytes | memoryview, flags: int = 0) -> int:
        """``bpf_ringbuf_output``: copy ``data`` in as one record; 0, -EINVAL
        (flags other than the wakeup ones) or -EAGAIN (no room)."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -E.EINVAL
        size = len(data)
        lock = self.lock
        lock.acquire()
        try:  # the kernel copies between reserve and commit; a copy under the lock is as good
            address = self._reserve(size)
            if not address:
                return -E.EAGAIN
            start = address - self._data_address
            self.data[start:start + size] = data
            self._commit(address, flags, False)
        finally:
            lock.release()
        return 0

    def bpf_ringbuf_query(self, flags: int) -> int:
        """``bpf_ringbuf_query``: available bytes, ring size, consumer or
        producer position (0 for unknown flags)."""
        if flags == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flags == BPF_RB_RING_SIZE:
            return self.size
        if flags == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flags == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    # ------------------------------------------------------------ consumer

    @property
    def avail_data(self) -> int:
        """Bytes between the consumer and producer positions."""
        return self.producer_pos - self.consumer_pos

    def consume(self, callback: Callable[[bytes], Any] | None = None, *,
                limit: int | None = None) -> Any:
        """Read committed records in order, advancing the consumer position.

        With ``callback``, call it with each sample's bytes and return how
        many were consumed; a callback returning a non-zero int stops after
        that record.  Without, return the samples as a list.  Discarded
        records are skipped; a busy (uncommitted) record stops the read.
        ``limit`` caps the number of samples."""
        with self._consumer:
            return self._consume(callback, limit)

    def _consume(self, callback: Callable[[bytes], Any] | None, limit: int | None) -> Any:
        out: list[bytes] = []
        count = 0
        data, mask = self.data, self.mask
        cons, prod = self.consumer_pos, self.producer_pos
        while cons < prod and (limit is None or count < limit):
            offset = cons & mask
            hdr_len = _LEN.unpack_from(data, offset)[0]
            if hdr_len & BPF_RINGBUF_BUSY_BIT:
                break
            size = hdr_len & _LEN_MASK
            cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
            if hdr_len & BPF_RINGBUF_DISCARD_BIT:
                self.consumer_pos = cons
                continue
            start = offset + BPF_RINGBUF_HDR_SZ
            sample = bytes(data[start:start + size])
            # the space goes back to producers only once the record is copied out
            self.consumer_pos = cons
            count += 1
            if callback is None:
                out.append(sample)
                continue
            ret = callback(sample)
            if isinstance(ret, int) and ret:
                break
        return count if callback is not None else out

    def poll(self, timeout: float | None = None,
             callback: Callable[[bytes], Any] | None = None) -> Any:
        """Wait up to ``timeout`` seconds (forever if None) for a committed
        record, then :meth:`consume`.  Producers in other threads wake it."""
        with self._ready:
            self._ready.wait_for(self._has_record, timeout)
        return self.consume(callback)

    def _has_record(self) -> bool:
        if self.consumer_pos >= self.producer_pos:
            return False
        hdr_len = _LEN.unpack_from(self.data, self.consumer_pos & self.mask)[0]
        return not hdr_len & BPF_RINGBUF_BUSY_BIT

    def __iter__(self) -> Iterator[Any]:
        """Consume the available records, each decoded with the value codec
        (bytes unless one was set, e.g. ``rb.value_codec = BTFCodec(...)``)."""
        decode = self.value_codec.decode if self.value_codec.size else bytes
        while True:
            batch = self.consume(limit=64)
            if not batch:
                return
            for sample in batch:
                yield decode(sample)

    def records(self) -> list[bytes]:
        """Consume and return every available sample."""
        return self.consume()

    def __len__(self) -> int:
        """Bytes waiting for the consumer."""
        return self.avail_data

    def ring(self) -> bytes:
        """The data area as the kernel's mapping shows it (``size`` bytes)."""
        return bytes(self.data[:self.size])
