"""The tokens of the pcap filter language, split the way libpcap's scanner
splits them.

The scanner takes the longest match at each position; between matches of
the same length the earlier rule wins.  The rules, in order: keywords
(``host``, ``tcp``, ``and``/``&&``...), operators, ARCnet addresses
(``$1f``), MAC addresses (``1:2:3:4:5:6``, ``1-2-3-4-5-6``,
``1.2.3.4.5.6``, ``0102.0304.0506``, ``010203040506``), numbers (decimal,
``0x`` hex, octal after a leading 0), dotted IPv4 addresses of two to four
parts, IPv6 addresses, the names that stand for numbers (``tcpflags``,
``tcp-syn``, ``icmp-echo``...), and identifiers — letters, digits, ``-``,
``_`` and ``.``, or anything after a backslash.  So ``len-1`` is one
identifier, and ``1-1`` too: arithmetic wants spaces around ``-``.

Keywords are lower case; ``HOST`` is an identifier.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import NamedTuple

from ..spec.pcap_filter import NAMED_NUMBERS
from .pcap_errors import SYNTAX, VALUE, FilterExpressionError

U32_MAX = 0xFFFFFFFF

KEYWORDS: dict[str, str] = {}
"""Each keyword's text -> the token kind it gives (synonyms share one)."""


def _keywords(kind: str, *spellings: str) -> None:
    for text in spellings or (kind,):
        KEYWORDS[text] = kind


for _kind in ("dst", "src", "arp", "rarp", "ip", "sctp", "tcp", "udp", "icmp", "igmp", "igrp",
              "pim", "vrrp", "carp", "radio", "ip6", "icmp6", "ah", "esp", "atalk", "aarp",
              "decnet", "lat", "sca", "moprc", "mopdl", "iso", "l1", "l2", "iih", "lsp", "snp",
              "csnp", "psnp", "clnp", "stp", "ipx", "netbeui", "host", "net", "port",
              "portrange", "proto", "protochain", "gateway", "type", "subtype", "ra", "ta",
              "less", "greater", "broadcast", "multicast", "inbound", "outbound", "ifindex",
              "vlan", "mpls", "pppoed", "pppoes", "geneve", "lane", "llc", "metac", "bcc",
              "oam", "oamf4", "oamf4ec", "oamf4sc", "sc", "ilmic", "vpi", "vci", "connectmsg",
              "metaconnect", "reason", "action", "fisu", "msu", "hfisu", "hlssu", "hmsu",
              "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc", "hsls"):
    _keywords(_kind)
_keywords("link", "link", "ether", "ppp", "slip", "fddi", "tr", "wlan")
_keywords("esis", "esis", "es-is")
_keywords("isis", "isis", "is-is")
_keywords("mask", "mask")
_keywords("dir", "direction", "dir")
_keywords("addr1", "address1", "addr1")
_keywords("addr2", "address2", "addr2")
_keywords("addr3", "address3", "addr3")
_keywords("addr4", "address4", "addr4")
_keywords("byte", "byte")
_keywords("and", "and", "&&")
_keywords("or", "or", "||")
_keywords("not", "not", "!")
_keywords("len", "len", "length")
_keywords("ifname", "on", "ifname")
_keywords("rset", "rset", "ruleset")
_keywords("rnr", "rnr", "rulenum")
_keywords("srnr", "srnr", "subrulenum")
_keywords("lssu", "lssu", "lsu")

OPERATORS = ("&&", "||", ">=", "<=", "!=", "==", "<<", ">>", "+", "-", "*", "/", "%", ":",
             "[", "]", "!", "<", ">", "(", ")", "&", "|", "^", "=")
"""Operator spellings, longest first."""
_OPERATOR_KIND = {"&&": "and", "||": "or", "!": "not", "==": "="}

_HEX = "[0-9A-Fa-f]"
_B = f"{_HEX}{{1,2}}"
_B2 = f"{_HEX}{{4}}"
_N = r"(?:0[xX][0-9A-Fa-f]+|[0-9]+)"
_MAC_FORMS = [re.compile(p) for p in (
    f"{_B}:{_B}:{_B}:{_B}:{_B}:{_B}", f"{_B}-{_B}-{_B}-{_B}-{_B}-{_B}",
    rf"{_B}\.{_B}\.{_B}\.{_B}\.{_B}\.{_B}", rf"{_B2}\.{_B2}\.{_B2}", f"{_B2}{_B2}{_B2}")]
