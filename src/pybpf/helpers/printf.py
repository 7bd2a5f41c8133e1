"""The printf dialect of bpf_trace_printk, bpf_snprintf and friends.

The kernel accepts a subset of printf: flags ``-+ #0``, a width, a
precision, the length modifiers ``h hh l ll z``, the conversions ``d i u x X
o c s %`` and pointer conversions ``p px pK pS pB`` plus IP addresses
(``pI4 pi4 pI6 pi6``).  ``%s`` and the IP forms read memory through a
``read`` callback; the numeric forms take 64-bit argument values.

Output is bounded as the kernel bounds it: :func:`format_bpf` materializes
at most ``limit`` bytes (a trace_printk line holds 1023, an snprintf buffer
its size) and reports the length the whole output would have had, which is
what the helpers return.  Field widths and precisions are clamped to
``FIELD_WIDTH_MAX`` as the kernel's vsprintf clamps them, so
``%1000000000d`` costs nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..errors import HelperError
from ..spec.defines import FIELD_WIDTH_MAX

_SPEC = re.compile(rb"%(?P<flags>[-+ #0]*)(?P<width>\d*)(?:\.(?P<prec>\d+))?"
                   rb"(?P<len>hh|h|ll|l|z)?(?P<conv>[diuxXocsp%])")
_POINTER_EXT = re.compile(rb"(?:[xKSsBb]|[Ii][46][hnbl]?)")
_NUMERIC = b"diuxXo"
_SLACK = 32     # digits, sign and prefix of a 64-bit number: always materialized

MAX_STRING = 4096


class FormatError(HelperError):
    """A format string the kernel's printf helpers would refuse."""


class Formatted(NamedTuple):
    """What :func:`format_bpf` produced: the first ``limit`` bytes of the
    output, and the length of the whole output."""

    text: bytes
    length: int


def format_bpf(fmt: bytes, args: Sequence[int], read_string: Callable[[int], bytes],
               read_bytes: Callable[[int, int], bytes], *, max_args: int,
               limit: int = 1 << 20) -> Formatted:
    """Format ``fmt`` (bytes, up to its NUL) with 64-bit ``args``, keeping
    at most ``limit`` bytes of the output."""
    nul = fmt.find(b"\0")
    if nul >= 0:
        fmt = fmt[:nul]
    out = bytearray()
    length = 0

    def emit(piece: bytes, size: int | None = None) -> None:
        nonlocal length
        room = limit - len(out)
        if room > 0:
            out.extend(piece[:room])
        length += len(piece) if size is None else size

    pos = 0
    used = 0
    while True:
        i = fmt.find(b"%", pos)
        if i < 0:
            emit(fmt[pos:])
            break
        emit(fmt[pos:i])
        m = _SPEC.match(fmt, i)
        if m is None:
            raise FormatError(f"invalid format specifier at {fmt[i:i + 6]!r}")
        pos = m.end()
        conv = m.group("conv")
        if conv == b"%":
            emit(b"%")
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
            emit(_pointer(kind, value, read_bytes))
            continue
        emit(*_number_or_string(m, conv, value, read_string, max(limit - len(out), 0)))
    return Formatted(bytes(out), length)


def _number_or_string(m: re.Match, conv: bytes, value: int,
                      read_string: Callable[[int], bytes], room: int) -> tuple[bytes, int]:
    """The conversion's output (at least its first ``room`` bytes, the whole
    of it when short) and its full length."""
    flags = m.group("flags").decode()
    width = min(int(m.group("width") or 0), FIELD_WIDTH_MAX)
    prec_text = m.group("prec")
    prec = None if prec_text is None else min(int(prec_text), FIELD_WIDTH_MAX)
    length = m.group("len") or b""
    bits = {b"hh": 8, b"h": 16, b"": 32, b"l": 64, b"ll": 64, b"z": 64}[length]
    value &= (1 << bits) - 1
    if conv in (b"d", b"i"):
        if value >> (bits - 1):
            value -= 1 << bits
        conv = b"d"
        arg: object = value
    elif conv in _NUMERIC:
        arg = value
    elif conv == b"c":
        arg = value & 0xFF
    else:  # conv == "s"
        arg = read_string(value)
    # Zeros a huge precision asks for beyond what can be shown are counted,
    # not made: the first ``room`` bytes are the same either way.
    hidden = 0
    if prec is not None and conv in _NUMERIC and prec > room + _SLACK:
        hidden = prec - (room + _SLACK)
        prec -= hidden
    precision = "" if prec is None else f".{prec}"
    body = (f"%{flags.replace('-', '').replace('0', '') if hidden else flags}"
            f"{precision}{conv.decode()}").encode() % arg
    full = len(body) + hidden
    if hidden:   # pad by hand: the hidden zeros sit inside the body
        pad = max(width - full, 0)
        left = "-" in flags
        piece = (body + b" " * min(pad, room)) if left else (b" " * min(pad, room) + body)
        return piece, max(width, full)
    # Without hidden zeros a width past what can be shown is cut to it: the
    # padding that would follow is counted, not made.
    shown = min(width, room + len(body))
    width_text = str(shown) if shown else ""
    piece = (f"%{flags}{width_text}{precision}{conv.decode()}").encode() % arg
    return piece, max(width, len(body))


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
