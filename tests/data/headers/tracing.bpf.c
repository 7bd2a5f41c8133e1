/* bpf_tracing.h's program wrappers: BPF_PROG and BPF_PROG2 run as raw
 * tracepoints under BPF_PROG_TEST_RUN with a context of our choosing; the
 * kprobe, kretprobe and syscall wrappers (kprobes cannot be attached
 * everywhere) load and pass the verifier. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* 16 bytes: two context slots for BPF_PROG2 */
struct hdr_wide {
	long lo;
	long hi;
};

long prog_out[4];
long prog2_out[6];
long probe_out[16];

SEC("raw_tp/pybpf_args")
int BPF_PROG(prog_args, long a, int b, struct task_struct *task)
{
	prog_out[0] = a;
	prog_out[1] = b;
	prog_out[2] = (long)task;
	return a + b;
}

SEC("raw_tp/pybpf_none")
int BPF_PROG(prog_none)
{
	prog_out[3] = ctx != NULL;
	return 11;
}

SEC("raw_tp/pybpf_args2")
int BPF_PROG2(prog2_args, int, a, struct hdr_wide, w, char, c, long, last)
{
	prog2_out[0] = a;
	prog2_out[1] = w.lo;
	prog2_out[2] = w.hi;
	prog2_out[3] = c;
	prog2_out[4] = last;
	return 2;
}

SEC("raw_tp/pybpf_none2")
int BPF_PROG2(prog2_none)
{
	prog2_out[5] = 1;
	return 22;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
{
	unsigned long ret_ip = 0;

	BPF_KPROBE_READ_RET_IP(ret_ip, ctx);
	probe_out[0] = dfd + (long)BPF_CORE_READ(name, name) + ret_ip;
	return 0;
}

/* eight arguments: on x86-64 the last two come from the kernel stack */
SEC("kprobe/pybpf_eight")
int BPF_KPROBE(on_eight, long a1, long a2, long a3, long a4, long a5, long a6, long a7,
	       long a8)
{
	probe_out[1] = a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8;
	probe_out[2] = PT_REGS_PARM7(ctx) + PT_REGS_PARM8(ctx) + PT_REGS_PARM7_CORE(ctx) +
		       PT_REGS_PARM8_CORE(ctx);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_unlink_ret, long ret)
{
	unsigned long caller = 0;

	BPF_KRETPROBE_READ_RET_IP(caller, ctx);
	probe_out[3] = ret + caller;
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_unlink_ret_bare)
{
	probe_out[4] = PT_REGS_RC(ctx);
	return 0;
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(on_openat, int dfd, const char *path, int flags, int mode)
{
	probe_out[5] = dfd + flags + mode + (long)path;
	return 0;
}

SEC("ksyscall/close")
int BPF_KPROBE_SYSCALL(on_close, int fd)
{
	probe_out[6] = fd;
	return 0;
}

/* the syscall's own pt_regs, behind the arch wrapper's */
SEC("kprobe/__x64_sys_pread64")
int on_pread(struct pt_regs *ctx)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);

	probe_out[7] = PT_REGS_PARM1_CORE_SYSCALL(regs) + PT_REGS_PARM4_CORE_SYSCALL(regs);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
