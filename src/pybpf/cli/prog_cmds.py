"""``pybpf prog``: programs loaded in the kernel, as bpftool shows them.

``prog list|show [PROG]``, ``prog dump xlated PROG [file F] [opcodes]
[linum] [visual]``, ``prog dump jited PROG [file F] [opcodes]`` and ``prog
pin PROG FILE``, where PROG is ``id N | name NAME | tag TAG | pinned PATH``
(or a bare id, path or name).  ``prog show PROG --graph dot|svg`` and
``visual`` draw the control-flow graph (:mod:`.graphs`).  Text and JSON follow bpftool's; the listing comes
from :mod:`pybpf.kernel.info`, the dumps from :mod:`pybpf.kernel.xlated`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from .output import add_output_options, hex_bytes, hex_list, json_mode, note, print_json, write_file
from .selectors import ArgumentError, Words, select_ids


def boot_time_text(epoch: int) -> str:
    """A load time as bpftool prints it: ``2026-12-03T05:42:26+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def program_record(p: Any) -> dict[str, Any]:
    """A program's :class:`~pybpf.kernel.info.ProgramInfo` under bpftool's
    JSON names (``verified_insns`` besides)."""
    r: dict[str, Any] = {"id": p.id, "type": p.type, "name": p.name, "tag": p.tag}
    r["gpl_compatible"] = p.gpl_compatible
    if p.run_time_ns:
        r["run_time_ns"] = p.run_time_ns
        r["run_cnt"] = p.run_cnt
    if p.recursion_misses:
        r["recursion_misses"] = p.recursion_misses
    if p.load_time_ns:
        r["loaded_at"] = p.load_epoch
        r["uid"] = p.created_by_uid
    r["bytes_xlated"] = p.xlated_size
    r["jited"] = p.jited
    if p.jited:
        r["bytes_jited"] = p.jited_size
    if p.memlock is not None:
        r["bytes_memlock"] = p.memlock
    if p.map_ids:
        r["map_ids"] = list(p.map_ids)
    if p.btf_id:
        r["btf_id"] = p.btf_id
    r["verified_insns"] = p.verified_insns
    return r


def program_text(p: Any) -> str:
    """A program as ``bpftool prog show`` prints it."""
    line = f"{p.id}: {p.type}  " + (f"name {p.name}  " if p.name else "") + f"tag {p.tag}"
    if p.gpl_compatible:
        line += "  gpl"
    if p.run_time_ns:
        line += f" run_time_ns {p.run_time_ns} run_cnt {p.run_cnt}"
    if p.recursion_misses:
        line += f" recursion_misses {p.recursion_misses}"
    if p.load_time_ns:
        line += f"\n\tloaded_at {boot_time_text(p.load_epoch)}  uid {p.created_by_uid}"
    line += f"\n\txlated {p.xlated_size}B" + (f"  jited {p.jited_size}B" if p.jited
                                               else "  not jited")
    if p.memlock is not None:
        line += f"  memlock {p.memlock}B"
    if p.map_ids:
        line += f"  map_ids {','.join(map(str, p.map_ids))}"
    if p.btf_id:
        line += f"\n\tbtf_id {p.btf_id}"
    return line


def _info_of(prog_id: int) -> Any:
    from ..kernel import info
    from ..kernel import sys as ksys

    with ksys.get_fd_by_id("prog", prog_id) as fd:
        return info.program_info(int(fd))


def cmd_prog_show(args: argparse.Namespace) -> int:
    """``pybpf prog list|show [PROG]``: every program, or the selected ones
    (with the links that attach them)."""
    from ..kernel import info

    words = Words(args.words, "prog show")
    if getattr(args, "graph", None):
        return _show_graph(args, words)
    if words:
        programs = [_info_of(i) for i in select_ids(words, "prog")]
        words.done()
        links = list(info.links())
    else:
        programs, links = list(info.programs()), None
    records = []
    for p in programs:
        r = program_record(p)
        if links is not None:
            r["links"] = [{"id": lk.id, "type": lk.type, **lk.details} for lk in links
                          if lk.prog_id == p.id]
        records.append(r)
    if json_mode(args):
        print_json(args, records[0] if links is not None and len(records) == 1 else records)
        return 0
    for p, r in zip(programs, records):
        print(program_text(p))
        for lk in r.get("links", ()):
            extra = "  ".join(f"{k} {v}" for k, v in lk.items() if k not in ("id", "type"))
            print(f"\tlink {lk['id']}: {lk['type']}" + (f"  {extra}" if extra else ""))
    return 0


