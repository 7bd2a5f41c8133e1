"""LLVM IR from the instruction semantics table.

:func:`generate` translates a program into the text of an LLVM module.
What each instruction does comes from :mod:`pybpf.vm.semantics`: the entry
of its form gives the operation, width, signedness, size, operand source
and control flow, and the tables below map those names to LLVM
instructions — nothing here restates what an opcode means.  Where the
table's Python is the only description (a kernel function call, an
unresolved reference, a legacy packet load) or an access needs the
interpreter's care (a context field, an atomic operation on a special
region), the generated code hands that one instruction to the interpreter
(the *step* callback) with the registers in the runtime block.

Shape of the code:

- every bpf function (the entry and each target of a local call or of
  ``lddw func``) becomes an LLVM function over the blocks reachable from
  its entry, taking the runtime block, the call depth, the instruction
  count and r1..r5, and returning r0..r5 and the count (the interpreter's
  callers see r1..r5 as the callee left them);
- registers live in ``alloca`` slots that LLVM promotes to SSA values;
- each bpf function ``f<pc>`` is exported; the functions that start a run
  (``pybpf_entry``, ``pybpf_run``, ``pybpf_repeat`` for
  ``test_run(repeat=N)``) are the same for every program and compiled once
  (:func:`runtime_module`): they reach the program through its runtime
  block (its main function's address, frame size, may_goto budget);
- every memory access is ``find region, translate, access``: an access at
  a constant offset from ``r10`` inside the frame needs nothing (r10 is the
  frame's end by construction); others try the active stack frames, then
  the region the same site used last (a cache in the runtime block), then
  ask Python (the *resolve* callback), which fills the site's cache or
  answers 0: then the interpreter performs the access (and raises its
  ``MemoryFault`` when there is no region);
- after any callback the code checks the status slot and unwinds when an
  error is waiting; after a helper call the site caches are dropped (a
  helper may map or unmap memory).

:func:`proven_safe` is the one place where an access skips its checks.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..helpers.environment import NO_CPU, NativeEnvironment
from ..isa import Insn, lddw_value
from ..maps.hash import TOUCH_BUSY, TOUCH_CLOCK, TOUCH_COUNT, TOUCH_LOG, TOUCH_STAMP
from ..maps.ringbuf import (
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ,
    PAGE_SIZE,
    RINGBUF_MAX_RECORD_SZ,
    RINGBUF_META_PAGES,
    RingPositions,
)
from ..spec import constant
from ..vm.semantics import M32, M64, Control, Operands, Semantics, semantics_of
from . import layout as L
from .stackhints import stack_registers

# --- the tables: semantics names -> LLVM ------------------------------------------

#: ALU operations that are one LLVM instruction on both operands.
BINARY = {"add": "add", "sub": "sub", "mul": "mul", "or": "or", "and": "and", "xor": "xor"}
#: Shifts by (operation, signed); the count is masked to the width.
SHIFTS = {("lsh", False): "shl", ("rsh", False): "lshr", ("rsh", True): "ashr"}
#: Division and remainder by (operation, signed).
DIVISION = {("div", False): "udiv", ("div", True): "sdiv",
            ("mod", False): "urem", ("mod", True): "srem"}
#: Comparisons by (operation, signed) -> icmp predicate ("set": dst & src != 0).
COMPARISONS = {("eq", False): "eq", ("ne", False): "ne", ("gt", False): "ugt",
               ("ge", False): "uge", ("lt", False): "ult", ("le", False): "ule",
               ("gt", True): "sgt", ("ge", True): "sge", ("lt", True): "slt",
               ("le", True): "sle", ("set", False): "ne"}
#: Atomic read-modify-write operations -> atomicrmw operation.
ATOMICS = {"atomic_add": "add", "atomic_or": "or", "atomic_and": "and", "atomic_xor": "xor",
           "atomic_xchg": "xchg"}
#: addr_space_cast by (destination space, source space): what the compiler emits.
CASTS = {(0, 1): "to_kernel", (1, 0): "to_arena"}
BPF_ANY, BPF_EXIST = constant("BPF_ANY"), constant("BPF_EXIST")
#: A ring buffer record header's length bits (busy and discard bits clear).
_LEN_MASK32 = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & M32
#: Memory operations the access machinery handles.
MEMORY = {"load", "load_acquire", "store", "store_release", *ATOMICS, "atomic_cmpxchg"}

RET = "{i64, i64, i64, i64, i64, i64, i64}"
#: Functions of at least this many instructions, in a program without
#: loops or callbacks, get LLVM's quick code generation (fast instruction
#: selection, no machine optimisations, still its full register
#: allocator): it takes about half the time, and code whose instructions
#: run once per run gains little from more.  Programs with loops, and
#: small functions, get the full level-1 pipeline.
QUICK_MIN_INSNS = 256
#: A small loop is written as several copies run in a row (see
#: :meth:`Generator._block`): as many as fit in UNROLL_INSNS instructions,
#: at least 2 and at most UNROLL_COPIES_MAX, for loops of up to
#: UNROLL_BLOCK_MAX instructions.
UNROLL_INSNS, UNROLL_COPIES_MAX, UNROLL_BLOCK_MAX = 32, 8, 64
#: Branch weights: slow paths (callbacks into Python, errors) are cold, so
#: LLVM lays them out of line and spills around them, not in the hot path.
LIKELY, UNLIKELY = "!prof !0", "!prof !1"
CALLBACK_TYPES = {
    "helper": "i64 (i64, i64, i64, i64, i64, i64, i64)",
    "resolve": "i64 (i64, i64, i64)",
    "step": "i64 (i64, i64)",
    "tail": "i64 (i64, i64, i64, i64, i64)",
    "trap": "i64 (i64, i64, i64, i64)",
    "callx": "i64 (i64, i64, i64, i64, i64, i64, i64, i64)",
}


class Unsupported(Exception):
    """A program the JIT does not compile (the interpreter runs it instead)."""


@dataclass
class Options:
    """What shapes the code besides the instructions (all part of the cache key)."""

    frame_size: int = 512
    max_depth: int = 8
    max_insns: int | None = None
    may_goto_budget: int = 0
    #: pc -> how the helper call at pc is compiled: "python", "step" or "tail".
    helper_calls: dict[int, str] = field(default_factory=dict)
    #: pc -> what a pseudo lddw loads: "slot" (resolved at load) or "unresolved".
    references: dict[int, str] = field(default_factory=dict)
    #: pc of a ``bpf_map_lookup_elem`` call on an array map -> the map's value
    #: stride: the lookup is inlined (the kernel does the same), with the
    #: Python helper as its slow path (another map in r1, a key off the stack).
    inline_lookups: dict[int, int] = field(default_factory=dict)
    #: pc of a ``bpf_map_lookup_elem`` call on a hash map -> its key size
    #: (1, 2, 4 or 8): a table of recent answers in native memory serves
    #: repeated keys (see :meth:`Generator._hash_lookup`).
    inline_hash: dict[int, int] = field(default_factory=dict)
    #: pc in :attr:`inline_hash` -> the map's kind when it is not a plain
    #: hash map: "percpu", "lru" or "lru_percpu".  Its table keeps value
    #: slots (the address is the running CPU's), and an LRU hit records its
    #: touch in the map's native touch record (see :meth:`Generator._hash_lookup`).
    hash_kinds: dict[int, str] = field(default_factory=dict)
    #: pc of a ``bpf_map_update_elem`` call on a plain hash map with a key of
    #: 1, 2, 4 or 8 bytes -> (key size, value size): a table of the keys'
    #: value addresses, learnt from the map after each update, lets later
    #: updates of those keys write their value in native code (see
    #: :meth:`Generator._hash_update`).
    hash_updates: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: pc of a ``bpf_map_lookup_elem`` call on a per-CPU array -> its value
    #: stride: inlined as for :attr:`inline_lookups`, the base being the
    #: running CPU's (the environment's CPU, read in native memory).
    percpu_lookups: dict[int, int] = field(default_factory=dict)
    #: pc of a ``bpf_map_update_elem`` call on a plain array map -> (value
    #: stride, value size): with the key and the value on the stack and flags
    #: BPF_ANY or BPF_EXIST, the value is copied in native code.
    array_updates: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: pc of a helper call answered in native code when it can -> the helper's
    #: name ("ktime_get_ns", "get_prandom_u32", "get_smp_processor_id"): from
    #: the environment's :class:`~pybpf.helpers.environment.NativeEnvironment`,
    #: with the Python helper as the slow path.
    native_helpers: dict[int, str] = field(default_factory=dict)
    #: pc of a ring buffer helper call done in native code when it can ->
    #: "output", "reserve" (on a ring named by a ``lddw`` just before),
    #: "submit" or "discard" (of a record of the program's one reserving
    #: ring): see :meth:`Generator._ringbuf_call`.
    ringbuf_calls: dict[int, str] = field(default_factory=dict)
    #: pc of a memory access a verifier proved in bounds -> what it goes
    #: through: "stack" (translated with no check at all) or "memory" (a
    #: region found through the site's cache, the stack test skipped).
    #: Empty for an unverified program: every access is checked.
    proven: dict[int, str] = field(default_factory=dict)
    #: A loop header of the main function where a run the interpreter
    #: began may continue in this code (on-stack replacement: see
    #: :meth:`pybpf.jit.program.JitProgram.resume`), or None.
    resume_at: int | None = None

    def key(self) -> tuple:
        """The options as plain data."""
        return (self.frame_size, self.max_depth, self.max_insns, self.may_goto_budget,
                sorted(self.helper_calls.items()), sorted(self.references.items()),
                sorted(self.inline_lookups.items()), sorted(self.proven.items()),
                sorted(self.inline_hash.items()), sorted(self.hash_kinds.items()),
                sorted(self.percpu_lookups.items()), sorted(self.array_updates.items()),
                sorted(self.native_helpers.items()), sorted(self.ringbuf_calls.items()),
                sorted(self.hash_updates.items()), self.resume_at)


def proven_safe(pc: int, base: int, off: int, size: int, options: Options,
                r10_fixed: bool) -> bool:
    """Whether the access at ``pc`` (``size`` bytes at register ``base`` +
    ``off``) is known to be inside the stack, so it runs unchecked.

    Without a verifier's facts, only the stack through ``r10`` qualifies: r10
    is the end of the current frame whenever nothing writes it.
    ``options.proven`` adds the stack accesses a verifier proved, through any
    register.
    """
    if base == 10 and r10_fixed and -options.frame_size <= off and off + size <= 0:
        return True
    return options.proven.get(pc) == "stack"


# --- program structure ----------------------------------------------------------------

def operands(pc: int, insn: Insn, value: int | None = None) -> Operands:
    """The semantics table's view of one instruction."""
    return Operands(pc, insn.dst, insn.src, insn.off, insn.imm, value)


def forms_of(insns: Sequence[Insn]) -> list[Semantics | None]:
    """Each slot's semantics (None for an invalid slot or the second half of lddw)."""
    out: list[Semantics | None] = []
    for insn in insns:
        form = insn.form
        out.append(semantics_of(form) if form is not None else None)
    return out


def function_entries(insns: Sequence[Insn], sems: Sequence[Semantics | None]) -> list[int]:
    """The pcs where functions start: 0, local call targets, ``lddw func`` targets."""
    entries = {0}
    for pc, sem in enumerate(sems):
        if sem is not None and sem.enters_function:
            entries.add(sem.target_pc(operands(pc, insns[pc])))
    return sorted(e for e in entries if 0 <= e < len(insns))


def blocks_of(insns: Sequence[Insn], sems: Sequence[Semantics | None]) -> dict[int, int]:
    """Basic blocks: start pc -> end pc (exclusive)."""
    n = len(insns)
    leaders = set(function_entries(insns, sems))
    pc = 0
    while pc < n:
        sem = sems[pc]
        size = 2 if sem is not None and insns[pc].is_lddw else 1
        if sem is not None and sem.control is not Control.NEXT:
            if sem.target is not None:
                leaders.add(sem.target_pc(operands(pc, insns[pc])))
            leaders.add(pc + size)
        pc += size
    starts = sorted(p for p in leaders if 0 <= p < n)
    return {s: (starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)}


def slot_size(insns: Sequence[Insn], pc: int) -> int:
    """How many slots the instruction at ``pc`` takes."""
    return 2 if insns[pc].is_lddw else 1


def successors(insns: Sequence[Insn], sems: Sequence[Semantics | None], start: int,
               end: int) -> list[int]:
    """The blocks a block continues at inside its function (calls return to
    the next instruction; exits continue nowhere)."""
    pc = start
    last = start
    while pc < end:
        last = pc
        pc += slot_size(insns, pc)
    sem = sems[last]
    if sem is None:
        return []
    nxt = last + slot_size(insns, last)
    ops = operands(last, insns[last])
    control = sem.control
    if control is Control.EXIT:
        return []
    if control is Control.JUMP:
        return [sem.target_pc(ops)]
    if control is Control.BRANCH:
        return [nxt, sem.target_pc(ops)]
    return [nxt]


