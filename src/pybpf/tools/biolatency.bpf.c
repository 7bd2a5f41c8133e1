/* SPDX-License-Identifier: MIT */
/* biolatency: block I/O latency as log2 histograms, overall, per disk
 * (per_disk) or per operation (per_op).
 *
 * A request's time runs from its issue to the device (block_rq_issue), or
 * from its insertion in the OS queue with `queued` (block_rq_insert), to
 * its completion (block_rq_complete).  BTF-typed tracepoints hand the
 * programs the struct request; its disk is rq->q->disk.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "hist.h"

#define MINORBITS 20	/* the kernel's dev_t: major << 20 | minor */
#define REQ_OP_MASK 0xff

const volatile unsigned char per_disk = 0;
const volatile unsigned char per_op = 0;
const volatile unsigned char millis = 0;	/* milliseconds instead of microseconds */
const volatile unsigned char queued = 0;	/* from insertion in the OS queue */
const volatile unsigned int target_dev = 0;	/* only this disk (0: all) */

struct hist_key {
	unsigned int dev;	/* per_disk: the disk's dev_t, else 0 */
	unsigned int op;	/* per_op: REQ_OP_*, else 0 */
	unsigned int slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct request *);
	__type(value, unsigned long long);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, unsigned long long);
} hist SEC(".maps");

static __always_inline unsigned int dev_of(struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);

	if (!disk)
		return 0;
	return ((unsigned int)BPF_CORE_READ(disk, major) << MINORBITS) |
	       (unsigned int)BPF_CORE_READ(disk, first_minor);
}

static __always_inline int start(struct request *rq, bool insert)
{
	unsigned long long now;

	if (insert != queued)
		/* with queued, an issue starts the clock of requests not inserted */
		if (!queued || bpf_map_lookup_elem(&starts, &rq))
			return 0;
	if (target_dev && dev_of(rq) != target_dev)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &rq, &now, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(on_insert, struct request *rq)
{
	return start(rq, true);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue, struct request *rq)
{
	return start(rq, false);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	unsigned long long *begin = bpf_map_lookup_elem(&starts, &rq), delta, *count;
	unsigned long long one = 1;
	struct hist_key key = {};

	if (!begin)
		return 0;
	delta = bpf_ktime_get_ns() - *begin;
	bpf_map_delete_elem(&starts, &rq);
	delta /= millis ? 1000000 : 1000;
	key.slot = log2_slot(delta);
	if (per_disk)
		key.dev = dev_of(rq);
	if (per_op)
		key.op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	count = bpf_map_lookup_elem(&hist, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&hist, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
