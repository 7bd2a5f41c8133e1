"""perf events: ``perf_event_open(2)``, their ioctls, tracefs and PMUs.

The tracing hooks without a BPF link type of their own — tracepoints,
kprobes, uprobes, sampling events — attach a program to a perf event, and
the perf buffer reads one.  This module opens them::

    from pybpf.kernel import perf

    tp = perf.tracepoint_id("sched", "sched_process_exit")    # from tracefs
    ev = perf.open_tracepoint(tp, cpu=0)                      # a PerfEvent
    ev.set_bpf(prog.fd); ev.enable()
    ev.close()

tracefs is mounted at ``/sys/kernel/tracing`` when no mount exists
(:func:`tracefs`).  Numbers (ioctls, syscall numbers, paths) come from
:mod:`pybpf.spec.perf`; the ``perf_event_attr`` layout and perf enums from
the generated tables.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import os
from typing import Any

from ..errors import KernelError
from ..spec import perf as _P
from ._abi import INFO
from ._fd import FD, FDOwner
from ._layout import Record

_libc: Any = None


def libc() -> Any:
    """The C library, with errno kept (``ctypes.get_errno``)."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        lib.ioctl.restype = ctypes.c_int
        lib.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
        lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                              ctypes.c_ulong, ctypes.c_void_p]
        _libc = lib
    return _libc


def enum(name: str, prefix: str) -> dict[str, int]:
    """Enum ``name`` of the generated tables, ``prefix`` dropped, lower case
    (``enum("perf_type_id", "PERF_TYPE_")["tracepoint"]``)."""
    return _enum(name, prefix)


@functools.cache
def _enum(name: str, prefix: str) -> dict[str, int]:
    from ..spec.layout import enum_values

    n = len(prefix)
    return {k[n:].lower(): v for k, v in enum_values(name).items() if k.startswith(prefix)}


def perf_type(name: str) -> int:
    """``PERF_TYPE_<NAME>`` (``"software"``, ``"tracepoint"``...)."""
    return _enum("perf_type_id", "PERF_TYPE_")[name]


def sw_event(name: str) -> int:
    """``PERF_COUNT_SW_<NAME>`` (``"cpu_clock"``, ``"bpf_output"``...)."""
    return _enum("perf_sw_ids", "PERF_COUNT_SW_")[name]


def sample_flag(name: str) -> int:
    """``PERF_SAMPLE_<NAME>`` (``"raw"``...)."""
    return _enum("perf_event_sample_format", "PERF_SAMPLE_")[name]


def record_type(name: str) -> int:
    """``PERF_RECORD_<NAME>`` (``"sample"``, ``"lost"``...)."""
    return _enum("perf_event_type", "PERF_RECORD_")[name]


def attr(**fields: Any) -> Record:
    """A ``struct perf_event_attr`` with ``size`` set and ``fields``."""
    layout = INFO["perf_event_attr"]
    return layout.new(size=layout.size, **fields)


_HINTS = {
    _errno.ENOENT: "no such event or PMU on this kernel",
    _errno.ENODEV: "the PMU does not support this kind of event",
    _errno.EACCES: "perf events need CAP_PERFMON or root (see "
                   "/proc/sys/kernel/perf_event_paranoid)",
    _errno.EPERM: "perf events need CAP_PERFMON or root (see "
                  "/proc/sys/kernel/perf_event_paranoid)",
    _errno.EMFILE: "too many open files",
    _errno.E2BIG: "the kernel does not know this perf_event_attr size",
    _errno.EOPNOTSUPP: "the event or PMU does not support this setting",
}


def perf_event_open(attr: Record, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    flags: int = _P.PERF_FLAG_FD_CLOEXEC, what: str = "") -> FD:
    """``perf_event_open(2)``: a new event fd.  ``pid`` -1 with ``cpu`` N
    counts everything on CPU N; ``pid`` P with ``cpu`` -1 follows one
    process on every CPU."""
    nr = _P.PERF_EVENT_OPEN_NR.get(os.uname().machine)
    if nr is None:
        raise KernelError(f"perf_event_open: no system call number known for "
                          f"{os.uname().machine}", errno=_errno.ENOSYS,
                          operation="perf_event_open")
    lib = libc()
    while True:
        ret = lib.syscall(ctypes.c_long(nr), ctypes.c_void_p(attr.address), ctypes.c_int(pid),
                          ctypes.c_int(cpu), ctypes.c_int(group_fd), ctypes.c_ulong(flags))
        if ret >= 0:
            return FD(ret)
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            break
    hint = _HINTS.get(err, "")
    label = f" {what}" if what else ""
    raise KernelError(f"perf_event_open{label}: {os.strerror(err)} "
                      f"({_errno.errorcode.get(err, err)})" + (f": {hint}" if hint else ""),
                      errno=err, operation="perf_event_open")


def ioctl(fd: int, request: int, arg: int = 0, what: str = "") -> int:
    """``ioctl(fd, request, arg)``; raises :class:`KernelError` on failure."""
    ret = libc().ioctl(fd, request, ctypes.c_void_p(arg))
    if ret < 0:
        err = ctypes.get_errno()
        raise KernelError(f"ioctl {request:#x}{' on ' + what if what else ''}: "
                          f"{os.strerror(err)} ({_errno.errorcode.get(err, err)})",
                          errno=err, operation="ioctl")
    return ret


