"""sockfilter: a socket filter that keeps only UDP datagrams to one port
(DNS by default) and drops everything else — examples/sockfilter.bpf.c,
in Python.

Attach to a socket (a packet socket sees every frame on an interface).
Knob: port   the UDP destination port to keep.
"""

from pybpf.lang import (
    Knob,
    SkBuff,
    Struct,
    function,
    htons,
    ntohs,
    ptr,
    sizeof,
    socket_filter,
    u8,
    u16,
    u32,
)
from pybpf.lang.helpers import bpf_skb_load_bytes_relative
from pybpf.spec import constant
from pybpf.spec.net import ETH_P_IP
from pybpf.spec.packets import IPPROTO_UDP

LICENSE = "GPL"
BPF_HDR_START_NET = constant("BPF_HDR_START_NET")

port = Knob(u16, 53)


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


class UDPHdr(Struct):
    source: u16
    dest: u16
    len: u16
    check: u16


@function
def udp_dport(skb: ptr[SkBuff]) -> u16:
    """The UDP destination port of an IPv4 packet, or 0.  Reads relative to
    the network header, so it works whether the socket sees frames from
    their Ethernet header (packet sockets) or from the IP header (test runs)."""
    if skb.protocol != htons(ETH_P_IP):
        return 0
    ip = IPHdr()
    if bpf_skb_load_bytes_relative(skb, 0, ip, sizeof(ip), BPF_HDR_START_NET):
        return 0
    if ip.protocol != IPPROTO_UDP or (ip.frag_off & htons(0x3FFF)) != 0:
        return 0
    udp = UDPHdr()
    if bpf_skb_load_bytes_relative(skb, (ip.ver_ihl & 0x0F) * 4, udp, sizeof(udp),
                                   BPF_HDR_START_NET):
        return 0
    return ntohs(udp.dest)


@socket_filter
def keep_dns(skb) -> int:
    # the return value is how many bytes to keep: all of it, or nothing
    return skb.len if udp_dport(skb) == port else 0
