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
``<!-- test: run slow -->``, ``<!-- test: kernel slow -->``
    the same, as a slow test (``-m slow``): blocks that take many seconds.
``<!-- test: interrupt SECONDS [kernel] [slow] [EXPECT ...] -->``
    a block that runs until Ctrl-C: it runs in a process group of its own,
    as a terminal's foreground job, and for each EXPECT (a regular
    expression, quoted as in the shell) the runner waits until the output
    (standard output and error) shows a match after the previous one's,
    lets SECONDS more pass and sends SIGINT to the group, as Ctrl-C would;
    without EXPECT, one SIGINT after SECONDS.  The block passes when it then
    exits 0 and printed no traceback.  In python blocks a KeyboardInterrupt
    reaching the top level is that Ctrl-C ending (as at an interactive
    prompt).  While it runs the runner makes events every tenth of a second
    for tracing tools to show: it runs ``true`` (an exec and an exit), opens
    a file and makes a TCP connection on 127.0.0.1.  ``kernel`` makes it a
    kernel test, ``slow`` a slow one.
``<!-- test: transcript [kernel] -->``
    a terminal session (a ``console`` block): each line starting ``$ `` is
    a command, run with ``bash -o pipefail`` in order, and the lines after
    it are its output (standard output and error), which must be what it
    prints; a line ``...`` stands for any number of lines.
``<!-- test: skip REASON -->``
    does not run (an install, a benchmark of minutes): the reason is the
    skip's.  A synopsis (a command line with placeholders, not meant to be
    run) is no code example: it goes in a ``text`` block, which is not run
    (and a ``text`` block that reads as plain commands is refused).
``<!-- test: file NAME -->``
    any language: the block's text is written to ``NAME`` before the page's
    blocks run (a C source the next blocks compile, a config file).

A page's blocks run in order in one fresh directory of their own, holding
``examples/`` (a link to the repository's) and the files of its ``file``
blocks, with ``pybpf`` on ``PATH`` running this checkout's ``src`` (and,
as root where no ``sudo`` is installed, a ``sudo`` that runs its command).  A
python or shell block without a marker fails its test, and so does a marker
that no block follows.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
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
KINDS = ("run", "kernel", "skip", "file", "interrupt", "transcript")
TIMEOUT = 300
"""Seconds one block may take (compiling C with zig on a loaded machine is
the slowest)."""


@dataclass
class Interrupt:
    """What an ``interrupt`` marker says: how long to let each command run
    once its EXPECT matched, whether it is a kernel or slow test, and the
    EXPECTs (one SIGINT each)."""

    seconds: float
    kernel: bool = False
    slow: bool = False
    expect: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, arg: str) -> Interrupt:
        words = shlex.split(arg)
        if not words:
            raise ValueError("interrupt needs SECONDS")
        try:
            spec = cls(float(words[0]))
        except ValueError:
            raise ValueError(f"interrupt: SECONDS is a number, not {words[0]!r}") from None
        rest = words[1:]
        while rest and rest[0] in ("kernel", "slow"):
            setattr(spec, rest.pop(0), True)
        for pattern in rest:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"interrupt: EXPECT {pattern!r} is no regular expression: {e}") from None
        spec.expect = rest
        return spec


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
    def interrupt(self) -> Interrupt:
        """The ``interrupt`` marker's arguments (ValueError when malformed)."""
        return Interrupt.parse(self.arg)

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
            elif kind in ("run", "kernel") and arg not in ("", "slow"):
                problems.append(f"{path.name}:{i + 1}: {kind} takes nothing or 'slow', not {arg!r}")
            elif kind == "transcript" and arg not in ("", "kernel"):
                problems.append(f"{path.name}:{i + 1}: transcript takes nothing or 'kernel', "
                                f"not {arg!r}")
            elif kind == "interrupt":
                try:
                    Interrupt.parse(arg)
                except ValueError as e:
                    problems.append(f"{path.name}:{i + 1}: {e}")
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


def _well_formed(block: Block) -> bool:
    try:
        block.interrupt  # noqa: B018  (test_markers_are_well_formed reports it)
    except ValueError:
        return False
    return True


