/* SPDX-License-Identifier: MIT */
/* pybpf's BPF C support header: section and map-definition macros,
 * attributes and BTF tags, extern markers, ring buffer record types
 * (BPF_RECORD), tail calls, printf-style output
 * (bpf_printk, BPF_SNPRINTF, BPF_SEQ_PRINTF), open-coded iterators
 * (bpf_for, bpf_repeat, bpf_for_each) and the helper declarations.
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

#ifndef NULL
#define NULL ((void *)0)
#endif

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
#define __arg_untrusted __attribute__((btf_decl_tag("arg:untrusted")))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))

/* A helper or kfunc call that leaves r1-r5 intact when the kernel inlines
 * it (the compiler then need not spill them); nothing on compilers without
 * the attribute. */
#ifndef __bpf_fastcall
# if defined(__has_attribute)
#  if __has_attribute(bpf_fastcall)
#   define __bpf_fastcall __attribute__((bpf_fastcall))
#  endif
# endif
# ifndef __bpf_fastcall
#  define __bpf_fastcall
# endif
#endif

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

/* ---- ring and perf buffer records ---- */

/* BPF_RECORD(map, type) names the type of the records a ring buffer or perf
 * event array sends to user space, for readers to decode them by:
 *
 *     struct event { int pid; char comm[16]; };
 *     struct { __uint(type, BPF_MAP_TYPE_RINGBUF); ... } events SEC(".maps");
 *     BPF_RECORD(events, struct event);
 *
 * clang writes into BTF only the types of global things (variables,
 * function signatures, maps), not those of local variables, so a struct
 * that code uses through a local pointer (bpf_ringbuf_reserve) is missing
 * from the object's BTF.  The macro declares a static pointer to TYPE
 * named __bpf_record__MAP (8 bytes of .rodata, no code): TYPE stays in BTF
 * and pybpf's readers and `pybpf load` decode MAP's records as TYPE.
 * libbpf and bpftool see an ordinary read-only variable. */
#ifndef BPF_RECORD
#define BPF_RECORD(map, type) \
	static type *const __bpf_record__##map __attribute__((used, unused)) = (void *)0
#endif

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

/* ---- printf-style output ---- */

/* Store up to 12 values, each widened to 64 bits, in ARR[0], ARR[1]...: the
 * argument array of bpf_trace_vprintk, bpf_seq_printf and bpf_snprintf. */
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

/* Declare FMT as a read-only copy of the format string and ARR as the
 * argument array (one spare slot: never a zero-sized array), then store the
 * arguments.  Pointers go in as integers, hence the silenced warning. */
