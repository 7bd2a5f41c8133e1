"""The error of the Python front end and its code generator."""

from __future__ import annotations

from ..errors import BPFError


class CompileError(BPFError):
    """A program that cannot be compiled: outside the Python subset, a type
    that does not fit, a name that does not exist.

    ``path``, ``line`` and ``column`` (1-based) say where in the source, when
    known; ``reason`` is what is not allowed.  :meth:`at` fills in a place
    for an error raised without one.
    """

    def __init__(self, reason: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column
        where = ""
        if path:
            where = str(path)
        if line is not None:
            where += f":{line}" if where else f"line {line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {reason}" if where else reason)

    def at(self, path: str | None, line: int | None, column: int | None) -> CompileError:
        """This error placed at ``path:line:column`` (itself if already placed)."""
        if self.line is not None:
            return self
        return CompileError(self.reason, path=path, line=line, column=column)


__all__ = ["CompileError"]
