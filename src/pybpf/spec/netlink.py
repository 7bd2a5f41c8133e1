"""rtnetlink, tc, XDP and socket-attach ABI facts (``#define``\\ s the kernel's
BTF does not carry).  Each group names the uapi header it comes from.

Struct layouts are given as ``struct`` module formats (native alignment is
never relied on: every format starts with ``=``).
"""

from __future__ import annotations

# --- include/linux/socket.h, include/uapi/linux/netlink.h ---------------------
AF_NETLINK = 16
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
"""Acks carry only the header of the request, not all of it."""
NETLINK_EXT_ACK = 11
"""Errors carry the kernel's message (``NLMSGERR_ATTR_MSG``)."""

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_CAPPED = 0x100
"""In an error message: the request was not echoed back."""
NLM_F_ACK_TLVS = 0x200
"""In an error message: extended-ack attributes follow."""

NLA_F_NESTED = 1 << 15
NLA_F_NET_BYTEORDER = 1 << 14
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2

NLMSGHDR = "=IHHII"
"""``struct nlmsghdr``: len, type, flags, seq, pid (16 bytes)."""
NLATTR = "=HH"
"""``struct nlattr``: len, type (4 bytes, payload padded to 4)."""
NLMSG_ALIGNTO = 4

# --- include/uapi/linux/rtnetlink.h -------------------------------------------
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_GETQDISC = 38
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
RTM_GETTFILTER = 46

IFINFOMSG = "=BxHiII"
"""``struct ifinfomsg``: family, (pad), type, index, flags, change (16 bytes)."""
TCMSG = "=BxxxiIII"
"""``struct tcmsg``: family, (pad), ifindex, handle, parent, info (20 bytes)."""

# --- include/uapi/linux/if_link.h ---------------------------------------------
IFLA_IFNAME = 3
IFLA_XDP = 43
IFLA_XDP_FD = 1
IFLA_XDP_ATTACHED = 2
IFLA_XDP_FLAGS = 3
IFLA_XDP_PROG_ID = 4
IFLA_XDP_DRV_PROG_ID = 5
IFLA_XDP_SKB_PROG_ID = 6
IFLA_XDP_HW_PROG_ID = 7
IFLA_XDP_EXPECTED_FD = 8

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
XDP_MODES = {"generic": XDP_FLAGS_SKB_MODE, "skb": XDP_FLAGS_SKB_MODE,
             "driver": XDP_FLAGS_DRV_MODE, "native": XDP_FLAGS_DRV_MODE,
             "offload": XDP_FLAGS_HW_MODE, "hw": XDP_FLAGS_HW_MODE}
"""XDP attach modes by name (``None`` lets the kernel choose)."""

XDP_ATTACHED_NONE = 0
XDP_ATTACHED_DRV = 1
XDP_ATTACHED_SKB = 2
XDP_ATTACHED_HW = 3

# --- include/uapi/linux/rtnetlink.h, pkt_sched.h: tc ---------------------------
TCA_KIND = 1
TCA_OPTIONS = 2

TC_H_MAJ_MASK = 0xFFFF0000
TC_H_MIN_MASK = 0x0000FFFF
TC_H_UNSPEC = 0
TC_H_ROOT = 0xFFFFFFFF
TC_H_INGRESS = 0xFFFFFFF1
TC_H_CLSACT = TC_H_INGRESS
TC_H_MIN_PRIORITY = 0xFFE0
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3


def tc_handle(major: int, minor: int) -> int:
    """``TC_H_MAKE(major, minor)``: ``major`` already shifted (a handle's top half)."""
    return (major & TC_H_MAJ_MASK) | (minor & TC_H_MIN_MASK)


# --- include/uapi/linux/pkt_cls.h: cls_bpf --------------------------------------
TCA_BPF_ACT = 1
TCA_BPF_POLICE = 2
TCA_BPF_CLASSID = 3
TCA_BPF_OPS_LEN = 4
TCA_BPF_OPS = 5
TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_FLAGS_GEN = 9
TCA_BPF_TAG = 10
TCA_BPF_ID = 11
TCA_BPF_FLAG_ACT_DIRECT = 1 << 0
"""The program's return value is the tc verdict (direct action)."""

TCA_CLS_FLAGS_SKIP_HW = 1 << 0
TCA_CLS_FLAGS_SKIP_SW = 1 << 1

# --- include/uapi/linux/if_ether.h ----------------------------------------------
ETH_P_ALL = 0x0003

# --- include/uapi/asm-generic/socket.h: attaching programs to sockets ----------
SOL_SOCKET = 1
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_ATTACH_BPF = 50
"""setsockopt(SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, 4)."""
SO_DETACH_BPF = SO_DETACH_FILTER
SO_ATTACH_REUSEPORT_EBPF = 52

# --- include/uapi/linux/netfilter.h and bpf.h: netfilter links ------------------
NFPROTO_IPV4 = 2
NFPROTO_IPV6 = 10
NFPROTO_NAMES = {"ipv4": NFPROTO_IPV4, "ip": NFPROTO_IPV4, "ipv6": NFPROTO_IPV6,
                 "ip6": NFPROTO_IPV6}
BPF_F_NETFILTER_IP_DEFRAG = 1 << 0
"""Netfilter link flag: defragment before the program runs."""
SO_DETACH_REUSEPORT_BPF = 68
