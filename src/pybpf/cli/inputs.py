"""Reading programs from files for the command line: assembly, raw bytecode
or hex text, decided from the content."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..errors import BPFError
from ..isa import Insn, assemble, decode

_HEX_TEXT = re.compile(r"^[0-9a-fA-F\s]*$")


class InputError(BPFError):
    """A file the command line cannot read as a program."""


def read_bytes(path: str) -> bytes:
    """The bytes of ``path`` (``-`` for standard input)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None


def load_program(path: str, syntax: str = "auto") -> tuple[list[Insn], str]:
    """The instructions in ``path`` and the kind of input they came from
    (``asm``, ``hex`` or ``raw``)."""
    data = read_bytes(path)
    kind = classify(data)
    if kind == "asm":
        return assemble(data.decode(), syntax, source=path), kind
    if kind == "hex":
        data = bytes.fromhex(re.sub(r"\s+", "", data.decode()))
    return decode(data), kind


def classify(data: bytes) -> str:
    """``asm`` for assembly text, ``hex`` for hex-encoded bytecode, ``raw``
    for binary bytecode."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "raw"
    if "\0" in text:
        return "raw"
    if text.strip() and _HEX_TEXT.match(text) and len(re.sub(r"\s+", "", text)) % 16 == 0:
        return "hex"
    return "asm"
