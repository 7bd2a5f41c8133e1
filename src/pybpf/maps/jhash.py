"""The kernel's ``jhash``/``jhash2`` (Bob Jenkins' lookup3), bit for bit.

Stack-trace map ids, bloom filter bits and hash-map buckets come from it, so
computing it the same way lets stack ids and bloom answers match the kernel's
exactly (with ``BPF_F_ZERO_SEED`` where a seed is random).
"""

from __future__ import annotations

import struct

_M32 = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _M32
    a ^= _rol(c, 4)
    c = (c + b) & _M32
    b = (b - a) & _M32
    b ^= _rol(a, 6)
    a = (a + c) & _M32
    c = (c - b) & _M32
    c ^= _rol(b, 8)
    b = (b + a) & _M32
    a = (a - c) & _M32
    a ^= _rol(c, 16)
    c = (c + b) & _M32
    b = (b - a) & _M32
    b ^= _rol(a, 19)
    a = (a + c) & _M32
    c = (c - b) & _M32
    c ^= _rol(b, 4)
    b = (b + a) & _M32
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rol(b, 14)) & _M32
    a ^= c
    a = (a - _rol(c, 11)) & _M32
    b ^= a
    b = (b - _rol(a, 25)) & _M32
    c ^= b
    c = (c - _rol(b, 16)) & _M32
    a ^= c
    a = (a - _rol(c, 4)) & _M32
    b ^= a
    b = (b - _rol(a, 14)) & _M32
    c ^= b
    c = (c - _rol(b, 24)) & _M32
    return c


def jhash(data: bytes, initval: int = 0) -> int:
    """``jhash(key, len, initval)`` of the kernel (little-endian host).

    For lengths that are a multiple of 4 this equals ``jhash2`` over the
    little-endian 32-bit words, as in the kernel.
    """
    length = len(data)
    a = b = c = (JHASH_INITVAL + length + initval) & _M32
    pos = 0
    while length > 12:
        wa, wb, wc = struct.unpack_from("<III", data, pos)
        a = (a + wa) & _M32
        b = (b + wb) & _M32
        c = (c + wc) & _M32
        a, b, c = _mix(a, b, c)
        length -= 12
        pos += 12
    if length == 0:
        return c
    tail = data[pos:] + bytes(12 - length)
    wa, wb, wc = struct.unpack("<III", tail)
    a = (a + wa) & _M32
    b = (b + wb) & _M32
    c = (c + wc) & _M32
    return _final(a, b, c)


def jhash2(words: list[int] | tuple[int, ...], initval: int = 0) -> int:
    """``jhash2(k, length, initval)``: the hash of 32-bit words."""
    return jhash(struct.pack(f"<{len(words)}I", *(w & _M32 for w in words)), initval)
