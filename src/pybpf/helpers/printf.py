"""The printf dialect of bpf_trace_printk, bpf_snprintf and friends.

The kernel checks a format (``bpf_bprintf_prepare``) before it formats
anything, and refuses it whole (-EINVAL) for a byte that is neither
printable ASCII nor a space character, a ``%`` at the end, more
conversions than arguments, or a conversion outside this grammar:

    %%                          a percent sign (nothing may come between)
    %[0+- ]*[1-9][0-9]*?  X     flags, then a width, then one of:
        d i u x X, ld li lu lx lX, lld lli llu llx llX    numbers (32 or 64 bits)
        c                       a character
        s                       a string (then the end, a space or punctuation)
        p followed by nothing, a space, punctuation, K, x, s, S or B: a pointer
        pks pus                 a string, kernel or user (then as after s)
        pi4 pI4 pi6 pI6         an IPv4 / IPv6 address read through the pointer

No ``#``, precision, ``h``, ``z`` or ``o``.  Output is the kernel's, measured
against it conversion by conversion (tests/helpers/test_printf_kernel.py):
``+`` and space sign only signed numbers, ``0`` pads numbers and pointers
only (and not with ``-``), a pointer is 16 zero-padded hex digits unless a
width is given, ``%pks``, ``%pus``, ``%pB`` and IP addresses take no width, IP
addresses print in memory order whatever letter follows, all the
alphanumerics after ``%p`` are swallowed as its extension, a string that
cannot be read prints empty and an address that cannot be read as zeros.
Departures: where the kernel prints a 32-bit hash of the pointer for ``%p``
and ``%pK``, the VM prints the pointer's low 32 bits; symbols (``%ps``)
print as their hex address.

Output is bounded as the kernel bounds it: :func:`format_bpf` materializes
at most ``limit`` bytes (a trace_printk line holds 1023, an snprintf buffer
its size) and reports the length the whole output would have had, which is
what the helpers return.  Field widths are clamped to ``FIELD_WIDTH_MAX``
as the kernel's vsprintf clamps them, so ``%1000000000d`` costs nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..errors import HelperError
from ..spec.defines import FIELD_WIDTH_MAX

#: Bytes a format may hold: all but the control characters other than the
#: spaces (the kernel's answer, byte by byte: 0x80-0xff pass).
ALLOWED = frozenset(range(ord(" "), ord("~") + 1)) | frozenset(b"\t\n\v\f\r") | \
    frozenset(range(128, 256))
FLAGS = b"0+- "
NUMBERS = b"diuxX"
#: What may follow ``%p`` for a plain pointer (besides the end, a space or punctuation).
POINTER_KINDS = b"KxsSB"
PUNCTUATION = frozenset(b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class FormatError(HelperError):
    """A format string the kernel's printf helpers would refuse."""


class Formatted(NamedTuple):
    """What :func:`format_bpf` produced: the first ``limit`` bytes of the
    output, and the length of the whole output."""

    text: bytes
    length: int


class _Spec(NamedTuple):
    """One conversion: its flags, width (None: none given) and kind
    (``d``, ``u``, ``x``, ``X``, ``c``, ``s``, ``p``), the number of bits
    of a number, and a pointer's extension (``x``, ``I4h``, ``ks``...)."""

    flags: bytes
    width: int | None
    kind: bytes
    bits: int
    extension: bytes


def format_bpf(fmt: bytes, args: Sequence[int], read_string: Callable[[int], bytes],
               read_bytes: Callable[[int, int], bytes], *, max_args: int,
               limit: int = 1 << 20) -> Formatted:
    """Format ``fmt`` (bytes, up to its NUL) with 64-bit ``args``, keeping
    at most ``limit`` bytes of the output; :class:`FormatError` for a
    format the kernel refuses."""
    nul = fmt.find(b"\0")
    if nul >= 0:
        fmt = fmt[:nul]
    for i, byte in enumerate(fmt):
        if byte not in ALLOWED:
            raise FormatError(f"format byte {byte:#04x} at {i} is neither printable ASCII "
                              f"nor a space")
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
        if fmt[i + 1:i + 2] == b"%":
            emit(b"%")
            pos = i + 2
            continue
        if used >= max_args:
            raise FormatError(f"format uses more than {max_args} arguments")
        spec, pos = _parse(fmt, i)
        value = args[used] if used < len(args) else 0
        used += 1
        emit(*_convert(spec, value, read_string, read_bytes, max(limit - len(out), 0)))
    return Formatted(bytes(out), length)


def _parse(fmt: bytes, start: int) -> tuple[_Spec, int]:
    """The conversion at ``fmt[start]`` (a ``%``) and where the text after it starts."""
    j = start + 1
    while fmt[j:j + 1] and fmt[j] in FLAGS:
        j += 1
    flags = fmt[start + 1:j]
    digits = j
    if fmt[j:j + 1] and fmt[j] in b"123456789":
        while fmt[j:j + 1].isdigit():
            j += 1
    width = min(int(fmt[digits:j]), FIELD_WIDTH_MAX) if j > digits else None
    kind = fmt[j:j + 1]
    if kind == b"p":
        return _parse_pointer(fmt, j, flags, width)
    if kind == b"s":
        _string_ends(fmt, j + 1)
    if kind in (b"c", b"s"):
        return _Spec(flags, width, kind, 8, b""), j + 1
    bits = 32
    if kind == b"l":
        bits = 64
        j += 1
        if fmt[j:j + 1] == b"l":
            j += 1
        kind = fmt[j:j + 1]
    if not kind or kind not in NUMBERS:
        raise FormatError(f"invalid format specifier at {fmt[start:j + 1]!r}")
    kind = b"d" if kind == b"i" else kind
    return _Spec(flags, width, kind, bits, b""), j + 1


