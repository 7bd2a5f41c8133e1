"""Scalar bounds: how each ALU operation and each comparison changes what is
known about a value.

Every scalar register carries a tnum and four ranges (signed and unsigned,
64- and 32-bit).  :func:`sync` makes them agree (each one tightened by what
the others imply), the ``alu_*`` functions compute the result of an
operation, :func:`branch_taken` decides a comparison when the ranges allow,
and :func:`refine` narrows both operands on each side of a conditional
jump.  The rules are the Linux verifier's (kernel 6.18), so that the same
programs are accepted; all functions change the :class:`Reg` objects they
are given, which the caller has made fresh.
"""

from __future__ import annotations

from ..isa.opcodes import (
    BPF_ADD,
    BPF_AND,
    BPF_ARSH,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_LSH,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_SUB,
    BPF_X,
    BPF_XOR,
)
from . import tnum as tn
from .state import (
    S32_MAX,
    S32_MIN,
    S64_MAX,
    S64_MIN,
    SCALAR_VALUE,
    Reg,
    s32,
    s64,
    set_known,
    set_known32,
    set_unbounded,
    set_unbounded32,
    set_unbounded64,
)
from .tnum import U32, U64

BPF_JSET_NOT = BPF_JSET | BPF_X
"""The false side of ``JSET`` (which has no opcode of its own)."""

S8_MIN, S8_MAX = -128, 127
S16_MIN, S16_MAX = -(1 << 15), (1 << 15) - 1


# --- keeping the ranges consistent -----------------------------------------------------

def update_bounds32(r: Reg) -> None:
    v, m = r.var_off[0] & U32, r.var_off[1] & U32
    r.s32_min = max(r.s32_min, s32(v | (m & 0x80000000)))
    r.s32_max = min(r.s32_max, s32(v | (m & 0x7FFFFFFF)))
    r.u32_min = max(r.u32_min, v)
    r.u32_max = min(r.u32_max, v | m)


def update_bounds64(r: Reg) -> None:
    v, m = r.var_off
    r.smin = max(r.smin, s64(v | (m & (1 << 63))))
    r.smax = min(r.smax, s64(v | (m & S64_MAX)))
    r.umin = max(r.umin, v)
    r.umax = min(r.umax, v | m)


def update_bounds(r: Reg) -> None:
    update_bounds32(r)
    update_bounds64(r)


def _deduce32(r: Reg) -> None:
    umin, umax, smin, smax = r.umin, r.umax, r.smin, r.smax
    if (umin >> 32) == (umax >> 32):
        r.u32_min = max(r.u32_min, umin & U32)
        r.u32_max = min(r.u32_max, umax & U32)
        if s32(umin) <= s32(umax):
            r.s32_min = max(r.s32_min, s32(umin))
            r.s32_max = min(r.s32_max, s32(umax))
    if (smin >> 32) == (smax >> 32):
        if (smin & U32) <= (smax & U32):
            r.u32_min = max(r.u32_min, smin & U32)
            r.u32_max = min(r.u32_max, smax & U32)
        if s32(smin) <= s32(smax):
            r.s32_min = max(r.s32_min, s32(smin))
            r.s32_max = min(r.s32_max, s32(smax))
    if ((umin >> 32) + 1) & U32 == (umax >> 32) & U32 and s32(umin) < 0 <= s32(umax):
        r.s32_min = max(r.s32_min, s32(umin))
        r.s32_max = min(r.s32_max, s32(umax))
    if (((smin >> 32) + 1) & U32) == ((smax >> 32) & U32) and s32(smin) < 0 <= s32(smax):
        r.s32_min = max(r.s32_min, s32(smin))
        r.s32_max = min(r.s32_max, s32(smax))
    if s32(r.u32_min) <= s32(r.u32_max):
        r.s32_min = max(r.s32_min, s32(r.u32_min))
        r.s32_max = min(r.s32_max, s32(r.u32_max))
    if (r.s32_min & U32) <= (r.s32_max & U32):
        r.u32_min = max(r.u32_min, r.s32_min & U32)
        r.u32_max = min(r.u32_max, r.s32_max & U32)


