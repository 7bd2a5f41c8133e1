"""Running a tool as a user runs it, for the tools' tests: a process whose
attach mark is awaited before the test makes its event happen."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import SRC

MARK = "PYBPF-ATTACHED"


def tool_env(**extra: str) -> dict[str, str]:
    """The environment a tool runs in: this checkout's pybpf, the attach mark."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYBPF_TOOL_ATTACHED_MARK"] = MARK
    env.update(extra)
    return env


class ToolProcess:
    """``python -m pybpf.tools.NAME ARGS`` in a subprocess, returned once
    its programs are attached."""

    def __init__(self, name: str, *args: str):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, "-m", f"pybpf.tools.{name}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=tool_env())
        line = self.proc.stderr.readline()
        while line and MARK not in line:  # "compiling..." notes come first
            line = self.proc.stderr.readline()
        if MARK not in line:
            _out, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"{name} did not attach: {err}")

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the tool to end (its ``-d``): status, stdout, stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def finish_json(self, timeout: float = 30) -> list[dict]:
        """Wait for a ``-j`` run to end successfully; its JSON lines."""
        code, out, err = self.finish(timeout)
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def run_tool(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a tool to its end (``-d`` or ``-- CMD``); the completed process."""
    return subprocess.run([sys.executable, "-m", f"pybpf.tools.{name}", *args],
                          capture_output=True, text=True, env=tool_env(), timeout=timeout)
