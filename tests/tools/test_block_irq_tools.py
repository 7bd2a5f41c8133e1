"""The block I/O and interrupt tools — biolatency, biosnoop, hardirqs,
softirqs — run as processes and see I/O the test does (direct I/O to a
file on a block device) and the interrupts it raises."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from tool_process import ToolProcess

from pybpf.tools import PROGRAMLESS, TOOLS

WRITES = 32
"""64 KiB direct writes the block tests make (each its own request)."""


@pytest.fixture(scope="module")
def built():
    """Every tool's object (shipped, or compiled here once if its C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return {name: object_path(name, quiet=True) for name in TOOLS
                if name not in PROGRAMLESS}
    except CompilerNotFound as e:
        pytest.skip(str(e))


@pytest.fixture
def block_file(tmp_path_factory):
    """A path on a file system backed by a block device, for direct I/O;
    skips with the reason where there is none."""
    if not shutil.which("dd"):
        pytest.skip("needs dd(1) for direct I/O")
    for base in (tmp_path_factory.getbasetemp(), "/var/tmp"):
        dev = os.stat(base).st_dev
        if os.major(dev) and os.path.exists(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"):
            path = os.path.join(base, f"pybpf-bio-{os.getpid()}")
            yield path
            if os.path.exists(path):
                os.unlink(path)
            return
    pytest.skip("no block-device-backed file system to make block I/O on (tmpfs/overlay only)")


def direct_writes(path: str, count: int = WRITES) -> None:
    """``count`` synchronous 64 KiB O_DIRECT writes to ``path``."""
    out = subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=64k", f"count={count}",
                          "oflag=direct,dsync"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"direct I/O refused here: {out.stderr.strip()}")


def test_disk_names_and_ops():
    from pybpf.tools._block import MINORBITS, disk_dev, disk_name, op_name, split_dev

    assert op_name(0) == "Read" and op_name(1) == "Write" and op_name(1 | 1 << 11) == "Write"
    assert split_dev(254 << MINORBITS | 3) == (254, 3)
    assert disk_name(4095 << MINORBITS | 7) == "4095:7"  # no such disk
    with pytest.raises(ValueError):
        disk_dev("no-such-disk")
    for name in os.listdir("/sys/block")[:3]:
        assert disk_name(disk_dev(name)) == name


def test_histogram_json():
    from pybpf.tools._hist import hist_json

    h = hist_json([0, 2, 0, 5], "usecs", disk="vda")
    assert h == {"disk": "vda", "unit": "usecs",
                 "buckets": [{"bucket": "[1]", "low": 1, "high": 2, "count": 2},
                             {"bucket": "[4, 8)", "low": 4, "high": 8, "count": 5}]}


# --- biolatency ------------------------------------------------------------------------------

@pytest.mark.kernel
def test_biolatency_counts_direct_writes_per_disk(built, block_file):
    t = ToolProcess("biolatency", "-d", "1", "-D", "-F", "-j")
    direct_writes(block_file)
    hists = t.finish_json()
    writes = [h for h in hists if h["op"] == "Write"]
    assert writes and all(h["unit"] == "usecs" for h in hists), hists
    assert sum(b["count"] for h in writes for b in h["buckets"]) >= WRITES, hists
    assert all(os.path.exists(f"/sys/block/{h['disk']}") for h in hists), hists


@pytest.mark.kernel
def test_biolatency_prints_a_histogram(built, block_file):
    t = ToolProcess("biolatency", "-d", "1", "-m")
    direct_writes(block_file, 4)
    code, out, err = t.finish()
    assert code == 0, err
    assert "@msecs:" in out
    assert any(ln.startswith("[") and "|" in ln for ln in out.splitlines()), out


# --- biosnoop --------------------------------------------------------------------------------

@pytest.mark.kernel
def test_biosnoop_shows_the_writes_of_a_process(built, block_file):
    t = ToolProcess("biosnoop", "-d", "1", "-Q")
    direct_writes(block_file, 4)
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME(s)", "COMM", "PID", "DISK", "T", "SECTOR", "BYTES",
                                "QUE(ms)", "LAT(ms)"]
    rows = [ln.split() for ln in lines[1:]]
    writes = [r for r in rows if r[1] == "dd" and r[4] == "W" and r[6] == "65536"]
    assert len(writes) >= 4, out
    assert all(os.path.exists(f"/sys/block/{r[3]}") and float(r[8]) > 0 for r in writes), out


@pytest.mark.kernel
def test_biosnoop_json_lines(built, block_file):
    t = ToolProcess("biosnoop", "-d", "1", "-j")
    direct_writes(block_file, 2)
    events = t.finish_json()
    writes = [e for e in events if e["comm"] == "dd" and e["op"] == "Write"
              and e["bytes"] == 65536]
    assert len(writes) >= 2 and all(e["latency_ms"] > 0 and e["sector"] for e in writes), events


# --- hardirqs --------------------------------------------------------------------------------

@pytest.mark.kernel
def test_hardirqs_counts_the_interrupts_of_block_io(built, block_file):
    t = ToolProcess("hardirqs", "-d", "1", "-C", "-j")
    direct_writes(block_file, 8)  # each completes with the device's interrupt
    rows = t.finish_json()
    assert rows and all(r["hardirq"] and r["count"] > 0 for r in rows), rows
    assert sum(r["count"] for r in rows) >= 8, rows


@pytest.mark.kernel
def test_hardirqs_prints_time_per_handler(built, block_file):
    t = ToolProcess("hardirqs", "-d", "1")
    direct_writes(block_file, 4)
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index(next(ln for ln in lines if ln.startswith("HARDIRQ")))
    assert lines[at].split() == ["HARDIRQ", "TOTAL_usecs"]
    assert len(lines) > at + 1 and all(ln.split()[-1].isdigit() for ln in lines[at + 1:]), out


# --- softirqs --------------------------------------------------------------------------------

def _loopback_traffic(size: int = 1 << 20) -> None:
    """``size`` bytes over a TCP connection on 127.0.0.1: packets the
    loopback device hands to the NET_RX soft interrupt."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            server, _ = listener.accept()
            with server:
                client.sendall(b"x" * size)
                client.shutdown(socket.SHUT_WR)
                while server.recv(1 << 16):
                    pass


@pytest.mark.kernel
def test_softirqs_counts_net_rx_of_loopback_traffic(built):
    t = ToolProcess("softirqs", "-d", "1", "-C", "-j")
    _loopback_traffic()
    rows = {r["softirq"]: r["count"] for r in t.finish_json()}
    assert rows.get("net_rx", 0) > 0, rows


@pytest.mark.kernel
def test_softirqs_histograms(built):
    t = ToolProcess("softirqs", "-d", "1", "-D")
    _loopback_traffic()
    code, out, err = t.finish()
    assert code == 0, err
    assert "softirq = 'net_rx'" in out and "@usecs:" in out, out
    assert any(ln.startswith("[") and "|" in ln for ln in out.splitlines()), out
