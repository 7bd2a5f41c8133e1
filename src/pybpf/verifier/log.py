"""The verifier log in the kernel's format.

:func:`insn_str` prints an instruction as the kernel's verifier does
(``(7b) *(u64 *)(r10 -8) = r1``), :func:`reg_str` a register
(``ctx()``, ``fp-8``, ``scalar(smin=smin32=0,smax=umax=smax32=umax32=255,
var_off=(0x0; 0xff))``), :func:`state_str` a frame's registers and stack
slots.  :class:`Log` collects lines at log level 1 (the path that failed)
or 2 (every instruction with the state it leaves).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..isa import Insn
from ..isa.opcodes import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
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
    BPF_JMP,
    BPF_JMP32,
    BPF_LD,
    BPF_LDX,
    BPF_LOAD_ACQ,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOD,
    BPF_MOV,
    BPF_NEG,
    BPF_OR,
    BPF_ST,
    BPF_STORE_REL,
    BPF_STX,
    BPF_TO_BE,
    BPF_X,
    BPF_XCHG,
    BPF_XOR,
    PSEUDO_CALL_KFUNC,
    PSEUDO_CALL_LOCAL,
    PSEUDO_FUNC,
)
from ..spec import helper_name
from ..spec.verifier import MODE_MASK, OP_MASK, SIZE_MASK
from . import tnum as tn
from .state import (
    BPF_ADD_CONST,
    BPF_REG_SIZE,
    CONST_PTR_TO_DYNPTR,
    CONST_PTR_TO_MAP,
    PTR_TO_BTF_ID,
    PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_STACK,
    S32_MAX,
    S32_MIN,
    S64_MAX,
    S64_MIN,
    SCALAR_VALUE,
    STACK_DYNPTR,
    STACK_ITER,
    STACK_SPILL,
    FuncState,
    Reg,
    VerifierState,
    base_type,
    type_str,
)
from .tnum import U32, U64

ALU_STR = ["+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=",
           "endian", "?", "?"]
JMP_STR = ["jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<",
           "s<=", "?", "?"]
SIZE_STR = {0: "u32", 8: "u16", 16: "u8", 24: "u64"}
SIZE_SX_STR = {0: "s32", 8: "s16", 16: "s8", 24: "s64"}
CLASS_STR = ["ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"]
ATOMIC_ALU = {BPF_ADD: "add", BPF_AND: "and", BPF_OR: "or", BPF_XOR: "xor"}

LOG_MIN_ALIGNMENT = 8
LOG_ALIGNMENT = 40


def fmt_snum(v: int) -> str:
    """A signed number as the kernel prints it (decimal when small)."""
    if -(1 << 15) <= v <= (1 << 15) - 1:
        return str(v)
    return f"{v & U64:#x}"


def fmt_unum(v: int) -> str:
    """An unsigned number as the kernel prints it (decimal when small)."""
    if v <= (1 << 16) - 1:
        return str(v)
    return f"{v:#x}"


def helper_func_name(helper_id: int) -> str | None:
    try:
        name = helper_name(helper_id)
    except (KeyError, IndexError, ValueError):
        return None
    if not name:
        return None
    return name if name.startswith("bpf_") else f"bpf_{name}"


# --- instructions -------------------------------------------------------------------

def insn_str(insns: Sequence[Insn], pc: int, *, allow_ptr_leaks: bool = True,
             kfunc_names: dict | None = None) -> str:
    """The instruction at ``pc`` as the kernel's verifier log prints it."""
    insn = insns[pc]
    code, dst, src, off, imm = insn.opcode, insn.dst, insn.src, insn.off, insn.imm
    cls = code & 7
    if cls in (BPF_ALU, BPF_ALU64):
        r = "w" if cls == BPF_ALU else "r"
        op = code & OP_MASK
        if op == BPF_END:
            if cls == BPF_ALU64:
                return f"({code:02x}) r{dst} = bswap{imm} r{dst}"
            order = "be" if code & BPF_TO_BE else "le"
            return f"({code:02x}) r{dst} = {order}{imm} r{dst}"
        if op == BPF_NEG:
            return f"({code:02x}) {r}{dst} = -{r}{dst}"
        if code & BPF_X:
            if op == BPF_MOV and off and cls == BPF_ALU64 and off == 1:
                return f"({code:02x}) r{dst} = addr_space_cast(r{src}, {imm >> 16}, {imm & 0xFFFF})"
            if op == BPF_MOV and off:
                return f"({code:02x}) {r}{dst} = (s{off}){r}{src}"
            sign = "s" if off == 1 and op in (BPF_DIV, BPF_MOD) else ""
            return f"({code:02x}) {r}{dst} {sign}{ALU_STR[op >> 4]} {r}{src}"
        sign = "s" if off == 1 and op in (BPF_DIV, BPF_MOD) else ""
        return f"({code:02x}) {r}{dst} {sign}{ALU_STR[op >> 4]} {imm}"
    if cls == BPF_STX:
        mode = code & MODE_MASK
        size = SIZE_STR[code & SIZE_MASK]
        if mode == BPF_MEM:
            return f"({code:02x}) *({size} *)(r{dst} {off:+d}) = r{src}"
        if mode == BPF_ATOMIC:
            if imm in ATOMIC_ALU:
                return (f"({code:02x}) lock *({size} *)(r{dst} {off:+d}) "
                        f"{ALU_STR[imm >> 4]} r{src}")
            if imm & BPF_FETCH and (imm & ~BPF_FETCH) in ATOMIC_ALU:
                w = "64" if code & SIZE_MASK == BPF_DW else ""
                return (f"({code:02x}) r{src} = atomic{w}_fetch_{ATOMIC_ALU[imm & ~BPF_FETCH]}"
                        f"(({size} *)(r{dst} {off:+d}), r{src})")
            if imm == BPF_CMPXCHG:
                w = "64" if code & SIZE_MASK == BPF_DW else ""
                return (f"({code:02x}) r0 = atomic{w}_cmpxchg(({size} *)(r{dst} {off:+d}), "
                        f"r0, r{src})")
            if imm == BPF_XCHG:
                w = "64" if code & SIZE_MASK == BPF_DW else ""
                return (f"({code:02x}) r{src} = atomic{w}_xchg(({size} *)(r{dst} {off:+d}), "
                        f"r{src})")
            if imm == BPF_LOAD_ACQ:
                return f"({code:02x}) r{dst} = load_acquire(({size} *)(r{src} {off:+d}))"
            if imm == BPF_STORE_REL:
                return f"({code:02x}) store_release(({size} *)(r{dst} {off:+d}), r{src})"
        return f"BUG_{code:02x}"
    if cls == BPF_ST:
        if code & MODE_MASK == BPF_MEM:
            return f"({code:02x}) *({SIZE_STR[code & SIZE_MASK]} *)(r{dst} {off:+d}) = {imm}"
        if code & MODE_MASK == BPF_ATOMIC:
            return f"({code:02x}) nospec"
        return f"BUG_st_{code:02x}"
    if cls == BPF_LDX:
        mode = code & MODE_MASK
        if mode not in (BPF_MEM, BPF_MEMSX):
            return f"BUG_ldx_{code:02x}"
        size = (SIZE_STR if mode == BPF_MEM else SIZE_SX_STR)[code & SIZE_MASK]
        return f"({code:02x}) r{dst} = *({size} *)(r{src} {off:+d})"
    if cls == BPF_LD:
        mode = code & MODE_MASK
        size = SIZE_STR[code & SIZE_MASK]
        if mode == BPF_ABS:
            return f"({code:02x}) r0 = *({size} *)skb[{imm}]"
        if mode == BPF_IND:
            return f"({code:02x}) r0 = *({size} *)skb[r{src} + {imm}]"
        if mode == BPF_IMM and code & SIZE_MASK == BPF_DW:
            hi = insns[pc + 1].imm if pc + 1 < len(insns) else 0
            value = ((hi & U32) << 32) | (imm & U32)
            if src in (1, 2) and not allow_ptr_leaks:
                value = 0
            if src == PSEUDO_FUNC:
                return f"({code:02x}) r{dst} = 0x{value:x}"
            return f"({code:02x}) r{dst} = 0x{value:x}"
        return f"BUG_ld_{code:02x}"
    if cls in (BPF_JMP, BPF_JMP32):
        op = code & OP_MASK
        if op == BPF_CALL:
            if src == PSEUDO_CALL_LOCAL:
                return f"({code:02x}) call pc{imm:+d}"
            if src == 0:
                name = helper_func_name(imm) or "unknown"
            elif src == PSEUDO_CALL_KFUNC:
                name = (kfunc_names or {}).get((imm, off)) or "kernel-function"
            else:
                name = "unknown"
            return f"({code:02x}) call {name}#{imm}"
        if code == BPF_JMP | BPF_JA:
            return f"({code:02x}) goto pc{off:+d}"
        if code == BPF_JMP | BPF_JCOND and src == 0:
            return f"({code:02x}) may_goto pc{off:+d}"
        if code == BPF_JMP32 | BPF_JA:
            return f"({code:02x}) gotol pc{imm:+d}"
        if code == BPF_JMP | BPF_EXIT:
            return f"({code:02x}) exit"
        r = "w" if cls == BPF_JMP32 else "r"
        if code & BPF_X:
            return f"({code:02x}) if {r}{dst} {JMP_STR[op >> 4]} {r}{src} goto pc{off:+d}"
        return f"({code:02x}) if {r}{dst} {JMP_STR[op >> 4]} 0x{imm & U32:x} goto pc{off:+d}"
    return f"({code:02x}) {CLASS_STR[cls]}"


