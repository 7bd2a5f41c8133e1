"""What every eBPF instruction does: the executable specification of the
instruction set (RFC 9669 plus the Linux extensions).

:data:`SEMANTICS` holds one :class:`Semantics` entry for every form of the
opcode table (:data:`pybpf.isa.FORMS`); :func:`semantics_of` looks one up.
An entry says what the form does in terms any code generator can use (the
operation, its width, whether its operands are signed, the bytes it moves,
how it changes the flow of control) and gives the Python statement that
performs it on the registers ``r0``..``r10``, which always hold unsigned
64-bit values.  The interpreter (:mod:`pybpf.vm.interpreter`) stitches these
statements into straight-line code per basic block; a compiler to another
target reads the same entries and ignores the Python.

The RFC's corner cases are spelled out: division by zero gives 0, modulo by
zero leaves the dividend, shift counts are masked to the width, ``INT_MIN /
-1`` wraps to ``INT_MIN``, 32-bit results are zero-extended.

Placeholders
------------
An entry's ``statement`` and ``condition`` are :meth:`str.format`
templates over these placeholders (and no others):

``{d}``, ``{s}``
    the destination and source registers, ``r0``..``r10``.
``{k}``
    the immediate sign-extended to the operation's width and read as
    unsigned, as a hex literal.
``{k_flipped}``
    ``{k}`` with the width's sign bit flipped.  Signed comparisons flip the
    sign bit of both operands, which turns signed order into unsigned order.
``{src}``
    the second operand: ``{s}`` in a register form, ``{k}`` in an
    immediate form.
``{imm}``, ``{off}``
    the immediate and the offset as signed decimals.
``{size}``
    the bytes the instruction accesses (the entry's ``size``).
``{next}``
    the pc of the next instruction.
``{value}``
    ``lddw``: the 64-bit value loaded (the immediate, or what the reference
    resolved to), as a hex literal.

Names the statements use
------------------------
Besides the registers, a statement uses the functions and constants of
this module listed in :data:`RUNTIME_NAMES`, names the code running the
statements provides (:data:`ENVIRONMENT_NAMES`) and the state of the
generated function (:data:`STATE_NAMES`).  The generated code records the
pc before a statement that can fail at run time (an entry's ``faults``) so
that the error names the instruction.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..isa.opcodes import (
    FORMS_BY_NAME,
    LDDW_PSEUDO_NAMES,
    PSEUDO_FUNC,
    PSEUDO_IMM,
    SIZE_SUFFIX,
    OpForm,
)
from ..spec import helper_id

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64 = 1 << 63
S32 = 1 << 31

#: bpf_tail_call replaces the running program, so its call is a statement of its own.
TAIL_CALL_ID = helper_id("tail_call")


def signed64(v: int) -> int:
    """The signed value of a 64-bit register."""
    return (v ^ S64) - S64


def signed32(v: int) -> int:
    """The signed value of the low 32 bits of a register."""
    return ((v & M32) ^ S32) - S32


def sdiv64(a: int, b: int) -> int:
    """Signed 64-bit division truncating toward zero; x / 0 = 0."""
    if b == 0:
        return 0
    a, b = signed64(a), signed64(b)
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M64


def smod64(a: int, b: int) -> int:
    """Signed 64-bit remainder with the dividend's sign; x % 0 = x."""
    if b == 0:
        return a
    a, b = signed64(a), signed64(b)
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M64


def sdiv32(a: int, b: int) -> int:
    """Signed 32-bit division truncating toward zero; x / 0 = 0."""
    if b & M32 == 0:
        return 0
    a, b = signed32(a), signed32(b)
    q = abs(a) // abs(b)
    return (-q if (a < 0) != (b < 0) else q) & M32


def smod32(a: int, b: int) -> int:
    """Signed 32-bit remainder with the dividend's sign; x % 0 = x (zero-extended)."""
    if b & M32 == 0:
        return a & M32
    a, b = signed32(a), signed32(b)
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & M32


def bswap16(v: int) -> int:
    """Swap the bytes of the low 16 bits (upper bits cleared)."""
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def bswap32(v: int) -> int:
    """Swap the bytes of the low 32 bits (upper bits cleared)."""
    return int.from_bytes((v & M32).to_bytes(4, "little"), "big")


