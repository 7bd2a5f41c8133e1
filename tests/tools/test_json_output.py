"""The first five tools print JSON lines with ``-j`` too (one object per
event, table row or histogram), with no header."""

from __future__ import annotations

import errno
import json
import os
import uuid

import pytest
from tool_process import ToolProcess, run_tool


@pytest.fixture(scope="module")
def built():
    """The five tools' objects (shipped, or compiled here once if their C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return {name: object_path(name, quiet=True)
                for name in ("exitsnoop", "execsnoop", "opensnoop", "syscount", "runqlat")}
    except CompilerNotFound as e:
        pytest.skip(str(e))


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.kernel
def test_exitsnoop_and_execsnoop_json(built):
    out = run_tool("exitsnoop", "-j", "-x", "--", "sh", "-c", "exit 3")
    assert out.returncode == 3, out.stderr
    assert any(e["comm"] == "sh" and e["exit_code"] == 3 and e["age_s"] >= 0
               for e in _json_lines(out.stdout)), out.stdout
    tag = f"pybpf-{uuid.uuid4().hex[:8]}"
    out = run_tool("execsnoop", "-j", "--", "sh", "-c", f"/bin/echo {tag} >/dev/null")
    assert out.returncode == 0, out.stderr
    assert any(e["argv"] == ["/bin/echo", tag] and e["retval"] == 0
               for e in _json_lines(out.stdout)), out.stdout


@pytest.mark.kernel
def test_opensnoop_json(built):
    path = f"/nonexistent-{uuid.uuid4().hex[:8]}"
    t = ToolProcess("opensnoop", "-d", "1", "-x", "-j", "-p", str(os.getpid()))
    with pytest.raises(FileNotFoundError):
        os.open(path, os.O_RDONLY)
    events = t.finish_json()
    assert [(e["path"], e["ret"]) for e in events] == [(path, -errno.ENOENT)], events


@pytest.mark.kernel
def test_syscount_and_runqlat_json(built):
    t = ToolProcess("syscount", "-d", "1", "-j", "-p", str(os.getpid()))
    for _ in range(50):
        os.getppid()
    rows = {r["syscall"]: r for r in t.finish_json()}
    assert rows["getppid"]["count"] >= 50 and "time_ns" in rows["getppid"], rows
    out = run_tool("runqlat", "-j", "--", "sh", "-c", "sleep 0.1; sleep 0.1")
    assert out.returncode == 0, out.stderr
    hists = _json_lines(out.stdout)
    assert len(hists) == 1 and hists[0]["unit"] == "usecs" and hists[0]["buckets"], hists
