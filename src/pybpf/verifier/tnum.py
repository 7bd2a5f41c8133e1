"""Tracked numbers: what is known bit by bit about a 64-bit value.

A tnum is a pair ``(value, mask)`` of unsigned 64-bit ints: a bit set in
``mask`` is unknown; a bit clear in ``mask`` has the value of that bit in
``value`` (and ``value & mask`` is always 0).  ``(5, 0)`` is the constant 5,
``(0, 0xff)`` any value below 256.  The operations return the tightest pair
that holds every result of the operation applied to every pair of members,
as the kernel's verifier computes them (Harishankar Vishwanathan et al.,
"Sound, Precise, and Fast Abstract Interpretation with Tristate Numbers").

Pairs are plain tuples so that states compare and copy cheaply.
"""

from __future__ import annotations

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1

Tnum = tuple[int, int]

UNKNOWN: Tnum = (0, U64)
ZERO: Tnum = (0, 0)


def const(value: int) -> Tnum:
    """The tnum of one known value."""
    return (value & U64, 0)


def range_(lo: int, hi: int) -> Tnum:
    """The tightest tnum holding every value in ``[lo, hi]`` (unsigned)."""
    chi = (lo ^ hi) & U64
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return (lo & ~delta & U64, delta)


def is_const(a: Tnum) -> bool:
    """Whether every bit is known."""
    return a[1] == 0


def is_unknown(a: Tnum) -> bool:
    """Whether no bit is known."""
    return a[1] == U64


def lshift(a: Tnum, shift: int) -> Tnum:
    return ((a[0] << shift) & U64, (a[1] << shift) & U64)


def rshift(a: Tnum, shift: int) -> Tnum:
    return (a[0] >> shift, a[1] >> shift)


def _s64(x: int) -> int:
    return x - (1 << 64) if x & (1 << 63) else x


def _s32(x: int) -> int:
    x &= U32
    return x - (1 << 32) if x & (1 << 31) else x


def arshift(a: Tnum, shift: int, bits: int) -> Tnum:
    """Arithmetic right shift of a 32- or 64-bit value (``bits``); the
    32-bit result is zero-extended."""
    if bits == 32:
        return ((_s32(a[0]) >> shift) & U32, (_s32(a[1]) >> shift) & U32)
    return ((_s64(a[0]) >> shift) & U64, (_s64(a[1]) >> shift) & U64)


def add(a: Tnum, b: Tnum) -> Tnum:
    sm = a[1] + b[1]
    sv = a[0] + b[0]
    sigma = sm + sv
    chi = (sigma ^ sv) & U64
    mu = chi | a[1] | b[1]
    return (sv & ~mu & U64, mu)


def sub(a: Tnum, b: Tnum) -> Tnum:
    dv = (a[0] - b[0]) & U64
    alpha = (dv + a[1]) & U64
    beta = (dv - b[1]) & U64
    chi = alpha ^ beta
    mu = chi | a[1] | b[1]
    return (dv & ~mu & U64, mu)


def neg(a: Tnum) -> Tnum:
    return sub(ZERO, a)


def and_(a: Tnum, b: Tnum) -> Tnum:
    alpha = a[0] | a[1]
    beta = b[0] | b[1]
    v = a[0] & b[0]
    return (v, alpha & beta & ~v & U64)


def or_(a: Tnum, b: Tnum) -> Tnum:
    v = a[0] | b[0]
    mu = a[1] | b[1]
    return (v, mu & ~v & U64)


def xor(a: Tnum, b: Tnum) -> Tnum:
    v = a[0] ^ b[0]
    mu = a[1] | b[1]
    return (v & ~mu & U64, mu)


def mul(a: Tnum, b: Tnum) -> Tnum:
    """Product: the known product of the values plus the sum of the
    partial products each uncertain bit of ``a`` may contribute."""
    acc_v = (a[0] * b[0]) & U64
    acc_m = ZERO
    av, am = a
    bv, bm = b
    while av or am:
        if av & 1:
            acc_m = add(acc_m, (0, bm))
        elif am & 1:
            acc_m = add(acc_m, (0, (bv | bm) & U64))
        av >>= 1
        am >>= 1
        bv = (bv << 1) & U64
        bm = (bm << 1) & U64
    return add((acc_v, 0), acc_m)


def intersect(a: Tnum, b: Tnum) -> Tnum:
    """What both ``a`` and ``b`` know (their members in common)."""
    v = a[0] | b[0]
    mu = a[1] & b[1]
    return (v & ~mu & U64, mu)


def union(a: Tnum, b: Tnum) -> Tnum:
    """A tnum holding the members of both."""
    v = a[0] & b[0]
    mu = a[1] | b[1] | (a[0] ^ b[0])
    return (v & ~mu & U64, mu)


def cast(a: Tnum, size: int) -> Tnum:
    """The low ``size`` bytes."""
    m = (1 << (size * 8)) - 1
    return (a[0] & m, a[1] & m)


def is_aligned(a: Tnum, size: int) -> bool:
    """Whether every member is a multiple of ``size`` (a power of two)."""
    if not size:
        return True
    return not ((a[0] | a[1]) & (size - 1))


def overlap(a: Tnum, b: Tnum) -> bool:
    """Whether one value can fit both ``a`` and ``b``: the bits both know agree."""
    known = ~a[1] & ~b[1] & U64
    return (a[0] & known) == (b[0] & known)


def contains(a: Tnum, b: Tnum) -> bool:
    """Whether every member of ``b`` is a member of ``a``."""
    if b[1] & ~a[1]:
        return False
    return a[0] == (b[0] & ~a[1])


def _swab(x: int, nbytes: int) -> int:
    return int.from_bytes((x & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


def bswap(a: Tnum, bits: int) -> Tnum:
    """The low ``bits`` (16, 32 or 64) bits with their bytes reversed."""
    n = bits // 8
    return (_swab(a[0], n), _swab(a[1], n))


def subreg(a: Tnum) -> Tnum:
    """The low 32 bits."""
    return (a[0] & U32, a[1] & U32)


def clear_subreg(a: Tnum) -> Tnum:
    """The high 32 bits, the low ones known zero."""
    return (a[0] & ~U32 & U64, a[1] & ~U32 & U64)


def with_subreg(a: Tnum, low: Tnum) -> Tnum:
    """``a``'s high 32 bits with ``low``'s low 32 bits."""
    return or_(clear_subreg(a), subreg(low))


def const_subreg(a: Tnum, value: int) -> Tnum:
    """``a`` with its low 32 bits known to be ``value``."""
    return with_subreg(a, const(value))


def subreg_is_const(a: Tnum) -> bool:
    return not (a[1] & U32)


def to_str(a: Tnum) -> str:
    """The kernel's notation: ``(0x0; 0xff)``, or the number itself when
    every bit is known."""
    if a[1] == 0:
        v = _s64(a[0])
        return str(v) if -(1 << 15) <= v < (1 << 15) else f"{a[0]:#x}"
    return f"({a[0]:#x}; {a[1]:#x})"
