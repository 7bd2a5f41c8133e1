"""Reading packet headers: the payload offset ``SKF_AD_PAY_OFFSET``
reports, and one-line summaries of frames in the manner of tcpdump.

:func:`payload_offset` follows the kernel's ``skb_get_poff``: the flow
dissector's transport offset plus the transport header's length.  It
handles what the basic dissector sees on ordinary traffic — VLAN tags
still in the data, IPv4 (fragments stop at the network header), IPv6 with
hop-by-hop, routing, destination-options and fragment headers, IP-in-IP
and IPv6-in-IP, ARP; other protocols (MPLS, GRE, PPPoE...) give 0, as a
dissection failure does in the kernel.
"""

from __future__ import annotations

from ..spec import packets as P

_TRANSPORT_LENGTHS = {P.IPPROTO_UDP: P.UDP_HLEN, P.IPPROTO_UDPLITE: P.UDP_HLEN,
                      P.IPPROTO_ICMP: P.ICMP_HLEN, P.IPPROTO_ICMPV6: P.ICMPV6_HLEN,
                      P.IPPROTO_IGMP: P.IGMP_HLEN, P.IPPROTO_DCCP: P.DCCP_HLEN,
                      P.IPPROTO_SCTP: P.SCTP_HLEN}


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "big")


def _dissect(data: bytes, nhoff: int, proto: int) -> tuple[int, int, bool, bool] | None:
    """(transport offset, ip protocol, is a fragment, is the first
    fragment) from the network header at ``nhoff`` of EtherType ``proto``;
    None where the dissector gives up."""
    ip_proto = 0
    for _ in range(16):  # bounded: encapsulations and VLAN tags
        if proto in P.VLAN_ETHERTYPES:
            if nhoff + P.VLAN_HLEN > len(data):
                return None
            proto = _u16(data, nhoff + 2)
            nhoff += P.VLAN_HLEN
            continue
        if proto in (P.ETH_P_ARP, P.ETH_P_RARP):
            return nhoff, 0, False, False
        if proto == P.ETH_P_IP:
            if nhoff + P.IPV4_MIN_HLEN > len(data):
                return None
            ihl = data[nhoff] & 0xF
            if ihl < 5:
                return None
            ip_proto = data[nhoff + 9]
            frag = _u16(data, nhoff + 6)
            nhoff += ihl * 4
            if frag & (P.IPV4_FLAG_MF | P.IPV4_FRAG_OFFSET):
                return nhoff, ip_proto, True, not frag & P.IPV4_FRAG_OFFSET
        elif proto == P.ETH_P_IPV6:
            if nhoff + P.IPV6_HLEN > len(data):
                return None
            ip_proto = data[nhoff + 6]
            nhoff += P.IPV6_HLEN
            while ip_proto in P.IPV6_EXTENSION_HEADERS or ip_proto == P.IPPROTO_FRAGMENT:
                if ip_proto == P.IPPROTO_FRAGMENT:
                    if nhoff + P.IPV6_FRAGMENT_HLEN > len(data):
                        return None
                    ip_proto = data[nhoff]
                    first = not _u16(data, nhoff + 2) & P.IPV6_FRAG_OFFSET
                    nhoff += P.IPV6_FRAGMENT_HLEN
                    return nhoff, ip_proto, True, first
                if nhoff + 2 > len(data):
                    return None
                ip_proto, nhoff = data[nhoff], nhoff + ((data[nhoff + 1] + 1) << 3)
        else:
            return None
        if ip_proto == P.IPPROTO_IPIP:
            proto = P.ETH_P_IP
            continue
        if ip_proto == P.IPPROTO_IPV6:
            proto = P.ETH_P_IPV6
            continue
        return nhoff, ip_proto, False, False
    return None


def payload_offset(buffer: bytes, data: int, network: int, protocol: int) -> int:
    """``SKF_AD_PAY_OFFSET``: where the payload starts, counted from the
    data start ``data`` of ``buffer``, for a packet whose network header
    is at ``network`` and whose skb->protocol is ``protocol``; 0 when the
    packet cannot be dissected."""
    view = bytes(buffer[data:])
    result = _dissect(view, network - data, protocol)
    if result is None:
        return 0
    thoff, ip_proto, fragment, first = result
    poff = min(thoff, len(view))
    if fragment and not first:
        return poff
    if ip_proto == P.IPPROTO_TCP:
        if poff + 13 > len(view):
            return poff
        return poff + max(P.TCP_MIN_HLEN, (view[poff + 12] >> 4) * 4)
    return poff + _TRANSPORT_LENGTHS.get(ip_proto, 0)
