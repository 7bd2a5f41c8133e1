"""Disassembler: instructions to text in two syntaxes.

``ubpf`` is the syntax of the uBPF assembler and the bpf_conformance suite
(``mov %r0, 1``, ``ldxdw %r0, [%r1+8]``, ``lock fetch add [%r10-8], %r1``).
``llvm`` is the syntax ``llvm-objdump -d`` and the kernel verifier log print
(``r0 = 1``, ``r0 = *(u64 *)(r1 + 8)``, ``if r1 != 6 goto +3``).

Every text this module prints assembles back to the same slots.  Slots that
are not valid instructions print as ``.insn opcode, dst, src, off, imm`` so
that even garbage round-trips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .insn import Insn, format_raw, set_text_formatter
from .opcodes import (
    PSEUDO_BTF_ID,
    PSEUDO_FUNC,
    PSEUDO_IMM,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    Kind,
    OpForm,
)
from .validate import lddw_tail_problem, slot_problem

SYNTAXES = ("ubpf", "llvm")

LLVM_ALU_OPS = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "or": "|=", "and": "&=",
                "lsh": "<<=", "rsh": ">>=", "mod": "%=", "xor": "^=", "arsh": "s>>=",
                "sdiv": "s/=", "smod": "s%="}
LLVM_JMP_OPS = {"jeq": "==", "jne": "!=", "jgt": ">", "jge": ">=", "jlt": "<", "jle": "<=",
                "jsgt": "s>", "jsge": "s>=", "jslt": "s<", "jsle": "s<=", "jset": "&"}
LLVM_ATOMIC_OPS = {"add": "+=", "or": "|=", "and": "&=", "xor": "^="}


class _Context:
    """What formatting one instruction may need besides the instruction."""

    def __init__(self, pc: int | None, labels: Mapping[int, str] | None,
                 helper_names: Mapping[int, str] | Callable[[int], str | None] | None):
        self.pc = pc
        self.labels = labels or {}
        self.helper_names = helper_names

    def target(self, offset: int) -> str:
        if self.pc is not None:
            name = self.labels.get(self.pc + 1 + offset)
            if name is not None:
                return name
        return f"{offset:+d}"

    def helper(self, helper_id: int) -> str | None:
        names = self.helper_names
        if names is None:
            return None
        if callable(names):
            return names(helper_id)
        return names.get(helper_id)


def is_valid_slot_group(insns: Sequence[Insn], pc: int, form: OpForm | None) -> bool:
    """Whether the instruction at ``pc`` (with its lddw tail) prints as an
    instruction rather than as raw ``.insn`` slots."""
    insn = insns[pc]
    if form is None or slot_problem(insn, form, 4, True) is not None:
        return False
    return not (form.kind is Kind.LDDW and lddw_tail_problem(insns, pc) is not None)


def format_insn(insn: Insn, next_insn: Insn | None = None, *, syntax: str = "ubpf",
                pc: int | None = None, labels: Mapping[int, str] | None = None,
                helper_names: Mapping[int, str] | Callable[[int], str | None] | None = None
                ) -> str:
    """One instruction as text.  ``next_insn`` is the second slot of an
    ``lddw``; ``pc`` and ``labels`` let jump targets print as label names."""
    insn = Insn(*insn)
    slots = [insn] if next_insn is None else [insn, Insn(*next_insn)]
    form = insn.form
    if not is_valid_slot_group(slots, 0, form):
        return format_raw(insn)
    assert form is not None
    imm64 = None
    if form.kind is Kind.LDDW:
        imm64 = ((slots[1].imm & 0xFFFFFFFF) << 32) | (insn.imm & 0xFFFFFFFF)
    ctx = _Context(pc, labels, helper_names)
    if syntax == "ubpf":
        return _ubpf(insn, form, imm64, slots, ctx)
    if syntax == "llvm":
        return _llvm(insn, form, imm64, slots, ctx)
    raise ValueError(f"unknown syntax {syntax!r}; choose one of {SYNTAXES}")


set_text_formatter(format_insn)


def disassemble(insns: Sequence[Insn], *, syntax: str = "ubpf", labels: bool = False,
                pcs: bool = False,
                helper_names: Mapping[int, str] | Callable[[int], str | None] | None = None,
                annotate: Callable[[int], str | None] | None = None) -> str:
    """A whole program as text, one instruction per line.

    ``labels`` names jump and call targets (``L<pc>``) instead of printing
    offsets; ``pcs`` prefixes each line with its slot index as a comment-free
    ``N:`` column (not re-assemblable); ``annotate(pc)`` may return a comment
    to print above the instruction (source lines, for example).
    """
    insns = [Insn(*i) for i in insns]
    label_map = _label_map(insns) if labels else {}
    comment = "#" if syntax == "ubpf" else ";"
    lines: list[str] = []
    for pc, form in _instruction_starts(insns):
        note = annotate(pc) if annotate else None
        if note:
            lines.extend(f"{comment} {text}" for text in note.splitlines())
        if pc in label_map:
            lines.append(f"{label_map[pc]}:")
        if form is not None:
            tail = insns[pc + 1] if form.slots == 2 else None
            text = format_insn(insns[pc], tail, syntax=syntax, pc=pc, labels=label_map,
                               helper_names=helper_names)
        else:
            text = format_raw(insns[pc])
        lines.append(f"{pc:5d}: {text}" if pcs else text)
    return "\n".join(lines) + ("\n" if lines else "")


def _instruction_starts(insns: Sequence[Insn]) -> list[tuple[int, OpForm | None]]:
    """(pc, form) of every instruction; form is None for a slot printed raw."""
    out: list[tuple[int, OpForm | None]] = []
    pc = 0
    while pc < len(insns):
        form = insns[pc].form
        if is_valid_slot_group(insns, pc, form):
            out.append((pc, form))
            pc += form.slots
        else:
            out.append((pc, None))
            pc += 1
    return out


def _label_map(insns: Sequence[Insn]) -> dict[int, str]:
    starts = _instruction_starts(insns)
    targets: set[int] = set()
    for pc, form in starts:
        insn = insns[pc]
        if form is None:
            continue
        if form.kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO):
            targets.add(pc + 1 + insn.off)
        elif form.kind in (Kind.GOTOL, Kind.CALL_LOCAL) or (
                form.kind is Kind.LDDW and form.pseudo == PSEUDO_FUNC):
            targets.add(pc + 1 + insn.imm)
    valid = {pc for pc, _ in starts}
    return {t: f"L{t}" for t in sorted(targets) if t in valid}


# --- shared operand notation -------------------------------------------------

def _imm(v: int) -> str:
    """A 32-bit immediate: decimal when small, hex (unsigned) when large."""
    if -0x10000 < v < 0x10000:
        return str(v)
    return f"0x{v & 0xFFFFFFFF:x}"


def _pseudo_operand(form: OpForm, insn: Insn, slots: Sequence[Insn], ctx: _Context) -> str:
    hi = slots[1].imm
    if form.pseudo == PSEUDO_MAP_FD:
        return f"map[fd:{insn.imm}]"
    if form.pseudo == PSEUDO_MAP_VALUE:
        return f"map[fd:{insn.imm}][0]+{_imm(hi)}"
    if form.pseudo == PSEUDO_MAP_IDX:
        return f"map[idx:{insn.imm}]"
    if form.pseudo == PSEUDO_MAP_IDX_VALUE:
        return f"map[idx:{insn.imm}][0]+{_imm(hi)}"
    if form.pseudo == PSEUDO_BTF_ID:
        return f"btf_var[id:{insn.imm}]" if hi == 0 else f"btf_var[id:{insn.imm},btf:{hi}]"
    if form.pseudo == PSEUDO_FUNC:
        return f"func[{ctx.target(insn.imm)}]"
    raise AssertionError(form)


# --- uBPF syntax -------------------------------------------------------------

def _ubpf_mem(reg: int, off: int) -> str:
    return f"[%r{reg}{off:+d}]"


def _ubpf(insn: Insn, form: OpForm, imm64: int | None, slots: Sequence[Insn],
          ctx: _Context) -> str:
    k = form.kind
    d, s = f"%r{insn.dst}", f"%r{insn.src}"
    name = form.name
    if k in (Kind.ALU, Kind.MOV):
        return f"{name} {d}, {s if form.source == 'reg' else _imm(insn.imm)}"
    if k in (Kind.NEG, Kind.END, Kind.BSWAP):
        return f"{name} {d}"
    if k is Kind.MOVSX:
        return f"{name} {d}, {s}"
    if k is Kind.ADDR_SPACE_CAST:
        return f"{name} {d}, {s}, {(insn.imm >> 16) & 0xFFFF}, {insn.imm & 0xFFFF}"
    if k is Kind.JCOND:
        rhs = s if form.source == "reg" else _imm(insn.imm)
        return f"{name} {d}, {rhs}, {ctx.target(insn.off)}"
    if k in (Kind.JA, Kind.MAY_GOTO):
        return f"{name} {ctx.target(insn.off)}"
    if k is Kind.GOTOL:
        return f"{name} {ctx.target(insn.imm)}"
    if k is Kind.CALL:
        return f"call {insn.imm}"
    if k is Kind.CALL_LOCAL:
        return f"call local {ctx.target(insn.imm)}"
    if k is Kind.CALL_KFUNC:
        return f"call kfunc {insn.imm}" + (f", {insn.off}" if insn.off else "")
    if k is Kind.CALLX:
        return f"callx {d}"
    if k is Kind.EXIT:
        return "exit"
    if k in (Kind.LOAD, Kind.LOAD_SX, Kind.LOAD_ACQUIRE):
        return f"{name} {d}, {_ubpf_mem(insn.src, insn.off)}"
    if k is Kind.STORE_IMM:
        return f"{name} {_ubpf_mem(insn.dst, insn.off)}, {_imm(insn.imm)}"
    if k in (Kind.STORE_REG, Kind.ATOMIC, Kind.STORE_RELEASE):
        return f"{name} {_ubpf_mem(insn.dst, insn.off)}, {s}"
    if k is Kind.LDDW:
        if form.pseudo == PSEUDO_IMM:
            assert imm64 is not None
            return f"lddw {d}, 0x{imm64:x}"
        return f"lddw {d}, {_pseudo_operand(form, insn, slots, ctx)}"
    if k is Kind.LD_ABS:
        return f"{name} {_imm(insn.imm)}"
    if k is Kind.LD_IND:
        return f"{name} {s}, {_imm(insn.imm)}"
    raise AssertionError(k)


# --- kernel / LLVM syntax ----------------------------------------------------

def _llvm_mem(reg: int, off: int) -> str:
    return f"(r{reg} {'-' if off < 0 else '+'} {abs(off)})"


def _llvm(insn: Insn, form: OpForm, imm64: int | None, slots: Sequence[Insn],
          ctx: _Context) -> str:
    k = form.kind
    w = "w" if form.width == 32 else "r"
    d, s = f"{w}{insn.dst}", f"{w}{insn.src}"
    if k is Kind.ALU:
        rhs = s if form.source == "reg" else _imm(insn.imm)
        return f"{d} {LLVM_ALU_OPS[form.op]} {rhs}"
    if k is Kind.MOV:
        return f"{d} = {s if form.source == 'reg' else _imm(insn.imm)}"
    if k is Kind.NEG:
        return f"{d} = -{d}"
    if k is Kind.MOVSX:
        return f"{d} = (s{form.size * 8}){s}"
    if k is Kind.ADDR_SPACE_CAST:
        return (f"r{insn.dst} = addr_space_cast(r{insn.src}, {(insn.imm >> 16) & 0xFFFF}, "
                f"{insn.imm & 0xFFFF})")
    if k in (Kind.END, Kind.BSWAP):
        op = form.name[:-len(str(form.size))]
        return f"r{insn.dst} = {op}{form.size} r{insn.dst}"
    if k is Kind.JCOND:
        rhs = s if form.source == "reg" else _imm(insn.imm)
        return f"if {d} {LLVM_JMP_OPS[form.op]} {rhs} goto {ctx.target(insn.off)}"
    if k is Kind.JA:
        return f"goto {ctx.target(insn.off)}"
    if k is Kind.GOTOL:
        return f"gotol {ctx.target(insn.imm)}"
    if k is Kind.MAY_GOTO:
        return f"may_goto {ctx.target(insn.off)}"
    if k is Kind.CALL:
        name = ctx.helper(insn.imm)
        helper = str(insn.imm) if insn.imm >= 0 else f"0x{insn.imm & 0xFFFFFFFF:x}"
        return f"call {name}#{helper}" if name else f"call {helper}"
    if k is Kind.CALL_LOCAL:
        target = ctx.target(insn.imm)
        return f"call {target}" if target[0] not in "+-" else f"call pc{target}"
    if k is Kind.CALL_KFUNC:
        extra = f",btf:{insn.off}" if insn.off else ""
        return f"call kfunc[id:{insn.imm}{extra}]"
    if k is Kind.CALLX:
        return f"callx r{insn.dst}"
    if k is Kind.EXIT:
        return "exit"
    if k is Kind.LOAD:
        return f"r{insn.dst} = *(u{form.size * 8} *){_llvm_mem(insn.src, insn.off)}"
    if k is Kind.LOAD_SX:
        return f"r{insn.dst} = *(s{form.size * 8} *){_llvm_mem(insn.src, insn.off)}"
    if k is Kind.STORE_IMM:
        return f"*(u{form.size * 8} *){_llvm_mem(insn.dst, insn.off)} = {_imm(insn.imm)}"
    if k is Kind.STORE_REG:
        return f"*(u{form.size * 8} *){_llvm_mem(insn.dst, insn.off)} = r{insn.src}"
    if k is Kind.ATOMIC:
        ptr = f"(u{form.size * 8} *){_llvm_mem(insn.dst, insn.off)}"
        a = "atomic64" if form.width == 64 else "atomic"
        if not form.fetch:
            return f"lock *{ptr} {LLVM_ATOMIC_OPS[form.op]} {s}"
        if form.op == "cmpxchg":
            return f"{w}0 = {a}_cmpxchg({ptr}, {w}0, {s})"
        if form.op == "xchg":
            return f"{s} = {a}_xchg({ptr}, {s})"
        return f"{s} = {a}_fetch_{form.op}({ptr}, {s})"
    if k is Kind.LOAD_ACQUIRE:
        return f"r{insn.dst} = load_acquire((u{form.size * 8} *){_llvm_mem(insn.src, insn.off)})"
    if k is Kind.STORE_RELEASE:
        return (f"store_release((u{form.size * 8} *){_llvm_mem(insn.dst, insn.off)}, "
                f"r{insn.src})")
    if k is Kind.LDDW:
        if form.pseudo == PSEUDO_IMM:
            assert imm64 is not None
            return f"r{insn.dst} = 0x{imm64:x} ll"
        return f"r{insn.dst} = {_pseudo_operand(form, insn, slots, ctx)} ll"
    if k is Kind.LD_ABS:
        return f"r0 = *(u{form.size * 8} *)skb[{insn.imm}]"
    if k is Kind.LD_IND:
        off = insn.imm
        return f"r0 = *(u{form.size * 8} *)skb[r{insn.src} {'-' if off < 0 else '+'} {abs(off)}]"
    raise AssertionError(k)
