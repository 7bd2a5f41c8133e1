/* SPDX-License-Identifier: MIT */
/* offcputime: how long threads spend blocked (off CPU), by stack.
 *
 * At sched_switch (a BTF-typed tracepoint: fentry is not needed) the task
 * leaving the CPU is still current: its user and kernel stacks are
 * recorded in a stack trace map and the time noted per thread; when the
 * thread is switched back in, the time it was away is added to the total
 * of its (process, thread, stacks) key, in microseconds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "vmlinux_more.h"

#define MAX_ENTRIES 10240

const volatile int target_tgid = 0;		/* only this process (0: all) */
const volatile int target_pid = 0;		/* only this thread (0: all) */
const volatile unsigned char user_threads_only = 0;
const volatile unsigned char kernel_threads_only = 0;
const volatile unsigned char user_stacks_only = 0;	/* no kernel stacks */
const volatile unsigned char kernel_stacks_only = 0;	/* no user stacks */
const volatile long long state = -1;		/* only tasks leaving in this state (-1: any) */
const volatile unsigned long long min_block_ns = 1;
const volatile unsigned long long max_block_ns = -1ULL;

struct offcpu_key {
	int pid;		/* thread */
	int tgid;		/* process */
	int user_stack_id;
	int kernel_stack_id;
	char comm[TASK_COMM_LEN];
};

struct start_info {
	unsigned long long start_ns;
	struct offcpu_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, int);
	__type(value, struct start_info);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, MAX_ENTRIES);
	__uint(key_size, sizeof(int));
	__uint(value_size, PERF_MAX_STACK_DEPTH * sizeof(unsigned long long));
} stacks SEC(".maps");

/* microseconds off CPU by key */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ENTRIES);
	__type(key, struct offcpu_key);
	__type(value, unsigned long long);
} info SEC(".maps");

static __always_inline bool allow_record(struct task_struct___more *t)
{
	int kthread = BPF_CORE_READ(t, flags) & PF_KTHREAD;

	if (!BPF_CORE_READ(t, pid))	/* a CPU's idle task */
		return false;
	if (target_tgid && BPF_CORE_READ(t, tgid) != target_tgid)
		return false;
	if (target_pid && BPF_CORE_READ(t, pid) != target_pid)
		return false;
	if (user_threads_only && kthread)
		return false;
	if (kernel_threads_only && !kthread)
		return false;
	if (state != -1 && BPF_CORE_READ(t, __state) != state)
		return false;
	return true;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev_, struct task_struct *next_)
{
	struct task_struct___more *prev = (void *)prev_, *next = (void *)next_;
	struct start_info *s, fresh = {};
	unsigned long long delta, *total;
	int pid;

	if (allow_record(prev)) {
		pid = BPF_CORE_READ(prev, pid);
		fresh.key.pid = pid;
		fresh.key.tgid = BPF_CORE_READ(prev, tgid);
		fresh.start_ns = bpf_ktime_get_ns();
		fresh.key.user_stack_id = kernel_stacks_only ? -1 :
			bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
		fresh.key.kernel_stack_id = user_stacks_only ? -1 :
			bpf_get_stackid(ctx, &stacks, 0);
		bpf_probe_read_kernel_str(&fresh.key.comm, sizeof(fresh.key.comm), prev->comm);
		bpf_map_update_elem(&start, &pid, &fresh, BPF_ANY);
	}

	pid = BPF_CORE_READ(next, pid);
	s = bpf_map_lookup_elem(&start, &pid);
	if (!s)
		return 0;
	delta = bpf_ktime_get_ns() - s->start_ns;
	if (delta >= min_block_ns && delta <= max_block_ns) {
		delta /= 1000;
		total = bpf_map_lookup_elem(&info, &s->key);
		if (total)
			__sync_fetch_and_add(total, delta);
		else
			bpf_map_update_elem(&info, &s->key, &delta, BPF_NOEXIST);
	}
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
