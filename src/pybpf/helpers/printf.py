"""The printf dialect of bpf_trace_printk, bpf_snprintf and friends.

The kernel accepts a subset of printf: flags ``-+ #0``, a width, a
precision, the length modifiers ``h hh l ll z``, the conversions ``d i u x X
o c s %`` and pointer conversions ``p px pK pS pB`` plus IP addresses
(``pI4 pi4 pI6 pi6``).  ``%s`` and the IP forms read memory through a
``read`` callback; the numeric forms take 64-bit argument values.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence

from ..errors import HelperError

_SPEC = re.compile(rb"%(?P<flags>[-+ #0]*)(?P<width>\d*)(?:\.(?P<prec>\d+))?"
                   rb"(?P<len>hh|h|ll|l|z)?(?P<conv>[diuxXocsp%])")
_POINTER_EXT = re.compile(rb"(?:[xKSsBb]|[Ii][46][hnbl]?)")

MAX_STRING = 4096


class FormatError(HelperError):
    """A format string the kernel's printf helpers would refuse."""


def format_bpf(fmt: bytes, args: Sequence[int], read_string: Callable[[int], bytes],
               read_bytes: Callable[[int, int], bytes], *, max_args: int) -> bytes:
    """Format ``fmt`` (bytes, up to its NUL) with 64-bit ``args``."""
    nul = fmt.find(b"\0")
    if nul >= 0:
        fmt = fmt[:nul]
    out = bytearray()
    pos = 0
    used = 0
    while True:
        i = fmt.find(b"%", pos)
        if i < 0:
            out += fmt[pos:]
            break
        out += fmt[pos:i]
        m = _SPEC.match(fmt, i)
        if m is None:
            raise FormatError(f"invalid format specifier at {fmt[i:i + 6]!r}")
        pos = m.end()
        conv = m.group("conv")
        if conv == b"%":
            out += b"%"
            continue
        if used >= max_args:
            raise FormatError(f"format uses more than {max_args} arguments")
        value = args[used] if used < len(args) else 0
        used += 1
        if conv == b"p":
            ext = _POINTER_EXT.match(fmt, pos)
            kind = b""
            if ext:
                kind = ext.group()
                pos = ext.end()
            out += _pointer(kind, value, read_bytes)
            continue
        out += _number_or_string(m, conv, value, read_string)
    return bytes(out)


def _number_or_string(m: re.Match, conv: bytes, value: int,
                      read_string: Callable[[int], bytes]) -> bytes:
    flags = m.group("flags").decode()
    width = m.group("width").decode()
    prec = m.group("prec")
    length = m.group("len") or b""
    bits = {b"hh": 8, b"h": 16, b"": 32, b"l": 64, b"ll": 64, b"z": 64}[length]
    value &= (1 << bits) - 1
    spec = "%" + flags + width + (("." + prec.decode()) if prec is not None else "")
    if conv in (b"d", b"i"):
        if value >> (bits - 1):
            value -= 1 << bits
        return (spec + "d").encode() % value
    if conv in (b"u", b"x", b"X", b"o"):
        return (spec + conv.decode()).encode() % value
    if conv == b"c":
        return (spec + "c").encode() % (value & 0xFF)
    text = read_string(value)  # conv == "s"
    return (spec + "s").encode() % text


def _pointer(kind: bytes, value: int, read_bytes: Callable[[int, int], bytes]) -> bytes:
    if kind[:1] in (b"I", b"i"):
        family = kind[1:2]
        data = read_bytes(value, 4 if family == b"4" else 16)
        address = ipaddress.ip_address(data)
        if family == b"6" and kind[:1] == b"I":
            return address.exploded.encode()
        if family == b"6":
            return data.hex().encode()
        if kind[:1] == b"i":
            return ".".join(f"{byte:03d}" for byte in data).encode()
        return str(address).encode()
    return f"0x{value:x}".encode()
