/* SPDX-License-Identifier: MIT */
/* biosnoop: one ring-buffer event per block I/O request completed: the
 * process that started it, the disk, operation, sector, size and latency.
 *
 * BTF-typed block tracepoints hand the programs the struct request:
 * block_io_start (the process context that started the I/O, kernels 6.5
 * and later; else the process current at insertion or issue),
 * block_rq_insert (entry to the OS queue), block_rq_issue (to the device)
 * and block_rq_complete.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"

#define MINORBITS 20	/* the kernel's dev_t: major << 20 | minor */
#define REQ_OP_MASK 0xff

const volatile unsigned int target_dev = 0;	/* only this disk (0: all) */

struct rq_start {
	unsigned long long insert_ns;
	unsigned long long issue_ns;
	int pid;
	int pad;
	char comm[TASK_COMM_LEN];
};

struct bio_event {
	unsigned long long ts_ns;	/* completion, bpf_ktime_get_ns() */
	unsigned long long latency_ns;	/* issue to completion */
	unsigned long long queued_ns;	/* insertion to issue (0: not seen) */
	unsigned long long sector;
	unsigned int bytes;
	unsigned int dev;		/* the disk's dev_t */
	unsigned int op;		/* REQ_OP_* */
	int pid;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct request *);
	__type(value, struct rq_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} events SEC(".maps");
BPF_RECORD(events, struct bio_event);

static __always_inline unsigned int dev_of(struct request *rq)
{
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);

	if (!disk)
		return 0;
	return ((unsigned int)BPF_CORE_READ(disk, major) << MINORBITS) |
	       (unsigned int)BPF_CORE_READ(disk, first_minor);
}

/* the request's entry, made with the current process as its owner */
static __always_inline struct rq_start *entry(struct request *rq)
{
	struct rq_start *s = bpf_map_lookup_elem(&starts, &rq), fresh = {};

	if (s)
		return s;
	if (target_dev && dev_of(rq) != target_dev)
		return 0;
	fresh.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(&fresh.comm, sizeof(fresh.comm));
	bpf_map_update_elem(&starts, &rq, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&starts, &rq);
}

SEC("tp_btf/block_io_start")
int BPF_PROG(on_io_start, struct request *rq)
{
	entry(rq);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(on_insert, struct request *rq)
{
	struct rq_start *s = entry(rq);

	if (s)
		s->insert_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue, struct request *rq)
{
	struct rq_start *s = entry(rq);

	if (s)
		s->issue_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	struct rq_start *s = bpf_map_lookup_elem(&starts, &rq);
	struct bio_event *e;
	unsigned long long now;

	if (!s)
		return 0;
	if (!s->issue_ns)	/* issued before tracing began */
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		goto done;
	now = bpf_ktime_get_ns();
	e->ts_ns = now;
	e->latency_ns = now - s->issue_ns;
	e->queued_ns = s->insert_ns && s->insert_ns <= s->issue_ns ?
		       s->issue_ns - s->insert_ns : 0;
	e->sector = BPF_CORE_READ(rq, __sector);
	e->bytes = nr_bytes;
	e->dev = dev_of(rq);
	e->op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	e->pid = s->pid;
	__builtin_memcpy(e->comm, s->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&starts, &rq);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