def _parse_pointer(fmt: bytes, p: int, flags: bytes, width: int | None) -> tuple[_Spec, int]:
    after = fmt[p + 1:p + 2]
    if after in (b"k", b"u") and fmt[p + 2:p + 3] == b"s":
        extension = fmt[p + 1:p + 3]
        _string_ends(fmt, p + 3)
    elif not after or after.isspace() or after[0] in PUNCTUATION or after in POINTER_KINDS:
        extension = after if after in POINTER_KINDS else b""
    elif after in (b"i", b"I") and fmt[p + 2:p + 3] in (b"4", b"6"):
        extension = fmt[p + 1:p + 3]
    else:
        raise FormatError(f"invalid pointer format at {fmt[p - 1:p + 3]!r}")
    end = p + 1
    while fmt[end:end + 1].isalnum():      # vsprintf takes them all as the extension
        end += 1
    return _Spec(flags, width, b"p", 64, extension), end


def _string_ends(fmt: bytes, at: int) -> None:
    """A string conversion must be followed by the end, a space or punctuation."""
    after = fmt[at:at + 1]
    if after and not after.isspace() and after[0] not in PUNCTUATION:
        raise FormatError(f"a string conversion is followed by {after!r}")


def _convert(spec: _Spec, value: int, read_string: Callable[[int], bytes],
             read_bytes: Callable[[int, int], bytes], room: int) -> tuple[bytes, int]:
    """The conversion's output (at least its first ``room`` bytes) and its full length."""
    left = b"-" in spec.flags
    width = spec.width or 0
    if spec.kind == b"c":
        return _field(bytes([value & 0xFF]), width, left, room)
    if spec.kind == b"s":
        return _field(read_string(value), width, left, room)
    if spec.kind == b"p":
        return _pointer(spec, value, read_string, read_bytes, room)
    value &= (1 << spec.bits) - 1
    sign = b""
    if spec.kind == b"d":
        if value >> (spec.bits - 1):
            value -= 1 << spec.bits
        sign = b"-" if value < 0 else b"+" if b"+" in spec.flags else \
            b" " if b" " in spec.flags else b""
        digits = str(abs(value)).encode()
    else:
        digits = {b"u": b"%d", b"x": b"%x", b"X": b"%X"}[spec.kind] % value
    return _field(digits, width, left, room, sign=sign, zeros=b"0" in spec.flags)


def _pointer(spec: _Spec, value: int, read_string: Callable[[int], bytes],
             read_bytes: Callable[[int, int], bytes], room: int) -> tuple[bytes, int]:
    ext = spec.extension
    if ext in (b"ks", b"us"):               # strings and addresses take no width
        piece = read_string(value)
    elif ext[:1] in (b"i", b"I"):
        piece = _address(ext, read_bytes(value, 4 if ext[1:2] == b"4" else 16))
    elif ext == b"B":
        piece = b"0x%x" % value
    elif ext in (b"s", b"S"):               # symbols: the VM has none, so the number
        return _field(b"0x%x" % value, spec.width or 0, b"-" in spec.flags, room)
    else:       # %px the value, %p and %pK a 32-bit "hash": here the value's low half
        digits = b"%x" % value if ext == b"x" else b"%08x" % (value & 0xFFFFFFFF)
        given = spec.width is not None
        return _field(digits, spec.width if given else 16, b"-" in spec.flags, room,
                      zeros=b"0" in spec.flags if given else True)
    return piece, len(piece)


def _address(ext: bytes, data: bytes) -> bytes:
    """An IP address as ``%pI4``, ``%pi4``, ``%pI6`` or ``%pi6`` prints it
    (bytes in memory order, whatever letter follows: the kernel's answer)."""
    if ext[1:2] == b"4":
        form = "{:03d}" if ext[:1] == b"i" else "{:d}"
        return ".".join(form.format(byte) for byte in data).encode()
    if ext[:1] == b"i":
        return data.hex().encode()
    return ipaddress.IPv6Address(data).exploded.encode()


def _field(body: bytes, width: int, left: bool, room: int, *, sign: bytes = b"",
           zeros: bool = False) -> tuple[bytes, int]:
    """``sign`` and ``body`` padded to ``width`` (zeros between them with
    ``zeros`` unless ``left``, else spaces): at most ``room`` bytes of it
    beyond the body are made, and the full length."""
    pad = max(width - len(sign) - len(body), 0)
    shown = b" " * min(pad, room) if left or not zeros else b"0" * min(pad, room)
    if left:
        piece = sign + body + shown
    elif zeros:
        piece = sign + shown + body
    else:
        piece = shown + sign + body
    return piece, len(sign) + len(body) + pad
