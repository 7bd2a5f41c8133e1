"""Programs as the kernel holds them, in the kernel's own notation.

After loading, the kernel keeps a program's *translated* ("xlated")
instructions — the bytecode after the verifier's rewrites: map fds become
map ids, helper calls become calls to kernel functions — and, with the JIT,
its native code, one image per function.  This module reads both and puts
them in the notation of the verifier log and ``bpftool prog dump``::

    from pybpf.kernel import xlated

    for line in xlated.xlated_lines(prog.fd):
        if line.proto:
            print(line.proto + ":")
        if line.source:
            print("; " + line.source.text)
        print(f"{line.pc:4}: {line.text}")         # "   4: (18) r1 = map[id:12]"
    for func in xlated.jited_functions(prog.fd):   # name, prototype, native bytes
        print(func.name, len(func.code))

:func:`format_insn` formats one instruction the way the kernel's
disassembler does (``(b4) w1 = 1``, ``*(u32 *)(r10 -4) = r1``,
``if r0 == 0x0 goto pc+1``); callers name helper calls and 64-bit
immediates through callbacks, as bpftool does with kallsyms and map ids.
"""

from __future__ import annotations

import contextlib
import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..isa import Insn
from ..isa.opcodes import (
    ADDR_SPACE_CAST,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JCOND,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JMP,
    BPF_JMP32,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_LD,
    BPF_LDX,
    BPF_LOAD_ACQ,
    BPF_LSH,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STORE_REL,
    BPF_STX,
    BPF_SUB,
    BPF_TO_BE,
    BPF_X,
    BPF_XCHG,
    BPF_XOR,
    CLASS_NAMES,
    MAY_GOTO,
    MODE_MASK,
    PSEUDO_CALL_LOCAL,
    PSEUDO_FUNC,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    SIZE_BYTES,
    SIZE_MASK,
)
from ..spec.defines import BPF_ADDR_PERCPU, BPF_LINE_INFO_COL_BITS
from . import sys as _sys
from ._abi import INFO

_OP_MASK = 0xFF & ~0x0F
_SOURCE_MASK = 0x08
_CLASS_MASK = 0x07
_U32 = 0xFFFFFFFF

_ALU_OPS = {BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=",
            BPF_AND: "&=", BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_MOD: "%=", BPF_XOR: "^=",
            BPF_MOV: "=", BPF_ARSH: "s>>="}
_SIGNED_ALU_OPS = {BPF_DIV: "s/=", BPF_MOD: "s%="}
_ATOMIC_OPS = {BPF_ADD: "add", BPF_AND: "and", BPF_OR: "or", BPF_XOR: "xor"}
_JMP_OPS = {BPF_JEQ: "==", BPF_JGT: ">", BPF_JLT: "<", BPF_JGE: ">=", BPF_JLE: "<=",
            BPF_JSET: "&", BPF_JNE: "!=", BPF_JSGT: "s>", BPF_JSLT: "s<", BPF_JSGE: "s>=",
            BPF_JSLE: "s<="}


def _size(code: int) -> int:
    return SIZE_BYTES[code & SIZE_MASK]


def _u(code: int) -> str:
    return f"u{_size(code) * 8}"


def _mem(reg: int, off: int) -> str:
    return f"(r{reg} {off:+d})"


def default_imm_name(insn: Insn, next_insn: Insn | None) -> str:
    """How the kernel prints a 64-bit immediate it has no better name for,
    and how bpftool names map references in translated programs."""
    hi = next_insn.imm if next_insn is not None else 0
    if insn.src == PSEUDO_MAP_FD:
        return f"map[id:{insn.imm & _U32}]"
    if insn.src == PSEUDO_MAP_VALUE:
        return f"map[id:{insn.imm & _U32}][0]+{hi & _U32}"
    if insn.src == PSEUDO_MAP_IDX_VALUE:
        return f"map[idx:{insn.imm & _U32}]+{hi & _U32}"
    if insn.src == PSEUDO_MAP_IDX:
        return f"map[idx:{insn.imm & _U32}]"
    if insn.src == PSEUDO_FUNC:
        return f"subprog[{insn.imm:+d}]"
    return f"0x{((hi & _U32) << 32) | (insn.imm & _U32):x}"


