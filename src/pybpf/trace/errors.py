"""Errors in bpftrace programs, printed the way bpftrace prints them::

    stdin:1:16-18: ERROR: syntax error, unexpected ;
    BEGIN { @x = 1 +; }
                   ~~

:class:`TraceSyntaxError` is a program the parser cannot read;
:class:`TraceSemanticError` one it reads but cannot give a meaning (an
unknown field, a wrong argument type), naming the probe and the field;
:class:`TraceProbeError` a probe this kernel cannot give (kprobes here).
"""

from __future__ import annotations

from ..errors import BPFError

__all__ = ["Source", "TraceError", "TraceProbeError", "TraceSemanticError",
           "TraceSyntaxError"]


class Source:
    """A program's text and the name errors give it (``stdin`` for ``-e``)."""

    def __init__(self, text: str, name: str = "stdin"):
        self.text = text
        self.name = name
        self._starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._starts.append(i + 1)

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), both 1-based, of character ``offset``."""
        lo, hi = 0, len(self._starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self._starts[lo] + 1

    def line_text(self, line: int) -> str:
        """The text of 1-based ``line`` without its newline."""
        start = self._starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]


class TraceError(BPFError):
    """An error in a bpftrace program, located by ``span`` (character
    offsets) in ``source``: ``line``/``column``/``end_column`` are 1-based;
    ``str()`` is bpftrace's three-line form (location, the line, ``~``
    under the span)."""

    def __init__(self, message: str, source: Source | None = None,
                 span: tuple[int, int] | None = None, *, probe: str | None = None):
        self.reason = message
        self.source = source
        self.span = span
        self.probe = probe
        self.line = self.column = self.end_column = None
        text = f"ERROR: {message}"
        if source is not None and span is not None:
            start, end = span
            start = min(start, len(source.text))
            end = max(start, min(end, len(source.text)))
            self.line, self.column = source.position(start)
            end_line, end_col = source.position(end)
            if end_line != self.line:
                end_col = len(source.line_text(self.line)) + 1
            self.end_column = end_col
            line_text = source.line_text(self.line)
            marks = " " * (self.column - 1) + "~" * (end_col - self.column)
            text = (f"{source.name}:{self.line}:{self.column}-{end_col}: ERROR: {message}\n"
                    f"{line_text}\n{marks}")
        super().__init__(text)


class TraceSyntaxError(TraceError):
    """A program the parser cannot read (a token where it does not fit)."""


class TraceSemanticError(TraceError):
    """A program that reads but means nothing: an unknown identifier,
    field or function, a wrong argument type; names the probe and field."""


class TraceProbeError(TraceError):
    """A probe that does not exist or that this kernel cannot attach
    (kprobes without ``CONFIG_KPROBES``, fentry refused...)."""
