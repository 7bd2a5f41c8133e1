"""bashreadline: the command lines typed into bash, from every bash process.

::

    pybpf tools bashreadline                   # until Ctrl-C
    pybpf tools bashreadline -s /lib/x86_64-linux-gnu/libreadline.so.8

A uretprobe on ``readline()`` reads the line it returns.  The function is
looked up in bash (``$PATH``'s, or ``--bash``), which usually carries its
own copy of readline; where bash uses the shared library instead, in
``libreadline`` (or ``-s LIBRARY``).  Only processes called ``bash`` are
reported (``-a`` for any program using that readline).
"""

from __future__ import annotations

import argparse
import os
import time

from . import _runtime as rt
from .bindings.bashreadline_bpf import Bashreadline, ReadlineEvent

NAME = "bashreadline"
DESCRIPTION = "Print entered bash commands from all running shells."
FUNCTION = "readline"


def readline_binary(bash: str | None = None, shared: str | None = None) -> str:
    """The file whose ``readline`` to probe: ``shared`` when given, else
    bash when it defines readline itself, else the shared libreadline."""
    from ..errors import BPFError
    from ..kernel.symbols import ElfBinary, find_binary

    if shared:
        return find_binary(shared)
    path = find_binary(bash or "bash")
    with ElfBinary(path) as elf:
        if FUNCTION in elf.symbols():
            return path
    try:
        return find_binary("readline")
    except BPFError:
        raise BPFError(f"{path} has no {FUNCTION}() and no libreadline was found: "
                       f"give it with -s LIBRARY") from None


def return_register_offset(machine: str | None = None) -> int:
    """Where ``struct pt_regs`` keeps a function's return value on
    ``machine`` (this one by default), in bytes."""
    from ..errors import BPFError
    from ..spec import uprobe as regs

    machine = machine or os.uname().machine
    reg = regs.RETURN_REGISTERS.get(machine)
    if reg is None:
        raise BPFError(f"bashreadline: return values on {machine} are not supported")
    member = regs.REGISTERS[machine][reg]
    if member in regs.AARCH64_PT_REGS_OFFSETS and machine in ("aarch64", "arm64"):
        return regs.AARCH64_PT_REGS_OFFSETS[member]
    from ..spec.layout import struct_layout

    return {f.name: f.offset for f in struct_layout("pt_regs").fields}[member]


def build_parser() -> argparse.ArgumentParser:
    """bashreadline's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-s", "--shared", metavar="LIBRARY",
                   help="the location of libreadline.so library (when bash does not "
                        "carry its own readline)")
    p.add_argument("--bash", metavar="PATH", help="the bash binary (default: bash on $PATH)")
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-a", "--any-command", action="store_true",
                   help="report any program calling that readline, not only bash")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run bashreadline with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    binary = readline_binary(args.bash, args.shared)
    skel = Bashreadline(rt.object_path(NAME))
    skel.rodata.ret_reg_offset = return_register_offset()
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.any_comm = args.any_command

    def show(e: ReadlineEvent) -> None:
        line = e.str_.rstrip("\n")
        if args.json:
            rt.print_json({"time": time.time(), "pid": e.pid, "comm": e.comm, "line": line})
        else:
            print(f"{time.strftime('%H:%M:%S'):<9} {e.pid:<7} {line}", flush=True)

    def attach_readline() -> list:
        from ..kernel import attach

        return [attach.uprobe(skel.progs.on_readline_return, binary, FUNCTION,
                              retprobe=True)]

    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        header = "" if args.json else f"{'TIME':<9} {'PID':<7} COMMAND"
        status = rt.run(skel, [rb], args.duration, header=header, command=args.command,
                        attach_with=attach_readline)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
