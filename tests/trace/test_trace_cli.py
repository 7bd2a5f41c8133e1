"""``pybpf trace``: listing, --dry-run, errors, and a run in the kernel."""

from __future__ import annotations

import pytest
from trace_util import needs_tracefs

from pybpf.cli.main import main

pytestmark = needs_tracefs


def test_list_tracepoints_with_fields(capsys):
    assert main(["trace", "-l", "tracepoint:syscalls:sys_enter_openat", "-v"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "tracepoint:syscalls:sys_enter_openat"
    assert "    const char * filename" in out


def test_list_with_wildcards(capsys):
    assert main(["trace", "-l", "t:sched:sched_process_*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "tracepoint:sched:sched_process_exit" in out
    assert all(line.startswith("tracepoint:sched:sched_process_") for line in out)


def test_dry_run_prints_the_generated_programs(capsys):
    prog = "tracepoint:raw_syscalls:sys_enter /pid == 1/ { @[comm] = count(); }"
    assert main(["trace", "--dry-run", "-e", prog]) == 0
    out = capsys.readouterr().out
    assert "; tracepoint:raw_syscalls:sys_enter  (section tracepoint/raw_syscalls/sys_enter" in out
    assert "call get_current_comm" in out and "call map_lookup_elem" in out
    assert "; map AT_: percpu_hash" in out


def test_errors_print_like_bpftrace_and_fail(capsys):
    assert main(["trace", "-e", "BEGIN { @x = 1 +; }"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stdin:1:17-18: ERROR: syntax error, unexpected ;\n")


def test_a_script_file_with_parameters(tmp_path, capsys):
    script = tmp_path / "hello.bt"
    script.write_text("#!/usr/bin/env bpftrace\nBEGIN { printf(\"%s %d\\n\", str($1), $2); "
                      "exit(); }\n")
    assert main(["trace", "--dry-run", str(script), "hi", "7"]) == 0
    assert "; BEGIN" in capsys.readouterr().out


@pytest.mark.kernel
def test_run_in_the_kernel(capsys):
    assert main(["trace", "-e", 'BEGIN { printf("hi %d\\n", 42); @n = count(); exit(); }']) == 0
    assert capsys.readouterr().out == "Attaching 1 probe...\nhi 42\n\n\n@n: 1\n"


def test_unreadable_scripts_and_outputs_are_one_line_errors(tmp_path, capsys):
    # cli fuzz seed 20261206 cases 38981, 39253, 40138, 40503: tracebacks
    binary = tmp_path / "x.o"
    binary.write_bytes(b"\x7fELF\xf7\xff" * 10)
    for argv, said in ([str(tmp_path / "missing.bt")], "No such file"), \
                      ([str(binary)], "not a bpftrace script"), \
                      ([str(tmp_path / ("n" * 300))], "too long"), \
                      (["-e", "BEGIN { exit(); }", "-o", str(tmp_path)], "Is a directory"):
        assert main(["trace", *argv]) == 1
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and len(err.splitlines()) == 1
