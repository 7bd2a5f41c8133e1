/* SPDX-License-Identifier: MIT */
/* The kernel types pybpf's tools use, and nothing else.
 *
 * The tools are compiled ahead (generators/build_tools.py) and shipped
 * inside the package, so they must not depend on the kernel of the machine
 * that built them: instead of a vmlinux.h dumped from that kernel, this
 * header declares by hand the few members the tools read.  The structs
 * carry preserve_access_index: every member access becomes a CO-RE
 * relocation that the loader resolves against the running kernel's BTF by
 * name, so offsets and sizes written here do not matter, only names and
 * kinds.  The small header also keeps the objects small: BTF holds only
 * these types, not the hundreds that a full task_struct pulls in.
 *
 * Add a member here when a tool needs one (its name as in the kernel).
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

/* uapi: map types and update flags the tools use (include/uapi/linux/bpf.h) */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
	unsigned int __state;		/* 0: TASK_RUNNING */
	int exit_code;
	int pid;
	int tgid;
	struct task_struct *real_parent;
	__u64 start_time;		/* CLOCK_MONOTONIC, ns */
	struct files_struct *files;
	struct nsproxy *nsproxy;
};

/* a process's open files: task->files->fdt->fd[fd] */
struct files_struct {
	struct fdtable *fdt;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct file {
	unsigned int f_mode;		/* FMODE_*: FMODE_CREATED when the open created it */
	void *private_data;		/* a socket's struct socket */
	struct inode *f_inode;
};

struct inode {
	unsigned long i_ino;
};

struct dentry {
	struct inode *d_inode;
};

/* namespaces: task->nsproxy->mnt_ns->ns.inum */
struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

/* sockets */
struct sock_common {
	int skc_bound_dev_if;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	__u16 sk_type;
};

struct socket {
	short type;
	struct sock *sk;
};

struct tcp_sock {
	__u64 bytes_received;
	__u64 bytes_acked;
};

/* block requests (tp_btf/block_rq_*) */
struct gendisk {
	int major;
	int first_minor;
	char disk_name[32];
};

struct request_queue {
	struct gendisk *disk;
};

struct request {
	struct request_queue *q;
	unsigned int cmd_flags;		/* blk_opf_t: REQ_OP_* in the low 8 bits */
	unsigned int __data_len;
	__u64 __sector;
};

/* the records of classic tracepoints (their context) */
struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};

struct trace_event_raw_inet_sock_set_state {
	struct trace_entry ent;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct trace_event_raw_tcp_retransmit_skb {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
	int state;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

struct trace_event_raw_irq_handler_entry {
	struct trace_entry ent;
	int irq;
	__u32 __data_loc_name;		/* offset (low 16 bits) and length of the name */
};

struct trace_event_raw_irq_handler_exit {
	struct trace_entry ent;
	int irq;
	int ret;
};

struct trace_event_raw_softirq {
	struct trace_entry ent;
	unsigned int vec;
};

#pragma clang attribute pop

#endif /* __VMLINUX_H__ */
