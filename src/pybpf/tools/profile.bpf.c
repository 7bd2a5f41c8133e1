/* SPDX-License-Identifier: MIT */
/* profile: sample what every CPU runs, F times a second.
 *
 * A perf_event program runs on each CPU's clock event (user space opens
 * one per CPU at the chosen frequency); each sample records the current
 * task's user and kernel stacks in a stack trace map and counts the pair,
 * with the process and its name, in a hash map that user space reads at
 * the end.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"
#include "vmlinux_more.h"

#define MAX_ENTRIES 10240

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile int target_tid = 0;		/* only this thread (0: all) */
const volatile unsigned char user_only = 0;	/* no kernel stacks */
const volatile unsigned char kernel_only = 0;	/* no user stacks */
const volatile unsigned char include_idle = 0;	/* count the idle task too */

struct stack_key {
	int pid;
	int user_stack_id;	/* negative: none (or the helper's error) */
	int kernel_stack_id;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_ENTRIES);
	__uint(key_size, sizeof(int));
	__uint(value_size, PERF_MAX_STACK_DEPTH * sizeof(unsigned long long));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, struct stack_key);
	__type(value, unsigned long long);
} counts SEC(".maps");

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tgid = id >> 32, tid = (unsigned int)id;
	struct stack_key key = {};
	unsigned long long one = 1, *count;

	if (!include_idle && tid == 0)
		return 0;
	if (target_pid && tgid != target_pid)
		return 0;
	if (target_tid && tid != target_tid)
		return 0;
	key.pid = tgid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	key.user_stack_id = kernel_only ? -1 : bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	key.kernel_stack_id = user_only ? -1 : bpf_get_stackid(ctx, &stacks, 0);
	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
