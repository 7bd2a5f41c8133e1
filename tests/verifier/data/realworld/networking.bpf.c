/* SPDX-License-Identifier: MIT */
/* Packet programs of the kinds people write first: XDP parsers with
 * counters and a blocklist, a tc program that rewrites headers with the
 * checksum helpers, a socket filter, cgroup and sock_ops programs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, __u64);
} flows SEC(".maps");

struct lpm_v4 {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__type(key, struct lpm_v4);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} uid_bytes SEC(".maps");

static __always_inline int parse_eth(void *data, void *data_end, __u16 *proto, __u64 *off)
{
	struct ethhdr *eth = data;
	struct vlan_hdr *vh;

	if ((void *)(eth + 1) > data_end)
		return -1;
	*proto = eth->h_proto;
	*off = sizeof(*eth);
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		vh = data + *off;
		if ((void *)(vh + 1) > data_end)
			return -1;
		*proto = vh->encapsulated_proto;
		*off += sizeof(*vh);
	}
	return 0;
}

SEC("xdp")
int xdp_parse_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_key key = {};
	__u64 off, len = data_end - data, *v, one = 1;
	__u16 proto;
	__u32 p;

	if (parse_eth(data, data_end, &proto, &off) < 0)
		return XDP_PASS;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = data + off;

		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		if (iph->ihl < 5)
			return XDP_DROP;
		key.saddr = iph->saddr;
		key.daddr = iph->daddr;
		key.proto = iph->protocol;
		off += iph->ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = data + off;

		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		key.proto = ip6h->nexthdr;
		off += sizeof(*ip6h);
	} else {
		return XDP_PASS;
	}
	if (off > 128)
		return XDP_PASS;
	if (key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + off;

		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		key.sport = th->source;
		key.dport = th->dest;
	} else if (key.proto == IPPROTO_UDP) {
		struct udphdr *uh = data + off;

		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		key.sport = uh->source;
		key.dport = uh->dest;
	}
	p = key.proto;
	v = bpf_map_lookup_elem(&proto_bytes, &p);
	if (v)
		*v += len;
	v = bpf_map_lookup_elem(&flows, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&flows, &key, &one, BPF_ANY);
	return XDP_PASS;
}

SEC("xdp")
int xdp_blocklist(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	struct lpm_v4 key;

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key.prefixlen = 32;
	key.addr = iph->saddr;
	if (bpf_map_lookup_elem(&blocklist, &key))
		return XDP_DROP;
	return bpf_redirect(1, 0);
}

SEC("xdp")
int xdp_swap_macs(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
	if (bpf_xdp_adjust_head(ctx, 0))
		return XDP_ABORTED;
	return XDP_TX;
}

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_TTL_OFF (ETH_HLEN + offsetof(struct iphdr, ttl))

SEC("tc")
int tc_decrement_ttl(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u8 old_ttl, new_ttl;

	if ((void *)(iph + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	old_ttl = iph->ttl;
	if (old_ttl <= 1)
		return TC_ACT_SHOT;
	new_ttl = old_ttl - 1;
	bpf_l3_csum_replace(skb, IP_CSUM_OFF, bpf_htons(old_ttl << 8), bpf_htons(new_ttl << 8), 2);
	bpf_skb_store_bytes(skb, IP_TTL_OFF, &new_ttl, sizeof(new_ttl), 0);
	skb->mark = 0x42;
	return TC_ACT_OK;
}

SEC("tc")
int tc_classify_ports(struct __sk_buff *skb)
{
	struct iphdr iph;
	struct tcphdr th;
	__u32 off = ETH_HLEN;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, off, &iph, sizeof(iph)) < 0)
		return TC_ACT_OK;
	if (iph.protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	off += (iph.ihl & 0xf) * 4;
	if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0)
		return TC_ACT_OK;
	skb->tc_classid = th.dest == bpf_htons(443) ? 0x10001 : 0x10002;
	skb->priority = bpf_ntohs(th.dest) & 7;
	return TC_ACT_OK;
}

SEC("socket")
int sock_keep_tcp(struct __sk_buff *skb)
{
	__u8 proto;
	__u16 eth_proto;

	if (bpf_skb_load_bytes(skb, 12, &eth_proto, 2) < 0)
		return 0;
	if (eth_proto != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &proto, 1) < 0)
		return 0;
	return proto == IPPROTO_TCP ? skb->len : 0;
}

SEC("cgroup_skb/egress")
int cgroup_count(struct __sk_buff *skb)
{
	__u32 uid = bpf_get_socket_uid(skb);
	__u64 *v, len = skb->len;

	v = bpf_map_lookup_elem(&uid_bytes, &uid);
	if (v)
		__sync_fetch_and_add(v, len);
	else
		bpf_map_update_elem(&uid_bytes, &uid, &len, BPF_NOEXIST);
	return 1;
}

SEC("sockops")
int sockops_cb(struct bpf_sock_ops *skops)
{
	int op = skops->op;

	switch (op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_TIMEOUT_INIT:
		skops->reply = 10;
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