def bswap64(v: int) -> int:
    """Swap the bytes of the 64-bit register."""
    return int.from_bytes(v.to_bytes(8, "little"), "big")


def sign_extend(v: int, bits: int) -> int:
    """The low ``bits`` of ``v`` sign-extended to 64 bits (unsigned result)."""
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    return (((v & mask) ^ sign) - sign) & M64


#: Names the generated code may use besides the registers: this module's own.
RUNTIME_NAMES = {
    "M64": M64, "M32": M32, "S64": S64, "S32": S32,
    "signed64": signed64, "signed32": signed32,
    "sdiv64": sdiv64, "smod64": smod64, "sdiv32": sdiv32, "smod32": smod32,
    "bswap16": bswap16, "bswap32": bswap32, "bswap64": bswap64, "sign_extend": sign_extend,
}

#: Names the code running the statements must provide, and what each is.
ENVIRONMENT_NAMES = {
    **{f"LD{n}": f"LD{n}(address): the unsigned {n}-byte little-endian value at address"
       for n in (1, 2, 4, 8)},
    **{f"LDS{n}": f"LDS{n}(address): the {n}-byte value at address sign-extended to 64 bits "
                  f"(read as unsigned)" for n in (1, 2, 4)},
    **{f"ST{n}": f"ST{n}(address, value): store the low {n} bytes of value at address"
       for n in (1, 2, 4, 8)},
    "PACKET": "PACKET(offset, size): the big-endian value at offset in the packet; "
              "out of bounds, the program returns 0",
    "H<id>": "H12 etc. (see helper_name): the helper with that id, a callable taking r1..r5 "
             "and returning r0",
    "TAILCALL": "TAILCALL(r1, r2, r3, depth, n): (r0, instructions executed so far) once the "
                "program the tail call ran has exited, or None when it falls through",
    "METER": "the run's instruction count while a helper runs: METER.n is set to n before the "
             "call and read back after it, so callbacks the helper makes count on from it",
    "ATOMIC": "a lock held around the read and the write of an atomic operation, so that "
              "threads running programs on shared memory do not interleave them",
    "CALLX": "CALLX(address): (True, helper) or (False, pc of the function) for callx",
    "ENTER": "ENTER(depth): activate a fresh stack frame for that call depth, returning its r10",
    "LEAVE": "LEAVE(depth): release the stack frame of that call depth",
    "ARENA_BASE": "the upper 32 bits of arena addresses in the kernel's address space",
    "VMError": "the error an instruction that cannot run raises",
}

#: The state of the generated function the statements read and write.
STATE_NAMES = {
    "pc": "the pc to continue at (control transfers set it)",
    "at": "the pc an error is reported at",
    "n": "instructions executed so far",
    "depth": "the current call depth (0 in the entry function)",
    "frames": "(return pc, r6, r7, r8, r9, r10) of each bpf-to-bpf call in progress",
    "budget": "may_goto iterations left",
    "addr": "scratch: the address of an atomic operation",
    "old": "scratch: the memory value an atomic operation read",
    "tail": "scratch: the result of a tail call",
    "is_helper": "scratch: whether callx calls a helper",
    "target": "scratch: the helper or pc callx calls",
}


def helper_name(helper: int) -> str:
    """The name the generated code calls helper ``helper`` (the call's imm) by."""
    return f"H{helper & M32}"


# --- the shape of an entry -------------------------------------------------------

class Control(enum.Enum):
    """How a form changes the flow of control."""

    NEXT = "next"          # continues with the next instruction
    JUMP = "jump"          # continues at the target
    BRANCH = "branch"      # continues at the target when the condition holds, else the next
    CALL = "call"          # calls the function at the target, which returns to the next
    INDIRECT = "indirect"  # the statement sets pc and continues there itself (callx)
    EXIT = "exit"          # returns to the caller (the statement does it)


class Operands(NamedTuple):
    """One instruction's operands: its pc, register numbers, offset and
    immediate, and for ``lddw`` the 64-bit value (None: an unresolved reference)."""

    pc: int
    dst: int
    src: int
    off: int
    imm: int
    value: int | None = None


