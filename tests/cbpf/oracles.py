"""The outside programs the classic BPF tests compare against: tcpdump
(``-d``/``-dd``/``-ddd``) and libpcap's ``bpf_image`` through ctypes.
Each helper returns None (or skips) where the program is absent."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

PCAP_MAGIC_USEC = 2712847316  # the classic pcap file magic, a1b2c3d4
LINKTYPES = {"en10mb": 1, "raw": 101, "sll": 113}


@functools.cache
def libpcap() -> ctypes.CDLL | None:
    """libpcap, or None when it is not installed."""
    for name in (ctypes.util.find_library("pcap"), "libpcap.so.0.8", "libpcap.so.1"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.bpf_image.restype = ctypes.c_char_p
        return lib
    return None


class BpfInsn(ctypes.Structure):
    """libpcap's struct bpf_insn."""

    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint)]


def pcap_image(code: int, jt: int, jf: int, k: int, pc: int) -> str:
    """libpcap's bpf_image of one instruction (skips without libpcap)."""
    lib = libpcap()
    if lib is None:
        pytest.skip("libpcap is not installed (apt-get install tcpdump)")
    return lib.bpf_image(ctypes.byref(BpfInsn(code, jt, jf, k)), pc).decode()


@functools.cache
def empty_pcap(linktype: str = "en10mb") -> Path:
    """An empty capture file of ``linktype`` for ``tcpdump -r``."""
    path = Path(tempfile.mkdtemp(prefix="pybpf-cbpf-")) / f"empty-{linktype}.pcap"
    path.write_bytes(struct.pack("<IHHiIII", PCAP_MAGIC_USEC, 2, 4, 0, 0, 262144,
                                 LINKTYPES[linktype]))
    return path


def tcpdump_available() -> bool:
    """Whether tcpdump is installed."""
    return shutil.which("tcpdump") is not None


def tcpdump_dump(expression: str, fmt: str = "d", linktype: str = "en10mb") -> str:
    """What ``tcpdump -<fmt>`` prints for ``expression`` (skips without tcpdump)."""
    if not tcpdump_available():
        pytest.skip("tcpdump is not installed (apt-get install tcpdump)")
    out = subprocess.run(["tcpdump", f"-{fmt}", "-r", str(empty_pcap(linktype)), expression],
                         capture_output=True, text=True, check=True)
    return out.stdout
