/* SPDX-License-Identifier: MIT */
/* USDT probe arguments for BPF programs attached by pybpf (libbpf's API):
 *
 *     #include <bpf/usdt.bpf.h>
 *
 *     SEC("usdt//usr/bin/python3:python:function__entry")
 *     int BPF_USDT(on_call, const char *file, const char *func, int line)
 *     { ... }
 *
 *     SEC("usdt") int on_probe(struct pt_regs *ctx)
 *     {
 *         long v;
 *         if (bpf_usdt_arg_cnt(ctx) > 1 && bpf_usdt_arg(ctx, 1, &v) == 0) ...
 *     }
 *
 * How the arguments arrive: this header declares an array map,
 * pybpf_usdt_spec, of argument specs.  pybpf.kernel.usdt.usdt() (and
 * program.attach(target="BINARY:PROVIDER:NAME")) finds the map among the
 * program's maps by that name, writes one spec per probe site (where each
 * argument lives: a constant, a register, or memory at a register plus a
 * displacement, with its size and signedness) and gives the site's uprobe
 * the spec's index as its BPF cookie.  The functions below look the spec up
 * by that cookie; the cookie the attacher was given is stored in the spec
 * (bpf_usdt_cookie).  Needs Linux 5.15+ (BPF cookies).
 *
 * Define PYBPF_USDT_MAX_SITES (or libbpf's BPF_USDT_MAX_SPEC_CNT) before
 * the include to size the map for more than 256 probe sites.
 *
 * The layout below is what pybpf.kernel.usdt writes (UsdtArg.encode); the
 * two change together.  The header src/pybpf/tools/include/pybpf_usdt.bpf.h
 * declares the same map and functions under the same include guard, so a
 * program may include either or both.
 */
#ifndef __PYBPF_BPF_USDT_H
#define __PYBPF_BPF_USDT_H

#include "bpf_helpers.h"

struct pt_regs;

/* errno values the functions below return, negated */
#define ___PYBPF_USDT_ENOENT 2
#define ___PYBPF_USDT_ESRCH 3
#define ___PYBPF_USDT_EINVAL 22

#ifndef __PYBPF_USDT_BPF_H
#define __PYBPF_USDT_BPF_H

/* arguments per probe (sys/sdt.h allows 12) */
#define PYBPF_USDT_MAX_ARGS 12
#ifndef PYBPF_USDT_MAX_SITES
# ifdef BPF_USDT_MAX_SPEC_CNT
#  define PYBPF_USDT_MAX_SITES BPF_USDT_MAX_SPEC_CNT
# else
#  define PYBPF_USDT_MAX_SITES 256
# endif
#endif

/* where an argument lives (pybpf.kernel.usdt.ARG_*) */
enum pybpf_usdt_arg_kind {
	PYBPF_USDT_CONST = 0,	/* val_off is the value */
	PYBPF_USDT_REG = 1,	/* the register at byte reg_off of struct pt_regs */
	PYBPF_USDT_DEREF = 2,	/* user memory at that register + val_off */
};

struct pybpf_usdt_arg {
	unsigned long long val_off;
	unsigned int kind;
	unsigned short reg_off;
	signed char size;	/* bytes: 1, 2, 4 or 8; negative when signed */
	unsigned char pad;
};

struct pybpf_usdt_spec {
	struct pybpf_usdt_arg args[PYBPF_USDT_MAX_ARGS];
	unsigned long long cookie;	/* the cookie the attacher was given */
	short arg_cnt;
	char pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PYBPF_USDT_MAX_SITES);
	__type(key, int);
	__type(value, struct pybpf_usdt_spec);
} pybpf_usdt_spec SEC(".maps");

/* the spec of the probe site that fired, or NULL when attached otherwise */
static __always_inline struct pybpf_usdt_spec *pybpf_usdt_spec_of(void *ctx)
{
	int index = (int)bpf_get_attach_cookie(ctx);

	return bpf_map_lookup_elem(&pybpf_usdt_spec, &index);
}

/* the number of arguments of the probe that fired (negative on error) */
static __always_inline int pybpf_usdt_arg_cnt(void *ctx)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);

	return spec ? spec->arg_cnt : -___PYBPF_USDT_ESRCH;
}

/* the cookie given when attaching (usdt(..., cookie=N)) */
static __always_inline unsigned long long pybpf_usdt_cookie(void *ctx)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);

	return spec ? spec->cookie : 0;
}

/* argument N of the probe that fired, sign- or zero-extended to 64 bits,
 * into *RES: 0, or a negative errno (*RES is then 0) */
