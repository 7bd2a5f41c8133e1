"""Programs on perf events: the mechanism under tracepoints, kprobes,
uprobes and sampling events.

:func:`attach_perf_event_fd` attaches a program to an open perf event (a
BPF link of type ``perf_event`` where the kernel has one, else
``PERF_EVENT_IOC_SET_BPF``); :func:`create_probe` makes a kprobe or uprobe
through tracefs on kernels without the probe PMUs.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
from collections.abc import Callable
from typing import Any

from ...errors import BPFError, KernelError
from ...spec.perf import KPROBE_EVENTS, UPROBE_EVENTS
from .. import perf as _perf
from .. import sys as _sys
from ..links import KernelLink, link_create
from ._base import Attachment, program_label

__all__ = ["PerfEventLink", "attach_perf_event_fd", "create_probe", "probe_name"]


class PerfEventLink(Attachment):
    """A program attached to a perf event (tracepoint, kprobe, uprobe,
    sampling event): through a BPF link (``link``, Linux 5.15+) or with
    ``PERF_EVENT_IOC_SET_BPF``.  Closing closes both fds and removes any
    tracefs probe created for it (``cleanup``)."""

    kind = "perf_event"

    def __init__(self, event: _perf.PerfEvent, *, program: Any, target: str,
                 link: KernelLink | None = None, cleanup: Callable[[], None] | None = None):
        super().__init__(program=program, target=target)
        self.event = event
        self.link = link
        self._cleanup = cleanup

    def detach(self) -> None:
        """Stop the program running.  The kernel detaches a program from a
        perf event only when the event goes (disabling it does not stop
        tracepoint or probe programs), so this is :meth:`close`."""
        self.close()

    def info(self) -> Any:
        """The kernel's view of the BPF link (only when attached through one)."""
        if self.link is None:
            raise BPFError(f"{self.target}: attached with PERF_EVENT_IOC_SET_BPF, not a link")
        return self.link.info()

    @property
    def id(self) -> int:
        """The BPF link's id (only when attached through one)."""
        return self.info().id

    def pin(self, path: str) -> None:
        """Pin the BPF link (only when attached through one): the program
        stays attached after this process ends, until the pin is removed."""
        if self.link is None:
            super().pin(path)
            return
        self.link.pin(path)

    def _release(self) -> None:
        if self.link is not None:
            self.link.close()
        self.event.close()
        if self._cleanup is not None:
            self._cleanup()


_perf_links: bool | None = None
"""Whether BPF_LINK_CREATE accepts perf events (Linux 5.15+), once known."""


def attach_perf_event_fd(program: Any, event: _perf.PerfEvent, *, target: str,
                         cookie: int = 0, cleanup: Callable[[], None] | None = None,
                         use_link: bool | None = None) -> PerfEventLink:
    """Attach ``program`` to an open perf event: a BPF link of type
    ``perf_event`` where the kernel has one (with the BPF cookie), else
    ``PERF_EVENT_IOC_SET_BPF``; the event is then enabled.  On failure the
    event is closed (and ``cleanup`` run)."""
    global _perf_links
    link = None
    try:
        want_link = _perf_links is not False if use_link is None else use_link
        if want_link:
            try:
                link = link_create(program, event.fd, "perf_event", target=target,
                                   **{"perf_event.bpf_cookie": cookie})
                _perf_links = True
            except KernelError as e:
                if e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP) or \
                        use_link or _perf_links:
                    raise _explain_perf_attach(e, program, target) from e
                _perf_links = False
        if link is None:
            if cookie:
                raise BPFError(f"{program_label(program)}: BPF cookies need perf links "
                               f"(Linux 5.15+)")
            try:
                event.set_bpf(program.fd if hasattr(program, "fd") else int(program))
            except KernelError as e:
                raise _explain_perf_attach(e, program, target) from e
        event.enable()
    except BaseException:
        if link is not None:
            link.close()
        event.close()
        if cleanup is not None:
            cleanup()
        raise
    return PerfEventLink(event, program=program, target=target, link=link, cleanup=cleanup)


def _explain_perf_attach(e: KernelError, program: Any, target: str) -> KernelError:
    ptype = getattr(program, "type", "")
    if e.errno == _errno.EINVAL:
        return KernelError(f"attach {program_label(program)} ({ptype}) to {target}: "
                           f"{e.reason}: the program type does not fit this event (a "
                           f"tracepoint needs a 'tracepoint' program, a probe a 'kprobe' one, "
                           f"a sampling event a 'perf_event' one)", errno=e.errno,
                           operation=e.operation)
    if e.errno == _errno.EEXIST:
        return KernelError(f"attach {program_label(program)} to {target}: a program is "
                           f"attached to this event already", errno=e.errno,
                           operation=e.operation)
    return e


_probe_count = 0


def probe_name(prefix: str, what: str) -> str:
    """A tracefs event name no other probe of this process uses:
    ``prefix_PID_N_what`` (``what`` cleaned to letters, digits and ``_``)."""
    global _probe_count
    _probe_count += 1
    clean = "".join(c if c.isalnum() else "_" for c in what)[:40]
    return f"{prefix}_{os.getpid()}_{_probe_count}_{clean}"


def create_probe(kind: str, definition: str, name: str, retprobe: bool
                 ) -> tuple[int, Callable[[], None]]:
    """Create a ``kprobe`` or ``uprobe`` by writing ``definition`` to tracefs
    ``kprobe_events`` / ``uprobe_events`` (kernels without the probe PMUs):
    its tracepoint id and a function removing it."""
    base = _perf.tracefs()
    events = os.path.join(base, KPROBE_EVENTS if kind == "kprobe" else UPROBE_EVENTS)
    group = "pybpf"
    line = f"{'r' if retprobe else 'p'}:{group}/{name} {definition}\n"
    try:
        with open(events, "a") as f:
            f.write(line)
    except OSError as e:
        raise KernelError(f"cannot create {kind} {definition!r} through {events}: "
                          f"{e.strerror}", errno=e.errno, operation=f"attach {kind}") from None

    def remove() -> None:
        with contextlib.suppress(OSError), open(events, "a") as f:
            f.write(f"-:{group}/{name}\n")
    try:
        return _perf.tracepoint_id(group, name), remove
    except BaseException:
        remove()
        raise
