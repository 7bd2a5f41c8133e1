"""The network tools — tcpconnect, tcplife, tcpretrans — run as processes
and see a real TCP connection the test makes on the loopback interface."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys

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


def test_connection_ends_and_states():
    from pybpf.tools._net import address, ip_version, tcp_state

    assert address(socket.AF_INET, socket.inet_aton("10.0.0.1") + bytes(12)) == "10.0.0.1"
    assert address(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, "fe80::1")) == "fe80::1"
    assert (ip_version(socket.AF_INET), ip_version(socket.AF_INET6)) == (4, 6)
    assert tcp_state(1) == "ESTABLISHED" and tcp_state(7) == "CLOSE" and tcp_state(99) == "99"


# --- tcpconnect ------------------------------------------------------------------------------

@pytest.mark.kernel
def test_tcpconnect_sees_an_established_and_a_refused_connect(built):
    t = ToolProcess("tcpconnect", "-d", "1", "-L", "-p", str(os.getpid()))
    with socket.socket() as server, socket.socket() as not_listening:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            lport = client.getsockname()[1]
        not_listening.bind(("127.0.0.1", 0))  # a port held, where connects are refused
        closed = not_listening.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed))
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT"]
    rows = [ln.split() for ln in lines[1:]]
    assert [str(os.getpid()), "4", "127.0.0.1", str(lport), "127.0.0.1", str(port)] == \
        [rows[0][0], *rows[0][2:7]] and len(rows[0]) == 7, out
    assert any(r[5:] == ["127.0.0.1", str(closed), "(CLOSE)"] for r in rows), out


@pytest.mark.kernel
def test_tcpconnect_json_lines_and_counts(built):
    code = ("import socket\n"
            "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
            "a = socket.create_connection(s.getsockname())\n"
            "b = socket.create_connection(s.getsockname())\n")
    out = run_tool("tcpconnect", "-j", "--", "python3", "-c", code)
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    mine = [e for e in events if e["comm"] == "python3" and e["daddr"] == "127.0.0.1"]
    assert len(mine) >= 2 and all(e["established"] and e["ip"] == 4 for e in mine), events
    out = run_tool("tcpconnect", "-c", "--", "python3", "-c", code)
    assert out.returncode == 0, out.stderr
    table = out.stdout.split("LADDR", 1)[1].splitlines()[1:]
    assert any(r.split()[:2] == ["127.0.0.1", "127.0.0.1"] and r.split()[3] == "2"
               for r in table), out.stdout


# --- tcplife ---------------------------------------------------------------------------------

def _session(sent: int, received: int) -> tuple[int, int]:
    """A TCP session on 127.0.0.1 where the client sends ``sent`` bytes and
    receives ``received``; the client's and the server's ports."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        client.sendall(b"x" * sent)
        got = 0
        while got < sent:
            got += len(server.recv(65536))
        server.sendall(b"y" * received)
        got = 0
        while got < received:
            got += len(client.recv(65536))
        ports = client.getsockname()[1], server.getsockname()[1]
        client.shutdown(socket.SHUT_WR)
        server.recv(1)  # the client's FIN: the server then closes last (LAST_ACK)
    return ports


@pytest.mark.kernel
def test_tcplife_reports_both_ends_with_bytes_and_span(built):
    t = ToolProcess("tcplife", "-d", "1", "-p", str(os.getpid()))
    cport, sport = _session(5000, 3000)
    code, out, err = t.finish()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB",
                                "RX_KB", "MS"]
    rows = {r[3]: r for r in (ln.split() for ln in lines[1:])}
    assert rows[str(cport)][5:8] == [str(sport), "4", "2"], out  # 5000 B out, 3000 in
    assert rows[str(sport)][5:8] == [str(cport), "2", "4"], out
    assert all(r[0] == str(os.getpid()) and float(r[8]) > 0 for r in rows.values()), out


@pytest.mark.kernel
def test_tcplife_json_lines(built):
    t = ToolProcess("tcplife", "-d", "1", "-j", "-p", str(os.getpid()))
    cport, sport = _session(100, 7)
    events = t.finish_json()
    client = [e for e in events if e["sport"] == cport]
    assert len(client) == 1 and client[0]["dport"] == sport, events
    assert client[0]["rx_bytes"] in (7, 8) and client[0]["tx_bytes"] >= 100, events  # FIN
    assert client[0]["saddr"] == "127.0.0.1" and client[0]["span_ms"] > 0


# --- tcpretrans ------------------------------------------------------------------------------

# In a network namespace of its own, a connect to an address routed to the
# loopback interface but not assigned: the SYN is dropped, nothing answers,
# and the kernel retransmits it after its initial timeout (1 s).
UNANSWERED_CONNECT = """
ip link set lo up && ip addr add 192.0.2.1/32 dev lo &&
ip route add 192.0.2.0/24 dev lo src 192.0.2.1 && exec {python} -c '
import shutil
import socket
import sys
s = socket.socket()
s.settimeout(1.4)
try:
    s.connect(("192.0.2.2", 80))
except OSError:
    pass
'
"""


@pytest.mark.kernel
def test_tcpretrans_sees_a_syn_retransmitted(built):
    if not (shutil.which("unshare") and shutil.which("ip")):
        pytest.skip("needs unshare(1) and ip(8) for a private network namespace")
    script = UNANSWERED_CONNECT.format(python=sys.executable)
    out = run_tool("tcpretrans", "-j", "--", "unshare", "-n", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert any(e["saddr"] == "192.0.2.1" and e["daddr"] == "192.0.2.2" and e["dport"] == 80
               and e["state"] == "SYN_SENT" and e["ip"] == 4 for e in events), out.stdout


def test_tcpretrans_lines_in_bccs_columns():
    from collections import namedtuple

    from pybpf.tools.tcpretrans import format_event

    Event = namedtuple("Event", "ts_ns pid state family sport dport pad_ends saddr daddr")
    v6 = Event(0, 42, 1, socket.AF_INET6, 5000, 443, 0,
               socket.inet_pton(socket.AF_INET6, "::1"), socket.inet_pton(socket.AF_INET6, "::2"))
    assert format_event(v6).split()[1:] == ["42", "6", "[::1]:5000", "R>", "[::2]:443",
                                           "ESTABLISHED"]
