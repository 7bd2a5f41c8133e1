"""tc_classify: a tc classifier that drops traffic to one port and marks
the rest — examples/tc_classify.bpf.c, in Python.

Knobs:
  blocked_port   TCP/UDP destination port to drop (0: none)
  mark           skb->mark given to every packet let through
Globals: passed / blocked count what it did (read them from .bss).
"""

from pybpf.lang import (
    Global,
    Knob,
    Struct,
    function,
    htons,
    inline,
    ntohs,
    ptr,
    sizeof,
    tc,
    u8,
    u16,
    u32,
    u64,
)
from pybpf.spec.net import ETH_P_IP, TC_ACT_OK, TC_ACT_SHOT
from pybpf.spec.packets import IPPROTO_TCP, IPPROTO_UDP

LICENSE = "GPL"

blocked_port = Knob(u16, 0)
mark = Knob(u32, 0)
passed = Global(u64)
blocked = Global(u64)


class Flow(Struct):
    proto: u8           # IPPROTO_* (0: not IPv4)
    dport: u16          # destination port, host order (0: no ports)
    saddr: u32          # source address, network order


class EthHdr(Struct):
    dest: u8[6]
    source: u8[6]
    proto: u16


class IPHdr(Struct):
    ver_ihl: u8
    tos: u8
    tot_len: u16
    id: u16
    frag_off: u16
    ttl: u8
    protocol: u8
    check: u16
    saddr: u32
    daddr: u32


class Ports(Struct):
    source: u16
    dest: u16


@inline
def parse_flow(data: ptr[u8], data_end: ptr[u8], f: ptr[Flow]) -> int:
    """Parse [data, data_end) into f; 0 when the packet is too short."""
    f.proto = 0
    f.dport = 0
    f.saddr = 0
    if data + sizeof(EthHdr) > data_end:
        return 0
    eth = ptr[EthHdr](data)
    if eth.proto != htons(ETH_P_IP):
        return 1
    ip = ptr[IPHdr](data + sizeof(EthHdr))
    if data + sizeof(EthHdr) + sizeof(IPHdr) > data_end:
        return 0
    f.proto = ip.protocol
    f.saddr = ip.saddr
    if ip.ver_ihl & 0x0F != 5:          # options: keep it simple, no ports
        return 1
    if ip.protocol in (IPPROTO_UDP, IPPROTO_TCP):
        l4 = data + sizeof(EthHdr) + sizeof(IPHdr)
        if l4 + 8 > data_end:
            return 0
        f.dport = ntohs(ptr[Ports](l4).dest)
    return 1


@function
def verdict(proto: u8, dport: u16) -> int:
    """TC_ACT_SHOT or TC_ACT_OK for one flow."""
    if blocked_port != 0 and dport == blocked_port and proto in (IPPROTO_TCP, IPPROTO_UDP):
        return TC_ACT_SHOT
    return TC_ACT_OK


@tc
def classify(skb) -> int:
    global passed, blocked
    f = Flow()
    if not parse_flow(skb.data, skb.data_end, f):
        return TC_ACT_OK
    if verdict(f.proto, f.dport) == TC_ACT_SHOT:
        blocked += 1
        return TC_ACT_SHOT
    if mark != 0:
        skb.mark = mark
    passed += 1
    return TC_ACT_OK
