"""Reading a BPF ring buffer map (``BPF_MAP_TYPE_RINGBUF``) from Python.

The kernel lays a ring buffer out as one consumer page (user space writes
the consumer position there), one producer page (the kernel's producer
position) and the data area, mapped twice in a row so that a record never
wraps.  :class:`RingBuffer` maps them (the consumer page read-write, the
rest read-only) and waits on the map fd with epoll::

    rb = coll.ringbuf("events")            # records decoded through BTF
    for event in rb:                       # blocks; Ctrl-C or break to stop
        print(event.pid, event.comm)

    rb = RingBuffer(m, callback=print, record="struct event", btf=spec.btf)
    while running:                         # callback style
        rb.poll(timeout=1.0)
    rb.record.describe()                   # 'events: records decoded as struct event (as asked)'

    batch = rb.read_batch(timeout=1.0)     # many records, little Python each
    for event in batch.decode():           # decoded as the reader decodes, a run at a time
        ...
    for pid, ppid, code in batch.unpack("<iiI"):
        ...

Records are copied out of the ring (one copy per batch) before the
consumer position moves on, so what a callback keeps stays valid.
"""

from __future__ import annotations

import gc
import mmap
import select
import struct
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import BPFError
from ..records import RecordType, given_record
from ._fd import Closing

_HDR = 8


def _bits() -> tuple[int, int]:
    from ._abi import constant

    return constant("BPF_RINGBUF_BUSY_BIT"), constant("BPF_RINGBUF_DISCARD_BIT")


class RecordBatch:
    """Records taken from a ring buffer at once.

    The records live in one ``bytes`` copy (:attr:`data`); ``runs`` lists
    ``(start, count, stride, length)`` stretches of equally long records
    (the usual case is one run).  Iterating gives each record's bytes;
    :meth:`decode` gives the records decoded as the reader that took them
    decodes (``decoder``), :meth:`unpack` and :meth:`decode` with a
    :class:`RecordType` turn whole runs into tuples or records with
    ``struct.iter_unpack``.
    """

    __slots__ = ("_count", "data", "decoder", "runs")

    def __init__(self, data: bytes, runs: list[tuple[int, int, int, int]],
                 decoder: RecordType | Callable[[Any], Any] | None = None):
        self.data = data
        self.runs = runs
        self.decoder = decoder
        self._count = sum(r[1] for r in runs)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[bytes]:
        data = self.data
        for start, count, stride, length in self.runs:
            first = start + _HDR
            for i in range(first, first + count * stride, stride):
                yield data[i:i + length]

    def memoryviews(self) -> list[memoryview]:
        """Each record as a memoryview into :attr:`data` (no copies)."""
        mv = memoryview(self.data)
        out = []
        for start, count, stride, length in self.runs:
            first = start + _HDR
            out += [mv[i:i + length] for i in range(first, first + count * stride, stride)]
        return out

    def unpack(self, fmt: str | struct.Struct) -> list[tuple]:
        """Every record unpacked with ``fmt`` (a ``struct`` format, ``<``
        by default, that may be shorter than the records): a list of tuples.
        Records shorter than the format are left out."""
        body = fmt.format if isinstance(fmt, struct.Struct) else fmt
        if body[:1] in "<>=!@":
            order, body = body[0], body[1:]
        else:
            order = "<"
        size = struct.calcsize(order + body)
        out: list[tuple] = []
        for start, count, stride, length in self.runs:
            if length < size:
                continue
            s = struct.Struct(f"{order}{_HDR}x{body}{stride - _HDR - size}x")
            out += s.iter_unpack(memoryview(self.data)[start:start + count * stride])
        return out

    def decode(self, decode: Any = ...) -> list[Any]:
        """Every record decoded: as the reader decodes them (its record type)
        when ``decode`` is not given; with a :class:`RecordType` a whole run
        at a time; with a function one call per record; None gives bytes."""
        if decode is ...:
            decode = self.decoder
        if decode is None:
            return list(self)
        if isinstance(decode, RecordType):
            # Records are tuples the cyclic GC would scan again and again while
            # a large batch is built; they hold no cycles, so it may rest.
            pause = self._count > 4096 and gc.isenabled()
            if pause:
                gc.disable()
            try:
                return self._decode_runs(decode)
            finally:
                if pause:
                    gc.enable()
        return [decode(r) for r in self]

    def _decode_runs(self, decode: RecordType) -> list[Any]:
        make = decode.from_tuple
        out: list[Any] = []
        for run in self.runs:
            start, count, stride, length = run
            if length < decode.size:
                out += [bytes(r) for r in RecordBatch(self.data, [run])]
                continue
            s = struct.Struct(f"<{_HDR}x{decode.format[1:]}{stride - _HDR - decode.size}x")
            out += map(make, s.iter_unpack(memoryview(self.data)[start:start + count * stride]))
        return out

    def __repr__(self) -> str:
        return f"<RecordBatch {self._count} records in {len(self.runs)} runs>"


_EMPTY = RecordBatch(b"", [])


