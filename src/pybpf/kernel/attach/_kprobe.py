"""kprobes: programs on kernel functions (and their returns), one at a time
through a perf event or many with one ``kprobe.multi`` link::

    link = kprobe(prog, "do_sys_openat2")
    link = kprobe(prog, syscall_function("openat"), retprobe=True)
    link = kprobe_multi(prog, "tcp_*")

:func:`no_kprobes_reason` says why a kernel has none (``CONFIG_KPROBES``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import os
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import AttachError, KernelError
from ...spec.perf import KPROBE_EVENTS, PMU_DIR
from .. import kallsyms
from .. import perf as _perf
from .._abi import constant
from ..links import KernelLink, link_create
from ._base import AttachRequest, program_label
from ._perf_link import PerfEventLink, attach_perf_event_fd, create_probe, probe_name

__all__ = ["kprobe", "kprobe_multi", "no_kprobes_reason", "syscall_function"]


def no_kprobes_reason() -> str | None:
    """Why kprobes cannot be used here (None when they can)."""
    if _perf.pmu_type("kprobe") is not None:
        return None
    legacy = False
    with contextlib.suppress(KernelError):
        legacy = os.path.exists(os.path.join(_perf.tracefs(), KPROBE_EVENTS))
    if legacy:
        return None
    return (f"this kernel has no kprobe support (CONFIG_KPROBES is off): "
            f"{PMU_DIR}/kprobe is missing and tracefs has no {KPROBE_EVENTS}")


_SYSCALL_PREFIXES = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "arm64": "__arm64_sys_",
                     "s390x": "__s390x_sys_", "riscv64": "__riscv_sys_",
                     "loongarch64": "sys_", "ppc64le": "sys_", "ppc64": "sys_"}


def syscall_function(name: str) -> str:
    """The kernel function behind system call ``name`` (``__x64_sys_openat``
    on x86-64; ``sys_openat`` without syscall wrappers)."""
    prefix = _SYSCALL_PREFIXES.get(os.uname().machine, "sys_")
    return prefix + name


def kprobe(program: Any, function: str, *, offset: int = 0, retprobe: bool = False,
           cookie: int = 0) -> PerfEventLink:
    """Attach a ``kprobe`` program to kernel function ``function`` (at
    ``offset``), or to its return with ``retprobe``: through the kprobe PMU,
    or a tracefs ``kprobe_events`` probe on older kernels."""
    kind = "kretprobe" if retprobe else "kprobe"
    target = f"{kind} {function}" + (f"+{offset:#x}" if offset else "")
    reason = no_kprobes_reason()
    if reason:
        raise KernelError(f"attach {program_label(program)} to {target}: {reason}",
                          errno=_errno.EOPNOTSUPP, operation=f"attach {kind}")
    pmu = _perf.pmu_type("kprobe")
    if pmu is None:
        tp, remove = create_probe("kprobe", f"{function}+{offset}",
                                  probe_name(kind, function), retprobe)
        ev = _perf.open_tracepoint(tp, what=target)
        return attach_perf_event_fd(program, ev, target=target, cookie=cookie, cleanup=remove)
    config = 0
    if retprobe:
        bit = _perf.pmu_config_bit("kprobe", "retprobe")
        config |= 1 << (bit if bit is not None else 0)
    name = ctypes.create_string_buffer(function.encode())
    a = _perf.attr(type=pmu, config=config, kprobe_func=ctypes.addressof(name),
                   probe_offset=offset, sample_period=1, wakeup_events=1, disabled=1)
    ev = _perf.PerfEvent(_perf.perf_event_open(a, -1, 0, what=target), target)
    return attach_perf_event_fd(program, ev, target=target, cookie=cookie)


def kprobe_multi(program: Any, symbols: Sequence[str] | str, *, retprobe: bool = False,
                 cookies: Sequence[int] | None = None) -> KernelLink:
    """Attach a ``kprobe`` program (loaded with expected attach type
    ``trace_kprobe_multi``) to many kernel functions with one link (Linux
    5.18+).  ``symbols`` is a list of names or a glob matched against
    ``/proc/kallsyms``."""
    reason = no_kprobes_reason()
    if reason:
        raise KernelError(f"attach {program_label(program)} to kprobe.multi: {reason}",
                          errno=_errno.EOPNOTSUPP, operation="attach kprobe.multi")
    names = kallsyms.functions_matching(symbols) if isinstance(symbols, str) else list(symbols)
    if not names:
        raise AttachError(f"kprobe.multi {symbols!r} matches no kernel function")
    bufs = [ctypes.create_string_buffer(n.encode()) for n in names]
    ptrs = (ctypes.c_uint64 * len(bufs))(*[ctypes.addressof(b) for b in bufs])
    extra: dict[str, Any] = {"kprobe_multi.syms": ctypes.addressof(ptrs),
                             "kprobe_multi.cnt": len(names),
                             "kprobe_multi.flags": constant("BPF_F_KPROBE_MULTI_RETURN")
                             if retprobe else 0}
    keep: list[Any] = [bufs, ptrs]  # the kernel reads these during the call
    if cookies:
        arr = (ctypes.c_uint64 * len(cookies))(*cookies)
        keep.append(arr)
        extra["kprobe_multi.cookies"] = ctypes.addressof(arr)
    return link_create(program, 0, "trace_kprobe_multi",
                       target=f"kprobe.multi {len(names)} functions", **extra)


def _kprobe_from(r: AttachRequest) -> PerfEventLink:
    func, _, off = r.target.partition("+")
    return kprobe(r.program, func, offset=int(off, 0) if off else 0, retprobe=r.retprobe(),
                  **r.options)


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "kprobe": _kprobe_from,
    "ksyscall": lambda r: kprobe(r.program, syscall_function(r.target),
                                 retprobe=r.retprobe(), **r.options),
    "kprobe_multi": lambda r: kprobe_multi(r.program, r.target, retprobe=r.retprobe(),
                                           **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
