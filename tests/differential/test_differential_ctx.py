"""Context fields, test-run inputs and outputs: the VM against the kernel.

Every field of ``__sk_buff`` (socket filters and tc classifiers) and of
``xdp_md`` is read with every access size and offset the kernel's verifier
accepts, on IPv4, IPv6, ARP, VLAN and QinQ frames, a bare 14-byte frame,
frames to multicast, broadcast and all-zero addresses, and with several
``ctx_in`` values; the writable fields are written and read back; ctx_out,
data_out (the socket filter's zeroed link-layer header) and the errors of
bad inputs must match.
"""

from __future__ import annotations

import errno
import struct

import pytest

from proggen import MACS, LoadedPair, ethernet, sample_packet, snippet
from pybpf.spec import struct_layout

pytestmark = pytest.mark.kernel("test_run")

SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}

PACKETS = {
    "ipv4": sample_packet("ipv4", payload=b"payload!"),
    "ipv4-tcp": sample_packet("ipv4tcp"),
    "ipv6": sample_packet("ipv6", payload=b"v6"),
    "arp": sample_packet("arp"),
    "vlan": sample_packet("vlan"),
    "qinq": sample_packet("qinq"),
    "bare-14": ethernet(MACS["unicast"], 0x88B5, b""),
    "multicast": sample_packet("ipv4", "multicast"),
    "broadcast": sample_packet("arp", "broadcast"),
    "to-zero-mac": sample_packet("ipv6", "zero"),
    "llc": sample_packet("llc", payload=b"\x01\x02"),
    "ipv4-cut-short": sample_packet("short"),
}


def skb_ctx(**fields: int | bytes) -> bytes:
    """A 192-byte ``__sk_buff`` with the given fields set."""
    layout = struct_layout("__sk_buff")
    raw = bytearray(layout.size)
    for name, value in fields.items():
        f = layout.field(name)
        data = value if isinstance(value, bytes) else value.to_bytes(f.size, "little")
        raw[f.offset:f.offset + f.size] = data
    return bytes(raw)


SKB_CTX_IN = {
    "none": None,
    "zeros": skb_ctx(),
    "marked": skb_ctx(mark=0x11223344, priority=7, cb=bytes(range(1, 21)), tstamp=123456789),
    "ifindex": skb_ctx(ifindex=1, ingress_ifindex=3),
    "gso": skb_ctx(wire_len=1500, gso_segs=3, gso_size=1400, hwtstamp=42),
}
BAD_SKB_CTX_IN = {
    "len-set": skb_ctx(len=5),
    "protocol-set": skb_ctx(protocol=8),
    "wire-len-short": skb_ctx(wire_len=1),
    "wire-len-huge": skb_ctx(wire_len=70000),
    "gso-segs-huge": skb_ctx(gso_segs=70000),
    "no-such-ifindex": skb_ctx(ifindex=0x7FFF0000),
    "too-long": skb_ctx() + b"\x01",
    "too-long-zero": skb_ctx() + bytes(8),
}


def _xdp_ctx(data: int = 0, data_end: int = 0, data_meta: int = 0, ingress: int = 0,
             queue: int = 0, egress: int = 0) -> bytes:
    return struct.pack("<6I", data, data_end, data_meta, ingress, queue, egress)


def xdp_ctx_in(packet: bytes) -> dict[str, bytes | None]:
    """Good and bad ``xdp_md`` inputs for ``packet``."""
    n = len(packet)
    return {
        "none": None,
        "plain": _xdp_ctx(0, n),
        "meta-4": _xdp_ctx(4, n),
        "meta-32": _xdp_ctx(32, n),
        "lo": _xdp_ctx(0, n, ingress=1),
        "data-end-past-size": _xdp_ctx(0, n + 1),
        "bad-data-meta": _xdp_ctx(0, n, data_meta=4),
        "bad-meta-len": _xdp_ctx(6, n),
        "bad-queue": _xdp_ctx(0, n, ingress=1, queue=7),
        "queue-without-device": _xdp_ctx(0, n, queue=1),
        "bad-egress": _xdp_ctx(0, n, egress=1),
        "bad-ifindex": _xdp_ctx(0, n, ingress=0x7FFF0000),
    }


def assert_same(pair: LoadedPair, packet: bytes, ctx_in: bytes | None, what: str) -> None:
    """Run both sides on one input and fail on any difference."""
    comparison = pair.run(packet, ctx_in)
    assert comparison.rejected is None, comparison.rejected
    differences = comparison.differences
    assert not differences, f"{what}:\n{comparison.program.text}\n" + "\n".join(differences)


