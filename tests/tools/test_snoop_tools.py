"""The event tools for signals and files — killsnoop, statsnoop,
mountsnoop, filelife, bindsnoop — run as processes and see an event the
test makes happen, in text and in JSON lines."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest
from tool_process import ToolProcess, run_tool

from pybpf.tools import PROGRAMLESS, TOOLS


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


@pytest.mark.parametrize("name", sorted(n for n in TOOLS
                                        if hasattr(importlib.import_module(f"pybpf.tools.{n}"),
                                                   "build_parser")))
def test_every_option_has_help_and_json_output(name):
    module = importlib.import_module(f"pybpf.tools.{name}")
    p = module.build_parser()
    for action in p._actions:
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert "-j" in p._option_string_actions


# --- killsnoop -------------------------------------------------------------------------------

def test_killsnoop_signal_names_and_parsing():
    from pybpf.tools.killsnoop import parse_signal, signal_name

    assert signal_name(15) == "SIGTERM" and signal_name(0) == "0"
    assert parse_signal("9") == 9 and parse_signal("term") == 15 == parse_signal("SIGTERM")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_signal("NOPE")


@pytest.mark.kernel
def test_killsnoop_sees_a_signal_and_a_failed_kill(built):
    me = str(os.getpid())
    t = ToolProcess("killsnoop", "-d", "1", "-p", me)
    child = subprocess.Popen(["sleep", "30"])
    os.kill(child.pid, signal.SIGUSR1)
    child.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)  # reaped: ESRCH
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "PID", "COMM", "SIG", "TPID", "RESULT"]
    rows = [ln.split() for ln in lines[1:]]
    assert [me, str(int(signal.SIGUSR1)), str(child.pid), "0"] == \
        [rows[0][1], rows[0][3], rows[0][4], rows[0][5]], out
    assert any(r[3:] == ["0", str(child.pid), "-3"] for r in rows), out  # -ESRCH


@pytest.mark.kernel
def test_killsnoop_json_lines_with_a_command(built):
    out = run_tool("killsnoop", "-j", "-s", "TERM", "--", "sh", "-c", "sleep 5 & kill $!")
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert any(e["signal"] == "SIGTERM" and e["call"] == "kill" and e["ret"] == 0 and
               e["comm"] == "sh" for e in events), out.stdout
    assert all(e["sig"] == 15 for e in events)


# --- bindsnoop -------------------------------------------------------------------------------

def test_bindsnoop_decodes_sockaddrs():
    from pybpf.tools.bindsnoop import decode_sockaddr, parse_ports

    raw4 = struct.pack("<H", socket.AF_INET) + struct.pack(">H", 8080) + \
        socket.inet_aton("10.1.2.3") + bytes(20)
    assert decode_sockaddr(raw4) == ("IPv4", "10.1.2.3", 8080)
    raw6 = struct.pack("<H", socket.AF_INET6) + struct.pack(">H", 53) + bytes(4) + \
        socket.inet_pton(socket.AF_INET6, "::1") + bytes(4)
    assert decode_sockaddr(raw6) == ("IPv6", "::1", 53)
    assert parse_ports("80,443") == {80, 443}


@pytest.mark.kernel
def test_bindsnoop_sees_binds_with_protocol_interface_and_errors(built):
    t = ToolProcess("bindsnoop", "-d", "1", "-p", str(os.getpid()))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
    with socket.socket() as tcp, pytest.raises(OSError):
        tcp.bind(("192.0.2.1", 80))  # not an address of this machine: EADDRNOTAVAIL
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "COMM", "RET", "PROTO", "IF", "PORT", "ADDR"]
    rows = [ln.split() for ln in lines[1:]]
    lo = socket.if_nametoindex("lo")
    assert [str(os.getpid()), "0", "UDP", str(lo), "0", "127.0.0.1"] == \
        [rows[0][0], *rows[0][2:]], (port, out)
    assert any(r[2:] == [str(-errno.EADDRNOTAVAIL), "TCP", "0", "80", "192.0.2.1"]
               for r in rows), out


@pytest.mark.kernel
def test_bindsnoop_json_lines(built):
    out = run_tool("bindsnoop", "-j", "-P", "0", "--", sys.executable, "-c",
                   "import socket; socket.socket(socket.AF_INET6).bind(('::1', 0))")
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert any(e["family"] == "IPv6" and e["address"] == "::1" and e["proto"] == "TCP"
               and e["ret"] == 0 for e in events), out.stdout


# --- statsnoop -------------------------------------------------------------------------------

@pytest.mark.kernel
def test_statsnoop_shows_a_failed_and_a_good_stat(built, tmp_path):
    missing = str(tmp_path / f"missing-{os.getpid()}")
    t = ToolProcess("statsnoop", "-d", "1", "-p", str(os.getpid()))
    with pytest.raises(FileNotFoundError):
        os.stat(missing)
    os.lstat(str(tmp_path))
    os.statvfs(str(tmp_path))
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "COMM", "RET", "ERR", "PATH"]
    rows = [ln.split() for ln in lines[1:]]
    assert [str(os.getpid()), "-1", str(errno.ENOENT), missing] == \
        [rows[0][0], *rows[0][-3:]], out
    assert sum(r[-3:] == ["0", "0", str(tmp_path)] for r in rows) >= 2, out


@pytest.mark.kernel
def test_statsnoop_json_lines_failed_only(built, tmp_path):
    missing = str(tmp_path / "missing")
    t = ToolProcess("statsnoop", "-d", "1", "-j", "-x", "-p", str(os.getpid()))
    os.path.exists(str(tmp_path))
    os.path.exists(missing)
    events = t.finish_json()
    assert [(e["path"], e["ret"]) for e in events] == [(missing, -errno.ENOENT)], events
    assert events[0]["call"] in ("stat", "fstatat", "statx")


# --- mountsnoop ------------------------------------------------------------------------------

MOUNT_AND_UMOUNT = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
where = sys.argv[1].encode()
if libc.mount(b"pybpf-src", where, b"tmpfs", 2, b"size=1m") != 0:  # MS_NOSUID
    raise SystemExit("mount: " + os.strerror(ctypes.get_errno()))
libc.umount2(where, 2)  # MNT_DETACH
libc.umount2(where + b"/nonexistent", 0)
"""


