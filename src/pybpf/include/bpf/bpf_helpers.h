/* SPDX-License-Identifier: MIT */
/* pybpf's BPF C support header: section and map-definition macros,
 * attributes, extern markers, bpf_printk and the helper declarations.
 *
 * Programs written for libbpf include it by the same name:
 *
 *     #include "vmlinux.h"            // or <linux/bpf.h> and friends
 *     #include <bpf/bpf_helpers.h>
 *
 *     struct {
 *         __uint(type, BPF_MAP_TYPE_HASH);
 *         __uint(max_entries, 1024);
 *         __type(key, __u32);
 *         __type(value, __u64);
 *     } counts SEC(".maps");
 *
 *     SEC("xdp") int count(struct xdp_md *ctx) { ... }
 *     char LICENSE[] SEC("license") = "GPL";
 */
#ifndef __PYBPF_BPF_HELPERS_H
#define __PYBPF_BPF_HELPERS_H

/* The helper declarations use the kernel's __u32-style types.  Programs
 * usually include vmlinux.h or <linux/types.h> first; when neither came,
 * declare them here (C allows the identical typedefs again later). */
#if !defined(__VMLINUX_H__) && !defined(_LINUX_TYPES_H) && !defined(_UAPI_LINUX_TYPES_H) && \
	!defined(__ASM_GENERIC_INT_LL64_H) && !defined(_ASM_GENERIC_INT_LL64_H)
typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u32 __wsum;
#endif

#include "bpf_helper_defs.h"

/* ---- token pasting and argument counting (used by every pybpf header) ---- */

