/* bpf_helpers.h basics: sections, map definitions, attributes, ksym and
 * kconfig externs, tail calls, compiler barriers.  Built without vmlinux.h
 * (the uapi headers only).  Run with BPF_PROG_TEST_RUN on a 64-byte packet:
 * "entry" tail-calls slot 1 of "jumps" ("second", which returns 42). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct pair {
	int first;
	int second;
};

/* __uint, __type, __ulong (map_extra: the bloom filter's hash count) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pair);
	__uint(pinning, LIBBPF_PIN_NONE);
} pairs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 16);
	__type(value, __u32);
	__ulong(map_extra, 3);
} seen SEC(".maps");

/* __array: a program array whose slot 1 is filled at load time */
int second(struct xdp_md *ctx);
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&second },
};

/* ksym and kconfig externs */
extern const void bpf_prog_put __ksym;
extern const void pybpf_no_such_symbol __ksym __weak;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_PYBPF_NO_SUCH_OPTION __kconfig __weak;
/* a kfunc declared with the fast-call attribute where the compiler has it */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak __bpf_fastcall;

long results[16];
void *nothing = NULL;

/* a global (hidden, weak) subprogram and a static one */
__hidden __weak __noinline int twice(int x)
{
	return 2 * x;
}

static __always_inline int add_one(int x)
{
	return x + 1;
}

static __noinline int pair_sum(struct pair *p)
{
	return p->first + p->second;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	struct pair local = { .first = 3, .second = 4 };
	int *second_field = &local.second;
	struct pair *whole = container_of(second_field, struct pair, second);
	__u32 key = 0, bit = 7;
	__u64 len = ctx->data_end - ctx->data;
	struct pair *stored;

	if (sizeof(struct pair) != 8)
		__bpf_unreachable();
	results[0] = offsetof(struct pair, second);
	results[1] = pair_sum(whole);
	results[2] = twice(add_one(20));
	results[3] = bpf_cast_to_kern_ctx(ctx) != NULL;
	results[4] = (long)&pybpf_no_such_symbol;
	results[5] = (long)&bpf_prog_put;
	results[6] = LINUX_KERNEL_VERSION;
	results[7] = CONFIG_PYBPF_NO_SUCH_OPTION;
	results[8] = KERNEL_VERSION(6, 1, 300);
	barrier();
	barrier_var(len);
	if (likely(len == 64))
		results[9] = 1;
	if (unlikely(len != 64))
		results[9] = -1;
	results[10] = nothing == NULL;
	stored = bpf_map_lookup_elem(&pairs, &key);
	if (stored)
		results[11] = stored->first;
	bpf_map_push_elem(&seen, &bit, 0);
	results[12] = bpf_map_peek_elem(&seen, &bit) == 0;
	bpf_tail_call_static(ctx, &jumps, 1);
	return XDP_ABORTED;	/* the tail call failed */
}

SEC("xdp")
int second(struct xdp_md *ctx)
{
	results[13] = 1;
	return 42;
}

BPF_LICENSE("GPL");
