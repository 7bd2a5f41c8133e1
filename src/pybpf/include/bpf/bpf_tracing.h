/* SPDX-License-Identifier: MIT */
/* Tracing support: registers of struct pt_regs by role (PT_REGS_PARM1...,
 * PT_REGS_RC, PT_REGS_IP, PT_REGS_SP) for x86-64 and arm64, and the
 * BPF_PROG / BPF_PROG2 / BPF_KPROBE / BPF_KRETPROBE / BPF_UPROBE /
 * BPF_URETPROBE / BPF_KSYSCALL wrappers that let a program declare typed
 * arguments:
 *
 *     SEC("kprobe/do_unlinkat")
 *     int BPF_KPROBE(do_unlinkat, int dfd, struct filename *name) { ... }
 *
 *     SEC("fentry/do_unlinkat")
 *     int BPF_PROG(enter, int dfd, struct filename *name) { ... }
 *
 * (USDT probes: <bpf/usdt.bpf.h>.)
 *
 * Select the architecture of the kernel the program will run on with
 * -D__TARGET_ARCH_x86 or -D__TARGET_ARCH_arm64 (pybpf cc does it).
 */
#ifndef __PYBPF_BPF_TRACING_H
#define __PYBPF_BPF_TRACING_H

#include "bpf_helpers.h"
#include "bpf_core_read.h"

#if defined(__TARGET_ARCH_x86) || defined(__TARGET_ARCH_x86_64)
# define __PYBPF_ARCH_X86 1
#elif defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_aarch64)
# define __PYBPF_ARCH_ARM64 1
#elif !defined(__bpf__)
# if defined(__x86_64__)
#  define __PYBPF_ARCH_X86 1
# elif defined(__aarch64__)
#  define __PYBPF_ARCH_ARM64 1
# endif
#endif

/* which architecture's registers PT_REGS_* name (libbpf's spelling) */
#if defined(__PYBPF_ARCH_X86)
# define bpf_target_x86
# define bpf_target_defined
#elif defined(__PYBPF_ARCH_ARM64)
# define bpf_target_arm64
# define bpf_target_defined
#endif

/* Kernel struct pt_regs (vmlinux.h) or the user-space ABI's? */
#if defined(__KERNEL__) || defined(__VMLINUX_H__)
# define __PYBPF_KERNEL_REGS 1
#endif

#if defined(__PYBPF_ARCH_X86)

# define __PYBPF_REGS_CAST(x) (x)
# ifdef __PYBPF_KERNEL_REGS
#  define __PYBPF_P1 di
#  define __PYBPF_P2 si
#  define __PYBPF_P3 dx
#  define __PYBPF_P4 cx
#  define __PYBPF_P5 r8
#  define __PYBPF_P6 r9
#  define __PYBPF_P4_SYSCALL r10
#  define __PYBPF_RC ax
#  define __PYBPF_IP ip
#  define __PYBPF_SP sp
#  define __PYBPF_FP bp
# else
#  define __PYBPF_P1 rdi
#  define __PYBPF_P2 rsi
#  define __PYBPF_P3 rdx
#  define __PYBPF_P4 rcx
#  define __PYBPF_P5 r8
#  define __PYBPF_P6 r9
#  define __PYBPF_P4_SYSCALL r10
#  define __PYBPF_RC rax
#  define __PYBPF_IP rip
#  define __PYBPF_SP rsp
#  define __PYBPF_FP rbp
# endif
/* x86-64 passes arguments 7 and 8 on the stack, above the return address */
# define __PYBPF_STACK_P7 1
# define __PYBPF_STACK_P8 2

#elif defined(__PYBPF_ARCH_ARM64)

