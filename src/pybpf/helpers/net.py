"""Packet helpers for skb (socket filter, tc, cgroup) and XDP programs.

They work on the running program's packet (``ctx.packet``: buffer offsets
``meta``/``data``/``end`` and ``mac``, the link-layer header) and its
``__sk_buff`` context (``ctx.ctx``), with the kernel's bounds rules and
return codes.  Checksums follow RFC 1071 and RFC 1624 arithmetic.
"""

from __future__ import annotations

import errno as E
from typing import NamedTuple

from ..errors import HelperError
from ..isa.insn import s32
from ..spec import constant, enum_values, struct_layout
from ..spec import net as N
from ..spec.defines import ENOTSUPP
from .args import check_mem, map_arg, unavailable
from .core import builtin
from .registry import HelperContext

BPF_F_RECOMPUTE_CSUM = constant("BPF_F_RECOMPUTE_CSUM")
BPF_F_INVALIDATE_HASH = constant("BPF_F_INVALIDATE_HASH")
BPF_F_HDR_FIELD_MASK = constant("BPF_F_HDR_FIELD_MASK")
BPF_F_PSEUDO_HDR = constant("BPF_F_PSEUDO_HDR")
BPF_F_MARK_MANGLED_0 = constant("BPF_F_MARK_MANGLED_0")
BPF_F_MARK_ENFORCE = constant("BPF_F_MARK_ENFORCE")
BPF_F_IPV6 = constant("BPF_F_IPV6")
BPF_F_INGRESS = constant("BPF_F_INGRESS")
BPF_CSUM_LEVEL_QUERY = constant("BPF_CSUM_LEVEL_QUERY")
BPF_CSUM_LEVEL_INC = constant("BPF_CSUM_LEVEL_INC")
BPF_CSUM_LEVEL_DEC = constant("BPF_CSUM_LEVEL_DEC")
BPF_CSUM_LEVEL_RESET = constant("BPF_CSUM_LEVEL_RESET")
SKB_MAX_CSUM_LEVEL = 3            # include/linux/skbuff.h
BPF_HDR_START_MAC = constant("BPF_HDR_START_MAC")
BPF_HDR_START_NET = constant("BPF_HDR_START_NET")
XDP_REDIRECT = enum_values("xdp_action")["XDP_REDIRECT"]
XDP_ACTION_MASK = 0x3             # redirect_map's fallback action lives in the low bits
XDP_FRAME_SIZE = 40               # sizeof(struct xdp_frame) kept at the buffer's start
XDP_METADATA_MAX = 255           # skb_shared_info.meta_len is a u8 (xdp_metalen_invalid)
VLAN_HLEN = 4
MAX_SKB_LOAD = 0xFFFF
BPF_SKB_MAX_LEN = 4 * 4096 - N.SKB_SHARED_INFO_SIZE  # SKB_MAX_ALLOC: the most skb_change_* make
CSUM_MANGLED_0 = 0xFFFF


class Redirect(NamedTuple):
    """Where a redirect helper sent the packet: an interface, or a map entry."""

    ifindex: int | None = None
    map: str | None = None
    key: int | None = None
    flags: int = 0


def _packet(ctx: HelperContext, helper: str):
    packet = ctx.packet
    if packet is None:
        raise HelperError(f"bpf_{helper}: the program has no packet")
    return packet


def _skb_ctx(ctx: HelperContext):
    return ctx.ctx if ctx.ctx is not None and ctx.ctx.struct == "__sk_buff" else None


def _skb_of(ctx: HelperContext, helper: str):
    """The packet and ``__sk_buff`` of an skb program; other program types
    cannot call the helper."""
    packet, skb = ctx.packet, _skb_ctx(ctx)
    if packet is None or skb is None:
        raise unavailable(ctx, helper, "an skb")
    return packet, skb


# --- checksum arithmetic ----------------------------------------------------------------

def fold16(value: int) -> int:
    """Fold a one's-complement sum to 16 bits."""
    while value >> 16:
        value = (value & 0xFFFF) + (value >> 16)
    return value


def fold32(value: int) -> int:
    """Fold a one's-complement sum to 32 bits (end-around carry)."""
    while value >> 32:
        value = (value & 0xFFFFFFFF) + (value >> 32)
    return value


