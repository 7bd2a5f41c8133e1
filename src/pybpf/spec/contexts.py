"""Program contexts as the kernel's verifier sees them: which struct ``r1``
points at for each program type, which of its fields a program may read or
write, and which fields yield pointers.

Field names are those of :func:`pybpf.spec.struct_layout`; ranges of array
members (``cb[0]``..``cb[4]``) are whole fields here (``cb``).  The rules
are those of the kernel's ``*_is_valid_access`` functions (Linux 6.18);
:mod:`pybpf.verifier` interprets them and :mod:`pybpf.vm` reads the same
table for what its contexts let programs write.
"""

from __future__ import annotations

CTX_STRUCT: dict[str, str | None] = {
    "socket_filter": "__sk_buff", "sched_cls": "__sk_buff", "sched_act": "__sk_buff",
    "cgroup_skb": "__sk_buff", "lwt_in": "__sk_buff", "lwt_out": "__sk_buff",
    "lwt_xmit": "__sk_buff", "lwt_seg6local": "__sk_buff", "sk_skb": "__sk_buff",
    "flow_dissector": "__sk_buff",
    "xdp": "xdp_md",
    "cgroup_sock": "bpf_sock", "cgroup_sock_addr": "bpf_sock_addr",
    "sock_ops": "bpf_sock_ops", "sk_msg": "sk_msg_md", "sk_lookup": "bpf_sk_lookup",
    "sk_reuseport": "sk_reuseport_md", "cgroup_sysctl": "bpf_sysctl",
    "cgroup_device": "bpf_cgroup_dev_ctx", "cgroup_sockopt": "bpf_sockopt",
    "perf_event": "bpf_perf_event_data", "kprobe": "pt_regs",
    "raw_tracepoint": "bpf_raw_tracepoint_args",
    "raw_tracepoint_writable": "bpf_raw_tracepoint_args",
    "tracepoint": None, "tracing": None, "lsm": None, "syscall": None,
}
"""The context struct of each program type (None: raw memory or BTF arguments)."""

SYSCALL_CTX_MAX = 0xFFFF
"""A syscall program's context accesses stay below this offset (U16_MAX)."""

SKB_TYPES = frozenset(t for t, s in CTX_STRUCT.items() if s == "__sk_buff")

SKB_WRITABLE: dict[str, frozenset[str]] = {
    "socket_filter": frozenset({"cb"}),
    "cgroup_skb": frozenset({"mark", "priority", "cb", "tstamp"}),
    "sched_cls": frozenset({"mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                            "queue_mapping"}),
    "sched_act": frozenset({"mark", "tc_index", "priority", "tc_classid", "cb", "tstamp",
                            "queue_mapping"}),
    "lwt_in": frozenset({"mark", "priority", "cb"}),
    "lwt_out": frozenset({"mark", "priority", "cb"}),
    "lwt_xmit": frozenset({"mark", "priority", "cb"}),
    "lwt_seg6local": frozenset({"mark", "priority", "cb"}),
    "sk_skb": frozenset({"tc_index", "priority"}),
}
"""``__sk_buff`` fields each program type's verifier lets programs store to."""

SKB_DENIED: dict[str, frozenset[str]] = {
    "socket_filter": frozenset({"tc_classid", "data", "data_meta", "data_end", "family",
                                "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                                "remote_port", "local_port", "tstamp", "wire_len",
                                "hwtstamp"}),
    "cgroup_skb": frozenset({"tc_classid", "data_meta", "wire_len"}),
    "sched_cls": frozenset({"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                            "remote_port", "local_port"}),
    "sched_act": frozenset({"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6",
                            "remote_port", "local_port"}),
    "lwt_in": frozenset({"tc_classid", "family", "remote_ip4", "local_ip4", "remote_ip6",
                         "local_ip6", "remote_port", "local_port", "data_meta", "tstamp",
                         "wire_len", "hwtstamp"}),
    "sk_skb": frozenset({"tc_classid", "data_meta", "tstamp", "wire_len", "hwtstamp", "mark"}),
}
"""``__sk_buff`` fields a program type may not touch at all."""
for _t in ("lwt_out", "lwt_xmit", "lwt_seg6local"):
    SKB_DENIED[_t] = SKB_DENIED["lwt_in"]

SKB_TSTAMP_TYPE_READERS = frozenset({"sched_cls", "sched_act"})
"""Program types that may read ``__sk_buff.tstamp_type`` (one byte)."""

SKB_POINTER_FIELDS: dict[str, str] = {"data": "PTR_TO_PACKET", "data_end": "PTR_TO_PACKET_END",
                                      "data_meta": "PTR_TO_PACKET_META"}
"""``__sk_buff`` fields that yield packet pointers where they may be read."""

SKB_EXACT_SIZE: dict[str, int] = {"data": 4, "data_meta": 4, "data_end": 4, "remote_ip6": 4,
                                  "local_ip6": 4, "remote_ip4": 4, "local_ip4": 4, "tstamp": 8,
                                  "hwtstamp": 8}
"""``__sk_buff`` fields that must be accessed with exactly this size."""

SOCK_ADDR_FAMILY_FIELDS: dict[str, frozenset[str]] = {
    "user_ip4": frozenset({"cgroup_inet4_bind", "cgroup_inet4_connect",
                           "cgroup_inet4_getpeername", "cgroup_inet4_getsockname",
                           "cgroup_udp4_sendmsg", "cgroup_udp4_recvmsg"}),
    "user_ip6": frozenset({"cgroup_inet6_bind", "cgroup_inet6_connect",
                           "cgroup_inet6_getpeername", "cgroup_inet6_getsockname",
                           "cgroup_udp6_sendmsg", "cgroup_udp6_recvmsg"}),
    "msg_src_ip4": frozenset({"cgroup_udp4_sendmsg"}),
    "msg_src_ip6": frozenset({"cgroup_udp6_sendmsg"}),
}
"""``bpf_sock_addr`` address fields and the attach types that may use them."""

PERF_MAX_TRACE_SIZE = 8192
"""Bytes of a tracepoint record a tracepoint program may read."""
RAW_TP_MAX_ARGS = 12
"""Arguments (u64 each) a raw tracepoint program may read."""
