/* bpf_core_read.h against the running kernel: a raw tracepoint run with
 * BPF_PROG_TEST_RUN executes in the calling process, so the current task's
 * fields can be checked from Python (tgid, parent, comm); bitfields are
 * written and read back in a stack copy of a kernel struct; the type, field
 * and enum queries are compared with the kernel's BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* a field this kernel's task_struct does not have */
struct task_struct___hdr_old {
	int no_such_field;
} __attribute__((preserve_access_index));

/* an enumerator the kernel's enum bpf_func_id does not have */
enum bpf_func_id___hdr {
	PYBPF_HDR_NO_SUCH_HELPER = 99999,
};

/* list_head with the wrong member types: no match */
struct list_head___hdr_bad {
	int next;
	int prev;
};

/* a type the kernel does not have at all */
struct pybpf_hdr_missing {
	int x;
} __attribute__((preserve_access_index));

struct hdr_core_out {
	long tgid, tgid_probe, tgid_cast, tgid_single;
	int tgid_into, tgid_probe_into;
	long ppid, ppid_chain, ppid_probe;
	char comm[16], comm_core[16], comm_probe[16], comm_single[16];
	long comm_len, comm_core_len;
	long field_exists, field_exists_typed, field_missing;
	long field_size, field_offset;
	long type_exists, type_missing, type_size, type_matches, type_mismatch;
	long type_id_local, type_id_kernel;
	long enum_exists, enum_missing, enum_value;
	long bits_direct, bits_probed, bits_untouched, bits_raw;
};

struct hdr_core_out core_out;

SEC("raw_tp/pybpf_core")
int read_task(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct hdr_core_out *o = &core_out;
	struct tcp_options_received opts = {};

	o->tgid = BPF_CORE_READ(t, tgid);
	BPF_CORE_READ_INTO(&o->tgid_into, t, tgid);
	o->tgid_probe = BPF_PROBE_READ(t, tgid);
	BPF_PROBE_READ_INTO(&o->tgid_probe_into, t, tgid);
	o->tgid_cast = bpf_core_cast(t, struct task_struct)->tgid;
	bpf_core_read(&o->tgid_single, sizeof(t->tgid), &t->tgid);

	o->ppid = BPF_CORE_READ(t, real_parent, tgid);
	o->ppid_chain = BPF_CORE_READ(t, group_leader, real_parent, tgid);
	o->ppid_probe = BPF_PROBE_READ(t, group_leader, real_parent, tgid);

	BPF_CORE_READ_INTO(&o->comm, t, comm);
	o->comm_core_len = BPF_CORE_READ_STR_INTO(&o->comm_core, t, comm);
	BPF_PROBE_READ_STR_INTO(&o->comm_probe, t, comm);
	o->comm_len = bpf_core_read_str(&o->comm_single, sizeof(o->comm_single), &t->comm);

	o->field_exists = bpf_core_field_exists(t->pid);
	o->field_exists_typed = bpf_core_field_exists(struct task_struct, tgid);
	o->field_missing = bpf_core_field_exists(((struct task_struct___hdr_old *)t)->no_such_field);
	o->field_size = bpf_core_field_size(t->comm);
	o->field_offset = bpf_core_field_offset(struct task_struct, tgid);

	o->type_exists = bpf_core_type_exists(struct task_struct);
	o->type_missing = bpf_core_type_exists(struct pybpf_hdr_missing);
	o->type_size = bpf_core_type_size(struct task_struct);
#if __clang_major__ >= 17	/* older clang has no type-matches relocation */
	o->type_matches = bpf_core_type_matches(struct list_head);
	o->type_mismatch = bpf_core_type_matches(struct list_head___hdr_bad);
#else
	o->type_matches = 1;
#endif
	o->type_id_local = bpf_core_type_id_local(struct hdr_core_out);
	o->type_id_kernel = bpf_core_type_id_kernel(struct task_struct);

	o->enum_exists = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop);
	o->enum_missing = bpf_core_enum_value_exists(enum bpf_func_id___hdr,
						     PYBPF_HDR_NO_SUCH_HELPER);
	o->enum_value = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_loop);

	/* bitfields of a kernel struct, in a copy on the stack */
	opts.wscale_ok = 1;
	BPF_CORE_WRITE_BITFIELD(&opts, snd_wscale, 11);
	BPF_CORE_WRITE_BITFIELD(&opts, sack_ok, 13);	/* 3 bits: keeps 5 */
	o->bits_direct = BPF_CORE_READ_BITFIELD(&opts, snd_wscale);
	o->bits_probed = BPF_CORE_READ_BITFIELD_PROBED(&opts, sack_ok);
	o->bits_untouched = BPF_CORE_READ_BITFIELD(&opts, wscale_ok) +
			    BPF_CORE_READ_BITFIELD_PROBED(&opts, rcv_wscale);
	bpf_probe_read_kernel(&o->bits_raw, 2,
			      (void *)&opts + bpf_core_field_offset(opts.user_mss) - 4);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
