"""The bpf_conformance suite: its ``.data`` test files and its plugin protocol.

A ``.data`` file has sections introduced by ``-- name`` lines: ``asm``
(uBPF-syntax assembly), ``raw`` (64-bit instruction words, or 8 hex bytes,
one slot per line; it overrides ``asm``), ``mem`` (hex bytes that r1 points
at), ``result`` (the expected r0) and ``error`` (the expected error text).
Other sections (``c``, notes) are ignored.

The suite's runner drives a runtime through a *plugin*: ``PLUGIN [MEM]
[options]`` with the memory as one argument of hex bytes, the program as one
line of hex on stdin; the plugin prints r0 in hex, or an error on stderr and
exits non-zero.  :func:`plugin_main` is that plugin for pybpf's VM.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .errors import BPFError
from .isa import Insn, assemble, decode, encode


class ConformanceFileError(BPFError):
    """A ``.data`` file that does not describe a runnable test."""


@dataclass
class ConformanceTest:
    """One parsed ``.data`` test."""

    name: str
    asm: str | None = None
    raw: bytes | None = None
    mem: bytes = b""
    result: int | None = None
    error: str | None = None
    sections: list[str] = field(default_factory=list)

    def program(self) -> list[Insn]:
        """The test's instructions: ``raw`` if present, else the assembled
        ``asm`` (raises AssemblerError or ConformanceFileError)."""
        if self.raw is not None:
            return decode(self.raw)
        if self.asm is None or not self.asm.strip():
            raise ConformanceFileError(f"{self.name}: the test has no program (no asm or "
                                       f"raw section, or an empty one)")
        return assemble(self.asm, "ubpf", source=self.name)


def parse_data(text: str, name: str = "<test>") -> ConformanceTest:
    """Parse the text of a ``.data`` file."""
    test = ConformanceTest(name)
    current: str | None = None
    chunks: dict[str, list[str]] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            current = stripped[2:].strip().lower()
            test.sections.append(current)
            chunks.setdefault(current, [])
            continue
        if current is None:
            continue  # the header comment
        chunks[current].append(line)

    def clean(lines: list[str]) -> list[str]:
        return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]

    if "asm" in chunks:
        test.asm = "\n".join(chunks["asm"])
    if "raw" in chunks:
        test.raw = _parse_raw(clean(chunks["raw"]), name)
    if "mem" in chunks:
        test.mem = _parse_hex_bytes(" ".join(clean(chunks["mem"])), name, "mem")
    if "result" in chunks:
        lines = clean(chunks["result"])
        if len(lines) != 1:
            raise ConformanceFileError(f"{name}: the result section needs exactly one value")
        try:
            value = lines[0]
            test.result = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise ConformanceFileError(f"{name}: bad result value {lines[0]!r}") from None
    if "error" in chunks:
        test.error = "\n".join(ln.strip() for ln in chunks["error"]).strip()
    return test


def load_data_file(path: str | Path) -> ConformanceTest:
    """Parse a ``.data`` file from disk."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConformanceFileError(f"{p}: not a .data file (not UTF-8 text at byte "
                                   f"{e.start})") from None
    return parse_data(text, p.stem)


def _parse_hex_bytes(text: str, name: str, section: str) -> bytes:
    digits = re.sub(r"\s+", "", text)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ConformanceFileError(f"{name}: section {section} is not hex bytes") from None


def _parse_raw(lines: list[str], name: str) -> bytes:
    out = bytearray()
    for line in lines:
        parts = line.split()
        if len(parts) == 1:
            try:
                word = int(parts[0], 16)
            except ValueError:
                raise ConformanceFileError(f"{name}: bad raw instruction {line!r}") from None
            if not 0 <= word < 1 << 64:
                raise ConformanceFileError(f"{name}: raw instruction {line!r} exceeds 64 bits")
            out += word.to_bytes(8, "little")
        else:
            chunk = _parse_hex_bytes(line, name, "raw")
            if len(chunk) != 8:
                raise ConformanceFileError(f"{name}: a raw instruction has 8 bytes: {line!r}")
            out += chunk
    return bytes(out)


@dataclass
class Outcome:
    """The result of running one test: whether it passed, and what happened."""

    passed: bool
    r0: int | None = None
    error: str | None = None


Runner = Callable[[bytes, bytes], int]


def vm_runner(max_insns: int | None = 10_000_000, *, jit: bool | None = None) -> Runner:
    """Run bytecode on memory in a fresh userspace VM; returns r0.  ``jit``
    is :class:`~pybpf.vm.VM`'s: True compiles each program to native code."""
    from .vm import VM

    def run(program: bytes, mem: bytes) -> int:
        return VM(max_insns=max_insns, jit=jit).run(program, mem).r0

    return run


def run_test(test: ConformanceTest, runner: Runner | None = None) -> Outcome:
    """Run a test and compare with its expectation.

    A test passes when r0 equals ``result``, or when it expects an ``error``
    and the program is refused or fails with that text.
    """
    runner = runner or vm_runner()
    try:
        program = encode(test.program())
        r0 = runner(program, test.mem)
    except BPFError as e:
        message = str(e)
        passed = test.error is not None and test.error in message
        return Outcome(passed, error=message)
    if test.error is not None:
        return Outcome(False, r0=r0, error=f"expected error {test.error!r}, got r0={r0:#x}")
    if test.result is None:
        return Outcome(False, r0=r0, error="the test has no expected result")
    return Outcome(r0 == test.result, r0=r0,
                   error=None if r0 == test.result else
                   f"expected r0={test.result:#x}, got {r0:#x}")


def plugin_main(argv: Sequence[str], stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                stderr: TextIO = sys.stderr) -> int:
    """The bpf_conformance plugin: ``[MEM] [--max-insns N] [--trace] [--jit]``,
    the program as hex on stdin; prints r0 in hex.  Returns the exit status."""
    from .vm import VM

    mem_hex = ""
    max_insns: int | None = 10_000_000
    budget_given = False
    trace = False
    jit: bool | None = None
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--max-insns" and i + 1 < len(args):
            try:
                max_insns = int(args[i + 1], 0) or None
                budget_given = True
            except ValueError:
                print(f"--max-insns needs a number, not {args[i + 1]!r}", file=stderr)
                return 2
            i += 2
            continue
        if arg == "--trace":
            trace = True
        elif arg == "--jit":
            jit = True
        elif arg.startswith("-"):
            print(f"unknown plugin option {arg!r}", file=stderr)
            return 2
        else:
            mem_hex += arg
        i += 1
    try:
        mem = bytes.fromhex(re.sub(r"\s+", "", mem_hex))
        program = bytes.fromhex(re.sub(r"\s+", "", stdin.read()))
    except ValueError as e:
        print(f"invalid hex input: {e}", file=stderr)
        return 1
    if trace and not budget_given:
        from .vm import TRACED_MAX_INSNS

        max_insns = TRACED_MAX_INSNS
    try:
        result = VM(max_insns=max_insns, jit=jit).run(program, mem,
                                                    trace=stderr if trace else None)
    except BPFError as e:
        print(str(e), file=stderr)
        return 1
    print(f"{result.r0:x}", file=stdout)
    return 0
