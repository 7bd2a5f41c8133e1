"""The eBPF instruction set: instructions, the opcode table, encoding,
validation, the assembler and the disassembler.

This package imports nothing else of pybpf but its errors: it is the bottom
layer every other part reads.  The assembler, disassembler and validator
are imported on first use (their regular expressions and tables are
start-up time for programs that only load bytecode).
"""

from __future__ import annotations

import importlib
from typing import Any

from .insn import INSN_SIZE, Insn, Logical, decode, encode, iter_logical, lddw_value, s32
from .opcodes import FORMS, FORMS_BY_NAME, FORMS_BY_OPCODE, Kind, OpForm, form_of
from .validate import find_problems, validate  # eager: the module shares the function's name

_LAZY = {"assemble": ".asm", "detect_syntax": ".asm", "SYNTAXES": ".disasm",
         "disassemble": ".disasm", "format_insn": ".disasm"}
"""Public names of the modules imported on first use -> their module."""

__all__ = [
    "FORMS",
    "FORMS_BY_NAME",
    "FORMS_BY_OPCODE",
    "INSN_SIZE",
    "SYNTAXES",
    "Insn",
    "Kind",
    "Logical",
    "OpForm",
    "assemble",
    "decode",
    "detect_syntax",
    "disassemble",
    "encode",
    "find_problems",
    "form_of",
    "format_insn",
    "iter_logical",
    "lddw_value",
    "s32",
    "validate",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
