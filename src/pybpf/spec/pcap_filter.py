"""The packet-format facts the pcap filter language speaks of: header
offsets, EtherTypes and LLC SAPs by name, IP protocol numbers of the
protocol keywords, the named header fields and flag values
(``tcpflags``, ``tcp-syn``, ``icmptype``, ``icmp-echo``...), and the
geometry of the link types a filter is compiled for.

From the pcap-filter(7) manual page, RFC 791 (IPv4), RFC 8200 (IPv6),
RFC 826 (ARP), RFC 3032 (MPLS), IEEE 802.1Q, RFC 792 and RFC 4443 (ICMP
and ICMPv6 types), RFC 9293 (TCP flags) and the tcpdump.org link-type
registry.
"""

from __future__ import annotations

from .packets import DEFAULT_SNAPLEN as DEFAULT_SNAPLEN
from .packets import (
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_MPLS_UC,
    ETH_P_QINQ1,
    ETH_P_RARP,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
)

# --- EtherTypes and the 802.3 length field ---------------------------------------------
ETHERMTU = 1500
"""An Ethernet type field at most this large is a length: an 802.3 frame
whose payload starts with an 802.2 LLC header."""

ETHERTYPE_DECNET = 0x6003
ETHERTYPE_MOPDL = 0x6001
ETHERTYPE_MOPRC = 0x6002
ETHERTYPE_LAT = 0x6004
ETHERTYPE_SCA = 0x6007
ETHERTYPE_LOOPBACK = 0x9000
ETHERTYPE_ATALK = 0x809B
ETHERTYPE_AARP = 0x80F3

ETHER_PROTO_NAMES = {
    "ip": ETH_P_IP, "ip6": ETH_P_IPV6, "arp": ETH_P_ARP, "rarp": ETH_P_RARP,
    "decnet": ETHERTYPE_DECNET, "lat": ETHERTYPE_LAT, "sca": ETHERTYPE_SCA,
    "mopdl": ETHERTYPE_MOPDL, "moprc": ETHERTYPE_MOPRC, "loopback": ETHERTYPE_LOOPBACK,
    "atalk": ETHERTYPE_ATALK, "aarp": ETHERTYPE_AARP,
}
"""``ether proto \\NAME``: the EtherTypes known by name."""

LLCSAP_IP = 0x06
LLCSAP_ISONS = 0xFE
LLCSAP_NETBEUI = 0xF0
LLCSAP_8021D = 0x42
LLCSAP_IPX = 0xE0
LLC_SAP_PAIRS = (LLCSAP_IP, LLCSAP_ISONS, LLCSAP_NETBEUI)
"""SAPs matched on both DSAP and SSAP (the others on the DSAP alone)."""
LLC_NAMES = {"iso": LLCSAP_ISONS, "stp": LLCSAP_8021D, "ipx": LLCSAP_IPX,
             "netbeui": LLCSAP_NETBEUI}
"""``ether proto \\NAME``: the LLC SAPs known by name."""

VLAN_TPIDS = (ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ1)
"""The tag protocol identifiers ``vlan`` accepts, in the order it tests them."""
VLAN_TAG_LEN = 4
VLAN_VID_MASK = 0x0FFF
VLAN_VID_MAX = 4095

ETHERTYPE_MPLS = ETH_P_MPLS_UC
MPLS_LABEL_LEN = 4
MPLS_LABEL_SHIFT = 12
MPLS_LABEL_MASK = 0xFFFFF000
MPLS_LABEL_MAX = 0xFFFFF
MPLS_BOS_BYTE = 2
"""The byte of a label stack entry holding the bottom-of-stack bit (bit 0)."""
MPLS_BOS_BIT = 0x01

IP_VERSION_MASK = 0xF0
IP_VERSION_4 = 0x40
IP_VERSION_6 = 0x60
"""The high nibble of the first byte of an IP header, for IPv4 and IPv6."""

# --- Ethernet header ----------------------------------------------------------------------
ETHER_DST = 0
ETHER_SRC = 6
ETHER_ADDR_LEN = 6
ETHER_TYPE = 12
ETHER_HDR_LEN = 14
LLC_SAP_PAIR_SHIFT = 8
"""An LLC SAP ``s`` tested as DSAP and SSAP together: the halfword ``s << 8 | s``."""

# --- Linux cooked capture (SLL) ------------------------------------------------------------
SLL_PROTOCOL = 14
SLL_HDR_LEN = 16
LINUX_SLL_P_802_2 = 0x0004
"""The SLL protocol value of frames carrying an 802.2 LLC header."""
SLL_PACKET_TYPE = 0
LINUX_SLL_OUTGOING = 4
"""The SLL packet type of a packet this host sent (``outbound``)."""
LINUX_SLL_P_802_3 = 0x0001
"""The SLL protocol value of raw 802.3 frames (Novell's IPX without LLC)."""