def _accesses(offset: int, size: int) -> list[tuple[int, int]]:
    """(offset, size) of the full and every narrower aligned access to a field."""
    out = [(offset, size)] if size in SIZES else []
    for narrow in (1, 2, 4):
        if narrow < size:
            out += [(offset + k, narrow) for k in range(0, size, narrow)]
    return out


# Pointer fields: their values are addresses, so programs read differences.
POINTERS = {"data", "data_end", "data_meta", "sk", "flow_keys"}
SKB_FIELDS = [f for f in struct_layout("__sk_buff") if not f.is_bitfield and
              f.name not in POINTERS and "." not in f.name and "[" not in f.name]


@pytest.mark.parametrize("prog_type", ["socket_filter", "sched_cls"])
@pytest.mark.parametrize("field", SKB_FIELDS, ids=[f.name for f in SKB_FIELDS])
def test_skb_field_reads(prog_type, field):
    accepted = 0
    for offset, size in _accesses(field.offset, field.size):
        body = f"r0 = *({SIZES[size]} *)(r6 + {offset})"
        with LoadedPair(snippet(prog_type, body, PACKETS["ipv4"])) as pair:
            if pair.rejected:
                continue
            accepted += 1
            for pname, packet in PACKETS.items():
                for cname, ctx_in in SKB_CTX_IN.items():
                    assert_same(pair, packet, ctx_in, f"{field.name} {size}@{offset} "
                                                      f"{pname} ctx {cname}")
    if accepted == 0:
        pytest.skip(f"{prog_type} programs may not read __sk_buff.{field.name}")


def test_skb_readable_fields_are_the_expected_ones():
    # The kernel decides which fields each type reads; pin the sets so a change shows.
    readable = {}
    for prog_type in ("socket_filter", "sched_cls"):
        names = set()
        for f in struct_layout("__sk_buff"):
            if f.is_bitfield or "." in f.name or "[" in f.name:
                continue
            size = f.size if f.size in SIZES else 4
            with LoadedPair(snippet(prog_type, f"r0 = *({SIZES[size]} *)(r6 + {f.offset})",
                                    PACKETS["ipv4"])) as pair:
                if not pair.rejected:
                    names.add(f.name.split("[")[0].split(".")[0])
        readable[prog_type] = names
    common = {"len", "pkt_type", "mark", "queue_mapping", "protocol", "vlan_present",
              "vlan_tci", "vlan_proto", "priority", "ingress_ifindex", "ifindex", "tc_index",
              "cb", "hash", "napi_id", "gso_segs", "sk", "gso_size"}
    assert readable["socket_filter"] == common
    assert readable["sched_cls"] == common | {"tc_classid", "data", "data_end", "data_meta",
                                              "tstamp", "wire_len", "tstamp_type",
                                              "hwtstamp"}


@pytest.mark.parametrize("pname", sorted(PACKETS))
def test_skb_packet_pointers(pname):
    # data_end - data and data - data_meta, as the program sees them
    body = ("r2 = *(u32 *)(r6 + 76); r3 = *(u32 *)(r6 + 80); r4 = *(u32 *)(r6 + 140);"
            "r0 = r3; r0 -= r2; r2 -= r4; r2 <<= 32; r0 |= r2")
    with LoadedPair(snippet("sched_cls", body, PACKETS[pname])) as pair:
        for cname, ctx_in in SKB_CTX_IN.items():
            assert_same(pair, PACKETS[pname], ctx_in, f"{pname} ctx {cname}")


WRITES = {
    "socket_filter": {"cb": range(48, 68, 4)},
    "sched_cls": {"mark": [8], "queue_mapping": [12], "priority": [32], "tc_index": [44],
                  "cb": range(48, 68, 4), "tc_classid": [72], "tstamp": [152]},
}
WRITE_VALUES = (0, 1, 0xFFFE, 0xFFFF, 0x10000, 0xDEADBEEF, -1)


@pytest.mark.parametrize(("prog_type", "name"),
                         [(t, n) for t, fields in WRITES.items() for n in fields])
def test_skb_field_writes(prog_type, name):
    for offset in WRITES[prog_type][name]:
        size = 8 if name == "tstamp" else 4
        for value in WRITE_VALUES:
            body = (f"r1 = {value} ll; *({SIZES[size]} *)(r6 + {offset}) = r1;"
                    f"r0 = *({SIZES[size]} *)(r6 + {offset})")
            with LoadedPair(snippet(prog_type, body, PACKETS["ipv4"])) as pair:
                assert pair.rejected is None, pair.rejected
                for cname, ctx_in in SKB_CTX_IN.items():
                    assert_same(pair, PACKETS["ipv4"], ctx_in, f"{name}={value:#x} ctx {cname}")