def format_insn(insn: Insn, next_insn: Insn | None = None, *,
                call_name: Callable[[Insn], str | None] | None = None,
                imm_name: Callable[[Insn, Insn | None], str] | None = None) -> str:
    """One instruction in the kernel's notation, with its opcode in front:
    ``(bf) r2 = r10``.  ``next_insn`` is an ``lddw``'s second slot.

    ``call_name(insn)`` names a call's target (a helper by id, a kernel
    function by address, a subprogram); the kernel's helper names are used
    when it returns None.  ``imm_name(insn, next_insn)`` spells an ``lddw``
    operand (:func:`default_imm_name` by default)."""
    code, cls = insn.opcode, insn.opcode & _CLASS_MASK
    op = code & _OP_MASK
    head = f"({code:02x})"
    dst, src, off, imm = insn.dst, insn.src, insn.off, insn.imm
    if cls in (BPF_ALU, BPF_ALU64):
        w = "w" if cls == BPF_ALU else "r"
        if op == BPF_END:
            if cls == BPF_ALU64:
                return f"{head} r{dst} = bswap{imm} r{dst}"
            order = "be" if code & _SOURCE_MASK == BPF_TO_BE else "le"
            return f"{head} r{dst} = {order}{imm} r{dst}"
        if op == BPF_NEG:
            return f"{head} {w}{dst} = -{w}{dst}"
        mov_x = cls == BPF_ALU64 and op == BPF_MOV and code & _SOURCE_MASK == BPF_X
        if mov_x and off == ADDR_SPACE_CAST:
            return f"{head} r{dst} = addr_space_cast(r{src}, {(imm & _U32) >> 16}, " \
                   f"{imm & 0xFFFF})"
        if mov_x and off == BPF_ADDR_PERCPU:
            return f"{head} r{dst} = &(void __percpu *)(r{src})"
        signed = op in _SIGNED_ALU_OPS and off == 1
        text = _SIGNED_ALU_OPS[op] if signed else _ALU_OPS.get(op, "?")
        if code & _SOURCE_MASK == BPF_X:
            cast = f"(s{off})" if op == BPF_MOV and off in (8, 16, 32) else ""
            return f"{head} {w}{dst} {text} {cast}{w}{src}"
        return f"{head} {w}{dst} {text} {imm}"
    if cls == BPF_STX:
        mode = code & MODE_MASK
        if mode == BPF_MEM:
            return f"{head} *({_u(code)} *){_mem(dst, off)} = r{src}"
        if mode == BPF_ATOMIC:
            bits = "64" if code & SIZE_MASK == BPF_DW else ""
            ptr = f"({_u(code)} *){_mem(dst, off)}"
            if imm in _ATOMIC_OPS:
                return f"{head} lock *{ptr} {_ALU_OPS[imm]} r{src}"
            if imm & ~BPF_FETCH in _ATOMIC_OPS and imm & BPF_FETCH:
                return f"{head} r{src} = atomic{bits}_fetch_{_ATOMIC_OPS[imm & ~BPF_FETCH]}" \
                       f"({ptr}, r{src})"
            if imm == BPF_CMPXCHG:
                return f"{head} r0 = atomic{bits}_cmpxchg({ptr}, r0, r{src})"
            if imm == BPF_XCHG:
                return f"{head} r{src} = atomic{bits}_xchg({ptr}, r{src})"
            if imm == BPF_LOAD_ACQ:
                return f"{head} r{dst} = load_acquire(({_u(code)} *){_mem(src, off)})"
            if imm == BPF_STORE_REL:
                return f"{head} store_release({ptr}, r{src})"
        return f"BUG_{code:02x}"
    if cls == BPF_ST:
        if code & MODE_MASK == BPF_MEM:
            return f"{head} *({_u(code)} *){_mem(dst, off)} = {imm}"
        if code & MODE_MASK == BPF_ATOMIC:  # BPF_NOSPEC, the kernel's own barrier
            return f"{head} nospec"
        return f"BUG_st_{code:02x}"
    if cls == BPF_LDX:
        mode = code & MODE_MASK
        if mode == BPF_MEM:
            return f"{head} r{dst} = *({_u(code)} *){_mem(src, off)}"
        if mode == BPF_MEMSX:
            return f"{head} r{dst} = *(s{_size(code) * 8} *){_mem(src, off)}"
        return f"BUG_ldx_{code:02x}"
    if cls == BPF_LD:
        mode = code & MODE_MASK
        if mode == BPF_ABS:
            return f"{head} r0 = *({_u(code)} *)skb[{imm}]"
        if mode == BPF_IND:
            return f"{head} r0 = *({_u(code)} *)skb[r{src} + {imm}]"
        if mode == BPF_IMM and code & SIZE_MASK == BPF_DW:
            name = (imm_name or default_imm_name)(insn, next_insn)
            return f"{head} r{dst} = {name}"
        return f"BUG_ld_{code:02x}"
    if cls in (BPF_JMP, BPF_JMP32):
        if op == BPF_CALL:
            if code & _SOURCE_MASK == BPF_X:
                return f"{head} callx r{dst}"
            name = call_name(insn) if call_name is not None else None
            if src == PSEUDO_CALL_LOCAL:
                return f"{head} call pc{name if name is not None else f'{imm:+d}'}"
            if name is None:
                name = _helper_label(imm) if src == 0 else None
            if name is None:
                name = "kernel-function" if src else "unknown"
            return f"{head} call {name}#{imm}"
        if code == BPF_JMP | BPF_JA:
            return f"{head} goto pc{off:+d}"
        if code == BPF_JMP | BPF_JCOND and src == MAY_GOTO:
            return f"{head} may_goto pc{off:+d}"
        if code == BPF_JMP32 | BPF_JA:
            return f"{head} gotol pc{imm:+d}"
        if code == BPF_JMP | BPF_EXIT:
            return f"{head} exit"
        w = "w" if cls == BPF_JMP32 else "r"
        cond = _JMP_OPS.get(op, "?")
        if code & _SOURCE_MASK == BPF_X:
            return f"{head} if {w}{dst} {cond} {w}{src} goto pc{off:+d}"
        return f"{head} if {w}{dst} {cond} 0x{imm & _U32:x} goto pc{off:+d}"
    return f"{head} {CLASS_NAMES.get(cls, '?')}"


