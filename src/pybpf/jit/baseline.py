"""The baseline tier: eBPF to x86-64 machine code in one pass, without LLVM.

LLVM's code is fast but takes tens of milliseconds per thousand
instructions to make; this translator writes machine code directly (as
uBPF's JIT does), one instruction at a time, in a few milliseconds, so a
program starts running at once and moves to LLVM's code when it proves
hot (:mod:`pybpf.jit.tiers`).

The code has the LLVM tier's function ABI exactly, so :class:`JitProgram`,
the shared entry functions (:func:`pybpf.jit.codegen.runtime_module`) and
the error reporting are the same for both tiers: every bpf function
``f<pc>`` is ``{r0..r5, count} f(rt, depth, count, r1..r5)`` (the
aggregate returned through a hidden pointer, as LLVM lowers it), the
runtime block's layout is the one :class:`~pybpf.jit.codegen.Generator`
plans (so the LLVM code can take over the same block), instructions are
counted per basic block where LLVM's code counts them, and the limit is
checked at function entries and backward jumps as there.

Registers: eBPF r0..r9 live in x86 registers (:data:`REGISTERS`), the
instruction count in ``rbx``, the frame's host address (r10 translated) in
``rbp``; ``rax``, ``rcx`` and ``rdx`` are scratch.  What the code does not
do itself goes to the same callbacks as LLVM's code: helpers, the region
lookup of an access that misses its site's cache, tail calls, ``callx`` to
a helper, traps, and the *step* callback that runs one instruction in the
interpreter (atomics, kernel function calls, legacy packet loads,
unresolved references).  Memory accesses are checked as in LLVM's code:
the active stack frames, the site's cached region, the resolve callback,
else the interpreter (which raises the ``MemoryFault``).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from functools import lru_cache

from ..isa import Insn, lddw_value
from ..vm.semantics import Control, Semantics
from . import layout as L
from .codegen import CASTS, Generator, Options, Unsupported, operands, successors
from .x86 import (
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RSI,
    RSP,
    Assembler,
    Label,
)

#: The x86 register of each of eBPF's r0..r9 (r0..r5 in registers a C call
#: may clobber: they are saved around callbacks; r6..r9 in preserved ones).
REGISTERS = (R11, RDI, RSI, R8, R9, R10, R12, R13, R14, R15)
COUNT = RBX             # the instruction count
FRAME = RBP             # the host address of the end of the current frame (r10 on the host)
CALLEE_SAVED = (RBX, RBP, R12, R13, R14, R15)
ARGUMENTS = (RDI, RSI, RDX, RCX, R8, R9)

# The native frame of a bpf function: offsets from rsp after the prologue.
OUTGOING = 0            # stack arguments of calls (3 slots)
RETURNED = 32           # a callee's r0..r5 and count (7 slots)
SRET = 88               # where this function returns its aggregate
RT = 96                 # the runtime block
DEPTH = 104             # the call depth
STACK_LOW = 112         # the VM address of the current frame's first byte
STACK_LIMITS = 120      # 4 slots: bytes of active stack above STACK_LOW, less size - 1
STACK_DELTA = 152       # host address - VM address on the stack
FP = 160                # r10 (the VM address of the frame's end)
TEMP = 168              # scratch
LOCALS = 184            # 16-byte alignment: 8 (return address) + 48 (saved) + 184
ENTRY_ARGS = LOCALS + 8 * len(CALLEE_SAVED) + 8     # r3..r5 as the caller passed them
LIMIT_INDEX = {1: 0, 2: 1, 4: 2, 8: 3}

#: Branch conditions by (operation, signed).
CONDITIONS = {("eq", False): "e", ("ne", False): "ne", ("gt", False): "a", ("ge", False): "ae",
              ("lt", False): "b", ("le", False): "be", ("gt", True): "g", ("ge", True): "ge",
              ("lt", True): "l", ("le", True): "le", ("set", False): "ne"}
#: ALU operations that are one x86 instruction on both operands.
SIMPLE_ALU = ("add", "sub", "or", "and", "xor")
SHIFTS = {("lsh", False): "shl", ("rsh", False): "shr", ("rsh", True): "sar"}
#: Operations whose code depends on the instruction alone (see ``Translator._cached``).
PURE = frozenset(("neg", "mov", "mul", "lsh", "rsh", *SIMPLE_ALU))
#: The helper-call kinds (:attr:`Options.helper_calls`) this tier compiles.
HELPER_KINDS = ("python", "step", "tail")


_CODE_OF: dict[Insn, bytes] = {}
"""The code of instructions whose code depends on nothing else (ALU, byte
order, accesses to the frame through r10), by instruction."""
_CODE_KEEP = 1 << 16


def _slot(index: int) -> int:
    return 8 * index


class BaselineCode:
    """A program's baseline code in executable memory, with the interface
    of :class:`~pybpf.jit.loader.NativeCode` that :class:`JitProgram` uses
    (``symbols``: ``f<pc>`` -> host address)."""

    def __init__(self, code: bytes, offsets: dict[int, int]):
        from .loader import ExecutableMemory

        self.memory = ExecutableMemory(code)
        self.base = self.memory.base
        self.size = len(code)
        self.symbols = {f"f{pc}": self.memory.base + at for pc, at in offsets.items()}


@lru_cache(maxsize=1)
def signal_check_address() -> int:
    """The host address of ``PyErr_CheckSignals`` (baseline code is made
    for this process only, so it calls it at its address)."""
    from .loader import c_library_symbols

    return c_library_symbols()["PyErr_CheckSignals"]


def translate(insns: Sequence[Insn], options: Options) -> tuple[bytes, dict[int, int], L.Layout]:
    """The machine code of a program (position independent), the offset
    of each function's entry in it (by pc) and its runtime block's layout
    (the LLVM tier's).  Raises :class:`Unsupported` for a program this tier
    leaves to LLVM (or LLVM to the interpreter)."""
    try:
        return Translator(insns, options).translate()
    except ValueError as e:             # a value beyond the encoder's forms
        raise Unsupported(f"the baseline tier cannot encode it: {e}") from None


class Translator:
    """Writes the machine code of one program."""

    def __init__(self, insns: Sequence[Insn], options: Options):
        self.gen = Generator(insns, options)        # the plan: blocks, functions, layout
        if not self.gen.r10_fixed:
            raise Unsupported("a program that writes r10")
        if options.frame_size % 8 or options.frame_size <= 0:
            raise Unsupported("a frame size that is not a multiple of 8")
        for pc, how in options.helper_calls.items():
            if how not in HELPER_KINDS:
                raise Unsupported(f"a {how!r} helper call at {pc}")
        self.insns = self.gen.insns
        self.sems = self.gen.sems
        self.n = len(self.insns)
        self.options = options
        self.layout = self.gen.layout
        self.site_of = {pc: i for i, pc in enumerate(self.layout.sites)}
        self.helper_of = {pc: i for i, pc in enumerate(self.layout.helpers)}
        #: The slots each pc's instruction takes, and the instructions before each pc.
        self.sizes = [2 if insn.is_lddw else 1 for insn in self.insns]
        self.before = array("q", bytes(8 * (self.n + 1)))   # not a list: an int object a pc
        pc = count = 0
        while pc < self.n:
            self.before[pc] = count
            if self.sizes[pc] == 2 and pc + 1 < self.n:
                self.before[pc + 1] = count + 1
            count += 1
            pc += self.sizes[pc]
        self.before[self.n] = count
        self.a = Assembler()
        self.functions = {e: Label() for e in self.gen.entries}
        self.stubs: list[Callable[[], None]] = []

    def translate(self) -> tuple[bytes, dict[int, int], L.Layout]:
        for entry in self.gen.entries:
            self._function(entry)
        code = self.a.finish()
        return code, {e: label.at for e, label in self.functions.items()}, self.layout

    # --- helpers --------------------------------------------------------------------

    def _reachable(self, entry: int) -> list[int]:
        blocks = self.gen.blocks
        seen: set[int] = set()
        todo = [entry]
        while todo:
            start = todo.pop()
            if start in seen or start not in blocks:
                continue
            seen.add(start)
            todo.extend(successors(self.insns, self.sems, start, blocks[start]))
        return sorted(seen)

    def _rt(self, reg: int = RDX) -> int:
        self.a.load(reg, RSP, RT)
        return reg

    def _value(self, bpf: int, scratch: int) -> int:
        """The x86 register holding eBPF register ``bpf`` (r10 is put in ``scratch``)."""
        if bpf == 10:
            self.a.load(scratch, RSP, FP)
            return scratch
        return REGISTERS[bpf]

    def _call_out(self, name: str | int, args: Sequence[int | str | tuple[str, int]],
                  everything: bool = False) -> None:
        """Call the callback ``name`` (or the C function at host address
        ``name``; rax: its result).  The registers are
        saved in the runtime block's REGS (all of them with
        ``everything``, for the interpreter; else those a call clobbers)
        and loaded back after.  An argument is an int, "depth", "depth+1",
        "count", "temp" (the TEMP slot) or ("reg", i) (eBPF register i)."""
        a = self.a
        self._rt(RAX)
        saved = range(11) if everything else range(6)
        for i in saved:
            if i == 10:
                a.load(RDX, RSP, FP)
                a.store(RAX, _slot(L.REGS + 10), RDX)
            else:
                a.store(RAX, _slot(L.REGS + i), REGISTERS[i])
        counted = name in L.COUNTED_CALLBACKS     # the run's count to Python and back
        if counted:
            a.store(RAX, _slot(L.COUNT), COUNT)
        for k, arg in enumerate(args[6:]):
            self._argument(RDX, arg)
            a.store(RSP, OUTGOING + 8 * k, RDX)
        for reg, arg in zip(ARGUMENTS, args):
            self._argument(reg, arg)
        if isinstance(name, int):
            a.mov_imm(RAX, name)
            a.call_reg(RAX)
        else:
            a.call_mem(RAX, _slot(L.CALLBACKS + L.CALLBACK_NAMES.index(name)))
        self._rt(RDX)
        if counted:
            a.load(COUNT, RDX, _slot(L.COUNT))
        for i in saved:
            if i < 10:
                a.load(REGISTERS[i], RDX, _slot(L.REGS + i))

    def _argument(self, reg: int, arg: int | str | tuple[str, int]) -> None:
        a = self.a
        if isinstance(arg, int):
            a.mov_imm(reg, arg)
        elif arg == "depth":
            a.load(reg, RSP, DEPTH)
        elif arg == "depth+1":
            a.load(reg, RSP, DEPTH)
            a.alu_imm("add", reg, 1)
        elif arg == "count":
            a.mov(reg, COUNT)
        elif arg == "temp":
            a.load(reg, RSP, TEMP)
        else:
            i = arg[1]
            a.load(reg, RSP, FP) if i == 10 else a.load(reg, RAX, _slot(L.REGS + i))

    def _check_status(self) -> None:
        a = self.a
        self._rt(RDX)
        a.alu_mem_imm("cmp", RDX, _slot(L.STATUS), 0)
        a.jcc("ne", self.bail)

    def _forget_sites(self) -> None:
        """Drop every site's cached region (Python may have remapped memory)."""
        words = L.SITE_SLOTS * len(self.layout.sites)
        if not words:
            return
        a = self.a
        self._rt(RDX)
        if words <= 12:
            for i in range(words):
                a.store_imm(RDX, _slot(self.layout.sites_base + i), 0)
            return
        a.lea(RDX, RDX, _slot(self.layout.sites_base))
        a.mov_imm(RCX, words)
        loop = Label()
        a.bind(loop)
        a.store_imm(RDX, 0, 0)
        a.alu_imm("add", RDX, 8)
        a.alu_imm("sub", RCX, 1, wide=False)
        a.jcc("ne", loop)

    def _step(self, pc: int) -> None:
        """Run the instruction at ``pc`` in the interpreter."""
        self._call_out("step", [pc, "depth"], everything=True)
        self._check_status()

    def _stub(self, emit: Callable[[], None]) -> Label:
        """A label for cold code ``emit`` writes after the function's body."""
        label = Label()

        def placed() -> None:
            self.a.bind(label)
            emit()
        self.stubs.append(placed)
        return label

    # --- a function -----------------------------------------------------------------

    def _function(self, entry: int) -> None:
        a = self.a
        fs = self.options.frame_size
        self.bail, self.exit, self.ranoff = Label(), Label(), Label()
        self.back: dict[int, Label] = {}
        self.stubs = []
        blocks = self._reachable(entry)
        self.block_labels = {b: Label() for b in blocks}
        a.bind(self.functions[entry])
        for reg in CALLEE_SAVED:
            a.push(reg)
        a.alu_imm("sub", RSP, LOCALS)
        a.store(RSP, SRET, RDI)
        a.store(RSP, RT, RSI)
        a.store(RSP, DEPTH, RDX)
        a.mov(COUNT, RCX)
        a.mov(REGISTERS[1], R8)
        a.mov(REGISTERS[2], R9)
        for i, reg in enumerate((3, 4, 5)):
            a.load(REGISTERS[reg], RSP, ENTRY_ARGS + 8 * i)
        # fp = STACK_TOP - depth * fs; the active stack runs from fp - fs up
        # through (depth + 1) frames; rbp = fp on the host.
        self._rt(RAX)
        for i, reg in enumerate(L.CARRIED_REGISTERS):    # what the caller handed over
            a.load(REGISTERS[reg], RAX, _slot(L.CARRIED + i))
            a.store_imm(RAX, _slot(L.CARRIED + i), 0)
        a.load(RCX, RAX, _slot(L.STACK_TOP))
        a.load(RDX, RSP, DEPTH)
        a.imul_imm(RDX, RDX, fs)
        a.alu("sub", RCX, RDX)
        a.store(RSP, FP, RCX)
        a.lea(RCX, RCX, -fs)
        a.store(RSP, STACK_LOW, RCX)
        a.alu_imm("add", RDX, fs)
        for size, index in LIMIT_INDEX.items():
            a.lea(RCX, RDX, -(size - 1))
            a.store(RSP, STACK_LIMITS + 8 * index, RCX)
        a.load(RCX, RAX, _slot(L.STACK_DELTA))
        a.store(RSP, STACK_DELTA, RCX)
        a.load(FRAME, RSP, FP)
        a.alu("add", FRAME, RCX)
        self._limit_check(entry, None)
        if not blocks or blocks[0] != entry:
            a.jmp(self.block_labels[entry])
        for i, start in enumerate(blocks):
            self.following = blocks[i + 1] if i + 1 < len(blocks) else None
            self._block(start, self.gen.blocks[start])
        # r0..r5 and the count to the caller's aggregate
        a.bind(self.exit)
        a.load(RAX, RSP, SRET)
        for reg in range(6):
            a.store(RAX, 8 * reg, REGISTERS[reg])
        a.store(RAX, 48, COUNT)
        epilogue = Label()
        a.bind(epilogue)
        a.alu_imm("add", RSP, LOCALS)
        for reg in reversed(CALLEE_SAVED):
            a.pop(reg)
        a.ret()
        a.bind(self.bail)
        a.load(RAX, RSP, SRET)
        a.mov_imm(RCX, 0)
        for reg in range(6):
            a.store(RAX, 8 * reg, RCX)
        a.store(RAX, 48, COUNT)
        a.jmp(epilogue)
        a.bind(self.ranoff)
        self._call_out("trap", [L.TRAP_RAN_OFF, self.n - 1, "depth", 0])
        a.jmp(self.bail)
        while self.stubs:
            stubs, self.stubs = self.stubs, []
            for emit in stubs:
                emit()

    def _interrupted(self) -> None:
        self._rt(RDX)
        self.a.store_imm(RDX, _slot(L.STATUS), L.INTERRUPTED)
        self.a.jmp(self.bail)

    def _limit_check(self, pc: int, resume: Label | None) -> None:
        """Ask Python when the count has passed CHECK_AT (at function entries
        and backward jumps, as LLVM's code does); then go on at ``resume``
        (None: here)."""
        a = self.a
        here = Label() if resume is None else resume

        def ask() -> None:
            # Python's signal handlers run here (the code holds the GIL): one
            # that raises (Ctrl-C) stops the run with its exception set.
            self._call_out(signal_check_address(), [])
            a.test(RAX, RAX, wide=False)
            a.jcc("ne", self._stub(self._interrupted))
            self._call_out("trap", [L.TRAP_CHECK, pc, "depth", "count"])
            self._check_status()
            a.jmp(here)
        self._rt(RAX)
        a.alu_load("cmp", COUNT, RAX, _slot(L.CHECK_AT))
        a.jcc("a", self._stub(ask))
        if resume is None:
            a.bind(here)
        else:
            a.jmp(resume)

    def _target(self, target: int, from_pc: int) -> Label:
        """Where a jump from the block at ``from_pc`` to ``target`` goes."""
        if target < 0:
            def trap() -> None:
                self._call_out("trap", [L.TRAP_RAN_OFF, target, "depth", 0])
                self.a.jmp(self.bail)
            return self._stub(trap)
        if target >= self.n:
            return self.ranoff
        if target <= from_pc:
            label = self.back.get(target)
            if label is None:
                label = self.back[target] = self._stub(
                    lambda: self._limit_check(target, self.block_labels[target]))
            return label
        return self.block_labels[target]

    def _goto(self, target: int, from_pc: int) -> None:
        if target == self.following and target > from_pc and target < self.n:
            return                          # falls through
        self.a.jmp(self._target(target, from_pc))

    def _block(self, start: int, end: int) -> None:
        a = self.a
        a.bind(self.block_labels[start])
        a.alu_imm("add", COUNT, self.before[end] - self.before[start])
        pc = start
        sems, sizes = self.sems, self.sizes
        while pc < end:
            sem = sems[pc]
            if sem is None:
                raise Unsupported(f"a jump into the middle of the lddw before {pc}")
            size = sizes[pc]
            self._insn(pc, sem, start)
            if sem.control is Control.NEXT and pc + size >= end:
                self._goto(end, start)
            pc += size

    # --- one instruction ----------------------------------------------------------------

    def _insn(self, pc: int, sem: Semantics, block_start: int) -> None:
        insn = self.insns[pc]
        op = sem.operation
        control = sem.control
        if control is Control.NEXT and op in PURE:
            self._cached(insn, self._alu, sem)
        elif control is Control.BRANCH:
            self._branch(pc, sem, insn, block_start)
        elif control is Control.JUMP:
            self._goto(sem.target_pc(operands(pc, insn)), block_start)
        elif control is Control.EXIT:
            self.a.jmp(self.exit)
        elif control is Control.CALL:
            target = sem.target_pc(operands(pc, insn))
            if target not in self.functions:
                raise Unsupported(f"call at {pc} to {target}, which is not a function entry")
            self._enter(pc)
            self._call_function(target)
            self._goto(pc + 1, block_start)
        elif control is Control.INDIRECT:
            self._callx(pc, insn)
            self._goto(pc + 1, block_start)
        elif op in ("load", "load_acquire", "store", "store_release"):
            self._memory(pc, sem, insn)
        elif op == "call_helper":
            self._call_helper(pc, insn)
        elif op == "load_imm64":
            self._lddw(pc, sem, insn)
        elif op == "addr_space_cast":
            self._addr_space_cast(pc, insn)
        elif op in ("to_le", "to_be", "bswap"):
            self._cached(insn, self._byte_order, sem)
        elif op in ("div", "mod"):
            if insn.dst == 10:
                raise Unsupported("a write to r10")
            self._divide(sem, insn, REGISTERS[insn.dst], sem.width == 64)
        else:                               # atomics, kernel functions, packet loads
            self._step(pc)

    def _cached(self, insn: Insn, emit: Callable[[Semantics, Insn], None],
                sem: Semantics) -> None:
        """``emit(sem, insn)``, whose code depends on the instruction alone
        (no label, no runtime block slot), remembered by instruction."""
        code = _CODE_OF.get(insn)
        if code is not None:
            self.a.code += code
            return
        at = len(self.a.code)
        emit(sem, insn)
        if len(_CODE_OF) >= _CODE_KEEP:
            _CODE_OF.clear()
        _CODE_OF[insn] = bytes(self.a.code[at:])

    def _alu(self, sem: Semantics, insn: Insn) -> None:
        a = self.a
        op, wide = sem.operation, sem.width == 64
        if insn.dst == 10:
            raise Unsupported("a write to r10")
        d = REGISTERS[insn.dst]
        if op == "mov" and sem.signed:
            if sem.size not in (1, 2, 4) or (sem.size == 4 and not wide):
                raise Unsupported(f"movsx of {sem.size} bytes")
            a.movsx(d, self._value(insn.src, RCX), sem.size, wide)
            return
        if op == "neg":
            a.neg(d, wide)
            return
        reg = sem.source == "reg"
        s = self._value(insn.src, RCX) if reg else 0
        imm = insn.imm
        if op == "mov":
            if reg:
                a.mov(d, s, wide)
            else:
                a.mov_imm(d, imm, wide)
        elif op in SIMPLE_ALU:
            if reg:
                a.alu(op, d, s, wide)
            else:
                a.alu_imm(op, d, imm, wide)
        elif op == "mul":
            if reg:
                a.imul(d, s, wide)
            else:
                a.imul_imm(d, d, imm, wide)
        else:
            shift = SHIFTS[op, sem.signed]
            if reg:
                if s != RCX:
                    a.mov(RCX, s)
                a.shift(shift, d, None, wide)
                if not wide:
                    a.mov(d, d, wide=False)     # a count of 0 leaves the upper half
            else:
                count = imm & (sem.width - 1)
                if count:
                    a.shift(shift, d, count, wide)
                elif not wide:
                    a.mov(d, d, wide=False)

    def _divide(self, sem: Semantics, insn: Insn, d: int, wide: bool) -> None:
        """Division and remainder with the ISA's answers where x86 has none
        (or traps): x / 0 = 0, x % 0 = x, and (signed) x / -1 = -x, x % -1 = 0."""
        a = self.a
        if sem.source == "reg":
            s = self._value(insn.src, RCX)
            if s != RCX:
                a.mov(RCX, s)
        else:
            a.mov_imm(RCX, insn.imm, wide)
        zero, minus, done = Label(), Label(), Label()
        a.test(RCX, RCX, wide)
        a.jcc("e", zero)
        if sem.signed:
            a.alu_imm("cmp", RCX, -1, wide)
            a.jcc("e", minus)
        a.mov(RAX, d, wide)
        if sem.signed:
            a.sign_extend_rax(wide)
        else:
            a.mov_imm(RDX, 0)
        a.div(RCX, sem.signed, wide)
        a.mov(d, RAX if sem.operation == "div" else RDX, wide)
        a.jmp(done)
        a.bind(zero)
        if sem.operation == "div":
            a.mov_imm(d, 0)
        elif not wide:
            a.mov(d, d, wide=False)
        if sem.signed:
            a.jmp(done)
            a.bind(minus)
            if sem.operation == "div":
                a.neg(d, wide)
            else:
                a.mov_imm(d, 0)
        a.bind(done)

    def _byte_order(self, sem: Semantics, insn: Insn) -> None:
        a = self.a
        if insn.dst == 10:
            raise Unsupported("a write to r10")
        d, size = REGISTERS[insn.dst], sem.size
        if sem.operation == "to_le":
            if size < 8:
                a.movzx(d, d, size)
            return
        if size == 2:
            a.bswap(d, wide=False)
            a.shift("shr", d, 16, wide=False)
        else:
            a.bswap(d, wide=size == 8)

    def _lddw(self, pc: int, sem: Semantics, insn: Insn) -> None:
        a = self.a
        if insn.dst == 10:
            raise Unsupported("a write to r10")
        d = REGISTERS[insn.dst]
        if sem.reference is None:
            a.mov_imm(d, lddw_value(self.insns, pc))
        elif sem.enters_function:
            self._rt(RAX)
            a.load(d, RAX, _slot(L.CODE_START))
            a.alu_imm("add", d, 8 * sem.target_pc(operands(pc, insn)))
        elif pc in self.layout.lddw:
            self._rt(RAX)
            a.load(d, RAX, _slot(self.layout.lddw_base + self.layout.lddw[pc]))
        else:
            self._step(pc)              # unresolved: the interpreter stops, naming it

    def _addr_space_cast(self, pc: int, insn: Insn) -> None:
        a = self.a
        kind = CASTS.get(((insn.imm >> 16) & 0xFFFF, insn.imm & 0xFFFF))
        if kind is None or insn.dst == 10:
            self._step(pc)
            return
        d = REGISTERS[insn.dst]
        s = self._value(insn.src, RCX)
        if kind == "to_arena":
            a.mov(d, s, wide=False)
            return
        zero = Label()
        a.mov(RAX, s, wide=False)
        a.test(RAX, RAX)
        a.jcc("e", zero)
        self._rt(RDX)
        a.alu_load("or", RAX, RDX, _slot(L.ARENA_BASE))
        a.bind(zero)
        a.mov(d, RAX)

    def _branch(self, pc: int, sem: Semantics, insn: Insn, block_start: int) -> None:
        a = self.a
        taken = sem.target_pc(operands(pc, insn))
        if sem.operation == "may_goto":
            self._rt(RDX)
            a.alu_mem_imm("sub", RDX, _slot(L.BUDGET), 1)
            cc = "s"
        else:
            wide = sem.width == 64
            left = self._value(insn.dst, RAX)
            if sem.source == "reg":
                right = self._value(insn.src, RDX)
                if sem.operation == "set":
                    a.test(left, right, wide)
                else:
                    a.alu("cmp", left, right, wide)
            elif sem.operation == "set":
                a.test_imm(left, insn.imm, wide)
            else:
                a.alu_imm("cmp", left, insn.imm, wide)
            cc = CONDITIONS[sem.operation, sem.signed]
        a.jcc(cc, self._target(taken, block_start))
        self._goto(pc + 1, block_start)

    # --- calls ------------------------------------------------------------------------

    def _enter(self, pc: int) -> None:
        """Check the depth for a call at ``pc`` and zero the callee's frame."""
        a = self.a
        fs = self.options.frame_size

        def deep() -> None:
            self._call_out("trap", [L.TRAP_DEPTH, pc, "depth", "depth+1"])
            a.jmp(self.bail)
        a.load(RDX, RSP, DEPTH)
        a.alu_imm("add", RDX, 1)
        a.alu_imm("cmp", RDX, self.options.max_depth)
        a.jcc("ae", self._stub(deep))
        a.lea(RDX, FRAME, -2 * fs)
        a.mov_imm(RCX, fs // 8)
        a.mov_imm(RAX, 0)
        loop = Label()
        a.bind(loop)
        a.store(RDX, 0, RAX)
        a.alu_imm("add", RDX, 8)
        a.alu_imm("sub", RCX, 1, wide=False)
        a.jcc("ne", loop)

    def _call_function(self, target: int) -> None:
        """Call the bpf function at ``target`` one level deeper (handing it
        r0..r9, see :data:`pybpf.jit.layout.CARRIED`); take back r0..r5 and
        the count."""
        a = self.a
        self._rt(RAX)
        for i, reg in enumerate(L.CARRIED_REGISTERS):
            a.store(RAX, _slot(L.CARRIED + i), REGISTERS[reg])
        for i, reg in enumerate((3, 4, 5)):
            a.store(RSP, OUTGOING + 8 * i, REGISTERS[reg])
        a.mov(R8, REGISTERS[1])
        a.mov(R9, REGISTERS[2])
        a.lea(RDI, RSP, RETURNED)
        self._rt(RSI)
        a.load(RDX, RSP, DEPTH)
        a.alu_imm("add", RDX, 1)
        a.mov(RCX, COUNT)
        a.call(self.functions[target])
        for reg in range(6):
            a.load(REGISTERS[reg], RSP, RETURNED + 8 * reg)
        a.load(COUNT, RSP, RETURNED + 48)
        self._check_status()

    def _callx(self, pc: int, insn: Insn) -> None:
        a = self.a
        a.mov(RAX, self._value(insn.dst, RAX))
        self._rt(RDX)
        a.alu_load("sub", RAX, RDX, _slot(L.CODE_START))
        cases = {}
        for e in self.functions:
            cases[e] = Label()
            a.alu_imm("cmp", RAX, 8 * e)
            a.jcc("e", cases[e])
        done = Label()
        self._call_out("callx", [pc, "depth", ("reg", insn.dst),
                                 *(("reg", r) for r in range(1, 6))])
        self._check_status()
        a.mov(REGISTERS[0], RAX)
        self._forget_sites()
        a.jmp(done)
        for e, label in cases.items():
            a.bind(label)
            self._enter(pc)
            self._call_function(e)
            a.jmp(done)
        a.bind(done)

    def _call_helper(self, pc: int, insn: Insn) -> None:
        how = self.options.helper_calls.get(pc, "step")
        a = self.a
        if how == "tail":
            self._call_out("tail", [pc, "depth", *(("reg", r) for r in range(1, 4))])
            self._check_status()
            a.store(RSP, TEMP, RAX)
            self._forget_sites()
            fell = Label()
            self._rt(RDX)
            a.alu_mem_imm("cmp", RDX, _slot(L.TAIL_TAKEN), 0)
            a.jcc("e", fell)
            a.load(REGISTERS[0], RSP, TEMP)
            a.alu_load("add", COUNT, RDX, _slot(L.TAIL_COUNT))
            a.jmp(self.exit)
            a.bind(fell)
            return
        if how != "python":
            self._step(pc)
            self._forget_sites()
            return
        if pc not in self.helper_of:        # a call LLVM's code makes some other way
            raise Unsupported(f"the helper call at {pc} has no callback site")
        self._call_out("helper", [self.helper_of[pc], "depth",
                                  *(("reg", r) for r in range(1, 6))])
        self._check_status()
        a.mov(REGISTERS[0], RAX)
        self._forget_sites()

    # --- memory -----------------------------------------------------------------------

    def _memory(self, pc: int, sem: Semantics, insn: Insn) -> None:
        a = self.a
        op, size = sem.operation, sem.size
        load = op in ("load", "load_acquire")
        base, off = (insn.src, insn.off) if load else (insn.dst, insn.off)
        if load and insn.dst == 10:
            raise Unsupported("a write to r10")
        site = self.site_of.get(pc)
        if site is None and base == 10:         # proven: in this frame
            self._cached(insn, self._frame_access, sem)
            return
        if base == 10:
            a.load(RAX, RSP, FP)
            a.lea(RAX, RAX, off)
        else:
            a.lea(RAX, REGISTERS[base], off)
        if site is None:                        # proven: on the stack
            a.alu_load("add", RAX, RSP, STACK_DELTA)
            self._access(sem, insn, RAX, 0)
            return
        slots = _slot(self.layout.sites_base + L.SITE_SLOTS * site)
        access, done = Label(), Label()
        if self.options.proven.get(pc) != "memory":
            elsewhere = Label()
            a.mov(RDX, RAX)
            a.alu_load("sub", RDX, RSP, STACK_LOW)
            a.alu_load("cmp", RDX, RSP, STACK_LIMITS + 8 * LIMIT_INDEX[size])
            a.jcc("ae", elsewhere)
            a.alu_load("add", RAX, RSP, STACK_DELTA)
            a.jmp(access)
            a.bind(elsewhere)

        def slow() -> None:
            a.store(RSP, TEMP, RAX)
            self._call_out("resolve", [site, "temp", "depth"])
            a.test(RAX, RAX)
            a.jcc("ne", access)
            self._step(pc)
            a.jmp(done)
        self._rt(RDX)
        a.mov(RCX, RAX)
        a.alu_load("sub", RCX, RDX, slots)
        a.alu_load("cmp", RCX, RDX, slots + 8)
        a.jcc("ae", self._stub(slow))
        a.alu_load("add", RAX, RDX, slots + 16)
        a.bind(access)
        self._access(sem, insn, RAX, 0)
        a.bind(done)

    def _frame_access(self, sem: Semantics, insn: Insn) -> None:
        self._access(sem, insn, FRAME, insn.off)

    def _access(self, sem: Semantics, insn: Insn, base: int, disp: int) -> None:
        """The access itself at host address ``base + disp`` (x86 orders
        loads as acquires and stores as releases already)."""
        a = self.a
        size = sem.size
        if sem.operation in ("load", "load_acquire"):
            a.load(REGISTERS[insn.dst], base, disp, size, sem.signed)
        elif sem.source == "reg":
            a.store(base, disp, self._value(insn.src, RDX), size)
        else:
            a.store_imm(base, disp, insn.imm, size)


__all__ = ["REGISTERS", "BaselineCode", "Translator", "translate"]
