/* Test object for pybpf.elf: one of everything the loader handles.
 * Rebuild with tests/data/build.sh (zig and clang). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	unsigned long long start_time;
} __attribute__((preserve_access_index));

extern int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_PYBPF_MISSING __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig __weak;
extern const void bpf_prog_fops __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

struct event { int pid; int value; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct event);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(value_size, 8);
	__ulong(map_extra, 3);
	__uint(numa_node, 0);
} bloom SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, int);
	__type(value, __u64);
} in1 SEC(".maps"), in2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, int);
	__array(values, struct inner);
} outer SEC(".maps") = { .values = { &in1, [2] = &in2 } };

int tail_target(void *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, int);
	__array(values, int (void *));
} jumps SEC(".maps") = { .values = { [1] = (void *)&tail_target } };

const volatile int knob = 7;
const volatile __u64 big_knob = 0x1122334455667788ULL;
int counter = 3;
__u64 zeroed;
int custom_var SEC(".data.custom") = 42;
static volatile int local_static = 5;

static __noinline int helper_sub(int x)
{
	return x * knob + local_static;
}

static __noinline int shared_sub(int x)
{
	return helper_sub(x) + 1;
}

static long loop_cb(__u32 i, void *ctx)
{
	*(int *)ctx += i;
	return 0;
}

SEC("kprobe/do_unlinkat")
int probe_one(struct pt_regs *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int ppid = BPF_CORE_READ(t, real_parent, tgid);
	int acc = 0;
	struct event e = { .pid = ppid, .value = LINUX_KERNEL_VERSION };

	bpf_loop(3, loop_cb, &acc, 0);
	if (bpf_core_field_exists(t->start_time))
		acc += CONFIG_BPF_JIT + CONFIG_PYBPF_MISSING + CONFIG_DEFAULT_HOSTNAME[0];
	bpf_map_update_elem(&events, &ppid, &e, BPF_ANY);
	counter += shared_sub(acc);
	bpf_printk("fops %p", &bpf_prog_fops);
	return custom_var;
}

SEC("kprobe/do_unlinkat")
int probe_two(struct pt_regs *ctx)
{
	zeroed++;
	return helper_sub((int)big_knob);
}

SEC("fentry.s/do_unlinkat")
int sleepy(void *ctx)
{
	struct task_struct *t = bpf_task_acquire((void *)bpf_get_current_task());

	if (t)
		bpf_task_release(t);
	return 0;
}

SEC("tc")
int tail_target(void *ctx)
{
	bpf_tail_call_static(ctx, &jumps, 1);
	return shared_sub(1);
}

SEC("xdp.frags")
int frags(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
__u32 _version SEC("version") = 0x060800;
