"""Owned file descriptors: closed once, by ``close()`` or when collected."""

from __future__ import annotations

import contextlib
import os
from typing import Any, Self


def fd_of(obj: Any) -> int:
    """The fd number of a kernel object (anything with ``fd``), an :class:`FD`
    or an int."""
    return int(getattr(obj, "fd", obj))


class FD:
    """A file descriptor this process owns.

    ``int(fd)`` gives the number (a ValueError once closed); ``close()`` is
    idempotent; an FD that is garbage-collected while open is closed then,
    as a last resort — objects holding one close it explicitly.
    """

    __slots__ = ("__weakref__", "_fd")

    def __init__(self, fd: int):
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._fd = fd

    def __int__(self) -> int:
        if self._fd < 0:
            raise ValueError("file descriptor is closed")
        return self._fd

    __index__ = __int__

    @property
    def closed(self) -> bool:
        """Whether the descriptor has been closed."""
        return self._fd < 0

    def close(self, _close=os.close) -> None:
        """Close the descriptor (again is a no-op)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _close(fd)

    def dup(self) -> FD:
        """A second descriptor for the same kernel object."""
        return FD(os.dup(int(self)))

    def release(self) -> int:
        """Give up ownership: return the number without closing it."""
        fd, self._fd = int(self), -1
        return fd

    def __enter__(self) -> FD:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            self.close()

    def __repr__(self) -> str:
        return f"FD({self._fd})" if self._fd >= 0 else "FD(closed)"


class FDOwner:
    """Base of the objects that own one kernel object through an fd
    (``self._fd``): ``fd``, ``closed``, ``close()`` and ``with`` blocks."""

    _fd: FD

    @property
    def fd(self) -> int:
        """The file descriptor (ValueError once closed)."""
        return int(self._fd)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._fd.closed

    def close(self) -> None:
        """Close the fd.  The kernel object lives on while something else
        holds it: a pin, a program using a map, an attachment."""
        self._fd.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _state(self) -> str:
        return "closed" if self._fd.closed else f"fd {self._fd._fd}"


class Closing:
    """Mix-in for objects with an idempotent ``close()``: ``with`` blocks
    close them, and so does garbage collection, as a last resort."""

    def close(self) -> None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # also at interpreter shutdown
            self.close()
