"""``pybpf verify``: prove programs safe the way the kernel would, without root.

FILE is assembly, raw or hex bytecode, or a BPF ELF object.  The exit
status is 0 when every program is accepted, 1 when one is rejected, 2 on
bad input (the CLI's usual status for errors).  ``--log-level 1|2`` and
``--log-file`` (:mod:`.diagnostics`, as for ``load`` and ``test-run``) give
the kernel-format verifier log.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import BPFError
from .diagnostics import add_log_options, log_level, write_logs


def _results(args: argparse.Namespace, graphs: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    """Each program's :class:`~pybpf.verifier.VerifierResult`; with
    ``graphs`` (a dict to fill), each program's control-flow graph too,
    its blocks' entry states kept."""
    from ..verifier import verify, verify_object
    from .inputs import load_program, read_bytes

    data = read_bytes(args.file)
    privileged = not args.unpriv
    if data[:4] == b"\x7fELF":
        from ..elf import load_object
        from ..linker import link

        spec = load_object(data, path=args.file)
        if args.program and args.program not in spec.programs:
            raise BPFError(f"{args.file} has no program {args.program!r} (it has: "
                           f"{', '.join(spec.programs)})")
        from ..kernel import KernelResolver

        # kernel symbols, kfunc ids and kconfig values as this machine's kernel
        # gives them (the verdict is the one this kernel would give)
        obj = link(spec, KernelResolver())
        states_at = None
        if graphs is not None:
            from .graphs import verified_graph

            for name, prog in obj.programs.items():
                if not args.program or name == args.program:
                    graphs[name] = verified_graph(prog.insns, name, prog.func_info,
                                                  getattr(obj, "btf_types", None),
                                                  prog.map_refs)
            states_at = {name: g.leaders for name, g in graphs.items()}
        return verify_object(obj, programs=[args.program] if args.program else None,
                             prog_type=args.prog_type, attach_type=args.attach_type,
                             privileged=privileged, log_level=log_level(args),
                             states_at=states_at)
    insns, _ = load_program(args.file, args.syntax)
    name = args.program or "prog"
    leaders: list[int] = []
    if graphs is not None:
        from .graphs import verified_graph

        graphs[name] = verified_graph(insns, name)
        leaders = graphs[name].leaders
    return {name: verify(insns, prog_type=args.prog_type or "socket_filter",
                         attach_type=args.attach_type, privileged=privileged,
                         log_level=log_level(args), name=name, states_at=leaders)}


def cmd_verify(args: argparse.Namespace) -> int:
    graphs: dict[str, Any] | None = {} if args.graph else None
    results = _results(args, graphs)
    write_logs(args, [(name, res.log) for name, res in results.items()])
    if graphs is not None:
        return _draw(args, results, graphs)
    rows = []
    for name, res in results.items():
        err = res.error
        rows.append({"program": name, "verdict": res.verdict,
                     "error": err.message if err is not None else None,
                     "insn": err.pc if err is not None else None,
                     "line": getattr(err, "line", None) if err is not None else None,
                     "insns_processed": res.insns_processed, "states": res.states})
        if args.json:
            continue
        if err is None:
            print(f"{name}: accepted ({res.insns_processed} instructions processed, "
                  f"{res.states} states)")
        else:
            print(f"{name}: rejected: {err}")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if all(r["verdict"] == "accept" for r in rows) else 1


def _draw(args: argparse.Namespace, results: dict[str, Any], graphs: dict[str, Any]) -> int:
    """``--graph``: the graphs with their entry states and refusals on
    standard output (or ``-o``), the verdicts on standard error."""
    import sys

    from .graphs import emit_graph

    for name, res in results.items():
        g = graphs[name]
        g.add_states(res.states_at)
        err = res.error
        if err is not None and err.pc is not None:
            g.mark(err.pc, f"refused at {err.pc}: {err.message}")
        print(f"{name}: " + ("accepted" if err is None else f"rejected: {err.message}"),
              file=sys.stderr)
    emit_graph(args, [graphs[name] for name in results])
    return 0 if all(r.accepted for r in results.values()) else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("verify", help="check programs as the kernel's verifier would, without "
                                      "root", description=__doc__)
    p.add_argument("file", help="assembly, bytecode, or a BPF object file ('-': stdin)")
    p.add_argument("--program", help="the program to verify (default: every program)")
    p.add_argument("--prog-type", help="program type (default: the object's, or "
                                       "socket_filter)")
    p.add_argument("--attach-type", help="expected attach type")
    p.add_argument("--unpriv", action="store_true",
                   help="verify as an unprivileged user would load it")
    add_log_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per program")
    from .graphs import add_graph_options

    add_graph_options(p, "each program, each block with the verifier's states on entry "
                         "(verdicts go to standard error)")
    p.add_argument("--syntax", default="auto", choices=("auto", "ubpf", "llvm"),
                   help="assembly syntax")
    p.set_defaults(func=cmd_verify)
