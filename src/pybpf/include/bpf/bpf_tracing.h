/* SPDX-License-Identifier: MIT */
/* Tracing support: registers of struct pt_regs by role (PT_REGS_PARM1...,
 * PT_REGS_RC, PT_REGS_IP, PT_REGS_SP) for x86-64 and arm64, and the
 * BPF_PROG / BPF_KPROBE / BPF_KRETPROBE / BPF_UPROBE / BPF_KSYSCALL wrappers
 * that let a program declare typed arguments:
 *
 *     SEC("kprobe/do_unlinkat")
 *     int BPF_KPROBE(do_unlinkat, int dfd, struct filename *name) { ... }
 *
 *     SEC("fentry/do_unlinkat")
 *     int BPF_PROG(enter, int dfd, struct filename *name) { ... }
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

/* The pt_regs a syscall wrapper received as its first argument. */
#define PT_REGS_SYSCALL_REGS(ctx) ((struct pt_regs *)PT_REGS_PARM1(ctx))

/* Whether probed syscalls go through arch wrappers (__x64_sys_*) that take
 * a pt_regs; the loader answers from the kernel. */
extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;

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

/* uprobes see user registers through the same pt_regs */
#define BPF_UPROBE(name, args...) BPF_KPROBE(name, ##args)
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

/* bpf_seq_printf with printf-like arguments (iterator programs) */
#define BPF_SEQ_PRINTF(seq, fmt, args...) ({ \
	static const char ____pybpf_fmt[] = fmt; \
	unsigned long long ____pybpf_args[___pybpf_narg(args) + 1]; \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	___pybpf_fill(____pybpf_args, ##args); \
	_Pragma("GCC diagnostic pop") \
	bpf_seq_printf(seq, ____pybpf_fmt, sizeof(____pybpf_fmt), ____pybpf_args, \
		       ___pybpf_narg(args) * sizeof(unsigned long long)); })

/* bpf_snprintf with printf-like arguments */
#define BPF_SNPRINTF(out, out_size, fmt, args...) ({ \
	static const char ____pybpf_fmt[] = fmt; \
	unsigned long long ____pybpf_args[___pybpf_narg(args) + 1]; \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	___pybpf_fill(____pybpf_args, ##args); \
	_Pragma("GCC diagnostic pop") \
	bpf_snprintf(out, out_size, ____pybpf_fmt, ____pybpf_args, \
		     ___pybpf_narg(args) * sizeof(unsigned long long)); })

#endif /* __PYBPF_BPF_TRACING_H */
