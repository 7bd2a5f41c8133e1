/* SPDX-License-Identifier: MIT */
/* funclatency: how long calls of one function take, as a log2 histogram.
 *
 * Two programs of kprobe type: one at the function's entry notes the time
 * per thread, one at its return adds the elapsed time to the histogram.
 * User space attaches them as a uprobe/uretprobe pair (a function of a
 * binary or library) or a kprobe/kretprobe pair (a kernel function, where
 * the kernel has kprobes).  Nothing here reads registers, so the object is
 * the same for every architecture.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"
#include "hist.h"

const volatile int target_tgid = 0;		/* only this process (0: all) */
const volatile unsigned long long unit_ns = 1;	/* 1, 1000 or 1000000 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, unsigned int);
	__type(value, unsigned long long);
} starts SEC(".maps");

/* slots 0..MAX_SLOTS-1 count calls by log2 of their time; slot MAX_SLOTS
 * holds the calls' total time, slot MAX_SLOTS + 1 their number */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS + 2);
	__type(key, unsigned int);
	__type(value, unsigned long long);
} hist SEC(".maps");

static __always_inline void add(unsigned int slot, unsigned long long n)
{
	unsigned long long *v = bpf_map_lookup_elem(&hist, &slot);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("uprobe")
int on_entry(void *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	unsigned int tid = (unsigned int)id;
	unsigned long long now;

	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &now, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int on_return(void *ctx)
{
	unsigned int tid = (unsigned int)bpf_get_current_pid_tgid();
	unsigned long long *start = bpf_map_lookup_elem(&starts, &tid);
	unsigned long long delta;

	if (!start)
		return 0;
	delta = (bpf_ktime_get_ns() - *start) / unit_ns;
	bpf_map_delete_elem(&starts, &tid);
	add(log2_slot(delta), 1);
	add(MAX_SLOTS, delta);
	add(MAX_SLOTS + 1, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
