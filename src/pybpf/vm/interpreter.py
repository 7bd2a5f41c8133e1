"""The reference interpreter.

A program is decoded into Python code: each basic block becomes a run of
the statements the semantics table (:mod:`pybpf.vm.semantics`) gives for
its instructions, with the registers held in local variables.  This module
adds only what surrounds them: blocks, the jumps between them, the pc an
error names, tracing and the run's budget.  Blocks are laid out in program
order inside one ``while True`` loop and found by a tree of ``pc``
comparisons, so falling through or jumping forward costs a comparison or two
and a backward jump one pass from the top.  This keeps the interpreter
plain (the statements are the specification) while running at tens of
nanoseconds per instruction instead of hundreds.

A program of up to :data:`CHUNK_INSNS` instructions is one generated
function, compiled when the program is loaded.  A larger one is cut into
chunks of about that many instructions (at block boundaries), each its own
function, compiled the first time the run reaches it: loading costs time
and memory linear in the program's size, and code that never runs is never
compiled.  A jump out of a chunk returns the registers to a small
dispatcher that enters the chunk holding the target.

BUDGET: one :class:`Meter` counts every instruction of a run — the entry
function, its subprograms, the callbacks helpers make (``bpf_loop``,
``bpf_for_each_map_elem``...) and the programs tail calls jump to — and
stops the run with :class:`~pybpf.errors.InstructionLimitExceeded` past the
limit, or :class:`TimeLimitExceeded` past a wall-clock limit (the clock is
read every :data:`CLOCK_INTERVAL` instructions).  The count is a local of the
generated code; it is handed to a helper and back around each call
(``METER.n``) and passed along a tail call, and the loop checks it against a
threshold once per backward jump, call or return.

Every memory access goes through the :class:`~pybpf.vm.memory.AddressSpace`;
bpf-to-bpf calls get a fresh stack frame region each; helpers are Python
callables looked up by id when the program is prepared.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import (
    BPFError,
    CallDepthExceeded,
    HelperError,
    InstructionLimitExceeded,
    TimeLimitExceeded,
    VMError,
)
from ..isa import FORMS_BY_OPCODE, Insn, OpForm, format_insn, lddw_value
from ..spec import constant
from ..spec.defines import CORE_POISON_HELPER_ID
from ..spec.net import SKF_LL_OFF, SKF_NET_OFF
from .memory import ATOMIC_LOCK, STACK_BASE, AddressSpace, Region
from .semantics import (
    M64,
    RUNTIME_NAMES,
    SEMANTICS,
    Control,
    Operands,
    Semantics,
    helper_name,
    semantics_of,
)
from .semantics import TAIL_CALL_ID as TAIL_CALL_ID  # the machine performs tail calls

Helper = Callable[[int, int, int, int, int], int]

#: The kernel's budget for may_goto loops (BPF_MAX_LOOPS).
MAY_GOTO_BUDGET = constant("BPF_MAX_LOOPS")
#: Blocks tested one after another at the leaves of the dispatch tree.
_LEAF_BLOCKS = 6
#: Instructions one generated function holds (about: chunks end at a block
#: boundary); larger programs are compiled chunk by chunk, on first use.
CHUNK_INSNS = 4096
#: Longest basic block generated as one: a longer straight run of
#: instructions is cut (the pieces fall through to each other), so that
#: chunks can split it.
MAX_BLOCK_INSNS = 256
#: Instructions between two looks at the clock when a run has a time limit.
CLOCK_INTERVAL = 1 << 16
#: A count no run reaches: the threshold when nothing limits a run.
_NEVER = 1 << 62
#: Registers and state a chunk receives and hands back when the run leaves it.
_CHUNK_STATE = "pc, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, depth, n, frames, budget"


def checked_max_insns(value: int | None) -> int | None:
    """``value`` as an instruction budget: None or a count of at least 0."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise VMError(f"max_insns must be a number of instructions (0 or more) or None, "
                      f"not {value!r}")
    return value


