/* SPDX-License-Identifier: MIT */
/* Helpers that call a program function back: bpf_loop, bpf_for_each_map_elem
 * and a timer callback, written the way libbpf users write them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} counters SEC(".maps");

struct elem {
	struct bpf_timer t;
	u64 fired;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct elem);
} timers SEC(".maps");

struct sum_ctx {
	u64 total;
	u32 seen;
};

static long add_one(u32 index, struct sum_ctx *c)
{
	u32 key = index & 15;
	u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		c->total += *v;
	c->seen++;
	return 0;
}

SEC("xdp")
int loop_sum(struct xdp_md *ctx)
{
	struct sum_ctx c = {};

	bpf_loop(16, add_one, &c, 0);
	return c.total > 100 ? XDP_DROP : XDP_PASS;
}

static long add_value(struct bpf_map *map, u32 *key, u64 *value, struct sum_ctx *c)
{
	c->total += *value;
	if (c->total > 1000)
		return 1;
	return 0;
}

SEC("tc")
int walk_counters(struct __sk_buff *skb)
{
	struct sum_ctx c = {};

	bpf_for_each_map_elem(&counters, add_value, &c, 0);
	return c.total & 1;
}

static int fire(void *map, u32 *key, struct elem *e)
{
	e->fired++;
	return 0;
}

SEC("tc")
int arm_timer(struct __sk_buff *skb)
{
	u32 key = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &key);

	if (!e)
		return 0;
	bpf_timer_init(&e->t, &timers, 1 /* CLOCK_MONOTONIC */);
	bpf_timer_set_callback(&e->t, fire);
	bpf_timer_start(&e->t, 1000, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
