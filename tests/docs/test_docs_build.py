"""The documentation site builds with no warnings (``mkdocs build --strict``).

Needs the ``docs`` extra (``pip install -e '.[docs]'``; CI installs it):
without MkDocs the test skips and says so.  The build reads the source, the
README and the argument parsers of this checkout (``docs/hooks/pages.py``),
so a docstring, a README section or a command that breaks the site fails
here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MISSING = [name for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers")
           if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed ({', '.join(MISSING)}"
                                          f" missing): pip install -e '.[docs]'")
def test_site_builds_strict(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH"))
                                        if p)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
         "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    site = tmp_path / "site"
    # The generated pages are there: the CLI reference, a tool, a package's API.
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "pybpf test-run" in cli and "--prog-type" in cli
    assert "pybpf tools exitsnoop" in (site / "tools" / "exitsnoop" / "index.html").read_text()
    assert "assemble" in (site / "api" / "isa" / "index.html").read_text()
    assert (site / "getting-started" / "index.html").is_file()
