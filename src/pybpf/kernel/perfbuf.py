"""Reading a perf event array (``BPF_MAP_TYPE_PERF_EVENT_ARRAY``): the perf
buffer, one ring per CPU, that ``bpf_perf_event_output`` writes to.

:class:`PerfBuffer` opens a ``PERF_COUNT_SW_BPF_OUTPUT`` event on each
online CPU, maps its ring (a metadata page and ``pages`` data pages), puts
the event fds into the map at their CPU's index and waits on them with
epoll.  ``PERF_RECORD_SAMPLE`` records carry the program's data;
``PERF_RECORD_LOST`` ones say how many samples the kernel dropped::

    pb = coll.perfbuf("events", callback=print, lost=lambda cpu, n: ...)
    while running:
        pb.poll(1.0)
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import select
import struct
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import BPFError
from ..records import RecordType, given_record
from . import perf as _perf
from . import sys as _sys
from ._fd import Closing

_HEADER = struct.Struct("<IHH")
_LOST = struct.Struct("<QQ")
_U32 = struct.Struct("<I")


def _mmap_offsets() -> tuple[int, int]:
    from ..spec.layout import struct_layout

    page = struct_layout("perf_event_mmap_page")
    return page.field("data_head").offset, page.field("data_tail").offset


class _CpuRing:
    """One CPU's event and ring."""

    __slots__ = ("cpu", "event", "head_index", "map", "size", "tail_index", "u64", "view")

    def __init__(self, cpu: int, event: _perf.PerfEvent, pages: int, head_off: int,
                 tail_off: int):
        page = mmap.PAGESIZE
        self.cpu = cpu
        self.event = event
        self.size = pages * page
        self.map = mmap.mmap(event.fd, page + self.size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        whole = memoryview(self.map)
        self.u64 = whole[:page].cast("Q")
        self.view = whole[page:]
        whole.release()
        self.head_index = head_off // 8
        self.tail_index = tail_off // 8

    def take(self) -> list[tuple[int, bytes]]:
        """``(record type, record bytes after the header)`` of every record
        the kernel has written; the tail moves past them."""
        u64 = self.u64
        head = u64[self.head_index]
        tail = u64[self.tail_index]
        if head == tail:
            return []
        size = self.size
        view = self.view
        start = tail % size
        avail = head - tail
        if start + avail <= size:
            chunk = view[start:start + avail].tobytes()
        else:  # wrapped: stitch the two pieces together
            chunk = view[start:].tobytes() + view[:avail - (size - start)].tobytes()
        out = []
        pos = 0
        unpack = _HEADER.unpack_from
        while pos + 8 <= avail:
            rtype, _misc, rsize = unpack(chunk, pos)
            if rsize < 8 or pos + rsize > avail:
                break
            out.append((rtype, chunk[pos + 8:pos + rsize]))
            pos += rsize
        u64[self.tail_index] = tail + pos
        return out

    def close(self) -> None:
        self.u64.release()
        self.view.release()
        self.map.close()
        self.event.close()


class PerfBuffer(Closing):
    """A reader of one perf event array map.

    ``callback(record)`` gets each sample, decoded as ``record`` says (as
    for :class:`~pybpf.kernel.ringbuf.RingBuffer`: a type name looked up in
    ``btf``, a :class:`~pybpf.records.RecordType`, a function, a
    :class:`~pybpf.records.RecordChoice`; ``decode`` is its older name) or
    bytes — the kernel pads samples to 8 bytes, so raw data can be a few
    bytes longer than what the program sent; :attr:`record` is the choice
    made.  ``lost(cpu, count)`` hears of each report of dropped samples
    (they are also counted in :attr:`lost_count`).
    """

    def __init__(self, map: Any, *, callback: Callable[[Any], Any] | None = None,
                 record: Any = None, btf: Any = None,
                 decode: RecordType | Callable[[Any], Any] | None = None,
                 lost: Callable[[int, int], Any] | None = None, pages: int = 8,
                 cpus: list[int] | None = None):
        if getattr(map, "type", "perf_event_array") != "perf_event_array":
            raise BPFError(f"map {getattr(map, 'name', '')!r} is a {map.type} map, not a "
                           f"perf_event_array")
        if pages <= 0 or pages & (pages - 1):
            raise BPFError(f"pages must be a power of two, not {pages}")
        self.map = map
        self.callback = callback
        self.record = given_record(getattr(map, "name", "") or "?",
                                   record if record is not None else decode, btf)
        decode = self.record.decode
        self.decode = decode.decoder() if isinstance(decode, RecordType) else decode
        self.lost = lost
        self.lost_count = 0
        self._sample = _perf.record_type("sample")
        self._lost = _perf.record_type("lost")
        self._rings: dict[int, _CpuRing] = {}
        self._closed = False
        self._epoll = select.epoll()
        head_off, tail_off = _mmap_offsets()
        limit = int(getattr(map, "max_entries", 0)) or 1 << 30
        try:
            for cpu in cpus if cpus is not None else _perf.online_cpus():
                if cpu >= limit:
                    continue
                a = _perf.attr(type=_perf.perf_type("software"),
                               config=_perf.sw_event("bpf_output"),
                               sample_type=_perf.sample_flag("raw"), sample_period=1,
                               wakeup_events=1)
                ev = _perf.PerfEvent(_perf.perf_event_open(a, -1, cpu,
                                                           what=f"bpf_output on cpu {cpu}"),
                                     f"bpf_output cpu {cpu}")
                try:
                    ring = _CpuRing(cpu, ev, pages, head_off, tail_off)
                except BaseException:
                    ev.close()
                    raise
                self._rings[ev.fd] = ring
                self._set(cpu, ev.fd)
                self._epoll.register(ev.fd, select.EPOLLIN)
                ev.enable()
        except BaseException:
            self.close()
            raise

    def _set(self, cpu: int, fd: int) -> None:
        key, value = ctypes.c_uint32(cpu), ctypes.c_uint32(fd)
        _sys.map_update_elem(int(self.map.fd), ctypes.addressof(key), ctypes.addressof(value),
                             0, what=f"perf event array {getattr(self.map, 'name', '')!r}")

    def _handle(self, ring: _CpuRing) -> int:
        n = 0
        cb, decode = self.callback, self.decode
        for rtype, body in ring.take():
            if rtype == self._sample:
                (raw_size,) = _U32.unpack_from(body)
                data = body[4:4 + raw_size]
                if cb is not None:
                    cb(decode(data) if decode is not None else data)
                n += 1
            elif rtype == self._lost:
                _id, count = _LOST.unpack_from(body)
                self.lost_count += count
                if self.lost is not None:
                    self.lost(ring.cpu, count)
        return n

    def consume(self) -> int:
        """Handle every record waiting on any CPU; returns the samples seen."""
        if self.callback is None:
            raise BPFError("this perf buffer has no callback: iterate it instead")
        return sum(self._handle(r) for r in self._rings.values())

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for samples and
        handle the rings that have some; returns the samples seen."""
        try:
            ready = self._epoll.poll(-1 if timeout is None else timeout)
        except InterruptedError:
            return 0
        return sum(self._handle(self._rings[fd]) for fd, _ in ready)

    def __iter__(self) -> Iterator[Any]:
        """Decoded samples as they come, forever."""
        queue: list[Any] = []
        saved = self.callback
        self.callback = queue.append
        try:
            while not self._closed:
                self.poll(None)
                yield from queue
                queue.clear()
        finally:
            self.callback = saved

    def fileno(self) -> int:
        """A pollable fd (an epoll instance) readable when samples wait."""
        return self._epoll.fileno()

    @property
    def cpus(self) -> list[int]:
        """The CPUs read."""
        return sorted(r.cpu for r in self._rings.values())

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        """Stop the events, unmap the rings and close their fds."""
        if self._closed:
            return
        self._closed = True
        for ring in self._rings.values():
            with contextlib.suppress(Exception):
                key = ctypes.c_uint32(ring.cpu)
                if not self.map.closed:
                    _sys.map_delete_elem(int(self.map.fd), ctypes.addressof(key))
            ring.close()
        self._rings.clear()
        self._epoll.close()


    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._rings)} cpus"
        return f"<PerfBuffer {getattr(self.map, 'name', '') or '?'} {state}>"
