/* SPDX-License-Identifier: MIT */
/* Mistakes users make, one per program: each is refused, and both
 * verifiers must say why in the same words. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, u64);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64[8]);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

SEC("xdp")
int no_null_check(struct xdp_md *ctx)
{
	u32 key = 1;
	u64 *v = bpf_map_lookup_elem(&values, &key);

	return *v & 1;
}

SEC("xdp")
int no_bounds_check(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[20] == 6 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int unchecked_index(struct xdp_md *ctx)
{
	u32 zero = 0;
	u64 *slots = bpf_map_lookup_elem(&table, &zero);
	u32 i = ctx->rx_queue_index;

	if (!slots)
		return XDP_PASS;
	return slots[i] & 1;
}

SEC("tp/syscalls/sys_enter_write")
int leaked_record(void *ctx)
{
	u64 *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);

	if (!e)
		return 0;
	*e = bpf_ktime_get_ns();
	if (*e & 1)
		bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("cgroup_skb/ingress")
int bad_retval(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("xdp")
int write_to_ctx(struct xdp_md *ctx)
{
	ctx->rx_queue_index = 0;
	return XDP_PASS;
}

static long bad_step(u32 index, u64 *slots)
{
	/* the callback trusts the index: slots has only 4 entries */
	slots[index & 7] = index;
	return 0;
}

SEC("xdp")
int callback_out_of_bounds(struct xdp_md *ctx)
{
	u64 slots[4] = {};

	bpf_loop(8, bad_step, slots, 0);
	return slots[0] & 1;
}

char LICENSE[] SEC("license") = "GPL";
