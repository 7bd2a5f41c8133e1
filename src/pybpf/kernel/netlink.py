"""rtnetlink in pure Python: what attaching XDP and tc programs needs.

A :class:`RtNetlink` socket sends one request at a time and reads the
kernel's answer; errors come back as :class:`~pybpf.errors.KernelError`
with the kernel's extended-ack message when it gives one.  On top of it:

* XDP: :func:`xdp_set` (``RTM_SETLINK`` with ``IFLA_XDP``), :func:`xdp_query`
* tc: :func:`clsact_add` / :func:`clsact_del` (the ``clsact`` qdisc),
  :func:`bpf_filter_add` / :func:`bpf_filter_del` / :func:`bpf_filters`
  (``cls_bpf`` filters in direct-action mode)

Numbers come from :mod:`pybpf.spec.netlink`.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

from ..errors import KernelError
from ..spec import netlink as N

_HDR = struct.Struct(N.NLMSGHDR)
_ATTR = struct.Struct(N.NLATTR)
_IFINFO = struct.Struct(N.IFINFOMSG)
_TCMSG = struct.Struct(N.TCMSG)


def _align(n: int) -> int:
    return (n + N.NLMSG_ALIGNTO - 1) & ~(N.NLMSG_ALIGNTO - 1)


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (padded to 4 bytes)."""
    length = _ATTR.size + len(payload)
    return _ATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def attr_u32(kind: int, value: int) -> bytes:
    """A u32 attribute."""
    return attr(kind, struct.pack("=I", value & 0xFFFFFFFF))


def attr_s32(kind: int, value: int) -> bytes:
    """An s32 attribute."""
    return attr(kind, struct.pack("=i", value))


def attr_str(kind: int, value: str) -> bytes:
    """A NUL-terminated string attribute."""
    return attr(kind, value.encode() + b"\0")


def nested(kind: int, *attrs: bytes) -> bytes:
    """A nested attribute holding ``attrs``."""
    return attr(kind | N.NLA_F_NESTED, b"".join(attrs))


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """The attributes in ``data`` from ``offset``: ``{type: payload}``."""
    out: dict[int, bytes] = {}
    pos = offset
    while pos + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, pos)
        if length < _ATTR.size:
            break
        out[kind & N.NLA_TYPE_MASK] = bytes(data[pos + _ATTR.size:pos + length])
        pos += _align(length)
    return out


def u32(payload: bytes) -> int:
    """A u32 attribute's value."""
    return struct.unpack_from("=I", payload)[0]


def cstr(payload: bytes) -> str:
    """A string attribute's value."""
    return payload.split(b"\0", 1)[0].decode("utf-8", "replace")


class RtNetlink:
    """An ``AF_NETLINK``/``NETLINK_ROUTE`` socket."""

    def __init__(self) -> None:
        self.sock = socket.socket(N.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  N.NETLINK_ROUTE)
        try:
            self.sock.bind((0, 0))
            for opt in (N.NETLINK_EXT_ACK, N.NETLINK_CAP_ACK):
                # older kernels lack these: errors then come without messages
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(N.SOL_NETLINK, opt, 1)
        except BaseException:
            self.sock.close()
            raise
        self._seq = 0

    def request(self, msg_type: int, flags: int, body: bytes, what: str) -> list[bytes]:
        """Send one request (``NLM_F_REQUEST | NLM_F_ACK`` added) and return
        the payloads of the answers (many for a dump); an error answer
        raises :class:`KernelError`."""
        self._seq += 1
        seq = self._seq
        flags |= N.NLM_F_REQUEST | N.NLM_F_ACK
        self.sock.send(_HDR.pack(_HDR.size + len(body), msg_type, flags, seq, 0) + body)
        out: list[bytes] = []
        while True:
            data = self.sock.recv(1 << 16)
            pos = 0
            while pos + _HDR.size <= len(data):
                length, mtype, mflags, mseq, _pid = _HDR.unpack_from(data, pos)
                if length < _HDR.size:
                    return out
                payload = data[pos + _HDR.size:pos + length]
                pos += _align(length)
                if mseq != seq:
                    continue
                if mtype == N.NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err == 0:
                        return out
                    raise self._error(-err, payload, mflags, what)
                if mtype == N.NLMSG_DONE:
                    return out
                out.append(payload)

    @staticmethod
    def _error(err: int, payload: bytes, flags: int, what: str) -> KernelError:
        message = ""
        if flags & N.NLM_F_ACK_TLVS:
            # the echoed request: its header only when capped, else all of it
            if flags & N.NLM_F_CAPPED:
                skip = 4 + _HDR.size
            else:
                orig_len = _HDR.unpack_from(payload, 4)[0] if len(payload) >= 4 + _HDR.size \
                    else _HDR.size
                skip = 4 + _align(orig_len)
            attrs = parse_attrs(payload, skip)
            if N.NLMSGERR_ATTR_MSG in attrs:
                message = cstr(attrs[N.NLMSGERR_ATTR_MSG])
        text = f"{what}: {os.strerror(err)} ({_errno.errorcode.get(err, err)})"
        if message:
            text += f": {message}"
        elif err == _errno.EPERM:
            text += ": needs CAP_NET_ADMIN"
        return KernelError(text, errno=err, operation="rtnetlink")

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ifindex(interface: str | int) -> int:
    """The index of network interface ``interface`` (a name or an index)."""
    if isinstance(interface, int):
        return interface
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise KernelError(f"no network interface {interface!r} in this network namespace",
                          errno=_errno.ENODEV, operation="if_nametoindex") from None