class PerfEvent(FDOwner):
    """A perf event, owned through its fd.  ``what`` describes it."""

    def __init__(self, fd: FD, what: str = ""):
        self._fd = fd
        self.what = what

    def enable(self) -> None:
        """``PERF_EVENT_IOC_ENABLE``."""
        ioctl(self.fd, _P.PERF_EVENT_IOC_ENABLE, 0, self.what)

    def disable(self) -> None:
        """``PERF_EVENT_IOC_DISABLE``."""
        ioctl(self.fd, _P.PERF_EVENT_IOC_DISABLE, 0, self.what)

    def set_bpf(self, prog_fd: int) -> None:
        """``PERF_EVENT_IOC_SET_BPF``: run program ``prog_fd`` on each event
        (the attachment lasts as long as the event fd)."""
        ioctl(self.fd, _P.PERF_EVENT_IOC_SET_BPF, prog_fd, self.what)

    def __repr__(self) -> str:
        return f"<PerfEvent {self.what or '?'} {self._state()}>"


# --- tracefs ---------------------------------------------------------------------

def _fs_type(path: str) -> int | None:
    from .bpffs import fs_type

    return fs_type(path)


def _mount(source: str, target: str, fstype: str) -> int:
    os.makedirs(target, exist_ok=True)
    if libc().mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        return ctypes.get_errno()
    return 0


@functools.cache
def tracefs() -> str:
    """The tracefs directory, mounting tracefs at ``/sys/kernel/tracing``
    (or debugfs at ``/sys/kernel/debug``) when neither is mounted."""
    own, via_debugfs = _P.TRACEFS_MOUNTS
    for path in (own, via_debugfs):
        if _fs_type(path) == _P.TRACEFS_MAGIC or os.path.exists(os.path.join(path, "events")):
            return path
    err = _mount("tracefs", own, "tracefs")
    if not err:
        return own
    if _fs_type(_P.DEBUGFS_MOUNT) != _P.DEBUGFS_MAGIC:
        _mount("debugfs", _P.DEBUGFS_MOUNT, "debugfs")
    if os.path.exists(os.path.join(via_debugfs, "events")):
        return via_debugfs
    hint = "mounting needs root (CAP_SYS_ADMIN)" if err == _errno.EPERM else \
        "this kernel may lack CONFIG_TRACING"
    raise KernelError(f"tracefs is not mounted and mounting it at {own} failed: "
                      f"{os.strerror(err)}: {hint}", errno=err, operation="mount tracefs")


def tracepoint_id(category: str, event: str) -> int:
    """The id of tracepoint ``category:event`` (tracefs ``events/.../id``)."""
    path = os.path.join(tracefs(), "events", category, event, "id")
    try:
        with open(path) as f:
            return int(f.read())
    except FileNotFoundError:
        raise KernelError(f"no tracepoint {category}/{event} on this kernel ({path} is "
                          f"missing); 'pybpf' lists them under {tracefs()}/events",
                          errno=_errno.ENOENT, operation="tracepoint") from None


def tracepoint_names(category: str | None = None) -> list[str]:
    """Every ``category/event`` tracepoint (in ``category`` only if given)."""
    base = os.path.join(tracefs(), "events")
    cats = [category] if category else sorted(os.listdir(base))
    out = []
    for c in cats:
        d = os.path.join(base, c)
        if os.path.isdir(d):
            out += [f"{c}/{e}" for e in sorted(os.listdir(d))
                    if os.path.isdir(os.path.join(d, e))]
    return out


def open_tracepoint(tp_id: int, *, pid: int = -1, cpu: int = 0, what: str = "") -> PerfEvent:
    """A perf event on tracepoint ``tp_id``: every process on ``cpu`` (pid
    -1), the way BPF programs attach to tracepoints."""
    a = attr(type=perf_type("tracepoint"), config=tp_id, sample_period=1, wakeup_events=1)
    return PerfEvent(perf_event_open(a, pid, cpu, what=what), what)


# --- PMUs ------------------------------------------------------------------------

def pmu_type(name: str) -> int | None:
    """The type number of PMU ``name`` (``kprobe``, ``uprobe``), None when
    this kernel lacks it."""
    try:
        with open(os.path.join(_P.PMU_DIR, name, "type")) as f:
            return int(f.read())
    except (FileNotFoundError, ValueError):
        return None


def pmu_config_bit(pmu: str, field: str) -> int | None:
    """The bit of ``config`` that PMU format ``field`` uses (``retprobe`` is
    ``config:0``): None when the PMU lacks it."""
    try:
        with open(os.path.join(_P.PMU_DIR, pmu, "format", field)) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    head, _, bits = text.partition(":")
    if head != "config" or not bits:
        return None
    return int(bits.split("-")[0])


def pmu_config_shift(pmu: str, field: str) -> int | None:
    """The first bit of a multi-bit ``config`` field (``ref_ctr_offset`` is
    ``config:32-63``)."""
    return pmu_config_bit(pmu, field)


def parse_cpu_list(text: str) -> list[int]:
    """CPUs of a kernel CPU list: ``"0-2,4"`` -> ``[0, 1, 2, 4]``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


@functools.cache
def online_cpus() -> tuple[int, ...]:
    """The CPUs online now (``/sys/devices/system/cpu/online``)."""
    with open("/sys/devices/system/cpu/online") as f:
        return tuple(parse_cpu_list(f.read()))
