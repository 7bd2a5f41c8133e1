/* SPDX-License-Identifier: MIT */
/* tc_classify: a tc classifier that drops traffic to one port and marks
 * the rest.
 *
 * Knobs:
 *   blocked_port   TCP/UDP destination port to drop (0: none)
 *   mark           skb->mark given to every packet let through
 * Globals: passed / blocked count what it did (read them from .bss).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "netparse.h"

const volatile __u16 blocked_port = 0;
const volatile __u32 mark = 0;

__u64 passed = 0;
__u64 blocked = 0;

/* the verdict for one flow: TC_ACT_SHOT or TC_ACT_OK */
static __noinline int verdict(__u8 proto, __u16 dport)
{
	if (blocked_port && dport == blocked_port &&
	    (proto == IPPROTO_TCP || proto == IPPROTO_UDP))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow f;

	if (!parse_flow(data, data_end, &f))
		return TC_ACT_OK;
	if (verdict(f.proto, f.dport) == TC_ACT_SHOT) {
		__sync_fetch_and_add(&blocked, 1);
		return TC_ACT_SHOT;
	}
	if (mark)
		skb->mark = mark;
	__sync_fetch_and_add(&passed, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
