"""Program types in the VM: what ``r1`` points at and what a test run returns.

:func:`prepare` builds the input of one run the way ``BPF_PROG_TEST_RUN``
does in the kernel: for skb programs an ``__sk_buff`` over a packet that
went through ``eth_type_trans`` (so socket filters and cgroup programs see
the packet from its network header, tc programs from its Ethernet header),
for XDP an ``xdp_md`` over a buffer with 256 bytes of headroom, for tracing
programs the raw context bytes, for the plain ``memory`` type ``r1`` = data
and ``r2`` = its length as uBPF does.  After the run, :class:`Invocation`
gives ``data_out`` and ``ctx_out`` as the kernel would (the result itself
is a :class:`pybpf.backend.TestRunResult`, with :func:`pybpf.backend.verdict`).
"""

from __future__ import annotations

import errno as _errno
import glob
import socket
from dataclasses import dataclass, field

from ..errors import BPFError
from ..spec import net as N
from ..spec import struct_layout
from .context import StructContext, plain_context
from .memory import AddressSpace, Region
from .packet import Packet

SKB_HEADROOM = N.SKB_TEST_RUN_HEADROOM
SHARED_INFO_SIZE = N.SKB_SHARED_INFO_SIZE
PAGE_SIZE = 4096
GSO_MAX_SIZE = 65536
XDP_METADATA_MAX = 255  # skb_shared_info.meta_len is a u8 (the kernel's xdp_metalen_invalid)


class TestRunError(BPFError):
    """Input a test run refuses, with the errno the kernel gives for it."""

    __test__ = False  # not a pytest test class

    def __init__(self, message: str, errno: int = _errno.EINVAL):
        self.errno = errno
        super().__init__(message)


SKB_TYPES = {"socket_filter", "cgroup_skb", "sched_cls", "sched_act", "lwt_in", "lwt_out",
             "lwt_xmit", "lwt_seg6local", "sk_skb"}
L2_SKB_TYPES = {"sched_cls", "sched_act"}
PLAIN_CONTEXT_TYPES = {"tracepoint": None, "raw_tracepoint": "bpf_raw_tracepoint_args",
                       "raw_tracepoint_writable": "bpf_raw_tracepoint_args",
                       "kprobe": "pt_regs", "perf_event": "bpf_perf_event_data",
                       "tracing": None, "syscall": None}
#: Program types the VM can run.
SUPPORTED = SKB_TYPES | {"xdp", "memory"} | set(PLAIN_CONTEXT_TYPES)

# __sk_buff fields a test run's ctx_in may set (the kernel refuses others).
_SKB_CTX_IN = {"mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp", "wire_len",
               "gso_segs", "gso_size", "hwtstamp"}
# ... and the fields its ctx_out carries back.
_SKB_CTX_OUT = _SKB_CTX_IN
# The kernel's sk_buff fields behind the __sk_buff fields narrower than their
# u32 slot (bytes): stores keep that much, narrow loads behave accordingly.
_SKB_STORAGE = {"pkt_type": 1, "queue_mapping": 2, "protocol": 2, "vlan_tci": 2,
                "vlan_proto": 2, "tc_index": 2, "tc_classid": 2, "gso_segs": 2, "gso_size": 2}
NO_QUEUE_MAPPING = 0xFFFF
GSO_MAX_SEGS = 65535
# __sk_buff fields programs of each type may write.
_SKB_WRITABLE = {
    "socket_filter": {"cb"},
    "cgroup_skb": {"mark", "priority", "cb", "tstamp"},
    "sched_cls": {"mark", "tc_index", "priority", "cb", "tc_classid", "queue_mapping", "tstamp"},
    "sched_act": {"mark", "tc_index", "priority", "cb", "tc_classid", "queue_mapping", "tstamp"},
    "sk_skb": {"priority", "tc_index"},
    "lwt_xmit": {"mark", "priority", "cb"},
    "lwt_in": {"cb"},
    "lwt_out": {"cb"},
}