@pytest.mark.parametrize("prog_type", ["socket_filter", "sched_cls"])
def test_skb_data_out_and_input_errors(prog_type):
    # A socket filter's data_out comes back with its link-layer header zeroed;
    # a tc program's as it was.  Bad inputs fail the same way in both.
    with LoadedPair(snippet(prog_type, "r0 = *(u32 *)(r6 + 0)", PACKETS["ipv4"])) as pair:
        for pname, packet in PACKETS.items():
            for cname, ctx_in in {**SKB_CTX_IN, **BAD_SKB_CTX_IN}.items():
                assert_same(pair, packet, ctx_in, f"{pname} ctx {cname}")
        for size in (0, 13, 4096 - 64 - 320, 4096 - 64 - 320 + 1):
            assert_same(pair, bytes(size), None, f"{size}-byte packet")


XDP_FIELDS = {"ingress_ifindex": 12, "rx_queue_index": 16, "egress_ifindex": 20}


@pytest.mark.parametrize("name", sorted(XDP_FIELDS))
def test_xdp_field_reads(name):
    offset = XDP_FIELDS[name]
    accepted = 0
    for off, size in _accesses(offset, 4):
        with LoadedPair(snippet("xdp", f"r0 = *({SIZES[size]} *)(r6 + {off})",
                                PACKETS["ipv4"])) as pair:
            if pair.rejected:
                continue
            accepted += 1
            for pname, packet in PACKETS.items():
                for cname, ctx_in in xdp_ctx_in(packet).items():
                    assert_same(pair, packet, ctx_in, f"{name} {size}@{off} {pname} ctx {cname}")
    if name == "egress_ifindex":
        assert accepted == 0   # only devmap programs may read it
    else:
        assert accepted >= 1


@pytest.mark.parametrize("pname", sorted(PACKETS))
def test_xdp_pointers_ctx_out_and_data_out(pname):
    body = ("r2 = *(u32 *)(r6 + 0); r3 = *(u32 *)(r6 + 4); r4 = *(u32 *)(r6 + 8);"
            "r0 = r3; r0 -= r2; r2 -= r4; r2 <<= 32; r0 |= r2")
    packet = PACKETS[pname]
    with LoadedPair(snippet("xdp", body, packet)) as pair:
        for cname, ctx_in in xdp_ctx_in(packet).items():
            assert_same(pair, packet, ctx_in, f"{pname} ctx {cname}")
        for size in (13, 14, 4096 - 256 - 320):
            assert_same(pair, bytes(size), None, f"{size}-byte packet")
        assert_same(pair, packet, _xdp_ctx(0, len(packet)) + b"\1", "ctx_in too long")
        assert_same(pair, packet, _xdp_ctx(0, len(packet)) + bytes(8), "ctx_in zero-padded")


@pytest.mark.parametrize("case, refusal", [
    ("long-packet", "exceeds the 3520 bytes of one page the VM supports"),
    ("short-data-end", "data_end the data size"),
])
def test_xdp_multi_buffer_inputs_are_refused_by_the_vm(case, refusal, record_property):
    """The VM has no multi-buffer XDP: it refuses (EINVAL, saying why) a
    packet longer than a page's linear room, or a ctx_in data_end shorter
    than the packet, where kernels with multi-buffer test runs put the rest
    in fragments.  The kernel's answer is recorded, not compared: it
    depends on the kernel's version."""
    body = "r2 = *(u32 *)(r6 + 0); r3 = *(u32 *)(r6 + 4); r0 = r3; r0 -= r2"
    packet = bytes(4096 - 256 - 320 + 1) if case == "long-packet" else PACKETS["ipv4"]
    ctx_in = None if case == "long-packet" else _xdp_ctx(0, 20)
    with LoadedPair(snippet("xdp", body, packet)) as pair:
        comparison = pair.run(packet, ctx_in)
        assert comparison.rejected is None, comparison.rejected
        assert comparison.vm.errno == errno.EINVAL and refusal in comparison.vm.error
        kernel = comparison.kernel
        record_property("kernel", kernel.error if kernel.error else f"retval {kernel.retval}")


@pytest.mark.parametrize("name", ["mark", "queue_mapping", "priority", "tc_index", "tc_classid"])
def test_skb_narrow_reads_after_writes(name):
    offset = WRITES["sched_cls"][name][0]
    for value in (0x1234, 0xABCDEF01, 0xFFFE):
        for off, size in _accesses(offset, 4):
            body = (f"r1 = {value} ll; *(u32 *)(r6 + {offset}) = r1;"
                    f"r0 = *({SIZES[size]} *)(r6 + {off})")
            with LoadedPair(snippet("sched_cls", body, PACKETS["ipv4"])) as pair:
                if pair.rejected:
                    continue
                assert_same(pair, PACKETS["ipv4"], None, f"{name}={value:#x} {size}@{off}")
