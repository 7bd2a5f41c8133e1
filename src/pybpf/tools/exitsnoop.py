"""exitsnoop: trace process exits — who, how long it lived, how it ended.

::

    pybpf tools exitsnoop              # every exit, until Ctrl-C
    pybpf tools exitsnoop -x -d 10     # failures only, for 10 seconds
    python -m pybpf.tools.exitsnoop -p 1234
"""

from __future__ import annotations

import time

from . import _runtime as rt
from .bindings.exitsnoop_bpf import ExitEvent, Exitsnoop

NAME = "exitsnoop"
DESCRIPTION = "Trace process exits: pid, parent, exit code or signal, lifetime, command."


def format_event(e: ExitEvent, *, timestamp: bool = False) -> str:
    """One output line for an exit event."""
    age = (e.exit_ns - e.start_ns) / 1e9 if e.exit_ns >= e.start_ns else 0.0
    how = f"signal {e.sig}" if e.sig else f"code {e.exit_code}"
    line = f"{e.comm:<16} {e.pid:>7} {e.ppid:>7} {e.tid:>7} {age:>9.2f} {how}"
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def event_json(e: ExitEvent) -> dict:
    """One exit as a JSON object."""
    age = (e.exit_ns - e.start_ns) / 1e9 if e.exit_ns >= e.start_ns else 0.0
    return rt.record_json(e, time=time.time(), age_s=age)


def build_parser():
    """exitsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("--ppid", type=int, help="only children of this process")
    p.add_argument("-x", "--failed", action="store_true",
                   help="only exits with a non-zero code or a signal")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time of exit")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run exitsnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)

    def show(e: ExitEvent) -> None:
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, timestamp=args.timestamp), flush=True)

    skel = Exitsnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.target_ppid = args.ppid or 0
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        head = f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'TID':>7} {'AGE(s)':>9} EXIT"
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration,
                        header="" if args.json else ("TIME     " if args.timestamp else "") + head,
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
