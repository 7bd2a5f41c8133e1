"""Instruction tracing: one line per executed instruction.

Each line shows the pc, the instruction and the registers it changed, for
``pybpf run --trace`` and for debugging in tests.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from ..isa import Insn, format_insn


class Tracer:
    """Prints (or collects) a trace line after each executed instruction."""

    def __init__(self, insns: Sequence[Insn], stream: TextIO | None = None,
                 syntax: str = "ubpf", keep: bool = False):
        self.insns = list(insns)
        self.stream = stream if stream is not None or keep else sys.stdout
        self.syntax = syntax
        self.lines: list[str] | None = [] if keep else None
        self._previous: tuple[int, ...] | None = None
        self._text: dict[int, str] = {}

    def start(self, registers: Sequence[int]) -> None:
        """Set the register values before the first instruction."""
        self._previous = tuple(registers)

    def __call__(self, pc: int, registers: tuple[int, ...]) -> None:
        previous = self._previous or (0,) * 11
        changed = [f"r{i}={v:#x}" for i, (v, old) in enumerate(zip(registers, previous))
                   if v != old]
        self._previous = registers
        line = f"{pc:5d}: {self._insn_text(pc):<40} {' '.join(changed)}".rstrip()
        if self.lines is not None:
            self.lines.append(line)
        if self.stream is not None:
            print(line, file=self.stream)

    def _insn_text(self, pc: int) -> str:
        text = self._text.get(pc)
        if text is None:
            insn = self.insns[pc]
            tail = self.insns[pc + 1] if insn.is_lddw and pc + 1 < len(self.insns) else None
            text = format_insn(insn, tail, syntax=self.syntax, pc=pc)
            self._text[pc] = text
        return text
