"""Reading the kernel verifier's log: the line that says why, and where.

The log (``log_level`` 1) lists the instructions the verifier walked, each
as ``12: (79) r0 = *(u64 *)(r1 +0)``, interleaved with register states; a
rejection ends with the error line(s) and a ``processed N insns`` summary.
At level 2 each instruction line also carries its state after ``;``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_INSN = re.compile(r"^(\d+): \([0-9a-f]{2}\) (.*?)(?:\s+;.*)?$")
_NOISE = re.compile(
    r"^(?:\d+: (?:R\d|frame\d|\(|safe)"        # state after an instruction, or a safe mark
    r"|from \d+ to \d+:"                        # branch state
    r"|;"                                       # source line from line_info
    r"|func#\d+ @\d+"                           # subprogram list
    r"|Live regs before insn:"                  # liveness table header
    r"|\s"                                      # indented tables
    r"|mark_precise:|last_idx |regs=|parent (?:didn't|already)|propagating "
    r"|processed \d+ insns|verification time|stack depth|insns? processed"
    r"|Func#\d+ \(|Validating )")
_INSN_IN_MESSAGE = re.compile(r"\binsn (\d+)\b")


class LogSummary(NamedTuple):
    """Why the verifier rejected a program: ``message`` (its words),
    ``pc`` the instruction it stopped at (None when unknown) and ``insn``
    that instruction as the kernel printed it."""

    message: str
    pc: int | None
    insn: str | None


def summarize(log: str) -> LogSummary:
    """The error line(s) of a verifier log and the instruction they follow."""
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    last = None
    for i in range(len(lines) - 1, -1, -1):
        if _INSN.match(lines[i]):
            last = i
            break
    tail = lines[last + 1:] if last is not None else lines
    errors = [ln for ln in tail if not _NOISE.match(ln)]
    if not errors:  # nothing but states and statistics: fall back to the last real line
        errors = [ln for ln in lines if not ln.startswith(("processed ", "verification time",
                                                          "stack depth"))][-1:] or [""]
    message = "; ".join(errors[:3]) + (" ..." if len(errors) > 3 else "")
    if last is not None:
        m = _INSN.match(lines[last])
        return LogSummary(message, int(m[1]), m[2])
    m = _INSN_IN_MESSAGE.search(message)
    return LogSummary(message, int(m[1]) if m else None, None)
