"""Sampling perf events: a ``perf_event`` program run on a timer or a
hardware counter, on every CPU or for one process::

    with perf_event(prog, frequency=99):             # cpu_clock on every CPU
        ...
    group = perf_event(prog, event="cpu_cycles", event_type="hardware", period=100000)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...errors import AttachError
from .. import perf as _perf
from ._base import AttachmentGroup, AttachRequest
from ._perf_link import attach_perf_event_fd

__all__ = ["perf_event"]


def perf_event(program: Any, *, frequency: int | None = None, period: int | None = None,
               event: str = "cpu_clock", event_type: str = "software",
               cpus: Iterable[int] | None = None, pid: int = -1) -> AttachmentGroup:
    """Attach a ``perf_event`` program to a sampling event on every CPU
    (or ``cpus``): ``frequency`` samples per second (default 49) or every
    ``period`` events.  ``event`` is a ``PERF_COUNT_SW_*`` name (``cpu_clock``,
    ``task_clock``...) or, with ``event_type="hardware"``, a
    ``PERF_COUNT_HW_*`` name; ``pid`` follows one process."""
    if frequency is None and period is None:
        frequency = 49
    if event_type == "software":
        config = _perf.sw_event(event)
    elif event_type == "hardware":
        config = _perf.enum("perf_hw_id", "PERF_COUNT_HW_")[event]
    else:
        raise AttachError(f"event_type must be 'software' or 'hardware', not {event_type!r}")
    cpu_list = list(cpus) if cpus is not None else list(_perf.online_cpus())
    if pid != -1:
        cpu_list = [-1]
    rate = f"{frequency} Hz" if frequency else f"every {period}"
    parts: list[Any] = []
    try:
        for cpu in cpu_list:
            fields = dict(type=_perf.perf_type(event_type), config=config, disabled=1)
            if frequency:
                fields.update(freq=1, sample_freq=frequency)
            else:
                fields.update(sample_period=period)
            where = f"{event} {rate} on cpu {cpu}" if cpu >= 0 else f"{event} {rate} pid {pid}"
            ev = _perf.PerfEvent(_perf.perf_event_open(_perf.attr(**fields), pid, cpu,
                                                       what=where), where)
            parts.append(attach_perf_event_fd(program, ev, target=where))
    except BaseException:
        for p in parts:
            p.close()
        raise
    return AttachmentGroup(parts, program=program, target=f"{event} {rate} on "
                           f"{len(cpu_list)} cpus" if pid == -1 else f"{event} pid {pid}")


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "perf_event": lambda r: perf_event(r.program, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
