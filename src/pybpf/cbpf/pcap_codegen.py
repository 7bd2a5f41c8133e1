"""Code generation for pcap filter expressions: each primitive of the
language as a :class:`~.pcap_ir.Fragment` of classic BPF blocks, with
libpcap's meaning — the same tests on the same packet bytes, in the same
order — but without its scaffolding (the parser calls these as it reduces
each primitive, in the order of the text).

The link type fixes where the link-layer type field and the network
header lie; ``vlan`` and ``mpls`` move them on by 4 bytes for everything
that follows them in the text, as libpcap does.  Transport-layer fields of
IPv4 are read past the IPv4 header (``ldxb 4*([nl]&0xf)``), and only in
unfragmented packets or first fragments; those of IPv6 at a fixed 40 bytes
(no extension headers), as libpcap reads them.

The arithmetic of relations (``tcp[13] & 2 != 0``) arrives as a small
tree (:class:`Num`, :class:`Length`, :class:`Load`, :class:`Unary`,
:class:`Binary`) and is compiled straight to registers, spilling to
scratch memory only when both operands need computing.  Each byte-slice
load brings the protocol test that guards it; as libpcap does, a binary
operation keeps its left operand's guard only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..spec import cbpf as C
from ..spec import pcap_filter as P
from . import insn as I
from .pcap_errors import (
    ARITHMETIC,
    QUALIFIER,
    SYNTAX,
    UNKNOWN_HOST,
    UNKNOWN_NETWORK,
    UNKNOWN_PORT,
    UNKNOWN_PROTOCOL,
    UNSUPPORTED,
    VALUE,
    FilterExpressionError,
)
from .pcap_ir import FALSE, TRUE, Chunk, Fragment, and_, not_, or_, test
from .pcap_names import Names, parse_mac

U32 = 0xFFFFFFFF
FIRST_OCTET = 0xFF << 24  # the first byte of a dotted IPv4 number

JEQ = C.BPF_JMP | C.BPF_JEQ | C.BPF_K
JGT = C.BPF_JMP | C.BPF_JGT | C.BPF_K
JGE = C.BPF_JMP | C.BPF_JGE | C.BPF_K
JSET = C.BPF_JMP | C.BPF_JSET | C.BPF_K
JUMP_X = {"jeq": C.BPF_JMP | C.BPF_JEQ | C.BPF_X, "jgt": C.BPF_JMP | C.BPF_JGT | C.BPF_X,
          "jge": C.BPF_JMP | C.BPF_JGE | C.BPF_X}
JUMP_K = {"jeq": JEQ, "jgt": JGT, "jge": JGE}

SIZES = (1, 2, 4)


def error(category: str, reason: str) -> FilterExpressionError:
    """An error the parser will locate at the token being reduced."""
    return FilterExpressionError(category, reason)


# --- qualifiers --------------------------------------------------------------------------

@dataclass(frozen=True)
class Qual:
    """The qualifiers of a primitive: ``proto`` (``link``, ``ip``, ``tcp``...),
    ``dir`` (``src``, ``dst``, ``or`` for "src or dst", ``and`` for "src
    and dst", ``addr1``... ``ra``, ``ta``) and ``addr`` (``host``, ``net``,
    ``port``, ``portrange``, ``proto``, ``protochain``, ``gateway``); None
    is the default of each."""

    proto: str | None = None
    dir: str | None = None
    addr: str | None = None


DEFAULT = Qual()
"""No qualifiers: ``src or dst host``, any protocol that fits."""


class _ErrorQual(Qual):
    """The qualifiers inherited after a primitive that carries none (a
    relation, ``tcp`` alone, ``broadcast``...): using them is an error."""


ERR = _ErrorQual()


# --- arithmetic trees ------------------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    """A constant; ``literal`` when written as a number."""

    value: int
    literal: bool = True


@dataclass(frozen=True)
class Length:
    """``len``: the packet's length."""


@dataclass(frozen=True)
class Load:
    """``proto[index : size]``."""

    proto: str
    index: Arith
    size: int


@dataclass(frozen=True)
class Unary:
    """``-operand``."""

    operand: Arith


@dataclass(frozen=True)
class Binary:
    """``left op right``, op one of ``+ - * / % & | ^ << >>``."""

    op: str
    left: Arith
    right: Arith


Arith = Num | Length | Load | Unary | Binary

ALU = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod", "&": "and", "|": "or",
       "^": "xor", "<<": "lsh", ">>": "rsh"}
COMMUTATIVE = {"+", "*", "&", "|", "^"}


def first_load(node: Arith) -> int | None:
    """The constant the code of ``node`` begins by loading in libpcap's
    unoptimized form (its leftmost leaf, when that is a number), or None."""
    while True:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Length):
            return None
        if isinstance(node, Load):
            node = node.index
        elif isinstance(node, Unary):
            node = node.operand
        else:
            node = node.left


def registers(node: Arith) -> int:
    """How many scratch registers libpcap's unoptimized code for ``node``
    holds at once (it refuses expressions needing more than 16)."""
    if isinstance(node, (Num, Length)):
        return 1
    if isinstance(node, Load):
        return max(registers(node.index), 2)
    if isinstance(node, Unary):
        return registers(node.operand)
    return max(registers(node.left), 1 + registers(node.right))


def apply(op: str, a: int, b: int) -> int:
    """``a op b`` on 32-bit values as the BPF machine computes it (shifts
    of 32 or more give 0); division or modulus by 0 raises."""
    if op == "+":
        return (a + b) & U32
    if op == "-":
        return (a - b) & U32
    if op == "*":
        return (a * b) & U32
    if op in ("/", "%"):
        if b == 0:
            raise error(ARITHMETIC, "division by zero" if op == "/" else "modulus by zero")
        return a // b if op == "/" else a % b
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    if op == "<<":
        return (a << b) & U32 if b < 32 else 0
    return a >> b if b < 32 else 0