def _deduce64(r: Reg) -> None:
    if s64(r.umin) <= s64(r.umax):
        r.smin = max(r.smin, s64(r.umin))
        r.smax = min(r.smax, s64(r.umax))
    if (r.smin & U64) <= (r.smax & U64):
        r.umin = max(r.umin, r.smin & U64)
        r.umax = min(r.umax, r.smax & U64)
    else:
        # the signed range wraps: if the unsigned range touches one end only
        if r.umax < (r.smin & U64):
            r.smin = s64(r.umin)
            r.umax = min(r.umax, r.smax & U64)
        elif (r.smax & U64) < r.umin:
            r.smax = s64(r.umax)
            r.umin = max(r.umin, r.smin & U64)


def _deduce_mixed(r: Reg) -> None:
    high = U64 & ~U32
    new_umin = (r.umin & high) | r.u32_min
    new_umax = (r.umax & high) | r.u32_max
    r.umin = max(r.umin, new_umin)
    r.umax = min(r.umax, new_umax)
    new_smin = s64((r.smin & high) | r.u32_min)
    new_smax = s64((r.smax & high) | r.u32_max)
    r.smin = max(r.smin, new_smin)
    r.smax = min(r.smax, new_smax)
    if r.s32_min >= 0 and r.smin >= S32_MIN and r.smax <= S32_MAX:
        r.smin = r.s32_min
        r.smax = r.s32_max
        r.umin = r.s32_min
        r.umax = r.s32_max
        r.var_off = tn.intersect(r.var_off, tn.range_(r.smin & U64, r.smax & U64))


def deduce_bounds(r: Reg) -> None:
    _deduce32(r)
    _deduce64(r)
    _deduce_mixed(r)


def bound_offset(r: Reg) -> None:
    """Learn tnum bits from the unsigned ranges."""
    var64 = tn.intersect(r.var_off, tn.range_(r.umin, r.umax))
    var32 = tn.intersect(tn.subreg(var64), tn.range_(r.u32_min, r.u32_max))
    r.var_off = tn.or_(tn.clear_subreg(var64), var32)


def sync(r: Reg) -> None:
    """Make the tnum and the ranges of ``r`` agree (the kernel's
    ``reg_bounds_sync``)."""
    update_bounds(r)
    deduce_bounds(r)
    deduce_bounds(r)
    bound_offset(r)
    update_bounds(r)


def bounds_sane(r: Reg) -> str | None:
    """Why the bounds of ``r`` contradict each other, or None."""
    if r.type != SCALAR_VALUE:
        return None
    if (r.umin > r.umax or r.smin > r.smax or r.u32_min > r.u32_max
            or r.s32_min > r.s32_max):
        return "range bounds violation"
    v, m = r.var_off
    if v & m:
        return "tnum violation"
    if m == 0 and (r.umin != v or r.umax != v or r.smin != s64(v) or r.smax != s64(v)):
        return "const tnum out of sync with range bounds"
    if (m & U32) == 0:
        v32 = v & U32
        if (r.u32_min != v32 or r.u32_max != v32 or r.s32_min != s32(v32)
                or r.s32_max != s32(v32)):
            return "const subreg tnum out of sync with range bounds"
    return None


def assign_32_into_64(r: Reg) -> None:
    r.umin = r.u32_min
    r.umax = r.u32_max
    if 0 <= r.s32_min <= S32_MAX and 0 <= r.s32_max <= S32_MAX:
        r.smin = r.s32_min
        r.smax = r.s32_max
    else:
        r.smin = 0
        r.smax = U32


def zext_32_to_64(r: Reg) -> None:
    """The upper half of ``r`` becomes zero (a 32-bit operation's result)."""
    r.var_off = tn.subreg(r.var_off)
    assign_32_into_64(r)


