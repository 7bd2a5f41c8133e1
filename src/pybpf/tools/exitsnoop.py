"""exitsnoop: trace process exits — who, how long it lived, how it ended.

::

    pybpf tools exitsnoop              # every exit, until Ctrl-C
    pybpf tools exitsnoop -x -d 10     # failures only, for 10 seconds
    python -m pybpf.tools.exitsnoop -p 1234
"""

from __future__ import annotations

import time

from . import _runtime as rt

NAME = "exitsnoop"
DESCRIPTION = "Trace process exits: pid, parent, exit code or signal, lifetime, command."


def format_event(e, *, timestamp: bool = False) -> str:
    """One output line for an exit event."""
    age = (e.exit_ns - e.start_ns) / 1e9 if e.exit_ns >= e.start_ns else 0.0
    how = f"signal {e.sig}" if e.sig else f"code {e.exit_code}"
    line = f"{e.comm:<16} {e.pid:>7} {e.ppid:>7} {e.tid:>7} {age:>9.2f} {how}"
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def run(argv: list[str] | None = None) -> int:
    """Run exitsnoop with command-line arguments ``argv``."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("--ppid", type=int, help="only children of this process")
    p.add_argument("-x", "--failed", action="store_true",
                   help="only exits with a non-zero code or a signal")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time of exit")
    args = rt.parse_args(p, argv)
    with rt.open_tool(NAME, variables={"target_pid": args.pid, "target_ppid": args.ppid,
                                       "failed_only": 1 if args.failed else None}) as coll:
        head = f"{'PCOMM':<16} {'PID':>7} {'PPID':>7} {'TID':>7} {'AGE(s)':>9} EXIT"
        rb = coll.ringbuf("events", lambda e: print(format_event(e, timestamp=args.timestamp),
                                                    flush=True))
        status = rt.run(coll, [rb], args.duration,
                        header=("TIME     " if args.timestamp else "") + head,
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
