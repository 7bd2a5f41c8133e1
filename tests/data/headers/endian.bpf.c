/* bpf_endian.h: every conversion on the packet's first bytes (run time) and
 * on constants (folded; usable in case labels).  The test sends the bytes
 * 01 02 03 04 05 06 07 08 and compares with Python's int.from_bytes. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

unsigned long long conv[18];

static __always_inline int port_class(__u16 port_be)
{
	switch (port_be) {
	case bpf_htons(53): return 1;
	case __bpf_constant_htons(443): return 2;
	default: return 0;
	}
}

SEC("xdp")
int convert(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u16 h16;
	__u32 h32;
	__u64 h64;

	if (data + 8 > end)
		return XDP_DROP;
	h16 = *(__u16 *)data;
	h32 = *(__u32 *)data;
	h64 = *(__u64 *)data;
	/* run time: the byte-swap instruction */
	conv[0] = bpf_ntohs(h16);
	conv[1] = bpf_htons(h16);
	conv[2] = bpf_ntohl(h32);
	conv[3] = bpf_htonl(h32);
	conv[4] = bpf_be64_to_cpu(h64);
	conv[5] = bpf_cpu_to_be64(h64);
	conv[6] = __bpf_ntohs(h16);
	conv[7] = __bpf_htons(h16);
	conv[8] = __bpf_ntohl(h32);
	conv[9] = __bpf_htonl(h32);
	conv[10] = __bpf_be64_to_cpu(h64);
	conv[11] = __bpf_cpu_to_be64(h64);
	/* compile time */
	conv[12] = __bpf_constant_ntohs(0x0102);
	conv[13] = __bpf_constant_ntohl(0x01020304);
	conv[14] = __bpf_constant_htonl(0x01020304);
	conv[15] = __bpf_constant_be64_to_cpu(0x0102030405060708ULL);
	conv[16] = __bpf_constant_cpu_to_be64(0x0102030405060708ULL);
	conv[17] = port_class(bpf_htons(443)) * 10 + port_class(bpf_htons(53));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
