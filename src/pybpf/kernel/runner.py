"""Running a loaded collection until it is stopped: attach its programs,
read what they send to user space, stop cleanly, close what was opened.

What ``pybpf load`` and the tracing tools do, as a library function::

    from pybpf import kernel

    with kernel.load(spec) as coll:
        result = kernel.run(coll, on_record=lambda name, rec: print(name, rec),
                            on_printk=print, duration=10)
    result.failed                   # programs that could not be attached

:func:`run` stops on Ctrl-C, SIGTERM or after ``duration`` seconds.  Its
parts are usable alone: :func:`attach_all` (every program where its section
says, with the options that apply to each), :func:`open_readers` (a reader
per ring buffer and perf buffer, and the trace pipe when the programs
``bpf_printk``), :func:`poll` (the loop) and :func:`stoppable` (SIGTERM
ends a block as Ctrl-C does).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..errors import BPFError
from ..isa.opcodes import BPF_CALL, BPF_JMP, PSEUDO_CALL_HELPER
from .attach import applicable_options
from .readers import Poller

__all__ = ["RunResult", "Stop", "attach_all", "open_readers", "poll", "run", "stoppable",
           "uses_printk"]

_HELPER_CALL = BPF_JMP | BPF_CALL
_PRINTK_HELPERS = ("trace_printk", "trace_vprintk")


class Stop(BaseException):
    """Raised by the SIGTERM handler :func:`stoppable` installs (a
    BaseException, like KeyboardInterrupt: nothing should mistake it for an
    error to handle)."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise Stop


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Stop` as Ctrl-C raises
    KeyboardInterrupt, and either ends the block quietly (``with`` blocks
    inside it close what they hold on the way out).  Outside the main
    thread signals cannot be caught: only Ctrl-C's exception is handled."""
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        yield
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


class RunResult:
    """What :func:`run` did: the attachments it made by program name
    (``attached``), the programs whose attachment failed, with the error
    (``failed``), the records its readers handled (``records``), and
    whether Ctrl-C or SIGTERM ended it (``interrupted``)."""

    def __init__(self) -> None:
        self.attached: dict[str, Any] = {}
        self.failed: dict[str, BPFError] = {}
        self.records = 0
        self.interrupted = False

    def __repr__(self) -> str:
        return (f"<RunResult attached={list(self.attached)} failed={list(self.failed)} "
                f"records={self.records}{' interrupted' if self.interrupted else ''}>")


def attach_all(coll: Any, options: Mapping[str, Any] | None = None, *,
               optional: Iterable[str] = (),
               on_attach: Callable[[str, Any], Any] | None = None,
               on_error: Callable[[str, BPFError], Any] | None = None
               ) -> tuple[dict[str, Any], dict[str, BPFError]]:
    """Attach every program of ``coll`` where its section says, giving each
    the part of ``options`` its hook takes (an ``interface`` goes to XDP and
    tc programs, a ``cgroup`` to cgroup programs...).  Returns
    ``(attachments, failures)`` by program name.

    A program named in ``optional`` may fail (a tracepoint this kernel
    lacks); so may any program when ``on_error(name, error)`` is given, which
    hears of each failure.  Otherwise the first failure is raised.
    ``on_attach(name, attachment)`` hears of each success.
    """
    optional = set(optional)
    attached: dict[str, Any] = {}
    failed: dict[str, BPFError] = {}
    for name, prog in coll.programs.items():
        try:
            attachment = prog.attach(**applicable_options(prog, dict(options or {})))
        except BPFError as e:
            if name not in optional and on_error is None:
                raise
            failed[name] = e
            if on_error is not None:
                on_error(name, e)
            continue
        attached[name] = attachment
        if on_attach is not None:
            on_attach(name, attachment)
    return attached, failed


def uses_printk(coll: Any) -> bool:
    """Whether a program of ``coll`` calls ``bpf_trace_printk`` or
    ``bpf_trace_vprintk`` (as far as its spec tells: False without one)."""
    spec = getattr(coll, "spec", None)
    if spec is None:
        return False
    from ..spec.layout import helper_id

    ids = {helper_id(h) for h in _PRINTK_HELPERS}
    return any(i.opcode == _HELPER_CALL and i.src == PSEUDO_CALL_HELPER and i.imm in ids
               for ps in spec.programs.values() for i in ps.instructions)


def open_readers(coll: Any, on_record: Callable[[str, Any], Any] | None = None, *,
                 on_lost: Callable[[str, int, int], Any] | None = None,
                 on_printk: Callable[[Any], Any] | None = None) -> list[Any]:
    """With ``on_record(map_name, record)``, a reader on every ring buffer
    and perf buffer map of ``coll`` (``on_lost(map_name, cpu, count)``
    hears of samples a perf buffer dropped); with ``on_printk(line)``, the
    trace pipe when the programs call ``bpf_printk``.  The readers belong to
    the collection (closed with it)."""
    readers: list[Any] = []
    if on_record is not None:
        for name, m in coll.maps.items():
            if m.type == "ringbuf":
                readers.append(coll.ringbuf(name, lambda r, n=name: on_record(n, r)))
            elif m.type == "perf_event_array":
                lost = (lambda cpu, count, n=name: on_lost(n, cpu, count)) if on_lost \
                    else None
                readers.append(coll.perfbuf(name, lambda r, n=name: on_record(n, r),
                                            lost=lost))
    if on_printk is not None and uses_printk(coll):
        readers.append(coll.trace_pipe(on_printk))
    return readers


def poll(readers: Iterable[Any], *, duration: float | None = None,
         every: float | None = None, tick: Callable[[], Any] | None = None,
         until: Callable[[], bool] | None = None) -> int:
    """Poll ``readers`` (running their callbacks) until ``duration`` seconds
    have passed or ``until()`` is true (asked at least every 0.1 s), or
    forever; call ``tick()`` every ``every`` seconds and once at the end.
    Returns the records handled.  Ctrl-C and :class:`Stop` propagate (after
    the last ``tick``)."""
    start = time.monotonic()
    next_tick = start + every if every else None
    total = 0
    try:
        with Poller(readers) as poller:
            while True:
                now = time.monotonic()
                if duration is not None and now - start >= duration:
                    break
                if until is not None and until():
                    break
                limits = [1.0 if until is None else 0.1]
                if duration is not None:
                    limits.append(start + duration - now)
                if next_tick is not None:
                    limits.append(next_tick - now)
                total += poller.poll(max(0.0, min(limits)))
                if next_tick is not None and time.monotonic() >= next_tick:
                    if tick is not None:
                        tick()
                    next_tick += every  # type: ignore[operator]
    finally:
        if tick is not None:
            tick()
    return total


def run(coll: Any, *, attach: bool = True, options: Mapping[str, Any] | None = None,
        optional: Iterable[str] = (), readers: Iterable[Any] = (),
        on_record: Callable[[str, Any], Any] | None = None,
        on_lost: Callable[[str, int, int], Any] | None = None,
        on_printk: Callable[[Any], Any] | None = None,
        on_attach: Callable[[str, Any], Any] | None = None,
        on_attach_error: Callable[[str, BPFError], Any] | None = None,
        on_ready: Callable[[], Any] | None = None, duration: float | None = None,
        every: float | None = None, tick: Callable[[], Any] | None = None,
        until: Callable[[], bool] | None = None) -> RunResult:
    """Run ``coll`` until Ctrl-C, SIGTERM, ``duration`` seconds or ``until()``.

    1. With ``attach``, :func:`attach_all` (``options``, ``optional``,
       ``on_attach``, ``on_attach_error``: with it, failures are reported
       and the others run; without it, a failure not ``optional`` is raised).
    2. :func:`open_readers` for ``on_record``/``on_lost``/``on_printk``,
       besides ``readers`` opened by the caller (``coll.ringbuf(...)``).
    3. ``on_ready()``, then :func:`poll` them all (``every``/``tick``).
    4. Close the readers opened and detach what was attached here, whatever
       ended the run (the collection itself stays the caller's).
    """
    result = RunResult()
    opened: list[Any] = []
    try:
        with stoppable():
            try:
                if attach:
                    result.attached, result.failed = attach_all(
                        coll, options, optional=optional, on_attach=on_attach,
                        on_error=on_attach_error)
                opened = open_readers(coll, on_record, on_lost=on_lost, on_printk=on_printk)
                if on_ready is not None:
                    on_ready()
                result.records = poll([*readers, *opened], duration=duration, every=every,
                                      tick=tick, until=until)
            except (KeyboardInterrupt, Stop):
                result.interrupted = True
                raise
    finally:
        for reader in reversed(opened):
            reader.close()
        for attachment in reversed(list(result.attached.values())):
            attachment.close()
    return result
