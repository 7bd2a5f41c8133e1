"""Shared by the pybpf.lang tests: packets, and libbpf's verdict on an
object through ``bpftool prog loadall``."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

BPFTOOL = shutil.which("bpftool")
HAVE_VMLINUX = Path("/sys/kernel/btf/vmlinux").exists()
_pins = itertools.count()


def bpftool_loadall(data: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    """``bpftool prog loadall`` on an object's bytes (pins removed again)."""
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    obj = tmp_path / f"obj{next(_pins)}.o"
    obj.write_bytes(data)
    pin = f"/sys/fs/bpf/pybpf_lang_{os.getpid()}_{next(_pins)}"
    try:
        return subprocess.run([BPFTOOL, "prog", "loadall", str(obj), pin], capture_output=True,
                              text=True, timeout=120)
    finally:
        shutil.rmtree(pin, ignore_errors=True)


def packet(proto: int, dport: int, payload: bytes = b"x" * 8) -> bytes:
    """Ethernet + IPv4 + UDP (17) or TCP (6) to ``dport``."""
    if proto == 17:
        l4 = struct.pack("!HHHH", 1234, dport, 8 + len(payload), 0)
    else:
        l4 = struct.pack("!HHIIBBHHH", 1234, dport, 0, 0, 0x50, 0x02, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), 0, 0, 64, proto,
                     0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4 + payload
