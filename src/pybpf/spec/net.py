"""Networking ABI facts the kernel's BTF does not carry (``#define``\\ s).

Each group names the uapi header it comes from.
"""

from __future__ import annotations

# --- include/uapi/linux/pkt_cls.h: tc action verdicts ------------------------
TC_ACT_UNSPEC = -1
TC_ACT_OK = 0
TC_ACT_RECLASSIFY = 1
TC_ACT_SHOT = 2
TC_ACT_PIPE = 3
TC_ACT_STOLEN = 4
TC_ACT_QUEUED = 5
TC_ACT_REPEAT = 6
TC_ACT_REDIRECT = 7
TC_ACT_TRAP = 8

TC_ACT_NAMES = {v: k for k, v in globals().items() if k.startswith("TC_ACT_")}

# --- include/uapi/linux/if_ether.h ---------------------------------------------
ETH_HLEN = 14
ETH_ALEN = 6
ETH_P_802_3_MIN = 0x0600
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
ETH_P_8021AD = 0x88A8
ETH_P_802_EX1 = 0x88B5
"""IEEE 802 local experimental EtherType: a protocol no stack handles."""
ETH_P_802_3 = 0x0001
ETH_P_802_2 = 0x0004

# --- include/uapi/linux/if_packet.h: skb->pkt_type ------------------------------
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3

# --- include/linux/socket.h ------------------------------------------------------
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10

# --- include/uapi/linux/bpf.h and net/core: XDP buffer geometry ----------------
XDP_PACKET_HEADROOM = 256
"""Bytes before the packet data an XDP program may claim with adjust_head."""

SKB_SHARED_INFO_SIZE = 320
"""SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64: the tailroom
kept after packet data in test-run buffers."""

SKB_TEST_RUN_HEADROOM = 64
"""NET_SKB_PAD + NET_IP_ALIGN on x86-64: headroom of test-run skbs."""

# --- include/uapi/linux/filter.h: special offsets of legacy packet loads -------
SKF_AD_OFF = -0x1000
SKF_NET_OFF = -0x100000
"""Legacy packet loads at SKF_NET_OFF + k read the network header + k."""
SKF_LL_OFF = -0x200000
"""Legacy packet loads at SKF_LL_OFF + k read the link-layer header + k."""

# --- the loopback device BPF_PROG_TEST_RUN attaches skbs to ---------------------
LOOPBACK_IFINDEX = 1
