"""Random eBPF programs that the kernel's verifier accepts, and a runner that
executes one in pybpf's VM and under ``BPF_PROG_TEST_RUN`` and compares.

:func:`programs` is a Hypothesis strategy of :class:`GeneratedProgram`: an
``xdp``, ``sched_cls`` or ``socket_filter`` program (LLVM-syntax assembly
whose map references are ``@map:NAME@`` placeholders), the maps it uses with
their initial contents, the packet and the context to run it on.

The generator keeps an abstract state of the registers (scalar, context,
checked packet pointer, map value pointer, or unusable), of which stack bytes
hold data and of how far the packet pointer is checked, so that every program
passes the privileged verifier: packet accesses stay inside a bounds check,
stack reads only read bytes written before, helpers get the argument types
they ask for, map values are reached only after a NULL check, immediate
shifts and divisions are ones the verifier takes.  Results flow into r0, the
packet, the stack (folded into r0 at the end) and the map values, so that any
difference between the VM and the kernel shows.

:func:`run_both` runs one program in both places and returns a
:class:`Comparison` listing the differences.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import strategies as st

PROG_TYPES = ("xdp", "sched_cls", "socket_filter")

# --- what programs run on -----------------------------------------------------------------


@dataclass(frozen=True)
class MapDef:
    """A map a generated program uses and what it holds before the run."""

    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    initial: tuple[tuple[bytes, bytes], ...] = ()


@dataclass(frozen=True)
class GeneratedProgram:
    """A program, its maps and its input.  ``text`` names maps as
    ``@map:NAME@``; :meth:`assembly` puts the fds in."""

    prog_type: str
    text: str
    maps: tuple[MapDef, ...]
    packet: bytes
    ctx_in: bytes | None = None

    def assembly(self, fds: dict[str, int]) -> str:
        """The program text with each map placeholder replaced by ``map[fd:N]``."""
        text = self.text
        for name, fd in fds.items():
            text = text.replace(f"@map:{name}@", f"map[fd:{fd}]")
        return text

    def __str__(self) -> str:
        head = f"# {self.prog_type}, packet {self.packet.hex()}"
        if self.ctx_in:
            head += f"\n# ctx_in {self.ctx_in.hex()}"
        for m in self.maps:
            head += f"\n# map {m.name}: {m.type} {m.key_size}/{m.value_size}/{m.max_entries} " \
                    f"{[(k.hex(), v.hex()) for k, v in m.initial]}"
        return head + "\n" + self.text


# --- packets ------------------------------------------------------------------------------

def _ip_checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_header(payload_len: int, proto: int, src: bytes, dst: bytes, ttl: int = 64) -> bytes:
    """A 20-byte IPv4 header with a correct checksum."""
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0x1234, 0x4000,
                                ttl, proto, 0, src, dst))
    hdr[10:12] = _ip_checksum(bytes(hdr)).to_bytes(2, "big")
    return bytes(hdr)


ETH_TYPES = {"ipv4": 0x0800, "ipv6": 0x86DD, "arp": 0x0806, "vlan": 0x8100, "qinq": 0x88A8}
MACS = {
    "unicast": bytes.fromhex("020000000001"),
    "broadcast": b"\xff" * 6,
    "multicast": bytes.fromhex("01005e000001"),
    "zero": bytes(6),
    "ipv6mc": bytes.fromhex("333300000001"),
}


def ethernet(dst: bytes, ethertype: int, payload: bytes,
             src: bytes = bytes.fromhex("020000000002")) -> bytes:
    """An Ethernet frame."""
    return dst + src + ethertype.to_bytes(2, "big") + payload


def sample_packet(kind: str, dst: str = "unicast", payload: bytes = b"") -> bytes:
    """A well-formed frame of ``kind`` (ipv4, ipv4tcp, ipv6, arp, vlan, qinq,
    short, llc) addressed to ``dst`` (a key of :data:`MACS`)."""
    mac = MACS[dst]
    src4, dst4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    if kind in ("ipv4", "vlan", "qinq"):
        udp = struct.pack("!HHHH", 1234, 53, 8 + len(payload), 0x1C46) + payload
        l3 = ipv4_header(len(udp), 17, src4, dst4) + udp
        if kind == "ipv4":
            return ethernet(mac, 0x0800, l3)
        tagged = struct.pack("!HH", 0x0064, 0x0800) + l3
        if kind == "vlan":
            return ethernet(mac, 0x8100, tagged)
        return ethernet(mac, 0x88A8, struct.pack("!HH", 0x00C8, 0x8100) + tagged)
    if kind == "ipv4tcp":
        tcp = struct.pack("!HHIIBBHHH", 4321, 80, 1, 0, 0x50, 0x18, 512, 0xB1E5, 0) + payload
        return ethernet(mac, 0x0800, ipv4_header(len(tcp), 6, src4, dst4) + tcp)
    if kind == "ipv6":
        udp = struct.pack("!HHHH", 1234, 53, 8 + len(payload), 0xBEEF) + payload
        hdr = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64,
                          bytes.fromhex("fe80" + "00" * 13 + "01"),
                          bytes.fromhex("ff02" + "00" * 13 + "01"))
        return ethernet(mac, 0x86DD, hdr + udp)
    if kind == "arp":
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes.fromhex("020000000002"),
                          src4, bytes(6), dst4)
        return ethernet(mac, 0x0806, arp + payload)
    if kind == "short":
        return ethernet(mac, 0x0800, b"")
    if kind == "llc":
        return ethernet(mac, 0x0026, b"\xaa\xaa\x03" + payload)
    raise ValueError(f"unknown packet kind {kind!r}")


PACKET_KINDS = ("ipv4", "ipv4tcp", "ipv6", "arp", "vlan", "qinq", "short", "llc")


@st.composite
def packets(draw, min_size: int = 14) -> bytes:
    """A frame: a well-formed one of :data:`PACKET_KINDS` or random bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(min_size=max(14, min_size), max_size=200))
    kind = draw(st.sampled_from(PACKET_KINDS))
    dst = draw(st.sampled_from(sorted(MACS)))
    payload = draw(st.binary(max_size=draw(st.sampled_from([0, 16, 64, 300]))))
    frame = sample_packet(kind, dst, payload)
    if len(frame) < min_size:
        frame += bytes(min_size - len(frame))
    return frame


# --- the abstract state -------------------------------------------------------------------

SCALAR, NONE, CTX, PKT, VALUE = "scalar", "none", "ctx", "pkt", "value"
SIZES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SSIZES = {1: "s8", 2: "s16", 4: "s32"}
PKT_REG = 7


@dataclass
class State:
    """What the verifier knows at one point of the program (as far as the
    generator needs): the kind of each register, the size of the map value a
    value pointer points to, which stack bytes were written (bit i: the byte
    at r10 - 1 - i) and how many bytes past the packet pointer are checked."""

    regs: list[str]
    value_size: dict[int, int] = field(default_factory=dict)
    stack: int = 0
    pkt_range: int = 0

    def copy(self) -> State:
        """An independent copy."""
        return State(list(self.regs), dict(self.value_size), self.stack, self.pkt_range)

    def join(self, other: State) -> State:
        """What holds on both paths that meet at a label."""
        regs = []
        for i, (a, b) in enumerate(zip(self.regs, other.regs)):
            same = a == b and (a != VALUE or self.value_size[i] == other.value_size[i])
            regs.append(a if same else NONE)
        sizes = {i: n for i, n in self.value_size.items() if regs[i] == VALUE}
        pkt = min(self.pkt_range, other.pkt_range) if regs[PKT_REG] == PKT else 0
        return State(regs, sizes, self.stack & other.stack, pkt)

    def set(self, reg: int, kind: str, value_size: int = 0) -> None:
        """Record what ``reg`` now holds."""
        self.regs[reg] = kind
        if kind == VALUE:
            self.value_size[reg] = value_size
        else:
            self.value_size.pop(reg, None)
        if reg == PKT_REG and kind != PKT:
            self.pkt_range = 0

    def after_call(self) -> None:
        """A helper or function call: r1-r5 are clobbered, r0 is a scalar."""
        for r in range(1, 6):
            self.set(r, NONE)
        self.set(0, SCALAR)

    def stack_written(self, off: int, size: int) -> bool:
        """Whether the bytes [r10+off, r10+off+size) were all written."""
        mask = ((1 << size) - 1) << (-off - size)
        return self.stack & mask == mask

    def write_stack(self, off: int, size: int) -> None:
        """Record a write of [r10+off, r10+off+size)."""
        self.stack |= ((1 << size) - 1) << (-off - size)