def checked_max_seconds(value: float | None) -> float | None:
    """``value`` as a time limit: None or a positive number of seconds."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not value > 0 or value == float("inf")):
        raise VMError(f"max_seconds must be a positive number of seconds or None, "
                      f"not {value!r}")
    return value


class Meter:
    """The budget of one run: at most ``max_insns`` instructions (None: no
    limit) and ``max_seconds`` of wall-clock time (None: no limit), shared
    by everything the run executes.

    ``n`` carries the instruction count across helper calls; ``next_check``
    is the count at which the generated code calls :meth:`check` next.
    """

    __slots__ = ("deadline", "max_insns", "max_seconds", "n", "next_check")

    def __init__(self, max_insns: int | None = None, max_seconds: float | None = None):
        self.max_insns = checked_max_insns(max_insns)
        self.max_seconds = checked_max_seconds(max_seconds)
        self.n = 0
        self.deadline: float | None = None
        self.next_check = _NEVER
        self.start()

    def start(self) -> None:
        """Begin a run: nothing counted, the clock started."""
        self.n = 0
        if self.max_seconds is None:        # the common case, without a call
            self.deadline = None
            self.next_check = _NEVER if self.max_insns is None else self.max_insns
            return
        self.deadline = time.monotonic() + self.max_seconds
        self.next_check = self._threshold(0)

    def _threshold(self, n: int) -> int:
        limit = _NEVER if self.max_insns is None else self.max_insns
        if self.deadline is None:
            return limit
        return min(limit, n + CLOCK_INTERVAL)

    def check(self, n: int) -> int:
        """Raise when ``n`` instructions, or the time spent, are over the
        limits; else return the count at which to check again."""
        if self.max_insns is not None and n > self.max_insns:
            raise InstructionLimitExceeded(
                f"instruction limit exceeded: {n} executed, limit max_insns={self.max_insns} "
                f"(for the whole run: callbacks, subprograms and tail calls included)")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimeLimitExceeded(f"time limit exceeded: the run took more than "
                                    f"{self.max_seconds:g} s (max_seconds; {n} instructions "
                                    f"executed)")
        self.next_check = self._threshold(n)
        return self.next_check


class _PacketAbort(Exception):
    """A legacy packet load went out of bounds: the program returns 0."""


class StackFrames:
    """The stack: one region of ``frame_size`` bytes per call depth.

    Frame 0 sits at the top; deeper frames below it, so a frame's r10 is the
    end of its region.  Only the frames of calls in progress are reachable.
    The stack lives at :data:`~pybpf.vm.memory.STACK_BASE` (the first thing
    an address space maps), so r10 is the same in every VM of one shape.
    """

    def __init__(self, space: AddressSpace, frame_size: int = 512, max_depth: int = 8):
        self.space = space
        self.frame_size = frame_size
        self.max_depth = max_depth
        self._storage = bytearray(frame_size * max_depth)
        view = memoryview(self._storage)
        total = frame_size * max_depth
        base = STACK_BASE if space.is_free(STACK_BASE, total) else None
        self.base = space.reserve(total, at=base)
        """The lowest stack address (the deepest frame's first byte)."""
        self.frames: list[Region] = []
        for depth in range(max_depth):
            lo = (max_depth - 1 - depth) * frame_size
            region = Region(f"frame{depth}", view[lo:lo + frame_size], kind="stack")
            region.active = False
            space.map(region, at=self.base + lo)
            self.frames.append(region)
        self.depth = -1

    def enter(self, depth: int) -> int:
        """Activate (and zero) the frame for ``depth``; returns its r10."""
        if depth >= self.max_depth:
            raise CallDepthExceeded(f"call depth limit exceeded: more than {self.max_depth} "
                                    f"nested frames")
        region = self.frames[depth]
        region.view[:] = bytes(self.frame_size)
        region.active = True
        self.depth = depth
        return region.end

    def leave(self, depth: int) -> None:
        """Deactivate the frame for ``depth``."""
        self.frames[depth].active = False
        self.depth = depth - 1
        self.space.forget_hot()

    def reset(self) -> None:
        """Deactivate every frame (after a run ends, normally or not)."""
        for region in self.frames:
            region.active = False
        self.depth = -1
        self.space.forget_hot()


class CompiledProgram:
    """A program decoded into Python, bound to an address space and helpers.

    ``helpers`` maps helper ids to callables taking r1..r5 and returning r0.
    ``resolve_pseudo(pc, form, imm, next_imm)`` gives the value of a pseudo
    ``lddw`` (map references); ``packet()`` returns ``(buffer, start, end,
    mac, net)``, the bytes legacy packet loads read and where the link-layer
    and network headers start.  ``trace(pc, regs)`` is called after
    every instruction when given.  ``meter`` is the budget runs count
    against (shared by the programs of one VM, so that tail calls count on);
    without one, a meter of ``max_insns`` instructions is made.
    """

    def __init__(self, insns: Sequence[Insn], *, space: AddressSpace, stack: StackFrames,
                 helpers: Mapping[int, Helper],
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
                 packet: Callable[[], tuple[bytearray, int, int, int, int] | None] | None = None,
                 trace: Callable[[int, tuple[int, ...]], None] | None = None,
                 max_insns: int | None = None, name: str = "prog",
                 arena_base: int = 0, code: Region | None = None,
                 tail_call: Callable[[int, int, int, int, int], tuple[int, int] | None]
                 | None = None,
                 meter: Meter | None = None):
        self.insns = list(insns) if set(map(type, insns)) == {Insn} else \
            [i if type(i) is Insn else Insn(*i) for i in insns]
        self.name = name
        self.space = space
        self.stack = stack
        self.helpers = helpers
        self.meter = meter if meter is not None else Meter(max_insns)
        self._resolve_pseudo = resolve_pseudo
        self._packet = packet
        self._tail_call = tail_call
        self._trace = trace is not None
        self.code = code if code is not None else code_region(space, self.insns, name)
        self.forms = _forms(self.insns)
        self._notable = _notable(self.insns, self.forms)
        self.entries, self.blocks = _layout(self.insns, self.forms, self._notable)
        self._pseudo = self._pseudo_values()
        self._namespace: dict[str, Any] = dict(RUNTIME_NAMES)
        self._namespace.update(self._runtime_names(trace, arena_base))
        self._steps: dict[int, Callable[..., list[int]]] = {}
        self.chunks = _chunks(self.blocks, CHUNK_INSNS)
        self._functions: list[Callable[..., tuple] | None] = [None] * len(self.chunks)
        self._chunk_starts = [self.blocks[first][0] for first, _ in self.chunks]
        if len(self.chunks) == 1:   # one function, compiled now: no dispatcher
            self._run = self._compile(generate(self.insns, trace=self._trace,
                                               pseudo=self._pseudo, blocks=self.blocks,
                                               forms=self.forms))
        else:
            self._run = self._dispatch
        self.insn_count = 0

    @property
    def max_insns(self) -> int | None:
        """The instruction limit of a run (None: none)."""
        return self.meter.max_insns

    # --- running ----------------------------------------------------------------

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run from the first instruction in a fresh frame 0; returns r0.
        The run's budget starts here."""
        self.insn_count = 0
        meter = self.meter
        meter.start()
        self._starting_run()
        r10 = self.stack.enter(0)
        try:
            r0, n = self._run(0, r1, r2, r3, r4, r5, r10, 0, 0)
        except _PacketAbort:
            r0, n = 0, self._aborted_count
        finally:
            self.stack.reset()
        self.insn_count = n
        meter.n = n
        return r0

    def invoke(self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
               r5: int = 0) -> int:
        """Call the subprogram at code ``address`` in a new frame (for helpers
        that take callbacks, like bpf_loop); returns its r0.  Its
        instructions count against the run's budget."""
        pc = self.function_at(address)
        if pc is None:
            raise HelperError(f"callback address {address:#x} is not a function of "
                              f"program {self.name}")
        depth = self.stack.depth + 1
        r10 = self.stack.enter(depth)
        meter = self.meter
        try:
            r0, n = self._run(pc, r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, r10,
                              depth, meter.n)
        finally:
            self.stack.leave(depth)
        meter.n = n
        return r0

    def run_in_frame(self, r1: int, depth: int, n: int = 0) -> tuple[int, int]:
        """Run from the first instruction in the already active frame
        ``depth`` (a tail call reuses its caller's frame), counting on from
        ``n`` instructions; returns (r0, instructions executed so far)."""
        return self._run(0, r1, 0, 0, 0, 0, self.stack.frames[depth].end, depth, n)

    def execute(self, pc: int, registers: list[int]) -> bool:
        """Run the one instruction at ``pc`` on ``registers`` (r0..r10,
        updated in place) as the generated code runs it; False when a legacy
        packet load went out of bounds (the program then returns 0).

        For a compiler's slow paths: the JIT hands the interpreter the
        instructions it does not translate (and accesses that need the
        address space's care), so their behaviour and errors are this
        specification's.  Control transfers are not run this way.
        """
        step = self._steps.get(pc)
        if step is None:
            insn = self.insns[pc]
            sem = semantics_of(insn.form)
            value = None
            if sem.operation == "load_imm64":
                value = lddw_value(self.insns, pc) if sem.reference is None \
                    else self._pseudo.get(pc)
            body = sem.statement_for(_operands(pc, insn, value)).splitlines() or ["pass"]
            regs = ", ".join(f"r{i}" for i in range(11))
            # helper calls carry the run's count through METER (one budget per run)
            source = "\n".join([f"def step({regs}):", "    n = METER.n",
                                *("    " + line for line in body),
                                "    METER.n = n", f"    return [{regs}]"])
            namespace = dict(self._namespace)
            exec(compile(source, f"<bpf program {self.name} pc {pc}>", "exec"), namespace)
            step = self._steps[pc] = namespace["step"]
        try:
            registers[:] = step(*registers)
        except _PacketAbort:
            return False
        return True

    def function_address(self, pc: int) -> int:
        """The code address programs see for the instruction at ``pc``."""
        return self.code.start + 8 * pc

    def function_at(self, address: int) -> int | None:
        """The pc of the function entry at code ``address``, or None."""
        off = address - self.code.start
        if off < 0 or off % 8 or off // 8 not in self.entries:
            return None
        return off // 8

    # --- chunks -----------------------------------------------------------------

    def _dispatch(self, pc: int, r1: int, r2: int, r3: int, r4: int, r5: int, r10: int,
                  depth: int, n: int) -> tuple[int, int]:
        """Run a chunked program: enter the chunk holding ``pc`` until one
        of them ends the function (a 2-tuple, ``(r0, n)``)."""
        state: tuple = (pc, 0, r1, r2, r3, r4, r5, 0, 0, 0, 0, r10, depth, n, [],
                        MAY_GOTO_BUDGET)
        starts = self._chunk_starts
        functions = self._functions
        while True:
            i = bisect.bisect_right(starts, state[0]) - 1
            function = functions[i] if i >= 0 else None
            if function is None:
                function = self._chunk_function(i, state[0])
            state = function(*state)
            if len(state) == 2:
                return state

    def _chunk_function(self, i: int, pc: int) -> Callable[..., tuple]:
        """Compile chunk ``i`` (on first use)."""
        if i < 0:
            raise self._ran_off(pc)
        first, last = self.chunks[i]
        blocks = self.blocks[first:last]
        function = self._compile(generate(self.insns, trace=self._trace, pseudo=self._pseudo,
                                          blocks=blocks, forms=self.forms, chunk=True))
        self._functions[i] = function
        return function

    def _compile(self, source: str) -> Callable[..., tuple]:
        namespace = self._namespace
        exec(compile(source, f"<bpf program {self.name}>", "exec"), namespace)
        return namespace.pop("run")

    # --- the names generated code uses --------------------------------------------

    def _runtime_names(self, trace, arena_base: int) -> dict[str, Any]:
        space = self.space
        names: dict[str, Any] = {
            "ENTER": self.stack.enter, "LEAVE": self.stack.leave,
            "ARENA_BASE": arena_base, "MAY_GOTO_BUDGET": MAY_GOTO_BUDGET,
            "LOCATE": self._locate, "RAN_OFF": self._ran_off, "CHECK": self._check,
            "HANDOVER": self._handover,
            "METER": self.meter, "ATOMIC": ATOMIC_LOCK,
            "CALLX": self._callx, "PACKET": self._packet_load, "TRACE": trace,
            "VMError": VMError, "TAILCALL": self._tail_call_or_fall_through,
        }
        for size in (1, 2, 4, 8):
            names[f"LD{size}"] = space.loader(size)
            names[f"ST{size}"] = space.storer(size)
        for size in (1, 2, 4):
            names[f"LDS{size}"] = space.loader(size, signed=True)
        calls = {self.insns[pc].imm for pc in _slots_with(self.insns, self.forms,
                                                          _HELPER_CALL_OPCODES, self._notable)
                 if semantics_of(self.forms[pc]).operation == "call_helper"}
        for helper_id in calls:
            names[helper_name(helper_id)] = self._helper(helper_id)
        return names

    def _helper(self, helper_id: int) -> Helper:
        fn = self.helpers.get(helper_id)
        if fn is not None:
            return fn
        if helper_id == CORE_POISON_HELPER_ID:
            message = ("a CO-RE relocation of this instruction could not be resolved against "
                       "the target kernel's BTF")
        else:
            message = f"unknown helper function #{helper_id}"

        def missing(*_args: int) -> int:
            raise HelperError(message)

        return missing

    def _tail_call_or_fall_through(self, r1: int, r2: int, r3: int, depth: int, n: int
                                   ) -> tuple[int, int] | None:
        if self._tail_call is None:
            return None
        return self._tail_call(r1, r2, r3, depth, n)

    def _pseudo_values(self) -> dict[int, int | None]:
        """The value of every pseudo lddw, None where nothing resolves it."""
        values: dict[int, int | None] = {}
        for pc in _slots_with(self.insns, self.forms, _LDDW_OPCODES, self._notable):
            form = self.forms[pc]
            if not form.pseudo:
                continue
            sem = semantics_of(form)
            if sem.operation != "load_imm64" or sem.reference is None:
                continue
            insn = self.insns[pc]
            if sem.enters_function:  # lddw func: the function's code address
                values[pc] = self.function_address(sem.target_pc(_operands(pc, insn)))
            elif self._resolve_pseudo is not None:
                values[pc] = self._resolve_pseudo(pc, form, insn.imm, self.insns[pc + 1].imm)
            else:
                values[pc] = None
        return values

    def _callx(self, target: int) -> tuple[bool, Any]:
        pc = self.function_at(target)
        if pc is not None:
            return False, pc
        fn = self.helpers.get(target) if 0 <= target < (1 << 32) else None
        if fn is not None:
            return True, fn
        raise VMError(f"callx to {target:#x}: neither a function of this program nor a "
                      f"helper id")

    def _packet_load(self, offset: int, size: int) -> int:
        packet = self._packet() if self._packet else None
        if packet is None:
            raise VMError("legacy packet load (ld_abs/ld_ind) without a packet")
        buffer, start, end, mac, net = packet
        if offset < 0:
            # Offsets from SKF_NET_OFF and SKF_LL_OFF address the network and
            # link-layer headers whatever the program's data start.
            if offset >= SKF_NET_OFF:
                start, offset = net, offset - SKF_NET_OFF
            elif offset >= SKF_LL_OFF:
                start, offset = mac, offset - SKF_LL_OFF
            else:
                raise _PacketAbort
        if start + offset + size > end:
            raise _PacketAbort
        return int.from_bytes(buffer[start + offset:start + offset + size], "big")

    def _locate(self, error: BaseException, pc: int, n: int) -> BaseException:
        """Attach the pc and instruction to an error raised while running."""
        if isinstance(error, _PacketAbort):
            self._aborted_count = n
            return error
        text = self.describe(pc)
        if isinstance(error, VMError):
            if error.pc is None:
                error.pc, error.insn = pc, text
                error.args = (f"pc {pc} ({text}): {error.reason}",)
            return error
        if isinstance(error, BPFError):
            return error
        form = self.forms[pc] if 0 <= pc < len(self.insns) else None
        if form is not None and semantics_of(form).operation in ("call_helper", "callx"):
            wrapped = HelperError(f"helper raised {type(error).__name__}: {error}", pc=pc,
                                  insn=text)
            wrapped.__cause__ = error
            return wrapped
        return error

    def _ran_off(self, pc: int) -> VMError:
        return VMError("execution ran past the last instruction", pc=pc, insn=self.describe(pc))

    def _check(self, pc: int, n: int) -> int:
        """The budget check the generated code makes when ``n`` passes the
        meter's threshold: the next threshold, or the error naming ``pc``."""
        try:
            return self.meter.check(n)
        except InstructionLimitExceeded as error:
            error.pc, error.insn = pc, self.describe(pc)
            error.args = (f"pc {pc} ({error.insn}): {error.reason}",)
            raise

    def _handover(self, pc: int, n: int, depth: int, frames: list, *registers: int
                  ) -> tuple[int, int] | None:
        """Where :meth:`_check` answered -1 (a subclass that would go on in
        other code): finish the run from block ``pc`` of the function at
        ``depth`` (``frames``: the calls in progress) with r0..r9 and ``n``
        instructions counted, returning (r0, instructions executed), or None
        to go on interpreting.  This interpreter always goes on."""
        return None

    def _starting_run(self) -> None:
        """Called when :meth:`run` has started the meter, before the first
        instruction (a subclass may lower ``meter.next_check`` to be asked
        sooner)."""

    def describe(self, pc: int) -> str:
        """The instruction at ``pc`` as uBPF-syntax text."""
        if not 0 <= pc < len(self.insns):
            return "<outside the program>"
        tail = self.insns[pc + 1] if pc + 1 < len(self.insns) else None
        return format_insn(self.insns[pc], tail if self.insns[pc].is_lddw else None, pc=pc)


def code_region(space: AddressSpace, insns: Sequence[Insn], name: str) -> Region:
    """Map a region of the program's size for its code: function pointers
    (callbacks, ``lddw func``) are addresses in it, 8 bytes per slot.  It can
    be neither read nor written, as the kernel's verifier forbids
    dereferencing a function pointer."""
    return space.map(Region(f"{name} code", bytearray(8 * max(len(insns), 1)), kind="code",
                            writable=False, readable=False))


# --- code generation --------------------------------------------------------------

def _forms(insns: Sequence[Insn]) -> list[OpForm | None]:
    """Each slot's form (None for an invalid slot or the second half of lddw);
    identical slots are decoded once."""
    table = {insn: Insn(*insn).form for insn in set(insns)}
    return list(map(table.__getitem__, insns))


def _opcodes_where(test: Callable[[Semantics], bool]) -> frozenset[int]:
    """The opcodes with a form whose semantics pass ``test``."""
    return frozenset(op for op, forms in FORMS_BY_OPCODE.items()
                     if any(f in SEMANTICS and test(SEMANTICS[f]) for f in forms))


#: Opcodes that may jump, call or end a basic block, and those that may call a helper:
#: layout looks at these slots only (a set lookup per slot, not a form's semantics).
_BRANCHING_OPCODES = _opcodes_where(lambda s: s.target is not None
                                    or s.control is not Control.NEXT)
_HELPER_CALL_OPCODES = _opcodes_where(lambda s: s.operation == "call_helper")
_LDDW_OPCODES = _opcodes_where(lambda s: s.operation == "load_imm64")


_NOTABLE_OPCODES = _BRANCHING_OPCODES | _HELPER_CALL_OPCODES | _LDDW_OPCODES


def _notable(insns: Sequence[Insn], forms: Sequence[OpForm | None]) -> list[int]:
    """The pcs of the instructions (slots with a form) that may branch, call
    a helper or load a 64-bit immediate: one pass over the program."""
    opcodes = _NOTABLE_OPCODES
    return [pc for pc, insn in enumerate(insns) if insn[0] in opcodes and forms[pc] is not None]


def _slots_with(insns: Sequence[Insn], forms: Sequence[OpForm | None],
                opcodes: frozenset[int], notable: Sequence[int] | None = None) -> list[int]:
    """The pcs of the instructions (slots with a form) whose opcode is in
    ``opcodes`` (one of the notable ones), among ``notable`` when given."""
    if notable is None:
        notable = _notable(insns, forms)
    return [pc for pc in notable if insns[pc][0] in opcodes]


def _function_entries(insns: Sequence[Insn], forms: Sequence[OpForm | None] | None = None
                      ) -> set[int]:
    return _layout(insns, forms if forms is not None else _forms(insns))[0]


def _operands(pc: int, insn: Insn, value: int | None = None) -> Operands:
    return Operands(pc, insn.dst, insn.src, insn.off, insn.imm, value)


def _layout(insns: Sequence[Insn], forms: Sequence[OpForm | None],
            notable: Sequence[int] | None = None
            ) -> tuple[set[int], list[tuple[int, int]]]:
    """The function entries and the basic blocks, as (start, end) slot
    ranges, in one pass over the program."""
    n = len(insns)
    entries = {0}
    leaders = {0}
    # Only slots that may jump, call or end a block matter here; the others
    # (most slots) cost one set lookup.  The second slot of an lddw has no
    # form, so every slot with a form starts an instruction.
    for pc in _slots_with(insns, forms, _BRANCHING_OPCODES, notable):
        form = forms[pc]
        sem = semantics_of(form)
        if sem.target is not None:
            target = sem.target_pc(_operands(pc, insns[pc]))
            leaders.add(target)
            if sem.enters_function:
                entries.add(target)
        if sem.control is not Control.NEXT:
            leaders.add(pc + form.slots)
    starts = sorted(p for p in leaders if 0 <= p < n)
    blocks = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        while end - start > MAX_BLOCK_INSNS:
            cut = start + MAX_BLOCK_INSNS
            if forms[cut - 1] is not None and forms[cut - 1].slots == 2:
                cut += 1    # not between the two slots of an lddw
            blocks.append((start, cut))
            start = cut
        if start < end:
            blocks.append((start, end))
    return entries, blocks


def _blocks(insns: Sequence[Insn], forms: Sequence[OpForm | None]) -> list[tuple[int, int]]:
    """Basic blocks as (start, end) slot ranges."""
    return _layout(insns, forms)[1]


def _chunks(blocks: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    """Blocks grouped into chunks of about ``size`` instructions, as
    (first block, last block + 1) index ranges."""
    chunks = []
    first = 0
    count = 0
    for i, (start, end) in enumerate(blocks):
        count += end - start
        if count >= size:
            chunks.append((first, i + 1))
            first, count = i + 1, 0
    if first < len(blocks) or not chunks:
        chunks.append((first, len(blocks)))
    return chunks


class _Writer:
    def __init__(self, insns: Sequence[Insn], forms: Sequence[OpForm | None],
                 pseudo: Mapping[int, int | None] | None, trace: bool) -> None:
        self.lines: list[str] = []
        self.depth = 0
        self.insns = insns
        self.forms = forms
        self.pseudo = pseudo if pseudo is not None else {}
        self.trace = trace

    def __call__(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)


def generate(insns: Sequence[Insn], *, trace: bool = False,
             pseudo: Mapping[int, int | None] | None = None,
             blocks: Sequence[tuple[int, int]] | None = None,
             forms: Sequence[OpForm | None] | None = None, chunk: bool = False) -> str:
    """The Python source of a function ``run`` for a valid program.

    ``pseudo`` gives the value of each pseudo ``lddw`` by pc (None: the
    reference could not be resolved and executing it is an error).

    By default the function holds every block: ``run(pc, r1, r2, r3, r4,
    r5, r10, depth, n)`` returns ``(r0, instructions executed)`` when the
    function it was entered in exits.  With ``chunk``, it holds ``blocks``
    (consecutive blocks of the program) and takes and returns the whole
    state, ``run(pc, r0, ..., r10, depth, n, frames, budget)``: it returns
    that state when execution leaves its blocks, and ``(r0, n)`` when the
    function exits.
    """
    if forms is None:
        forms = _forms(insns)
    if blocks is None:
        blocks = _blocks(insns, forms)
    out = _Writer(insns, forms, pseudo, trace)
    if chunk:
        out(f"def run({_CHUNK_STATE}):")
        out.depth = 1
    else:
        out("def run(pc, r1, r2, r3, r4, r5, r10, depth, n):")
        out.depth = 1
        out("r0 = r6 = r7 = r8 = r9 = 0")
        out("frames = []")
        if any(f is not None and semantics_of(f).operation == "may_goto" for f in forms):
            out("budget = MAY_GOTO_BUDGET")
    out("at = pc")
    out("check_at = METER.next_check")
    out("try:")
    out.depth = 2
    out("while True:")
    out.depth = 3
    out("if n > check_at:")
    out("    check_at = CHECK(pc, n)")
    out("    if check_at < 0:")      # the engine would rather go on in other code
    out("        handed = HANDOVER(pc, n, depth, frames, r0, r1, r2, r3, r4, r5, r6, r7, r8, r9)")
    out("        if handed is not None:")
    out("            return handed")
    out("        check_at = METER.next_check")
    _emit_tree(out, list(blocks))
    if chunk:   # pc is outside these blocks: the dispatcher finds its chunk
        first, last = blocks[0][0], blocks[-1][1]
        out(f"if {first} <= pc < {last}:")
        out("    raise RAN_OFF(pc)")
        out(f"return {_CHUNK_STATE}")
    else:
        out("raise RAN_OFF(pc)")
    out.depth = 1
    out("except BaseException as error:")
    out("    raise LOCATE(error, at, n)")
    return "\n".join(out.lines) + "\n"


def _emit_tree(out: _Writer, blocks: list[tuple[int, int]]) -> None:
    if len(blocks) <= _LEAF_BLOCKS:
        for start, end in blocks:
            out(f"if pc == {start}:")
            out.depth += 1
            _emit_block(out, start, end)
            out.depth -= 1
        return
    mid = len(blocks) // 2
    out(f"if pc < {blocks[mid][0]}:")
    out.depth += 1
    _emit_tree(out, blocks[:mid])
    out.depth -= 1
    _emit_tree(out, blocks[mid:])


def _emit_block(out: _Writer, start: int, end: int) -> None:
    insns = out.insns
    forms = out.forms
    count = 0
    pc = start
    while pc < end:
        form = forms[pc]
        count += 1
        pc += form.slots if form is not None else 1
    out(f"n += {count}")
    pc = start
    while pc < end:
        form = forms[pc]
        assert form is not None, f"invalid instruction at {pc}: validate before compiling"
        sem = semantics_of(form)
        _emit_insn(out, pc, sem, start)
        if sem.control is Control.NEXT:
            if out.trace:
                out(_trace(pc))
            if pc + form.slots >= end:
                _goto(out, end, start, len(insns))
        pc += form.slots


def _trace(pc: int) -> str:
    return f"TRACE({pc}, (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10))"


def _emit_insn(out: _Writer, pc: int, sem: Semantics, block_start: int) -> None:
    """The instruction's statement from the semantics table, with the control
    flow around it: the trace call before a transfer, the pc an error names,
    and the jump to the target."""
    insns = out.insns
    control = sem.control
    if out.trace and control is not Control.NEXT:
        out(_trace(pc))
    if sem.faults:
        out(f"at = {pc}")
    value = None
    if sem.operation == "load_imm64":
        value = lddw_value(insns, pc) if sem.reference is None else out.pseudo.get(pc)
    operands = _operands(pc, insns[pc], value)
    for line in sem.statement_for(operands).splitlines():
        out(line)
    n = len(insns)
    if control is Control.JUMP or control is Control.CALL:
        _goto(out, sem.target_pc(operands), block_start, n)
    elif control is Control.BRANCH:
        _branch(out, sem.condition_for(operands), sem.target_pc(operands), pc + 1,
                block_start, n)


def _goto(out: _Writer, target: int, block_start: int, n: int) -> None:
    """Continue at ``target``: forward targets are found by the checks that
    follow; backward ones need a new pass of the dispatch loop."""
    if target >= n:
        out(f"raise RAN_OFF({n - 1})")
        return
    out(f"pc = {target}")
    if target <= block_start:
        out("continue")


def _branch(out: _Writer, condition: str, taken: int, fallthrough: int, block_start: int,
            n: int) -> None:
    if taken < n and fallthrough < n and taken > block_start:
        out(f"pc = {taken} if {condition} else {fallthrough}")
        return
    out(f"if {condition}:")
    out.depth += 1
    _goto(out, taken, block_start, n)
    out.depth -= 1
    _goto(out, fallthrough, block_start, n)
