"""bpffs: the filesystem that pins BPF objects to paths (system-call level).

Pins live in a ``bpf`` filesystem, conventionally mounted at ``/sys/fs/bpf``;
:func:`pin` mounts it there when it is missing (as root).  This module
knows objects only by their fd; :mod:`pybpf.kernel.pins` adds opening a pin
as a map, program or link.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
from typing import Any

from ..errors import BPFError, KernelError
from ..spec.defines import BPF_FS_MAGIC
from . import sys as _sys

DEFAULT_BPFFS = "/sys/fs/bpf"
"""Where bpffs is mounted by convention."""

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def fs_type(path: str) -> int | None:
    """The ``statfs(2)`` filesystem magic of ``path`` (None if absent)."""
    buf = ctypes.create_string_buffer(512)  # struct statfs; f_type is its first word
    if _c().statfs(os.fsencode(path), buf) != 0:
        return None
    return ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF


def is_bpffs(path: str) -> bool:
    """Whether ``path`` lies in a bpf filesystem."""
    return fs_type(path) == BPF_FS_MAGIC


def mount_bpffs(path: str = DEFAULT_BPFFS) -> str:
    """Mount a bpffs at ``path`` unless one is there already (needs root)."""
    if is_bpffs(path):
        return path
    os.makedirs(path, exist_ok=True)
    if _c().mount(b"bpf", os.fsencode(path), b"bpf", 0, None) != 0:
        err = ctypes.get_errno()
        hint = ": mounting needs root (CAP_SYS_ADMIN)" if err == _errno.EPERM else ""
        raise KernelError(f"mount bpffs at {path}: {os.strerror(err)}{hint}", errno=err,
                          operation="mount")
    return path


def _prepare_dir(directory: str) -> None:
    """Make ``directory`` exist inside a bpffs, mounting the default one if
    the directory is below it."""
    probe = directory
    while not os.path.exists(probe):
        probe = os.path.dirname(probe) or "/"
    if not is_bpffs(probe):
        root = os.path.normpath(DEFAULT_BPFFS)
        norm = os.path.normpath(directory)
        if norm == root or norm.startswith(root + os.sep):
            mount_bpffs(root)
        else:
            raise BPFError(f"{directory} is not in a bpf filesystem: pin below "
                           f"{DEFAULT_BPFFS} or mount one (pybpf.kernel.pins.mount_bpffs)")
    os.makedirs(directory, exist_ok=True)


def pin(obj: Any, path: str) -> None:
    """Pin a map, program, link or BTF object (anything with ``fd``) at
    ``path``, creating directories (and the default bpffs mount) as needed."""
    path = os.path.abspath(path)
    _prepare_dir(os.path.dirname(path))
    _sys.obj_pin(int(getattr(obj, "fd", obj)), path, what=f"{_kind(obj)} at {path}")


def unpin(path: str) -> None:
    """Remove a pin (the object goes away when nothing else holds it)."""
    os.unlink(path)


def _kind(obj: Any) -> str:
    return type(obj).__name__.removeprefix("Kernel").lower() or "object"


def pinned_kind(fd: int) -> str:
    """``"map"``, ``"prog"``, ``"link"`` or ``"btf"``: what a bpf fd holds."""
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            text = f.read()
    except OSError:
        return "unknown"
    for key, kind in (("map_type:", "map"), ("prog_type:", "prog"), ("link_type:", "link")):
        if key in text:
            return kind
    return "btf" if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:btf" else "unknown"
