"""tcplife: trace TCP sessions as they close — ends, process, bytes, lifespan.

::

    pybpf tools tcplife                # every session that ends, until Ctrl-C
    pybpf tools tcplife -L 80 -T       # sessions on local port 80, with the time
    pybpf tools tcplife -s -d 60       # CSV for a minute
"""

from __future__ import annotations

import socket
import time

from . import _runtime as rt
from ._net import address, ip_version, parse_ports
from .bindings.tcplife_bpf import LifeEvent, Tcplife

NAME = "tcplife"
DESCRIPTION = ("Trace TCP sessions that close: process, local and remote address and "
               "port, kilobytes sent and received, lifespan in milliseconds.")


def format_event(e: LifeEvent, *, wide: bool = False, csv: bool = False, clock: bool = False,
                 start: float | None = None) -> str:
    """One output line for a session, in bcc's tcplife columns."""
    laddr, raddr = address(e.family, e.saddr), address(e.family, e.daddr)
    tx_kb, rx_kb, ms = e.tx_bytes // 1024, e.rx_bytes // 1024, e.span_ns / 1e6
    prefix = []
    if clock:
        prefix.append(time.strftime("%H:%M:%S"))
    if start is not None:
        prefix.append(f"{(e.start_ns + e.span_ns - start) / 1e9:.6f}")
    if csv:
        return ",".join([*prefix, str(e.pid), e.comm, str(ip_version(e.family)), laddr,
                         str(e.sport), raddr, str(e.dport), str(tx_kb), str(rx_kb),
                         f"{ms:.2f}"])
    head = "".join(f"{p:<9} " for p in prefix)
    if wide:
        return (f"{head}{e.pid:<7} {e.comm:<16} {ip_version(e.family):<2} {laddr:<26} "
                f"{e.sport:<5} {raddr:<26} {e.dport:<5} {tx_kb:>6} {rx_kb:>6} {ms:.2f}")
    return (f"{head}{e.pid:<7} {e.comm[:12]:<12} {laddr:<15} {e.sport:<5} {raddr:<15} "
            f"{e.dport:<5} {tx_kb:>5} {rx_kb:>5} {ms:.2f}")


def header(*, wide: bool = False, csv: bool = False, clock: bool = False,
           stamp: bool = False) -> str:
    """The column names for :func:`format_event`'s lines."""
    prefix = (["TIME"] if clock else []) + (["TIME(s)"] if stamp else [])
    if csv:
        return ",".join([*prefix, "PID", "COMM", "IP", "LADDR", "LPORT", "RADDR", "RPORT",
                         "TX_KB", "RX_KB", "MS"])
    head = "".join(f"{p:<9} " for p in prefix)
    if wide:
        return (f"{head}{'PID':<7} {'COMM':<16} {'IP':<2} {'LADDR':<26} {'LPORT':<5} "
                f"{'RADDR':<26} {'RPORT':<5} {'TX_KB':>6} {'RX_KB':>6} MS")
    return (f"{head}{'PID':<7} {'COMM':<12} {'LADDR':<15} {'LPORT':<5} {'RADDR':<15} "
            f"{'RPORT':<5} {'TX_KB':>5} {'RX_KB':>5} MS")


def event_json(e: LifeEvent) -> dict:
    """One session as a JSON object."""
    return rt.record_json(e, time=time.time(), ip=ip_version(e.family),
                          saddr=address(e.family, e.saddr), daddr=address(e.family, e.daddr),
                          span_ms=e.span_ns / 1e6)


def build_parser():
    """tcplife's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-L", "--localport", type=parse_ports,
                   help="only sessions with these local ports (comma-separated)")
    p.add_argument("-D", "--remoteport", type=parse_ports,
                   help="only sessions with these remote ports (comma-separated)")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_true", help="only IPv4 sessions")
    family.add_argument("-6", "--ipv6", action="store_true", help="only IPv6 sessions")
    p.add_argument("-T", "--time", action="store_true", help="print the time (HH:MM:SS)")
    p.add_argument("-t", "--timestamp", action="store_true",
                   help="print seconds since the first session ended")
    p.add_argument("-w", "--wide", action="store_true", help="wide columns (IPv6 addresses)")
    p.add_argument("-s", "--csv", action="store_true", help="comma-separated values")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run tcplife with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    first: list[int] = []

    def wanted(e: LifeEvent) -> bool:
        family = socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else None
        if family is not None and e.family != family:
            return False
        if args.localport and e.sport not in args.localport:
            return False
        return not (args.remoteport and e.dport not in args.remoteport)

    def show(e: LifeEvent) -> None:
        if not wanted(e):
            return
        if args.json:
            rt.print_json(event_json(e))
            return
        if not first:
            first.append(e.start_ns + e.span_ns)
        print(format_event(e, wide=args.wide, csv=args.csv, clock=args.time,
                           start=first[0] if args.timestamp else None), flush=True)

    head = "" if args.json else header(wide=args.wide, csv=args.csv, clock=args.time,
                                         stamp=args.timestamp)
    skel = Tcplife(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=head, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
