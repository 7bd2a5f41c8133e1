"""execsnoop: trace new programs — every execve(2), its arguments and result.

::

    pybpf tools execsnoop              # until Ctrl-C
    pybpf tools execsnoop -x -d 5      # failed execs, for 5 seconds
"""

from __future__ import annotations

import time

from . import _runtime as rt
from .bindings.execsnoop_bpf import ExecEvent, Execsnoop

NAME = "execsnoop"
DESCRIPTION = "Trace execve(2): command, pid, parent, return value and arguments."


def format_event(e: ExecEvent, *, timestamp: bool = False) -> str:
    """One output line for an exec event."""
    args = list(e.argv[:e.argc])
    if not args:
        args = [e.filename]
    line = f"{e.comm:<16} {e.pid:>7} {e.ppid:>7} {e.retval:>4} {' '.join(args)}" + \
        (" ..." if e.more else "")
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def event_json(e: ExecEvent) -> dict:
    """One exec as a JSON object (``argv`` cut to ``argc``)."""
    return rt.record_json(e, time=time.time(), argv=list(e.argv[:e.argc]))


def build_parser():
    """execsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("--ppid", type=int, help="only children of this process")
    p.add_argument("-x", "--failed", action="store_true", help="only failed execs")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run execsnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)

    def show(e: ExecEvent) -> None:
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, timestamp=args.timestamp), flush=True)

    skel = Execsnoop(rt.object_path(NAME))
    skel.rodata.target_ppid = args.ppid or 0
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration,
                        header="" if args.json else ("TIME     " if args.timestamp else "") +
                        f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'RET':>4} ARGS",
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