static __noinline int pybpf_usdt_arg(void *ctx, unsigned long long n, long *res)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);
	struct pybpf_usdt_arg *arg;
	unsigned long long val = 0;
	int size, unused_bits, err;

	*res = 0;
	if (!spec)
		return -___PYBPF_USDT_ESRCH;
	if (n >= PYBPF_USDT_MAX_ARGS || n >= (unsigned long long)spec->arg_cnt)
		return -___PYBPF_USDT_ENOENT;
	arg = &spec->args[n];
	switch (arg->kind) {
	case PYBPF_USDT_CONST:
		val = arg->val_off;
		break;
	case PYBPF_USDT_REG:
	case PYBPF_USDT_DEREF:
		/* pt_regs lives in kernel memory; the mask bounds the offset */
		err = bpf_probe_read_kernel(&val, sizeof(val), (char *)ctx + (arg->reg_off & 0x1ff));
		if (err)
			return err;
		if (arg->kind == PYBPF_USDT_REG)
			break;
		err = bpf_probe_read_user(&val, sizeof(val), (void *)(val + arg->val_off));
		if (err)
			return err;
		break;
	default:
		return -___PYBPF_USDT_EINVAL;
	}
	/* keep the low SIZE bytes, extending the sign when signed */
	size = arg->size < 0 ? -arg->size : arg->size;
	unused_bits = 64 - 8 * (size & 0xf);
	if (unused_bits > 0 && unused_bits < 64) {
		val <<= unused_bits;
		if (arg->size < 0)
			val = (unsigned long long)((long long)val >> unused_bits);
		else
			val >>= unused_bits;
	}
	*res = (long)val;
	return 0;
}

#endif /* __PYBPF_USDT_BPF_H */

/* ---- libbpf's names ---- */

/* the number of arguments of the probe that fired (negative on error) */
static __always_inline int bpf_usdt_arg_cnt(struct pt_regs *ctx)
{
	return pybpf_usdt_arg_cnt(ctx);
}

/* the size in bytes of argument ARG_NUM (negative on error) */
static __always_inline int bpf_usdt_arg_size(struct pt_regs *ctx, __u64 arg_num)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);
	int size;

	if (!spec)
		return -___PYBPF_USDT_ESRCH;
	if (arg_num >= PYBPF_USDT_MAX_ARGS || arg_num >= (__u64)spec->arg_cnt)
		return -___PYBPF_USDT_ENOENT;
	size = spec->args[arg_num].size;
	return size < 0 ? -size : size;
}

/* argument ARG_NUM into *RES: 0, or a negative errno */
static __always_inline int bpf_usdt_arg(struct pt_regs *ctx, __u64 arg_num, long *res)
{
	return pybpf_usdt_arg(ctx, arg_num, res);
}

/* the cookie given when attaching */
static __always_inline long bpf_usdt_cookie(struct pt_regs *ctx)
{
	return (long)pybpf_usdt_cookie(ctx);
}

/* argument N of the probe, as the BPF_USDT wrapper passes it */
#define ___pybpf_usdt_value(n) \
	({ long ___pybpf_v = 0; bpf_usdt_arg(ctx, n, &___pybpf_v); (void *)___pybpf_v; })

#define ___pybpf_usdt_args0() ctx
#define ___pybpf_usdt_args1(x) ___pybpf_usdt_args0(), ___pybpf_usdt_value(0)
#define ___pybpf_usdt_args2(x, args...) ___pybpf_usdt_args1(args), ___pybpf_usdt_value(1)
#define ___pybpf_usdt_args3(x, args...) ___pybpf_usdt_args2(args), ___pybpf_usdt_value(2)
#define ___pybpf_usdt_args4(x, args...) ___pybpf_usdt_args3(args), ___pybpf_usdt_value(3)
#define ___pybpf_usdt_args5(x, args...) ___pybpf_usdt_args4(args), ___pybpf_usdt_value(4)
#define ___pybpf_usdt_args6(x, args...) ___pybpf_usdt_args5(args), ___pybpf_usdt_value(5)
#define ___pybpf_usdt_args7(x, args...) ___pybpf_usdt_args6(args), ___pybpf_usdt_value(6)
#define ___pybpf_usdt_args8(x, args...) ___pybpf_usdt_args7(args), ___pybpf_usdt_value(7)
#define ___pybpf_usdt_args9(x, args...) ___pybpf_usdt_args8(args), ___pybpf_usdt_value(8)
#define ___pybpf_usdt_args10(x, args...) ___pybpf_usdt_args9(args), ___pybpf_usdt_value(9)
#define ___pybpf_usdt_args11(x, args...) ___pybpf_usdt_args10(args), ___pybpf_usdt_value(10)
#define ___pybpf_usdt_args12(x, args...) ___pybpf_usdt_args11(args), ___pybpf_usdt_value(11)
#define ___pybpf_usdt_args(args...) ___pybpf_apply(___pybpf_usdt_args, ___pybpf_narg(args))(args)

/* A USDT program with the probe's arguments declared with their types:
 *     SEC("usdt") int BPF_USDT(on_tick, int n, long total) { ... }
 * A missing argument reads as 0. */
#define BPF_USDT(name, args...) \
name(struct pt_regs *ctx); \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args); \
typeof(name(0)) name(struct pt_regs *ctx) \
{ \
	_Pragma("GCC diagnostic push") \
	_Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
	return ____##name(___pybpf_usdt_args(args)); \
	_Pragma("GCC diagnostic pop") \
} \
static __always_inline typeof(name(0)) \
____##name(struct pt_regs *ctx, ##args)

#endif /* __PYBPF_BPF_USDT_H */
