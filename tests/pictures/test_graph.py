"""Control-flow graphs: blocks and edges, DOT that parses back to the same
nodes and edges, SVG that is well-formed XML with one group per block, and
the verifier's entry states in both; the CLI's --graph options, for files
and for a program in the kernel."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from pybpf.cli.main import main
from pybpf.isa import assemble
from pybpf.pictures.cfg import CALL, FALLTHROUGH, GOTO, TAKEN, control_flow_graph
from pybpf.pictures.graph import to_dot, to_svg
from pybpf.verifier import verify

SVG = "{http://www.w3.org/2000/svg}"

WITH_SUBPROGRAM = """
r1 = 3
call pc+3
if r0 > 2 goto +1
r0 = 0
exit
r0 = r1
r0 += 1
exit
"""

LOOP = """
r0 = 0
r2 = *(u32 *)(r1 + 0)
r2 &= 7
if r2 == 0 goto +3
r0 += 1
r2 += -1
goto -4
exit
"""

UNINIT = """
r0 = 0
if r1 == 0 goto +1
r0 = r2
exit
"""


def parse_dot(text: str) -> tuple[set[str], list[tuple[str, str, str]]]:
    """A small reader for the DOT pybpf writes: checks that quotes and
    braces balance and statements end with ';', and returns the node ids
    and the edges (source, target, attributes)."""
    assert text.startswith("digraph ") and text.rstrip().endswith("}")
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            assert depth >= 0
    assert depth == 0 and not in_string
    string = r'"(?:[^"\\]|\\.)*"'
    stmt = re.compile(rf"^\s*(\w+)(?:\s*->\s*(\w+))?\s*\[((?:{string}|[^\]\"])*)\];\s*$",
                      re.MULTILINE)
    nodes, edges = set(), []
    for m in stmt.finditer(text):
        if m.group(1) in ("graph", "node", "edge"):
            continue
        if m.group(2):
            edges.append((m.group(1), m.group(2), m.group(3)))
        else:
            nodes.add(m.group(1))
    assert all(a in nodes and b in nodes for a, b, _ in edges)
    return nodes, edges


def test_blocks_edges_and_functions():
    g = control_flow_graph(assemble(WITH_SUBPROGRAM), name="main")
    assert g.leaders == [0, 3, 4, 5]
    assert g.functions == {0: "main", 5: "subprog_5"}
    assert [b.function for b in g.blocks] == [0, 0, 0, 5]
    assert {(e.source, e.target, e.kind) for e in g.edges} == {
        (0, 2, TAKEN), (0, 1, FALLTHROUGH), (0, 3, CALL), (1, 2, FALLTHROUGH)}
    loop = control_flow_graph(assemble(LOOP))
    assert loop.leaders == [0, 3, 4, 7]
    assert (2, 1, GOTO) in {(e.source, e.target, e.kind) for e in loop.edges}


def test_lddw_takes_two_slots_and_exit_ends_a_block():
    insns = assemble("r1 = 0x100000000 ll\nif r1 == 0 goto +1\nexit\nr0 = 1\nexit")
    g = control_flow_graph(insns)
    assert [pc for pc, _ in g.blocks[0].lines] == [0, 2]
    assert g.leaders == [0, 3, 4]
    assert not any(e.source == 1 for e in g.edges)        # nothing after an exit


def test_dot_parses_back_with_the_verifier_states():
    insns = assemble(WITH_SUBPROGRAM)
    g = control_flow_graph(insns, name="main")
    res = verify(insns, prog_type="socket_filter", states_at=g.leaders)
    assert res.accepted
    assert res.states_at[0] == ["R1=ctx() R10=fp0"]
    assert res.states_at[3] == []                  # r0 is 4: the branch is always taken
    g.add_states(res.states_at)
    text = to_dot([g])
    nodes, edges = parse_dot(text)
    assert len(nodes) == len(g.blocks) and len(edges) == len(g.edges)
    assert text.count("subgraph ") == 2            # a cluster per function
    assert "entry: R1=ctx() R10=fp0" in text and "frame1: R1=3 R10=fp0" in text
    assert "not reached by the verifier" in text
    assert sum('label="taken"' in attrs for *_, attrs in edges) == 1


def test_dot_escapes_quotes_and_backslashes():
    g = control_flow_graph(assemble("r0 = 0\nexit"), lambda pc: 'say "hi" \\o/', name='a"b')
    nodes, _ = parse_dot(to_dot([g]))
    assert len(nodes) == 1 and 'say \\"hi\\" \\\\o/' in to_dot([g])


def test_svg_is_xml_with_one_group_per_block():
    insns = assemble(LOOP)
    g = control_flow_graph(insns, name="loop")
    g.add_states(verify(insns, prog_type="socket_filter", states_at=g.leaders).states_at)
    two = control_flow_graph(assemble(WITH_SUBPROGRAM), name="main")
    root = ET.fromstring(to_svg([g, two]))
    assert root.tag == f"{SVG}svg"
    blocks = [e for e in root.iter(f"{SVG}g") if "block" in e.get("class", "").split()]
    assert len(blocks) == len(g.blocks) + len(two.blocks)
    assert len({b.get("id") for b in blocks}) == len(blocks)
    paths = [e for e in root.iter(f"{SVG}path") if "edge" in e.get("class", "")]
    assert len(paths) == len(g.edges) + len(two.edges)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "R10=fp0" in texts and "r2 &= 7" in texts
    # every block's box lies inside the picture
    width, height = float(root.get("width")), float(root.get("height"))
    for b in blocks:
        rect = b.find(f"{SVG}rect")
        assert float(rect.get("x")) >= 0 and float(rect.get("y")) >= 0
        assert float(rect.get("x")) + float(rect.get("width")) <= width + 1
        assert float(rect.get("y")) + float(rect.get("height")) <= height + 1


def test_cli_verify_graph_marks_the_refusal(tmp_path, capsys):
    src = tmp_path / "bad.s"
    src.write_text(UNINIT)
    assert main(["verify", str(src), "--graph", "dot"]) == 1
    out, err = capsys.readouterr()
    assert "rejected: R2 !read_ok" in err
    nodes, _ = parse_dot(out)
    assert len(nodes) == 3 and "refused at 2: R2 !read_ok" in out
    svg = tmp_path / "bad.svg"
    assert main(["verify", str(src), "--graph", "svg", "-o", str(svg)]) == 1
    root = ET.parse(svg).getroot()
    assert [e for e in root.iter(f"{SVG}g") if "refused" in e.get("class", "")]


def test_cli_verify_graph_of_an_object(capsys):
    from pybpf.tools.prebuilt import OBJECTS

    obj = str(OBJECTS / "runqlat.bpf.o")
    assert main(["verify", obj, "--program", "on_wakeup", "--graph", "dot"]) == 0
    out, err = capsys.readouterr()
    assert "on_wakeup: accepted" in err
    nodes, edges = parse_dot(out)
    assert len(nodes) >= 3 and edges
    assert "entry: R1=ctx() R10=fp0" in out and "map[" in out
    assert main(["disasm", obj, "--section", "on_wakeup", "--graph", "dot"]) == 0
    plain = capsys.readouterr().out
    assert len(parse_dot(plain)[0]) == len(nodes) and "entry:" not in plain


@pytest.mark.kernel
def test_cli_graph_of_a_kernel_program(capsys):
    from pybpf import kernel
    from pybpf.objects import ObjectSpec, ProgramSpec

    insns = assemble(WITH_SUBPROGRAM)
    spec = ObjectSpec.build([ProgramSpec("pic_graph", insns, type="socket_filter")], [])
    with kernel.load(spec) as coll:
        pid = str(coll.programs["pic_graph"].info().id)
        assert main(["prog", "show", "id", pid, "--graph", "dot"]) == 0
        nodes, edges = parse_dot(capsys.readouterr().out)
        # the kernel removed the branch it proved dead: main and the subprogram
        assert len(nodes) == 2 and [a for *_, a in edges] == \
            ['color="#6a1b9a" label="call" style=dashed']
        assert main(["prog", "dump", "xlated", "id", pid, "visual"]) == 0
        assert parse_dot(capsys.readouterr().out)[0] == nodes
        assert main(["prog", "show", "id", pid, "--graph", "svg"]) == 0
        root = ET.fromstring(capsys.readouterr().out)
        assert len([e for e in root.iter(f"{SVG}g") if e.get("class") == "block"]) == 2


def test_a_program_too_large_to_draw_is_refused_at_once():
    # cli fuzz seed 20261206 case 26105: 4 MiB of random slots kept verify --graph busy for minutes
    from pybpf.errors import BPFError
    from pybpf.isa import Insn
    from pybpf.pictures.cfg import MAX_GRAPH_SLOTS, control_flow_graph

    with pytest.raises(BPFError, match="at most"):
        control_flow_graph([Insn(0xB7, 0, 0, 0, 1)] * (MAX_GRAPH_SLOTS + 1))
    graph = control_flow_graph([Insn(0xB7, 0, 0, 0, 1)] * 1000 + [Insn(0x95, 0, 0, 0, 0)])
    assert len(graph.blocks) == 1 and len(graph.blocks[0].lines) == 1001
