/* SPDX-License-Identifier: MIT */
/* CO-RE reads: kernel memory accessed through the clang builtins that record
 * BTF relocations, so a program compiled against one kernel's types runs on
 * another whose structs are laid out differently.
 *
 *     pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);   // task->real_parent->tgid
 *     BPF_CORE_READ_STR_INTO(&comm, task, comm);
 *     if (bpf_core_field_exists(task->loginuid)) ...
 *     int v = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_loop);
 *
 * The loader patches each recorded instruction (offset, size, existence...)
 * to match the running kernel's BTF.
 */
#ifndef __PYBPF_BPF_CORE_READ_H
#define __PYBPF_BPF_CORE_READ_H

#include "bpf_helpers.h"

/* what __builtin_preserve_field_info returns */
enum bpf_field_info_kind {
	BPF_FIELD_BYTE_OFFSET = 0,	/* byte offset of the field */
	BPF_FIELD_BYTE_SIZE = 1,	/* its size in bytes */
	BPF_FIELD_EXISTS = 2,		/* 1 if the target kernel has it */
	BPF_FIELD_SIGNED = 3,		/* 1 if it is signed */
	BPF_FIELD_LSHIFT_U64 = 4,	/* bitfield extraction: left shift in a u64 */
	BPF_FIELD_RSHIFT_U64 = 5,	/* then right shift */
};

/* what __builtin_btf_type_id returns */
enum bpf_type_id_kind {
	BPF_TYPE_ID_LOCAL = 0,		/* the type's id in the program's BTF */
	BPF_TYPE_ID_TARGET = 1,		/* its id in the target kernel's BTF */
};

/* what __builtin_preserve_type_info returns */
enum bpf_type_info_kind {
	BPF_TYPE_EXISTS = 0,		/* 1 if the kernel has a compatible type */
	BPF_TYPE_SIZE = 1,		/* its size */
	BPF_TYPE_MATCHES = 2,		/* 1 if it matches exactly */
};

/* what __builtin_preserve_enum_value returns */
enum bpf_enum_value_kind {
	BPF_ENUMVAL_EXISTS = 0,		/* 1 if the kernel's enum has the enumerator */
	BPF_ENUMVAL_VALUE = 1,		/* its value there */
};

/* ---- field, type and enum queries ---- */

/* Field forms: one argument is an access expression (s->a.b), two are a
 * type and a member path (struct task_struct, pid). */
#define ___pybpf_field_ref1(field) (field)
#define ___pybpf_field_ref2(type, field) (((typeof(type) *)0)->field)
#define ___pybpf_field_ref(args...) \
	___pybpf_apply(___pybpf_field_ref, ___pybpf_narg(args))(args)

/* 1 if the target kernel has the field, else 0 */
#define bpf_core_field_exists(field...) \
	__builtin_preserve_field_info(___pybpf_field_ref(field), BPF_FIELD_EXISTS)
/* the field's size in bytes in the target kernel */
#define bpf_core_field_size(field...) \
	__builtin_preserve_field_info(___pybpf_field_ref(field), BPF_FIELD_BYTE_SIZE)
/* the field's byte offset in the target kernel */
#define bpf_core_field_offset(field...) \
	__builtin_preserve_field_info(___pybpf_field_ref(field), BPF_FIELD_BYTE_OFFSET)

/* the type's id in the program's own BTF */
#define bpf_core_type_id_local(type) \
	__builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_LOCAL)
/* the id of the matching type in the kernel's BTF */
#define bpf_core_type_id_kernel(type) \
	__builtin_btf_type_id(*(typeof(type) *)0, BPF_TYPE_ID_TARGET)
/* 1 if the kernel has a compatible type (struct task_struct, a typedef...) */
#define bpf_core_type_exists(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_EXISTS)
/* 1 if the kernel's type matches this one field by field */
#define bpf_core_type_matches(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_MATCHES)
/* the type's size in the kernel */
#define bpf_core_type_size(type) \
	__builtin_preserve_type_info(*(typeof(type) *)0, BPF_TYPE_SIZE)

/* 1 if the kernel's enum has the enumerator */
#define bpf_core_enum_value_exists(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_EXISTS)
/* the enumerator's value in the kernel */
#define bpf_core_enum_value(enum_type, enum_value) \
	__builtin_preserve_enum_value(*(typeof(enum_type) *)enum_value, BPF_ENUMVAL_VALUE)