def _params():
    params = []
    for blocks in BLOCKS.values():
        for block in blocks:
            if not block.runnable or block.kind == "file":
                continue
            marks = []
            if block.kind == "kernel" or (block.kind == "transcript" and block.arg == "kernel"):
                marks.append(pytest.mark.kernel)
            if block.kind in ("run", "kernel") and block.arg == "slow":
                marks.append(pytest.mark.slow)
            elif block.kind == "interrupt" and _well_formed(block):
                spec = block.interrupt
                marks += [pytest.mark.kernel] if spec.kernel else []
                marks += [pytest.mark.slow] if spec.slow else []
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
            for name in ("python", "python3"):   # the docs' python is the one with pybpf
                (bin_dir / name).symlink_to(sys.executable)
            if os.geteuid() == 0 and shutil.which("sudo") is None:
                sudo = bin_dir / "sudo"     # root already: the docs' "sudo CMD" is CMD
                sudo.write_text('#!/bin/sh\nexec "$@"\n')
                sudo.chmod(0o755)
            for block in BLOCKS[source]:
                if block.kind == "file":
                    (work / block.arg).write_text(block.code)
            made[source] = work
        return made[source]

    return directory


def block_command(block: Block, work: Path) -> tuple[list[str], dict[str, str]]:
    """The command that runs ``block`` in ``work`` with this checkout's
    pybpf, and its environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join([str(work / ".bin"), env.get("PATH", "")])
    script = work / f"block_{block.line}{'.py' if RUNNABLE[block.lang] == 'python' else '.sh'}"
    script.write_text(block.code)
    if RUNNABLE[block.lang] != "python":
        return ["bash", "-e", "-o", "pipefail", script.name], env
    if block.kind == "interrupt":
        return [sys.executable, "-c", PYTHON_UNTIL_CTRL_C, script.name], env
    return [sys.executable, script.name], env


PYTHON_UNTIL_CTRL_C = """\
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except KeyboardInterrupt:
    pass
"""
"""Runs a python ``interrupt`` block: Ctrl-C ends it as at a prompt."""


def run_block(block: Block, work: Path) -> subprocess.CompletedProcess:
    """Run ``block`` in ``work`` with this checkout's pybpf."""
    command, env = block_command(block, work)
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def transcript_steps(code: str) -> list[tuple[str, list[str]]]:
    """The commands of a transcript (``$ `` lines) and the output lines
    shown after each."""
    steps: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line.rstrip())
    return steps


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected``, a ``...`` line there standing
    for any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(output_matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0] == expected[0] and output_matches(expected[1:], actual[1:])


def check_transcript(block: Block, work: Path) -> list[str]:
    """Run a transcript's commands in ``work``; what differs from what it shows."""
    _, env = block_command(block, work)
    mismatches = []
    for command, expected in transcript_steps(block.code):
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        actual = [line.rstrip() for line in result.stdout.splitlines()]
        if not output_matches(expected, actual):
            mismatches.append(f"$ {command}\n--- shown\n" + "\n".join(expected)
                              + "\n--- printed\n" + "\n".join(actual[-60:]))
    return mismatches


class Events:
    """Every tenth of a second, until closed: an exec and an exit
    (``true``), an open of a file in ``work`` and a TCP connection on
    127.0.0.1, for the tracing tools of a block to show."""

    def __init__(self, work: Path):
        self.work = work
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        port = self.listener.getsockname()[1]
        true = shutil.which("true") or "/bin/true"
        while not self.done.wait(0.1):
            subprocess.run([true], check=False)
            (self.work / ".events").write_text("an open for the tools\n")
            with socket.create_connection(("127.0.0.1", port)) as client:
                server, _ = self.listener.accept()
                with server:
                    client.sendall(b"x")
                    server.recv(1)

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.listener.close()


