"""Capture files: reading and writing classic pcap (microsecond or
nanosecond timestamps, either byte order) and pcapng (section header,
interface description, enhanced, simple and the obsolete packet blocks;
several sections and interfaces), in the forms tcpdump and Wireshark read.

- :func:`read_packets` / :class:`CaptureReader` — the packets of either
  format, told apart by the first four bytes;
- :class:`PcapWriter` and :class:`PcapngWriter` — write packets as they come;
- :func:`write_pcap` / :func:`write_pcapng` — write a list of packets at once.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import BPFError
from ..spec import packets as P

NSEC = 1_000_000_000
USEC = 1_000_000


class CaptureFileError(BPFError):
    """A capture file that cannot be read: names the file, the offset and why."""


@dataclass(frozen=True)
class Packet:
    """One captured packet: its bytes (``data``, at most the snapshot
    length), the length it had on the wire, when it was captured (integer
    nanoseconds since the epoch), its link type and (pcapng) interface."""

    data: bytes
    timestamp_ns: int = 0
    original_length: int | None = None
    linktype: int = P.LINKTYPE_ETHERNET
    interface: int = 0
    pkttype: int | None = None
    """A live capture's skb->pkt_type (PACKET_HOST, PACKET_OUTGOING...)."""

    @property
    def wire_length(self) -> int:
        """The length on the wire (``data``'s length unless told otherwise)."""
        return len(self.data) if self.original_length is None else self.original_length

    @property
    def timestamp(self) -> float:
        """The capture time in seconds since the epoch."""
        return self.timestamp_ns / NSEC


# --- reading ---------------------------------------------------------------------------------


