"""Network interface hooks: XDP and tc programs.

::

    from pybpf.kernel.attach import xdp, tc

    with xdp(prog, "veth0", mode="generic"):    # a BPF link (Linux 5.9+)
        ...
    with tc(prog, "veth0", "ingress"):          # tcx link (6.6+) or clsact + cls_bpf
        ...

Both prefer BPF links and fall back to rtnetlink (:mod:`pybpf.kernel.netlink`)
on kernels without them; either way the result detaches on ``close()``.
"""

from __future__ import annotations

import contextlib
import errno as _errno
from collections.abc import Callable
from typing import Any

from ...errors import AttachError, KernelError
from ...spec import netlink as N
from .. import netlink as _nl
from .._fd import fd_of
from ..links import KernelLink, link_create
from ._base import LINK_UNSUPPORTED, Attachment, AttachRequest, program_label

__all__ = ["TcNetlinkAttachment", "XdpNetlinkAttachment", "tc", "xdp"]


def _mode_flags(mode: str | None) -> int:
    if mode is None:
        return 0
    try:
        return N.XDP_MODES[mode]
    except KeyError:
        raise AttachError(f"unknown XDP mode {mode!r} (use {', '.join(sorted(N.XDP_MODES))} "
                       f"or None)") from None


class XdpNetlinkAttachment(Attachment):
    """An XDP program attached over rtnetlink (kernels without XDP links, or
    ``use_link=False``): closing removes it if it is still the one attached."""

    kind = "xdp"

    def __init__(self, index: int, flags: int, *, program: Any, target: str):
        super().__init__(program=program, target=target)
        self.ifindex = index
        self.flags = flags

    def _release(self) -> None:
        mode = self.flags & (N.XDP_FLAGS_SKB_MODE | N.XDP_FLAGS_DRV_MODE | N.XDP_FLAGS_HW_MODE)
        with contextlib.suppress(KernelError):
            expected = fd_of(self.program) if not getattr(self.program, "closed", False) \
                else None
            _nl.xdp_set(self.ifindex, -1, mode, expected_fd=expected)


def xdp(program: Any, interface: str | int, *, mode: str | None = None,
        replace: bool = False, use_link: bool | None = None) -> KernelLink | Attachment:
    """Attach an XDP program to ``interface`` (a name or index) in ``mode``
    (``generic``/``skb``, ``driver``/``native``, ``offload``/``hw``, or
    None to let the kernel choose): an XDP BPF link, or rtnetlink on kernels
    without (before 5.9; ``use_link=False`` forces it, and ``replace``
    then swaps out a program already attached)."""
    index = _nl.ifindex(interface)
    flags = _mode_flags(mode)
    label = f"xdp {_nl.ifname(index)}" + (f" ({mode})" if mode else "")
    if use_link is not False:
        try:
            return link_create(program, attach_type="xdp", target_ifindex=index, flags=flags,
                               target=label)
        except KernelError as e:
            if e.errno == _errno.EBUSY:
                raise KernelError(f"attach {program_label(program)} to {label}: another XDP "
                                  f"program is attached already (detach it first)",
                                  errno=e.errno, operation=e.operation) from e
            if use_link or e.errno not in LINK_UNSUPPORTED:
                raise
    nl_flags = flags | (0 if replace else N.XDP_FLAGS_UPDATE_IF_NOEXIST)
    _nl.xdp_set(index, fd_of(program), nl_flags)
    return XdpNetlinkAttachment(index, flags, program=program, target=label + " (netlink)")


class TcNetlinkAttachment(Attachment):
    """A ``cls_bpf`` filter on a ``clsact`` qdisc: closing removes the
    filter, and the qdisc too when this attachment created it and no filter
    is left on it."""

    kind = "tc"

    def __init__(self, index: int, direction: str, priority: int, handle: int,
                 created_qdisc: bool, *, program: Any, target: str):
        super().__init__(program=program, target=target)
        self.ifindex = index
        self.direction = direction
        self.priority = priority
        self.handle = handle
        self.created_qdisc = created_qdisc

    def _release(self) -> None:
        with contextlib.suppress(KernelError):
            _nl.bpf_filter_del(self.ifindex, self.direction, priority=self.priority,
                               handle=self.handle)
        if self.created_qdisc:
            with contextlib.suppress(KernelError):
                if not (_nl.bpf_filters(self.ifindex, "ingress") or
                        _nl.bpf_filters(self.ifindex, "egress")):
                    _nl.clsact_del(self.ifindex)


def tc(program: Any, interface: str | int, direction: str = "ingress", *,
       priority: int | None = None, handle: int = 1, use_tcx: bool | None = None
       ) -> KernelLink | Attachment:
    """Attach a ``sched_cls`` program to ``interface``'s ``ingress`` or
    ``egress``: a tcx link where the kernel has them (Linux 6.6+; the
    program's return value is the verdict, ``TC_ACT_*``), else a
    direct-action ``cls_bpf`` filter on a ``clsact`` qdisc (added if
    missing) at ``priority``/``handle``.  ``use_tcx`` forces one way."""
    if direction not in ("ingress", "egress"):
        raise AttachError(f"tc direction must be 'ingress' or 'egress', not {direction!r}")
    index = _nl.ifindex(interface)
    label = f"tc {_nl.ifname(index)} {direction}"
    if use_tcx is not False and priority is None:
        try:
            return link_create(program, attach_type=f"tcx_{direction}", target_ifindex=index,
                               target=label + " (tcx)")
        except KernelError as e:
            if use_tcx or e.errno not in LINK_UNSUPPORTED:
                raise
    elif use_tcx:
        raise AttachError("tcx links have no priorities: leave priority out or use_tcx=False")
    prio = priority or 1
    created = _nl.clsact_add(index)
    try:
        _nl.bpf_filter_add(index, direction, fd_of(program),
                           name=getattr(program, "name", "") or "pybpf", priority=prio,
                           handle=handle)
    except BaseException:
        if created:
            with contextlib.suppress(KernelError):
                _nl.clsact_del(index)
        raise
    return TcNetlinkAttachment(index, direction, prio, handle, created, program=program,
                               target=f"{label} (cls_bpf priority {prio} handle {handle})")


def _tc_from(r: AttachRequest) -> Any:
    direction = r.options.pop("direction", None)
    if direction is None:
        at = str(getattr(r.program, "expected_attach_type", None) or "")
        direction = "egress" if "egress" in (at or r.section) else "ingress"
    return tc(r.program, r.target, direction, **r.options)


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "xdp": lambda r: xdp(r.program, r.target, **r.options),
    "tc": _tc_from,
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