/* ---- bitfields ---- */

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ___pybpf_bitfield_dst(val, size) ((void *)&(val))
#else
#define ___pybpf_bitfield_dst(val, size) ((void *)&(val) + 8 - (size))
#endif

/* Read a bitfield (or any integer field) with bpf_probe_read_kernel,
 * sign-extending signed fields; works where direct loads are not allowed. */
#define BPF_CORE_READ_BITFIELD_PROBED(s, field) ({ \
	unsigned long long __pybpf_val = 0; \
	unsigned int __pybpf_size = __builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_SIZE); \
	bpf_probe_read_kernel(___pybpf_bitfield_dst(__pybpf_val, __pybpf_size), __pybpf_size, \
		(const char *)(s) + __builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_OFFSET)); \
	__pybpf_val <<= __builtin_preserve_field_info((s)->field, BPF_FIELD_LSHIFT_U64); \
	if (__builtin_preserve_field_info((s)->field, BPF_FIELD_SIGNED)) \
		__pybpf_val = ((long long)__pybpf_val) >> \
			__builtin_preserve_field_info((s)->field, BPF_FIELD_RSHIFT_U64); \
	else \
		__pybpf_val = __pybpf_val >> \
			__builtin_preserve_field_info((s)->field, BPF_FIELD_RSHIFT_U64); \
	__pybpf_val; \
})

/* Read a bitfield with a direct load (for pointers the verifier lets the
 * program dereference: tp_btf, fentry arguments...). */
#define BPF_CORE_READ_BITFIELD(s, field) ({ \
	const void *__pybpf_at = (const void *)(s) + \
		__builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_OFFSET); \
	unsigned long long __pybpf_val; \
	switch (__builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_SIZE)) { \
	case 1: __pybpf_val = *(const unsigned char *)__pybpf_at; break; \
	case 2: __pybpf_val = *(const unsigned short *)__pybpf_at; break; \
	case 4: __pybpf_val = *(const unsigned int *)__pybpf_at; break; \
	case 8: __pybpf_val = *(const unsigned long long *)__pybpf_at; break; \
	default: __pybpf_val = 0; break; \
	} \
	__pybpf_val <<= __builtin_preserve_field_info((s)->field, BPF_FIELD_LSHIFT_U64); \
	if (__builtin_preserve_field_info((s)->field, BPF_FIELD_SIGNED)) \
		__pybpf_val = ((long long)__pybpf_val) >> \
			__builtin_preserve_field_info((s)->field, BPF_FIELD_RSHIFT_U64); \
	else \
		__pybpf_val = __pybpf_val >> \
			__builtin_preserve_field_info((s)->field, BPF_FIELD_RSHIFT_U64); \
	__pybpf_val; \
})

/* Write NEW_VAL into a bitfield (or integer field) of a struct the program
 * may store to, leaving the neighbouring bits as they were; the field's
 * place comes from the target kernel's BTF. */
#define BPF_CORE_WRITE_BITFIELD(s, field, new_val) ({ \
	void *__pybpf_at = (void *)(s) + \
		__builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_OFFSET); \
	unsigned int __pybpf_lsh = __builtin_preserve_field_info((s)->field, BPF_FIELD_LSHIFT_U64); \
	unsigned int __pybpf_rsh = __builtin_preserve_field_info((s)->field, BPF_FIELD_RSHIFT_U64); \
	/* the field's bits within the unit loaded below */ \
	unsigned long long __pybpf_mask = (~0ULL << __pybpf_rsh) >> __pybpf_lsh; \
	unsigned long long __pybpf_bits = \
		((unsigned long long)(new_val) << __pybpf_rsh) >> __pybpf_lsh; \
	switch (__builtin_preserve_field_info((s)->field, BPF_FIELD_BYTE_SIZE)) { \
	case 1: *(unsigned char *)__pybpf_at = (*(unsigned char *)__pybpf_at & \
		~__pybpf_mask) | __pybpf_bits; break; \
	case 2: *(unsigned short *)__pybpf_at = (*(unsigned short *)__pybpf_at & \
		~__pybpf_mask) | __pybpf_bits; break; \
	case 4: *(unsigned int *)__pybpf_at = (*(unsigned int *)__pybpf_at & \
		~__pybpf_mask) | __pybpf_bits; break; \
	case 8: *(unsigned long long *)__pybpf_at = (*(unsigned long long *)__pybpf_at & \
		~__pybpf_mask) | __pybpf_bits; break; \
	} \
})

/* ---- typed views of kernel pointers ---- */

