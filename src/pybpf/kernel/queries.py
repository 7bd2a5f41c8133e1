"""Asking the kernel what is attached where.

* :func:`prog_query`: ``BPF_PROG_QUERY`` on a cgroup, a network interface
  (tcx, netkit) or a network namespace (flow dissector, sk_lookup), with
  everything the kernel reports — the programs' ids and attach flags, the
  links' ids and flags, the revision;
* :func:`task_fd_query`: ``BPF_TASK_FD_QUERY``, what program a process's
  perf event (or raw tracepoint) fd runs and where it is attached;
* :func:`perf_attachments`: that question for every fd of every process,
  which is what ``bpftool perf list`` shows.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import KernelError
from . import sys as _sys
from ._abi import ATTACH_TYPES, ATTR

MAX_QUERY = 64
"""Programs asked for per query (more than any hook holds in practice)."""


@dataclass(frozen=True)
class QueryResult:
    """What ``BPF_PROG_QUERY`` says about one hook: the hook's
    ``attach_flags``, the attached ``prog_ids`` in run order with their
    ``prog_flags``, the ``link_ids`` holding them (0 where none) with their
    ``link_flags``, and the hook's ``revision`` (tcx and netkit)."""

    attach_flags: int
    prog_ids: tuple[int, ...]
    prog_flags: tuple[int, ...]
    link_ids: tuple[int, ...]
    link_flags: tuple[int, ...]
    revision: int


def prog_query(attach_type: str | int, *, target_fd: int | None = None,
               ifindex: int | None = None, effective: bool = False) -> QueryResult:
    """``BPF_PROG_QUERY`` for hook ``attach_type`` of a cgroup or namespace
    fd (``target_fd``) or of network interface ``ifindex``; ``effective``
    asks for what runs there, inherited programs included (cgroups)."""
    from ..spec.defines import BPF_F_QUERY_EFFECTIVE

    names = ["prog_ids", "link_ids", "link_attach_flags"]
    if not effective:  # the kernel has per-program flags only for the hook's own programs
        names.append("prog_attach_flags")
    arrays = {name: (ctypes.c_uint32 * MAX_QUERY)() for name in names}
    target = ifindex if ifindex is not None else target_fd
    attr = ATTR["query"].new(target_fd=target or 0, attach_type=ATTACH_TYPES.id_of(attach_type),
                             query_flags=BPF_F_QUERY_EFFECTIVE if effective else 0,
                             prog_cnt=MAX_QUERY,
                             **{k: ctypes.addressof(v) for k, v in arrays.items()})
    what = f"{attach_type} of " + (f"ifindex {ifindex}" if ifindex is not None
                                   else f"fd {target_fd}")
    _sys.call("prog_query", attr, what)
    n = min(attr.prog_cnt, MAX_QUERY)
    flags = arrays.get("prog_attach_flags")
    return QueryResult(attr.attach_flags, tuple(arrays["prog_ids"][:n]),
                       tuple(flags[:n]) if flags is not None else (0,) * n,
                       tuple(arrays["link_ids"][:n]), tuple(arrays["link_attach_flags"][:n]),
                       attr.revision)


@dataclass(frozen=True)
class FdQuery:
    """What ``BPF_TASK_FD_QUERY`` says about one fd of a process: the
    ``prog_id`` it runs, the ``fd_type`` (``tracepoint``, ``raw_tracepoint``,
    ``kprobe``, ``kretprobe``, ``uprobe``, ``uretprobe``), the ``name`` of
    the tracepoint, function or file, and the probe's ``offset`` and
    ``address``."""

    pid: int
    fd: int
    prog_id: int
    fd_type: str
    name: str
    offset: int
    address: int


def fd_type_name(type_id: int) -> str:
    """The name of a ``bpf_task_fd_type`` number (``"tracepoint"``...)."""
    from ..spec.layout import enum_name

    name = enum_name("bpf_task_fd_type", type_id)
    return name.removeprefix("BPF_FD_TYPE_").lower() if name else f"unknown({type_id})"


def task_fd_query(pid: int, fd: int) -> FdQuery:
    """``BPF_TASK_FD_QUERY`` for fd ``fd`` of process ``pid``; an fd that
    holds no BPF program raises :class:`~pybpf.errors.KernelError`."""
    buf = ctypes.create_string_buffer(4096)
    attr = ATTR["task_fd_query"].new(pid=pid, fd=fd, buf=ctypes.addressof(buf),
                                     buf_len=len(buf))
    _sys.call("task_fd_query", attr, f"fd {fd} of pid {pid}")
    return FdQuery(pid, fd, attr.prog_id, fd_type_name(attr.fd_type),
                   buf.value.decode("utf-8", "replace"), attr.probe_offset, attr.probe_addr)


def perf_attachments(pids: list[int] | None = None) -> Iterator[FdQuery]:
    """Every program attached through a perf event (tracepoints, kprobes,
    uprobes) or raw tracepoint fd of the processes ``pids`` (all by
    default), found by querying each of their fds."""
    if pids is None:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to look at
            continue
        for name in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if not target.startswith("anon_inode:"):
                continue
            try:
                yield task_fd_query(pid, int(name))
            except KernelError as e:
                if e.errno == _errno.EPERM:  # not allowed at all: say so
                    raise
                continue  # an fd that runs no BPF program
