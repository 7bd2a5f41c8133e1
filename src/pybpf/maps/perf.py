"""``perf_event_array``: per-CPU perf ring buffers fed by ``bpf_perf_event_output``.

In the kernel each slot of the array holds a perf event (opened with
``PERF_COUNT_SW_BPF_OUTPUT`` on one CPU) whose mmapped ring receives the
samples.  Here a slot holds a :class:`PerfBuffer`: a ring of ``page_count``
pages with the kernel's record format — ``PERF_RECORD_SAMPLE`` records
carrying a u32 size and the raw data padded so the record is a multiple of
8 bytes, and ``PERF_RECORD_LOST`` records (event id, count) for samples
dropped while the ring was full, written just before the next sample that
fits.  :meth:`PerfEventArray.open_buffers` fills one slot per CPU and returns
a :class:`PerfReader`.

As in the kernel, the raw data a reader gets includes the zero padding (its
length is rounded so that ``4 + len`` is a multiple of 8).

Threads: each :class:`PerfBuffer` has a writers' lock and a readers' lock;
a sample is written whole before the head moves past it.
"""

from __future__ import annotations

import errno as E
import itertools
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ._abi import (
    BPF_F_ACCESS_MASK,
    BPF_F_CTXLEN_MASK,
    BPF_F_CURRENT_CPU,
    BPF_F_INDEX_MASK,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    ENOTSUPP,
    PAGE_SIZE,
    PERF_RECORD_LOST,
    PERF_RECORD_SAMPLE,
)
from .array import ObjectArray

_HEADER = struct.Struct("<IHH")
_LOST = struct.Struct("<IHHQQ")
_event_ids = itertools.count(1)


class PerfSample(NamedTuple):
    """A sample read from CPU ``cpu``'s buffer: the raw data, padded as the
    kernel pads it."""

    cpu: int
    data: bytes


class PerfLost(NamedTuple):
    """``count`` samples were lost on CPU ``cpu`` because its buffer was full."""

    cpu: int
    count: int


class PerfBuffer:
    """One CPU's perf ring: ``page_count`` pages (a power of two) of records
    between ``tail`` (the reader) and ``head`` (the writer).

    ``lost_pending`` counts samples dropped since the last LOST record was
    written; ``lost_total`` and ``samples`` count everything.
    """

    def __init__(self, cpu: int, page_count: int = 8):
        if page_count <= 0 or page_count & (page_count - 1):
            raise ValueError(f"page_count must be a power of two, not {page_count}")
        self.cpu = cpu
        self.size = page_count * PAGE_SIZE
        self.data = bytearray(self.size)
        self.head = 0
        self.tail = 0
        self.event_id = next(_event_ids)
        self.lost_pending = 0
        self.lost_total = 0
        self.samples = 0
        self.wakeups = 0
        self._ready: threading.Condition | None = None
        self._writer = threading.Lock()
        self._reader = threading.Lock()

    def _space(self) -> int:
        return (self.tail - (self.head + 1)) & (self.size - 1)

    def _put(self, chunk: bytes) -> None:
        start = self.head % self.size
        first = min(len(chunk), self.size - start)
        self.data[start:start + first] = chunk[:first]
        if first < len(chunk):
            self.data[0:len(chunk) - first] = chunk[first:]
        self.head += len(chunk)

    def output(self, raw: bytes) -> int:
        """Write one sample: 0, or -ENOSPC when it does not fit (it is then
        counted as lost)."""
        with self._writer:
            ret = self._output(raw)
        if ret == 0 and self._ready is not None:
            with self._ready:
                self._ready.notify_all()
        return ret

    def _output(self, raw: bytes) -> int:
        padded = (len(raw) + 4 + 7) & ~7
        size = _HEADER.size + padded
        lost = self.lost_pending
        need = size + (_LOST.size if lost else 0)
        if self._space() < need or size > 0xFFFF:
            self.lost_pending += 1
            self.lost_total += 1
            return -E.ENOSPC
        if lost:
            self._put(_LOST.pack(PERF_RECORD_LOST, 0, _LOST.size, self.event_id, lost))
            self.lost_pending = 0
        record = _HEADER.pack(PERF_RECORD_SAMPLE, 0, size) + \
            (padded - 4).to_bytes(4, "little") + raw + bytes(padded - 4 - len(raw))
        self._put(record)
        self.samples += 1
        self.wakeups += 1
        return 0

    def _get(self, pos: int, n: int) -> bytes:
        start = pos % self.size
        first = min(n, self.size - start)
        chunk = bytes(self.data[start:start + first])
        if first < n:
            chunk += bytes(self.data[0:n - first])
        return chunk

    def read(self) -> list[PerfSample | PerfLost]:
        """Every record between tail and head, in order; moves the tail."""
        with self._reader:
            return self._read()

    def _read(self) -> list[PerfSample | PerfLost]:
        out: list[PerfSample | PerfLost] = []
        pos, head = self.tail, self.head
        while pos < head:
            rtype, _misc, size = _HEADER.unpack(self._get(pos, _HEADER.size))
            body = self._get(pos + _HEADER.size, size - _HEADER.size)
            if rtype == PERF_RECORD_SAMPLE:
                raw_size = int.from_bytes(body[:4], "little")
                out.append(PerfSample(self.cpu, body[4:4 + raw_size]))
            elif rtype == PERF_RECORD_LOST:
                out.append(PerfLost(self.cpu, int.from_bytes(body[8:16], "little")))
            pos += size
        self.tail = pos
        return out

    @property
    def pending(self) -> int:
        """Bytes written and not yet read."""
        return self.head - self.tail


