/* PT_REGS_* for each architecture against the kernel's struct pt_regs
 * layouts declared here, with no vmlinux.h: compiled once per architecture
 * (-D__TARGET_ARCH_x86 / -D__TARGET_ARCH_arm64) and run in pybpf's VM on a
 * context whose 8-byte word at offset 8*i holds 1000 + i, so each result
 * names the word a macro read.  The _CORE forms relocate against the BTF
 * of this file compiled with -DKERNEL_TYPES_ONLY (the layouts alone, as a
 * kernel of that architecture has them). */
#define __VMLINUX_H__	/* kernel register names; the types come from here */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#if defined(bpf_target_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di,
		orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));
#elif defined(bpf_target_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));
struct pt_regs {
	struct user_pt_regs user_regs;
	__u64 orig_x0;
} __attribute__((preserve_access_index));
#endif

#ifndef bpf_target_defined
#error "bpf_tracing.h named no target architecture"
#endif

#ifdef KERNEL_TYPES_ONLY
struct pt_regs kernel_regs;
#else

unsigned long plain[13];
unsigned long core[13];
unsigned long syscall[12];

SEC("kprobe/pybpf_regs")
int read_regs(struct pt_regs *ctx)
{
	plain[0] = PT_REGS_PARM1(ctx);
	plain[1] = PT_REGS_PARM2(ctx);
	plain[2] = PT_REGS_PARM3(ctx);
	plain[3] = PT_REGS_PARM4(ctx);
	plain[4] = PT_REGS_PARM5(ctx);
	plain[5] = PT_REGS_PARM6(ctx);
	plain[6] = PT_REGS_RC(ctx);
	plain[7] = PT_REGS_IP(ctx);
	plain[8] = PT_REGS_SP(ctx);
	plain[9] = PT_REGS_FP(ctx);
	plain[10] = PT_REGS_RET(ctx);
#if defined(bpf_target_arm64)	/* x86-64: on the stack (uprobes.bpf.c) */
	plain[11] = PT_REGS_PARM7(ctx);
	plain[12] = PT_REGS_PARM8(ctx);
	core[11] = PT_REGS_PARM7_CORE(ctx);
	core[12] = PT_REGS_PARM8_CORE(ctx);
#endif
	core[0] = PT_REGS_PARM1_CORE(ctx);
	core[1] = PT_REGS_PARM2_CORE(ctx);
	core[2] = PT_REGS_PARM3_CORE(ctx);
	core[3] = PT_REGS_PARM4_CORE(ctx);
	core[4] = PT_REGS_PARM5_CORE(ctx);
	core[5] = PT_REGS_PARM6_CORE(ctx);
	core[6] = PT_REGS_RC_CORE(ctx);
	core[7] = PT_REGS_IP_CORE(ctx);
	core[8] = PT_REGS_SP_CORE(ctx);
	core[9] = PT_REGS_FP_CORE(ctx);
	core[10] = PT_REGS_RET_CORE(ctx);
	syscall[0] = PT_REGS_PARM1_SYSCALL(ctx);
	syscall[1] = PT_REGS_PARM2_SYSCALL(ctx);
	syscall[2] = PT_REGS_PARM3_SYSCALL(ctx);
	syscall[3] = PT_REGS_PARM4_SYSCALL(ctx);
	syscall[4] = PT_REGS_PARM5_SYSCALL(ctx);
	syscall[5] = PT_REGS_PARM6_SYSCALL(ctx);
	syscall[6] = PT_REGS_PARM1_CORE_SYSCALL(ctx);
	syscall[7] = PT_REGS_PARM2_CORE_SYSCALL(ctx);
	syscall[8] = PT_REGS_PARM3_CORE_SYSCALL(ctx);
	syscall[9] = PT_REGS_PARM4_CORE_SYSCALL(ctx);
	syscall[10] = PT_REGS_PARM5_CORE_SYSCALL(ctx);
	syscall[11] = PT_REGS_PARM6_CORE_SYSCALL(ctx);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
#endif
