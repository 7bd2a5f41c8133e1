"""execsnoop: trace new programs — every execve(2), its arguments and result.

::

    pybpf tools execsnoop              # until Ctrl-C
    pybpf tools execsnoop -x -d 5      # failed execs, for 5 seconds
"""

from __future__ import annotations

import time

from . import _runtime as rt

NAME = "execsnoop"
DESCRIPTION = "Trace execve(2): command, pid, parent, return value and arguments."


def format_event(e, *, timestamp: bool = False) -> str:
    """One output line for an exec event."""
    args = list(e.argv[:e.argc])
    if not args:
        args = [e.filename]
    line = f"{e.comm:<16} {e.pid:>7} {e.ppid:>7} {e.retval:>4} {' '.join(args)}" + \
        (" ..." if e.more else "")
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def run(argv: list[str] | None = None) -> int:
    """Run execsnoop with command-line arguments ``argv``."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("--ppid", type=int, help="only children of this process")
    p.add_argument("-x", "--failed", action="store_true", help="only failed execs")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time")
    args = rt.parse_args(p, argv)
    with rt.open_tool(NAME, variables={"target_ppid": args.ppid,
                                       "failed_only": 1 if args.failed else None}) as coll:
        rb = coll.ringbuf("events", lambda e: print(format_event(e, timestamp=args.timestamp),
                                                    flush=True))
        status = rt.run(coll, [rb], args.duration,
                        header=("TIME     " if args.timestamp else "") +
                        f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'RET':>4} ARGS",
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
