/* SPDX-License-Identifier: MIT */
/* softirqs: time spent in (or count of) soft interrupts, by kind (vector),
 * as totals or log2 histograms, from irq:softirq_entry/softirq_exit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "hist.h"

const volatile unsigned char count_only = 0;	/* count runs, not time */
const volatile unsigned char distribution = 0;	/* a histogram per vector */
const volatile unsigned char nanoseconds = 0;	/* nanoseconds instead of microseconds */

struct softirq_key {
	unsigned int vec;
	unsigned int slot;	/* distribution: the log2 slot, else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, unsigned long long);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct softirq_key);
	__type(value, unsigned long long);
} totals SEC(".maps");

static __always_inline void add(struct softirq_key *key, unsigned long long n)
{
	unsigned long long *v = bpf_map_lookup_elem(&totals, key);

	if (v)
		__sync_fetch_and_add(v, n);
	else
		bpf_map_update_elem(&totals, key, &n, BPF_NOEXIST);
}

SEC("tracepoint/irq/softirq_entry")
int on_entry(struct trace_event_raw_softirq *ctx)
{
	int zero = 0;
	unsigned long long *start;

	if (count_only) {
		struct softirq_key key = {.vec = BPF_CORE_READ(ctx, vec)};

		add(&key, 1);
		return 0;
	}
	start = bpf_map_lookup_elem(&starts, &zero);
	if (start)
		*start = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/irq/softirq_exit")
int on_exit(struct trace_event_raw_softirq *ctx)
{
	int zero = 0;
	unsigned long long *start = bpf_map_lookup_elem(&starts, &zero), delta;
	struct softirq_key key = {};

	if (!start || count_only || !*start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	*start = 0;
	if (!nanoseconds)
		delta /= 1000;
	key.vec = BPF_CORE_READ(ctx, vec);
	if (distribution) {
		key.slot = log2_slot(delta);
		add(&key, 1);
	} else {
		add(&key, delta);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
