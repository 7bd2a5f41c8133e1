"""tcpretrans: trace TCP retransmissions — which connection, in which state.

::

    pybpf tools tcpretrans             # every retransmission, until Ctrl-C
    pybpf tools tcpretrans -c -d 60    # count them by connection for a minute
"""

from __future__ import annotations

import socket
import time
from collections import Counter

from . import _runtime as rt
from ._net import address, ip_version, tcp_state
from .bindings.tcpretrans_bpf import RetransEvent, Tcpretrans

NAME = "tcpretrans"
DESCRIPTION = ("Trace TCP retransmissions: time, address and port of both ends, state.\n\n"
               "From the tcp:tcp_retransmit_skb tracepoint; bcc's -l (tail loss probes) "
               "needs kprobes and is not offered.")


def ends(e: RetransEvent) -> tuple[str, str]:
    """``("LADDR:LPORT", "RADDR:RPORT")`` (IPv6 addresses in brackets)."""
    la, ra = address(e.family, e.saddr), address(e.family, e.daddr)
    if e.family == socket.AF_INET6:
        la, ra = f"[{la}]", f"[{ra}]"
    return f"{la}:{e.sport}", f"{ra}:{e.dport}"


def format_event(e: RetransEvent) -> str:
    """One output line for a retransmission, in bcc's tcpretrans columns."""
    local, remote = ends(e)
    return (f"{time.strftime('%H:%M:%S')} {e.pid:<6} {ip_version(e.family):<2} {local:<20} R> "
            f"{remote:<20} {tcp_state(e.state)}")


def event_json(e: RetransEvent) -> dict:
    """One retransmission as a JSON object."""
    return rt.record_json(e, time=time.time(), ip=ip_version(e.family),
                          saddr=address(e.family, e.saddr), daddr=address(e.family, e.daddr),
                          state=tcp_state(e.state))


def build_parser():
    """tcpretrans's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-c", "--count", action="store_true",
                   help="count retransmissions by connection; print at the end")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_true", help="only IPv4")
    family.add_argument("-6", "--ipv6", action="store_true", help="only IPv6")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run tcpretrans with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    family = socket.AF_INET if args.ipv4 else socket.AF_INET6 if args.ipv6 else None
    counts: Counter = Counter()

    def show(e: RetransEvent) -> None:
        if family is not None and e.family != family:
            return
        if args.count:
            counts[(ip_version(e.family), *ends(e))] += 1
        elif args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e), flush=True)

    def summary() -> None:
        for (ip, local, remote), n in counts.most_common():
            if args.json:
                rt.print_json({"ip": ip, "local": local, "remote": remote, "retransmits": n})
            else:
                print(f"{local:<20} <-> {remote:<20} {n:>10}", flush=True)

    if args.json:
        header = ""
    elif args.count:
        header = "Tracing retransmits ... Ctrl-C to end"
    else:
        header = f"{'TIME':<8} {'PID':<6} {'IP':<2} {'LADDR:LPORT':<20} T> {'RADDR:RPORT':<20} STATE"
    with rt.open_tool(Tcpretrans(rt.object_path(NAME))) as skel:
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header, command=args.command)
    if args.count:
        if not args.json:
            print(f"\n{'LADDR:LPORT':<20}     {'RADDR:RPORT':<20} {'RETRANSMITS':>10}")
        summary()
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
