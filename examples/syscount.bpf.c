/* SPDX-License-Identifier: MIT */
/* syscount: how often each process makes a system call.
 *
 * Attached to the raw_syscalls/sys_enter tracepoint; counts per process id
 * in a hash map.  Knobs:
 *   target_syscall   count only this syscall number (-1: every syscall)
 *   target_tgid      count only this process (0: all)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile long target_syscall = -1;
const volatile int target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);		/* process id (tgid) */
	__type(value, __u64);		/* calls */
} counts SEC(".maps");

static __noinline void count(__u32 tgid)
{
	__u64 one = 1, *value;

	value = bpf_map_lookup_elem(&counts, &tgid);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&counts, &tgid, &one, BPF_NOEXIST);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (target_syscall >= 0 && ctx->id != target_syscall)
		return 0;
	if (target_tgid && tgid != target_tgid)
		return 0;
	count(tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