# --- registers --------------------------------------------------------------------------

def _scalar_ranges(r: Reg) -> list[str]:
    entries = [
        ["smin", r.smin, r.smin == S64_MIN, True],
        ["smax", r.smax, r.smax == S64_MAX, True],
        ["umin", r.umin, r.umin == 0, False],
        ["umax", r.umax, r.umax == U64, False],
        ["smin32", r.s32_min if -(1 << 15) <= r.s32_min <= (1 << 15) - 1
         else r.s32_min & U32, r.s32_min == S32_MIN, True],
        ["smax32", r.s32_max if -(1 << 15) <= r.s32_max <= (1 << 15) - 1
         else r.s32_max & U32, r.s32_max == S32_MAX, True],
        ["umin32", r.u32_min, r.u32_min == 0, False],
        ["umax32", r.u32_max, r.u32_max == U32, False],
    ]
    out = []
    for i, m1 in enumerate(entries):
        if m1[2]:
            continue
        neg1 = m1[3] and m1[1] < 0
        names = [m1[0]]
        for j in range(i + 2, len(entries), 2):
            m2 = entries[j]
            if m2[2] or (m2[1] & U64) != (m1[1] & U64):
                continue
            if (m2[3] and m2[1] < 0) != neg1:
                continue
            m2[2] = True
            names.append(m2[0])
        value = fmt_snum(m1[1]) if m1[3] else fmt_unum(m1[1])
        out.append("=".join(names) + "=" + value)
    return out


