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

/* include/linux/socket.h, include/uapi/linux/in.h */
#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT,
	TCP_SYN_RECV,
	TCP_FIN_WAIT1,
	TCP_FIN_WAIT2,
	TCP_TIME_WAIT,
	TCP_CLOSE,
	TCP_CLOSE_WAIT,
	TCP_LAST_ACK,
	TCP_LISTEN,
	TCP_CLOSING,
	TCP_NEW_SYN_RECV,
};

/* an IPv4 or IPv6 connection's ends, as the sock and tcp tracepoints give
 * them: members of an event struct (records stay flat for their decoder);
 * IPv4 addresses in the first 4 bytes */
#define TCP_ENDS_FIELDS				\
	unsigned short family;			\
	unsigned short sport;			\
	unsigned short dport;			\
	unsigned short pad_ends;		\
	unsigned char saddr[16];		\
	unsigned char daddr[16]

#endif
