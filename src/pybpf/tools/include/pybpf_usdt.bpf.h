/* SPDX-License-Identifier: MIT */
/* USDT arguments for BPF programs attached with pybpf.kernel.attach.usdt().
 *
 * Attaching writes one spec per probe site into the pybpf_usdt_spec map
 * declared here and gives the site's uprobe the spec's index as its BPF
 * cookie.  In the program:
 *
 *	SEC("usdt//path/to/binary:provider:probe")
 *	int on_probe(struct pt_regs *ctx)
 *	{
 *		long fd;
 *		if (pybpf_usdt_arg(ctx, 0, &fd) == 0) ...
 *	}
 *
 * Each argument is a constant, a register, or memory at a register plus a
 * displacement (what sys/sdt.h emits); values are sign- or zero-extended
 * from their size to 64 bits.  Needs Linux 5.15+ (BPF cookies).
 */
#ifndef __PYBPF_USDT_BPF_H
#define __PYBPF_USDT_BPF_H

#include <bpf/bpf_helpers.h>

#define PYBPF_USDT_MAX_ARGS 12
#define PYBPF_USDT_MAX_SITES 256

enum pybpf_usdt_arg_kind {
	PYBPF_USDT_CONST = 0,	/* val_off is the value */
	PYBPF_USDT_REG = 1,	/* the register at reg_off of struct pt_regs */
	PYBPF_USDT_DEREF = 2,	/* memory at that register + val_off */
};

struct pybpf_usdt_arg {
	unsigned long long val_off;
	unsigned int kind;
	unsigned short reg_off;
	signed char size;	/* bytes; negative when signed */
	unsigned char pad;
};

struct pybpf_usdt_spec {
	struct pybpf_usdt_arg args[PYBPF_USDT_MAX_ARGS];
	unsigned long long cookie;	/* what the attacher passed as cookie */
	short arg_cnt;
	char pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PYBPF_USDT_MAX_SITES);
	__type(key, int);
	__type(value, struct pybpf_usdt_spec);
} pybpf_usdt_spec SEC(".maps");

static __always_inline struct pybpf_usdt_spec *pybpf_usdt_spec_of(void *ctx)
{
	int id = (int)bpf_get_attach_cookie(ctx);

	return bpf_map_lookup_elem(&pybpf_usdt_spec, &id);
}

/* the number of arguments of the probe that fired (negative on error) */
static __always_inline int pybpf_usdt_arg_cnt(void *ctx)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);

	return spec ? spec->arg_cnt : -3;	/* -ESRCH */
}

/* the cookie given to usdt(..., cookie=N) */
static __always_inline unsigned long long pybpf_usdt_cookie(void *ctx)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);

	return spec ? spec->cookie : 0;
}

/* argument n of the probe that fired into *res: 0, or a negative errno */
static __noinline int pybpf_usdt_arg(void *ctx, unsigned long long n, long *res)
{
	struct pybpf_usdt_spec *spec = pybpf_usdt_spec_of(ctx);
	struct pybpf_usdt_arg *arg;
	unsigned long long val = 0;
	int size, shift, err;

	*res = 0;
	if (!spec)
		return -3;	/* -ESRCH */
	if (n >= PYBPF_USDT_MAX_ARGS || n >= (unsigned long long)spec->arg_cnt)
		return -2;	/* -ENOENT */
	arg = &spec->args[n];
	switch (arg->kind) {
	case PYBPF_USDT_CONST:
		val = arg->val_off;
		break;
	case PYBPF_USDT_REG:
		err = bpf_probe_read_kernel(&val, sizeof(val), (char *)ctx + (arg->reg_off & 0x1ff));
		if (err)
			return err;
		break;
	case PYBPF_USDT_DEREF:
		err = bpf_probe_read_kernel(&val, sizeof(val), (char *)ctx + (arg->reg_off & 0x1ff));
		if (err)
			return err;
		err = bpf_probe_read_user(&val, sizeof(val), (void *)(val + arg->val_off));
		if (err)
			return err;
		break;
	default:
		return -22;	/* -EINVAL */
	}
	size = arg->size < 0 ? -arg->size : arg->size;
	shift = 64 - 8 * (size & 0xf);
	if (shift > 0 && shift < 64) {
		val <<= shift;
		if (arg->size < 0)
			val = (unsigned long long)((long long)val >> shift);
		else
			val >>= shift;
	}
	*res = (long)val;
	return 0;
}

#endif