# --- IPX and AppleTalk (their several Ethernet encapsulations) -------------------------------
ETHERTYPE_IPX = 0x8137
LLCSAP_SNAP = 0xAA
LLC_UI = 0x03
OUI_ENCAP_ETHER = 0x000000
OUI_APPLETALK = 0x080007
IPX_RAW_8023 = 0xFFFF
"""The first halfword of a "raw 802.3" IPX frame (the IPX checksum, always 0xffff)."""

# --- IPv4 ------------------------------------------------------------------------------------
IP_HL_BYTE = 0
IP_TOTAL_LENGTH = 2
IP_FRAG_OFF = 6
IP_OFFMASK = 0x1FFF
IP_PROTOCOL = 9
IP_SRC = 12
IP_DST = 16
IP_ADDR_LEN = 4
IP_MULTICAST_FIRST = 224
"""``ip multicast``: the first byte of a class D destination is at least this."""

# --- IPv6 ------------------------------------------------------------------------------------
IP6_NEXT_HEADER = 6
IP6_SRC = 8
IP6_DST = 24
IP6_ADDR_LEN = 16
IP6_HDR_LEN = 40
IP6_MULTICAST_FIRST = 0xFF
"""``ip6 multicast``: the first byte of a multicast destination."""
IP6_EXT_LEN_BYTE = 1
"""The length byte of an extension header, in 8-byte units beyond the first 8."""
IP6_EXT_UNIT = 8
AH_LEN_UNIT = 4
AH_LEN_BIAS = 2
"""An AH header is ``(length byte + 2) * 4`` bytes long."""

# --- ARP and RARP --------------------------------------------------------------------------
ARP_SPA = 14
ARP_TPA = 24
"""Where the sender and target protocol addresses lie in an Ethernet/IPv4 ARP packet."""

# --- transport headers ------------------------------------------------------------------------
PORT_SRC = 0
PORT_DST = 2
PORT_MAX = 65535
TCP_FLAGS = 13

# --- IP protocol numbers of the keywords ------------------------------------------------------
IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_TCP = 6
IPPROTO_IGRP = 9
IPPROTO_UDP = 17
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_PIM = 103
IPPROTO_VRRP = 112
IPPROTO_CARP = 112
IPPROTO_SCTP = 132

PORT_PROTOCOLS = (IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP)
"""The transport protocols ``port`` and ``portrange`` look at, in the
order they are tested."""
PROTOCHAIN_IPV6_EXTENSIONS = (IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING,
                              IPPROTO_FRAGMENT)
"""The IPv6 extension headers ``protochain`` walks over (besides AH)."""

# --- named header fields and values -----------------------------------------------------------
FIELD_NAMES = {"icmptype": 0, "icmpcode": 1, "icmp6type": 0, "icmp6code": 1, "tcpflags": 13}
"""Header field offsets known by name (``tcp[tcpflags]``)."""

TCP_FLAG_NAMES = {"tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
                  "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80}

ICMP_TYPE_NAMES = {
    "icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4, "icmp-redirect": 5,
    "icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10, "icmp-timxceed": 11,
    "icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14, "icmp-ireq": 15,
    "icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
}

ICMP6_TYPE_NAMES = {
    "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2, "icmp6-timeexceeded": 3,
    "icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
    "icmp6-multicastlistenerquery": 130, "icmp6-multicastlistenerreportv1": 131,
    "icmp6-multicastlistenerdone": 132, "icmp6-routersolicit": 133,
    "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135, "icmp6-neighboradvert": 136,
    "icmp6-redirect": 137, "icmp6-routerrenum": 138, "icmp6-nodeinformationquery": 139,
    "icmp6-nodeinformationresponse": 140, "icmp6-ineighbordiscoverysolicit": 141,
    "icmp6-ineighbordiscoveryadvert": 142, "icmp6-multicastlistenerreportv2": 143,
    "icmp6-homeagentdiscoveryrequest": 144, "icmp6-homeagentdiscoveryreply": 145,
    "icmp6-mobileprefixsolicit": 146, "icmp6-mobileprefixadvert": 147,
    "icmp6-certpathsolicit": 148, "icmp6-certpathadvert": 149,
    "icmp6-multicastrouteradvert": 151, "icmp6-multicastroutersolicit": 152,
    "icmp6-multicastrouterterm": 153,
}

NAMED_NUMBERS = {**FIELD_NAMES, **TCP_FLAG_NAMES, **ICMP_TYPE_NAMES, **ICMP6_TYPE_NAMES}
"""Every name the filter language reads as a number."""

# --- link types -------------------------------------------------------------------------------
LINKTYPE_BY_NAME = {"en10mb": LINKTYPE_ETHERNET, "ethernet": LINKTYPE_ETHERNET,
                    "raw": LINKTYPE_RAW, "sll": LINKTYPE_LINUX_SLL,
                    "linux_sll": LINKTYPE_LINUX_SLL}
"""The link types filters compile for, by the names ``--linktype`` takes."""
LINKTYPE_DESCRIPTIONS = {LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "Raw IP",
                         LINKTYPE_LINUX_SLL: "Linux cooked v1"}
