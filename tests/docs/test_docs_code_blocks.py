"""Every code block on the documentation site runs.

The pages' Markdown (README.md, DESIGN.md, SECURITY.md and docs/*.md: the
files ``docs/hooks/pages.py`` puts on the site as they are written) is read
for fenced code blocks.  Each ``python`` or shell (``sh``, ``bash``,
``shell``, ``console``) block must carry a marker, an HTML comment on the
line before it (invisible on GitHub and on the site):

``<!-- test: run -->``
    runs here, without root: python blocks with this Python, shell blocks
    with ``bash -e -o pipefail``; it passes when it exits 0 (a block states
    what it expects with ``assert``, or fails the shell by a failing command).
``<!-- test: kernel -->``
    runs the same way as a kernel test (``@pytest.mark.kernel``: skipped
    with the reason where ``bpf()`` is refused; needs root).
``<!-- test: skip REASON -->``
    does not run (a command that runs until Ctrl-C, a synopsis with
    placeholders, an install): the reason is the skip's.
``<!-- test: file NAME -->``
    any language: the block's text is written to ``NAME`` before the page's
    blocks run (a C source the next blocks compile, a config file).

A page's blocks run in order in one fresh directory of their own, holding
``examples/`` (a link to the repository's) and the files of its ``file``
blocks, with ``pybpf`` on ``PATH`` running this checkout's ``src``.  A
python or shell block without a marker fails its test, and so does a marker
that no block follows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
import pages  # noqa: E402  (docs/hooks/pages.py: which files are on the site)

MARKER = re.compile(r"^<!--\s*test:\s*(\S+)\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
RUNNABLE = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh",
            "console": "sh"}
KINDS = ("run", "kernel", "skip", "file")
TIMEOUT = 300
"""Seconds one block may take (compiling C with zig on a loaded machine is
the slowest)."""


@dataclass
class Block:
    """A fenced code block of a page and the marker before it."""

    source: Path
    line: int            # the opening fence's line, 1-based
    lang: str
    code: str
    kind: str | None     # run, kernel, skip, file; None: no marker
    arg: str             # the skip's reason, the file's name

    @property
    def where(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE


def read_blocks(path: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of Markdown file ``path``, and the problems with
    its markers (a marker with no block after it, an unknown kind)."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line.strip())
        fence = FENCE.match(line.strip())
        if marker:
            if pending:
                problems.append(f"{path.name}:{pending[0]}: marker with no code block after it")
            kind, arg = marker.groups()
            if kind not in KINDS:
                problems.append(f"{path.name}:{i + 1}: unknown marker {kind!r} "
                                f"(one of {', '.join(KINDS)})")
            pending = (i + 1, kind, arg)
        elif fence:
            ticks, lang = fence.group(1), fence.group(2).lower()
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(ticks):
                end += 1
            kind, arg = (pending[1], pending[2]) if pending else (None, "")
            blocks.append(Block(path, i + 1, lang, "\n".join(lines[i + 1:end]) + "\n", kind, arg))
            pending = None
            i = end
        elif line.strip() and pending:
            problems.append(f"{path.name}:{pending[0]}: marker with no code block after it")
            pending = None
        i += 1
    if pending:
        problems.append(f"{path.name}:{pending[0]}: marker with no code block after it")
    return blocks, problems


SOURCES = pages.markdown_sources()
BLOCKS = {path: read_blocks(path)[0] for path in SOURCES}


def _params():
    params = []
    for blocks in BLOCKS.values():
        for block in blocks:
            if not block.runnable or block.kind == "file":
                continue
            marks = []
            if block.kind == "kernel":
                marks.append(pytest.mark.kernel)
            elif block.kind == "skip" and block.arg:
                marks.append(pytest.mark.skip(reason=f"{block.where}: {block.arg}"))
            params.append(pytest.param(block, id=block.where, marks=marks))
    return params


@pytest.fixture(scope="session")
def page_dirs(tmp_path_factory):
    """One working directory per page, made when its first block runs."""
    made: dict[Path, Path] = {}

    def directory(source: Path) -> Path:
        if source not in made:
            work = tmp_path_factory.mktemp(source.stem.lower())
            (work / "examples").symlink_to(ROOT / "examples")
            bin_dir = work / ".bin"
            bin_dir.mkdir()
            shim = bin_dir / "pybpf"
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pybpf "$@"\n')
            shim.chmod(0o755)
            for block in BLOCKS[source]:
                if block.kind == "file":
                    (work / block.arg).write_text(block.code)
            made[source] = work
        return made[source]

    return directory


def run_block(block: Block, work: Path) -> subprocess.CompletedProcess:
    """Run ``block`` in ``work`` with this checkout's pybpf."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join([str(work / ".bin"), env.get("PATH", "")])
    script = work / f"block_{block.line}{'.py' if RUNNABLE[block.lang] == 'python' else '.sh'}"
    script.write_text(block.code)
    if RUNNABLE[block.lang] == "python":
        command = [sys.executable, script.name]
    else:
        command = ["bash", "-e", "-o", "pipefail", script.name]
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("block", _params())
def test_code_block_runs(block: Block, page_dirs):
    assert block.kind is not None, (
        f"{block.where}: a {block.lang} block without a marker: put "
        f"'<!-- test: run -->', '<!-- test: kernel -->' or '<!-- test: skip REASON -->' "
        f"on the line before it (tests/docs/test_docs_code_blocks.py says what each does)")
    assert block.kind in ("run", "kernel"), f"{block.where}: 'skip' needs a reason"
    result = run_block(block, page_dirs(block.source))
    assert result.returncode == 0, (
        f"{block.where}: the {block.lang} block exited with status {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_markers_are_well_formed(source: Path):
    _, problems = read_blocks(source)
    assert not problems, "\n".join(problems)


def test_pages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"README.md", "docs/getting-started.md"} <= names
    assert sum(b.kind in ("run", "kernel") for bs in BLOCKS.values() for b in bs) >= 10


def test_marker_reader():
    """The reader pairs markers with blocks and reports strays."""
    import tempfile

    text = ("<!-- test: run -->\n```sh\ntrue\n```\n\n```python\nx = 1\n```\n"
            "<!-- test: skip slow -->\n\n```bash\nsleep 1\n```\n<!-- test: run -->\ntext\n"
            "<!-- test: fly -->\n```c\n```\n")
    with tempfile.NamedTemporaryFile("w", suffix=".md") as f:
        f.write(text)
        f.flush()
        blocks, problems = read_blocks(Path(f.name))
    assert [(b.line, b.lang, b.kind, b.arg) for b in blocks] == [
        (2, "sh", "run", ""), (6, "python", None, ""), (11, "bash", "skip", "slow"),
        (17, "c", "fly", "")]
    assert blocks[0].code == "true\n"
    assert len(problems) == 2
    assert "marker with no code block" in problems[0] and "unknown marker 'fly'" in problems[1]
