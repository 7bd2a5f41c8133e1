"""The error userspace map operations raise."""

from __future__ import annotations

import errno as _errno
import os

from ..errors import BPFError
from ._abi import ENOTSUPP


def errno_name(code: int) -> str:
    """The symbolic name of an errno value (``ENOENT``), including the
    kernel-internal ``ENOTSUPP`` that bpf() can return."""
    if code == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(code, f"errno {code}")


def errno_text(code: int) -> str:
    """A short description of an errno value."""
    if code == ENOTSUPP:
        return "operation not supported by this map type"
    return os.strerror(code)


class MapError(BPFError):
    """A map operation failed the way the kernel's would.

    ``errno`` is the value ``bpf()`` would have set (ENOENT for a missing
    key, EEXIST for ``BPF_NOEXIST`` on an existing one, E2BIG for a full map,
    EINVAL for bad flags or sizes, EPERM on a frozen map...); ``map_name``,
    ``op`` and ``key`` say where.  Batch operations also set ``count``: how
    many elements were processed before the failure.
    """

    def __init__(self, code: int, message: str, *, map_name: str | None = None,
                 op: str | None = None, key: object = None, count: int | None = None):
        self.errno = code
        self.reason = message
        self.map_name = map_name
        self.op = op
        self.key = key
        self.count = count
        where = []
        if op:
            where.append(op)
        if map_name is not None:
            where.append(f"on map {map_name!r}")
        if key is not None:
            where.append(f"key {_show(key)}")
        prefix = " ".join(where)
        super().__init__(f"{prefix + ': ' if prefix else ''}{message} "
                         f"({errno_name(code)})")

    @property
    def errno_name(self) -> str:
        """The symbolic errno (``ENOENT``...)."""
        return errno_name(self.errno)


def _show(key: object) -> str:
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        return raw.hex() if len(raw) <= 32 else raw[:32].hex() + "..."
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


class MapKeyError(MapError, KeyError):
    """ENOENT from a lookup, delete or pop: the key (or element) is not
    there.  Also a :class:`KeyError`, so ``except KeyError`` works as it does
    with Python mappings and with the kernel backend's maps."""

    __str__ = MapError.__str__  # not KeyError's repr-of-the-key
