"""Frames for the classic BPF tests: Ethernet, VLAN and QinQ tags, IPv4
(options, fragments), IPv6 (extension headers), ARP, TCP, UDP, ICMP,
ICMPv6, SCTP, and netlink attribute runs; a hypothesis strategy over them."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
BROADCAST = b"\xff" * 6
MULTICAST = bytes.fromhex("01005e000001")
ZERO_MAC = bytes(6)


def checksum(data: bytes) -> int:
    """The Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(ethertype: int, payload: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    """An Ethernet frame."""
    return dst + src + ethertype.to_bytes(2, "big") + payload


def vlan(ethertype: int, payload: bytes, vid: int = 100, pcp: int = 0,
         tpid: int = 0x8100, dst: bytes = MAC_B) -> bytes:
    """A frame with one VLAN tag."""
    return ethernet(tpid, struct.pack("!HH", (pcp << 13) | vid, ethertype) + payload, dst)


def ipv4(proto: int, payload: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2", *,
         options: bytes = b"", frag_offset: int = 0, more_fragments: bool = False,
         ttl: int = 64, ident: int = 0x1234) -> bytes:
    """An IPv4 packet (options padded to a multiple of 4 bytes)."""
    options += b"\0" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    flags = (0x2000 if more_fragments else 0) | (frag_offset // 8)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(payload), ident, flags,
                         ttl, proto, 0, bytes(map(int, src.split("."))),
                         bytes(map(int, dst.split("."))))
    header += options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ip6addr(text: str) -> bytes:
    """An IPv6 address's 16 bytes."""
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def ipv6(next_header: int, payload: bytes, src: str = "fe80::1", dst: str = "fe80::2",
         hop_limit: int = 64) -> bytes:
    """An IPv6 packet."""
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, hop_limit,
                       ip6addr(src), ip6addr(dst)) + payload