def coerce_to_size(r: Reg, size: int) -> None:
    """The low ``size`` bytes, zero-extended (a narrow load)."""
    r.var_off = tn.cast(r.var_off, size)
    mask = (1 << (size * 8)) - 1
    if (r.umin & ~mask) == (r.umax & ~mask):
        r.umin &= mask
        r.umax &= mask
    else:
        r.umin = 0
        r.umax = mask
    r.smin = r.umin
    r.smax = r.umax
    if size < 4:
        set_unbounded32(r)
    sync(r)


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def coerce_to_size_sx(r: Reg, size: int) -> None:
    """The low ``size`` bytes, sign-extended to 64 bits."""
    bits = size * 8
    if r.var_off[1] == 0:
        v = _sext(r.var_off[0], bits)
        r.var_off = (v & U64, 0)
        r.smin = r.smax = v
        r.umin = r.umax = v & U64
        r.s32_min = r.s32_max = s32(v)
        r.u32_min = r.u32_max = v & U32
        return
    top_max = ((r.smax & U64) >> bits) << bits
    top_min = ((r.smin & U64) >> bits) << bits
    if top_max == top_min:
        a, b = _sext(r.smax, bits), _sext(r.smin, bits)
        hi, lo = max(a, b), min(a, b)
        if (hi >= 0) == (lo >= 0):
            r.s32_min = s32(lo)
            r.smin = lo
            r.s32_max = s32(hi)
            r.smax = hi
            r.umin = lo & U64
            r.u32_min = lo & U32
            r.umax = hi & U64
            r.u32_max = hi & U32
            r.var_off = tn.range_(lo & U64, hi & U64)
            return
    lo, hi = {1: (S8_MIN, S8_MAX), 2: (S16_MIN, S16_MAX)}.get(size, (S32_MIN, S32_MAX))
    r.smin = r.s32_min = lo
    r.smax = r.s32_max = hi
    r.umin = r.u32_min = 0
    r.umax = U64
    r.u32_max = U32
    r.var_off = tn.UNKNOWN


def coerce_subreg_to_size_sx(r: Reg, size: int) -> None:
    """The low ``size`` bytes sign-extended to 32 bits (``w1 = (s8)w2``)."""
    bits = size * 8
    if r.var_off[1] == 0:
        v = _sext(r.var_off[0], bits)
        r.var_off = (v & U64, 0)
        r.s32_min = r.s32_max = s32(v)
        r.u32_min = r.u32_max = v & U32
        return
    top_max = ((r.s32_max & U32) >> bits) << bits
    top_min = ((r.s32_min & U32) >> bits) << bits
    if top_max == top_min:
        a, b = _sext(r.s32_max, bits), _sext(r.s32_min, bits)
        hi, lo = max(a, b), min(a, b)
        if (lo >= 0) == (hi >= 0):
            r.s32_min = lo
            r.s32_max = hi
            r.u32_min = lo & U32
            r.u32_max = hi & U32
            r.var_off = tn.subreg(tn.range_(lo & U64, hi & U64))
            return
    lo, hi = (S8_MIN, S8_MAX) if size == 1 else (S16_MIN, S16_MAX)
    r.s32_min = lo
    r.s32_max = hi
    r.u32_min = 0
    r.u32_max = U32
    r.var_off = tn.subreg(tn.UNKNOWN)


# --- ALU ---------------------------------------------------------------------------------

def _add32(d: Reg, s: Reg) -> None:
    lo, hi = d.s32_min + s.s32_min, d.s32_max + s.s32_max
    if lo < S32_MIN or lo > S32_MAX or hi < S32_MIN or hi > S32_MAX:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = lo, hi
    umin, umax = d.u32_min + s.u32_min, d.u32_max + s.u32_max
    min_over, max_over = umin > U32, umax > U32
    if not min_over and max_over:
        d.u32_min, d.u32_max = 0, U32
    else:
        d.u32_min, d.u32_max = umin & U32, umax & U32


def _add64(d: Reg, s: Reg) -> None:
    lo, hi = d.smin + s.smin, d.smax + s.smax
    if lo < S64_MIN or lo > S64_MAX or hi < S64_MIN or hi > S64_MAX:
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = lo, hi
    umin, umax = d.umin + s.umin, d.umax + s.umax
    min_over, max_over = umin > U64, umax > U64
    if not min_over and max_over:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin & U64, umax & U64


def add_bounds(d: Reg, s: Reg) -> None:
    """``d += s`` on the ranges and the tnum (both widths)."""
    _add32(d, s)
    _add64(d, s)
    d.var_off = tn.add(d.var_off, s.var_off)


