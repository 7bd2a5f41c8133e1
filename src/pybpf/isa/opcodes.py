"""The eBPF opcode table: one entry for every instruction form.

An eBPF instruction is 64 bits: an 8-bit opcode, two 4-bit registers, a
16-bit signed offset and a 32-bit signed immediate (RFC 9669 section 3).  The
opcode alone does not always say what the instruction does: ``sdiv`` is
``div`` with offset 1, ``movsx`` is ``mov`` with offset 8/16/32, the atomic
operation lives in the immediate, and the pseudo-sources of ``lddw`` and
``call`` live in the source register field.  So this table lists *forms*: an
opcode plus the field values that select the form.

Each :class:`OpForm` records the instruction class, what the instruction
does, which fields carry operands (every other field is reserved and must be
zero), the CPU version that introduced it and its RFC 9669 conformance group.
The assembler, disassembler, validator and virtual machine read this table
instead of re-deriving it from bit patterns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# --- instruction classes (the low three bits of the opcode) -----------------
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_JMP32 = 0x06
BPF_ALU64 = 0x07

CLASS_NAMES = {BPF_LD: "ld", BPF_LDX: "ldx", BPF_ST: "st", BPF_STX: "stx",
               BPF_ALU: "alu", BPF_JMP: "jmp", BPF_JMP32: "jmp32", BPF_ALU64: "alu64"}

# --- operand source (bit 3 for ALU and JMP classes) --------------------------
BPF_K = 0x00
BPF_X = 0x08

# --- ALU operations (the high four bits) -------------------------------------
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_MOV = 0xB0
BPF_ARSH = 0xC0
BPF_END = 0xD0

BPF_TO_LE = 0x00
BPF_TO_BE = 0x08

# --- jump operations ---------------------------------------------------------
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_JNE = 0x50
BPF_JSGT = 0x60
BPF_JSGE = 0x70
BPF_CALL = 0x80
BPF_EXIT = 0x90
BPF_JLT = 0xA0
BPF_JLE = 0xB0
BPF_JSLT = 0xC0
BPF_JSLE = 0xD0
BPF_JCOND = 0xE0

# --- load/store size and mode ------------------------------------------------
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_DW = 0x18

BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_MEMSX = 0x80
BPF_ATOMIC = 0xC0

SIZE_MASK = 0x18
"""The bits of a load or store opcode that give its size (BPF_W..BPF_DW)."""
MODE_MASK = 0xE0
"""The bits of a load or store opcode that give its mode (BPF_IMM..BPF_ATOMIC)."""

SIZE_BYTES = {BPF_B: 1, BPF_H: 2, BPF_W: 4, BPF_DW: 8}
SIZE_CODE = {v: k for k, v in SIZE_BYTES.items()}
SIZE_SUFFIX = {1: "b", 2: "h", 4: "w", 8: "dw"}

# --- atomic operations (in the immediate) ------------------------------------
BPF_FETCH = 0x01
BPF_XCHG = 0xE0 | BPF_FETCH
BPF_CMPXCHG = 0xF0 | BPF_FETCH
BPF_LOAD_ACQ = 0x100
BPF_STORE_REL = 0x110

# --- pseudo sources ----------------------------------------------------------
PSEUDO_IMM = 0          # lddw: a plain 64-bit immediate
PSEUDO_MAP_FD = 1       # lddw: imm is a map file descriptor
PSEUDO_MAP_VALUE = 2    # lddw: map fd, offset into element 0 in the next imm
PSEUDO_BTF_ID = 3       # lddw: BTF id of a kernel variable (ksym)
PSEUDO_FUNC = 4         # lddw: address of a subprogram, imm = pc-relative offset
PSEUDO_MAP_IDX = 5      # lddw: imm is an index into the program's map array
PSEUDO_MAP_IDX_VALUE = 6  # lddw: map index, offset in the next imm

PSEUDO_CALL_HELPER = 0  # call: imm is a helper id
PSEUDO_CALL_LOCAL = 1   # call: imm is a pc-relative offset to a subprogram
PSEUDO_CALL_KFUNC = 2   # call: imm is a kernel function's BTF id, off its BTF fd index

ADDR_SPACE_CAST = 1     # offset of ALU64 MOV X that selects addr_space_cast
MAY_GOTO = 0            # src of JMP JCOND that selects may_goto

LDDW_PSEUDO_NAMES = {
    PSEUDO_IMM: "imm", PSEUDO_MAP_FD: "map_fd", PSEUDO_MAP_VALUE: "map_value",
    PSEUDO_BTF_ID: "btf_id", PSEUDO_FUNC: "func", PSEUDO_MAP_IDX: "map_idx",
    PSEUDO_MAP_IDX_VALUE: "map_idx_value",
}


class Kind(enum.Enum):
    """What an instruction form does, at the level the tools care about."""

    ALU = "alu"              # dst = dst <op> src|imm
    NEG = "neg"              # dst = -dst
    MOV = "mov"              # dst = src|imm
    MOVSX = "movsx"          # dst = sign-extended low bits of src
    ADDR_SPACE_CAST = "addr_space_cast"
    END = "end"              # byte order conversion to little or big endian
    BSWAP = "bswap"          # unconditional byte swap
    JA = "ja"                # goto pc + 1 + off
    GOTOL = "gotol"          # goto pc + 1 + imm
    JCOND = "jcond"          # if dst <cmp> src|imm goto pc + 1 + off
    MAY_GOTO = "may_goto"    # goto pc + 1 + off once the loop budget runs out
    CALL = "call"            # helper function by id
    CALL_LOCAL = "call_local"  # bpf-to-bpf call, pc + 1 + imm
    CALL_KFUNC = "call_kfunc"  # kernel function by BTF id
    CALLX = "callx"          # call through a register
    EXIT = "exit"
    LOAD = "load"            # dst = *(uN *)(src + off)
    LOAD_SX = "load_sx"      # dst = *(sN *)(src + off)
    STORE_IMM = "store_imm"  # *(uN *)(dst + off) = imm
    STORE_REG = "store_reg"  # *(uN *)(dst + off) = src
    ATOMIC = "atomic"        # read-modify-write of *(uN *)(dst + off) with src
    LOAD_ACQUIRE = "load_acquire"
    STORE_RELEASE = "store_release"
    LDDW = "lddw"            # dst = 64-bit immediate (two instruction slots)
    LD_ABS = "ld_abs"        # r0 = packet[imm] (legacy packet access)
    LD_IND = "ld_ind"        # r0 = packet[src + imm]


@dataclass(frozen=True)
class OpForm:
    """One instruction form of the table.

    ``name`` is the form's unique mnemonic in the uBPF assembler syntax (for
    example ``add32``, ``sdiv``, ``movsx816``, ``lock fetch add``).  ``fixed``
    holds the field values, besides the opcode, that select this form;
    ``uses`` names the fields that carry operands.  Any field in neither must
    be zero in a valid instruction.
    """

    name: str
    opcode: int
    kind: Kind
    op: str | None = None          # alu operation, jump condition or atomic operation
    source: str | None = None      # "imm" or "reg" where the instruction has both forms
    width: int = 64                # operand width in bits for ALU, jumps and atomics
    size: int = 0                  # memory access size in bytes; byte-swap width in bits
    fetch: bool = False            # atomic that returns the old value in src
    pseudo: int = 0                # pseudo source of lddw and call forms
    uses: frozenset[str] = frozenset()
    fixed: tuple[tuple[str, int], ...] = ()
    version: int = 1               # CPU version (1-4) that introduced the form
    group: str = "base32"          # RFC 9669 conformance group, or "linux" for Linux extensions
    slots: int = 1                 # instruction slots the form occupies

    @property
    def cls(self) -> int:
        """The instruction class (the opcode's low three bits)."""
        return self.opcode & 0x07

    @property
    def reserved(self) -> tuple[str, ...]:
        """Fields that must be zero."""
        named = {f for f, _ in self.fixed} | self.uses
        return tuple(f for f in ("dst", "src", "off", "imm") if f not in named)

    def matches(self, fields: dict[str, int]) -> bool:
        """Whether an instruction with these field values is of this form."""
        return all(fields[f] == v for f, v in self.fixed)

    @property
    def is_jump(self) -> bool:
        """Whether the form transfers control to a pc-relative target."""
        return self.kind in (Kind.JA, Kind.GOTOL, Kind.JCOND, Kind.MAY_GOTO)


ALU_OPS = {"add": BPF_ADD, "sub": BPF_SUB, "mul": BPF_MUL, "div": BPF_DIV, "or": BPF_OR,
           "and": BPF_AND, "lsh": BPF_LSH, "rsh": BPF_RSH, "mod": BPF_MOD, "xor": BPF_XOR,
           "arsh": BPF_ARSH}
JMP_OPS = {"jeq": BPF_JEQ, "jgt": BPF_JGT, "jge": BPF_JGE, "jset": BPF_JSET, "jne": BPF_JNE,
           "jsgt": BPF_JSGT, "jsge": BPF_JSGE, "jlt": BPF_JLT, "jle": BPF_JLE, "jslt": BPF_JSLT,
           "jsle": BPF_JSLE}
ATOMIC_OPS = {"add": BPF_ADD, "or": BPF_OR, "and": BPF_AND, "xor": BPF_XOR}

_V2_JUMPS = {"jlt", "jle", "jslt", "jsle"}


def _build() -> list[OpForm]:
    forms: list[OpForm] = []
    add = forms.append
    dst, src, off, imm = "dst", "src", "off", "imm"

    for cls, width, sfx in ((BPF_ALU64, 64, ""), (BPF_ALU, 32, "32")):
        plain = "base64" if width == 64 else "base32"
        divmul = "divmul64" if width == 64 else "divmul32"
        for op, code in ALU_OPS.items():
            group = divmul if op in ("mul", "div", "mod") else plain
            add(OpForm(op + sfx, cls | code | BPF_K, Kind.ALU, op, "imm", width,
                       uses=frozenset({dst, imm}), group=group))
            add(OpForm(op + sfx, cls | code | BPF_X, Kind.ALU, op, "reg", width,
                       uses=frozenset({dst, src}), group=group))
        for op, code in (("sdiv", BPF_DIV), ("smod", BPF_MOD)):
            add(OpForm(op + sfx, cls | code | BPF_K, Kind.ALU, op, "imm", width,
                       uses=frozenset({dst, imm}), fixed=(("off", 1),), version=4, group=divmul))
            add(OpForm(op + sfx, cls | code | BPF_X, Kind.ALU, op, "reg", width,
                       uses=frozenset({dst, src}), fixed=(("off", 1),), version=4, group=divmul))
        add(OpForm("neg" + sfx, cls | BPF_NEG | BPF_K, Kind.NEG, "neg", None, width,
                   uses=frozenset({dst}), group=plain))
        add(OpForm("mov" + sfx, cls | BPF_MOV | BPF_K, Kind.MOV, "mov", "imm", width,
                   uses=frozenset({dst, imm}), group=plain))
        add(OpForm("mov" + sfx, cls | BPF_MOV | BPF_X, Kind.MOV, "mov", "reg", width,
                   uses=frozenset({dst, src}), group=plain))
        extends = (8, 16, 32) if width == 64 else (8, 16)
        for bits in extends:
            add(OpForm(f"movsx{bits}{width}", cls | BPF_MOV | BPF_X, Kind.MOVSX, "movsx", "reg",
                       width, size=bits // 8, uses=frozenset({dst, src}), fixed=(("off", bits),),
                       version=4, group=plain))
    add(OpForm("addr_space_cast", BPF_ALU64 | BPF_MOV | BPF_X, Kind.ADDR_SPACE_CAST,
               "addr_space_cast", "reg", 64, uses=frozenset({dst, src, imm}),
               fixed=(("off", ADDR_SPACE_CAST),), version=4, group="linux"))

    for order, code in (("le", BPF_TO_LE), ("be", BPF_TO_BE)):
        for bits in (16, 32, 64):
            add(OpForm(f"{order}{bits}", BPF_ALU | BPF_END | code, Kind.END, order, None, 64,
                       size=bits, uses=frozenset({dst}), fixed=(("imm", bits),),
                       group="base64" if bits == 64 else "base32"))
    for bits in (16, 32, 64):
        add(OpForm(f"bswap{bits}", BPF_ALU64 | BPF_END | BPF_TO_LE, Kind.BSWAP, "bswap", None, 64,
                   size=bits, uses=frozenset({dst}), fixed=(("imm", bits),), version=4,
                   group="base64" if bits == 64 else "base32"))

    for cls, width, sfx in ((BPF_JMP, 64, ""), (BPF_JMP32, 32, "32")):
        for op, code in JMP_OPS.items():
            version = 3 if width == 32 else (2 if op in _V2_JUMPS else 1)
            group = "base64" if width == 64 else "base32"
            add(OpForm(op + sfx, cls | code | BPF_K, Kind.JCOND, op, "imm", width,
                       uses=frozenset({dst, off, imm}), version=version, group=group))
            add(OpForm(op + sfx, cls | code | BPF_X, Kind.JCOND, op, "reg", width,
                       uses=frozenset({dst, src, off}), version=version, group=group))
    add(OpForm("ja", BPF_JMP | BPF_JA, Kind.JA, "ja", uses=frozenset({off})))
    add(OpForm("ja32", BPF_JMP32 | BPF_JA, Kind.GOTOL, "ja", uses=frozenset({imm}), version=4))
    add(OpForm("may_goto", BPF_JMP | BPF_JCOND, Kind.MAY_GOTO, "may_goto",
               uses=frozenset({off}), fixed=(("src", MAY_GOTO),), version=4, group="linux"))
    add(OpForm("call", BPF_JMP | BPF_CALL, Kind.CALL, "call", uses=frozenset({imm}),
               fixed=(("src", PSEUDO_CALL_HELPER),), pseudo=PSEUDO_CALL_HELPER))
    add(OpForm("call local", BPF_JMP | BPF_CALL, Kind.CALL_LOCAL, "call", uses=frozenset({imm}),
               fixed=(("src", PSEUDO_CALL_LOCAL),), pseudo=PSEUDO_CALL_LOCAL))
    add(OpForm("call kfunc", BPF_JMP | BPF_CALL, Kind.CALL_KFUNC, "call",
               uses=frozenset({imm, off}), fixed=(("src", PSEUDO_CALL_KFUNC),),
               pseudo=PSEUDO_CALL_KFUNC, group="linux"))
    add(OpForm("callx", BPF_JMP | BPF_CALL | BPF_X, Kind.CALLX, "callx", uses=frozenset({dst}),
               group="callx"))
    add(OpForm("exit", BPF_JMP | BPF_EXIT, Kind.EXIT, "exit"))

    for size, code in ((1, BPF_B), (2, BPF_H), (4, BPF_W), (8, BPF_DW)):
        s = SIZE_SUFFIX[size]
        group = "base64" if size == 8 else "base32"
        add(OpForm("ldx" + s, BPF_LDX | BPF_MEM | code, Kind.LOAD, size=size,
                   uses=frozenset({dst, src, off}), group=group))
        add(OpForm("st" + s, BPF_ST | BPF_MEM | code, Kind.STORE_IMM, size=size,
                   uses=frozenset({dst, off, imm}), group=group))
        add(OpForm("stx" + s, BPF_STX | BPF_MEM | code, Kind.STORE_REG, size=size,
                   uses=frozenset({dst, src, off}), group=group))
        if size < 8:
            add(OpForm("ldxs" + s, BPF_LDX | BPF_MEMSX | code, Kind.LOAD_SX, size=size,
                       uses=frozenset({dst, src, off}), version=4, group="base64"))
        if size < 8:
            add(OpForm("ldabs" + s, BPF_LD | BPF_ABS | code, Kind.LD_ABS, size=size,
                       uses=frozenset({imm}), group="packet"))
            add(OpForm("ldind" + s, BPF_LD | BPF_IND | code, Kind.LD_IND, size=size,
                       uses=frozenset({src, imm}), group="packet"))
        add(OpForm("ldacq" + s, BPF_STX | BPF_ATOMIC | code, Kind.LOAD_ACQUIRE, size=size,
                   width=size * 8, uses=frozenset({dst, src, off}),
                   fixed=(("imm", BPF_LOAD_ACQ),), version=4, group="linux"))
        add(OpForm("strel" + s, BPF_STX | BPF_ATOMIC | code, Kind.STORE_RELEASE, size=size,
                   width=size * 8, uses=frozenset({dst, src, off}),
                   fixed=(("imm", BPF_STORE_REL),), version=4, group="linux"))

    for size, width, sfx in ((8, 64, ""), (4, 32, "32")):
        code = BPF_STX | BPF_ATOMIC | SIZE_CODE[size]
        group = "atomic64" if width == 64 else "atomic32"
        for op, opbits in ATOMIC_OPS.items():
            add(OpForm(f"lock {op}{sfx}", code, Kind.ATOMIC, op, None, width, size=size,
                       uses=frozenset({dst, src, off}), fixed=(("imm", opbits),),
                       version=1 if op == "add" else 3, group=group))
            add(OpForm(f"lock fetch {op}{sfx}", code, Kind.ATOMIC, op, None, width, size=size,
                       fetch=True, uses=frozenset({dst, src, off}),
                       fixed=(("imm", opbits | BPF_FETCH),), version=3, group=group))
        add(OpForm(f"lock xchg{sfx}", code, Kind.ATOMIC, "xchg", None, width, size=size,
                   fetch=True, uses=frozenset({dst, src, off}), fixed=(("imm", BPF_XCHG),),
                   version=3, group=group))
        add(OpForm(f"lock cmpxchg{sfx}", code, Kind.ATOMIC, "cmpxchg", None, width, size=size,
                   fetch=True, uses=frozenset({dst, src, off}), fixed=(("imm", BPF_CMPXCHG),),
                   version=3, group=group))

    for pseudo, pname in LDDW_PSEUDO_NAMES.items():
        add(OpForm("lddw" if pseudo == PSEUDO_IMM else f"lddw {pname}",
                   BPF_LD | BPF_IMM | BPF_DW, Kind.LDDW, "lddw", size=8,
                   uses=frozenset({dst, imm}), fixed=(("src", pseudo),), pseudo=pseudo,
                   group="base64" if pseudo == PSEUDO_IMM else "linux", slots=2))
    return forms


#: Every instruction form, in a stable order.
FORMS: tuple[OpForm, ...] = tuple(_build())

#: Forms sharing each opcode byte, most specific first.
FORMS_BY_OPCODE: dict[int, tuple[OpForm, ...]] = {}
for _f in FORMS:
    FORMS_BY_OPCODE.setdefault(_f.opcode, ())
    FORMS_BY_OPCODE[_f.opcode] += (_f,)
# A form with more fixed fields must be tried before a more general one.
FORMS_BY_OPCODE = {k: tuple(sorted(v, key=lambda f: -len(f.fixed)))
                   for k, v in FORMS_BY_OPCODE.items()}
del _f

#: Forms by their uBPF mnemonic; an ALU or jump mnemonic names two forms (imm and reg).
FORMS_BY_NAME: dict[str, tuple[OpForm, ...]] = {}
for _f in FORMS:
    FORMS_BY_NAME[_f.name] = (*FORMS_BY_NAME.get(_f.name, ()), _f)
del _f


def form_of(opcode: int, dst: int, src: int, off: int, imm: int) -> OpForm | None:
    """The form an instruction with these fields belongs to, or None if the
    fields select no form (an unknown opcode or an unknown variant)."""
    candidates = FORMS_BY_OPCODE.get(opcode)
    if not candidates:
        return None
    fields = {"dst": dst, "src": src, "off": off, "imm": imm}
    for form in candidates:
        if form.matches(fields):
            return form
    return None