/* the kernel's pt_regs starts with the user-visible user_pt_regs */
struct user_pt_regs;
# define __PYBPF_REGS_CAST(x) ((const struct user_pt_regs *)(x))
# define __PYBPF_P1 regs[0]
# define __PYBPF_P2 regs[1]
# define __PYBPF_P3 regs[2]
# define __PYBPF_P4 regs[3]
# define __PYBPF_P5 regs[4]
# define __PYBPF_P6 regs[5]
# define __PYBPF_P7 regs[6]
# define __PYBPF_P8 regs[7]
# define __PYBPF_P4_SYSCALL regs[3]
# define __PYBPF_RC regs[0]
# define __PYBPF_IP pc
# define __PYBPF_SP sp
# define __PYBPF_FP regs[29]
# define __PYBPF_RET regs[30]
/* a syscall's first argument survives in orig_x0 of the kernel pt_regs */
struct pt_regs___pybpf_arm64 {
	unsigned long orig_x0;
} __attribute__((preserve_access_index));

#endif

#if defined(__PYBPF_ARCH_X86) || defined(__PYBPF_ARCH_ARM64)

struct pt_regs;

# define PT_REGS_PARM1(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P1)
# define PT_REGS_PARM2(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P2)
# define PT_REGS_PARM3(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P3)
# define PT_REGS_PARM4(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P4)
# define PT_REGS_PARM5(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P5)
# define PT_REGS_PARM6(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P6)
# define PT_REGS_RC(x) (__PYBPF_REGS_CAST(x)->__PYBPF_RC)
# define PT_REGS_IP(x) (__PYBPF_REGS_CAST(x)->__PYBPF_IP)
# define PT_REGS_SP(x) (__PYBPF_REGS_CAST(x)->__PYBPF_SP)
# define PT_REGS_FP(x) (__PYBPF_REGS_CAST(x)->__PYBPF_FP)

# define PT_REGS_PARM1_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P1)
# define PT_REGS_PARM2_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P2)
# define PT_REGS_PARM3_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P3)
# define PT_REGS_PARM4_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P4)
# define PT_REGS_PARM5_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P5)
# define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P6)
# define PT_REGS_RC_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_RC)
# define PT_REGS_IP_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_IP)
# define PT_REGS_SP_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_SP)
# define PT_REGS_FP_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_FP)

# if defined(__PYBPF_STACK_P7)
/* a stack-passed argument of a probed kernel function (at its entry) */
#  define ___pybpf_stack_arg(x, n) ({ \
	unsigned long __pybpf_v = 0; \
	bpf_probe_read_kernel(&__pybpf_v, sizeof(__pybpf_v), \
			      (const void *)(PT_REGS_SP(x) + (n) * sizeof(unsigned long))); \
	__pybpf_v; })
#  define ___pybpf_stack_arg_core(x, n) ({ \
	unsigned long __pybpf_v = 0; \
	bpf_probe_read_kernel(&__pybpf_v, sizeof(__pybpf_v), \
			      (const void *)(PT_REGS_SP_CORE(x) + (n) * sizeof(unsigned long))); \
	__pybpf_v; })
#  define PT_REGS_PARM7(x) ___pybpf_stack_arg(x, __PYBPF_STACK_P7)
#  define PT_REGS_PARM8(x) ___pybpf_stack_arg(x, __PYBPF_STACK_P8)
#  define PT_REGS_PARM7_CORE(x) ___pybpf_stack_arg_core(x, __PYBPF_STACK_P7)
#  define PT_REGS_PARM8_CORE(x) ___pybpf_stack_arg_core(x, __PYBPF_STACK_P8)
# else
#  define PT_REGS_PARM7(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P7)
#  define PT_REGS_PARM8(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P8)
#  define PT_REGS_PARM7_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P7)
#  define PT_REGS_PARM8_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P8)
# endif

# if defined(__PYBPF_RET)
#  define PT_REGS_RET(x) (__PYBPF_REGS_CAST(x)->__PYBPF_RET)
#  define PT_REGS_RET_CORE(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_RET)
# else
/* the return address is on top of the stack */
#  define PT_REGS_RET(x) PT_REGS_SP(x)
#  define PT_REGS_RET_CORE(x) PT_REGS_SP_CORE(x)
# endif