@dataclass
class Invocation:
    """One prepared run: the argument registers and what to read back."""

    args: tuple[int, ...]
    prog_type: str
    packet: Packet | None = None
    ctx: StructContext | None = None
    regions: list[Region] = field(default_factory=list)
    memory: bytearray | None = None
    l3_offset: int = 0

    def data_out(self) -> bytes:
        """The packet (or memory) after the run, as the kernel copies it out."""
        if self.packet is not None:
            if self.prog_type == "xdp":
                return self.packet.metadata() + self.packet.payload()
            if self.l3_offset:
                # The kernel pushes the link-layer header back before copying
                # out; its bytes come back zeroed.
                return bytes(self.l3_offset) + self.packet.payload()
            return self.packet.payload()
        return bytes(self.memory or b"")

    def ctx_out(self) -> bytes | None:
        """The context after the run, as the kernel copies it out."""
        if self.ctx is None:
            return None
        if self.prog_type in SKB_TYPES:
            out = StructContext("__sk_buff")
            for name in _SKB_CTX_OUT:
                f = self.ctx.layout.field(name)
                out.bytes[f.offset:f.offset + f.size] = self.ctx.bytes[f.offset:f.offset + f.size]
            return bytes(out.bytes)
        if self.prog_type == "xdp":
            out = bytearray(self.ctx.bytes)
            pkt = self.packet
            assert pkt is not None
            lay = self.ctx.layout
            for name, value in (("data", pkt.data - pkt.meta), ("data_meta", 0),
                                ("data_end", pkt.end - pkt.meta)):
                f = lay.field(name)
                out[f.offset:f.offset + f.size] = value.to_bytes(f.size, "little")
            return bytes(out)
        return bytes(self.ctx.bytes)

    def close(self, space: AddressSpace) -> None:
        """Unmap everything the run mapped."""
        if self.packet is not None:
            self.packet.close()
        if self.ctx is not None and self.ctx.region is not None:
            space.unmap(self.ctx.region)
        for region in self.regions:
            space.unmap(region)


def prepare(prog_type: str, space: AddressSpace, data: bytes = b"", ctx: bytes | None = None
            ) -> Invocation:
    """Map the input of one run of a program of ``prog_type``."""
    if prog_type in SKB_TYPES:
        return _prepare_skb(prog_type, space, data, ctx)
    if prog_type == "xdp":
        return _prepare_xdp(space, data, ctx)
    if prog_type in PLAIN_CONTEXT_TYPES:
        raw = ctx if ctx is not None else data
        struct = PLAIN_CONTEXT_TYPES[prog_type]
        if struct is not None:
            size = struct_layout(struct).size
            raw = raw[:size].ljust(size, b"\0")
        if not raw:
            return Invocation((0,), prog_type)  # no context: r1 is NULL
        region = plain_context(space, raw, name=f"ctx {prog_type}",
                               writable=prog_type == "raw_tracepoint_writable")
        return Invocation((region.start,), prog_type, regions=[region])
    if prog_type == "memory":
        buffer = bytearray(data)
        regions = []
        args: tuple[int, ...] = (0, 0)
        if buffer:
            region = space.map(Region("mem", buffer, kind="mem"))
            regions.append(region)
            args = (region.start, len(buffer))
        return Invocation(args, prog_type, regions=regions, memory=buffer)
    raise TestRunError(f"the VM cannot run programs of type {prog_type!r} (supported: "
                       f"{', '.join(sorted(SUPPORTED))})", _errno.ENOTSUP)


# --- skb ------------------------------------------------------------------------------

def _check_packet_size(data: bytes, headroom: int, tailroom: int) -> None:
    limit = PAGE_SIZE - headroom - tailroom
    if len(data) < N.ETH_HLEN:
        raise TestRunError(f"test-run packet of {len(data)} bytes is shorter than an "
                           f"Ethernet header ({N.ETH_HLEN} bytes)")
    if len(data) > limit:
        raise TestRunError(f"test-run packet of {len(data)} bytes exceeds the {limit} bytes of "
                           f"one page the VM supports")


def _eth_protocol(frame: bytes) -> int:
    """skb->protocol as eth_type_trans sets it (host order)."""
    proto = int.from_bytes(frame[12:14], "big")
    if proto >= N.ETH_P_802_3_MIN:
        return proto
    if frame[14:16] == b"\xff\xff":
        return N.ETH_P_802_3
    return N.ETH_P_802_2


