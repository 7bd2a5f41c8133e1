"""Live capture: a pcap filter compiled to classic BPF and attached to an
``AF_PACKET`` socket (``SO_ATTACH_FILTER``, and ``SO_LOCK_FILTER`` on
request), so the kernel drops what the filter refuses before it is
copied to us; the packets that pass come out as
:class:`~pybpf.cbpf.pcapfile.Packet` objects with their timestamps.

The socket is opened listening to no protocol, the filter attached, and
only then bound to the interface: no packet reaches it unfiltered.
Needs CAP_NET_RAW.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import AttachError
from ..spec import capture as S
from ..spec import cbpf as C
from ..spec import packets as P
from .insn import SockFilter, ret
from .pcapfile import Packet
from .sockets import attach_filter

LINKTYPE_OF_DEVICE = {P.ARPHRD_ETHER: P.LINKTYPE_ETHERNET, P.ARPHRD_LOOPBACK: P.LINKTYPE_ETHERNET,
                      P.ARPHRD_NONE: P.LINKTYPE_RAW}
"""The link type an interface's frames have on a raw packet socket, by
its device type (others are not supported)."""


def device_linktype(interface: str) -> int:
    """The capture link type of ``interface`` (EN10MB for Ethernet and
    loopback devices, RAW for devices without a link header)."""
    try:
        hatype = int(Path(f"/sys/class/net/{interface}/type").read_text())
    except (OSError, ValueError):
        raise AttachError(f"capture on {interface!r}: no such network interface") from None
    try:
        return LINKTYPE_OF_DEVICE[hatype]
    except KeyError:
        raise AttachError(f"capture on {interface!r}: device type {hatype} is not supported "
                          f"(Ethernet, loopback and raw-IP devices are)") from None


class LiveCapture:
    """Packets arriving on (and sent from) ``interface`` that ``expression``
    (a pcap filter; None: every packet) or a ready classic ``program``
    accepts.  Iterate over it, or call :meth:`packets`; close it (or use
    it as a context manager) when done.

    ``lock`` locks the filter (``SO_LOCK_FILTER``: it cannot be replaced
    or removed any more); ``promiscuous`` puts the interface in
    promiscuous mode while the socket is open; ``snaplen`` bytes at most
    are kept of each packet.
    """

    def __init__(self, interface: str, expression: str | None = None, *,
                 program: Sequence[SockFilter] | None = None,
                 snaplen: int = P.DEFAULT_SNAPLEN, lock: bool = False,
                 promiscuous: bool = False):
        from .pcap_compile import checked_snaplen

        snaplen = checked_snaplen(snaplen)
        self.interface = interface
        self.linktype = device_linktype(interface)
        self.snaplen = snaplen
        if program is None:
            if expression:
                from .pcap_compile import compile_filter

                program = compile_filter(expression, self.linktype, snaplen)
            else:
                program = [ret(snaplen)]
        self.program = list(program)
        self.ifindex = socket.if_nametoindex(interface)
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError:
            raise AttachError(f"capture on {interface!r}: packet sockets need CAP_NET_RAW "
                              "(run as root)") from None
        self.sock = sock
        try:
            attach_filter(sock, self.program, lock=lock)
            sock.setsockopt(C.SOL_SOCKET, S.SO_TIMESTAMPNS, 1)
            sock.setsockopt(C.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            if promiscuous:
                mreq = struct.pack(S.PACKET_MREQ_FORMAT, self.ifindex, C.PACKET_MR_PROMISC, 0,
                                   b"")
                sock.setsockopt(C.SOL_PACKET, C.PACKET_ADD_MEMBERSHIP, mreq)
            sock.bind((interface, C.ETH_P_ALL))
        except BaseException:
            sock.close()
            raise
        self.count = 0

    def receive(self, timeout: float | None = None) -> Packet | None:
        """The next packet, or None when ``timeout`` seconds pass first."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not ready:
                return None
        space = socket.CMSG_SPACE(struct.calcsize(S.TIMESPEC_FORMAT))
        data, ancillary, _, address = self.sock.recvmsg(self.snaplen, space)
        stamp = time.time_ns()
        for level, kind, value in ancillary:
            if level == C.SOL_SOCKET and kind == S.SCM_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack_from(S.TIMESPEC_FORMAT, value)
                stamp = seconds * 1_000_000_000 + nanoseconds
        self.count += 1
        return Packet(data, stamp, len(data), self.linktype, self.ifindex,
                      pkttype=address[2] if len(address) > 2 else None)

    def packets(self, count: int | None = None,
                timeout: float | None = None) -> Iterator[Packet]:
        """Yield packets until ``count`` have come (None: without end) or
        ``timeout`` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        got = 0
        while count is None or got < count:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            packet = self.receive(left)
            if packet is None:
                return
            got += 1
            yield packet

    def __iter__(self) -> Iterator[Packet]:
        return self.packets()

    def fileno(self) -> int:
        """The packet socket's descriptor (for select/poll)."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket (promiscuous mode ends with it)."""
        self.sock.close()

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture(interface: str, expression: str | None = None, *, count: int | None = None,
            timeout: float | None = None, **options: object) -> list[Packet]:
    """Capture on ``interface`` through ``expression`` until ``count``
    packets or ``timeout`` seconds (see :class:`LiveCapture` for options)."""
    with LiveCapture(interface, expression, **options) as live:  # type: ignore[arg-type]
        return list(live.packets(count, timeout))