def test_mountsnoop_describes_calls():
    from collections import namedtuple

    from pybpf.tools.mountsnoop import describe_call, event_json, flag_names

    assert flag_names(2 | 4 | 1 << 30, ()) == hex(2 | 4 | 1 << 30)
    Event = namedtuple("Event", "flags pid tid mnt_ns ret call fd comm fstype source target "
                                "data")
    e = Event(4096 | 16384, 1, 1, 4026531841, -errno.ENOENT, 0, -1, "mount", "", "/a", "/b", "")
    assert describe_call(e) == 'mount("/a", "/b", "", MS_BIND|MS_REC, "") = -ENOENT'
    assert event_json(e)["call"] == "mount" and event_json(e)["error"] == "ENOENT"


@pytest.mark.kernel
def test_mountsnoop_sees_a_mount_and_umounts(built, tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) for a private mount namespace")
    where = str(tmp_path)
    out = run_tool("mountsnoop", "--", "unshare", "-m", "--propagation", "private",
                   sys.executable, "-c", MOUNT_AND_UMOUNT, where)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["COMM", "PID", "TID", "MNT_NS", "CALL"]
    calls = [ln.split(None, 4)[4] for ln in lines[1:]]
    assert f'mount("pybpf-src", "{where}", "tmpfs", MS_NOSUID, "size=1m") = 0' in calls, out
    assert f'umount("{where}", MNT_DETACH) = 0' in calls, out
    assert f'umount("{where}/nonexistent", 0) = -ENOENT' in calls, out


# --- filelife --------------------------------------------------------------------------------

def _fs_type(path: str) -> str:
    """The type of the file system ``path`` is on (/proc/self/mounts)."""
    best, kind = "", ""
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            _src, where, fstype = line.split()[:3]
            if (path == where or path.startswith(where.rstrip("/") + "/")) and \
                    len(where) >= len(best):
                best, kind = where, fstype
    return kind


@pytest.mark.kernel
def test_filelife_reports_a_short_lived_file(built, tmp_path):
    if _fs_type(str(tmp_path)) != "ext4":
        pytest.skip(f"{tmp_path} is on {_fs_type(str(tmp_path))}: filelife sees deletions "
                    f"on ext4 only")
    name = f"short-lived-{os.getpid()}"
    t = ToolProcess("filelife", "-d", "1", "-j", "-p", str(os.getpid()))
    path = tmp_path / name
    path.write_text("x")
    time.sleep(0.2)
    path.unlink()
    (tmp_path / "kept").write_text("y")  # created, not deleted: not reported
    events = t.finish_json()
    assert [e["file"] for e in events] == [name], events
    e = events[0]
    assert e["pid"] == e["creator_pid"] == os.getpid() and e["path"] == str(path), e
    assert 0.15 < e["age_s"] < 5, e


@pytest.mark.kernel
def test_filelife_text_columns(built, tmp_path):
    if _fs_type(str(tmp_path)) != "ext4":
        pytest.skip(f"{tmp_path} is on {_fs_type(str(tmp_path))}: filelife sees deletions "
                    f"on ext4 only")
    out = run_tool("filelife", "--", "sh", "-c", f"touch {tmp_path}/a && rm {tmp_path}/a")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["TIME", "PID", "COMM", "AGE(s)", "FILE"]
    assert any(ln.split()[2:3] == ["rm"] and ln.split()[-1] == "a" for ln in lines[1:]), out
