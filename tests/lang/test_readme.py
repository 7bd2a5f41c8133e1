"""The README's one-file tool compiles, loads and reports an exit."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import ROOT
from pybpf.lang.compiler import compile_module, load_module


def readme_tool(tmp_path):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(# exits\.py.*?)```", text, re.S)
    assert block, "the README's Python tool is gone"
    path = tmp_path / "exits.py"
    path.write_text(block.group(1))
    return path


def test_the_readme_tool_compiles_with_its_lines(tmp_path):
    path = readme_tool(tmp_path)
    module = load_module(path)
    spec = compile_module(module).object_spec()
    prog = spec.programs["on_exit"]
    assert prog.section == "tracepoint/sched/sched_process_exit"
    lines = {li.line.strip() for li in prog.line_info}
    assert "if age_ms < min_age_ms:" in lines
    assert "e.ppid = task.real_parent.tgid         # two CO-RE reads, " \
           "bpf_probe_read_kernel each" in lines
    assert len(prog.core_relocations) == 4     # start_time, real_parent, tgid, exit_code


@pytest.mark.kernel
def test_the_readme_tool_reports_an_exit(tmp_path):
    from pybpf.lang.run import load

    path = tmp_path / "exits.py"
    path.write_text(readme_tool(tmp_path).read_text())
    module = load_module(path)
    with load(compile_module(module), knobs={"min_age_ms": 0}) as f:
        f.attach()
        child = subprocess.Popen(["sh", "-c", "exit 6"])
        child.wait()
        seen = []
        for _ in range(20):
            seen += f.records(module.events, wait=0.1)
            if any(e.pid == child.pid for e in seen):
                break
    mine = [e for e in seen if e.pid == child.pid]
    assert mine and mine[0].code == 6 and mine[0].comm == b"sh"


@pytest.mark.kernel
def test_the_readme_tool_runs_as_a_script(tmp_path):
    """``sudo python exits.py``, as the README's comment says."""
    from lang_util import run_script

    path = readme_tool(tmp_path)
    def ours(text: str) -> bool:            # comm, pid, ppid, code, age_ms
        return any(line.split()[:1] == ["sh"] and line.split()[3:4] == ["6"]
                   for line in text.splitlines())

    out = run_script(path, lambda: subprocess.run(["sh", "-c", "sleep 0.02; exit 6"]), ours,
                     every=1.0)                     # it prints no header: exit until it shows
    assert ours(out), out
    assert "Traceback" not in out, out