class RingBuffer(Closing):
    """A reader of one ring buffer map.

    ``record`` says what callbacks, iteration and batches see: a BTF type
    name (``"struct event"``, looked up in ``btf``, the object's BTF), a
    :class:`RecordType`, a function of the bytes, or a
    :class:`~pybpf.records.RecordChoice`; without it records are ``bytes``
    (``Collection.ringbuf()`` finds the object's record type).  ``decode``
    is the older name of a :class:`RecordType` or function given.
    :attr:`record` is the :class:`~pybpf.records.RecordChoice` made: the
    type and the rule that chose it.  ``callback(record)`` runs for each
    record that :meth:`poll` or :meth:`consume` takes.
    """

    def __init__(self, map: Any, *, callback: Callable[[Any], Any] | None = None,
                 record: Any = None, btf: Any = None,
                 decode: RecordType | Callable[[Any], Any] | None = None):
        if getattr(map, "type", "ringbuf") != "ringbuf":
            raise BPFError(f"map {getattr(map, 'name', '')!r} is a {map.type} map, "
                           f"not a ringbuf")
        self.map = map
        self.callback = callback
        self.record = given_record(getattr(map, "name", "") or "?",
                                   record if record is not None else decode, btf)
        self.decode = self.record.decode
        self.size = int(map.max_entries)
        if self.size & (self.size - 1):
            raise BPFError(f"ring buffer size {self.size} is not a power of two")
        self._mask = self.size - 1
        page = mmap.PAGESIZE
        fd = int(map.fd)
        self._busy, self._discard = _bits()
        self._len_mask = ~(self._busy | self._discard) & 0xFFFFFFFF
        self._closed = True
        self._cons_map = mmap.mmap(fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                                   offset=0)
        try:
            self._prod_map = mmap.mmap(fd, page + 2 * self.size, mmap.MAP_SHARED,
                                       mmap.PROT_READ, offset=page)
        except BaseException:
            self._cons_map.close()
            raise
        self._cons = memoryview(self._cons_map).cast("Q")
        whole = memoryview(self._prod_map)
        self._prod = whole[:page].cast("Q")
        self._data = whole[page:]
        self._whole = whole
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        self._closed = False

    # --- taking records ----------------------------------------------------------------

    @property
    def available(self) -> int:
        """Bytes between the consumer and producer positions."""
        return self._prod[0] - self._cons[0]

    def read_batch(self, timeout: float | None = 0) -> RecordBatch:
        """Every record committed so far as a :class:`RecordBatch`, waiting
        up to ``timeout`` seconds (None: forever) when there is none.  The
        consumer position moves past them."""
        batch = self._take()
        if not batch and timeout != 0:
            self._wait(timeout)
            batch = self._take()
        return batch

    def _wait(self, timeout: float | None) -> bool:
        try:
            return bool(self._epoll.poll(-1 if timeout is None else timeout))
        except InterruptedError:
            return False

    def _take(self) -> RecordBatch:
        cons_view = self._cons
        cons = cons_view[0]
        avail = self._prod[0] - cons
        if avail <= 0:
            return _EMPTY
        off = cons & self._mask
        chunk = self._data[off:off + avail].tobytes()
        words = memoryview(chunk).cast("I")
        busy, discard, len_mask = self._busy, self._discard, self._len_mask
        runs = []
        pos = 0
        while pos < avail:
            w = words[pos >> 2]
            if w & busy:
                break
            length = w & len_mask
            stride = (length + _HDR + 7) & ~7
            if w & discard:
                pos += stride
                continue
            step = stride >> 2
            room = (avail - pos) // stride
            first = pos >> 2
            heads = words[first:first + room * step:step].tolist()
            if heads.count(w) == len(heads):
                count = len(heads)
            else:
                count = 0
                for h in heads:
                    if h != w:
                        break
                    count += 1
            runs.append((pos, count, stride, length))
            pos += count * stride
        words.release()
        if pos:
            cons_view[0] = cons + pos
        return RecordBatch(chunk, runs, self.decode) if runs else _EMPTY

    def consume(self) -> int:
        """Hand every committed record to the callback without waiting;
        returns how many."""
        batch = self._take()
        if not batch:
            return 0
        if self.callback is None:
            raise BPFError("this ring buffer has no callback: iterate it or use read_batch()")
        cb = self.callback
        for record in batch.decode(self.decode):
            cb(record)
        return len(batch)

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for records, then
        :meth:`consume` them; returns how many were handled."""
        n = self.consume()
        if n:
            return n
        if self._wait(timeout):
            return self.consume()
        return 0

    def read(self, timeout: float | None = 0) -> list[Any]:
        """The records available now (waiting up to ``timeout`` for the
        first), decoded."""
        return self.read_batch(timeout).decode(self.decode)

    def __iter__(self) -> Iterator[Any]:
        """Decoded records as they come, forever (break out of the loop, or
        Ctrl-C, to stop)."""
        while not self._closed:
            yield from self.read_batch(None).decode(self.decode)

    def records(self, timeout: float) -> Iterator[Any]:
        """Decoded records until none arrives for ``timeout`` seconds."""
        while not self._closed:
            batch = self.read_batch(timeout)
            if not batch:
                return
            yield from batch.decode(self.decode)

    # --- the rest ------------------------------------------------------------------------

    def fileno(self) -> int:
        """A pollable fd (an epoll instance) readable when records wait."""
        return self._epoll.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        """Unmap the ring and close the epoll fd (the map stays open)."""
        if self._closed:
            return
        self._closed = True
        self._epoll.close()
        for view in (self._cons, self._prod, self._data, self._whole):
            view.release()
        self._cons_map.close()
        self._prod_map.close()


    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.size} bytes"
        return f"<RingBuffer {getattr(self.map, 'name', '') or '?'} {state}>"
