"""biosnoop: trace block device I/O — process, disk, operation, size, latency.

::

    pybpf tools biosnoop               # every request, until Ctrl-C
    pybpf tools biosnoop -Q --disk vda # one disk, with time queued in the OS
"""

from __future__ import annotations

from . import _runtime as rt
from ._block import disk_name, op_name
from .bindings.biosnoop_bpf import BioEvent, Biosnoop
from .biolatency import parse_disk

NAME = "biosnoop"
DESCRIPTION = "Trace block device I/O: process, disk, operation, sector, bytes and latency."

NO_SECTOR = (1 << 64) - 1
"""The sector of requests without one (a flush)."""

OP_LETTERS = {"Read": "R", "Write": "W", "Flush": "F", "Discard": "D", "WriteZeroes": "Z"}
"""bcc's one-letter operation column."""


def format_event(e: BioEvent, *, start: int, queued: bool = False) -> str:
    """One output line for a request, in bcc's biosnoop columns."""
    op = op_name(e.op)
    sector = "-" if e.sector == NO_SECTOR else e.sector
    line = (f"{(e.ts_ns - start) / 1e9:<11.6f} {e.comm:<14.14} {e.pid:<7} "
            f"{disk_name(e.dev):<9} {OP_LETTERS.get(op, '?')} {sector:<10} {e.bytes_:<7} ")
    if queued:
        line += f"{e.queued_ns / 1e6:>7.2f} "
    return line + f"{e.latency_ns / 1e6:>7.2f}"


def event_json(e: BioEvent) -> dict:
    """One request as a JSON object."""
    return rt.record_json(e, disk=disk_name(e.dev), op=op_name(e.op),
                          sector=None if e.sector == NO_SECTOR else e.sector,
                          latency_ms=e.latency_ns / 1e6, queued_ms=e.queued_ns / 1e6)


def build_parser():
    """biosnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-Q", "--queue", action="store_true",
                   help="print the time queued in the OS (insertion to issue)")
    p.add_argument("--disk", type=parse_disk, metavar="DISK",
                   help="only this disk (vda, /dev/sda)")
    p.add_argument("-p", "--pid", type=int, help="only I/O started by this process")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run biosnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    first: list[int] = []

    def show(e: BioEvent) -> None:
        if args.pid and e.pid != args.pid:
            return
        if args.json:
            rt.print_json(event_json(e))
            return
        if not first:
            first.append(e.ts_ns)
        print(format_event(e, start=first[0], queued=args.queue), flush=True)

    header = "" if args.json else (
        f"{'TIME(s)':<11} {'COMM':<14} {'PID':<7} {'DISK':<9} T {'SECTOR':<10} {'BYTES':<7} "
        + (f"{'QUE(ms)':>7} " if args.queue else "") + f"{'LAT(ms)':>7}")
    skel = Biosnoop(rt.object_path(NAME))
    skel.rodata.target_dev = args.disk or 0
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        status = rt.run(skel, [rb], args.duration, header=header,
                        optional=("on_io_start", "on_insert"), command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
