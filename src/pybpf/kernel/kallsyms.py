"""The running kernel's symbol table, ``/proc/kallsyms``.

One reader for the whole backend: ksym externs take their addresses from
it, ``kprobe.multi`` patterns are matched against its function names, the
CPU profiler (planned) will symbolize kernel stacks with it.  Addresses read
as zero without ``CAP_SYSLOG`` (``kptr_restrict``); :func:`address` then
returns None as it does for a missing symbol.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import NamedTuple

PATH = "/proc/kallsyms"

FUNCTION_KINDS = "tT"
"""Symbol kinds of text (function) symbols: global and local."""


class KernelSymbol(NamedTuple):
    """One line of ``/proc/kallsyms``: address, kind letter, name and the
    module it belongs to (None for vmlinux)."""

    address: int
    kind: str
    name: str
    module: str | None


def symbols(path: str = PATH) -> Iterator[KernelSymbol]:
    """Every symbol, in the file's order (nothing when it cannot be read)."""
    try:
        f = open(path)  # noqa: SIM115 - closed by the with below
    except OSError:
        return
    with f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            module = parts[3].strip("[]") if len(parts) > 3 else None
            try:
                address = int(parts[0], 16)
            except ValueError:
                continue
            yield KernelSymbol(address, parts[1], parts[2], module)


def address(name: str, path: str = PATH) -> int | None:
    """The address of kernel symbol ``name``, or None when the kernel does
    not export it (or hides addresses from this user)."""
    for sym in symbols(path):
        if sym.name == name:
            return sym.address or None
    return None


def functions_matching(pattern: str, path: str = PATH) -> list[str]:
    """The names of kernel functions matching glob ``pattern``, sorted."""
    return sorted({s.name for s in symbols(path)
                   if s.kind in FUNCTION_KINDS and fnmatch.fnmatchcase(s.name, pattern)})