/* The kfunc behind bpf_core_cast (Linux 6.2+): the verifier treats OBJ as a
 * read-only pointer to the kernel type with id BTF_ID.  Declared here unless
 * a vmlinux.h from pybpf btf dump came first with its kernel's prototype
 * (older kernels take a non-const OBJ; see bpf_helpers.h). */
#ifndef __PYBPF_VMLINUX_KFUNCS
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __weak __ksym;
#endif

/* PTR as a TYPE * whose fields the program may read directly (loads that
 * fault read as 0):  struct file *f = bpf_core_cast(ptr, struct file); */
#define bpf_core_cast(ptr, type) \
	((typeof(type) *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/* ---- single reads ---- */

/* bpf_probe_read_kernel of SRC, with SRC's field accesses relocatable */
#define bpf_core_read(dst, sz, src) \
	bpf_probe_read_kernel(dst, sz, (const void *)__builtin_preserve_access_index(src))
/* the same for user memory */
#define bpf_core_read_user(dst, sz, src) \
	bpf_probe_read_user(dst, sz, (const void *)__builtin_preserve_access_index(src))
/* a NUL-terminated string from kernel memory */
#define bpf_core_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)__builtin_preserve_access_index(src))
/* a NUL-terminated string from user memory */
#define bpf_core_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)__builtin_preserve_access_index(src))

/* plain (non-relocated) probe reads, for the BPF_PROBE_READ family */
#define ___pybpf_probe_read(dst, sz, src) bpf_probe_read_kernel(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_user(dst, sz, src) bpf_probe_read_user(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_str(dst, sz, src) \
	bpf_probe_read_kernel_str(dst, sz, (const void *)(src))
#define ___pybpf_probe_read_user_str(dst, sz, src) \
	bpf_probe_read_user_str(dst, sz, (const void *)(src))

/* ---- pointer chains: src->a->b->c, one probe read per arrow ---- */

#define ___pybpf_arrow1(src, a1) ((src)->a1)
#define ___pybpf_arrow2(src, a1, a2) ((src)->a1->a2)
#define ___pybpf_arrow3(src, a1, a2, a3) ((src)->a1->a2->a3)
#define ___pybpf_arrow4(src, a1, a2, a3, a4) ((src)->a1->a2->a3->a4)
#define ___pybpf_arrow5(src, a1, a2, a3, a4, a5) ((src)->a1->a2->a3->a4->a5)
#define ___pybpf_arrow6(src, a1, a2, a3, a4, a5, a6) ((src)->a1->a2->a3->a4->a5->a6)
#define ___pybpf_arrow7(src, a1, a2, a3, a4, a5, a6, a7) ((src)->a1->a2->a3->a4->a5->a6->a7)
#define ___pybpf_arrow8(src, a1, a2, a3, a4, a5, a6, a7, a8) ((src)->a1->a2->a3->a4->a5->a6->a7->a8)
#define ___pybpf_arrow9(src, a1, a2, a3, a4, a5, a6, a7, a8, a9) ((src)->a1->a2->a3->a4->a5->a6->a7->a8->a9)
#define ___pybpf_arrow(src, ...) \
	___pybpf_apply(___pybpf_arrow, ___pybpf_narg(__VA_ARGS__))(src, __VA_ARGS__)

#define ___pybpf_read1(fn_ptr, fn_last, dst, src, a1) \
	fn_last((void *)(dst), sizeof(*(dst)), &(src)->a1)
#define ___pybpf_read2(fn_ptr, fn_last, dst, src, a1, a2) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1))(__pybpf_p))->a2)
#define ___pybpf_read3(fn_ptr, fn_last, dst, src, a1, a2, a3) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2))(__pybpf_p))->a3)
#define ___pybpf_read4(fn_ptr, fn_last, dst, src, a1, a2, a3, a4) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4)
#define ___pybpf_read5(fn_ptr, fn_last, dst, src, a1, a2, a3, a4, a5) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3->a4))(__pybpf_p))->a5)
#define ___pybpf_read6(fn_ptr, fn_last, dst, src, a1, a2, a3, a4, a5, a6) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4))(__pybpf_p))->a5); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3->a4->a5))(__pybpf_p))->a6)
#define ___pybpf_read7(fn_ptr, fn_last, dst, src, a1, a2, a3, a4, a5, a6, a7) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4))(__pybpf_p))->a5); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5))(__pybpf_p))->a6); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3->a4->a5->a6))(__pybpf_p))->a7)
#define ___pybpf_read8(fn_ptr, fn_last, dst, src, a1, a2, a3, a4, a5, a6, a7, a8) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4))(__pybpf_p))->a5); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5))(__pybpf_p))->a6); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5->a6))(__pybpf_p))->a7); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3->a4->a5->a6->a7))(__pybpf_p))->a8)
#define ___pybpf_read9(fn_ptr, fn_last, dst, src, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &(src)->a1); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1))(__pybpf_p))->a2); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2))(__pybpf_p))->a3); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3))(__pybpf_p))->a4); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4))(__pybpf_p))->a5); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5))(__pybpf_p))->a6); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5->a6))(__pybpf_p))->a7); \
	fn_ptr((void *)&__pybpf_p, sizeof(__pybpf_p), &((typeof((src)->a1->a2->a3->a4->a5->a6->a7))(__pybpf_p))->a8); \
	fn_last((void *)(dst), sizeof(*(dst)), &((typeof((src)->a1->a2->a3->a4->a5->a6->a7->a8))(__pybpf_p))->a9)

#define ___pybpf_read(fn_ptr, fn_last, dst, src, ...) ({ \
	const void *__pybpf_p; \
	(void)__pybpf_p; \
	___pybpf_apply(___pybpf_read, ___pybpf_narg(__VA_ARGS__)) \
		(fn_ptr, fn_last, dst, src, __VA_ARGS__); \
})

