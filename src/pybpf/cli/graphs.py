"""Control-flow graphs on the command line: ``--graph dot|svg``.

``pybpf verify FILE --graph svg`` (blocks with the verifier's state on
entry), ``pybpf disasm FILE --graph dot`` (no verification), ``pybpf prog
show PROG --graph svg`` and ``pybpf prog dump xlated PROG visual`` (a
program in the kernel, as it holds it after verification).  The graph goes
to standard output, or to ``-o FILE``.  The drawing is
:mod:`pybpf.pictures.graph`'s: DOT for graphviz, SVG laid out by pybpf.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..errors import BPFError
from ..isa import Insn, decode
from ..isa.opcodes import BPF_CALL, BPF_JMP, PSEUDO_CALL_LOCAL
from ..pictures.cfg import ControlFlowGraph, control_flow_graph
from ..pictures.graph import to_dot, to_svg

GRAPH_FORMATS = ("dot", "svg")


def add_graph_options(p: argparse.ArgumentParser, what: str) -> None:
    """Give ``p`` ``--graph FORMAT`` and ``-o/--output FILE``."""
    p.add_argument("--graph", choices=GRAPH_FORMATS, metavar="dot|svg",
                   help=f"print a control-flow graph instead (DOT for graphviz, or SVG "
                        f"drawn by pybpf): {what}")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="with --graph: write the graph to FILE instead of standard output")


def emit_graph(args: argparse.Namespace, graphs: Sequence[ControlFlowGraph]) -> None:
    """Write ``graphs`` in the format ``--graph`` names, where ``-o`` says."""
    if not graphs:
        raise BPFError("no program to draw")
    text = to_svg(graphs) if args.graph == "svg" else to_dot(graphs)
    path = getattr(args, "output", None)
    if path:
        from .output import write_file

        write_file(path, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def function_names(func_info: Any, btf: Any) -> dict[int, str]:
    """Subprogram names by entry pc from BTF func_info rows ``(pc, type_id)``."""
    names: dict[int, str] = {}
    if btf is None:
        return names
    for pc, type_id in func_info or ():
        try:
            name = getattr(btf[type_id], "name", "")
        except Exception:  # a row naming no type: no name
            continue
        if name:
            names[pc] = name
    return names


def kernel_program_graph(prog_id: int, symbols: Any = None) -> ControlFlowGraph:
    """The control-flow graph of kernel program ``prog_id`` from its
    translated instructions, in the kernel's notation."""
    from ..kernel import info, xlated
    from ..kernel import sys as ksys

    with ksys.get_fd_by_id("prog", prog_id) as fd:
        image = xlated.ProgramImage(int(fd))
        if not image.xlated:
            raise BPFError(f"program {prog_id}: the kernel returned no instructions "
                           f"(kernel.kptr_restrict, or no CAP_SYS_ADMIN)")
        lines = xlated.xlated_lines(int(fd), image, symbols)
        name = info.program_info(int(fd)).name or f"prog_{prog_id}"
    insns = decode(image.xlated[:len(image.xlated) // 8 * 8])
    if image.ksyms:
        # after the JIT a bpf-to-bpf call holds the callee's index in imm and
        # its pc-relative offset in off
        insns = [Insn(i.opcode, i.dst, i.src, 0, i.off)
                 if i.opcode == BPF_JMP | BPF_CALL and i.src == PSEUDO_CALL_LOCAL else i
                 for i in insns]
    text = {ln.pc: ln.text for ln in lines}
    return control_flow_graph(insns, lambda pc: text.get(pc, "?"), name=name,
                              functions=function_names(image.func_info, image.btf))


def file_graphs(path: str, syntax: str = "auto", program: str | None = None
                ) -> list[ControlFlowGraph]:
    """Graphs of the programs in ``path`` (an object file: each program,
    or ``program``; assembly or bytecode: one), without verification."""
    from .inputs import load_program, read_bytes

    data = read_bytes(path)
    if data[:4] == b"\x7fELF":
        from ..elf import load_object

        spec = load_object(data, path=path)
        names = [program] if program else list(spec.programs)
        out = []
        for name in names:
            if name not in spec.programs:
                raise BPFError(f"{path} has no program {name!r} (it has: "
                               f"{', '.join(spec.programs)})")
            prog = spec.programs[name]
            out.append(control_flow_graph(prog.instructions, name=name))
        return out
    insns, _ = load_program(path, syntax)
    return [control_flow_graph(insns, name=program or "prog")]


def verified_graph(insns: Sequence[Insn], name: str, func_info: Any = None,
                   btf: Any = None, map_refs: Any = None) -> ControlFlowGraph:
    """The graph of a program about to be verified, its instructions as the
    verifier's log prints them; a map load named by its map (``map_refs``:
    a linked program's symbolic references by pc) as bpftool names one."""
    from ..verifier.log import insn_str

    insns = list(insns)
    refs = dict(map_refs or {})

    def text(pc: int) -> str:
        ref = refs.get(pc)
        if ref is None:
            return insn_str(insns, pc)
        insn = insns[pc]
        where = f"map[{ref.map}]" + (f"[0]+{ref.offset}" if ref.value else "")
        return f"({insn.opcode:02x}) r{insn.dst} = {where}"

    return control_flow_graph(insns, text, name=name, functions=function_names(func_info, btf))
