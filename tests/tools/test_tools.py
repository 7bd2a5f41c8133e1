"""The tracing tools run as a user runs them — as processes, seeing real
events, stopping on --duration, Ctrl-C and SIGTERM — plus their output
helpers.  The tools load the objects shipped in the package
(test_prebuilt.py); a tool whose C was edited since is compiled once into
the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import SRC as SRC_DIR
from pybpf.tools import TOOLS
from pybpf.tools._hist import bucket_label, format_log2
from pybpf.tools._syscalls import syscall_name, syscall_names

SRC = str(SRC_DIR)
MARK = "PYBPF-ATTACHED"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYBPF_TOOL_ATTACHED_MARK"] = MARK
    env.update(extra)
    return env


# --- helpers that need no kernel ------------------------------------------------------------

def test_hist_labels_and_bars():
    assert [bucket_label(i) for i in range(4)] == ["[0]", "[1]", "[2, 4)", "[4, 8)"]
    assert bucket_label(11) == "[1K, 2K)"
    assert bucket_label(21) == "[1M, 2M)"
    text = format_log2([0, 0, 5, 10, 0, 1], "@usecs:")
    lines = text.splitlines()
    assert lines[0] == "@usecs:"
    assert lines[1].startswith("[2, 4)") and lines[1].rstrip().endswith("|")
    assert lines[2].count("@") == 52 and lines[1].count("@") == 26
    assert lines[3].startswith("[8, 16)") and lines[3].count("@") == 0
    assert lines[4].startswith("[16, 32)") and lines[4].count("@") == 5
    assert format_log2([0] * 8) == "(no samples)"


def test_syscall_names_from_headers():
    table = syscall_names()
    if not table:
        pytest.skip("no asm/unistd header on this machine or in the ziglang wheel")
    assert "read" in table.values() and "openat" in table.values()
    if os.uname().machine == "x86_64":
        assert syscall_name(0) == "read" and syscall_name(39) == "getpid"
    assert syscall_name(99999) == "[99999]"


@pytest.mark.parametrize("name", sorted(TOOLS))
def test_tool_help(name):
    out = subprocess.run([sys.executable, "-m", f"pybpf.tools.{name}", "--help"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"pybpf tools {name}" in out.stdout and "--duration" in out.stdout


def test_tools_package_lists_and_refuses_unknown():
    out = subprocess.run([sys.executable, "-m", "pybpf.tools"], capture_output=True, text=True,
                         env=_env(), timeout=60)
    assert out.returncode == 2 and all(n in out.stdout for n in TOOLS)
    out = subprocess.run([sys.executable, "-m", "pybpf.tools", "nosuchtool"],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 2 and "no tool 'nosuchtool'" in out.stderr


# --- running them -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built():
    """Every tool's object (shipped, or compiled here once if its C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return {name: object_path(name, quiet=True) for name in TOOLS}
    except CompilerNotFound as e:
        pytest.skip(str(e))


class Tool:
    """A tool running in a subprocess, started and waited for its attach mark."""

    def __init__(self, name: str, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", f"pybpf.tools.{name}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=_env())
        line = self.proc.stderr.readline()
        while line and MARK not in line:  # "compiling..." notes come first
            line = self.proc.stderr.readline()
        if MARK not in line:
            _out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"{name} did not attach: {err}")

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err




@pytest.mark.kernel
def test_exitsnoop_reports_an_exit_code(built):
    t = Tool("exitsnoop", "-d", "1", "-x")
    subprocess.run(["sh", "-c", "exit 3"])
    code, out, err = t.finish()
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("sh ")]
    assert any(ln.split()[-2:] == ["code", "3"] for ln in lines), out
    assert out.splitlines()[0].split()[:3] == ["PCOMM", "PID", "PPID"]


@pytest.mark.kernel
def test_execsnoop_shows_arguments(built):
    tag = f"pybpf-{uuid.uuid4().hex[:8]}"
    t = Tool("execsnoop", "-d", "1")
    subprocess.run(["/bin/echo", tag, "second"], capture_output=True)
    code, out, err = t.finish()
    assert code == 0, err
    assert any(tag in ln and "second" in ln and ln.split()[3] == "0" for ln in out.splitlines()
               ), out


@pytest.mark.kernel
def test_opensnoop_shows_failed_open(built):
    path = f"/nonexistent-{uuid.uuid4().hex[:8]}"
    t = Tool("opensnoop", "-d", "1", "-x")
    subprocess.run(["cat", path], capture_output=True)
    code, out, err = t.finish()
    assert code == 0, err
    rows = [ln.split() for ln in out.splitlines() if ln.endswith(path)]
    assert rows and rows[0][2:4] == ["-1", "2"], out  # fd -1, ENOENT


@pytest.mark.kernel
def test_syscount_counts(built):
    t = Tool("syscount", "-d", "1", "-L", "-p", str(os.getpid()))
    for _ in range(100):
        os.getppid()
    code, out, err = t.finish()
    assert code == 0, err
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()[3:] if ln.strip()}
    assert out.splitlines()[2].split() == ["SYSCALL", "COUNT", "TIME", "(us)"]
    assert "getppid" in rows and int(rows["getppid"][0]) >= 100, out


@pytest.mark.kernel
def test_runqlat_prints_a_histogram(built):
    t = Tool("runqlat", "-d", "1")
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        time.sleep(0.001)  # wake-ups to measure
    code, out, err = t.finish()
    assert code == 0, err
    assert "@usecs:" in out
    assert any(ln.startswith("[") and "|" in ln for ln in out.splitlines()), out


@pytest.mark.kernel
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_tool_stops_cleanly_on_signals(built, sig):
    t = Tool("exitsnoop")
    t.proc.send_signal(sig)
    code, _out, err = t.finish(timeout=10)
    assert code == 0, err
    assert "Traceback" not in err


@pytest.mark.kernel
def test_exit_after_attach_for_timing(built):
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "pybpf.tools.exitsnoop"], capture_output=True,
                         text=True, env=_env(PYBPF_TOOL_EXIT_AFTER_ATTACH="1"), timeout=60)
    assert out.returncode == 0 and MARK in out.stderr
    assert time.monotonic() - start < 40   # well before the 60 s timeout: it did not wait


# --- running a command under a tool ----------------------------------------------------------

def test_a_tool_takes_everything_after_the_double_dash_as_its_command():
    from pybpf.tools import _runtime as rt

    p = rt.parser("exitsnoop", "test")
    p.add_argument("-x", action="store_true")
    args = rt.parse_args(p, ["-x", "--", "sh", "-c", "exit 3", "-x"])
    assert args.x and args.command == ["sh", "-c", "exit 3", "-x"]
    assert rt.parse_args(p, ["-d", "2"]).command == []


@pytest.mark.kernel
def test_exitsnoop_runs_a_command_shows_its_exit_and_returns_its_status(built):
    out = subprocess.run([sys.executable, "-m", "pybpf.cli", "tools", "exitsnoop", "--",
                          "sh", "-c", "exit 3"], capture_output=True, text=True, env=_env(),
                         timeout=60)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    assert any(f[0] == "sh" and f[-2:] == ["code", "3"] for f in lines if f), out.stdout


@pytest.mark.kernel
def test_a_command_that_cannot_start_is_one_line_and_a_failure(built):
    out = subprocess.run([sys.executable, "-m", "pybpf.cli", "tools", "exitsnoop", "--",
                          "/nonexistent/command"], capture_output=True, text=True, env=_env(),
                         timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("pybpf: error: cannot run")
    assert "Traceback" not in out.stderr
