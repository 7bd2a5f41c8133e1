/* SPDX-License-Identifier: MIT */
/* Record types of ring and perf buffers, each found by another rule:
 *   rb     BPF_RECORD(rb, struct ev): the declared type, although struct
 *          twin has the same size;
 *   typed  __type(value, struct big): the map definition's value type;
 *   guess  nothing declared, and only struct lone has the size reserved;
 *   twins  nothing declared, and two structs have the size reserved:
 *          no guess, records stay bytes;
 *   pb     a perf event array with BPF_RECORD too;
 *   pbt    a perf event array whose definition names its value type.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct ev {
	int pid;
	unsigned int flags;
	char comm[16];
};

/* the same size as struct ev, in BTF through the map below */
struct twin {
	unsigned long long a, b, c;
};

struct big {
	unsigned long long seq;
	char tag[8];
	unsigned short vals[4];
};

/* 12 bytes: the only struct of that size */
struct lone {
	int x, y, z;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct twin);
} twins_value SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");
BPF_RECORD(rb, struct ev);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
	__type(value, struct big);
} typed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} guess SEC(".maps");
BPF_RECORD(unused_lone_keeper, struct lone);

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} twins SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} pb SEC(".maps");
BPF_RECORD(pb, struct ev);

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, struct lone);
} pbt SEC(".maps");

SEC("socket")
int produce(struct __sk_buff *skb)
{
	struct ev *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	struct big *b;
	struct lone *l;
	struct twin *t;
	struct ev out = {.pid = 7, .flags = 3, .comm = "perf"};
	struct lone three = {.x = 4, .y = 5, .z = 6};

	if (e) {
		e->pid = 42;
		e->flags = 1;
		__builtin_memcpy(e->comm, "pybpf", 6);
		bpf_ringbuf_submit(e, 0);
	}
	b = bpf_ringbuf_reserve(&typed, sizeof(*b), 0);
	if (b) {
		b->seq = 9;
		__builtin_memcpy(b->tag, "big", 4);
		b->vals[0] = 1; b->vals[1] = 2; b->vals[2] = 3; b->vals[3] = 4;
		bpf_ringbuf_submit(b, 0);
	}
	l = bpf_ringbuf_reserve(&guess, sizeof(*l), 0);
	if (l) {
		l->x = 1; l->y = 2; l->z = 3;
		bpf_ringbuf_submit(l, 0);
	}
	t = bpf_ringbuf_reserve(&twins, sizeof(*t), 0);
	if (t) {
		t->a = 1; t->b = 2; t->c = 3;
		bpf_ringbuf_submit(t, 0);
	}
	bpf_perf_event_output(skb, &pb, BPF_F_CURRENT_CPU, &out, sizeof(out));
	bpf_perf_event_output(skb, &pbt, BPF_F_CURRENT_CPU, &three, sizeof(three));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
