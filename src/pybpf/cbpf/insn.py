"""The classic BPF instruction set as data: ``struct sock_filter``, the
table of valid opcodes, encode/decode of filter arrays, and constructors.

A classic instruction is ``{u16 code; u8 jt; u8 jf; u32 k}``: the code is
built from a class (LD, LDX, ST, STX, ALU, JMP, RET, MISC), a size (W, H,
B), an addressing mode (IMM, ABS, IND, MEM, LEN, MSH), an operation and an
operand source (K: the constant ``k``; X: the index register).  Conditional
jumps skip ``jt`` instructions when true and ``jf`` when false, always
forward.  The machine has two 32-bit registers, A and X, and 16 words of
scratch memory M[].

:data:`FORMS` holds every code the kernel accepts (``bpf_check_classic``'s
list) with the shape of its operand; the disassemblers, the assembler, the
checker, the interpreter and the translation to eBPF all read it.  The ABI
numbers themselves are in :mod:`pybpf.spec.cbpf`.

>>> from pybpf.cbpf import insn as c
>>> prog = [c.ld_abs("h", 12), c.jeq(0x800, 0, 1), c.ret(0xFFFF), c.ret(0)]
>>> c.decode(c.encode(prog)) == prog
True
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import DecodeError, InstructionError
from ..spec import cbpf as C

_SOCK_FILTER = struct.Struct("=HBBI")
assert _SOCK_FILTER.size == C.SOCK_FILTER_SIZE

U32 = 0xFFFFFFFF


def s32(value: int) -> int:
    """``value`` as a signed 32-bit number."""
    value &= U32
    return value - (1 << 32) if value & 0x80000000 else value


class SockFilter(NamedTuple):
    """One classic instruction, ``struct sock_filter``: ``code``, the jump
    counts ``jt`` and ``jf``, and the 32-bit operand ``k`` (kept unsigned)."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    @property
    def cls(self) -> int:
        """The instruction class (``code & 0x07``): BPF_LD ... BPF_MISC."""
        return self.code & C.CLASS_MASK

    @property
    def size(self) -> int:
        """The load size field (``code & 0x18``): BPF_W, BPF_H or BPF_B."""
        return self.code & C.SIZE_MASK

    @property
    def mode(self) -> int:
        """The addressing mode (``code & 0xe0``): BPF_IMM ... BPF_MSH."""
        return self.code & C.MODE_MASK

    @property
    def op(self) -> int:
        """The ALU or jump operation (``code & 0xf0``)."""
        return self.code & C.OP_MASK

    @property
    def src(self) -> int:
        """The operand source (``code & 0x08``): BPF_K or BPF_X."""
        return self.code & C.SRC_MASK

    @property
    def signed_k(self) -> int:
        """``k`` read as a signed 32-bit number."""
        return s32(self.k)

    @property
    def form(self) -> Form | None:
        """This code's entry in :data:`FORMS`, or None for a code the
        kernel does not accept."""
        return FORMS.get(self.code)

    @property
    def ancillary(self) -> int | None:
        """For a packet load at ``SKF_AD_OFF + n`` (an ancillary load), n;
        otherwise None."""
        form = self.form
        if form is not None and form.kind is Kind.LOAD_ABS and \
                s32(self.k) >= C.SKF_AD_OFF and s32(self.k) < 0:
            return s32(self.k) - C.SKF_AD_OFF
        return None

    def encode(self) -> bytes:
        """The 8 bytes of this ``struct sock_filter`` (native byte order, as
        the kernel reads it)."""
        try:
            return _SOCK_FILTER.pack(self.code, self.jt, self.jf, self.k & U32)
        except struct.error as e:
            raise InstructionError(f"sock_filter field out of range: {e}",
                                   insn=tuple(self)) from None

    def __str__(self) -> str:
        return _text_formatter(self)


def _raw_text(insn: SockFilter) -> str:
    return f"{{ {insn.code:#x}, {insn.jt}, {insn.jf}, {insn.k:#010x} }}"


_text_formatter = _raw_text


def set_text_formatter(formatter) -> None:  # type: ignore[no-untyped-def]
    """Install the function ``str(SockFilter)`` prints through (the
    disassembler installs its ``bpf_asm`` form when imported)."""
    global _text_formatter
    _text_formatter = formatter


