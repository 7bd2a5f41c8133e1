"""Attaching loaded programs to kernel hooks, one module per hook family.

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

Hooks, by family: tracing (:func:`tracepoint`, :func:`raw_tracepoint`,
:func:`tracing` for tp_btf, fentry, fexit, fmod_ret and lsm), kprobes
(:func:`kprobe`, :func:`kprobe_multi`), uprobes (:func:`uprobe`,
:func:`uprobe_multi`, :func:`usdt`), sampling (:func:`perf_event`),
:func:`iterator`, :func:`cgroup`, sockets (:func:`socket_filter`,
:func:`sockmap`, :func:`netns`), network interfaces (:func:`xdp`,
:func:`tc`), :func:`netfilter` and :func:`struct_ops`.

:func:`attach_program` (what ``KernelProgram.attach()`` runs) picks the hook
from the table in :mod:`pybpf.spec.sections`: each section convention names
its hook, each hook its family module and the options it takes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._dispatch import FAMILIES, applicable_options, attach_program, family_module, hook_of

if TYPE_CHECKING:
    from ..features import trampoline_refusal
    from ._base import (
        LINK_UNSUPPORTED,
        Attachment,
        AttachmentGroup,
        AttachRequest,
        ProgAttachment,
        program_label,
        raw_delete,
        raw_update,
    )
    from ._cgroup import cgroup, cgroup_root, open_cgroup
    from ._iterator import IterLink, iterator
    from ._kprobe import kprobe, kprobe_multi, no_kprobes_reason, syscall_function
    from ._net import TcNetlinkAttachment, XdpNetlinkAttachment, tc, xdp
    from ._netfilter import netfilter
    from ._perf_event import perf_event
    from ._perf_link import PerfEventLink, attach_perf_event_fd, create_probe, probe_name
    from ._socket import SocketAttachment, netns, socket_filter, sockmap
    from ._struct_ops import StructOpsAttachment, load_struct_ops_program, struct_ops
    from ._tracing import raw_tracepoint, split_tracepoint, tracepoint, tracing
    from ._uprobe import SemaphoreHold, parse_target, resolve, uprobe, uprobe_multi, usdt

_HOME: dict[str, str] = {
    "trampoline_refusal": "..features",
    **dict.fromkeys(("LINK_UNSUPPORTED", "AttachmentGroup", "Attachment", "AttachRequest",
                     "ProgAttachment", "program_label", "raw_delete", "raw_update"), "._base"),
    **dict.fromkeys(("cgroup", "cgroup_root", "open_cgroup"), "._cgroup"),
    **dict.fromkeys(("IterLink", "iterator"), "._iterator"),
    **dict.fromkeys(("kprobe", "kprobe_multi", "no_kprobes_reason", "syscall_function"),
                    "._kprobe"),
    **dict.fromkeys(("TcNetlinkAttachment", "XdpNetlinkAttachment", "tc", "xdp"), "._net"),
    "netfilter": "._netfilter",
    "perf_event": "._perf_event",
    **dict.fromkeys(("PerfEventLink", "attach_perf_event_fd", "create_probe", "probe_name"),
                    "._perf_link"),
    **dict.fromkeys(("SocketAttachment", "netns", "socket_filter", "sockmap"), "._socket"),
    **dict.fromkeys(("StructOpsAttachment", "load_struct_ops_program", "struct_ops"),
                    "._struct_ops"),
    **dict.fromkeys(("raw_tracepoint", "split_tracepoint", "tracepoint", "tracing"),
                    "._tracing"),
    **dict.fromkeys(("SemaphoreHold", "parse_target", "resolve", "uprobe", "uprobe_multi",
                     "usdt"), "._uprobe"),
}
"""Public name -> the module defining it, imported on first use (the hook
families' dependencies stay out of ``import pybpf.kernel``)."""


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))


__all__ = [
    "FAMILIES",
    "LINK_UNSUPPORTED",
    "AttachRequest",
    "Attachment",
    "AttachmentGroup",
    "IterLink",
    "PerfEventLink",
    "ProgAttachment",
    "SemaphoreHold",
    "SocketAttachment",
    "StructOpsAttachment",
    "TcNetlinkAttachment",
    "XdpNetlinkAttachment",
    "applicable_options",
    "attach_perf_event_fd",
    "attach_program",
    "cgroup",
    "cgroup_root",
    "create_probe",
    "family_module",
    "hook_of",
    "iterator",
    "kprobe",
    "kprobe_multi",
    "load_struct_ops_program",
    "netfilter",
    "netns",
    "no_kprobes_reason",
    "open_cgroup",
    "parse_target",
    "perf_event",
    "probe_name",
    "program_label",
    "raw_delete",
    "raw_tracepoint",
    "raw_update",
    "resolve",
    "socket_filter",
    "sockmap",
    "split_tracepoint",
    "struct_ops",
    "syscall_function",
    "tc",
    "tracepoint",
    "tracing",
    "trampoline_refusal",
    "uprobe",
    "uprobe_multi",
    "usdt",
    "xdp",
]