#define ___pybpf_format_args(fmt_name, fmt, arr, args...) \
	static const char fmt_name[] = fmt; \
	unsigned long long arr[___pybpf_narg(args) + 1]; \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	___pybpf_fill(arr, ##args); \
	_Pragma("GCC diagnostic pop")
/* the byte length of the arguments stored above */
#define ___pybpf_args_size(args...) (___pybpf_narg(args) * sizeof(unsigned long long))

/* Up to three arguments: bpf_trace_printk with the arguments in registers.
 * (libbpf spells it __bpf_printk.) */
#define __bpf_printk(fmt, args...) \
	({ static const char ____pybpf_fmt[] = fmt; \
	   bpf_trace_printk(____pybpf_fmt, sizeof(____pybpf_fmt), ##args); })

/* Any number up to 12: bpf_trace_vprintk (Linux 5.16+) with an array. */
#define __bpf_vprintk(fmt, args...) \
	({ ___pybpf_format_args(____pybpf_fmt, fmt, ____pybpf_args, ##args) \
	   bpf_trace_vprintk(____pybpf_fmt, sizeof(____pybpf_fmt), ____pybpf_args, \
			     ___pybpf_args_size(args)); })

/* __bpf_printk for 0-3 arguments, __bpf_vprintk for 4-12 */
#define ___pybpf_pick_printk(...) \
	___pybpf_nth(_, ##__VA_ARGS__, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, \
		     __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, __bpf_vprintk, \
		     __bpf_vprintk, __bpf_vprintk, __bpf_printk, __bpf_printk, \
		     __bpf_printk, __bpf_printk)

/* printf-like output to /sys/kernel/tracing/trace_pipe (debugging), up to 12
 * arguments:  bpf_printk("pid %d opened %s", pid, name); */
#define bpf_printk(fmt, args...) ___pybpf_pick_printk(args)(fmt, ##args)

/* printf into the seq_file of an iterator program (SEC("iter/...")):
 *     BPF_SEQ_PRINTF(ctx->meta->seq, "%d %s\n", task->pid, task->comm); */
#define BPF_SEQ_PRINTF(seq, fmt, args...) \
	({ ___pybpf_format_args(____pybpf_fmt, fmt, ____pybpf_args, ##args) \
	   bpf_seq_printf(seq, ____pybpf_fmt, sizeof(____pybpf_fmt), ____pybpf_args, \
			  ___pybpf_args_size(args)); })

/* snprintf into OUT (OUT_SIZE bytes); the length with its NUL, or a
 * negative error:  BPF_SNPRINTF(buf, sizeof(buf), "%d-%d", a, b); */
#define BPF_SNPRINTF(out, out_size, fmt, args...) \
	({ ___pybpf_format_args(____pybpf_fmt, fmt, ____pybpf_args, ##args) \
	   bpf_snprintf(out, out_size, ____pybpf_fmt, ____pybpf_args, \
			___pybpf_args_size(args)); })

/* ---- open-coded iterators (Linux 6.4+) ---- */

/* The numeric iterator's kfuncs: new(it, start, end) makes it yield start,
 * start + 1, ..., end - 1; next() returns a pointer to the next number or
 * NULL at the end; destroy() must follow every new().
 *
 * Kfunc declarations here give way to a vmlinux.h included before that
 * declares its kernel's kfuncs (pybpf btf dump marks that with
 * __PYBPF_VMLINUX_KFUNCS), whose prototypes are the kernel's own; otherwise
 * they must equal what a vmlinux.h included later says (they do for every
 * kernel since 6.4). */
struct bpf_iter_num;
#ifndef __PYBPF_VMLINUX_KFUNCS
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;
#endif

/* Stack room for one numeric iterator (the kernel's struct bpf_iter_num is
 * 8 bytes, 8-aligned); ours, so bpf_for needs neither vmlinux.h nor a
 * recent <linux/bpf.h>. */
struct ___pybpf_num_slot {
	unsigned long long ___state;
} __attribute__((aligned(8)));

static __always_inline void ___pybpf_num_slot_end(struct ___pybpf_num_slot *slot)
{
	bpf_iter_num_destroy((struct bpf_iter_num *)slot);
}

/* These loops open an iterator in the for-statement's declaration (a
 * second, unused declarator runs the new() call), advance it in the
 * condition, and destroy it through the cleanup attribute whichever way the
 * loop is left (break and return included). */

/* for (I = START; I < END; I++) as the verifier can check without unrolling:
 *     int i, sum = 0;
 *     bpf_for(i, 0, n) sum += i;
 * START and END are evaluated more than once; I is known to lie in
 * [START, END) inside the body. */
#define bpf_for(i, start, end) \
	for (struct ___pybpf_num_slot ___pybpf_slot \
		     __attribute__((cleanup(___pybpf_num_slot_end))), \
	     *___pybpf_opened __attribute__((unused)) = \
		     (bpf_iter_num_new((struct bpf_iter_num *)&___pybpf_slot, (start), (end)), \
		      (void *)0); \
	     ({ int *___pybpf_at = bpf_iter_num_next((struct bpf_iter_num *)&___pybpf_slot); \
		___pybpf_at && ((i) = *___pybpf_at, (i) >= (start) && (i) < (end)); });)

/* Run the body N times:  bpf_repeat(10) { ... } */
#define bpf_repeat(n) \
	for (struct ___pybpf_num_slot ___pybpf_slot \
		     __attribute__((cleanup(___pybpf_num_slot_end))), \
	     *___pybpf_opened __attribute__((unused)) = \
		     (bpf_iter_num_new((struct bpf_iter_num *)&___pybpf_slot, 0, (n)), \
		      (void *)0); \
	     bpf_iter_num_next((struct bpf_iter_num *)&___pybpf_slot);)

/* Walk any open-coded iterator TYPE (the kernel's struct bpf_iter_TYPE and
 * its bpf_iter_TYPE_new/_next/_destroy kfuncs, from vmlinux.h), setting CUR
 * to each element; ARGS go to _new after the iterator:
 *     struct task_struct *t;
 *     bpf_for_each(task, t, NULL, BPF_TASK_ITER_ALL_PROCS) n++;
 *     int *v;
 *     bpf_for_each(num, v, 0, 10) sum += *v; */
#define bpf_for_each(type, cur, args...) \
	for (struct bpf_iter_##type ___pybpf_it \
		     __attribute__((aligned(8), cleanup(bpf_iter_##type##_destroy))), \
	     *___pybpf_opened __attribute__((unused)) = \
		     (bpf_iter_##type##_new(&___pybpf_it, ##args), (void *)0); \
	     ((cur) = bpf_iter_##type##_next(&___pybpf_it));)

#endif /* __PYBPF_BPF_HELPERS_H */
