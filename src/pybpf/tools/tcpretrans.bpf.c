/* SPDX-License-Identifier: MIT */
/* tcpretrans: one ring-buffer event per TCP retransmission: the
 * connection's ends and state, from the tcp:tcp_retransmit_skb tracepoint
 * (as bcc's tcpretrans does where the tracepoint exists).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "tcp_ends.h"

struct retrans_event {
	unsigned long long ts_ns;	/* bpf_ktime_get_ns() */
	int pid;			/* current: often not the socket's owner (softirq) */
	int state;			/* TCP_* */
	TCP_ENDS_FIELDS;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct retrans_event);

SEC("tracepoint/tcp/tcp_retransmit_skb")
int on_retransmit(struct trace_event_raw_tcp_retransmit_skb *ctx)
{
	struct retrans_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->state = BPF_CORE_READ(ctx, state);
	TCP_ENDS_READ(e, ctx);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
