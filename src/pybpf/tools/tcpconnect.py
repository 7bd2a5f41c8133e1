"""tcpconnect: trace active TCP connections — connect(2) — and how they went.

::

    pybpf tools tcpconnect             # every connect, until Ctrl-C
    pybpf tools tcpconnect -P 80,443   # to these ports
    pybpf tools tcpconnect -c -d 10    # count connects by destination for 10 s
"""

from __future__ import annotations

import time
from collections import Counter

from . import _runtime as rt
from ._net import address, ip_version, parse_ports, tcp_state
from .bindings.tcpconnect_bpf import ConnectEvent, Tcpconnect

NAME = "tcpconnect"
DESCRIPTION = ("Trace active TCP connections (connect): process, addresses, ports and "
               "whether it was established.\n\nFrom the sock:inet_sock_set_state tracepoint "
               "(no kprobes): a connect is reported when it leaves SYN_SENT, established or "
               "not, with its local port.")


def format_event(e: ConnectEvent, *, start: float | None = None, uid: bool = False, lport: bool = False
                 ) -> str:
    """One output line for a connect, in bcc's tcpconnect columns."""
    line = f"{e.pid:<7} {e.comm:<16} {ip_version(e.family):<2} " \
           f"{address(e.family, e.saddr):<16} "
    if lport:
        line += f"{e.sport:<6} "
    line += f"{address(e.family, e.daddr):<16} {e.dport}"
    if e.state != 1:  # not established: refused or timed out
        line += f" ({tcp_state(e.state)})"
    if uid:
        line = f"{e.uid:<6} " + line
    if start is not None:
        line = f"{(e.start_ns - start) / 1e9:<9.3f} " + line
    return line


def event_json(e: ConnectEvent) -> dict:
    """One connect as a JSON object."""
    out = rt.record_json(e, time=time.time(), ip=ip_version(e.family),
                         saddr=address(e.family, e.saddr), daddr=address(e.family, e.daddr),
                         state=tcp_state(e.state), established=e.state == 1)
    return out


def build_parser():
    """tcpconnect's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-P", "--port", type=parse_ports,
                   help="only connects to these destination ports (comma-separated)")
    p.add_argument("-u", "--uid", type=int, help="only this user")
    p.add_argument("-U", "--print-uid", action="store_true", help="print the user id")
    p.add_argument("-L", "--lport", action="store_true", help="print the local port")
    p.add_argument("-t", "--timestamp", action="store_true",
                   help="print the time, in seconds since the first connect")
    p.add_argument("-c", "--count", action="store_true",
                   help="count connects by source, destination and port; print at the end")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run tcpconnect with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    counts: Counter = Counter()
    first: list[int] = []

    def show(e: ConnectEvent) -> None:
        if args.port and e.dport not in args.port:
            return
        if args.count:
            counts[(address(e.family, e.saddr), address(e.family, e.daddr), e.dport)] += 1
        elif args.json:
            rt.print_json(event_json(e))
        else:
            if not first:
                first.append(e.start_ns)
            print(format_event(e, start=first[0] if args.timestamp else None,
                               uid=args.print_uid, lport=args.lport), flush=True)

    def summary() -> None:
        if not args.count:
            return
        if args.json:
            for (saddr, daddr, dport), n in counts.most_common():
                rt.print_json({"saddr": saddr, "daddr": daddr, "dport": dport, "connects": n})
            return
        print(f"\n{'LADDR':<25} {'RADDR':<25} {'RPORT':<6} CONNECTS")
        for (saddr, daddr, dport), n in counts.most_common():
            print(f"{saddr:<25} {daddr:<25} {dport:<6} {n}", flush=True)

    if args.json or args.count:
        header = "" if args.json else "Tracing connects ... Ctrl-C to end"
    else:
        header = (("TIME(s)   " if args.timestamp else "") +
                  (f"{'UID':<6} " if args.print_uid else "") +
                  f"{'PID':<7} {'COMM':<16} {'IP':<2} {'SADDR':<16} " +
                  (f"{'LPORT':<6} " if args.lport else "") + f"{'DADDR':<16} DPORT")
    skel = Tcpconnect(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    if args.uid is not None:
        skel.rodata.target_uid = args.uid
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header, command=args.command)
    summary()
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
