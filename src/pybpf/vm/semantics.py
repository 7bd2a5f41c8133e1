"""What every eBPF instruction does, as Python.

This module is the executable specification of the instruction set (RFC
9669 plus the Linux extensions).  Each entry gives the Python statement an
instruction performs on the registers ``r0``..``r10``, which always hold
unsigned 64-bit values.  The interpreter (:mod:`pybpf.vm.interpreter`)
stitches these statements into straight-line Python code per basic block.

Placeholders: ``{d}`` and ``{s}`` are the destination and source registers;
``{k}`` is the immediate, already sign-extended and reduced to the
operation's width (so ``{k}`` is unsigned); ``{ks}`` is the signed immediate.
The RFC's corner cases are spelled out: division by zero gives 0, modulo by
zero leaves the dividend, shift counts are masked to the width, ``INT_MIN /
-1`` wraps to ``INT_MIN``, 32-bit results are zero-extended.
"""

from __future__ import annotations

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64 = 1 << 63
S32 = 1 << 31


def signed64(v: int) -> int:
    """The signed value of a 64-bit register."""
    return (v ^ S64) - S64


def signed32(v: int) -> int:
    """The signed value of the low 32 bits of a register."""
    return ((v & M32) ^ S32) - S32


def sdiv64(a: int, b: int) -> int:
    """Signed 64-bit division truncating toward zero; x / 0 = 0."""
    if b == 0:
        return 0
    a, b = signed64(a), signed64(b)
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M64


def smod64(a: int, b: int) -> int:
    """Signed 64-bit remainder with the dividend's sign; x % 0 = x."""
    if b == 0:
        return a
    a, b = signed64(a), signed64(b)
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M64


def sdiv32(a: int, b: int) -> int:
    """Signed 32-bit division truncating toward zero; x / 0 = 0."""
    if b & M32 == 0:
        return 0
    a, b = signed32(a), signed32(b)
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M32


def smod32(a: int, b: int) -> int:
    """Signed 32-bit remainder with the dividend's sign; x % 0 = x (zero-extended)."""
    if b & M32 == 0:
        return a & M32
    a, b = signed32(a), signed32(b)
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M32


def bswap16(v: int) -> int:
    """Swap the bytes of the low 16 bits (upper bits cleared)."""
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def bswap32(v: int) -> int:
    """Swap the bytes of the low 32 bits (upper bits cleared)."""
    return int.from_bytes((v & M32).to_bytes(4, "little"), "big")


def bswap64(v: int) -> int:
    """Swap the bytes of the 64-bit register."""
    return int.from_bytes(v.to_bytes(8, "little"), "big")


def sign_extend(v: int, bits: int) -> int:
    """The low ``bits`` of ``v`` sign-extended to 64 bits (unsigned result)."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    return (((v & mask) ^ sign) - sign) & M64


# --- ALU ------------------------------------------------------------------------
# {src} is "{s}" for the register form and "{k}" for the immediate form.

ALU64 = {
    "add": "{d} = ({d} + {src}) & M64",
    "sub": "{d} = ({d} - {src}) & M64",
    "mul": "{d} = ({d} * {src}) & M64",
    "div": "{d} = {d} // {src} if {src} else 0",
    "sdiv": "{d} = sdiv64({d}, {src})",
    "mod": "{d} = {d} % {src} if {src} else {d}",
    "smod": "{d} = smod64({d}, {src})",
    "or": "{d} = {d} | {src}",
    "and": "{d} = {d} & {src}",
    "xor": "{d} = {d} ^ {src}",
    "lsh": "{d} = ({d} << ({src} & 63)) & M64",
    "rsh": "{d} = {d} >> ({src} & 63)",
    "arsh": "{d} = (signed64({d}) >> ({src} & 63)) & M64",
    "mov": "{d} = {src}",
    "neg": "{d} = -{d} & M64",
}

ALU32 = {
    "add": "{d} = ({d} + {src}) & M32",
    "sub": "{d} = ({d} - {src}) & M32",
    "mul": "{d} = ({d} * {src}) & M32",
    "div": "{d} = ({d} & M32) // ({src} & M32) if {src} & M32 else 0",
    "sdiv": "{d} = sdiv32({d}, {src})",
    "mod": "{d} = ({d} & M32) % ({src} & M32) if {src} & M32 else {d} & M32",
    "smod": "{d} = smod32({d}, {src})",
    "or": "{d} = ({d} | {src}) & M32",
    "and": "{d} = {d} & {src} & M32",
    "xor": "{d} = ({d} ^ {src}) & M32",
    "lsh": "{d} = ({d} << ({src} & 31)) & M32",
    "rsh": "{d} = ({d} & M32) >> ({src} & 31)",
    "arsh": "{d} = (signed32({d}) >> ({src} & 31)) & M32",
    "mov": "{d} = {src} & M32",
    "neg": "{d} = -{d} & M32",
}

MOVSX = "{d} = sign_extend({s}, {bits}) & {mask}"

# Byte order conversion on a little-endian machine: "le" truncates, "be" swaps.
END = {
    ("le", 16): "{d} = {d} & 0xFFFF",
    ("le", 32): "{d} = {d} & M32",
    ("le", 64): "pass",
    ("be", 16): "{d} = bswap16({d})",
    ("be", 32): "{d} = bswap32({d})",
    ("be", 64): "{d} = bswap64({d})",
    ("bswap", 16): "{d} = bswap16({d})",
    ("bswap", 32): "{d} = bswap32({d})",
    ("bswap", 64): "{d} = bswap64({d})",
}

# addr_space_cast: from the arena (1) to the kernel space (0) the 32-bit arena
# offset gains the arena's upper address bits; the other way keeps 32 bits.
ADDR_SPACE_CAST = {
    (0, 1): "{d} = (ARENA_BASE | ({s} & M32)) if {s} & M32 else 0",
    (1, 0): "{d} = {s} & M32",
}

# --- conditions of conditional jumps ----------------------------------------------
# Each condition is a Python operator and whether the comparison is signed.
# Signed comparisons flip the sign bit of both operands, which turns signed
# order into unsigned order.  "jset" jumps when the operands share a set bit.

CONDITIONS = {
    "jeq": ("==", False),
    "jne": ("!=", False),
    "jgt": (">", False),
    "jge": (">=", False),
    "jlt": ("<", False),
    "jle": ("<=", False),
    "jset": ("&", False),
    "jsgt": (">", True),
    "jsge": (">=", True),
    "jslt": ("<", True),
    "jsle": ("<=", True),
}

# --- atomics: the new memory value from the old one and the source ----------------

ATOMIC = {
    "add": "old + {s}",
    "or": "old | {s}",
    "and": "old & {s}",
    "xor": "old ^ {s}",
    "xchg": "{s}",
}

#: Names the generated code may use besides the registers.
RUNTIME_NAMES = {
    "M64": M64, "M32": M32, "S64": S64, "S32": S32,
    "signed64": signed64, "signed32": signed32,
    "sdiv64": sdiv64, "smod64": smod64, "sdiv32": sdiv32, "smod32": smod32,
    "bswap16": bswap16, "bswap32": bswap32, "bswap64": bswap64, "sign_extend": sign_extend,
}