_AID = re.compile(rf"\${_B}")
_NUM = re.compile(_N)
_HID = re.compile(rf"{_N}(?:\.{_N}){{1,3}}")
_V6_CANDIDATE = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
_BOGUS_MAC = re.compile(f"{_B}:+(?:{_B}:+)+")
_ID = re.compile(r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?")
_ESCAPED_ID = re.compile(r"\\[^ !()\n\t]+")
_SPACE = " \r\n\t"


class Token(NamedTuple):
    """One token: its ``kind`` (a keyword's canonical name such as ``host``
    or ``and``; an operator's text; or ``NUM``, ``ID``, ``HID`` (a dotted
    IPv4 address), ``HID6``, ``EID`` (a MAC address), ``AID`` (an ARCnet
    address), ``EOF``), its ``text`` as written, its ``value`` (numbers:
    the integer) and its 0-based ``pos``."""

    kind: str
    text: str
    value: int | None
    pos: int

    def __str__(self) -> str:
        return self.text if self.kind != "EOF" else "end of expression"


def number(text: str, pos: int | None = None) -> int:
    """A number as libpcap reads one: ``0x`` hex, octal after a leading 0,
    decimal otherwise; at most 32 bits."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits.lstrip("0")) > 32:  # past 32 bits in any base, and cheap to refuse
        raise FilterExpressionError(VALUE, f"number {text[:20]}... overflows 32 bits",
                                    token=text, position=pos)
    if text[:2] in ("0x", "0X"):
        value = int(text[2:], 16)
    elif len(text) > 1 and text[0] == "0":
        if any(c in "89" for c in text):
            raise FilterExpressionError(VALUE, f"number {text} contains non-octal digit",
                                        token=text, position=pos)
        value = int(text, 8)
    else:
        value = int(text)
    if value > U32_MAX:
        raise FilterExpressionError(VALUE, f"number {text} overflows 32 bits", token=text,
                                    position=pos)
    return value


def _v6_length(text: str, pos: int) -> int:
    """The length of the longest IPv6 address starting at ``pos``, or 0."""
    m = _V6_CANDIDATE.match(text, pos)
    if not m:
        return 0
    candidate = m.group()
    for end in range(len(candidate), 1, -1):
        try:
            ipaddress.IPv6Address(candidate[:end])
        except ValueError:
            continue
        return end
    return 0


def _match(text: str, pos: int) -> tuple[str, int]:
    """(kind, length) of the token at ``pos``."""
    best_kind, best_len = "", 0

    def consider(kind: str, length: int) -> None:
        nonlocal best_kind, best_len
        if length > best_len:
            best_kind, best_len = kind, length

    word = _ID.match(text, pos)
    if word and word.group() in KEYWORDS:
        consider("KEYWORD", word.end() - pos)
    for op in OPERATORS:
        if text.startswith(op, pos):
            consider("OP", len(op))
            break
    for kind, pattern in (("AID", _AID), ("EID", None), ("NUM", _NUM), ("HID", _HID)):
        if pattern is None:
            for form in _MAC_FORMS:
                m = form.match(text, pos)
                if m:
                    consider("EID", m.end() - pos)
            continue
        m = pattern.match(text, pos)
        if m:
            consider(kind, m.end() - pos)
    consider("HID6", _v6_length(text, pos))
    m = _BOGUS_MAC.match(text, pos)
    if m:
        consider("BOGUS_EID", m.end() - pos)
    if word:
        consider("NAMED_NUM" if word.group() in NAMED_NUMBERS else "ID", word.end() - pos)
    m = _ESCAPED_ID.match(text, pos)
    if m:
        consider("ESCAPED_ID", m.end() - pos)
    return best_kind, best_len


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of a filter expression one by one, ending with an
    ``EOF`` token; a bad token raises only when it is reached."""
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _SPACE:
            pos += 1
        if pos >= n:
            yield Token("EOF", "", None, pos)
            return
        kind, length = _match(text, pos)
        if not length:
            raise FilterExpressionError(SYNTAX, "syntax error: no token starts with this "
                                        "character", token=text[pos], position=pos,
                                        expression=text)
        word = text[pos:pos + length]
        if kind == "KEYWORD":
            yield Token(KEYWORDS[word], word, None, pos)
        elif kind == "OP":
            yield Token(_OPERATOR_KIND.get(word, word), word, None, pos)
        elif kind == "NUM":
            try:
                value = number(word, pos)
            except FilterExpressionError as e:
                e.expression = text
                raise
            yield Token("NUM", word, value, pos)
        elif kind == "NAMED_NUM":
            yield Token("NUM", word, NAMED_NUMBERS[word], pos)
        elif kind == "ESCAPED_ID":
            yield Token("ID", word[1:], None, pos)
        elif kind == "BOGUS_EID":
            raise FilterExpressionError(VALUE, f"bogus ethernet address {word}", token=word,
                                        position=pos, expression=text)
        else:
            yield Token(kind, word, None, pos)
        pos += length


def tokenize(text: str) -> list[Token]:
    """Every token of a filter expression, ending with an ``EOF`` token."""
    return list(iter_tokens(text))


class TokenStream:
    """The tokens of an expression by index, scanned as they are first
    asked for (so a bad token after a syntax error is never reached, as in
    libpcap, whose parser pulls tokens from its scanner)."""

    def __init__(self, text: str):
        self.text = text
        self._tokens: list[Token] = []
        self._source = iter_tokens(text)
        self._error: FilterExpressionError | None = None

    def __getitem__(self, index: int) -> Token:
        while len(self._tokens) <= index:
            if self._tokens and self._tokens[-1].kind == "EOF":
                return self._tokens[-1]
            if self._error is not None:
                raise self._error
            try:
                self._tokens.append(next(self._source))
            except FilterExpressionError as e:
                self._error = e
                raise
        return self._tokens[index]