# --- program types ------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeInfo:
    """What the generator needs to know of a program type."""

    ctx_data: int | None           # offset of the data pointer field, None: no direct access
    ctx_data_end: int | None
    readable: tuple[tuple[int, int], ...]   # (offset, size) of scalar context fields
    writable: tuple[int, ...]               # u32 fields a program may store to
    ld_abs: bool
    pkt_write: bool


_SKB_COMMON_READ = ((0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4), (24, 4), (28, 4),
                    (32, 4), (36, 4), (40, 4), (44, 4), (48, 4), (52, 4), (56, 4), (60, 4),
                    (64, 4), (68, 4), (84, 4), (164, 4), (176, 4))
TYPES = {
    "xdp": TypeInfo(0, 4, ((12, 4), (16, 4)), (), False, True),
    "sched_cls": TypeInfo(76, 80, (*_SKB_COMMON_READ, (44, 4), (72, 4), (152, 8), (160, 4),
                                   (180, 1), (184, 8)),
                          (8, 12, 32, 44, 48, 52, 56, 60, 64, 72), True, True),
    "socket_filter": TypeInfo(None, None, _SKB_COMMON_READ, (48, 52, 56, 60, 64), True, False),
}

ALU_OPS = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "sdiv": "s/=", "mod": "%=",
           "smod": "s%=", "or": "|=", "and": "&=", "xor": "^=", "lsh": "<<=", "rsh": ">>=",
           "arsh": "s>>="}
CONDITIONS = ("==", "!=", ">", ">=", "<", "<=", "&", "s>", "s>=", "s<", "s<=")
INTERESTING = (0, 1, -1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 0x7FFF, 0x8000,
               0xFFFF, 0x10000, 0x7FFFFFFF, -0x80000000, -2, -128, -32768)
INTERESTING64 = (0, 1, -1, 0x7FFFFFFFFFFFFFFF, -0x8000000000000000, 0xFFFFFFFF, 0x100000000,
                 0x80000000, -0x80000000, 0x123456789ABCDEF0)


def _imm(draw, lo: int = -(1 << 31), hi: int = (1 << 31) - 1) -> int:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        value = draw(st.sampled_from(INTERESTING))
        if lo <= value <= hi:
            return value
    if choice == 1:
        return draw(st.integers(max(lo, -300), min(hi, 300)))
    return draw(st.integers(lo, hi))


def _addr(reg: int, off: int) -> str:
    return f"r{reg} - {-off}" if off < 0 else f"r{reg} + {off}"


class _Labels:
    def __init__(self) -> None:
        self.n = 0

    def new(self, stem: str = "L") -> str:
        self.n += 1
        return f"{stem}{self.n}"


@dataclass
class _Sub:
    name: str
    args: int
    ptr_arg: bool


