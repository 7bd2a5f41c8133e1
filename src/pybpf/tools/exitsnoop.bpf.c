/* SPDX-License-Identifier: MIT */
/* exitsnoop: one ring-buffer event per process exit.
 *
 * sched/sched_process_exit fires for every exiting thread; only the thread
 * group leader's exit (the process) is reported.  The task is read with
 * CO-RE: start_time, exit_code and real_parent->tgid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile int target_ppid = 0;		/* only children of this process */
const volatile unsigned char failed_only = 0;	/* only non-zero exit codes or signals */

struct exit_event {
	int pid;
	int ppid;
	int tid;
	int exit_code;		/* exit(2) status, or 0 when killed */
	int sig;		/* the signal that killed it (0: exited) */
	int pad;
	unsigned long long start_ns;	/* task->start_time (CLOCK_MONOTONIC) */
	unsigned long long exit_ns;	/* bpf_ktime_get_ns() at exit */
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
/* the records' type: kept in BTF for user space to decode them by */
BPF_RECORD(events, struct exit_event);

SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long long id = bpf_get_current_pid_tgid();
	int pid = id >> 32, tid = (unsigned int)id, ppid, code;
	struct exit_event *e;

	if (pid != tid)
		return 0;
	if (target_pid && pid != target_pid)
		return 0;
	ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (target_ppid && ppid != target_ppid)
		return 0;
	code = BPF_CORE_READ(task, exit_code);
	if (failed_only && code == 0)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->ppid = ppid;
	e->tid = tid;
	e->exit_code = (code >> 8) & 0xff;
	e->sig = code & 0x7f;
	e->pad = 0;
	e->start_ns = BPF_CORE_READ(task, start_time);
	e->exit_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
