"""Kernel commands of the ``pybpf`` CLI: ``load`` and ``tools`` here, and
the bpftool verbs (``prog``, ``map``, ``link``, ``net``, ``cgroup``,
``feature``, ``perf``) registered from their modules.

:func:`register` adds them to the CLI's subparsers; each ``cmd_*`` function
takes the parsed arguments and returns the exit status.  Everything here is
a thin layer over :mod:`pybpf.kernel` (loading, attaching and the readers),
and importing this module costs only argparse.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .diagnostics import add_log_options, log_level, write_logs

# --- load ----------------------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[str, int | bytes]:
    """``NAME=VALUE`` with VALUE an integer (``10``, ``0x1f``, ``-1``) or a
    string (stored NUL-padded): ``(name, value)``."""
    from ..errors import BPFError

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise BPFError(f"--set {text!r} is not NAME=VALUE")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value.encode()


def set_variable(spec: Any, name: str, value: int | bytes) -> None:
    """Set global variable (or ``.rodata`` knob) ``name`` of ``spec``; a
    string is NUL-padded to the variable's size."""
    if isinstance(value, bytes):
        size = spec.variables[name][2] if name in spec.variables else len(value)
        value = value[:size].ljust(size, b"\0")
    spec.set_variable(name, value)


def record_types(texts: Any, coll: Any) -> dict[str, str]:
    """``--record-type [MAP=]TYPE`` options -> {map name: type}: a TYPE
    without a map is for every ring and perf buffer of ``coll``."""
    from ..errors import BPFError

    buffers = [n for n, m in coll.maps.items() if m.type in ("ringbuf", "perf_event_array")]
    out: dict[str, str] = {}
    for text in texts:
        name, sep, type_ = text.rpartition("=")
        if sep and name not in buffers:
            raise BPFError(f"--record-type {text!r}: no ring or perf buffer {name!r} "
                           f"(buffers: {', '.join(buffers) or 'none'})")
        out.update({n: type_ for n in ([name] if sep else buffers)})
    return out


def _print_record(source: str, record: Any) -> None:
    if isinstance(record, bytes):
        text = record.hex()
    elif hasattr(record, "_asdict"):
        text = " ".join(f"{k}={v!r}" for k, v in record._asdict().items())
    elif isinstance(record, dict):
        text = " ".join(f"{k}={v!r}" for k, v in record.items())
    else:
        text = repr(record)
    print(f"{source}: {text}", flush=True)


