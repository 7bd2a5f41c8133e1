"""The event tools for signals and files — killsnoop, statsnoop,
mountsnoop, filelife, bindsnoop — run as processes and see an event the
test makes happen, in text and in JSON lines."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess

import pytest
from tool_process import ToolProcess, run_tool

from pybpf.tools import TOOLS


@pytest.fixture(scope="module")
def built():
    """Every tool's object (shipped, or compiled here once if its C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return {name: object_path(name, quiet=True) for name in TOOLS}
    except CompilerNotFound as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("name", sorted(n for n in TOOLS
                                        if hasattr(importlib.import_module(f"pybpf.tools.{n}"),
                                                   "build_parser")))
def test_every_option_has_help_and_json_output(name):
    module = importlib.import_module(f"pybpf.tools.{name}")
    p = module.build_parser()
    for action in p._actions:
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert "-j" in p._option_string_actions


# --- killsnoop -------------------------------------------------------------------------------

def test_killsnoop_signal_names_and_parsing():
    from pybpf.tools.killsnoop import parse_signal, signal_name

    assert signal_name(15) == "SIGTERM" and signal_name(0) == "0"
    assert parse_signal("9") == 9 and parse_signal("term") == 15 == parse_signal("SIGTERM")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_signal("NOPE")


@pytest.mark.kernel
def test_killsnoop_sees_a_signal_and_a_failed_kill(built):
    me = str(os.getpid())
    t = ToolProcess("killsnoop", "-d", "1", "-p", me)
    child = subprocess.Popen(["sleep", "30"])
    os.kill(child.pid, signal.SIGUSR1)
    child.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)  # reaped: ESRCH
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "PID", "COMM", "SIG", "TPID", "RESULT"]
    rows = [ln.split() for ln in lines[1:]]
    assert [me, str(int(signal.SIGUSR1)), str(child.pid), "0"] == \
        [rows[0][1], rows[0][3], rows[0][4], rows[0][5]], out
    assert any(r[3:] == ["0", str(child.pid), "-3"] for r in rows), out  # -ESRCH


@pytest.mark.kernel
def test_killsnoop_json_lines_with_a_command(built):
    out = run_tool("killsnoop", "-j", "-s", "TERM", "--", "sh", "-c", "sleep 5 & kill $!")
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert any(e["signal"] == "SIGTERM" and e["call"] == "kill" and e["ret"] == 0 and
               e["comm"] == "sh" for e in events), out.stdout
    assert all(e["sig"] == 15 for e in events)