/* system call arguments, from the pt_regs the syscall entry saved */
# if defined(__PYBPF_ARCH_ARM64)
#  define PT_REGS_PARM1_SYSCALL(x) (((const struct pt_regs___pybpf_arm64 *)(x))->orig_x0)
#  define PT_REGS_PARM1_CORE_SYSCALL(x) \
	BPF_CORE_READ((const struct pt_regs___pybpf_arm64 *)(x), orig_x0)
# else
#  define PT_REGS_PARM1_SYSCALL(x) PT_REGS_PARM1(x)
#  define PT_REGS_PARM1_CORE_SYSCALL(x) PT_REGS_PARM1_CORE(x)
# endif
# define PT_REGS_PARM2_SYSCALL(x) PT_REGS_PARM2(x)
# define PT_REGS_PARM3_SYSCALL(x) PT_REGS_PARM3(x)
# define PT_REGS_PARM4_SYSCALL(x) (__PYBPF_REGS_CAST(x)->__PYBPF_P4_SYSCALL)
# define PT_REGS_PARM5_SYSCALL(x) PT_REGS_PARM5(x)
# define PT_REGS_PARM6_SYSCALL(x) PT_REGS_PARM6(x)
# define PT_REGS_PARM2_CORE_SYSCALL(x) PT_REGS_PARM2_CORE(x)
# define PT_REGS_PARM3_CORE_SYSCALL(x) PT_REGS_PARM3_CORE(x)
# define PT_REGS_PARM4_CORE_SYSCALL(x) BPF_CORE_READ(__PYBPF_REGS_CAST(x), __PYBPF_P4_SYSCALL)
# define PT_REGS_PARM5_CORE_SYSCALL(x) PT_REGS_PARM5_CORE(x)
# define PT_REGS_PARM6_CORE_SYSCALL(x) PT_REGS_PARM6_CORE(x)

#else /* no target architecture: using a register is a compile error */

# define ___pybpf_no_arch() ({ \
	_Static_assert(0, "define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64 to use pt_regs"); \
	0l; })
# define PT_REGS_PARM1(x) ___pybpf_no_arch()
# define PT_REGS_PARM2(x) ___pybpf_no_arch()
# define PT_REGS_PARM3(x) ___pybpf_no_arch()
# define PT_REGS_PARM4(x) ___pybpf_no_arch()
# define PT_REGS_PARM5(x) ___pybpf_no_arch()
# define PT_REGS_PARM6(x) ___pybpf_no_arch()
# define PT_REGS_PARM7(x) ___pybpf_no_arch()
# define PT_REGS_PARM8(x) ___pybpf_no_arch()
# define PT_REGS_RC(x) ___pybpf_no_arch()
# define PT_REGS_IP(x) ___pybpf_no_arch()
# define PT_REGS_SP(x) ___pybpf_no_arch()
# define PT_REGS_FP(x) ___pybpf_no_arch()
# define PT_REGS_RET(x) ___pybpf_no_arch()
# define PT_REGS_PARM1_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM2_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM3_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM4_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM5_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM6_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM7_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM8_CORE(x) ___pybpf_no_arch()
# define PT_REGS_RC_CORE(x) ___pybpf_no_arch()
# define PT_REGS_IP_CORE(x) ___pybpf_no_arch()
# define PT_REGS_SP_CORE(x) ___pybpf_no_arch()
# define PT_REGS_FP_CORE(x) ___pybpf_no_arch()
# define PT_REGS_RET_CORE(x) ___pybpf_no_arch()
# define PT_REGS_PARM1_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM2_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM3_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM4_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM5_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM6_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM1_CORE_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM2_CORE_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM3_CORE_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM4_CORE_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM5_CORE_SYSCALL(x) ___pybpf_no_arch()
# define PT_REGS_PARM6_CORE_SYSCALL(x) ___pybpf_no_arch()

#endif

