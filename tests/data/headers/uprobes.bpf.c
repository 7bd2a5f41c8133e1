/* BPF_UPROBE and BPF_URETPROBE on probe_app's functions: eight arguments
 * (x86-64 passes the last two on the user stack), the PT_REGS_* registers,
 * and reads of user memory with and without CO-RE (the app lays out
 * struct list_head, struct filename and struct new_utsname as the kernel
 * does). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* probe_app's own node type: read without relocations */
struct hdr_node {
	struct hdr_node *next;
	long value;
	char label[16];
};

struct hdr_walk {
	long value1, value2;
	char label[16];
	long label_len;
	long mid, tail, end, prev;
	char name[16];
	long name_len;
	char nodename[65];
	char first_label[16];
};

long eight_args[8];
long eight_regs[10];
long eight_ret[2];
struct hdr_walk walk;

SEC("uprobe")
int BPF_UPROBE(on_eight, long a1, long a2, long a3, long a4, long a5, long a6, long a7,
	       long a8)
{
	eight_args[0] = a1;
	eight_args[1] = a2;
	eight_args[2] = a3;
	eight_args[3] = a4;
	eight_args[4] = a5;
	eight_args[5] = a6;
	eight_args[6] = a7;
	eight_args[7] = a8;
	eight_regs[0] = PT_REGS_PARM1(ctx);
	eight_regs[1] = PT_REGS_PARM2(ctx);
	eight_regs[2] = PT_REGS_PARM3(ctx);
	eight_regs[3] = PT_REGS_PARM4(ctx);
	eight_regs[4] = PT_REGS_PARM5(ctx);
	eight_regs[5] = PT_REGS_PARM6(ctx);
	eight_regs[6] = PT_REGS_IP(ctx);
	eight_regs[7] = PT_REGS_SP(ctx);
	eight_regs[8] = PT_REGS_FP(ctx);
	eight_regs[9] = PT_REGS_RET(ctx);
	return 0;
}

SEC("uretprobe")
int BPF_URETPROBE(on_eight_ret, long ret)
{
	eight_ret[0] = ret;
	eight_ret[1] = PT_REGS_RC(ctx);
	return 0;
}

SEC("uprobe")
int BPF_UPROBE(on_walk, struct hdr_node *node, struct list_head *list, struct filename *file,
	       struct new_utsname *uts)
{
	struct hdr_walk *w = &walk;
	const char *name;

	BPF_PROBE_READ_USER_INTO(&w->value1, node, value);
	w->value2 = BPF_PROBE_READ_USER(node, next, value);
	w->label_len = BPF_PROBE_READ_USER_STR_INTO(&w->label, node, next, label);
	bpf_probe_read_user_str(w->first_label, sizeof(w->first_label), node->label);

	w->mid = (long)BPF_CORE_READ_USER(list, next);
	BPF_CORE_READ_USER_INTO(&w->tail, list, next, next);
	w->end = (long)BPF_CORE_READ_USER(list, next, next, next);
	bpf_core_read_user(&w->prev, sizeof(w->prev), &list->prev);

	name = BPF_CORE_READ_USER(file, name);
	w->name_len = bpf_core_read_user_str(w->name, sizeof(w->name), name);
	BPF_CORE_READ_USER_STR_INTO(&w->nodename, uts, nodename);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
