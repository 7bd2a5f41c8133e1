"""Classic BPF as the kernel's uapi defines it: ``struct sock_filter``'s
opcode fields, the scratch memory and program limits, the ancillary-load
offsets, and the socket options that attach a classic filter.

From ``include/uapi/linux/filter.h``, ``include/uapi/linux/bpf_common.h``
and ``include/uapi/asm-generic/socket.h``.  The opcode of a classic
instruction is a 16-bit ``code`` whose low byte is built from these fields.
"""

from __future__ import annotations

# Classes, sizes, modes and ALU/JMP operations classic BPF shares with eBPF
# (eBPF's encoding extends the classic one): the same values, defined once.
from ..isa.opcodes import (  # noqa: F401  (re-exported: this module is classic BPF's ABI)
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_W,
    BPF_X,
    BPF_XOR,
)
from .net import SKF_AD_OFF as SKF_AD_OFF
from .net import SKF_LL_OFF as SKF_LL_OFF
from .net import SKF_NET_OFF as SKF_NET_OFF

# --- bpf_common.h: instruction classes (code & 0x07) ----------------------------
BPF_RET = 0x06
BPF_MISC = 0x07

CLASS_MASK = 0x07
CLASS_NAMES = {BPF_LD: "ld", BPF_LDX: "ldx", BPF_ST: "st", BPF_STX: "stx",
               BPF_ALU: "alu", BPF_JMP: "jmp", BPF_RET: "ret", BPF_MISC: "misc"}

# --- load sizes (code & 0x18) -----------------------------------------------------
SIZE_MASK = 0x18
SIZE_BYTES = {BPF_W: 4, BPF_H: 2, BPF_B: 1}

# --- addressing modes (code & 0xe0) -----------------------------------------------
BPF_LEN = 0x80
BPF_MSH = 0xA0
MODE_MASK = 0xE0

# --- ALU and jump operations (code & 0xf0) ----------------------------------------

OP_MASK = 0xF0

# --- operand source (code & 0x08) ---------------------------------------------------
SRC_MASK = 0x08

# --- return value source (code & 0x18) ---------------------------------------------
BPF_A = 0x10
RVAL_MASK = 0x18

# --- BPF_MISC operations (code & 0xf8) ---------------------------------------------
BPF_TAX = 0x00
BPF_TXA = 0x80
MISCOP_MASK = 0xF8

# --- limits -------------------------------------------------------------------------
BPF_MEMWORDS = 16
"""Words of scratch memory M[0..15]."""
BPF_MAXINSNS = 4096
"""The most instructions a classic program may have."""
BPF_MAXINSNS_ULIMIT = 0xFFFF
SOCK_FILTER_SIZE = 8
"""sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k."""
SOCK_FPROG_FORMAT = "HxxxxxxP"
"""struct sock_fprog {unsigned short len; struct sock_filter *filter;} on a
64-bit machine (``struct`` format, native alignment)."""

# --- filter.h: ancillary data, loads at SKF_AD_OFF + these ---------------------------
SKF_AD_PROTOCOL = 0
SKF_AD_PKTTYPE = 4
SKF_AD_IFINDEX = 8
SKF_AD_NLATTR = 12
SKF_AD_NLATTR_NEST = 16
SKF_AD_MARK = 20
SKF_AD_QUEUE = 24
SKF_AD_HATYPE = 28
SKF_AD_RXHASH = 32
SKF_AD_CPU = 36
SKF_AD_ALU_XOR_X = 40
SKF_AD_VLAN_TAG = 44
SKF_AD_VLAN_TAG_PRESENT = 48
SKF_AD_PAY_OFFSET = 52
SKF_AD_RANDOM = 56
SKF_AD_VLAN_TPID = 60
SKF_AD_MAX = 64

ANCILLARY = {
    "protocol": SKF_AD_PROTOCOL,
    "pkttype": SKF_AD_PKTTYPE,
    "ifindex": SKF_AD_IFINDEX,
    "nlattr": SKF_AD_NLATTR,
    "nlattr_nest": SKF_AD_NLATTR_NEST,
    "mark": SKF_AD_MARK,
    "queue": SKF_AD_QUEUE,
    "hatype": SKF_AD_HATYPE,
    "rxhash": SKF_AD_RXHASH,
    "cpu": SKF_AD_CPU,
    "alu_xor_x": SKF_AD_ALU_XOR_X,
    "vlan_tag": SKF_AD_VLAN_TAG,
    "vlan_tag_present": SKF_AD_VLAN_TAG_PRESENT,
    "pay_offset": SKF_AD_PAY_OFFSET,
    "random": SKF_AD_RANDOM,
    "vlan_tpid": SKF_AD_VLAN_TPID,
}
"""Each ancillary load by name (the ``SKF_AD_`` suffix, lower case) -> its
offset from SKF_AD_OFF."""

ANCILLARY_TCPDUMP = {
    SKF_AD_PROTOCOL: "proto", SKF_AD_PKTTYPE: "type", SKF_AD_IFINDEX: "ifidx",
    SKF_AD_NLATTR: "nla", SKF_AD_NLATTR_NEST: "nlan", SKF_AD_MARK: "mark",
    SKF_AD_QUEUE: "queue", SKF_AD_HATYPE: "hatype", SKF_AD_RXHASH: "rxhash",
    SKF_AD_CPU: "cpu", SKF_AD_ALU_XOR_X: "xor_x", SKF_AD_VLAN_TAG: "vlan_tci",
    SKF_AD_VLAN_TAG_PRESENT: "vlanp", SKF_AD_PAY_OFFSET: "poff", SKF_AD_RANDOM: "random",
    SKF_AD_VLAN_TPID: "vlan_tpid",
}
"""The names libpcap's ``bpf_image`` (``tcpdump -d``) prints inside ``[...]``."""

ANCILLARY_BPF_ASM = {
    SKF_AD_PROTOCOL: "proto", SKF_AD_PKTTYPE: "type", SKF_AD_IFINDEX: "ifidx",
    SKF_AD_NLATTR: "nla", SKF_AD_NLATTR_NEST: "nlan", SKF_AD_MARK: "mark",
    SKF_AD_QUEUE: "queue", SKF_AD_HATYPE: "hatype", SKF_AD_RXHASH: "rxhash",
    SKF_AD_CPU: "cpu", SKF_AD_VLAN_TAG: "vlan_tci", SKF_AD_VLAN_TAG_PRESENT: "vlan_avail",
    SKF_AD_PAY_OFFSET: "poff", SKF_AD_RANDOM: "rand", SKF_AD_VLAN_TPID: "vlan_tpid",
}
"""The extension keywords of the kernel's ``bpf_asm`` (``ld #proto``...);
ALU_XOR_X has none there."""

# --- asm-generic/socket.h: attaching a classic filter --------------------------------
SOL_SOCKET = 1
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_GET_FILTER = SO_ATTACH_FILTER
SO_LOCK_FILTER = 44

# --- if_packet.h / if_ether.h: packet sockets ------------------------------------------
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4
"""skb->pkt_type of a frame this host sent (seen by packet sockets)."""
