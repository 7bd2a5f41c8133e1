"""The classic BPF machine, with the kernel's semantics.

The kernel no longer runs classic programs itself: ``bpf_convert_filter``
turns them into eBPF.  What a classic program does in Linux is therefore
what that translation does, and that is what this interpreter does:

- A and X are 32-bit and start at 0; arithmetic wraps at 32 bits, shifts
  by X use its low five bits, comparisons are unsigned.
- Division or modulo by X = 0 ends the program returning 0.
- A packet load outside the packet ends the program returning 0.  Loads at
  ``SKF_NET_OFF + k`` and ``SKF_LL_OFF + k`` read the network and
  link-layer headers, which may lie before the data the program starts at;
  they must stay inside the skb's buffer.  ``ld [x + k]`` computes its
  offset in 32 bits.
- A load at ``SKF_AD_OFF + n`` (any size, absolute mode) reads ancillary
  data from the :class:`Skb` instead (``ALU_XOR_X`` computes ``A ^= X``);
  ``ifindex`` and ``hatype`` on an skb without a device end the program
  returning A.
- Seccomp filters (``seccomp=True``) run over the 64 bytes of ``struct
  seccomp_data``: ``ld [k]`` reads a native-endian word there, ``ld #len``
  is 64.

The program is compiled once into Python closures (:class:`Machine`);
:func:`run` is the one-call form.
"""

from __future__ import annotations

import random as _random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import VMError
from ..spec import cbpf as C
from ..spec import seccomp as S
from .check import check
from .insn import CONDITIONAL, Kind, SockFilter, s32
from .packets import payload_offset

U32 = 0xFFFFFFFF
NLA_HDRLEN = 4
NLA_TYPE_MASK = 0x3FFF  # ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)


@dataclass
class Skb:
    """The packet and metadata a socket filter sees: the kernel's
    ``struct sk_buff`` reduced to what classic loads read.

    ``buffer`` holds the skb's bytes from its head to its tail; ``data`` is
    where the program's offset 0 lies in it; ``mac`` and ``network`` are
    the link-layer and network header offsets (``mac`` None: not set).
    The rest are the ancillary fields: ``protocol`` (host order, as
    ``SKF_AD_PROTOCOL`` reads it), ``pkttype``, the device's ``ifindex``
    and ``hatype`` (``has_device`` False: no device), ``mark``, ``queue``
    (queue_mapping), ``hash``, the VLAN tag (``vlan_tci``,
    ``vlan_present``, ``vlan_proto``), the ``cpu`` running the filter, and
    ``random``, the source of ``SKF_AD_RANDOM``.
    """

    buffer: bytes
    data: int = 0
    mac: int | None = 0
    network: int | None = None
    protocol: int = 0
    pkttype: int = 0
    ifindex: int = 1
    hatype: int = 0
    has_device: bool = True
    mark: int = 0
    queue: int = 0
    hash: int = 0
    vlan_tci: int = 0
    vlan_present: bool = False
    vlan_proto: int = 0
    cpu: int = 0
    random: Callable[[], int] = field(default=lambda: _random.getrandbits(32), repr=False)

    @property
    def len(self) -> int:
        """skb->len: the bytes from data to the tail."""
        return len(self.buffer) - self.data

    @property
    def network_offset(self) -> int:
        """Where the network header starts in ``buffer``."""
        return self.data if self.network is None else self.network

    @classmethod
    def from_frame(cls, frame: bytes, **fields: object) -> Skb:
        """An Ethernet frame as a packet socket's filter sees it: data and
        the link-layer header at the frame's start, the network header after
        the 14-byte Ethernet header, ``protocol`` from the EtherType unless
        given."""
        from ..spec.net import ETH_HLEN

        fields.setdefault("protocol", int.from_bytes(frame[12:14], "big") if len(frame) >= 14
                          else 0)
        fields.setdefault("network", min(ETH_HLEN, len(frame)))
        return cls(bytes(frame), **fields)  # type: ignore[arg-type]

    @classmethod
    def received(cls, frame: bytes, *, device_address: bytes = bytes(6),
                 broadcast: bytes = b"\xff" * 6, untag: bool = True,
                 **fields: object) -> Skb | None:
        """The skb a packet socket's filter sees for an Ethernet ``frame``
        received by a device with MAC ``device_address`` and broadcast
        address ``broadcast`` (both all zeros on ``lo``): ``pkttype`` and
        ``protocol`` as ``eth_type_trans`` sets them, and (``untag``) one
        802.1Q/802.1ad tag moved out of the data into ``vlan_tci`` and
        ``vlan_proto`` as the receive path does before any tap sees the
        frame.  None for a frame the kernel drops before that (a tag with
        too few bytes after it).  Other fields (``ifindex``, ``hatype``,
        ``mark``...) come from ``fields``."""
        from ..spec import net as N
        from ..spec import packets as P

        def encapsulated(proto: int, after: bytes) -> int:
            if proto >= N.ETH_P_802_3_MIN:
                return proto
            return N.ETH_P_802_3 if after[:2] == b"\xff\xff" else N.ETH_P_802_2

        frame = bytes(frame)
        dest = frame[:6]
        if dest == device_address:
            pkttype = N.PACKET_HOST
        elif dest[:1] and dest[0] & 1:
            pkttype = N.PACKET_BROADCAST if dest == broadcast else N.PACKET_MULTICAST
        else:
            pkttype = N.PACKET_OTHERHOST
        proto = encapsulated(int.from_bytes(frame[12:14], "big"), frame[N.ETH_HLEN:])
        if untag and proto in (P.ETH_P_8021Q, P.ETH_P_8021AD):
            if len(frame) < N.ETH_HLEN + P.VLAN_HLEN + 2:
                return None
            fields.setdefault("vlan_present", True)
            fields.setdefault("vlan_proto", proto)
            fields.setdefault("vlan_tci", int.from_bytes(frame[14:16], "big"))
            proto = encapsulated(int.from_bytes(frame[16:18], "big"), frame[18:])
            frame = frame[:12] + frame[16:]
        fields.setdefault("pkttype", pkttype)
        fields.setdefault("protocol", proto)
        return cls.from_frame(frame, **fields)