def _sub32(d: Reg, s: Reg) -> None:
    lo, hi = d.s32_min - s.s32_max, d.s32_max - s.s32_min
    if lo < S32_MIN or lo > S32_MAX or hi < S32_MIN or hi > S32_MAX:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = lo, hi
    umin, umax = d.u32_min - s.u32_max, d.u32_max - s.u32_min
    if umin < 0 and not umax < 0:
        d.u32_min, d.u32_max = 0, U32
    else:
        d.u32_min, d.u32_max = umin & U32, umax & U32


def _sub64(d: Reg, s: Reg) -> None:
    lo, hi = d.smin - s.smax, d.smax - s.smin
    if lo < S64_MIN or lo > S64_MAX or hi < S64_MIN or hi > S64_MAX:
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = lo, hi
    umin, umax = d.umin - s.umax, d.umax - s.umin
    if umin < 0 and not umax < 0:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin & U64, umax & U64


def _mul32(d: Reg, s: Reg) -> None:
    umax, umin = d.u32_max * s.u32_max, d.u32_min * s.u32_min
    if umax > U32 or umin > U32:
        d.u32_min, d.u32_max = 0, U32
    else:
        d.u32_min, d.u32_max = umin, umax
    prods = (d.s32_min * s.s32_min, d.s32_min * s.s32_max, d.s32_max * s.s32_min,
             d.s32_max * s.s32_max)
    if any(p < S32_MIN or p > S32_MAX for p in prods):
        d.s32_min, d.s32_max = S32_MIN, S32_MAX
    else:
        d.s32_min, d.s32_max = min(prods), max(prods)


def _mul64(d: Reg, s: Reg) -> None:
    umax, umin = d.umax * s.umax, d.umin * s.umin
    if umax > U64 or umin > U64:
        d.umin, d.umax = 0, U64
    else:
        d.umin, d.umax = umin, umax
    prods = (d.smin * s.smin, d.smin * s.smax, d.smax * s.smin, d.smax * s.smax)
    if any(p < S64_MIN or p > S64_MAX for p in prods):
        d.smin, d.smax = S64_MIN, S64_MAX
    else:
        d.smin, d.smax = min(prods), max(prods)


def _signed_from_unsigned32(d: Reg) -> None:
    if s32(d.u32_min) <= s32(d.u32_max):
        d.s32_min, d.s32_max = s32(d.u32_min), s32(d.u32_max)
    else:
        d.s32_min, d.s32_max = S32_MIN, S32_MAX


def _signed_from_unsigned64(d: Reg) -> None:
    if s64(d.umin) <= s64(d.umax):
        d.smin, d.smax = s64(d.umin), s64(d.umax)
    else:
        d.smin, d.smax = S64_MIN, S64_MAX


def _and32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var_off)
    if tn.subreg_is_const(s.var_off) and tn.subreg_is_const(d.var_off):
        set_known32(d, v32[0])
        return
    d.u32_min = v32[0]
    d.u32_max = min(d.u32_max, s.u32_max)
    _signed_from_unsigned32(d)


def _and64(d: Reg, s: Reg) -> None:
    if s.var_off[1] == 0 and d.var_off[1] == 0:
        set_known(d, d.var_off[0])
        return
    d.umin = d.var_off[0]
    d.umax = min(d.umax, s.umax)
    _signed_from_unsigned64(d)
    update_bounds(d)


def _or32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var_off)
    if tn.subreg_is_const(s.var_off) and tn.subreg_is_const(d.var_off):
        set_known32(d, v32[0])
        return
    d.u32_min = max(d.u32_min, s.u32_min)
    d.u32_max = v32[0] | v32[1]
    _signed_from_unsigned32(d)


def _or64(d: Reg, s: Reg) -> None:
    if s.var_off[1] == 0 and d.var_off[1] == 0:
        set_known(d, d.var_off[0])
        return
    d.umin = max(d.umin, s.umin)
    d.umax = d.var_off[0] | d.var_off[1]
    _signed_from_unsigned64(d)
    update_bounds(d)


