/* SPDX-License-Identifier: MIT */
/* bindsnoop: one ring-buffer event per bind(2): the process, the socket's
 * protocol and bound interface, the address asked for and the result.
 *
 * bcc's bindsnoop uses kprobes on inet_bind/inet6_bind; without kprobes,
 * the syscall tracepoints give the fd and the user's sockaddr, and the
 * socket is found through the fd table (task->files->fdt->fd[fd]).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define SOCKADDR_LEN 28		/* sizeof(struct sockaddr_in6) */

const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile unsigned char failed_only = 0;

struct bind_start {
	const void *addr;
	int fd;
	int addrlen;
};

struct bind_event {
	int pid;
	int tid;
	int uid;
	int ret;
	int fd;
	int bound_if;		/* sk->sk_bound_dev_if (SO_BINDTODEVICE), 0: any */
	unsigned short protocol;	/* IPPROTO_* */
	unsigned short sock_type;	/* SOCK_STREAM, SOCK_DGRAM... */
	int pad;
	char comm[TASK_COMM_LEN];
	unsigned char addr[SOCKADDR_LEN];	/* the sockaddr as given */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, int);
	__type(value, struct bind_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct bind_event);

/* the struct sock behind file descriptor fd of the current process */
static __always_inline struct sock *sock_of_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *file = 0;
	struct socket *sock;

	if (fd < 0 || (unsigned int)fd >= max_fds)
		return 0;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	return BPF_CORE_READ(sock, sk);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int enter_bind(struct syscall_enter_args *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct bind_start s = {.fd = (int)ctx->args[0], .addr = (const void *)ctx->args[1],
			       .addrlen = (int)ctx->args[2]};

	if (target_pid && (int)(id >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int exit_bind(struct syscall_exit_args *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	int tid = (unsigned int)id;
	struct bind_start *s = bpf_map_lookup_elem(&starts, &tid);
	struct bind_event *e;
	struct sock *sk;
	unsigned int len;

	if (!s)
		return 0;
	if (failed_only && ctx->ret >= 0)
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (unsigned int)bpf_get_current_uid_gid();
	e->ret = ctx->ret;
	e->fd = s->fd;
	e->pad = 0;
	sk = sock_of_fd(s->fd);
	e->bound_if = sk ? BPF_CORE_READ(sk, __sk_common.skc_bound_dev_if) : 0;
	e->protocol = sk ? BPF_CORE_READ(sk, sk_protocol) : 0;
	e->sock_type = sk ? BPF_CORE_READ(sk, sk_type) : 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	len = s->addrlen;
	if (len > SOCKADDR_LEN)
		len = SOCKADDR_LEN;
	bpf_probe_read_user(e->addr, len, s->addr);
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
