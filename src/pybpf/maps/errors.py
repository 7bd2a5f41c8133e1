"""The errors userspace map operations raise: :class:`~pybpf.errors.MapError`
and :class:`~pybpf.errors.MapKeyError`, shared with the kernel backend (see
:mod:`pybpf.codecs`), re-exported here with the errno helpers."""

from __future__ import annotations

from ..codecs import errno_name, errno_text
from ..errors import MapError, MapKeyError

__all__ = ["MapError", "MapKeyError", "errno_name", "errno_text"]
