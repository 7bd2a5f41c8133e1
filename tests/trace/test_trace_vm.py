"""One-liners run in the userspace VM on synthetic tracepoint records (no
root, no kernel): the same code the kernel runs, verified by pybpf's
verifier first, printing as bpftrace prints."""

from __future__ import annotations

import pytest
from trace_util import needs_tracefs

from pybpf.trace import Event, compile, run_vm
from pybpf.trace.errors import TraceSemanticError

pytestmark = needs_tracefs

BAR = "@" * 52
EMPTY = " " * 52
READ = "tracepoint:syscalls:sys_exit_read"
OPEN = "tracepoint:syscalls:sys_enter_openat"
SWITCH = "tracepoint:sched:sched_switch"


def reads(*items):
    return [Event(READ, {"ret": ret}, pid=pid, comm=comm) for ret, pid, comm in items]


def test_count_by_comm_with_a_predicate():
    prog = compile(f'{READ} /args->ret > 0/ {{ @[comm] = count(); }}')
    out = run_vm(prog, reads((10, 1, "cat"), (0, 1, "cat"), (5, 2, "dd"), (7, 2, "dd"),
                             (-1, 3, "ls")))
    assert out == "\n\n@[cat]: 1\n@[dd]: 2\n"


def test_sum_min_max_avg_stats():
    prog = compile(f"{READ} {{ @s[comm] = sum(args->ret); @mi = min(args->ret); "
                   f"@ma = max(args->ret); @a = avg(args->ret); @st = stats(args->ret); }}")
    out = run_vm(prog, reads((10, 1, "cat"), (30, 1, "cat"), (-4, 2, "dd")))
    assert out == ("\n\n@a: 12\n\n@ma: 30\n@mi: -4\n@s[dd]: -4\n@s[cat]: 40\n"
                   "@st: count 3, average 12, total 36\n\n")


def test_hist_and_lhist():
    prog = compile(f"{READ} {{ @bytes = hist(args->ret); @l = lhist(args->ret, 0, 100, 25); }}")
    out = run_vm(prog, reads((1, 1, "a"), (3, 1, "a"), (3, 1, "a"), (70, 1, "a")))
    assert out == ("\n\n@bytes: \n"
                   f"[1]                    1 |{'@' * 26}{' ' * 26}|\n"
                   f"[2, 4)                 2 |{BAR}|\n"
                   f"[4, 8)                 0 |{EMPTY}|\n"
                   f"[8, 16)                0 |{EMPTY}|\n"
                   f"[16, 32)               0 |{EMPTY}|\n"
                   f"[32, 64)               0 |{EMPTY}|\n"
                   f"[64, 128)              1 |{'@' * 26}{' ' * 26}|\n\n"
                   "@l: \n"
                   f"[0, 25)                3 |{BAR}|\n"
                   f"[25, 50)               0 |{EMPTY}|\n"
                   f"[50, 75)               1 |{'@' * 17}{' ' * 35}|\n\n")


def test_printf_strings_and_control_flow():
    prog = compile(SWITCH + ' /args->next_pid != 0/ { '
                   'if (args->prev_comm == "idle") { printf("from idle to %s\\n", '
                   'args->next_comm); } else if (args->prev_pid > 100) { '
                   'printf("%-6s|%5d|%x\\n", args->prev_comm, args->prev_pid, 255); } '
                   'else { $i = 0; $n = 0; while ($i < 5) { $i++; if ($i == 3) { continue; } '
                   '$n += $i; } unroll(2) { $n *= 2; } printf("n=%d %s\\n", $n, '
                   '$n > 40 ? "big" : "small"); } }')
    events = [Event(SWITCH, {"prev_comm": "idle", "next_comm": "bash", "next_pid": 5}),
              Event(SWITCH, {"prev_comm": "dd", "prev_pid": 4242, "next_pid": 1}),
              Event(SWITCH, {"prev_comm": "x", "prev_pid": 7, "next_pid": 1}),
              Event(SWITCH, {"prev_comm": "y", "next_pid": 0})]
    assert run_vm(prog, events) == ("from idle to bash\n"
                                    "dd    | 4242|ff\n"
                                    "n=48 big\n\n\n")