def reg_str(r: Reg, frameno: int) -> str:
    """One register's state as the kernel prints it (without ``R1=``)."""
    t = r.type
    prefix = "P" if t == SCALAR_VALUE and r.precise else ""
    if t == SCALAR_VALUE and r.var_off[1] == 0:
        return prefix + fmt_snum(_signed(r.var_off[0]))
    text = prefix + type_str(t)
    b = base_type(t)
    if b == PTR_TO_STACK:
        if r.frameno != frameno:
            text += f"[{r.frameno}]"
        if r.var_off[1] == 0:
            return text + fmt_snum(_signed(r.var_off[0] + r.off))
    if b == PTR_TO_BTF_ID:
        text += str(r.btf_id or "")
    parts: list[str] = []
    if r.id:
        parts.append(f"id={r.id & ~BPF_ADD_CONST}")
    if r.id & BPF_ADD_CONST:
        parts[-1] += f"{r.off:+d}"
    if r.ref_obj_id:
        parts.append(f"ref_obj_id={r.ref_obj_id}")
    if b in (CONST_PTR_TO_MAP, PTR_TO_MAP_VALUE, PTR_TO_MAP_KEY) and r.map is not None:
        if getattr(r.map, "kernel_name", ""):
            parts.append(f"map={r.map.kernel_name}")
        parts.append(f"ks={r.map.key_size},vs={r.map.value_size}")
    if t != SCALAR_VALUE and r.off:
        parts.append(f"off={fmt_snum(r.off)}")
    if r.is_pkt_pointer():
        parts.append(f"r={fmt_unum(r.range & U64)}")
    if b == PTR_TO_MEM:
        parts.append(f"sz={fmt_unum(r.mem_size)}")
    if t == CONST_PTR_TO_DYNPTR:
        parts.append(f"type={r.dynptr}")
    if r.var_off[1] == 0:
        if r.var_off[0]:
            parts.append(f"imm={fmt_snum(_signed(r.var_off[0]))}")
    else:
        parts.extend(_scalar_ranges(r))
        if r.var_off != tn.UNKNOWN:
            parts.append(f"var_off={tn.to_str(r.var_off)}")
    return text + "(" + ",".join(parts) + ")"