def ipv6_ext(next_header: int, body: bytes = b"\0" * 6) -> bytes:
    """A hop-by-hop, routing or destination-options extension header."""
    body += b"\0" * (-(len(body) + 2) % 8)
    return bytes([next_header, (len(body) + 2) // 8 - 1]) + body


def ipv6_fragment(next_header: int, offset: int = 0, more: bool = False) -> bytes:
    """An IPv6 fragment header."""
    return struct.pack("!BBHI", next_header, 0, (offset // 8) << 3 | int(more), 0xABCD)


def tcp(sport: int = 1234, dport: int = 80, flags: int = 0x02, payload: bytes = b"",
        options: bytes = b"", seq: int = 1000, ack: int = 0) -> bytes:
    """A TCP segment (checksum left 0)."""
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, 65535, 0, 0) \
        + options + payload


def udp(sport: int = 1234, dport: int = 53, payload: bytes = b"") -> bytes:
    """A UDP datagram (checksum left 0)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(kind: int = 8, code: int = 0, payload: bytes = b"ping") -> bytes:
    """An ICMP message."""
    body = struct.pack("!BBHHH", kind, code, 0, 1, 1) + payload
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def icmp6(kind: int = 128, code: int = 0, payload: bytes = b"ping") -> bytes:
    """An ICMPv6 message (checksum left 0)."""
    return struct.pack("!BBHHH", kind, code, 0, 1, 1) + payload


def sctp(sport: int = 5000, dport: int = 6000, payload: bytes = b"") -> bytes:
    """An SCTP packet with a DATA chunk."""
    chunk = struct.pack("!BBH", 0, 3, 4 + len(payload)) + payload
    return struct.pack("!HHII", sport, dport, 1, 0) + chunk


def arp(op: int = 1, sender: str = "10.0.0.1", target: str = "10.0.0.2",
        ethertype: int = 0x0806, dst: bytes = BROADCAST) -> bytes:
    """An ARP (or, with ethertype 0x8035, RARP) frame."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, MAC_A,
                       bytes(map(int, sender.split("."))), bytes(6),
                       bytes(map(int, target.split("."))))
    return ethernet(ethertype, body, dst)


def nlattrs(*attrs: tuple[int, bytes]) -> bytes:
    """A run of netlink attributes (native byte order, 4-byte aligned)."""
    out = b""
    for kind, payload in attrs:
        item = struct.pack("=HH", 4 + len(payload), kind) + payload
        out += item + b"\0" * (-len(item) % 4)
    return out


def sample_frames() -> dict[str, bytes]:
    """One frame of every kind the tests use, by name."""
    tcp_v4 = ipv4(6, tcp(payload=b"GET / HTTP/1.0\r\n\r\n"))
    return {
        "ipv4-tcp-syn": ethernet(0x0800, tcp_v4),
        "ipv4-tcp-ack-data": ethernet(0x0800, ipv4(6, tcp(40000, 443, 0x18, b"x" * 40,
                                                         ack=77))),
        "ipv4-tcp-options": ethernet(0x0800, ipv4(6, tcp(22, 5555, 0x12,
                                                        options=b"\x02\x04\x05\xb4\x01\x01"))),
        "ipv4-udp-dns": ethernet(0x0800, ipv4(17, udp(5353, 53, b"\x12\x34" + bytes(10)))),
        "ipv4-icmp-echo": ethernet(0x0800, ipv4(1, icmp(8)), dst=ZERO_MAC),
        "ipv4-icmp-reply": ethernet(0x0800, ipv4(1, icmp(0), "10.0.0.2", "10.0.0.1")),
        "ipv4-options": ethernet(0x0800, ipv4(17, udp(), options=b"\x94\x04\0\0")),
        "ipv4-first-fragment": ethernet(0x0800, ipv4(17, udp(payload=b"a" * 32),
                                                     more_fragments=True)),
        "ipv4-later-fragment": ethernet(0x0800, ipv4(17, b"b" * 24, frag_offset=40)),
        "ipv4-sctp": ethernet(0x0800, ipv4(132, sctp(payload=b"data"))),
        "ipv4-igmp": ethernet(0x0800, ipv4(2, bytes([0x16, 0, 0, 0, 224, 0, 0, 5])),
                              dst=MULTICAST),
        "ipv4-broadcast": ethernet(0x0800, ipv4(17, udp(68, 67), "0.0.0.0", "255.255.255.255"),
                                   dst=BROADCAST),
        "ipv4-in-ipv4": ethernet(0x0800, ipv4(4, ipv4(6, tcp()))),
        "ipv6-udp": ethernet(0x86DD, ipv6(17, udp(546, 547))),
        "ipv6-tcp": ethernet(0x86DD, ipv6(6, tcp(dport=8080))),
        "ipv6-icmp6": ethernet(0x86DD, ipv6(58, icmp6(135)), dst=bytes.fromhex("333300000001")),
        "ipv6-hopopts-udp": ethernet(0x86DD, ipv6(0, ipv6_ext(17) + udp())),
        "ipv6-routing-dstopts-tcp": ethernet(0x86DD, ipv6(43, ipv6_ext(60) + ipv6_ext(6)
                                                          + tcp())),
        "ipv6-fragment": ethernet(0x86DD, ipv6(44, ipv6_fragment(17, 0, True) + udp())),
        "ipv6-sctp": ethernet(0x86DD, ipv6(132, sctp())),
        "arp-request": arp(),
        "arp-reply": arp(2, "10.0.0.2", "10.0.0.1", dst=MAC_A),
        "rarp": arp(3, ethertype=0x8035),
        "vlan-ipv4-udp": vlan(0x0800, ipv4(17, udp())),
        "vlan-ipv6-tcp": vlan(0x86DD, ipv6(6, tcp()), vid=7, pcp=5),
        "qinq-ipv4": ethernet(0x88A8, struct.pack("!HH", 200, 0x8100)
                              + struct.pack("!HH", 100, 0x0800) + ipv4(6, tcp())),
        "netlink-ish": ethernet(0x88B5, nlattrs((1, b"abcd"), (2, nlattrs((7, b"zz"))),
                                                (3, b""))),
        "short-ip": ethernet(0x0800, b"\x45\0\0"),
        "bare-header": ethernet(0x88B5, b""),
        "llc": ethernet(0x0026, b"\xaa\xaa\x03\0\0\0\x08\0"),
    }


SAMPLES = sample_frames()


@st.composite
def frames(draw, min_size: int = 14) -> bytes:
    """A frame: a sample, maybe truncated or with bytes changed, or random bytes."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(min_size=min_size, max_size=120))
    frame = bytearray(draw(st.sampled_from(sorted(SAMPLES.values()))))
    if draw(st.booleans()):
        cut = draw(st.integers(min_size, max(min_size, len(frame))))
        frame = frame[:cut]
    for _ in range(draw(st.integers(0, 2))):
        if len(frame) > 14:
            at = draw(st.integers(14, len(frame) - 1))
            frame[at] = draw(st.integers(0, 255))
    return bytes(frame)