/* The address a kprobed function will return to, read at its entry into IP
 * (x86-64: the top of the stack; arm64: the link register). */
#if defined(__PYBPF_RET)
# define BPF_KPROBE_READ_RET_IP(ip, ctx) ({ (ip) = PT_REGS_RET(ctx); })
#else
# define BPF_KPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), (const void *)PT_REGS_RET(ctx)); })
#endif
/* In a kretprobe: the caller's return address, one word above the frame
 * pointer (needs kernels built with frame pointers). */
#define BPF_KRETPROBE_READ_RET_IP(ip, ctx) \
	({ bpf_probe_read_kernel(&(ip), sizeof(ip), \
				 (const void *)(PT_REGS_FP(ctx) + sizeof(ip))); })

/* The pt_regs a syscall wrapper received as its first argument. */
#define PT_REGS_SYSCALL_REGS(ctx) ((struct pt_regs *)PT_REGS_PARM1(ctx))

/* Whether probed syscalls go through arch wrappers (__x64_sys_*) that take
 * a pt_regs; the loader answers from the kernel. */
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;

/* ---- argument lists for the wrappers below ---- */

#define ___pybpf_ctx_cast0() ctx
#define ___pybpf_ctx_cast1(x) ___pybpf_ctx_cast0(), (void *)ctx[0]
#define ___pybpf_ctx_cast2(x, args...) ___pybpf_ctx_cast1(args), (void *)ctx[1]
#define ___pybpf_ctx_cast3(x, args...) ___pybpf_ctx_cast2(args), (void *)ctx[2]
#define ___pybpf_ctx_cast4(x, args...) ___pybpf_ctx_cast3(args), (void *)ctx[3]
#define ___pybpf_ctx_cast5(x, args...) ___pybpf_ctx_cast4(args), (void *)ctx[4]
#define ___pybpf_ctx_cast6(x, args...) ___pybpf_ctx_cast5(args), (void *)ctx[5]
#define ___pybpf_ctx_cast7(x, args...) ___pybpf_ctx_cast6(args), (void *)ctx[6]
#define ___pybpf_ctx_cast8(x, args...) ___pybpf_ctx_cast7(args), (void *)ctx[7]
#define ___pybpf_ctx_cast9(x, args...) ___pybpf_ctx_cast8(args), (void *)ctx[8]
#define ___pybpf_ctx_cast10(x, args...) ___pybpf_ctx_cast9(args), (void *)ctx[9]
#define ___pybpf_ctx_cast11(x, args...) ___pybpf_ctx_cast10(args), (void *)ctx[10]
#define ___pybpf_ctx_cast12(x, args...) ___pybpf_ctx_cast11(args), (void *)ctx[11]
#define ___pybpf_ctx_cast(args...) ___pybpf_apply(___pybpf_ctx_cast, ___pybpf_narg(args))(args)

#define ___pybpf_kprobe_args0() ctx
#define ___pybpf_kprobe_args1(x) ___pybpf_kprobe_args0(), (void *)PT_REGS_PARM1(ctx)
#define ___pybpf_kprobe_args2(x, args...) ___pybpf_kprobe_args1(args), (void *)PT_REGS_PARM2(ctx)
#define ___pybpf_kprobe_args3(x, args...) ___pybpf_kprobe_args2(args), (void *)PT_REGS_PARM3(ctx)
#define ___pybpf_kprobe_args4(x, args...) ___pybpf_kprobe_args3(args), (void *)PT_REGS_PARM4(ctx)
#define ___pybpf_kprobe_args5(x, args...) ___pybpf_kprobe_args4(args), (void *)PT_REGS_PARM5(ctx)
#define ___pybpf_kprobe_args6(x, args...) ___pybpf_kprobe_args5(args), (void *)PT_REGS_PARM6(ctx)
#define ___pybpf_kprobe_args7(x, args...) ___pybpf_kprobe_args6(args), (void *)PT_REGS_PARM7(ctx)
#define ___pybpf_kprobe_args8(x, args...) ___pybpf_kprobe_args7(args), (void *)PT_REGS_PARM8(ctx)
#define ___pybpf_kprobe_args(args...) ___pybpf_apply(___pybpf_kprobe_args, ___pybpf_narg(args))(args)