class PerfReader:
    """Reads the buffers :meth:`PerfEventArray.open_buffers` installed."""

    def __init__(self, buffers: list[PerfBuffer]):
        self.buffers = buffers
        self._ready = threading.Condition()
        for buf in buffers:
            buf._ready = self._ready

    def read(self) -> list[PerfSample | PerfLost]:
        """Everything available, CPU by CPU."""
        out: list[PerfSample | PerfLost] = []
        for buf in self.buffers:
            out.extend(buf.read())
        return out

    def poll(self, timeout: float | None = None,
             sample_callback: Callable[[int, bytes], Any] | None = None,
             lost_callback: Callable[[int, int], Any] | None = None) -> int:
        """Wait up to ``timeout`` seconds for data, then hand every record to
        the callbacks (``sample_callback(cpu, data)``, ``lost_callback(cpu,
        count)``); returns the number of records."""
        with self._ready:
            self._ready.wait_for(lambda: any(b.pending for b in self.buffers), timeout)
        records = self.read()
        for rec in records:
            if isinstance(rec, PerfSample):
                if sample_callback is not None:
                    sample_callback(rec.cpu, rec.data)
            elif lost_callback is not None:
                lost_callback(rec.cpu, rec.count)
        return len(records)

    def __iter__(self) -> Iterator[PerfSample | PerfLost]:
        return iter(self.read())

    @property
    def lost(self) -> int:
        """Samples lost so far on every CPU."""
        return sum(b.lost_total for b in self.buffers)


class PerfEventArray(ObjectArray):
    """``BPF_MAP_TYPE_PERF_EVENT_ARRAY``: slot ``i`` holds CPU ``i``'s buffer."""

    type = "perf_event_array"
    allowed_flags = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS

    def open_buffers(self, page_count: int = 8, cpus: list[int] | None = None) -> PerfReader:
        """Install a :class:`PerfBuffer` of ``page_count`` pages for each CPU
        (slot = CPU, as libbpf's perf_buffer does) and return their reader."""
        chosen = cpus if cpus is not None else list(range(min(self.num_cpus,
                                                              self.max_entries)))
        buffers = []
        for cpu in chosen:
            buf = PerfBuffer(cpu, page_count)
            self.update(cpu, buf)
            buffers.append(buf)
        return PerfReader(buffers)

    def _accept(self, obj: Any, op: str, key: Any) -> Any:
        if not isinstance(obj, PerfBuffer):
            raise self._error(E.EBADF, op, key, f"a {type(obj).__name__} is not a perf buffer")
        return obj

    def _sys_lookup(self, key: bytes, flags: int) -> Any:
        raise self._error(ENOTSUPP, "lookup", key, "perf event arrays cannot be read by key")

    def buffer(self, index: int) -> PerfBuffer | None:
        """The buffer in slot ``index``, or None."""
        return self.object_at(index)

    def bpf_perf_event_output(self, data: bytes | memoryview, flags: int, cpu: int,
                              ctx_data: bytes | None = None) -> int:
        """``bpf_perf_event_output`` from a program running on ``cpu``.

        The low 32 bits of ``flags`` pick the slot (``BPF_F_CURRENT_CPU``:
        this CPU's).  ``ctx_data`` is given for skb/xdp programs, whose flags
        may ask (``BPF_F_CTXLEN_MASK``) for that many packet bytes appended.
        Returns 0, -EINVAL (flags), -E2BIG (index), -ENOENT (empty slot),
        -EOPNOTSUPP (a buffer of another CPU), -EFAULT (ctx length) or
        -ENOSPC (the buffer is full: the sample is counted as lost).
        """
        allowed = BPF_F_INDEX_MASK | (BPF_F_CTXLEN_MASK if ctx_data is not None else 0)
        if flags & ~allowed:
            return -E.EINVAL
        raw = bytes(data)
        if ctx_data is not None:
            ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32
            if ctx_len > len(ctx_data):
                return -E.EFAULT
            raw += bytes(ctx_data[:ctx_len])
        index = flags & BPF_F_INDEX_MASK
        if index == BPF_F_CURRENT_CPU:
            index = cpu
        if index >= self.max_entries:
            return -E.E2BIG
        buf = self._objects.get(index)
        if buf is None:
            return -E.ENOENT
        if buf.cpu != cpu:
            return -E.EOPNOTSUPP
        return buf.output(raw)