def _pkt_type(frame: bytes) -> int:
    """skb->pkt_type as eth_type_trans sets it on the loopback device, whose
    own and broadcast addresses are both all zeros: so ff:ff:ff:ff:ff:ff is
    just another group address (PACKET_MULTICAST)."""
    dest = frame[0:6]
    if dest == bytes(6):
        return N.PACKET_HOST
    return N.PACKET_MULTICAST if dest[0] & 1 else N.PACKET_OTHERHOST


def _prepare_skb(prog_type: str, space: AddressSpace, data: bytes, ctx_in: bytes | None
                 ) -> Invocation:
    _check_packet_size(data, SKB_HEADROOM, SHARED_INFO_SIZE)
    l2 = prog_type in L2_SKB_TYPES
    packet = Packet(space, data, headroom=SKB_HEADROOM, tailroom=SHARED_INFO_SIZE,
                    writable=prog_type in L2_SKB_TYPES or prog_type in ("lwt_xmit", "sk_skb"),
                    name=f"packet ({prog_type})")
    ctx = StructContext("__sk_buff", writable=_SKB_WRITABLE.get(prog_type, {"cb"}),
                        storage=_SKB_STORAGE,
                        # the kernel ignores a queue_mapping of NO_QUEUE_MAPPING or more
                        store_filters={"queue_mapping":
                                       lambda v: None if v >= NO_QUEUE_MAPPING else v})
    if ctx_in:
        _apply_skb_ctx_in(ctx, ctx_in)
    protocol = _eth_protocol(data)
    ctx.set_field("protocol", int.from_bytes(protocol.to_bytes(2, "big"), "little"))
    ctx.set_field("pkt_type", _pkt_type(data))
    if ctx.field_value("ifindex") <= N.LOOPBACK_IFINDEX:
        ctx.set_field("ifindex", N.LOOPBACK_IFINDEX)
    else:
        _device_name(ctx.field_value("ifindex"))
    l3 = data[N.ETH_HLEN:]
    # The kernel refuses IP packets whose network header is cut short.
    if protocol == N.ETH_P_IP:
        if len(l3) < 20:
            raise TestRunError("test-run IPv4 packet shorter than an IPv4 header")
        ctx.set_field("family", N.AF_INET)
        ctx.set_field("local_ip4", l3[12:16])
        ctx.set_field("remote_ip4", l3[16:20])
    elif protocol == N.ETH_P_IPV6:
        if len(l3) < 40:
            raise TestRunError("test-run IPv6 packet shorter than an IPv6 header")
        ctx.set_field("family", N.AF_INET6)
        ctx.set_field("local_ip6", l3[8:24])
        ctx.set_field("remote_ip6", l3[24:40])
    if not l2:
        packet.set_bounds(data=packet.data + N.ETH_HLEN)
    if ctx_in:
        # wire_len (qdisc_skb_cb pkt_len) is the skb's length unless ctx_in
        # gives one, which may not be shorter
        wire_len = ctx.field_value("wire_len")
        if not wire_len:
            ctx.set_field("wire_len", len(packet))
        elif not len(packet) <= wire_len <= GSO_MAX_SIZE:
            raise TestRunError("ctx_in wire_len is smaller than the packet or too large")
        if ctx.field_value("gso_segs") > GSO_MAX_SEGS:
            raise TestRunError("ctx_in gso_segs is larger than GSO_MAX_SEGS")
    packet.mac = packet.data - (0 if l2 else N.ETH_HLEN)
    packet.network = packet.mac + N.ETH_HLEN
    ctx.computed = {
        "len": lambda: len(packet),
        "data": lambda: packet.data_address,
        "data_end": lambda: packet.end_address,
        "data_meta": lambda: packet.data_address,
        "sk": lambda: 0,
        "flow_keys": lambda: 0,
    }
    region = ctx.map(space)
    return Invocation((region.start,), prog_type, packet=packet, ctx=ctx,
                      l3_offset=0 if l2 else N.ETH_HLEN)


def _device_name(ifindex: int) -> str:
    """The name of network device ``ifindex`` (a test run's device must
    exist, as in the kernel); raises ENODEV."""
    if ifindex == N.LOOPBACK_IFINDEX:
        return "lo"
    try:
        return socket.if_indextoname(ifindex)
    except (OSError, OverflowError):
        raise TestRunError(f"test-run ctx_in names device {ifindex}, which does not exist",
                           _errno.ENODEV) from None