#define ___pybpf_syscall_args0() ctx
#define ___pybpf_syscall_args1(x) ___pybpf_syscall_args0(), (void *)PT_REGS_PARM1_SYSCALL(regs)
#define ___pybpf_syscall_args2(x, args...) ___pybpf_syscall_args1(args), (void *)PT_REGS_PARM2_SYSCALL(regs)
#define ___pybpf_syscall_args3(x, args...) ___pybpf_syscall_args2(args), (void *)PT_REGS_PARM3_SYSCALL(regs)
#define ___pybpf_syscall_args4(x, args...) ___pybpf_syscall_args3(args), (void *)PT_REGS_PARM4_SYSCALL(regs)
#define ___pybpf_syscall_args5(x, args...) ___pybpf_syscall_args4(args), (void *)PT_REGS_PARM5_SYSCALL(regs)
#define ___pybpf_syscall_args6(x, args...) ___pybpf_syscall_args5(args), (void *)PT_REGS_PARM6_SYSCALL(regs)
#define ___pybpf_syscall_args(args...) ___pybpf_apply(___pybpf_syscall_args, ___pybpf_narg(args))(args)

#define ___pybpf_syscall_core_args0() ctx
#define ___pybpf_syscall_core_args1(x) ___pybpf_syscall_core_args0(), (void *)PT_REGS_PARM1_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args2(x, args...) ___pybpf_syscall_core_args1(args), (void *)PT_REGS_PARM2_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args3(x, args...) ___pybpf_syscall_core_args2(args), (void *)PT_REGS_PARM3_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args4(x, args...) ___pybpf_syscall_core_args3(args), (void *)PT_REGS_PARM4_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args5(x, args...) ___pybpf_syscall_core_args4(args), (void *)PT_REGS_PARM5_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args6(x, args...) ___pybpf_syscall_core_args5(args), (void *)PT_REGS_PARM6_CORE_SYSCALL(regs)
#define ___pybpf_syscall_core_args(args...) ___pybpf_apply(___pybpf_syscall_core_args, ___pybpf_narg(args))(args)

/* A tp_btf / fentry / fexit / fmod_ret / lsm / iter program whose context
 * is an array of u64 arguments, declared with their real types:
 *     int BPF_PROG(name, struct task_struct *prev, struct task_struct *next) */
#define BPF_PROG(name, args...) \
name(unsigned long long *ctx); \
static __always_inline typeof(name(0)) \
____##name(unsigned long long *ctx, ##args); \
typeof(name(0)) name(unsigned long long *ctx) \
{ \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	return ____##name(___pybpf_ctx_cast(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(unsigned long long *ctx, ##args)

/* ---- BPF_PROG2: arguments that take two context slots ---- */

/* argument counting up to 24 (12 type, name pairs) */
#define ___pybpf_nth24(_0, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, \
		       _16, _17, _18, _19, _20, _21, _22, _23, _24, N, ...) N
#define ___pybpf_narg24(...) \
	___pybpf_nth24(_, ##__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, \
		       11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)

/* the u64 context slots a T argument takes: 1, or 2 for a 9-16 byte struct */
#define ___pybpf_slots(t) ((sizeof(t) + 7) / 8)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
# define ___pybpf_slot_shift(t) (sizeof(t) < 8 ? (8 - sizeof(t)) * 8 : 0)
#else
# define ___pybpf_slot_shift(t) 0
#endif
/* the T argument starting at ctx[AT], rebuilt from its one or two slots */
#define ___pybpf_prog2_value(t, at) ({ \
	union { unsigned long long ___w[2]; t ___v; } ___pybpf_u; \
	___pybpf_u.___w[0] = ctx[at] << ___pybpf_slot_shift(t); \
	__builtin_choose_expr(sizeof(t) > 8, (void)(___pybpf_u.___w[1] = ctx[(at) + 1]), \
			      (void)0); \
	___pybpf_u.___v; })