def _show_graph(args: argparse.Namespace, words: Words) -> int:
    """``prog show PROG --graph dot|svg``: the selected programs' graphs."""
    from ..kernel.xlated import KernelSymbols
    from .graphs import emit_graph, kernel_program_graph

    if not words:
        raise ArgumentError("prog show --graph: name the programs to draw (PROG)")
    ids = select_ids(words, "prog")
    words.done()
    symbols = KernelSymbols()
    emit_graph(args, [kernel_program_graph(i, symbols) for i in ids])
    return 0


def _dump_options(words: Words, jited: bool) -> tuple[str | None, bool, bool, bool]:
    path, opcodes, linum, visual = None, False, False, False
    while words:
        word = words.take("file FILE | opcodes | linum")
        if word == "file":
            path = words.take("file FILE")
        elif word == "opcodes":
            opcodes = True
        elif word == "linum":
            linum = True
        elif word == "visual" and not jited:
            visual = True
        else:
            raise ArgumentError(f"prog dump: expected file FILE | opcodes | linum, "
                                f"got {word!r}")
    return path, opcodes, linum, visual


def _opcodes_json(raw: bytes) -> dict[str, Any]:
    return {"code": f"0x{raw[0]:02x}", "src_reg": f"0x{raw[1] >> 4:x}",
            "dst_reg": f"0x{raw[1] & 0x0F:x}", "off": hex_list(raw[2:4]),
            "imm": hex_list(raw[4:])}


def _xlated(prog_id: int, args: argparse.Namespace, path: str | None, opcodes: bool,
            linum: bool, symbols: Any) -> Any:
    from ..errors import BPFError
    from ..kernel import sys as ksys
    from ..kernel import xlated

    with ksys.get_fd_by_id("prog", prog_id) as fd:
        image = xlated.ProgramImage(int(fd))
        if not image.xlated:
            raise BPFError(f"program {prog_id}: the kernel returned no instructions "
                           f"(kernel.kptr_restrict, or no CAP_SYS_ADMIN)")
        if path:
            write_file(path, image.xlated)
            return None
        lines = xlated.xlated_lines(int(fd), image, symbols)
    if json_mode(args):
        out = []
        for ln in lines:
            r: dict[str, Any] = {}
            if ln.proto:
                r["proto"] = ln.proto
            if ln.source:
                r["src"] = ln.source.text
                if linum:
                    r["file"] = ln.source.file
                    r["line_num"] = ln.source.line
                    if ln.source.column:
                        r["line_col"] = ln.source.column
            r["disasm"] = ln.text
            if opcodes:
                r["opcodes"] = _opcodes_json(ln.raw)
            out.append(r)
        return out
    text = []
    for ln in lines:
        if ln.proto:
            text.append(f"{ln.proto}:")
        if ln.source:
            src = f"; {ln.source.text}"
            if linum:
                src += f" [file:{ln.source.file} line_num:{ln.source.line} " \
                       f"line_col:{ln.source.column}]"
            text.append(src)
        text.append(f"{ln.pc:4d}: {ln.text}")
        if opcodes:
            text.append("       " + " ".join(
                hex_bytes(ln.raw[i:i + 8]) for i in range(0, len(ln.raw), 8)))
    return "\n".join(text)


def _jited(prog_id: int, args: argparse.Namespace, path: str | None, symbols: Any) -> Any:
    from ..errors import BPFError
    from ..kernel import sys as ksys
    from ..kernel import xlated

    with ksys.get_fd_by_id("prog", prog_id) as fd:
        image = xlated.ProgramImage(int(fd), jited=True)
        if not image.jited:
            raise BPFError(f"program {prog_id}: no native code (the program is not "
                           f"JIT-compiled, or the kernel withholds it)")
        if path:
            write_file(path, image.jited)
            return None
        funcs = xlated.jited_functions(int(fd), image, symbols)
    if json_mode(args):
        return [{**({"proto": f.proto} if f.proto else {}), "name": f.name,
                 "address": f"0x{f.address:x}", "bytes": len(f.code),
                 "opcodes": hex_list(f.code)} for f in funcs]
    text = []
    for f in funcs:
        if f.proto:
            text.append(f"{f.proto}:")
        text.append(f"{f.name}:")
        for off in range(0, len(f.code), 16):
            text.append(f"{off:4x}:\t{' '.join(f'{b:02x}' for b in f.code[off:off + 16])}")
        text.append("")
    return "\n".join(text).rstrip("\n")