# --- the table of valid codes ----------------------------------------------------------

class Kind(enum.Enum):
    """The shape of an instruction's operand: what ``k`` (and jt, jf) mean."""

    LOAD_ABS = "load [k]"            # A = packet[k] (or ancillary data)
    LOAD_IND = "load [x + k]"        # A = packet[X + k]
    LOAD_IMM = "load #k"             # A (or X) = k
    LOAD_MEM = "load M[k]"           # A (or X) = M[k]
    LOAD_LEN = "load #len"           # A (or X) = packet length
    LOAD_MSH = "load 4*([k]&0xf)"    # X = 4 * (packet[k] & 15)
    STORE = "store M[k]"             # M[k] = A (or X)
    ALU_K = "alu #k"                 # A = A op k
    ALU_X = "alu x"                  # A = A op X
    NEG = "neg"                      # A = -A
    JA = "ja"                        # pc += k
    JUMP_K = "jump #k"               # pc += (A op k) ? jt : jf
    JUMP_X = "jump x"                # pc += (A op X) ? jt : jf
    RET_K = "ret #k"                 # return k
    RET_A = "ret a"                  # return A
    TAX = "tax"                      # X = A
    TXA = "txa"                      # A = X


@dataclass(frozen=True)
class Form:
    """One valid code: its ``kind``, the mnemonic libpcap and ``bpf_asm``
    print (``ldh``, ``jeq``...), the register it writes (``a``, ``x``,
    ``m`` for scratch memory, ``pc`` or ``ret``), the access size in bytes
    for packet loads and the operation (``add``... ``jeq``...) for ALU and
    jumps."""

    code: int
    kind: Kind
    mnemonic: str
    target: str
    size: int = 0
    operation: str = ""


ALU_OPS = {C.BPF_ADD: "add", C.BPF_SUB: "sub", C.BPF_MUL: "mul", C.BPF_DIV: "div",
           C.BPF_OR: "or", C.BPF_AND: "and", C.BPF_LSH: "lsh", C.BPF_RSH: "rsh",
           C.BPF_MOD: "mod", C.BPF_XOR: "xor"}
"""The binary ALU operations by op field."""
JUMP_OPS = {C.BPF_JEQ: "jeq", C.BPF_JGT: "jgt", C.BPF_JGE: "jge", C.BPF_JSET: "jset"}
"""The conditional jumps by op field."""
SIZES = {"w": C.BPF_W, "h": C.BPF_H, "b": C.BPF_B}
"""Load sizes by letter."""
_SIZE_SUFFIX = {C.BPF_W: "", C.BPF_H: "h", C.BPF_B: "b"}


def _build_forms() -> dict[int, Form]:
    forms: list[Form] = []
    for size, suffix in _SIZE_SUFFIX.items():
        n = C.SIZE_BYTES[size]
        forms.append(Form(C.BPF_LD | size | C.BPF_ABS, Kind.LOAD_ABS, "ld" + suffix, "a", n))
        forms.append(Form(C.BPF_LD | size | C.BPF_IND, Kind.LOAD_IND, "ld" + suffix, "a", n))
    forms += [
        Form(C.BPF_LD | C.BPF_W | C.BPF_IMM, Kind.LOAD_IMM, "ld", "a"),
        Form(C.BPF_LD | C.BPF_W | C.BPF_MEM, Kind.LOAD_MEM, "ld", "a"),
        Form(C.BPF_LD | C.BPF_W | C.BPF_LEN, Kind.LOAD_LEN, "ld", "a"),
        Form(C.BPF_LDX | C.BPF_W | C.BPF_IMM, Kind.LOAD_IMM, "ldx", "x"),
        Form(C.BPF_LDX | C.BPF_W | C.BPF_MEM, Kind.LOAD_MEM, "ldx", "x"),
        Form(C.BPF_LDX | C.BPF_W | C.BPF_LEN, Kind.LOAD_LEN, "ldx", "x"),
        Form(C.BPF_LDX | C.BPF_B | C.BPF_MSH, Kind.LOAD_MSH, "ldxb", "x", 1),
        Form(C.BPF_ST, Kind.STORE, "st", "m"),
        Form(C.BPF_STX, Kind.STORE, "stx", "m"),
        Form(C.BPF_ALU | C.BPF_NEG, Kind.NEG, "neg", "a", operation="neg"),
        Form(C.BPF_JMP | C.BPF_JA, Kind.JA, "ja", "pc", operation="ja"),
        Form(C.BPF_RET | C.BPF_K, Kind.RET_K, "ret", "ret"),
        Form(C.BPF_RET | C.BPF_A, Kind.RET_A, "ret", "ret"),
        Form(C.BPF_MISC | C.BPF_TAX, Kind.TAX, "tax", "x"),
        Form(C.BPF_MISC | C.BPF_TXA, Kind.TXA, "txa", "a"),
    ]
    for op, name in ALU_OPS.items():
        forms.append(Form(C.BPF_ALU | op | C.BPF_K, Kind.ALU_K, name, "a", operation=name))
        forms.append(Form(C.BPF_ALU | op | C.BPF_X, Kind.ALU_X, name, "a", operation=name))
    for op, name in JUMP_OPS.items():
        forms.append(Form(C.BPF_JMP | op | C.BPF_K, Kind.JUMP_K, name, "pc", operation=name))
        forms.append(Form(C.BPF_JMP | op | C.BPF_X, Kind.JUMP_X, name, "pc", operation=name))
    return {f.code: f for f in forms}


