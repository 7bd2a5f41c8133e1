"""Tokens of eBPF assembly text, shared by both syntaxes.

The lexer keeps each token's column so that assembly errors can point at the
offending text.  Numbers remember whether they were written in hex, because
the range rules differ (``0xffffffff`` is a valid 32-bit immediate,
``4294967295`` is not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from ..errors import AssemblerError

MAX_DECIMAL_DIGITS = 20
"""Significant digits of the longest decimal numeral any field takes (2**64 - 1)."""
MAX_HEX_DIGITS = 16
"""Significant digits of the longest hex numeral any field takes (64 bits)."""
MAX_REGISTER_DIGITS = 2
"""Significant digits of a register number (r0 to r10)."""
SHOWN_TOKEN_CHARS = 24
"""Longer tokens are shortened in error messages."""

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<reg>%?[rw](?:\d+)(?![A-Za-z0-9_.$]))
  | (?P<num>0[xX][0-9a-fA-F]+(?![A-Za-z0-9_.$])|\d+(?![A-Za-z0-9_.$]))
  | (?P<op>s>>=|s/=|s%=|s>=|s<=|s>|s<|<<=|>>=|==|!=|>=|<=|\+=|-=|\*=|/=|%=|\|=|&=|\^=|//)
  | (?P<ident>[A-Za-z_.$][A-Za-z0-9_.$]*)
  | (?P<punct>[=+\-*/()\[\],:#&|^<>%!;{}@])
""", re.VERBOSE)


class Token(NamedTuple):
    """One token: its kind (reg, num, op, ident, punct, end), text and 1-based column."""

    kind: str
    text: str
    col: int

    @property
    def value(self) -> int:
        """The integer of a ``num`` token."""
        if self.is_hex:
            return int(self.text[2:].lstrip("0") or "0", 16)
        return int(self.text.lstrip("0") or "0", 10)

    @property
    def is_hex(self) -> bool:
        """Whether a ``num`` token was written in hex."""
        return self.text[:2].lower() == "0x"

    @property
    def reg(self) -> int:
        """The register number of a ``reg`` token."""
        return int(self.text.lstrip("%")[1:].lstrip("0") or "0")


def tokenize(text: str, line: int, source: str | None = None) -> list[Token]:
    """Split one line (without its comment) into tokens, ending with an ``end`` token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise AssemblerError("unexpected character", line=line, column=pos + 1,
                                 token=text[pos], source=source)
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            tok = Token(kind, m.group(), pos + 1)
            if kind in ("num", "reg"):
                _check_numeral(tok, line, source)
            tokens.append(tok)
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def shown(text: str) -> str:
    """``text`` as an error message quotes it: shortened when long."""
    if len(text) <= SHOWN_TOKEN_CHARS:
        return text
    return f"{text[:SHOWN_TOKEN_CHARS - 3]}... ({len(text)} characters)"


def _check_numeral(tok: Token, line: int, source: str | None) -> None:
    """Refuse a number or register numeral longer than any field can hold,
    before anything converts it (a numeral of thousands of digits would cost
    quadratic time, and Python refuses to convert one over 4300 digits)."""
    if tok.kind == "reg":
        digits, limit, what = tok.text.lstrip("%")[1:], MAX_REGISTER_DIGITS, "register number"
    elif tok.is_hex:
        digits, limit, what = tok.text[2:], MAX_HEX_DIGITS, "hex number"
    else:
        digits, limit, what = tok.text, MAX_DECIMAL_DIGITS, "number"
    significant = len(digits.lstrip("0"))
    if significant > limit:
        detail = ("there are r0 to r10" if tok.kind == "reg" else
                  "no field is wider than 64 bits")
        raise AssemblerError(f"{what} of {significant} digits is too large: {detail}",
                             line=line, column=tok.col, token=shown(tok.text), source=source)


class Cursor:
    """A position in one line's tokens, with the error reporting of the assembler."""

    def __init__(self, tokens: list[Token], line: int, source: str | None):
        self.tokens = tokens
        self.i = 0
        self.line = line
        self.source = source

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        if tok.kind != "end":
            self.i += 1
        return tok

    def at(self, *texts: str) -> bool:
        """Whether the next token's text is one of ``texts``."""
        return self.peek().text in texts

    def accept(self, *texts: str) -> Token | None:
        if self.at(*texts):
            return self.next()
        return None

    def expect(self, text: str, what: str | None = None) -> Token:
        tok = self.peek()
        if tok.text != text:
            raise self.error(f"expected {what or repr(text)}", tok)
        return self.next()

    def expect_kind(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            raise self.error(f"expected {what}", tok)
        return self.next()

    def expect_end(self, what: str = "end of line") -> None:
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"unexpected {tok.text!r}, expected {what}", tok)

    def error(self, message: str, tok: Token | None = None) -> AssemblerError:
        tok = tok or self.peek()
        text = shown(tok.text) if tok.kind != "end" else None
        if tok.kind == "end" and "end of line" not in message:
            message += " but the line ended"
        return AssemblerError(message, line=self.line, column=tok.col, token=text,
                              source=self.source)

    def signed_number(self, what: str) -> tuple[int, Token, bool]:
        """An optionally signed number: (value, first token, written in hex)."""
        first = self.peek()
        sign = 1
        if self.accept("-"):
            sign = -1
        elif self.accept("+"):
            pass
        tok = self.peek()
        if tok.kind != "num":
            raise self.error(f"expected {what}", tok)
        self.next()
        return sign * tok.value, first, tok.is_hex


def check_range(value: int, hex_written: bool, bits: int, what: str, cursor: Cursor,
                tok: Token) -> int:
    """Reduce a number to a signed ``bits``-wide field, or raise if it does not fit.

    Decimal numbers must fit the signed range; hex numbers may also use the
    full unsigned range (``0xffffffff`` is -1 in a 32-bit field).
    """
    lo = -(1 << (bits - 1))
    hi = (1 << bits) - 1 if hex_written else (1 << (bits - 1)) - 1
    if bits == 64 and not hex_written:
        hi = (1 << 64) - 1  # a 64-bit decimal may be written unsigned
    if not lo <= value <= hi:
        raise cursor.error(f"{what} {value} is out of range for {bits} bits", tok)
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def strip_comment(line: str, markers: Iterable[str]) -> str:
    """``line`` up to its first comment marker."""
    cut = len(line)
    for marker in markers:
        i = line.find(marker)
        if i != -1:
            cut = min(cut, i)
    return line[:cut]
