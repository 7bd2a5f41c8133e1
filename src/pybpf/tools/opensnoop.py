"""opensnoop: trace file opens — open(2) and openat(2), path, flags and result.

::

    pybpf tools opensnoop -p 1234      # one process
    pybpf tools opensnoop -x -d 5      # failed opens, for 5 seconds
"""

from __future__ import annotations

import os
import time

from . import _runtime as rt
from .bindings.opensnoop_bpf import OpenEvent, Opensnoop

NAME = "opensnoop"
DESCRIPTION = "Trace open(2)/openat(2): process, fd or error, flags and path."


def format_event(e: OpenEvent, *, timestamp: bool = False) -> str:
    """One output line for an open event."""
    if e.ret >= 0:
        fd, err = e.ret, 0
    else:
        fd, err = -1, -e.ret
    line = f"{e.pid:>7} {e.comm:<16} {fd:>4} {err:>3} {e.flags:>8o} {e.path}"
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def event_json(e: OpenEvent) -> dict:
    """One open as a JSON object."""
    return rt.record_json(e, time=time.time())


def build_parser():
    """opensnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-x", "--failed", action="store_true", help="only failed opens")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time")
    p.add_argument("-n", "--name", help="only commands containing NAME")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run opensnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    me = os.getpid()

    def show(e: OpenEvent) -> None:
        if e.pid == me or (args.name and args.name not in e.comm):
            return
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, timestamp=args.timestamp), flush=True)

    skel = Opensnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, optional=("enter_open", "exit_open"),
                        header="" if args.json else ("TIME     " if args.timestamp else "") +
                        f"{'PID':>7} {'COMM':<16} {'FD':>4} {'ERR':>3} {'FLAGS':>8} PATH",
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