class CaptureReader:
    """The packets of a pcap or pcapng file (a path or a binary file
    object), in order: iterate over it.  ``linktype`` and ``snaplen`` are
    those of the file (pcapng: of its first interface), ``format`` is
    ``"pcap"`` or ``"pcapng"``."""

    def __init__(self, source: str | Path | BinaryIO | bytes):
        if isinstance(source, bytes | bytearray):
            self.name, self._data = "<bytes>", bytes(source)
        elif isinstance(source, str | Path):
            self.name, self._data = str(source), Path(source).read_bytes()
        else:
            self.name, self._data = getattr(source, "name", "<file>"), source.read()
        if len(self._data) < 4:
            raise self._error(0, "too short for a capture file header")
        first = self._data[:4]
        if int.from_bytes(first, "little") == P.PCAPNG_SHB:
            self.format = "pcapng"
            self._packets = list(self._read_pcapng())
            first_if = self._interfaces[0] if self._interfaces else (P.LINKTYPE_ETHERNET, 0, 0)
            self.linktype, self.snaplen = first_if[0], first_if[1]
        else:
            self.format = "pcap"
            self._packets = list(self._read_pcap())

    def __iter__(self) -> Iterator[Packet]:
        return iter(self._packets)

    def __len__(self) -> int:
        return len(self._packets)

    def _error(self, offset: int, why: str) -> CaptureFileError:
        return CaptureFileError(f"{self.name}: offset {offset}: {why}")

    def _read_pcap(self) -> Iterator[Packet]:
        data = self._data
        if len(data) < P.PCAP_HEADER_SIZE:
            raise self._error(0, "too short for a pcap file header")
        for order in "<>":
            magic = struct.unpack_from(order + "I", data)[0]
            if magic in (P.PCAP_MAGIC_USEC, P.PCAP_MAGIC_NSEC):
                break
        else:
            raise self._error(0, f"not a pcap or pcapng file (magic {data[:4].hex()})")
        scale = NSEC // USEC if magic == P.PCAP_MAGIC_USEC else 1
        _, major, minor, _, _, snaplen, linktype = struct.unpack_from(order + "IHHiIII", data)
        if major != P.PCAP_VERSION[0]:
            raise self._error(4, f"pcap version {major}.{minor} is not supported")
        self.snaplen = snaplen
        self.linktype = linktype & 0xFFFF  # the upper bits hold FCS flags
        pos = P.PCAP_HEADER_SIZE
        record = order + "IIII"
        while pos < len(data):
            if pos + P.PCAP_RECORD_HEADER_SIZE > len(data):
                raise self._error(pos, "truncated packet record header")
            seconds, fraction, caplen, length = struct.unpack_from(record, data, pos)
            pos += P.PCAP_RECORD_HEADER_SIZE
            if pos + caplen > len(data):
                raise self._error(pos, f"packet record of {caplen} bytes runs past the end")
            yield Packet(data[pos:pos + caplen], seconds * NSEC + fraction * scale, length,
                         self.linktype)
            pos += caplen

    def _read_pcapng(self) -> Iterator[Packet]:
        data = self._data
        pos = 0
        order = "<"
        self._interfaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, units/s)
        while pos < len(data):
            if pos + 12 > len(data):
                raise self._error(pos, "truncated block header")
            block_type = struct.unpack_from(order + "I", data, pos)[0]
            if int.from_bytes(data[pos:pos + 4], "little") == P.PCAPNG_SHB:
                bom = data[pos + 8:pos + 12]
                if int.from_bytes(bom, "little") == P.PCAPNG_BYTE_ORDER_MAGIC:
                    order = "<"
                elif int.from_bytes(bom, "big") == P.PCAPNG_BYTE_ORDER_MAGIC:
                    order = ">"
                else:
                    raise self._error(pos + 8, "bad byte-order magic in a section header")
                block_type = P.PCAPNG_SHB
                self._interfaces = []
            length = struct.unpack_from(order + "I", data, pos + 4)[0]
            if length < 12 or length % 4 or pos + length > len(data):
                raise self._error(pos, f"block length {length} is invalid")
            body = data[pos + 8:pos + length - 4]
            if block_type == P.PCAPNG_IDB:
                linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
                self._interfaces.append((linktype, snaplen,
                                         _resolution(body[8:], order)))
            elif block_type in (P.PCAPNG_EPB, P.PCAPNG_PB):
                if block_type == P.PCAPNG_EPB:
                    iface, high, low, caplen, wire = struct.unpack_from(order + "IIIII", body)
                else:
                    iface, _, high, low, caplen, wire = struct.unpack_from(order + "HHIIII", body)
                if iface >= len(self._interfaces):
                    raise self._error(pos, f"packet of undescribed interface {iface}")
                linktype, _, units = self._interfaces[iface]
                ticks = high << 32 | low
                yield Packet(body[20:20 + caplen], ticks * NSEC // units, wire, linktype, iface)
            elif block_type == P.PCAPNG_SPB:
                if not self._interfaces:
                    raise self._error(pos, "simple packet block before any interface")
                linktype, snaplen, _ = self._interfaces[0]
                wire = struct.unpack_from(order + "I", body)[0]
                caplen = min(wire, snaplen or wire, len(body) - 4)
                yield Packet(body[4:4 + caplen], 0, wire, linktype)
            pos += length


def _resolution(options: bytes, order: str) -> int:
    """Timestamp units per second of an interface (its if_tsresol option;
    microseconds by default)."""
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack_from(order + "HH", options, pos)
        if code == P.PCAPNG_OPT_ENDOFOPT:
            break
        if code == P.PCAPNG_IF_TSRESOL and length >= 1:
            value = options[pos + 4]
            exponent = value & 0x7F
            return 2 ** exponent if value & 0x80 else 10 ** exponent
        pos += 4 + length + (-length % 4)
    return USEC


def read_packets(source: str | Path | BinaryIO | bytes) -> list[Packet]:
    """The packets of a pcap or pcapng capture."""
    return list(CaptureReader(source))


# --- writing ---------------------------------------------------------------------------------


def _now_ns() -> int:
    return time.time_ns()


class PcapWriter:
    """Writes a classic pcap file (little-endian; microsecond timestamps
    unless ``nanoseconds``) to ``target`` (a path or a binary file)."""

    def __init__(self, target: str | Path | BinaryIO, linktype: int = P.LINKTYPE_ETHERNET,
                 snaplen: int = P.DEFAULT_SNAPLEN, *, nanoseconds: bool = False):
        self._own = isinstance(target, str | Path)
        self.file: BinaryIO = (open(target, "wb")  # noqa: SIM115 (closed by close())
                               if isinstance(target, str | Path) else target)
        self.linktype, self.snaplen, self.nanoseconds = linktype, snaplen, nanoseconds
        magic = P.PCAP_MAGIC_NSEC if nanoseconds else P.PCAP_MAGIC_USEC
        self.file.write(struct.pack("<IHHiIII", magic, *P.PCAP_VERSION, 0, 0, snaplen,
                                    linktype))

    def write(self, packet: Packet | bytes, timestamp_ns: int | None = None) -> None:
        """Add a packet (bytes are taken as captured now, or at ``timestamp_ns``)."""
        if not isinstance(packet, Packet):
            packet = Packet(bytes(packet), _now_ns() if timestamp_ns is None else timestamp_ns)
        data = packet.data[:self.snaplen]
        seconds, rest = divmod(packet.timestamp_ns, NSEC)
        fraction = rest if self.nanoseconds else rest // (NSEC // USEC)
        self.file.write(struct.pack("<IIII", seconds, fraction, len(data), packet.wire_length))
        self.file.write(data)

    def flush(self) -> None:
        """Push what was written to the file."""
        self.file.flush()

    def close(self) -> None:
        """Finish the file (closes it when this writer opened it)."""
        if self._own:
            self.file.close()
        else:
            self.file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


class PcapngWriter:
    """Writes a pcapng file (one little-endian section, one interface of
    ``linktype``, nanosecond timestamps, enhanced packet blocks) to
    ``target`` (a path or a binary file)."""

    def __init__(self, target: str | Path | BinaryIO, linktype: int = P.LINKTYPE_ETHERNET,
                 snaplen: int = P.DEFAULT_SNAPLEN, *, interface_name: str | None = None,
                 application: str = "pybpf"):
        self._own = isinstance(target, str | Path)
        self.file: BinaryIO = (open(target, "wb")  # noqa: SIM115 (closed by close())
                               if isinstance(target, str | Path) else target)
        self.linktype, self.snaplen = linktype, snaplen
        shb_options = _option(P.PCAPNG_SHB_USERAPPL, application.encode()) + \
            _option(P.PCAPNG_OPT_ENDOFOPT, b"")
        self.file.write(_block(P.PCAPNG_SHB, struct.pack(
            "<IHHQ", P.PCAPNG_BYTE_ORDER_MAGIC, *P.PCAPNG_VERSION,
            P.PCAPNG_SECTION_LENGTH_UNKNOWN) + shb_options))
        idb_options = _option(P.PCAPNG_IF_TSRESOL, bytes([9]))
        if interface_name:
            idb_options += _option(P.PCAPNG_IF_NAME, interface_name.encode())
        idb_options += _option(P.PCAPNG_OPT_ENDOFOPT, b"")
        self.file.write(_block(P.PCAPNG_IDB, struct.pack("<HHI", linktype, 0, snaplen)
                               + idb_options))

    def write(self, packet: Packet | bytes, timestamp_ns: int | None = None) -> None:
        """Add a packet (bytes are taken as captured now, or at ``timestamp_ns``)."""
        if not isinstance(packet, Packet):
            packet = Packet(bytes(packet), _now_ns() if timestamp_ns is None else timestamp_ns)
        data = packet.data[:self.snaplen]
        ticks = packet.timestamp_ns
        self.file.write(_block(P.PCAPNG_EPB, struct.pack(
            "<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), packet.wire_length) + data))

    def flush(self) -> None:
        """Push what was written to the file."""
        self.file.flush()

    def close(self) -> None:
        """Finish the file (closes it when this writer opened it)."""
        if self._own:
            self.file.close()
        else:
            self.file.flush()

    def __enter__(self) -> PcapngWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _packets(items: Iterable[Packet | bytes]) -> Iterator[Packet]:
    base = _now_ns()
    for i, item in enumerate(items):
        yield item if isinstance(item, Packet) else Packet(bytes(item), base + i * USEC)


def write_pcap(target: str | Path | BinaryIO, packets: Iterable[Packet | bytes],
               linktype: int = P.LINKTYPE_ETHERNET, snaplen: int = P.DEFAULT_SNAPLEN, *,
               nanoseconds: bool = False) -> None:
    """Write ``packets`` (Packets, or bytes stamped a microsecond apart
    from now) as a classic pcap file."""
    with PcapWriter(target, linktype, snaplen, nanoseconds=nanoseconds) as writer:
        for packet in _packets(packets):
            writer.write(packet)


def write_pcapng(target: str | Path | BinaryIO, packets: Iterable[Packet | bytes],
                 linktype: int = P.LINKTYPE_ETHERNET, snaplen: int = P.DEFAULT_SNAPLEN) -> None:
    """Write ``packets`` as a pcapng file."""
    with PcapngWriter(target, linktype, snaplen) as writer:
        for packet in _packets(packets):
            writer.write(packet)


def pcap_bytes(packets: Iterable[Packet | bytes], linktype: int = P.LINKTYPE_ETHERNET,
               snaplen: int = P.DEFAULT_SNAPLEN) -> bytes:
    """A classic pcap file's bytes."""
    buffer = io.BytesIO()
    write_pcap(buffer, packets, linktype, snaplen)
    return buffer.getvalue()
