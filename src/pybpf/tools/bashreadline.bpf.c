/* SPDX-License-Identifier: MIT */
/* bashreadline: the command lines bash reads, from a uretprobe on its
 * readline().
 *
 * The line is readline's return value: a register of struct pt_regs whose
 * offset differs between architectures, so user space sets it
 * (ret_reg_offset) rather than this object naming one: the object stays
 * the same for every architecture.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tools.h"

#define MAX_LINE_SIZE 80

const volatile unsigned int ret_reg_offset = 0;	/* of the return register in pt_regs */
const volatile int target_pid = 0;		/* only this process (0: all) */
const volatile unsigned char any_comm = 0;	/* not only processes called bash */

struct readline_event {
	int pid;
	int pad;
	char comm[TASK_COMM_LEN];
	char str[MAX_LINE_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct readline_event);

SEC("uretprobe")
int on_readline_return(void *ctx)
{
	unsigned long long id = bpf_get_current_pid_tgid();
	struct readline_event *e;
	unsigned long line = 0;
	char comm[TASK_COMM_LEN];

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	bpf_get_current_comm(&comm, sizeof(comm));
	if (!any_comm && (comm[0] != 'b' || comm[1] != 'a' || comm[2] != 's' || comm[3] != 'h' ||
			  comm[4] != 0))
		return 0;
	if (bpf_probe_read_kernel(&line, sizeof(line), (char *)ctx + (ret_reg_offset & 0x1f8)) ||
	    !line)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->pad = 0;
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)line);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
