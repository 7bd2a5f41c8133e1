"""libbpf's ``SEC()`` naming conventions as a table.

A program's ELF section name says what kind of program it is and where it
attaches: ``SEC("tracepoint/sched/sched_process_exit")`` is a tracepoint
program for the ``sched:sched_process_exit`` event, ``SEC("xdp")`` an XDP
program, ``SEC("fentry.s/do_unlinkat")`` a sleepable fentry program.

::

    from pybpf.spec.sections import lookup

    info = lookup("kprobe/do_sys_openat2")
    info.prog_type, info.attach_type, info.attach_to   # 'kprobe', None, 'do_sys_openat2'
    lookup("cgroup_skb/egress").attach_type            # 'cgroup_inet_egress'

Type names are the kernel's ``enum bpf_prog_type`` names lowercased without
``BPF_PROG_TYPE_``; attach types are ``enum bpf_attach_type`` names
lowercased without ``BPF_``.  Matching follows libbpf 1.x: an entry whose
pattern has a ``+`` matches the bare name or the name followed by ``/`` and
a target; other entries match the whole section name only.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import BPFError
from .defines import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS

# Target kinds: how the text after "prefix/" is read.
T_NONE = "none"
"""No target follows."""
T_NAME = "name"
"""A kernel symbol or BTF name: ``fentry/do_unlinkat``, ``lsm/file_open``."""
T_TRACEPOINT = "tracepoint"
"""``category/event``."""
T_KPROBE = "kprobe"
"""``function`` or ``function+offset``."""
T_UPROBE = "uprobe"
"""``binary:function[+offset]`` or ``binary:offset``."""
T_USDT = "usdt"
"""``binary:provider:probe``."""
T_PATTERN = "pattern"
"""A glob of kernel functions (``kprobe.multi/tcp_*``) or binary:glob."""
T_ANY = "any"
"""Free text kept as is (``struct_ops/name``, ``iter/task``)."""


class SectionDef(NamedTuple):
    """One convention: section pattern, program type, expected attach type,
    extra BPF_PROG_LOAD flags, and how the attach target is written."""

    pattern: str
    prog_type: str
    attach_type: str | None = None
    flags: int = 0
    target: str = T_NONE

    @property
    def prefix(self) -> str:
        """The pattern without its trailing ``+``."""
        return self.pattern.rstrip("+")

    @property
    def takes_target(self) -> bool:
        """Whether ``prefix/target`` names are accepted."""
        return self.pattern.endswith("+")


class SectionInfo(NamedTuple):
    """What a section name means: ``(prog_type, attach_type, attach_to,
    flags)`` plus the matching :class:`SectionDef`."""

    prog_type: str
    attach_type: str | None
    attach_to: str | None
    flags: int
    definition: SectionDef | None = None

    @property
    def sleepable(self) -> bool:
        """Whether the program must be loaded sleepable (``.s`` sections)."""
        return bool(self.flags & BPF_F_SLEEPABLE)


_S = BPF_F_SLEEPABLE
_FRAGS = BPF_F_XDP_HAS_FRAGS

_D = SectionDef
SECTIONS: tuple[SectionDef, ...] = (
    _D("socket", "socket_filter"),
    _D("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate"),
    _D("sk_reuseport", "sk_reuseport", "sk_reuseport_select"),
    # kprobes and uprobes
    _D("kprobe+", "kprobe", None, 0, T_KPROBE),
    _D("kretprobe+", "kprobe", None, 0, T_KPROBE),
    _D("uprobe+", "kprobe", None, 0, T_UPROBE),
    _D("uprobe.s+", "kprobe", None, _S, T_UPROBE),
    _D("uretprobe+", "kprobe", None, 0, T_UPROBE),
    _D("uretprobe.s+", "kprobe", None, _S, T_UPROBE),
    _D("kprobe.multi+", "kprobe", "trace_kprobe_multi", 0, T_PATTERN),
    _D("kretprobe.multi+", "kprobe", "trace_kprobe_multi", 0, T_PATTERN),
    _D("kprobe.session+", "kprobe", "trace_kprobe_session", 0, T_PATTERN),
    _D("uprobe.multi+", "kprobe", "trace_uprobe_multi", 0, T_PATTERN),
    _D("uretprobe.multi+", "kprobe", "trace_uprobe_multi", 0, T_PATTERN),
    _D("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S, T_PATTERN),
    _D("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S, T_PATTERN),
    _D("uprobe.session+", "kprobe", "trace_uprobe_session", 0, T_PATTERN),
    _D("uprobe.session.s+", "kprobe", "trace_uprobe_session", _S, T_PATTERN),
    _D("ksyscall+", "kprobe", None, 0, T_NAME),
    _D("kretsyscall+", "kprobe", None, 0, T_NAME),
    _D("usdt+", "kprobe", None, 0, T_USDT),
    _D("usdt.s+", "kprobe", None, _S, T_USDT),
    # traffic control
    _D("tc/ingress", "sched_cls", "tcx_ingress"),
    _D("tc/egress", "sched_cls", "tcx_egress"),
    _D("tcx/ingress", "sched_cls", "tcx_ingress"),
    _D("tcx/egress", "sched_cls", "tcx_egress"),
    _D("tc", "sched_cls"),
    _D("classifier", "sched_cls"),
    _D("action", "sched_act"),
    _D("netkit/primary", "sched_cls", "netkit_primary"),
    _D("netkit/peer", "sched_cls", "netkit_peer"),
    # tracepoints
    _D("tracepoint+", "tracepoint", None, 0, T_TRACEPOINT),
    _D("tp+", "tracepoint", None, 0, T_TRACEPOINT),
    _D("raw_tracepoint+", "raw_tracepoint", None, 0, T_NAME),
    _D("raw_tp+", "raw_tracepoint", None, 0, T_NAME),
    _D("raw_tracepoint.w+", "raw_tracepoint_writable", None, 0, T_NAME),
    _D("raw_tp.w+", "raw_tracepoint_writable", None, 0, T_NAME),
    _D("tp_btf+", "tracing", "trace_raw_tp", 0, T_NAME),
    # BTF-typed tracing
    _D("fentry+", "tracing", "trace_fentry", 0, T_NAME),
    _D("fmod_ret+", "tracing", "modify_return", 0, T_NAME),
    _D("fexit+", "tracing", "trace_fexit", 0, T_NAME),
    _D("fentry.s+", "tracing", "trace_fentry", _S, T_NAME),
    _D("fmod_ret.s+", "tracing", "modify_return", _S, T_NAME),
    _D("fexit.s+", "tracing", "trace_fexit", _S, T_NAME),
    _D("freplace+", "ext", None, 0, T_NAME),
    _D("lsm+", "lsm", "lsm_mac", 0, T_NAME),
    _D("lsm.s+", "lsm", "lsm_mac", _S, T_NAME),
    _D("lsm_cgroup+", "lsm", "lsm_cgroup", 0, T_NAME),
    _D("iter+", "tracing", "trace_iter", 0, T_ANY),
    _D("iter.s+", "tracing", "trace_iter", _S, T_ANY),
    _D("syscall", "syscall", None, _S),
    # XDP
    _D("xdp.frags/devmap", "xdp", "xdp_devmap", _FRAGS),
    _D("xdp/devmap", "xdp", "xdp_devmap"),
    _D("xdp.frags/cpumap", "xdp", "xdp_cpumap", _FRAGS),
    _D("xdp/cpumap", "xdp", "xdp_cpumap"),
    _D("xdp.frags", "xdp", "xdp", _FRAGS),
    _D("xdp", "xdp", "xdp"),
    _D("perf_event", "perf_event"),
    # lightweight tunnels
    _D("lwt_in", "lwt_in"),
    _D("lwt_out", "lwt_out"),
    _D("lwt_xmit", "lwt_xmit"),
    _D("lwt_seg6local", "lwt_seg6local"),
    # sockets
    _D("sockops", "sock_ops", "cgroup_sock_ops"),
    _D("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser"),
    _D("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict"),
    _D("sk_skb/verdict", "sk_skb", "sk_skb_verdict"),
    _D("sk_skb", "sk_skb"),
    _D("sk_msg", "sk_msg", "sk_msg_verdict"),
    _D("lirc_mode2", "lirc_mode2", "lirc_mode2"),
    _D("flow_dissector", "flow_dissector", "flow_dissector"),
    # cgroups
    _D("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress"),
    _D("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress"),
    _D("cgroup/skb", "cgroup_skb"),
    _D("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create"),
    _D("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release"),
    _D("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create"),
    _D("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind"),
    _D("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind"),
    _D("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind"),
    _D("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind"),
    _D("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect"),
    _D("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect"),
    _D("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect"),
    _D("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg"),
    _D("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg"),
    _D("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg"),
    _D("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg"),
    _D("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg"),
    _D("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg"),
    _D("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername"),
    _D("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername"),
    _D("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername"),
    _D("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname"),
    _D("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname"),
    _D("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname"),
    _D("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl"),
    _D("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt"),
    _D("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt"),
    _D("cgroup/dev", "cgroup_device", "cgroup_device"),
    # the rest
    _D("struct_ops+", "struct_ops", None, 0, T_ANY),
    _D("struct_ops.s+", "struct_ops", None, _S, T_ANY),
    _D("sk_lookup", "sk_lookup", "sk_lookup"),
    _D("netfilter", "netfilter", "netfilter"),
)
"""Every convention, more specific patterns before the ones they extend."""

_EXACT = {d.pattern: d for d in SECTIONS if not d.takes_target}
_PREFIXED = {d.prefix: d for d in SECTIONS if d.takes_target}


def find_definition(section: str) -> SectionDef | None:
    """The convention ``section`` follows, or None if it follows none."""
    found = _EXACT.get(section)
    if found is not None:
        return found
    found = _PREFIXED.get(section)
    if found is not None:
        return found
    slash = section.find("/")
    while slash > 0:
        found = _PREFIXED.get(section[:slash])
        if found is not None:
            return found
        slash = section.find("/", slash + 1)
    return None


_TRACEPOINT = re.compile(r"^[^/\s]+/[^/\s]+$")


class SectionError(BPFError, ValueError):
    """A section name that follows a convention but whose target is malformed."""


def parse_target(definition: SectionDef, target: str) -> str:
    """Check and normalize the attach target written after the prefix."""
    kind = definition.target
    if not target:
        return target
    if kind == T_TRACEPOINT:
        if not _TRACEPOINT.match(target):
            raise SectionError(f"tracepoint target {target!r} is not 'category/event'")
    elif kind == T_KPROBE:
        func, _, offset = target.partition("+")
        if not func or (offset and not _is_int(offset)):
            raise SectionError(f"kprobe target {target!r} is not 'function[+offset]'")
    elif kind == T_UPROBE:
        binary, sep, where = target.rpartition(":")
        if not sep or not binary or not where:
            raise SectionError(f"uprobe target {target!r} is not "
                               "'binary:function[+offset]' or 'binary:offset'")
    elif kind == T_USDT:
        if target.count(":") < 2 or any(not p for p in target.rsplit(":", 2)):
            raise SectionError(f"usdt target {target!r} is not 'binary:provider:probe'")
    elif kind == T_NAME and "/" in target and definition.prefix not in ("ksyscall",
                                                                         "kretsyscall"):
        raise SectionError(f"{definition.prefix} target {target!r} should be one name")
    return target


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True


def lookup(section: str, *, strict: bool = False) -> SectionInfo | None:
    """What ``section`` means as a program section, or None when it follows
    no convention.  A malformed target raises :class:`SectionError` when
    ``strict``; otherwise it is kept as written."""
    definition = find_definition(section)
    if definition is None:
        return None
    target: str | None = None
    if definition.takes_target and len(section) > len(definition.prefix):
        target = section[len(definition.prefix) + 1:]
        try:
            target = parse_target(definition, target) or None
        except SectionError:
            if strict:
                raise
    return SectionInfo(definition.prog_type, definition.attach_type, target,
                       definition.flags, definition)


def is_return_probe(section: str) -> bool:
    """Whether a kprobe-family section asks for a return probe."""
    head = section.split("/", 1)[0]
    return head.startswith(("kretprobe", "uretprobe", "kretsyscall"))


def prog_types() -> list[str]:
    """Every program type some convention names."""
    return sorted({d.prog_type for d in SECTIONS})


__all__ = [
    "SECTIONS",
    "SectionDef",
    "SectionError",
    "SectionInfo",
    "find_definition",
    "is_return_probe",
    "lookup",
    "parse_target",
    "prog_types",
]