FORMS: dict[int, Form] = _build_forms()
"""Every code the kernel's ``bpf_check_classic`` accepts -> its :class:`Form`."""

CONDITIONAL = (Kind.JUMP_K, Kind.JUMP_X)
"""The kinds whose jt and jf are jump counts."""
RETURNS = (Kind.RET_K, Kind.RET_A)
"""The kinds that end the program."""


# --- encode / decode -------------------------------------------------------------------

def encode(program: Iterable[SockFilter]) -> bytes:
    """A program as the bytes of a ``struct sock_filter`` array."""
    return b"".join(SockFilter(*i).encode() for i in program)


def decode(data: bytes | bytearray | memoryview) -> list[SockFilter]:
    """The instructions of a ``struct sock_filter`` array's bytes."""
    raw = bytes(data)
    if len(raw) % C.SOCK_FILTER_SIZE:
        raise DecodeError(f"{len(raw)} bytes is not a whole number of {C.SOCK_FILTER_SIZE}-byte "
                          f"sock_filter instructions")
    return [SockFilter(*fields) for fields in _SOCK_FILTER.iter_unpack(raw)]


def as_program(program: Iterable[SockFilter | Sequence[int]]) -> list[SockFilter]:
    """A list of :class:`SockFilter` from instructions or ``(code, jt, jf,
    k)`` tuples (``k`` may be negative), with every field checked."""
    out = []
    for pc, item in enumerate(program):
        fields = tuple(item)
        if len(fields) != 4:
            raise InstructionError("a classic instruction has four fields (code, jt, jf, k)",
                                   pc=pc, insn=fields)
        code, jt, jf, k = (int(v) for v in fields)
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 0xFF and 0 <= jf <= 0xFF
                and -(1 << 31) <= k <= U32):
            raise InstructionError("sock_filter field out of range (code u16, jt and jf u8, "
                                   "k 32 bits)", pc=pc, insn=fields)
        out.append(SockFilter(code, jt, jf, k & U32))
    return out


# --- constructors ------------------------------------------------------------------------

class Register(enum.Enum):
    """The classic registers as operands of the constructors: ``X`` makes
    an ALU operation or a jump take the index register instead of ``k``."""

    A = "a"
    X = "x"


A = Register.A
X = Register.X


def stmt(code: int, k: int = 0) -> SockFilter:
    """``BPF_STMT(code, k)``."""
    return SockFilter(code, 0, 0, k & U32)


def jump(code: int, k: int, jt: int, jf: int) -> SockFilter:
    """``BPF_JUMP(code, k, jt, jf)``."""
    return SockFilter(code, jt, jf, k & U32)


def _size(size: str | int) -> int:
    if isinstance(size, str):
        try:
            return SIZES[size.lower()]
        except KeyError:
            raise ValueError(f"load size {size!r}: one of w, h, b") from None
    if size in (1, 2, 4):
        return {4: C.BPF_W, 2: C.BPF_H, 1: C.BPF_B}[size]
    raise ValueError(f"load size {size!r}: one of w, h, b or 4, 2, 1")