def csum_partial(data: bytes, seed: int) -> int:
    """The 32-bit one's-complement sum of ``data`` (little-endian 32-bit
    words, as x86's csum_partial accumulates them) plus ``seed``."""
    total = seed & 0xFFFFFFFF
    padded = data + bytes(-len(data) % 4)
    for i in range(0, len(padded), 4):
        total += int.from_bytes(padded[i:i + 4], "little")
    return fold32(total)


def _replace_checksum(old_csum: int, old: int, new: int, size: int) -> int:
    """RFC 1624: the checksum after ``old`` (``size`` bytes, network order
    value) became ``new``.  Returns the new checksum field value."""
    total = (~old_csum) & 0xFFFF
    for shift in range(0, size * 8, 16):
        total += (~(old >> shift)) & 0xFFFF
        total += (new >> shift) & 0xFFFF
    return (~fold16(total)) & 0xFFFF


def _csum_add_diff(old_csum: int, diff: int) -> int:
    """The checksum field after adding a 32-bit partial-sum ``diff`` (the
    kernel's csum_replace_by_diff).  The diff is a host-order sum, as
    bpf_csum_diff gives it, so the field is read and written in host
    (little-endian) byte order too."""
    total = fold32((diff & 0xFFFFFFFF) + (~old_csum & 0xFFFFFFFF))
    return (~fold16(total)) & 0xFFFF


def csum_from32to16(value: int) -> int:
    """The kernel's csum_from32to16: a 32-bit partial sum folded to 16 bits."""
    value &= 0xFFFFFFFF
    value += ((value >> 16) | (value << 16)) & 0xFFFFFFFF
    return (value >> 16) & 0xFFFF


@builtin("csum_diff")
def csum_diff(ctx: HelperContext, from_ptr: int, from_size: int, to_ptr: int, to_size: int,
              seed: int) -> int:
    """The checksum difference between two buffers, folded to 16 bits (the
    kernel's since 6.12: any sizes; with both sizes 0 the seed, folded)."""
    check_mem(ctx, "csum_diff", 1, from_ptr, 2, from_size, write=False)
    check_mem(ctx, "csum_diff", 3, to_ptr, 4, to_size, write=False)
    seed &= 0xFFFFFFFF
    old = ctx.memory.read(from_ptr, from_size) if from_size else b""
    new = ctx.memory.read(to_ptr, to_size) if to_size else b""
    if from_size and to_size:
        return csum_from32to16(fold32(csum_partial(new, seed) +
                                      (~csum_partial(old, 0) & 0xFFFFFFFF)))
    if to_size:
        return csum_from32to16(csum_partial(new, seed))
    if from_size:
        return csum_from32to16(~csum_partial(old, ~seed & 0xFFFFFFFF))
    return csum_from32to16(seed)


# --- loading and storing packet bytes --------------------------------------------------------

@builtin("skb_load_bytes")
def skb_load_bytes(ctx: HelperContext, _skb: int, offset: int, to: int, size: int,
                   *_: int) -> int:
    """Copy ``size`` packet bytes from ``offset`` (relative to the data)."""
    packet = _packet(ctx, "skb_load_bytes")
    check_mem(ctx, "skb_load_bytes", 3, to, 4, size, write=True)
    offset = offset & 0xFFFFFFFF
    if offset > MAX_SKB_LOAD or offset + size > len(packet):
        ctx.memory.write(to, bytes(size))
        return -E.EFAULT
    start = packet.data + offset
    ctx.memory.write(to, bytes(packet.buffer[start:start + size]))
    return 0


@builtin("skb_load_bytes_relative")
def skb_load_bytes_relative(ctx: HelperContext, _skb: int, offset: int, to: int, size: int,
                            start_header: int) -> int:
    """Copy packet bytes relative to the link-layer or network header."""
    packet = _packet(ctx, "skb_load_bytes_relative")
    check_mem(ctx, "skb_load_bytes_relative", 3, to, 4, size, write=True)
    offset = offset & 0xFFFFFFFF
    if start_header == BPF_HDR_START_MAC:
        base = packet.mac
    elif start_header == BPF_HDR_START_NET:
        base = packet.network if packet.network is not None else packet.mac + N.ETH_HLEN
    else:  # the kernel clears the buffer and fails the same way for a bad header
        ctx.memory.write(to, bytes(size))
        return -E.EFAULT
    if size == 0 or offset > MAX_SKB_LOAD or base + offset + size > packet.end:
        ctx.memory.write(to, bytes(size))
        return -E.EFAULT
    start = base + offset
    ctx.memory.write(to, bytes(packet.buffer[start:start + size]))
    return 0


