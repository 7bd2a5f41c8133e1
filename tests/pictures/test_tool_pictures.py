"""The histogram tools draw --bars and --heatmap as a user runs them: a
process writing to a pipe (so no colour), in UTF-8 and in ASCII."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import SRC


def run_tool(*argv: str, encoding: str = "utf-8") -> str:
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONIOENCODING=encoding)
    env.pop("NO_COLOR", None)
    proc = subprocess.run([sys.executable, "-m", "pybpf", "tools", *argv], env=env,
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode(encoding)


@pytest.mark.kernel
def test_runqlat_bars_and_heatmap():
    bars = run_tool("runqlat", "--bars", "-d", "0.6")
    lines = bars.splitlines()
    assert "@usecs:" in lines and "\x1b[" not in bars          # a pipe: no colour
    assert any(ln.startswith("[") and "│" in ln and "█" in ln for ln in lines), bars
    heat = run_tool("runqlat", "--heatmap", "-i", "0.3", "-d", "1", encoding="ascii")
    rows = [ln for ln in heat.splitlines() if ln[:2].isdigit() and "|" in ln]
    assert len(rows) >= 2, heat
    assert "shades .:*#" in heat and all(ch in " .:*#" for ch in rows[0].split("|")[1])
