"""Where in the source a program the kernel refused went wrong.

A program loaded with BTF line info gets a verifier log that names the
source line of each instruction it walks (``; return *v; @ prog.bpf.c:9``).
:func:`source_of_refusal` finds the line of the instruction the verifier
stopped at, so a refusal can be shown as the kernel's message, the
instruction and the line of C it came from::

    try:
        kernel.load(spec)
    except VerifierError as e:
        where = source_of_refusal(e.log, e.pc)     # SourceRef("prog.bpf.c", 9, "return *v;")
"""

from __future__ import annotations

import re
from typing import NamedTuple

_INSN = re.compile(r"^(\d+): \([0-9a-f]{2}\) ")
_SOURCE = re.compile(r"^; (?P<text>.*?) @ (?P<file>[^@]+):(?P<line>\d+)$")


class SourceRef(NamedTuple):
    """A line of the program's source: file, line number and text."""

    file: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def source_of_refusal(log: str, pc: int | None = None) -> SourceRef | None:
    """The source line the verifier printed last before instruction ``pc``
    (the last instruction of the log when None), or None when the log has
    no line info for it."""
    lines = log.splitlines()
    stop = None
    for i in range(len(lines) - 1, -1, -1):
        m = _INSN.match(lines[i])
        if m and (pc is None or int(m[1]) == pc):
            stop = i
            break
    if stop is None:
        return None
    for i in range(stop - 1, -1, -1):
        m = _SOURCE.match(lines[i].rstrip())
        if m:
            return SourceRef(m["file"], int(m["line"]), m["text"].strip())
    return None