class _Return(Exception):  # control flow: how a run ends, not an error
    def __init__(self, value: int):
        self.value = value


class Result(NamedTuple):
    """One run: the value returned (for a socket filter, how many bytes
    to keep; 0 drops the packet), how many instructions ran, and why it
    stopped: ``ret`` (a return instruction), ``bounds`` (a packet load
    outside the packet), ``div0`` (division by X = 0) or ``no_device``."""

    value: int
    steps: int
    reason: str


Step = Callable[[list], int]
"""A compiled instruction: takes the state [A, X, M0..M15] and returns
the next pc (or raises _Return)."""


class Machine:
    """A classic program compiled for repeated runs.

    ``Machine(program).run(skb)`` returns a :class:`Result`.  With
    ``seccomp=True`` the input is the bytes of a ``struct seccomp_data``
    (:meth:`run_seccomp`).  The program is checked first (the kernel's
    rules, :func:`pybpf.cbpf.check.check`) unless ``check=False``.
    """

    def __init__(self, program: Sequence[SockFilter], *, seccomp: bool = False,
                 check_program: bool = True):
        self.program = list(program)
        self.seccomp = seccomp
        if check_program:
            check(self.program, seccomp=seccomp)
        self._input: Skb | bytes | None = None
        self._steps = [self._compile(pc, insn) for pc, insn in enumerate(self.program)]

    # --- running -------------------------------------------------------------------

    def run(self, skb: Skb | bytes) -> Result:
        """Run over ``skb`` (a socket filter's packet; bytes are taken as a
        frame, :meth:`Skb.from_frame`) or over seccomp_data bytes."""
        if not self.seccomp and not isinstance(skb, Skb):
            skb = Skb.from_frame(bytes(skb))
        if self.seccomp:
            raw = bytes(skb) if not isinstance(skb, Skb) else skb.buffer
            if len(raw) != S.SECCOMP_DATA_SIZE:
                raise VMError(f"seccomp_data is {S.SECCOMP_DATA_SIZE} bytes, not {len(raw)}")
            skb = raw
        self._input = skb
        state = [0] * (2 + C.BPF_MEMWORDS)
        steps = self._steps
        n = len(steps)
        pc = 0
        count = 0
        try:
            while pc < n:
                count += 1
                pc = steps[pc](state)
        except _Return as r:
            return Result(r.value & U32, count, _reason(self.program[pc], r))
        finally:
            self._input = None
        raise VMError("execution ran past the last instruction", pc=pc)

    def run_seccomp(self, data: bytes) -> int:
        """The return value over a ``struct seccomp_data``'s bytes."""
        return self.run(data).value

    # --- compiling ---------------------------------------------------------------------

    def _compile(self, pc: int, insn: SockFilter) -> Step:
        form = insn.form
        if form is None:
            def invalid(state: list) -> int:
                raise VMError(f"code {insn.code:#x} is not a classic instruction", pc=pc)
            return invalid
        kind, k, nxt = form.kind, insn.k, pc + 1
        target = 0 if form.target == "a" else 1
        if kind is Kind.LOAD_ABS:
            if s32(k) >= C.SKF_AD_OFF and s32(k) < 0 and not self.seccomp:
                return self._ancillary(s32(k) - C.SKF_AD_OFF, nxt)
            if self.seccomp:
                return self._seccomp_load(k, nxt)
            load, size = self._load, form.size
            koff = s32(k)

            def ld_abs(state: list) -> int:
                state[0] = load(koff, size)
                return nxt
            return ld_abs
        if kind is Kind.LOAD_IND:
            load, size = self._load, form.size

            def ld_ind(state: list) -> int:
                state[0] = load(s32(state[1] + k), size)
                return nxt
            return ld_ind
        if kind is Kind.LOAD_MSH:
            load, koff = self._load, s32(k)

            def ldx_msh(state: list) -> int:
                state[1] = (load(koff, 1) & 0xF) << 2
                return nxt
            return ldx_msh
        if kind is Kind.LOAD_IMM:
            def ld_imm(state: list) -> int:
                state[target] = k
                return nxt
            return ld_imm
        if kind is Kind.LOAD_MEM:
            slot = 2 + k

            def ld_mem(state: list) -> int:
                state[target] = state[slot]
                return nxt
            return ld_mem
        if kind is Kind.LOAD_LEN:
            length = self._length

            def ld_len(state: list) -> int:
                state[target] = length()
                return nxt
            return ld_len
        if kind is Kind.STORE:
            slot, source = 2 + k, 0 if form.mnemonic == "st" else 1

            def store(state: list) -> int:
                state[slot] = state[source]
                return nxt
            return store
        if kind in (Kind.ALU_K, Kind.ALU_X, Kind.NEG):
            return _alu(form.operation, kind, k, nxt)
        if kind is Kind.JA:
            dest = (nxt + k) & U32  # wraps backwards as libpcap's bpf_filter does (unchecked)

            def ja(state: list) -> int:
                return dest
            return ja
        if kind in CONDITIONAL:
            return _jump(form.operation, kind, k, nxt + insn.jt, nxt + insn.jf)
        if kind is Kind.RET_K:
            def ret_k(state: list) -> int:
                raise _Return(k)
            return ret_k
        if kind is Kind.RET_A:
            def ret_a(state: list) -> int:
                raise _Return(state[0])
            return ret_a
        if kind is Kind.TAX:
            def tax(state: list) -> int:
                state[1] = state[0]
                return nxt
            return tax

        def txa(state: list) -> int:
            state[0] = state[1]
            return nxt
        return txa

    # --- packet access ---------------------------------------------------------------

    def _length(self) -> int:
        if self.seccomp:
            return S.SECCOMP_DATA_SIZE
        skb = self._input
        assert isinstance(skb, Skb)
        return skb.len

    def _load(self, offset: int, size: int) -> int:
        """A big-endian packet load at ``offset`` (signed) from the data;
        outside the packet, the program returns 0."""
        skb = self._input
        if not isinstance(skb, Skb):
            raise _Return(0)  # seccomp: refused by the checker, never reached
        buffer = skb.buffer
        if offset >= 0:
            start = skb.data + offset
            if start + size > len(buffer):
                raise _OutOfBounds
        else:
            if offset >= C.SKF_NET_OFF:
                start = skb.network_offset + offset - C.SKF_NET_OFF
            elif offset >= C.SKF_LL_OFF:
                if skb.mac is None:
                    raise _OutOfBounds
                start = skb.mac + offset - C.SKF_LL_OFF
            else:
                raise _OutOfBounds
            if start < 0 or start + size > len(buffer):
                raise _OutOfBounds
        return int.from_bytes(buffer[start:start + size], "big")

    def _seccomp_load(self, k: int, nxt: int) -> Step:
        def ld_seccomp(state: list) -> int:
            raw = self._input
            assert isinstance(raw, bytes)
            state[0] = int.from_bytes(raw[k:k + 4], sys.byteorder)
            return nxt
        return ld_seccomp

    def _ancillary(self, which: int, nxt: int) -> Step:
        if which == C.SKF_AD_ALU_XOR_X:
            def xor_x(state: list) -> int:
                state[0] ^= state[1]
                return nxt
            return xor_x
        read = _ANCILLARY_READERS.get(which)
        if read is None:  # refused by the checker
            def unknown(state: list) -> int:
                raise VMError(f"unknown ancillary load SKF_AD_OFF + {which}")
            return unknown

        def ancillary(state: list) -> int:
            skb = self._input
            assert isinstance(skb, Skb)
            state[0] = read(skb, state) & U32
            return nxt
        return ancillary


