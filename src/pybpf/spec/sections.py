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

Each convention also names its *hook* (:data:`HOOKS`): the family module of
:mod:`pybpf.kernel.attach` that attaches such programs, the keyword that
names the target when the section does not, and the options the hook
takes.  :func:`hook_for` chooses one for a program (by section, else by
attach type and program type); ``program.attach()`` reads it::

    hook_for("xdp", "xdp").keyword                       # 'interface'
    HOOKS["kprobe"].options                              # ('retprobe', 'cookie')
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
    extra BPF_PROG_LOAD flags, how the attach target is written, and the
    hook (a key of :data:`HOOKS`) that attaches such programs."""

    pattern: str
    prog_type: str
    attach_type: str | None = None
    flags: int = 0
    target: str = T_NONE
    hook: str = ""

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
    _D("socket", "socket_filter", hook="socket_filter"),
    _D("sk_reuseport/migrate", "sk_reuseport", "sk_reuseport_select_or_migrate",
       hook="sk_reuseport"),
    _D("sk_reuseport", "sk_reuseport", "sk_reuseport_select", hook="sk_reuseport"),
    # kprobes and uprobes
    _D("kprobe+", "kprobe", None, 0, T_KPROBE, hook="kprobe"),
    _D("kretprobe+", "kprobe", None, 0, T_KPROBE, hook="kprobe"),
    _D("uprobe+", "kprobe", None, 0, T_UPROBE, hook="uprobe"),
    _D("uprobe.s+", "kprobe", None, _S, T_UPROBE, hook="uprobe"),
    _D("uretprobe+", "kprobe", None, 0, T_UPROBE, hook="uprobe"),
    _D("uretprobe.s+", "kprobe", None, _S, T_UPROBE, hook="uprobe"),
    _D("kprobe.multi+", "kprobe", "trace_kprobe_multi", 0, T_PATTERN, hook="kprobe_multi"),
    _D("kretprobe.multi+", "kprobe", "trace_kprobe_multi", 0, T_PATTERN, hook="kprobe_multi"),
    _D("kprobe.session+", "kprobe", "trace_kprobe_session", 0, T_PATTERN, hook="kprobe_multi"),
    _D("uprobe.multi+", "kprobe", "trace_uprobe_multi", 0, T_PATTERN, hook="uprobe_multi"),
    _D("uretprobe.multi+", "kprobe", "trace_uprobe_multi", 0, T_PATTERN, hook="uprobe_multi"),
    _D("uprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S, T_PATTERN, hook="uprobe_multi"),
    _D("uretprobe.multi.s+", "kprobe", "trace_uprobe_multi", _S, T_PATTERN, hook="uprobe_multi"),
    _D("uprobe.session+", "kprobe", "trace_uprobe_session", 0, T_PATTERN, hook="uprobe_multi"),
    _D("uprobe.session.s+", "kprobe", "trace_uprobe_session", _S, T_PATTERN, hook="uprobe_multi"),
    _D("ksyscall+", "kprobe", None, 0, T_NAME, hook="ksyscall"),
    _D("kretsyscall+", "kprobe", None, 0, T_NAME, hook="ksyscall"),
    _D("usdt+", "kprobe", None, 0, T_USDT, hook="usdt"),
    _D("usdt.s+", "kprobe", None, _S, T_USDT, hook="usdt"),
    # traffic control
    _D("tc/ingress", "sched_cls", "tcx_ingress", hook="tc"),
    _D("tc/egress", "sched_cls", "tcx_egress", hook="tc"),
    _D("tcx/ingress", "sched_cls", "tcx_ingress", hook="tc"),
    _D("tcx/egress", "sched_cls", "tcx_egress", hook="tc"),
    _D("tc", "sched_cls", hook="tc"),
    _D("classifier", "sched_cls", hook="tc"),
    _D("action", "sched_act", hook="tc_action"),
    _D("netkit/primary", "sched_cls", "netkit_primary", hook="netkit"),
    _D("netkit/peer", "sched_cls", "netkit_peer", hook="netkit"),
    # tracepoints
    _D("tracepoint+", "tracepoint", None, 0, T_TRACEPOINT, hook="tracepoint"),
    _D("tp+", "tracepoint", None, 0, T_TRACEPOINT, hook="tracepoint"),
    _D("raw_tracepoint+", "raw_tracepoint", None, 0, T_NAME, hook="raw_tracepoint"),
    _D("raw_tp+", "raw_tracepoint", None, 0, T_NAME, hook="raw_tracepoint"),
    _D("raw_tracepoint.w+", "raw_tracepoint_writable", None, 0, T_NAME, hook="raw_tracepoint"),
    _D("raw_tp.w+", "raw_tracepoint_writable", None, 0, T_NAME, hook="raw_tracepoint"),
    _D("tp_btf+", "tracing", "trace_raw_tp", 0, T_NAME, hook="tracing"),
    # BTF-typed tracing
    _D("fentry+", "tracing", "trace_fentry", 0, T_NAME, hook="tracing"),
    _D("fmod_ret+", "tracing", "modify_return", 0, T_NAME, hook="tracing"),
    _D("fexit+", "tracing", "trace_fexit", 0, T_NAME, hook="tracing"),
    _D("fentry.s+", "tracing", "trace_fentry", _S, T_NAME, hook="tracing"),
    _D("fmod_ret.s+", "tracing", "modify_return", _S, T_NAME, hook="tracing"),
    _D("fexit.s+", "tracing", "trace_fexit", _S, T_NAME, hook="tracing"),
    _D("freplace+", "ext", None, 0, T_NAME, hook="freplace"),
    _D("lsm+", "lsm", "lsm_mac", 0, T_NAME, hook="tracing"),
    _D("lsm.s+", "lsm", "lsm_mac", _S, T_NAME, hook="tracing"),
    _D("lsm_cgroup+", "lsm", "lsm_cgroup", 0, T_NAME, hook="tracing"),
    _D("iter+", "tracing", "trace_iter", 0, T_ANY, hook="iterator"),
    _D("iter.s+", "tracing", "trace_iter", _S, T_ANY, hook="iterator"),
    _D("syscall", "syscall", None, _S, hook="syscall"),
    # XDP
    _D("xdp.frags/devmap", "xdp", "xdp_devmap", _FRAGS, hook="xdp_map"),
    _D("xdp/devmap", "xdp", "xdp_devmap", hook="xdp_map"),
    _D("xdp.frags/cpumap", "xdp", "xdp_cpumap", _FRAGS, hook="xdp_map"),
    _D("xdp/cpumap", "xdp", "xdp_cpumap", hook="xdp_map"),
    _D("xdp.frags", "xdp", "xdp", _FRAGS, hook="xdp"),
    _D("xdp", "xdp", "xdp", hook="xdp"),
    _D("perf_event", "perf_event", hook="perf_event"),
    # lightweight tunnels
    _D("lwt_in", "lwt_in", hook="lwt"),
    _D("lwt_out", "lwt_out", hook="lwt"),
    _D("lwt_xmit", "lwt_xmit", hook="lwt"),
    _D("lwt_seg6local", "lwt_seg6local", hook="lwt"),
    # sockets
    _D("sockops", "sock_ops", "cgroup_sock_ops", hook="cgroup"),
    _D("sk_skb/stream_parser", "sk_skb", "sk_skb_stream_parser", hook="sockmap"),
    _D("sk_skb/stream_verdict", "sk_skb", "sk_skb_stream_verdict", hook="sockmap"),
    _D("sk_skb/verdict", "sk_skb", "sk_skb_verdict", hook="sockmap"),
    _D("sk_skb", "sk_skb", hook="sockmap"),
    _D("sk_msg", "sk_msg", "sk_msg_verdict", hook="sockmap"),
    _D("lirc_mode2", "lirc_mode2", "lirc_mode2", hook="lirc_mode2"),
    _D("flow_dissector", "flow_dissector", "flow_dissector", hook="netns"),
    # cgroups
    _D("cgroup_skb/ingress", "cgroup_skb", "cgroup_inet_ingress", hook="cgroup"),
    _D("cgroup_skb/egress", "cgroup_skb", "cgroup_inet_egress", hook="cgroup"),
    _D("cgroup/skb", "cgroup_skb", hook="cgroup"),
    _D("cgroup/sock_create", "cgroup_sock", "cgroup_inet_sock_create", hook="cgroup"),
    _D("cgroup/sock_release", "cgroup_sock", "cgroup_inet_sock_release", hook="cgroup"),
    _D("cgroup/sock", "cgroup_sock", "cgroup_inet_sock_create", hook="cgroup"),
    _D("cgroup/post_bind4", "cgroup_sock", "cgroup_inet4_post_bind", hook="cgroup"),
    _D("cgroup/post_bind6", "cgroup_sock", "cgroup_inet6_post_bind", hook="cgroup"),
    _D("cgroup/bind4", "cgroup_sock_addr", "cgroup_inet4_bind", hook="cgroup"),
    _D("cgroup/bind6", "cgroup_sock_addr", "cgroup_inet6_bind", hook="cgroup"),
    _D("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", hook="cgroup"),
    _D("cgroup/connect6", "cgroup_sock_addr", "cgroup_inet6_connect", hook="cgroup"),
    _D("cgroup/connect_unix", "cgroup_sock_addr", "cgroup_unix_connect", hook="cgroup"),
    _D("cgroup/sendmsg4", "cgroup_sock_addr", "cgroup_udp4_sendmsg", hook="cgroup"),
    _D("cgroup/sendmsg6", "cgroup_sock_addr", "cgroup_udp6_sendmsg", hook="cgroup"),
    _D("cgroup/sendmsg_unix", "cgroup_sock_addr", "cgroup_unix_sendmsg", hook="cgroup"),
    _D("cgroup/recvmsg4", "cgroup_sock_addr", "cgroup_udp4_recvmsg", hook="cgroup"),
    _D("cgroup/recvmsg6", "cgroup_sock_addr", "cgroup_udp6_recvmsg", hook="cgroup"),
    _D("cgroup/recvmsg_unix", "cgroup_sock_addr", "cgroup_unix_recvmsg", hook="cgroup"),
    _D("cgroup/getpeername4", "cgroup_sock_addr", "cgroup_inet4_getpeername", hook="cgroup"),
    _D("cgroup/getpeername6", "cgroup_sock_addr", "cgroup_inet6_getpeername", hook="cgroup"),
    _D("cgroup/getpeername_unix", "cgroup_sock_addr", "cgroup_unix_getpeername", hook="cgroup"),
    _D("cgroup/getsockname4", "cgroup_sock_addr", "cgroup_inet4_getsockname", hook="cgroup"),
    _D("cgroup/getsockname6", "cgroup_sock_addr", "cgroup_inet6_getsockname", hook="cgroup"),
    _D("cgroup/getsockname_unix", "cgroup_sock_addr", "cgroup_unix_getsockname", hook="cgroup"),
    _D("cgroup/sysctl", "cgroup_sysctl", "cgroup_sysctl", hook="cgroup"),
    _D("cgroup/getsockopt", "cgroup_sockopt", "cgroup_getsockopt", hook="cgroup"),
    _D("cgroup/setsockopt", "cgroup_sockopt", "cgroup_setsockopt", hook="cgroup"),
    _D("cgroup/dev", "cgroup_device", "cgroup_device", hook="cgroup"),
    # the rest
    _D("struct_ops+", "struct_ops", None, 0, T_ANY, hook="struct_ops"),
    _D("struct_ops.s+", "struct_ops", None, _S, T_ANY, hook="struct_ops"),
    _D("sk_lookup", "sk_lookup", "sk_lookup", hook="netns"),
    _D("netfilter", "netfilter", "netfilter", hook="netfilter"),
)
"""Every convention, more specific patterns before the ones they extend."""


# --- hooks: where each kind of program is attached ----------------------------------

class Hook(NamedTuple):
    """How programs of one kind are attached.

    ``family`` is the module of :mod:`pybpf.kernel.attach` that implements
    the hook (None when pybpf cannot attach such programs by themselves;
    ``note`` then says what to do instead).  ``keyword`` is the option that
    names the hook's target when the section does not (``target``,
    ``interface``, ``socket``, ``map``, ``cgroup``); ``required`` whether
    there must be one, ``what`` and ``example`` describe it for errors.
    ``options`` are the other keywords ``program.attach()`` takes for it.
    """

    name: str
    family: str | None
    keyword: str | None = None
    required: bool = False
    what: str = ""
    example: str = ""
    options: tuple[str, ...] = ()
    note: str = ""

    def accepts(self, option: str) -> bool:
        """Whether ``program.attach()`` takes keyword ``option`` for this hook."""
        return option in self.options or (self.keyword is not None and
                                          option in (self.keyword, "target"))

    def accepted(self) -> list[str]:
        """Every keyword :meth:`accepts`, sorted."""
        extra = [self.keyword, "target"] if self.keyword else []
        return sorted({*self.options, *extra})


_H = Hook
HOOKS: dict[str, Hook] = {h.name: h for h in (
    _H("tracepoint", "tracing", "target", True, "which tracepoint",
       "'sched/sched_process_exit'", ("cookie",)),
    _H("raw_tracepoint", "tracing", "target", True, "which raw tracepoint", "'sched_switch'",
       ("cookie",)),
    _H("tracing", "tracing", options=("cookie",)),
    _H("iterator", "iterator", options=("map", "task", "thread", "cgroup", "cgroup_order")),
    _H("kprobe", "kprobe", "target", True, "which function", "'do_sys_openat2'",
       ("retprobe", "cookie")),
    _H("ksyscall", "kprobe", "target", True, "which system call", "'openat'",
       ("retprobe", "cookie")),
    _H("kprobe_multi", "kprobe", "target", True, "which functions", "'tcp_*'",
       ("retprobe", "cookies")),
    _H("uprobe", "uprobe", "target", True, "which binary and function",
       "'/bin/bash:readline'", ("retprobe", "cookie", "pid")),
    _H("uprobe_multi", "uprobe", "target", True, "which binary and functions",
       "'/bin/bash:read*'", ("retprobe", "pid", "cookies")),
    _H("usdt", "uprobe", "target", True, "which probe",
       "'/usr/bin/python3:python:function__entry'", ("cookie", "pid", "semaphore")),
    _H("perf_event", "perf_event",
       options=("frequency", "period", "event", "event_type", "cpus", "pid")),
    _H("cgroup", "cgroup", "cgroup", False, "which cgroup", "'/sys/fs/cgroup/app'",
       ("attach_type", "use_link", "multi")),
    _H("socket_filter", "socket", "socket", True, "which socket", "sock"),
    _H("sk_reuseport", "socket", "socket", True, "which socket of the reuseport group",
       "sock"),
    _H("sockmap", "socket", "map", True, "which sockmap", "coll.maps['sock_map']",
       ("attach_type", "use_link")),
    _H("netns", "socket", options=("attach_type", "path")),
    _H("xdp", "net", "interface", True, "which interface", "'eth0'",
       ("mode", "replace", "use_link")),
    _H("tc", "net", "interface", True, "which interface", "'eth0'",
       ("direction", "priority", "handle", "use_tcx")),
    _H("netfilter", "netfilter", options=("family", "hook", "priority", "defrag")),
    _H("struct_ops", "struct_ops",
       note="struct_ops programs are registered as a whole table: "
            "pybpf.kernel.attach.struct_ops(struct, programs, data)"),
    _H("syscall", None, note="syscall programs are not attached: run them with "
                             "program.test_run()"),
    _H("xdp_map", None, note="devmap and cpumap XDP programs run from a map entry: put the "
                             "program's fd in the devmap or cpumap value"),
    _H("freplace", None, note="freplace (ext) programs replace a function of another "
                              "program, which pybpf does not attach yet"),
    _H("tc_action", None, note="tc action programs are added with 'tc action'; pybpf "
                               "attaches sched_cls programs (tc/ingress, tc/egress)"),
    _H("netkit", None, note="netkit programs attach to a netkit device, which pybpf does "
                            "not attach yet: link_create(prog, attach_type='netkit_primary', "
                            "target_ifindex=...)"),
    _H("lwt", None, note="lightweight tunnel programs are attached to routes "
                         "('ip route ... encap bpf'), which pybpf does not do"),
    _H("lirc_mode2", None, note="lirc_mode2 programs attach to a LIRC device with "
                                "BPF_PROG_ATTACH, which pybpf does not do yet"),
)}
"""Every hook, by the name :class:`SectionDef` and :data:`PROG_TYPE_HOOKS` use."""

PROG_TYPE_HOOKS: dict[str, str] = {
    "tracepoint": "tracepoint", "raw_tracepoint": "raw_tracepoint",
    "raw_tracepoint_writable": "raw_tracepoint", "tracing": "tracing", "lsm": "tracing",
    "kprobe": "kprobe", "perf_event": "perf_event", "xdp": "xdp", "sched_cls": "tc",
    "sched_act": "tc_action", "socket_filter": "socket_filter",
    "sk_reuseport": "sk_reuseport", "sk_msg": "sockmap", "sk_skb": "sockmap",
    "cgroup_skb": "cgroup", "cgroup_sock": "cgroup", "cgroup_sock_addr": "cgroup",
    "cgroup_sockopt": "cgroup", "cgroup_sysctl": "cgroup", "cgroup_device": "cgroup",
    "sock_ops": "cgroup", "flow_dissector": "netns", "sk_lookup": "netns",
    "netfilter": "netfilter", "struct_ops": "struct_ops", "syscall": "syscall",
    "ext": "freplace", "lwt_in": "lwt", "lwt_out": "lwt", "lwt_xmit": "lwt",
    "lwt_seg6local": "lwt", "lirc_mode2": "lirc_mode2",
}
"""The hook of a program whose section follows no convention, by program type."""

ATTACH_TYPE_HOOKS: dict[str, str] = {
    "trace_iter": "iterator",
    "trace_kprobe_multi": "kprobe_multi", "trace_kprobe_session": "kprobe_multi",
    "trace_uprobe_multi": "uprobe_multi", "trace_uprobe_session": "uprobe_multi",
    "xdp_devmap": "xdp_map", "xdp_cpumap": "xdp_map",
}
"""Expected attach types that decide the hook of such a program before its type does."""

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


def hook_for(section: str, prog_type: str, attach_type: str | None = None,
             target: str | None = None) -> Hook | None:
    """The hook that attaches a program of ``prog_type`` from ``section``
    (loaded with ``attach_type``, aimed at ``target``): the section's own
    when it follows a convention, else by attach type and program type (a
    ``kprobe`` program aimed at ``binary:function`` is a uprobe).  None when
    nothing says."""
    definition = find_definition(section) if section else None
    if definition is not None:
        return HOOKS[definition.hook]
    name = ATTACH_TYPE_HOOKS.get(attach_type or "") or PROG_TYPE_HOOKS.get(prog_type)
    if name == "kprobe" and target and ":" in target:
        name = "uprobe"
    return HOOKS[name] if name else None


def is_return_probe(section: str) -> bool:
    """Whether a kprobe-family section asks for a return probe."""
    head = section.split("/", 1)[0]
    return head.startswith(("kretprobe", "uretprobe", "kretsyscall"))


def prog_types() -> list[str]:
    """Every program type some convention names."""
    return sorted({d.prog_type for d in SECTIONS})


__all__ = [
    "ATTACH_TYPE_HOOKS",
    "HOOKS",
    "PROG_TYPE_HOOKS",
    "SECTIONS",
    "Hook",
    "SectionDef",
    "SectionError",
    "SectionInfo",
    "find_definition",
    "hook_for",
    "is_return_probe",
    "lookup",
    "parse_target",
    "prog_types",
]