def interrupt_block(block: Block, work: Path, timeout: float = TIMEOUT) -> tuple[int | None, str]:
    """Run an ``interrupt`` block as its marker says; its status (None
    when it had to be killed) and its output, with what went wrong
    appended."""
    spec = block.interrupt
    command, env = block_command(block, work)
    chunks: list[str] = []
    events = Events(work)
    proc = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    reader = threading.Thread(target=lambda: chunks.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    problem = ""
    try:
        seen = 0
        for pattern in spec.expect or [None]:
            while pattern is not None:
                match = re.compile(pattern, re.M).search("".join(chunks), seen)
                if match:
                    seen = match.end()
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    problem = f"no output matching {pattern!r} before it ended or {timeout} s passed"
                    break
                time.sleep(0.05)
            if problem:
                break
            if proc.poll() is None:
                time.sleep(spec.seconds)
            if proc.poll() is not None:
                problem = f"it ended (status {proc.returncode}) before Ctrl-C"
                break
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        problem = problem or f"still running {timeout} s after it started"
    finally:
        # the whole group: a command the shell started may outlive the shell
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        events.close()
    output = "".join(chunks)
    return (None if problem else proc.returncode), output + (f"\n--- {problem}" if problem else "")


@pytest.mark.parametrize("block", _params())
def test_code_block_runs(block: Block, page_dirs):
    assert block.kind is not None, (
        f"{block.where}: a {block.lang} block without a marker: put "
        f"'<!-- test: run -->', '<!-- test: kernel -->' or '<!-- test: skip REASON -->' "
        f"on the line before it (tests/docs/test_docs_code_blocks.py says what each does)")
    assert block.kind in ("run", "kernel", "interrupt", "transcript"), (
        f"{block.where}: 'skip' needs a reason")
    if block.kind == "transcript":
        mismatches = check_transcript(block, page_dirs(block.source))
        assert not mismatches, f"{block.where}: the transcript differs:\n" + "\n".join(mismatches)
        return
    if block.kind == "interrupt":
        status, output = interrupt_block(block, page_dirs(block.source))
        assert status == 0 and "Traceback (most recent call last)" not in output, (
            f"{block.where}: the {block.lang} block, interrupted, exited with status {status}"
            f"\n--- output\n{output[-6000:]}")
        return
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


COMMAND_LINE = re.compile(r"^\s*(\$ |sudo |pybpf |python3? |pip |curl |mkdocs )")
SYNOPSIS = re.compile(r"\[[^\]]*\]|\w\|\w|\b[A-Z][A-Z_]{2,}\b|\.\.\.")
"""What marks a synopsis: [optional parts], alternatives (a|b), PLACEHOLDERS, ..."""


def looks_like_commands(block: Block) -> bool:
    """A ``text`` block whose command lines read as commands to run, none
    of them with a synopsis's notation: it should be a shell block."""
    commands = [line.split("#")[0] for line in block.code.splitlines()
                if COMMAND_LINE.match(line)]
    return bool(commands) and not any(SYNOPSIS.search(line) for line in commands)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_text_blocks_are_synopses(source: Path):
    """Commands to run are shell blocks, tested; a ``text`` block of
    command lines is a synopsis, with its placeholders showing."""
    runnable = [b.where for b in BLOCKS[source] if b.lang == "text" and looks_like_commands(b)]
    assert not runnable, (
        f"text blocks that read as commands to run (make them sh blocks with a test marker, "
        f"or show the synopsis's [options] and PLACEHOLDERS): {runnable}")


def test_synopsis_detection():
    def block(code: str) -> Block:
        return Block(ROOT / "README.md", 1, "text", code, None, "")

    assert looks_like_commands(block("pybpf run examples/sum.s --mem '01 02'\n"))
    assert looks_like_commands(block("$ pybpf tools\n"))
    assert not looks_like_commands(block("pybpf verify FILE.o [--unpriv]\n"))
    assert not looks_like_commands(block("pybpf asm x.s\npybpf map dump MAP\n"))
    assert not looks_like_commands(block("@bytes:\n[0]   2 |@@@@|\n"))


def test_transcript_reader():
    steps = transcript_steps("$ echo a; echo b\na\n...\n$ true\n")
    assert steps == [("echo a; echo b", ["a", "..."]), ("true", [])]
    assert output_matches(["a", "..."], ["a", "b", "c"])
    assert output_matches(["...", "c"], ["a", "b", "c"])
    assert not output_matches(["a", "c"], ["a", "b", "c"])
    assert not output_matches(["a"], [])


def test_interrupt_runner(tmp_path):
    """SIGINT after the expected output; a block that ends on its own, or
    never prints what is expected, fails."""
    def block(lang: str, code: str, arg: str) -> Block:
        return Block(ROOT / "README.md", 1, lang, code, "interrupt", arg)

    shell = ("echo first; trap 'echo stopped; exit 0' INT\n"
             "while :; do sleep 0.1; done\n")
    status, output = interrupt_block(block("sh", shell, "0.2 first"), tmp_path)
    assert status == 0 and "stopped" in output, output
    python = "import time\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.05)\n"
    status, output = interrupt_block(block("python", python, "0.1 ready"), tmp_path)
    assert status == 0 and "ready" in output, output
    status, output = interrupt_block(block("sh", "echo done\n", "0.1"), tmp_path)
    assert status is None and "before Ctrl-C" in output
    status, output = interrupt_block(block("sh", shell, "0.1 'never printed'"), tmp_path,
                                     timeout=1)
    assert status is None and "never printed" in output
    with pytest.raises(ValueError):
        Interrupt.parse("soon kernel")
    assert Interrupt.parse("1.5 kernel slow 'a b' c") == Interrupt(1.5, True, True, ["a b", "c"])
