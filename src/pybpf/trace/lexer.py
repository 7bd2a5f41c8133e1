"""Tokens of bpftrace's language.

:func:`next_token` reads one token at an offset; the parser pulls tokens
one at a time because probe names (``uprobe:/bin/bash:readline``) are read
by a different rule (:func:`scan_probe`) where a block may begin.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import Source, TraceSyntaxError

__all__ = ["Token", "next_token", "scan_probe", "skip_space"]


class Token(NamedTuple):
    """One token: ``kind`` (``int``, ``str``, ``char``, ``ident``, ``map``,
    ``var``, ``param``, ``eof`` or the operator itself), its ``text``, its
    ``value`` (the number, the decoded string, the name without ``@``/``$``)
    and the character offsets ``start``/``end``."""

    kind: str
    text: str
    value: object
    start: int
    end: int


_OPERATORS = sorted(["<<=", ">>=", "->", "++", "--", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "<", ">", "=", "?", ":", ";", ",", ".", "(", ")", "[", "]", "{", "}"], key=len, reverse=True)
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F_]+|[0-9][0-9_]*(?:[eE][0-9]+)?")
_SUFFIX = re.compile(r"(?:[uU](?:ll|LL|l|L)?|(?:ll|LL|l|L)[uU]?)(?![_a-zA-Z0-9])")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "e": "\x1b"}


def skip_space(text: str, pos: int, source: Source) -> int:
    """The offset of the first character at or after ``pos`` that is not
    white space or part of a comment."""
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch in " \t\r\n\f\v":
            pos += 1
        elif text.startswith("//", pos):
            end = text.find("\n", pos)
            pos = n if end < 0 else end + 1
        elif text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise TraceSyntaxError("unterminated comment", source, (pos, n))
            pos = end + 2
        else:
            break
    return pos


def _number(text: str, pos: int, source: Source) -> tuple[int, int]:
    m = _NUMBER.match(text, pos)
    assert m
    body = m.group().replace("_", "")
    end = m.end()
    try:
        if body[:2] in ("0x", "0X"):
            value = int(body[2:], 16)
        elif "e" in body or "E" in body:
            mant, _, exp = body.lower().partition("e")
            value = int(mant) * 10 ** int(exp)
        elif len(body) > 1 and body[0] == "0":
            value = int(body, 8)
        else:
            value = int(body)
    except ValueError:
        raise TraceSyntaxError(f"invalid integer: {m.group()}", source, (pos, end)) from None
    s = _SUFFIX.match(text, end)
    if s:
        end = s.end()
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        raise TraceSyntaxError(f"invalid integer: {text[pos:end + 1]}", source,
                               (pos, end + 1))
    if value >= 1 << 64:
        raise TraceSyntaxError(f"integer out of range: {m.group()}", source, (pos, end))
    return value, end


def _quoted(text: str, pos: int, quote: str, source: Source) -> tuple[str, int]:
    out: list[str] = []
    i = pos + 1
    n = len(text)
    while i < n and text[i] != quote:
        ch = text[i]
        if ch == "\n":
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= n:
            break
        esc = text[i + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == "x":
            m = re.compile(r"[0-9a-fA-F]{1,2}").match(text, i + 2)
            if not m:
                raise TraceSyntaxError("invalid escape sequence", source, (i, i + 2))
            out.append(chr(int(m.group(), 16)))
            i = m.end()
        elif esc.isdigit():
            m = re.compile(r"[0-7]{1,3}").match(text, i + 1)
            if not m:
                raise TraceSyntaxError("invalid escape sequence", source, (i, i + 2))
            out.append(chr(int(m.group(), 8) & 0xFF))
            i = m.end()
        else:
            raise TraceSyntaxError(f"invalid escape character '\\{esc}'", source, (i, i + 2))
    if i >= n or text[i] != quote:
        what = "string" if quote == '"' else "character"
        raise TraceSyntaxError(f"unterminated {what}", source, (pos, i))
    return "".join(out), i + 1


def next_token(source: Source, pos: int) -> Token:
    """The token at or after ``pos`` (white space and comments skipped)."""
    text = source.text
    pos = skip_space(text, pos, source)
    if pos >= len(text):
        return Token("eof", "", None, pos, pos)
    ch = text[pos]
    if ch.isdigit():
        value, end = _number(text, pos, source)
        return Token("int", text[pos:end], value, pos, end)
    if ch == "_" or ch.isalpha():
        m = _IDENT.match(text, pos)
        assert m
        return Token("ident", m.group(), m.group(), pos, m.end())
    if ch == "@":
        m = _IDENT.match(text, pos + 1)
        end = m.end() if m else pos + 1
        return Token("map", text[pos:end], text[pos + 1:end], pos, end)
    if ch == "$":
        if text.startswith("$#", pos):
            return Token("param", "$#", "#", pos, pos + 2)
        m = re.compile(r"[0-9]+").match(text, pos + 1)
        if m:
            return Token("param", m.group(), int(m.group()), pos, m.end())
        m = _IDENT.match(text, pos + 1)
        if not m:
            raise TraceSyntaxError("syntax error, unexpected $", source, (pos, pos + 1))
        return Token("var", text[pos:m.end()], m.group(), pos, m.end())
    if ch == '"':
        value, end = _quoted(text, pos, '"', source)
        return Token("str", text[pos:end], value, pos, end)
    if ch == "'":
        value, end = _quoted(text, pos, "'", source)
        if len(value) != 1:
            raise TraceSyntaxError("a character constant holds one character", source,
                                   (pos, end))
        return Token("int", text[pos:end], ord(value), pos, end)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token(op, op, op, pos, pos + len(op))
    raise TraceSyntaxError(f"invalid character '{ch}'", source, (pos, pos + 1))


_PROBE_STOP = set(" \t\r\n,{")


def scan_probe(source: Source, pos: int) -> Token:
    """A probe's text at ``pos`` (``tracepoint:syscalls:sys_enter_openat``,
    ``uprobe:/bin/bash:readline``, ``u:lib.so:"fn(char const*)"``): up to
    white space, ``,``, ``{``, or a ``/`` that starts a predicate (a ``/``
    right after ``:`` or inside a path segment belongs to the probe)."""
    text = source.text
    pos = skip_space(text, pos, source)
    i = pos
    n = len(text)
    segment_is_path = False
    while i < n and text[i] not in _PROBE_STOP:
        ch = text[i]
        if ch == '"':
            _, i = _quoted(text, i, '"', source)
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            break
        if ch == "/":
            if (i > pos and text[i - 1] == ":") or segment_is_path:
                segment_is_path = True
            else:
                break
        elif ch == ":":
            segment_is_path = False
        elif ch == "." and i > pos and text[i - 1] == ":":
            segment_is_path = True
        i += 1
    return Token("probe", text[pos:i], text[pos:i], pos, i)
