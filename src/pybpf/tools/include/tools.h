/* SPDX-License-Identifier: MIT */
/* Shared by the BPF sides of pybpf's tools. */
#ifndef __PYBPF_TOOLS_H
#define __PYBPF_TOOLS_H

#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif

/* the context of a syscalls/sys_enter_* tracepoint */
struct syscall_enter_args {
	unsigned long long common;	/* struct trace_entry */
	long nr;			/* __syscall_nr (an int, padded) */
	unsigned long args[6];
};

/* the context of a syscalls/sys_exit_* tracepoint */
struct syscall_exit_args {
	unsigned long long common;
	long nr;
	long ret;
};

/* the context of raw_syscalls/sys_enter and sys_exit */
struct raw_syscall_args {
	unsigned long long common;
	long id;
	long arg;	/* sys_enter: args[0]; sys_exit: the return value */
};

#endif