class _OutOfBounds(_Return):
    def __init__(self) -> None:
        super().__init__(0)


class _NoDevice(_Return):
    pass


class _DivideByZero(_Return):
    def __init__(self) -> None:
        super().__init__(0)


def _reason(insn: SockFilter, r: _Return) -> str:
    if isinstance(r, _OutOfBounds):
        return "bounds"
    if isinstance(r, _DivideByZero):
        return "div0"
    if isinstance(r, _NoDevice):
        return "no_device"
    return "ret"


def _alu(operation: str, kind: Kind, k: int, nxt: int) -> Step:
    if kind is Kind.NEG:
        def neg(state: list) -> int:
            state[0] = -state[0] & U32
            return nxt
        return neg
    from_x = kind is Kind.ALU_X
    if operation in ("div", "mod"):
        divide = operation == "div"

        def divmod_(state: list) -> int:
            d = state[1] if from_x else k
            if d == 0:
                raise _DivideByZero
            state[0] = state[0] // d if divide else state[0] % d
            return nxt
        return divmod_
    ops: dict[str, Callable[[int, int], int]] = {
        "add": lambda a, b: (a + b) & U32,
        "sub": lambda a, b: (a - b) & U32,
        "mul": lambda a, b: (a * b) & U32,
        "and": lambda a, b: a & b,
        "or": lambda a, b: a | b,
        "xor": lambda a, b: a ^ b,
        "lsh": lambda a, b: (a << (b & 31)) & U32,
        "rsh": lambda a, b: a >> (b & 31),
    }
    fn = ops[operation]
    if from_x:
        def alu_x(state: list) -> int:
            state[0] = fn(state[0], state[1])
            return nxt
        return alu_x

    def alu_k(state: list) -> int:
        state[0] = fn(state[0], k)
        return nxt
    return alu_k