def ifname(index: int) -> str:
    """The name of interface ``index`` (the number as text if it is gone)."""
    try:
        return socket.if_indextoname(index)
    except OSError:
        return str(index)


# --- XDP -----------------------------------------------------------------------------

def xdp_set(interface: str | int, prog_fd: int, flags: int = 0,
            expected_fd: int | None = None) -> None:
    """Attach the XDP program ``prog_fd`` to ``interface`` (``-1``
    detaches); ``flags`` are ``XDP_FLAGS_*`` (mode, ``UPDATE_IF_NOEXIST``);
    with ``expected_fd`` only if that program is the one attached."""
    index = ifindex(interface)
    xdp = [attr_s32(N.IFLA_XDP_FD, prog_fd)]
    if expected_fd is not None:
        flags |= N.XDP_FLAGS_REPLACE
        xdp.append(attr_s32(N.IFLA_XDP_EXPECTED_FD, expected_fd))
    if flags:
        xdp.append(attr_u32(N.IFLA_XDP_FLAGS, flags))
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + nested(N.IFLA_XDP, *xdp)
    what = f"{'detach XDP from' if prog_fd < 0 else 'attach XDP to'} {ifname(index)}"
    with RtNetlink() as nl:
        nl.request(N.RTM_SETLINK, 0, body, what)


def xdp_query(interface: str | int) -> dict[str, int]:
    """What XDP program ``interface`` runs: ``{"attached": mode, "prog_id":
    id, "drv_prog_id"..., "skb_prog_id"..., "hw_prog_id"...}`` (ids 0 when
    none)."""
    index = ifindex(interface)
    body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0)
    with RtNetlink() as nl:
        answers = nl.request(N.RTM_GETLINK, 0, body, f"query XDP of {ifname(index)}")
    out = {"attached": 0, "prog_id": 0, "drv_prog_id": 0, "skb_prog_id": 0, "hw_prog_id": 0}
    for payload in answers:
        attrs = parse_attrs(payload, _IFINFO.size)
        if N.IFLA_XDP not in attrs:
            continue
        xdp = parse_attrs(attrs[N.IFLA_XDP])
        if N.IFLA_XDP_ATTACHED in xdp:
            out["attached"] = xdp[N.IFLA_XDP_ATTACHED][0]
        for key, kind in (("prog_id", N.IFLA_XDP_PROG_ID), ("drv_prog_id",
                          N.IFLA_XDP_DRV_PROG_ID), ("skb_prog_id", N.IFLA_XDP_SKB_PROG_ID),
                          ("hw_prog_id", N.IFLA_XDP_HW_PROG_ID)):
            if kind in xdp:
                out[key] = u32(xdp[kind])
    return out


# --- tc ------------------------------------------------------------------------------

def _tcmsg(index: int, handle: int, parent: int, info: int) -> bytes:
    return _TCMSG.pack(socket.AF_UNSPEC, index, handle, parent, info)


CLSACT_HANDLE = N.tc_handle(N.TC_H_CLSACT, 0)


def clsact_add(interface: str | int) -> bool:
    """Add the ``clsact`` qdisc to ``interface``; False when it had one."""
    index = ifindex(interface)
    body = _tcmsg(index, CLSACT_HANDLE, N.TC_H_CLSACT, 0) + attr_str(N.TCA_KIND, "clsact")
    try:
        with RtNetlink() as nl:
            nl.request(N.RTM_NEWQDISC, N.NLM_F_CREATE | N.NLM_F_EXCL, body,
                       f"add clsact qdisc to {ifname(index)}")
    except KernelError as e:
        if e.errno == _errno.EEXIST:
            return False
        raise
    return True


