"""Classic BPF: the instruction set of ``struct sock_filter``, its text
forms (tcpdump's ``-d``/``-dd``/``-ddd`` and the kernel's ``bpf_asm``).

The modules: :mod:`.insn` (instructions as data, encode/decode,
constructors, a builder), :mod:`.disasm` (the text forms).
"""

from __future__ import annotations

from . import disasm as disasm
from .disasm import bpf_asm_output, disassemble, dump, image
from .insn import FORMS, Builder, Form, Kind, SockFilter, decode, encode

__all__ = ["FORMS", "Builder", "Form", "Kind", "SockFilter", "bpf_asm_output", "decode",
           "disassemble", "dump", "encode", "image"]
