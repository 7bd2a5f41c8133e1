"""Reading what BPF programs send to user space: shared parts.

Records are decoded with :mod:`pybpf.records` (``RecordType``, type
inference), which the userspace VM shares.

* :class:`Poller` — waits on several readers (ring buffers, perf buffers,
  the trace pipe) at once.
* :class:`CollectionReaders` — ``Collection.ringbuf()``, ``.perfbuf()`` and
  ``.trace_pipe()``.

The readers themselves are :class:`~pybpf.kernel.ringbuf.RingBuffer`,
:class:`~pybpf.kernel.perfbuf.PerfBuffer` and
:class:`~pybpf.kernel.tracepipe.TracePipe`.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import BPFError
from ..records import DECLARED, UNKNOWN, RecordChoice, choose_record

# --- waiting on several readers ------------------------------------------------------------

class Poller:
    """Wait on several readers at once; each must have ``fileno()`` and
    ``consume()`` (ring buffers, perf buffers, the trace pipe)::

        with Poller([rb, tp]) as p:
            while True:
                p.poll(1.0)     # runs each ready reader's callbacks
    """

    def __init__(self, readers: Iterable[Any] = ()):
        self._epoll = select.epoll()
        self._readers: dict[int, Any] = {}
        for r in readers:
            self.add(r)

    def add(self, reader: Any) -> None:
        """Watch ``reader`` too."""
        fd = reader.fileno()
        self._epoll.register(fd, select.EPOLLIN)
        self._readers[fd] = reader

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for data, then
        consume every ready reader; returns the records handled."""
        events = self._epoll.poll(-1 if timeout is None else timeout)
        total = 0
        for fd, _ in events:
            total += self._readers[fd].consume() or 0
        return total

    def close(self) -> None:
        """Stop watching (the readers stay open)."""
        self._epoll.close()
        self._readers.clear()

    def __enter__(self) -> Poller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Collection.ringbuf() and friends ----------------------------------------------------

class CollectionReaders:
    """Reader constructors of :class:`~pybpf.kernel.Collection` (a mix-in):
    readers opened here are closed with the collection."""

    maps: dict[str, Any]
    spec: Any
    btf: Any
    readers: list[Any]
    record_types: dict[str, Any] | None = None
    """Pre-built decoders by map name (objects loaded from a cache)."""
    record_rules: dict[str, str] | None = None
    """The rule that chose each pre-built decoder (objects loaded from a cache)."""
    record_hints: dict[str, Any] | None = None
    """Record types named for maps before their readers open (``pybpf load
    --record-type``): what ``ringbuf(name)``/``perfbuf(name)`` use when not
    given ``record=``."""

    def record_choice(self, map_name: str, record: Any = None) -> RecordChoice:
        """How ``map_name``'s records decode and why
        (:func:`pybpf.records.choose_record`): as ``record`` when given
        (a BTF type name such as ``"struct event"``, a
        :class:`~pybpf.records.RecordType` or a function), else as
        :attr:`record_hints` says, else as the object says."""
        if record is None and self.record_hints:
            record = self.record_hints.get(map_name)
        if record is None and self.record_types and map_name in self.record_types:
            rt = self.record_types[map_name]
            rule = (self.record_rules or {}).get(map_name, DECLARED)
            return RecordChoice(map_name, rule, decode=rt, name=f"struct {rt.name}")
        spec = getattr(self, "spec", None)
        btf = None
        if getattr(spec, "btf", None) is None and (record is None or isinstance(record, str | int)):
            btf = self._object_btf()
        return choose_record(spec, map_name, record, btf=btf)

    def _object_btf(self) -> Any:
        """The object's BTF when the collection was loaded without a spec
        (from a prepared form): read back from the kernel."""
        kbtf = getattr(self, "btf", None)
        if kbtf is None:
            return None
        if getattr(kbtf, "btf", None) is None:
            from ..btf import BTF

            kbtf.btf = BTF.from_bytes(kbtf.raw())
        return kbtf.btf

    def record_decoder(self, map_name: str, type: Any = None) -> Callable[[Any], Any] | None:
        """The decoder of ``map_name``'s records (:meth:`record_choice`);
        None when they stay bytes."""
        return self.record_choice(map_name, type).decode

    def _map(self, name: str, kinds: tuple[str, ...]) -> Any:
        if name not in self.maps:
            have = [n for n, m in self.maps.items() if m.type in kinds]
            raise BPFError(f"no map {name!r} in the collection ({' or '.join(kinds)} maps: "
                           f"{', '.join(have) or 'none'})")
        m = self.maps[name]
        if m.type not in kinds:
            raise BPFError(f"map {name!r} is a {m.type} map, not {' or '.join(kinds)}")
        return m

    def _choice(self, name: str, record: Any, type: Any, raw: bool) -> RecordChoice:
        if raw:
            return RecordChoice(name, UNKNOWN, note="raw records asked for")
        return self.record_choice(name, record if record is not None else type)

    def ringbuf(self, name: str, callback: Callable[[Any], Any] | None = None, *,
                record: Any = None, raw: bool = False, type: Any = None) -> Any:
        """A :class:`~pybpf.kernel.ringbuf.RingBuffer` on ring buffer map
        ``name``; records decoded as ``record`` (``"struct event"``, a
        :class:`~pybpf.records.RecordType` or a function; ``type`` is its
        older name), else as the object says (:meth:`record_choice`;
        the reader's ``record`` attribute tells which rule applied), or
        left bytes with ``raw``.  Iterate it, or pass ``callback`` and
        ``poll()``."""
        from .ringbuf import RingBuffer

        m = self._map(name, ("ringbuf",))
        rb = RingBuffer(m, callback=callback, record=self._choice(name, record, type, raw))
        self.readers.append(rb)
        return rb

    def perfbuf(self, name: str, callback: Callable[[Any], Any] | None = None, *,
                record: Any = None, raw: bool = False, type: Any = None,
                lost: Callable[[int, int], Any] | None = None, pages: int = 8) -> Any:
        """A :class:`~pybpf.kernel.perfbuf.PerfBuffer` on perf event array
        ``name`` (one ring per CPU, ``pages`` pages each), records decoded
        as for :meth:`ringbuf`; ``lost(cpu, count)`` hears of samples the
        kernel dropped."""
        from .perfbuf import PerfBuffer

        m = self._map(name, ("perf_event_array",))
        pb = PerfBuffer(m, callback=callback, record=self._choice(name, record, type, raw),
                        lost=lost, pages=pages)
        self.readers.append(pb)
        return pb

    def trace_pipe(self, callback: Callable[[Any], Any] | None = None) -> Any:
        """A :class:`~pybpf.kernel.tracepipe.TracePipe`: ``bpf_printk`` output."""
        from .tracepipe import TracePipe

        tp = TracePipe(callback=callback)
        self.readers.append(tp)
        return tp

    def close_readers(self) -> None:
        """Close every reader opened through this collection."""
        readers, self.readers = self.readers, []
        for r in reversed(readers):
            r.close()
