"""bpftool's argument words: object selectors and byte strings.

Objects are selected with ``id N``, ``name NAME``, ``tag TAG`` (programs)
or ``pinned PATH``; a bare number is an id, a bare absolute path a pin and
a bare word a name (``pybpf prog show 1``, ``pybpf map dump counts``).
Keys and values are bytes: ``key 1 0 0 0`` (numbers, ``0x``/octal as C
reads them) or ``key hex 01 00 00 00``.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BPFError


class ArgumentError(BPFError):
    """Command words the command cannot make sense of."""


class Words:
    """The words after a command, read left to right."""

    def __init__(self, words: Sequence[str], command: str):
        self.words = list(words)
        self.pos = 0
        self.command = command

    def __bool__(self) -> bool:
        return self.pos < len(self.words)

    def peek(self) -> str | None:
        """The next word, not consumed (None at the end)."""
        return self.words[self.pos] if self else None

    def take(self, what: str) -> str:
        """The next word; at the end, an error saying ``what`` was expected."""
        if not self:
            raise ArgumentError(f"{self.command}: expected {what}")
        word = self.words[self.pos]
        self.pos += 1
        return word

    def accept(self, *keywords: str) -> str | None:
        """Consume and return the next word if it is one of ``keywords``."""
        word = self.peek()
        if word is not None and word in keywords:
            self.pos += 1
            return word
        return None

    def expect(self, keyword: str, what: str) -> None:
        """Consume ``keyword`` (``what`` says what it introduces), or raise."""
        word = self.take(what)
        if word != keyword:
            raise ArgumentError(f"{self.command}: expected {what}, got {word!r}")

    def rest(self) -> list[str]:
        """The words not consumed yet (consuming them)."""
        out, self.pos = self.words[self.pos:], len(self.words)
        return out

    def done(self) -> None:
        """Raise when words are left over."""
        if self:
            raise ArgumentError(f"{self.command}: unexpected {' '.join(self.words[self.pos:])!r}")


SELECTOR_WORDS = ("id", "name", "tag", "pinned")


def take_selector(words: Words, kind: str) -> tuple[str, str]:
    """``(how, value)`` of the selector at the front of ``words``."""
    from ..kernel.info import SELECTORS

    allowed = SELECTORS[kind]
    what = " | ".join(f"{w} {w.upper() if w != 'pinned' else 'PATH'}" for w in allowed)
    word = words.take(what)
    if word in SELECTOR_WORDS:
        if word not in allowed:
            raise ArgumentError(f"{words.command}: select with {what}, not {word!r}")
        return word, words.take(f"{word} {word.upper() if word != 'pinned' else 'PATH'}")
    if word.isdigit():
        return "id", word
    if word.startswith("/"):
        return "pinned", word
    if "name" in allowed:
        return "name", word
    raise ArgumentError(f"{words.command}: expected {what}, got {word!r}")


def select_ids(words: Words, kind: str, *, one: bool = False) -> list[int]:
    """The ids the selector at the front of ``words`` names; with ``one``,
    exactly one (a name shared by several objects is an error)."""
    from ..kernel.info import select

    how, value = take_selector(words, kind)
    ids = select(kind, how, value)
    if one and len(ids) > 1:
        raise ArgumentError(f"{words.command}: {len(ids)} objects match {how} {value} "
                            f"(ids {', '.join(map(str, ids))}): select one by id")
    return ids


def _byte(word: str, hexadecimal: bool, what: str) -> list[int]:
    try:
        if hexadecimal:
            text = word.removeprefix("0x").removeprefix("0X")
            if len(text) > 2 and len(text) % 2 == 0:
                return list(bytes.fromhex(text))
            values = [int(text, 16)]
        else:
            text = word
            if len(text) > 1 and text[0] == "0" and text[1] not in "xXoObB":
                values = [int(text, 8)]  # C's leading-zero octal, as bpftool reads it
            else:
                values = [int(text, 0)]
    except ValueError:
        raise ArgumentError(f"{what}: {word!r} is not a byte") from None
    if not all(0 <= v <= 0xFF for v in values):
        raise ArgumentError(f"{what}: {word!r} is not a byte (0-255)")
    return values


def take_bytes(words: Words, size: int, what: str) -> bytes:
    """``size`` bytes from ``words``: numbers (``1 0 0 0``, ``0x10``) or,
    after ``hex``, hex bytes (``hex 01 00 00 00``, also ``hex 01000000``)."""
    hexadecimal = words.accept("hex") is not None
    out: list[int] = []
    while len(out) < size:
        if not words:
            break
        out.extend(_byte(words.take(what), hexadecimal, what))
    if len(out) != size:
        raise ArgumentError(f"{words.command}: {what} expected {size} bytes, got {len(out)}")
    return bytes(out)
