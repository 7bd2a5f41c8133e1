/* SPDX-License-Identifier: MIT */
/* runqlat: how long runnable tasks wait for a CPU, as a log2 histogram.
 *
 * A task's wait starts when it is woken (sched_wakeup, sched_wakeup_new) or
 * preempted while runnable (sched_switch with prev still TASK_RUNNING) and
 * ends when sched_switch puts it on the CPU.  BTF-typed tracepoints hand
 * the programs typed task pointers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define MAX_SLOTS 32

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile unsigned char millis = 0;	/* milliseconds instead of microseconds */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, int);
	__type(value, unsigned long long);
} queued SEC(".maps");

/* slot i counts waits in [2^(i-1), 2^i) units; slot 0 counts 0 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, int);
	__type(value, unsigned long long);
} hist SEC(".maps");

static __always_inline int slot_of(unsigned long long v)
{
	int slot = 0;

#pragma unroll
	for (int i = 0; i < 64; i++) {
		if (!v)
			break;
		v >>= 1;
		slot++;
	}
	return slot < MAX_SLOTS ? slot : MAX_SLOTS - 1;
}

static __always_inline int enqueue(int tgid, int pid)
{
	unsigned long long now;

	if (!pid || (target_pid && tgid != target_pid))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&queued, &pid, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	return enqueue(BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, pid));
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	return enqueue(BPF_CORE_READ(p, tgid), BPF_CORE_READ(p, pid));
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	unsigned long long *start, delta;
	int pid, slot;
	unsigned long long *count;

	if (BPF_CORE_READ(prev, __state) == 0)	/* TASK_RUNNING: back in the queue */
		enqueue(BPF_CORE_READ(prev, tgid), BPF_CORE_READ(prev, pid));
	pid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&queued, &pid);
	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&queued, &pid);
	delta /= millis ? 1000000 : 1000;
	slot = slot_of(delta);
	count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
