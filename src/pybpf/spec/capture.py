"""Live-capture ABI facts: socket options for timestamps and packet
sockets' pkt_type names (asm-generic/socket.h, linux/if_packet.h)."""

from __future__ import annotations

from .cbpf import PACKET_OUTGOING
from .net import PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST

SO_TIMESTAMPNS = 35
"""asm-generic/socket.h: SO_TIMESTAMPNS_OLD, a struct timespec per packet."""
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC_FORMAT = "qq"
"""struct timespec on 64-bit Linux: seconds, nanoseconds."""

PACKET_DIRECTIONS = {PACKET_HOST: "In", PACKET_BROADCAST: "B", PACKET_MULTICAST: "M",
                     PACKET_OTHERHOST: "P", PACKET_OUTGOING: "Out"}
"""How tcpdump's -i any output names a packet's pkt_type."""

PACKET_MREQ_FORMAT = "iHH8s"
"""struct packet_mreq: ifindex, type, alen, address."""