def _jump(operation: str, kind: Kind, k: int, true: int, false: int) -> Step:
    tests: dict[str, Callable[[int, int], bool]] = {
        "jeq": lambda a, b: a == b,
        "jgt": lambda a, b: a > b,
        "jge": lambda a, b: a >= b,
        "jset": lambda a, b: (a & b) != 0,
    }
    test = tests[operation]
    if kind is Kind.JUMP_X:
        def jump_x(state: list) -> int:
            return true if test(state[0], state[1]) else false
        return jump_x

    def jump_k(state: list) -> int:
        return true if test(state[0], k) else false
    return jump_k


# --- ancillary data ------------------------------------------------------------------------

def _device(skb: Skb, value: int, state: list) -> int:
    if not skb.has_device:
        raise _NoDevice(state[0])
    return value


def _nla_find(buffer: bytes, start: int, length: int, attrtype: int) -> int:
    """nla_find over ``length`` bytes at ``start``: the offset of the first
    attribute of ``attrtype``, or -1."""
    pos, rem = start, length
    while rem >= NLA_HDRLEN:
        nla_len = int.from_bytes(buffer[pos:pos + 2], sys.byteorder)
        if nla_len < NLA_HDRLEN or nla_len > rem:
            break
        nla_type = int.from_bytes(buffer[pos + 2:pos + 4], sys.byteorder) & NLA_TYPE_MASK
        if nla_type == attrtype:
            return pos
        step = (nla_len + 3) & ~3
        pos += step
        rem -= step
    return -1


