/* SPDX-License-Identifier: MIT */
/* sockfilter: a socket filter that keeps only UDP datagrams to one port
 * (DNS by default) and drops everything else.
 *
 * Attach to a socket (a packet socket sees every frame on an interface).
 * Knob: port   the UDP destination port to keep.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 port = 53;

/* the UDP destination port of an IPv4 packet, or 0.  Reads relative to the
 * network header, which works whether the socket sees frames from their
 * Ethernet header (packet sockets) or from the IP header (test runs). */
static __noinline __u16 udp_dport(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes_relative(skb, 0, &ip, sizeof(ip), BPF_HDR_START_NET))
		return 0;
	if (ip.protocol != IPPROTO_UDP || (ip.frag_off & bpf_htons(0x3fff)))
		return 0;
	if (bpf_skb_load_bytes_relative(skb, ip.ihl * 4, &udp, sizeof(udp), BPF_HDR_START_NET))
		return 0;
	return bpf_ntohs(udp.dest);
}

SEC("socket")
int keep_dns(struct __sk_buff *skb)
{
	/* the return value is how many bytes to keep: all of it, or nothing */
	return udp_dport(skb) == port ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
