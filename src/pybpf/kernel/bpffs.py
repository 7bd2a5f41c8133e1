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


def checked_path(path: str | os.PathLike, what: str = "pin path") -> str:
    """``path`` as a string, or a :class:`~pybpf.errors.BPFError` when it
    cannot name a file: empty, or holding a NUL byte (which the kernel would
    take as the end of the path, naming another file)."""
    try:
        text = os.fsdecode(path)
    except TypeError:
        raise BPFError(f"{what} must be a string or path, not {type(path).__name__}") from None
    if not text:
        raise BPFError(f"{what} is empty")
    if "\0" in text:
        raise BPFError(f"{what} {text.split(chr(0))[0]!r}... holds a NUL byte: refused (the "
                       f"kernel would read the path only up to it)")
    return text


def _os_error(operation: str, path: str, e: OSError, hint: str = "") -> KernelError:
    """A one-line error for a failed file system call on ``path``."""
    return KernelError(f"{operation} {path}: {e.strerror or e}{hint}", errno=e.errno,
                       operation=operation)


def _statfs_type(buf: ctypes.Array) -> int:
    return ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF  # f_type: statfs's first word


def fs_type(path: str | os.PathLike) -> int | None:
    """The ``statfs(2)`` filesystem magic of ``path`` (None if absent)."""
    buf = ctypes.create_string_buffer(512)  # room for struct statfs
    if _c().statfs(os.fsencode(checked_path(path, "path")), buf) != 0:
        return None
    return _statfs_type(buf)


def fd_fs_type(fd: int) -> int | None:
    """The ``fstatfs(2)`` filesystem magic of the file open as ``fd``."""
    buf = ctypes.create_string_buffer(512)
    if _c().fstatfs(int(fd), buf) != 0:
        return None
    return _statfs_type(buf)


def is_bpffs(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies in a bpf filesystem."""
    return fs_type(path) == BPF_FS_MAGIC


def mount_bpffs(path: str | os.PathLike = DEFAULT_BPFFS) -> str:
    """Mount a bpffs at ``path`` unless one is there already (needs root)."""
    path = checked_path(path, "mount point")
    if is_bpffs(path):
        return path
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise _os_error("mkdir", path, e) from None
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
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise _os_error("mkdir", directory, e, " (creating the pin's directory)") from None


def pin(obj: Any, path: str | os.PathLike) -> None:
    """Pin a map, program, link or BTF object (anything with ``fd``) at
    ``path``, creating directories (and the default bpffs mount) as needed."""
    path = os.path.abspath(checked_path(path))
    _prepare_dir(os.path.dirname(path))
    _sys.obj_pin(int(getattr(obj, "fd", obj)), path, what=f"{_kind(obj)} at {path}")


def unpin(path: str | os.PathLike) -> None:
    """Remove a pin (the object goes away when nothing else holds it).

    Only an entry of a bpf filesystem is removed: a path elsewhere (a
    regular file, a symlink outside bpffs that points into one) raises
    :class:`~pybpf.errors.BPFError` and nothing is deleted.  The check and
    the removal use one handle on the pin's directory, so the directory
    cannot be swapped for another in between.
    """
    path = checked_path(path)
    parent, name = os.path.split(path)
    if name in ("", ".", ".."):
        raise BPFError(f"unpin {path}: names a directory, not a pin")
    try:
        dfd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise _os_error("unpin", path, e) from None
    try:
        if fd_fs_type(dfd) != BPF_FS_MAGIC:
            raise BPFError(f"unpin {path}: not in a bpf filesystem, so not a pin; pybpf "
                           f"removes only pins")
        try:
            os.unlink(name, dir_fd=dfd)
        except IsADirectoryError:
            raise BPFError(f"unpin {path}: a directory, not a pin (remove it with "
                           f"os.rmdir once empty)") from None
        except OSError as e:
            raise _os_error("unpin", path, e) from None
    finally:
        os.close(dfd)


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
    try:
        return "btf" if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:btf" else "unknown"
    except OSError:
        return "unknown"
