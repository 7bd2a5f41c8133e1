"""An encoder of the x86-64 instructions the baseline JIT tier emits.

Only the forms :mod:`pybpf.jit.baseline` needs: moves, the ALU operations
on registers and 32-bit immediates, shifts, multiplication and division,
sign and zero extension, byte swaps, loads and stores of 1, 2, 4 and 8
bytes at ``[base + displacement]``, calls, and jumps to labels (always with
32-bit displacements, patched when the code is finished).  Registers are
numbered as the hardware numbers them (:data:`RAX` ... :data:`R15`); an
operation's width is 64 bits unless ``wide=False`` (32 bits, which zeroes
the upper half of the destination, as the eBPF 32-bit ALU does).

The encodings follow the Intel SDM, volume 2 (REX prefix, ModRM and SIB
bytes); ``tests/jit/test_x86.py`` checks them against an assembler's.
"""

from __future__ import annotations

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)

#: Group-1 ALU operations: (opcode of ``op r/m, reg``, ModRM extension of ``op r/m, imm``).
ALU = {"add": (0x01, 0), "or": (0x09, 1), "and": (0x21, 4), "sub": (0x29, 5),
       "xor": (0x31, 6), "cmp": (0x39, 7)}
#: Shift and rotate operations: ModRM extension of the C1/D3 group.
SHIFT = {"rol": 0, "ror": 1, "shl": 4, "shr": 5, "sar": 7}
#: Condition codes (the low nibble of ``jcc``).
CC = {"o": 0x0, "no": 0x1, "b": 0x2, "ae": 0x3, "e": 0x4, "ne": 0x5, "be": 0x6, "a": 0x7,
      "s": 0x8, "ns": 0x9, "l": 0xC, "ge": 0xD, "le": 0xE, "g": 0xF}


def _fits8(v: int) -> bool:
    return -128 <= v < 128


def _fits32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


