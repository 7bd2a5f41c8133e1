"""Filter expressions for the comparison with tcpdump: every primitive of
pcap-filter(7) the issue names, alone and combined, and expressions libpcap
refuses.  ``EXPRESSIONS`` run by default; ``MORE_EXPRESSIONS`` in the slow
set; ``LINK_EXPRESSIONS`` for the raw and SLL link types too."""

from __future__ import annotations

HOSTS = [
    "host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "src or dst host 10.0.0.2",
    "src and dst host 10.0.0.3", "ip host 192.168.1.10", "ip src 172.16.5.4",
    "ip dst 224.0.0.251", "host 255.255.255.255", "host 0.0.0.0", "arp host 10.0.0.1",
    "arp src 10.0.0.2", "arp dst host 192.168.1.10", "rarp host 0.0.0.0", "rarp src 0.0.0.0",
    "ip6 host 2001:db8::1", "host 2001:db8::2", "src host 2001:db8::1", "dst ::1",
    "ip6 dst ff02::1", "host fe80::1", "dst host ff02::1:ff00:2", "src 2001:db8:1::5",
    "ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:02",
    "ether dst ff:ff:ff:ff:ff:ff", "ether src 00:16:3e:11:22:33",
    "ether dst 01:00:5e:00:00:01", "ether host 02.00.00.00.00.01",
    "ether host 0200.0000.0001", "ether src or dst 02:00:00:00:00:02",
    "ether src and dst 02:00:00:00:00:01", "10.0.0.1", "2001:db8::2",
    "ip src host 10.0.0.1 and ip dst host 10.0.0.2", "host 10.0.0.1 or host 2001:db8::1",
]

NETS = [
    "net 10.0.0.0/8", "net 10.0.0.0/24", "src net 192.168.1.0/24", "dst net 224.0.0.0/4",
    "net 172.16.0.0 mask 255.240.0.0", "net 10", "net 192.168", "net 10.0.0",
    "dst net 10.0.0.0 mask 255.255.255.0", "net 0.0.0.0/0", "net 10.0.0.1/32",
    "net 2001:db8::/32", "src net 2001:db8:1::/48", "dst net ff02::/16", "net fe80::/10",
    "ip6 net 2001:db8::/64", "net ::1/128", "ip net 198.51.100.0/24", "arp net 10.0.0.0/24",
    "net 10.0.0.0/8 and not net 10.0.0.0/24", "src net 10.0.0.0/8 or dst net 192.168.0.0/16",
    "net 10.0.0.0/31",
]

PORTS = [
    "port 80", "tcp port 80", "udp port 53", "src port 53", "dst port 53", "port 5353",
    "tcp src port 80", "tcp dst port 443", "udp dst port 67", "sctp port 6000",
    "sctp src port 80", "port 22 or port 443", "port http", "port domain", "tcp port ssh",
    "udp port 137", "ip6 and port 80", "ip and port 53", "ip6 and udp port 53",
    "portrange 5000-6000", "tcp portrange 20-22", "udp portrange 5353-5353",
    "src portrange 1-1024", "dst portrange 1024-65535", "sctp portrange 5000-6000",
    "portrange 6000-5000", "port 0", "port 65535", "tcp port 80 and not src host 10.0.0.1",
    "not port 80", "port 520", "ip6 and portrange 500-600", "port 9", "tcp port 1",
    "udp src or dst port 53", "src and dst port 80", "tcp src and dst port 80",
    "port 80 or port 53 or port 22", "(tcp or udp) and port 53",
]

