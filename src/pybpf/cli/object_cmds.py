"""Command-line subcommands for object files, BTF and the C toolchain:
``pybpf object``, ``pybpf disasm FILE.o``, ``pybpf btf dump``,
``pybpf btf vmlinux`` and ``pybpf cc``.

Each ``cmd_*`` function takes the parsed arguments, calls the library and
prints; :func:`add_parsers` registers them on the ``pybpf`` parser.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from ..elf.reader import is_elf
from ..errors import BPFError


def is_object_file(path: str) -> bool:
    """Whether ``path`` starts like an ELF file."""
    try:
        with open(path, "rb") as f:
            return is_elf(f.read(4))
    except OSError:
        return False


def _type_name(spec: Any, t: Any) -> str | None:
    if t is None:
        return None
    btf = spec.btf
    try:
        return btf.type_name(t.id) if btf is not None and getattr(t, "id", 0) else str(t)
    except BPFError:
        return getattr(t, "name", None) or str(t)


def describe_object(spec: Any) -> dict[str, Any]:
    """An ObjectSpec as plain data (what ``pybpf object --json`` prints)."""
    from ..elf import extern_references_of, externs_of

    def map_info(m: Any) -> dict[str, Any]:
        out = {"name": m.name, "type": m.type, "key_size": m.key_size,
               "value_size": m.value_size, "max_entries": m.max_entries, "flags": m.flags,
               "section": m.section}
        if m.pinning:
            out["pinning"] = m.pinning
        if m.map_extra:
            out["map_extra"] = m.map_extra
        if m.numa_node is not None:
            out["numa_node"] = m.numa_node
        if m.freeze:
            out["freeze"] = True
        if m.key_type is not None:
            out["key_type"] = _type_name(spec, m.key_type)
        if m.value_type is not None:
            out["value_type"] = _type_name(spec, m.value_type)
        if m.inner is not None:
            out["inner"] = map_info(m.inner)
        if m.contents and m.section in (None, ".maps", "maps"):
            out["initial"] = {str(k): v for k, v in m.contents}
        return out

    return {
        "path": spec.path,
        "license": spec.license,
        "kernel_version": spec.kernel_version,
        "programs": [{
            "name": p.name, "section": p.section, "type": p.type,
            "attach_type": p.attach_type, "attach_to": p.attach_to,
            "instructions": len(p.instructions), "sleepable": p.sleepable,
            "flags": p.flags,
            "maps": sorted({r.map_name for r in p.map_references}),
            "externs": sorted({r.name for r in extern_references_of(p)}),
            "core_relocations": len(p.core_relocations),
        } for p in spec.programs.values()],
        "maps": [map_info(m) for m in spec.maps.values()],
        "variables": [{"name": n, "map": m, "offset": off, "size": size,
                       "type": _type_name(spec, t)}
                      for n, (m, off, size, t) in spec.variables.items()],
        "externs": [{"name": e.name, "kind": e.kind, "weak": e.weak}
                    for e in externs_of(spec).values()],
    }


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def cmd_object(args: argparse.Namespace) -> int:
    """``pybpf object FILE.o [--json]``: what an object file holds."""
    from ..elf import load_object
    from .output import json_mode, print_json

    spec = load_object(args.file)
    info = describe_object(spec)
    if json_mode(args):
        print_json(args, info)
        return 0
    print(f"{args.file}: license {info['license'] or '(none)'!r}"
          + (f", kernel version {info['kernel_version']:#x}" if info["kernel_version"] else ""))
    print("\nprograms:")
    print(_table([[p["name"], p["section"], p["type"], p["attach_type"] or "-",
                   p["attach_to"] or "-", p["instructions"]] for p in info["programs"]],
                 ["name", "section", "type", "attach type", "attach to", "insns"]))
    if info["maps"]:
        print("\nmaps:")
        print(_table([[m["name"], m["type"], m["key_size"], m["value_size"],
                       m["max_entries"], f"{m['flags']:#x}",
                       " ".join(k for k in ("freeze", "pinning") if m.get(k))]
                      for m in info["maps"]],
                     ["name", "type", "key", "value", "max entries", "flags", ""]))
    if info["variables"]:
        print("\nvariables:")
        print(_table([[v["name"], v["map"], v["offset"], v["size"], v["type"] or "-"]
                      for v in info["variables"]],
                     ["name", "map", "offset", "size", "type"]))
    if info["externs"]:
        print("\nexterns:")
        print(_table([[e["name"], e["kind"], "weak" if e["weak"] else ""]
                      for e in info["externs"]], ["name", "kind", ""]))
    return 0


def source_annotations(program: Any) -> dict[int, str]:
    """pc -> comment lines for a program: its source lines (from BTF
    line_info) and the maps and externs its instructions load."""
    from ..elf import extern_references_of

    notes: dict[int, list[str]] = {}
    last = None
    for li in program.line_info:
        where = (li.file_name, li.line_num)
        if where == last:
            continue
        last = where
        text = li.line.strip()
        name = os.path.basename(li.file_name)
        notes.setdefault(li.insn_index, []).append(
            f"{name}:{li.line_num}: {text}" if text else f"{name}:{li.line_num}")
    for r in program.map_references:
        what = f"map {r.map_name}" + (f" + {r.offset}" if r.value else "")
        notes.setdefault(r.pc, []).append(what)
    for r in extern_references_of(program):
        notes.setdefault(r.pc, []).append(f"{r.kind} {r.name}")
    return {pc: "\n".join(lines) for pc, lines in notes.items()}


def disassemble_object(path: str, *, section: str | None = None, syntax: str = "llvm",
                       source: bool = True, pcs: bool = True) -> str:
    """The programs of an object file as text, with source lines."""
    from ..elf import load_object
    from ..isa import disassemble
    from ..spec import helper_name

    spec = load_object(path)
    programs = [p for p in spec.programs.values()
                if section is None or section in (p.section, p.name)]
    if not programs:
        known = ", ".join(sorted({p.section for p in spec.programs.values()})) or "none"
        raise BPFError(f"{path}: no program in section {section!r} (sections: {known})")
    out = []
    for p in programs:
        notes = source_annotations(p) if source else {}
        out.append(f"{p.name}: section {p.section}, type {p.type}, "
                   f"{len(p.instructions)} instructions\n")
        out.append(disassemble(p.instructions, syntax=syntax, pcs=pcs,
                               helper_names=helper_name if syntax == "llvm" else None,
                               annotate=notes.get if notes else None))
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"


def cmd_disasm_object(args: argparse.Namespace) -> int:
    """``pybpf disasm FILE.o [--section S] [--syntax S]``."""
    syntax = getattr(args, "syntax", "auto")
    syntax = "llvm" if syntax in (None, "auto") else syntax
    sys.stdout.write(disassemble_object(args.file, section=getattr(args, "section", None),
                                        syntax=syntax,
                                        source=not getattr(args, "no_source", False)))
    return 0


def load_btf_file(path: str) -> Any:
    """BTF from an object file (its .BTF), raw BTF, or ``vmlinux`` (the
    running kernel's)."""
    from ..btf import BTF

    if path == "vmlinux":
        return BTF.load_vmlinux()
    if not os.path.exists(path):
        raise BPFError(f"{path}: no such file")
    return BTF.from_file(path)


def _kernel_btf(btf_id: int) -> Any:
    """The kernel's BTF object ``btf_id``, parsed (module BTF on top of
    vmlinux's)."""
    from ..btf import BTF
    from ..kernel.kernel_btf import KernelBTF

    with KernelBTF.from_id(btf_id) as kb:
        info, raw = kb.info(), kb.raw()
    base = BTF.load_vmlinux() if info.kernel_btf and info.name != "vmlinux" else None
    return BTF.from_bytes(raw, base=base)


def _btf_source(words: list[str]) -> tuple[Any, str]:
    """The BTF ``btf dump``'s words name, and the format they ask for:
    ``id N | file FILE | map MAP | prog PROG | FILE | vmlinux`` then
    ``[format c|raw]``."""
    from .selectors import ArgumentError, Words, select_ids

    w = Words(words, "btf dump")
    word = w.take("id N | file FILE | map MAP | prog PROG | FILE")
    if word == "id":
        from ..kernel.info import select

        (btf_id,) = select("btf", "id", w.take("id N"))
        btf = _kernel_btf(btf_id)
    elif word in ("map", "prog"):
        from ..kernel import info
        from ..kernel import sys as ksys

        (ident,) = select_ids(w, word, one=True)
        with ksys.get_fd_by_id(word, ident) as fd:
            rec = info.map_info(int(fd)) if word == "map" else info.program_info(int(fd))
        if not rec.btf_id:
            raise ArgumentError(f"btf dump: {word} {ident} has no BTF")
        btf = _kernel_btf(rec.btf_id)
    else:
        btf = load_btf_file(w.take("file FILE") if word == "file" else word)
    fmt = None
    if w.accept("format"):
        fmt = w.take("format c|raw")
        if fmt not in ("c", "raw"):
            raise ArgumentError(f"btf dump: format is c or raw, not {fmt!r}")
    w.done()
    return btf, fmt or ""


def btf_type_record(t: Any) -> dict[str, Any]:
    """A BTF type as ``bpftool -j btf dump`` lists it."""
    from ..btf import types as T

    r: dict[str, Any] = {"id": t.id, "kind": t.kind.name,
                         "name": getattr(t, "name", "") or "(anon)"}
    if isinstance(t, T.Int):
        r.update(size=t.size, bits_offset=t.bit_offset, nr_bits=t.bits,
                 encoding="BOOL" if t.is_bool else "CHAR" if t.is_char else
                 "SIGNED" if t.is_signed else "(none)")
    elif isinstance(t, T.Array):
        r.update(type_id=t.elem_type_id, index_type_id=t.index_type_id, nr_elems=t.nelems)
    elif isinstance(t, T.Composite):
        r.update(size=t.size, vlen=len(t.members), members=[
            {"name": m.name or "(anon)", "type_id": m.type_id, "bits_offset": m.bit_offset,
             **({"bitfield_size": m.bitfield_size} if m.bitfield_size else {})}
            for m in t.members])
    elif isinstance(t, T.EnumBase):
        r.update(encoding="SIGNED" if t.signed else "UNSIGNED", size=t.size,
                 vlen=len(t.values), values=[{"name": v.name, "val": v.value}
                                             for v in t.values])
    elif isinstance(t, T.Fwd):
        r["fwd_kind"] = t.fwd_kind
    elif isinstance(t, T.Func | T.Var):
        r.update(type_id=t.type_id, linkage=("static", "global", "extern")[t.linkage]
                 if 0 <= t.linkage < 3 else t.linkage)
    elif isinstance(t, T.FuncProto):
        r.update(ret_type_id=t.return_type_id, vlen=len(t.params),
                 params=[{"name": p.name or "(anon)", "type_id": p.type_id} for p in t.params])
    elif isinstance(t, T.Datasec):
        r.update(size=t.size, vlen=len(t.vars),
                 vars=[{"type_id": v.type_id, "offset": v.offset, "size": v.size}
                       for v in t.vars])
    elif isinstance(t, T.Float):
        r["size"] = t.size
    elif isinstance(t, T.DeclTag):
        r.update(type_id=t.type_id, component_idx=t.component_idx)
    elif hasattr(t, "type_id"):
        r["type_id"] = t.type_id
    return r


def _plain_file(words: list[str]) -> tuple[str, str | None] | None:
    """``(path, format)`` when ``btf dump``'s words name a file (``FILE`` or
    ``file FILE``, then ``[format c|raw]``), else None."""
    rest = list(words)
    if rest and rest[0] == "file":
        rest.pop(0)
    if not rest or rest[0] in ("id", "map", "prog", "file", "format"):
        return None
    path, rest = rest[0], rest[1:]
    if not rest:
        return path, None
    if len(rest) == 2 and rest[0] == "format" and rest[1] in ("c", "raw"):
        return path, rest[1]
    return None


def cmd_btf_dump(args: argparse.Namespace) -> int:
    """``pybpf btf dump id N | file FILE | map MAP | prog PROG | FILE
    [format c|raw]``: the types of a BTF object, raw (bpftool's listing) or
    as a C header.  A file's large BTF (vmlinux) is dumped once, then read
    from the cache (:mod:`pybpf.btf.dumpcache`)."""
    from .output import dumps, json_mode

    plain = _plain_file(args.source)
    if plain is not None and not json_mode(args):
        path, fmt = plain
        if path != "vmlinux" and not os.path.exists(path):
            raise BPFError(f"{path}: no such file")
        from ..btf.dumpcache import VMLINUX_PATH, Progress, dump_text

        source = VMLINUX_PATH if path == "vmlinux" else path
        with Progress(f"dumping {path}") as progress:
            dump = dump_text(source, fmt or args.format or "raw", progress=progress)
        text = dump.text if dump.text.endswith("\n") else dump.text + "\n"
        _write(text, getattr(args, "output", None))
        return 0
    btf, fmt = _btf_source(args.source)
    fmt = fmt or args.format or "raw"
    if json_mode(args):
        if fmt == "c":
            raise BPFError("btf dump: JSON output is for format raw only")
        text = dumps(args, {"types": [btf_type_record(t) for t in btf.own_types()]}) + "\n"
    else:
        text = btf.dump_c() if fmt == "c" else btf.dump_raw() + "\n"
    _write(text, getattr(args, "output", None))
    return 0


def btf_record(info: Any, users: dict[int, tuple[list[int], list[int]]]) -> dict[str, Any]:
    """A kernel BTF object under bpftool's JSON names."""
    progs, maps = users.get(info.id, ([], []))
    r: dict[str, Any] = {"id": info.id, "size": info.size, "prog_ids": progs,
                         "map_ids": maps, "kernel": info.kernel_btf}
    if info.name:
        r["name"] = info.name
    return r


def btf_text(r: dict[str, Any]) -> str:
    """A kernel BTF object as ``bpftool btf show`` prints it."""
    if r["kernel"]:
        name = f"name [{r.get('name', '')}]"
    else:
        name = f"name {r['name']}" if r.get("name") else "name <anon>"
    line = f"{r['id']}: {name}  size {r['size']}B"
    if r["prog_ids"]:
        line += f"  prog_ids {','.join(map(str, r['prog_ids']))}"
    if r["map_ids"]:
        line += f"  map_ids {','.join(map(str, r['map_ids']))}"
    return line


def cmd_btf_show(args: argparse.Namespace) -> int:
    """``pybpf btf list|show [id N]``: the BTF objects loaded in the kernel,
    with the programs and maps that use them."""
    from ..kernel import info
    from ..kernel import sys as ksys
    from .output import json_mode, print_json
    from .selectors import Words

    words = Words(args.words, "btf show")
    if words:
        words.accept("id")
        (btf_id,) = info.select("btf", "id", words.take("id N"))
        words.done()
        with ksys.get_fd_by_id("btf", btf_id) as fd:
            objects = [info.btf_info(int(fd))]
    else:
        objects = list(info.btfs())
    users = info.btf_users()
    records = [btf_record(b, users) for b in objects]
    if json_mode(args):
        print_json(args, records[0] if words.words else records)
    else:
        for r in records:
            print(btf_text(r))
    return 0


def cmd_btf_vmlinux(args: argparse.Namespace) -> int:
    """``pybpf btf vmlinux [-o vmlinux.h] [--btf PATH]``: a vmlinux.h for
    the running kernel (or the kernel BTF at PATH), written once per kernel
    and then read from the cache (:mod:`pybpf.btf.dumpcache`)."""
    from ..btf.dumpcache import VMLINUX_PATH, Progress, dump_text

    with Progress("writing vmlinux.h") as progress:
        dump = dump_text(args.btf or VMLINUX_PATH, "c", progress=progress)
    _write(dump.text, args.output)
    if args.output:
        print(f"wrote {args.output} ({dump.types} types)", file=sys.stderr)
    return 0


def _write(text: str, output: str | None) -> None:
    if not output or output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as e:
        raise BPFError(f"{output}: {e.strerror or e}") from None


def cmd_cc(args: argparse.Namespace) -> int:
    """``pybpf cc FILE.bpf.c [-o FILE.bpf.o] [--compiler zig|clang] [-I DIR] [-D X]``."""
    from ..toolchain import CompileError, compile

    def show(command: list[str]) -> None:
        print(" ".join(shlex.quote(c) for c in command), file=sys.stderr)

    try:
        out = compile(args.file, args.output, compiler=args.compiler,
                      include_dirs=args.include or (), defines=args.define or (),
                      arch=args.arch, extra_flags=args.flag or (),
                      on_command=show if args.verbose else None)
    except CompileError as e:
        if args.verbose and e.output:
            sys.stderr.write(e.output)
        raise
    if args.verbose:
        print(out, file=sys.stderr)
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``object``, ``btf`` and ``cc`` on the ``pybpf`` subparsers
    (``disasm`` of object files is wired into the existing ``disasm``)."""
    from .output import add_output_options

    p = sub.add_parser("object", help="show what a BPF object file holds",
                       description="List the programs (section, type, attach point, size), "
                                   "maps, global variables and externs of a BPF object.")
    p.add_argument("file", metavar="FILE.o", help="the BPF object file")
    add_output_options(p)
    p.set_defaults(func=cmd_object)

    p = sub.add_parser("btf", help="BTF: list the kernel's, dump types, write vmlinux.h",
                       description="Work with BTF type information.")
    add_output_options(p)
    btf_sub = p.add_subparsers(dest="btf_command", metavar="COMMAND", required=True,
                             help="the verb")
    for verb in ("list", "show"):
        d = btf_sub.add_parser(verb, help="the BTF objects loaded in the kernel",
                               description="List the BTF objects in the kernel (vmlinux, "
                                           "modules, programs' and maps'), with the "
                                           "programs and maps using each (like bpftool btf "
                                           "show).")
        d.add_argument("words", nargs="*", metavar="[id N]", help="one BTF object")
        add_output_options(d)
        d.set_defaults(func=cmd_btf_show)
    d = btf_sub.add_parser("dump", help="print the types of a BTF object",
                           description="SOURCE is id N (a BTF object in the kernel), file "
                                       "FILE or FILE (a BPF object's .BTF section, or raw "
                                       "BTF such as /sys/kernel/btf/*), map MAP or prog PROG "
                                       "(the BTF they were loaded with), or 'vmlinux' for "
                                       "the running kernel; 'format c|raw' as in bpftool.")
    d.add_argument("source", nargs="+", metavar="SOURCE [format c|raw]",
                   help="where the BTF comes from, then the format")
    d.add_argument("--format", choices=("c", "raw"), default=None,
                   help="raw (bpftool's type listing, the default) or c (a header)")
    d.add_argument("-o", "--output", metavar="OUT", help="file to write (default: stdout)")
    add_output_options(d)
    d.set_defaults(func=cmd_btf_dump)
    v = btf_sub.add_parser("vmlinux", help="write vmlinux.h for the running kernel",
                           description="Write a C header declaring every kernel type, for "
                                       "BPF programs that #include \"vmlinux.h\".")
    v.add_argument("-o", "--output", metavar="OUT", help="file to write (default: stdout)")
    v.add_argument("--btf", metavar="PATH", help="kernel BTF to use instead of "
                                                 "/sys/kernel/btf/vmlinux")
    v.set_defaults(func=cmd_btf_vmlinux)

    p = sub.add_parser("cc", help="compile BPF C to an object file",
                       description="Compile BPF C with the ziglang wheel (or clang) and "
                                   "pybpf's bpf/*.h headers.  A source including vmlinux.h "
                                   "gets one generated from the running kernel.")
    p.add_argument("file", metavar="FILE.bpf.c", help="the BPF C source")
    p.add_argument("-o", "--output", metavar="OUT", help="object file (default: FILE.bpf.o)")
    p.add_argument("--compiler", choices=("auto", "zig", "clang"), default="auto",
                   help="zig (from the ziglang wheel), clang, or auto (zig if installed)")
    p.add_argument("-I", dest="include", action="append", metavar="DIR",
                   help="add an include directory")
    p.add_argument("-D", dest="define", action="append", metavar="NAME[=VALUE]",
                   help="define a macro")
    p.add_argument("--arch", choices=("x86", "arm64"), default=None,
                   help="kernel architecture for pt_regs (default: this machine's)")
    p.add_argument("--flag", action="append", metavar="FLAG",
                   help="pass FLAG to the compiler (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the compiler's command line and its messages")
    p.set_defaults(func=cmd_cc)


__all__ = [
    "add_parsers",
    "btf_record",
    "btf_text",
    "btf_type_record",
    "cmd_btf_dump",
    "cmd_btf_show",
    "cmd_btf_vmlinux",
    "cmd_cc",
    "cmd_disasm_object",
    "cmd_object",
    "describe_object",
    "disassemble_object",
    "is_object_file",
    "load_btf_file",
    "source_annotations",
]
