"""The eBPF instruction set: instructions, the opcode table, encoding,
validation, the assembler and the disassembler.

This package imports nothing else of pybpf but its errors: it is the bottom
layer every other part reads.
"""

from .asm import assemble, detect_syntax
from .disasm import SYNTAXES, disassemble, format_insn
from .insn import INSN_SIZE, Insn, Logical, decode, encode, iter_logical, lddw_value, s32
from .opcodes import FORMS, FORMS_BY_NAME, FORMS_BY_OPCODE, Kind, OpForm, form_of
from .validate import find_problems, validate

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
