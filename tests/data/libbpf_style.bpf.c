/* A libbpf-style program: it must compile unchanged with libbpf's own headers
 * and with pybpf's (same include names), and load into an ObjectSpec. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define TASK_COMM_LEN 16

struct event {
	int pid;
	int ppid;
	char comm[TASK_COMM_LEN];
	char filename[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf SEC(".maps");

const volatile pid_t filter_pid = 0;
int hits;

static __noinline int remember(u32 pid)
{
	u64 now = bpf_ktime_get_ns();

	return bpf_map_update_elem(&seen, &pid, &now, BPF_ANY);
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(do_unlinkat, int dfd, struct filename *name)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t pid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (filter_pid && pid != filter_pid)
		return 0;
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(name, name));
	bpf_ringbuf_submit(e, 0);
	remember(pid);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(do_unlinkat_exit, long ret)
{
	bpf_printk("unlink returned %ld", ret);
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlinkat, int dfd, struct filename *name)
{
	u32 key = 0;

	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &key, sizeof(key));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (bpf_core_field_exists(p->loginuid))
		hits += bpf_core_type_size(struct task_struct) > 0;
	return 0;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return XDP_DROP;
	return eth->h_proto == bpf_htons(0x0800) ? XDP_PASS : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
