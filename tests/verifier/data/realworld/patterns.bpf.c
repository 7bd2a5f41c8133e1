/* SPDX-License-Identifier: MIT */
/* Program structure beyond straight-line code: bounded loops, bpf-to-bpf
 * calls (static and global), spin locks, tail calls, global data, ring
 * buffer records discarded on some paths, perf events, stack traces. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define NBUCKETS 16

struct counter {
	struct bpf_spin_lock lock;
	u64 packets;
	u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u32);
} jumps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64[NBUCKETS]);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

u64 total_calls = 0;
u32 last_cpu = 0;
const volatile u32 sample_rate = 1;

static __noinline int bucket_of(u64 v)
{
	int i;

	for (i = 0; i < NBUCKETS - 1; i++) {
		if (v < (1ULL << i))
			break;
	}
	return i;
}

static __noinline void add_sample(u64 *slots, u64 v)
{
	int b = bucket_of(v);

	if (b < 0 || b >= NBUCKETS)
		return;
	slots[b]++;
}

__noinline int global_mix(u64 a, u64 b)
{
	return (a * 31 + b) & 0xff;
}

SEC("tp/sched/sched_switch")
int loop_histogram(void *ctx)
{
	u32 zero = 0;
	u64 *slots = bpf_map_lookup_elem(&buckets, &zero);
	u64 now = bpf_ktime_get_ns();

	if (!slots)
		return 0;
	add_sample(slots, now & 0xffff);
	__sync_fetch_and_add(&total_calls, 1);
	last_cpu = bpf_get_smp_processor_id();
	return global_mix(now, last_cpu) & 1;
}

SEC("xdp")
int spin_locked_count(struct xdp_md *ctx)
{
	u32 key = ctx->rx_queue_index & 3;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);
	u64 len = ctx->data_end - ctx->data;

	if (!c)
		return XDP_PASS;
	bpf_spin_lock(&c->lock);
	c->packets++;
	c->bytes += len;
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

SEC("xdp")
int tail_dispatch(struct xdp_md *ctx)
{
	u32 idx = ctx->ingress_ifindex & 3;

	bpf_tail_call(ctx, &jumps, idx);
	return XDP_PASS;
}

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct prof_sample {
	u32 pid;
	u32 stack_id;
	char comm[16];
};

SEC("perf_event")
int profile(struct bpf_perf_event_data *ctx)
{
	struct prof_sample *s;
	u64 id = bpf_get_current_pid_tgid();

	if (sample_rate > 1 && (id % sample_rate))
		return 0;
	s = bpf_ringbuf_reserve(&events, sizeof(*s), 0);
	if (!s)
		return 0;
	s->pid = id >> 32;
	s->stack_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	if (bpf_get_current_comm(s->comm, sizeof(s->comm))) {
		bpf_ringbuf_discard(s, 0);
		return 0;
	}
	if ((int)s->stack_id < 0) {
		bpf_ringbuf_discard(s, 0);
		return 0;
	}
	bpf_ringbuf_submit(s, 0);
	return 0;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(send_event, struct sock *sk, struct msghdr *msg, size_t size)
{
	struct {
		u32 pid;
		u16 family;
		u16 dport;
		u64 size;
	} e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	e.size = size;
	bpf_perf_event_output(ctx, &perf_out, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

SEC("raw_tp/sched_wakeup")
int raw_wakeup(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];
	u32 pid = BPF_CORE_READ(p, pid);
	u32 key = 0;
	u64 *slots = bpf_map_lookup_elem(&buckets, &key);

	if (slots)
		slots[pid & (NBUCKETS - 1)]++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