def fold(node: Arith) -> int | None:
    """The value of ``node`` when it is constant, else None."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Unary):
        v = fold(node.operand)
        return None if v is None else -v & U32
    if isinstance(node, Binary):
        a, b = fold(node.left), fold(node.right)
        if a is None or b is None:
            return None
        return apply(node.op, a, b)
    return None


# --- the generator ----------------------------------------------------------------------------

PORT_PROTOS = {"tcp": P.IPPROTO_TCP, "udp": P.IPPROTO_UDP, "sctp": P.IPPROTO_SCTP}
PROTO_NAMES = {v: k for k, v in PORT_PROTOS.items()}
TRANSPORT_SLICES = {"tcp": P.IPPROTO_TCP, "udp": P.IPPROTO_UDP, "sctp": P.IPPROTO_SCTP,
                    "icmp": P.IPPROTO_ICMP, "igmp": P.IPPROTO_IGMP, "igrp": P.IPPROTO_IGRP,
                    "pim": P.IPPROTO_PIM, "vrrp": P.IPPROTO_VRRP, "carp": P.IPPROTO_CARP}
"""The protocols whose byte slices start at the IPv4 transport header."""
NETWORK_SLICES = ("ip", "arp", "rarp", "ip6", "decnet", "sca", "lat", "moprc", "mopdl")
"""The protocols whose byte slices start at the network header."""
ETHER_ABBREVS = {"ip": P.ETH_P_IP, "ip6": P.ETH_P_IPV6, "arp": P.ETH_P_ARP,
                 "rarp": P.ETH_P_RARP, "decnet": P.ETHERTYPE_DECNET, "lat": P.ETHERTYPE_LAT,
                 "sca": P.ETHERTYPE_SCA, "moprc": P.ETHERTYPE_MOPRC,
                 "mopdl": P.ETHERTYPE_MOPDL, "iso": P.LLCSAP_ISONS, "stp": P.LLCSAP_8021D,
                 "netbeui": P.LLCSAP_NETBEUI, "ipx": P.LLCSAP_IPX, "atalk": P.ETHERTYPE_ATALK,
                 "aarp": P.ETHERTYPE_AARP}
"""Protocol keywords that test the link-layer type alone."""
IP_ABBREVS = {"icmp": P.IPPROTO_ICMP, "igmp": P.IPPROTO_IGMP, "igrp": P.IPPROTO_IGRP,
              "vrrp": P.IPPROTO_VRRP, "carp": P.IPPROTO_CARP}
"""Protocol keywords meaning ``ip proto N``."""
ANY_IP_ABBREVS = {"tcp": P.IPPROTO_TCP, "udp": P.IPPROTO_UDP, "sctp": P.IPPROTO_SCTP,
                  "pim": P.IPPROTO_PIM, "ah": P.IPPROTO_AH, "esp": P.IPPROTO_ESP}
"""Protocol keywords meaning ``proto N`` (IPv4 or IPv6)."""
NOT_IMPLEMENTED_HOSTS = {"atalk": "AppleTalk", "lat": "LAT", "sca": "SCA", "moprc": "MOPRC",
                         "mopdl": "MOPDL", "iso": "ISO"}
NO_ENCAPSULATION = {"arp": "arp does not encapsulate another protocol",
                    "rarp": "rarp does not encapsulate another protocol",
                    "atalk": "AppleTalk encapsulation is not specifiable",
                    "decnet": "DECNET encapsulation is not specifiable",
                    "lat": "LAT does not encapsulate another protocol",
                    "sca": "SCA does not encapsulate another protocol",
                    "moprc": "MOPRC does not encapsulate another protocol",
                    "mopdl": "MOPDL does not encapsulate another protocol"}
UNSUPPORTED_PROTOS = ("esis", "isis", "clnp", "l1", "l2", "iih", "lsp",
                      "snp", "csnp", "psnp", "radio")
"""Protocol keywords libpcap knows that this compiler does not implement."""


class Generator:
    """Builds the fragments of one expression for one link type (see the
    module documentation); keeps the offsets ``vlan`` and ``mpls`` move."""

    def __init__(self, linktype: int, names: Names | None = None, netmask: int | None = 0):
        if linktype not in P.LINKTYPE_DESCRIPTIONS:
            raise error(UNSUPPORTED, f"link type {linktype} is not supported (only "
                                     f"{', '.join(P.LINKTYPE_DESCRIPTIONS.values())})")
        self.linktype = linktype
        self.has_loop = False
        """Whether the program loops (``protochain``): libpcap then leaves it
        unoptimized, and never refuses it as rejecting all packets."""
        self.names = names or Names()
        self.netmask = netmask
        if linktype == P.LINKTYPE_ETHERNET:
            self.off_linktype: int | None = P.ETHER_TYPE
            self.off_nl = P.ETHER_HDR_LEN
        elif linktype == P.LINKTYPE_LINUX_SLL:
            self.off_linktype = P.SLL_PROTOCOL
            self.off_nl = P.SLL_HDR_LEN
        else:
            self.off_linktype = None
            self.off_nl = 0
        self.label_depth = 0
        self.vlan_depth = 0
        self.deferred: list[FilterExpressionError] = []
        """Errors libpcap finds only when it optimizes (constant division by
        zero, constant shifts past 31 bits): raised after parsing."""

    @property
    def description(self) -> str:
        """The link type's name in libpcap's error messages."""
        return P.LINKTYPE_DESCRIPTIONS[self.linktype]

    @property
    def ethernet(self) -> bool:
        """Whether the link layer is Ethernet."""
        return self.linktype == P.LINKTYPE_ETHERNET

    # --- building blocks ------------------------------------------------------------------

    @staticmethod
    def cmp(offset: int, size: int, value: int, mask: int = U32, code: int = JEQ) -> Fragment:
        """``(packet[offset] of size & mask) <op> value`` at an absolute offset."""
        stmts = [I.ld_abs(size, offset)]
        if mask != U32:
            stmts.append(I.alu("and", mask))
        return test(stmts, code, value & U32)

    def cmp_nl(self, offset: int, size: int, value: int, mask: int = U32,
               code: int = JEQ) -> Fragment:
        """A comparison on the network header."""
        return self.cmp(self.off_nl + offset, size, value, mask, code)

    def cmp_transport4(self, offset: int, size: int, value: int, code: int = JEQ) -> Fragment:
        """A comparison on the IPv4 transport header (past the IP options)."""
        return test([I.ldx_msh(self.off_nl + P.IP_HL_BYTE),
                     I.ld_ind(size, self.off_nl + offset)], code, value & U32)

    # --- the link-layer type ---------------------------------------------------------------

    def linktype_is(self, proto: int) -> Fragment:
        """libpcap's ``gen_linktype``: the link layer carries ``proto`` (an
        EtherType, or an LLC SAP when at most 1500)."""
        if self.label_depth > 0:
            version = {P.ETH_P_IP: P.IP_VERSION_4, P.ETH_P_IPV6: P.IP_VERSION_6}.get(proto)
            if version is None:
                raise error(UNSUPPORTED, "unsupported protocol over mpls")
            return and_(self.cmp_nl(-P.MPLS_LABEL_LEN + P.MPLS_BOS_BYTE, 1, P.MPLS_BOS_BIT,
                                    P.MPLS_BOS_BIT),
                        self.cmp_nl(0, 1, version, P.IP_VERSION_MASK))
        if self.off_linktype is None:  # raw IP: the version nibble
            version = {P.ETH_P_IP: P.IP_VERSION_4, P.ETH_P_IPV6: P.IP_VERSION_6}.get(proto)
            if version is None:
                return FALSE
            return self.cmp(0, 1, version, P.IP_VERSION_MASK)
        if proto in (P.LLCSAP_IPX, P.ETHERTYPE_ATALK, P.ETHERTYPE_AARP):
            return self.novell_or_apple(proto)
        if proto <= P.ETHERMTU:
            sap = proto & 0xFF
            if self.ethernet:
                is_llc = not_(self.cmp(self.off_linktype, 2, P.ETHERMTU, code=JGT))
            else:
                is_llc = self.cmp(self.off_linktype, 2, P.LINUX_SLL_P_802_2)
            if proto in P.LLC_SAP_PAIRS:
                sap_test = self.cmp_nl(0, 2, sap << P.LLC_SAP_PAIR_SHIFT | sap)
            else:
                sap_test = self.cmp_nl(0, 1, proto)
            return and_(is_llc, sap_test)
        return self.cmp(self.off_linktype, 2, proto)

    def snap(self, oui: int, ethertype: int) -> Fragment:
        """An 802.2 LLC header with a SNAP header of ``oui`` and ``ethertype``
        (compared as two words, the second first, as libpcap does)."""
        first = P.LLCSAP_SNAP << 24 | P.LLCSAP_SNAP << 16 | P.LLC_UI << 8 | oui >> 16
        second = (oui & 0xFFFF) << 16 | ethertype
        return and_(self.cmp_nl(4, 4, second), self.cmp_nl(0, 4, first))

    def novell_or_apple(self, proto: int) -> Fragment:
        """IPX (every Ethernet encapsulation: Ethernet II, raw 802.3, 802.2
        LLC, SNAP), AppleTalk or AARP (Ethernet II or SNAP)."""
        if self.ethernet:
            is_8023 = not_(self.cmp(self.off_linktype, 2, P.ETHERMTU, code=JGT))
            if proto == P.LLCSAP_IPX:
                llc = or_(self.snap(P.OUI_ENCAP_ETHER, P.ETHERTYPE_IPX),
                          or_(self.cmp_nl(0, 1, P.LLCSAP_IPX), self.cmp_nl(0, 2, P.IPX_RAW_8023)))
                return or_(self.cmp(self.off_linktype, 2, P.ETHERTYPE_IPX), and_(is_8023, llc))
            oui = P.OUI_APPLETALK if proto == P.ETHERTYPE_ATALK else P.OUI_ENCAP_ETHER
            return or_(self.cmp(self.off_linktype, 2, proto), and_(is_8023, self.snap(oui, proto)))
        is_llc = self.cmp(self.off_linktype, 2, P.LINUX_SLL_P_802_2)
        if proto == P.LLCSAP_IPX:
            llc = or_(self.snap(P.OUI_ENCAP_ETHER, P.ETHERTYPE_IPX), self.cmp_nl(0, 1, P.LLCSAP_IPX))
            return or_(self.cmp(self.off_linktype, 2, P.ETHERTYPE_IPX),
                       or_(self.cmp(self.off_linktype, 2, P.LINUX_SLL_P_802_3), and_(is_llc, llc)))
        oui = P.OUI_APPLETALK if proto == P.ETHERTYPE_ATALK else P.OUI_ENCAP_ETHER
        return or_(self.cmp(self.off_linktype, 2, proto), and_(is_llc, self.snap(oui, proto)))

    # --- protocols ----------------------------------------------------------------------------

    def ip_proto(self, value: int) -> Fragment:
        """``ip proto value``."""
        return and_(self.linktype_is(P.ETH_P_IP), self.cmp_nl(P.IP_PROTOCOL, 1, value))

    def ip6_proto(self, value: int) -> Fragment:
        """``ip6 proto value``: the next header, or the one after a fragment header."""
        nh = P.IP6_NEXT_HEADER
        return and_(self.linktype_is(P.ETH_P_IPV6),
                    or_(self.cmp_nl(nh, 1, value),
                        and_(self.cmp_nl(nh, 1, P.IPPROTO_FRAGMENT),
                             self.cmp_nl(P.IP6_HDR_LEN, 1, value))))

    def proto(self, value: int, qual: Qual) -> Fragment:
        """``[ether|ip|ip6] proto value``."""
        if qual.dir is not None:
            raise error(QUALIFIER, "direction applied to 'proto'")
        p = qual.proto
        if p is None:
            return or_(self.ip_proto(value), self.ip6_proto(value))
        if p == "link":
            return self.linktype_is(value)
        if p == "ip":
            return self.ip_proto(value)
        if p == "ip6":
            return self.ip6_proto(value)
        if p in NO_ENCAPSULATION:
            raise error(QUALIFIER, NO_ENCAPSULATION[p])
        if p in UNSUPPORTED_PROTOS:
            raise error(UNSUPPORTED, f"'{p}' is not supported by pybpf's filter compiler")
        raise error(QUALIFIER, f"'{p} proto' is bogus")

    def abbrev(self, name: str) -> Fragment:
        """A protocol keyword alone (``tcp``, ``ip6``, ``arp``...)."""
        if name == "link":
            raise error(QUALIFIER, "link layer applied in wrong context")
        if name in ETHER_ABBREVS:
            return self.linktype_is(ETHER_ABBREVS[name])
        if name in IP_ABBREVS:
            return self.ip_proto(IP_ABBREVS[name])
        if name in ANY_IP_ABBREVS:
            value = ANY_IP_ABBREVS[name]
            return or_(self.ip_proto(value), self.ip6_proto(value))
        if name == "icmp6":
            return self.ip6_proto(P.IPPROTO_ICMPV6)
        if name == "radio":
            raise error(QUALIFIER, "'radio' is not a valid protocol type")
        raise error(UNSUPPORTED, f"'{name}' is not supported by pybpf's filter compiler")

    # --- hosts and networks -------------------------------------------------------------------

    def _src_dst(self, dir: str | None, src, dst) -> Fragment:  # type: ignore[no-untyped-def]
        """Combine the source and destination tests a direction asks for
        (``src`` and ``dst`` are called to build them, in that order)."""
        if dir in ("addr1", "addr2", "addr3", "addr4"):
            n = dir[-1]
            raise error(QUALIFIER, f"'addr{n}' and 'address{n}' are only supported on 802.11 "
                                   f"with 802.11 headers")
        if dir in ("ra", "ta"):
            raise error(QUALIFIER, f"'{dir}' is only supported on 802.11 with 802.11 headers")
        if dir == "src":
            return src()
        if dir == "dst":
            return dst()
        first = src()
        second = dst()
        return and_(first, second) if dir == "and" else or_(first, second)

    def _hostop(self, addr: int, mask: int, dir: str | None, ethertype: int, src_off: int,
                dst_off: int) -> Fragment:
        # Each side tests the link type again, as libpcap builds it: the
        # optimizer needs the repetition to keep what each path knows.
        def at(offset: int):  # type: ignore[no-untyped-def]
            return lambda: and_(self.linktype_is(ethertype), self.cmp_nl(offset, 4, addr, mask))
        return self._src_dst(dir, at(src_off), at(dst_off))

    def host(self, addr: int, mask: int, qual: Qual) -> Fragment:
        """An IPv4 host or network (``addr`` under ``mask``)."""
        what = "net" if qual.addr == "net" else "host"
        p = qual.proto
        if p is None:
            frag = self.host(addr, mask, Qual("ip", qual.dir, qual.addr))
            if self.label_depth == 0:
                frag = or_(frag, self.host(addr, mask, Qual("arp", qual.dir, qual.addr)))
                frag = or_(frag, self.host(addr, mask, Qual("rarp", qual.dir, qual.addr)))
            return frag
        if p == "ip":
            return self._hostop(addr, mask, qual.dir, P.ETH_P_IP, P.IP_SRC, P.IP_DST)
        if p in ("arp", "rarp"):
            return self._hostop(addr, mask, qual.dir, P.ETH_P_ARP if p == "arp" else P.ETH_P_RARP,
                                P.ARP_SPA, P.ARP_TPA)
        if p == "link":
            raise error(QUALIFIER, f"link-layer modifier applied to {what}")
        if p == "ip6":
            raise error(QUALIFIER, "'ip6' modifier applied to ip host")
        if p in NOT_IMPLEMENTED_HOSTS:
            raise error(UNSUPPORTED, f"{NOT_IMPLEMENTED_HOSTS[p]} host filtering not implemented")
        if p == "decnet":
            raise error(UNSUPPORTED, "DECnet addresses are not supported by pybpf's filter "
                                     "compiler")
        raise error(QUALIFIER, f"'{p}' modifier applied to {what}")

    def host6(self, addr: bytes, mask: bytes, qual: Qual) -> Fragment:
        """An IPv6 host or network."""
        what = "net" if qual.addr == "net" else "host"
        p = qual.proto
        if p not in (None, "ip6"):
            if p == "link":
                raise error(QUALIFIER, f"link-layer modifier applied to ip6 {what}")
            if p in NOT_IMPLEMENTED_HOSTS:
                raise error(UNSUPPORTED, f"{NOT_IMPLEMENTED_HOSTS[p]} modifier applied to ip6 "
                                         f"{what}")
            raise error(QUALIFIER, f"'{p}' modifier applied to ip6 {what}")

        def at(offset: int):  # type: ignore[no-untyped-def]
            def build() -> Fragment:
                frag = self.linktype_is(P.ETH_P_IPV6)
                for word in range(4):
                    m = int.from_bytes(mask[4 * word:4 * word + 4], "big")
                    a = int.from_bytes(addr[4 * word:4 * word + 4], "big")
                    frag = and_(frag, self.cmp_nl(offset + 4 * word, 4, a, m))
                return frag
            return build
        return self._src_dst(qual.dir, at(P.IP6_SRC), at(P.IP6_DST))

    def ehost(self, mac: bytes, dir: str | None) -> Fragment:
        """``ether host/src/dst MAC``."""
        if not self.ethernet:
            raise error(UNSUPPORTED, "ethernet addresses supported only on ethernet/FDDI/token "
                                     "ring/802.11/ATM LANE/Fibre Channel")

        def at(offset: int):  # type: ignore[no-untyped-def]
            return lambda: and_(self.cmp(offset + 2, 4, int.from_bytes(mac[2:], "big")),
                                self.cmp(offset, 2, int.from_bytes(mac[:2], "big")))
        return self._src_dst(dir, at(P.ETHER_SRC), at(P.ETHER_DST))

    # --- ports --------------------------------------------------------------------------------

    def _port_tests(self, dir: str | None, atom) -> Fragment:  # type: ignore[no-untyped-def]
        if dir in ("addr1", "addr2", "addr3", "addr4"):
            n = dir[-1]
            raise error(QUALIFIER, f"'addr{n}' and 'address{n}' are not valid qualifiers for "
                                   f"ports")
        if dir in ("ra", "ta"):
            raise error(QUALIFIER, f"'{dir}' is not a valid qualifier for ports")
        return self._src_dst(dir, lambda: atom(P.PORT_SRC), lambda: atom(P.PORT_DST))

    def ports(self, low: int, high: int, ip_proto: int | None, dir: str | None) -> Fragment:
        """Ports ``low``..``high`` (one port when equal) of ``ip_proto``
        (None: SCTP, TCP or UDP) over IPv6, then IPv4.  As libpcap builds
        it, each protocol gets its own copy of the port tests, so that each
        path keeps knowing which protocol it is on."""
        def check(read):  # type: ignore[no-untyped-def]
            def atom(offset: int) -> Fragment:
                if low == high:
                    return read(offset, low, JEQ)
                return and_(read(offset, low, JGE), not_(read(offset, high, JGT)))
            return atom

        def v6(offset: int, value: int, code: int) -> Fragment:
            return self.cmp_nl(P.IP6_HDR_LEN + offset, 2, value, code=code)

        def v4(offset: int, value: int, code: int) -> Fragment:
            return self.cmp_transport4(offset, 2, value, code)

        protos = P.PORT_PROTOCOLS if ip_proto is None else (ip_proto,)
        ip6 = FALSE
        for p in protos:
            ip6 = or_(ip6, and_(self.cmp_nl(P.IP6_NEXT_HEADER, 1, p),
                                self._port_tests(dir, check(v6))))
        ip6 = and_(self.linktype_is(P.ETH_P_IPV6), ip6)
        ip4 = FALSE
        for p in protos:
            ip4 = or_(ip4, and_(and_(self.cmp_nl(P.IP_PROTOCOL, 1, p), self.not_fragment()),
                                self._port_tests(dir, check(v4))))
        ip4 = and_(self.linktype_is(P.ETH_P_IP), ip4)
        return or_(ip6, ip4)

    def not_fragment(self) -> Fragment:
        """An IPv4 packet that is not a fragment other than the first."""
        return not_(self.cmp_nl(P.IP_FRAG_OFF, 2, P.IP_OFFMASK, code=JSET))

    # --- vlan, mpls ---------------------------------------------------------------------------

    def vlan(self, vid: int | None) -> Fragment:
        """``vlan [vid]``; later offsets move past the tag."""
        if self.label_depth > 0:
            raise error(UNSUPPORTED, "no VLAN match after MPLS")
        if not self.ethernet:
            raise error(UNSUPPORTED, f"no VLAN support for {self.description}")
        assert self.off_linktype is not None
        frag = FALSE
        for tpid in P.VLAN_TPIDS:
            frag = or_(frag, self.cmp(self.off_linktype, 2, tpid))
        if vid is not None:
            if vid > P.VLAN_VID_MAX:
                raise error(VALUE, f"VLAN tag {vid} greater than maximum {P.VLAN_VID_MAX}")
            frag = and_(frag, self.cmp_nl(0, 2, vid, P.VLAN_VID_MASK))
        self.off_linktype += P.VLAN_TAG_LEN
        self.off_nl += P.VLAN_TAG_LEN
        self.vlan_depth += 1
        return frag

    def mpls(self, label: int | None) -> Fragment:
        """``mpls [label]``; later offsets move past the label."""
        if self.label_depth > 0:
            frag = self.cmp_nl(-P.MPLS_LABEL_LEN + P.MPLS_BOS_BYTE, 1, 0, P.MPLS_BOS_BIT)
        elif self.ethernet:
            frag = self.linktype_is(P.ETHERTYPE_MPLS)
        else:
            raise error(UNSUPPORTED, f"no MPLS support for {self.description}")
        if label is not None:
            if label > P.MPLS_LABEL_MAX:
                raise error(VALUE, f"MPLS label {label} greater than maximum {P.MPLS_LABEL_MAX}")
            frag = and_(frag, self.cmp_nl(0, 4, label << P.MPLS_LABEL_SHIFT, P.MPLS_LABEL_MASK))
        self.off_nl += P.MPLS_LABEL_LEN
        self.label_depth += 1
        return frag

    # --- broadcast, multicast, length ---------------------------------------------------------

    def broadcast(self, proto: str | None) -> Fragment:
        """``[ether|ip] broadcast``."""
        if proto in (None, "link"):
            if not self.ethernet:
                raise error(UNSUPPORTED, "not a broadcast link")
            return self.ehost(b"\xff" * P.ETHER_ADDR_LEN, "dst")
        if proto == "ip":
            if self.netmask is None:
                raise error(UNSUPPORTED, "netmask not known, so 'ip broadcast' not supported")
            hostmask = ~self.netmask & U32
            return and_(self.linktype_is(P.ETH_P_IP),
                        or_(self.cmp_nl(P.IP_DST, 4, 0, hostmask),
                            self.cmp_nl(P.IP_DST, 4, hostmask, hostmask)))
        raise error(QUALIFIER, "only link-layer/IP broadcast filters supported")

    def multicast(self, proto: str | None) -> Fragment:
        """``[ether|ip|ip6] multicast``."""
        if proto in (None, "link") and self.ethernet:
            return self.cmp(P.ETHER_DST, 1, 1, code=JSET)
        if proto == "ip":
            return and_(self.linktype_is(P.ETH_P_IP),
                        self.cmp_nl(P.IP_DST, 1, P.IP_MULTICAST_FIRST, code=JGE))
        if proto == "ip6":
            return and_(self.linktype_is(P.ETH_P_IPV6),
                        self.cmp_nl(P.IP6_DST, 1, P.IP6_MULTICAST_FIRST))
        raise error(UNSUPPORTED, "link-layer multicast filters supported only on ethernet/FDDI/"
                                 "token ring/ARCNET/802.11/ATM LANE/Fibre Channel")

    @staticmethod
    def length(op: str, value: int) -> Fragment:
        """``less value`` (``op`` "<=") or ``greater value`` (">=")."""
        if op == "<=":
            return not_(test([I.ld_len()], JGT, value))
        return test([I.ld_len()], JGE, value)

    def direction(self, outbound: bool) -> Fragment:
        """``inbound`` / ``outbound``: the SLL header's packet type (other
        link types carry no direction in a capture file)."""
        if self.linktype != P.LINKTYPE_LINUX_SLL:
            raise error(UNSUPPORTED, "inbound/outbound not supported on "
                                     f"{self.description} when reading savefiles")
        sent = self.cmp(P.SLL_PACKET_TYPE, 2, P.LINUX_SLL_OUTGOING)
        return sent if outbound else not_(sent)

    # --- protochain ---------------------------------------------------------------------------

    def protochain(self, value: int, proto: str | None) -> Fragment:
        """``[ip|ip6] protochain value``: walk the header chain."""
        self.has_loop = True
        if proto in (None, "ip"):
            v4 = and_(self.linktype_is(P.ETH_P_IP), test([self._chain(value, False)], JEQ, value))
        if proto in (None, "ip6"):
            v6 = and_(self.linktype_is(P.ETH_P_IPV6),
                      test([self._chain(value, True)], JEQ, value))
        if proto is None:
            return or_(v4, v6)
        if proto == "ip":
            return v4
        if proto == "ip6":
            return v6
        raise error(QUALIFIER, "bad protocol applied for 'protochain'")

    def _chain(self, value: int, ipv6: bool) -> Chunk:
        """The loop of ``protochain``: A ends holding the protocol found
        (the last header's, or ``value`` when met on the way)."""
        nl = self.off_nl
        scratch = 0
        code: list[I.SockFilter | tuple[str, int, str, str]] = []
        labels: dict[str, int] = {}

        def label(name: str) -> None:
            labels[name] = len(code)

        def jeq(k: int, jt: str, jf: str) -> None:
            code.append(("jeq", k, jt, jf))

        if ipv6:
            code += [I.ld_abs(1, nl + P.IP6_NEXT_HEADER), I.ldx_imm(P.IP6_HDR_LEN)]
        else:
            code += [I.ld_abs(1, nl + P.IP_PROTOCOL), I.ldx_msh(nl + P.IP_HL_BYTE)]
        label("loop")
        jeq(value, "found", "next1")
        label("next1")
        jeq(P.IPPROTO_NONE, "found", "next2")
        label("next2")
        if ipv6:
            exts = P.PROTOCHAIN_IPV6_EXTENSIONS
            for i, ext in enumerate(exts):
                jeq(ext, "ext", f"e{i + 1}" if i + 1 < len(exts) else "ahcheck")
                if i + 1 < len(exts):
                    label(f"e{i + 1}")
            label("ext")
            code += [I.ld_ind(1, nl), I.st(scratch), I.ld_ind(1, nl + P.IP6_EXT_LEN_BYTE),
                     I.alu("add", 1), I.alu("mul", P.IP6_EXT_UNIT), I.alu("add", I.X), I.tax(),
                     I.ld_mem(scratch), ("ja", 0, "loop", "")]
            label("ahcheck")
        jeq(P.IPPROTO_AH, "ah", "found")
        label("ah")
        code += [I.txa(), I.ld_ind(1, nl), I.st(scratch), I.txa(), I.alu("add", 1), I.tax(),
                 I.ld_ind(1, nl), I.alu("add", P.AH_LEN_BIAS), I.alu("mul", P.AH_LEN_UNIT),
                 I.tax(), I.ld_mem(scratch), ("ja", 0, "loop", "")]
        label("found")
        out: list[I.SockFilter] = []
        for pc, item in enumerate(code):
            if isinstance(item, I.SockFilter):
                out.append(item)
            elif item[0] == "ja":
                out.append(I.ja((labels[item[2]] - pc - 1) & U32))
            else:
                out.append(I.jeq(item[1], labels[item[2]] - pc - 1, labels[item[3]] - pc - 1))
        return Chunk(out)

    # --- byte slices and relations ------------------------------------------------------------

    def check_slice(self, proto: str) -> None:
        """Refuse a byte slice of a protocol that has none."""
        if proto in TRANSPORT_SLICES or proto in NETWORK_SLICES or proto in ("link", "icmp6"):
            return
        if proto == "radio":
            raise error(UNSUPPORTED, "radio headers are not supported by pybpf's filter compiler")
        raise error(QUALIFIER, "unsupported index operation")

    def guard(self, node: Arith) -> Fragment:
        """The protocol tests that must hold before ``node`` is computed."""
        if isinstance(node, (Num, Length)):
            return TRUE
        if isinstance(node, Unary):
            return self.guard(node.operand)
        if isinstance(node, Binary):
            return self.guard(node.left)  # libpcap keeps the left operand's only
        inner = self.guard(node.index)
        p = node.proto
        if p == "link":
            return inner
        if p in TRANSPORT_SLICES:
            return and_(self.linktype_is(P.ETH_P_IP),
                        and_(inner, and_(self.cmp_nl(P.IP_PROTOCOL, 1, TRANSPORT_SLICES[p]),
                                         self.not_fragment())))
        if p == "icmp6":
            return and_(inner, and_(self.linktype_is(P.ETH_P_IPV6),
                                    self.cmp_nl(P.IP6_NEXT_HEADER, 1, P.IPPROTO_ICMPV6)))
        return and_(inner, self.abbrev(p))

    def relation(self, op: str, left: Arith, right: Arith) -> Fragment:
        """``left op right``, op one of ``> >= = < <= !=``."""
        need = max(registers(left), 1 + registers(right))
        if need > C.BPF_MEMWORDS:
            raise error(ARITHMETIC, "too many registers needed to evaluate expression")
        guards = and_(self.guard(left), self.guard(right))
        a, b = self.constant(left), self.constant(right)
        code, negate = {">": ("jgt", False), ">=": ("jge", False), "=": ("jeq", False),
                        "<=": ("jgt", True), "<": ("jge", True), "!=": ("jeq", True)}[op]
        if a is not None and b is not None:
            outcome = {"jgt": a > b, "jge": a >= b, "jeq": a == b}[code] != negate
            return and_(guards, TRUE if outcome else FALSE)
        if b is not None:
            frag = test(self.compute(left), JUMP_K[code], b)
        elif a is not None:
            # a OP b, with A = b: a > b is not (b >= a), a >= b is not (b > a)
            flipped = {"jgt": ("jge", True), "jge": ("jgt", True), "jeq": ("jeq", False)}
            code, extra = flipped[code]
            negate = negate != extra
            frag = test(self.compute(right), JUMP_K[code], a)
        else:
            frag = test(self.compute_pair(left, right), JUMP_X[code])
        return and_(guards, not_(frag) if negate else frag)

    def constant(self, node: Arith) -> int | None:
        """``node``'s value if constant (division by zero and long shifts
        are noted as libpcap's optimizer notes them)."""
        try:
            return fold(node)
        except FilterExpressionError as e:
            self.deferred.append(e)
            return None

    # --- arithmetic ---------------------------------------------------------------------------

    def compute(self, node: Arith, depth: int = 0) -> list[I.SockFilter]:
        """Code leaving ``node``'s value in A (X and scratch words from
        ``depth`` up may be overwritten)."""
        value = self.constant(node)
        if value is not None:
            return [I.ld_imm(value)]
        if isinstance(node, Length):
            return [I.ld_len()]
        if isinstance(node, Unary):
            return [*self.compute(node.operand, depth), I.neg()]
        if isinstance(node, Load):
            return self._load(node, depth)
        assert isinstance(node, Binary)
        op = ALU[node.op]
        right = self.constant(node.right)
        if right is not None:
            if (node.op in ("/", "%") and right == 0) or (node.op in ("<<", ">>") and right > 31):
                self.deferred.append(error(ARITHMETIC, "division by zero" if node.op == "/"
                                           else "modulus by zero" if node.op == "%"
                                           else "shift by more than 31 bits"))
            return [*self.compute(node.left, depth), I.alu(op, right)]
        left = self.constant(node.left)
        if left is not None and node.op in COMMUTATIVE:
            return [*self.compute(node.right, depth), I.alu(op, left)]
        return [*self.compute_pair(node.left, node.right, depth), I.alu(op, I.X)]

    def compute_pair(self, left: Arith, right: Arith, depth: int = 0) -> list[I.SockFilter]:
        """Code leaving ``left`` in A and ``right`` in X."""
        if isinstance(right, Length):
            return [*self.compute(left, depth), I.ldx_len()]
        value = self.constant(right)
        if value is not None:
            return [*self.compute(left, depth), I.ldx_imm(value)]
        if not uses_x(left):
            return [*self.compute(right, depth), I.tax(), *self.compute(left, depth)]
        if depth >= C.BPF_MEMWORDS:
            raise error(ARITHMETIC, "too many registers needed to evaluate expression")
        return [*self.compute(right, depth), I.st(depth), *self.compute(left, depth + 1),
                I.ldx_mem(depth)]

    def _load(self, node: Load, depth: int) -> list[I.SockFilter]:
        p, size = node.proto, node.size
        if p == "link":
            base = 0
        elif p in TRANSPORT_SLICES:
            index = self.constant(node.index)
            head = I.ldx_msh(self.off_nl + P.IP_HL_BYTE)
            if index is not None:
                return [head, I.ld_ind(size, (self.off_nl + index) & U32)]
            return [*self.compute(node.index, depth), head, I.alu("add", I.X), I.tax(),
                    I.ld_ind(size, self.off_nl)]
        elif p == "icmp6":
            base = self.off_nl + P.IP6_HDR_LEN
        else:
            base = self.off_nl
        index = self.constant(node.index)
        if index is not None:
            return [I.ld_abs(size, (base + index) & U32)]
        return [*self.compute(node.index, depth), I.tax(), I.ld_ind(size, base)]


def uses_x(node: Arith) -> bool:
    """Whether computing ``node`` overwrites X."""
    if isinstance(node, (Num, Length)):
        return False
    if isinstance(node, Unary):
        return uses_x(node.operand)
    if isinstance(node, Load):
        return node.proto in TRANSPORT_SLICES or fold(node.index) is None
    try:
        if fold(node.right) is not None:
            return uses_x(node.left)
        if fold(node.left) is not None and node.op in COMMUTATIVE:
            return uses_x(node.right)
    except FilterExpressionError:
        pass
    return True


# --- names and numbers: what a qualified value means ------------------------------------------

def _ipv4_parts(text: str) -> tuple[int, int] | None:
    """libpcap's ``__pcap_atoin``: a dotted IPv4 address of 1-4 decimal
    parts, as (value packed to the right, bits given); None if invalid."""
    parts = text.split(".")
    value = 0
    for part in parts:
        if not part.isdigit() or int(part) > 255:
            return None
        value = value << 8 | int(part)
    return value, 8 * len(parts)


def _prefix(bits: int, width: int) -> int:
    return ((1 << width) - 1) ^ ((1 << (width - bits)) - 1) if bits else 0


class Meanings:
    """What a value means under its qualifiers: libpcap's ``gen_scode``
    (names), ``gen_ncode`` (numbers and dotted addresses), ``gen_mcode``
    (networks with masks) and their IPv6 and Ethernet counterparts."""

    def __init__(self, gen: Generator):
        self.gen = gen

    @staticmethod
    def _check(qual: Qual) -> None:
        if isinstance(qual, _ErrorQual):
            raise error(SYNTAX, "syntax error in filter expression: a value with no "
                                "qualifier to inherit")

    def number(self, value: int, qual: Qual, text: str | None = None) -> Fragment:
        """A number, or (``text`` given) a dotted IPv4 address."""
        gen = self.gen
        if text is not None:
            if not isinstance(qual, _ErrorQual) and qual.addr in ("port", "portrange", "proto",
                                                                   "protochain"):
                raise error(QUALIFIER, f"'{qual.addr}' modifier applied to ip host")
            if qual.proto == "link":
                raise error(QUALIFIER, "illegal link layer address")
            parts = _ipv4_parts(text)
            if parts is None:
                raise error(VALUE, f"invalid IPv4 address '{text}'")
            value, bits = parts
        else:
            bits = 32
        self._check(qual)
        addr = qual.addr
        if addr in (None, "host", "net"):
            if qual.proto == "link":
                raise error(QUALIFIER, "illegal link layer address")
            mask = U32
            if text is None and addr == "net":
                while value and not value & FIRST_OCTET:
                    value = value << 8 & U32
                    mask = mask << 8 & U32
            else:
                value = value << (32 - bits) & U32
                mask = mask << (32 - bits) & U32
            return gen.host(value, mask, qual)
        if addr in ("port", "portrange"):
            if text is not None:
                raise error(QUALIFIER, f"'{addr}' modifier applied to ip host")
            ip_proto = self._port_proto(qual.proto, addr)
            if value > P.PORT_MAX:
                raise error(VALUE, f"illegal port number {value} > {P.PORT_MAX}")
            return gen.ports(value, value, ip_proto, qual.dir)
        if addr == "gateway":
            raise error(QUALIFIER, "'gateway' requires a name")
        if text is not None:
            raise error(QUALIFIER, f"'{addr}' modifier applied to ip host")
        if addr == "proto":
            return gen.proto(value, qual)
        if addr == "protochain":
            return gen.protochain(value, qual.proto)
        raise error(SYNTAX, "syntax error in filter expression")

    @staticmethod
    def _port_proto(proto: str | None, what: str) -> int | None:
        if proto is None:
            return None
        if proto in PORT_PROTOS:
            return PORT_PROTOS[proto]
        raise error(QUALIFIER, f"illegal qualifier of '{what}'")

    def network(self, text: str, qual: Qual, *, length: int | None = None,
                mask_text: str | None = None) -> Fragment:
        """``A.B.C.D/len`` or ``A.B.C.D mask M.M.M.M``."""
        parts = _ipv4_parts(text)
        if parts is None:
            raise error(VALUE, f"invalid IPv4 address '{text}'")
        value = parts[0] << (32 - parts[1]) & U32
        if mask_text is not None:
            mparts = _ipv4_parts(mask_text)
            if mparts is None:
                raise error(VALUE, f"invalid IPv4 address '{mask_text}'")
            mask = mparts[0] << (32 - mparts[1]) & U32
            if value & ~mask & U32:
                raise error(VALUE, f'non-network bits set in "{text} mask {mask_text}"')
        else:
            assert length is not None
            if length > 32:
                raise error(VALUE, "mask length must be <= 32")
            mask = _prefix(length, 32)
            if value & ~mask & U32:
                raise error(VALUE, f'non-network bits set in "{text}/{length}"')
        if qual.addr != "net" or isinstance(qual, _ErrorQual):
            raise error(QUALIFIER, "Mask syntax for networks only")
        return self.gen.host(value, mask, qual)

    def address6(self, text: str, qual: Qual, length: int = 128) -> Fragment:
        """An IPv6 address, with a prefix length for networks."""
        try:
            addr = ipaddress.IPv6Address(text).packed
        except ValueError:
            raise error(VALUE, f"invalid ip6 address {text}") from None
        if length > 128:
            raise error(VALUE, "mask length must be <= 128")
        mask = _prefix(length, 128).to_bytes(16, "big")
        if any(a & ~m & 0xFF for a, m in zip(addr, mask)):
            raise error(VALUE, f'non-network bits set in "{text}/{length}"')
        if isinstance(qual, _ErrorQual):
            raise error(QUALIFIER, "invalid qualifier against IPv6 address")
        if qual.addr in (None, "host"):
            if length != 128:
                raise error(QUALIFIER, "Mask syntax for networks only")
        elif qual.addr != "net":
            raise error(QUALIFIER, "invalid qualifier against IPv6 address")
        return self.gen.host6(addr, mask, qual)

    def mac(self, text: str, qual: Qual) -> Fragment:
        """A MAC address."""
        if qual.addr in (None, "host") and qual.proto == "link" and \
                not isinstance(qual, _ErrorQual):
            mac = parse_mac(text)
            if mac is None:
                raise error(VALUE, f"bogus ethernet address {text}")
            return self.gen.ehost(mac, qual.dir)
        raise error(QUALIFIER, "ethernet address used in non-ether expression")

    def arcnet(self, text: str, qual: Qual) -> Fragment:
        """An ARCnet address (``$1f``)."""
        if qual.addr in (None, "host") and qual.proto == "link":
            raise error(UNSUPPORTED, "aid supported only on ARCnet")
        raise error(QUALIFIER, "aid supported only on ARCnet")

    def name(self, name: str, qual: Qual) -> Fragment:
        """A name: a host, network, service, protocol or Ethernet host."""
        self._check(qual)
        gen, names = self.gen, self.gen.names
        addr, proto = qual.addr, qual.proto
        if addr == "net":
            value = names.network(name)
            if not value:
                raise error(UNKNOWN_NETWORK, f"unknown network '{name}'")
            mask = U32
            while value and not value & FIRST_OCTET:
                value, mask = value << 8 & U32, mask << 8 & U32
            return gen.host(value, mask, qual)
        if addr in (None, "host"):
            if proto == "link":
                if not gen.ethernet:
                    raise error(UNSUPPORTED, "only ethernet/FDDI/token ring/802.11/ATM LANE/"
                                             "Fibre Channel supports link-level host name")
                mac = names.ether(name)
                if mac is None:
                    raise error(UNKNOWN_HOST, f"unknown ether host '{name}'")
                return gen.ehost(mac, qual.dir)
            if proto == "decnet":
                raise error(UNSUPPORTED, "DECnet addresses are not supported by pybpf's filter "
                                         "compiler")
            found = names.addresses(name)
            if not found:
                raise error(UNKNOWN_HOST, f"unknown host '{name}'")
            v4_proto, v6_proto = proto, proto
            if gen.off_linktype is None and proto is None:
                v4_proto, v6_proto = "ip", "ip6"
            frag: Fragment | None = None
            for address in found:
                if address.version == 4:
                    if v4_proto == "ip6":
                        continue
                    part = gen.host(int(address), U32, Qual(v4_proto, qual.dir, addr))
                else:
                    if v6_proto == "ip":
                        continue
                    part = gen.host6(address.packed, b"\xff" * 16, Qual(v6_proto, qual.dir, addr))
                frag = part if frag is None else or_(frag, part)
            if frag is None:
                suffix = "" if proto is None else " for specified address family"
                raise error(UNKNOWN_HOST, f"unknown host '{name}'{suffix}")
            return frag
        if addr == "port":
            if proto not in (None, "tcp", "udp", "sctp"):
                raise error(QUALIFIER, "illegal qualifier of 'port'")
            found_port = names.port(name)
            if found_port is None:
                raise error(UNKNOWN_PORT, f"unknown port '{name}'")
            port, real = found_port
            real = self._restrict(proto, real, f"port '{name}'")
            if port > P.PORT_MAX:
                raise error(VALUE, f"illegal port number {port} > {P.PORT_MAX}")
            return gen.ports(port, port, PORT_PROTOS[real] if real else None, qual.dir)
        if addr == "portrange":
            if proto not in (None, "tcp", "udp", "sctp"):
                raise error(QUALIFIER, "illegal qualifier of 'portrange'")
            found_range = names.port_range(name)
            if found_range is None:
                raise error(UNKNOWN_PORT, f"unknown port in range '{name}'")
            low, high, real = found_range
            real = self._restrict(proto, real, f"port in range '{name}'")
            for port in (low, high):
                if port < 0:
                    raise error(VALUE, f"illegal port number {port} < 0")
                if port > P.PORT_MAX:
                    raise error(VALUE, f"illegal port number {port} > {P.PORT_MAX}")
            low, high = min(low, high), max(low, high)
            return gen.ports(low, high, PORT_PROTOS[real] if real else None, qual.dir)
        if addr == "gateway":
            return self.gateway(name, qual)
        if addr in ("proto", "protochain"):
            number = self._protocol(name, proto)
            if addr == "proto":
                return gen.proto(number, qual)
            return gen.protochain(number, proto)
        raise error(SYNTAX, "syntax error in filter expression")

    @staticmethod
    def _restrict(proto: str | None, real: str | None, what: str) -> str | None:
        if proto is None:
            return real
        if real is not None and real != proto:
            raise error(QUALIFIER, f"{what} is {real}")
        return proto

    def _protocol(self, name: str, proto: str | None) -> int:
        names = self.gen.names
        if proto in (None, "ip", "ip6"):
            value = names.protocol(name)
            if value is None:
                raise error(UNKNOWN_PROTOCOL, f"unknown ip proto '{name}'")
            return value
        if proto == "link":
            if name in P.ETHER_PROTO_NAMES:
                return P.ETHER_PROTO_NAMES[name]
            if name in P.LLC_NAMES:
                return P.LLC_NAMES[name]
            raise error(UNKNOWN_PROTOCOL, f"unknown ether proto '{name}'")
        raise error(UNKNOWN_PROTOCOL, f"unknown protocol: {name}")

    def gateway(self, name: str, qual: Qual) -> Fragment:
        """``gateway NAME``: the Ethernet host NAME relays the packet — its
        MAC address is the source or destination but none of its IP
        addresses is (``ether host E and not host H``)."""
        gen = self.gen
        if qual.proto not in (None, "ip", "arp", "rarp"):
            raise error(QUALIFIER, "illegal modifier of 'gateway'")
        if not gen.ethernet:
            raise error(UNSUPPORTED, "'gateway' supported only on ethernet/FDDI/token ring/"
                                     "802.11/ATM LANE/Fibre Channel")
        mac = gen.names.ether(name)
        if mac is None:
            raise error(UNKNOWN_HOST, f"unknown ether host '{name}'")
        addresses = [a for a in gen.names.addresses(name) if a.version == 4]
        if not addresses:
            raise error(UNKNOWN_HOST, f"unknown host '{name}'")
        frag = gen.ehost(mac, None)
        hosts = FALSE
        for address in addresses:
            hosts = or_(hosts, gen.host(int(address), U32, Qual(qual.proto, None, "host")))
        return and_(frag, not_(hosts))


PROTO_QUALIFIERS = frozenset({"link", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp",
                              "icmp6", "igmp", "igrp", "pim", "vrrp", "carp", "ah", "esp",
                              "atalk", "aarp", "decnet", "lat", "sca", "moprc", "mopdl", "iso",
                              "esis", "isis", "clnp", "stp", "ipx", "netbeui", "radio", "l1",
                              "l2", "iih", "lsp", "snp", "csnp", "psnp"})
"""The protocol keywords (libpcap's ``pname``)."""

__all__ = [
    "ALU",
    "DEFAULT",
    "ERR",
    "PROTO_QUALIFIERS",
    "SIZES",
    "Arith",
    "Binary",
    "Generator",
    "Length",
    "Load",
    "Meanings",
    "Num",
    "Qual",
    "Unary",
    "apply",
    "first_load",
    "fold",
    "registers",
    "uses_x",
]
