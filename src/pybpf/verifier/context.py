"""Context access: which loads and stores through ``r1`` a program type
allows, and what a load yields (a scalar, or a packet or socket pointer).

:func:`ctx_access` is the kernel's ``is_valid_access`` of each program type,
driven by the tables of :mod:`pybpf.spec.contexts` and the struct layouts
of :mod:`pybpf.spec`.  Sockets reached through pointers (``bpf_sock``,
``bpf_tcp_sock``, ``bpf_xdp_sock``) are checked by :func:`sock_access`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

from ..spec import contexts as C
from ..spec import struct_layout
from .state import (
    PTR_MAYBE_NULL,
    PTR_TO_PACKET,
    PTR_TO_PACKET_END,
    PTR_TO_PACKET_META,
    PTR_TO_SOCK_COMMON,
    PTR_TO_SOCKET,
    PTR_TO_TCP_SOCK,
    PTR_TO_TP_BUFFER,
    PTR_TO_XDP_SOCK,
    SCALAR_VALUE,
)

READ = 0
WRITE = 1

REG_TYPES = {"PTR_TO_PACKET": PTR_TO_PACKET, "PTR_TO_PACKET_END": PTR_TO_PACKET_END,
             "PTR_TO_PACKET_META": PTR_TO_PACKET_META}


class Access(NamedTuple):
    """An allowed context access: the type a load yields and, for a narrow
    load of a wider field, that field's size (0 otherwise)."""

    reg_type: int = SCALAR_VALUE
    field_size: int = 0


@functools.cache
def _fields(struct: str) -> list[tuple[int, int, str]]:
    """``(offset, end, name)`` of the top-level fields of ``struct``."""
    return [(f.offset, f.offset + f.size, f.name) for f in struct_layout(struct)]


def field_at(struct: str, off: int) -> tuple[str, int, int] | None:
    """The field of ``struct`` containing byte ``off``: (name, offset, size)."""
    for start, end, name in _fields(struct):
        if start <= off < end:
            return name, start, end - start
    return None


def _narrow_ok(off: int, size: int, size_default: int) -> bool:
    return size <= size_default and (size & (size - 1)) == 0


def _wide_ok(struct: str, field: str, off: int, size: int) -> bool:
    f = struct_layout(struct).field(field)
    return size == 8 and off >= f.offset and off + 8 <= f.offset + f.size and not off % 8


def ctx_access(prog_type: str, attach_type: str | None, off: int, size: int, t: int,
               is_ldsx: bool = False, bpf_capable: bool = True) -> Access | None:
    """What a ``size``-byte access at ``off`` of the context gives, or None
    when the program type does not allow it."""
    fn = _BY_TYPE.get(prog_type)
    if fn is None:
        return None
    return fn(prog_type, attach_type, off, size, t, is_ldsx, bpf_capable)


def ctx_size(prog_type: str) -> int:
    struct = C.CTX_STRUCT.get(prog_type)
    return struct_layout(struct).size if struct else 0


# --- __sk_buff ---------------------------------------------------------------------------

def _skb_base(off: int, size: int, t: int, is_ldsx: bool) -> Access | None:
    """bpf_skb_is_valid_access: the rules every skb program type shares."""
    sz = struct_layout("__sk_buff").size
    if off < 0 or off >= sz or off % size:
        return None
    f = field_at("__sk_buff", off)
    if f is None:
        return None  # padding
    name, start, fsize = f
    if name == "cb":
        if off + size > start + fsize:
            return None
        return Access()
    if name in ("data", "data_meta", "data_end"):
        if is_ldsx or size != 4:
            return None
        return Access()
    if name in ("remote_ip6", "local_ip6", "remote_ip4", "local_ip4"):
        return Access() if size == 4 else None
    if name == "flow_keys":
        return None
    if name in ("tstamp", "hwtstamp"):
        return Access() if size == 8 else None
    if name == "sk":
        if t == WRITE or size != 8 or off != start:
            return None
        return Access(PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL)
    if name == "tstamp_type":
        return None
    if t == WRITE:
        return Access() if size == 4 else None
    return _narrow(off, size, 4)


def _narrow(off: int, size: int, size_default: int) -> Access | None:
    if not _narrow_ok(off, size, size_default):
        return None
    return Access(SCALAR_VALUE, size_default)


