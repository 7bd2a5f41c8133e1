/* SPDX-License-Identifier: MIT */
/* syscount: system calls counted by number (or by process), with the time
 * spent in them, from raw_syscalls/sys_enter and sys_exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile unsigned char by_process = 0;	/* key by pid instead of syscall */
const volatile unsigned char failed_only = 0;	/* only calls returning an error */

struct sys_stat {
	unsigned long long count;
	unsigned long long total_ns;
	char comm[TASK_COMM_LEN];	/* when counting by process */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, int);
	__type(value, unsigned long long);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, int);
	__type(value, struct sys_stat);
} stats SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct raw_syscall_args *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	unsigned long long now = bpf_ktime_get_ns();
	int tid = (unsigned int)id;

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct raw_syscall_args *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id, key;
	unsigned long long *start = bpf_map_lookup_elem(&starts, &tid);
	unsigned long long delta;
	struct sys_stat *s, zero = {};

	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&starts, &tid);
	if (ctx->id < 0 || (failed_only && ctx->arg >= 0))
		return 0;
	key = by_process ? (int)(id >> 32) : (int)ctx->id;
	s = bpf_map_lookup_elem(&stats, &key);
	if (!s) {
		if (by_process)
			bpf_get_current_comm(&zero.comm, sizeof(zero.comm));
		bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stats, &key);
		if (!s)
			return 0;
	}
	__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->total_ns, delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