def test_pid_comm_tuples_delete_and_exit():
    prog = compile(f'{OPEN} {{ @start[tid] = 1; @t = (pid, comm); '
                   f'if (comm == "stop") {{ delete(@start[tid]); exit(); }} }} '
                   'END { printf("end\\n"); }')
    events = [Event(OPEN, pid=10, comm="a"), Event(OPEN, pid=11, tid=12, comm="b"),
              Event(OPEN, pid=10, comm="stop"), Event(OPEN, pid=99, comm="late")]
    assert run_vm(prog, events) == "end\n\n\n@start[12]: 1\n@t: (10, stop)\n"


def test_begin_positional_parameters_and_print():
    prog = compile('BEGIN { @x = $1 + 1; print(@x); printf("%s %d\\n", str($2), $#); '
                   'print((1, "a")); }', params=["41", "hi"])
    assert run_vm(prog, []) == "@x: 42\nhi 2\n(1, a)\n\n\n@x: 42\n"


def test_clear_zero_and_print_with_top():
    prog = compile(f'{READ} {{ @c[args->ret] = count(); @z = sum(args->ret); }} '
                   'END { print(@c, 2); clear(@c); zero(@z); }')
    out = run_vm(prog, reads((1, 1, "a"), (2, 1, "a"), (2, 1, "a"), (3, 1, "a"), (3, 1, "a"),
                             (3, 1, "a")))
    assert out == "@c[2]: 2\n@c[3]: 3\n\n\n\n@z: 0\n"


def test_json_output():
    prog = compile(f'{READ} {{ @[comm] = count(); @h = hist(args->ret); printf("r %d\\n", '
                   f'args->ret); }}')
    out = run_vm(prog, reads((5, 1, "cat")), json=True)
    assert out.splitlines() == [
        '{"type": "printf", "data": "r 5\\n"}', "", "",
        '{"type": "map", "data": {"@": {"cat": 1}}}',
        '{"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}']


def test_wildcard_probes_give_one_program_each():
    prog = compile("tracepoint:syscalls:sys_enter_open* { @[probe] = count(); }")
    events = [Event(OPEN), Event(OPEN), Event("tracepoint:syscalls:sys_enter_open")]
    assert run_vm(prog, events) == ("\n\n@[tracepoint:syscalls:sys_enter_open]: 1\n"
                                    "@[tracepoint:syscalls:sys_enter_openat]: 2\n")


EXECVE = "tracepoint:syscalls:sys_enter_execve"


def test_join_prints_the_argv_strings():
    prog = compile(f'{EXECVE} {{ join(args->argv); join(args->argv, ","); '
                   f'printf("%s\\n", str(args->filename)); }}')
    many = ["/bin/true", *(f"a{i}" for i in range(20))]
    long = "x" * 1500
    out = run_vm(prog, [Event(EXECVE, {"filename": "/bin/true", "argv": many}),
                        Event(EXECVE, {"filename": "/bin/echo", "argv": ["echo", long, "b"]}),
                        Event(EXECVE, {"filename": "/bin/x", "argv": ["x", "", "after"]})])
    lines = out.splitlines()
    # 16 elements at most (bpftrace's join_argnum), a space by default
    assert lines[0] == " ".join(many[:16])
    assert lines[1] == ",".join(many[:16])
    assert lines[2] == "/bin/true"
    # each element at most 1023 bytes (join_argsize 1024 with its NUL)
    assert lines[3] == f"echo {'x' * 1023} b"
    assert lines[4] == f"echo,{'x' * 1023},b"
    # an empty element ends the list, as in bpftrace
    assert lines[6:9] == ["x", "x", "/bin/x"]


def test_join_refuses_what_is_not_an_array():
    with pytest.raises(TraceSemanticError, match="join"):
        compile(f'{EXECVE} {{ join(comm); }}')
    with pytest.raises(TraceSemanticError, match="string literal"):
        compile(f'{EXECVE} {{ join(args->argv, comm); }}')