#: Builds the statement of a form whose code depends on operand values.
Emitter = Callable[["Semantics", Operands], str]


@dataclass(frozen=True)
class Semantics:
    """What one instruction form does.

    ``operation`` names it (see :data:`OPERATIONS`).  ``width`` is the
    number of bits it computes on (ALU operations, comparisons, atomics; 64
    elsewhere), ``signed`` whether it reads its operands as two's complement
    and ``size`` the bytes it moves to or from memory, sign-extends
    (``movsx``) or byte-swaps.  ``source`` says where the second operand
    comes from: ``"reg"`` (the source register), ``"imm"`` (the immediate)
    or None.  ``fetch``: an atomic operation that returns the old value.
    ``reference``: what an ``lddw`` loads the address of (a pseudo source
    name such as ``"map_fd"``; None for a plain immediate).

    ``control`` says where execution continues; ``target`` names the field
    ("off" or "imm") that holds a pc-relative code target: where a jump or a
    call goes, or (for a form that continues with the next instruction) the
    function whose address ``lddw func`` loads.  ``faults``: the statement
    can fail at run time (a memory access, a call).

    ``statement`` is the Python the interpreter runs, ``condition`` the
    Python expression a branch tests, both templates over the placeholders
    of the module docstring; ``emitter``, when set, builds the statement
    instead from the operands' values.
    """

    operation: str
    width: int = 64
    signed: bool = False
    size: int = 0
    source: str | None = None
    fetch: bool = False
    reference: str | None = None
    control: Control = Control.NEXT
    target: str | None = None
    faults: bool = False
    statement: str = ""
    condition: str = ""
    emitter: Emitter | None = None

    def fields(self, operands: Operands) -> dict[str, object]:
        """The placeholder values for one instruction of this form."""
        k = operands.imm & (M64 if self.width == 64 else M32)
        sign = S64 if self.width == 64 else S32
        s = f"r{operands.src}"
        return {"d": f"r{operands.dst}", "s": s, "k": hex(k), "k_flipped": hex(k ^ sign),
                "src": s if self.source == "reg" else hex(k), "imm": operands.imm,
                "off": operands.off, "size": self.size, "next": operands.pc + 1,
                "value": None if operands.value is None else hex(operands.value & M64)}

    def statement_for(self, operands: Operands) -> str:
        """The Python statement(s) for one instruction of this form."""
        if self.emitter is not None:
            return self.emitter(self, operands)
        if not self.statement:
            return ""
        return self.statement.format_map(self.fields(operands))

    def condition_for(self, operands: Operands) -> str:
        """The Python expression a branch of this form tests."""
        return self.condition.format_map(self.fields(operands))

    def target_pc(self, operands: Operands) -> int:
        """The pc the target field points at (``target`` must be set)."""
        return operands.pc + 1 + (operands.off if self.target == "off" else operands.imm)

    @property
    def enters_function(self) -> bool:
        """Whether the target is a function entry (a local call, or the
        function whose address the instruction loads)."""
        return self.target is not None and self.control in (Control.CALL, Control.NEXT)


# --- operations -------------------------------------------------------------------

ALU64 = {
    "add": "{d} = ({d} + {src}) & M64",
    "sub": "{d} = ({d} - {src}) & M64",
    "mul": "{d} = ({d} * {src}) & M64",
    "div": "{d} = {d} // {src} if {src} else 0",
    "sdiv": "{d} = sdiv64({d}, {src})",
    "mod": "{d} = {d} % {src} if {src} else {d}",
    "smod": "{d} = smod64({d}, {src})",
    "or": "{d} = {d} | {src}",
    "and": "{d} = {d} & {src}",
    "xor": "{d} = {d} ^ {src}",
    "lsh": "{d} = ({d} << ({src} & 63)) & M64",
    "rsh": "{d} = {d} >> ({src} & 63)",
    "arsh": "{d} = (signed64({d}) >> ({src} & 63)) & M64",
    "mov": "{d} = {src}",
    "neg": "{d} = -{d} & M64",
}

