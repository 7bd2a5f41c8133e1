"""Label decoders: how a key field becomes a label value.

Each decoder takes the field's value (an int, str, bytes... as
:meth:`pybpf.export.fields.Field.read` gives it) and its raw bytes, and
returns the label's text.  Without a decoder a field prints as
:func:`default_text` does: integers in decimal, enumerators by name,
``char`` arrays as text, other bytes in hex, ``true``/``false``.

=============  ============================================================
``int``        decimal (signed or not as the field is)
``hex``        ``0x...`` for numbers, hex digits for bytes
``string``     bytes up to the first NUL, as UTF-8
``enum``       the enumerator's name (the number when it has none)
``ksym``       a kernel address as the symbol it falls in (``/proc/kallsyms``)
``ipv4``       4 bytes in network order as ``10.0.0.1``
``ipv6``       16 bytes as ``::1``
``inet``       ``ipv4`` or ``ipv6`` by the field's size
``port``       a 16-bit port in network order as a number
``syscall``    a system call number as its name (x86-64 table)
``errno``      an errno (either sign) as its name: ``ENOENT``
``majorminor`` a kernel ``dev_t`` (major << 20 | minor) as ``8:0``
``cpu``        a CPU number as ``cpuN``
=============  ============================================================
"""

from __future__ import annotations

import bisect
import errno as _errno
import ipaddress
import threading
from collections.abc import Callable
from typing import Any

from ..spec.tracing import MINORBITS
from .fields import Field

Decoder = Callable[[Any, bytes, Field], str]



def default_text(value: Any, field: Field) -> str:
    """A field's label text without a decoder."""
    if field.kind == "enum" and field.enum is not None:
        return field.enum.get(value, str(value))
    if field.kind == "bool":
        return "true" if value else "false"
    if field.kind == "ptr":
        return hex(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _as_int(value: Any, raw: bytes) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return int.from_bytes(raw, "little")


def _int(value: Any, raw: bytes, field: Field) -> str:
    return str(_as_int(value, raw))


def _hex(value: Any, raw: bytes, field: Field) -> str:
    if isinstance(value, int | bool):
        return hex(int(value))
    return raw.hex()


def _string(value: Any, raw: bytes, field: Field) -> str:
    if isinstance(value, str):
        return value
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _enum(value: Any, raw: bytes, field: Field) -> str:
    number = _as_int(value, raw)
    return (field.enum or {}).get(number, str(number))


def _ipv4(value: Any, raw: bytes, field: Field) -> str:
    if len(raw) < 4:
        raise ValueError(f"an IPv4 address needs 4 bytes, the field has {len(raw)}")
    return str(ipaddress.IPv4Address(raw[:4]))


def _ipv6(value: Any, raw: bytes, field: Field) -> str:
    if len(raw) < 16:
        raise ValueError(f"an IPv6 address needs 16 bytes, the field has {len(raw)}")
    return str(ipaddress.IPv6Address(raw[:16]))


def _inet(value: Any, raw: bytes, field: Field) -> str:
    return _ipv6(value, raw, field) if len(raw) >= 16 else _ipv4(value, raw, field)


def _port(value: Any, raw: bytes, field: Field) -> str:
    if len(raw) < 2:
        raise ValueError("a port needs 2 bytes")
    return str(int.from_bytes(raw[:2], "big"))


def _syscall(value: Any, raw: bytes, field: Field) -> str:
    number = _as_int(value, raw)
    return syscall_names().get(number, str(number))


def _errno_name(value: Any, raw: bytes, field: Field) -> str:
    number = abs(_as_int(value, raw))
    return _errno.errorcode.get(number, str(number))


def _majorminor(value: Any, raw: bytes, field: Field) -> str:
    dev = _as_int(value, raw)
    return f"{dev >> MINORBITS}:{dev & ((1 << MINORBITS) - 1)}"


def _cpu(value: Any, raw: bytes, field: Field) -> str:
    return f"cpu{_as_int(value, raw)}"


_syscalls: dict[int, str] | None = None


def syscall_names() -> dict[int, str]:
    """System call numbers to names (x86-64)."""
    global _syscalls
    if _syscalls is None:
        from ..spec.syscalls_x86_64 import SYSCALLS

        _syscalls = {number: name for name, number in SYSCALLS.items()}
    return _syscalls


class KernelSymbols:
    """``/proc/kallsyms`` as a sorted table, read once: the symbol an
    address falls in (``name+0x10`` past its start), or the address in hex
    when the table is unreadable or hidden (``kptr_restrict``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._addresses: list[int] | None = None
        self._names: list[str] = []

    def _load(self) -> None:
        from ..kernel.kallsyms import symbols

        rows = sorted((s.address, s.name) for s in symbols() if s.address)
        self._addresses = [a for a, _ in rows]
        self._names = [n for _, n in rows]

    def name(self, address: int) -> str:
        """The symbol ``address`` falls in."""
        with self._lock:
            if self._addresses is None:
                self._load()
        addresses = self._addresses or []
        i = bisect.bisect_right(addresses, address) - 1
        if i < 0 or not address:
            return hex(address)
        offset = address - addresses[i]
        return self._names[i] if offset == 0 else f"{self._names[i]}+{offset:#x}"


KSYMS = KernelSymbols()
"""The process's one kernel symbol table."""


def _ksym(value: Any, raw: bytes, field: Field) -> str:
    return KSYMS.name(_as_int(value, raw))


DECODERS: dict[str, Decoder] = {
    "int": _int, "hex": _hex, "string": _string, "enum": _enum, "ksym": _ksym,
    "ipv4": _ipv4, "ipv6": _ipv6, "inet": _inet, "port": _port, "syscall": _syscall,
    "errno": _errno_name, "majorminor": _majorminor, "cpu": _cpu,
}
"""Every decoder by the name a configuration gives it."""


__all__ = ["DECODERS", "KSYMS", "Decoder", "KernelSymbols", "default_text",
           "syscall_names"]