def _helper_label(helper: int) -> str | None:
    from ..spec.layout import helper_name

    name = helper_name(helper) if helper >= 0 else None
    return f"bpf_{name}" if name else None


# --- reading a loaded program --------------------------------------------------------

_ARRAYS = {  # what to fetch: (count field, pointer field, record size or its field)
    "xlated": ("xlated_prog_len", "xlated_prog_insns", 1),
    "jited": ("jited_prog_len", "jited_prog_insns", 1),
    "ksyms": ("nr_jited_ksyms", "jited_ksyms", 8),
    "func_lens": ("nr_jited_func_lens", "jited_func_lens", 4),
    "func_info": ("nr_func_info", "func_info", "func_info_rec_size"),
    "line_info": ("nr_line_info", "line_info", "line_info_rec_size"),
}


class ProgramImage:
    """Everything ``BPF_OBJ_GET_INFO_BY_FD`` gives about a program's code:
    ``xlated`` and ``jited`` bytes, the JIT's per-function ``ksyms``
    (addresses) and ``func_lens``, ``func_info`` (pc, BTF type id) and
    ``line_info`` (pc, file offset, line offset, line and column) rows, and
    ``btf`` (the program's BTF, parsed, or None)."""

    def __init__(self, fd: int, *, jited: bool = False):
        first = _sys.obj_get_info_by_fd(fd, INFO["bpf_prog_info"].new())
        self.id = first.id
        self.btf_id = first.btf_id
        fields: dict[str, Any] = {}
        buffers: dict[str, Any] = {}
        for key, (count, pointer, size) in _ARRAYS.items():
            if key == ("xlated" if jited else "jited"):
                continue
            n = first[count]
            if not n:
                continue
            rec = first[size] if isinstance(size, str) else size
            buf = ctypes.create_string_buffer(n * rec)
            buffers[key] = (buf, count, rec)
            fields[count] = n
            fields[pointer] = ctypes.addressof(buf)
            if isinstance(size, str):
                fields[size] = rec
        again = _sys.obj_get_info_by_fd(fd, INFO["bpf_prog_info"].new(**fields)) \
            if fields else first
        raw: dict[str, bytes] = {}
        for key, (buf, count, rec) in buffers.items():
            raw[key] = buf.raw[:min(again[count], fields[count]) * rec]
        self.xlated = raw.get("xlated", b"")
        self.jited = raw.get("jited", b"")
        self.ksyms = [v for (v,) in struct.iter_unpack("<Q", raw.get("ksyms", b""))]
        self.func_lens = [v for (v,) in struct.iter_unpack("<I", raw.get("func_lens", b""))]
        self.func_info = _rows(raw.get("func_info", b""), first.func_info_rec_size,
                               INFO["bpf_func_info"].packer("insn_off", "type_id"))
        self.line_info = _rows(raw.get("line_info", b""), first.line_info_rec_size,
                               INFO["bpf_line_info"].packer("insn_off", "file_name_off",
                                                            "line_off", "line_col"))
        self.btf = _program_btf(first.btf_id) if first.btf_id else None