ALU32 = {
    "add": "{d} = ({d} + {src}) & M32",
    "sub": "{d} = ({d} - {src}) & M32",
    "mul": "{d} = ({d} * {src}) & M32",
    "div": "{d} = ({d} & M32) // ({src} & M32) if {src} & M32 else 0",
    "sdiv": "{d} = sdiv32({d}, {src})",
    "mod": "{d} = ({d} & M32) % ({src} & M32) if {src} & M32 else {d} & M32",
    "smod": "{d} = smod32({d}, {src})",
    "or": "{d} = ({d} | {src}) & M32",
    "and": "{d} = {d} & {src} & M32",
    "xor": "{d} = ({d} ^ {src}) & M32",
    "lsh": "{d} = ({d} << ({src} & 31)) & M32",
    "rsh": "{d} = ({d} & M32) >> ({src} & 31)",
    "arsh": "{d} = (signed32({d}) >> ({src} & 31)) & M32",
    "mov": "{d} = {src} & M32",
    "neg": "{d} = -{d} & M32",
}

#: ALU mnemonics that are the signed variant of an operation.
SIGNED_ALU = {"sdiv": "div", "smod": "mod", "arsh": "rsh"}

# movsx by (width, bits): the low bits of the source, sign-extended.
MOVSX = {
    (64, 8): "{d} = sign_extend({s}, 8) & M64",
    (64, 16): "{d} = sign_extend({s}, 16) & M64",
    (64, 32): "{d} = sign_extend({s}, 32) & M64",
    (32, 8): "{d} = sign_extend({s}, 8) & M32",
    (32, 16): "{d} = sign_extend({s}, 16) & M32",
}

# Byte order conversion on a little-endian machine: "le" truncates, "be" swaps.
END = {
    ("le", 16): "{d} = {d} & 0xFFFF",
    ("le", 32): "{d} = {d} & M32",
    ("le", 64): "pass",
    ("be", 16): "{d} = bswap16({d})",
    ("be", 32): "{d} = bswap32({d})",
    ("be", 64): "{d} = bswap64({d})",
    ("bswap", 16): "{d} = bswap16({d})",
    ("bswap", 32): "{d} = bswap32({d})",
    ("bswap", 64): "{d} = bswap64({d})",
}

# addr_space_cast: from the arena (1) to the kernel space (0) the 32-bit arena
# offset gains the arena's upper address bits; the other way keeps 32 bits.
# The (destination, source) address spaces are in the immediate.
ADDR_SPACE_CAST = {
    (0, 1): "{d} = (ARENA_BASE | ({s} & M32)) if {s} & M32 else 0",
    (1, 0): "{d} = {s} & M32",
}

# Conditional jumps: each condition is a Python operator and whether the
# comparison is signed.  "jset" jumps when the operands share a set bit.
CONDITIONS = {
    "jeq": ("==", False),
    "jne": ("!=", False),
    "jgt": (">", False),
    "jge": (">=", False),
    "jlt": ("<", False),
    "jle": ("<=", False),
    "jset": ("&", False),
    "jsgt": (">", True),
    "jsge": (">=", True),
    "jslt": ("<", True),
    "jsle": ("<=", True),
}

# The two sides of a comparison by (width, signed, source): signed comparisons
# flip the sign bit of both, which turns signed order into unsigned order.
COMPARED = {
    (64, False, "reg"): ("{d}", "{s}"),
    (64, False, "imm"): ("{d}", "{k}"),
    (64, True, "reg"): ("({d} ^ S64)", "({s} ^ S64)"),
    (64, True, "imm"): ("({d} ^ S64)", "{k_flipped}"),
    (32, False, "reg"): ("({d} & M32)", "({s} & M32)"),
    (32, False, "imm"): ("({d} & M32)", "{k}"),
    (32, True, "reg"): ("(({d} & M32) ^ S32)", "(({s} & M32) ^ S32)"),
    (32, True, "imm"): ("(({d} & M32) ^ S32)", "{k_flipped}"),
}

