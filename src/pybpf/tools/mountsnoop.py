"""mountsnoop: trace mount(2), umount(2) and the new mount API system-wide.

::

    pybpf tools mountsnoop             # until Ctrl-C
    pybpf tools mountsnoop -j -d 60    # JSON lines for a minute
"""

from __future__ import annotations

import errno
import os
import time

from ..spec.tracing import MOUNT_FLAGS, UMOUNT_FLAGS
from . import _runtime as rt
from .bindings.mountsnoop_bpf import MountEvent, Mountsnoop

NAME = "mountsnoop"
DESCRIPTION = "Trace mount(2), umount(2), fsopen(2), fsmount(2) and move_mount(2): " \
              "process, mount namespace, arguments and result."
CALLS = ("mount", "umount", "fsopen", "fsmount", "move_mount")
"""The system calls, as the events number them."""


def flag_names(flags: int, table: tuple[tuple[str, int], ...]) -> str:
    """``MS_NOSUID|MS_NODEV``; ``0`` without flags, unknown bits in hex."""
    names, rest = [], flags
    for name, bit in table:
        if flags & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


def result(ret: int) -> str:
    """``0``, or ``-ENOENT`` for an error."""
    if ret >= 0:
        return str(ret)
    return "-" + errno.errorcode.get(-ret, str(-ret))


def describe_call(e: MountEvent) -> str:
    """The call as C would write it, with its result: ``mount("none",
    "/mnt", "tmpfs", MS_NOSUID, "") = 0``."""
    call = CALLS[e.call] if 0 <= e.call < len(CALLS) else str(e.call)
    if call == "mount":
        args = (f'"{e.source}", "{e.target}", "{e.fstype}", '
                f'{flag_names(e.flags, MOUNT_FLAGS)}, "{e.data}"')
    elif call == "umount":
        args = f'"{e.target}", {flag_names(e.flags, UMOUNT_FLAGS)}'
    elif call == "fsopen":
        args = f'"{e.fstype}", {e.flags:#x}'
    elif call == "fsmount":
        args = f"{e.fd}, {e.flags:#x}"
    else:
        args = f'{e.fd}, "{e.source}", "{e.target}", {e.flags:#x}'
    return f"{call}({args}) = {result(e.ret)}"


def format_event(e: MountEvent, *, timestamp: bool = False) -> str:
    """One output line, in bcc's mountsnoop columns."""
    line = f"{e.comm:<16} {e.pid:<7} {e.tid:<7} {e.mnt_ns:<11} {describe_call(e)}"
    return (time.strftime("%H:%M:%S ") + line) if timestamp else line


def event_json(e: MountEvent) -> dict:
    """One call as a JSON object."""
    return rt.record_json(e, time=time.time(),
                          call=CALLS[e.call] if 0 <= e.call < len(CALLS) else e.call,
                          error=errno.errorcode.get(-e.ret, "") if e.ret < 0 else "")


def build_parser():
    """mountsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-t", "--timestamp", action="store_true", help="print the time")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run mountsnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    me = os.getpid()

    def show(e: MountEvent) -> None:
        if e.pid == me:
            return
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e, timestamp=args.timestamp), flush=True)

    header = "" if args.json else (("TIME     " if args.timestamp else "") +
                                   f"{'COMM':<16} {'PID':<7} {'TID':<7} {'MNT_NS':<11} CALL")
    skel = Mountsnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header,
                        optional=("enter_fsopen", "exit_fsopen", "enter_fsmount",
                                  "exit_fsmount", "enter_move_mount", "exit_move_mount"),
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
