/* Open-coded iterators: bpf_for, bpf_repeat and bpf_for_each (over the
 * numeric and bit iterators), with early exits that must still destroy the
 * iterator, nested loops, and a bound the verifier cannot unroll (N comes
 * from a map at run time). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, int);
} limit SEC(".maps");

long sums[8];
__u64 words[2] = { 0x8000000000000005ULL, 0x3 };

static __noinline int first_multiple_of(int k, int n)
{
	int i;

	bpf_for(i, 1, n) {
		if (i % k == 0)
			return i;	/* leaves the loop through the cleanup */
	}
	return -1;
}

SEC("xdp")
int iterate(struct xdp_md *ctx)
{
	__u32 zero = 0;
	int *np = bpf_map_lookup_elem(&limit, &zero);
	int n, i, j, *v, count = 0;
	long s = 0;

	if (!np)
		return XDP_ABORTED;
	n = *np;

	bpf_for(i, 0, n)
		s += i;
	sums[0] = s;

	s = 0;
	bpf_repeat(n)
		s += 3;
	sums[1] = s;

	s = 0;
	bpf_for_each(num, v, 10, 15)
		s += *v;
	sums[2] = s;

	bpf_for(i, 0, 100) {
		if (i == 7)
			break;
		count++;
	}
	sums[3] = count;

	s = 0;
	bpf_for(i, 0, 4)
		bpf_for(j, 0, 3)
			s += i * j;
	sums[4] = s;

	sums[5] = first_multiple_of(9, n);

	s = 0;
	bpf_for_each(bits, v, words, 2)
		s = s * 100 + *v;
	sums[6] = s;

	/* an empty range runs no iteration */
	s = 0;
	bpf_for(i, 5, 5)
		s++;
	sums[7] = s;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