# Atomics read the old memory value, then store the new one from it and the
# source (the store keeps the low bytes of the access size), holding ATOMIC so
# that another thread cannot slip in between; the fetching forms return the old
# value in the source register.
ATOMIC_READ = "addr = {d} + {off}\nwith ATOMIC:\n    old = LD{size}(addr)\n    "
ATOMIC_WRITE = {
    "add": "ST{size}(addr, old + {s})",
    "or": "ST{size}(addr, old | {s})",
    "and": "ST{size}(addr, old & {s})",
    "xor": "ST{size}(addr, old ^ {s})",
    "xchg": "ST{size}(addr, {s})",
}
ATOMIC_FETCH = "\n{s} = old"
# cmpxchg by width: store when memory holds r0 (its low 32 bits for the 32-bit form).
ATOMIC_CMPXCHG = {
    64: ATOMIC_READ + "if old == r0 & 0xffffffffffffffff:\n        ST{size}(addr, {s})\nr0 = old",
    32: ATOMIC_READ + "if old == r0 & 0xffffffff:\n        ST{size}(addr, {s})\nr0 = old",
}

# Memory: LD<size>, LDS<size> and ST<size> access the address space; PACKET
# reads the packet of a legacy packet load.
LOAD = "{d} = LD{size}({s} + {off})"
LOAD_SX = "{d} = LDS{size}({s} + {off})"
STORE_IMM = "ST{size}({d} + {off}, {k})"
STORE_REG = "ST{size}({d} + {off}, {s})"
LOAD_ABS = "r0 = PACKET({imm}, {size})"
LOAD_IND = "r0 = PACKET(signed32({s} + {imm}), {size})"

# Calls and returns.  A bpf-to-bpf call saves the return pc and the callee-saved
# registers and enters a fresh stack frame; exit returns to the caller's frame
# or, in the entry function, ends the run.
CALL_LOCAL = "frames.append(({next}, r6, r7, r8, r9, r10))\ndepth += 1\nr10 = ENTER(depth)"
RETURN = ("if frames:\n"
          "    LEAVE(depth)\n"
          "    depth -= 1\n"
          "    pc, r6, r7, r8, r9, r10 = frames.pop()\n"
          "    continue\n"
          "return r0, n")
CALLX = ("is_helper, target = CALLX({d})\n"
         "if is_helper:\n"
         "    METER.n = n\n"
         "    r0 = target(r1, r2, r3, r4, r5) & M64\n"
         "    n = METER.n\n"
         "    pc = {next}\n"
         "else:\n"
         "    frames.append(({next}, r6, r7, r8, r9, r10))\n"
         "    depth += 1\n"
         "    r10 = ENTER(depth)\n"
         "    pc = target\n"
         "continue")
# A successful tail call replaces this frame: its result is this frame's exit.
# The called program counts on from this one's count (one budget per run).
TAIL_CALL = ("tail = TAILCALL(r1, r2, r3, depth, n)\n"
             "if tail is not None:\n"
             "    r0, n = tail\n"
             "    if frames:\n"
             "        LEAVE(depth)\n"
             "        depth -= 1\n"
             "        pc, r6, r7, r8, r9, r10 = frames.pop()\n"
             "        continue\n"
             "    return r0, n")
LOAD_IMM64 = "{d} = {value}"
KFUNC = "raise VMError('kernel function calls (kfunc #{imm}) cannot run in the userspace VM')"


def fault(pc: int, message: str) -> str:
    """A statement that stops the run with ``message`` at ``pc``."""
    return f"at = {pc}\nraise VMError({message!r})"


# --- emitters: statements that depend on the operands' values ---------------------

def call_helper(sem: Semantics, ops: Operands) -> str:
    """``call``: r0 = the helper's result (r1..r5 the arguments), the
    instruction count handed to the helper and back (callbacks it makes
    count against the same budget); a tail call that succeeds ends this
    function with the called program's r0."""
    if ops.imm == TAIL_CALL_ID:
        return TAIL_CALL
    return f"METER.n = n\nr0 = {helper_name(ops.imm)}(r1, r2, r3, r4, r5) & M64\nn = METER.n"


