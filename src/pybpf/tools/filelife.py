"""filelife: trace short-lived files — created and deleted while tracing.

::

    pybpf tools filelife               # until Ctrl-C
    pybpf tools filelife -p 1234 -j    # files one process creates, as JSON lines

Files are seen being created by open(2)/openat(2)/creat(2) with O_CREAT
(any file system) and being deleted on ext4 (the ext4:ext4_unlink_enter
tracepoint): without kprobes there is no tracepoint for unlinks in
general, so files deleted on other file systems (tmpfs, xfs, btrfs) are
not reported.
"""

from __future__ import annotations

import os
import time

from ..spec.tracing import FMODE_CREATED, O_CREAT
from . import _runtime as rt
from .bindings.filelife_bpf import Filelife, LifeEvent

NAME = "filelife"
DESCRIPTION = ("Trace files created and deleted while tracing: who deleted them, their "
               "age and name.\n\nCreation is seen on every file system (opens with "
               "O_CREAT that create), deletion only on ext4 (ext4:ext4_unlink_enter; "
               "bcc's kprobe on vfs_unlink is not available here).")


def format_event(e: LifeEvent, *, full_path: bool = False) -> str:
    """One output line for a file, in bcc's filelife columns (the path as
    given at creation with ``full_path``, else its last part)."""
    name = e.path if full_path else os.path.basename(e.path) or e.path
    return f"{time.strftime('%H:%M:%S')} {e.pid:<7} {e.comm:<16} {e.age_ns / 1e9:>7.2f} {name}"


def event_json(e: LifeEvent) -> dict:
    """One file as a JSON object."""
    return rt.record_json(e, time=time.time(), age_s=e.age_ns / 1e9,
                          file=os.path.basename(e.path) or e.path)


def build_parser():
    """filelife's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only files created by this process")
    p.add_argument("-a", "--path", action="store_true",
                   help="print the path as given at creation, not its last part")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run filelife with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)

    def show(e: LifeEvent) -> None:
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, full_path=args.path), flush=True)

    header = "" if args.json else f"{'TIME':<8} {'PID':<7} {'COMM':<16} {'AGE(s)':>7} FILE"
    skel = Filelife(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.o_creat = O_CREAT
    skel.rodata.fmode_created = FMODE_CREATED
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header,
                        optional=("enter_open", "exit_open", "enter_creat", "exit_creat"),
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
