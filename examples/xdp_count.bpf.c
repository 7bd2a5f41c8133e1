/* SPDX-License-Identifier: MIT */
/* xdp_count: count packets per IP protocol in a per-CPU array, and
 * optionally drop one protocol.
 *
 * Knob: drop_proto   an IPPROTO_* number to drop (0: drop nothing).
 * counts[proto] counts IPv4 packets by protocol; counts[0] counts the rest
 * (non-IPv4 and packets too short to parse).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netparse.h"

const volatile __u8 drop_proto = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

/* add one to counts[proto]; a real function: a bpf-to-bpf call */
static __noinline int bump(__u32 proto)
{
	__u64 *value = bpf_map_lookup_elem(&counts, &proto);

	if (!value)
		return 0;
	*value += 1;
	return 1;
}

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow f;

	if (!parse_flow(data, data_end, &f))
		f.proto = 0;
	bump(f.proto);
	if (drop_proto && f.proto == drop_proto)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