class _Builder:
    """Emits the statements of one function while keeping its state."""

    def __init__(self, draw, prog_type: str, maps: Sequence[MapDef], labels: _Labels, *,
                 main: bool, frame: int, subs: Sequence[_Sub] = (), ptr_arg: bool = False,
                 packet_len: int = 64):
        self.draw = draw
        self.prog_type = prog_type
        self.info = TYPES[prog_type]
        self.maps = list(maps)
        self.labels = labels
        self.main = main
        self.frame = frame          # bytes of stack this function may use
        self.subs = list(subs)
        self.ptr_arg = ptr_arg
        self.packet_len = packet_len
        self.lines: list[str] = []
        self.state = State([NONE] * 10)
        self.bail_used = False
        self.branches = 0
        self.called: set[str] = set()
        self.reserved: set[int] = set()    # registers packet checks must not use
        self.pool = [0, 1, 2, 3, 4, 5, 8, 9] + ([] if main and self.info.ctx_data is not None
                                                else [7])
        if not main:
            self.pool.append(6)

    # --- small things ---------------------------------------------------------------

    def emit(self, line: str) -> None:
        """Append one line of assembly."""
        self.lines.append(line)

    def regs_of(self, kind: str) -> list[int]:
        """The pool registers that hold a ``kind``."""
        return [r for r in self.pool if self.state.regs[r] == kind]

    def scalar(self) -> int | None:
        """A random scalar register, or None."""
        regs = self.regs_of(SCALAR)
        return self.draw(st.sampled_from(regs)) if regs else None

    def any_dst(self) -> int:
        """A random pool register to overwrite."""
        return self.draw(st.sampled_from(self.pool))

    def src_operand(self, width: int = 64) -> str:
        """A scalar register or an immediate, as text."""
        reg = self.scalar()
        if reg is not None and self.draw(st.booleans()):
            return f"{'r' if width == 64 else 'w'}{reg}"
        return str(_imm(self.draw))

    def set_scalar(self, reg: int, width: int = 64) -> None:
        """Load a random value into ``reg``."""
        if width == 64 and self.draw(st.integers(0, 3)) == 0:
            value = self.draw(st.sampled_from(INTERESTING64)) if self.draw(st.booleans()) \
                else self.draw(st.integers(0, (1 << 64) - 1))
            self.emit(f"r{reg} = {value & ((1 << 64) - 1):#x} ll")
        else:
            self.emit(f"{'r' if width == 64 else 'w'}{reg} = {_imm(self.draw)}")
        self.state.set(reg, SCALAR)

    def ensure_scalar(self, avoid: Sequence[int] = ()) -> int:
        """A scalar register (not in ``avoid``), making one if need be."""
        regs = [r for r in self.regs_of(SCALAR) if r not in avoid]
        if regs and self.draw(st.integers(0, 4)):
            return self.draw(st.sampled_from(regs))
        reg = self.draw(st.sampled_from([r for r in self.pool if r not in avoid]))
        self.set_scalar(reg)
        return reg

    def stack_slot(self, size: int, *, written: bool | None = None) -> int | None:
        """An aligned stack offset for ``size`` bytes; ``written`` True: only
        written ones (None when there is none)."""
        slots = [-off for off in range(size, self.frame + 1, size)
                 if not written or self.state.stack_written(-off, size)]
        if not slots:
            return None
        return self.draw(st.sampled_from(slots))

    # --- statements -----------------------------------------------------------------------

    def alu(self) -> None:
        """One ALU instruction on scalars."""
        draw = self.draw
        wide = draw(st.booleans())
        p = "r" if wide else "w"
        bits = 64 if wide else 32
        kind = draw(st.sampled_from(["op", "op", "op", "op", "mov", "neg", "movsx", "end"]))
        if kind == "mov":
            dst = self.any_dst()
            src = self.scalar()
            if src is not None and draw(st.booleans()):
                self.emit(f"{p}{dst} = {p}{src}")
                self.state.set(dst, SCALAR)
            else:
                self.set_scalar(dst, bits)
            return
        dst = self.scalar()
        if dst is None:
            self.set_scalar(self.any_dst())
            return
        if kind == "neg":
            self.emit(f"{p}{dst} = -{p}{dst}")
        elif kind == "movsx":
            src = self.scalar()
            sizes = [8, 16, 32] if wide else [8, 16]
            self.emit(f"{p}{dst} = (s{draw(st.sampled_from(sizes))}){p}{src}")
        elif kind == "end":
            op = draw(st.sampled_from(["be", "le", "bswap"]))
            self.emit(f"r{dst} = {op}{draw(st.sampled_from([16, 32, 64]))} r{dst}")
        else:
            op = draw(st.sampled_from(sorted(ALU_OPS)))
            src = self.scalar()
            if src is not None and draw(st.integers(0, 2)):
                self.emit(f"{p}{dst} {ALU_OPS[op]} {p}{src}")
            else:
                if op in ("lsh", "rsh", "arsh"):
                    imm = draw(st.integers(0, bits - 1))
                elif op in ("div", "sdiv", "mod", "smod"):
                    imm = _imm(draw)
                    if imm == 0:
                        imm = draw(st.sampled_from([1, -1, 3, -7]))
                else:
                    imm = _imm(draw)
                self.emit(f"{p}{dst} {ALU_OPS[op]} {imm}")
        self.state.set(dst, SCALAR)

    def spill(self) -> None:
        """A store to the stack (register or immediate)."""
        size = self.draw(st.sampled_from([1, 2, 4, 8, 8]))
        off = self.stack_slot(size)
        assert off is not None
        src = self.scalar()
        if src is not None and self.draw(st.integers(0, 3)):
            self.emit(f"*({SIZES[size]} *)({_addr(10, off)}) = r{src}")
        else:
            self.emit(f"*({SIZES[size]} *)({_addr(10, off)}) = {_imm(self.draw)}")
        self.state.write_stack(off, size)

    def fill(self) -> None:
        """A load from written stack bytes (sign-extending or not)."""
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        off = self.stack_slot(size, written=True)
        if off is None:
            self.spill()
            return
        dst = self.any_dst()
        if size < 8 and self.draw(st.integers(0, 2)) == 0:
            self.emit(f"r{dst} = *({SSIZES[size]} *)({_addr(10, off)})")
        else:
            self.emit(f"r{dst} = *({SIZES[size]} *)({_addr(10, off)})")
        self.state.set(dst, SCALAR)

    def atomic(self, base: int, off: int, size: int, *, fetch: bool = True) -> None:
        """An atomic operation on ``size`` bytes at ``base + off`` (``fetch``:
        the fetching ones, xchg and cmpxchg too)."""
        draw = self.draw
        ops = ["add", "or", "and", "xor"]
        if fetch:
            ops += ["fadd", "for", "fand", "fxor", "xchg", "cmpxchg"]
        op = draw(st.sampled_from(ops))
        src = self.ensure_scalar(avoid=[base])
        w = "r" if size == 8 else "w"
        t = SIZES[size]
        addr = _addr(base, off)
        if op in ("add", "or", "and", "xor"):
            sym = {"add": "+=", "or": "|=", "and": "&=", "xor": "^="}[op]
            self.emit(f"lock *({t} *)({addr}) {sym} {w}{src}")
        elif op.startswith("f"):
            self.emit(f"{w}{src} = atomic_fetch_{op[1:]}(({t} *)({addr}), {w}{src})")
            self.state.set(src, SCALAR)
        elif op == "xchg":
            name = "xchg_64" if size == 8 else "xchg32_32"
            self.emit(f"{w}{src} = {name}({addr}, {w}{src})")
        else:
            if base == 0:
                return
            if src == 0 or self.state.regs[0] != SCALAR or draw(st.booleans()):
                if src == 0:
                    src = self.ensure_scalar(avoid=[base, 0])
                self.set_scalar(0)
            name = "cmpxchg_64" if size == 8 else "cmpxchg32_32"
            self.emit(f"{w}0 = {name}({addr}, {w}0, {w}{src})")
            self.state.set(0, SCALAR)

    def stack_atomic(self) -> None:
        """An atomic operation on written stack bytes.  Only the ones that
        load nothing: the 6.18 verifier loses the precision of a value an
        atomic fetches from the stack across a helper call, prunes a path it
        should not and runs the wrong branch (test_differential_known)."""
        size = self.draw(st.sampled_from([4, 8]))
        off = self.stack_slot(size, written=True)
        if off is None:
            self.spill()
            return
        self.atomic(10, off, size, fetch=False)

    def ctx_read(self) -> None:
        """A load of a scalar context field (sometimes a narrow one)."""
        if not self.main:
            return self.alu()
        off, size = self.draw(st.sampled_from(self.info.readable))
        if size == 4 and self.prog_type != "xdp" and self.draw(st.integers(0, 3)) == 0:
            size = self.draw(st.sampled_from([1, 2]))
            off += self.draw(st.sampled_from(range(0, 4, size)))
        dst = self.any_dst()
        self.emit(f"r{dst} = *({SIZES[size]} *)(r6 + {off})")
        self.state.set(dst, SCALAR)
        return None

    def ctx_write(self) -> None:
        """A store to a writable context field."""
        if not self.main or not self.info.writable:
            return self.alu()
        off = self.draw(st.sampled_from(self.info.writable))
        src = self.ensure_scalar(avoid=[6])
        if off == 152:
            self.emit(f"*(u64 *)(r6 + {off}) = r{src}")
        else:
            self.emit(f"*(u32 *)(r6 + {off}) = r{src}")
        return None

    def pkt_ensure(self, need: int) -> bool:
        """Make r7 a packet pointer checked for at least ``need`` bytes (a
        failing check leaves the program); False where there is no packet."""
        if not self.main or self.info.ctx_data is None:
            return False
        if self.state.regs[PKT_REG] == PKT and self.state.pkt_range >= need:
            return True
        limit = max(need, min(self.packet_len, 64))
        length = self.draw(st.integers(need, max(need, limit)))
        self.reload_packet(length)
        return True

    def reload_packet(self, length: int) -> None:
        """Load the packet pointers and check ``length`` bytes."""
        free = [r for r in (1, 2, 3, 4, 5, 8, 9) if r not in self.reserved]
        end = self.draw(st.sampled_from(free))
        tmp = self.draw(st.sampled_from([r for r in free if r != end]))
        self.emit(f"r7 = *(u32 *)(r6 + {self.info.ctx_data})")
        self.emit(f"r{end} = *(u32 *)(r6 + {self.info.ctx_data_end})")
        self.emit(f"r{tmp} = r7")
        self.emit(f"r{tmp} += {length}")
        self.emit(f"if r{tmp} > r{end} goto bail")
        self.bail_used = True
        self.state.set(end, NONE)
        self.state.set(tmp, NONE)
        self.state.set(PKT_REG, PKT)
        self.state.pkt_range = length

    def pkt_load(self) -> None:
        """A load from the checked packet bytes (xdp, tc) or a legacy packet
        load (socket filters)."""
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        if not self.pkt_ensure(size):
            return self.ld_abs()
        off = self.draw(st.integers(0, self.state.pkt_range - size))
        dst = self.any_dst()
        if size < 8 and self.draw(st.integers(0, 3)) == 0:
            self.emit(f"r{dst} = *({SSIZES[size]} *)(r7 + {off})")
        else:
            self.emit(f"r{dst} = *({SIZES[size]} *)(r7 + {off})")
        self.state.set(dst, SCALAR)
        return None

    def pkt_store(self) -> None:
        """A store into the checked packet bytes."""
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        if not self.info.pkt_write or not self.pkt_ensure(size):
            return self.alu()
        off = self.draw(st.integers(0, self.state.pkt_range - size))
        src = self.scalar()
        if src is not None and self.draw(st.integers(0, 3)):
            self.emit(f"*({SIZES[size]} *)(r7 + {off}) = r{src}")
        else:
            self.emit(f"*({SIZES[size]} *)(r7 + {off}) = {_imm(self.draw)}")
        return None

    def ld_abs(self) -> None:
        """A legacy packet load (LD_ABS or LD_IND); it needs r6 = ctx and
        clobbers r1-r5 like a call."""
        if not (self.main and self.info.ld_abs and not self.subs):
            return self.alu()
        draw = self.draw
        size = draw(st.sampled_from([1, 2, 4]))
        t = SIZES[size]
        which = draw(st.integers(0, 9))
        if which < 6:
            off = draw(st.integers(0, max(0, self.packet_len - size)))
            if which == 0:
                off = draw(st.integers(0, self.packet_len + 8))
            elif which == 1:
                off += draw(st.sampled_from([-0x100000, -0x200000]))
            self.emit(f"r0 = *({t} *)skb[{off}]")
        else:
            reg = self.ensure_scalar(avoid=[0])
            tmp = draw(st.sampled_from([r for r in (1, 2, 3, 4, 5, 8, 9) if r != reg]))
            self.emit(f"r{tmp} = r{reg}")
            self.emit(f"r{tmp} &= {draw(st.sampled_from([7, 15, 31, 63]))}")
            self.state.set(tmp, SCALAR)
            off = draw(st.integers(-8, 40))
            sign = "-" if off < 0 else "+"
            self.emit(f"r0 = *({t} *)skb[r{tmp} {sign} {abs(off)}]")
        self.state.after_call()
        return None

    def cond_block(self, depth: int) -> None:
        """``if COND goto L; BLOCK; L:`` or an if/else, with nested statements."""
        draw = self.draw
        self.branches += 1
        a = self.ensure_scalar()
        wide = draw(st.booleans())
        p = "r" if wide else "w"
        cond = draw(st.sampled_from(CONDITIONS))
        b = self.scalar()
        rhs = f"{p}{b}" if b is not None and draw(st.booleans()) else str(_imm(draw))
        skip = self.labels.new()
        self.emit(f"if {p}{a} {cond} {rhs} goto {skip}")
        before = self.state.copy()
        self.statements(draw(st.integers(1, 4)), depth + 1)
        if draw(st.booleans()):
            end = self.labels.new()
            self.emit(f"goto {end}")
            self.emit(f"{skip}:")
            taken = self.state
            self.state = before
            self.statements(draw(st.integers(1, 3)), depth + 1)
            self.emit(f"{end}:")
            self.state = self.state.join(taken)
        else:
            self.emit(f"{skip}:")
            self.state = self.state.join(before)

    def loop(self) -> None:
        """A bounded loop: a counter, straight-line ALU work, a backward jump."""
        draw = self.draw
        counter = self.draw(st.sampled_from(self.pool))
        self.emit(f"r{counter} = 0")
        self.state.set(counter, SCALAR)
        top = self.labels.new("loop")
        self.emit(f"{top}:")
        saved = self.pool
        self.pool = [r for r in saved if r != counter]
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 3)):
                self.alu()
            else:
                self.spill()
        self.pool = saved
        self.emit(f"r{counter} += 1")
        limit = draw(st.integers(1, 8))
        wide = draw(st.booleans())
        p = "r" if wide else "w"
        self.emit(f"if {p}{counter} {draw(st.sampled_from(['<', 's<']))} {limit} goto {top}")

    def call_sub(self) -> None:
        """A bpf-to-bpf call with scalar arguments (and maybe a pointer to
        eight written stack bytes)."""
        if not self.subs:
            return self.alu()
        sub = self.draw(st.sampled_from(self.subs))
        self.called.add(sub.name)
        first = 1
        if sub.ptr_arg:
            off = self.stack_slot(8)
            assert off is not None
            if not self.state.stack_written(off, 8):
                self.emit(f"*(u64 *)({_addr(10, off)}) = {_imm(self.draw)}")
                self.state.write_stack(off, 8)
            self.emit("r1 = r10")
            self.emit(f"r1 += {off}")
            self.state.set(1, NONE)
            first = 2
        for reg in range(first, sub.args + 1):
            src = self.scalar()
            if src is not None and src > reg and self.draw(st.booleans()):
                self.emit(f"r{reg} = r{src}")
            elif self.state.regs[reg] != SCALAR or self.draw(st.booleans()):
                self.emit(f"r{reg} = {_imm(self.draw)}")
            self.state.set(reg, SCALAR)
        self.emit(f"call {sub.name}")
        self.state.after_call()
        return None

    # --- maps -----------------------------------------------------------------------------

    def key_on_stack(self, m: MapDef) -> int:
        """Write a key for ``m`` to the stack; returns its offset."""
        size = m.key_size
        off = self.stack_slot(8)
        assert off is not None
        choice = self.draw(st.integers(0, 3))
        if choice == 0 and self.scalar() is not None:
            src = self.scalar()
            tmp = self.draw(st.sampled_from([1, 2, 3, 4, 5]))
            self.emit(f"r{tmp} = r{src}")
            self.emit(f"r{tmp} &= {m.max_entries + 1 if m.type == 'hash' else 7}")
            self.emit(f"*({SIZES[size]} *)({_addr(10, off)}) = r{tmp}")
            self.state.set(tmp, SCALAR)
        else:
            key = self.draw(st.integers(0, m.max_entries + 1))
            self.emit(f"*({SIZES[size]} *)({_addr(10, off)}) = {key}")
        self.state.write_stack(off, size)
        return off

    def map_lookup(self, depth: int) -> None:
        """Look a key up; under the NULL check, work through the value pointer."""
        draw = self.draw
        m = draw(st.sampled_from(self.maps))
        off = self.key_on_stack(m)
        self.emit(f"r1 = @map:{m.name}@ ll")
        self.emit("r2 = r10")
        self.emit(f"r2 += {off}")
        self.emit("call bpf_map_lookup_elem#1")
        self.state.after_call()
        skip = self.labels.new()
        self.emit(f"if r0 == 0 goto {skip}")
        self.branches += 1
        before = self.state.copy()
        self.state.set(0, VALUE, m.value_size)
        if draw(st.booleans()):
            ptr = draw(st.sampled_from([r for r in self.pool if r != 0]))
            self.emit(f"r{ptr} = r0")
            self.state.set(ptr, VALUE, m.value_size)
        for _ in range(draw(st.integers(1, 5))):
            choice = draw(st.integers(0, 9))
            if choice < 3:
                self.value_load()
            elif choice < 6:
                self.value_store()
            elif choice < 8:
                self.value_atomic()
            elif depth < 2:
                self.simple(depth + 1)
        self.emit(f"{skip}:")
        self.state = self.state.join(before)

    def value_ptr(self) -> tuple[int, int] | None:
        regs = self.regs_of(VALUE) + ([0] if self.state.regs[0] == VALUE else [])
        if not regs:
            return None
        reg = self.draw(st.sampled_from(sorted(set(regs))))
        return reg, self.state.value_size[reg]

    def value_load(self) -> None:
        """A load from a map value."""
        vp = self.value_ptr()
        if vp is None:
            return
        reg, vsize = vp
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        off = self.draw(st.sampled_from(range(0, vsize - size + 1, size)))
        dst = self.any_dst()
        signed = size < 8 and self.draw(st.integers(0, 3)) == 0
        self.emit(f"r{dst} = *({(SSIZES if signed else SIZES)[size]} *)(r{reg} + {off})")
        self.state.set(dst, SCALAR)

    def value_store(self) -> None:
        """A store into a map value."""
        vp = self.value_ptr()
        if vp is None:
            return
        reg, vsize = vp
        size = self.draw(st.sampled_from([1, 2, 4, 8]))
        off = self.draw(st.sampled_from(range(0, vsize - size + 1, size)))
        src = self.scalar()
        if src is not None and self.draw(st.integers(0, 3)):
            self.emit(f"*({SIZES[size]} *)(r{reg} + {off}) = r{src}")
        else:
            self.emit(f"*({SIZES[size]} *)(r{reg} + {off}) = {_imm(self.draw)}")

    def value_atomic(self) -> None:
        """An atomic operation on a map value."""
        vp = self.value_ptr()
        if vp is None:
            return
        reg, vsize = vp
        size = self.draw(st.sampled_from([4, 8]))
        off = self.draw(st.sampled_from(range(0, vsize - size + 1, size)))
        self.atomic(reg, off, size)

    def map_update(self) -> None:
        """bpf_map_update_elem with a value written to the stack."""
        draw = self.draw
        m = draw(st.sampled_from(self.maps))
        koff = self.key_on_stack(m)
        vs = m.value_size
        voff = self.draw(st.sampled_from([-o for o in range(vs, self.frame + 1, 8)
                                          if -o + vs <= koff or -o >= koff + 8]))
        for i in range(0, m.value_size, 8):
            src = self.scalar()
            if src is not None and draw(st.booleans()):
                self.emit(f"*(u64 *)({_addr(10, voff + i)}) = r{src}")
            elif not self.state.stack_written(voff + i, 8) or draw(st.booleans()):
                self.emit(f"*(u64 *)({_addr(10, voff + i)}) = {_imm(draw)}")
        self.state.write_stack(voff, m.value_size)
        # (BPF_F_LOCK is left out: the VM's array map checks it before the
        # index, the kernel after; see test_differential_maps)
        flags = draw(st.sampled_from([0, 0, 0, 1, 1, 2, 2, 3, 8]))
        self.emit(f"r1 = @map:{m.name}@ ll")
        self.emit("r2 = r10")
        self.emit(f"r2 += {koff}")
        self.emit("r3 = r10")
        self.emit(f"r3 += {voff}")
        self.emit(f"r4 = {flags}")
        self.emit("call bpf_map_update_elem#2")
        self.state.after_call()

    def map_delete(self) -> None:
        """bpf_map_delete_elem."""
        m = self.draw(st.sampled_from(self.maps))
        off = self.key_on_stack(m)
        self.emit(f"r1 = @map:{m.name}@ ll")
        self.emit("r2 = r10")
        self.emit(f"r2 += {off}")
        self.emit("call bpf_map_delete_elem#3")
        self.state.after_call()

    # --- other helpers ----------------------------------------------------------------------

    def ctx_arg(self) -> None:
        """r1 = the context (the first argument of packet helpers)."""
        self.emit("r1 = r6")
        self.state.set(1, NONE)

    def arg(self, reg: int, value: int | None = None, *, scalar_ok: bool = True) -> None:
        """Set argument register ``reg`` to ``value`` (or a scalar)."""
        if value is None:
            src = self.scalar()
            if scalar_ok and src is not None and src != reg and self.draw(st.booleans()):
                self.emit(f"r{reg} = r{src}")
            else:
                self.emit(f"r{reg} = {_imm(self.draw)}")
        else:
            self.emit(f"r{reg} = {value}")
        self.state.set(reg, SCALAR)

    def stack_ptr(self, reg: int, size: int, *, written: bool) -> int:
        """Point ``reg`` at ``size`` stack bytes (written first if needed)."""
        off = -self.draw(st.sampled_from(range((size + 7) // 8 * 8, self.frame + 1, 8)))
        if written:
            for i in range(0, size, 8):
                if not self.state.stack_written(off + i, min(8, size - i)):
                    self.emit(f"*(u64 *)({_addr(10, off + i)}) = {_imm(self.draw)}")
                    self.state.write_stack(off + i, 8)
        self.emit(f"r{reg} = r10")
        self.emit(f"r{reg} += {off}")
        self.state.set(reg, NONE)
        return off

    def helper(self) -> None:
        """A call of a deterministic helper the program type may call."""
        if not self.main:
            return self.alu()
        names = {
            "xdp": ["csum_diff", "xdp_adjust_head", "xdp_adjust_tail", "xdp_adjust_meta",
                    "redirect"],
            "sched_cls": ["csum_diff", "skb_load_bytes", "skb_load_bytes_relative",
                          "skb_store_bytes", "l3_csum_replace", "l4_csum_replace",
                          "skb_change_tail", "skb_change_head", "skb_vlan_push",
                          "skb_vlan_pop", "redirect", "skb_pull_data", "set_hash",
                          "set_hash_invalid", "csum_level"],
            "socket_filter": ["skb_load_bytes", "skb_load_bytes_relative"],
        }[self.prog_type]
        name = self.draw(st.sampled_from(names))
        getattr(self, f"h_{name}")()
        return None

    def _call(self, name: str, helper_id: int, *, changes_packet: bool = False) -> None:
        self.emit(f"call bpf_{name}#{helper_id}")
        self.state.after_call()
        if changes_packet:
            self.state.set(PKT_REG, NONE)

    def _offset(self, size: int = 1) -> int:
        choice = self.draw(st.integers(0, 5))
        if choice == 0:
            return self.draw(st.sampled_from([0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                                              0xFFFFFFFF, self.packet_len - size + 1]))
        return self.draw(st.integers(0, max(0, self.packet_len - size)))

    def h_csum_diff(self) -> None:
        draw = self.draw
        from_size = draw(st.sampled_from([0, 4, 8, 12, 16, 20, 3, 6]))
        to_size = draw(st.sampled_from([0, 4, 8, 16, 24, 32, 2]))
        if from_size:
            self.stack_ptr(1, from_size, written=True)
        else:
            self.arg(1, 0)
        self.arg(2, from_size)
        if to_size:
            self.stack_ptr(3, to_size, written=True)
        else:
            self.arg(3, 0)
        self.arg(4, to_size)
        self.arg(5)
        self._call("csum_diff", 28)

    def h_skb_load_bytes(self) -> None:
        size = self.draw(st.sampled_from([1, 2, 3, 4, 6, 8, 13, 16, 32]))
        self.ctx_arg()
        self.arg(2, self._offset(size))
        off = self.stack_ptr(3, size, written=False)
        self.arg(4, size)
        self._call("skb_load_bytes", 26)
        self.state.write_stack(off, size)

    def h_skb_load_bytes_relative(self) -> None:
        size = self.draw(st.sampled_from([1, 2, 4, 8, 14, 20]))
        self.ctx_arg()
        self.arg(2, self._offset(size))
        off = self.stack_ptr(3, size, written=False)
        self.arg(4, size)
        self.arg(5, self.draw(st.sampled_from([0, 0, 1, 1, 2])))
        self._call("skb_load_bytes_relative", 68)
        self.state.write_stack(off, size)

    def h_skb_store_bytes(self) -> None:
        size = self.draw(st.sampled_from([1, 2, 4, 6, 8, 16]))
        self.ctx_arg()
        self.arg(2, self._offset(size))
        self.stack_ptr(3, size, written=True)
        self.arg(4, size)
        self.arg(5, self.draw(st.sampled_from([0, 0, 1, 2, 3, 4])))
        self._call("skb_store_bytes", 9, changes_packet=True)

    def _csum_args(self, l4: bool) -> None:
        draw = self.draw
        self.ctx_arg()
        off = self._offset(2)
        if draw(st.integers(0, 3)):
            off &= ~1
        self.arg(2, off)
        size = draw(st.sampled_from([0, 2, 4, 2, 4, 1, 8]))
        flags = size
        if l4:
            for bit in (0x10, 0x20, 0x40, 0x80):
                if draw(st.integers(0, 3)) == 0:
                    flags |= bit
        if draw(st.integers(0, 15)) == 0:
            flags |= 0x100
        self.arg(3, 0 if size == 0 and draw(st.integers(0, 3)) else None)
        self.arg(4)
        self.arg(5, flags)

    def h_l3_csum_replace(self) -> None:
        self._csum_args(False)
        self._call("l3_csum_replace", 10, changes_packet=True)

    def h_l4_csum_replace(self) -> None:
        self._csum_args(True)
        self._call("l4_csum_replace", 11, changes_packet=True)

    def h_skb_change_tail(self) -> None:
        draw = self.draw
        n = self.packet_len
        length = draw(st.sampled_from([n, n - 1, n + 1, n + 8, n // 2, 14, 13, 0, 20, 100,
                                       16064, 16065, 0xFFFF, n + 3000]))
        self.ctx_arg()
        self.arg(2, max(0, length))
        self.arg(3, draw(st.sampled_from([0, 0, 0, 1])))
        self._call("skb_change_tail", 38, changes_packet=True)

    def h_skb_change_head(self) -> None:
        draw = self.draw
        self.ctx_arg()
        self.arg(2, draw(st.sampled_from([0, 1, 4, 14, 32, 64, 200, 0x1000, 0x10000])))
        self.arg(3, draw(st.sampled_from([0, 0, 0, 1])))
        self._call("skb_change_head", 43, changes_packet=True)

    def h_skb_vlan_push(self) -> None:
        draw = self.draw
        self.ctx_arg()
        self.arg(2, draw(st.sampled_from([0x0081, 0xA888, 0x0081, 0x8100, 0x0008])))
        self.arg(3, draw(st.sampled_from([0, 1, 100, 0xFFF, 0xFFFF, 0x12345])))
        self._call("skb_vlan_push", 18, changes_packet=True)

    def h_skb_vlan_pop(self) -> None:
        self.ctx_arg()
        self._call("skb_vlan_pop", 19, changes_packet=True)

    def h_redirect(self) -> None:
        self.arg(1, self.draw(st.sampled_from([1, 2, 0])))
        self.arg(2, self.draw(st.sampled_from([0, 0, 1, 2, 8])))
        self._call("redirect", 23)

    def h_skb_pull_data(self) -> None:
        self.ctx_arg()
        self.arg(2, self.draw(st.sampled_from([0, 1, 14, self.packet_len,
                                               self.packet_len + 1, 0xFFFF])))
        self._call("skb_pull_data", 39, changes_packet=True)

    def h_set_hash(self) -> None:
        self.ctx_arg()
        self.arg(2)
        self._call("set_hash", 48)

    def h_set_hash_invalid(self) -> None:
        self.ctx_arg()
        self._call("set_hash_invalid", 41)

    def h_csum_level(self) -> None:
        self.ctx_arg()
        self.arg(2, self.draw(st.sampled_from([0, 1, 2, 3, 4])))
        self._call("csum_level", 135)

    def h_xdp_adjust_head(self) -> None:
        draw = self.draw
        self.ctx_arg()
        self.arg(2, draw(st.sampled_from([-4, -14, -16, -64, -200, -216, -217, -224, -256,
                                          4, 14, self.packet_len - 14,
                                          self.packet_len - 13, 1, -1])))
        self._call("xdp_adjust_head", 44, changes_packet=True)

    def h_xdp_adjust_tail(self) -> None:
        draw = self.draw
        self.ctx_arg()
        n = self.packet_len
        self.arg(2, draw(st.sampled_from([-1, -4, 4, 16, 100, -(n - 14), -(n - 13), 1000,
                                          3500, 4096 - 256 - 320 - n, 4096 - 256 - 320 - n + 1,
                                          0])))
        self._call("xdp_adjust_tail", 65, changes_packet=True)

    def h_xdp_adjust_meta(self) -> None:
        draw = self.draw
        self.ctx_arg()
        self.arg(2, draw(st.sampled_from([-4, -8, -16, -32, -36, -3, 4, 0, -256, -64, -252,
                                          -216, -220])))
        self._call("xdp_adjust_meta", 54, changes_packet=True)
        if draw(st.booleans()):
            self.meta_access()

    def meta_access(self) -> None:
        """Read and write XDP metadata bytes under a data_meta bounds check."""
        draw = self.draw
        size = draw(st.sampled_from([1, 4, 8]))
        self.emit("r2 = *(u32 *)(r6 + 8)")
        self.emit("r3 = *(u32 *)(r6 + 0)")
        self.emit("r4 = r2")
        self.emit(f"r4 += {size}")
        skip = self.labels.new()
        self.emit(f"if r4 > r3 goto {skip}")
        self.branches += 1
        for r in (2, 3, 4):
            self.state.set(r, NONE)
        before = self.state.copy()
        src = self.ensure_scalar(avoid=[2, 3, 4])
        self.emit(f"*({SIZES[size]} *)(r2 + 0) = r{src}")
        self.emit(f"r5 = *(u8 *)(r2 + {size - 1})")
        self.state.set(5, SCALAR)
        self.emit(f"{skip}:")
        self.state = self.state.join(before)

    # --- putting statements together -------------------------------------------------------

    def simple(self, depth: int) -> None:
        """A statement that calls nothing (safe while holding a value pointer)."""
        choice = self.draw(st.integers(0, 11))
        if choice < 5:
            self.alu()
        elif choice < 7:
            self.spill()
        elif choice < 8:
            self.fill()
        elif choice < 9:
            self.stack_atomic()
        elif choice < 10 and self.main and self.info.ctx_data is not None:
            self.pkt_load()
        elif choice < 11 and self.main:
            self.ctx_read()
        else:
            self.alu()

    def statement(self, depth: int) -> None:
        """One random statement."""
        draw = self.draw
        weights = [
            (self.alu, 30), (self.spill, 8), (self.fill, 6), (self.stack_atomic, 3),
            (self.ctx_read, 5), (self.ctx_write, 2), (self.pkt_load, 8), (self.pkt_store, 5),
            (self.ld_abs, 3), (self.call_sub, 3), (self.map_update, 4), (self.map_delete, 2),
            (self.helper, 10),
        ]
        if depth < 2 and self.branches < 8:
            weights += [(lambda: self.cond_block(depth), 7),
                        (lambda: self.map_lookup(depth), 6)]
        if depth == 0:
            weights.append((self.loop, 2))
        total = sum(w for _, w in weights)
        pick = draw(st.integers(0, total - 1))
        for fn, w in weights:
            if pick < w:
                fn()
                return
            pick -= w

    def statements(self, count: int, depth: int) -> None:
        """``count`` random statements."""
        for _ in range(count):
            self.statement(depth)

    def fold_results(self) -> None:
        """Fold every scalar register and some written stack words into r0."""
        draw = self.draw
        if self.state.regs[0] != SCALAR:
            self.emit("r0 = 0x2545f491")
            self.state.set(0, SCALAR)
        for reg in self.pool:
            if reg != 0 and self.state.regs[reg] == SCALAR:
                self.emit("r0 *= 0x1000193")
                self.emit(f"r0 ^= r{reg}")
        words = [off for off in range(-8, -self.frame - 1, -8) if self.state.stack_written(off, 8)]
        if words:
            tmp = 1
            for off in draw(st.lists(st.sampled_from(words), max_size=6, unique=True)):
                self.emit(f"r{tmp} = *(u64 *)({_addr(10, off)})")
                self.emit("r0 *= 0x1000193")
                self.emit(f"r0 ^= r{tmp}")
            self.state.set(tmp, SCALAR)


def _subprogram(draw, prog_type: str, maps, labels: _Labels, name: str) -> tuple[_Sub, list[str]]:
    args = draw(st.integers(0, 5))
    ptr_arg = args >= 1 and draw(st.booleans())
    b = _Builder(draw, prog_type, maps, labels, main=False, frame=128, ptr_arg=ptr_arg)
    b.emit(f"{name}:")
    for r in range(1, args + 1):
        b.state.set(r, SCALAR)
    if ptr_arg:
        # r1 points at eight written bytes of the caller's stack: keep it in r6
        b.emit("r6 = r1")
        b.state.set(1, NONE)
        b.pool = [r for r in b.pool if r != 6]
        dst = draw(st.sampled_from(b.pool))
        b.emit(f"r{dst} = *(u64 *)(r6 + 0)")
        b.state.set(dst, SCALAR)
    b.statements(draw(st.integers(1, 8)), 0)
    if ptr_arg:
        src = b.ensure_scalar()
        b.emit(f"*(u64 *)(r6 + 0) = r{src}")
    b.fold_results()
    b.emit("exit")
    return _Sub(name, args, ptr_arg), b.lines


def _maps(draw) -> tuple[MapDef, ...]:
    arr_vs = draw(st.sampled_from([8, 16, 24, 32]))
    arr_n = draw(st.integers(1, 4))
    arr_init = tuple((i.to_bytes(4, "little"), draw(st.binary(min_size=arr_vs, max_size=arr_vs)))
                     for i in range(arr_n) if draw(st.booleans()))
    hash_n = draw(st.integers(1, 6))
    keys = draw(st.lists(st.integers(0, hash_n + 1), max_size=hash_n, unique=True))
    hash_init = tuple((k.to_bytes(4, "little"), draw(st.binary(min_size=16, max_size=16)))
                      for k in keys)
    return (MapDef("arr", "array", 4, arr_vs, arr_n, arr_init),
            MapDef("hsh", "hash", 4, 16, hash_n, hash_init),
            MapDef("out", "array", 4, 8, 1))


def _ctx_in(draw, prog_type: str, packet: bytes) -> bytes | None:
    if prog_type == "xdp":
        if draw(st.integers(0, 3)):
            return None
        meta = draw(st.sampled_from([0, 4, 8, 16, 32, 36, 64, 252, 6, 256]))
        if len(packet) - meta < 14:
            meta = 0
        ctx = bytearray(24)
        ctx[0:4] = meta.to_bytes(4, "little")
        ctx[4:8] = len(packet).to_bytes(4, "little")
        return bytes(ctx)
    if draw(st.integers(0, 2)) == 0:
        return None
    ctx = bytearray(192)
    for off, size in ((8, 4), (32, 4), (48, 20), (152, 8)):
        if draw(st.booleans()):
            ctx[off:off + size] = draw(st.binary(min_size=size, max_size=size))
    return bytes(ctx)


@st.composite
def programs(draw, prog_type: str | None = None, *, max_statements: int = 24
             ) -> GeneratedProgram:
    """A random program of ``prog_type`` (any of :data:`PROG_TYPES` when
    None) that the kernel verifier accepts, with its maps and input."""
    if prog_type is None:
        prog_type = draw(st.sampled_from(PROG_TYPES))
    packet = draw(packets())
    ctx_in = _ctx_in(draw, prog_type, packet)
    maps = _maps(draw)
    labels = _Labels()
    subs: list[_Sub] = []
    sub_lines: dict[str, list[str]] = {}
    for i in range(draw(st.integers(0, 2))):
        sub, lines = _subprogram(draw, prog_type, maps, labels, f"sub_{i}")
        subs.append(sub)
        sub_lines[sub.name] = lines
    meta = int.from_bytes(ctx_in[:4], "little") if prog_type == "xdp" and ctx_in else 0
    b = _Builder(draw, prog_type, maps, labels, main=True, frame=256, subs=subs,
                 packet_len=len(packet) - meta)
    b.emit("r6 = r1")
    b.state.set(6, CTX)
    b.pool = [r for r in b.pool if r != 6]
    for reg in b.pool:
        b.set_scalar(reg)
    b.statements(draw(st.integers(1, max_statements)), 0)
    b.fold_results()
    b.emit("r9 = r0")
    b.state.set(9, SCALAR)
    # the result also goes into the out map and, where allowed, the packet
    b.emit("*(u32 *)(r10 - 4) = 0")
    b.emit("r1 = @map:out@ ll")
    b.emit("r2 = r10")
    b.emit("r2 += -4")
    b.emit("call bpf_map_lookup_elem#1")
    done = labels.new()
    b.emit(f"if r0 == 0 goto {done}")
    b.emit("*(u64 *)(r0 + 0) = r9")
    b.emit(f"{done}:")
    b.state.after_call()
    b.reserved.add(9)
    if b.info.pkt_write and draw(st.booleans()) and b.pkt_ensure(8):
        b.emit(f"*(u64 *)(r7 + {draw(st.integers(0, b.state.pkt_range - 8))}) = r9")
    b.emit("r0 = r9")
    b.emit("r9 >>= 32")
    b.emit("r0 ^= r9")
    b.emit("exit")
    if b.bail_used:
        b.emit("bail:")
        b.emit(f"r0 = {draw(st.integers(0, 1 << 20))}")
        b.emit("exit")
    for sub in subs:
        if sub.name in b.called:   # a function nobody calls is unreachable code
            b.lines += sub_lines[sub.name]
    text = "\n".join(b.lines) + "\n"
    return GeneratedProgram(prog_type, text, maps, packet, ctx_in)


# --- running in both places ------------------------------------------------------------------

@dataclass
class Outcome:
    """What one side gave: retval, packet out, context out and map contents;
    ``error`` when the run raised."""

    retval: int | None = None
    data_out: bytes | None = None
    ctx_out: bytes | None = None
    maps: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    error: str | None = None
    errno: int | None = None


@dataclass
class Comparison:
    """The outcome of one program in the kernel and in the VM."""

    program: GeneratedProgram
    kernel: Outcome | None
    vm: Outcome | None
    rejected: str | None = None     # the verifier's message when the kernel refused

    @property
    def differences(self) -> list[str]:
        """What differs, in words (empty when the two agree)."""
        if self.kernel is None or self.vm is None:
            return []
        out = []
        k, v = self.kernel, self.vm
        if k.error or v.error:
            if (k.error is None) != (v.error is None) or (
                    k.errno is not None and v.errno is not None and k.errno != v.errno):
                out.append(f"error: kernel {k.error!r}, vm {v.error!r}")
            return out
        if k.retval != v.retval:
            out.append(f"retval: kernel {k.retval:#x}, vm {v.retval:#x}")
        if k.data_out != v.data_out:
            out.append(f"data_out: kernel {k.data_out.hex()}, vm {v.data_out.hex()}")
        if k.ctx_out is not None and k.ctx_out != v.ctx_out:
            out.append(f"ctx_out: kernel {k.ctx_out.hex()}, vm {(v.ctx_out or b'').hex()}")
        for name in k.maps:
            if k.maps[name] != v.maps.get(name):
                kd = {a.hex(): b.hex() for a, b in sorted(k.maps[name].items())}
                vd = {a.hex(): b.hex() for a, b in sorted(v.maps.get(name, {}).items())}
                out.append(f"map {name}: kernel {kd}, vm {vd}")
        return out


#: The data_out buffer for kernel test runs: larger than any packet can grow.
DATA_OUT_SIZE = 1 << 17


def run_kernel(gp: GeneratedProgram) -> tuple[Outcome | None, str | None]:
    """Run in the kernel: (outcome, None), or (None, verifier message)."""
    from pybpf import assemble
    from pybpf.errors import KernelError, VerifierError
    from pybpf.kernel import KernelMap, KernelProgram

    kmaps = {}
    try:
        for m in gp.maps:
            km = KernelMap.create(m.type, m.key_size, m.value_size, m.max_entries)
            kmaps[m.name] = km
            for key, value in m.initial:
                km.update(key, value)
        insns = assemble(gp.assembly({n: km.fd for n, km in kmaps.items()}))
        try:
            prog = KernelProgram.load(insns, gp.prog_type, name="difftest", log_level=0)
        except VerifierError as e:
            return None, str(e)
        with prog:
            try:
                # room for any packet growth: a too small buffer makes the
                # kernel refuse with ENOSPC after the run and the run repeat
                res = prog.test_run(gp.packet, gp.ctx_in, data_size_out=DATA_OUT_SIZE)
            except KernelError as e:
                return Outcome(error=f"{type(e).__name__}: {e}", errno=e.errno), None
        maps = {name: dict(km.raw.items()) for name, km in kmaps.items()}
        ctx_out = res.ctx_out if gp.ctx_in else None
        return Outcome(res.retval, res.data_out, ctx_out, maps), None
    finally:
        for km in kmaps.values():
            km.close()


def run_vm(gp: GeneratedProgram, *, jit: bool | None = None) -> Outcome:
    """Run in pybpf's VM (``jit``: :class:`~pybpf.vm.VM`'s engine choice)."""
    from pybpf.errors import BPFError
    from pybpf.objects import MapSpec
    from pybpf.vm import VM

    vm = VM(jit=jit)
    vmaps = {}
    for m in gp.maps:
        vmap = vm.create_map(MapSpec(m.name, m.type, m.key_size, m.value_size, m.max_entries))
        for key, value in m.initial:
            vmap.update(key, value)
        vmaps[m.name] = vmap
    prog = vm.load(gp.assembly({n: vm.fd_of(vm_map) for n, vm_map in vmaps.items()}),
                   prog_type=gp.prog_type, name="difftest")
    try:
        res = prog.test_run(gp.packet, gp.ctx_in)
    except BPFError as e:
        return Outcome(error=f"{type(e).__name__}: {e}", errno=getattr(e, "errno", None))
    maps = {name: dict(vmap.raw.items()) for name, vmap in vmaps.items()}
    return Outcome(res.retval, res.data_out, res.ctx_out if gp.ctx_in else None, maps)


def run_both(gp: GeneratedProgram,
             kernel_runner: Callable[[GeneratedProgram], tuple[Outcome | None, str | None]]
             = run_kernel, *, jit: bool | None = None) -> Comparison:
    """Run ``gp`` in the kernel and, when the verifier accepts it, in the VM."""
    kernel, rejected = kernel_runner(gp)
    if kernel is None:
        return Comparison(gp, None, None, rejected)
    return Comparison(gp, kernel, run_vm(gp, jit=jit))


# --- hand-written programs ------------------------------------------------------------------

DEFAULT_MAPS = (MapDef("arr", "array", 4, 16, 4), MapDef("hsh", "hash", 4, 16, 4),
                MapDef("out", "array", 4, 8, 1))


def snippet(prog_type: str, body: str, packet: bytes, ctx_in: bytes | None = None,
            maps: tuple[MapDef, ...] = DEFAULT_MAPS) -> GeneratedProgram:
    """A program that saves the context in r6, runs ``body`` (LLVM-syntax
    lines, ``;`` separated or not) and returns r0, whose 64 bits also go into
    ``out[0]``."""
    lines = "\n".join(part.strip() for part in body.replace(";", "\n").splitlines()
                      if part.strip())
    text = (f"r6 = r1\n{lines}\nr9 = r0\n*(u32 *)(r10 - 4) = 0\nr1 = @map:out@ ll\n"
            "r2 = r10\nr2 += -4\ncall bpf_map_lookup_elem#1\nif r0 == 0 goto snippet_out\n"
            "*(u64 *)(r0 + 0) = r9\nsnippet_out:\nr0 = r9\nexit\n")
    return GeneratedProgram(prog_type, text, maps, packet, ctx_in)


class LoadedPair:
    """One program loaded in the kernel and in the VM, with the same maps,
    to run on many inputs (:meth:`run`).  ``rejected`` holds the verifier's
    message when the kernel refused the program."""

    def __init__(self, gp: GeneratedProgram):
        from pybpf import assemble
        from pybpf.errors import VerifierError
        from pybpf.kernel import KernelMap, KernelProgram
        from pybpf.objects import MapSpec
        from pybpf.vm import VM

        self.gp = gp
        self.rejected: str | None = None
        self.kmaps = {m.name: KernelMap.create(m.type, m.key_size, m.value_size, m.max_entries)
                      for m in gp.maps}
        self.vm = VM()
        self.vmaps = {m.name: self.vm.create_map(MapSpec(m.name, m.type, m.key_size,
                                                         m.value_size, m.max_entries))
                      for m in gp.maps}
        self.kprog = None
        try:
            self.kprog = KernelProgram.load(
                assemble(gp.assembly({n: km.fd for n, km in self.kmaps.items()})),
                gp.prog_type, name="difftest")
        except VerifierError as e:
            self.rejected = str(e)
            return
        self.vprog = self.vm.load(gp.assembly({n: self.vm.fd_of(m)
                                               for n, m in self.vmaps.items()}),
                                  prog_type=gp.prog_type, name="difftest")

    def _reset_maps(self) -> None:
        for m in self.gp.maps:
            km, vm_map = self.kmaps[m.name], self.vmaps[m.name]
            for key in list(km.keys()):
                if m.type == "hash":
                    del km[key]
            if m.type == "hash":
                vm_map.clear()
            for key, value in m.initial:
                km.update(key, value)
                vm_map.update(key, value)
            if m.type == "array":
                initial = dict(m.initial)
                for i in range(m.max_entries):
                    key = i.to_bytes(4, "little")
                    value = initial.get(key, bytes(m.value_size))
                    km.update(key, value)
                    vm_map.update(key, value)

    def run(self, packet: bytes, ctx_in: bytes | None = None) -> Comparison:
        """Run both on one input (maps reset to their initial contents)."""
        from pybpf.errors import BPFError, KernelError

        gp = GeneratedProgram(self.gp.prog_type, self.gp.text, self.gp.maps, packet, ctx_in)
        if self.kprog is None:
            return Comparison(gp, None, None, self.rejected)
        self._reset_maps()
        try:
            res = self.kprog.test_run(packet, ctx_in, data_size_out=DATA_OUT_SIZE)
            kernel = Outcome(res.retval, res.data_out, res.ctx_out if ctx_in else None,
                             {n: dict(km.raw.items()) for n, km in self.kmaps.items()})
        except KernelError as e:
            kernel = Outcome(error=f"KernelError: {e}", errno=e.errno)
        try:
            res = self.vprog.test_run(packet, ctx_in)
            vm = Outcome(res.retval, res.data_out, res.ctx_out if ctx_in else None,
                         {n: dict(m.raw.items()) for n, m in self.vmaps.items()})
        except BPFError as e:
            vm = Outcome(error=f"{type(e).__name__}: {e}", errno=getattr(e, "errno", None))
        return Comparison(gp, kernel, vm)

    def close(self) -> None:
        """Release the kernel program and maps."""
        if self.kprog is not None:
            self.kprog.close()
        for km in self.kmaps.values():
            km.close()

    def __enter__(self) -> LoadedPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
