"""What networking programs are attached, interface by interface.

:func:`net_list` gathers what ``bpftool net list`` shows: the XDP program of
each interface (and its mode), the tc programs — tcx links (Linux 6.6+),
netkit programs and classic ``cls_bpf`` filters on a ``clsact`` qdisc —,
the network namespace's flow dissector and the netfilter links::

    from pybpf.kernel.net import net_list

    listing = net_list()                 # or net_list("eth0")
    for x in listing.xdp:
        print(x.devname, x.mode, x.prog_id)
    for t in listing.tc:
        print(t.devname, t.kind, t.name, t.prog_id, t.link_id)

Interfaces come from one rtnetlink dump (their XDP state with them), tcx
and netkit from ``BPF_PROG_QUERY``, classic filters from rtnetlink.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from dataclasses import dataclass, field

from ..errors import KernelError
from ..spec import netlink as N
from . import netlink as _nl
from .queries import prog_query

_IFINFO = struct.Struct(N.IFINFOMSG)


@dataclass(frozen=True)
class Interface:
    """A network interface: index, name and its XDP state (``xdp_attached``
    is an ``XDP_ATTACHED_*`` value; program ids are 0 where none)."""

    ifindex: int
    name: str
    xdp_attached: int = N.XDP_ATTACHED_NONE
    xdp_prog_id: int = 0
    xdp_drv_prog_id: int = 0
    xdp_skb_prog_id: int = 0
    xdp_hw_prog_id: int = 0


def interfaces() -> list[Interface]:
    """Every interface of this network namespace, in the kernel's order,
    with its XDP state (one ``RTM_GETLINK`` dump)."""
    body = ifinfo_message(0)
    with _nl.RtNetlink() as nl:
        answers = nl.request(N.RTM_GETLINK, N.NLM_F_DUMP, body, "list network interfaces")
    out = []
    for payload in answers:
        _family, _type, index, _flags, _change = _IFINFO.unpack_from(payload)
        attrs = _nl.parse_attrs(payload, _IFINFO.size)
        name = _nl.cstr(attrs.get(N.IFLA_IFNAME, b"")) or str(index)
        xdp: dict[int, bytes] = _nl.parse_attrs(attrs[N.IFLA_XDP]) if N.IFLA_XDP in attrs \
            else {}

        def prog(kind: int, xdp: dict[int, bytes] = xdp) -> int:
            return _nl.u32(xdp[kind]) if kind in xdp else 0

        attached = xdp[N.IFLA_XDP_ATTACHED][0] if N.IFLA_XDP_ATTACHED in xdp \
            else N.XDP_ATTACHED_NONE
        out.append(Interface(index, name, attached, prog(N.IFLA_XDP_PROG_ID),
                             prog(N.IFLA_XDP_DRV_PROG_ID), prog(N.IFLA_XDP_SKB_PROG_ID),
                             prog(N.IFLA_XDP_HW_PROG_ID)))
    return out


def ifinfo_message(index: int) -> bytes:
    """An ``ifinfomsg`` for interface ``index`` (0: all)."""
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)


@dataclass(frozen=True)
class XdpAttachment:
    """An XDP program on an interface, in ``mode`` ``generic``, ``driver``
    or ``offload``."""

    devname: str
    ifindex: int
    mode: str
    prog_id: int


@dataclass(frozen=True)
class TcAttachment:
    """A tc program on an interface: ``kind`` is where (``tcx/ingress``,
    ``tcx/egress``, ``netkit/primary``, ``netkit/peer``, ``clsact/ingress``,
    ``clsact/egress``), ``name`` the program's (tcx) or the filter's
    (cls_bpf) name; ``link_id`` the tcx link (0 for none or for cls_bpf)."""

    devname: str
    ifindex: int
    kind: str
    name: str
    prog_id: int
    link_id: int = 0
    prog_flags: int = 0
    link_flags: int = 0


@dataclass(frozen=True)
class NetfilterLink:
    """A netfilter program: protocol family, hook, priority, flags."""

    prog_id: int
    link_id: int
    pf: int
    hook: int
    priority: int
    flags: int


@dataclass(frozen=True)
class NetListing:
    """Everything :func:`net_list` found."""

    xdp: list[XdpAttachment] = field(default_factory=list)
    tc: list[TcAttachment] = field(default_factory=list)
    flow_dissector: list[int] = field(default_factory=list)
    netfilter: list[NetfilterLink] = field(default_factory=list)


XDP_MODE_NAMES = {N.XDP_ATTACHED_DRV: "driver", N.XDP_ATTACHED_SKB: "generic",
                  N.XDP_ATTACHED_HW: "offload"}
"""How bpftool names the XDP attach modes rtnetlink reports."""

_TC_HOOKS = (("tcx_ingress", "tcx/ingress"), ("tcx_egress", "tcx/egress"),
             ("netkit_primary", "netkit/primary"), ("netkit_peer", "netkit/peer"))


def _xdp_of(dev: Interface) -> list[XdpAttachment]:
    if dev.xdp_attached == N.XDP_ATTACHED_NONE:
        return []
    if dev.xdp_attached in XDP_MODE_NAMES:
        return [XdpAttachment(dev.name, dev.ifindex, XDP_MODE_NAMES[dev.xdp_attached],
                              dev.xdp_prog_id)]
    out = []  # several modes at once: one program each
    for mode, prog_id in ((N.XDP_ATTACHED_SKB, dev.xdp_skb_prog_id),
                          (N.XDP_ATTACHED_DRV, dev.xdp_drv_prog_id),
                          (N.XDP_ATTACHED_HW, dev.xdp_hw_prog_id)):
        if prog_id:
            out.append(XdpAttachment(dev.name, dev.ifindex, XDP_MODE_NAMES[mode], prog_id))
    return out


def _program_name(prog_id: int) -> str:
    from . import sys as _sys
    from .info import program_info

    try:
        with _sys.get_fd_by_id("prog", prog_id) as fd:
            return program_info(int(fd)).name
    except KernelError:
        return ""


def _tc_of(dev: Interface) -> list[TcAttachment]:
    out = []
    for attach_type, kind in _TC_HOOKS:
        try:
            q = prog_query(attach_type, ifindex=dev.ifindex)
        except KernelError:  # no such hook on this device or kernel
            continue
        for i, prog_id in enumerate(q.prog_ids):
            out.append(TcAttachment(dev.name, dev.ifindex, kind, _program_name(prog_id),
                                    prog_id, q.link_ids[i], q.prog_flags[i], q.link_flags[i]))
    for direction in ("ingress", "egress"):
        try:
            filters = _nl.bpf_filters(dev.ifindex, direction)
        except KernelError:  # no clsact qdisc
            continue
        for f in filters:
            out.append(TcAttachment(dev.name, dev.ifindex, f"clsact/{direction}", f["name"],
                                    f["prog_id"]))
    return out


def _flow_dissector() -> list[int]:
    try:
        fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        return list(prog_query("flow_dissector", target_fd=fd).prog_ids)
    except KernelError:
        return []
    finally:
        os.close(fd)


_HOOK_WORDS = {"NF_INET_PRE_ROUTING": "prerouting", "NF_INET_LOCAL_IN": "input",
               "NF_INET_FORWARD": "forward", "NF_INET_LOCAL_OUT": "output",
               "NF_INET_POST_ROUTING": "postrouting"}


def netfilter_names(pf: int, hook: int) -> tuple[str, str]:
    """A netfilter link's protocol family and hook as nft spells them
    (``("ip", "input")``)."""
    from ..spec.layout import enum_name

    family = {N.NFPROTO_IPV4: "ip", N.NFPROTO_IPV6: "ip6"}.get(pf, f"pf {pf}")
    hook_name = _HOOK_WORDS.get(enum_name("nf_inet_hooks", hook) or "", f"hook {hook}")
    return family, hook_name


def _netfilter() -> list[NetfilterLink]:
    from .info import links

    out = [NetfilterLink(lk.prog_id, lk.id, lk.details["pf"], lk.details["hooknum"],
                         lk.details["priority"], lk.details["flags"])
           for lk in links() if lk.type == "netfilter"]
    return sorted(out, key=lambda n: (n.pf, n.hook, n.priority, n.flags))


def net_list(dev: str | int | None = None) -> NetListing:
    """The networking programs of every interface (or of ``dev``, a name or
    an index), the namespace's flow dissector and the netfilter links."""
    devices = interfaces()
    if dev is not None:
        index = _nl.ifindex(dev)
        devices = [d for d in devices if d.ifindex == index]
    listing = NetListing()
    for d in devices:
        listing.xdp.extend(_xdp_of(d))
        listing.tc.extend(_tc_of(d))
    listing.flow_dissector.extend(_flow_dissector())
    with contextlib.suppress(KernelError):
        listing.netfilter.extend(_netfilter())
    return listing
