/* bpf/usdt.bpf.h on probe_app's USDT probes pybpf_hdr:mixed (a register,
 * a memory operand and a constant) and pybpf_hdr:twelve (twelve
 * constants): BPF_USDT's typed arguments, bpf_usdt_arg, bpf_usdt_arg_cnt,
 * bpf_usdt_arg_size and bpf_usdt_cookie.  Needs no vmlinux.h. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PYBPF_USDT_MAX_SITES 16	/* sites of every probe attached */
#include <bpf/usdt.bpf.h>

long mixed[10];
long twelve[PYBPF_USDT_MAX_ARGS + 2];
long twelve_typed[PYBPF_USDT_MAX_ARGS];

SEC("usdt")
int BPF_USDT(on_mixed, int reg, long mem, short constant)
{
	long unused;

	mixed[0] = reg;
	mixed[1] = mem;
	mixed[2] = constant;
	mixed[3] = bpf_usdt_arg_cnt(ctx);
	mixed[4] = bpf_usdt_cookie(ctx);
	mixed[5] = bpf_usdt_arg_size(ctx, 0) * 100 + bpf_usdt_arg_size(ctx, 1) * 10 +
		   bpf_usdt_arg_size(ctx, 2);
	mixed[6] = bpf_usdt_arg(ctx, 3, &unused);	/* -ENOENT: there is no 4th */
	mixed[7] = bpf_usdt_arg_size(ctx, 3);
	mixed[8] = pybpf_usdt_arg_cnt(ctx);		/* pybpf's own names */
	mixed[9] = pybpf_usdt_cookie(ctx);
	return 0;
}

SEC("usdt")
int on_twelve(struct pt_regs *ctx)
{
	long value;
	int i;

	bpf_for(i, 0, PYBPF_USDT_MAX_ARGS) {
		value = -1;
		bpf_usdt_arg(ctx, i, &value);
		twelve[i] = value;
	}
	twelve[PYBPF_USDT_MAX_ARGS] = bpf_usdt_arg_cnt(ctx);
	twelve[PYBPF_USDT_MAX_ARGS + 1] = bpf_usdt_cookie(ctx);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_twelve_typed, char a1, char a2, char a3, char a4, char a5, char a6, char a7,
	     char a8, char a9, char a10, char a11, long a12)
{
	twelve_typed[0] = a1;
	twelve_typed[1] = a2;
	twelve_typed[2] = a3;
	twelve_typed[3] = a4;
	twelve_typed[4] = a5;
	twelve_typed[5] = a6;
	twelve_typed[6] = a7;
	twelve_typed[7] = a8;
	twelve_typed[8] = a9;
	twelve_typed[9] = a10;
	twelve_typed[10] = a11;
	twelve_typed[11] = a12;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