def _xor32(d: Reg, s: Reg) -> None:
    v32 = tn.subreg(d.var_off)
    if tn.subreg_is_const(s.var_off) and tn.subreg_is_const(d.var_off):
        set_known32(d, v32[0])
        return
    d.u32_min = v32[0]
    d.u32_max = v32[0] | v32[1]
    _signed_from_unsigned32(d)


def _xor64(d: Reg, s: Reg) -> None:
    if s.var_off[1] == 0 and d.var_off[1] == 0:
        set_known(d, d.var_off[0])
        return
    d.umin = d.var_off[0]
    d.umax = d.var_off[0] | d.var_off[1]
    _signed_from_unsigned64(d)
    update_bounds(d)


def _lsh32_bounds(d: Reg, umin_val: int, umax_val: int) -> None:
    d.s32_min, d.s32_max = S32_MIN, S32_MAX
    if umax_val > 31 or d.u32_max > 1 << (31 - umax_val):
        d.u32_min, d.u32_max = 0, U32
    else:
        d.u32_min = (d.u32_min << umin_val) & U32
        d.u32_max = (d.u32_max << umax_val) & U32


def _lsh64_bounds(d: Reg, umin_val: int, umax_val: int) -> None:
    if umin_val == 32 and umax_val == 32 and d.s32_max >= 0:
        d.smax = d.s32_max << 32
    else:
        d.smax = S64_MAX
    if umin_val == 32 and umax_val == 32 and d.s32_min >= 0:
        d.smin = d.s32_min << 32
    else:
        d.smin = S64_MIN
    if umax_val > 63 or d.umax > 1 << (63 - umax_val):
        d.umin, d.umax = 0, U64
    else:
        d.umin = (d.umin << umin_val) & U64
        d.umax = (d.umax << umax_val) & U64


def _lsh32(d: Reg, s: Reg) -> None:
    low = tn.subreg(d.var_off)
    _lsh32_bounds(d, s.u32_min, s.u32_max)
    d.var_off = tn.subreg(tn.lshift(low, s.u32_min))
    set_unbounded64(d)
    update_bounds32(d)


def _lsh64(d: Reg, s: Reg) -> None:
    _lsh64_bounds(d, s.umin, s.umax)
    _lsh32_bounds(d, s.umin, s.umax)
    d.var_off = tn.lshift(d.var_off, s.umin)
    update_bounds(d)


def _rsh32(d: Reg, s: Reg) -> None:
    low = tn.subreg(d.var_off)
    d.s32_min, d.s32_max = S32_MIN, S32_MAX
    d.var_off = tn.rshift(low, s.u32_min)
    d.u32_min >>= s.u32_max
    d.u32_max >>= s.u32_min
    set_unbounded64(d)
    update_bounds32(d)


def _rsh64(d: Reg, s: Reg) -> None:
    d.smin, d.smax = S64_MIN, S64_MAX
    d.var_off = tn.rshift(d.var_off, s.umin)
    d.umin >>= s.umax
    d.umax >>= s.umin
    set_unbounded32(d)
    update_bounds(d)


def _arsh32(d: Reg, s: Reg) -> None:
    shift = s.u32_min
    d.s32_min >>= shift
    d.s32_max >>= shift
    d.var_off = tn.arshift(tn.subreg(d.var_off), shift, 32)
    d.u32_min, d.u32_max = 0, U32
    set_unbounded64(d)
    update_bounds32(d)


def _arsh64(d: Reg, s: Reg) -> None:
    shift = s.umin
    d.smin >>= shift
    d.smax >>= shift
    d.var_off = tn.arshift(d.var_off, shift, 64)
    d.umin, d.umax = 0, U64
    set_unbounded32(d)
    update_bounds(d)


def safe_to_compute(op: int, s: Reg, alu32: bool) -> bool:
    """Whether the result's range can be computed (else it is unknown)."""
    if op in (BPF_ADD, BPF_SUB, BPF_NEG, BPF_AND, BPF_XOR, BPF_OR, BPF_MUL):
        return True
    if op in (BPF_LSH, BPF_RSH, BPF_ARSH):
        if alu32:
            const = (s.var_off[1] & U32) == 0 and s.s32_min == s.s32_max \
                and s.u32_min == s.u32_max
        else:
            const = s.var_off[1] == 0 and s.smin == s.smax and s.umin == s.umax
        return const and s.umax < (32 if alu32 else 64)
    return False


