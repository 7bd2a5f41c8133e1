"""statsnoop: trace stat(2)-family calls — stat, lstat, fstatat, statx, statfs.

::

    pybpf tools statsnoop -p 1234      # one process
    pybpf tools statsnoop -x -d 5      # failed calls, for 5 seconds
"""

from __future__ import annotations

import time

from . import _runtime as rt
from .bindings.statsnoop_bpf import StatEvent, Statsnoop

NAME = "statsnoop"
DESCRIPTION = "Trace stat(2), lstat(2), fstatat(2), statx(2) and statfs(2): process, " \
              "result and path."
CALLS = ("stat", "lstat", "fstatat", "statx", "statfs")
"""The system calls, as the events number them."""


def format_event(e: StatEvent, *, start: int | None = None) -> str:
    """One output line for a call, in bcc's statsnoop columns (RET is 0 or
    -1 as the call returns to the program, ERR the errno)."""
    ret, err = (e.ret, 0) if e.ret >= 0 else (-1, -e.ret)
    line = f"{e.pid:<7} {e.comm:<16} {ret:>4} {err:>3} {e.path}"
    return f"{(e.ts_ns - start) / 1e9:<14.9f} " + line if start is not None else line


def event_json(e: StatEvent) -> dict:
    """One call as a JSON object."""
    return rt.record_json(e, time=time.time(),
                          call=CALLS[e.call] if 0 <= e.call < len(CALLS) else e.call)


def build_parser():
    """statsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-x", "--failed", action="store_true", help="only failed calls")
    p.add_argument("-t", "--timestamp", action="store_true",
                   help="print seconds since the first call")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run statsnoop with command-line arguments ``argv``."""
    import os

    args = rt.parse_args(build_parser(), argv)
    me = os.getpid()
    first: list[int] = []

    def show(e: StatEvent) -> None:
        if e.pid == me:
            return
        if args.json:
            rt.print_json(event_json(e))
            return
        if not first:
            first.append(e.ts_ns)
        print(format_event(e, start=first[0] if args.timestamp else None), flush=True)

    header = "" if args.json else (("TIME(s)        " if args.timestamp else "") +
                                   f"{'PID':<7} {'COMM':<16} {'RET':>4} {'ERR':>3} PATH")
    skel = Statsnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header,
                        optional=("enter_stat", "exit_stat", "enter_lstat", "exit_lstat"),
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
