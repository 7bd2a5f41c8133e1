"""Text in and out that never raises ``UnicodeError``.

pybpf reads text it did not write (assembly files, names in BTF and ELF
symbol tables, trace pipe lines) and prints to terminals whose encoding it
does not choose (``LANG=C`` is ASCII).  These functions are what the command
line and the tools use so that neither side can end in a
``UnicodeDecodeError`` or ``UnicodeEncodeError`` traceback, and so that
control characters from a hostile object cannot drive the terminal::

    from pybpf.textio import decode_text, printable, safe_console

    safe_console()                      # once, at start-up
    text = decode_text(path.read_bytes())
    print(printable(name))
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(ord(" ")), ord("\x7f"), *range(ord("\x80"), ord("\xa0"))]
            if chr(c) not in "\n\t"}
"""C0 controls, DEL and C1 controls (some terminals take U+009B as ESC [)."""


def decode_text(data: bytes | bytearray | memoryview, encoding: str = "utf-8") -> str:
    """``data`` as text: bytes that are not valid ``encoding`` become U+FFFD
    (so an error message can point at them) instead of raising."""
    return bytes(data).decode(encoding, errors="replace")


def printable(text: str) -> str:
    """``text`` with control characters (other than newline and tab) written
    as ``\\xNN``, and lone surrogates (undecodable bytes carried in a path)
    as ``\\udcNN``: safe to show on a terminal."""
    text = text.translate(_CONTROL)
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def safe_stream(stream: TextIO, errors: str = "backslashreplace") -> TextIO:
    """Make ``stream`` write characters its encoding cannot hold as escapes
    (``\\xe9``) rather than raise; returns it.  Streams that cannot be
    reconfigured (a test's ``StringIO``) are returned as they are."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors=errors)
    return stream


def safe_console() -> None:
    """:func:`safe_stream` for ``sys.stdout`` and ``sys.stderr``: printing a
    name from an object or a path from the command line never raises
    ``UnicodeEncodeError``, whatever the terminal's encoding."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            safe_stream(stream)


def can_show(stream: TextIO, text: str) -> bool:
    """Whether ``stream``'s encoding can hold every character of ``text``
    (a terminal under ``LANG=C`` cannot show box-drawing characters); a
    stream that names no encoding (a test's ``StringIO``) holds anything."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


__all__ = ["can_show", "decode_text", "printable", "safe_console", "safe_stream"]