def _const_result(a: int, b: int, op: int, alu32: bool) -> int | None:
    """``a <op> b`` for known operands (both already cut to the width), or
    None for an operation the range tracking does not compute."""
    bits = 32 if alu32 else 64
    mask = U32 if alu32 else U64
    if op == BPF_ADD:
        return (a + b) & mask
    if op == BPF_SUB:
        return (a - b) & mask
    if op == BPF_MUL:
        return (a * b) & mask
    if op == BPF_AND:
        return a & b
    if op == BPF_OR:
        return a | b
    if op == BPF_XOR:
        return a ^ b
    if op == BPF_NEG:
        return -a & mask
    if op == BPF_LSH and b < bits:
        return (a << b) & mask
    if op == BPF_RSH and b < bits:
        return a >> b
    if op == BPF_ARSH and b < bits:
        signed = a - (1 << bits) if a >> (bits - 1) else a
        return (signed >> b) & mask
    return None


def alu(d: Reg, s: Reg, op: int, alu32: bool) -> None:
    """``d = d <op> s`` for scalars (``d`` fresh; ``s`` not changed).
    Operations whose result cannot be bounded make ``d`` unknown."""
    if not safe_to_compute(op, s, alu32):
        # before the known-operands shortcut: the kernel makes a 32-bit
        # shift unknown when the 64-bit amount is 32 or more, even if its
        # low half (the amount used) is small, as for w0 of 0x100000000
        _unknown_in_place(d)
        return
    if d.var_off[1] == 0 and s.var_off[1] == 0:
        # known operands give a known result: what the range propagation
        # below computes for them, without the work
        if alu32:
            r = _const_result(d.var_off[0] & U32, s.var_off[0] & U32, op, True)
        else:
            r = _const_result(d.var_off[0], s.var_off[0], op, False)
        if r is not None:
            set_known(d, r)
            return
    if op == BPF_ADD:
        _add32(d, s)
        _add64(d, s)
        d.var_off = tn.add(d.var_off, s.var_off)
    elif op == BPF_SUB:
        _sub32(d, s)
        _sub64(d, s)
        d.var_off = tn.sub(d.var_off, s.var_off)
    elif op == BPF_NEG:
        old = d.copy()
        set_known(d, 0)
        _sub32(d, old)
        _sub64(d, old)
        d.var_off = tn.neg(old.var_off)
    elif op == BPF_MUL:
        d.var_off = tn.mul(d.var_off, s.var_off)
        _mul32(d, s)
        _mul64(d, s)
    elif op == BPF_AND:
        d.var_off = tn.and_(d.var_off, s.var_off)
        _and32(d, s)
        _and64(d, s)
    elif op == BPF_OR:
        d.var_off = tn.or_(d.var_off, s.var_off)
        _or32(d, s)
        _or64(d, s)
    elif op == BPF_XOR:
        d.var_off = tn.xor(d.var_off, s.var_off)
        _xor32(d, s)
        _xor64(d, s)
    elif op == BPF_LSH:
        (_lsh32 if alu32 else _lsh64)(d, s)
    elif op == BPF_RSH:
        (_rsh32 if alu32 else _rsh64)(d, s)
    elif op == BPF_ARSH:
        (_arsh32 if alu32 else _arsh64)(d, s)
    if alu32:
        zext_32_to_64(d)
    sync(d)


