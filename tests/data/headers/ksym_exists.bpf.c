/* bpf_ksym_exists on __weak kfuncs: 1 for one the kernel has, 0 for one it
 * lacks (the compiler emits a 64-bit load of the kfunc's address, which the
 * loader points at the kernel's BTF or sets to 0). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;
extern void pybpf_no_such_kfunc(void) __ksym __weak;

long exists[2];

SEC("xdp")
int probe_kfuncs(struct xdp_md *ctx)
{
	exists[0] = bpf_ksym_exists(bpf_cast_to_kern_ctx);
	exists[1] = bpf_ksym_exists(pybpf_no_such_kfunc);
	if (exists[1])
		pybpf_no_such_kfunc();
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
