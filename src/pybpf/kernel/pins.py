"""Pinning objects to paths so they outlive the process, and opening pins.

Pins live in a ``bpf`` filesystem, conventionally mounted at
``/sys/fs/bpf``; :func:`pin` mounts it there when it is missing (as root).
::

    from pybpf.kernel import pins

    pins.pin(counts_map, "/sys/fs/bpf/myapp/counts")
    m = pins.open_pinned("/sys/fs/bpf/myapp/counts")   # a KernelMap
    pins.unpin("/sys/fs/bpf/myapp/counts")
"""

from __future__ import annotations

from typing import Any

from ..errors import BPFError
from . import sys as _sys
from .bpffs import (
    DEFAULT_BPFFS,
    checked_path,
    fs_type,
    is_bpffs,
    mount_bpffs,
    pin,
    pinned_kind,
    unpin,
)
from .links import KernelLink
from .maps import KernelMap
from .programs import KernelProgram

__all__ = ["DEFAULT_BPFFS", "checked_path", "fs_type", "is_bpffs", "mount_bpffs", "open_pinned", "pin",
           "pinned_kind", "unpin"]


def open_pinned(path: str, *, flags: int = 0) -> Any:
    """The object pinned at ``path`` as a :class:`KernelMap`,
    :class:`KernelProgram` or :class:`KernelLink`."""
    path = checked_path(path)
    fd = _sys.obj_get(path, flags, what=f"object pinned at {path}")
    kind = pinned_kind(int(fd))
    if kind == "map":
        return KernelMap.from_fd(fd)
    if kind == "prog":
        return KernelProgram.from_fd(fd)
    if kind == "link":
        return KernelLink(fd, target=path)
    fd.close()
    raise BPFError(f"{path} holds a {kind} object, which pybpf cannot open")