def _nlattr(skb: Skb, state: list) -> int:
    a, x = state[0], state[1]
    data = skb.buffer[skb.data:]
    if len(data) < NLA_HDRLEN or a > len(data) - NLA_HDRLEN:
        return 0
    found = _nla_find(data, a, len(data) - a, s32(x))
    return found if found >= 0 else 0


def _nlattr_nest(skb: Skb, state: list) -> int:
    a, x = state[0], state[1]
    data = skb.buffer[skb.data:]
    if len(data) < NLA_HDRLEN or a > len(data) - NLA_HDRLEN:
        return 0
    nla_len = int.from_bytes(data[a:a + 2], sys.byteorder)
    if nla_len > len(data) - a:
        return 0
    found = _nla_find(data, a + NLA_HDRLEN, nla_len - NLA_HDRLEN, s32(x))
    return found if found >= 0 else 0


def _pay_offset(skb: Skb, state: list) -> int:
    return payload_offset(skb.buffer, skb.data, skb.network_offset, skb.protocol)


_ANCILLARY_READERS: dict[int, Callable[[Skb, list], int]] = {
    C.SKF_AD_PROTOCOL: lambda skb, st: skb.protocol & 0xFFFF,
    C.SKF_AD_PKTTYPE: lambda skb, st: skb.pkttype & 7,
    C.SKF_AD_IFINDEX: lambda skb, st: _device(skb, skb.ifindex, st),
    C.SKF_AD_HATYPE: lambda skb, st: _device(skb, skb.hatype & 0xFFFF, st),
    C.SKF_AD_MARK: lambda skb, st: skb.mark,
    C.SKF_AD_QUEUE: lambda skb, st: skb.queue & 0xFFFF,
    C.SKF_AD_RXHASH: lambda skb, st: skb.hash,
    C.SKF_AD_CPU: lambda skb, st: skb.cpu,
    C.SKF_AD_VLAN_TAG: lambda skb, st: skb.vlan_tci & 0xFFFF,
    C.SKF_AD_VLAN_TAG_PRESENT: lambda skb, st: int(skb.vlan_present),
    C.SKF_AD_VLAN_TPID: lambda skb, st: skb.vlan_proto & 0xFFFF,
    C.SKF_AD_RANDOM: lambda skb, st: skb.random(),
    C.SKF_AD_NLATTR: _nlattr,
    C.SKF_AD_NLATTR_NEST: _nlattr_nest,
    C.SKF_AD_PAY_OFFSET: _pay_offset,
}


def run(program: Sequence[SockFilter], packet: Skb | bytes, *, seccomp: bool = False) -> int:
    """Run ``program`` once over ``packet`` (an :class:`Skb`, a frame's
    bytes, or with ``seccomp`` a seccomp_data's bytes); the return value."""
    return Machine(program, seccomp=seccomp).run(packet).value
