"""One-line packet summaries in the manner of ``tcpdump -n -q``: the
protocol, addresses and ports, TCP flags, ICMP types, ARP operations,
VLAN tags and lengths, for Ethernet, raw IP and Linux cooked frames.

:func:`summarize` never raises on malformed input: what it cannot read
it reports as truncated or by its EtherType."""

from __future__ import annotations

import ipaddress
import time

from ..spec import packets as P
from ..spec import pcap_filter as F
from ..spec.net import ETH_HLEN

TCP_FLAG_LETTERS = tuple((F.TCP_FLAG_NAMES[f"tcp-{name}"], letter) for name, letter in (
    ("fin", "F"), ("syn", "S"), ("rst", "R"), ("push", "P"), ("urg", "U"), ("ece", "E"),
    ("cwr", "W")))
TCP_ACK = F.TCP_FLAG_NAMES["tcp-ack"]
ICMP_NAMES = {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request",
              11: "time exceeded"}
ICMP6_NAMES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded",
               128: "echo request", 129: "echo reply", 133: "router solicitation",
               134: "router advertisement", 135: "neighbor solicitation",
               136: "neighbor advertisement", 143: "multicast listener report v2"}


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 2], "big")


def mac_text(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in raw)


def timestamp_text(timestamp_ns: int) -> str:
    """``HH:MM:SS.uuuuuu`` in local time, as tcpdump prints it."""
    seconds, rest = divmod(timestamp_ns, 1_000_000_000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{rest // 1000:06d}"


def _transport(proto: int, data: bytes, src: str, dst: str, length: int) -> str:
    if proto == P.IPPROTO_TCP and len(data) >= 14:
        flags = data[13]
        letters = "".join(c for bit, c in TCP_FLAG_LETTERS if flags & bit)
        if flags & TCP_ACK:
            letters += "."
        header = (data[12] >> 4) * 4
        return (f"{src}.{_u16(data, 0)} > {dst}.{_u16(data, 2)}: Flags [{letters or 'none'}], "
                f"length {max(0, length - header)}")
    if proto in (P.IPPROTO_UDP, P.IPPROTO_SCTP, P.IPPROTO_UDPLITE) and len(data) >= 4:
        name = P.IP_PROTOCOL_NAMES[proto]
        extra = f", length {max(0, length - P.UDP_HLEN)}" if proto == P.IPPROTO_UDP else ""
        return f"{src}.{_u16(data, 0)} > {dst}.{_u16(data, 2)}: {name}{extra}"
    if proto == P.IPPROTO_ICMP and data:
        return f"{src} > {dst}: ICMP {ICMP_NAMES.get(data[0], f'type {data[0]}')}, " \
            f"length {length}"
    if proto == P.IPPROTO_ICMPV6 and data:
        return f"{src} > {dst}: ICMP6, {ICMP6_NAMES.get(data[0], f'type {data[0]}')}, " \
            f"length {length}"
    name = P.IP_PROTOCOL_NAMES.get(proto, f"ip-proto-{proto}")
    return f"{src} > {dst}: {name}, length {length}"


def _ipv4(data: bytes) -> str:
    if len(data) < P.IPV4_MIN_HLEN:
        return "IP truncated"
    header = (data[0] & 0xF) * 4
    total = _u16(data, 2)
    src = str(ipaddress.IPv4Address(data[12:16]))
    dst = str(ipaddress.IPv4Address(data[16:20]))
    frag = _u16(data, 6)
    if frag & P.IPV4_FRAG_OFFSET:
        return f"IP {src} > {dst}: {P.IP_PROTOCOL_NAMES.get(data[9], data[9])} fragment " \
            f"offset {(frag & P.IPV4_FRAG_OFFSET) * 8}, length {max(0, total - header)}"
    return "IP " + _transport(data[9], data[header:], src, dst, max(0, total - header))


def _ipv6(data: bytes) -> str:
    if len(data) < P.IPV6_HLEN:
        return "IP6 truncated"
    src = str(ipaddress.IPv6Address(data[8:24]))
    dst = str(ipaddress.IPv6Address(data[24:40]))
    proto, at, length = data[6], P.IPV6_HLEN, _u16(data, 4)
    for _ in range(8):
        if proto in P.IPV6_EXTENSION_HEADERS and at + 2 <= len(data):
            size = (data[at + 1] + 1) * 8
        elif proto == P.IPPROTO_FRAGMENT and at + 8 <= len(data):
            offset = _u16(data, at + 2) & P.IPV6_FRAG_OFFSET
            if offset:
                return f"IP6 {src} > {dst}: fragment offset {offset}, length {length}"
            size = P.IPV6_FRAGMENT_HLEN
        elif proto == P.IPPROTO_AH and at + 2 <= len(data):
            size = (data[at + 1] + 2) * 4
        else:
            break
        proto, at, length = data[at], at + size, length - size
    return "IP6 " + _transport(proto, data[at:], src, dst, max(0, length))


def _arp(data: bytes) -> str:
    if len(data) < 28:
        return "ARP truncated"
    op = _u16(data, 6)
    sender, target = ipaddress.IPv4Address(data[14:18]), ipaddress.IPv4Address(data[24:28])
    if op in (P.ARPOP_REQUEST, P.ARPOP_RREQUEST):
        return f"ARP, Request who-has {target} tell {sender}, length {len(data)}"
    if op in (P.ARPOP_REPLY, P.ARPOP_RREPLY):
        return f"ARP, Reply {sender} is-at {mac_text(data[8:14])}, length {len(data)}"
    return f"ARP, op {op}, length {len(data)}"


def network_summary(ethertype: int, data: bytes) -> str:
    """The summary of a network-layer packet of ``ethertype``."""
    tags = []
    while ethertype in P.VLAN_ETHERTYPES and len(data) >= 4:
        tags.append(f"vlan {_u16(data, 0) & F.VLAN_VID_MASK}")
        ethertype, data = _u16(data, 2), data[4:]
    prefix = ", ".join(tags) + ": " if tags else ""
    if ethertype == P.ETH_P_IP:
        return prefix + _ipv4(data)
    if ethertype == P.ETH_P_IPV6:
        return prefix + _ipv6(data)
    if ethertype in (P.ETH_P_ARP, P.ETH_P_RARP):
        return prefix + ("R" if ethertype == P.ETH_P_RARP else "") + _arp(data)
    if ethertype <= F.ETHERMTU:
        return prefix + f"802.3, length {ethertype}"
    return prefix + f"ethertype 0x{ethertype:04x}, length {len(data)}"


def summarize(frame: bytes, linktype: int = P.LINKTYPE_ETHERNET) -> str:
    """A one-line description of ``frame`` of ``linktype``."""
    if linktype == P.LINKTYPE_RAW:
        version = frame[0] >> 4 if frame else 0
        return _ipv4(frame) if version == 4 else _ipv6(frame) if version == 6 else \
            f"raw, length {len(frame)}"
    if linktype == P.LINKTYPE_LINUX_SLL:
        if len(frame) < P.LINUX_SLL_HLEN:
            return f"truncated cooked frame, length {len(frame)}"
        return network_summary(_u16(frame, 14), frame[P.LINUX_SLL_HLEN:])
    if linktype != P.LINKTYPE_ETHERNET:
        return f"link type {linktype}, length {len(frame)}"
    if len(frame) < ETH_HLEN:
        return f"truncated Ethernet frame, length {len(frame)}"
    return network_summary(_u16(frame, 12), frame[ETH_HLEN:])
