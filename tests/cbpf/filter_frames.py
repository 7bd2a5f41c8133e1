"""Frames for the pcap filter tests: a packet builder and a capture's worth
of Ethernet frames (VLAN and QinQ tags, MPLS, IPv4 with options and
fragments, IPv6 with extension headers, ARP, RARP, TCP, UDP, ICMP,
ICMPv6, SCTP, IGMP, 802.3/LLC, broadcast and multicast, truncated frames),
and the same traffic as raw IP and Linux cooked (SLL) frames.

``python -m tests.cbpf.filter_frames`` (from the repository root) rewrites
the capture files under tests/data/ from this builder.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = {"en10mb": DATA / "filters-en10mb.pcap", "raw": DATA / "filters-raw.pcap",
            "sll": DATA / "filters-sll.pcap"}
LINKTYPES = {"en10mb": 1, "raw": 101, "sll": 113}
SNAPLEN = 262144

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_GW = bytes.fromhex("00163e112233")
BROADCAST = b"\xff" * 6
MCAST4 = bytes.fromhex("01005e000001")
MCAST6 = bytes.fromhex("333300000001")


def checksum(data: bytes) -> int:
    """The Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip4(text: str) -> bytes:
    """An IPv4 address's 4 bytes."""
    return ipaddress.IPv4Address(text).packed


def ip6(text: str) -> bytes:
    """An IPv6 address's 16 bytes."""
    return ipaddress.IPv6Address(text).packed


def ethernet(ethertype: int, payload: bytes, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    """An Ethernet II frame."""
    return dst + src + ethertype.to_bytes(2, "big") + payload


def tag(tpid: int, vid: int, inner_type: int, pcp: int = 0) -> bytes:
    """One 802.1Q/802.1ad tag followed by the inner EtherType."""
    return struct.pack("!HHH", tpid, pcp << 13 | vid, inner_type)


def vlan_frame(tags: list[tuple[int, int]], ethertype: int, payload: bytes,
               dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    """An Ethernet frame with VLAN tags ``[(tpid, vid), ...]``, outermost first."""
    header = b""
    for i, (tpid, vid) in enumerate(tags):
        inner = tags[i + 1][0] if i + 1 < len(tags) else ethertype
        header += struct.pack("!H", tpid) if i == 0 else b""
        header += struct.pack("!HH", vid, inner)
    return dst + src + header + payload


def mpls_frame(labels: list[int], payload: bytes, ttl: int = 64) -> bytes:
    """An Ethernet frame with an MPLS label stack (last label bottom of stack)."""
    stack = b""
    for i, label in enumerate(labels):
        bos = 1 if i == len(labels) - 1 else 0
        stack += struct.pack("!I", label << 12 | bos << 8 | ttl)
    return ethernet(0x8847, stack + payload)


def llc_frame(dsap: int, ssap: int, payload: bytes = b"\x03hello",
              dst: bytes = MAC_B) -> bytes:
    """An 802.3 frame (a length field) with an LLC header."""
    body = bytes([dsap, ssap]) + payload
    return dst + MAC_A + len(body).to_bytes(2, "big") + body


def ipv4(proto: int, payload: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2", *,
         options: bytes = b"", frag_offset: int = 0, more_fragments: bool = False,
         dont_fragment: bool = False, ttl: int = 64, ident: int = 0x1234,
         total_length: int | None = None) -> bytes:
    """An IPv4 packet (options padded to a multiple of 4 bytes)."""
    options += b"\0" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0) | \
        (frag_offset // 8)
    length = ihl * 4 + len(payload) if total_length is None else total_length
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, ident, flags, ttl, proto, 0,
                         ip4(src), ip4(dst)) + options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def ipv6(next_header: int, payload: bytes, src: str = "2001:db8::1", dst: str = "2001:db8::2",
         hop_limit: int = 64) -> bytes:
    """An IPv6 packet."""
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, hop_limit,
                       ip6(src), ip6(dst)) + payload