def _rx_queues(ifindex: int) -> int:
    """How many receive queues device ``ifindex`` has (ENODEV if none)."""
    name = _device_name(ifindex)
    if ifindex == N.LOOPBACK_IFINDEX:
        return 1
    return max(1, len(glob.glob(f"/sys/class/net/{name}/queues/rx-*")))


def _apply_skb_ctx_in(ctx: StructContext, ctx_in: bytes) -> None:
    size = ctx.layout.size
    if len(ctx_in) > size and any(ctx_in[size:]):
        raise TestRunError("ctx_in is larger than struct __sk_buff and not zero-padded",
                           _errno.E2BIG)
    raw = ctx_in[:size].ljust(size, b"\0")
    for f in ctx.layout:
        chunk = raw[f.offset:f.offset + f.size]
        if f.name in _SKB_CTX_IN:
            ctx.bytes[f.offset:f.offset + f.size] = chunk
        elif any(chunk) and not any(f.name.startswith(p + ".") or f.name.startswith(p + "[")
                                    for p in _SKB_CTX_IN):
            raise TestRunError(f"ctx_in sets __sk_buff.{f.name}, which a test run cannot set")


# --- xdp --------------------------------------------------------------------------------

def _prepare_xdp(space: AddressSpace, data: bytes, ctx_in: bytes | None) -> Invocation:
    ctx = StructContext("xdp_md")
    meta = 0
    if ctx_in:
        if any(ctx_in[ctx.layout.size:]):
            raise TestRunError("ctx_in is larger than struct xdp_md and not zero-padded",
                               _errno.E2BIG)
        ctx.bytes[:] = ctx_in[:ctx.layout.size].ljust(ctx.layout.size, b"\0")
        meta = ctx.field_value("data")
        if ctx.field_value("data_meta") or ctx.field_value("data_end") != len(data):
            # (kernels from 6.18 take a shorter data_end and put the rest in
            # fragments: the VM has no multi-buffer XDP)
            raise TestRunError("xdp_md ctx_in: data_meta must be 0 and data_end the data size")
        if meta > len(data) or meta > XDP_METADATA_MAX or meta % 4:
            raise TestRunError("xdp_md ctx_in: data (the metadata size) must be at most 255, "
                               "a multiple of 4 and within the data")
        if ctx.field_value("egress_ifindex"):
            raise TestRunError("xdp_md ctx_in: egress_ifindex must be 0")
        ingress, queue = ctx.field_value("ingress_ifindex"), ctx.field_value("rx_queue_index")
        if queue and not ingress:
            raise TestRunError("xdp_md ctx_in: rx_queue_index without an ingress_ifindex")
        if ingress and queue >= _rx_queues(ingress):
            raise TestRunError(f"xdp_md ctx_in: device {ingress} has no rx queue {queue}")
    _check_packet_size(data[meta:], N.XDP_PACKET_HEADROOM + meta, SHARED_INFO_SIZE)
    # The frame is one page, as in the kernel: bpf_xdp_adjust_tail may grow
    # the packet up to the skb_shared_info at the page's end.
    packet = Packet(space, data[meta:], headroom=N.XDP_PACKET_HEADROOM,
                    tailroom=PAGE_SIZE - N.XDP_PACKET_HEADROOM - len(data) + meta,
                    name="packet (xdp)")
    if meta:
        packet.buffer[packet.data - meta:packet.data] = data[:meta]
        packet.set_bounds(meta=packet.data - meta)
    ctx.computed = {
        "data": lambda: packet.data_address,
        "data_end": lambda: packet.end_address,
        "data_meta": lambda: packet.meta_address,
    }
    if not ctx.field_value("ingress_ifindex"):
        # Test runs receive on the loopback device's first queue; ctx_out
        # still gives back the ingress_ifindex of ctx_in.
        ctx.computed["ingress_ifindex"] = lambda: N.LOOPBACK_IFINDEX
    region = ctx.map(space)
    return Invocation((region.start,), "xdp", packet=packet, ctx=ctx)