def ld_abs(size: str | int, k: int) -> SockFilter:
    """``A = packet[k]`` of ``size`` (``w``/``h``/``b`` or 4/2/1 bytes, big endian)."""
    return stmt(C.BPF_LD | _size(size) | C.BPF_ABS, k)


def ld_ind(size: str | int, k: int) -> SockFilter:
    """``A = packet[X + k]``."""
    return stmt(C.BPF_LD | _size(size) | C.BPF_IND, k)


def ld_imm(k: int) -> SockFilter:
    """``A = k``."""
    return stmt(C.BPF_LD | C.BPF_W | C.BPF_IMM, k)


def ld_mem(k: int) -> SockFilter:
    """``A = M[k]``."""
    return stmt(C.BPF_LD | C.BPF_W | C.BPF_MEM, k)


def ld_len() -> SockFilter:
    """``A = packet length``."""
    return stmt(C.BPF_LD | C.BPF_W | C.BPF_LEN)


def ld_ancillary(name: str, size: str | int = "w") -> SockFilter:
    """The ancillary load ``name`` (``protocol``, ``vlan_tag``... the
    ``SKF_AD_`` names in lower case): ``A = skb->field``."""
    try:
        offset = C.ANCILLARY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown ancillary load {name!r} (known: "
                         f"{', '.join(C.ANCILLARY)})") from None
    return ld_abs(size, C.SKF_AD_OFF + offset)


def ldx_imm(k: int) -> SockFilter:
    """``X = k``."""
    return stmt(C.BPF_LDX | C.BPF_W | C.BPF_IMM, k)


def ldx_mem(k: int) -> SockFilter:
    """``X = M[k]``."""
    return stmt(C.BPF_LDX | C.BPF_W | C.BPF_MEM, k)


def ldx_len() -> SockFilter:
    """``X = packet length``."""
    return stmt(C.BPF_LDX | C.BPF_W | C.BPF_LEN)


def ldx_msh(k: int) -> SockFilter:
    """``X = 4 * (packet[k] & 0xf)`` (the IPv4 header length idiom)."""
    return stmt(C.BPF_LDX | C.BPF_B | C.BPF_MSH, k)


def st(k: int) -> SockFilter:
    """``M[k] = A``."""
    return stmt(C.BPF_ST, k)


def stx(k: int) -> SockFilter:
    """``M[k] = X``."""
    return stmt(C.BPF_STX, k)


def _op(table: dict[int, str], name: str, what: str) -> int:
    for op, n in table.items():
        if n == name.lower():
            return op
    raise ValueError(f"unknown {what} {name!r} (known: {', '.join(table.values())})")


def alu(operation: str, operand: int | Register) -> SockFilter:
    """``A = A <operation> operand``: ``operation`` one of add, sub, mul,
    div, mod, and, or, xor, lsh, rsh; ``operand`` a constant or :data:`X`."""
    op = _op(ALU_OPS, operation, "ALU operation")
    if operand is X:
        return stmt(C.BPF_ALU | op | C.BPF_X)
    if isinstance(operand, Register):
        raise ValueError("an ALU operand is a constant or X")
    return stmt(C.BPF_ALU | op | C.BPF_K, operand)


def neg() -> SockFilter:
    """``A = -A``."""
    return stmt(C.BPF_ALU | C.BPF_NEG)


def ja(k: int) -> SockFilter:
    """Jump ``k`` instructions forward."""
    return stmt(C.BPF_JMP | C.BPF_JA, k)


def cond(operation: str, operand: int | Register, jt: int = 0, jf: int = 0) -> SockFilter:
    """A conditional jump: ``operation`` one of jeq, jgt, jge, jset;
    ``operand`` a constant or :data:`X`; skip ``jt`` instructions when
    true, ``jf`` when false."""
    op = _op(JUMP_OPS, operation, "jump")
    if operand is X:
        return jump(C.BPF_JMP | op | C.BPF_X, 0, jt, jf)
    if isinstance(operand, Register):
        raise ValueError("a jump operand is a constant or X")
    return jump(C.BPF_JMP | op | C.BPF_K, operand, jt, jf)


