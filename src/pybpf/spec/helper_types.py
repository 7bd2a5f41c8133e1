"""Helper functions as the kernel's verifier types them (Linux 6.18).

``HELPER_TYPES`` maps a helper's name (without ``bpf_``) to its return type,
argument types and flags, spelled with the kernel's ``enum bpf_return_type``
and ``enum bpf_arg_type`` names minus their ``RET_``/``ARG_`` prefix, with
type flags after ``|`` (``PTR_TO_MEM|RDONLY``, ``PTR_TO_MAP_VALUE|UNINIT|
WRITE``, ``PTR_TO_RINGBUF_MEM|RELEASE``).  A fixed-size memory argument
says its size in parentheses (``PTR_TO_FIXED_SIZE_MEM(8)``); a BTF-typed
pointer its struct after a colon (``PTR_TO_BTF_ID:task_struct``).  Flags of
the helper itself: ``gpl`` (GPL-only), ``pkt`` (may take packet pointers),
``sleep`` (may sleep), ``pkt_data`` (changes packet data: packet pointers
are invalidated after the call).

``PROG_HELPERS`` says which helpers each program type may call: the
families of the kernel's ``*_func_proto`` functions, resolved to sets of
names.  :mod:`pybpf.helpers.prototypes` (``HELPER_PROTOS``, the C
signatures) is the other helper table; this one is what verification needs.
"""

from __future__ import annotations

from typing import NamedTuple


class HelperType(NamedTuple):
    """A helper's verifier prototype."""

    ret: str
    args: tuple[str, ...]
    flags: frozenset[str] = frozenset()


def _h(ret: str, *args: str, flags: str = "") -> HelperType:
    return HelperType(ret, args, frozenset(flags.split()))


_MEM_RO = "PTR_TO_MEM|RDONLY"
_UNINIT = "PTR_TO_MEM|UNINIT|WRITE"

