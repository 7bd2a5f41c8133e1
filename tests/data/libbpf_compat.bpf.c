/* One object of the kinds public tutorials and libbpf-tools are made of,
 * which libbpf loads: maps whose BTF description the kernel refuses (cgroup
 * array, perf event array, sockhash, sockmap), a global function without
 * SEC(), kfunc calls, an open-coded iterator, a USDT probe, tcx programs and
 * a CO-RE access to a field no kernel has, guarded by bpf_core_field_exists.
 * Built with -DUNGUARDED the access is not guarded: libbpf and pybpf both
 * refuse the object, naming the relocation. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/usdt.bpf.h>

#ifdef OLD_LIBBPF	/* libbpf before 1.3 (Debian 12's bpftool) knows no tcx sections */
#define TCX_INGRESS "tc"
#define TCX_EGRESS "tc"
#else
#define TCX_INGRESS "tcx/ingress"
#define TCX_EGRESS "tcx/egress"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, __u32);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} sock_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} sock_map SEC(".maps");

/* a field no kernel's sk_buff has */
struct sk_buff___pybpf {
	int pybpf_no_such_field;
} __attribute__((preserve_access_index));

long out[6];

/* global, no SEC(): a subprogram the kernel verifies against its prototype */
__noinline int sum_below(int n)
{
	int i, s = 0;

	bpf_for(i, 0, n)		/* open-coded iterator: bpf_iter_num_* kfuncs */
		s += i;
	return s;
}

SEC(TCX_INGRESS)
int tcx_in(struct __sk_buff *skb)
{
	struct sk_buff___pybpf *kskb = bpf_cast_to_kern_ctx(skb);	/* a kfunc */
	__u32 key = 0;

	out[0] = sum_below(5);
	out[1] = bpf_skb_under_cgroup(skb, &cgroups, 0) == 1;
#ifdef UNGUARDED
	out[2] = BPF_CORE_READ(kskb, pybpf_no_such_field);
#else
	if (bpf_core_field_exists(kskb->pybpf_no_such_field))
		out[2] = BPF_CORE_READ(kskb, pybpf_no_such_field);
	else
		out[2] = -1;
#endif
	bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &key, sizeof(key));
	return TCX_PASS;
}

SEC(TCX_EGRESS)
int tcx_out(struct __sk_buff *skb)
{
	out[3] = sum_below(skb->len & 15);
	return TCX_NEXT;
}

SEC("sk_msg")
int redirect_msg(struct sk_msg_md *msg)
{
	__u32 key = msg->local_port;

	return bpf_msg_redirect_hash(msg, &sock_hash, &key, BPF_F_INGRESS);
}

SEC("sk_skb/stream_verdict")
int verdict(struct __sk_buff *skb)
{
	return bpf_sk_redirect_map(skb, &sock_map, skb->local_port & 7, 0);
}

SEC("usdt")
int BPF_USDT(on_probe, long value)
{
	out[4] = value;
	out[5] = bpf_usdt_arg_cnt(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
