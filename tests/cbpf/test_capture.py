"""Live capture on ``lo``: real UDP packets through a compiled filter on
an AF_PACKET socket; the kernel drops what the filter refuses, a locked
filter stays, captures go to pcap files tcpdump reads.  Root only."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time

import pytest
import tcpdump_oracle as T

from pybpf.cbpf.capture import LiveCapture, capture, device_linktype
from pybpf.cbpf.pcapfile import PcapWriter, read_packets
from pybpf.cbpf.sockets import detach_filter, get_filter, is_locked
from pybpf.cbpf.summary import summarize
from pybpf.errors import AttachError, KernelError
from pybpf.spec import packets as P

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(os.geteuid() != 0, reason="packet sockets need root")]


def send_udp(ports, delay=0.2, payload=b"pybpf-capture"):
    """Send one datagram to 127.0.0.1 on each port, after ``delay``, from a thread."""
    def run():
        time.sleep(delay)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for port in ports:
                s.sendto(payload, ("127.0.0.1", port))
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def free_ports(n):
    out, socks = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        out.append(s.getsockname()[1])
        socks.append(s)
    for s in socks:
        s.close()
    return out


def test_the_filter_decides_what_arrives():
    wanted, other = free_ports(2)
    with LiveCapture("lo", f"udp dst port {wanted}") as live:
        assert live.linktype == P.LINKTYPE_ETHERNET
        thread = send_udp([other, wanted, other, wanted])
        got = list(live.packets(count=10, timeout=1.5))
        thread.join()
    # lo shows each datagram twice: sent (outgoing) and received
    assert len(got) == 4
    for packet in got:
        assert int.from_bytes(packet.data[36:38], "big") == wanted
        assert packet.data.endswith(b"pybpf-capture")
        assert f"> 127.0.0.1.{wanted}: UDP, length 13" in summarize(packet.data)
        assert abs(packet.timestamp - time.time()) < 60
    assert {p.pkttype for p in got} == {0, 4}


def test_locked_filter_cannot_be_removed():
    with LiveCapture("lo", "udp port 9", lock=True) as live:
        assert is_locked(live.sock)
        assert len(get_filter(live.sock)) == len(live.program)
        with pytest.raises(KernelError):
            detach_filter(live.sock)


def test_snaplen_keeps_the_first_bytes():
    (port,) = free_ports(1)
    thread = send_udp([port])
    got = capture("lo", f"udp dst port {port}", count=1, timeout=1.5, snaplen=40)
    thread.join()
    assert got and len(got[0].data) == 40


@pytest.mark.skipif(not T.available(), reason="tcpdump is not installed")
def test_a_capture_written_to_pcap_is_read_by_tcpdump(tmp_path):
    (port,) = free_ports(1)
    path = tmp_path / "live.pcap"
    with LiveCapture("lo", f"udp port {port}") as live, PcapWriter(path, live.linktype) as out:
        thread = send_udp([port, port])
        for packet in live.packets(count=4, timeout=1.5):
            out.write(packet)
        thread.join()
    assert len(read_packets(path)) == 4
    text = subprocess.run(["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert text.count(f"127.0.0.1.{port}: UDP, length 13") == 4


def test_unknown_interface_is_refused():
    with pytest.raises(AttachError, match="no such network interface"):
        device_linktype("nosuch0")