PROTOS = [
    "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "pim", "vrrp",
    "ah", "esp", "ip proto 47", "ip proto \\tcp", "ip proto \\udp", "ip6 proto 58",
    "ip6 proto \\tcp", "ip6 proto 17", "proto 132", "proto \\icmp", "ether proto \\ip",
    "ether proto \\ip6", "ether proto \\arp", "ether proto 0x9000", "ether proto 0x8864",
    "ether proto \\rarp", "ether proto 34525", "ip proto 4", "ip proto 41", "ip6 proto 0",
    "ip6 proto 44", "ip6 proto 43", "ip proto 50", "ip proto 51", "ip6 proto 51",
    "protochain 6", "ip protochain 6", "ip6 protochain 17", "ip6 protochain 6",
    "ip6 protochain 58", "protochain 17", "ip protochain 17", "ip6 protochain 132",
    "ip6 protochain 59", "ip6 protochain 44", "tcp or udp", "icmp or icmp6",
    "tcp and not ip6", "udp and ip6", "not ip and not ip6", "not tcp", "not (tcp or udp)",
    "ether proto 0x6003", "decnet", "lat", "iso", "stp", "netbeui", "ipx", "atalk", "aarp",
    "ether proto \\ipx", "ether proto \\atalk", "ether proto \\aarp", "ipx or aarp", "not atalk",
    "sca", "moprc", "mopdl", "ip proto 112", "ip proto 103", "ip proto 2", "proto 17",
    "tcp or icmp6", "ether proto 0x88cc", "ip6 proto 50", "ip protochain 4", "mpls",
]

VLAN_MPLS = [
    "vlan", "vlan 100", "vlan 200", "vlan 7", "vlan 300", "vlan and ip", "vlan and ip6",
    "vlan 100 and udp", "vlan 100 and tcp port 80", "vlan and arp", "vlan 100 and host 10.0.0.1",
    "vlan and vlan", "vlan 100 and vlan 200", "vlan and vlan and ip", "vlan 200 and ip6",
    "vlan and mpls", "vlan 100 and mpls 3", "not vlan", "ip or vlan", "vlan and not ip",
    "mpls", "mpls 100", "mpls 100000", "mpls and ip", "mpls 100 and tcp", "mpls and mpls 1024",
    "mpls and mpls and mpls 18", "mpls 16 and mpls 17", "mpls and ip6", "mpls 100 and port 80",
    "vlan 100 or vlan 200", "vlan and port 53", "vlan and ether src 02:00:00:00:00:01",
    "ether host 02:00:00:00:00:02 and vlan", "vlan 4095", "mpls 0", "vlan and icmp",
    "vlan and (tcp or udp)", "vlan 100 and src 10.0.0.1",
]

LENGTHS_CAST = [
    "less 60", "greater 100", "len < 60", "len >= 100", "len = 42", "len != 60",
    "less 1500 and greater 64", "ether broadcast", "ether multicast", "broadcast",
    "multicast", "ip multicast", "ip6 multicast", "ip broadcast", "not broadcast",
    "ether broadcast and ip", "gateway 00:16:3e:11:22:33", "len > 200 or len < 30",
    "greater 0", "less 0", "len <= 54",
]

SLICES = [
    "tcp[13] & 2 != 0", "tcp[13] & 0x12 = 0x12", "ip[2:2] > 576", "ether[0] & 1 = 1",
    "ether[0] & 1 = 0", "ip[8] = 1", "ip[9] = 17", "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0", "ip[0] & 0xf > 5", "ip[0] & 0xf != 5", "udp[0:2] = 53",
    "udp[2:2] = 53", "tcp[0:2] > 1024", "tcp[2:2] < 100", "tcp[12] >> 4 > 5",
    "icmp[0] = 8", "icmp[icmptype] = icmp-echoreply", "icmp[icmptype] != icmp-echo",
    "icmp[icmpcode] = 3", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn|tcp-ack",
    "tcp[tcpflags] & tcp-fin != 0", "tcp[tcpflags] & tcp-rst != 0",
    "tcp[tcpflags] & tcp-push != 0", "tcp[tcpflags] & tcp-urg != 0",
    "tcp[tcpflags] & tcp-ece != 0", "tcp[tcpflags] & tcp-cwr != 0",
    "tcp[tcpflags] == tcp-ack", "icmp[icmptype] == icmp-unreach",
    "icmp[icmptype] = icmp-timxceed", "icmp6[icmp6type] = icmp6-echo",
    "icmp6[icmp6type] = icmp6-echoreply", "icmp6[icmp6type] == icmp6-neighborsolicit",
    "icmp6[icmp6type] = icmp6-routeradvert", "icmp6[0] > 130", "ip6[6] = 58",
    "ip6[7] = 64", "ip6[40] = 17", "ether[12:2] = 0x800", "ether[12:2] = 0x8100",
    "ether[6:4] = 0x02000000", "ether[14] = 0x45", "arp[6:2] = 1", "arp[7] = 2",
    "ip[1] = 0", "ip[4:4] != 0", "udp[4:2] > 20", "sctp[0:2] = 5000", "igmp[0] = 0x16",
    "ip[8] < 2 and udp", "len - 14 > 100", "ip[2:2] - (ip[0] & 0xf) * 4 > 40",
    "tcp[0:2] + tcp[2:2] = 40080", "ip[2:2] * 2 > 1000", "ip[2:2] / 4 > 100",
    "ip[2:2] % 7 = 3", "ip[9] | 1 = 7", "ip[9] ^ 6 = 0", "ip[9] << 1 = 12",
    "ip[2:2] >> 2 > 10", "-ip[9] = -6", "ip[9] & 0xf0 = 0", "ether[len - 1] = 0",
    "ether[len - 4:4] != 0", "ip[ip[0] & 0xf] = 0", "tcp[(tcp[12] >> 4) * 4] = 0x78",
    "ip[9] + 0 = 6", "ip[9] - 0 = 17", "ip[9] * 1 = 1", "ip[9] / 1 = 6", "2 + 3 = 5",
    "2 + 3 = 6", "ip[9] = 6 or ip6[6] = 6", "vlan and ip[9] = 17", "mpls and ip[9] = 6",
    "ip6[6] = 44", "tcp[13] = 2", "udp[8] = 0x12", "ip[0] = 0x46", "ip[20] = 0x94",
    "ether[0:4] = 0xffffffff", "ether[0:2] == 0x3333", "icmp6[1] = 0", "ip6[0] & 0xf0 = 0x60",
    "tcp[20] = 2", "ether[12:2] > 1500", "ether[14:2] = 0x4242", "1 = 1",
    "ip[9] - ip[9] = 0", "ip[2:2] & 3 = 0", "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
]

