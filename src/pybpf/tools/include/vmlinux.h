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
};

#pragma clang attribute pop

#endif /* __VMLINUX_H__ */
