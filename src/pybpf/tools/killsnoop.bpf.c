/* SPDX-License-Identifier: MIT */
/* killsnoop: one ring-buffer event per kill(2), tkill(2) and tgkill(2):
 * who sent which signal to whom, and the result.
 *
 * The arguments are kept per thread at the syscall's entry and sent with
 * the return value at its exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"

const volatile int target_pid = 0;		/* only signals sent by this process (0: all) */
const volatile int target_signal = 0;		/* only this signal (0: all) */
const volatile unsigned char failed_only = 0;
const volatile unsigned char kill_only = 0;	/* kill(2) only, not tkill/tgkill */

enum kill_call { CALL_KILL = 0, CALL_TKILL = 1, CALL_TGKILL = 2 };

struct kill_start {
	int tpid;
	int sig;
	int call;
	int pad;
};

struct kill_event {
	int pid;
	int tid;
	int uid;
	int tpid;	/* the target: a process for kill, a thread for tkill/tgkill */
	int sig;
	int ret;
	int call;	/* enum kill_call */
	int pad;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, int);
	__type(value, struct kill_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct kill_event);

static __always_inline int enter(int tpid, int sig, int call)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct kill_start s = {.tpid = tpid, .sig = sig, .call = call};

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	if (target_signal && sig != target_signal)
		return 0;
	if (kill_only && call != CALL_KILL)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int leave(long ret)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct kill_start *s = bpf_map_lookup_elem(&starts, &tid);
	struct kill_event *e;

	if (!s)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (unsigned int)bpf_get_current_uid_gid();
	e->tpid = s->tpid;
	e->sig = s->sig;
	e->ret = ret;
	e->call = s->call;
	e->pad = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_kill")
int enter_kill(struct syscall_enter_args *ctx)
{
	return enter((int)ctx->args[0], (int)ctx->args[1], CALL_KILL);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int exit_kill(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_tkill")
int enter_tkill(struct syscall_enter_args *ctx)
{
	return enter((int)ctx->args[0], (int)ctx->args[1], CALL_TKILL);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int exit_tkill(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int enter_tgkill(struct syscall_enter_args *ctx)
{
	return enter((int)ctx->args[1], (int)ctx->args[2], CALL_TGKILL);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int exit_tgkill(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
