"""syscount: count system calls by name (or by process), with their time.

::

    pybpf tools syscount -d 5          # top 10 system calls over 5 seconds
    pybpf tools syscount -P -i 1       # by process, every second
"""

from __future__ import annotations

import ctypes
import struct
import time

from . import _runtime as rt
from ._syscalls import syscall_name

NAME = "syscount"
DESCRIPTION = "Count system calls by name or process, with the time spent in them."

_STAT = struct.Struct("<QQ16s")


def read_stats(m) -> dict[int, tuple[int, int, str]]:
    """``{key: (count, total_ns, comm)}`` from the stats map."""
    from ..kernel import sys as _sys

    out = {}
    key, nxt = ctypes.c_int32(0), ctypes.c_int32(0)
    value = ctypes.create_string_buffer(_STAT.size)
    first = True
    while _sys.map_get_next_key(m.fd, 0 if first else ctypes.addressof(key),
                                ctypes.addressof(nxt)):
        first = False
        key.value = nxt.value
        if _sys.map_lookup_elem(m.fd, ctypes.addressof(key), ctypes.addressof(value)):
            count, total, comm = _STAT.unpack(value.raw)
            out[key.value] = (count, total, comm.split(b"\0", 1)[0].decode("utf-8", "replace"))
    return out


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


def run(argv: list[str] | None = None) -> int:
    """Run syscount with command-line arguments ``argv``."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only this process")
    p.add_argument("-P", "--process", action="store_true", help="count by process")
    p.add_argument("-L", "--latency", action="store_true", help="show the time spent")
    p.add_argument("-x", "--failed", action="store_true", help="only failed calls")
    p.add_argument("-T", "--top", type=int, default=10, help="rows to print (default 10)")
    p.add_argument("-i", "--interval", type=float, help="print every INTERVAL seconds")
    args = rt.parse_args(p, argv)
    with rt.open_tool(NAME, variables={"target_pid": args.pid,
                                       "by_process": 1 if args.process else None,
                                       "failed_only": 1 if args.failed else None}) as coll:
        stats = coll.maps["stats"]

        def tick() -> None:
            table = read_stats(stats)
            print(time.strftime("[%H:%M:%S]"))
            print(format_table(table, top=args.top, by_process=args.process,
                               latency=args.latency), flush=True)
            if args.interval:
                for k in table:
                    _delete(stats, k)

        status = rt.run(coll, [], args.duration, every=args.interval, tick=tick,
                        header="Tracing system calls... Ctrl-C to end.",
                        command=args.command)
    return status


def _delete(m, key: int) -> None:
    from ..kernel import sys as _sys

    k = ctypes.c_int32(key)
    _sys.map_delete_elem(m.fd, ctypes.addressof(k))


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