COMBOS = [
    "tcp and port 80 and host 10.0.0.1", "tcp port 80 or udp port 53",
    "not tcp and not udp", "ip and not icmp", "host 10.0.0.1 and not port 22",
    "(host 10.0.0.1 or host 10.0.0.2) and tcp", "not (host 10.0.0.1 or host 10.0.0.2)",
    "tcp and (port 80 or port 443) and not src net 10.0.0.0/8", "ip6 and tcp and dst port 80",
    "ip6 and not icmp6", "arp or rarp", "arp and not host 10.0.0.1", "icmp and host 10.0.0.2",
    "tcp[13] & 2 != 0 and not tcp[13] & 16 != 0", "udp and (port 53 or port 5353)",
    "ip and ip[8] = 1 and udp", "not ip6 and not arp", "tcp or udp or icmp or sctp",
    "tcp and tcp", "ip or ip6 or arp", "not not tcp", "! tcp", "tcp && port 80",
    "tcp || udp", "port 80 and port 80", "host 10.0.0.1 and host 10.0.0.1",
    "tcp and udp", "ip and ip6", "(tcp and port 80) or (udp and port 53) or icmp",
    "src host 10.0.0.1 and dst host 10.0.0.2 and tcp dst port 80",
    "ether src 02:00:00:00:00:01 and ip", "ether multicast and not ip6",
    "not ether broadcast and udp", "greater 100 and tcp", "less 64 and ip",
    "ip[2:2] > 576 or ip6", "vlan or mpls", "not vlan and not mpls and ip",
    "host 10.0.0.1 or port 53 and tcp", "tcp or udp and port 53", "not tcp or udp",
    "not tcp and udp or icmp", "net 10.0.0.0/8 or net 192.168.0.0/16 or net 172.16.0.0/12",
    "sctp or (tcp and port 22)", "ip proto 6 and tcp", "udp and src port 53 and dst port 5353",
    "ip6 and src net 2001:db8::/32 and udp", "icmp6 and icmp6[0] = 128", "tcp and ip6[6] = 6",
    "port 80 and ip6", "dst port 80 and tcp[13] & 2 != 0", "ip and tcp and port 80 and len > 60",
]

ACCEPTED_ODDITIES = [
    # accepted by libpcap although they look wrong
    "host 1.2.3", "proto 256", "ip proto 300", "ip6 proto 256", "net 10.0.0.0 mask 255.0.0.255", "net 10.0.0.0 mask 255.0.0", "ip[-1] = 0", "tcp portrange 80", "dst and src host 10.0.0.1",
]

