/* SPDX-License-Identifier: MIT */
/* Events shared by the example programs and the Python code reading them. */
#ifndef __PYBPF_EXAMPLES_EXITSNOOP_H
#define __PYBPF_EXAMPLES_EXITSNOOP_H

#define TASK_COMM_LEN 16

/* one process exit, as exitsnoop.bpf.c sends it through its ring buffer */
struct exit_event {
	int pid;			/* the exiting thread group */
	int ppid;			/* its parent */
	unsigned int exit_code;		/* wait(2) status: code << 8 | signal */
	unsigned int pad;
	unsigned long long duration_ns;	/* lifetime: now - task->start_time */
	char comm[TASK_COMM_LEN];
};

#endif