#define ___pybpf_prog2_params0(...)
#define ___pybpf_prog2_params2(t, a) , t a
#define ___pybpf_prog2_params4(t, a, args...) , t a ___pybpf_prog2_params2(args)
#define ___pybpf_prog2_params6(t, a, args...) , t a ___pybpf_prog2_params4(args)
#define ___pybpf_prog2_params8(t, a, args...) , t a ___pybpf_prog2_params6(args)
#define ___pybpf_prog2_params10(t, a, args...) , t a ___pybpf_prog2_params8(args)
#define ___pybpf_prog2_params12(t, a, args...) , t a ___pybpf_prog2_params10(args)
#define ___pybpf_prog2_params14(t, a, args...) , t a ___pybpf_prog2_params12(args)
#define ___pybpf_prog2_params16(t, a, args...) , t a ___pybpf_prog2_params14(args)
#define ___pybpf_prog2_params18(t, a, args...) , t a ___pybpf_prog2_params16(args)
#define ___pybpf_prog2_params20(t, a, args...) , t a ___pybpf_prog2_params18(args)
#define ___pybpf_prog2_params22(t, a, args...) , t a ___pybpf_prog2_params20(args)
#define ___pybpf_prog2_params24(t, a, args...) , t a ___pybpf_prog2_params22(args)
#define ___pybpf_prog2_params(args...) \
	___pybpf_apply(___pybpf_prog2_params, ___pybpf_narg24(args))(args)

#define ___pybpf_prog2_values0(at, ...)
#define ___pybpf_prog2_values2(at, t, a) , ___pybpf_prog2_value(t, at)
#define ___pybpf_prog2_values4(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values2(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values6(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values4(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values8(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values6(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values10(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values8(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values12(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values10(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values14(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values12(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values16(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values14(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values18(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values16(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values20(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values18(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values22(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values20(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values24(at, t, a, args...) \
	, ___pybpf_prog2_value(t, at) ___pybpf_prog2_values22(at + ___pybpf_slots(t), args)
#define ___pybpf_prog2_values(args...) \
	___pybpf_apply(___pybpf_prog2_values, ___pybpf_narg24(args))(0, args)

/* BPF_PROG for functions that take structs by value: arguments come as
 * type, name pairs, so that a 9-16 byte struct (two context slots) shifts
 * the arguments after it:
 *     SEC("fentry/tcp_v4_connect")
 *     int BPF_PROG2(on_call, struct sock *, sk, struct wide, w, int, flags) */
#define BPF_PROG2(name, args...) \
name(unsigned long long *ctx); \
static __always_inline typeof(name(0)) \
____##name(unsigned long long *ctx ___pybpf_prog2_params(args)); \
typeof(name(0)) name(unsigned long long *ctx) \
{ \
	return ____##name(ctx ___pybpf_prog2_values(args)); \
} \
static __always_inline typeof(name(0)) \
____##name(unsigned long long *ctx ___pybpf_prog2_params(args))

/* A kprobe (or uprobe) program whose arguments are read from pt_regs:
 *     int BPF_KPROBE(name, int fd, const char *path) */
