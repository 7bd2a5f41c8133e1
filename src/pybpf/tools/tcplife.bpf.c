/* SPDX-License-Identifier: MIT */
/* tcplife: one ring-buffer event per TCP session that closes: its ends,
 * the process, bytes sent and received, and how long it lived.
 *
 * All from sock:inet_sock_set_state (as bcc's tcplife does where the
 * tracepoint exists): a socket is born on its first move to SYN_SENT,
 * SYN_RECV or ESTABLISHED; the process is the one current when it moves
 * to SYN_SENT (connect) or LAST_ACK (close after the peer), else the one
 * current at the end; the session ends on the move to CLOSE, when the
 * byte counts are read from the tcp_sock.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "tcp_ends.h"

const volatile int target_pid = 0;	/* only this process (0: all) */

struct owner {
	int pid;
	int pad;
	char comm[TASK_COMM_LEN];
};

struct life_event {
	unsigned long long start_ns;	/* bpf_ktime_get_ns() at birth */
	unsigned long long span_ns;
	unsigned long long rx_bytes;
	unsigned long long tx_bytes;	/* acknowledged by the peer */
	int pid;
	int pad;
	char comm[TASK_COMM_LEN];
	TCP_ENDS_FIELDS;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, const void *);
	__type(value, unsigned long long);
} births SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, const void *);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct life_event);

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = BPF_CORE_READ(ctx, skaddr);
	int newstate = BPF_CORE_READ(ctx, newstate);
	unsigned long long *birth, now;
	struct owner *who, current = {};
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct life_event *e;

	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP)
		return 0;
	if (newstate < TCP_FIN_WAIT1) {
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&births, &sk, &now, BPF_NOEXIST);
	}
	if (newstate == TCP_SYN_SENT || newstate == TCP_LAST_ACK) {
		current.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(&current.comm, sizeof(current.comm));
		bpf_map_update_elem(&owners, &sk, &current, BPF_ANY);
	}
	if (newstate != TCP_CLOSE)
		return 0;
	birth = bpf_map_lookup_elem(&births, &sk);
	if (!birth)
		goto done;
	who = bpf_map_lookup_elem(&owners, &sk);
	if (!who) {
		current.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(&current.comm, sizeof(current.comm));
		who = &current;
	}
	if (target_pid && who->pid != target_pid)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	e->start_ns = *birth;
	e->span_ns = bpf_ktime_get_ns() - *birth;
	e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
	e->pid = who->pid;
	e->pad = 0;
	__builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
	TCP_ENDS_READ(e, ctx);
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&births, &sk);
	bpf_map_delete_elem(&owners, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
