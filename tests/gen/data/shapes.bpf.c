/* SPDX-License-Identifier: MIT */
/* Test object for pybpf gen bindings: records of every shape BTF gives
 * (enums, unions, nested and anonymous members, bitfields, arrays of
 * records and of strings) in maps, a ring buffer and globals. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = 4 };

struct point { int x; int y; };

struct shape {
	enum color color;
	struct point corners[2];
	union {
		unsigned int radius;
		unsigned short sides[2];
	};
	union { long as_long; char as_text[8]; } tag;
	unsigned int visible : 1, layer : 7;
	char names[2][8];
	unsigned char raw[4];
	_Bool filled;
};

struct event { int pid; enum color color; char comm[16]; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, enum color);
	__type(value, struct shape);
} shapes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct point);
	__type(value, __u64);
} hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");
BPF_RECORD(events, struct event);

const volatile struct point origin = { .x = 1, .y = 2 };
const volatile enum color default_color = GREEN;
struct point last = {};
__u64 total;
char label[8] = "none";

SEC("socket")
int record(struct __sk_buff *skb)
{
	enum color c = default_color;
	struct shape *s = bpf_map_lookup_elem(&shapes, &c);
	struct point p = { .x = origin.x, .y = origin.y };
	struct event *e;
	__u64 one = 1, *n;

	if (s) {
		last = s->corners[0];
		p = s->corners[1];
	}
	n = bpf_map_lookup_elem(&hits, &p);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&hits, &p, &one, BPF_ANY);
	total += 1;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = 7;
	e->color = c;
	__builtin_memcpy(e->comm, label, 8);
	e->comm[8] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
