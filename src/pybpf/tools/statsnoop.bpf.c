/* SPDX-License-Identifier: MIT */
/* statsnoop: one ring-buffer event per stat-family call — stat, lstat,
 * fstatat, statx, statfs — with the path and the result.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"

#define PATH_LEN 256

const volatile int target_pid = 0;	/* only this process (0: all) */
const volatile unsigned char failed_only = 0;

enum stat_call { CALL_STAT, CALL_LSTAT, CALL_FSTATAT, CALL_STATX, CALL_STATFS };

struct stat_start {
	const char *path;
	int call;
	int pad;
};

struct stat_event {
	unsigned long long ts_ns;
	int pid;
	int tid;
	int ret;
	int call;	/* enum stat_call */
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, int);
	__type(value, struct stat_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct stat_event);

static __always_inline int enter(const char *path, int call)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct stat_start s = {.path = path, .call = call};

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int leave(long ret)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct stat_start *s = bpf_map_lookup_elem(&starts, &tid);
	struct stat_event *e;

	if (!s)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->ret = ret;
	e->call = s->call;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), s->path) < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_newfstatat")
int enter_fstatat(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[1], CALL_FSTATAT);
}

SEC("tracepoint/syscalls/sys_exit_newfstatat")
int exit_fstatat(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_statx")
int enter_statx(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[1], CALL_STATX);
}

SEC("tracepoint/syscalls/sys_exit_statx")
int exit_statx(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_statfs")
int enter_statfs(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[0], CALL_STATFS);
}

SEC("tracepoint/syscalls/sys_exit_statfs")
int exit_statfs(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

/* stat(2) and lstat(2) exist on x86-64, not on arm64: attached when present */
SEC("tracepoint/syscalls/sys_enter_newstat")
int enter_stat(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[0], CALL_STAT);
}

SEC("tracepoint/syscalls/sys_exit_newstat")
int exit_stat(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_newlstat")
int enter_lstat(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[0], CALL_LSTAT);
}

SEC("tracepoint/syscalls/sys_exit_newlstat")
int exit_lstat(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
