"""Classic filters on real sockets: ``SO_ATTACH_FILTER``,
``SO_DETACH_FILTER``, ``SO_LOCK_FILTER`` and ``SO_GET_FILTER``.

Any socket takes a classic filter; the kernel checks it
(``bpf_check_classic``, EINVAL on refusal), translates it to eBPF and runs
it on every packet the socket would receive: 0 drops the packet, n keeps
its first n bytes.  A locked filter cannot be replaced or removed (EPERM).
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import socket
import struct
from collections.abc import Sequence
from typing import Protocol

from ..errors import KernelError
from ..spec import cbpf as C
from .check import check
from .insn import SockFilter, decode, encode


class HasFileno(Protocol):
    """Anything with a file descriptor (a socket)."""

    def fileno(self) -> int: ...


def sock_fprog(program: Sequence[SockFilter]) -> tuple[bytes, ctypes.Array]:
    """``struct sock_fprog`` for ``program``: its bytes and the buffer of
    instructions it points at (keep that alive while the kernel reads it)."""
    raw = encode(program)
    buffer = ctypes.create_string_buffer(raw, len(raw))
    return struct.pack(C.SOCK_FPROG_FORMAT, len(program), ctypes.addressof(buffer)), buffer


def _setsockopt(sock: socket.socket, option: int, value: bytes, what: str) -> None:
    try:
        sock.setsockopt(C.SOL_SOCKET, option, value)
    except OSError as e:
        raise KernelError(f"{what}: {os.strerror(e.errno or 0)}", errno=e.errno,
                          operation=what) from None


def attach_filter(sock: socket.socket, program: Sequence[SockFilter], *, lock: bool = False,
                  check_first: bool = True) -> None:
    """Attach the classic ``program`` to ``sock`` (replacing its filter);
    ``lock`` then forbids changing it.  The program is checked here first
    (a clear :class:`~pybpf.cbpf.check.FilterError` rather than the
    kernel's bare EINVAL) unless ``check_first`` is False."""
    program = list(program)
    if check_first:
        check(program)
    fprog, buffer = sock_fprog(program)
    _setsockopt(sock, C.SO_ATTACH_FILTER, fprog, "setsockopt(SO_ATTACH_FILTER)")
    del buffer
    if lock:
        lock_filter(sock)


def detach_filter(sock: socket.socket) -> None:
    """Remove ``sock``'s filter (ENOENT if it has none, EPERM if locked)."""
    _setsockopt(sock, C.SO_DETACH_FILTER, struct.pack("i", 0), "setsockopt(SO_DETACH_FILTER)")


def lock_filter(sock: socket.socket) -> None:
    """Forbid replacing or removing ``sock``'s filter (irreversible)."""
    _setsockopt(sock, C.SO_LOCK_FILTER, struct.pack("i", 1), "setsockopt(SO_LOCK_FILTER)")


def is_locked(sock: socket.socket) -> bool:
    """Whether ``sock``'s filter is locked."""
    return bool(sock.getsockopt(C.SOL_SOCKET, C.SO_LOCK_FILTER))


def get_filter(sock: socket.socket) -> list[SockFilter]:
    """The classic filter attached to ``sock`` as it was given
    (``SO_GET_FILTER``); empty when there is none.

    SO_GET_FILTER counts its buffer length in instructions, not bytes, so
    it goes through libc's getsockopt with a buffer sized by a first call
    of length 0 (Python's ``socket.getsockopt`` would let the kernel write
    past its buffer)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = sock.fileno()

    def call(buffer: ctypes.Array | None, count: int) -> int:
        optlen = ctypes.c_uint(count)
        rc = libc.getsockopt(fd, C.SOL_SOCKET, C.SO_GET_FILTER, buffer, ctypes.byref(optlen))
        if rc < 0:
            err = ctypes.get_errno()
            raise KernelError(f"getsockopt(SO_GET_FILTER): {os.strerror(err)}", errno=err,
                              operation="getsockopt(SO_GET_FILTER)")
        return optlen.value

    try:
        count = call(None, 0)
    except KernelError as e:
        if e.errno == _errno.ENOENT:  # no filter attached (some kernels answer 0)
            return []
        raise
    if not count:
        return []
    buffer = ctypes.create_string_buffer(count * C.SOCK_FILTER_SIZE)
    got = call(buffer, count)
    return decode(buffer.raw[:got * C.SOCK_FILTER_SIZE])


def kernel_accepts(program: Sequence[SockFilter]) -> int:
    """0 when the kernel accepts ``program`` as a socket filter, else the
    errno it answers (attaches it to a throwaway UDP socket, unchecked)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fprog, buffer = sock_fprog(list(program))
        try:
            sock.setsockopt(C.SOL_SOCKET, C.SO_ATTACH_FILTER, fprog)
        except OSError as e:
            return e.errno or _errno.EINVAL
        finally:
            del buffer
    return 0
