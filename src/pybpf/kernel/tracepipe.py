"""``bpf_printk`` output: the kernel trace pipe.

``bpf_trace_printk`` writes lines into the tracing ring buffer; reading
``trace_pipe`` in tracefs consumes them (the pipe is shared by the whole
system — whoever reads a line takes it).  Each line looks like::

    python3-1234    [001] d..31  4567.891234: bpf_trace_printk: hello 42

:func:`parse_line` splits it into a :class:`TraceLine`; :class:`TracePipe`
reads the pipe without blocking the process::

    with TracePipe() as tp:
        for line in tp:                 # blocks; Ctrl-C or break to stop
            print(line.pid, line.message)
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import re
import select
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from . import perf as _perf
from ._fd import Closing


class TraceLine(NamedTuple):
    """One line of the trace pipe: the task that wrote it (``comm``,
    ``pid``), the CPU, the timestamp in seconds (of the trace clock,
    normally since boot), the event name (``bpf_trace_printk``), the
    message, and the irq/preempt ``flags`` column."""

    comm: str
    pid: int
    cpu: int
    timestamp: float
    event: str
    message: str
    flags: str = ""


_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+"
    r"(?:\(\s*(?P<tgid>[\d-]+)\)\s+)?"
    r"\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[^\s\[\]]{4,6})\s+)?"
    r"(?P<ts>\d+\.\d+):\s+"
    r"(?P<event>[\w.:-]+?):\s?(?P<message>.*)$")


def parse_line(line: str) -> TraceLine | None:
    """A :class:`TraceLine`, or None for lines of another shape (the
    ``CPU:N [LOST M EVENTS]`` notes, comments)."""
    m = _LINE.match(line.rstrip("\n"))
    if m is None:
        return None
    return TraceLine(m["comm"], int(m["pid"]), int(m["cpu"]), float(m["ts"]), m["event"],
                     m["message"], m["flags"] or "")


class TracePipe(Closing):
    """A non-blocking reader of tracefs ``trace_pipe`` (mounting tracefs if
    needed).  ``callback(line)`` gets each :class:`TraceLine` that
    :meth:`poll`/:meth:`consume` read; with ``events`` only lines of those
    events (default: ``bpf_trace_printk``; None keeps every line)."""

    def __init__(self, callback: Callable[[TraceLine], Any] | None = None, *,
                 events: tuple[str, ...] | None = ("bpf_trace_printk",)):
        self.callback = callback
        self.events = events
        self.path = os.path.join(_perf.tracefs(), "trace_pipe")
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        self._partial = b""
        self._closed = False
        try:
            self._epoll = select.epoll()
            self._epoll.register(self._fd, select.EPOLLIN)
        except BaseException:
            os.close(self._fd)
            raise

    def read_lines(self) -> list[TraceLine]:
        """Every complete line waiting now (non-blocking)."""
        chunks = []
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno in (_errno.EAGAIN, _errno.EINTR):
                    break
                raise
            if not data:
                break
            chunks.append(data)
        if not chunks:
            return []
        text = self._partial + b"".join(chunks)
        *complete, self._partial = text.split(b"\n")
        out = []
        for raw in complete:
            parsed = parse_line(raw.decode("utf-8", "replace"))
            if parsed is not None and (self.events is None or parsed.event in self.events):
                out.append(parsed)
        return out

    def consume(self) -> int:
        """Hand every waiting line to the callback; returns how many."""
        lines = self.read_lines()
        if self.callback is not None:
            for line in lines:
                self.callback(line)
        return len(lines)

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds for lines, then :meth:`consume`."""
        n = self.consume()
        if n:
            return n
        with contextlib.suppress(InterruptedError):
            if self._epoll.poll(-1 if timeout is None else timeout):
                return self.consume()
        return 0

    def __iter__(self) -> Iterator[TraceLine]:
        """Lines as they come, forever."""
        while not self._closed:
            lines = self.read_lines()
            if lines:
                yield from lines
            else:
                with contextlib.suppress(InterruptedError):
                    self._epoll.poll(1.0)

    def lines(self, timeout: float) -> Iterator[TraceLine]:
        """Lines until none comes for ``timeout`` seconds."""
        while not self._closed:
            lines = self.read_lines()
            if not lines:
                with contextlib.suppress(InterruptedError):
                    self._epoll.poll(timeout)
                lines = self.read_lines()
                if not lines:
                    return
            yield from lines

    def fileno(self) -> int:
        """A pollable fd readable when lines wait."""
        return self._epoll.fileno()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def close(self) -> None:
        """Close the pipe."""
        if not self._closed:
            self._closed = True
            self._epoll.close()
            os.close(self._fd)

