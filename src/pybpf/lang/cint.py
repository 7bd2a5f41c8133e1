"""C integers in CPython: the same program text runs with the same values.

``u32(x)`` in a program file converts as C converts; run by CPython it
returns a :class:`CInt`, an ``int`` that carries its C type and whose
operators follow C: operands converted by the usual arithmetic conversions
(:func:`pybpf.lang.backend.common_type`), results wrapped at the width,
comparisons signed or unsigned by type (their result an ``int`` 0 or 1), ``//`` and ``%`` truncating toward
zero, with BPF's answers where C has none (``x // 0 == 0``, ``x % 0 == x``,
shift counts modulo the width).  A plain Python ``int`` is a C literal:
``int`` (s32) when it fits, else ``long`` (s64), else ``unsigned long``.
"""

from __future__ import annotations

from typing import Any

from . import types as t


def literal_type(value: int) -> t.IntType:
    """The C type of an integer literal."""
    if -(1 << 31) <= value < (1 << 31):
        return t.S32
    if -(1 << 63) <= value < (1 << 63):
        return t.S64
    return t.U64


def promote(ctype: t.IntType) -> t.IntType:
    """C's integer promotion: narrower than ``int`` becomes ``int``."""
    return t.S32 if ctype.bits < 32 else t.int_type(ctype.bits, ctype.signed)


def common(a: t.IntType, b: t.IntType) -> t.IntType:
    """The usual arithmetic conversions."""
    a, b = promote(a), promote(b)
    if a.bits != b.bits:
        return a if a.bits > b.bits else b
    return t.int_type(a.bits, a.signed and b.signed)


def c_divide(x: int, y: int, ctype: t.IntType) -> int:
    """``x / y`` in ``ctype`` (truncating; ``/ 0`` is 0)."""
    x, y = ctype.wrap(x), ctype.wrap(y)
    if y == 0:
        return 0
    q = abs(x) // abs(y)
    return ctype.wrap(-q if (x < 0) != (y < 0) else q)


def c_remainder(x: int, y: int, ctype: t.IntType) -> int:
    """``x % y`` in ``ctype`` (sign of x; ``% 0`` is x)."""
    x, y = ctype.wrap(x), ctype.wrap(y)
    if y == 0:
        return x
    r = abs(x) % abs(y)
    return ctype.wrap(-r if x < 0 else r)


def _truth(value: bool) -> CInt:
    """A comparison's result as C gives it: an ``int`` 0 or 1."""
    return CInt(int(value), t.S32)


def _ctype(v: Any) -> t.IntType:
    if isinstance(v, CInt):
        return v.ctype
    if isinstance(v, bool):
        return t.S32
    return literal_type(int(v))


class CInt(int):
    """An integer of a C type (``ctype``); see the module docstring."""

    ctype: t.IntType

    def __new__(cls, value: int, ctype: t.IntType) -> CInt:
        obj = super().__new__(cls, ctype.wrap(int(value)))
        obj.ctype = ctype
        return obj

    def __repr__(self) -> str:
        return f"{self.ctype.name}({int(self)})"

    def _op(self, other: Any, fn: Any, swap: bool = False) -> CInt:
        if not isinstance(other, int):
            return NotImplemented
        ct = common(self.ctype, _ctype(other))
        a, b = ct.wrap(int(self)), ct.wrap(int(other))
        if swap:
            a, b = b, a
        return CInt(fn(a, b, ct), ct)

    def __add__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a + b)

    def __radd__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a + b, True)

    def __sub__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a - b)

    def __rsub__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a - b, True)

    def __mul__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a * b)

    def __rmul__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a * b, True)

    def __floordiv__(self, o: Any) -> CInt:
        return self._op(o, c_divide)

    def __rfloordiv__(self, o: Any) -> CInt:
        return self._op(o, c_divide, True)

    def __mod__(self, o: Any) -> CInt:
        return self._op(o, c_remainder)

    def __rmod__(self, o: Any) -> CInt:
        return self._op(o, c_remainder, True)

    def __and__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a & b)

    def __rand__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a & b, True)

    def __or__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a | b)

    def __ror__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a | b, True)

    def __xor__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a ^ b)

    def __rxor__(self, o: Any) -> CInt:
        return self._op(o, lambda a, b, c: a ^ b, True)

    def _shift(self, o: Any, left: bool, swap: bool = False) -> CInt:
        if not isinstance(o, int):
            return NotImplemented
        value, count = (o, self) if swap else (self, o)
        ct = promote(_ctype(value))
        n = int(count) & (ct.bits - 1)
        v = ct.wrap(int(value))
        if left:
            return CInt(v << n, ct)
        if not ct.signed:
            v &= (1 << ct.bits) - 1
        return CInt(v >> n, ct)

    def __lshift__(self, o: Any) -> CInt:
        return self._shift(o, True)

    def __rlshift__(self, o: Any) -> CInt:
        return self._shift(o, True, True)

    def __rshift__(self, o: Any) -> CInt:
        return self._shift(o, False)

    def __rrshift__(self, o: Any) -> CInt:
        return self._shift(o, False, True)

    def __neg__(self) -> CInt:
        ct = promote(self.ctype)
        return CInt(-int(self), ct)

    def __pos__(self) -> CInt:
        return CInt(int(self), promote(self.ctype))

    def __invert__(self) -> CInt:
        ct = promote(self.ctype)
        return CInt(~int(self), ct)

    def _cmp(self, o: Any) -> tuple[int, int] | None:
        if not isinstance(o, int):
            return None
        ct = common(self.ctype, _ctype(o))
        return ct.wrap(int(self)), ct.wrap(int(o))

    def __eq__(self, o: object) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] == p[1])

    def __ne__(self, o: object) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] != p[1])

    def __lt__(self, o: Any) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] < p[1])

    def __le__(self, o: Any) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] <= p[1])

    def __gt__(self, o: Any) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] > p[1])

    def __ge__(self, o: Any) -> CInt:  # type: ignore[override]
        p = self._cmp(o)
        return NotImplemented if p is None else _truth(p[0] >= p[1])

    __hash__ = int.__hash__


__all__ = ["CInt", "c_divide", "c_remainder", "common", "literal_type", "promote"]