def ext(next_header: int, body: bytes = b"\0" * 6) -> bytes:
    """A hop-by-hop, routing or destination-options header (8-byte units)."""
    body += b"\0" * (-(len(body) + 2) % 8)
    return bytes([next_header, (len(body) + 2) // 8 - 1]) + body


def frag6(next_header: int, offset: int = 0, more: bool = False) -> bytes:
    """An IPv6 fragment header."""
    return struct.pack("!BBHI", next_header, 0, (offset // 8) << 3 | int(more), 0xABCD)


def ah(next_header: int, icv_words: int = 3) -> bytes:
    """An authentication header (payload length in 4-byte words, minus 2)."""
    body = struct.pack("!BBHII", next_header, icv_words + 1, 0, 0x100, 1) + b"\0" * 4 * icv_words
    return body


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


def sctp(sport: int = 5000, dport: int = 6000, payload: bytes = b"data") -> bytes:
    """An SCTP packet with one DATA chunk."""
    chunk = struct.pack("!BBH", 0, 3, 4 + len(payload)) + payload
    return struct.pack("!HHII", sport, dport, 1, 0) + chunk


def igmp(group: str = "224.0.0.5") -> bytes:
    """An IGMPv2 membership report."""
    return struct.pack("!BBH4s", 0x16, 0, 0, ip4(group))


def arp(op: int = 1, sender: str = "10.0.0.1", target: str = "10.0.0.2",
        ethertype: int = 0x0806, dst: bytes = BROADCAST, sender_mac: bytes = MAC_A) -> bytes:
    """An ARP (ethertype 0x0806) or RARP (0x8035) frame."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sender_mac, ip4(sender),
                       bytes(6), ip4(target))
    return ethernet(ethertype, body, dst, sender_mac)


def build_frames() -> list[tuple[str, bytes]]:
    """The Ethernet frames of the capture, named, in order."""
    f: list[tuple[str, bytes]] = []

    def add(name: str, frame: bytes) -> None:
        f.append((name, frame))

    # IPv4 TCP
    add("tcp-syn-80", ethernet(0x800, ipv4(6, tcp(40000, 80, 0x02))))
    add("tcp-synack-80", ethernet(0x800, ipv4(6, tcp(80, 40000, 0x12), "10.0.0.2", "10.0.0.1"),
                                  MAC_A, MAC_B))
    add("tcp-ack-data-443", ethernet(0x800, ipv4(6, tcp(40001, 443, 0x18, b"x" * 60, ack=7),
                                                 dont_fragment=True)))
    add("tcp-fin-22", ethernet(0x800, ipv4(6, tcp(22, 50022, 0x11), "192.168.1.10",
                                           "192.168.1.20")))
    add("tcp-rst-ack", ethernet(0x800, ipv4(6, tcp(8080, 1234, 0x14), "172.16.5.4", "10.0.0.1")))
    add("tcp-push-urg", ethernet(0x800, ipv4(6, tcp(5001, 5002, 0x28, b"urgent"),
                                             "10.1.2.3", "10.1.2.4")))
    add("tcp-ece-cwr", ethernet(0x800, ipv4(6, tcp(5555, 80, 0xC2), "1.2.3.4", "5.6.7.8")))
    add("tcp-options", ethernet(0x800, ipv4(6, tcp(22, 5555, 0x12,
                                                   options=b"\x02\x04\x05\xb4\x01\x03\x03\x07"),
                                            "10.0.0.2", "10.0.0.1")))
    add("tcp-ipopts", ethernet(0x800, ipv4(6, tcp(1234, 80, 0x02),
                                           options=b"\x94\x04\0\0\x01\x01\x01\x00")))
    add("tcp-same-ports", ethernet(0x800, ipv4(6, tcp(80, 80, 0x10), "10.0.0.3", "10.0.0.3")))
    add("tcp-big", ethernet(0x800, ipv4(6, tcp(443, 40001, 0x10, b"y" * 700), "10.0.0.2",
                                        "10.0.0.1")))
    # IPv4 UDP
    add("udp-dns", ethernet(0x800, ipv4(17, udp(5353, 53, b"\x12\x34" + bytes(10)))))
    add("udp-dns-reply", ethernet(0x800, ipv4(17, udp(53, 5353, b"\x12\x34\x81\x80" + bytes(8)),
                                              "8.8.8.8", "10.0.0.1")))
    add("udp-dhcp-bcast", ethernet(0x800, ipv4(17, udp(68, 67, bytes(40)), "0.0.0.0",
                                               "255.255.255.255"), BROADCAST))
    add("udp-netbcast", ethernet(0x800, ipv4(17, udp(137, 137, bytes(20)), "192.168.1.10",
                                             "192.168.1.255"), BROADCAST))
    add("udp-mcast", ethernet(0x800, ipv4(17, udp(5353, 5353, bytes(12)), "10.0.0.1",
                                          "224.0.0.251"), MCAST4))
    add("udp-6000", ethernet(0x800, ipv4(17, udp(6000, 6001), "172.16.0.1", "172.16.0.2")))
    add("udp-ipopts", ethernet(0x800, ipv4(17, udp(1111, 2222), options=b"\x07\x07\x04" + bytes(4))))
    add("udp-ttl1", ethernet(0x800, ipv4(17, udp(33434, 33435), ttl=1)))
    # IPv4 fragments
    add("frag-first-udp", ethernet(0x800, ipv4(17, udp(1234, 53, b"a" * 32), more_fragments=True)))
    add("frag-middle", ethernet(0x800, ipv4(17, bytes([0, 80, 0, 80]) + b"b" * 20,
                                            frag_offset=40, more_fragments=True)))
    add("frag-last-tcp", ethernet(0x800, ipv4(6, bytes([0, 80, 0, 80]) + b"c" * 16,
                                              frag_offset=1480)))
    add("frag-first-tcp", ethernet(0x800, ipv4(6, tcp(1234, 80, 0x18, b"d" * 24),
                                               more_fragments=True)))
    # ICMP, IGMP, other IPv4 payloads
    add("icmp-echo", ethernet(0x800, ipv4(1, icmp(8)), bytes(6)))
    add("icmp-reply", ethernet(0x800, ipv4(1, icmp(0), "10.0.0.2", "10.0.0.1")))
    add("icmp-unreach", ethernet(0x800, ipv4(1, icmp(3, 3, bytes(28)), "10.0.0.254",
                                             "10.0.0.1")))
    add("icmp-timxceed", ethernet(0x800, ipv4(1, icmp(11, 0, bytes(28)), "192.168.1.1",
                                              "10.0.0.1")))
    add("igmp", ethernet(0x800, ipv4(2, igmp(), "10.0.0.1", "224.0.0.5", ttl=1), MCAST4))
    add("sctp4", ethernet(0x800, ipv4(132, sctp(5000, 6000))))
    add("sctp4-80", ethernet(0x800, ipv4(132, sctp(80, 2905), "10.0.0.9", "10.0.0.10")))
    add("gre", ethernet(0x800, ipv4(47, bytes(4) + ipv4(6, tcp()), "198.51.100.1",
                                    "198.51.100.2")))
    add("ipip", ethernet(0x800, ipv4(4, ipv4(17, udp(53, 53)), "203.0.113.1", "203.0.113.2")))
    add("esp4", ethernet(0x800, ipv4(50, bytes(24))))
    add("ah4-tcp", ethernet(0x800, ipv4(51, ah(6) + tcp(1234, 80))))
    add("pim", ethernet(0x800, ipv4(103, bytes(8), "10.0.0.1", "224.0.0.13"), MCAST4))
    add("vrrp", ethernet(0x800, ipv4(112, bytes(8), "10.0.0.5", "224.0.0.18"), MCAST4))
    add("ipv4-short-hdr", ethernet(0x800, b"\x45\x00\x00"))
    # IPv6
    add("ip6-tcp", ethernet(0x86DD, ipv6(6, tcp(40000, 80))))
    add("ip6-tcp-reply", ethernet(0x86DD, ipv6(6, tcp(80, 40000, 0x12), "2001:db8::2",
                                               "2001:db8::1")))
    add("ip6-udp", ethernet(0x86DD, ipv6(17, udp(546, 547), "fe80::1", "ff02::1:2"), MCAST6))
    add("ip6-udp-dns", ethernet(0x86DD, ipv6(17, udp(5353, 53), "2001:db8:1::5",
                                             "2001:db8:2::53")))
    add("ip6-icmp6-echo", ethernet(0x86DD, ipv6(58, icmp6(128))))
    add("ip6-icmp6-reply", ethernet(0x86DD, ipv6(58, icmp6(129), "2001:db8::2", "2001:db8::1")))
    add("ip6-icmp6-ns", ethernet(0x86DD, ipv6(58, icmp6(135, 0, bytes(20)), "fe80::1",
                                              "ff02::1:ff00:2"), MCAST6))
    add("ip6-icmp6-ra", ethernet(0x86DD, ipv6(58, icmp6(134, 0, bytes(12)), "fe80::1",
                                              "ff02::1"), MCAST6))
    add("ip6-hbh-udp", ethernet(0x86DD, ipv6(0, ext(17) + udp(1234, 53))))
    add("ip6-rt-dst-tcp", ethernet(0x86DD, ipv6(43, ext(60) + ext(6) + tcp(1234, 80))))
    add("ip6-frag-udp", ethernet(0x86DD, ipv6(44, frag6(17, 0, True) + udp(1234, 53))))
    add("ip6-frag-tcp-later", ethernet(0x86DD, ipv6(44, frag6(6, 1448) + b"z" * 16)))
    add("ip6-frag-icmp6", ethernet(0x86DD, ipv6(44, frag6(58, 0, True) + icmp6(128))))
    add("ip6-hbh-icmp6", ethernet(0x86DD, ipv6(0, ext(58) + icmp6(143, 0, bytes(8)),
                                              "fe80::2", "ff02::16"), MCAST6))
    add("ip6-ah-tcp", ethernet(0x86DD, ipv6(51, ah(6) + tcp(1234, 443))))
    add("ip6-dst-ah-udp", ethernet(0x86DD, ipv6(60, ext(51) + ah(17) + udp(9, 9))))
    add("ip6-nonext", ethernet(0x86DD, ipv6(59, b"")))
    add("ip6-sctp", ethernet(0x86DD, ipv6(132, sctp(80, 9899))))
    add("ip6-esp", ethernet(0x86DD, ipv6(50, bytes(16))))
    add("ip6-in-ip4", ethernet(0x800, ipv4(41, ipv6(6, tcp(1, 2)), "192.0.2.1", "192.0.2.2")))
    add("ip6-lo", ethernet(0x86DD, ipv6(17, udp(7, 7), "::1", "::1")))
    add("ip6-short", ethernet(0x86DD, bytes(20)))
    # ARP, RARP
    add("arp-request", arp())
    add("arp-reply", arp(2, "10.0.0.2", "10.0.0.1", dst=MAC_A, sender_mac=MAC_B))
    add("arp-gw", arp(1, "192.168.1.1", "192.168.1.10", sender_mac=MAC_GW))
    add("rarp", arp(3, "0.0.0.0", "0.0.0.0", ethertype=0x8035))
    # VLAN, QinQ, MPLS
    add("vlan100-ip-udp", vlan_frame([(0x8100, 100)], 0x800, ipv4(17, udp(1234, 53))))
    add("vlan100-ip-tcp80", vlan_frame([(0x8100, 100)], 0x800, ipv4(6, tcp(40000, 80))))
    add("vlan200-ip6-tcp", vlan_frame([(0x8100, 200)], 0x86DD, ipv6(6, tcp(40000, 443))))
    add("vlan7-arp", vlan_frame([(0x8100, 7)], 0x806, arp()[14:], BROADCAST))
    add("vlan-pcp-100", vlan_frame([(0x8100, 0xA000 | 100)], 0x800,
                                   ipv4(1, icmp(8), "10.0.0.1", "10.0.0.2")))
    add("qinq-ad-100-200", vlan_frame([(0x88A8, 100), (0x8100, 200)], 0x800,
                                      ipv4(6, tcp(1234, 80))))
    add("qinq-9100-300", vlan_frame([(0x9100, 300), (0x8100, 300)], 0x86DD,
                                    ipv6(17, udp(53, 53))))
    add("vlan-mpls", vlan_frame([(0x8100, 100)], 0x8847,
                                struct.pack("!I", 3 << 12 | 1 << 8 | 64) + ipv4(17, udp())))
    add("mpls-ip", mpls_frame([100], ipv4(6, tcp(1234, 80), "10.2.0.1", "10.2.0.2")))
    add("mpls-2-ip6", mpls_frame([100000, 1024], ipv6(17, udp(1000, 53))))
    add("mpls-3", mpls_frame([16, 17, 18], ipv4(1, icmp(0), "1.2.3.4", "10.0.0.1")))
    # 802.3 / LLC and odd EtherTypes
    add("llc-stp", llc_frame(0x42, 0x42, b"\x03" + bytes(35), bytes.fromhex("0180c2000000")))
    add("llc-iso", llc_frame(0xFE, 0xFE, b"\x03\x81" + bytes(20), bytes.fromhex("09002b000005")))
    add("llc-ip", llc_frame(0x06, 0x06))
    add("llc-netbeui", llc_frame(0xF0, 0xF0))
    add("llc-snap", llc_frame(0xAA, 0xAA, b"\x03\0\0\0\x08\x00" + ipv4(17, udp())))
    add("ipx-ethernet2", ethernet(0x8137, b"\xff\xff" + bytes(28)))
    add("ipx-raw-8023", MAC_B + MAC_A + (30).to_bytes(2, "big") + b"\xff\xff" + bytes(28))
    add("ipx-llc", llc_frame(0xE0, 0xE0, b"\x03\xff\xff" + bytes(27)))
    add("ipx-snap", llc_frame(0xAA, 0xAA, b"\x03\0\0\0\x81\x37\xff\xff" + bytes(26)))
    add("atalk-snap", llc_frame(0xAA, 0xAA, b"\x03\x08\x00\x07\x80\x9b" + bytes(24)))
    add("atalk-ethernet2", ethernet(0x809B, bytes(30)))
    add("aarp-snap", llc_frame(0xAA, 0xAA, b"\x03\0\0\0\x80\xf3" + bytes(28)))
    add("aarp-ethernet2", ethernet(0x80F3, bytes(28)))
    add("decnet", ethernet(0x6003, bytes(30), bytes.fromhex("ab0000030000")))
    add("lat", ethernet(0x6004, bytes(30)))
    add("loopback", ethernet(0x9000, bytes(30), MAC_A))
    add("pppoe-sess", ethernet(0x8864, b"\x11\x00\x00\x27\x00\x20\x00\x21" + ipv4(17, udp())))
    add("ether-bcast-ip", ethernet(0x800, ipv4(17, udp(520, 520, bytes(24)), "10.0.0.7",
                                                "10.0.0.255"), BROADCAST))
    add("ether-mcast-other", ethernet(0x88CC, bytes(40), bytes.fromhex("0180c200000e")))
    add("gw-tcp", ethernet(0x800, ipv4(6, tcp(40000, 21), "192.168.1.10", "198.51.100.7"),
                           MAC_GW))
    add("gw-to-host", ethernet(0x800, ipv4(6, tcp(20, 40002), "198.51.100.7", "192.168.1.10"),
                               MAC_B, MAC_GW))
    add("gw-own", ethernet(0x800, ipv4(1, icmp(0), "192.168.1.1", "192.168.1.10"), MAC_B,
                           MAC_GW))
    # truncated frames
    add("trunc-eth", ethernet(0x800, b"")[:12])
    add("trunc-ip-ports", ethernet(0x800, ipv4(6, tcp(1234, 80)))[:36])
    add("trunc-ip6-ports", ethernet(0x86DD, ipv6(17, udp(1234, 53)))[:56])
    add("trunc-vlan", vlan_frame([(0x8100, 100)], 0x800, b"")[:16])
    return f


def to_raw(frame: bytes) -> bytes | None:
    """The network-layer packet of an untagged Ethernet IP frame, or None."""
    if len(frame) >= 14 and frame[12:14] in (b"\x08\x00", b"\x86\xdd"):
        return frame[14:]
    return None


def to_sll(frame: bytes, index: int) -> bytes | None:
    """An untagged Ethernet frame as a Linux cooked (SLL) capture shows it."""
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    protocol = ethertype if ethertype > 1500 else 4
    packet_type = (0, 1, 2, 3, 4)[index % 5]
    header = struct.pack("!HHH8sH", packet_type, 1, 6, frame[6:12] + b"\0\0", protocol)
    return header + frame[14:]


def link_frames(linktype: str) -> list[tuple[str, bytes]]:
    """The capture's frames for ``linktype`` (en10mb, raw or sll)."""
    base = build_frames()
    if linktype == "en10mb":
        return base
    out = []
    for i, (name, frame) in enumerate(base):
        converted = to_raw(frame) if linktype == "raw" else to_sll(frame, i)
        if converted is not None:
            out.append((name, converted))
    return out


def fuzz_frames(seed: int = 1, count: int = 300, linktype: str = "en10mb") -> list[bytes]:
    """Frames of the capture with a few bytes changed or cut short, for
    comparing programs beyond the named frames."""
    rng = random.Random(seed)
    base = [f for _, f in link_frames(linktype)]
    out = []
    for _ in range(count):
        frame = bytearray(rng.choice(base))
        for _ in range(rng.randint(0, 3)):
            if frame:
                at = rng.randrange(len(frame))
                frame[at] = rng.choice([0, 1, 6, 17, 44, 0x2c, 0x3a, 0x80, 0x81, 0x88, 0xFF,
                                        rng.randrange(256)])
        if rng.random() < 0.2:
            frame = frame[:rng.randint(1, len(frame))]  # pcap records are never empty
        out.append(bytes(frame))
    return out


def pcap_bytes(frames: list[bytes], linktype: int, snaplen: int = SNAPLEN) -> bytes:
    """A classic pcap file (microsecond timestamps) of ``frames``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", 1700000000 + i, i * 1000, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def read_pcap(data: bytes) -> list[bytes]:
    """The frames of a classic little-endian pcap file."""
    frames, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frames.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return frames


def write_captures() -> None:
    """Rewrite the capture files under tests/data/."""
    for linktype, path in CAPTURES.items():
        frames = [f for _, f in link_frames(linktype)]
        path.write_bytes(pcap_bytes(frames, LINKTYPES[linktype]))


if __name__ == "__main__":
    write_captures()
