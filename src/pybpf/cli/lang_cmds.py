"""``pybpf compile FILE.py`` and ``pybpf run-py FILE.py``: eBPF programs
written in Python (:mod:`pybpf.lang`) compiled to a standard ELF object,
or compiled, loaded, attached and printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _knobs(assignments: list[str] | None) -> dict[str, int | bytes]:
    from .kernel_cmds import parse_assignment

    return dict(parse_assignment(a) for a in assignments or ())


def _cmd_compile(args: argparse.Namespace) -> int:
    from ..lang.compiler import compile_file

    source = Path(args.file)
    compiled = compile_file(source, optimize=args.opt)
    if args.emit_llvm:
        sys.stdout.write(compiled.backend.ir_text())
        return 0
    out = Path(args.output) if args.output else Path(source.with_suffix(".o").name)
    compiled.write(out)
    if args.time:
        print(f"{source}: {compiled.frontend_seconds * 1000:.1f} ms front end + "
              f"{compiled.llvm_seconds * 1000:.1f} ms LLVM -> {out} ({len(compiled.elf)} bytes)",
              file=sys.stderr)
    return 0


def _cmd_run_py(args: argparse.Namespace) -> int:
    from ..lang.run import run

    run(args.file, duration=args.duration, knobs=_knobs(args.set))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``compile`` and ``run-py`` to the ``pybpf`` command."""
    p = sub.add_parser("compile", help="compile eBPF programs written in Python to an object file",
                       description="Compile a program file written in pybpf.lang (a typed "
                       "subset of Python) through LLVM's BPF backend to a standard ELF object "
                       "with BTF and line info (libbpf and bpftool load it too).")
    p.add_argument("file", help="the Python program file")
    p.add_argument("-o", "--output", help="the object to write (default: FILE.o here)")
    p.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2, 3), default=2,
                   help="LLVM optimisation level (default 2)")
    p.add_argument("--emit-llvm", action="store_true",
                   help="print the LLVM IR instead of writing the object")
    p.add_argument("--time", action="store_true", help="print how long compiling took")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("run-py", help="compile a Python eBPF program, load, attach and print",
                       description="Compile a pybpf.lang program file, load it into the "
                       "kernel, attach every program where its section says, print each "
                       "record its ring and perf buffers carry until Ctrl-C (or -d), then "
                       "print its hash and array maps.")
    p.add_argument("file", help="the Python program file")
    p.add_argument("-d", "--duration", type=float, help="stop after this many seconds")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a Knob before loading (repeatable)")
    p.set_defaults(func=_cmd_run_py)