def byte_swap(d: Reg, bits: int, swap: bool) -> None:
    """``le``/``be``/``bswap`` of ``bits`` on a scalar (``d`` fresh):
    swapping scrambles the ranges, so they are derived again from the
    swapped tnum; 16- and 32-bit forms also cut the value to that width."""
    if swap:
        d.var_off = tn.bswap(d.var_off, bits)
        set_unbounded(d)
    if bits in (16, 32):
        coerce_to_size(d, bits // 8)
    else:
        sync(d)


def _unknown_in_place(d: Reg) -> None:
    d.type = SCALAR_VALUE
    d.var_off = tn.UNKNOWN
    set_unbounded(d)
    d.id = 0
    d.ref_obj_id = 0
    d.off = 0


# --- comparisons --------------------------------------------------------------------------

FLIP = {BPF_JEQ: BPF_JEQ, BPF_JNE: BPF_JNE, BPF_JSET: BPF_JSET, BPF_JGE: BPF_JLE,
        BPF_JGT: BPF_JLT, BPF_JLE: BPF_JGE, BPF_JLT: BPF_JGT, BPF_JSGE: BPF_JSLE,
        BPF_JSGT: BPF_JSLT, BPF_JSLE: BPF_JSGE, BPF_JSLT: BPF_JSGT}
"""``a <op> b`` as ``b <FLIP[op]> a``."""

REVERSE = {BPF_JEQ: BPF_JNE, BPF_JNE: BPF_JEQ, BPF_JSET: BPF_JSET_NOT,
           BPF_JSET_NOT: BPF_JSET, BPF_JGE: BPF_JLT, BPF_JGT: BPF_JLE, BPF_JLE: BPF_JGT,
           BPF_JLT: BPF_JGE, BPF_JSGE: BPF_JSLT, BPF_JSGT: BPF_JSLE, BPF_JSLE: BPF_JSGT,
           BPF_JSLT: BPF_JSGE}
"""The condition of the false side of a jump."""


def is_const(r: Reg, w32: bool) -> bool:
    return r.type == SCALAR_VALUE and not (r.var_off[1] & (U32 if w32 else U64))


def const_value(r: Reg, w32: bool) -> int:
    return r.var_off[0] & U32 if w32 else r.var_off[0]


def scalar_branch_taken(r1: Reg, r2: Reg, op: int, w32: bool) -> int:
    """1 if ``r1 <op> r2`` always holds, 0 if never, -1 if it depends."""
    if w32:
        t1, t2 = tn.subreg(r1.var_off), tn.subreg(r2.var_off)
        umin1, umax1, smin1, smax1 = r1.u32_min, r1.u32_max, r1.s32_min, r1.s32_max
        umin2, umax2, smin2, smax2 = r2.u32_min, r2.u32_max, r2.s32_min, r2.s32_max
    else:
        t1, t2 = r1.var_off, r2.var_off
        umin1, umax1, smin1, smax1 = r1.umin, r1.umax, r1.smin, r1.smax
        umin2, umax2, smin2, smax2 = r2.umin, r2.umax, r2.smin, r2.smax
    if op in (BPF_JEQ, BPF_JNE):
        eq = op == BPF_JEQ
        if t1[1] == 0 and t2[1] == 0:
            return int((t1[0] == t2[0]) == eq)
        if not tn.overlap(t1, t2):       # a bit known in both differs
            return int(not eq)
        if umin1 > umax2 or umax1 < umin2 or smin1 > smax2 or smax1 < smin2:
            return int(not eq)
        if not w32 and (r1.u32_min > r2.u32_max or r1.u32_max < r2.u32_min
                or r1.s32_min > r2.s32_max or r1.s32_max < r2.s32_min):
            return int(not eq)
        return -1
    if op == BPF_JSET:
        if not is_const(r2, w32):
            r1, r2 = r2, r1
            t1, t2 = t2, t1
        if not is_const(r2, w32):
            return -1
        if (~t1[1] & t1[0]) & t2[0]:
            return 1
        if not ((t1[1] | t1[0]) & t2[0]):
            return 0
        return -1
    if op == BPF_JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if op == BPF_JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if op == BPF_JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if op == BPF_JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if op == BPF_JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if op == BPF_JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if op == BPF_JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if op == BPF_JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


def refine(r1: Reg, r2: Reg, op: int, w32: bool) -> None:
    """Narrow ``r1`` and ``r2`` (both fresh scalars) to the values for
    which ``r1 <op> r2`` holds."""
    if op in (BPF_JGE, BPF_JGT, BPF_JSGE, BPF_JSGT):
        op = FLIP[op]
        r1, r2 = r2, r1
    if op == BPF_JEQ:
        if w32:
            r1.u32_min = max(r1.u32_min, r2.u32_min)
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r1.s32_min = max(r1.s32_min, r2.s32_min)
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.u32_min, r2.u32_max = r1.u32_min, r1.u32_max
            r2.s32_min, r2.s32_max = r1.s32_min, r1.s32_max
            t = tn.intersect(tn.subreg(r1.var_off), tn.subreg(r2.var_off))
            r1.var_off = tn.with_subreg(r1.var_off, t)
            r2.var_off = tn.with_subreg(r2.var_off, t)
        else:
            r1.umin = max(r1.umin, r2.umin)
            r1.umax = min(r1.umax, r2.umax)
            r1.smin = max(r1.smin, r2.smin)
            r1.smax = min(r1.smax, r2.smax)
            r2.umin, r2.umax, r2.smin, r2.smax = r1.umin, r1.umax, r1.smin, r1.smax
            r1.var_off = tn.intersect(r1.var_off, r2.var_off)
            r2.var_off = r1.var_off
    elif op == BPF_JNE:
        if not is_const(r2, w32):
            r1, r2 = r2, r1
        if not is_const(r2, w32):
            return
        val = const_value(r2, w32)
        if w32:
            if r1.u32_min == val & U32:
                r1.u32_min += 1
            if r1.u32_max == val & U32:
                r1.u32_max -= 1
            if r1.s32_min == s32(val):
                r1.s32_min += 1
            if r1.s32_max == s32(val):
                r1.s32_max -= 1
        else:
            if r1.umin == val:
                r1.umin += 1
            if r1.umax == val:
                r1.umax -= 1
            if r1.smin == s64(val):
                r1.smin += 1
            if r1.smax == s64(val):
                r1.smax -= 1
    elif op == BPF_JSET:
        if not is_const(r2, w32):
            r1, r2 = r2, r1
        if not is_const(r2, w32):
            return
        val = const_value(r2, w32)
        if not val or val & (val - 1):
            return
        if w32:
            t = tn.or_(tn.subreg(r1.var_off), tn.const(val))
            r1.var_off = tn.with_subreg(r1.var_off, t)
        else:
            r1.var_off = tn.or_(r1.var_off, tn.const(val))
    elif op == BPF_JSET_NOT:
        if not is_const(r2, w32):
            r1, r2 = r2, r1
        if not is_const(r2, w32):
            return
        val = const_value(r2, w32)
        set_unbounded(r1)
        if w32:
            t = tn.and_(tn.subreg(r1.var_off), tn.const(~val & U64))
            r1.var_off = tn.with_subreg(r1.var_off, t)
        else:
            r1.var_off = tn.and_(r1.var_off, tn.const(~val & U64))
    elif op == BPF_JLE:
        if w32:
            r1.u32_max = min(r1.u32_max, r2.u32_max)
            r2.u32_min = max(r1.u32_min, r2.u32_min)
        else:
            r1.umax = min(r1.umax, r2.umax)
            r2.umin = max(r1.umin, r2.umin)
    elif op == BPF_JLT:
        if w32:
            r1.u32_max = min(r1.u32_max, (r2.u32_max - 1) & U32)
            r2.u32_min = max((r1.u32_min + 1) & U32, r2.u32_min)
        else:
            r1.umax = min(r1.umax, (r2.umax - 1) & U64)
            r2.umin = max((r1.umin + 1) & U64, r2.umin)
    elif op == BPF_JSLE:
        if w32:
            r1.s32_max = min(r1.s32_max, r2.s32_max)
            r2.s32_min = max(r1.s32_min, r2.s32_min)
        else:
            r1.smax = min(r1.smax, r2.smax)
            r2.smin = max(r1.smin, r2.smin)
    elif op == BPF_JSLT:
        if w32:
            r1.s32_max = min(r1.s32_max, s32(r2.s32_max - 1))
            r2.s32_min = max(s32(r1.s32_min + 1), r2.s32_min)
        else:
            r1.smax = min(r1.smax, s64(r2.smax - 1))
            r2.smin = max(s64(r1.smin + 1), r2.smin)
