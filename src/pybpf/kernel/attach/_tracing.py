"""Tracing hooks: tracepoints, raw tracepoints, and the BTF-typed programs
(``tp_btf``, ``fentry``, ``fexit``, ``fmod_ret``, ``lsm``) that attach to
the target they were loaded for::

    with tracepoint(prog, "sched/sched_process_exit"):
        ...
    link = raw_tracepoint(prog, "sched_switch")
    link = tracing(prog)          # fentry/fexit/...: where it was loaded for
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Callable
from typing import Any

from ...errors import AttachError, KernelError
from .. import perf as _perf
from ..links import KernelLink, raw_tracepoint_open
from ._base import AttachRequest, program_label
from ._perf_link import PerfEventLink, attach_perf_event_fd

__all__ = ["raw_tracepoint", "split_tracepoint", "tracepoint", "tracing"]


def split_tracepoint(name: str) -> tuple[str, str]:
    """``category/event`` (or ``category:event``) -> ``(category, event)``."""
    category, sep, event = name.replace(":", "/").partition("/")
    if not sep or not category or not event or "/" in event:
        raise AttachError(f"tracepoint {name!r} is not 'category/event' "
                       f"(for example 'sched/sched_process_exit')")
    return category, event


def tracepoint(program: Any, name: str, *, cookie: int = 0) -> PerfEventLink:
    """Attach a ``tracepoint`` program to ``category/event`` (one perf event
    for all CPUs, as BPF tracepoint programs run on every CPU)."""
    category, event = split_tracepoint(name)
    tp = _perf.tracepoint_id(category, event)
    target = f"tracepoint {category}/{event}"
    ev = _perf.PerfEvent(_perf.perf_event_open(
        _perf.attr(type=_perf.perf_type("tracepoint"), config=tp, sample_period=1,
                   wakeup_events=1, disabled=1), -1, 0, what=target), target)
    return attach_perf_event_fd(program, ev, target=target, cookie=cookie)


def raw_tracepoint(program: Any, name: str, *, cookie: int = 0) -> KernelLink:
    """Attach a ``raw_tracepoint`` program to raw tracepoint ``name``
    (``sched_switch``; a ``category/`` prefix is dropped)."""
    name = name.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return raw_tracepoint_open(program, name, cookie=cookie)


_TRAMPOLINE_ATTACH = {"trace_fentry": "fentry", "trace_fexit": "fexit",
                      "modify_return": "fmod_ret", "lsm_mac": "lsm", "lsm_cgroup": "lsm_cgroup"}


def tracing(program: Any, *, cookie: int = 0) -> KernelLink:
    """Attach a BTF-typed program (``tp_btf``, ``fentry``, ``fexit``,
    ``fmod_ret``, ``lsm``) to the target it was loaded for."""
    try:
        return raw_tracepoint_open(program, None, cookie=cookie)
    except KernelError as e:
        kind = _TRAMPOLINE_ATTACH.get(str(getattr(program, "expected_attach_type", "")))
        if e.errno == _errno.EPERM and kind:
            from ..features import trampoline_refusal  # only when refused: probes lockdown

            raise KernelError(f"attach {program_label(program)} ({kind}): {e.reason}: "
                              f"{trampoline_refusal()}", errno=e.errno,
                              operation=e.operation) from e
        raise


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "tracepoint": lambda r: tracepoint(r.program, r.target, **r.options),
    "raw_tracepoint": lambda r: raw_tracepoint(r.program, r.target, **r.options),
    "tracing": lambda r: tracing(r.program, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