def addr_space_cast(sem: Semantics, ops: Operands) -> str:
    """``addr_space_cast``: the statement for the spaces in the immediate;
    an unknown pair of spaces stops the run."""
    spaces = ((ops.imm >> 16) & 0xFFFF, ops.imm & 0xFFFF)
    template = ADDR_SPACE_CAST.get(spaces)
    if template is None:
        return fault(ops.pc, f"addr_space_cast between spaces {spaces} is not supported")
    return template.format_map(sem.fields(ops))


def load_reference(sem: Semantics, ops: Operands) -> str:
    """``lddw`` with a pseudo source: the resolved address; executing an
    unresolved reference stops the run."""
    if ops.value is None:
        return fault(ops.pc, f"lddw {sem.reference} reference is not resolved: no map or "
                             f"object is loaded for it")
    return LOAD_IMM64.format_map(sem.fields(ops))


# --- the table --------------------------------------------------------------------

#: The semantics of every instruction form.
SEMANTICS: dict[OpForm, Semantics] = {}

#: Every operation name the table uses, and what it does.
OPERATIONS = {
    "add": "dst + src", "sub": "dst - src", "mul": "dst * src",
    "div": "dst / src (signed: truncating toward zero); x / 0 = 0",
    "mod": "dst % src (signed: the dividend's sign); x % 0 = x",
    "or": "dst | src", "and": "dst & src", "xor": "dst ^ src",
    "lsh": "dst << src", "rsh": "dst >> src (signed: arithmetic shift)",
    "neg": "-dst", "mov": "dst = src (signed: the low size bytes sign-extended)",
    "addr_space_cast": "dst = src converted between the arena's and the kernel's addresses",
    "to_le": "dst = the low size bytes in little-endian order",
    "to_be": "dst = the low size bytes in big-endian order",
    "bswap": "dst = the low size bytes in reverse order",
    "eq": "jump when dst == src", "ne": "jump when dst != src",
    "gt": "jump when dst > src", "ge": "jump when dst >= src",
    "lt": "jump when dst < src", "le": "jump when dst <= src",
    "set": "jump when dst & src != 0",
    "goto": "jump", "may_goto": "jump once the may_goto budget is spent",
    "call_helper": "r0 = helper imm (r1..r5)", "call_local": "call the function at the target",
    "call_kfunc": "call a kernel function (refused outside the kernel)",
    "callx": "call the helper or function at the address in dst", "exit": "return r0",
    "load": "dst = *(size *)(src + off)", "load_acquire": "load with acquire ordering",
    "store": "*(size *)(dst + off) = src", "store_release": "store with release ordering",
    "atomic_add": "*(dst + off) += src", "atomic_or": "*(dst + off) |= src",
    "atomic_and": "*(dst + off) &= src", "atomic_xor": "*(dst + off) ^= src",
    "atomic_xchg": "swap *(dst + off) and src",
    "atomic_cmpxchg": "*(dst + off) = src if it equals r0; r0 = the old value",
    "load_imm64": "dst = a 64-bit immediate or the address of a reference",
    "load_packet": "r0 = the big-endian size bytes at packet[src + imm] (legacy)",
}


def semantics_of(form: OpForm) -> Semantics:
    """The semantics of an instruction form."""
    # The opcode table's forms are looked up by identity: hashing a form hashes
    # every field, which code generators asking once per instruction would feel.
    sem = _BY_IDENTITY.get(id(form))
    return sem if sem is not None else SEMANTICS[form]


def _define(name: str, sem: Semantics) -> None:
    """Enter the semantics of the form ``name`` (the one of ``sem.source``
    where the mnemonic has a register and an immediate form)."""
    forms = FORMS_BY_NAME[name]
    form = forms[0] if len(forms) == 1 else next(f for f in forms if f.source == sem.source)
    if form in SEMANTICS:
        raise AssertionError(f"semantics of {name} ({sem.source}) defined twice")
    SEMANTICS[form] = sem