class Label:
    """A place in the code, bound once (:meth:`Assembler.bind`), jumped to any time."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = -1


class Assembler:
    """x86-64 machine code being written into ``code``.

    Jumps and calls to a :class:`Label` leave a 32-bit hole that
    :meth:`finish` fills; a label never bound raises there.
    """

    def __init__(self) -> None:
        self.code = bytearray()
        self._fixups: list[tuple[int, Label]] = []

    # --- encoding helpers ------------------------------------------------------------

    def _rex(self, w: bool, reg: int, rm: int, force: bool = False) -> None:
        rex = 0x40 | (8 if w else 0) | ((reg >> 1) & 4) | ((rm >> 3) & 1)
        if rex != 0x40 or force:
            self.code.append(rex)

    def _modrm_mem(self, reg: int, base: int, disp: int) -> None:
        """ModRM (and SIB, displacement) for ``[base + disp]``."""
        code = self.code
        low = base & 7
        if disp == 0 and low != RBP:
            mod = 0
        elif _fits8(disp):
            mod = 1
        else:
            mod = 2
        code.append((mod << 6) | ((reg & 7) << 3) | low)
        if low == RSP:
            code.append(0x24)                   # SIB: no index, base = rsp/r12
        if mod == 1:
            code.append(disp & 0xFF)
        elif mod == 2:
            code += (disp & 0xFFFFFFFF).to_bytes(4, "little")

    def _rr(self, opcode: bytes, reg: int, rm: int, wide: bool, force: bool = False) -> None:
        """``opcode`` with a register-direct ModRM (reg field ``reg``, r/m ``rm``)."""
        self._rex(wide, reg, rm, force)
        self.code += opcode
        self.code.append(0xC0 | ((reg & 7) << 3) | (rm & 7))

    def _rm(self, opcode: bytes, reg: int, base: int, disp: int, wide: bool,
            force: bool = False, prefix: int = 0) -> None:
        """``opcode`` with a memory ModRM ``[base + disp]``."""
        if prefix:
            self.code.append(prefix)
        self._rex(wide, reg, base, force)
        self.code += opcode
        self._modrm_mem(reg, base, disp)

    # --- moves ------------------------------------------------------------------------

    def mov(self, dst: int, src: int, wide: bool = True) -> None:
        """``mov dst, src``."""
        self._rr(b"\x89", src, dst, wide)

    def mov_imm(self, dst: int, imm: int, wide: bool = True) -> None:
        """``dst = imm``: 64-bit ``imm`` is taken modulo 2**64 (the shortest
        form: ``xor``, ``mov r32``, sign-extended ``mov r64`` or ``movabs``);
        32-bit modulo 2**32."""
        if not wide:
            imm &= 0xFFFFFFFF
        else:
            imm &= (1 << 64) - 1
            if imm >> 63:
                imm -= 1 << 64
        if imm == 0:
            self.alu("xor", dst, dst, wide=False)
        elif 0 <= imm < (1 << 32):
            self._rex(False, 0, dst)
            self.code.append(0xB8 | (dst & 7))
            self.code += imm.to_bytes(4, "little")
        elif _fits32(imm):
            self._rr(b"\xC7", 0, dst, True)
            self.code += (imm & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            self._rex(True, 0, dst)
            self.code.append(0xB8 | (dst & 7))
            self.code += (imm & ((1 << 64) - 1)).to_bytes(8, "little")

    def load(self, dst: int, base: int, disp: int, size: int = 8, signed: bool = False) -> None:
        """``dst = [base + disp]`` of ``size`` bytes, zero- or sign-extended to 64 bits."""
        if size == 8:
            self._rm(b"\x8B", dst, base, disp, True)
        elif size == 4:
            if signed:
                self._rm(b"\x63", dst, base, disp, True)            # movsxd
            else:
                self._rm(b"\x8B", dst, base, disp, False)
        elif size == 2:
            self._rm(b"\x0F\xBF" if signed else b"\x0F\xB7", dst, base, disp, signed)
        elif size == 1:
            self._rm(b"\x0F\xBE" if signed else b"\x0F\xB6", dst, base, disp, signed)
        else:
            raise ValueError(f"no load of {size} bytes")

    def store(self, base: int, disp: int, src: int, size: int = 8) -> None:
        """``[base + disp] = src`` (its low ``size`` bytes)."""
        if size == 8:
            self._rm(b"\x89", src, base, disp, True)
        elif size == 4:
            self._rm(b"\x89", src, base, disp, False)
        elif size == 2:
            self._rm(b"\x89", src, base, disp, False, prefix=0x66)
        elif size == 1:
            self._rm(b"\x88", src, base, disp, False, force=src in (RSP, RBP, RSI, RDI))
        else:
            raise ValueError(f"no store of {size} bytes")

    def store_imm(self, base: int, disp: int, imm: int, size: int = 8) -> None:
        """``[base + disp] = imm`` (8 bytes: ``imm`` a signed 32-bit value, sign-extended)."""
        if size == 1:
            self._rm(b"\xC6", 0, base, disp, False)
            self.code.append(imm & 0xFF)
        elif size == 2:
            self._rm(b"\xC7", 0, base, disp, False, prefix=0x66)
            self.code += (imm & 0xFFFF).to_bytes(2, "little")
        elif size in (4, 8):
            if size == 8 and not _fits32(imm):
                raise ValueError(f"{imm:#x} is not a sign-extended 32-bit immediate")
            self._rm(b"\xC7", 0, base, disp, size == 8)
            self.code += (imm & 0xFFFFFFFF).to_bytes(4, "little")
        else:
            raise ValueError(f"no store of {size} bytes")

    def lea(self, dst: int, base: int, disp: int) -> None:
        """``dst = base + disp`` (``lea``, 64 bits)."""
        self._rm(b"\x8D", dst, base, disp, True)

    def movsx(self, dst: int, src: int, size: int, wide: bool = True) -> None:
        """``dst`` = the low ``size`` bytes of ``src`` sign-extended to 64
        (or 32, zero-extended on) bits."""
        if size == 1:
            self._rr(b"\x0F\xBE", dst, src, wide, force=src in (RSP, RBP, RSI, RDI))
        elif size == 2:
            self._rr(b"\x0F\xBF", dst, src, wide)
        elif size == 4 and wide:
            self._rr(b"\x63", dst, src, True)
        else:
            raise ValueError(f"no sign extension of {size} bytes to {64 if wide else 32} bits")

    def movzx(self, dst: int, src: int, size: int) -> None:
        """``dst`` = the low ``size`` (1, 2 or 4) bytes of ``src``, zero-extended."""
        if size == 1:
            self._rr(b"\x0F\xB6", dst, src, False, force=src in (RSP, RBP, RSI, RDI))
        elif size == 2:
            self._rr(b"\x0F\xB7", dst, src, False)
        elif size == 4:
            self.mov(dst, src, wide=False)
        else:
            raise ValueError(f"no zero extension of {size} bytes")

    # --- arithmetic -------------------------------------------------------------------

    def alu(self, op: str, dst: int, src: int, wide: bool = True) -> None:
        """``op dst, src`` for the :data:`ALU` operations (``cmp`` included)."""
        self._rr(bytes((ALU[op][0],)), src, dst, wide)

    def alu_imm(self, op: str, dst: int, imm: int, wide: bool = True) -> None:
        """``op dst, imm`` (``imm`` a signed 32-bit value; 64 bits: sign-extended)."""
        if not _fits32(imm):
            raise ValueError(f"{imm:#x} is not a signed 32-bit immediate")
        ext = ALU[op][1]
        if _fits8(imm):
            self._rr(b"\x83", ext, dst, wide)
            self.code.append(imm & 0xFF)
        else:
            self._rr(b"\x81", ext, dst, wide)
            self.code += (imm & 0xFFFFFFFF).to_bytes(4, "little")

    def alu_load(self, op: str, dst: int, base: int, disp: int, wide: bool = True) -> None:
        """``op dst, [base + disp]`` (the :data:`ALU` operations)."""
        self._rm(bytes((ALU[op][0] + 2,)), dst, base, disp, wide)

    def alu_mem_imm(self, op: str, base: int, disp: int, imm: int) -> None:
        """``op qword [base + disp], imm`` (``imm`` a signed 8-bit value)."""
        if not _fits8(imm):
            raise ValueError(f"{imm:#x} is not a signed 8-bit immediate")
        self._rm(b"\x83", ALU[op][1], base, disp, True)
        self.code.append(imm & 0xFF)

    def test(self, a: int, b: int, wide: bool = True) -> None:
        """``test a, b``."""
        self._rr(b"\x85", b, a, wide)

    def test_imm(self, dst: int, imm: int, wide: bool = True) -> None:
        """``test dst, imm`` (a signed 32-bit value)."""
        if not _fits32(imm):
            raise ValueError(f"{imm:#x} is not a signed 32-bit immediate")
        self._rr(b"\xF7", 0, dst, wide)
        self.code += (imm & 0xFFFFFFFF).to_bytes(4, "little")

    def imul(self, dst: int, src: int, wide: bool = True) -> None:
        """``dst *= src`` (the low half of the product)."""
        self._rr(b"\x0F\xAF", dst, src, wide)

    def imul_imm(self, dst: int, src: int, imm: int, wide: bool = True) -> None:
        """``dst = src * imm`` (``imm`` a signed 32-bit value)."""
        if not _fits32(imm):
            raise ValueError(f"{imm:#x} is not a signed 32-bit immediate")
        self._rr(b"\x69", dst, src, wide)
        self.code += (imm & 0xFFFFFFFF).to_bytes(4, "little")

    def shift(self, op: str, dst: int, count: int | None, wide: bool = True) -> None:
        """``op dst, count`` for the :data:`SHIFT` operations; ``count``
        None shifts by ``cl``.  The hardware masks the count to the width."""
        ext = SHIFT[op]
        if count is None:
            self._rr(b"\xD3", ext, dst, wide)
        else:
            self._rr(b"\xC1", ext, dst, wide)
            self.code.append(count & 0xFF)

    def neg(self, dst: int, wide: bool = True) -> None:
        """``dst = -dst``."""
        self._rr(b"\xF7", 3, dst, wide)

    def div(self, src: int, signed: bool, wide: bool = True) -> None:
        """``rdx:rax / src`` (``div``/``idiv``): quotient in rax, remainder in rdx."""
        self._rr(b"\xF7", 7 if signed else 6, src, wide)

    def sign_extend_rax(self, wide: bool = True) -> None:
        """``cqo`` (rdx = the sign of rax) or, 32 bits, ``cdq``."""
        if wide:
            self.code.append(0x48)
        self.code.append(0x99)

    def bswap(self, dst: int, wide: bool = True) -> None:
        """Reverse the bytes of ``dst`` (32 bits: of its low half, zeroing the rest)."""
        self._rex(wide, 0, dst)
        self.code += bytes((0x0F, 0xC8 | (dst & 7)))

    # --- control ----------------------------------------------------------------------

    def _rel32(self, label: Label) -> None:
        self._fixups.append((len(self.code), label))
        self.code += b"\0\0\0\0"

    def jmp(self, label: Label) -> None:
        """``jmp label``."""
        self.code.append(0xE9)
        self._rel32(label)

    def jcc(self, cc: str, label: Label) -> None:
        """``j<cc> label`` (:data:`CC`)."""
        self.code += bytes((0x0F, 0x80 | CC[cc]))
        self._rel32(label)

    def call(self, label: Label) -> None:
        """``call label``."""
        self.code.append(0xE8)
        self._rel32(label)

    def call_mem(self, base: int, disp: int) -> None:
        """``call qword [base + disp]``."""
        self._rm(b"\xFF", 2, base, disp, False)

    def call_reg(self, reg: int) -> None:
        """``call reg``."""
        self._rr(b"\xFF", 2, reg, False)

    def push(self, reg: int) -> None:
        """``push reg``."""
        self._rex(False, 0, reg)
        self.code.append(0x50 | (reg & 7))

    def pop(self, reg: int) -> None:
        """``pop reg``."""
        self._rex(False, 0, reg)
        self.code.append(0x58 | (reg & 7))

    def ret(self) -> None:
        """``ret``."""
        self.code.append(0xC3)

    def bind(self, label: Label) -> None:
        """Place ``label`` here."""
        if label.at >= 0:
            raise ValueError("label bound twice")
        label.at = len(self.code)

    def finish(self) -> bytes:
        """The code with every jump's displacement filled in."""
        code = self.code
        for at, label in self._fixups:
            if label.at < 0:
                raise ValueError("jump to a label never bound")
            code[at:at + 4] = (label.at - (at + 4)).to_bytes(4, "little", signed=True)
        self._fixups.clear()
        return bytes(code)


__all__ = [
    "ALU",
    "CC",
    "R8",
    "R9",
    "R10",
    "R11",
    "R12",
    "R13",
    "R14",
    "R15",
    "RAX",
    "RBP",
    "RBX",
    "RCX",
    "RDI",
    "RDX",
    "RSI",
    "RSP",
    "SHIFT",
    "Assembler",
    "Label",
]
