"""Parsing bpftrace programs, and syntax errors in bpftrace's form (no root)."""

from __future__ import annotations

import pytest

from pybpf.errors import BPFError
from pybpf.trace import ast as A
from pybpf.trace.errors import TraceSyntaxError
from pybpf.trace.parser import parse, parse_probe


def body(text: str) -> list:
    return parse(text).blocks[0].body


def test_probes_with_short_names_paths_and_wildcards():
    prog = parse('t:syscalls:sys_enter_* , u:/bin/bash:readline,uretprobe:./a.out:main,'
                 'usdt:/usr/bin/python3:python:function__entry { @[probe] = count(); } '
                 'i:s:1 { exit(); } BEGIN { } END { }')
    names = [[p.name for p in b.probes] for b in prog.blocks]
    assert names == [["tracepoint:syscalls:sys_enter_*", "uprobe:/bin/bash:readline",
                      "uretprobe:./a.out:main",
                      "usdt:/usr/bin/python3:python:function__entry"],
                     ["interval:s:1"], ["BEGIN"], ["END"]]
    assert parse_probe('u:lib.so:"fn(char const*)"').parts == ["lib.so", "fn(char const*)"]


def test_predicate_then_block_and_the_division_rule():
    block = parse("tracepoint:a:b /pid == 1 && comm != \"x\"/ { $x = (arg0 / 2); }").blocks[0]
    assert isinstance(block.predicate, A.Binary) and block.predicate.op == "&&"
    assert isinstance(block.body[0], A.Assign)
    assert block.body[0].value.op == "/"


def test_maps_variables_and_operators_by_precedence():
    [stmt] = body("BEGIN { @x[pid, comm] = 1 + 2 * 3 << 1; }")
    assert isinstance(stmt.target, A.MapRef) and len(stmt.target.keys) == 2
    shift = stmt.value
    assert shift.op == "<<" and shift.left.op == "+" and shift.left.right.op == "*"


def test_statements_if_else_unroll_while_and_compound_assignment():
    stmts = body("BEGIN { if ($x > 1) { @a++; } else if ($x) { @b--; } else { $y = 1 } "
                 "unroll(3) { @c += 2; } while ($i < 10) { $i++; if ($i == 5) { break; } } "
                 "$t = (1, \"s\"); print($t.1); $z = $x > 0 ? $x : -1; }")
    kinds = [type(s).__name__ for s in stmts]
    assert kinds == ["If", "Unroll", "While", "Assign", "ExprStmt", "Assign"]
    assert isinstance(stmts[0].other[0], A.If)
    assert stmts[1].count == 3 and stmts[1].body[0].op == "+"
    assert isinstance(stmts[5].value, A.Ternary)


def test_casts_and_struct_fields():
    [stmt] = body("BEGIN { @x = ((struct task_struct *)curtask)->real_parent->pid; }")
    access = stmt.value
    assert isinstance(access, A.FieldAccess) and access.arrow and access.name == "pid"
    cast = access.base.base
    assert isinstance(cast, A.Cast) and cast.to.name == "struct task_struct" and \
        cast.to.pointer == 1
    [stmt] = body("BEGIN { @x = (uint8)300; }")
    assert stmt.value.to.name == "uint8"


def test_integer_literals():
    [stmt] = body("BEGIN { $x = 2e3 + 0x10 + 010 + 1_000 + 'a' + 5UL; }")
    values = []
    node = stmt.value
    while isinstance(node, A.Binary):
        values.append(node.right.value)
        node = node.left
    values.append(node.value)
    assert sorted(values) == sorted([2000, 16, 8, 1000, 97, 5])


def test_comments_and_includes():
    prog = parse("#include <linux/sched.h>\n// one\nBEGIN /* two */ { exit(); }\n")
    assert prog.includes == ["#include <linux/sched.h>"]
    assert prog.blocks[0].body[0].expr.name == "exit"


@pytest.mark.parametrize("program, location, message, caret", [
    ("BEGIN { @x = 1 +; }", "stdin:1:17-18", "syntax error, unexpected ;", " " * 16 + "~"),
    ("tracepoint:syscalls:sys_enter_openat { @[comm] = count() ",
     "stdin:1:58-58", "syntax error, unexpected end of file, expecting }", " " * 57),
    ("BEGIN { @ = 1 2; }", "stdin:1:15-16", "syntax error, unexpected integer, expecting ;",
     " " * 14 + "~"),
    ("foo:bar { }", "stdin:1:1-8", "Invalid probe type: foo", "~" * 7),
])
def test_syntax_errors_point_at_line_and_column(program, location, message, caret):
    with pytest.raises(TraceSyntaxError) as info:
        parse(program)
    lines = str(info.value).split("\n")
    assert lines[0] == f"{location}: ERROR: {message}"
    assert lines[1] == program.split("\n")[0]
    assert lines[2] == caret
    assert isinstance(info.value, BPFError)


def test_errors_on_later_lines_name_the_line_and_file():
    with pytest.raises(TraceSyntaxError) as info:
        parse("BEGIN {\n  @x = 1;\n  @y = (2;\n}\n", "script.bt")
    e = info.value
    assert (e.line, e.column) == (3, 10)
    assert str(e).startswith("script.bt:3:10-11: ERROR: syntax error, unexpected ;, "
                             "expecting )")
    assert str(e).split("\n")[1] == "  @y = (2;"


def test_unroll_needs_a_constant():
    with pytest.raises(TraceSyntaxError, match="unroll count"):
        parse("BEGIN { unroll($x) { } }")
