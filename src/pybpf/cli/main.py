"""``pybpf``: the command line.

Each subcommand parses its arguments, calls the library and prints.  Errors
a user can cause are printed in one or two lines, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import AssemblerError, BPFError

SYNTAX_CHOICES = ("auto", "ubpf", "llvm")


def _cmd_asm(args: argparse.Namespace) -> int:
    from ..isa import encode
    from .inputs import load_program

    insns, _ = load_program(args.file, args.syntax)
    data = encode(insns, "big" if args.big_endian else "little")
    if args.output:
        from .output import write_file

        write_file(args.output, data)
    else:
        for i in range(0, len(data), 8):
            print(data[i:i + 8].hex())
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    from ..isa import decode, disassemble
    from . import object_cmds
    from .inputs import classify, read_bytes

    if args.graph:
        from .graphs import emit_graph, file_graphs

        emit_graph(args, file_graphs(args.file, args.syntax, args.section))
        return 0
    if args.file != "-" and object_cmds.is_object_file(args.file):
        return object_cmds.cmd_disasm_object(args)

    data = read_bytes(args.file)
    kind = classify(data)
    if kind == "hex":
        import re

        data = bytes.fromhex(re.sub(r"\s+", "", data.decode()))
    elif kind == "asm":
        raise BPFError(f"{args.file}: this looks like assembly text, not bytecode; "
                       f"'pybpf asm' assembles it")
    insns = decode(data, "big" if args.big_endian else "little")
    syntax = "ubpf" if args.syntax == "auto" else args.syntax
    sys.stdout.write(disassemble(insns, syntax=syntax, labels=args.labels, pcs=args.pcs,
                                 helper_names=_helper_names() if syntax == "llvm" else None))
    return 0


def _helper_names():
    try:
        from ..spec import helper_name
    except ImportError:  # the ABI tables are optional for disassembly
        return None
    return helper_name


def _cmd_run(args: argparse.Namespace) -> int:
    import re

    from ..vm import VM
    from .inputs import load_program

    insns, _ = load_program(args.file, args.syntax)
    try:
        mem = bytes.fromhex(re.sub(r"\s+", "", args.mem or ""))
    except ValueError:
        raise BPFError("--mem must be hex bytes, for example --mem '01 02 aa'") from None
    if not args.no_verify:
        _verify_memory_program(insns, len(mem))
    max_insns = args.max_insns
    if max_insns is None:
        from ..vm import TRACED_MAX_INSNS

        max_insns = TRACED_MAX_INSNS if args.trace else RUN_MAX_INSNS
    vm = VM(max_insns=max_insns or None, jit=args.jit or None)
    result = vm.run(insns, mem, trace=sys.stdout if args.trace else None)
    print(f"{result.r0:#x}")
    if args.stats:
        print(f"instructions executed: {result.insn_count}", file=sys.stderr)
    return 0


def _verify_memory_program(insns, size: int) -> None:
    """Prove a ``memory`` program (r1 = a buffer of ``size`` bytes, r2 =
    ``size``) safe, or raise the verifier's refusal."""
    from ..verifier import verify

    verify(insns, prog_type="memory", memory_size=size).raise_if_rejected()


def _add_verify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-verify", action="store_true",
                   help="run the program without pybpf's verifier (the VM's run-time checks "
                        "still stop bad accesses)")


def _parse_map_option(text: str):
    """``NAME=TYPE:KEY:VALUE:MAX`` -> a MapSpec."""
    from ..objects import MapSpec

    name, sep, rest = text.partition("=")
    parts = rest.split(":")
    if not sep or len(parts) != 4 or not name:
        raise BPFError(f"--map {text!r}: expected NAME=TYPE:KEY_SIZE:VALUE_SIZE:MAX_ENTRIES, "
                       f"for example counts=hash:4:8:1024")
    try:
        key, value, entries = (int(p, 0) for p in parts[1:])
    except ValueError:
        raise BPFError(f"--map {text!r}: sizes and max entries must be numbers") from None
    return MapSpec(name, parts[0], key, value, entries)


