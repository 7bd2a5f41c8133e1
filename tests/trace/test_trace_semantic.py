"""Semantic analysis: types, maps, and errors that name the probe and the field."""

from __future__ import annotations

import pytest
from trace_util import needs_tracefs

from pybpf.trace import types as T
from pybpf.trace.errors import TraceProbeError, TraceSemanticError
from pybpf.trace.parser import parse
from pybpf.trace.semantic import analyze

pytestmark = needs_tracefs


def check(text: str, **kw):
    return analyze(parse(text), **kw)


def test_args_fields_come_from_the_tracepoint_format():
    a = check("tracepoint:sched:sched_switch { @[args->prev_comm, args.next_pid] = count(); }")
    info = a.maps[""]
    assert info.kind == "count"
    assert info.keys == [T.String(16), T.Int(64, True)]


def test_unknown_field_names_the_probe_and_the_field():
    with pytest.raises(TraceSemanticError) as e:
        check("tracepoint:syscalls:sys_enter_openat { @[args->nofield] = count(); }")
    text = str(e.value)
    assert "tracepoint:syscalls:sys_enter_openat" in text and "'nofield'" in text
    assert "filename" in text       # the fields it has
    assert text.startswith("stdin:1:42-55: ERROR:")
    assert e.value.probe == "tracepoint:syscalls:sys_enter_openat"


def test_wildcards_expand_to_each_tracepoint():
    a = check("tracepoint:syscalls:sys_enter_open* { @[probe] = count(); }")
    names = [p.target.name for p in a.programs]
    assert "tracepoint:syscalls:sys_enter_openat" in names and len(names) >= 2
    assert all(n.startswith("tracepoint:syscalls:sys_enter_open") for n in names)


@pytest.mark.parametrize("program, message", [
    ('BEGIN { printf("%d\\n", foo); }', "Unknown identifier: 'foo'"),
    ("BEGIN { @y = $z; }", "Undefined or undeclared variable: $z"),
    ('BEGIN { printf("%d %d\\n", 1); }',
     "printf: Not enough arguments for format string (1 supplied, 2 expected)"),
    ('BEGIN { printf("%d\\n", 1, 2); }',
     "printf: Too many arguments for format string (2 supplied, 1 expected)"),
    ('BEGIN { @x = 1; @x = "s"; }', "Type mismatch for @x"),
    ("BEGIN { @x = count(); @x = sum(1); }", "Type mismatch for @x"),
    ('BEGIN { system("ls"); }', "unsafe function"),
    ("BEGIN { $x = count(); }", "count() must be assigned to a map"),
    ("BEGIN { @ = lhist(1, 10, 0, 1); }", "lhist() needs"),
    ("BEGIN { @ = hist(\"s\"); }", "hist() expects an integer"),
    ("tracepoint:sched:sched_switch { @ = retval; }", "retval"),
    ("BEGIN { @ = nosuch(1); }", "Unknown function: 'nosuch'"),
])
def test_semantic_errors(program, message):
    with pytest.raises(TraceSemanticError, match=None) as e:
        check(program)
    assert message in str(e.value)


def test_unsafe_functions_pass_with_unsafe():
    a = check('BEGIN { system("true"); }', unsafe=True)
    assert [x.kind for x in a.actions] == ["system"]


@pytest.mark.parametrize("program, kind", [
    ("kprobe:do_nanosleep { @ = count(); }", "kprobe"),
    ("kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }", "kretprobe"),
    ("kfunc:vfs_read { @ = count(); }", "kfunc"),
    ("fentry:vfs_read { @ = count(); }", "kfunc"),
])
def test_probes_this_kernel_refuses_say_why(program, kind):
    from pybpf.trace.probes import kernel_refusal

    if kernel_refusal(kind) is None:
        pytest.skip(f"this kernel has {kind} probes")
    with pytest.raises(TraceProbeError) as e:
        check(program)
    assert f"{kind} probes cannot be used here" in str(e.value)
    assert str(e.value).split("\n")[2].startswith("~")


def test_missing_tracepoint():
    with pytest.raises(TraceProbeError, match="tracepoint not found: nosuch:thing"):
        check("tracepoint:nosuch:thing { exit(); }")


def test_printf_actions_carry_argument_types():
    a = check('tracepoint:syscalls:sys_enter_openat { printf("%s %s %d\\n", comm, '
              'str(args->filename), pid); }')
    [act] = a.actions
    assert act.kind == "printf"
    assert act.args == (T.String(16), T.String(64), T.UINT64)
