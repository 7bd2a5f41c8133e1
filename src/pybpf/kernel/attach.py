"""Attaching loaded programs to kernel hooks.

Every attach function returns an attachment: a :class:`~pybpf.kernel.KernelLink`
where the kernel has a BPF link for the hook, or an :class:`Attachment`
(a perf event, an rtnetlink filter, a ``BPF_PROG_ATTACH`` entry, a socket
option) with the same interface: ``close()`` (or leaving a ``with`` block)
detaches, ``detach()`` detaches now, ``closed`` says whether it is gone.
::

    from pybpf.kernel import attach

    with attach.tracepoint(prog, "sched/sched_process_exit"):
        ...
    link = prog.attach()                  # the hook the section name says
    link = prog.attach(interface="veth0") # with what the section cannot say

Hooks: :func:`tracepoint`, :func:`raw_tracepoint`, :func:`tracing` (tp_btf,
fentry, fexit, fmod_ret, lsm), :func:`kprobe`, :func:`kprobe_multi`,
:func:`~pybpf.kernel.uprobe.uprobe`, :func:`~pybpf.kernel.usdt.usdt`,
:func:`perf_event`, :func:`iterator`, :func:`cgroup`, :func:`socket_filter`,
:func:`sockmap`, :func:`netns`, :func:`netfilter`, :func:`struct_ops`, and in
:mod:`pybpf.kernel.attach_net` :func:`~pybpf.kernel.attach_net.xdp` and
:func:`~pybpf.kernel.attach_net.tc`.  :func:`attach_program` picks one from
the program's section name.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import errno as _errno
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import BPFError, KernelError
from . import kallsyms
from . import perf as _perf
from . import sys as _sys
from ._fd import FD, Closing
from .features import trampoline_refusal
from .kernel_btf import int_btf
from .links import KernelLink, link_create, raw_tracepoint_open
from .programs import set_attacher


class Attachment(Closing, abc.ABC):
    """An attached program that is not a plain BPF link: same interface as
    :class:`~pybpf.kernel.KernelLink` (``close``, ``detach``, ``closed``,
    ``with``).  ``program`` is what was attached and ``target`` the hook."""

    program: Any = None
    target: str = ""
    kind: str = "attachment"

    def __init__(self, *, program: Any = None, target: str = ""):
        self.program = program
        self.target = target
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def detach(self) -> None:
        """Detach the program now (the object stays until :meth:`close`)."""
        self.close()

    def close(self) -> None:
        """Detach and release everything held (again is a no-op)."""
        if not self._closed:
            self._closed = True
            self._release()

    @abc.abstractmethod
    def _release(self) -> None:
        """Undo the attachment (run once, by :meth:`close`)."""

    def pin(self, path: str) -> None:
        """Only BPF links can be pinned."""
        raise BPFError(f"{self.kind} attachment to {self.target} is not a BPF link and "
                       f"cannot be pinned")


    def __repr__(self) -> str:
        name = getattr(self.program, "name", "") or "?"
        state = "closed" if self.closed else "attached"
        return f"<{type(self).__name__} {name} -> {self.target} {state}>"


Attachment.register(KernelLink)


def _pname(program: Any) -> str:
    name = getattr(program, "name", "")
    return f"program {name!r}" if name else "program"


def _fd_of(obj: Any) -> int:
    return int(getattr(obj, "fd", obj))


def raw_update(map_fd: int, key: bytes, value: bytes, flags: int = 0, what: str = "") -> None:
    """``BPF_MAP_UPDATE_ELEM`` with raw key and value bytes (no codecs)."""
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    v = ctypes.create_string_buffer(value, max(len(value), 1))
    _sys.map_update_elem(map_fd, ctypes.addressof(k), ctypes.addressof(v), flags, what)


def raw_delete(map_fd: int, key: bytes, what: str = "") -> bool:
    """``BPF_MAP_DELETE_ELEM`` with a raw key; False when it was absent."""
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    return _sys.map_delete_elem(map_fd, ctypes.addressof(k), what)


# --- perf-event attachments ----------------------------------------------------------

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


_PERF_LINKS: bool | None = None
"""Whether BPF_LINK_CREATE accepts perf events (Linux 5.15+), once known."""


def attach_perf_event_fd(program: Any, event: _perf.PerfEvent, *, target: str,
                         cookie: int = 0, cleanup: Callable[[], None] | None = None,
                         use_link: bool | None = None) -> PerfEventLink:
    """Attach ``program`` to an open perf event: a BPF link of type
    ``perf_event`` where the kernel has one (with the BPF cookie), else
    ``PERF_EVENT_IOC_SET_BPF``; the event is then enabled.  On failure the
    event is closed (and ``cleanup`` run)."""
    global _PERF_LINKS
    link = None
    try:
        want_link = _PERF_LINKS is not False if use_link is None else use_link
        if want_link:
            try:
                link = link_create(program, event.fd, "perf_event", target=target,
                                   **{"perf_event.bpf_cookie": cookie})
                _PERF_LINKS = True
            except KernelError as e:
                if e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP) or \
                        use_link or _PERF_LINKS:
                    raise _explain_perf_attach(e, program, target) from e
                _PERF_LINKS = False
        if link is None:
            if cookie:
                raise BPFError(f"{_pname(program)}: BPF cookies need perf links "
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
        return KernelError(f"attach {_pname(program)} ({ptype}) to {target}: {e.reason}: "
                           f"the program type does not fit this event (a tracepoint "
                           f"needs a 'tracepoint' program, a probe a 'kprobe' one, a "
                           f"sampling event a 'perf_event' one)", errno=e.errno,
                           operation=e.operation)
    if e.errno == _errno.EEXIST:
        return KernelError(f"attach {_pname(program)} to {target}: a program is attached "
                           f"to this event already", errno=e.errno, operation=e.operation)
    return e


# --- tracepoints -------------------------------------------------------------------

def _split_tracepoint(name: str) -> tuple[str, str]:
    category, sep, event = name.replace(":", "/").partition("/")
    if not sep or not category or not event or "/" in event:
        raise BPFError(f"tracepoint {name!r} is not 'category/event' "
                       f"(for example 'sched/sched_process_exit')")
    return category, event


def tracepoint(program: Any, name: str, *, cookie: int = 0) -> PerfEventLink:
    """Attach a ``tracepoint`` program to ``category/event`` (one perf event
    for all CPUs, as BPF tracepoint programs run on every CPU)."""
    category, event = _split_tracepoint(name)
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
            raise KernelError(f"attach {_pname(program)} ({kind}): {e.reason}: "
                              f"{trampoline_refusal()}", errno=e.errno,
                              operation=e.operation) from e
        raise


# --- kprobes -----------------------------------------------------------------------

def no_kprobes_reason() -> str | None:
    """Why kprobes cannot be used here (None when they can)."""
    from ..spec.perf import KPROBE_EVENTS, PMU_DIR

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


def _unique_name(prefix: str, what: str) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in what)[:40]
    _unique_name.counter += 1  # type: ignore[attr-defined]
    return f"{prefix}_{os.getpid()}_{_unique_name.counter}_{clean}"  # type: ignore[attr-defined]


_unique_name.counter = 0  # type: ignore[attr-defined]


def _legacy_probe(kind: str, definition: str, name: str, retprobe: bool) -> tuple[int, Callable]:
    """Create a probe by writing ``definition`` to tracefs ``kprobe_events``
    / ``uprobe_events``; its tracepoint id and a function removing it."""
    from ..spec.perf import KPROBE_EVENTS, UPROBE_EVENTS

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


def kprobe(program: Any, function: str, *, offset: int = 0, retprobe: bool = False,
           cookie: int = 0) -> PerfEventLink:
    """Attach a ``kprobe`` program to kernel function ``function`` (at
    ``offset``), or to its return with ``retprobe``: through the kprobe PMU,
    or a tracefs ``kprobe_events`` probe on older kernels."""
    kind = "kretprobe" if retprobe else "kprobe"
    target = f"{kind} {function}" + (f"+{offset:#x}" if offset else "")
    reason = no_kprobes_reason()
    if reason:
        raise KernelError(f"attach {_pname(program)} to {target}: {reason}",
                          errno=_errno.EOPNOTSUPP, operation=f"attach {kind}")
    pmu = _perf.pmu_type("kprobe")
    if pmu is None:
        tp, remove = _legacy_probe("kprobe", f"{function}+{offset}",
                                   _unique_name(kind, function), retprobe)
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
        raise KernelError(f"attach {_pname(program)} to kprobe.multi: {reason}",
                          errno=_errno.EOPNOTSUPP, operation="attach kprobe.multi")
    names = kallsyms.functions_matching(symbols) if isinstance(symbols, str) else list(symbols)
    if not names:
        raise BPFError(f"kprobe.multi {symbols!r} matches no kernel function")
    bufs = [ctypes.create_string_buffer(n.encode()) for n in names]
    ptrs = (ctypes.c_uint64 * len(bufs))(*[ctypes.addressof(b) for b in bufs])
    extra: dict[str, Any] = {"kprobe_multi.syms": ctypes.addressof(ptrs),
                             "kprobe_multi.cnt": len(names),
                             "kprobe_multi.flags": _const("BPF_F_KPROBE_MULTI_RETURN")
                             if retprobe else 0}
    keep: list[Any] = [bufs, ptrs]
    if cookies:
        arr = (ctypes.c_uint64 * len(cookies))(*cookies)
        keep.append(arr)
        extra["kprobe_multi.cookies"] = ctypes.addressof(arr)
    return link_create(program, 0, "trace_kprobe_multi",
                       target=f"kprobe.multi {len(names)} functions", **extra)


def _const(name: str) -> int:
    from ._abi import constant

    return constant(name)


# --- sampling perf events ------------------------------------------------------------

class AttachmentGroup(Attachment):
    """Several attachments of one program made together (one per CPU for a
    sampling event): closed together."""

    kind = "group"

    def __init__(self, parts: list[Any], *, program: Any, target: str):
        super().__init__(program=program, target=target)
        self.parts = parts

    def detach(self) -> None:
        """Detach every part."""
        for p in self.parts:
            p.detach()

    def _release(self) -> None:
        for p in self.parts:
            p.close()

    def __len__(self) -> int:
        return len(self.parts)


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
        raise BPFError(f"event_type must be 'software' or 'hardware', not {event_type!r}")
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


# --- iterators ---------------------------------------------------------------------

class IterLink(KernelLink):
    """An iterator link: each :meth:`read` (or :meth:`open`) runs the
    iterator program over the kernel objects and returns what it wrote."""

    def open(self):
        """A new readable file (``BPF_ITER_CREATE``); reading it runs the
        program.  Close it when done."""
        fd = _sys.iter_create(self.fd, what=f"iterator {self.target}")
        return os.fdopen(fd.release(), "rb", buffering=0)

    def read(self) -> bytes:
        """Run the iterator to the end: every byte its program wrote."""
        chunks = []
        with self.open() as f:
            while True:
                try:
                    chunk = f.read(1 << 16)
                except OSError as e:
                    raise KernelError(f"reading iterator {self.target}: {e.strerror}",
                                      errno=e.errno, operation="read iterator") from None
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def read_text(self) -> str:
        """:meth:`read` decoded as UTF-8."""
        return self.read().decode("utf-8", "replace")


def iterator(program: Any, *, map: Any = None, task: int | None = None,
             thread: int | None = None, cgroup: Any = None, cgroup_order: int = 0,
             target: str = "") -> IterLink:
    """Attach an iterator program (``iter/task``, ``iter/bpf_map_elem``...):
    ``map`` for map iterators, ``task``/``thread`` to walk one process or
    thread, ``cgroup`` (a path or fd) for cgroup iterators."""
    from ..spec.perf import BPF_ITER_LINK_INFO, BPF_ITER_LINK_INFO_SIZE
    from ._layout import Layout

    layout = Layout("bpf_iter_link_info", BPF_ITER_LINK_INFO_SIZE, BPF_ITER_LINK_INFO)
    info = None
    cg_fd = None
    try:
        if map is not None:
            info = layout.new(map_fd=_fd_of(map))
        elif task is not None:
            info = layout.new(**{"task.pid": task})
        elif thread is not None:
            info = layout.new(**{"task.tid": thread})
        elif cgroup is not None:
            cg_fd = _open_cgroup(cgroup) if isinstance(cgroup, str) else None
            info = layout.new(**{"cgroup.cgroup_fd": int(cg_fd) if cg_fd else _fd_of(cgroup),
                                 "cgroup.order": cgroup_order})
        extra: dict[str, Any] = {}
        if info is not None:
            extra = {"iter_info": info.address, "iter_info_len": layout.size}
        label = target or f"iter {getattr(program, 'attach_to', '') or '?'}"
        link = link_create(program, 0, "trace_iter", target=label, **extra)
    finally:
        if cg_fd is not None:
            cg_fd.close()
    out = IterLink(link._fd, program=program, target=label)
    return out


# --- cgroups, sockets, netns ---------------------------------------------------------

class ProgAttachment(Attachment):
    """A ``BPF_PROG_ATTACH`` attachment (before links existed for the hook):
    closing runs ``BPF_PROG_DETACH`` on the same target."""

    kind = "prog_attach"

    def __init__(self, target_fd: FD | None, attach_type: int, *, program: Any, target: str,
                 target_num: int | None = None):
        super().__init__(program=program, target=target)
        self._target_fd = target_fd
        self._target_num = target_num
        self.attach_type = attach_type

    def _release(self) -> None:
        try:
            if self.program is not None and not getattr(self.program, "closed", False):
                tfd = int(self._target_fd) if self._target_fd is not None else self._target_num
                _sys.prog_detach(target_fd=tfd, attach_bpf_fd=_fd_of(self.program),
                                 attach_type=self.attach_type, what=f"from {self.target}")
        except KernelError as e:
            if e.errno not in (_errno.ENOENT, _errno.EBADF):
                raise
        finally:
            if self._target_fd is not None:
                self._target_fd.close()


def cgroup_root() -> str:
    """The mount point of the cgroup v2 hierarchy (``/sys/fs/cgroup`` or
    ``/sys/fs/cgroup/unified``), mounting one when there is none."""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    target = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/cpu") else \
        "/sys/fs/cgroup"
    os.makedirs(target, exist_ok=True)
    lib = _perf.libc()
    if lib.mount(b"cgroup2", target.encode(), b"cgroup2", 0, None) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"no cgroup v2 hierarchy is mounted and mounting one at {target} "
                          f"failed: {os.strerror(err)}", errno=err, operation="mount cgroup2")
    return target


def _open_cgroup(path: str | None) -> FD:
    path = path or cgroup_root()
    if not os.path.isabs(path):
        path = os.path.join(cgroup_root(), path)
    try:
        return FD(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as e:
        raise KernelError(f"cannot open cgroup {path}: {e.strerror}", errno=e.errno,
                          operation="open cgroup") from None


def cgroup(program: Any, path: str | int | None = None, attach_type: str | None = None, *,
           multi: bool = True, use_link: bool | None = None) -> Attachment | KernelLink:
    """Attach a cgroup program (``cgroup_skb``, ``cgroup/connect4``,
    ``sockops``...) to the cgroup at ``path`` (a directory in the cgroup v2
    hierarchy, relative to its root, or an open fd; default the root):
    a BPF link, or ``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_MULTI`` on kernels
    without cgroup links (before 5.7; ``use_link=False`` forces it)."""
    from .programs import attach_type_id

    at = attach_type or getattr(program, "expected_attach_type", None)
    if at is None:
        raise BPFError(f"{_pname(program)}: which cgroup hook? give attach_type "
                       f"(for example 'cgroup_inet_ingress')")
    label = f"cgroup {path if path is not None else 'root'} ({at})"
    if use_link is not False:
        fd = FD(os.dup(path)) if isinstance(path, int) else _open_cgroup(path)
        try:
            return link_create(program, int(fd), at, target=label)
        except KernelError as e:
            if use_link or e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP):
                raise
        finally:
            fd.close()
    from ..spec.defines import BPF_F_ALLOW_MULTI

    fd = FD(os.dup(path)) if isinstance(path, int) else _open_cgroup(path)
    try:
        _sys.prog_attach(target_fd=int(fd), attach_bpf_fd=_fd_of(program),
                         attach_type=attach_type_id(at),
                         attach_flags=BPF_F_ALLOW_MULTI if multi else 0,
                         what=f"{_pname(program)} to {label}")
    except BaseException:
        fd.close()
        raise
    return ProgAttachment(fd, attach_type_id(at), program=program, target=label)


class SocketAttachment(Attachment):
    """A program attached to a socket with ``SO_ATTACH_BPF``; closing
    detaches it (``SO_DETACH_BPF``) if the socket is still open."""

    kind = "socket"

    def __init__(self, sock: Any, *, program: Any, target: str, detach_option: int):
        super().__init__(program=program, target=target)
        self.socket = sock
        self._detach_option = detach_option

    def _release(self) -> None:
        from ..spec.netlink import SOL_SOCKET

        sock, self.socket = self.socket, None
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(SOL_SOCKET, self._detach_option, 0)


def socket_filter(program: Any, sock: Any, *, reuseport: bool = False) -> SocketAttachment:
    """Attach a ``socket_filter`` program to ``sock`` (a Python socket) with
    ``SO_ATTACH_BPF`` — or an ``sk_reuseport`` program to a reuseport group
    with ``SO_ATTACH_REUSEPORT_EBPF`` when ``reuseport``.  A socket filter
    returns how many bytes of each packet the socket gets (0 drops it)."""
    import struct

    from ..spec.netlink import (
        SO_ATTACH_BPF,
        SO_ATTACH_REUSEPORT_EBPF,
        SO_DETACH_BPF,
        SO_DETACH_REUSEPORT_BPF,
        SOL_SOCKET,
    )

    opt = SO_ATTACH_REUSEPORT_EBPF if reuseport else SO_ATTACH_BPF
    try:
        sock.setsockopt(SOL_SOCKET, opt, struct.pack("i", _fd_of(program)))
    except OSError as e:
        hint = f": {'an sk_reuseport' if reuseport else 'a socket_filter'} program is needed" \
            if e.errno == _errno.EINVAL else ""
        raise KernelError(f"attach {_pname(program)} to socket {sock.fileno()}: "
                          f"{e.strerror}{hint}", errno=e.errno,
                          operation="SO_ATTACH_BPF") from None
    return SocketAttachment(sock, program=program, target=f"socket fd {sock.fileno()}",
                            detach_option=SO_DETACH_REUSEPORT_BPF if reuseport
                            else SO_DETACH_BPF)


def sockmap(program: Any, map: Any, attach_type: str | None = None, *,
            use_link: bool | None = None) -> Attachment | KernelLink:
    """Attach an ``sk_msg`` or ``sk_skb`` program to a sockmap or sockhash:
    a link (Linux 6.10+) or ``BPF_PROG_ATTACH`` to the map (``use_link``
    forces one or the other)."""
    from .programs import attach_type_id

    at = attach_type or getattr(program, "expected_attach_type", None)
    if at is None:
        raise BPFError(f"{_pname(program)}: which sockmap hook? give attach_type "
                       f"('sk_msg_verdict', 'sk_skb_stream_verdict', "
                       f"'sk_skb_stream_parser', 'sk_skb_verdict')")
    label = f"{getattr(map, 'type', 'sockmap')} {getattr(map, 'name', '')!r} ({at})"
    if use_link is not False:
        try:
            return link_create(program, _fd_of(map), at, target=label)
        except KernelError as e:
            if use_link or e.errno not in (_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP):
                raise
    mfd = FD(os.dup(_fd_of(map)))
    try:
        _sys.prog_attach(target_fd=int(mfd), attach_bpf_fd=_fd_of(program),
                         attach_type=attach_type_id(at), what=f"{_pname(program)} to {label}")
    except BaseException:
        mfd.close()
        raise
    return ProgAttachment(mfd, attach_type_id(at), program=program, target=label)


def netns(program: Any, attach_type: str | None = None, *, path: str = "/proc/self/ns/net"
          ) -> KernelLink:
    """Attach a ``flow_dissector`` or ``sk_lookup`` program to a network
    namespace (this process's by default)."""
    at = attach_type or getattr(program, "expected_attach_type", None)
    fd = FD(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    try:
        return link_create(program, int(fd), at or "flow_dissector", target=f"netns {path}")
    finally:
        fd.close()


_NF_HOOKS = ("pre_routing", "local_in", "forward", "local_out", "post_routing")


def netfilter(program: Any, *, family: str | int = "ipv4", hook: str | int = "local_in",
              priority: int = 0, defrag: bool = False) -> KernelLink:
    """Attach a ``netfilter`` program at ``hook`` (``pre_routing``,
    ``local_in``, ``forward``, ``local_out``, ``post_routing``) of
    ``family`` (``ipv4``/``ipv6``) with ``priority`` (not 0 nor the
    extremes; lower runs first) — Linux 6.4+."""
    from ..spec.netlink import BPF_F_NETFILTER_IP_DEFRAG, NFPROTO_NAMES

    pf = NFPROTO_NAMES[family] if isinstance(family, str) else family
    if isinstance(hook, str):
        from ..spec.layout import enum_values

        hooks = {k.removeprefix("NF_INET_").lower(): v
                 for k, v in enum_values("nf_inet_hooks").items()}
        if hook not in hooks:
            raise BPFError(f"unknown netfilter hook {hook!r} (known: {', '.join(_NF_HOOKS)})")
        hooknum = hooks[hook]
    else:
        hooknum = hook
    if priority == 0:
        priority = 1  # the kernel refuses 0
    return link_create(program, 0, "netfilter", target=f"netfilter {family} {hook} "
                       f"priority {priority}", **{
                           "netfilter.pf": pf, "netfilter.hooknum": hooknum,
                           "netfilter.priority": priority,
                           "netfilter.flags": BPF_F_NETFILTER_IP_DEFRAG if defrag else 0})


# --- struct_ops ----------------------------------------------------------------------

class StructOpsAttachment(Attachment):
    """A struct_ops map registered with the kernel (a TCP congestion control,
    for example).  With a link, closing the link unregisters it; without
    one, deleting the map's element does."""

    kind = "struct_ops"

    def __init__(self, map: Any, *, target: str, link: KernelLink | None = None,
                 programs: Sequence[Any] = ()):
        super().__init__(program=None, target=target)
        self.map = map
        self.link = link
        self.programs = list(programs)

    def _release(self) -> None:
        try:
            if self.link is not None:
                self.link.close()
            elif not self.map.closed:
                with contextlib.suppress(KernelError):
                    raw_delete(self.map.fd, (0).to_bytes(4, "little"))
        finally:
            self.map.close()
            for p in self.programs:
                p.close()


def struct_ops(struct: str, programs: dict[str, Any], data: dict[str, Any] | None = None, *,
               name: str = "", link: bool = True) -> StructOpsAttachment:
    """Register an implementation of kernel ops table ``struct`` (for example
    ``tcp_congestion_ops``): ``programs`` maps member names to loaded
    ``struct_ops`` programs (see :func:`load_struct_ops_program`) and
    ``data`` fills the other members (``{"name": "pybpf_cc"}``).  The map is
    created with ``BPF_F_LINK`` and attached through a link (Linux 6.0+)
    unless ``link`` is False."""
    from ..btf import BTF
    from .maps import KernelMap

    vmlinux = BTF.load_vmlinux()
    st = _struct(vmlinux, struct)
    wrapper = _struct(vmlinux, f"bpf_struct_ops_{struct}")
    data_member = next((m for m in wrapper.members if m.name == "data"), None)
    if data_member is None:
        raise BPFError(f"kernel BTF struct bpf_struct_ops_{struct} has no 'data' member")
    base = data_member.offset
    value = bytearray(vmlinux.size_of(wrapper))
    members = {m.name: m for m in st.members}
    for member, prog in programs.items():
        if member not in members:
            raise BPFError(f"struct {struct} has no member {member!r}")
        off = base + members[member].offset
        value[off:off + 8] = int(_fd_of(prog)).to_bytes(8, "little")
    for member, v in (data or {}).items():
        if member not in members:
            raise BPFError(f"struct {struct} has no member {member!r}")
        m = members[member]
        off = base + m.offset
        size = vmlinux.size_of(m.type_id)
        raw = v.encode() if isinstance(v, str) else v
        raw = raw if isinstance(raw, bytes | bytearray) else int(raw).to_bytes(size, "little")
        if len(raw) > size:
            raise BPFError(f"{struct}.{member} holds {size} bytes, got {len(raw)}")
        value[off:off + len(raw)] = raw
    flags = _const("BPF_F_LINK") if link else 0
    label = f"struct_ops {struct}" + (f" {name!r}" if name else "")
    try:
        with int_btf() as btf:  # map_create insists on some BTF fd
            fd = _sys.map_create(what=label, map_type=_map_type("struct_ops"), key_size=4,
                                 value_size=len(value), max_entries=1, map_flags=flags,
                                 btf_fd=btf.fd, btf_vmlinux_value_type_id=wrapper.id,
                                 map_name=(name or struct)[:15])
    except KernelError as e:
        raise _explain_struct_ops(e, label) from e
    m = KernelMap(fd, type="struct_ops", key_size=4, value_size=len(value), max_entries=1,
                  name=name or struct)
    try:
        try:
            raw_update(m.fd, (0).to_bytes(4, "little"), bytes(value))
        except KernelError as e:
            raise _explain_struct_ops(e, label) from e
        lk = None
        if link:
            lk = link_create(m, 0, "struct_ops", target=label)
    except BaseException:
        m.close()
        raise
    return StructOpsAttachment(m, target=label, link=lk, programs=())


def load_struct_ops_program(insns: Any, struct: str, member: str, *, name: str = "",
                            license: str = "GPL", **options: Any):
    """Load a ``struct_ops`` program implementing ``struct.member`` (the
    kernel checks it against that member's function type)."""
    from ..btf import BTF
    from .programs import KernelProgram

    vmlinux = BTF.load_vmlinux()
    st = _struct(vmlinux, struct)
    index = next((i for i, m in enumerate(st.members) if m.name == member), None)
    if index is None:
        raise BPFError(f"struct {struct} has no member {member!r}")
    try:
        return KernelProgram.load(insns, "struct_ops", name=name or member, license=license,
                                  expected_attach_type=index, attach_btf_id=st.id, **options)
    except KernelError as e:
        raise _explain_struct_ops(e, f"struct_ops program {name or member!r}") from e


def _struct(btf: Any, name: str) -> Any:
    from ..btf import Struct

    for t in btf.find_all(name):
        if isinstance(t, Struct):
            return t
    raise BPFError(f"the kernel's BTF has no struct {name}")


def _map_type(name: str) -> int:
    from .maps import map_type_id

    return map_type_id(name)


def _explain_struct_ops(e: KernelError, label: str) -> KernelError:
    if e.errno == _errno.EPERM:
        return KernelError(f"{label}: {e.reason}: this kernel refuses struct_ops "
                           f"registration (it needs BPF trampolines)", errno=e.errno,
                           operation=e.operation)
    if e.errno in (_sys.ENOTSUPP, _errno.EOPNOTSUPP):
        return KernelError(f"{label}: {e.reason}: this kernel has no struct_ops support for "
                           f"this type", errno=e.errno, operation=e.operation)
    return e


# --- from the section name -------------------------------------------------------------

_CGROUP_PREFIXES = ("cgroup_skb", "cgroup", "sockops", "cgroup/")


def _section_info(program: Any) -> Any:
    from ..spec.sections import lookup

    section = getattr(program, "section", "") or ""
    return lookup(section) if section else None


def attach_program(program: Any, **options: Any) -> Any:
    """Attach ``program`` where its section name says (``program.section``,
    ``program.attach_to``); ``options`` fill in or override what the section
    cannot say:

    * ``target`` — the tracepoint, function, ``binary:symbol`` ...
    * ``interface`` (xdp, tc), ``mode`` (xdp: generic/driver/offload),
      ``direction`` (tc: ingress/egress), ``priority``
    * ``cgroup`` (a path; cgroup programs), ``socket`` (socket filters),
      ``map`` (sk_msg/sk_skb), ``pid`` (uprobes, usdt), ``frequency``,
      ``period`` and ``cpus`` (perf_event), ``cookie``
    * ``retprobe`` (kprobes, uprobes), ``family``/``hook`` (netfilter)
    """
    info = _section_info(program)
    section = getattr(program, "section", "") or ""
    prefix = info.definition.prefix if info is not None and info.definition else section
    target = options.pop("target", None) or getattr(program, "attach_to", None) or \
        (info.attach_to if info is not None else None)
    cookie = options.pop("cookie", 0)
    ptype = getattr(program, "type", "")
    where = f"{_pname(program)} (section {section!r})" if section else _pname(program)

    def need(what: str, example: str) -> BPFError:
        return BPFError(f"{where}: the section does not say {what}: "
                        f"attach({example})")

    def done(options_left: dict[str, Any], result: Any) -> Any:
        if options_left:
            result.close()
            raise BPFError(f"{where}: options {sorted(options_left)} do not apply to "
                           f"{prefix or ptype} programs")
        return result

    p = prefix
    if p in ("tracepoint", "tp") or (not section and ptype == "tracepoint"):
        if not target:
            raise need("which tracepoint", "target='sched/sched_process_exit'")
        return done(options, tracepoint(program, target, cookie=cookie))
    if p.startswith(("raw_tracepoint", "raw_tp")) or (not section and ptype.startswith(
            "raw_tracepoint")):
        if not target:
            raise need("which raw tracepoint", "target='sched_switch'")
        return done(options, raw_tracepoint(program, target, cookie=cookie))
    if p.startswith(("tp_btf", "fentry", "fexit", "fmod_ret", "lsm")) or \
            (not section and ptype in ("tracing", "lsm")):
        if getattr(program, "expected_attach_type", None) == "trace_iter":
            return done(options, iterator(program, **_take(options, "map", "task", "thread",
                                                          "cgroup", "cgroup_order")))
        return done(options, tracing(program, cookie=cookie))
    if p.startswith("iter"):
        return done(options, iterator(program, **_take(options, "map", "task", "thread",
                                                      "cgroup", "cgroup_order")))
    if p in ("kprobe", "kretprobe"):
        if not target:
            raise need("which function", "target='do_sys_openat2'")
        func, _, off = target.partition("+")
        retprobe = options.pop("retprobe", p == "kretprobe")
        return done(options, kprobe(program, func, offset=int(off, 0) if off else 0,
                                    retprobe=retprobe, cookie=cookie))
    if p in ("ksyscall", "kretsyscall"):
        if not target:
            raise need("which system call", "target='openat'")
        retprobe = options.pop("retprobe", p == "kretsyscall")
        return done(options, kprobe(program, syscall_function(target), retprobe=retprobe,
                                    cookie=cookie))
    if p.startswith(("kprobe.multi", "kretprobe.multi", "kprobe.session")):
        if not target:
            raise need("which functions", "target='tcp_*'")
        return done(options, kprobe_multi(program, target,
                                          retprobe=p.startswith("kretprobe")))
    if p.startswith(("uprobe.multi", "uretprobe.multi", "uprobe.session")):
        from .uprobe import uprobe_multi

        if not target:
            raise need("which binary and functions", "target='/bin/bash:read*'")
        binary, _, pattern = target.rpartition(":")
        return done(options, uprobe_multi(program, binary, pattern,
                                          retprobe=p.startswith("uretprobe"),
                                          **_take(options, "pid")))
    if p.startswith(("uprobe", "uretprobe")) or (not section and ptype == "kprobe" and
                                                 target and ":" in target):
        from .uprobe import parse_target, uprobe

        if not target:
            raise need("which binary and function", "target='/bin/bash:readline'")
        binary, symbol, offset = parse_target(target)
        retprobe = options.pop("retprobe", p.startswith("uretprobe"))
        return done(options, uprobe(program, binary, symbol, offset=offset, retprobe=retprobe,
                                    cookie=cookie, **_take(options, "pid")))
    if p.startswith("usdt"):
        from .usdt import usdt

        if not target:
            raise need("which probe", "target='/usr/bin/python3:python:function__entry'")
        binary, provider, name = target.rsplit(":", 2)
        return done(options, usdt(program, binary, provider, name, cookie=cookie,
                                  **_take(options, "pid", "semaphore")))
    if p.startswith("xdp") or (not section and ptype == "xdp"):
        from .attach_net import xdp

        iface = options.pop("interface", None) or target
        if not iface:
            raise need("which interface", "interface='eth0'")
        return done(options, xdp(program, iface, **_take(options, "mode", "replace")))
    if p in ("tc", "tcx", "classifier") or p.startswith(("tc/", "tcx/")) or \
            (not section and ptype == "sched_cls"):
        from .attach_net import tc

        iface = options.pop("interface", None)
        if not iface:
            raise need("which interface", "interface='eth0'")
        direction = options.pop("direction", None)
        if direction is None:
            at = getattr(program, "expected_attach_type", None) or ""
            direction = "egress" if "egress" in (at or section) else "ingress"
        return done(options, tc(program, iface, direction,
                                **_take(options, "priority", "handle", "use_tcx")))
    if p == "socket" or ptype == "socket_filter":
        sock = options.pop("socket", None)
        if sock is None:
            raise need("which socket", "socket=sock")
        return done(options, socket_filter(program, sock))
    if p.startswith(("sk_msg", "sk_skb")) or ptype in ("sk_msg", "sk_skb"):
        m = options.pop("map", None)
        if m is None:
            raise need("which sockmap", "map=coll.maps['sock_map']")
        return done(options, sockmap(program, m, options.pop("attach_type", None),
                                     **_take(options, "use_link")))
    if p.startswith(_CGROUP_PREFIXES) or ptype.startswith("cgroup") or ptype == "sock_ops":
        return done(options, cgroup(program, options.pop("cgroup", None),
                                    options.pop("attach_type", None),
                                    **_take(options, "use_link", "multi")))
    if p == "perf_event" or ptype == "perf_event":
        return done(options, perf_event(program, **_take(
            options, "frequency", "period", "event", "event_type", "cpus", "pid")))
    if p in ("flow_dissector", "sk_lookup") or ptype in ("flow_dissector", "sk_lookup"):
        return done(options, netns(program, options.pop("attach_type", None),
                                   **_take(options, "path")))
    if p == "netfilter" or ptype == "netfilter":
        return done(options, netfilter(program, **_take(options, "family", "hook",
                                                        "priority", "defrag")))
    if p.startswith("struct_ops") or ptype == "struct_ops":
        raise BPFError(f"{where}: struct_ops programs are registered as a whole table: "
                       f"pybpf.kernel.attach.struct_ops(struct, programs, data)")
    raise BPFError(f"{where}: no automatic attachment for {ptype} programs"
                   + (f" in section {section!r}" if section else "")
                   + "; use an attach function of pybpf.kernel.attach")


def _take(options: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: options.pop(n) for n in names if n in options}


set_attacher(attach_program)