def _test_run_spec(args: argparse.Namespace):
    """The ObjectSpec a test-run command loads, and the program to run."""
    from ..elf.reader import is_elf
    from ..objects import ObjectSpec, ProgramSpec
    from .inputs import read_bytes

    data = read_bytes(args.file)
    if is_elf(data):
        from ..elf import load_object

        spec = load_object(data, path=args.file)
        names = list(spec.programs)
        if args.program is None and len(names) != 1:
            raise BPFError(f"{args.file} has {len(names)} programs ({', '.join(names)}); "
                           f"choose one with --program")
        name = args.program or names[0]
        if name not in spec.programs:
            raise BPFError(f"{args.file} has no program {name!r} (it has: {', '.join(names)})")
        if args.prog_type:
            spec.programs[name].type = args.prog_type
        for option in args.map or ():
            extra = _parse_map_option(option)
            spec.maps[extra.name] = extra
        from .kernel_cmds import parse_assignment, set_variable

        for text in args.set or ():
            set_variable(spec, *parse_assignment(text))
        return spec, name
    if args.set:
        raise BPFError(f"--set needs an object file with global variables; {args.file} is "
                       f"not one")
    from .inputs import load_program

    insns, _ = load_program(args.file, args.syntax)
    prog = ProgramSpec("prog", insns, type=args.prog_type or "memory")
    maps = [_parse_map_option(m) for m in args.map or ()]
    return ObjectSpec.build([prog], maps), "prog"


_UNLISTED_MAP_TYPES = ("ringbuf", "user_ringbuf", "perf_event_array", "prog_array",
                       "array_of_maps", "hash_of_maps", "queue", "stack", "bloom_filter",
                       "stack_trace")
"""Map types a test run does not print: events, programs, maps and keyless maps."""
TEST_RUN_MAX_ENTRIES = 64
RUN_MAX_INSNS = 100_000_000
"""``pybpf run``'s instruction budget unless told otherwise (without --trace)."""
"""Non-zero elements a test run prints per map unless told otherwise."""


def _load_for_test_run(args: argparse.Namespace, spec, name: str, data: bytes = b""):
    """The collection to run in: the VM (programs verified first unless
    ``--no-verify``), or the kernel with ``--kernel``."""
    from .diagnostics import log_level, write_logs

    if not args.kernel:
        from .. import vm as vm_backend

        verify = not args.no_verify
        if verify and spec.programs[name].type == "memory":
            # pybpf's own type: verified for the buffer this run passes
            from ..linker import link
            from ..verifier import verify as verify_program

            linked = link(spec)
            res = verify_program(linked.programs[name], linked.maps, prog_type="memory",
                                 memory_size=len(data), log_level=log_level(args), name=name)
            write_logs(args, [(name, res.log)])
            res.raise_if_rejected()
            verify = False
        try:
            coll = vm_backend.load(spec, verify=verify, log_level=log_level(args),
                                   max_insns=args.max_insns or None, jit=args.jit or None)
        except BPFError as e:
            if getattr(e, "log", ""):
                write_logs(args, [(getattr(e, "program", None) or name, e.log)])
            raise
        write_logs(args, [(n, p.verification.log) for n, p in coll.programs.items()
                          if p.verification is not None])
        return coll
    if args.jit:
        from .output import note

        note("--jit chooses the VM's engine; with --kernel the kernel's JIT runs the program")
    from .. import kernel

    try:
        coll = kernel.load(spec, log_level=log_level(args))
    except BPFError as e:
        if getattr(e, "log", ""):
            write_logs(args, [(getattr(e, "program", None) or name, e.log)])
        raise
    write_logs(args, [(n, p.log) for n, p in coll.programs.items()])
    return coll


