"""funclatency: how long calls of a function take, as a log2 histogram.

::

    pybpf tools funclatency c:malloc -d 5                  # libc's malloc, every process
    pybpf tools funclatency /lib/x86_64-linux-gnu/libc.so.6:malloc -u
    pybpf tools funclatency -p 1234 c:read -i 1            # one process, every second
    pybpf tools funclatency -m /usr/bin/python3:PyObject_GC_Collect -- ./job.py
    pybpf tools funclatency vfs_read                       # a kernel function (kprobes)

``LIBRARY:FUNCTION`` names a user-space function: ``LIBRARY`` is a path, a
program on ``$PATH`` or a library name (``c`` for libc); with ``-p`` it is
looked up in that process's mappings.  It is traced with a uprobe at its
entry and a uretprobe at its return.  A bare ``FUNCTION`` is a kernel
function, traced with a kprobe pair: on a kernel without kprobes
(``CONFIG_KPROBES`` off) that is refused with the reason, in one line.
"""

from __future__ import annotations

import argparse
import time

from . import _runtime as rt
from ._hist import HistogramView, add_picture_options, hist_json, read_u64_array
from .bindings.funclatency_bpf import Funclatency

NAME = "funclatency"
DESCRIPTION = "Time functions and print latency as a histogram."
SLOTS = 32
"""Histogram slots (``SLOTS`` of ``hist.h``); the map holds two more:
the total time and the number of calls."""
UNITS = {"nsecs": 1, "usecs": 1000, "msecs": 1000000}
"""Histogram units and their nanoseconds."""


def parse_target(text: str) -> tuple[str | None, str]:
    """``LIBRARY:FUNCTION`` -> ``(library, function)``; a bare ``FUNCTION``
    (a kernel function) -> ``(None, function)``."""
    library, sep, function = text.rpartition(":")
    if not sep:
        return None, text
    if not library or not function:
        raise argparse.ArgumentTypeError(f"{text!r} is not FUNCTION or LIBRARY:FUNCTION")
    return library, function


def build_parser() -> argparse.ArgumentParser:
    """funclatency's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("function", type=parse_target, metavar="FUNCTION",
                   help="the function to time: LIBRARY:FUNCTION for user space "
                        "(c:malloc, /usr/bin/bash:readline), FUNCTION for the kernel")
    units = p.add_mutually_exclusive_group()
    units.add_argument("-m", "--milliseconds", action="store_true", help="output in "
                       "milliseconds")
    units.add_argument("-u", "--microseconds", action="store_true", help="output in "
                       "microseconds")
    p.add_argument("-p", "--pid", type=int, help="trace this PID only")
    p.add_argument("-i", "--interval", type=float, help="summary interval in seconds")
    p.add_argument("-T", "--timestamp", action="store_true", help="print timestamp")
    add_picture_options(p)
    rt.add_json_option(p)
    return p


def attach_pair(skel: Funclatency, library: str | None, function: str, pid: int | None
                ) -> list:
    """Attach the entry and return programs to ``function`` (of
    ``library``, or of the kernel: kprobes); the attachments."""
    from ..kernel import attach

    entry, ret = skel.progs.on_entry, skel.progs.on_return
    done: list = []
    try:
        if library is None:
            done.append(attach.kprobe(entry, function))
            done.append(attach.kprobe(ret, function, retprobe=True))
        else:
            where = pid if pid else -1
            done.append(attach.uprobe(entry, library, function, pid=where))
            done.append(attach.uprobe(ret, library, function, retprobe=True, pid=where))
    except BaseException:
        for a in done:
            a.close()
        raise
    return done


def run(argv: list[str] | None = None) -> int:
    """Run funclatency with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    library, function = args.function
    unit = "msecs" if args.milliseconds else "usecs" if args.microseconds else "nsecs"
    label = f"{library}:{function}" if library else function
    if library is None:  # refuse early, before loading anything
        from ..errors import AttachError
        from ..kernel import attach

        reason = attach.no_kprobes_reason()
        if reason:
            raise AttachError(f"cannot time kernel function {function!r}: {reason}; "
                              f"user-space functions (LIBRARY:FUNCTION) work")
    skel = Funclatency(rt.object_path(NAME))
    skel.rodata.target_tgid = args.pid or 0
    skel.rodata.unit_ns = UNITS[unit]
    view = HistogramView(args, unit)
    with rt.open_tool(skel):
        hist = skel.maps.hist

        def tick() -> None:
            values = read_u64_array(hist, SLOTS + 2, clear=bool(args.interval))
            counts, total, calls = values[:SLOTS], values[SLOTS], values[SLOTS + 1]
            if args.json:
                rt.print_json({"time": time.time(), "function": label,
                               **hist_json(counts, unit), "total": total, "count": calls})
                return
            if view.heatmap:
                print(view.render(counts, when=time.strftime("%H:%M:%S")), flush=True)
                return
            if args.interval or args.timestamp:
                print(time.strftime("%H:%M:%S"))
            print(view.render(counts))
            if calls:
                print(f"\navg = {total // calls} {unit}, total: {total} {unit}, "
                      f"count: {calls}")
            print(flush=True)

        header = "" if args.json else f"Tracing {label}.  Hit Ctrl-C to exit"
        status = rt.run(skel, [], args.duration, header=header, every=args.interval,
                        tick=tick, command=args.command,
                        attach_with=lambda: attach_pair(skel, library, function, args.pid))
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
