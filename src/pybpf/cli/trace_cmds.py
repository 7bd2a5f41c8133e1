"""``pybpf trace``: bpftrace's language on pybpf.

::

    pybpf trace -e 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'
    pybpf trace script.bt ARG...        # $1, $2... are ARG...
    pybpf trace -l 'tracepoint:sched:*'
    pybpf trace --dry-run -e '...'      # the generated eBPF, nothing loaded
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["main", "register"]


def _read_program(args: argparse.Namespace) -> tuple[str, str, list[str]]:
    if args.program is not None:
        return args.program, "stdin", ([args.file] if args.file else []) + args.params
    if not args.file:
        raise SystemExit("pybpf trace: give a program with -e, or a .bt file (or -l)")
    if args.file == "-":
        return sys.stdin.read(), "stdin", args.params
    from ..errors import BPFError
    from .inputs import read_bytes

    data = read_bytes(args.file)
    try:
        return data.decode("utf-8"), args.file, args.params
    except UnicodeDecodeError as e:
        raise BPFError(f"{args.file}: not a bpftrace script (byte {e.start} is not "
                       f"UTF-8 text)") from None


def _dry_run(compiled: Any, out: Any) -> None:
    from ..isa import disassemble
    from ..spec import helper_name

    spec = compiled.object_spec()

    def names(hid: int) -> str | None:
        try:
            return helper_name(hid)
        except (KeyError, ValueError):
            return None

    for pi in compiled.generated.programs:
        ps = spec.programs[pi.name]
        out.write(f"; {pi.target.name}  (section {ps.section}, "
                  f"{len(ps.instructions)} instructions)\n")
        out.write(disassemble(ps.instructions, syntax="llvm", helper_names=names, pcs=True))
        out.write("\n")
    for name, m in spec.maps.items():
        out.write(f"; map {name}: {m.type} key {m.key_size} value {m.value_size} "
                  f"max_entries {m.max_entries}\n")


def _cmd_trace(args: argparse.Namespace) -> int:
    from ..errors import BPFError
    from ..trace import errors as trace_errors

    try:
        out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    except OSError as e:
        raise BPFError(f"{args.output}: {e.strerror or e}") from None
    try:
        if args.list is not None:
            from ..trace.probes import list_probes

            pattern = args.list or args.program or args.file or None
            for line in list_probes(pattern, verbose=args.verbose):
                out.write(line + "\n")
            return 0
        text, name, params = _read_program(args)
        try:
            if args.dry_run:
                from ..trace.runtime import compile as compile_program

                _dry_run(compile_program(text, name, params=params, unsafe=args.unsafe,
                                         pid=args.pid), out)
                return 0
            from ..trace.runtime import compile_for_run, run

            compiled = compile_for_run(text, name, params=params, unsafe=args.unsafe,
                                       pid=args.pid)
            run(compiled, out=out, json=args.format == "json", command=args.command,
                pid=args.pid, verbose=args.verbose, duration=args.duration)
        except trace_errors.TraceError as e:
            print(str(e), file=sys.stderr)
            return 1
        return 0
    finally:
        if out is not sys.stdout:
            out.close()


_DESCRIPTION = ("Run a program in bpftrace's language: probes (tracepoint, uprobe, usdt, "
                    "interval, profile, software, hardware, BEGIN/END), maps and their "
                    "functions, printf; maps are printed at exit as bpftrace prints them.")


def register(sub: Any) -> None:
    """Add ``trace`` to the ``pybpf`` subcommands ``sub``."""
    p = sub.add_parser("trace", help="run a bpftrace program (one-liners, .bt files) on pybpf",
                       description=_DESCRIPTION)
    _add_arguments(p)


def main(argv: list[str]) -> int:
    """``pybpf trace ARGS``, parsing only its own arguments (fast start-up)."""
    p = argparse.ArgumentParser(prog="pybpf trace", description=_DESCRIPTION)
    _add_arguments(p)
    args = p.parse_args(argv)
    from ..errors import BPFError

    try:
        return _cmd_trace(args)
    except BPFError as e:
        print(f"pybpf: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="a .bt program ('-': standard input); with -e, the first parameter")
    p.add_argument("params", nargs="*", metavar="ARG", help="positional parameters $1, $2...")
    p.add_argument("-e", dest="program", metavar="PROGRAM", help="the program text")
    p.add_argument("-l", dest="list", nargs="?", const="", metavar="PATTERN",
                   help="list probes matching PATTERN (wildcards; with -v, tracepoint fields)")
    p.add_argument("-p", dest="pid", type=int, metavar="PID",
                   help="uprobes, USDT and perf events of process PID only")
    p.add_argument("-c", dest="command", metavar="CMD",
                   help="run CMD (stopped until the probes are attached) and stop when it "
                        "ends; its pid is cpid")
    p.add_argument("-f", dest="format", choices=("text", "json"), default="text",
                   help="output format")
    p.add_argument("-o", dest="output", metavar="FILE", help="write the output to FILE")
    p.add_argument("-v", dest="verbose", action="store_true",
                   help="print the verifier's log of each program (with -l: probe fields)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the generated eBPF and maps; load nothing")
    p.add_argument("--unsafe", action="store_true", help="allow system() and signal()")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS, as Ctrl-C would")
    p.set_defaults(func=_cmd_trace)
