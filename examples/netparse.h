/* SPDX-License-Identifier: MIT */
/* Packet parsing shared by the network examples (xdp_count, tc_classify):
 * Ethernet, IPv4 and the UDP/TCP ports, with the bounds checks the verifier
 * needs.  Uses the kernel's uapi headers, not vmlinux.h. */
#ifndef __PYBPF_EXAMPLES_NETPARSE_H
#define __PYBPF_EXAMPLES_NETPARSE_H

#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>

struct flow {
	__u8 proto;		/* IPPROTO_* (0: not IPv4) */
	__u16 dport;		/* destination port, host order (0: no ports) */
	__u32 saddr;		/* source address, network order */
};

/* Parse [data, data_end) into *f; returns 0 when the packet is too short. */
static __always_inline int parse_flow(void *data, void *data_end, struct flow *f)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;

	f->proto = 0;
	f->dport = 0;
	f->saddr = 0;
	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return 0;
	f->proto = ip->protocol;
	f->saddr = ip->saddr;
	if (ip->ihl != 5)	/* options: keep it simple, no ports */
		return 1;
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);

		if ((void *)(udp + 1) > data_end)
			return 0;
		f->dport = bpf_ntohs(udp->dest);
	} else if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);

		if ((void *)(tcp + 1) > data_end)
			return 0;
		f->dport = bpf_ntohs(tcp->dest);
	}
	return 1;
}

#endif