def cmd_prog_dump(args: argparse.Namespace) -> int:
    """``pybpf prog dump xlated|jited PROG [file FILE] [opcodes] [linum]``."""
    from ..kernel.xlated import KernelSymbols

    words = Words(args.words, f"prog dump {args.mode}")
    ids = select_ids(words, "prog")
    path, opcodes, linum, visual = _dump_options(words, args.mode == "jited")
    if path and len(ids) > 1:
        raise ArgumentError(f"prog dump: {len(ids)} programs match; 'file' takes one")
    symbols = KernelSymbols()
    if visual:  # bpftool's control-flow graph in DOT
        from ..pictures.graph import to_dot
        from .graphs import kernel_program_graph

        text = to_dot([kernel_program_graph(i, symbols) for i in ids])
        if path:
            write_file(path, text)
        else:
            print(text, end="")
        return 0
    outputs = [_xlated(i, args, path, opcodes, linum, symbols) if args.mode == "xlated"
               else _jited(i, args, path, symbols) for i in ids]
    if path:
        if json_mode(args):
            print_json(args, None)
        return 0
    if json_mode(args):
        print_json(args, outputs[0] if len(outputs) == 1 else outputs)
    else:
        print("\n\n".join(outputs))
        if args.mode == "jited":
            note("native code is shown as bytes: pybpf has no disassembler for the host's "
                 "instruction set ('file FILE' writes them for objdump -b binary)")
    return 0


def cmd_prog_pin(args: argparse.Namespace) -> int:
    """``pybpf prog pin PROG FILE``: pin a program so it outlives its loader."""
    from ..kernel import sys as ksys
    from ..kernel.bpffs import pin

    words = Words(args.words, "prog pin")
    (prog_id,) = select_ids(words, "prog", one=True)
    path = words.take("FILE (a path in a bpffs)")
    words.done()
    with ksys.get_fd_by_id("prog", prog_id) as fd:
        pin(int(fd), path)
    if json_mode(args):
        print_json(args, None)
    return 0


PROG_HELP = "PROG is id N | name NAME | tag TAG | pinned PATH (or a bare id, path or name)"


def register(sub: Any) -> None:
    """Add ``prog`` and its verbs to the CLI's subparsers."""
    p = sub.add_parser("prog", help="inspect programs loaded in the kernel (like bpftool prog)",
                       description="Inspect programs loaded in the kernel, as bpftool prog "
                                   "does. " + PROG_HELP + ".")
    add_output_options(p)
    psub = p.add_subparsers(dest="prog_command", metavar="COMMAND", required=True,
                             help="the verb")
    from .graphs import add_graph_options

    for verb in ("list", "show"):
        q = psub.add_parser(verb, help="every loaded program, or the ones PROG selects",
                            description="Show every program loaded in the kernel, or the "
                                        "programs PROG selects (with their links). "
                                        + PROG_HELP + ".")
        q.add_argument("words", nargs="*", metavar="PROG",
                       help="which programs (default: all)")
        add_output_options(q)
        add_graph_options(q, "the programs PROG selects, from their translated "
                             "instructions")
        q.set_defaults(func=cmd_prog_show)
    q = psub.add_parser("dump", help="print a program's instructions as the kernel holds them",
                        description="xlated: the instructions after the verifier's rewrites, "
                                    "with source lines and prototypes from BTF ('linum' adds "
                                    "file and line numbers, 'opcodes' the bytes, 'visual' "
                                    "the control-flow graph in DOT); jited: the "
                                    "native code, per function. 'file FILE' writes the raw "
                                    "bytes instead. " + PROG_HELP + ".")
    q.add_argument("mode", choices=("xlated", "jited"),
                   help="translated BPF instructions, or native code")
    q.add_argument("words", nargs="+", metavar="PROG [file FILE] [opcodes] [linum]",
                   help="the program, then options")
    add_output_options(q)
    q.set_defaults(func=cmd_prog_dump)
    q = psub.add_parser("pin", help="pin a program at a bpffs path",
                        description="Pin the program PROG at FILE in a bpf filesystem, so "
                                    "that it outlives the process that loaded it. "
                                    + PROG_HELP + ".")
    q.add_argument("words", nargs="+", metavar="PROG FILE", help="the program and the path")
    add_output_options(q)
    q.set_defaults(func=cmd_prog_pin)
