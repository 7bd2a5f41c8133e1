/* SPDX-License-Identifier: MIT */
/* opensnoop: one ring-buffer event per open(2)/openat(2), with the path,
 * flags and result (an fd or -errno).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"

#define PATH_LEN 256

const volatile int target_pid = 0;	/* only this process (0: all) */
const volatile unsigned char failed_only = 0;

struct open_start {
	const char *path;
	int flags;
	int pad;
};

struct open_event {
	int pid;
	int tid;
	int uid;
	int ret;
	int flags;
	int pad;
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, int);
	__type(value, struct open_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");
/* the records' type: kept in BTF for user space to decode them by */
BPF_RECORD(events, struct open_event);

static __always_inline int enter(const char *path, int flags)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct open_start s = {.path = path, .flags = flags};

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int leave(long ret)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct open_start *s = bpf_map_lookup_elem(&starts, &tid);
	struct open_event *e;

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
	e->ret = ret;
	e->flags = s->flags;
	e->pad = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->path, sizeof(e->path), s->path);
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[1], (int)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

/* open(2) exists on x86-64 but not on arm64: attached when present */
SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[0], (int)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
