/* SPDX-License-Identifier: MIT */
/* tcpconnect: one ring-buffer event per active TCP connection attempt
 * (connect(2)): who connected, from where to where, and how it went.
 *
 * bcc's tcpconnect uses kprobes on tcp_v4/v6_connect; here the
 * sock:inet_sock_set_state tracepoint does: a socket entering SYN_SENT is
 * a connect in the calling process's context (its pid, uid and command
 * are kept by socket), and the event is sent when it leaves SYN_SENT —
 * to ESTABLISHED, or CLOSE when refused or timed out — by which time the
 * local port is known.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "tcp_ends.h"

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile int target_uid = -1;		/* only this user (-1: all) */

struct connect_start {
	unsigned long long start_ns;
	int pid;
	int uid;
	char comm[TASK_COMM_LEN];
};

struct connect_event {
	unsigned long long start_ns;	/* bpf_ktime_get_ns() at connect */
	unsigned long long latency_ns;	/* SYN_SENT to the next state */
	int pid;
	int uid;
	int state;			/* the state after SYN_SENT: ESTABLISHED, CLOSE */
	int pad;
	char comm[TASK_COMM_LEN];
	TCP_ENDS_FIELDS;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, const void *);
	__type(value, struct connect_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct connect_event);

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = BPF_CORE_READ(ctx, skaddr);
	int newstate = BPF_CORE_READ(ctx, newstate);
	struct connect_start *s;
	struct connect_event *e;

	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT) {
		unsigned long long id = bpf_get_current_pid_tgid();
		struct connect_start start = {.start_ns = bpf_ktime_get_ns(), .pid = id >> 32,
					      .uid = (unsigned int)bpf_get_current_uid_gid()};

		if (target_pid && start.pid != target_pid)
			return 0;
		if (target_uid >= 0 && start.uid != target_uid)
			return 0;
		bpf_get_current_comm(&start.comm, sizeof(start.comm));
		bpf_map_update_elem(&starts, &sk, &start, BPF_ANY);
		return 0;
	}
	if (BPF_CORE_READ(ctx, oldstate) != TCP_SYN_SENT)
		return 0;
	s = bpf_map_lookup_elem(&starts, &sk);
	if (!s)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->start_ns = s->start_ns;
		e->latency_ns = bpf_ktime_get_ns() - s->start_ns;
		e->pid = s->pid;
		e->uid = s->uid;
		e->state = newstate;
		e->pad = 0;
		__builtin_memcpy(e->comm, s->comm, sizeof(e->comm));
		TCP_ENDS_READ(e, ctx);
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&starts, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
