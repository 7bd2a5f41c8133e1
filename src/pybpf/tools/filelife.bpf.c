/* SPDX-License-Identifier: MIT */
/* filelife: files created and deleted while tracing, with their age.
 *
 * bcc's filelife puts kprobes on vfs_create and vfs_unlink.  Without
 * kprobes: a file is born when an open(2)/openat(2)/creat(2) with O_CREAT
 * returns a file the open created (FMODE_CREATED in its f_mode, found
 * through the fd table), keyed by its inode; it dies when ext4 unlinks
 * that inode (the BTF-typed ext4:ext4_unlink_enter tracepoint, which
 * hands over the dentry).  Deletions on file systems other than ext4 are
 * not seen: there is no generic unlink tracepoint.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define PATH_LEN 128
const volatile int target_pid = 0;	/* only files created by this process (0: all) */
/* set by user space from pybpf.spec.tracing: open(2)'s O_CREAT and the
 * f_mode bit FMODE_CREATED (a file its open created) */
const volatile unsigned int o_creat = 0;
const volatile unsigned int fmode_created = 0;

struct open_start {
	const char *path;
	int flags;
	int pad;
};

struct birth {
	unsigned long long ts_ns;
	int pid;
	int pad;
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];	/* as given to open */
};

struct life_event {
	unsigned long long age_ns;
	unsigned long long ino;
	int pid;		/* the process that deleted it */
	int creator_pid;
	char comm[TASK_COMM_LEN];
	char creator_comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, int);
	__type(value, struct open_start);
} opens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct inode *);
	__type(value, struct birth);
} births SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct birth);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct life_event);

static __always_inline int enter(const char *path, int flags)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct open_start s = {.path = path, .flags = flags};

	if (!(flags & o_creat))
		return 0;
	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&opens, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline struct file *file_of_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = 0;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

static __always_inline int leave(long ret)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id, zero = 0;
	struct open_start *s = bpf_map_lookup_elem(&opens, &tid);
	struct birth *b;
	struct inode *inode;
	struct file *file;

	if (!s)
		return 0;
	if (ret < 0)
		goto done;
	file = file_of_fd(ret);
	if (!file || !(BPF_CORE_READ(file, f_mode) & fmode_created))
		goto done;
	inode = BPF_CORE_READ(file, f_inode);
	b = bpf_map_lookup_elem(&scratch, &zero);
	if (!inode || !b)
		goto done;
	b->ts_ns = bpf_ktime_get_ns();
	b->pid = id >> 32;
	b->pad = 0;
	bpf_get_current_comm(&b->comm, sizeof(b->comm));
	if (bpf_probe_read_user_str(b->path, sizeof(b->path), s->path) < 0)
		b->path[0] = 0;
	bpf_map_update_elem(&births, &inode, b, BPF_ANY);
done:
	bpf_map_delete_elem(&opens, &tid);
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

/* open(2) and creat(2) exist on x86-64 but not on arm64: attached when present */
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

SEC("tracepoint/syscalls/sys_enter_creat")
int enter_creat(struct syscall_enter_args *ctx)
{
	return enter((const char *)ctx->args[0], o_creat);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct syscall_exit_args *ctx)
{
	return leave(ctx->ret);
}

SEC("tp_btf/ext4_unlink_enter")
int BPF_PROG(on_ext4_unlink, struct inode *parent, struct dentry *dentry)
{
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	struct birth *b = bpf_map_lookup_elem(&births, &inode);
	struct life_event *e;

	if (!b)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->age_ns = bpf_ktime_get_ns() - b->ts_ns;
		e->ino = BPF_CORE_READ(inode, i_ino);
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->creator_pid = b->pid;
		bpf_get_current_comm(&e->comm, sizeof(e->comm));
		__builtin_memcpy(e->creator_comm, b->comm, sizeof(e->creator_comm));
		__builtin_memcpy(e->path, b->path, sizeof(e->path));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&births, &inode);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
