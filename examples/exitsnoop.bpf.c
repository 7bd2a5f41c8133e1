/* SPDX-License-Identifier: MIT */
/* exitsnoop: one event per process exit, with its lifetime.
 *
 * Attached to the sched/sched_process_exit tracepoint; reads the exiting
 * task with CO-RE (task->start_time, ->exit_code, ->real_parent->tgid), so
 * the object runs on kernels whose task_struct differs from the one it was
 * compiled against.  Knobs (set before loading):
 *   min_duration_ns  report only processes that lived at least this long
 *   target_ppid      report only children of this process (0: all)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "exitsnoop.h"

const volatile unsigned long long min_duration_ns = 0;
const volatile int target_ppid = 0;

/* events lost because the ring buffer was full */
unsigned long long dropped = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* the ring buffer's records are struct exit_event: kept in the object's BTF
 * (types only used locally are not emitted) for readers to decode them by */
BPF_RECORD(events, struct exit_event);

/* whether an exit passes the knobs */
static __noinline int wanted(unsigned long long duration_ns, int ppid)
{
	if (min_duration_ns && duration_ns < min_duration_ns)
		return 0;
	if (target_ppid && ppid != target_ppid)
		return 0;
	return 1;
}

SEC("tracepoint/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_template *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long long id = bpf_get_current_pid_tgid();
	int pid = id >> 32, tid = (unsigned int)id;
	struct exit_event *e;
	unsigned long long start, duration;
	int ppid;

	if (pid != tid)		/* a thread, not the whole process */
		return 0;
	start = BPF_CORE_READ(task, start_time);
	duration = bpf_ktime_get_ns() - start;
	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (!wanted(duration, ppid))
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->pid = pid;
	e->ppid = ppid;
	e->exit_code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	e->pad = 0;
	e->duration_ns = duration;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
