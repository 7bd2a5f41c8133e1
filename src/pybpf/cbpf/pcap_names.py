"""Where the names in a filter expression come from: host names (the
resolver: /etc/hosts, DNS...), services (/etc/services), IP protocols
(/etc/protocols), networks (/etc/networks) and Ethernet hosts
(/etc/ethers), looked up the way libpcap looks them up.

:class:`Names` asks the system; tests give it tables instead, so that a
filter naming ``gateway router1`` compiles the same anywhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from pathlib import Path

TCP, UDP = "tcp", "udp"

_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{1,2}")


def parse_mac(text: str) -> bytes | None:
    """The six bytes of a MAC address written ``1:2:3:4:5:6``,
    ``1-2-3-4-5-6``, ``1.2.3.4.5.6``, ``0102.0304.0506`` or
    ``010203040506``; None if it is none of those."""
    for sep in ":-.":
        parts = text.split(sep)
        if len(parts) == 6 and all(_HEX_PAIR.fullmatch(p) for p in parts):
            return bytes(int(p, 16) for p in parts)
    parts = text.split(".")
    if len(parts) == 3 and all(re.fullmatch(r"[0-9A-Fa-f]{4}", p) for p in parts):
        return bytes.fromhex("".join(parts))
    if re.fullmatch(r"[0-9A-Fa-f]{12}", text):
        return bytes.fromhex(text)
    return None


def inet_network(text: str) -> int | None:
    """``inet_network(3)``: a dotted network number of one to four parts
    (``10``, ``172.16``), the parts packed to the right; None if invalid."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    value = 0
    for part in parts:
        try:
            n = int(part, 0) if part[:2].lower() == "0x" else int(part, 8 if part[:1] == "0"
                                                                 and len(part) > 1 else 10)
        except ValueError:
            return None
        if not 0 <= n <= 255:
            return None
        value = value << 8 | n
    return value


class Names:
    """Name lookups for the filter compiler.

    Each table given overrides the system's: ``hosts`` maps a name to its
    addresses (text, IPv4 or IPv6), ``services`` a name to ``{"tcp": port,
    "udp": port}``, ``protocols`` a name to its number, ``networks`` a name
    to its network number (text as in /etc/networks), ``ethers`` a name to
    its MAC address (text).
    """

    def __init__(self, *, hosts: Mapping[str, list[str]] | None = None,
                 services: Mapping[str, Mapping[str, int]] | None = None,
                 protocols: Mapping[str, int] | None = None,
                 networks: Mapping[str, str] | None = None,
                 ethers: Mapping[str, str] | None = None,
                 networks_file: str = "/etc/networks", ethers_file: str = "/etc/ethers"):
        self._hosts = hosts
        self._services = services
        self._protocols = protocols
        self._networks = networks
        self._ethers = ethers
        self._networks_file = networks_file
        self._ethers_file = ethers_file

    # --- hosts ------------------------------------------------------------------------

    def addresses(self, name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """Every address of host ``name``, IPv4 and IPv6, in the resolver's
        order, each once (empty when unknown)."""
        if self._hosts is not None:
            if name in self._hosts:
                return [ipaddress.ip_address(a) for a in self._hosts[name]]
            try:
                return [ipaddress.ip_address(name)]
            except ValueError:
                return []
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                       socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError):
            return []
        out: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for family, _, _, _, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if address not in out:
                out.append(address)
        return out

    def ether(self, name: str) -> bytes | None:
        """The MAC address of Ethernet host ``name`` (/etc/ethers), or None."""
        table = self._ethers
        if table is None:
            table = {}
            try:
                for line in Path(self._ethers_file).read_text().splitlines():
                    fields = line.split("#", 1)[0].split()
                    if len(fields) >= 2:
                        table.setdefault(fields[1], fields[0])
            except OSError:
                pass
        text = table.get(name)
        return parse_mac(text) if text is not None else None

    # --- services ----------------------------------------------------------------------

    def _service(self, name: str, protocol: str) -> int | None:
        if self._services is not None:
            entry = self._services.get(name)
            if entry is not None and protocol in entry:
                return entry[protocol]
            return int(name) if name.isdigit() else None
        kind, number = ((socket.SOCK_STREAM, socket.IPPROTO_TCP) if protocol == TCP
                        else (socket.SOCK_DGRAM, socket.IPPROTO_UDP))
        try:
            infos = socket.getaddrinfo(None, name, socket.AF_UNSPEC, kind, number)
        except (socket.gaierror, UnicodeError, OSError):
            return None
        for info in infos:
            return int(info[4][1])
        return None

    def port(self, name: str) -> tuple[int, str | None] | None:
        """``(port, protocol)`` of service ``name``: protocol ``tcp`` or
        ``udp`` when the name is one protocol's only, None when both have
        it with the same number; None for an unknown name.  A number
        written as a name is itself (both protocols)."""
        tcp = self._service(name, TCP)
        udp = self._service(name, UDP)
        if tcp is not None:
            return tcp, (None if udp == tcp else TCP)
        if udp is not None:
            return udp, UDP
        return None

    def port_range(self, text: str) -> tuple[int, int, str | None] | None:
        """``(first, last, protocol)`` of a range ``A-B`` of ports or
        service names (protocol None unless both ends name the same one);
        None when it is not one."""
        m = re.match(r"([+-]?\d+)-([+-]?\d+)", text)
        if m:
            return int(m.group(1)), int(m.group(2)), None
        if "-" not in text:
            return None
        first, last = text.split("-", 1)
        a = self.port(first)
        b = self.port(last)
        if a is None or b is None:
            return None
        return a[0], b[0], a[1] if a[1] == b[1] else None

    # --- protocols and networks ----------------------------------------------------------

    def protocol(self, name: str) -> int | None:
        """The number of IP protocol ``name`` (/etc/protocols), or None."""
        if self._protocols is not None:
            return self._protocols.get(name)
        try:
            return socket.getprotobyname(name)
        except (OSError, UnicodeError):
            return None

    def network(self, name: str) -> int | None:
        """The network number of ``name`` (/etc/networks), or None."""
        table = self._networks
        if table is None:
            table = {}
            try:
                for line in Path(self._networks_file).read_text().splitlines():
                    fields = line.split("#", 1)[0].split()
                    if len(fields) >= 2:
                        for alias in [fields[0], *fields[2:]]:
                            table.setdefault(alias, fields[1])
            except OSError:
                pass
        text = table.get(name)
        return inet_network(text) if text is not None else None