#define BPF_KPROBE(name, args...) \
name(struct pt_regs *ctx); \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx) \
{ \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	return ____##name(___pybpf_kprobe_args(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args)

#define ___pybpf_kretprobe_args0() ctx
#define ___pybpf_kretprobe_args1(x) ___pybpf_kretprobe_args0(), (void *)PT_REGS_RC(ctx)
#define ___pybpf_kretprobe_args(args...) \
	___pybpf_apply(___pybpf_kretprobe_args, ___pybpf_narg(args))(args)

/* A kretprobe (or uretprobe) program with the return value as an optional
 * argument:  int BPF_KRETPROBE(name, long ret) */
#define BPF_KRETPROBE(name, args...) \
name(struct pt_regs *ctx); \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx) \
{ \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	return ____##name(___pybpf_kretprobe_args(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args)

/* A uprobe's arguments 7 and 8: x86-64 passes them on the user stack */
#if defined(__PYBPF_STACK_P7)
# define ___pybpf_user_stack_arg(x, n) ({ \
	unsigned long __pybpf_v = 0; \
	bpf_probe_read_user(&__pybpf_v, sizeof(__pybpf_v), \
			    (const void *)(PT_REGS_SP(x) + (n) * sizeof(unsigned long))); \
	__pybpf_v; })
# define ___pybpf_uprobe_parm7(x) ___pybpf_user_stack_arg(x, __PYBPF_STACK_P7)
# define ___pybpf_uprobe_parm8(x) ___pybpf_user_stack_arg(x, __PYBPF_STACK_P8)
#else
# define ___pybpf_uprobe_parm7(x) PT_REGS_PARM7(x)
# define ___pybpf_uprobe_parm8(x) PT_REGS_PARM8(x)
#endif

#define ___pybpf_uprobe_args0() ctx
#define ___pybpf_uprobe_args1(x) ___pybpf_uprobe_args0(), (void *)PT_REGS_PARM1(ctx)
#define ___pybpf_uprobe_args2(x, args...) ___pybpf_uprobe_args1(args), (void *)PT_REGS_PARM2(ctx)
#define ___pybpf_uprobe_args3(x, args...) ___pybpf_uprobe_args2(args), (void *)PT_REGS_PARM3(ctx)
#define ___pybpf_uprobe_args4(x, args...) ___pybpf_uprobe_args3(args), (void *)PT_REGS_PARM4(ctx)
#define ___pybpf_uprobe_args5(x, args...) ___pybpf_uprobe_args4(args), (void *)PT_REGS_PARM5(ctx)
#define ___pybpf_uprobe_args6(x, args...) ___pybpf_uprobe_args5(args), (void *)PT_REGS_PARM6(ctx)
#define ___pybpf_uprobe_args7(x, args...) ___pybpf_uprobe_args6(args), (void *)___pybpf_uprobe_parm7(ctx)
#define ___pybpf_uprobe_args8(x, args...) ___pybpf_uprobe_args7(args), (void *)___pybpf_uprobe_parm8(ctx)
#define ___pybpf_uprobe_args(args...) ___pybpf_apply(___pybpf_uprobe_args, ___pybpf_narg(args))(args)

/* A uprobe program with typed arguments, read from the user registers (and,
 * for arguments 7 and 8 on x86-64, the user stack):
 *     SEC("uprobe//usr/bin/bash:readline")
 *     int BPF_UPROBE(on_readline, const char *prompt) */
#define BPF_UPROBE(name, args...) \
name(struct pt_regs *ctx); \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx) \
{ \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	return ____##name(___pybpf_uprobe_args(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args)

/* a uretprobe sees the return value as a kretprobe does */
#define BPF_URETPROBE(name, args...) BPF_KRETPROBE(name, ##args)

/* A kprobe on a system call (SEC("ksyscall/openat")) with the syscall's
 * arguments, whether or not the kernel wraps syscalls in pt_regs-taking
 * entry points. */
#define BPF_KSYSCALL(name, args...) \
name(struct pt_regs *ctx); \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx) \
{ \
	struct pt_regs *regs = LINUX_HAS_SYSCALL_WRAPPER \
		? (struct pt_regs *)PT_REGS_PARM1(ctx) : ctx; \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	if (LINUX_HAS_SYSCALL_WRAPPER) \
		return ____##name(___pybpf_syscall_core_args(args)); \
	else \
		return ____##name(___pybpf_syscall_args(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args)

#define BPF_KPROBE_SYSCALL BPF_KSYSCALL

#endif /* __PYBPF_BPF_TRACING_H */
