/* SPDX-License-Identifier: MIT */
/* execsnoop: one ring-buffer event per execve(2), with its arguments and
 * result.  The arguments are read at syscalls/sys_enter_execve (while the
 * old program's memory still holds them) into a per-thread slot, and sent
 * at syscalls/sys_exit_execve with the return value.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define MAX_ARGS 8
#define ARG_LEN 64
#define PATH_LEN 128

const volatile int target_ppid = 0;	/* only children of this process (0: all) */
const volatile unsigned char failed_only = 0;

struct exec_event {
	int pid;
	int ppid;
	int uid;
	int retval;
	int argc;		/* arguments read (at most MAX_ARGS) */
	int more;		/* 1 when there were more */
	char comm[TASK_COMM_LEN];
	char filename[PATH_LEN];
	char argv[MAX_ARGS][ARG_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, int);
	__type(value, struct exec_event);
} pending SEC(".maps");

/* a zeroed event to start each slot from (too big for the stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct exec_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");
/* the records' type: kept in BTF for user space to decode them by */
BPF_RECORD(events, struct exec_event);

SEC("tracepoint/syscalls/sys_enter_execve")
int enter_execve(struct syscall_enter_args *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id, zero = 0, i;
	const char *const *argv = (const char *const *)ctx->args[1];
	struct exec_event *e;
	int ppid = BPF_CORE_READ(task, real_parent, tgid);

	if (target_ppid && ppid != target_ppid)
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->ppid = ppid;
	e->uid = (unsigned int)bpf_get_current_uid_gid();
	e->retval = 0;
	e->argc = 0;
	e->more = 0;
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[0]);
	for (i = 0; i < MAX_ARGS; i++) {
		const char *arg = 0;

		e->argv[i][0] = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		bpf_probe_read_user_str(e->argv[i], ARG_LEN, arg);
		e->argc = i + 1;
	}
	if (i == MAX_ARGS) {
		const char *arg = 0;

		if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[MAX_ARGS]) && arg)
			e->more = 1;
	}
	bpf_map_update_elem(&pending, &tid, e, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exit_execve(struct syscall_exit_args *ctx)
{
	int tid = (unsigned int)bpf_get_current_pid_tgid();
	struct exec_event *e = bpf_map_lookup_elem(&pending, &tid);
	struct exec_event *out;

	if (!e)
		return 0;
	if (failed_only && ctx->ret >= 0)
		goto done;
	out = bpf_ringbuf_reserve(&events, sizeof(*out), 0);
	if (!out)
		goto done;
	__builtin_memcpy(out, e, sizeof(*out));
	out->retval = ctx->ret;
	bpf_get_current_comm(&out->comm, sizeof(out->comm));
	bpf_ringbuf_submit(out, 0);
done:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