@builtin("skb_store_bytes")
def skb_store_bytes(ctx: HelperContext, _skb: int, offset: int, from_ptr: int, size: int,
                    flags: int) -> int:
    """Write ``size`` bytes into the packet at ``offset``."""
    packet = _packet(ctx, "skb_store_bytes")
    check_mem(ctx, "skb_store_bytes", 3, from_ptr, 4, size, write=False)
    offset = offset & 0xFFFFFFFF
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return -E.EINVAL
    if offset > MAX_SKB_LOAD or offset + size > len(packet):
        return -E.EFAULT
    data = ctx.memory.read(from_ptr, size)
    start = packet.data + offset
    packet.buffer[start:start + size] = data
    return 0


def _csum_replace(ctx: HelperContext, offset: int, old: int, new: int, flags: int,
                  helper: str, l4: bool) -> int:
    packet = _packet(ctx, helper)
    offset &= 0xFFFFFFFF
    allowed = BPF_F_HDR_FIELD_MASK | (
        BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_IPV6 if l4 else 0)
    if flags & ~allowed:
        return -E.EINVAL
    size = flags & BPF_F_HDR_FIELD_MASK
    if offset > 0xFFFF or offset & 1 or offset + 2 > len(packet):
        return -E.EFAULT
    at = packet.data + offset
    field = int.from_bytes(packet.buffer[at:at + 2], "big")
    if l4 and flags & BPF_F_MARK_MANGLED_0 and not flags & BPF_F_MARK_ENFORCE and field == 0:
        return 0  # a UDP checksum of zero means "none": leave it alone
    if size == 0:
        if old:
            return -E.EINVAL
        host = _csum_add_diff(int.from_bytes(packet.buffer[at:at + 2], "little"), new)
        result = int.from_bytes(host.to_bytes(2, "little"), "big")
    elif size == 2:
        result = _replace_checksum(field, old & 0xFFFF, new & 0xFFFF, 2)
    elif size == 4:
        result = _replace_checksum(field, old & 0xFFFFFFFF, new & 0xFFFFFFFF, 4)
    else:
        return -E.EINVAL
    if l4 and flags & BPF_F_MARK_MANGLED_0 and result == 0:
        result = CSUM_MANGLED_0
    packet.buffer[at:at + 2] = result.to_bytes(2, "big")
    return 0