#define ___pybpf_cat(a, b) a ## b
#define ___pybpf_concat(a, b) ___pybpf_cat(a, b)
#define ___pybpf_first(a, ...) a
#define ___pybpf_nth(_0, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, N, ...) N
/* number of arguments, 0 to 12 */
#define ___pybpf_narg(...) \
	___pybpf_nth(_, ##__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
/* ___pybpf_apply(m, N) -> mN */
#define ___pybpf_apply(m, n) ___pybpf_concat(m, n)

/* ---- sections and map definitions ---- */

/* Place a function or variable in ELF section NAME: the section name tells
 * the loader what a program is (SEC("kprobe/do_unlinkat")), SEC(".maps")
 * marks map definitions, SEC("license") the license string. */
#define SEC(name) \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wignored-attributes\"") \
	__attribute__((section(name), used)) \
	_Pragma("GCC diagnostic pop")

/* Map definition members encode values in types: the loader reads them
 * from BTF.  __uint(name, N) is a pointer to an array of N ints. */
#define __uint(name, val) int (*name)[val]
/* __type(name, T): a pointer to T; the loader takes T as key or value type. */
#define __type(name, val) typeof(val) *name
/* __array(name, T): a flexible array of pointers to T (inner maps of a map
 * of maps, program slots of a program array). */
#define __array(name, val) typeof(val) *name[]
/* __ulong(name, V): a 64-bit value, as an enum with a single enumerator. */
#define __ulong(name, val) \
	enum { ___pybpf_concat(__pybpf_unique_value, __COUNTER__) = val } name

/* pinning values for __uint(pinning, ...) */
#ifndef LIBBPF_PIN_NONE
enum libbpf_pin_type {
	LIBBPF_PIN_NONE,
	LIBBPF_PIN_BY_NAME,
};
#endif

/* __kconfig externs read kernel configuration values (CONFIG_*,
 * LINUX_KERNEL_VERSION) from a read-only map the loader fills in. */
enum libbpf_tristate {
	TRI_NO = 0,
	TRI_YES = 1,
	TRI_MODULE = 2,
};

/* ---- attributes ---- */

#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#ifndef __hidden
#define __hidden __attribute__((visibility("hidden")))
#endif
#ifndef __kconfig
#define __kconfig __attribute__((section(".kconfig")))
#endif
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

/* BTF type and declaration tags the verifier understands */
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __percpu_kptr __attribute__((btf_type_tag("percpu_kptr")))
#define __uptr __attribute__((btf_type_tag("uptr")))
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
#define __arg_nullable __attribute__((btf_decl_tag("arg:nullable")))
#define __arg_trusted __attribute__((btf_decl_tag("arg:trusted")))
#define __arg_arena __attribute__((btf_decl_tag("arg:arena")))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif
#ifndef container_of
#define container_of(ptr, type, member) \
	({ void *__pybpf_mptr = (void *)(ptr); \
	   ((type *)((char *)__pybpf_mptr - offsetof(type, member))); })
#endif

/* A compiler barrier: memory is reloaded after it. */
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
/* Make the compiler forget what it knows about VAR (keeps the verifier's
 * view of a bounds check intact). */
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif
#ifndef __bpf_unreachable
#define __bpf_unreachable() __builtin_trap()
#endif

#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#endif

/* ---- license ---- */

/* BPF_LICENSE("GPL") declares the license string the kernel checks before
 * allowing GPL-only helpers. */
#define BPF_LICENSE(text) char _license[] SEC("license") = text

/* ---- tail calls ---- */

/* A tail call whose slot is a compile-time constant, kept as a constant in
 * r3 so the verifier can track it. */
static __always_inline void
bpf_tail_call_static(void *ctx, const void *map, const unsigned int slot)
{
	if (!__builtin_constant_p(slot))
		__bpf_unreachable();
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12"
		     :: [ctx] "r"(ctx), [map] "r"(map), [slot] "i"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}

/* ---- ksyms ---- */

/* Whether a __weak __ksym extern (variable or kfunc) exists in the kernel. */
#define bpf_ksym_exists(sym) \
	({ _Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked __weak"); \
	   !!sym; })

/* ---- printing to the trace pipe ---- */

/* Fill a u64 array from up to 12 arguments (bpf_printk with > 3 arguments). */
#define ___pybpf_fill0(arr, p, x) do {} while (0)
#define ___pybpf_fill1(arr, p, x) arr[p] = (unsigned long long)(x)
#define ___pybpf_fill2(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill1(arr, p + 1, args)
#define ___pybpf_fill3(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill2(arr, p + 1, args)
#define ___pybpf_fill4(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill3(arr, p + 1, args)
#define ___pybpf_fill5(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill4(arr, p + 1, args)
#define ___pybpf_fill6(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill5(arr, p + 1, args)
#define ___pybpf_fill7(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill6(arr, p + 1, args)
#define ___pybpf_fill8(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill7(arr, p + 1, args)
#define ___pybpf_fill9(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill8(arr, p + 1, args)
#define ___pybpf_fill10(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill9(arr, p + 1, args)
#define ___pybpf_fill11(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill10(arr, p + 1, args)
#define ___pybpf_fill12(arr, p, x, args...) arr[p] = (unsigned long long)(x); ___pybpf_fill11(arr, p + 1, args)
#define ___pybpf_fill(arr, args...) \
	___pybpf_apply(___pybpf_fill, ___pybpf_narg(args))(arr, 0, args)

/* up to three arguments: bpf_trace_printk with the arguments in registers */
#define ___pybpf_printk(fmt, args...) \
	({ static const char ____pybpf_fmt[] = fmt; \
	   bpf_trace_printk(____pybpf_fmt, sizeof(____pybpf_fmt), ##args); })

/* more: bpf_trace_vprintk with the arguments in an array */
#define ___pybpf_vprintk(fmt, args...) \
	({ static const char ____pybpf_fmt[] = fmt; \
	   unsigned long long ____pybpf_args[___pybpf_narg(args)]; \
	   _Pragma("GCC diagnostic push") \
	   _Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	   ___pybpf_fill(____pybpf_args, args); \
	   _Pragma("GCC diagnostic pop") \
	   bpf_trace_vprintk(____pybpf_fmt, sizeof(____pybpf_fmt), \
			     ____pybpf_args, sizeof(____pybpf_args)); })

#define ___pybpf_pick_printk(...) \
	___pybpf_nth(_, ##__VA_ARGS__, ___pybpf_vprintk, ___pybpf_vprintk, ___pybpf_vprintk, \
		     ___pybpf_vprintk, ___pybpf_vprintk, ___pybpf_vprintk, ___pybpf_vprintk, \
		     ___pybpf_vprintk, ___pybpf_vprintk, ___pybpf_printk, ___pybpf_printk, \
		     ___pybpf_printk, ___pybpf_printk)

/* printf-like output to /sys/kernel/tracing/trace_pipe (debugging). */
#define bpf_printk(fmt, args...) ___pybpf_pick_printk(args)(fmt, ##args)

#endif /* __PYBPF_BPF_HELPERS_H */
