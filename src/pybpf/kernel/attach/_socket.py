"""Socket hooks: socket filters (``SO_ATTACH_BPF``), reuseport selectors,
``sk_msg``/``sk_skb`` programs on a sockmap, and ``flow_dissector`` and
``sk_lookup`` programs on a network namespace::

    with socket_filter(prog, sock):
        ...
    link = sockmap(prog, coll.maps["sock_map"])   # the hook its section names
    link = netns(prog)                            # this process's namespace
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import struct
from collections.abc import Callable
from typing import Any

from ...errors import AttachError, KernelError
from ...spec.netlink import (
    SO_ATTACH_BPF,
    SO_ATTACH_REUSEPORT_EBPF,
    SO_DETACH_BPF,
    SO_DETACH_REUSEPORT_BPF,
    SOL_SOCKET,
)
from .. import sys as _sys
from .._abi import ATTACH_TYPES
from .._fd import FD, fd_of
from ..links import KernelLink, link_create
from ._base import LINK_UNSUPPORTED, Attachment, AttachRequest, ProgAttachment, program_label

__all__ = ["SocketAttachment", "netns", "socket_filter", "sockmap"]


class SocketAttachment(Attachment):
    """A program attached to a socket with ``SO_ATTACH_BPF``; closing
    detaches it (``SO_DETACH_BPF``) if the socket is still open."""

    kind = "socket"

    def __init__(self, sock: Any, *, program: Any, target: str, detach_option: int):
        super().__init__(program=program, target=target)
        self.socket = sock
        self._detach_option = detach_option

    def _release(self) -> None:
        sock, self.socket = self.socket, None
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(SOL_SOCKET, self._detach_option, 0)


def socket_filter(program: Any, sock: Any, *, reuseport: bool = False) -> SocketAttachment:
    """Attach a ``socket_filter`` program to ``sock`` (a Python socket) with
    ``SO_ATTACH_BPF`` — or an ``sk_reuseport`` program to a reuseport group
    with ``SO_ATTACH_REUSEPORT_EBPF`` when ``reuseport``.  A socket filter
    returns how many bytes of each packet the socket gets (0 drops it)."""
    opt = SO_ATTACH_REUSEPORT_EBPF if reuseport else SO_ATTACH_BPF
    try:
        sock.setsockopt(SOL_SOCKET, opt, struct.pack("i", fd_of(program)))
    except OSError as e:
        hint = f": {'an sk_reuseport' if reuseport else 'a socket_filter'} program is needed" \
            if e.errno == _errno.EINVAL else ""
        raise KernelError(f"attach {program_label(program)} to socket {sock.fileno()}: "
                          f"{e.strerror}{hint}", errno=e.errno,
                          operation="SO_ATTACH_BPF") from None
    return SocketAttachment(sock, program=program, target=f"socket fd {sock.fileno()}",
                            detach_option=SO_DETACH_REUSEPORT_BPF if reuseport
                            else SO_DETACH_BPF)


def sockmap(program: Any, map: Any, attach_type: str | None = None, *,
            use_link: bool | None = None) -> Attachment | KernelLink:
    """Attach an ``sk_msg`` or ``sk_skb`` program to a sockmap or sockhash:
    a link (Linux 6.10+) or ``BPF_PROG_ATTACH`` to the map (``use_link``
    forces one or the other)."""
    at = attach_type or getattr(program, "expected_attach_type", None)
    if at is None:
        raise AttachError(f"{program_label(program)}: which sockmap hook? give attach_type "
                       f"('sk_msg_verdict', 'sk_skb_stream_verdict', "
                       f"'sk_skb_stream_parser', 'sk_skb_verdict')")
    label = f"{getattr(map, 'type', 'sockmap')} {getattr(map, 'name', '')!r} ({at})"
    if use_link is not False:
        try:
            return link_create(program, fd_of(map), at, target=label)
        except KernelError as e:
            if use_link or e.errno not in LINK_UNSUPPORTED:
                raise
    mfd = FD(os.dup(fd_of(map)))
    try:
        _sys.prog_attach(target_fd=int(mfd), attach_bpf_fd=fd_of(program),
                         attach_type=ATTACH_TYPES.id_of(at),
                         what=f"{program_label(program)} to {label}")
    except BaseException:
        mfd.close()
        raise
    return ProgAttachment(mfd, ATTACH_TYPES.id_of(at), program=program, target=label)


def netns(program: Any, attach_type: str | None = None, *, path: str = "/proc/self/ns/net"
          ) -> KernelLink:
    """Attach a ``flow_dissector`` or ``sk_lookup`` program to a network
    namespace (this process's by default)."""
    at = attach_type or getattr(program, "expected_attach_type", None)
    fd = FD(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    try:
        return link_create(program, int(fd), at or "flow_dissector", target=f"netns {path}")
    finally:
        fd.close()


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "socket_filter": lambda r: socket_filter(r.program, r.target),
    "sk_reuseport": lambda r: socket_filter(r.program, r.target, reuseport=True),
    "sockmap": lambda r: sockmap(r.program, r.target, **r.options),
    "netns": lambda r: netns(r.program, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
