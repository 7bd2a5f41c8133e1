"""Shared by the pybpf.lang tests: packets, libbpf's verdict on an object
through ``bpftool prog loadall``, and a program file run as a script."""

from __future__ import annotations

import itertools
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
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


def run_script(path: Path, trigger: Callable[[], object], want: str | Callable[[str], bool],
               *args: str, every: float | None = None) -> str:
    """Run a program file as a user does (``python tool.py``), wait for
    its header (it has attached), call ``trigger``, and return its output
    once ``want`` shows (a string, or a test of the output), after Ctrl-C — or, given a duration in ``args``,
    once it ends by itself.  A tool that prints no header is triggered
    ``every`` seconds instead, until ``want`` shows."""
    import selectors
    import signal
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-u", str(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    assert proc.stdout is not None
    out = ""
    seen = want if callable(want) else (lambda text: want in text)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    triggered = False
    last = time.monotonic()
    end = last + 60
    try:
        while time.monotonic() < end and not seen(out):
            if sel.select(timeout=0.2):
                line = proc.stdout.readline()
                if not line:
                    break
                out += line
            if not triggered and out:          # the header: attached
                trigger()
                triggered = True
            elif every is not None and time.monotonic() - last >= every:
                trigger()
                last = time.monotonic()
    finally:
        if proc.poll() is None and not args:       # Ctrl-C; a duration ends by itself
            proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
        out += rest or ""
    return out