def _skb(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
         bpf_capable: bool) -> Access | None:
    f = field_at("__sk_buff", off)
    name = f[0] if f else None
    if name in C.SKB_DENIED.get(prog_type, ()):
        return None
    if name == "tstamp_type" and prog_type in C.SKB_TSTAMP_TYPE_READERS:
        return Access() if size == 1 and t == READ else None
    if prog_type == "cgroup_skb" and name in ("data", "data_end") and not bpf_capable:
        return None
    if t == WRITE:
        writable = C.SKB_WRITABLE.get(prog_type, frozenset())
        if name not in writable:
            return None
        if prog_type == "cgroup_skb" and name == "tstamp" and not bpf_capable:
            return None
    a = _skb_base(off, size, t, is_ldsx)
    if a is None:
        return None
    if name in C.SKB_POINTER_FIELDS and t == READ:
        return Access(REG_TYPES[C.SKB_POINTER_FIELDS[name]])
    return a


# --- xdp ---------------------------------------------------------------------------------

def _xdp(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
         bpf_capable: bool) -> Access | None:
    f = field_at("xdp_md", off)
    name = f[0] if f else None
    if attach != "xdp_devmap" and name == "egress_ifindex" and off == f[1]:
        return None
    if t == WRITE:
        return None
    if name in ("data", "data_meta", "data_end") and is_ldsx:
        return None
    if off < 0 or off >= struct_layout("xdp_md").size or off % size or size != 4:
        return None
    if name == "data":
        return Access(PTR_TO_PACKET)
    if name == "data_meta":
        return Access(PTR_TO_PACKET_META)
    if name == "data_end":
        return Access(PTR_TO_PACKET_END)
    return Access()


# --- tracing -----------------------------------------------------------------------------

def _tracepoint(prog_type: str, attach: str | None, off: int, size: int, t: int,
                is_ldsx: bool, bpf_capable: bool) -> Access | None:
    if off < 8 or off >= C.PERF_MAX_TRACE_SIZE or t != READ or off % size:
        return None
    return Access()


def _kprobe(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
            bpf_capable: bool) -> Access | None:
    sz = struct_layout("pt_regs").size
    if off < 0 or off >= sz or t != READ or off % size or off + size > sz:
        return None
    return Access()


def _perf_event(prog_type: str, attach: str | None, off: int, size: int, t: int,
                is_ldsx: bool, bpf_capable: bool) -> Access | None:
    sz = struct_layout("bpf_perf_event_data").size
    if off < 0 or off >= sz or t != READ or off % size:
        return None
    f = field_at("bpf_perf_event_data", off)
    if f and f[0] in ("sample_period", "addr"):
        return _narrow(off, size, 8)
    return Access() if size == 8 else None


def _raw_tp(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
            bpf_capable: bool) -> Access | None:
    ptr = False
    if prog_type == "raw_tracepoint_writable" and off == 0:
        if size != 8 or t != READ:
            return None
        ptr = True
    if off < 0 or off >= 8 * C.RAW_TP_MAX_ARGS or t != READ or off % size:
        return None
    return Access(PTR_TO_TP_BUFFER) if ptr else Access()


# --- sockets -----------------------------------------------------------------------------

def sock_is_valid(off: int, size: int, t: int) -> Access | None:
    """bpf_sock_is_valid_access."""
    sz = struct_layout("bpf_sock").size
    if off < 0 or off >= sz or off % size:
        return None
    f = field_at("bpf_sock", off)
    if f is None:
        return None
    name = f[0]
    if name in ("state", "family", "type", "protocol", "src_port", "rx_queue_mapping") and \
            off == f[1]:
        return _narrow(off, size, 4)
    if name in ("src_ip4", "src_ip6", "dst_ip4", "dst_ip6"):
        return _narrow(off, size, 4)
    if name == "dst_port":
        fs = 4 if size == 4 else 2
        return _narrow(off, size, fs)
    return Access() if size == 4 else None


def sock_common_is_valid(off: int, size: int, t: int) -> Access | None:
    lay = struct_layout("bpf_sock")
    if lay.field("type").offset <= off < lay.field("priority").offset + 4:
        return None
    return sock_is_valid(off, size, t)


def tcp_sock_is_valid(off: int, size: int, t: int) -> Access | None:
    lay = struct_layout("bpf_tcp_sock")
    end = lay.field("icsk_retransmits").offset + lay.field("icsk_retransmits").size
    if off < 0 or off >= end or off % size:
        return None
    if off in (lay.field("bytes_received").offset, lay.field("bytes_acked").offset):
        return Access() if size == 8 else None
    return Access() if size == 4 else None


def xdp_sock_is_valid(off: int, size: int, t: int) -> Access | None:
    lay = struct_layout("bpf_xdp_sock")
    end = lay.field("queue_id").offset + lay.field("queue_id").size
    if off < 0 or off >= end or off % size:
        return None
    return Access() if size == 4 else None


def sock_access(reg_type: int, off: int, size: int, t: int) -> Access | None:
    """An access through a socket pointer of ``reg_type``."""
    if reg_type == PTR_TO_SOCK_COMMON:
        return sock_common_is_valid(off, size, t)
    if reg_type == PTR_TO_SOCKET:
        return sock_is_valid(off, size, t)
    if reg_type == PTR_TO_TCP_SOCK:
        return tcp_sock_is_valid(off, size, t)
    if reg_type == PTR_TO_XDP_SOCK:
        return xdp_sock_is_valid(off, size, t)
    return None


