"""What the network tools share: TCP state names and connection ends
(family, addresses, ports) as their BPF sides send them."""

from __future__ import annotations

import socket

from ..spec.tracing import TCP_STATES


def tcp_state(n: int) -> str:
    """``ESTABLISHED`` for 1; the number for unknown states."""
    return TCP_STATES.get(n, str(n))


def ip_version(family: int) -> int:
    """4 or 6 for AF_INET / AF_INET6 (0 for others)."""
    return {socket.AF_INET: 4, socket.AF_INET6: 6}.get(family, 0)


def address(family: int, raw: bytes) -> str:
    """An address the BPF side sent in 16 bytes (IPv4 in the first 4)."""
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, bytes(raw[:4]))
    if family == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, bytes(raw[:16]))
    return "?"


def parse_ports(text: str) -> set[int]:
    """``80,443`` -> ``{80, 443}`` (an option's value)."""
    return {int(p) for p in text.split(",") if p.strip()}
