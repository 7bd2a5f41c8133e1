/* Type and declaration tags the verifier reads: kptrs in map values
 * (__kptr, __kptr_untrusted, __percpu_kptr), a list head with its
 * __contains tag, a __uptr in task storage, and global functions whose
 * arguments carry __arg_ctx, __arg_nonnull, __arg_nullable, __arg_trusted,
 * and __arg_untrusted (__arg_arena: arena.bpf.c).  Without the tags the
 * kernel refuses the program or the map. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct hdr_counter {
	long hits;
};

struct hdr_node {
	long value;
	struct bpf_list_node node;
};

struct hdr_value {
	struct task_struct __kptr *task;
	struct task_struct __kptr_untrusted *seen;
	struct hdr_counter __percpu_kptr *counter;
	struct bpf_spin_lock lock;
	struct bpf_list_head head __contains(hdr_node, node);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct hdr_value);
} values SEC(".maps");

/* a user pointer the kernel pins while it sits in task storage */
struct hdr_user_data {
	int answer;
};

struct hdr_task_value {
	struct hdr_user_data __uptr *udata;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hdr_task_value);
} task_data SEC(".maps");

const volatile int target_pid = 0;
long out[12];

__noinline int buff_len(void *ctx __arg_ctx)
{
	return bpf_xdp_get_buff_len(ctx);
}

__noinline int read_nonnull(long *p __arg_nonnull)
{
	return *p;	/* no NULL check: the tag promises the caller passes memory */
}

__noinline int pid_or_minus_one(struct task_struct *t __arg_trusted __arg_nullable)
{
	return t ? t->pid : -1;
}

__noinline int trusted_tgid(struct task_struct *t __arg_trusted)
{
	return t->tgid;
}

__noinline int untrusted_pid(struct task_struct *t __arg_untrusted)
{
	return t->pid;	/* a read that cannot fault the kernel */
}

SEC("xdp")
int tags(struct xdp_md *ctx)
{
	int zero = 0;
	struct hdr_value *v = bpf_map_lookup_elem(&values, &zero);
	struct task_struct *t, *cur, *seen;
	struct hdr_counter *c, *mine;
	struct hdr_node *n;
	struct bpf_list_node *ln;

	if (!v)
		return XDP_ABORTED;

	/* a referenced kptr: swap our task in, release whatever was there */
	t = bpf_task_from_pid(target_pid);
	if (!t)
		return XDP_DROP;
	out[0] = trusted_tgid(t);
	out[1] = pid_or_minus_one(t);
	t = bpf_kptr_xchg(&v->task, t);
	if (t)
		bpf_task_release(t);
	out[2] = pid_or_minus_one(NULL);

	/* read it back (RCU-protected), copy it into the untrusted kptr */
	cur = v->task;
	if (cur) {
		out[3] = cur->tgid;
		v->seen = cur;
	}
	seen = v->seen;
	if (seen)
		out[4] = untrusted_pid(seen);

	/* a per-CPU object owned by the map value, made on the first run */
	if (!v->counter) {
		c = bpf_percpu_obj_new_impl(bpf_core_type_id_local(struct hdr_counter), NULL);
		if (c) {
			c = bpf_kptr_xchg(&v->counter, c);
			if (c)
				bpf_percpu_obj_drop_impl(c, NULL);
		}
	}
	c = v->counter;
	if (c) {
		mine = bpf_this_cpu_ptr(c);
		mine->hits += 5;
		out[5] = mine->hits;
	}

	/* a list of our own nodes under the value's lock */
	n = bpf_obj_new_impl(bpf_core_type_id_local(struct hdr_node), NULL);
	if (!n)
		return XDP_DROP;
	n->value = 77;
	bpf_spin_lock(&v->lock);
	bpf_list_push_back_impl(&v->head, &n->node, NULL, 0);
	ln = bpf_list_pop_front(&v->head);
	bpf_spin_unlock(&v->lock);
	if (ln) {
		n = container_of(ln, struct hdr_node, node);
		out[6] = n->value;
		bpf_obj_drop_impl(n, NULL);
	}

	out[7] = buff_len(ctx);
	out[8] = read_nonnull(&out[0]);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
