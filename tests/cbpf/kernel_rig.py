"""The kernel running classic filters itself, on real packets.

:class:`LoopbackRig` owns a private network namespace (entered by a
helper thread, so the test process stays where it is) whose loopback
device carries nothing but the test's frames.  Three packet sockets are
bound to it: ``tx`` sends frames, ``rx`` carries the filter under test,
``fence`` (no filter) tells when a frame has been delivered.  The kernel
hands a frame to the newest tap first, so once ``fence`` has it, ``rx``
has had its chance: the frame is either in ``rx``'s queue (accepted, cut
to the filter's return value) or was dropped.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import socket
import struct
import threading

from pybpf.cbpf import SockFilter
from pybpf.cbpf.sockets import attach_filter

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_MARK = 36
ARPHRD_LOOPBACK = 772
TX_MARK = 0x5EC0


class RigUnavailable(Exception):
    """The rig cannot be built here (no CAP_NET_ADMIN / unshare refused)."""


class LoopbackRig:
    """Sockets on the loopback device of a private network namespace."""

    def __init__(self) -> None:
        self.tx: socket.socket | None = None
        self.rx: socket.socket | None = None
        self.fence: socket.socket | None = None
        self.ifindex = 0
        error: list[BaseException] = []
        thread = threading.Thread(target=self._build, args=(error,))
        thread.start()
        thread.join()
        if error:
            raise RigUnavailable(str(error[0]))

    def _build(self, error: list[BaseException]) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                ifreq = struct.pack("16sH14x", b"lo", 0)
                flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
                fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
            self.ifindex = socket.if_nametoindex("lo")
            proto = socket.htons(ETH_P_ALL)
            self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            self.tx.bind(("lo", 0))
            self.tx.setsockopt(socket.SOL_SOCKET, SO_MARK, TX_MARK)
            self.fence = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, proto)
            self.fence.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self.fence.bind(("lo", ETH_P_ALL))
            self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, proto)
            self.rx.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self.rx.bind(("lo", ETH_P_ALL))
        except BaseException as e:  # reported to the caller's thread
            error.append(e)
            self.close()

    def close(self) -> None:
        """Close the sockets (the namespace goes with them)."""
        for s in (self.tx, self.rx, self.fence):
            if s is not None:
                s.close()
        self.tx = self.rx = self.fence = None

    def __enter__(self) -> LoopbackRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        while True:
            try:
                sock.recv(1 << 17, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return

    def run(self, program: list[SockFilter], frames: list[bytes]) -> list[bytes | None]:
        """What ``rx`` receives for each frame under ``program``: the bytes
        kept, or None for a dropped frame."""
        assert self.rx is not None and self.tx is not None and self.fence is not None
        attach_filter(self.rx, program)
        self._drain(self.rx)
        self._drain(self.fence)
        out: list[bytes | None] = []
        for frame in frames:
            self.tx.send(frame)
            ready, _, _ = select.select([self.fence], [], [], 2.0)
            if not ready:
                raise TimeoutError("the fence socket did not see the frame")
            self.fence.recv(1 << 17)
            try:
                out.append(self.rx.recv(1 << 17, socket.MSG_DONTWAIT))
            except BlockingIOError:
                out.append(None)
        return out


_rig: LoopbackRig | None = None
_rig_error: str | None = None


def loopback_rig() -> LoopbackRig:
    """The shared rig (built once); raises RigUnavailable where it cannot be."""
    global _rig, _rig_error
    if _rig is None and _rig_error is None:
        try:
            _rig = LoopbackRig()
        except RigUnavailable as e:
            _rig_error = str(e)
    if _rig is None:
        raise RigUnavailable(_rig_error or "unavailable")
    return _rig


def is_root() -> bool:
    """Whether the tests run as root (the rig needs CAP_NET_ADMIN, CAP_NET_RAW)."""
    return os.geteuid() == 0