def _cgroup_sock(prog_type: str, attach: str | None, off: int, size: int, t: int,
                 is_ldsx: bool, bpf_capable: bool) -> Access | None:
    a = sock_is_valid(off, size, t)
    if a is None:
        return None
    f = field_at("bpf_sock", off)
    name = f[0] if f else ""
    attach = attach or "cgroup_inet_sock_create"
    if name in ("bound_dev_if", "mark", "priority") and off == f[1]:
        return a if attach in ("cgroup_inet_sock_create", "cgroup_inet_sock_release") else None
    if name == "src_ip4":
        return a if attach == "cgroup_inet4_post_bind" and t == READ else None
    if name == "src_ip6":
        return a if attach == "cgroup_inet6_post_bind" and t == READ else None
    if name == "src_port":
        return a if attach in ("cgroup_inet4_post_bind", "cgroup_inet6_post_bind") and \
            t == READ else None
    return a if t == READ else None


def _sock_addr(prog_type: str, attach: str | None, off: int, size: int, t: int,
               is_ldsx: bool, bpf_capable: bool) -> Access | None:
    st = "bpf_sock_addr"
    if off < 0 or off >= struct_layout(st).size or off % size:
        return None
    f = field_at(st, off)
    name = f[0] if f else ""
    if name in C.SOCK_ADDR_FAMILY_FIELDS and attach not in C.SOCK_ADDR_FAMILY_FIELDS[name]:
        return None
    if name in ("user_ip4", "user_ip6", "msg_src_ip4", "msg_src_ip6", "user_port"):
        if _wide_ok(st, "user_ip6", off, size) or _wide_ok(st, "msg_src_ip6", off, size):
            return Access()
        if t == READ:
            return _narrow(off, size, 4)
        return Access() if size == 4 else None
    if name == "sk" and off == f[1]:
        if t != READ or size != 8:
            return None
        return Access(PTR_TO_SOCKET)
    if t == READ:
        return Access() if size == 4 else None
    return None


def _sock_ops(prog_type: str, attach: str | None, off: int, size: int, t: int,
              is_ldsx: bool, bpf_capable: bool) -> Access | None:
    st = "bpf_sock_ops"
    lay = struct_layout(st)
    if off < 0 or off >= lay.size or off % size:
        return None
    f = field_at(st, off)
    name = f[0] if f else ""
    if t == WRITE:
        if off in (lay.field("reply").offset, lay.field("sk_txhash").offset):
            return Access() if size == 4 else None
        return None
    if name in ("bytes_received", "bytes_acked"):
        return Access() if size == 8 else None
    if name == "sk":
        return Access(PTR_TO_SOCKET | PTR_MAYBE_NULL) if size == 8 else None
    if name == "skb_data":
        return Access(PTR_TO_PACKET) if size == 8 else None
    if name == "skb_data_end":
        return Access(PTR_TO_PACKET_END) if size == 8 else None
    if name == "skb_tcp_flags":
        return _narrow(off, size, 4)
    if name == "skb_hwtstamp":
        return Access() if size == 8 else None
    return Access() if size == 4 else None


def _sk_msg(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
            bpf_capable: bool) -> Access | None:
    if t == WRITE or off % size:
        return None
    f = field_at("sk_msg_md", off)
    if f is None:
        return None
    name, start, _ = f
    if off == start and name in ("data", "data_end", "sk"):
        if size != 8:
            return None
        return Access({"data": PTR_TO_PACKET, "data_end": PTR_TO_PACKET_END,
                       "sk": PTR_TO_SOCKET}[name])
    if name in ("family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port",
                "local_port", "size"):
        return Access() if size == 4 else None
    return None


def _sk_lookup(prog_type: str, attach: str | None, off: int, size: int, t: int,
               is_ldsx: bool, bpf_capable: bool) -> Access | None:
    st = "bpf_sk_lookup"
    if off < 0 or off >= struct_layout(st).size or off % size or t != READ:
        return None
    lay = struct_layout(st)
    if off == lay.field("sk").offset:
        return Access(PTR_TO_SOCKET | PTR_MAYBE_NULL) if size == 8 else None
    rp = lay.field("remote_port")
    if rp.offset <= off < rp.offset + rp.size:
        if size == 4:
            return Access()
        return _narrow(off, size, 2)
    if rp.offset + rp.size <= off < lay.field("local_ip4").offset:
        return _narrow(off, size, 2)
    f = field_at(st, off)
    if f and f[0] in ("family", "protocol", "remote_ip4", "local_ip4", "remote_ip6",
                      "local_ip6", "local_port", "ingress_ifindex"):
        return _narrow(off, size, 4)
    return None