/* Read src->a->b->... into *dst, relocating every access (kernel memory). */
#define BPF_CORE_READ_INTO(dst, src, a, ...) \
	___pybpf_read(bpf_core_read, bpf_core_read, dst, src, a, ##__VA_ARGS__)
/* The same through user memory. */
#define BPF_CORE_READ_USER_INTO(dst, src, a, ...) \
	___pybpf_read(bpf_core_read_user, bpf_core_read_user, dst, src, a, ##__VA_ARGS__)
/* Read a string at the end of the chain into the array *dst. */
#define BPF_CORE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_read(bpf_core_read, bpf_core_read_str, dst, src, a, ##__VA_ARGS__)
#define BPF_CORE_READ_USER_STR_INTO(dst, src, a, ...) \
	___pybpf_read(bpf_core_read_user, bpf_core_read_user_str, dst, src, a, ##__VA_ARGS__)
/* Without relocations (for types the program defines itself). */
#define BPF_PROBE_READ_INTO(dst, src, a, ...) \
	___pybpf_read(___pybpf_probe_read, ___pybpf_probe_read, dst, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_INTO(dst, src, a, ...) \
	___pybpf_read(___pybpf_probe_read_user, ___pybpf_probe_read_user, dst, src, a, \
		      ##__VA_ARGS__)
#define BPF_PROBE_READ_STR_INTO(dst, src, a, ...) \
	___pybpf_read(___pybpf_probe_read, ___pybpf_probe_read_str, dst, src, a, ##__VA_ARGS__)
#define BPF_PROBE_READ_USER_STR_INTO(dst, src, a, ...) \
	___pybpf_read(___pybpf_probe_read_user, ___pybpf_probe_read_user_str, dst, src, a, \
		      ##__VA_ARGS__)

/* The value of src->a->b->... (kernel memory, relocated). */
#define BPF_CORE_READ(src, a, ...) ({ \
	typeof(___pybpf_arrow(src, a, ##__VA_ARGS__)) __pybpf_r; \
	BPF_CORE_READ_INTO(&__pybpf_r, src, a, ##__VA_ARGS__); \
	__pybpf_r; \
})
#define BPF_CORE_READ_USER(src, a, ...) ({ \
	typeof(___pybpf_arrow(src, a, ##__VA_ARGS__)) __pybpf_r; \
	BPF_CORE_READ_USER_INTO(&__pybpf_r, src, a, ##__VA_ARGS__); \
	__pybpf_r; \
})
#define BPF_PROBE_READ(src, a, ...) ({ \
	typeof(___pybpf_arrow(src, a, ##__VA_ARGS__)) __pybpf_r; \
	BPF_PROBE_READ_INTO(&__pybpf_r, src, a, ##__VA_ARGS__); \
	__pybpf_r; \
})
#define BPF_PROBE_READ_USER(src, a, ...) ({ \
	typeof(___pybpf_arrow(src, a, ##__VA_ARGS__)) __pybpf_r; \
	BPF_PROBE_READ_USER_INTO(&__pybpf_r, src, a, ##__VA_ARGS__); \
	__pybpf_r; \
})

#endif /* __PYBPF_BPF_CORE_READ_H */