def _signed(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


def slot_str(frame: FuncState, spi: int) -> str | None:
    """Stack slot ``spi`` of ``frame`` as the kernel prints it
    (``fp-8=mmmmmmmm``, ``fp-16=ctx()``), or None for an invalid slot."""
    slot = frame.stack[spi]
    kinds = slot.kinds
    if kinds == "????????":
        return None
    off = (-spi - 1) * BPF_REG_SIZE
    last = kinds[BPF_REG_SIZE - 1]
    if last == STACK_SPILL:
        j = kinds.index(STACK_SPILL)
        assert slot.reg is not None
        return f"fp{off}={kinds[:j]}{reg_str(slot.reg, frame.frameno)}"
    if last in (STACK_DYNPTR, STACK_ITER):
        return f"fp{off}={kinds}"
    return f"fp{off}={kinds}"


def frame_str(frame: FuncState, regs: set[int] | None = None,
              slots: set[int] | None = None) -> str:
    """A frame's state: every register and slot, or only those named."""
    parts = []
    for i, r in enumerate(frame.regs):
        if r.type == 0 or (regs is not None and i not in regs):
            continue
        parts.append(f"R{i}={reg_str(r, frame.frameno)}")
    for spi in range(len(frame.stack)):
        if slots is not None and spi not in slots:
            continue
        s = slot_str(frame, spi)
        if s is not None:
            parts.append(s)
    return " ".join(parts)


def frame_state_str(state: VerifierState, frameno: int, regs: set[int] | None = None,
                    slots: set[int] | None = None) -> str:
    """The kernel's ``print_verifier_state`` for one frame (without its
    leading space): ``frameN:`` when it is not the first, the registers and
    slots, the references held, ``cb``/``async_cb`` in a callback."""
    f = state.frame[frameno]
    text = frame_str(f, regs, slots)
    if frameno:
        text = f"frame{frameno}: " + text
    if state.refs and state.refs[0].id:
        text += " refs=" + ",".join(str(r.id) for r in state.refs if r.id)
    if f.in_callback_fn:
        text += " cb"
    if f.in_async_callback_fn:
        text += " async_cb"
    return text


def state_str(state: VerifierState, regs: set[int] | None = None,
              slots: set[int] | None = None) -> str:
    """The kernel's ``print_verifier_state`` for the current frame."""
    text = frame_state_str(state, state.curframe, regs, slots)
    return " " + text if text else ""


class Log:
    """The verifier log being written: the kernel's lines at ``level`` 1 or
    2 (0: nothing is kept), with the bookkeeping its format needs (the
    alignment of the state printed after an instruction, rewinding the
    lines of a finished path at level 1)."""

    def __init__(self, level: int):
        self.level = level
        self.parts: list[str] = []
        self.size = 0          # characters written so far
        self.insn_start = -1   # where the last instruction's line starts
        self.insn_end = -1     # where it ends (before its newline)

    def __bool__(self) -> bool:
        return self.level > 0

    def write(self, text: str) -> None:
        if self.level:
            self.parts.append(text)
            self.size += len(text)

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def text(self) -> str:
        return "".join(self.parts)

    def mark(self) -> int:
        """A position to rewind to."""
        return len(self.parts)

    def rewind(self, mark: int) -> None:
        del self.parts[mark:]
        self.size = sum(len(p) for p in self.parts)
        self.insn_end = -1

    def insn(self, pc: int, text: str) -> None:
        """An instruction line; a state printed right after it goes on the
        same line after a ``;`` at the kernel's column."""
        line = f"{pc}: {text}"
        self.write(line)
        self.insn_start = self.size - len(text)
        self.write("\n")
        self.insn_end = len(self.parts)

    def state_after(self, pc: int, state_text: str) -> None:
        """The state after instruction ``pc``: on the instruction's line when
        nothing came between, else on a line of its own."""
        if self.insn_end == len(self.parts) and self.parts and self.parts[-1] == "\n":
            self.parts.pop()
            self.size -= 1
            printed = len(self.parts[-1]) + 1
            width = max(printed + LOG_MIN_ALIGNMENT // 2, LOG_ALIGNMENT)
            pad = (width + LOG_MIN_ALIGNMENT - 1) // LOG_MIN_ALIGNMENT * LOG_MIN_ALIGNMENT \
                - printed - 1
            self.write(" " * pad + ";" + state_text + "\n")
        else:
            self.write(f"{pc}:{state_text}\n")
        self.insn_end = -1
