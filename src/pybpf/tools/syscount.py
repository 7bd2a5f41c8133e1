"""syscount: count system calls by name (or by process), with their time.

::

    pybpf tools syscount -d 5          # top 10 system calls over 5 seconds
    pybpf tools syscount -P -i 1       # by process, every second
"""

from __future__ import annotations

import time

from ..bindings.runtime import TypedMap
from . import _runtime as rt
from ._syscalls import syscall_name
from .bindings.syscount_bpf import Syscount, SysStat

NAME = "syscount"
DESCRIPTION = "Count system calls by name or process, with the time spent in them."

def read_stats(stats: TypedMap[int, SysStat]) -> dict[int, tuple[int, int, str]]:
    """``{key: (count, total_ns, comm)}`` from the stats map."""
    return {key: (stat.count, stat.total_ns, stat.comm) for key, stat in stats.items()}


def format_table(stats: dict[int, tuple[int, int, str]], *, top: int, by_process: bool,
                 latency: bool) -> str:
    """The top ``top`` rows, most frequent first."""
    head = f"{'PID':>7} {'COMM':<16}" if by_process else f"{'SYSCALL':<22}"
    head += f" {'COUNT':>10}" + (f" {'TIME (us)':>14}" if latency else "")
    lines = [head]
    for key, (count, total, comm) in sorted(stats.items(), key=lambda kv: -kv[1][0])[:top]:
        row = f"{key:>7} {comm:<16}" if by_process else f"{syscall_name(key):<22}"
        row += f" {count:>10}" + (f" {total / 1000:>14.1f}" if latency else "")
        lines.append(row)
    return "\n".join(lines)


def rows_json(stats: dict[int, tuple[int, int, str]], *, top: int, by_process: bool
              ) -> list[dict]:
    """The top ``top`` rows as JSON objects, most frequent first."""
    out = []
    for key, (count, total, comm) in sorted(stats.items(), key=lambda kv: -kv[1][0])[:top]:
        row = {"pid": key, "comm": comm} if by_process else {"syscall": syscall_name(key),
                                                              "nr": key}
        out.append({**row, "count": count, "time_ns": total})
    return out


def build_parser():
    """syscount's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-P", "--process", action="store_true", help="count by process")
    p.add_argument("-L", "--latency", action="store_true", help="show the time spent")
    p.add_argument("-x", "--failed", action="store_true", help="only failed calls")
    p.add_argument("-T", "--top", type=int, default=10, help="rows to print (default 10)")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run syscount with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    skel = Syscount(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.by_process = args.process
    skel.rodata.failed_only = args.failed
    with rt.open_tool(skel):
        stats = skel.maps.stats

        def tick() -> None:
            table = read_stats(stats)
            if args.json:
                stamp = time.time()
                for row in rows_json(table, top=args.top, by_process=args.process):
                    rt.print_json({"time": stamp, **row})
            else:
                print(time.strftime("[%H:%M:%S]"))
                print(format_table(table, top=args.top, by_process=args.process,
                                   latency=args.latency), flush=True)
            if args.interval:
                for k in table:
                    stats.delete(k)

        status = rt.run(skel, [], args.duration, every=args.interval, tick=tick,
                        header="" if args.json else "Tracing system calls... Ctrl-C to end.",
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