def _sk_reuseport(prog_type: str, attach: str | None, off: int, size: int, t: int,
                  is_ldsx: bool, bpf_capable: bool) -> Access | None:
    st = "sk_reuseport_md"
    if off < 0 or off >= struct_layout(st).size or off % size or t != READ:
        return None
    f = field_at(st, off)
    if f is None:
        return None
    name, start, _ = f
    if off == start:
        if name == "data":
            return Access(PTR_TO_PACKET) if size == 8 else None
        if name == "data_end":
            return Access(PTR_TO_PACKET_END) if size == 8 else None
        if name == "hash":
            return Access() if size == 4 else None
        if name == "sk":
            return Access(PTR_TO_SOCKET) if size == 8 else None
        if name == "migrating_sk":
            return Access(PTR_TO_SOCK_COMMON | PTR_MAYBE_NULL) if size == 8 else None
    if name == "eth_protocol" and size < 2:
        return None
    if name in ("eth_protocol", "ip_protocol", "bind_inany", "len"):
        return _narrow(off, size, 4)
    return None


def _sysctl(prog_type: str, attach: str | None, off: int, size: int, t: int, is_ldsx: bool,
            bpf_capable: bool) -> Access | None:
    if off < 0 or off + size > struct_layout("bpf_sysctl").size or off % size:
        return None
    f = field_at("bpf_sysctl", off)
    name = f[0] if f else ""
    if name == "write":
        if t != READ:
            return None
        return _narrow(off, size, 4)
    if name == "file_pos":
        if t == READ:
            return _narrow(off, size, 4)
        return Access() if size == 4 else None
    return None


def _cgroup_dev(prog_type: str, attach: str | None, off: int, size: int, t: int,
                is_ldsx: bool, bpf_capable: bool) -> Access | None:
    if t == WRITE:
        return None
    if off < 0 or off + size > struct_layout("bpf_cgroup_dev_ctx").size or off % size:
        return None
    f = field_at("bpf_cgroup_dev_ctx", off)
    if f and f[0] == "access_type":
        return _narrow(off, size, 4)
    return Access() if size == 4 else None


def _sockopt(prog_type: str, attach: str | None, off: int, size: int, t: int,
             is_ldsx: bool, bpf_capable: bool) -> Access | None:
    st = "bpf_sockopt"
    if off < 0 or off >= struct_layout(st).size or off % size:
        return None
    f = field_at(st, off)
    name, start = (f[0], f[1]) if f else ("", -1)
    if t == WRITE:
        if off != start:
            return None
        if name == "retval":
            return Access() if size == 4 and attach == "cgroup_getsockopt" else None
        if name in ("optname", "level"):
            return Access() if size == 4 and attach == "cgroup_setsockopt" else None
        if name == "optlen":
            return Access() if size == 4 else None
        return None
    if off == start and name in ("sk", "optval", "optval_end"):
        if size != 8:
            return None
        return Access({"sk": PTR_TO_SOCKET, "optval": PTR_TO_PACKET,
                       "optval_end": PTR_TO_PACKET_END}[name])
    if name == "retval" and off == start:
        return Access() if size == 4 and attach == "cgroup_getsockopt" else None
    return Access() if size == 4 else None


def _tracing(prog_type: str, attach: str | None, off: int, size: int, t: int,
             is_ldsx: bool, bpf_capable: bool) -> Access | None:
    if off < 0 or off % 8 or t != READ or size != 8:
        return None
    return Access()


def _syscall(prog_type: str, attach: str | None, off: int, size: int, t: int,
             is_ldsx: bool, bpf_capable: bool) -> Access | None:
    # the context is the caller's buffer of any size up to 64 KiB, checked at run time
    if off < 0 or off >= C.SYSCALL_CTX_MAX or off % size:
        return None
    return Access()


_BY_TYPE = {t: _skb for t in C.SKB_TYPES}
_BY_TYPE.update({
    "xdp": _xdp, "tracepoint": _tracepoint, "kprobe": _kprobe, "perf_event": _perf_event,
    "raw_tracepoint": _raw_tp, "raw_tracepoint_writable": _raw_tp,
    "cgroup_sock": _cgroup_sock, "cgroup_sock_addr": _sock_addr, "sock_ops": _sock_ops,
    "sk_msg": _sk_msg, "sk_lookup": _sk_lookup, "sk_reuseport": _sk_reuseport,
    "cgroup_sysctl": _sysctl, "cgroup_device": _cgroup_dev, "cgroup_sockopt": _sockopt,
    "tracing": _tracing, "lsm": _tracing, "syscall": _syscall,
})
