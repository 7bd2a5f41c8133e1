"""What a terminal can show: block characters or plain ASCII, colour or not.

A picture is drawn for one :class:`Style`.  :meth:`Style.for_stream` picks
it from where the text goes: colour only when the stream is a terminal,
``NO_COLOR`` is unset (or empty, as https://no-color.org asks) and ``TERM``
is not ``dumb``; Unicode blocks only when the stream's encoding can hold
them (:func:`pybpf.textio.can_show`), ASCII otherwise (``LANG=C``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from ..textio import can_show

EIGHTHS = " ▏▎▍▌▋▊▉█"
"""Horizontal bars by eighths of a cell: ``EIGHTHS[n]`` fills ``n``/8."""
SHADES = " ░▒▓█"
"""Heatmap cells from empty to full."""
ASCII_SHADES = " .:*#"
"""Heatmap cells when the terminal cannot show :data:`SHADES`."""
FRAME = "│"
ASCII_FRAME = "|"

UNICODE_NEEDED = EIGHTHS + SHADES + FRAME + "─└┘"
"""Every non-ASCII character a picture may use."""

RESET = "\x1b[0m"
HEAT = (21, 27, 33, 39, 45, 51, 50, 49, 48, 47, 46, 82, 118, 154, 190, 226, 220, 214, 208,
        202, 196)
"""A cold-to-hot ramp of xterm-256 colour numbers (blue, cyan, green,
yellow, orange, red) for heatmap cells."""
BAR_COLOURS = (32, 33, 31)
"""SGR foreground colours of histogram bars by height: green, yellow, red."""
DIM = 2


@dataclass(frozen=True)
class Style:
    """How to draw: ``unicode`` block characters (else ASCII) and ANSI
    ``colour`` (else none)."""

    unicode: bool = True
    colour: bool = False

    @classmethod
    def for_stream(cls, stream: TextIO | None = None,
                   environ: Mapping[str, str] | None = None) -> Style:
        """The style for text written to ``stream`` (standard output by
        default) under environment ``environ`` (``os.environ`` by default)."""
        stream = sys.stdout if stream is None else stream
        env = os.environ if environ is None else environ
        return cls(unicode=can_show(stream, UNICODE_NEEDED),
                   colour=is_terminal(stream) and not env.get("NO_COLOR")
                   and env.get("TERM", "") != "dumb")

    @property
    def frame(self) -> str:
        """The vertical line that frames bars and heatmap rows."""
        return FRAME if self.unicode else ASCII_FRAME

    @property
    def shades(self) -> str:
        """Heatmap cell characters, empty to full."""
        return SHADES if self.unicode else ASCII_SHADES

    def sgr(self, text: str, *codes: int) -> str:
        """``text`` in the SGR attributes ``codes`` (``31`` red, ``2`` dim)
        when colour is on; as it is otherwise."""
        if not self.colour or not codes or not text:
            return text
        return f"\x1b[{';'.join(map(str, codes))}m{text}{RESET}"

    def heat(self, text: str, level: float) -> str:
        """``text`` coloured by ``level`` (0..1) on :data:`HEAT` when colour
        is on."""
        if not self.colour or not text.strip():
            return text
        index = min(len(HEAT) - 1, max(0, round(level * (len(HEAT) - 1))))
        return f"\x1b[38;5;{HEAT[index]}m{text}{RESET}"


PLAIN = Style(unicode=False, colour=False)
"""ASCII without colour: what any terminal or file shows."""


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (False for files, pipes, ``StringIO``)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def visible_width(text: str) -> int:
    """The columns ``text`` takes on a terminal: its length without SGR
    escapes (every character pictures use is one column wide)."""
    width, i = 0, 0
    while i < len(text):
        if text[i] == "\x1b":
            end = text.find("m", i)
            i = len(text) if end < 0 else end + 1
            continue
        width += 1
        i += 1
    return width


__all__ = ["ASCII_SHADES", "EIGHTHS", "PLAIN", "SHADES", "Style", "is_terminal",
           "visible_width"]