def _map_rows(spec, coll, args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """For each map worth printing: its non-zero elements as hex (``{key:
    value}``, at most ``--max-entries``), through BTF where the object has
    it (unless ``--hex``), and how many non-zero elements were left out."""
    raw_maps: dict[str, dict] = {}
    btf_maps: dict[str, list] = {}
    left: dict[str, int] = {}
    limit = args.max_entries or None
    for map_name, m in coll.maps.items():
        if m.type in _UNLISTED_MAP_TYPES:
            continue
        items = list(m.raw.items())
        nonzero = [(k, v) for k, v in items if _nonzero(v)]
        shown = nonzero[:limit] if limit else nonzero
        raw_maps[map_name] = {"zero": len(items) - len(nonzero),
                              "items": {k.hex(): (v.hex() if isinstance(v, bytes)
                                                  else [x.hex() for x in v])
                                        for k, v in shown}}
        left[map_name] = len(nonzero) - len(shown)
        mspec = spec.maps.get(map_name)
        btf = getattr(mspec, "btf", None) or spec.btf
        if args.hex or btf is None or mspec is None or \
                (mspec.key_type is None and mspec.value_type is None):
            continue
        from ..kernel.map_dump import btf_json

        rows = []
        for k, v in shown:
            row = {}
            if mspec.key_type is not None:
                row["key"] = btf_json(btf, mspec.key_type.id, k)
            if mspec.value_type is not None:
                row["value"] = btf_json(btf, mspec.value_type.id, v) if isinstance(v, bytes) \
                    else [btf_json(btf, mspec.value_type.id, x) for x in v]
            rows.append(row)
        btf_maps[map_name] = rows
    return raw_maps, btf_maps, left


def _nonzero(value) -> bool:
    return any(value) if isinstance(value, bytes) else any(any(x) for x in value)


def _cmd_test_run(args: argparse.Namespace) -> int:
    import json
    import re

    from .output import json_mode, print_json

    def hex_arg(value: str | None, option: str) -> bytes | None:
        if value is None:
            return None
        try:
            return bytes.fromhex(re.sub(r"\s+", "", value))
        except ValueError:
            raise BPFError(f"{option} must be hex bytes") from None

    data = hex_arg(args.data, "--data") or b""
    ctx = hex_arg(args.ctx, "--ctx")
    spec, name = _test_run_spec(args)
    with _load_for_test_run(args, spec, name, data) as coll:
        result = coll.programs[name].test_run(data, ctx, repeat=args.repeat)
        raw_maps, btf_maps, left = _map_rows(spec, coll, args)
    if json_mode(args):
        out = {"retval": result.retval, "verdict": result.verdict,
               "data_out": result.data_out.hex(),
               "ctx_out": result.ctx_out.hex() if result.ctx_out else None,
               "duration_ns": result.duration_ns,
               "maps": {n: r["items"] for n, r in raw_maps.items()}}
        if btf_maps:
            out["maps_btf"] = btf_maps
        if any(left.values()):
            out["maps_not_shown"] = {n: c for n, c in left.items() if c}
        print_json(args, out)
        return 0
    verdict = f" ({result.verdict})" if result.verdict else ""
    print(f"retval: {result.retval} {result.retval:#x}{verdict}")
    if result.data_out != data:
        print(f"data_out: {result.data_out.hex()}")
    print(f"duration: {result.duration_ns} ns per run")
    for map_name, r in raw_maps.items():
        if map_name in btf_maps:
            shown = [(f"{json.dumps(row['key'])}: " if "key" in row else "")
                     + json.dumps(row.get("value")) for row in btf_maps[map_name]]
        else:
            shown = [f"{k}: {v}" for k, v in r["items"].items()]
        text = ", ".join(shown) or "nothing non-zero"
        notes = []
        if r["zero"] and shown:
            notes.append(f"{r['zero']} zero entries not shown")
        if left[map_name]:
            notes.append(f"{left[map_name]} more not shown: --max-entries")
        print(f"map {map_name}: {text}" + (f" ({'; '.join(notes)})" if notes else ""))
    return 0


def _cmd_plugin(args: argparse.Namespace) -> int:
    from ..conformance import plugin_main

    argv = list(args.mem)
    if args.max_insns is not None:
        argv += ["--max-insns", args.max_insns]
    if args.trace:
        argv.append("--trace")
    if args.jit:
        argv.append("--jit")
    return plugin_main(argv)


def _cmd_conformance(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..conformance import load_data_file, run_test, vm_runner

    paths = sorted(Path(args.directory).glob("*.data")) if Path(args.directory).is_dir() \
        else [Path(args.directory)]
    if not paths:
        raise BPFError(f"{args.directory}: no .data files")
    failed = 0
    runner = vm_runner(jit=args.jit or None)
    for path in paths:
        try:
            test = load_data_file(path)
            outcome = run_test(test, runner)
        except BPFError as e:
            passed, detail = args.negative, str(e)
        else:
            passed, detail = outcome.passed, outcome.error
            if args.negative:
                # refused: rejected on the way, or not running to its expected result
                passed = not (outcome.r0 is not None and outcome.r0 == test.result)
                detail = outcome.error or f"ran to r0={outcome.r0:#x}"
        if not passed:
            failed += 1
        word = ("REFUSED" if passed else "ACCEPTED") if args.negative else (
            "PASS" if passed else "FAIL")
        if args.verbose or not passed:
            print(f"{word} {path.stem}" + (f": {detail}" if detail and
                                           (not passed or args.negative) else ""))
    print(f"{len(paths) - failed}/{len(paths)} " + ("refused" if args.negative else "passed"))
    return 1 if failed else 0


JIT_HELP = ("compile to native code with the JIT (pybpf[jit]: llvmlite) at load; by default "
            "a program is interpreted until it is hot (PYBPF_JIT=0: always interpreted); "
            "without llvmlite the interpreter runs, with a warning")
SYNTAX_HELP = "assembly syntax: ubpf (mov %%r0, 1), llvm (r0 = 1) or auto (detected)"

PLUGIN_DESCRIPTION = (
    "The bpf_conformance plugin: reads a program as hex on standard input, runs it in the "
    "VM with r1 pointing at MEM (hex bytes, given as arguments) and r2 holding its length, "
    "and prints r0 in hex: the plugin bpf_conformance's runner calls for each test.")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pybpf`` command."""
    from .output import add_output_options

    parser = argparse.ArgumentParser(
        prog="pybpf", description="The eBPF system in Python: assemble, disassemble and run "
                                  "eBPF programs in a userspace VM, load them into the "
                                  "kernel and inspect the kernel's BPF objects as bpftool "
                                  "does.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"pybpf {__version__}",
                        help="print the version and exit")
    add_output_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                help="what to do (pybpf COMMAND --help for its options)")

    p = sub.add_parser("asm", help="assemble a program to bytecode",
                       description="Assemble FILE (uBPF or kernel/LLVM syntax). Without -o, "
                                   "prints one instruction slot per line in hex.")
    p.add_argument("file", metavar="FILE", help="assembly text ('-' for standard input)")
    p.add_argument("-o", "--output", metavar="OUT", help="write raw bytecode to OUT")
    p.add_argument("--syntax", choices=SYNTAX_CHOICES, default="auto", help=SYNTAX_HELP)
    p.add_argument("--big-endian", action="store_true", help="encode big-endian bytecode")
    p.set_defaults(func=_cmd_asm)

    p = sub.add_parser("disasm", help="disassemble bytecode or an object file",
                       description="Disassemble FILE: raw bytecode, hex text, or an ELF object "
                                   "(with source lines from BTF when present).")
    p.add_argument("file", metavar="FILE",
                   help="raw or hex bytecode, or a BPF object file ('-' for standard input)")
    p.add_argument("--syntax", choices=SYNTAX_CHOICES, default="auto",
                   help="ubpf or llvm (auto: ubpf for bytecode, llvm for objects)")
    p.add_argument("--section", metavar="S", help="object files: only this section or program")
    p.add_argument("--labels", action="store_true", help="name jump targets instead of offsets")
    p.add_argument("--pcs", action="store_true", help="prefix each line with its slot index")
    p.add_argument("--big-endian", action="store_true", help="decode big-endian bytecode")
    from .graphs import add_graph_options

    add_graph_options(p, "each program (assembly too), without verifying it ('pybpf verify "
                         "--graph' adds the verifier's states)")
    p.set_defaults(func=_cmd_disasm)

    p = sub.add_parser("run", help="run a program in the userspace VM and print r0",
                       description="Run FILE (assembly, raw or hex bytecode) with r1 pointing "
                                   "at --mem and r2 holding its length; prints r0 in hex.")
    p.add_argument("file", metavar="FILE", help="the program: assembly, raw or hex bytecode")
    p.add_argument("--mem", metavar="HEX", help="input memory as hex bytes")
    p.add_argument("--max-insns", metavar="N", type=int,
                   help="stop after N instructions (0: no limit; default 100000000, "
                        "100000 with --trace)")
    p.add_argument("--trace", action="store_true",
                   help="print each executed instruction and the registers it changed")
    p.add_argument("--stats", action="store_true", help="print the instruction count")
    p.add_argument("--jit", action="store_true", help=JIT_HELP)
    p.add_argument("--syntax", choices=SYNTAX_CHOICES, default="auto", help=SYNTAX_HELP)
    _add_verify_option(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("test-run", help="run a program once like BPF_PROG_TEST_RUN (VM or "
                                        "kernel)",
                       description="Run FILE (assembly, bytecode or an ELF object) on a "
                                   "packet or context, as BPF_PROG_TEST_RUN would: in the "
                                   "userspace VM, or in the kernel with --kernel.  Maps given "
                                   "with --map are created first and can be named in "
                                   "assembly as map[idx:I] in the order given.  Maps are "
                                   "printed afterwards, through BTF where the object has it.")
    p.add_argument("file", metavar="FILE", help="the program: assembly, bytecode or an object")
    p.add_argument("--prog-type", metavar="TYPE",
                   help="program type: xdp, sched_cls, socket_filter, cgroup_skb, tracepoint, "
                        "memory... (objects: from the section name)")
    p.add_argument("--program", metavar="NAME", help="which program of an object to run")
    p.add_argument("--data", metavar="HEX", help="the packet (or memory) as hex bytes")
    p.add_argument("--ctx", metavar="HEX", help="the context struct as hex bytes")
    p.add_argument("--repeat", metavar="N", type=int, default=1,
                   help="run N times (the duration is the average)")
    p.add_argument("--map", metavar="NAME=TYPE:KEY:VALUE:MAX", action="append",
                   help="create a map (repeatable), e.g. counts=hash:4:8:1024")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="objects: set a global variable or const volatile knob first "
                        "(repeatable)")
    p.add_argument("--kernel", action="store_true",
                   help="load the program into the kernel and run it there (root)")
    p.add_argument("--hex", action="store_true", help="print map elements as bytes even "
                                                     "where the object has BTF")
    p.add_argument("--max-entries", metavar="N", type=int, default=TEST_RUN_MAX_ENTRIES,
                   help="print at most N non-zero elements per map (0: all; default "
                        "%(default)s)")
    p.add_argument("--max-insns", metavar="N", type=int, default=100_000_000,
                   help="VM: stop after N instructions (0: no limit; default %(default)s)")
    p.add_argument("--jit", action="store_true", help=JIT_HELP)
    p.add_argument("--syntax", choices=SYNTAX_CHOICES, default="auto", help=SYNTAX_HELP)
    from .diagnostics import add_log_options

    add_log_options(p)
    _add_verify_option(p)
    add_output_options(p)
    p.set_defaults(func=_cmd_test_run)

    p = sub.add_parser("conformance-plugin", add_help=False,
                       help="bpf_conformance plugin: [MEM] [options], program hex on stdin",
                       description=PLUGIN_DESCRIPTION)
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("mem", nargs="*", metavar="MEM", help="the memory r1 points at, as hex")
    p.add_argument("--max-insns", metavar="N",
                   help="stop after N instructions (0: no limit; default 10000000)")
    p.add_argument("--trace", action="store_true",
                   help="print each executed instruction to standard error")
    p.add_argument("--jit", action="store_true", help=JIT_HELP)
    p.set_defaults(func=_cmd_plugin)

    p = sub.add_parser("conformance", help="run bpf_conformance .data tests in the VM",
                       description="Run every .data file of a bpf_conformance test directory "
                                   "(or one file) through the VM and report failures.")
    p.add_argument("directory", metavar="DIR_OR_FILE",
                   help="a directory of .data files, or one .data file")
    p.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    p.add_argument("--negative", action="store_true",
                   help="the cases must be refused (the suite's negative directory)")
    p.add_argument("--jit", action="store_true", help=JIT_HELP)
    p.set_defaults(func=_cmd_conformance)

    from . import cbpf_cmds, filter_cmds, object_cmds
    from .kernel_cmds import register as register_kernel_commands

    object_cmds.add_parsers(sub)
    from .verify_cmd import add_parser as add_verify_parser

    add_verify_parser(sub)
    register_kernel_commands(sub)
    cbpf_cmds.register(sub)
    filter_cmds.register(sub)
    from . import export_cmds, gen_cmds, lang_cmds
    from .trace_cmds import register as register_trace_command

    register_trace_command(sub)

    export_cmds.register(sub)
    gen_cmds.register(sub)
    lang_cmds.register(sub)
    return parser


def format_error(error: BPFError) -> str:
    """One or two lines describing a user error: the message and, for an
    assembler error, the offending line; for a verifier refusal, the source
    line of the instruction the verifier stopped at."""
    message = str(error).removeprefix("pybpf: ")   # pybpf's own verifier messages say so
    text = f"pybpf: error: {message}"
    if isinstance(error, AssemblerError) and error.column and error.source and error.line:
        try:
            with open(error.source) as f:
                source_line = f.read().splitlines()[error.line - 1]
        except (OSError, IndexError, UnicodeDecodeError):
            return text
        text += "\n  " + source_line.rstrip()
    elif getattr(error, "log", None):
        from .diagnostics import refusal_lines

        text = "\n".join([text, *refusal_lines(error)])
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from ..textio import safe_console

    safe_console()  # a name or path the terminal cannot encode prints escaped, never raises
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conformance-plugin"] and not {"-h", "--help"} & set(argv[1:]):
        # The plugin's arguments (memory hex, options) must reach it untouched.
        from ..conformance import plugin_main

        return plugin_main(argv[1:])
    for arg in argv:
        if arg == "--":       # what follows is a command's own arguments
            break
        if arg.startswith("-") and arg.endswith("=--"):
            # Python 3.11's argparse reads "--opt=--" as an empty list, past choices and types
            print(f"pybpf: error: {arg}: '--' is not a value for {arg[:-3]}", file=sys.stderr)
            return 2
    if argv[:1] == ["trace"]:
        # a one-liner's start-up is measured in milliseconds: only its own parser
        from .trace_cmds import main as trace_main

        return trace_main(argv[1:])
    if argv[:1] == ["tools"] and len(argv) > 1 and not argv[1].startswith("-"):
        # A tool's own arguments, '--' and the command after it, reach it untouched.
        from ..tools import run_tool

        return run_tool(argv[1], argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BPFError as e:
        from .output import dumps, json_mode

        if json_mode(args):
            print(dumps(args, {"error": str(e)}))
        print(format_error(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # a file or device the command was given: still one line
        print(f"pybpf: error: {e.filename + ': ' if e.filename else ''}"
              f"{e.strerror or e}", file=sys.stderr)
        return 1
