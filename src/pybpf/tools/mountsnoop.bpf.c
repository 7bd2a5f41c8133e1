/* SPDX-License-Identifier: MIT */
/* mountsnoop: one ring-buffer event per mount(2), umount(2) and call of
 * the new mount API (fsopen, fsmount, move_mount), with its arguments,
 * the caller's mount namespace and the result.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define NAME_LEN 128
#define FSTYPE_LEN 32

const volatile int target_pid = 0;	/* only this process (0: all) */

enum mount_call { CALL_MOUNT, CALL_UMOUNT, CALL_FSOPEN, CALL_FSMOUNT, CALL_MOVE_MOUNT };

struct mount_start {
	const char *source;
	const char *target;
	const char *fstype;
	const char *data;
	unsigned long long flags;
	int call;
	int fd;		/* fsmount: the fs context; move_mount: from_dfd */
};

struct mount_event {
	unsigned long long flags;
	int pid;
	int tid;
	unsigned int mnt_ns;
	int ret;
	int call;	/* enum mount_call */
	int fd;
	char comm[TASK_COMM_LEN];
	char fstype[FSTYPE_LEN];
	char source[NAME_LEN];
	char target[NAME_LEN];
	char data[NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, int);
	__type(value, struct mount_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct mount_event);

static __always_inline int enter(struct mount_start *s)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, s, BPF_ANY);
	return 0;
}

static __always_inline void read_str(char *dst, unsigned int size, const char *src)
{
	dst[0] = 0;
	if (src && bpf_probe_read_user_str(dst, size, src) < 0)
		dst[0] = 0;
}

static __always_inline int leave(long ret)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct mount_start *s = bpf_map_lookup_elem(&starts, &tid);
	struct task_struct *task;
	struct mount_event *e;

	if (!s)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	task = (struct task_struct *)bpf_get_current_task();
	e->flags = s->flags;
	e->pid = id >> 32;
	e->tid = tid;
	e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	e->ret = ret;
	e->call = s->call;
	e->fd = s->fd;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	read_str(e->fstype, sizeof(e->fstype), s->fstype);
	read_str(e->source, sizeof(e->source), s->source);
	read_str(e->target, sizeof(e->target), s->target);
	read_str(e->data, sizeof(e->data), s->data);
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mount")
int enter_mount(struct syscall_enter_args *ctx)
{
	struct mount_start s = {.source = (const char *)ctx->args[0],
				.target = (const char *)ctx->args[1],
				.fstype = (const char *)ctx->args[2], .flags = ctx->args[3],
				.data = (const char *)ctx->args[4], .call = CALL_MOUNT};

	return enter(&s);
}

SEC("tracepoint/syscalls/sys_exit_mount")
int exit_mount(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

/* umount2(2); the syscall is called umount in the kernel */
SEC("tracepoint/syscalls/sys_enter_umount")
int enter_umount(struct syscall_enter_args *ctx)
{
	struct mount_start s = {.target = (const char *)ctx->args[0], .flags = ctx->args[1],
				.call = CALL_UMOUNT};

	return enter(&s);
}

SEC("tracepoint/syscalls/sys_exit_umount")
int exit_umount(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_fsopen")
int enter_fsopen(struct syscall_enter_args *ctx)
{
	struct mount_start s = {.fstype = (const char *)ctx->args[0], .flags = ctx->args[1],
				.call = CALL_FSOPEN};

	return enter(&s);
}

SEC("tracepoint/syscalls/sys_exit_fsopen")
int exit_fsopen(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_fsmount")
int enter_fsmount(struct syscall_enter_args *ctx)
{
	struct mount_start s = {.fd = (int)ctx->args[0], .flags = ctx->args[1],
				.call = CALL_FSMOUNT};

	return enter(&s);
}

SEC("tracepoint/syscalls/sys_exit_fsmount")
int exit_fsmount(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_move_mount")
int enter_move_mount(struct syscall_enter_args *ctx)
{
	struct mount_start s = {.fd = (int)ctx->args[0], .source = (const char *)ctx->args[1],
				.target = (const char *)ctx->args[3], .flags = ctx->args[4],
				.call = CALL_MOVE_MOUNT};

	return enter(&s);
}

SEC("tracepoint/syscalls/sys_exit_move_mount")
int exit_move_mount(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