def _alu() -> None:
    for width, suffix, table in ((64, "", ALU64), (32, "32", ALU32)):
        for op, statement in table.items():
            if op == "neg":
                _define("neg" + suffix, Semantics("neg", width, statement=statement))
                continue
            operation = SIGNED_ALU.get(op, op)
            for source in ("reg", "imm"):
                _define(op + suffix, Semantics(operation, width, op in SIGNED_ALU, source=source,
                                               statement=statement))
    for (width, bits), statement in MOVSX.items():
        _define(f"movsx{bits}{width}", Semantics("mov", width, True, size=bits // 8,
                                                 source="reg", statement=statement))
    _define("addr_space_cast", Semantics("addr_space_cast", source="reg", emitter=addr_space_cast))
    operations = {"le": "to_le", "be": "to_be", "bswap": "bswap"}
    for (order, bits), statement in END.items():
        _define(f"{order}{bits}", Semantics(operations[order], size=bits // 8,
                                            statement=statement))


def _jumps() -> None:
    for width, suffix in ((64, ""), (32, "32")):
        for name, (op, signed) in CONDITIONS.items():
            operation = name[2:] if signed else name[1:]
            for source in ("reg", "imm"):
                left, right = COMPARED[width, signed, source]
                _define(name + suffix, Semantics(operation, width, signed, source=source,
                                                 control=Control.BRANCH, target="off",
                                                 condition=f"{left} {op} {right}"))
    _define("ja", Semantics("goto", control=Control.JUMP, target="off"))
    _define("ja32", Semantics("goto", control=Control.JUMP, target="imm"))
    _define("may_goto", Semantics("may_goto", control=Control.BRANCH, target="off",
                                  statement="budget -= 1", condition="budget < 0"))
    _define("call", Semantics("call_helper", source="imm", faults=True, emitter=call_helper))
    _define("call local", Semantics("call_local", control=Control.CALL, target="imm",
                                    faults=True, statement=CALL_LOCAL))
    _define("call kfunc", Semantics("call_kfunc", source="imm", faults=True, statement=KFUNC))
    _define("callx", Semantics("callx", control=Control.INDIRECT, faults=True,
                               statement=CALLX))
    _define("exit", Semantics("exit", control=Control.EXIT, statement=RETURN))


def _memory() -> None:
    for size, sfx in SIZE_SUFFIX.items():
        access = {"size": size, "faults": True}
        _define("ldx" + sfx, Semantics("load", statement=LOAD, **access))
        _define("st" + sfx, Semantics("store", source="imm", statement=STORE_IMM, **access))
        _define("stx" + sfx, Semantics("store", source="reg", statement=STORE_REG, **access))
        _define("ldacq" + sfx, Semantics("load_acquire", statement=LOAD, **access))
        _define("strel" + sfx, Semantics("store_release", source="reg", statement=STORE_REG,
                                         **access))
        if size < 8:
            _define("ldxs" + sfx, Semantics("load", signed=True, statement=LOAD_SX, **access))
            _define("ldabs" + sfx, Semantics("load_packet", source="imm", statement=LOAD_ABS,
                                             **access))
            _define("ldind" + sfx, Semantics("load_packet", source="reg", statement=LOAD_IND,
                                             **access))
    for width, size, suffix in ((64, 8, ""), (32, 4, "32")):
        atomic = {"width": width, "size": size, "source": "reg", "faults": True}
        for op, write in ATOMIC_WRITE.items():
            update = ATOMIC_READ + write
            if op != "xchg":
                _define(f"lock {op}{suffix}", Semantics(f"atomic_{op}", statement=update,
                                                        **atomic))
            name = f"lock xchg{suffix}" if op == "xchg" else f"lock fetch {op}{suffix}"
            _define(name, Semantics(f"atomic_{op}", fetch=True, statement=update + ATOMIC_FETCH,
                                    **atomic))
        _define(f"lock cmpxchg{suffix}", Semantics("atomic_cmpxchg", fetch=True,
                                                   statement=ATOMIC_CMPXCHG[width], **atomic))
    for pseudo, reference in LDDW_PSEUDO_NAMES.items():
        if pseudo == PSEUDO_IMM:
            _define("lddw", Semantics("load_imm64", size=8, source="imm", statement=LOAD_IMM64))
        else:
            _define(f"lddw {reference}", Semantics(
                "load_imm64", size=8, reference=reference,
                target="imm" if pseudo == PSEUDO_FUNC else None, emitter=load_reference))


_alu()
_jumps()
_memory()

_BY_IDENTITY = {id(form): sem for form, sem in SEMANTICS.items()}
