"""``pybpf filter`` and ``pybpf capture``: tcpdump's dump formats, the
eBPF translation, matching frames of a capture file, one-line errors with
exit status 1, and a live capture on ``lo`` (root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading

import pytest

from pybpf.cbpf.interp import Machine
from pybpf.cbpf.pcap_compile import compile_filter
from pybpf.cbpf.pcapfile import read_packets, write_pcap, write_pcapng
from pybpf.cli.main import main

FRAMES = [
    bytes.fromhex("020000000002020000000001080045000028123400004006") + bytes(4)
    + bytes([10, 0, 0, 1, 10, 0, 0, 2]) + bytes.fromhex("9c400050") + bytes(16),
    bytes.fromhex("ffffffffffff020000000001080600010800060400010200000000010a000001")
    + bytes(6) + bytes([10, 0, 0, 2]),
    bytes.fromhex("02000000000202000000000186dd6000000000081140") + bytes(32)
    + bytes.fromhex("04d2003500080000"),
]
TCPDUMP = shutil.which("tcpdump")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def capture_file(tmp_path):
    path = tmp_path / "three.pcap"
    write_pcap(path, FRAMES)
    return path


@pytest.mark.parametrize("fmt", ["-d", "-dd", "-ddd"])
@pytest.mark.parametrize("expression", ["tcp port 80", "arp or ip6", "vlan 100 and udp",
                                        "ip[2:2] > 576"])
def test_dump_formats_are_tcpdumps(capsys, tmp_path, fmt, expression):
    code, out, _ = run(capsys, "filter", fmt, expression)
    assert code == 0 and out
    if TCPDUMP is None:
        pytest.skip("tcpdump is not installed (apt-get install tcpdump)")
    empty = tmp_path / "empty.pcap"
    write_pcap(empty, [])
    theirs = subprocess.run(["tcpdump", fmt, "-r", str(empty), expression], capture_output=True,
                            text=True, check=True).stdout
    ours_len = len(out.splitlines())
    assert ours_len <= len(theirs.splitlines())
    if ours_len == len(theirs.splitlines()):
        assert out == theirs


def test_default_format_is_d_and_words_are_joined(capsys):
    code, out, _ = run(capsys, "filter", "udp", "port", "53")
    assert code == 0
    assert out.splitlines()[0] == "(000) ldh      [12]"
    assert out == run(capsys, "filter", "-d", "udp port 53")[1]


def test_linktype_and_ebpf(capsys):
    code, out, _ = run(capsys, "filter", "--linktype", "raw", "ip")
    assert code == 0 and "[0]" in out and "[12]" not in out
    code, out, _ = run(capsys, "filter", "--ebpf", "tcp")
    assert code == 0 and "exit" in out and "skb[12]" in out


def test_pcap_prints_matching_frame_numbers_and_a_count(capsys, capture_file):
    code, out, _ = run(capsys, "filter", "--pcap", str(capture_file), "tcp or arp")
    assert code == 0
    assert out.splitlines() == ["0", "1", "2 of 3 frames match"]
    code, out, _ = run(capsys, "filter", "--pcap", str(capture_file), "-v", "ip6")
    assert out.splitlines() == ["2 IP6 ::.1234 > ::.53: UDP, length 0", "1 of 3 frames match"]
    code, out, _ = run(capsys, "filter", "--pcap", str(capture_file), "-j", "udp")
    assert out.strip() == '{"matches":[2],"count":1,"frames":3}'


def test_pcapng_and_the_files_link_type(capsys, tmp_path):
    path = tmp_path / "raw.pcapng"
    write_pcapng(path, [f[14:] for f in FRAMES], linktype=101)
    code, out, _ = run(capsys, "filter", "--pcap", str(path), "ip6 or tcp")
    assert code == 0 and out.splitlines()[-1] == "2 of 3 frames match"
    code, _, err = run(capsys, "filter", "--pcap", str(path), "--linktype", "en10mb", "ip")
    assert code == 1 and "link type is 101" in err


@pytest.mark.parametrize("expression, reason", [
    ("tcp and", "syntax error"), ("port 70000", "illegal"), ("ip[2:3] = 0", "byte-slice"),
    ("tcp and udp", "rejects all packets"), ("host nosuchhost.invalid", "unknown host"),
])
def test_refused_expressions_end_in_one_line_and_status_1(capsys, expression, reason):
    code, out, err = run(capsys, "filter", expression)
    assert code == 1 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pybpf: error: ") and reason in lines[0]


def test_no_expression_is_an_error(capsys):
    code, _, err = run(capsys, "filter")
    assert code == 1 and "give an expression" in err


@pytest.mark.kernel
@pytest.mark.skipif(os.geteuid() != 0, reason="packet sockets need root")
def test_capture_prints_summaries_and_writes_pcap(capsys, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    done = threading.Event()

    def send():
        # until the capture ends: on a busy machine it may start listening late
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not done.wait(0.2):
                s.sendto(b"cli", ("127.0.0.1", port))

    thread = threading.Thread(target=send)
    thread.start()
    try:
        code, out, err = run(capsys, "capture", "-i", "lo", "-c", "2", "--timeout", "10",
                             f"udp dst port {port}")
    finally:
        done.set()
        thread.join()
    assert code == 0 and "2 packets captured" in err
    lines = out.splitlines()
    assert len(lines) == 2
    assert all(f"127.0.0.1.{port}: UDP, length 3" in line and " lo " in line for line in lines)

    path = tmp_path / "cli.pcap"
    done.clear()
    thread = threading.Thread(target=send)
    thread.start()
    try:
        code, out, _ = run(capsys, "capture", "-i", "lo", "-c", "2", "--timeout", "10", "-w",
                           str(path), "udp", "dst", "port", str(port))
    finally:
        done.set()
        thread.join()
    assert code == 0 and not out
    packets = read_packets(path)
    assert len(packets) == 2
    check = Machine(compile_filter(f"udp dst port {port}"))
    assert all(check.run(p.data).value for p in packets)


def test_capture_on_a_missing_interface_is_one_line(capsys):
    code, _, err = run(capsys, "capture", "-i", "nosuch0", "-c", "1")
    assert code == 1 and "nosuch0" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["filter", "tcp"], ["capture", "--interface=lo", "--lock"]])
@pytest.mark.parametrize("snaplen", ["18446744073709551616", "-1", "262145"])
def test_a_snapshot_length_tcpdump_refuses_is_one_line(command, snaplen, capsys):
    # cli fuzz seed 20261207 case 10465: capture --snaplen=2**64 raised OverflowError
    assert main([*command, "--snaplen", snaplen]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pybpf: error: invalid snapshot length") and err.count("\n") == 1


def test_a_snapshot_length_of_zero_is_the_largest(capsys):
    assert main(["filter", "ip", "-s", "0"]) == 0
    assert "ret      #262144" in capsys.readouterr().out