def _rows(data: bytes, rec_size: int, packer: struct.Struct) -> list[tuple[int, ...]]:
    if not rec_size:
        return []
    return [packer.unpack_from(data, i) for i in range(0, len(data) - rec_size + 1, rec_size)]


def _program_btf(btf_id: int) -> Any:
    from ..btf import BTF
    from ..errors import BPFError
    from .kernel_btf import KernelBTF

    try:
        with KernelBTF.from_id(btf_id) as kb:
            return BTF.from_bytes(kb.raw())
    except BPFError:
        return None


class SourceLine(NamedTuple):
    """A line of source from BTF line info: file, line, column and text."""

    file: str
    line: int
    column: int
    text: str


@dataclass(frozen=True)
class XlatedLine:
    """One translated instruction: its ``pc``, its ``text`` in the kernel's
    notation, its ``raw`` bytes (16 for an ``lddw``), the prototype of the
    function starting here (``proto``) and the source line starting here."""

    pc: int
    text: str
    raw: bytes
    proto: str | None = None
    source: SourceLine | None = None


def function_prototype(btf: Any, func_type_id: int) -> str:
    """A FUNC's prototype as bpftool prints it: ``int f(struct xdp_md * ctx)``."""
    func = btf[func_type_id]
    proto = btf.func_proto(func_type_id)
    params = []
    for p in proto.params:
        if not p.type_id and not p.name:
            params.append("...")
        else:
            params.append(f"{btf.type_name(p.type_id)} {p.name}".rstrip())
    ret = btf.type_name(proto.return_type_id)
    return f"{ret} {func.name}({', '.join(params) or 'void'})"


def _source(btf: Any, row: tuple[int, ...]) -> SourceLine | None:
    _pc, file_off, line_off, line_col = row
    try:
        text = btf.string_at(line_off)
        file = btf.string_at(file_off)
    except Exception:  # an offset the BTF does not hold: no source
        return None
    if not text:
        return None
    return SourceLine(file, line_col >> BPF_LINE_INFO_COL_BITS,
                      line_col & ((1 << BPF_LINE_INFO_COL_BITS) - 1), text.lstrip())


class KernelSymbols:
    """Kernel symbols by exact address (from ``/proc/kallsyms``, read on
    first use), and ``__bpf_call_base``, the address helper calls in
    translated programs count from."""

    def __init__(self) -> None:
        self._by_address: dict[int, str] | None = None

    def _table(self) -> dict[int, str]:
        if self._by_address is None:
            from .kallsyms import symbols

            table: dict[int, str] = {}
            for sym in symbols():
                if sym.address:
                    table.setdefault(sym.address, sym.name)
            self._by_address = table
        return self._by_address

    def name_at(self, address: int) -> str | None:
        """The symbol at exactly ``address``."""
        return self._table().get(address)

    @property
    def call_base(self) -> int | None:
        """The address of ``__bpf_call_base`` (None when hidden)."""
        for address, name in self._table().items():
            if name == "__bpf_call_base":
                return address
        return None


