"""bindsnoop: trace bind(2) — which process binds which address and port.

::

    pybpf tools bindsnoop              # every bind, until Ctrl-C
    pybpf tools bindsnoop -P 80,443    # binds to these ports
    pybpf tools bindsnoop -x -j        # failed binds, as JSON lines
"""

from __future__ import annotations

import socket
import struct
import time

from . import _runtime as rt
from ._net import parse_ports
from .bindings.bindsnoop_bpf import BindEvent, Bindsnoop

NAME = "bindsnoop"
DESCRIPTION = "Trace bind(2): process, protocol, bound interface, port, address and result."

PROTOCOLS = {socket.IPPROTO_TCP: "TCP", socket.IPPROTO_UDP: "UDP", socket.IPPROTO_SCTP: "SCTP",
             socket.IPPROTO_RAW: "RAW", socket.IPPROTO_ICMP: "ICMP",
             socket.IPPROTO_ICMPV6: "ICMPv6"}


def decode_sockaddr(raw: bytes) -> tuple[str, str, int]:
    """A sockaddr's ``(family, address, port)``: ``("IPv4", "127.0.0.1",
    80)``; other families give their number and no address."""
    if len(raw) < 4:
        return "?", "", 0
    family = struct.unpack_from("<H", raw)[0]
    port = struct.unpack_from(">H", raw, 2)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return "IPv4", socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    if family == socket.AF_INET6 and len(raw) >= 24:
        return "IPv6", socket.inet_ntop(socket.AF_INET6, raw[8:24]), port
    return f"AF{family}", "", 0


def protocol_name(e: BindEvent) -> str:
    """``TCP``, ``UDP``... or the protocol's number."""
    return PROTOCOLS.get(e.protocol, str(e.protocol))


def format_event(e: BindEvent, *, timestamp: bool = False, uid: bool = False) -> str:
    """One output line for a bind, in bcc's bindsnoop columns."""
    _family, addr, port = decode_sockaddr(e.addr)
    line = (f"{e.pid:>7} {e.comm:<16} {e.ret:>3} {protocol_name(e):<5} {e.bound_if:>2} "
            f"{port:>5} {addr}")
    if uid:
        line = f"{e.uid:>6} " + line
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def event_json(e: BindEvent) -> dict:
    """One bind as a JSON object."""
    family, addr, port = decode_sockaddr(e.addr)
    out = rt.record_json(e, time=time.time(), family=family, address=addr, port=port,
                         proto=protocol_name(e))
    del out["addr"]
    return out


def build_parser():
    """bindsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-P", "--ports", type=parse_ports,
                   help="only binds to these ports (comma-separated)")
    p.add_argument("-x", "--failed", action="store_true", help="only failed binds")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time")
    p.add_argument("-U", "--print-uid", action="store_true", help="print the user id")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run bindsnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)

    def show(e: BindEvent) -> None:
        if args.ports and decode_sockaddr(e.addr)[2] not in args.ports:
            return
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, timestamp=args.timestamp, uid=args.print_uid), flush=True)

    skel = Bindsnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        header = "" if args.json else (
            ("TIME     " if args.timestamp else "") + (f"{'UID':>6} " if args.print_uid else "")
            + f"{'PID':>7} {'COMM':<16} {'RET':>3} {'PROTO':<5} {'IF':>2} {'PORT':>5} ADDR")
        status = rt.run(skel, [rb], args.duration, header=header, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
