"""``pybpf gen bindings OBJECT.o [-o FILE.py]``: typed Python bindings for
an object (:mod:`pybpf.bindings.generate`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_gen_bindings(args: argparse.Namespace) -> int:
    """Write the bindings module of an object."""
    from pathlib import Path

    from ..bindings.generate import generate
    from ..elf import load_object
    from .inputs import read_bytes

    data = read_bytes(args.object)
    spec = load_object(data, path=args.object)
    text = generate(spec, data, object_name=Path(args.object).name, class_name=args.name,
                    embed=not args.no_embed, object_file=args.object_file)
    if args.output:
        from .output import write_file

        write_file(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Any) -> None:
    """Add ``gen`` and its verbs to the CLI's subparsers."""
    p = sub.add_parser("gen", help="generate code from an object (typed Python bindings)",
                       description="Generate code from a BPF object.")
    gsub = p.add_subparsers(dest="gen_command", metavar="COMMAND", required=True,
                            help="what to generate")
    q = gsub.add_parser(
        "bindings", help="a typed Python module for an object (like bpftool gen skeleton)",
        description="Write a Python module with a dataclass per BTF record the object's maps, "
                    "ring buffers and globals use, and a class with typed maps, programs and "
                    "data-section variables that loads the object in the VM or the kernel. "
                    "The object is embedded unless --no-embed.")
    q.add_argument("object", metavar="OBJECT.o", help="the BPF object file")
    q.add_argument("-o", "--output", metavar="FILE.py", help="write the module to FILE.py "
                                                             "(default: standard output)")
    q.add_argument("--name", metavar="CLASS", help="the object class's name (default: from "
                                                   "the file name, xdp_count.bpf.o -> XdpCount)")
    q.add_argument("--no-embed", action="store_true",
                   help="do not embed the object: the class takes its path")
    q.add_argument("--object-file", metavar="PATH",
                   help="do not embed the object: the class loads the file at PATH, relative "
                        "to the generated module (../objects/x.bpf.o), unless given another "
                        "path (for objects shipped beside their bindings)")
    q.set_defaults(func=cmd_gen_bindings)
