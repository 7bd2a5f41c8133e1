/* SPDX-License-Identifier: MIT */
/* hardirqs: time spent in (or count of) hard interrupt handlers, by
 * handler name, as totals or log2 histograms.
 *
 * irq:irq_handler_entry keeps, per CPU, the start time and the handler's
 * name; irq:irq_handler_exit adds the time to the name's entry.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "hist.h"

#define IRQ_NAME_LEN 32

const volatile unsigned char count_only = 0;	/* count handler runs, not time */
const volatile unsigned char distribution = 0;	/* a histogram per name */
const volatile unsigned char nanoseconds = 0;	/* nanoseconds instead of microseconds */

struct irq_start {
	unsigned long long ts_ns;
	char name[IRQ_NAME_LEN];
};

struct irq_key {
	char name[IRQ_NAME_LEN];
	unsigned int slot;	/* distribution: the log2 slot, else 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct irq_start);
} starts SEC(".maps");

/* per name (and slot): total time, or runs, or (distribution) runs in the slot */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct irq_key);
	__type(value, unsigned long long);
} totals SEC(".maps");

static __always_inline void add(struct irq_key *key, unsigned long long n)
{
	unsigned long long *v = bpf_map_lookup_elem(&totals, key);

	if (v)
		__sync_fetch_and_add(v, n);
	else
		bpf_map_update_elem(&totals, key, &n, BPF_NOEXIST);
}

SEC("tracepoint/irq/irq_handler_entry")
int on_entry(struct trace_event_raw_irq_handler_entry *ctx)
{
	int zero = 0;
	struct irq_start *s = bpf_map_lookup_elem(&starts, &zero);
	unsigned int loc;

	if (!s)
		return 0;
	loc = BPF_CORE_READ(ctx, __data_loc_name);
	if (bpf_probe_read_kernel_str(s->name, sizeof(s->name), (void *)ctx + (loc & 0xffff)) < 0)
		s->name[0] = 0;
	if (count_only) {
		struct irq_key key = {};

		__builtin_memcpy(key.name, s->name, sizeof(key.name));
		add(&key, 1);
		return 0;
	}
	s->ts_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/irq/irq_handler_exit")
int on_exit(struct trace_event_raw_irq_handler_exit *ctx)
{
	int zero = 0;
	struct irq_start *s = bpf_map_lookup_elem(&starts, &zero);
	struct irq_key key = {};
	unsigned long long delta;

	if (!s || count_only || !s->ts_ns)
		return 0;
	delta = bpf_ktime_get_ns() - s->ts_ns;
	s->ts_ns = 0;
	__builtin_memcpy(key.name, s->name, sizeof(key.name));
	if (!nanoseconds)
		delta /= 1000;
	if (distribution) {
		key.slot = log2_slot(delta);
		add(&key, 1);
	} else {
		add(&key, delta);
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