def clsact_del(interface: str | int) -> None:
    """Remove the ``clsact`` qdisc (and every filter on it)."""
    index = ifindex(interface)
    body = _tcmsg(index, CLSACT_HANDLE, N.TC_H_CLSACT, 0) + attr_str(N.TCA_KIND, "clsact")
    with RtNetlink() as nl:
        nl.request(N.RTM_DELQDISC, 0, body, f"remove clsact qdisc from {ifname(index)}")


def tc_parent(direction: str) -> int:
    """The clsact parent handle of ``ingress`` or ``egress``."""
    if direction not in ("ingress", "egress"):
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}")
    return N.tc_handle(N.TC_H_CLSACT, N.TC_H_MIN_INGRESS if direction == "ingress"
                       else N.TC_H_MIN_EGRESS)


def bpf_filter_add(interface: str | int, direction: str, prog_fd: int, *, name: str = "",
                   priority: int = 1, handle: int = 1, direct_action: bool = True,
                   replace: bool = False) -> None:
    """Add a ``cls_bpf`` filter running ``prog_fd`` on ``interface``'s
    ``direction`` (clsact must be there)."""
    index = ifindex(interface)
    info = N.tc_handle(priority << 16, socket.htons(N.ETH_P_ALL))
    opts = [attr_u32(N.TCA_BPF_FD, prog_fd), attr_str(N.TCA_BPF_NAME, name or "pybpf")]
    if direct_action:
        opts.append(attr_u32(N.TCA_BPF_FLAGS, N.TCA_BPF_FLAG_ACT_DIRECT))
    body = _tcmsg(index, handle, tc_parent(direction), info) + attr_str(N.TCA_KIND, "bpf") + \
        nested(N.TCA_OPTIONS, *opts)
    flags = N.NLM_F_CREATE | (N.NLM_F_REPLACE if replace else N.NLM_F_EXCL)
    with RtNetlink() as nl:
        nl.request(N.RTM_NEWTFILTER, flags, body,
                   f"add tc {direction} filter to {ifname(index)} (priority {priority}, "
                   f"handle {handle})")


def bpf_filter_del(interface: str | int, direction: str, *, priority: int = 1,
                   handle: int = 1) -> None:
    """Remove the filter ``priority``/``handle`` of ``direction``."""
    index = ifindex(interface)
    info = N.tc_handle(priority << 16, socket.htons(N.ETH_P_ALL))
    body = _tcmsg(index, handle, tc_parent(direction), info) + attr_str(N.TCA_KIND, "bpf")
    with RtNetlink() as nl:
        nl.request(N.RTM_DELTFILTER, 0, body,
                   f"remove tc {direction} filter from {ifname(index)}")


def bpf_filters(interface: str | int, direction: str) -> list[dict[str, Any]]:
    """The ``cls_bpf`` filters of ``direction``: ``{"priority", "handle",
    "prog_id", "name", "direct_action"}`` each."""
    index = ifindex(interface)
    body = _tcmsg(index, 0, tc_parent(direction), 0)
    with RtNetlink() as nl:
        answers = nl.request(N.RTM_GETTFILTER, N.NLM_F_DUMP, body,
                             f"list tc {direction} filters of {ifname(index)}")
    return list(_filters(answers))


def _filters(answers: list[bytes]) -> Iterator[dict[str, Any]]:
    for payload in answers:
        _fam, _idx, handle, _parent, info = _TCMSG.unpack_from(payload)
        attrs = parse_attrs(payload, _TCMSG.size)
        if cstr(attrs.get(N.TCA_KIND, b"")) != "bpf" or N.TCA_OPTIONS not in attrs:
            continue
        opts = parse_attrs(attrs[N.TCA_OPTIONS])
        yield {"priority": info >> 16, "handle": handle,
               "prog_id": u32(opts[N.TCA_BPF_ID]) if N.TCA_BPF_ID in opts else 0,
               "name": cstr(opts.get(N.TCA_BPF_NAME, b"")),
               "direct_action": bool(u32(opts[N.TCA_BPF_FLAGS]) & N.TCA_BPF_FLAG_ACT_DIRECT)
               if N.TCA_BPF_FLAGS in opts else False}