HELPER_TYPES: dict[str, HelperType] = {
    "map_lookup_elem": _h("PTR_TO_MAP_VALUE_OR_NULL", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                          flags="pkt"),
    "map_update_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_MAP_KEY", "PTR_TO_MAP_VALUE",
                          "ANYTHING", flags="pkt"),
    "map_delete_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_MAP_KEY", flags="pkt"),
    "map_push_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_MAP_VALUE", "ANYTHING",
                        flags="pkt"),
    "map_pop_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_MAP_VALUE|UNINIT|WRITE"),
    "map_peek_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_MAP_VALUE|UNINIT|WRITE"),
    "map_lookup_percpu_elem": _h("PTR_TO_MAP_VALUE_OR_NULL", "CONST_MAP_PTR",
                                 "PTR_TO_MAP_KEY", "ANYTHING", flags="pkt"),
    "probe_read": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING", flags="gpl"),
    "probe_read_user": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING", flags="gpl"),
    "probe_read_kernel": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING", flags="gpl"),
    "probe_read_str": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING", flags="gpl"),
    "probe_read_user_str": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING",
                              flags="gpl"),
    "probe_read_kernel_str": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING",
                                flags="gpl"),
    "ktime_get_ns": _h("INTEGER"),
    "ktime_get_boot_ns": _h("INTEGER"),
    "ktime_get_tai_ns": _h("INTEGER"),
    "ktime_get_coarse_ns": _h("INTEGER"),
    "jiffies64": _h("INTEGER"),
    "trace_printk": _h("INTEGER", _MEM_RO, "CONST_SIZE", flags="gpl"),
    "trace_vprintk": _h("INTEGER", _MEM_RO, "CONST_SIZE", "PTR_TO_MEM|MAYBE_NULL|RDONLY",
                        "CONST_SIZE_OR_ZERO", flags="gpl"),
    "get_prandom_u32": _h("INTEGER"),
    "get_smp_processor_id": _h("INTEGER"),
    "get_numa_node_id": _h("INTEGER"),
    "skb_store_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _MEM_RO, "CONST_SIZE",
                          "ANYTHING", flags="pkt_data"),
    "l3_csum_replace": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                          "ANYTHING", flags="pkt_data"),
    "l4_csum_replace": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                          "ANYTHING", flags="pkt_data"),
    "tail_call": _h("VOID", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING"),
    "clone_redirect": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING"),
    "get_current_pid_tgid": _h("INTEGER"),
    "get_current_uid_gid": _h("INTEGER"),
    "get_current_comm": _h("INTEGER", _UNINIT, "CONST_SIZE"),
    "get_cgroup_classid": _h("INTEGER", "PTR_TO_CTX"),
    "skb_vlan_push": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", flags="pkt_data"),
    "skb_vlan_pop": _h("INTEGER", "PTR_TO_CTX", flags="pkt_data"),
    "skb_get_tunnel_key": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE", "ANYTHING"),
    "skb_set_tunnel_key": _h("INTEGER", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE", "ANYTHING"),
    "perf_event_read": _h("INTEGER", "CONST_MAP_PTR", "ANYTHING", flags="gpl"),
    "redirect": _h("INTEGER", "ANYTHING", "ANYTHING"),
    "get_route_realm": _h("INTEGER", "PTR_TO_CTX"),
    "perf_event_output": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING", _MEM_RO,
                            "CONST_SIZE_OR_ZERO", flags="gpl"),
    "skb_load_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _UNINIT, "CONST_SIZE"),
    "skb_load_bytes_relative": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _UNINIT, "CONST_SIZE",
                                  "ANYTHING"),
    "get_stackid": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING", flags="gpl"),
    "csum_diff": _h("INTEGER", "PTR_TO_MEM|MAYBE_NULL|RDONLY", "CONST_SIZE_OR_ZERO",
                    "PTR_TO_MEM|MAYBE_NULL|RDONLY", "CONST_SIZE_OR_ZERO", "ANYTHING",
                    flags="pkt"),
    "skb_get_tunnel_opt": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE"),
    "skb_set_tunnel_opt": _h("INTEGER", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE"),
    "skb_change_proto": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", flags="pkt_data"),
    "skb_change_type": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "skb_under_cgroup": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING"),
    "get_hash_recalc": _h("INTEGER", "PTR_TO_CTX"),
    "get_current_task": _h("INTEGER", flags="gpl"),
    "probe_write_user": _h("INTEGER", "ANYTHING", _MEM_RO, "CONST_SIZE", flags="gpl"),
    "current_task_under_cgroup": _h("INTEGER", "CONST_MAP_PTR", "ANYTHING"),
    "skb_change_tail": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", flags="pkt_data"),
    "skb_pull_data": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", flags="pkt_data"),
    "csum_update": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "csum_level": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "set_hash_invalid": _h("INTEGER", "PTR_TO_CTX"),
    "skb_change_head": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", flags="pkt_data"),
    "xdp_adjust_head": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", flags="pkt_data"),
    "xdp_adjust_meta": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", flags="pkt_data"),
    "xdp_adjust_tail": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", flags="pkt_data"),
    "get_socket_cookie": _h("INTEGER", "PTR_TO_CTX"),
    "get_socket_uid": _h("INTEGER", "PTR_TO_CTX"),
    "set_hash": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "setsockopt": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", _MEM_RO, "CONST_SIZE"),
    "getsockopt": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", _UNINIT, "CONST_SIZE"),
    "skb_adjust_room": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                          flags="pkt_data"),
    "redirect_map": _h("INTEGER", "CONST_MAP_PTR", "ANYTHING", "ANYTHING"),
    "sk_redirect_map": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING", "ANYTHING"),
    "sock_map_update": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                          "ANYTHING"),
    "sock_hash_update": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                           "ANYTHING"),
    "sk_redirect_hash": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                           "ANYTHING"),
    "msg_redirect_map": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "ANYTHING", "ANYTHING"),
    "msg_redirect_hash": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                            "ANYTHING"),
    "msg_apply_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "msg_cork_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "msg_pull_data": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                        flags="pkt_data"),
    "msg_push_data": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                        flags="pkt_data"),
    "msg_pop_data": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING", "ANYTHING",
                       flags="pkt_data"),
    "perf_event_read_value": _h("INTEGER", "CONST_MAP_PTR", "ANYTHING", _UNINIT,
                                "CONST_SIZE", flags="gpl"),
    "perf_prog_read_value": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE", flags="gpl"),
    "override_return": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", flags="gpl"),
    "sock_ops_cb_flags_set": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "bind": _h("INTEGER", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE"),
    "skb_get_xfrm_state": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _UNINIT, "CONST_SIZE",
                             "ANYTHING"),
    "get_stack": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING", flags="gpl"),
    "get_task_stack": _h("INTEGER", "PTR_TO_BTF_ID:task_struct", _UNINIT,
                         "CONST_SIZE_OR_ZERO", "ANYTHING"),
    "fib_lookup": _h("INTEGER", "PTR_TO_CTX", "PTR_TO_MEM", "CONST_SIZE", "ANYTHING", flags="gpl"),
    "lwt_push_encap": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _MEM_RO, "CONST_SIZE",
                         flags="pkt_data"),
    "skb_cgroup_id": _h("INTEGER", "PTR_TO_CTX"),
    "skb_ancestor_cgroup_id": _h("INTEGER", "PTR_TO_CTX", "ANYTHING"),
    "sk_cgroup_id": _h("INTEGER", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "sk_ancestor_cgroup_id": _h("INTEGER", "PTR_TO_BTF_ID_SOCK_COMMON", "ANYTHING"),
    "get_current_cgroup_id": _h("INTEGER"),
    "get_current_ancestor_cgroup_id": _h("INTEGER", "ANYTHING"),
    "get_local_storage": _h("PTR_TO_MAP_VALUE", "CONST_MAP_PTR", "ANYTHING"),
    "sk_select_reuseport": _h("INTEGER", "PTR_TO_CTX", "CONST_MAP_PTR", "PTR_TO_MAP_KEY",
                              "ANYTHING"),
    "sk_lookup_tcp": _h("PTR_TO_SOCKET_OR_NULL", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE",
                        "ANYTHING", "ANYTHING", flags="pkt"),
    "sk_lookup_udp": _h("PTR_TO_SOCKET_OR_NULL", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE",
                        "ANYTHING", "ANYTHING", flags="pkt"),
    "skc_lookup_tcp": _h("PTR_TO_SOCK_COMMON_OR_NULL", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE",
                         "ANYTHING", "ANYTHING", flags="pkt"),
    "sk_release": _h("INTEGER", "PTR_TO_BTF_ID_SOCK_COMMON|RELEASE"),
    "spin_lock": _h("VOID", "PTR_TO_SPIN_LOCK"),
    "spin_unlock": _h("VOID", "PTR_TO_SPIN_LOCK"),
    "sk_fullsock": _h("PTR_TO_SOCKET_OR_NULL", "PTR_TO_SOCK_COMMON"),
    "tcp_sock": _h("PTR_TO_TCP_SOCK_OR_NULL", "PTR_TO_SOCK_COMMON"),
    "get_listener_sock": _h("PTR_TO_SOCKET_OR_NULL", "PTR_TO_SOCK_COMMON"),
    "skb_ecn_set_ce": _h("INTEGER", "PTR_TO_CTX"),
    "tcp_check_syncookie": _h("INTEGER", "PTR_TO_BTF_ID_SOCK_COMMON", _MEM_RO, "CONST_SIZE",
                              _MEM_RO, "CONST_SIZE", flags="gpl pkt"),
    "tcp_gen_syncookie": _h("INTEGER", "PTR_TO_BTF_ID_SOCK_COMMON", _MEM_RO, "CONST_SIZE",
                            _MEM_RO, "CONST_SIZE", flags="gpl pkt"),
    "sysctl_get_name": _h("INTEGER", "PTR_TO_CTX", "PTR_TO_MEM", "CONST_SIZE", "ANYTHING"),
    "sysctl_get_current_value": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE"),
    "sysctl_get_new_value": _h("INTEGER", "PTR_TO_CTX", _UNINIT, "CONST_SIZE"),
    "sysctl_set_new_value": _h("INTEGER", "PTR_TO_CTX", _MEM_RO, "CONST_SIZE"),
    "strtol": _h("INTEGER", _MEM_RO, "CONST_SIZE", "ANYTHING",
                 "PTR_TO_FIXED_SIZE_MEM(8)|UNINIT|WRITE|ALIGNED"),
    "strtoul": _h("INTEGER", _MEM_RO, "CONST_SIZE", "ANYTHING",
                  "PTR_TO_FIXED_SIZE_MEM(8)|UNINIT|WRITE|ALIGNED"),
    "strncmp": _h("INTEGER", _MEM_RO, "CONST_SIZE", "PTR_TO_CONST_STR"),
    "sk_storage_get": _h("PTR_TO_MAP_VALUE_OR_NULL", "CONST_MAP_PTR",
                         "PTR_TO_BTF_ID_SOCK_COMMON", "PTR_TO_MAP_VALUE|MAYBE_NULL",
                         "ANYTHING"),
    "sk_storage_delete": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "send_signal": _h("INTEGER", "ANYTHING"),
    "send_signal_thread": _h("INTEGER", "ANYTHING"),
    "get_netns_cookie": _h("INTEGER", "PTR_TO_CTX|MAYBE_NULL"),
    "sk_assign": _h("INTEGER", "PTR_TO_CTX", "PTR_TO_BTF_ID_SOCK_COMMON", "ANYTHING"),
    "ringbuf_output": _h("INTEGER", "CONST_MAP_PTR", _MEM_RO, "CONST_SIZE_OR_ZERO", "ANYTHING"),
    "ringbuf_reserve": _h("PTR_TO_RINGBUF_MEM_OR_NULL", "CONST_MAP_PTR",
                          "CONST_ALLOC_SIZE_OR_ZERO", "ANYTHING"),
    "ringbuf_submit": _h("VOID", "PTR_TO_RINGBUF_MEM|RELEASE", "ANYTHING"),
    "ringbuf_discard": _h("VOID", "PTR_TO_RINGBUF_MEM|RELEASE", "ANYTHING"),
    "ringbuf_query": _h("INTEGER", "CONST_MAP_PTR", "ANYTHING"),
    "skc_to_tcp6_sock": _h("PTR_TO_BTF_ID_OR_NULL:tcp6_sock", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_tcp_sock": _h("PTR_TO_BTF_ID_OR_NULL:tcp_sock", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_tcp_timewait_sock": _h("PTR_TO_BTF_ID_OR_NULL:tcp_timewait_sock",
                                   "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_tcp_request_sock": _h("PTR_TO_BTF_ID_OR_NULL:tcp_request_sock",
                                  "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_udp6_sock": _h("PTR_TO_BTF_ID_OR_NULL:udp6_sock", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_unix_sock": _h("PTR_TO_BTF_ID_OR_NULL:unix_sock", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "skc_to_mptcp_sock": _h("PTR_TO_BTF_ID_OR_NULL:mptcp_sock", "PTR_TO_BTF_ID_SOCK_COMMON"),
    "get_current_task_btf": _h("PTR_TO_BTF_ID_TRUSTED:task_struct", flags="gpl"),
    "d_path": _h("INTEGER", "PTR_TO_BTF_ID:path", "PTR_TO_MEM|WRITE", "CONST_SIZE_OR_ZERO"),
    "copy_from_user": _h("INTEGER", _UNINIT, "CONST_SIZE_OR_ZERO", "ANYTHING",
                         flags="sleep"),
    "snprintf": _h("INTEGER", "PTR_TO_MEM|MAYBE_NULL|UNINIT|WRITE", "CONST_SIZE_OR_ZERO",
                   "PTR_TO_CONST_STR", "PTR_TO_MEM|MAYBE_NULL|RDONLY", "CONST_SIZE_OR_ZERO", flags="gpl"),
    "for_each_map_elem": _h("INTEGER", "CONST_MAP_PTR", "PTR_TO_FUNC", "PTR_TO_STACK_OR_NULL",
                            "ANYTHING"),
    "loop": _h("INTEGER", "ANYTHING", "PTR_TO_FUNC", "PTR_TO_STACK_OR_NULL", "ANYTHING"),
    "timer_init": _h("INTEGER", "PTR_TO_TIMER", "CONST_MAP_PTR", "ANYTHING", flags="gpl"),
    "timer_set_callback": _h("INTEGER", "PTR_TO_TIMER", "PTR_TO_FUNC", flags="gpl"),
    "timer_start": _h("INTEGER", "PTR_TO_TIMER", "ANYTHING", "ANYTHING", flags="gpl"),
    "timer_cancel": _h("INTEGER", "PTR_TO_TIMER", flags="gpl"),
    "get_func_ip": _h("INTEGER", "PTR_TO_CTX", flags="gpl"),
    "get_attach_cookie": _h("INTEGER", "PTR_TO_CTX"),
    "check_mtu": _h("INTEGER", "PTR_TO_CTX", "ANYTHING",
                    "PTR_TO_FIXED_SIZE_MEM(4)|UNINIT|WRITE|ALIGNED", "ANYTHING", "ANYTHING", flags="gpl"),
    "xdp_get_buff_len": _h("INTEGER", "PTR_TO_CTX"),
    "xdp_load_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _UNINIT, "CONST_SIZE"),
    "xdp_store_bytes": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", _MEM_RO, "CONST_SIZE"),
    "get_retval": _h("INTEGER"),
    "set_retval": _h("INTEGER", "ANYTHING"),
    "skb_set_tstamp": _h("INTEGER", "PTR_TO_CTX", "ANYTHING", "ANYTHING"),
    "skb_cgroup_classid": _h("INTEGER", "PTR_TO_CTX"),
    "redirect_neigh": _h("INTEGER", "ANYTHING", "PTR_TO_MEM|MAYBE_NULL|RDONLY",
                         "CONST_SIZE_OR_ZERO", "ANYTHING"),
    "redirect_peer": _h("INTEGER", "ANYTHING", "ANYTHING"),
    "get_ns_current_pid_tgid": _h("INTEGER", "ANYTHING", "ANYTHING", _UNINIT, "CONST_SIZE"),
}
"""Every helper the verifier models, by name (see the module docstring)."""


# --- which program types may call which helpers --------------------------------------------

BASE = frozenset({
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "map_lookup_percpu_elem", "get_prandom_u32", "get_smp_processor_id",
    "get_numa_node_id", "tail_call", "ktime_get_ns", "ktime_get_boot_ns", "ktime_get_tai_ns",
    "ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query",
    "strncmp", "strtol", "strtoul", "get_current_pid_tgid", "get_ns_current_pid_tgid",
    "get_current_uid_gid", "get_current_comm",
})
"""``bpf_base_func_proto`` for any caller."""
BASE_CAP_BPF = frozenset({
    "spin_lock", "spin_unlock", "jiffies64", "timer_init", "timer_set_callback",
    "timer_start", "timer_cancel", "for_each_map_elem", "loop", "get_current_cgroup_id",
    "get_current_ancestor_cgroup_id", "current_task_under_cgroup", "get_cgroup_classid",
})
"""... with CAP_BPF."""
BASE_CAP_PERFMON = frozenset({
    "trace_printk", "get_current_task", "get_current_task_btf", "probe_read_user",
    "probe_read_kernel", "probe_read_user_str", "probe_read_kernel_str", "snprintf",
    "trace_vprintk", "perf_event_read_value", "send_signal", "send_signal_thread",
})
"""... with CAP_PERFMON."""
SK_BASE = frozenset({"skc_to_tcp6_sock", "skc_to_tcp_sock", "skc_to_tcp_timewait_sock",
                     "skc_to_tcp_request_sock", "skc_to_udp6_sock", "skc_to_unix_sock",
                     "skc_to_mptcp_sock", "ktime_get_coarse_ns"})
"""``bpf_sk_base_func_proto``: what networking program types add to the base."""

TRACING = frozenset({
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem",
    "map_peek_elem", "map_lookup_percpu_elem", "ktime_get_ns", "ktime_get_boot_ns",
    "tail_call", "get_current_pid_tgid", "get_current_task", "get_current_task_btf",
    "get_current_uid_gid", "get_current_comm", "trace_printk", "get_smp_processor_id",
    "get_numa_node_id", "perf_event_read", "current_task_under_cgroup", "get_prandom_u32",
    "probe_write_user", "probe_read_user", "probe_read_kernel", "probe_read_user_str",
    "probe_read_kernel_str", "probe_read", "probe_read_str", "get_current_cgroup_id",
    "get_current_ancestor_cgroup_id", "send_signal", "send_signal_thread",
    "perf_event_read_value", "get_ns_current_pid_tgid", "ringbuf_output", "ringbuf_reserve",
    "ringbuf_submit", "ringbuf_discard", "ringbuf_query", "jiffies64", "get_task_stack",
    "copy_from_user", "for_each_map_elem", "snprintf", "get_func_ip", "trace_vprintk",
    "loop", "strncmp", "timer_init", "timer_set_callback", "timer_start", "timer_cancel",
    "spin_lock", "spin_unlock", "ktime_get_tai_ns",
})
"""``bpf_tracing_func_proto``."""

_SKB_LOAD = {"skb_load_bytes", "skb_load_bytes_relative", "get_socket_cookie",
             "get_socket_uid", "perf_event_output"}
_SK_LOOKUP = {"sk_lookup_tcp", "sk_lookup_udp", "sk_release", "skc_lookup_tcp",
              "tcp_check_syncookie", "tcp_gen_syncookie"}

PROG_HELPERS: dict[str, frozenset[str]] = {
    "socket_filter": frozenset(_SKB_LOAD),
    "sched_cls": frozenset({
        "skb_store_bytes", "skb_load_bytes", "skb_load_bytes_relative", "skb_pull_data",
        "csum_diff", "csum_update", "csum_level", "l3_csum_replace", "l4_csum_replace",
        "clone_redirect", "get_cgroup_classid", "skb_vlan_push", "skb_vlan_pop",
        "skb_change_proto", "skb_change_type", "skb_adjust_room", "skb_change_tail",
        "skb_change_head", "skb_get_tunnel_key", "skb_set_tunnel_key", "skb_get_tunnel_opt",
        "skb_set_tunnel_opt", "redirect", "redirect_map", "redirect_neigh", "redirect_peer",
        "get_route_realm", "get_hash_recalc", "set_hash_invalid", "set_hash",
        "perf_event_output", "get_smp_processor_id", "skb_under_cgroup", "get_socket_cookie",
        "get_socket_uid", "fib_lookup", "check_mtu", "skb_get_xfrm_state",
        "skb_cgroup_classid", "skb_cgroup_id", "skb_ancestor_cgroup_id", "sk_fullsock",
        "sk_storage_get", "sk_storage_delete", "tcp_sock", "get_listener_sock",
        "skb_ecn_set_ce", "sk_assign", "skb_set_tstamp", "get_netns_cookie",
        *_SK_LOOKUP}),
    "xdp": frozenset({
        "perf_event_output", "get_smp_processor_id", "csum_diff", "xdp_adjust_head",
        "xdp_adjust_meta", "redirect", "redirect_map", "xdp_adjust_tail", "fib_lookup",
        "check_mtu", "xdp_get_buff_len", "xdp_load_bytes", "xdp_store_bytes", *_SK_LOOKUP}),
    "cgroup_skb": frozenset({
        "get_local_storage", "sk_fullsock", "sk_storage_get", "sk_storage_delete",
        "perf_event_output", "skb_cgroup_id", "skb_ancestor_cgroup_id", "sk_cgroup_id",
        "sk_ancestor_cgroup_id", "tcp_sock", "get_listener_sock", "skb_ecn_set_ce",
        "sk_lookup_tcp", "sk_lookup_udp", "sk_release", "skc_lookup_tcp",
        "skb_load_bytes", "skb_load_bytes_relative", "get_socket_cookie", "get_socket_uid"}),
    "lwt_in": frozenset({"skb_load_bytes", "skb_pull_data", "csum_diff", "get_cgroup_classid",
                         "get_route_realm", "get_hash_recalc", "perf_event_output",
                         "get_smp_processor_id", "skb_under_cgroup", "lwt_push_encap"}),
    "lwt_out": frozenset({"skb_load_bytes", "skb_pull_data", "csum_diff", "get_cgroup_classid",
                          "get_route_realm", "get_hash_recalc", "perf_event_output",
                          "get_smp_processor_id", "skb_under_cgroup"}),
    "lwt_xmit": frozenset({
        "skb_load_bytes", "skb_pull_data", "csum_diff", "get_cgroup_classid",
        "get_route_realm", "get_hash_recalc", "perf_event_output", "get_smp_processor_id",
        "skb_under_cgroup", "skb_get_tunnel_key", "skb_set_tunnel_key", "skb_get_tunnel_opt",
        "skb_set_tunnel_opt", "redirect", "clone_redirect", "skb_change_tail",
        "skb_change_head", "skb_store_bytes", "csum_update", "csum_level", "l3_csum_replace",
        "l4_csum_replace", "set_hash_invalid", "lwt_push_encap"}),
    "sk_skb": frozenset({"skb_store_bytes", "skb_load_bytes", "skb_pull_data",
                         "skb_change_tail", "skb_change_head", "skb_adjust_room",
                         "get_socket_cookie", "get_socket_uid", "sk_redirect_map",
                         "sk_redirect_hash", "perf_event_output", *_SK_LOOKUP}),
    "sk_msg": frozenset({"msg_redirect_map", "msg_redirect_hash", "msg_apply_bytes",
                         "msg_cork_bytes", "msg_pull_data", "msg_push_data", "msg_pop_data",
                         "perf_event_output", "get_current_uid_gid", "get_current_pid_tgid",
                         "sk_storage_get", "sk_storage_delete", "get_netns_cookie",
                         "get_current_cgroup_id", "get_current_ancestor_cgroup_id"}),
    "cgroup_sock": frozenset({"get_socket_cookie", "get_netns_cookie", "perf_event_output",
                              "get_current_uid_gid", "get_local_storage",
                              "get_current_cgroup_id", "get_current_ancestor_cgroup_id",
                              "sk_storage_get", "sk_storage_delete", "get_retval",
                              "set_retval"}),
    "cgroup_sock_addr": frozenset({
        "get_netns_cookie", "get_socket_cookie", "bind", "get_local_storage",
        "perf_event_output", "get_current_uid_gid", "get_current_cgroup_id",
        "get_current_ancestor_cgroup_id", "sk_lookup_tcp", "sk_lookup_udp", "sk_release",
        "skc_lookup_tcp", "sk_storage_get", "sk_storage_delete", "setsockopt", "getsockopt",
        "get_retval", "set_retval"}),
    "sock_ops": frozenset({"setsockopt", "getsockopt", "sock_ops_cb_flags_set",
                           "sock_map_update", "sock_hash_update", "get_socket_cookie",
                           "get_local_storage", "perf_event_output", "sk_storage_get",
                           "sk_storage_delete", "get_netns_cookie", "tcp_sock"}),
    "sk_reuseport": frozenset({"sk_select_reuseport", "skb_load_bytes",
                               "skb_load_bytes_relative", "get_socket_cookie"}),
    "sk_lookup": frozenset({"sk_assign", "sk_release", "perf_event_output"}),
    "cgroup_device": frozenset({"get_current_uid_gid", "get_local_storage",
                                "get_current_cgroup_id", "perf_event_output", "get_retval",
                                "set_retval"}),
    "cgroup_sysctl": frozenset({"strtol", "strtoul", "sysctl_get_name",
                                "sysctl_get_current_value", "sysctl_get_new_value",
                                "sysctl_set_new_value", "get_current_uid_gid",
                                "get_local_storage", "get_current_cgroup_id",
                                "perf_event_output", "get_retval", "set_retval"}),
    "cgroup_sockopt": frozenset({"get_netns_cookie", "sk_storage_get", "sk_storage_delete",
                                 "setsockopt", "getsockopt", "tcp_sock",
                                 "get_current_uid_gid", "get_local_storage",
                                 "get_current_cgroup_id", "perf_event_output", "get_retval",
                                 "set_retval"}),
    "kprobe": frozenset({"perf_event_output", "get_stackid", "get_stack", "override_return",
                         "get_func_ip", "get_attach_cookie"}),
    "tracepoint": frozenset({"perf_event_output", "get_stackid", "get_stack",
                             "get_attach_cookie"}),
    "perf_event": frozenset({"perf_event_output", "get_stackid", "get_stack",
                             "perf_prog_read_value", "get_attach_cookie"}),
    "raw_tracepoint": frozenset({"perf_event_output", "get_stackid", "get_stack"}),
    "raw_tracepoint_writable": frozenset({"perf_event_output", "get_stackid", "get_stack"}),
    "tracing": frozenset({"perf_event_output", "get_stackid", "get_stack", "get_func_ip",
                          "d_path", "get_task_stack", "skb_output", "xdp_output"}),
}
"""Helpers specific to each program type (added to its family's base)."""

NET_TYPES = frozenset({"socket_filter", "sched_cls", "sched_act", "xdp", "cgroup_skb",
                       "lwt_in", "lwt_out", "lwt_xmit", "lwt_seg6local", "sk_skb", "sk_msg",
                       "cgroup_sock", "cgroup_sock_addr", "sock_ops", "sk_reuseport",
                       "sk_lookup", "cgroup_sockopt", "flow_dissector"})
TRACING_TYPES = frozenset({"kprobe", "tracepoint", "perf_event", "raw_tracepoint",
                           "raw_tracepoint_writable", "tracing", "lsm"})
PROG_HELPERS["sched_act"] = PROG_HELPERS["sched_cls"]


def helper_allowed(prog_type: str, name: str, *, cap_bpf: bool = True,
                   cap_perfmon: bool = True) -> bool:
    """Whether a program of ``prog_type`` may call helper ``name``."""
    if name in PROG_HELPERS.get(prog_type, ()):
        return True
    if prog_type in TRACING_TYPES:
        return name in TRACING
    if prog_type in NET_TYPES and name in SK_BASE:
        return cap_perfmon or name == "ktime_get_coarse_ns"
    if name in BASE:
        return True
    if name in BASE_CAP_BPF:
        return cap_bpf
    if name in BASE_CAP_PERFMON:
        return cap_perfmon
    return False


NOT_GPL_ONLY_IN = frozenset({("perf_event", "get_stackid")})
"""(program type, helper) pairs whose prototype there is not GPL-only
although the helper's usual one is (perf_event's own ``bpf_get_stackid``)."""


def helper_gpl_only(prog_type: str, name: str) -> bool:
    """Whether a program of ``prog_type`` must be GPL-compatible to call ``name``."""
    proto = HELPER_TYPES.get(name)
    return proto is not None and "gpl" in proto.flags and \
        (prog_type, name) not in NOT_GPL_ONLY_IN
