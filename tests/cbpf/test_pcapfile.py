"""Capture files: what we write, tcpdump reads (pcap and pcapng, micro-
and nanosecond stamps), what tcpdump writes, we read; both byte orders,
several interfaces and the block kinds of pcapng; damaged files raise
CaptureFileError naming the offset."""

from __future__ import annotations

import struct
import subprocess

import filter_frames as F
import pytest
import tcpdump_oracle as T

from pybpf.cbpf.interp import Machine
from pybpf.cbpf.pcap_compile import compile_filter
from pybpf.cbpf.pcapfile import (
    CaptureFileError,
    CaptureReader,
    Packet,
    PcapngWriter,
    PcapWriter,
    pcap_bytes,
    read_packets,
    write_pcap,
    write_pcapng,
)
from pybpf.spec import packets as P

FRAMES = [f for _, f in F.build_frames()]
BASE_NS = 1_700_000_000 * 10**9


def stamped(frames, step_ns=1_234_567):
    return [Packet(f, BASE_NS + i * step_ns, len(f) + (i % 3)) for i, f in enumerate(frames)]


@pytest.mark.parametrize("writer", ["pcap", "pcap-ns", "pcapng"])
def test_round_trip(tmp_path, writer):
    path = tmp_path / "out"
    packets = stamped(FRAMES)
    if writer == "pcapng":
        write_pcapng(path, packets)
    else:
        write_pcap(path, packets, nanoseconds=writer == "pcap-ns")
    reader = CaptureReader(path)
    got = list(reader)
    assert reader.format == ("pcapng" if writer == "pcapng" else "pcap")
    assert reader.linktype == P.LINKTYPE_ETHERNET
    assert [p.data for p in got] == FRAMES
    assert [p.wire_length for p in got] == [p.wire_length for p in packets]
    exact = writer != "pcap"
    for want, have in zip(packets, got, strict=True):
        delta = want.timestamp_ns - have.timestamp_ns
        assert delta == 0 if exact else 0 <= delta < 1000


def test_snaplen_cuts_packets_and_keeps_the_wire_length(tmp_path):
    path = tmp_path / "cut.pcap"
    write_pcap(path, [b"x" * 100], snaplen=64)
    (packet,) = read_packets(path)
    assert packet.data == b"x" * 64 and packet.wire_length == 100


def test_big_endian_pcap_and_pcapng_are_read():
    frame = FRAMES[0]
    pcap = struct.pack(">IHHiIII", P.PCAP_MAGIC_USEC, 2, 4, 0, 0, 65535, 1) + \
        struct.pack(">IIII", 5, 7, len(frame), len(frame)) + frame
    (p,) = read_packets(pcap)
    assert p.data == frame and p.timestamp_ns == 5 * 10**9 + 7000

    def block(kind, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack(">II", kind, len(body) + 12) + body + struct.pack(">I", len(body) + 12)
    shb = block(P.PCAPNG_SHB, struct.pack(">IHHq", P.PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1))
    idb = block(P.PCAPNG_IDB, struct.pack(">HHI", 101, 0, 0)
                + struct.pack(">HHB3x", P.PCAPNG_IF_TSRESOL, 1, 3) + bytes(4))
    epb = block(P.PCAPNG_EPB, struct.pack(">IIIII", 0, 0, 12345, 20, 20) + bytes(20))
    spb = block(P.PCAPNG_SPB, struct.pack(">I", 20) + bytes(20))
    unknown = block(0x0BAD, b"ignored!")
    got = read_packets(shb + idb + unknown + epb + spb)
    assert [(p.linktype, p.timestamp_ns, len(p.data)) for p in got] == \
        [(101, 12345 * 10**6, 20), (101, 0, 20)]


def test_damaged_files_are_refused_with_the_offset():
    good = pcap_bytes([FRAMES[0]])
    with pytest.raises(CaptureFileError, match="offset 24"):
        read_packets(good[:30])
    with pytest.raises(CaptureFileError, match="runs past the end"):
        read_packets(good[:-1])
    with pytest.raises(CaptureFileError, match="not a pcap"):
        read_packets(b"GIF89a" + bytes(40))
    with pytest.raises(CaptureFileError, match="too short"):
        read_packets(b"\xd4")


def test_writers_stream_to_open_files(tmp_path):
    path = tmp_path / "stream.pcapng"
    with open(path, "wb") as f:
        writer = PcapngWriter(f, P.LINKTYPE_RAW, interface_name="tun0")
        writer.write(b"\x45" + bytes(19), timestamp_ns=BASE_NS)
        writer.close()
        assert not f.closed
    (p,) = read_packets(path)
    assert p.linktype == P.LINKTYPE_RAW and p.timestamp_ns == BASE_NS


@pytest.mark.skipif(not T.available(), reason="tcpdump is not installed (apt-get install tcpdump)")
@pytest.mark.parametrize("kind", ["pcap", "pcap-ns", "pcapng"])
def test_tcpdump_reads_what_we_write(tmp_path, kind):
    path = tmp_path / f"ours.{kind}"
    cls = PcapngWriter if kind == "pcapng" else PcapWriter
    options = {"nanoseconds": True} if kind == "pcap-ns" else {}
    with cls(path, **options) as writer:
        for i, frame in enumerate(FRAMES):
            writer.write(Packet(frame, (T.FIRST_TIMESTAMP + i) * 10**9))
    out = subprocess.run(["tcpdump", "-tt", "-n", "-r", str(path), "udp"], capture_output=True,
                         text=True, check=True)
    numbers = [T.frame_number(line) for line in out.stdout.splitlines() if line[:1].isdigit()]
    udp = Machine(compile_filter("udp"))
    assert numbers and numbers == [i for i, f in enumerate(FRAMES) if udp.run(f).value]
    every = subprocess.run(["tcpdump", "-tt", "-n", "-r", str(path)], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    count = sum(1 for line in every if line[:1].isdigit())
    assert count == len(FRAMES)


@pytest.mark.skipif(not T.available(), reason="tcpdump is not installed (apt-get install tcpdump)")
def test_we_read_what_tcpdump_writes(tmp_path):
    source = tmp_path / "in.pcap"
    source.write_bytes(F.pcap_bytes(FRAMES, 1))
    out = tmp_path / "tcpdump.pcap"
    subprocess.run(["tcpdump", "-r", str(source), "-w", str(out), "tcp"], capture_output=True,
                   check=True)
    got = read_packets(out)
    assert got and all(p.data in FRAMES for p in got)
    assert [p.timestamp_ns // 10**9 - T.FIRST_TIMESTAMP for p in got] == \
        list(T.verdict(source, "tcp").matches)
