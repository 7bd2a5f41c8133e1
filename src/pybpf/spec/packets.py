"""Packet formats as numbers: EtherTypes, IP protocol numbers, header
fields, ARP hardware types, and the pcap/pcapng file formats' magic
numbers, block types and link types.

From ``include/uapi/linux/if_ether.h``, ``in.h``, ``in6.h``,
``if_arp.h``, ``ip.h``, ``ipv6.h``, RFC 791/8200/9293, and the pcap and
pcapng specifications (``draft-ietf-opsawg-pcap``,
``draft-ietf-opsawg-pcapng``) and the tcpdump.org link-type registry.
"""

from __future__ import annotations

from .net import ETH_P_8021AD as ETH_P_8021AD
from .net import ETH_P_8021Q as ETH_P_8021Q
from .net import ETH_P_ARP as ETH_P_ARP
from .net import ETH_P_IP as ETH_P_IP
from .net import ETH_P_IPV6 as ETH_P_IPV6

# --- EtherTypes ------------------------------------------------------------------------
ETH_P_RARP = 0x8035
ETH_P_QINQ1 = 0x9100
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_PPP_SES = 0x8864
ETH_P_LOOPBACK = 0x9000
VLAN_ETHERTYPES = (ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ1)
VLAN_HLEN = 4
VLAN_VID_MASK = 0x0FFF

# --- IP protocol numbers ------------------------------------------------------------------
IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_DCCP = 33
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_SCTP = 132
IPPROTO_UDPLITE = 136

IP_PROTOCOL_NAMES = {IPPROTO_ICMP: "ICMP", IPPROTO_IGMP: "IGMP", IPPROTO_IPIP: "IPIP",
                     IPPROTO_TCP: "TCP", IPPROTO_UDP: "UDP", IPPROTO_DCCP: "DCCP",
                     IPPROTO_IPV6: "IPv6", IPPROTO_GRE: "GRE", IPPROTO_ESP: "ESP",
                     IPPROTO_AH: "AH", IPPROTO_ICMPV6: "ICMP6", IPPROTO_SCTP: "SCTP",
                     IPPROTO_UDPLITE: "UDPLite"}

# --- header sizes and fields -----------------------------------------------------------------
IPV4_MIN_HLEN = 20
IPV4_FLAG_MF = 0x2000
IPV4_FRAG_OFFSET = 0x1FFF
IPV6_HLEN = 40
IPV6_FRAG_OFFSET = 0xFFF8
IPV6_FRAGMENT_HLEN = 8
IPV6_EXTENSION_HEADERS = (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS)
TCP_MIN_HLEN = 20
UDP_HLEN = 8
ICMP_HLEN = 8
ICMPV6_HLEN = 8
IGMP_HLEN = 8
DCCP_HLEN = 16
SCTP_HLEN = 12
ARP_HLEN = 8

TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "U": 0x20, "E": 0x40, "W": 0x80}
"""tcpdump's letters for the TCP flags, by bit; ``.`` is ACK (0x10)."""
TCP_FLAG_ACK = 0x10

ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ARPOP_RREQUEST = 3
ARPOP_RREPLY = 4

# --- if_arp.h: device types (skb->dev->type, SKF_AD_HATYPE) ------------------------------------
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE

# --- pcap ---------------------------------------------------------------------------------------
PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D
PCAP_VERSION = (2, 4)
PCAP_HEADER_SIZE = 24
PCAP_RECORD_HEADER_SIZE = 16

# --- pcapng ---------------------------------------------------------------------------------------
PCAPNG_SHB = 0x0A0D0D0A
"""Section Header Block type (also the file's first four bytes)."""
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_IDB = 0x00000001
PCAPNG_PB = 0x00000002
"""The obsolete Packet Block."""
PCAPNG_SPB = 0x00000003
PCAPNG_NRB = 0x00000004
PCAPNG_ISB = 0x00000005
PCAPNG_EPB = 0x00000006
PCAPNG_VERSION = (1, 0)
PCAPNG_OPT_ENDOFOPT = 0
PCAPNG_OPT_COMMENT = 1
PCAPNG_SHB_USERAPPL = 4
PCAPNG_IF_NAME = 2
PCAPNG_IF_TSRESOL = 9
PCAPNG_SECTION_LENGTH_UNKNOWN = 0xFFFFFFFFFFFFFFFF

# --- link types (pcap header "network", pcapng IDB LinkType) ----------------------------------------
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPES = {"en10mb": LINKTYPE_ETHERNET, "ethernet": LINKTYPE_ETHERNET, "raw": LINKTYPE_RAW,
             "sll": LINKTYPE_LINUX_SLL, "linux_sll": LINKTYPE_LINUX_SLL,
             "null": LINKTYPE_NULL, "ipv4": LINKTYPE_IPV4, "ipv6": LINKTYPE_IPV6,
             "sll2": LINKTYPE_LINUX_SLL2}
LINKTYPE_NAMES = {LINKTYPE_ETHERNET: "EN10MB", LINKTYPE_RAW: "RAW",
                  LINKTYPE_LINUX_SLL: "LINUX_SLL", LINKTYPE_NULL: "NULL",
                  LINKTYPE_IPV4: "IPV4", LINKTYPE_IPV6: "IPV6",
                  LINKTYPE_LINUX_SLL2: "LINUX_SLL2"}
LINUX_SLL_HLEN = 16
LINUX_SLL2_HLEN = 20
DEFAULT_SNAPLEN = 262144
"""tcpdump's default snapshot length."""
MAX_SNAPLEN = 262144
"""The largest snapshot length tcpdump accepts (its MAXIMUM_SNAPLEN)."""