def cmd_load(args: argparse.Namespace) -> int:
    """``pybpf load FILE.o [--attach] [--pin DIR] [--set NAME=VALUE...]
    [--record-type [MAP=]TYPE...]``:
    load every program (and attach them), then print ring-buffer, perf-buffer
    and ``bpf_printk`` output until Ctrl-C or SIGTERM (:func:`pybpf.kernel.run`);
    everything is closed on the way out (pinned objects stay).  The status
    is 1 when a program could not be attached."""
    import os

    from .. import kernel
    from ..elf import load_object
    from ..errors import BPFError
    from ..kernel.runner import stoppable

    spec = load_object(args.file)
    for text in args.set or ():
        set_variable(spec, *parse_assignment(text))
    options: dict[str, Any] = {}
    if args.interface:
        options["interface"] = args.interface
    if args.cgroup:
        options["cgroup"] = args.cgroup

    def attached(name: str, link: Any) -> None:
        print(f"attached {name} to {link.target}", flush=True)
        if args.pin:
            try:
                link.pin(os.path.join(args.pin, f"link_{name}"))
            except BPFError as e:  # not a BPF link: it ends with the command
                print(f"pybpf: {e}", file=sys.stderr)

    def not_attached(name: str, error: BPFError) -> None:
        print(f"pybpf: cannot attach {name}: {error}", file=sys.stderr)

    def ready(coll: Any) -> None:  # how each buffer's records print, said once
        for reader in coll.readers:
            if getattr(reader, "record", None) is not None:
                print(reader.record.describe(), file=sys.stderr)
        print("running; Ctrl-C to stop", file=sys.stderr, flush=True)

    def lost(name: str, cpu: int, count: int) -> None:
        print(f"{name}: lost {count} samples on cpu {cpu}", file=sys.stderr)

    def printk(line: Any) -> None:
        print(f"printk: {line.comm}-{line.pid} [{line.cpu}] {line.timestamp:.6f}: "
              f"{line.message}", flush=True)

    failed: dict[str, BPFError] = {}
    try:
        coll = kernel.load(spec, pin_dir=args.pin, log_level=log_level(args),
                           skip_failed=args.skip_failed)
    except BPFError as e:
        if getattr(e, "log", ""):
            write_logs(args, [(getattr(e, "program", None) or "the program", e.log)])
        raise
    write_logs(args, [(name, prog.log) for name, prog in coll.programs.items()])
    with stoppable(), coll:
        for name, error in coll.failed.items():
            print(f"pybpf: not loaded {name}: {error}", file=sys.stderr)
        for name, prog in coll.programs.items():
            info = prog.info()
            print(f"loaded {name} ({prog.type}, id {info.id}, "
                  f"{info.xlated_size // 8} insns)", flush=True)
            if args.pin:
                prog.pin(os.path.join(args.pin, name))
        if args.pin:
            for name, m in coll.maps.items():
                path = os.path.join(args.pin, name.lstrip("."))
                if not os.path.exists(path):
                    m.pin(path)
        coll.record_hints = record_types(args.record_type or (), coll)
        result = kernel.run(
            coll, attach=args.attach, options=options, on_attach=attached,
            on_attach_error=not_attached, on_record=_print_record, on_lost=lost,
            on_printk=printk, duration=args.duration, on_ready=lambda: ready(coll))
        failed = result.failed
    print("closed", file=sys.stderr)
    if failed:
        print(f"pybpf: {len(failed)} program{'s' if len(failed) > 1 else ''} not attached: "
              f"{', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --- tools ---------------------------------------------------------------------------------


def cmd_tools(args: argparse.Namespace) -> int:
    """``pybpf tools NAME [ARGS...]``: run one of :mod:`pybpf.tools`."""
    from ..tools import TOOLS, run_tool

    if not args.name:
        print("tools:")
        for name, text in TOOLS.items():
            print(f"  {name:<12} {text}")
        return 0
    return run_tool(args.name, args.args)


# --- registration ----------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``prog``, ``map``, ``link``, ``net``, ``cgroup``, ``feature``,
    ``perf``, ``load`` and ``tools`` to the CLI's subparsers."""
    from . import map_cmds, prog_cmds, system_cmds

    prog_cmds.register(sub)
    map_cmds.register(sub)
    system_cmds.register(sub)

    p = sub.add_parser("load", help="load an object's programs into the kernel and watch them",
                       description="Load every program of FILE.o (attaching them with "
                                   "--attach), print ring-buffer, perf-buffer and bpf_printk "
                                   "output until Ctrl-C or SIGTERM, then close everything.")
    p.add_argument("file", metavar="FILE.o", help="the BPF object file to load")
    p.add_argument("--attach", action="store_true",
                   help="attach each program where its section says")
    p.add_argument("--pin", metavar="DIR", help="pin programs, maps and links under DIR "
                                                "(a bpffs directory; they outlive the command)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a global variable (a const volatile knob) before loading")
    p.add_argument("--skip-failed", action="store_true",
                   help="load the other programs when one is refused (and say why)")
    p.add_argument("--interface", metavar="IFACE", help="interface for xdp and tc programs")
    p.add_argument("--cgroup", metavar="PATH", help="cgroup for cgroup programs "
                                                    "(default: the root)")
    p.add_argument("--record-type", action="append", metavar="[MAP=]TYPE",
                   help="decode MAP's records (every buffer's without MAP=) as BTF type "
                        "TYPE, e.g. 'events=struct event' (default: the type the object "
                        "names with BPF_RECORD or the map's value type)")
    p.add_argument("-d", "--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS")
    add_log_options(p)
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("tools", help="run a tracing tool (exitsnoop, execsnoop, ...)",
                       description="Run one of pybpf's tracing tools; "
                                   "'pybpf tools NAME --help' for its options.",
                       add_help=True)
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="the tool to run (without one: the list of tools)")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="the tool's own options ('pybpf tools NAME --help')")
    p.set_defaults(func=cmd_tools)