def _wire(value: int, size: int) -> int:
    """A value stored from a register as ``size`` network-order bytes."""
    return int.from_bytes((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"), "big")


@builtin("l3_csum_replace")
def l3_csum_replace(ctx: HelperContext, _skb: int, offset: int, old: int, new: int,
                    flags: int) -> int:
    """Update an IP header checksum for a changed field."""
    size = flags & BPF_F_HDR_FIELD_MASK
    if size in (2, 4):
        old, new = _wire(old, size), _wire(new, size)
    return _csum_replace(ctx, offset, old, new, flags, "l3_csum_replace", False)


@builtin("l4_csum_replace")
def l4_csum_replace(ctx: HelperContext, _skb: int, offset: int, old: int, new: int,
                    flags: int) -> int:
    """Update a TCP/UDP checksum for a changed field."""
    size = flags & BPF_F_HDR_FIELD_MASK
    if size in (2, 4):
        old, new = _wire(old, size), _wire(new, size)
    return _csum_replace(ctx, offset, old, new, flags, "l4_csum_replace", True)


@builtin("csum_update")
def csum_update(ctx: HelperContext, _skb: int, csum: int, *_: int) -> int:
    """Only CHECKSUM_COMPLETE skbs carry a checksum to update; test-run skbs do not."""
    return -ENOTSUPP


@builtin("csum_level")
def csum_level(ctx: HelperContext, _skb: int, level: int, *_: int) -> int:
    """Query, increment, decrement or reset the checksum level of the skb
    (test-run skbs start as CHECKSUM_NONE: a query is EACCES until an
    increment makes them CHECKSUM_UNNECESSARY)."""
    packet = _packet(ctx, "csum_level")
    current = packet.csum_level
    if level == BPF_CSUM_LEVEL_QUERY:
        return current if current is not None else -E.EACCES
    if level == BPF_CSUM_LEVEL_INC:
        packet.csum_level = 0 if current is None else min(current + 1, SKB_MAX_CSUM_LEVEL)
    elif level == BPF_CSUM_LEVEL_DEC:
        packet.csum_level = None if not current else current - 1
    elif level == BPF_CSUM_LEVEL_RESET:
        packet.csum_level = None
    else:
        return -E.EINVAL
    return 0


# --- skb geometry ---------------------------------------------------------------------------

def _set_vlan(skb, present: bool, proto: int = 0, tci: int = 0) -> None:
    skb.set_field("vlan_present", 1 if present else 0)
    skb.set_field("vlan_tci", tci if present else 0)
    skb.set_field("vlan_proto", int.from_bytes(proto.to_bytes(2, "big"), "little")
                  if present else 0)


def _skb_protocol(skb) -> int:
    return int.from_bytes(skb.field_value("protocol").to_bytes(4, "little")[:2], "big")


def _set_protocol(skb, proto: int) -> None:
    skb.set_field("protocol", int.from_bytes(proto.to_bytes(2, "big"), "little"))


@builtin("skb_vlan_push")
def skb_vlan_push(ctx: HelperContext, _skb: int, vlan_proto: int, vlan_tci: int,
                  *_: int) -> int:
    """Put a VLAN tag on the skb (in the accelerated slot; a tag already
    there moves into the packet)."""
    packet, skb = _skb_of(ctx, "skb_vlan_push")
    proto = int.from_bytes((vlan_proto & 0xFFFF).to_bytes(2, "little"), "big")
    if proto not in (N.ETH_P_8021Q, N.ETH_P_8021AD):
        proto = N.ETH_P_8021Q
    if skb.field_value("vlan_present"):
        if packet.data != packet.mac:
            return -E.EINVAL
        old_proto = int.from_bytes(skb.field_value("vlan_proto").to_bytes(4, "little")[:2],
                                   "big")
        tag = old_proto.to_bytes(2, "big") + skb.field_value("vlan_tci").to_bytes(2, "big")
        packet.insert(packet.mac + 2 * N.ETH_ALEN, tag)
        if packet.network is not None:
            packet.network -= VLAN_HLEN   # as skb_vlan_push moves network_header
        _set_protocol(skb, old_proto)
    _set_vlan(skb, True, proto, vlan_tci & 0xFFFF)
    return 0


def _is_vlan(proto: int) -> bool:
    return proto in (N.ETH_P_8021Q, N.ETH_P_8021AD)


def _pop_packet_tag(packet, skb) -> tuple[int, int] | int:
    if packet.data != packet.mac:
        return -E.EINVAL
    if len(packet) < N.ETH_HLEN + VLAN_HLEN:
        return -E.ENOMEM
    at = packet.mac + 2 * N.ETH_ALEN
    tci = int.from_bytes(packet.buffer[at + 2:at + 4], "big")
    inner = int.from_bytes(packet.buffer[at + 4:at + 6], "big")
    packet.remove(at, VLAN_HLEN)
    if packet.network is not None and packet.network - packet.data < N.ETH_HLEN:
        packet.network = packet.data + N.ETH_HLEN   # as __skb_vlan_pop resets it
    _set_protocol(skb, inner if inner >= N.ETH_P_802_3_MIN else N.ETH_P_802_2)
    return tci, inner


@builtin("skb_vlan_pop")
def skb_vlan_pop(ctx: HelperContext, _skb: int, *_: int) -> int:
    """Remove the outermost VLAN tag."""
    packet, skb = _skb_of(ctx, "skb_vlan_pop")
    if skb.field_value("vlan_present"):
        _set_vlan(skb, False)
    else:
        if not _is_vlan(_skb_protocol(skb)):
            return 0
        popped = _pop_packet_tag(packet, skb)
        if isinstance(popped, int):
            return popped
    proto = _skb_protocol(skb)
    if not _is_vlan(proto):
        return 0
    popped = _pop_packet_tag(packet, skb)
    if isinstance(popped, int):
        return popped
    _set_vlan(skb, True, proto, popped[0])
    return 0


@builtin("skb_change_head")
def skb_change_head(ctx: HelperContext, _skb: int, size: int, flags: int, *_: int) -> int:
    """Grow the packet at its head by ``size`` zero bytes."""
    packet = _packet(ctx, "skb_change_head")
    size &= 0xFFFFFFFF
    new_len = (len(packet) + size) & 0xFFFFFFFF
    if flags or new_len > BPF_SKB_MAX_LEN or new_len < len(packet):
        return -E.EINVAL
    packet.ensure_room(head=size)
    packet.buffer[packet.data - size:packet.data] = bytes(size)
    packet.mac -= size
    packet.set_bounds(meta=packet.data - size, data=packet.data - size)
    return 0


@builtin("skb_change_tail")
def skb_change_tail(ctx: HelperContext, _skb: int, new_len: int, flags: int, *_: int) -> int:
    """Trim the packet or extend it with zeros to ``new_len`` bytes."""
    packet = _packet(ctx, "skb_change_tail")
    new_len &= 0xFFFFFFFF
    # the kernel keeps at least the bytes up to the network header
    network = packet.network if packet.network is not None else packet.mac + N.ETH_HLEN
    if flags or new_len > BPF_SKB_MAX_LEN or new_len < network - packet.data:
        return -E.EINVAL
    if new_len > len(packet):
        packet.ensure_room(tail=new_len - len(packet))
        packet.buffer[packet.end:packet.data + new_len] = bytes(new_len - len(packet))
    packet.set_bounds(end=packet.data + new_len)
    return 0


@builtin("skb_pull_data")
def skb_pull_data(ctx: HelperContext, _skb: int, size: int, *_: int) -> int:
    """Make ``size`` bytes linear (VM packets are always linear)."""
    packet = _packet(ctx, "skb_pull_data")
    return 0 if (size & 0xFFFFFFFF) <= len(packet) else -E.ENOMEM


@builtin("get_cgroup_classid")
def get_cgroup_classid(ctx: HelperContext, *_: int) -> int:
    """The net_cls class id (none in the VM)."""
    return 0


@builtin("get_hash_recalc")
def get_hash_recalc(ctx: HelperContext, *_: int) -> int:
    """The skb's flow hash (the __sk_buff hash field in the VM)."""
    skb = _skb_ctx(ctx)
    return skb.field_value("hash") if skb is not None else 0


@builtin("set_hash_invalid")
def set_hash_invalid(ctx: HelperContext, *_: int) -> int:
    """Forget the skb's flow hash."""
    skb = _skb_ctx(ctx)
    if skb is not None:
        skb.set_field("hash", 0)
    return 0


@builtin("set_hash")
def set_hash(ctx: HelperContext, _skb: int, value: int, *_: int) -> int:
    """Set the skb's flow hash."""
    skb = _skb_ctx(ctx)
    if skb is not None:
        skb.set_field("hash", value & 0xFFFFFFFF)
    return 0


@builtin("get_socket_cookie")
def get_socket_cookie(ctx: HelperContext, *_: int) -> int:
    """The socket cookie (from the environment)."""
    return ctx.env.socket_cookie


@builtin("get_netns_cookie")
def get_netns_cookie(ctx: HelperContext, *_: int) -> int:
    """The network namespace cookie (from the environment)."""
    return ctx.env.netns_cookie


# --- xdp ----------------------------------------------------------------------------------------

@builtin("xdp_adjust_head")
def xdp_adjust_head(ctx: HelperContext, _xdp: int, delta: int, *_: int) -> int:
    """Move the start of the packet by ``delta`` bytes (negative grows it)."""
    packet = _packet(ctx, "xdp_adjust_head")
    delta = s32(delta)
    metalen = packet.data - packet.meta
    data = packet.data + delta
    if data < XDP_FRAME_SIZE + metalen or data > packet.end - N.ETH_HLEN:
        return -E.EINVAL
    if metalen:
        packet.buffer[packet.meta + delta:packet.meta + delta + metalen] = \
            packet.buffer[packet.meta:packet.data]
    packet.set_bounds(meta=packet.meta + delta, data=data)
    return 0


@builtin("xdp_adjust_tail")
def xdp_adjust_tail(ctx: HelperContext, _xdp: int, delta: int, *_: int) -> int:
    """Move the end of the packet by ``delta`` bytes (new bytes are zero)."""
    packet = _packet(ctx, "xdp_adjust_tail")
    delta = s32(delta)
    end = packet.end + delta
    tail_limit = len(packet.buffer) - N.SKB_SHARED_INFO_SIZE
    if end > tail_limit or end < packet.data + N.ETH_HLEN:
        return -E.EINVAL
    if delta > 0:
        packet.buffer[packet.end:end] = bytes(delta)
    packet.set_bounds(end=end)
    return 0


@builtin("xdp_adjust_meta")
def xdp_adjust_meta(ctx: HelperContext, _xdp: int, delta: int, *_: int) -> int:
    """Move the start of the metadata by ``delta`` bytes."""
    packet = _packet(ctx, "xdp_adjust_meta")
    meta = packet.meta + s32(delta)
    metalen = packet.data - meta
    if meta < XDP_FRAME_SIZE or meta > packet.data:
        return -E.EINVAL
    if metalen > XDP_METADATA_MAX or metalen % 4:
        return -E.EACCES
    packet.set_bounds(meta=meta)
    return 0


# --- redirects --------------------------------------------------------------------------------

@builtin("redirect")
def redirect(ctx: HelperContext, ifindex: int, flags: int, *_: int) -> int:
    """Record a redirect to ``ifindex``; the program's return value says it."""
    ctx.redirect = Redirect(ifindex=ifindex & 0xFFFFFFFF, flags=flags)
    if ctx.prog_type == "xdp":
        return XDP_REDIRECT if not flags else enum_values("xdp_action")["XDP_ABORTED"]
    if flags & ~BPF_F_INGRESS:
        return N.TC_ACT_SHOT
    return N.TC_ACT_REDIRECT


@builtin("redirect_map")
def redirect_map(ctx: HelperContext, map_ptr: int, key: int, flags: int, *_: int) -> int:
    """Redirect to the target stored at ``key`` of a devmap, cpumap or xskmap;
    without one the low bits of ``flags`` are the fallback action."""
    m = map_arg(ctx, "redirect_map", 1, map_ptr)
    if m.key_size != 4:     # devmaps, cpumaps and xskmaps are keyed by a u32
        raise HelperError(f"bpf_redirect_map: r1 is map {m.name!r}, a {m.type} with "
                          f"{m.key_size}-byte keys; redirect maps take u32 keys")
    index = key & 0xFFFFFFFF
    if not m.bpf_lookup(index.to_bytes(4, "little"), ctx.env.cpu):
        return flags & XDP_ACTION_MASK
    ctx.redirect = Redirect(map=m.name, key=index, flags=flags)
    return XDP_REDIRECT


# --- sockets and routes: the VM has neither ------------------------------------------------

def _no_socket(ctx: HelperContext, *_: int) -> int:
    """Socket lookups find nothing in the VM: NULL."""
    return 0


for _name in ("sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "get_listener_sock",
              "sk_fullsock", "tcp_sock", "skc_to_tcp_sock", "skc_to_tcp6_sock",
              "skc_to_udp6_sock", "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock"):
    builtin(_name)(_no_socket)


@builtin("sk_release")
def sk_release(ctx: HelperContext, *_: int) -> int:
    """Release a socket reference (there are none to release in the VM)."""
    return 0


FIB_LOOKUP_SIZE = struct_layout("bpf_fib_lookup").size
FIB_FLAGS = (constant("BPF_FIB_LOOKUP_DIRECT") | constant("BPF_FIB_LOOKUP_OUTPUT") |
             constant("BPF_FIB_LOOKUP_SKIP_NEIGH") | constant("BPF_FIB_LOOKUP_TBID") |
             constant("BPF_FIB_LOOKUP_SRC") | constant("BPF_FIB_LOOKUP_MARK"))


@builtin("fib_lookup")
def fib_lookup(ctx: HelperContext, _ctx_ptr: int, params: int, plen: int, flags: int,
               *_: int) -> int:
    """A route lookup; the VM has no routing table, so nothing is forwarded."""
    check_mem(ctx, "fib_lookup", 2, params, 3, plen, write=True)
    if plen < FIB_LOOKUP_SIZE or flags & ~FIB_FLAGS:
        return -E.EINVAL
    return constant("BPF_FIB_LKUP_RET_NOT_FWDED")
