"""System call names by number, read from the kernel's uapi headers
(``asm/unistd_64.h``) of the system or of the ziglang wheel."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path

_DEFINE = re.compile(r"^#define\s+__NR_(\w+)\s+(\d+)\s*$", re.M)


def _candidates() -> list[Path]:
    machine = os.uname().machine
    triple, zig_arch, header = {
        "x86_64": ("x86_64-linux-gnu", "x86-linux-any", "asm/unistd_64.h"),
        "aarch64": ("aarch64-linux-gnu", "aarch64-linux-any", "asm-generic/unistd.h"),
    }.get(machine, ("", "", "asm/unistd.h"))
    paths = [Path("/usr/include") / triple / header, Path("/usr/include") / header]
    spec = importlib.util.find_spec("ziglang")
    if spec is not None and spec.origin:
        libc = Path(spec.origin).parent / "lib" / "libc" / "include"
        paths += [libc / zig_arch / header, libc / "any-linux-any" / header]
    return paths


@functools.cache
def syscall_names() -> dict[int, str]:
    """``{number: name}`` for this machine (empty when no header is found)."""
    for path in _candidates():
        try:
            text = path.read_text()
        except OSError:
            continue
        table = {int(num): name for name, num in _DEFINE.findall(text)}
        if table:
            return table
    return {}


def syscall_name(number: int) -> str:
    """The name of system call ``number`` (``"[N]"`` when unknown)."""
    return syscall_names().get(number, f"[{number}]")
