/* printf-style output: bpf_printk with 0 to 12 arguments (bpf_trace_printk
 * up to 3, bpf_trace_vprintk beyond), __bpf_printk and __bpf_vprintk
 * directly, BPF_SNPRINTF into a global buffer, and BPF_SEQ_PRINTF in a task
 * iterator.  MARKER (set before loading) tags the trace lines. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile unsigned int marker = 0;
const volatile int target_tgid = 0;

char text[64];
long text_len;
char empty[8];
long empty_len;

SEC("xdp")
int print(struct xdp_md *ctx)
{
	unsigned int m = marker;

	bpf_printk("pybpf-hdr %u none", m);
	bpf_printk("pybpf-hdr %u two %d %s", m, -5, "str");
	bpf_printk("pybpf-hdr %u four %d %d %d", m, 1, 2, 3);
	bpf_printk("pybpf-hdr %u twelve %d %d %d %d %d %d %d %d %d %d %x",
		   m, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255);
	__bpf_printk("pybpf-hdr %u direct", m);
	__bpf_vprintk("pybpf-hdr %u vdirect %d", m, 7);
	text_len = BPF_SNPRINTF(text, sizeof(text), "%d|%u|%x|%s|%c", -42, 42u, 0xbeef,
				"ok", 'z');
	empty_len = BPF_SNPRINTF(empty, sizeof(empty), "none");
	return XDP_PASS;
}

SEC("iter/task")
int seq_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task || task->tgid != target_tgid || task->pid != target_tgid)
		return 0;
	BPF_SEQ_PRINTF(seq, "task %d\n", task->tgid);
	BPF_SEQ_PRINTF(seq, "plain line\n");
	BPF_SEQ_PRINTF(seq, "%d %d %d %d %d %d %d %d %d %d %d %s\n",
		       1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