def jeq(operand: int | Register, jt: int = 0, jf: int = 0) -> SockFilter:
    """``if A == operand`` skip jt, else skip jf."""
    return cond("jeq", operand, jt, jf)


def jgt(operand: int | Register, jt: int = 0, jf: int = 0) -> SockFilter:
    """``if A > operand`` (unsigned) skip jt, else skip jf."""
    return cond("jgt", operand, jt, jf)


def jge(operand: int | Register, jt: int = 0, jf: int = 0) -> SockFilter:
    """``if A >= operand`` (unsigned) skip jt, else skip jf."""
    return cond("jge", operand, jt, jf)


def jset(operand: int | Register, jt: int = 0, jf: int = 0) -> SockFilter:
    """``if A & operand`` skip jt, else skip jf."""
    return cond("jset", operand, jt, jf)


def ret(value: int | Register) -> SockFilter:
    """Return ``value`` (a constant, or :data:`A`)."""
    if value is A:
        return stmt(C.BPF_RET | C.BPF_A)
    if isinstance(value, Register):
        raise ValueError("ret returns a constant or A")
    return stmt(C.BPF_RET | C.BPF_K, value)


def tax() -> SockFilter:
    """``X = A``."""
    return stmt(C.BPF_MISC | C.BPF_TAX)


def txa() -> SockFilter:
    """``A = X``."""
    return stmt(C.BPF_MISC | C.BPF_TXA)


# --- a builder with labels ---------------------------------------------------------------

Target = str | int | None
"""A jump target in :class:`Builder`: a label name, a relative count, or
None for the next instruction."""


class Builder:
    """Build a program with labelled forward jumps.

    >>> b = Builder()
    >>> b.emit(ld_abs("h", 12))
    >>> b.jump("jeq", 0x800, "ip", "drop")
    >>> b.label("ip"); b.emit(ret(-1))
    >>> b.label("drop"); b.emit(ret(0))
    >>> [tuple(i) for i in b.build()]
    [(40, 0, 0, 12), (21, 0, 1, 2048), (6, 0, 0, 4294967295), (6, 0, 0, 0)]
    """

    def __init__(self) -> None:
        self.insns: list[SockFilter] = []
        self.labels: dict[str, int] = {}
        self._fixups: list[tuple[int, str, str]] = []  # (pc, field, label)

    def __len__(self) -> int:
        return len(self.insns)

    def emit(self, *insns: SockFilter) -> None:
        """Append instructions."""
        self.insns.extend(insns)

    def label(self, name: str) -> None:
        """Name the position of the next instruction."""
        if name in self.labels:
            raise ValueError(f"label {name!r} defined twice")
        self.labels[name] = len(self.insns)

    def _target(self, pc: int, field: str, target: Target) -> int:
        if target is None:
            return 0
        if isinstance(target, int):
            return target
        self._fixups.append((pc, field, target))
        return 0

    def jump(self, operation: str, operand: int | Register = 0, jt: Target = None,
             jf: Target = None) -> None:
        """Append a jump: ``operation`` ``ja`` (to ``jt``) or a condition
        (jeq, jgt, jge, jset); targets are labels, counts or None (next)."""
        pc = len(self.insns)
        if operation == "ja":
            self.insns.append(ja(self._target(pc, "k", jt)))
            return
        self.insns.append(cond(operation, operand, self._target(pc, "jt", jt),
                               self._target(pc, "jf", jf)))

    def build(self) -> list[SockFilter]:
        """The instructions, labels resolved (forward only, jt/jf within 255)."""
        out = list(self.insns)
        for pc, field, name in self._fixups:
            if name not in self.labels:
                raise ValueError(f"instruction {pc} jumps to undefined label {name!r}")
            distance = self.labels[name] - pc - 1
            if distance < 0:
                raise ValueError(f"instruction {pc} jumps backwards to label {name!r}: "
                                 f"classic BPF jumps only forward")
            if field != "k" and distance > 0xFF:
                raise ValueError(f"instruction {pc} jumps {distance} instructions to label "
                                 f"{name!r}: a conditional jump reaches at most 255")
            out[pc] = out[pc]._replace(**{field: distance})
        return out