def xlated_lines(fd: int, image: ProgramImage | None = None,
                 symbols: KernelSymbols | None = None) -> list[XlatedLine]:
    """The program behind ``fd`` as the kernel holds it after verification,
    one :class:`XlatedLine` per instruction.  Empty when the kernel withholds
    the instructions (``kernel.kptr_restrict``, no CAP_SYS_ADMIN)."""
    image = image or ProgramImage(fd)
    symbols = symbols or KernelSymbols()
    data = image.xlated
    slots = [Insn(*s) for s in _decode_slots(data)]
    btf = image.btf
    protos: dict[int, str] = {}
    sources: dict[int, SourceLine] = {}
    if btf is not None:
        for pc, type_id in image.func_info:
            with contextlib.suppress(Exception):  # a type the parser cannot name: none
                protos[pc] = function_prototype(btf, type_id)
        for row in image.line_info:
            src = _source(btf, row)
            if src is not None:
                sources.setdefault(row[0], src)
    base: list[int | None] = []

    def call_name(insn: Insn) -> str | None:
        if insn.src == PSEUDO_CALL_LOCAL:
            if not image.ksyms:
                return None
            address = image.ksyms[insn.imm] if 0 <= insn.imm < len(image.ksyms) else None
            name = symbols.name_at(address) if address is not None else None
            label = name or (f"0x{address:x}" if address is not None else "unknown")
            return f"{insn.off:+d}#{label}"
        if insn.src == 0 and _helper_label(insn.imm) is not None:
            return None  # a helper the kernel left as its id
        if not base:
            base.append(symbols.call_base)
        if base[0] is None:
            return None
        return symbols.name_at((base[0] + insn.imm) & ((1 << 64) - 1))

    out: list[XlatedLine] = []
    pc = 0
    while pc < len(slots):
        insn = slots[pc]
        wide = insn.is_lddw and pc + 1 < len(slots)
        nxt = slots[pc + 1] if wide else None
        raw = data[pc * 8:(pc + (2 if wide else 1)) * 8]
        out.append(XlatedLine(pc, format_insn(insn, nxt, call_name=call_name), raw,
                              protos.get(pc), sources.get(pc)))
        pc += 2 if wide else 1
    return out


def _decode_slots(data: bytes) -> list[tuple[int, int, int, int, int]]:
    out = []
    for code, regs, off, imm in struct.iter_unpack("<BBhi", data[:len(data) // 8 * 8]):
        out.append((code, regs & 0x0F, regs >> 4, off, imm))
    return out


@dataclass(frozen=True)
class JitedFunction:
    """The native code of one function of a JIT-compiled program: its
    kernel symbol ``name``, its BTF ``proto`` (or None), its ``address``
    and its ``code``."""

    name: str
    proto: str | None
    address: int
    code: bytes


def jited_functions(fd: int, image: ProgramImage | None = None,
                    symbols: KernelSymbols | None = None) -> list[JitedFunction]:
    """The native code of the program behind ``fd``, one entry per function
    (the main program first).  Empty when the program is not JIT-compiled
    or the kernel withholds the code."""
    image = image or ProgramImage(fd, jited=True)
    if not image.jited:
        return []
    symbols = symbols or KernelSymbols()
    lens = image.func_lens or [len(image.jited)]
    protos: list[str | None] = []
    if image.btf is not None:
        for _pc, type_id in image.func_info:
            try:
                protos.append(function_prototype(image.btf, type_id))
            except Exception:  # a type the parser cannot name: no prototype
                protos.append(None)
    out = []
    start = 0
    for i, length in enumerate(lens):
        address = image.ksyms[i] if i < len(image.ksyms) else 0
        name = symbols.name_at(address) if address else None
        out.append(JitedFunction(name or (f"0x{address:016x}" if address else "unknown"),
                                 protos[i] if i < len(protos) else None, address,
                                 image.jited[start:start + length]))
        start += length
    return out