# --- the module ---------------------------------------------------------------------

class _Function:
    """The text of one LLVM function being written."""

    def __init__(self, counter: itertools.count):
        self.lines: list[str] = []
        self.counter = counter
        #: register -> the SSA value it holds, known since the last label
        #: (a label may be reached from elsewhere: it forgets them all).
        self.known: dict[int, str] = {}

    def tmp(self) -> str:
        return f"%t{next(self.counter)}"

    def label(self, name: str) -> str:
        return f"{name}.{next(self.counter)}"

    def __call__(self, text: str) -> None:
        self.lines.append("  " + text)

    def block(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.known = {}


class Generator:
    """Writes the module of one program."""

    def __init__(self, insns: Sequence[Insn], options: Options):
        self.insns = list(insns)
        self.options = options
        self.sems = forms_of(self.insns)
        self.n = len(self.insns)
        self._check()
        self.blocks = blocks_of(self.insns, self.sems)
        self.entries = function_entries(self.insns, self.sems)
        self.layout = L.Layout(entries=list(self.entries))
        #: The functions to compile quickly (large, in a program without loops).
        self.quick: list[str] = []
        self._looping: bool | None = None
        #: While a copy of a loop is written (see :meth:`_block`): (its
        #: header, the labels of its blocks in this copy, where its back
        #: edges go).
        self._copy: tuple[int, dict[int, str], str] | None = None
        self._loop_table: dict[int, tuple[list[int], int]] | None = None
        self._flow_table: dict[int, tuple[int, list[int]]] | None = None
        #: The blocks of the function being written.
        self._emitting: set[int] = set()
        self._stack_hints: dict[int, frozenset[int]] | None = None
        self.counter = itertools.count()
        self.r10_fixed = not any(
            sem is not None and insn.dst == 10 and self._writes_dst(sem)
            for insn, sem in zip(self.insns, self.sems))
        self._site_of: dict[int, int] = {}
        self._helper_of: dict[int, int] = {}
        self._map_of: dict[int, int] = {}
        self._hash_of: dict[int, int] = {}
        self._ring_of: dict[int, int] = {}
        self._plan()
        resume = options.resume_at
        if resume is not None and (not self.r10_fixed or resume not in self._reachable(0)):
            raise Unsupported(f"a run cannot continue at pc {resume}: not a block of the "
                              f"main function, or the program writes r10")

    # --- planning: the runtime block's tables -------------------------------------

    def _check(self) -> None:
        pc = 0
        while pc < self.n:
            sem = self.sems[pc]
            if sem is None:
                raise Unsupported(f"invalid instruction at {pc}")
            insn = self.insns[pc]
            if insn.dst > 10 or insn.src > 10:
                raise Unsupported(f"register number above 10 at {pc}")
            pc += slot_size(self.insns, pc)

    @staticmethod
    def _writes_dst(sem: Semantics) -> bool:
        return sem.control is Control.NEXT and sem.operation not in (
            "store", "store_release", *ATOMICS, "atomic_cmpxchg", "call_helper", "call_kfunc",
            "load_packet")

    def _plan(self) -> None:
        for pc, sem in enumerate(self.sems):
            if sem is None:
                continue
            insn = self.insns[pc]
            if sem.operation == "load_imm64" and sem.reference is not None \
                    and not sem.enters_function:
                if self.options.references.get(pc) == "slot":
                    self.layout.lddw[pc] = len(self.layout.lddw)
            elif sem.operation in MEMORY:
                base, off = self._address_operands(sem, insn)
                if not proven_safe(pc, base, off, sem.size, self.options, self.r10_fixed):
                    self._site_of[pc] = len(self.layout.sites)
                    self.layout.sites.append(pc)
                    op = sem.operation
                    kind = "read" if op in ("load", "load_acquire") else \
                        "write" if op in ("store", "store_release") else "atomic"
                    self.layout.site_info.append((sem.size, kind))
            elif sem.operation == "call_helper" and \
                    self.options.helper_calls.get(pc, "step") == "python":
                self._helper_of[pc] = len(self.layout.helpers)
                self.layout.helpers.append(pc)
                if pc in self.options.inline_lookups or pc in self.options.percpu_lookups \
                        or pc in self.options.array_updates:
                    self._map_of[pc] = len(self.layout.maps)
                    self.layout.maps.append(pc)
                elif pc in self.options.inline_hash or pc in self.options.hash_updates:
                    self._hash_of[pc] = len(self.layout.hashes)
                    self.layout.hashes.append(pc)
                elif pc in self.options.ringbuf_calls:
                    self._ring_of[pc] = len(self.layout.rings)
                    self.layout.rings.append(pc)

    @staticmethod
    def _address_operands(sem: Semantics, insn: Insn) -> tuple[int, int]:
        """(base register, offset) of a memory instruction."""
        if sem.operation in ("load", "load_acquire"):
            return insn.src, insn.off
        return insn.dst, insn.off

    # --- the module -----------------------------------------------------------------

    def module(self) -> str:
        """The LLVM module's text."""
        out = [
            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
            "declare i32 @PyErr_CheckSignals()",
            "declare i16 @llvm.bswap.i16(i16)",
            "declare i32 @llvm.bswap.i32(i32)",
            "declare i64 @llvm.bswap.i64(i64)",
            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)",
            "declare i32 @clock_gettime(i32, ptr)",
            'attributes #0 = { nounwind "no-jump-tables"="true" }',
            '!0 = !{!"branch_weights", i32 4000, i32 1}',
            '!1 = !{!"branch_weights", i32 1, i32 4000}',
            "",
        ]
        for entry in self.entries:
            out.extend(self._function(entry))
            out.append("")
        return "\n".join(out) + "\n"

    # --- small emitters -----------------------------------------------------------------

    def _slot(self, f: _Function, index: int | str) -> str:
        p = f.tmp()
        f(f"{p} = getelementptr i64, ptr %rt, i64 {index}")
        return p

    def _load_slot(self, f: _Function, index: int | str) -> str:
        p = self._slot(f, index)
        v = f.tmp()
        f(f"{v} = load i64, ptr {p}, align 8")
        return v

    def _store_slot(self, f: _Function, index: int | str, value: str) -> None:
        p = self._slot(f, index)
        f(f"store i64 {value}, ptr {p}, align 8")

    def _count(self, f: _Function) -> str:
        """The run's instruction count so far: the function keeps the
        instructions left before it must ask Python (``%left``, counted
        down by each block) and the CHECK_AT they are counted against."""
        lim, left, n = f.tmp(), f.tmp(), f.tmp()
        f(f"{lim} = load i64, ptr %lim")
        f(f"{left} = load i64, ptr %left")
        f(f"{n} = sub i64 {lim}, {left}")
        return n

    def _set_count(self, f: _Function, n: str) -> None:
        """Continue from count ``n`` against the runtime block's CHECK_AT
        as it is now (Python may have moved it)."""
        lim, left = self._load_slot(f, L.CHECK_AT), f.tmp()
        f(f"store i64 {lim}, ptr %lim")
        f(f"{left} = sub i64 {lim}, {n}")
        f(f"store i64 {left}, ptr %left")

    def _add_count(self, f: _Function, extra: int | str) -> None:
        left, left2 = f.tmp(), f.tmp()
        f(f"{left} = load i64, ptr %left")
        f(f"{left2} = sub i64 {left}, {extra}")
        f(f"store i64 {left2}, ptr %left")

    def _callback(self, f: _Function, name: str, args: Sequence[str]) -> str:
        n = self._count(f)
        counted = name in L.COUNTED_CALLBACKS
        if counted:                         # the run's count goes to Python and back
            self._store_slot(f, L.COUNT, n)
        fp = f.tmp()
        p = self._slot(f, L.CALLBACKS + L.CALLBACK_NAMES.index(name))
        f(f"{fp} = load ptr, ptr {p}, align 8")
        r = f.tmp()
        f(f"{r} = call i64 {fp}({', '.join('i64 ' + a for a in args)})")
        self._set_count(f, self._load_slot(f, L.COUNT) if counted else n)
        return r

    def _update_from_stack(self, f: _Function, base: str, offset: str, r3: str, size: int,
                           done: str) -> None:
        """A native map update's end: ``size`` bytes of the value at stack
        address ``r3`` copied to host address ``base + offset``, r0 = 0."""
        dst = self._pointer(f, base, offset)
        src = self._pointer(f, self._stack_host(f, r3), 0)
        f(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {size}, i1 false)")
        self._set(f, 0, "0")
        f(f"br label %{done}")

    def _check_status(self, f: _Function) -> None:
        st = self._load_slot(f, L.STATUS)
        c = f.tmp()
        f(f"{c} = icmp ne i64 {st}, 0")
        ok = f.label("ok")
        f(f"br i1 {c}, label %bail, label %{ok}, {UNLIKELY}")
        f.block(ok)

    def _on_stack(self, f: _Function, addr: str, size: int) -> str:
        """An i1: ``size`` bytes at VM address ``addr`` lie in the active stack."""
        offset, inside = f.tmp(), f.tmp()
        f(f"{offset} = sub i64 {addr}, %slo")
        f(f"{inside} = icmp ult i64 {offset}, %slim{size}")
        return inside

    def _stack_host(self, f: _Function, addr: str) -> str:
        """The host address of stack address ``addr``."""
        host = f.tmp()
        f(f"{host} = add i64 {addr}, %sdelta")
        return host

    def _map_and_stack_key(self, f: _Function, slots: int, key_size: int) -> tuple[str, str]:
        """For a map helper call: (r2, an i1 saying r1 is the map in runtime
        slot ``slots`` and r2 points at a ``key_size``-byte key on the stack)."""
        r1, r2 = self._get(f, 1), self._get(f, 2)
        same_map, go = f.tmp(), f.tmp()
        f(f"{same_map} = icmp eq i64 {r1}, {self._load_slot(f, slots)}")
        f(f"{go} = and i1 {same_map}, {self._on_stack(f, r2, key_size)}")
        return r2, go

    def _get(self, f: _Function, reg: int) -> str:
        if reg == 10 and self.r10_fixed:
            return "%fp"
        v = f.known.get(reg)
        if v is None:
            v = f.known[reg] = f.tmp()
            f(f"{v} = load i64, ptr %r{reg}")
        return v

    def _set(self, f: _Function, reg: int, value: str) -> None:
        f(f"store i64 {value}, ptr %r{reg}")
        f.known[reg] = value

    def _spill(self, f: _Function) -> None:
        """Registers to the runtime block (for the interpreter)."""
        for reg in range(11):
            self._store_slot(f, L.REGS + reg, self._get(f, reg))

    def _reload(self, f: _Function) -> None:
        """Registers back from the runtime block."""
        for reg in range(11):
            self._set(f, reg, self._load_slot(f, L.REGS + reg))

    def _step(self, f: _Function, pc: int) -> None:
        """Run the instruction at ``pc`` in the interpreter."""
        self._spill(f)
        self._callback(f, "step", [str(pc), "%depth"])
        self._check_status(f)
        self._reload(f)

    def _trap(self, f: _Function, code: int, pc: int | str, arg: str = "0") -> None:
        self._callback(f, "trap", [str(code), str(pc), "%depth", arg])
        f("br label %bail")

    def _forget_sites(self, f: _Function) -> None:
        """Drop every site's cached region (after Python may have remapped memory)."""
        if self.layout.sites:
            p = self._slot(f, self.layout.sites_base)
            f(f"call void @llvm.memset.p0.i64(ptr {p}, i8 0, "
              f"i64 {8 * L.SITE_SLOTS * len(self.layout.sites)}, i1 false)")

    def _zero_frame(self, f: _Function, depth: str) -> None:
        """Zero the stack frame of ``depth`` (as the interpreter's enter does)."""
        fs = self.options.frame_size
        d1 = f.tmp()
        f(f"{d1} = add i64 {depth}, 1")
        span = f.tmp()
        f(f"{span} = mul i64 {d1}, {fs}")
        top = self._load_slot(f, L.STACK_TOP)
        delta = self._load_slot(f, L.STACK_DELTA)
        lo = f.tmp()
        f(f"{lo} = sub i64 {top}, {span}")
        host = f.tmp()
        f(f"{host} = add i64 {lo}, {delta}")
        ptr = f.tmp()
        f(f"{ptr} = inttoptr i64 {host} to ptr")
        f(f"call void @llvm.memset.p0.i64(ptr align 8 {ptr}, i8 0, i64 {fs}, i1 false)")

    # --- a bpf function -----------------------------------------------------------------

    def _reachable(self, entry: int) -> list[int]:
        seen: set[int] = set()
        todo = [entry]
        while todo:
            start = todo.pop()
            if start in seen or start not in self.blocks:
                continue
            seen.add(start)
            todo.extend(successors(self.insns, self.sems, start, self.blocks[start]))
        return sorted(seen)

    def _straight(self, blocks: list[int]) -> bool:
        """Whether a function over ``blocks`` is large and the program has
        no loop (no edge back to a block at or before its own) and no
        callback (``lddw`` of a function, which a helper may call again and
        again): each instruction then runs at most once per run (a call
        per call site), so LLVM's quick code generation serves it (see
        :data:`QUICK_MIN_INSNS`)."""
        if sum(self.blocks[b] - b for b in blocks) < QUICK_MIN_INSNS:
            return False
        if self._looping is None:
            self._looping = any(
                sem is not None and sem.enters_function and sem.operation == "load_imm64"
                for sem in self.sems) or any(
                s <= b for b, end in self.blocks.items()
                for s in successors(self.insns, self.sems, b, end))
        return not self._looping

    def _function(self, entry: int) -> list[str]:
        f = _Function(self.counter)
        self.f = f
        blocks = self._reachable(entry)
        if self._straight(blocks):
            self.quick.append(f"f{entry}")
        header = (f"define dso_local {RET} @f{entry}(ptr %rt, i64 %depth, i64 %n0, "
                  f"i64 %a1, i64 %a2, i64 %a3, i64 %a4, i64 %a5) #0 {{")
        f.block("start")
        for reg in range(11):
            f(f"%r{reg} = alloca i64")
        f("%left = alloca i64")
        f("%lim = alloca i64")
        if "ktime_get_ns" in self.options.native_helpers.values():
            f("%ts = alloca [2 x i64], align 8")
        self._set_count(f, "%n0")
        for reg in range(1, 6):
            f(f"store i64 %a{reg}, ptr %r{reg}")
        for i, reg in enumerate(L.CARRIED_REGISTERS):    # what the caller handed over
            f(f"store i64 {self._load_slot(f, L.CARRIED + i)}, ptr %r{reg}")
            self._store_slot(f, L.CARRIED + i, "0")
        fs = self.options.frame_size
        top = self._load_slot(f, L.STACK_TOP)
        f(f"%dspan = mul i64 %depth, {fs}")
        f(f"%fp = sub i64 {top}, %dspan")
        f("store i64 %fp, ptr %r10")
        f(f"%slo = sub i64 %fp, {fs}")
        f(f"%sspan = add i64 %dspan, {fs}")
        for size in (1, 2, 4, 8):
            f(f"%slim{size} = sub i64 %sspan, {size - 1}")
        f(f"%sdelta = add i64 {self._load_slot(f, L.STACK_DELTA)}, 0")
        # The frame's end as a host pointer: accesses at a constant offset
        # from a fixed r10 address through it ([reg + disp] on the host).
        f("%hfpv = add i64 %fp, %sdelta")
        f("%hfp = inttoptr i64 %hfpv to ptr")
        if entry == 0 and self.options.resume_at is not None:
            self._resume_entry(f, self.options.resume_at)
        self._limit_check(f, entry)
        f(f"br label %b{entry}")
        self._emitting = set(blocks)
        for start in blocks:
            self._block(f, start, self.blocks[start])
        f.block("bail")
        n = self._count(f)
        f(f"%bailv = insertvalue {RET} zeroinitializer, i64 {n}, 6")
        f(f"ret {RET} %bailv")
        f.block("ranoff")
        self._trap(f, L.TRAP_RAN_OFF, self.n - 1)
        return [header, *f.lines, "}"]

    def _resume_entry(self, f: _Function, pc: int) -> None:
        """The way into the main function for a run the interpreter began:
        while the RESUME slot is set, r0..r9 come from the REGS slots and
        the run goes on at the block at ``pc`` (the interpreter checked the
        limits there).  Frame 0 is the interpreter's, contents and all."""
        flag, resume, fresh = f.tmp(), f.label("resume"), f.label("fresh")
        f(f"{flag} = icmp ne i64 {self._load_slot(f, L.RESUME)}, 0")
        f(f"br i1 {flag}, label %{resume}, label %{fresh}, {UNLIKELY}")
        f.block(resume)
        self._store_slot(f, L.RESUME, "0")
        for reg in range(10):
            self._set(f, reg, self._load_slot(f, L.REGS + reg))
        f(f"br label %b{pc}")
        f.block(fresh)

    def _limit_check(self, f: _Function, pc: int) -> None:
        """Ask Python when the count has passed the runtime block's CHECK_AT
        (checked where the interpreter checks: entering a function and at
        backward jumps): it raises for the instruction limit or the
        wall-clock one (``max_seconds``) or says when to ask next."""
        left, over = f.tmp(), f.tmp()
        f(f"{left} = load i64, ptr %left")
        f(f"{over} = icmp slt i64 {left}, 0")
        ask, go = f.label("check"), f.label("go")
        f(f"br i1 {over}, label %{ask}, label %{go}, {UNLIKELY}")
        f.block(ask)
        # Python's signal handlers run here (the code holds the GIL): one
        # that raises (Ctrl-C) stops the run with its exception set.
        sig, ok = f.tmp(), f.tmp()
        f(f"{sig} = call i32 @PyErr_CheckSignals()")
        f(f"{ok} = icmp eq i32 {sig}, 0")
        asked, stop = f.label("asked"), f.label("signal")
        f(f"br i1 {ok}, label %{asked}, label %{stop}, {LIKELY}")
        f.block(stop)
        f(f"store i64 {L.INTERRUPTED}, ptr %rt, align 8")
        f("br label %bail")
        f.block(asked)
        self._callback(f, "trap", [str(L.TRAP_CHECK), str(pc), "%depth", self._count(f)])
        st = self._load_slot(f, L.STATUS)
        c = f.tmp()
        f(f"{c} = icmp ne i64 {st}, 0")
        f(f"br i1 {c}, label %bail, label %{go}")
        f.block(go)

    def _goto(self, f: _Function, target: int, from_pc: int) -> None:
        if not 0 <= target < self.n:
            if target < 0:
                self._callback(f, "trap", [str(L.TRAP_RAN_OFF), str(target), "%depth", "0"])
                f("br label %bail")
                return
            f("br label %ranoff")
            return
        if self._copy is not None:                    # in a copy of a loop: no check
            head, labels, then = self._copy
            if target == head:
                f(f"br label %{then}")
                return
            if target in labels:
                f(f"br label %{labels[target]}")
                return
        if target <= from_pc:
            self._limit_check(f, target)
        f(f"br label %b{target}")

    def _block(self, f: _Function, start: int, end: int) -> None:
        f.block(f"b{start}")
        loop = self._loops().get(start)
        if loop is None or not all(s in self._emitting for s in loop[0]):
            self._body(f, start, end, self._count_of(start, end))
            return
        # A loop (blocks ``start..`` whose last jumps back here, with no
        # inner loop, call or side entry) runs as ``copies`` copies of its
        # blocks in a row whenever the budget left covers them all: no back
        # edge among them could reach CHECK_AT, so only the last copy's go
        # back here to look.  Otherwise it runs singly, checked at each.
        members, size = loop
        copies = max(2, min(UNROLL_COPIES_MAX, UNROLL_INSNS // size))
        left, room = f.tmp(), f.tmp()
        f(f"{left} = load i64, ptr %left")
        f(f"{room} = icmp sge i64 {left}, {copies * size}")
        heads = [f.label(f"unrolled{start}") for _ in range(copies)]
        single = f.label(f"single{start}")
        f(f"br i1 {room}, label %{heads[0]}, label %{single}")
        for i, head in enumerate(heads):
            labels = {s: head if s == start else f.label(f"unrolled{s}") for s in members}
            self._copy = (start, labels, heads[i + 1] if i + 1 < copies else f"b{start}")
            for s in members:
                f.block(labels[s])
                self._body(f, s, self.blocks[s], self._count_of(s, self.blocks[s]))
        self._copy = None
        f.block(single)
        self._body(f, start, end, self._count_of(start, end))

    def _count_of(self, start: int, end: int) -> int:
        """Instructions in the block ``start..end`` (an lddw is one)."""
        count, pc = 0, start
        while pc < end:
            count += 1
            pc += slot_size(self.insns, pc)
        return count

    def _loops(self) -> dict[int, tuple[list[int], int]]:
        """Loops the code may run as copies in a row: header -> (its
        blocks, in order, the header first; their instructions).  A loop
        is the blocks from a header to the last block that jumps back to
        it, when no other block jumps into them, none jumps backward to
        another of them (an inner loop: an iteration would no longer run
        each block at most once), they hold at most UNROLL_BLOCK_MAX
        instructions and no call (whose callbacks could move CHECK_AT)."""
        if self._loop_table is not None:
            return self._loop_table
        starts = list(self.blocks)
        following = {start: targets for start, (_, targets) in self._flow().items()}
        before: dict[int, list[int]] = {}
        for b, targets in following.items():
            for t in targets:
                before.setdefault(t, []).append(b)
        table: dict[int, tuple[list[int], int]] = {}
        for head in starts:
            latches = [b for b in before.get(head, ()) if b >= head]
            if not latches:
                continue
            end = self.blocks[max(latches)]
            members, size = [], 0
            for b in starts[bisect.bisect_left(starts, head):]:
                if b >= end or size > UNROLL_BLOCK_MAX:
                    break
                members.append(b)
                size += self._count_of(b, self.blocks[b])
            if size <= UNROLL_BLOCK_MAX and all(
                    self._plain_loop_block(b, head, end, following[b], before.get(b, ()))
                    for b in members):
                table[head] = (members, size)
        self._loop_table = table
        return table

    def _flow(self) -> dict[int, tuple[int, list[int]]]:
        """Each block's start -> (its end, the blocks it continues at), worked out once."""
        if self._flow_table is None:
            self._flow_table = {start: (end, successors(self.insns, self.sems, start, end))
                                for start, end in self.blocks.items()}
        return self._flow_table

    def _plain_loop_block(self, block: int, head: int, end: int, targets: Sequence[int],
                          sources: Sequence[int]) -> bool:
        """Whether ``block`` may be copied as part of the loop ``head..end``."""
        if block != head and (not sources or any(not head <= s < end for s in sources)):
            return False                                    # entered from outside
        if any(t != head and (t < head or head < t <= block) for t in targets):
            return False                                    # another backward jump
        pc = block
        while pc < self.blocks[block]:
            sem = self.sems[pc]
            if sem is None or sem.control in (Control.CALL, Control.INDIRECT) or \
                    sem.operation in ("call_helper", "call_kfunc", "load_packet", "may_goto"):
                return False
            pc += slot_size(self.insns, pc)
        return True

    def _body(self, f: _Function, start: int, end: int, count: int) -> None:
        """The instructions of the block ``start..end`` (``count`` of them)."""
        self._add_count(f, count)
        pc = start
        while pc < end:
            sem = self.sems[pc]
            assert sem is not None
            size = slot_size(self.insns, pc)
            self._insn(f, pc, sem, start)
            if sem.control is Control.NEXT and pc + size >= end:
                self._goto(f, end, start)
            pc += size

    # --- one instruction ----------------------------------------------------------------

    def _insn(self, f: _Function, pc: int, sem: Semantics, block_start: int) -> None:
        insn = self.insns[pc]
        op = sem.operation
        control = sem.control
        if control is Control.BRANCH:
            self._branch(f, pc, sem, insn, block_start)
        elif control is Control.JUMP:
            self._goto(f, sem.target_pc(operands(pc, insn)), block_start)
        elif control is Control.EXIT:
            self._exit(f)
        elif control is Control.CALL:
            self._call_local(f, pc, sem.target_pc(operands(pc, insn)))
            self._goto(f, pc + 1, block_start)
        elif control is Control.INDIRECT:
            self._callx(f, pc, insn)
            self._goto(f, pc + 1, block_start)
        elif op in MEMORY:
            self._memory(f, pc, sem, insn)
        elif op == "call_helper":
            self._call_helper(f, pc, insn)
        elif op in ("call_kfunc", "load_packet"):
            self._step(f, pc)
        elif op == "load_imm64":
            self._lddw(f, pc, sem, insn)
        elif op == "addr_space_cast":
            self._addr_space_cast(f, pc, insn)
        elif op in ("to_le", "to_be", "bswap"):
            self._byte_order(f, sem, insn)
        else:
            self._alu(f, sem, insn)

    def _operand(self, f: _Function, sem: Semantics, insn: Insn) -> str:
        """The second operand as an i64."""
        if sem.source == "reg":
            return self._get(f, insn.src)
        mask = M64 if sem.width == 64 else M32
        return str(_signed64(insn.imm & mask if sem.width == 32 else insn.imm & M64))

    def _alu(self, f: _Function, sem: Semantics, insn: Insn) -> None:
        op, width = sem.operation, sem.width
        ty = f"i{width}"
        if op == "mov" and sem.signed:         # movsx: the low size bytes, sign-extended
            s = self._get(f, insn.src)
            bits = 8 * sem.size
            t = f.tmp()
            f(f"{t} = trunc i64 {s} to i{bits}")
            x = f.tmp()
            f(f"{x} = sext i{bits} {t} to {ty}")
            self._set(f, insn.dst, self._widen(f, x, width))
            return
        if op == "neg":
            a = self._narrow(f, self._get(f, insn.dst), width)
            x = f.tmp()
            f(f"{x} = sub {ty} 0, {a}")
            self._set(f, insn.dst, self._widen(f, x, width))
            return
        s64 = self._operand(f, sem, insn)
        b = self._narrow(f, s64, width)
        if op == "mov":
            self._set(f, insn.dst, self._widen(f, b, width))
            return
        a = self._narrow(f, self._get(f, insn.dst), width)
        x = f.tmp()
        if op in BINARY:
            f(f"{x} = {BINARY[op]} {ty} {a}, {b}")
        elif (op, sem.signed) in SHIFTS:
            count = f.tmp()
            f(f"{count} = and {ty} {b}, {width - 1}")
            f(f"{x} = {SHIFTS[op, sem.signed]} {ty} {a}, {count}")
        elif (op, sem.signed) in DIVISION:
            x = self._divide(f, op, sem.signed, ty, a, b)
        else:
            raise Unsupported(f"operation {op} has no LLVM translation")
        self._set(f, insn.dst, self._widen(f, x, width))

    def _divide(self, f: _Function, op: str, signed: bool, ty: str, a: str, b: str) -> str:
        """Division and remainder with the ISA's answers where LLVM has none:
        x / 0 = 0, x % 0 = x, and (signed) x / -1 = -x, x % -1 = 0."""
        zero = f.tmp()
        f(f"{zero} = icmp eq {ty} {b}, 0")
        avoid = zero
        minus = None
        if signed:
            minus = f.tmp()
            f(f"{minus} = icmp eq {ty} {b}, -1")
            avoid = f.tmp()
            f(f"{avoid} = or i1 {zero}, {minus}")
        safe = f.tmp()
        f(f"{safe} = select i1 {avoid}, {ty} 1, {ty} {b}")
        q = f.tmp()
        f(f"{q} = {DIVISION[op, signed]} {ty} {a}, {safe}")
        result = q
        if signed:
            special = f.tmp()
            if op == "div":
                f(f"{special} = sub {ty} 0, {a}")
            else:
                special = "0"
            r = f.tmp()
            f(f"{r} = select i1 {minus}, {ty} {special}, {ty} {q}")
            result = r
        out = f.tmp()
        f(f"{out} = select i1 {zero}, {ty} {0 if op == 'div' else a}, {ty} {result}")
        return out

    def _narrow(self, f: _Function, value: str, width: int) -> str:
        if width == 64:
            return value
        if not value.startswith("%"):
            return str(_signed32(int(value) & M32))
        t = f.tmp()
        f(f"{t} = trunc i64 {value} to i32")
        return t

    def _widen(self, f: _Function, value: str, width: int) -> str:
        if width == 64:
            return value
        if not value.startswith("%"):
            return str(int(value) & M32)
        t = f.tmp()
        f(f"{t} = zext i32 {value} to i64")
        return t

    def _byte_order(self, f: _Function, sem: Semantics, insn: Insn) -> None:
        d = self._get(f, insn.dst)
        bits = 8 * sem.size
        if sem.operation == "to_le":
            if bits == 64:
                return
            t = f.tmp()
            f(f"{t} = and i64 {d}, {(1 << bits) - 1}")
            self._set(f, insn.dst, t)
            return
        v = d
        if bits < 64:
            v = f.tmp()
            f(f"{v} = trunc i64 {d} to i{bits}")
        s = f.tmp()
        f(f"{s} = call i{bits} @llvm.bswap.i{bits}(i{bits} {v})")
        if bits < 64:
            z = f.tmp()
            f(f"{z} = zext i{bits} {s} to i64")
            s = z
        self._set(f, insn.dst, s)

    def _addr_space_cast(self, f: _Function, pc: int, insn: Insn) -> None:
        spaces = ((insn.imm >> 16) & 0xFFFF, insn.imm & 0xFFFF)
        kind = CASTS.get(spaces)
        if kind is None:
            self._step(f, pc)          # the interpreter refuses it, naming the spaces
            return
        s = self._get(f, insn.src)
        low = f.tmp()
        f(f"{low} = and i64 {s}, {M32}")
        if kind == "to_arena":
            self._set(f, insn.dst, low)
            return
        base = self._load_slot(f, L.ARENA_BASE)
        full = f.tmp()
        f(f"{full} = or i64 {base}, {low}")
        z = f.tmp()
        f(f"{z} = icmp eq i64 {low}, 0")
        r = f.tmp()
        f(f"{r} = select i1 {z}, i64 0, i64 {full}")
        self._set(f, insn.dst, r)

    def _lddw(self, f: _Function, pc: int, sem: Semantics, insn: Insn) -> None:
        if sem.reference is None:
            self._set(f, insn.dst, str(_signed64(lddw_value(self.insns, pc))))
        elif sem.enters_function:
            base = self._load_slot(f, L.CODE_START)
            v = f.tmp()
            f(f"{v} = add i64 {base}, {8 * sem.target_pc(operands(pc, insn))}")
            self._set(f, insn.dst, v)
        elif pc in self.layout.lddw:
            v = self._load_slot(f, self.layout.lddw_base + self.layout.lddw[pc])
            self._set(f, insn.dst, v)
        else:
            self._step(f, pc)          # unresolved: the interpreter stops, naming it

    def _branch(self, f: _Function, pc: int, sem: Semantics, insn: Insn,
                block_start: int) -> None:
        ops = operands(pc, insn)
        taken, nxt = sem.target_pc(ops), pc + 1
        c = f.tmp()
        if sem.operation == "may_goto":
            b = self._load_slot(f, L.BUDGET)
            b1 = f.tmp()
            f(f"{b1} = sub i64 {b}, 1")
            self._store_slot(f, L.BUDGET, b1)
            f(f"{c} = icmp slt i64 {b1}, 0")
        else:
            width = sem.width
            a = self._narrow(f, self._get(f, insn.dst), width)
            b = self._narrow(f, self._operand(f, sem, insn), width)
            ty = f"i{width}"
            if sem.operation == "set":
                t = f.tmp()
                f(f"{t} = and {ty} {a}, {b}")
                f(f"{c} = icmp ne {ty} {t}, 0")
            else:
                f(f"{c} = icmp {COMPARISONS[sem.operation, sem.signed]} {ty} {a}, {b}")
        yes, no = f.label("taken"), f.label("next")
        f(f"br i1 {c}, label %{yes}, label %{no}")
        f.block(yes)
        self._goto(f, taken, block_start)
        f.block(no)
        self._goto(f, nxt, block_start)

    def _exit(self, f: _Function) -> None:
        agg = "undef"
        for i, reg in enumerate(range(6)):
            v = self._get(f, reg)
            t = f.tmp()
            f(f"{t} = insertvalue {RET} {agg}, i64 {v}, {i}")
            agg = t
        t = f.tmp()
        f(f"{t} = insertvalue {RET} {agg}, i64 {self._count(f)}, 6")
        f(f"ret {RET} {t}")

    # --- calls ------------------------------------------------------------------------

    def _enter(self, f: _Function, pc: int) -> str:
        """Check the depth for a call at ``pc`` and zero the callee's frame;
        returns the callee's depth."""
        d1 = f.tmp()
        f(f"{d1} = add i64 %depth, 1")
        ok = f.tmp()
        f(f"{ok} = icmp ult i64 {d1}, {self.options.max_depth}")
        deep, go = f.label("deep"), f.label("enter")
        f(f"br i1 {ok}, label %{go}, label %{deep}, {LIKELY}")
        f.block(deep)
        self._trap(f, L.TRAP_DEPTH, pc, d1)
        f.block(go)
        self._zero_frame(f, d1)
        return d1

    def _call_function(self, f: _Function, target: int, depth: str) -> None:
        """Call the bpf function at ``target`` (handing it r0..r9, see
        :data:`pybpf.jit.layout.CARRIED`) and take back r0..r5 and the count."""
        args = ", ".join(f"i64 {self._get(f, reg)}" for reg in range(1, 6))
        for i, reg in enumerate(L.CARRIED_REGISTERS):
            self._store_slot(f, L.CARRIED + i, self._get(f, reg))
        n = self._count(f)
        res = f.tmp()
        f(f"{res} = call {RET} @f{target}(ptr %rt, i64 {depth}, i64 {n}, {args})")
        for reg in range(6):
            v = f.tmp()
            f(f"{v} = extractvalue {RET} {res}, {reg}")
            self._set(f, reg, v)
        n2 = f.tmp()
        f(f"{n2} = extractvalue {RET} {res}, 6")
        self._set_count(f, n2)
        self._check_status(f)

    def _call_local(self, f: _Function, pc: int, target: int) -> None:
        if target not in self.entries:
            raise Unsupported(f"call at {pc} to {target}, which is not a function entry")
        depth = self._enter(f, pc)
        self._call_function(f, target, depth)

    def _callx(self, f: _Function, pc: int, insn: Insn) -> None:
        t = self._get(f, insn.dst)
        base = self._load_slot(f, L.CODE_START)
        off = f.tmp()
        f(f"{off} = sub i64 {t}, {base}")
        other, done = f.label("cx_other"), f.label("cx_done")
        cases = {e: f.label(f"cx_{e}") for e in self.entries}
        table = " ".join(f"i64 {8 * e}, label %{lbl}" for e, lbl in cases.items())
        f(f"switch i64 {off}, label %{other} [ {table} ]")
        for e, lbl in cases.items():
            f.block(lbl)
            depth = self._enter(f, pc)
            self._call_function(f, e, depth)
            f(f"br label %{done}")
        f.block(other)
        args = [self._get(f, reg) for reg in range(1, 6)]
        r = self._callback(f, "callx", [str(pc), "%depth", t, *args])
        self._check_status(f)
        self._set(f, 0, r)
        self._forget_sites(f)
        f(f"br label %{done}")
        f.block(done)

    def _call_helper(self, f: _Function, pc: int, insn: Insn) -> None:
        how = self.options.helper_calls.get(pc, "step")
        if how == "tail":
            self._tail_call(f, pc)
            return
        if how != "python":
            self._step(f, pc)
            self._forget_sites(f)
            return
        done = fill = None
        if pc in self.options.array_updates:
            done = self._array_update(f, pc)
        elif pc in self._map_of:
            done = self._array_lookup(f, pc)
        elif pc in self.options.native_helpers:
            done = self._native_helper(f, pc)
        elif pc in self._ring_of:
            done = self._ringbuf_call(f, pc)
        elif pc in self.options.hash_updates:
            done, fill = self._hash_update(f, pc)
        elif pc in self._hash_of:
            done, fill = self._hash_lookup(f, pc)
        args = [self._get(f, reg) for reg in range(1, 6)]
        r = self._callback(f, "helper", [str(self._helper_of[pc]), "%depth", *args])
        self._check_status(f)
        self._set(f, 0, r)
        self._forget_sites(f)
        if fill is not None:
            self._hash_fill(f, pc, r, fill)
            self._set(f, 0, r)
        if done is not None:
            f(f"br label %{done}")
            f.block(done)

    # --- native paths of helper calls ----------------------------------------------------

    @staticmethod
    def _pointer(f: _Function, base: str, offset: int | str) -> str:
        """A pointer to host address ``base + offset``."""
        a, p = f.tmp(), f.tmp()
        f(f"{a} = add i64 {base}, {offset}")
        f(f"{p} = inttoptr i64 {a} to ptr")
        return p

    def _load_at(self, f: _Function, base: str, offset: int | str, ty: str = "i64") -> str:
        """The ``ty`` at host address ``base + offset``."""
        p = self._pointer(f, base, offset)
        v = f.tmp()
        f(f"{v} = load {ty}, ptr {p}, align {4 if ty == 'i32' else 8}")
        return v

    def _word_at(self, f: _Function, table: str, index: str) -> str:
        """Word ``index`` (an i64) of the u64 table at host address ``table``."""
        off = f.tmp()
        f(f"{off} = shl i64 {index}, 3")
        return self._load_at(f, table, off)

    def _env_cpu(self, f: _Function) -> str:
        """The running CPU as the environment's native mirror says it
        (:data:`~pybpf.helpers.environment.NO_CPU` when Python must say)."""
        return self._load_at(f, self._load_slot(f, L.ENV), NativeEnvironment.cpu.offset)

    def _native_helper(self, f: _Function, pc: int) -> str:
        """``ktime_get_ns``, ``get_prandom_u32`` or ``get_smp_processor_id``
        in native code, from the environment's
        :class:`~pybpf.helpers.environment.NativeEnvironment`: the CPU when
        it is a u32, the host's CLOCK_MONOTONIC when the environment's
        monotonic clock is the host's (``time.monotonic_ns``), the next
        number drawn ahead of the random sequence when one is left.  Else
        the Python helper (the builder is left in that slow path); returns
        the label both continue at."""
        name = self.options.native_helpers[pc]
        fast, slow, done = f.label("native_helper"), f.label("helper_slow"), \
            f.label("helper_done")
        env = self._load_slot(f, L.ENV)
        ok = f.tmp()
        if name == "get_smp_processor_id":
            cpu = self._load_at(f, env, NativeEnvironment.cpu.offset)
            f(f"{ok} = icmp ne i64 {cpu}, {_signed64(NO_CPU)}")
            f(f"br i1 {ok}, label %{fast}, label %{slow}, {LIKELY}")
            f.block(fast)
            self._set(f, 0, cpu)
        elif name == "ktime_get_ns":
            host = self._load_at(f, env, NativeEnvironment.host_clock.offset)
            call = f.label("clock")
            f(f"{ok} = icmp ne i64 {host}, 0")
            f(f"br i1 {ok}, label %{call}, label %{slow}, {LIKELY}")
            f.block(call)
            rc, good = f.tmp(), f.tmp()
            f(f"{rc} = call i32 @clock_gettime(i32 {time.CLOCK_MONOTONIC}, ptr %ts)")
            f(f"{good} = icmp eq i32 {rc}, 0")
            f(f"br i1 {good}, label %{fast}, label %{slow}, {LIKELY}")
            f.block(fast)
            sec, nsp, nsec, ns, total = (f.tmp() for _ in range(5))
            f(f"{sec} = load i64, ptr %ts, align 8")
            f(f"{nsp} = getelementptr i64, ptr %ts, i64 1")
            f(f"{nsec} = load i64, ptr {nsp}, align 8")
            f(f"{ns} = mul i64 {sec}, 1000000000")
            f(f"{total} = add i64 {ns}, {nsec}")
            self._set(f, 0, total)
        elif name == "get_prandom_u32":
            next_p = self._pointer(f, env, NativeEnvironment.random_next.offset)
            i = f.tmp()
            f(f"{i} = load i64, ptr {next_p}, align 8")
            count = self._load_at(f, env, NativeEnvironment.random_count.offset)
            f(f"{ok} = icmp ult i64 {i}, {count}")
            f(f"br i1 {ok}, label %{fast}, label %{slow}, {LIKELY}")
            f.block(fast)
            pool, off, i1, r0 = f.tmp(), f.tmp(), f.tmp(), f.tmp()
            f(f"{pool} = add i64 {env}, {NativeEnvironment.random.offset}")
            f(f"{off} = shl i64 {i}, 2")
            v = self._load_at(f, pool, off, "i32")
            f(f"{r0} = zext i32 {v} to i64")
            f(f"{i1} = add i64 {i}, 1")
            f(f"store i64 {i1}, ptr {next_p}, align 8")
            self._set(f, 0, r0)
        else:
            raise Unsupported(f"no native path for helper {name}")
        f(f"br label %{done}")
        f.block(slow)
        return done

    def _array_lookup(self, f: _Function, pc: int) -> str:
        """``bpf_map_lookup_elem`` on an array map in native code, when r1 is
        the map the call was compiled for and the key is on the stack:
        ``index < max_entries ? values + index * stride : NULL``, the values
        of a per-CPU array being the running CPU's.  Emits the fast path and
        leaves the builder in the slow path (the helper; also for a CPU the
        map has no values for); returns the label both continue at."""
        slots = self.layout.maps_base + L.MAP_SLOTS * self._map_of[pc]
        percpu = pc in self.options.percpu_lookups
        stride = self.options.percpu_lookups[pc] if percpu else self.options.inline_lookups[pc]
        fast, slow, done = f.label("array_lookup"), f.label("lookup_slow"), \
            f.label("lookup_done")
        r2, go = self._map_and_stack_key(f, slots, 4)
        cpu = None
        if percpu:
            cpu = self._env_cpu(f)
            known, both = f.tmp(), f.tmp()
            f(f"{known} = icmp ult i64 {cpu}, {self._load_slot(f, slots + 4)}")
            f(f"{both} = and i1 {go}, {known}")
            go = both
        f(f"br i1 {go}, label %{fast}, label %{slow}, {LIKELY}")
        f.block(fast)
        host = self._stack_host(f, r2)
        ptr = f.tmp()
        f(f"{ptr} = inttoptr i64 {host} to ptr")
        key = f.tmp()
        f(f"{key} = load i32, ptr {ptr}, align 1")
        index = f.tmp()
        f(f"{index} = zext i32 {key} to i64")
        inside = f.tmp()
        f(f"{inside} = icmp ult i64 {index}, {self._load_slot(f, slots + 2)}")
        offset = f.tmp()
        f(f"{offset} = mul i64 {index}, {stride}")
        base = self._word_at(f, self._load_slot(f, slots + 3), cpu) if cpu is not None \
            else self._load_slot(f, slots + 1)
        address = f.tmp()
        f(f"{address} = add i64 {base}, {offset}")
        r0 = f.tmp()
        f(f"{r0} = select i1 {inside}, i64 {address}, i64 0")
        self._set(f, 0, r0)
        f(f"br label %{done}")
        f.block(slow)
        return done

    def _array_update(self, f: _Function, pc: int) -> str:
        """``bpf_map_update_elem`` on a plain array map in native code, when
        r1 is the map the call was compiled for, the key and the value are
        on the stack and the flags are BPF_ANY or BPF_EXIST: the value is
        copied into its slot (r0 = 0), or r0 = -E2BIG for an index past the
        end, as the map's own update answers.  Emits the fast path and
        leaves the builder in the slow path (the helper); returns the label
        both continue at."""
        slots = self.layout.maps_base + L.MAP_SLOTS * self._map_of[pc]
        stride, size = self.options.array_updates[pc]
        fast, copy, big, slow, done = (f.label(x) for x in (
            "array_update", "update_copy", "update_big", "update_slow", "update_done"))
        r2, go = self._map_and_stack_key(f, slots, 4)
        r3, r4 = self._get(f, 3), self._get(f, 4)
        voff, vlim, value_ok, any_, exist, flags_ok, all_ = (f.tmp() for _ in range(7))
        f(f"{voff} = sub i64 {r3}, %slo")
        f(f"{vlim} = sub i64 %sspan, {size - 1}")
        f(f"{value_ok} = icmp ult i64 {voff}, {vlim}")
        f(f"{any_} = icmp eq i64 {r4}, {BPF_ANY}")
        f(f"{exist} = icmp eq i64 {r4}, {BPF_EXIST}")
        f(f"{flags_ok} = or i1 {any_}, {exist}")
        f(f"{all_} = and i1 {value_ok}, {flags_ok}")
        go2 = f.tmp()
        f(f"{go2} = and i1 {go}, {all_}")
        f(f"br i1 {go2}, label %{fast}, label %{slow}, {LIKELY}")
        f.block(fast)
        key = self._load_at(f, self._stack_host(f, r2), 0, "i32")
        index, inside = f.tmp(), f.tmp()
        f(f"{index} = zext i32 {key} to i64")
        f(f"{inside} = icmp ult i64 {index}, {self._load_slot(f, slots + 2)}")
        f(f"br i1 {inside}, label %{copy}, label %{big}, {LIKELY}")
        f.block(copy)
        offset = f.tmp()
        f(f"{offset} = mul i64 {index}, {stride}")
        self._update_from_stack(f, self._load_slot(f, slots + 5), offset, r3, size, done)
        f.block(big)
        self._set(f, 0, str(-errno.E2BIG))
        f(f"br label %{done}")
        f.block(slow)
        return done

    def _ringbuf_call(self, f: _Function, pc: int) -> str:
        """A ring buffer helper in native code, as the map's own methods
        (:class:`pybpf.maps.ringbuf.RingBuf`) do it, while holding the GIL:

        - ``bpf_ringbuf_output``: reserve, copy the data (1 or more bytes on
          the stack), commit; r0 = 0;
        - ``bpf_ringbuf_reserve`` (flags 0, 1 or more bytes): r0 = the record;
        - ``bpf_ringbuf_submit`` / ``bpf_ringbuf_discard`` of a busy record
          of the ring: copy a record that runs past the end back to the
          start, clear the busy bit (set the discard bit); r0 = 0.

        Only when r1 is the ring the call was compiled for (a submit: r1
        inside its data area), no Python reservation is under way (the
        positions' busy word) and no consumer needs a wake-up (flags
        BPF_RB_FORCE_WAKEUP, or no BPF_RB_NO_WAKEUP with the consumer at
        the record); else, and when the ring is full, the helper does it
        (counting the drop, waking the consumer).  Emits the fast path and
        leaves the builder in the slow path; returns the label both
        continue at."""
        kind = self.options.ringbuf_calls[pc]
        slots = self.layout.rings_base + L.RING_SLOTS * self._ring_of[pc]
        fast, slow, done = f.label("ring_fast"), f.label("ring_slow"), f.label("ring_done")
        r1, r2, r3, r4 = (self._get(f, reg) for reg in range(1, 5))
        positions = self._load_slot(f, slots + 3)
        conditions = []
        if kind in ("output", "reserve"):
            size, flags = (r3, r4) if kind == "output" else (r2, r3)
            conditions.append(self._icmp(f, "eq", r1, self._load_slot(f, slots)))
            less = f.tmp()
            f(f"{less} = sub i64 {size}, 1")
            limit = "%sspan" if kind == "output" else str(RINGBUF_MAX_RECORD_SZ)
            conditions.append(self._icmp(f, "ult", less, limit))       # 1 <= size <= limit
            if kind == "output":                       # the data is on the stack
                off, room = f.tmp(), f.tmp()
                f(f"{off} = sub i64 {r2}, %slo")
                f(f"{room} = sub i64 %sspan, {size}")
                conditions.append(self._icmp(f, "ule", off, room))
                zero = self._icmp(f, "eq", flags, "0")
                conditions.append(self._or(f, zero, self._icmp(f, "eq", flags,
                                                               str(BPF_RB_NO_WAKEUP))))
            else:
                conditions.append(self._icmp(f, "eq", flags, "0"))
        else:
            record = f.tmp()
            f(f"{record} = sub i64 {r1}, {self._load_slot(f, slots + 4)}")
            conditions.append(self._icmp(f, "uge", record, str(BPF_RINGBUF_HDR_SZ)))
            conditions.append(self._icmp(f, "ule", record, self._load_slot(f, slots + 2)))
        conditions.append(self._icmp(f, "eq", self._load_at(
            f, positions, RingPositions.busy.offset), "0"))
        go = conditions[0]
        for c in conditions[1:]:
            both = f.tmp()
            f(f"{both} = and i1 {go}, {c}")
            go = both
        f(f"br i1 {go}, label %{fast}, label %{slow}, {LIKELY}")
        f.block(fast)
        data = self._load_slot(f, slots + 1)
        ring_size = self._load_slot(f, slots + 2)
        mask = f.tmp()
        f(f"{mask} = sub i64 {ring_size}, 1")
        cons = self._load_at(f, positions, RingPositions.consumer.offset)
        if kind in ("output", "reserve"):
            header, offset, length, size32 = self._ring_reserve(
                f, data, mask, cons, positions, size, zero if kind == "output" else None, slow)
            if kind == "reserve":
                address = f.tmp()
                f(f"{address} = add i64 {self._load_slot(f, slots + 4)}, "
                  f"{offset}")
                record_at = f.tmp()
                f(f"{record_at} = add i64 {address}, {BPF_RINGBUF_HDR_SZ}")
                address = record_at
                self._set(f, 0, address)
                f(f"br label %{done}")
                f.block(slow)
                return done
            sample = f.tmp()
            f(f"{sample} = getelementptr i8, ptr {header}, i64 {BPF_RINGBUF_HDR_SZ}")
            src = self._pointer(f, self._stack_host(f, r2), 0)
            f(f"call void @llvm.memcpy.p0.p0.i64(ptr {sample}, ptr {src}, i64 {size}, i1 false)")
            self._ring_commit(f, data, ring_size, header, offset, length, size32)
        else:
            offset = f.tmp()
            f(f"{offset} = sub i64 {record}, {BPF_RINGBUF_HDR_SZ}")
            header = self._pointer(f, data, offset)
            hdr = f.tmp()
            f(f"{hdr} = load i32, ptr {header}, align 1")
            hbusy = f.tmp()
            f(f"{hbusy} = and i32 {hdr}, {_signed32(BPF_RINGBUF_BUSY_BIT)}")
            idle = self._icmp(f, "eq", hbusy, "0", "i32")
            # the wake-up Python's commit would make: forced, or the consumer at the record
            force = f.tmp()
            f(f"{force} = and i64 {r2}, {BPF_RB_FORCE_WAKEUP}")
            nowake = f.tmp()
            f(f"{nowake} = and i64 {r2}, {BPF_RB_NO_WAKEUP}")
            cmask = f.tmp()
            f(f"{cmask} = and i64 {cons}, {mask}")
            at = self._icmp(f, "eq", cmask, offset)
            quiet = self._icmp(f, "eq", nowake, "0")
            wake = self._or(f, self._icmp(f, "ne", force, "0"), f"{self._and(f, at, quiet)}")
            leave = self._or(f, idle, wake)
            commit = f.label("ring_commit")
            f(f"br i1 {leave}, label %{slow}, label %{commit}, {UNLIKELY}")
            f.block(commit)
            size32, size64, grown, length = f.tmp(), f.tmp(), f.tmp(), f.tmp()
            f(f"{size32} = and i32 {hdr}, {_LEN_MASK32}")
            f(f"{size64} = zext i32 {size32} to i64")
            f(f"{grown} = add i64 {size64}, {BPF_RINGBUF_HDR_SZ + 7}")
            f(f"{length} = and i64 {grown}, -8")
            final = size32
            if kind == "discard":
                final = f.tmp()
                f(f"{final} = or i32 {size32}, {BPF_RINGBUF_DISCARD_BIT}")
            self._ring_commit(f, data, ring_size, header, offset, length, final)
        self._set(f, 0, "0")
        f(f"br label %{done}")
        f.block(slow)
        return done

    @staticmethod
    def _icmp(f: _Function, predicate: str, a: str, b: str, ty: str = "i64") -> str:
        c = f.tmp()
        f(f"{c} = icmp {predicate} {ty} {a}, {b}")
        return c

    @staticmethod
    def _or(f: _Function, a: str, b: str) -> str:
        c = f.tmp()
        f(f"{c} = or i1 {a}, {b}")
        return c

    @staticmethod
    def _and(f: _Function, a: str, b: str) -> str:
        c = f.tmp()
        f(f"{c} = and i1 {a}, {b}")
        return c

    def _ring_reserve(self, f: _Function, data: str, mask: str, cons: str, positions: str,
                      size: str, wake_if: str | None, slow: str) -> tuple[str, str, str, str]:
        """Reserve ``size`` bytes as ``RingBuf._reserve`` does: move the
        pending position past the committed records, go to ``slow`` when
        the ring is full (or, when ``wake_if`` holds, when the consumer sits
        where the record goes: its commit wakes it), else write the busy
        header and move the producer.  Returns (header pointer, the
        record's offset, its length, the size as an i32)."""
        prod = self._load_at(f, positions, RingPositions.producer.offset)
        pend0 = self._load_at(f, positions, RingPositions.pending.offset)
        offset = f.tmp()
        f(f"{offset} = and i64 {prod}, {mask}")
        start = f.label("ring_start")
        scan, check, step, scanned, write = (f.label(x) for x in (
            "ring_scan", "ring_check", "ring_step", "ring_scanned", "ring_write"))
        if wake_if is not None:
            cmask = f.tmp()
            f(f"{cmask} = and i64 {cons}, {mask}")
            wake = self._and(f, self._icmp(f, "eq", cmask, offset), wake_if)
            f(f"br i1 {wake}, label %{slow}, label %{start}, {UNLIKELY}")
        else:
            f(f"br label %{start}")
        f.block(start)
        f(f"br label %{scan}")
        f.block(scan)
        pend, pend1 = f.tmp(), f.tmp()
        f(f"{pend} = phi i64 [{pend0}, %{start}], [{pend1}, %{step}]")
        more = self._icmp(f, "ult", pend, prod)
        f(f"br i1 {more}, label %{check}, label %{scanned}")
        f.block(check)
        hoff = f.tmp()
        f(f"{hoff} = and i64 {pend}, {mask}")
        hdr = self._load_at(f, data, hoff, "i32")
        hbusy = f.tmp()
        f(f"{hbusy} = and i32 {hdr}, {_signed32(BPF_RINGBUF_BUSY_BIT)}")
        is_busy = self._icmp(f, "ne", hbusy, "0", "i32")
        f(f"br i1 {is_busy}, label %{scanned}, label %{step}")
        f.block(step)
        hlen, hlen64, grown, rounded = f.tmp(), f.tmp(), f.tmp(), f.tmp()
        f(f"{hlen} = and i32 {hdr}, {_signed32(~BPF_RINGBUF_DISCARD_BIT)}")
        f(f"{hlen64} = zext i32 {hlen} to i64")
        f(f"{grown} = add i64 {hlen64}, {BPF_RINGBUF_HDR_SZ + 7}")
        f(f"{rounded} = and i64 {grown}, -8")
        f(f"{pend1} = add i64 {pend}, {rounded}")
        f(f"br label %{scan}")
        f.block(scanned)
        pend_f = f.tmp()
        f(f"{pend_f} = phi i64 [{pend}, %{scan}], [{pend}, %{check}]")
        f(f"store i64 {pend_f}, ptr {self._pointer(f, positions, RingPositions.pending.offset)}, "
          f"align 8")
        length, new_prod, ahead_c, ahead_p, grown2 = (f.tmp() for _ in range(5))
        f(f"{grown2} = add i64 {size}, {BPF_RINGBUF_HDR_SZ + 7}")
        f(f"{length} = and i64 {grown2}, -8")
        f(f"{new_prod} = add i64 {prod}, {length}")
        f(f"{ahead_c} = sub i64 {new_prod}, {cons}")
        f(f"{ahead_p} = sub i64 {new_prod}, {pend_f}")
        full = self._or(f, self._icmp(f, "ugt", ahead_c, mask),
                        self._icmp(f, "ugt", ahead_p, mask))
        f(f"br i1 {full}, label %{slow}, label %{write}, {UNLIKELY}")
        f.block(write)
        header = self._pointer(f, data, offset)
        size32, busy32, page, page32, pg, pg_at = (f.tmp() for _ in range(6))
        f(f"{size32} = trunc i64 {size} to i32")
        f(f"{busy32} = or i32 {size32}, {_signed32(BPF_RINGBUF_BUSY_BIT)}")
        f(f"store i32 {busy32}, ptr {header}, align 4")
        f(f"{page} = udiv i64 {offset}, {PAGE_SIZE}")
        f(f"{pg} = add i64 {page}, {RINGBUF_META_PAGES}")
        f(f"{page32} = trunc i64 {pg} to i32")
        f(f"{pg_at} = getelementptr i8, ptr {header}, i64 4")
        f(f"store i32 {page32}, ptr {pg_at}, align 4")
        f(f"store i64 {new_prod}, ptr "
          f"{self._pointer(f, positions, RingPositions.producer.offset)}, align 8")
        return header, offset, length, size32

    def _ring_commit(self, f: _Function, data: str, ring_size: str, header: str, offset: str,
                     length: str, final: str) -> None:
        """Commit the record at ``offset`` as ``RingBuf._commit`` does: a
        record running past the end is copied back to the start, then its
        header's length word becomes ``final`` (busy bit clear)."""
        wrap, commit = f.label("ring_wrap"), f.label("ring_commit_header")
        end = f.tmp()
        f(f"{end} = add i64 {offset}, {length}")
        past = self._icmp(f, "ugt", end, ring_size)
        f(f"br i1 {past}, label %{wrap}, label %{commit}")
        f.block(wrap)
        start, second, spill = f.tmp(), f.tmp(), f.tmp()
        f(f"{start} = inttoptr i64 {data} to ptr")
        f(f"{second} = getelementptr i8, ptr {start}, i64 {ring_size}")
        f(f"{spill} = sub i64 {end}, {ring_size}")
        f(f"call void @llvm.memcpy.p0.p0.i64(ptr {start}, ptr {second}, i64 {spill}, i1 false)")
        f(f"br label %{commit}")
        f.block(commit)
        f(f"store i32 {final}, ptr {header}, align 1")

    def _hash_lookup(self, f: _Function, pc: int) -> tuple[str, tuple[str, str, str, str]]:
        """``bpf_map_lookup_elem`` on a hash map answered from the call
        site's table of recent answers, when r1 is the map the call was
        compiled for and the key is on the stack.  An entry holds a key, the
        answer and the map's change counter + 1 at the time it was asked: it
        answers while no key has come into or left the map since (updates in
        place keep slots).  The counter is read before the helper runs, so a
        change made meanwhile (another thread, during the callback) leaves
        the entry stale, never wrong.

        A plain hash map's answer is r0 itself.  Per-CPU and LRU maps keep
        the value's slot (+ 1; 0 for a missing key): r0 is the running CPU's
        value of that slot (a CPU the map has no values for goes to Python).
        An LRU hit also records the touch in the map's native touch record
        (:mod:`pybpf.maps.hash`: a stamp per slot, a list of the slots
        stamped), which the map applies to its LRU order before it next
        reads or changes it, so evictions happen in the interpreter's order;
        while the map applies them (its busy word set) a hit goes to Python.

        Emits the probe and leaves the builder in the slow path (the
        helper); returns the label both continue at and (entry address or
        0, key, tag, CPU) for :meth:`_hash_fill`."""
        slots = self.layout.hashes_base + L.HASH_SLOTS * self._hash_of[pc]
        key_size = self.options.inline_hash[pc]
        kind = self.options.hash_kinds.get(pc)
        percpu = kind in ("percpu", "lru_percpu")
        lru = kind in ("lru", "lru_percpu")
        probe, hit, miss, slow, done = (f.label(x) for x in (
            "hash_probe", "hash_hit", "hash_miss", "hash_slow", "hash_done"))
        r2, go = self._map_and_stack_key(f, slots, key_size)
        cpu = "0"
        if percpu:
            cpu = self._env_cpu(f)
            known, both = f.tmp(), f.tmp()
            f(f"{known} = icmp ult i64 {cpu}, {self._load_slot(f, slots + 5)}")
            f(f"{both} = and i1 {go}, {known}")
            go = both
        entry_from = f.label("hash_skip")
        f(f"br i1 {go}, label %{probe}, label %{entry_from}, {LIKELY}")
        f.block(probe)
        entry, key, words, tag, found = self._hash_probe(f, slots, key_size, r2)
        touches = None
        if lru:
            touches = self._load_slot(f, slots + 6)
            busy = self._load_at(f, touches, 8 * TOUCH_BUSY)
            idle, usable = f.tmp(), f.tmp()
            f(f"{idle} = icmp eq i64 {busy}, 0")
            f(f"{usable} = and i1 {found}, {idle}")
            found = usable
        f(f"br i1 {found}, label %{hit}, label %{miss}, {LIKELY}")
        f.block(hit)
        if kind is None:
            self._set(f, 0, words[1])
        else:
            absent = f.tmp()
            f(f"{absent} = icmp eq i64 {words[1]}, 0")
            present, none = f.label("hash_present"), f.label("hash_absent")
            f(f"br i1 {absent}, label %{none}, label %{present}")
            f.block(none)
            self._set(f, 0, "0")
            f(f"br label %{done}")
            f.block(present)
            slot, off, address = f.tmp(), f.tmp(), f.tmp()
            f(f"{slot} = sub i64 {words[1]}, 1")
            f(f"{off} = mul i64 {slot}, {self._load_slot(f, slots + 7)}")
            base = self._word_at(f, self._load_slot(f, slots + 4), cpu)
            f(f"{address} = add i64 {base}, {off}")
            if touches is not None:
                self._lru_touch(f, touches, slot)
            self._set(f, 0, address)
        f(f"br label %{done}")
        f.block(miss)
        f(f"br label %{slow}")
        f.block(entry_from)
        f(f"br label %{slow}")
        f.block(slow)
        e, k, t, c = f.tmp(), f.tmp(), f.tmp(), f.tmp()
        f(f"{e} = phi i64 [{entry}, %{miss}], [0, %{entry_from}]")
        f(f"{k} = phi i64 [{key}, %{miss}], [0, %{entry_from}]")
        f(f"{t} = phi i64 [{tag}, %{miss}], [0, %{entry_from}]")
        f(f"{c} = phi i64 [{cpu}, %{miss}], [0, %{entry_from}]")
        return done, (e, k, t, c)

    def _hash_probe(self, f: _Function, slots: int, key_size: int, r2: str
                    ) -> tuple[str, str, list[str], str, str]:
        """Find the table entry of the key on the stack at ``r2``: returns
        (the entry's address, the key as an i64, the entry's words, the
        tag an entry filled now gets (the change counter + 1), an i1 saying
        the entry holds this key with that tag)."""
        host = self._stack_host(f, r2)
        kp = f.tmp()
        f(f"{kp} = inttoptr i64 {host} to ptr")
        raw = f.tmp()
        f(f"{raw} = load i{8 * key_size}, ptr {kp}, align 1")
        key = raw
        if key_size < 8:
            key = f.tmp()
            f(f"{key} = zext i{8 * key_size} {raw} to i64")
        mixed = f.tmp()
        f(f"{mixed} = mul i64 {key}, -7046029254386353131")     # 0x9E3779B97F4A7C15
        high = f.tmp()
        f(f"{high} = lshr i64 {mixed}, 32")
        index = f.tmp()
        f(f"{index} = and i64 {high}, {self._load_slot(f, slots + 3)}")
        offset = f.tmp()
        f(f"{offset} = mul i64 {index}, {8 * L.HASH_ENTRY}")
        entry = f.tmp()
        f(f"{entry} = add i64 {self._load_slot(f, slots + 2)}, {offset}")
        words = [self._load_at(f, entry, 8 * i) for i in range(L.HASH_ENTRY)]
        changes = self._load_at(f, self._load_slot(f, slots + 1), 0)
        tag = f.tmp()
        f(f"{tag} = add i64 {changes}, 1")
        same_key = f.tmp()
        f(f"{same_key} = icmp eq i64 {words[0]}, {key}")
        fresh = f.tmp()
        f(f"{fresh} = icmp eq i64 {words[2]}, {tag}")
        found = f.tmp()
        f(f"{found} = and i1 {same_key}, {fresh}")
        return entry, key, words, tag, found

    def _hash_update(self, f: _Function, pc: int) -> tuple[str, tuple[str, str, str, str]]:
        """``bpf_map_update_elem`` on a plain hash map: when r1 is the map
        the call was compiled for, the key and the value are on the stack
        and the flags are BPF_ANY or BPF_EXIST, a key the site's table knows
        (its value's offset, learnt from the map's record of the last
        update after the helper ran, trusted while no key has come into or
        left the map) gets its value written in place (r0 = 0), as the
        map's own update of an existing key does.  Emits the probe and
        leaves the builder in the slow path (the helper); returns the label
        both continue at and (entry address or 0, key, tag, "0") for
        :meth:`_hash_fill`."""
        slots = self.layout.hashes_base + L.HASH_SLOTS * self._hash_of[pc]
        key_size, value_size = self.options.hash_updates[pc]
        probe, hit, miss, slow, done, entry_from = (f.label(x) for x in (
            "hupd_probe", "hupd_hit", "hupd_miss", "hupd_slow", "hupd_done", "hupd_skip"))
        r2, go = self._map_and_stack_key(f, slots, key_size)
        r3, r4 = self._get(f, 3), self._get(f, 4)
        voff, vlim = f.tmp(), f.tmp()
        f(f"{voff} = sub i64 {r3}, %slo")
        f(f"{vlim} = sub i64 %sspan, {value_size - 1}")
        value_ok = self._icmp(f, "ult", voff, vlim)
        flags_ok = self._or(f, self._icmp(f, "eq", r4, str(BPF_ANY)),
                            self._icmp(f, "eq", r4, str(BPF_EXIST)))
        go = self._and(f, go, self._and(f, value_ok, flags_ok))
        f(f"br i1 {go}, label %{probe}, label %{entry_from}, {LIKELY}")
        f.block(probe)
        entry, key, words, tag, found = self._hash_probe(f, slots, key_size, r2)
        known = self._and(f, found, self._icmp(f, "ne", words[1], "0"))
        f(f"br i1 {known}, label %{hit}, label %{miss}, {LIKELY}")
        f.block(hit)
        offset = f.tmp()
        f(f"{offset} = sub i64 {words[1]}, 1")
        self._update_from_stack(f, self._load_slot(f, slots + 4), offset, r3, value_size, done)
        f.block(miss)
        f(f"br label %{slow}")
        f.block(entry_from)
        f(f"br label %{slow}")
        f.block(slow)
        e, k, t = f.tmp(), f.tmp(), f.tmp()
        f(f"{e} = phi i64 [{entry}, %{miss}], [0, %{entry_from}]")
        f(f"{k} = phi i64 [{key}, %{miss}], [0, %{entry_from}]")
        f(f"{t} = phi i64 [{tag}, %{miss}], [0, %{entry_from}]")
        return done, (e, k, t, "0")

    def _lru_touch(self, f: _Function, touches: str, slot: str) -> None:
        """Record a touch of value ``slot`` in an LRU map's touch record:
        its stamp becomes the record's clock + 1, and a slot not stamped
        since the map last applied the record joins the record's list."""
        stamp_off, log_off = f.tmp(), f.tmp()
        f(f"{stamp_off} = shl i64 {slot}, 4")
        stamp_p = self._pointer(f, touches, stamp_off)
        stamp = f.tmp()
        f(f"{stamp} = getelementptr i64, ptr {stamp_p}, i64 {TOUCH_STAMP}")
        old = f.tmp()
        f(f"{old} = load i64, ptr {stamp}, align 8")
        count_p = self._pointer(f, touches, 8 * TOUCH_COUNT)
        count = f.tmp()
        f(f"{count} = load i64, ptr {count_p}, align 8")
        f(f"{log_off} = shl i64 {count}, 4")
        log_p = self._pointer(f, touches, log_off)
        log = f.tmp()
        f(f"{log} = getelementptr i64, ptr {log_p}, i64 {TOUCH_LOG}")
        f(f"store i64 {slot}, ptr {log}, align 8")
        first, grow, count1 = f.tmp(), f.tmp(), f.tmp()
        f(f"{first} = icmp eq i64 {old}, 0")
        f(f"{grow} = zext i1 {first} to i64")
        f(f"{count1} = add i64 {count}, {grow}")
        f(f"store i64 {count1}, ptr {count_p}, align 8")
        clock_p = self._pointer(f, touches, 8 * TOUCH_CLOCK)
        clock, clock1 = f.tmp(), f.tmp()
        f(f"{clock} = load i64, ptr {clock_p}, align 8")
        f(f"{clock1} = add i64 {clock}, 1")
        f(f"store i64 {clock1}, ptr {clock_p}, align 8")
        f(f"store i64 {clock1}, ptr {stamp}, align 8")

    def _hash_fill(self, f: _Function, pc: int, r: str, fill: tuple[str, str, str, str]
                   ) -> None:
        """After the slow path's helper: store its answer ``r`` in the table
        entry the probe chose (none when it skipped the table).  For a
        per-CPU or LRU map the answer becomes a slot, stored only when it
        is one of the map's slots on the CPU the probe read (the CPU may
        have changed during the callback)."""
        entry, key, tag, cpu = fill
        slots = self.layout.hashes_base + L.HASH_SLOTS * self._hash_of[pc]
        kind = self.options.hash_kinds.get(pc)
        store, stored = f.label("hash_fill"), f.label("hash_filled")
        c = f.tmp()
        f(f"{c} = icmp ne i64 {entry}, 0")
        answer = r
        if pc in self.options.hash_updates:
            # the map's record of its last update: (written, key, offset)
            record = self._load_slot(f, slots + 6)
            written, last_key, last_offset = (self._load_at(f, record, 8 * i) for i in range(3))
            ours = self._and(f, self._icmp(f, "ne", written, "0"),
                             self._icmp(f, "eq", last_key, key))
            ok = self._and(f, ours, self._icmp(f, "eq", r, "0"))
            c = self._and(f, c, ok)
            answer = f.tmp()
            f(f"{answer} = add i64 {last_offset}, 1")
        elif kind is not None:
            absent, off, inside, slot, answer1, valid = (f.tmp() for _ in range(6))
            base = self._word_at(f, self._load_slot(f, slots + 4), cpu)
            f(f"{absent} = icmp eq i64 {r}, 0")
            f(f"{off} = sub i64 {r}, {base}")
            f(f"{inside} = icmp ult i64 {off}, {self._load_slot(f, slots + 8)}")
            f(f"{slot} = udiv i64 {off}, {self._load_slot(f, slots + 7)}")
            f(f"{answer1} = add i64 {slot}, 1")
            answer = f.tmp()
            f(f"{answer} = select i1 {absent}, i64 0, i64 {answer1}")
            f(f"{valid} = or i1 {absent}, {inside}")
            if kind in ("percpu", "lru_percpu"):
                same, both = f.tmp(), f.tmp()
                f(f"{same} = icmp eq i64 {self._env_cpu(f)}, {cpu}")
                f(f"{both} = and i1 {valid}, {same}")
                valid = both
            go = f.tmp()
            f(f"{go} = and i1 {c}, {valid}")
            c = go
        f(f"br i1 {c}, label %{store}, label %{stored}")
        f.block(store)
        for i, value in enumerate((key, answer, tag)):
            p = self._pointer(f, entry, 8 * i)
            f(f"store i64 {value}, ptr {p}, align 8")
        f(f"br label %{stored}")
        f.block(stored)

    def _tail_call(self, f: _Function, pc: int) -> None:
        args = [self._get(f, reg) for reg in range(1, 4)]
        r = self._callback(f, "tail", [str(pc), "%depth", *args])
        self._check_status(f)
        self._forget_sites(f)
        taken = self._load_slot(f, L.TAIL_TAKEN)
        c = f.tmp()
        f(f"{c} = icmp ne i64 {taken}, 0")
        yes, no = f.label("tail_taken"), f.label("tail_fell")
        f(f"br i1 {c}, label %{yes}, label %{no}")
        f.block(yes)
        self._set(f, 0, r)
        self._add_count(f, self._load_slot(f, L.TAIL_COUNT))
        self._exit(f)
        f.block(no)

    # --- memory -----------------------------------------------------------------------

    def _stack_registers(self) -> dict[int, frozenset[int]]:
        """pc of each access -> the registers holding stack addresses there
        (see :mod:`pybpf.jit.stackhints`), worked out once, when a checked
        access first asks."""
        if self._stack_hints is None:
            self._stack_hints = stack_registers(self.insns, self.sems, self._flow(),
                                                self.entries)
        return self._stack_hints

    def _memory(self, f: _Function, pc: int, sem: Semantics, insn: Insn) -> None:
        op, size = sem.operation, sem.size
        base_reg, off = self._address_operands(sem, insn)
        atomic = op in ATOMICS or op == "atomic_cmpxchg"
        site = self._site_of.get(pc)
        if site is None and base_reg == 10 and self.r10_fixed and not (atomic and size > 1):
            ptr = f.tmp()                  # proven safe, in this frame
            f(f"{ptr} = getelementptr i8, ptr %hfp, i64 {_signed64(off & M64)}")
            self._access(f, sem, insn, ptr)
            return
        base = self._get(f, base_reg)
        addr = f.tmp()
        f(f"{addr} = add i64 {base}, {_signed64(off & M64)}")
        if site is None:                   # proven safe: translate and go
            host = self._stack_host(f, addr)
            ptr = f.tmp()
            f(f"{ptr} = inttoptr i64 {host} to ptr")
            if atomic and size > 1:
                self._aligned_or_step(f, pc, sem, insn, addr, ptr)
                return
            self._access(f, sem, insn, ptr)
            return
        slots = self.layout.sites_base + L.SITE_SLOTS * site
        cached, stack, slow, do, step, cont = (f.label(x) for x in (
            "cached", "stack", "slow", "access", "step", "cont"))
        # The stack first: its bounds are values in registers, not loads from
        # the runtime block (which stores through program pointers may alias).
        # An access the verifier proved goes through another pointer skips it.
        h2 = None
        if self.options.proven.get(pc) != "memory":
            sh = self._on_stack(f, addr, size)
            hint = f", {LIKELY}" if base_reg in self._stack_registers().get(pc, ()) else ""
            f(f"br i1 {sh}, label %{stack}, label %{cached}{hint}")
            f.block(stack)
            h2 = self._stack_host(f, addr)
            f(f"br label %{do}")
        else:
            f(f"br label %{cached}")
        f.block(cached)
        lo = self._load_slot(f, slots)
        lim = self._load_slot(f, slots + 1)
        o = f.tmp()
        f(f"{o} = sub i64 {addr}, {lo}")
        hit = f.tmp()
        f(f"{hit} = icmp ult i64 {o}, {lim}")
        cache_hit = f.label("cache_hit")
        f(f"br i1 {hit}, label %{cache_hit}, label %{slow}, {LIKELY}")
        f.block(cache_hit)
        delta = self._load_slot(f, slots + 2)
        h1 = f.tmp()
        f(f"{h1} = add i64 {addr}, {delta}")
        f(f"br label %{do}")
        f.block(slow)
        h3 = self._callback(f, "resolve", [str(site), addr, "%depth"])
        z = f.tmp()
        f(f"{z} = icmp eq i64 {h3}, 0")
        f(f"br i1 {z}, label %{step}, label %{do}, {UNLIKELY}")
        f.block(do)
        h = f.tmp()
        incoming = [f"[{h1}, %{cache_hit}]", f"[{h3}, %{slow}]"]
        if h2 is not None:
            incoming.append(f"[{h2}, %{stack}]")
        f(f"{h} = phi i64 {', '.join(incoming)}")
        ptr = f.tmp()
        f(f"{ptr} = inttoptr i64 {h} to ptr")
        if atomic and size > 1:
            self._aligned_or_step(f, pc, sem, insn, addr, ptr, cont)
        else:
            self._access(f, sem, insn, ptr)
            f(f"br label %{cont}")
        f.block(step)
        self._step(f, pc)
        f(f"br label %{cont}")
        f.block(cont)

    def _aligned_or_step(self, f: _Function, pc: int, sem: Semantics, insn: Insn, addr: str,
                         ptr: str, cont: str | None = None) -> None:
        """Atomics: real atomic instructions on aligned addresses; a misaligned
        one goes to the interpreter (hardware may refuse or split it)."""
        mis = f.tmp()
        f(f"{mis} = and i64 {addr}, {sem.size - 1}")
        c = f.tmp()
        f(f"{c} = icmp eq i64 {mis}, 0")
        go, odd = f.label("aligned"), f.label("misaligned")
        end = cont or f.label("atomic_done")
        f(f"br i1 {c}, label %{go}, label %{odd}, {LIKELY}")
        f.block(go)
        self._access(f, sem, insn, ptr)
        f(f"br label %{end}")
        f.block(odd)
        self._step(f, pc)
        f(f"br label %{end}")
        if cont is None:
            f.block(end)

    def _access(self, f: _Function, sem: Semantics, insn: Insn, ptr: str) -> None:
        """The access itself at host pointer ``ptr``."""
        op, size = sem.operation, sem.size
        ty = f"i{8 * size}"
        if op in ("load", "load_acquire"):
            v = f.tmp()
            f(f"{v} = load {ty}, ptr {ptr}, align 1")
            if op == "load_acquire":
                f("fence acquire")
            if size < 8:
                w = f.tmp()
                f(f"{w} = {'sext' if sem.signed else 'zext'} {ty} {v} to i64")
                v = w
            self._set(f, insn.dst, v)
            return
        if op in ("store", "store_release"):
            value = self._operand(f, sem, insn) if sem.source == "reg" else \
                str(_signed64(insn.imm & M64))
            if size < 8:
                if value.startswith("%"):
                    t = f.tmp()
                    f(f"{t} = trunc i64 {value} to {ty}")
                    value = t
                else:
                    value = str(_signed(int(value) & ((1 << (8 * size)) - 1), 8 * size))
            if op == "store_release":
                f("fence release")
            f(f"store {ty} {value}, ptr {ptr}, align 1")
            return
        s = self._get(f, insn.src)
        sv = s
        if size < 8:
            sv = f.tmp()
            f(f"{sv} = trunc i64 {s} to {ty}")
        if op == "atomic_cmpxchg":
            r0 = self._get(f, 0)
            expect = r0
            if size < 8:
                expect = f.tmp()
                f(f"{expect} = trunc i64 {r0} to {ty}")
            pair = f.tmp()
            f(f"{pair} = cmpxchg ptr {ptr}, {ty} {expect}, {ty} {sv} seq_cst seq_cst, "
              f"align {size}")
            old = f.tmp()
            f(f"{old} = extractvalue {{{ty}, i1}} {pair}, 0")
            self._set(f, 0, self._zext(f, old, size))
            return
        old = f.tmp()
        f(f"{old} = atomicrmw {ATOMICS[op]} ptr {ptr}, {ty} {sv} seq_cst, align {size}")
        if sem.fetch:
            self._set(f, insn.src, self._zext(f, old, size))

    def _zext(self, f: _Function, value: str, size: int) -> str:
        if size == 8:
            return value
        t = f.tmp()
        f(f"{t} = zext i{8 * size} {value} to i64")
        return t

def _slot_ptr(index: int) -> str:
    return f"getelementptr i64, ptr %rt, i64 {index}"


def runtime_module() -> str:
    """The functions that start runs, the same for every program (compiled
    once, kept in the disk cache like a program's code).  Each takes the
    runtime block first and finds the program's function and shape in it
    (:data:`pybpf.jit.layout.MAIN`, ``FRAME_SIZE``, ``GOTO_BUDGET``,
    ``SITES_FROM``, ``SITES_BYTES``):

    - ``pybpf_entry(rt, fn, depth, flags, r1..r5)`` calls the bpf function
      at host address ``fn`` at call depth ``depth`` (flags bit 0: zero its
      frame first) and returns r0;
    - ``pybpf_run(rt, r1, r2)`` runs the program once from its first
      instruction in a fresh frame 0 (r3..r5 zero): the common call;
    - ``pybpf_repeat(rt, repeat, r1..r5)`` runs it ``repeat`` times, each in
      a fresh frame 0, and returns r0 of the last run (``test_run(repeat=N)``);
    - ``pybpf_run_py``: ``pybpf_run`` as a CPython "fast call" function (what
      a C extension's function is), so Python calls it without ctypes'
      argument conversion: ``self`` is the runtime block's address as an int,
      the two arguments r1 and r2 as ints (already reduced to 64 bits); the
      result is r0 as an int.  Any other argument count returns NULL (a
      SystemError).
    """
    def prologue(prefix: str) -> list[str]:
        """Status cleared, the site caches dropped (a helper may have
        remapped memory since the last run)."""
        return [
            "  store i64 0, ptr %rt, align 8",
            f"  %{prefix}sf.p = {_slot_ptr(L.SITES_FROM)}",
            f"  %{prefix}sf = load i64, ptr %{prefix}sf.p, align 8",
            f"  %{prefix}sites = getelementptr i64, ptr %rt, i64 %{prefix}sf",
            f"  %{prefix}sb.p = {_slot_ptr(L.SITES_BYTES)}",
            f"  %{prefix}sb = load i64, ptr %{prefix}sb.p, align 8",
            f"  call void @llvm.memset.p0.i64(ptr %{prefix}sites, i8 0, i64 %{prefix}sb, "
            f"i1 false)",
        ]

    def zero_frame(prefix: str, depth: str) -> list[str]:
        """The frame of ``depth`` zeroed (as the interpreter's enter does)."""
        return [
            f"  %{prefix}fs.p = {_slot_ptr(L.FRAME_SIZE)}",
            f"  %{prefix}fs = load i64, ptr %{prefix}fs.p, align 8",
            f"  %{prefix}d1 = add i64 {depth}, 1",
            f"  %{prefix}span = mul i64 %{prefix}d1, %{prefix}fs",
            f"  %{prefix}top.p = {_slot_ptr(L.STACK_TOP)}",
            f"  %{prefix}top = load i64, ptr %{prefix}top.p, align 8",
            f"  %{prefix}delta.p = {_slot_ptr(L.STACK_DELTA)}",
            f"  %{prefix}delta = load i64, ptr %{prefix}delta.p, align 8",
            f"  %{prefix}lo = sub i64 %{prefix}top, %{prefix}span",
            f"  %{prefix}host = add i64 %{prefix}lo, %{prefix}delta",
            f"  %{prefix}frame = inttoptr i64 %{prefix}host to ptr",
            f"  call void @llvm.memset.p0.i64(ptr align 8 %{prefix}frame, i8 0, "
            f"i64 %{prefix}fs, i1 false)",
        ]

    def reset_budget(prefix: str) -> list[str]:
        return [
            f"  %{prefix}gb.p = {_slot_ptr(L.GOTO_BUDGET)}",
            f"  %{prefix}gb = load i64, ptr %{prefix}gb.p, align 8",
            f"  %{prefix}budget.p = {_slot_ptr(L.BUDGET)}",
            f"  store i64 %{prefix}gb, ptr %{prefix}budget.p, align 8",
        ]

    def main(prefix: str) -> list[str]:
        return [f"  %{prefix}main.p = {_slot_ptr(L.MAIN)}",
                f"  %{prefix}main = load ptr, ptr %{prefix}main.p, align 8"]

    def finish(res: str) -> list[str]:
        return [f"  %r0 = extractvalue {RET} {res}, 0",
                f"  %n = extractvalue {RET} {res}, 6",
                f"  %count.p = {_slot_ptr(L.COUNT)}",
                "  store i64 %n, ptr %count.p, align 8"]

    lines = [
        "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
        "declare i64 @PyLong_AsUnsignedLongLongMask(ptr)",
        "declare ptr @PyLong_FromUnsignedLongLong(i64)",
        'attributes #0 = { nounwind "no-jump-tables"="true" }',
        "",
        "define i64 @pybpf_entry(ptr %rt, i64 %fn, i64 %depth, i64 %flags, i64 %a1, i64 %a2, "
        "i64 %a3, i64 %a4, i64 %a5) #0 {",
        "start:",
        *prologue("p."),
        f"  %budget.p = {_slot_ptr(L.BUDGET)}",
        "  %saved = load i64, ptr %budget.p, align 8",
        *reset_budget("b."),
        "  %z = and i64 %flags, 1",
        "  %zero = icmp ne i64 %z, 0",
        "  br i1 %zero, label %clear, label %call",
        "clear:",
        *zero_frame("z.", "%depth"),
        "  br label %call",
        "call:",
        "  %f = inttoptr i64 %fn to ptr",
        f"  %n0.p = {_slot_ptr(L.COUNT)}",
        "  %n0 = load i64, ptr %n0.p, align 8",
        f"  %res = call {RET} %f(ptr %rt, i64 %depth, i64 %n0, i64 %a1, i64 %a2, i64 %a3, "
        "i64 %a4, i64 %a5)",
        *finish("%res"),
        "  store i64 %saved, ptr %budget.p, align 8",
        "  ret i64 %r0",
        "}",
        "",
        "define dso_local i64 @pybpf_run(ptr %rt, i64 %a1, i64 %a2) #0 {",
        "start:",
        *prologue("p."),
        *reset_budget("b."),
        *zero_frame("z.", "0"),
        *main("m."),
        f"  %res = call {RET} %m.main(ptr %rt, i64 0, i64 0, i64 %a1, i64 %a2, i64 0, i64 0, "
        "i64 0)",
        *finish("%res"),
        "  ret i64 %r0",
        "}",
        "",
        "define i64 @pybpf_repeat(ptr %rt, i64 %repeat, i64 %a1, i64 %a2, i64 %a3, i64 %a4, "
        "i64 %a5) #0 {",
        "start:",
        *prologue("p."),
        *main("m."),
        "  br label %loop",
        "loop:",
        "  %i = phi i64 [0, %start], [%i1, %more]",
        f"  %index.p = {_slot_ptr(L.RUN_INDEX)}",
        "  store i64 %i, ptr %index.p, align 8",
        *reset_budget("b."),
        *zero_frame("z.", "0"),
        f"  %res = call {RET} %m.main(ptr %rt, i64 0, i64 0, i64 %a1, i64 %a2, i64 %a3, "
        "i64 %a4, i64 %a5)",
        "  %st = load i64, ptr %rt, align 8",
        "  %i1 = add i64 %i, 1",
        "  %stop = icmp ne i64 %st, 0",
        "  br i1 %stop, label %out, label %more",
        "more:",
        "  %again = icmp ult i64 %i1, %repeat",
        "  br i1 %again, label %loop, label %out",
        "out:",
        *finish("%res"),
        "  ret i64 %r0",
        "}",
        "",
        "define ptr @pybpf_run_py(ptr %self, ptr %args, i64 %nargs) #0 {",
        "start:",
        "  %two = icmp eq i64 %nargs, 2",
        "  br i1 %two, label %go, label %bad",
        "go:",
        "  %rtv = call i64 @PyLong_AsUnsignedLongLongMask(ptr %self)",
        "  %rt = inttoptr i64 %rtv to ptr",
        "  %o1 = load ptr, ptr %args, align 8",
        "  %a1 = call i64 @PyLong_AsUnsignedLongLongMask(ptr %o1)",
        "  %p2 = getelementptr ptr, ptr %args, i64 1",
        "  %o2 = load ptr, ptr %p2, align 8",
        "  %a2 = call i64 @PyLong_AsUnsignedLongLongMask(ptr %o2)",
        "  %r0 = call i64 @pybpf_run(ptr %rt, i64 %a1, i64 %a2)",
        "  %st = load i64, ptr %rt, align 8",
        f"  %raised = icmp eq i64 %st, {L.INTERRUPTED}",
        "  br i1 %raised, label %bad, label %result",
        "result:",
        "  %out = call ptr @PyLong_FromUnsignedLongLong(i64 %r0)",
        "  ret ptr %out",
        "bad:",
        "  ret ptr null",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _signed64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def _signed32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v >> 31 else v


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def generate(insns: Sequence[Insn], options: Options) -> tuple[str, L.Layout, list[str]]:
    """The LLVM module of a program, the layout of its runtime block and
    the functions to compile quickly (large and without loops:
    :func:`pybpf.jit.llvm.compile_module`'s ``quick``).  Raises
    :class:`Unsupported` for a program the JIT leaves to the interpreter
    (an invalid slot, a call into the middle of a function)."""
    gen = Generator(insns, options)
    text = gen.module()
    return text, gen.layout, gen.quick
