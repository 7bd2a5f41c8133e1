"""The instruction value type and its byte encoding.

An :class:`Insn` is one 64-bit instruction *slot*.  ``lddw`` occupies two
slots: the first holds the opcode and the low 32 bits of the immediate, the
second (opcode 0) the high 32 bits.  Programs are sequences of slots, so that
jump offsets, instruction indexes and the kernel's ``pc`` all count the same
thing; :func:`iter_logical` walks a program one instruction at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from ..errors import DecodeError
from .opcodes import (
    BPF_DW,
    BPF_IMM,
    BPF_LD,
    Kind,
    OpForm,
    form_of,
)

_LE = struct.Struct("<BBhi")
_BE = struct.Struct(">BBhi")

INSN_SIZE = 8
LDDW_OPCODE = BPF_LD | BPF_IMM | BPF_DW


class Insn(NamedTuple):
    """One 64-bit instruction slot: opcode, dst and src registers, signed
    16-bit offset, signed 32-bit immediate."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def cls(self) -> int:
        """The instruction class (low three bits of the opcode)."""
        return self.opcode & 0x07

    @property
    def form(self) -> OpForm | None:
        """The opcode-table form of this instruction, or None when the fields
        select no valid form."""
        return form_of(self.opcode, self.dst, self.src, self.off, self.imm)

    @property
    def is_lddw(self) -> bool:
        """Whether this is the first slot of a two-slot ``lddw``."""
        return self.opcode == LDDW_OPCODE

    def encode(self, byteorder: str = "little") -> bytes:
        """The 8 bytes of this slot.  Out-of-range fields raise DecodeError."""
        try:
            if byteorder == "little":
                return _LE.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)
            return _BE.pack(self.opcode, (self.dst << 4) | self.src, self.off, self.imm)
        except struct.error as e:
            raise DecodeError(f"instruction field out of range: {e}", insn=tuple(self)) from None

    def __str__(self) -> str:
        return _text_formatter(self)

    # Constructors for the common shapes; the assembler is the general tool.

    @classmethod
    def lddw(cls, dst: int, value: int, src: int = 0) -> tuple[Insn, Insn]:
        """The two slots of ``lddw dst, value`` (``src`` selects a pseudo source)."""
        value &= (1 << 64) - 1
        return (cls(LDDW_OPCODE, dst, src, 0, s32(value & 0xFFFFFFFF)),
                cls(0, 0, 0, 0, s32(value >> 32)))


def s32(v: int) -> int:
    """``v`` reduced to a signed 32-bit immediate."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def decode(data: bytes | bytearray | memoryview, byteorder: str = "little") -> list[Insn]:
    """Split bytecode into instruction slots.

    Raises :class:`DecodeError` if the length is not a multiple of 8.
    """
    if len(data) % INSN_SIZE:
        raise DecodeError(f"bytecode length {len(data)} is not a multiple of {INSN_SIZE}",
                          pc=len(data) // INSN_SIZE)
    new = tuple.__new__     # what Insn(...) ends in, without its Python-level constructor
    if byteorder == "little":
        return [new(Insn, (op, regs & 0x0F, regs >> 4, off, imm))
                for op, regs, off, imm in _LE.iter_unpack(data)]
    if byteorder == "big":
        return [new(Insn, (op, regs >> 4, regs & 0x0F, off, imm))
                for op, regs, off, imm in _BE.iter_unpack(data)]
    raise ValueError(f"byteorder must be 'little' or 'big', not {byteorder!r}")


def encode(insns: Iterable[Insn], byteorder: str = "little") -> bytes:
    """The bytecode of a sequence of instruction slots."""
    return b"".join(Insn(*i).encode(byteorder) for i in insns)


def lddw_value(insns: Sequence[Insn], pc: int) -> int:
    """The unsigned 64-bit immediate of the ``lddw`` at ``pc`` (0 for the high
    half when the second slot is missing)."""
    lo = insns[pc].imm & 0xFFFFFFFF
    hi = insns[pc + 1].imm & 0xFFFFFFFF if pc + 1 < len(insns) else 0
    return (hi << 32) | lo


class Logical(NamedTuple):
    """One instruction as a reader sees it: its pc, first slot, form (None if
    invalid) and, for ``lddw``, the 64-bit immediate and the second slot."""

    pc: int
    insn: Insn
    form: OpForm | None
    imm64: int | None = None
    next_insn: Insn | None = None


def iter_logical(insns: Sequence[Insn]) -> Iterator[Logical]:
    """Walk a program one instruction at a time, joining each ``lddw`` with its
    second slot."""
    pc = 0
    n = len(insns)
    while pc < n:
        insn = insns[pc]
        form = form_of(*insn)
        if form is not None and form.kind is Kind.LDDW and pc + 1 < n:
            yield Logical(pc, insn, form, lddw_value(insns, pc), insns[pc + 1])
            pc += 2
        else:
            yield Logical(pc, insn, form)
            pc += 1


def format_raw(insn: Insn) -> str:
    """The ``.insn`` directive that assembles to exactly this slot."""
    return f".insn 0x{insn.opcode:02x}, {insn.dst}, {insn.src}, {insn.off}, {insn.imm}"


_text_formatter: Callable[[Insn], str] = format_raw


def set_text_formatter(formatter: Callable[[Insn], str]) -> None:
    """Choose how ``str(insn)`` prints an instruction.  The disassembler,
    which sits above this module, installs its formatter when it is
    imported (``import pybpf.isa`` always imports it); until then a slot
    prints as the raw ``.insn`` directive."""
    global _text_formatter
    _text_formatter = formatter