REFUSED = [
    "tcp and", "port", "host", "tcp port", "foo", "ip[", "ip[2:3] > 1", "ip[2:5] = 0",
    "tcp and udp and", "(tcp", "tcp)", "port 70000", "port -1", "portrange 1-70000",
    "net 10.0.0.1/24", "net 2001:db8::1/32", "net 10.0.0.0/33", "host 10.0.0.0/24",
    "ether host 02:00:00:00:00", "ether proto \\nosuch", "ip proto \\nosuch", "proto nosuchproto",
    "port nosuchport", "tcp[tcpflags] & tcp-nosuch != 0", "icmp[icmptype] = icmp-nosuch",
    "ip6 host 10.0.0.1", "ip host 2001:db8::1", "arp host 2001:db8::1", "tcp host 10.0.0.1",
    "udp net 10.0.0.0/8", "src port 10.0.0.1", "ip[1/0] = 0", "ip[9] / 0 = 0", "ip[9] % 0 = 0",
    "len = ", "less", "greater", "vlan 5000", "mpls 1048576", "ether[0] = ", "=", "and",
    "not", "ip and not", "1.2.3.4.5", "gateway 10.0.0.1", "ip6 broadcast",
    "ether proto", "tcp src port http and", "protochain", "ip protochain \\nosuch",
    "icmp6[icmp6type] = icmp6-nosuch",
    "src net", "portrange 5-", "ether host ff:ff:ff:ff:ff:ff:ff", "tcp[0:0] = 0",
    "len < 60 60", "host 10.0.0.1 port 80", "udp port 53 tcp", "ether[0] & ",
    "ip[2:2] >> > 1",
    "net ::1 mask ::ffff", "ip6 net 10.0.0.0/8", "sctp host 10.0.0.1", "tcp protochain 6",
    "tcp src net 10.0.0.0/8", "port 80 and and port 53", "1 = ",
    "host 999.1.1.1", "inbound",
    "less 60 and less", "ether[0:2] = 0x", "ip[0] = 08", "tcp[100000000000] = 0",
    "vlan 100 100", "ip proto", "2001:db8::1/64", "host ::/0",
]

EXPRESSIONS = (HOSTS + NETS + PORTS + PROTOS + VLAN_MPLS + LENGTHS_CAST + SLICES + COMBOS
               + ACCEPTED_ODDITIES)

MORE_EXPRESSIONS = [
    f"{a} and {b}" for a in ("tcp", "udp", "ip6", "vlan", "not ip", "src net 10.0.0.0/8",
                              "ether multicast", "mpls")
    for b in ("port 80", "port 53", "host 10.0.0.1", "icmp6", "greater 100",
              "ip[9] = 17", "ether src 02:00:00:00:00:01", "portrange 1-1024")
] + [
    f"{a} or not {b}" for a in ("arp", "icmp", "sctp", "ip6 proto 58")
    for b in ("tcp port 80", "udp", "vlan 100", "net 2001:db8::/32", "ip[2:2] > 100")
]

LINK_EXPRESSIONS = [
    "ip", "ip6", "tcp", "udp port 53", "host 10.0.0.1", "net 2001:db8::/32", "tcp port 80",
    "icmp", "icmp6", "sctp", "ip6 protochain 6", "tcp[13] & 2 != 0", "ip[2:2] > 576",
    "len > 100", "less 60", "ip multicast", "ip6 multicast", "ip broadcast", "portrange 20-80",
    "proto 17", "not ip", "arp", "ip proto 4", "ip6 and not tcp",
    "ether host 02:00:00:00:00:01", "ether broadcast", "ether proto 0x9000", "vlan", "mpls",
    "ipx", "atalk", "aarp", "iso", "stp", "inbound", "outbound", "inbound and tcp",
    "not outbound or udp port 53",
    "ether[0] = 0", "src host 2001:db8::1 and dst port 80", "host 10.0.0.1 or host ::1",
]

LINK_DEFAULT = ["ip", "tcp port 80", "net 2001:db8::/32", "ip6 protochain 6", "icmp",
                "tcp[13] & 2 != 0", "ipx", "inbound", "outbound and udp", "vlan", "ether broadcast"]
"""The raw and SLL expressions of the default run."""
