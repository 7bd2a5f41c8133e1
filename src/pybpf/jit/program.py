"""A program compiled to native code and bound to a VM: what
:class:`pybpf.vm.machine.Program` runs when its VM uses the JIT.

:class:`JitProgram` has the interface of the interpreter's
:class:`~pybpf.vm.interpreter.CompiledProgram` (``run``, ``invoke``,
``run_in_frame``, ``insn_count``...) and adds :meth:`JitProgram.run_repeat`,
the loop of ``test_run(repeat=N)`` in native code.  It owns the program's
runtime block (:mod:`pybpf.jit.layout`) and the Python callbacks the native
code calls: helpers, the region lookup of memory accesses that miss their
cache, tail calls, ``callx`` to a helper, errors, and the *step* callback
that runs one instruction in the interpreter.  The interpreter for a
program is made only when an instruction first needs it.

An exception raised in a callback cannot cross native frames: the callback
stores it, sets the status slot and returns; the native code unwinds to its
entry, and the entry's Python caller raises the error, placed at its pc as
the interpreter places it.
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from itertools import chain, starmap
from operator import itemgetter
from typing import Any, NamedTuple

from ..errors import BPFError, HelperError, InstructionLimitExceeded, VMError
from ..isa import Insn, OpForm, format_insn
from ..isa.insn import LDDW_OPCODE
from ..isa.opcodes import BPF_CALL, BPF_JMP
from ..vm.interpreter import TAIL_CALL_ID, CompiledProgram, Helper, Meter, StackFrames, code_region
from ..vm.memory import AddressSpace, Region
from ..vm.semantics import M64, semantics_of
from . import cache
from . import layout as L
from .codegen import Options, Unsupported, generate, runtime_module
from .fastpaths import plan as plan_fast_paths
from .loader import NativeCode, link_plan

U64 = ctypes.c_uint64
# Entries hold the GIL, as the interpreter does (PYFUNCTYPE: a cheaper call than CFUNCTYPE).
ENTRY = ctypes.PYFUNCTYPE(U64, ctypes.c_void_p, U64, U64, U64, U64, U64, U64, U64, U64)
#: (rt, function address, depth, flags, r1..r5) of ``pybpf_entry``.
REPEAT = ctypes.PYFUNCTYPE(U64, ctypes.c_void_p, U64, U64, U64, U64, U64, U64)
CALLBACK_PROTOTYPES = {
    "helper": ctypes.CFUNCTYPE(U64, U64, U64, U64, U64, U64, U64, U64),
    "resolve": ctypes.CFUNCTYPE(U64, U64, U64, U64),
    "step": ctypes.CFUNCTYPE(U64, U64, U64),
    "tail": ctypes.CFUNCTYPE(U64, U64, U64, U64, U64, U64),
    "trap": ctypes.CFUNCTYPE(U64, U64, U64, U64, U64),
    "callx": ctypes.CFUNCTYPE(U64, U64, U64, U64, U64, U64, U64, U64, U64),
}
ZERO_FRAME = 1
REPEAT_FIRST_BATCH = 1
REPEAT_SLICE_NS = 50_000_000
"""``run_repeat`` batches grow from :data:`REPEAT_FIRST_BATCH` runs while a
batch takes under half of this (CPU ns): Ctrl-C waits at most about this."""
INTERRUPT_INTERVAL = 1 << 24
"""Native code calls back into Python at least every this many instructions
(at a backward jump or a function entry, where limits are checked) even
with no limit set, so a signal handler (Ctrl-C) runs while an endless
program runs: about every 3 ms at the JIT's speed."""
# The runtime block slots the hot Python paths read (module globals: cheaper).
_CHECK_AT, _COUNT, _STATUS = L.CHECK_AT, L.COUNT, L.STATUS

_native: dict[str, tuple[NativeCode, L.Layout]] = {}
"""Code already loaded in this process, by cache key (shared by every
program with the same bytecode and options; each has its own runtime block)."""
_NATIVE_KEEP = 512

#: What compiling took, for the benchmarks: key -> seconds (compile, not load).
compile_seconds: dict[str, float] = {}


def host_address(region: Region) -> int:
    """The host address of a region's first byte (its buffer's address)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(region.view))


class JitProgram:
    """A program in native code with the interpreter's interface.

    The keyword arguments are those of
    :class:`~pybpf.vm.interpreter.CompiledProgram`; ``trace`` must be None
    (tracing runs in the interpreter).  Raises
    :class:`~pybpf.jit.codegen.Unsupported` for a program the JIT leaves to
    the interpreter.
    """

    engine = "jit"

    def __init__(self, insns: Sequence[Insn], *, space: AddressSpace, stack: StackFrames,
                 helpers: Mapping[int, Helper],
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
                 packet: Callable[[], Any] | None = None, trace: Any = None,
                 max_insns: int | None = None, name: str = "prog", arena_base: int = 0,
                 code: Region | None = None,
                 tail_call: Callable[..., tuple[int, int] | None] | None = None,
                 verification: Any = None, meter: Meter | None = None,
                 resume_at: int | None = None):
        if trace is not None:
            raise Unsupported("tracing runs in the interpreter")
        # The code asks the VM's meter (one budget per run) when its count
        # passes the runtime block's CHECK_AT, as the interpreter does: the
        # instruction limit and the wall-clock one (max_seconds) both hold.
        # Callbacks count against it too.
        self.meter = meter if meter is not None else Meter(max_insns)
        max_insns = self.meter.max_insns
        self.insns = list(insns) if set(map(type, insns)) <= {Insn} else \
            [Insn(*i) for i in insns]
        self.name = name
        self.space = space
        self.stack = stack
        self.helpers = helpers
        self.max_insns = max_insns
        self._interpreter_args = dict(space=space, stack=stack, helpers=helpers,
                                      resolve_pseudo=resolve_pseudo, packet=packet,
                                      meter=self.meter, name=name, arena_base=arena_base,
                                      code=code, tail_call=tail_call)
        self._interpreter: CompiledProgram | None = None
        self._tail_call = tail_call
        if code is None:
            code = code_region(space, self.insns, name)
        self.code = code
        # Only calls and lddw decide the options: their semantics are looked
        # up; the rest of the program is read only when it is compiled.
        sems = _LazySemantics(self.insns)
        options = Options(frame_size=stack.frame_size, max_depth=stack.max_depth,
                          max_insns=max_insns, may_goto_budget=_may_goto_budget(),
                          resume_at=resume_at)
        values: dict[int, int] = {}
        packed = packed_program(self.insns)
        decisive = decisive_pcs(self.insns, packed)
        for pc in decisive:
            insn = self.insns[pc]
            sem = sems[pc]
            if sem is None:
                continue
            if sem.operation == "call_helper":
                imm = insn.imm
                options.helper_calls[pc] = "tail" if imm == TAIL_CALL_ID else \
                    "python" if imm in helpers else "step"
            elif sem.operation == "load_imm64" and sem.reference is not None \
                    and not sem.enters_function and pc + 1 < len(self.insns):
                if resolve_pseudo is None:
                    options.references[pc] = "unresolved"
                else:
                    values[pc] = resolve_pseudo(pc, insn.form, insn.imm, self.insns[pc + 1].imm)
                    options.references[pc] = "slot"
        fast_paths = plan_fast_paths(self.insns, sems, helpers, values, decisive, options)
        if verification is not None:
            options.proven = proven_accesses(verification, self.insns, stack.frame_size)
        self.digest = packed.digest
        self.options = options
        self.native, self.layout = self.load_code(options)
        runtime = runtime_code()
        self._runtime = runtime            # the shared entry functions (kept alive)
        self._entry = runtime.function("pybpf_entry", ENTRY)
        self._repeat = runtime.function("pybpf_repeat", REPEAT)
        self.entries = set(self.layout.entries)
        #: pc of each function -> its host address (what ``pybpf_entry`` calls).
        self._functions = {pc: self.native.symbols[f"f{pc}"] for pc in self.layout.entries}
        self.rt = (U64 * self.layout.slots)()
        self._rt_address = ctypes.addressof(self.rt)
        #: The runtime block as a memoryview of u64 (cheaper to index than the ctypes array).
        self.slots = memoryview(self.rt).cast("B").cast("Q")
        self._run = runtime.python_function("pybpf_run_py", self._rt_address)
        rt = self.rt
        rt[L.FRAME_SIZE] = stack.frame_size
        rt[L.GOTO_BUDGET] = options.may_goto_budget
        rt[L.SITES_FROM] = self.layout.sites_base
        rt[L.SITES_BYTES] = 8 * L.SITE_SLOTS * len(self.layout.sites)
        rt[L.MAIN] = self._functions[0]
        frames = stack.frames
        rt[L.STACK_TOP] = frames[0].end
        rt[L.STACK_DELTA] = (host_address(frames[-1]) - frames[-1].start) & M64
        rt[L.CODE_START] = code.start
        rt[L.ARENA_BASE] = arena_base & M64
        for pc, slot in self.layout.lddw.items():
            rt[self.layout.lddw_base + slot] = values[pc] & M64
        #: Native memory the fast paths of helper calls read (tables, per-CPU bases).
        self._fast_memory = fast_paths.bind(rt, self.layout)
        self._fast_paths = fast_paths
        self._callbacks = {}
        bound = {"helper": self._helper_callback, "resolve": self._resolve_callback,
                 "step": self._step_callback, "tail": self._tail_callback,
                 "trap": self._trap_callback, "callx": self._callx_callback}
        for i, cb in enumerate(L.CALLBACK_NAMES):
            if cb in bound:
                thunk = CALLBACK_PROTOTYPES[cb](bound[cb])
                self._callbacks[cb] = thunk
                rt[L.CALLBACKS + i] = ctypes.cast(thunk, ctypes.c_void_p).value or 0
        self._helper_fns = [helpers[self.insns[pc].imm] for pc in self.layout.helpers]
        self._site_info = self.layout.site_info
        self._pending: tuple[BaseException, int] | None = None
        self._clock_run = 0
        self._repeating = False
        self._run_seen = -1
        self.on_new_run: Callable[[], None] | None = None

    def load_code(self, options: Options) -> tuple[Any, L.Layout]:
        """The program's code (an object with ``symbols``: ``f<pc>`` -> host
        address) and its runtime block's layout: LLVM's, from this process,
        the disk cache or a compile (:mod:`pybpf.jit.tiers` starts with
        other code)."""
        return native_code(self.insns, self.digest, options)

    # --- running ----------------------------------------------------------------

    def _enter(self, pc: int, depth: int, flags: int, r1: int, r2: int, r3: int, r4: int,
               r5: int, n: int = 0) -> tuple[int, int]:
        """Run the function at ``pc`` at ``depth``, counting on from ``n``
        instructions; returns (r0, instructions executed so far)."""
        rt = self.rt
        rt[L.CHECK_AT] = min(self.meter.next_check, n + INTERRUPT_INTERVAL)
        rt[L.COUNT] = n
        fn = self._functions.get(pc)
        if fn is None:
            raise self._located(VMError(f"no function at pc {pc}"), pc)
        r0 = self._entry(self._rt_address, fn, depth, flags, r1 & M64, r2 & M64, r3 & M64,
                         r4 & M64, r5 & M64)
        status = rt[L.STATUS]
        n = rt[L.COUNT]
        if status:
            rt[L.STATUS] = L.RUNNING
            if status == L.ABORTED:
                return 0, n
            raise self._take_error()
        return r0, n

    @property
    def resume_at(self) -> int | None:
        """The loop header where this code can take over a run the
        interpreter began (:meth:`resume`), or None."""
        return self.options.resume_at

    def resume(self, pc: int, registers: Sequence[int], n: int) -> tuple[int, int]:
        """Finish a run the interpreter began (on-stack replacement): go on
        at the block at ``pc`` of the main function, the loop header this
        code was compiled to enter (``resume_at``), with r0..r9 as
        ``registers`` and ``n`` instructions counted, in frame 0 as the
        interpreter left it.  Returns (r0, instructions executed in all)."""
        if pc != self.options.resume_at:
            raise VMError(f"this code continues runs at pc {self.options.resume_at}, "
                          f"not at pc {pc}")
        slots = self.slots
        slots[L.REGS:L.REGS + 10] = array("Q", (r & M64 for r in registers))
        slots[L.RESUME] = 1
        try:
            return self._enter(0, 0, 0, 0, 0, 0, 0, 0, n)
        finally:
            slots[L.RESUME] = 0
            self._sync(0)

    def adopt_environment(self, env: Any) -> bool:
        """Have the native helper paths read ``env`` from now on (the
        program's environment was replaced after load).  False when they
        cannot (``env`` has no native mirror): the program must be compiled
        again for it."""
        paths = self._fast_paths
        if paths.env is None or paths.env is env:
            return True
        if not hasattr(env, "native"):
            return False
        paths.env = env
        self.rt[L.ENV] = ctypes.addressof(env.native)
        self._fast_memory.append(env)
        return True

    @property
    def insn_count(self) -> int:
        """Instructions the last run executed (with the callbacks it made)."""
        return self.slots[_COUNT]

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run from the first instruction in a fresh frame 0; returns r0."""
        meter = self.meter
        meter.start()
        slots = self.slots
        slots[_CHECK_AT] = min(meter.next_check, INTERRUPT_INTERVAL)
        stack = self.stack
        if r3 or r4 or r5:
            try:
                return self._enter(0, 0, ZERO_FRAME, r1, r2, r3, r4, r5)[0]
            finally:
                meter.n = slots[_COUNT]
                if stack.depth != -1:
                    stack.reset()
        try:
            r0 = self._run(r1 & M64, r2 & M64)
        except BaseException:                 # a signal handler raised (INTERRUPTED)
            slots[_STATUS] = L.RUNNING
            stack.reset()
            raise
        meter.n = slots[_COUNT]
        if stack.depth != -1:
            stack.reset()
        if slots[_STATUS]:
            status = slots[_STATUS]
            slots[_STATUS] = L.RUNNING
            if status == L.ABORTED:
                return 0
            raise self._take_error()
        return r0

    def run_repeat(self, repeat: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
                   r5: int = 0) -> tuple[int, int]:
        """Run the program ``repeat`` times in native code (each run from a
        fresh frame 0); returns (r0 of the last run, nanoseconds in all).

        The time is this thread's CPU time, as the kernel's test-run timer
        counts it: time spent preempted by other processes is left out.
        The runs go in batches of at most about :data:`REPEAT_SLICE_NS`, so
        Python sees Ctrl-C (KeyboardInterrupt) between them, as the kernel's
        loop stops for a pending signal."""
        regs = (r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64)
        left = max(repeat, 1)
        batch = min(left, REPEAT_FIRST_BATCH)
        total = 0
        while True:
            r0, elapsed, stopped = self._repeat_batch(batch, regs)
            total += elapsed
            left -= batch
            if stopped or left <= 0:
                return r0, total
            if elapsed < REPEAT_SLICE_NS // 2:
                batch *= 2
            batch = min(left, batch)
            # a batch numbers its runs from 0 (RUN_INDEX), so its first run
            # is not seen as new by the callbacks: say so here
            if self.on_new_run is not None:
                self.on_new_run()

    def _repeat_batch(self, count: int, regs: tuple[int, ...]) -> tuple[int, int, bool]:
        """``count`` runs in one native call: (last r0, CPU ns, aborted)."""
        self.meter.start()
        self.slots[L.CHECK_AT] = min(self.meter.next_check, INTERRUPT_INTERVAL)
        self._repeating = True
        self._run_seen = 0
        self._clock_run = 0
        rt = self.rt
        try:
            start = time.thread_time_ns()
            r0 = self._repeat(self._rt_address, count, *regs)
            elapsed = time.thread_time_ns() - start
        finally:
            self._repeating = False
            if self.stack.depth != -1:
                self.stack.reset()
        status = rt[L.STATUS]
        if status:
            rt[L.STATUS] = L.RUNNING
            if status == L.ABORTED:
                return 0, elapsed, True
            raise self._take_error()
        return r0, elapsed, False

    def invoke(self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
               r5: int = 0) -> int:
        """Call the subprogram at code ``address`` in a new frame (for helpers
        that take callbacks, like bpf_loop); returns its r0.  Its
        instructions count on from the run's (``meter.n``), against the
        run's budget, as in the interpreter."""
        pc = self.function_at(address)
        if pc is None:
            raise HelperError(f"callback address {address:#x} is not a function of "
                              f"program {self.name}")
        depth = self.stack.depth + 1
        if depth >= self.stack.max_depth:
            self.stack.enter(depth)           # raises CallDepthExceeded
        meter = self.meter
        try:
            r0, meter.n = self._enter(pc, depth, ZERO_FRAME, r1, r2, r3, r4, r5, meter.n)
        finally:
            self._sync(depth - 1)
        return r0

    def run_in_frame(self, r1: int, depth: int, n: int = 0) -> tuple[int, int]:
        """Run from the first instruction in the already active frame
        ``depth`` (a tail call reuses its caller's frame), counting on from
        ``n`` instructions; returns (r0, instructions executed so far)."""
        try:
            return self._enter(0, depth, 0, r1, 0, 0, 0, 0, n)
        finally:
            self._sync(depth)

    def function_address(self, pc: int) -> int:
        """The code address programs see for the instruction at ``pc``."""
        return self.code.start + 8 * pc

    def function_at(self, address: int) -> int | None:
        """The pc of the function entry at code ``address``, or None."""
        off = address - self.code.start
        if off < 0 or off % 8 or off // 8 not in self.entries:
            return None
        return off // 8

    def describe(self, pc: int) -> str:
        """The instruction at ``pc`` as uBPF-syntax text."""
        if not 0 <= pc < len(self.insns):
            return "<outside the program>"
        tail = self.insns[pc + 1] if pc + 1 < len(self.insns) else None
        return format_insn(self.insns[pc], tail if self.insns[pc].is_lddw else None, pc=pc)

    # --- state shared with Python ---------------------------------------------------

    def _sync(self, depth: int) -> None:
        """Make the stack's regions say what native code is doing: frames up
        to ``depth`` active (helpers check pointers against them)."""
        stack = self.stack
        if stack.depth != depth:
            for i, region in enumerate(stack.frames):
                region.active = i <= depth
            stack.depth = depth
            self.space.forget_hot()

    def _interpreted(self) -> CompiledProgram:
        if self._interpreter is None:
            self._interpreter = CompiledProgram(self.insns, **self._interpreter_args)
        return self._interpreter

    def _fail(self, error: BaseException, pc: int) -> None:
        self._pending = (error, pc)
        self.rt[L.STATUS] = L.STOPPED

    def _take_error(self) -> BaseException:
        pending = self._pending
        self._pending = None
        if pending is None:
            return VMError("the JIT stopped without an error (internal)")
        error, pc = pending
        return self._located(error, pc)

    def _located(self, error: BaseException, pc: int) -> BaseException:
        """Place an error at its pc as the interpreter does."""
        text = self.describe(pc)
        if isinstance(error, VMError):
            if error.pc is None:
                error.pc, error.insn = pc, text
                error.args = (f"pc {pc} ({text}): {error.reason}",)
            return error
        if isinstance(error, BPFError) or not isinstance(error, Exception):
            return error                      # KeyboardInterrupt, SystemExit: as they are
        form = self.insns[pc].form if 0 <= pc < len(self.insns) else None
        if form is not None and semantics_of(form).operation in ("call_helper", "callx"):
            wrapped = HelperError(f"helper raised {type(error).__name__}: {error}", pc=pc,
                                  insn=text)
            wrapped.__cause__ = error
            return wrapped
        return error

    def _new_run_check(self) -> None:
        if self._repeating:
            index = self.rt[L.RUN_INDEX]
            if index != self._run_seen:
                self._run_seen = index
                if self.on_new_run is not None:
                    self.on_new_run()

    # --- callbacks (called from native code; they never raise) -----------------------------

    def _helper_callback(self, site: int, depth: int, r1: int, r2: int, r3: int, r4: int,
                         r5: int) -> int:
        meter, slots = self.meter, self.slots
        try:
            self._new_run_check()
            self._sync(depth)
            meter.n = slots[_COUNT]
            r0 = self._helper_fns[site](r1, r2, r3, r4, r5) & M64
            slots[_COUNT] = meter.n
            return r0
        except BaseException as e:  # carried to the entry's caller
            self._fail(e, self.layout.helpers[site])
            return 0

    def _resolve_callback(self, site: int, address: int, depth: int) -> int:
        try:
            size, kind = self._site_info[site]
            region = self.space.find(address, size)
            if region is None or region.special is not None or region.kind == "stack":
                return 0
            if (kind == "read" and not region.readable) or \
                    (kind == "write" and not region.writable) or \
                    (kind == "atomic" and not (region.readable and region.writable)):
                return 0
            delta = host_address(region) - region.start
            slots = self.layout.sites_base + L.SITE_SLOTS * site
            rt = self.rt
            rt[slots] = region.start
            rt[slots + 1] = region.size - size + 1
            rt[slots + 2] = delta & M64
            return (address + delta) & M64
        except BaseException:  # the interpreter then performs (or refuses) it
            return 0

    def _step_callback(self, pc: int, depth: int) -> int:
        try:
            self._new_run_check()
            self._sync(depth)
            rt = self.rt
            regs = rt[L.REGS:L.REGS + 11]
            self.meter.n = rt[L.COUNT]
            if not self._interpreted().execute(pc, regs):
                rt[L.STATUS] = L.ABORTED
                return 0
            rt[L.COUNT] = self.meter.n
            rt[L.REGS:L.REGS + 11] = [v & M64 for v in regs]
        except BaseException as e:
            self._fail(e, pc)
        return 0

    def _tail_callback(self, pc: int, depth: int, r1: int, r2: int, r3: int) -> int:
        rt = self.rt
        try:
            self._new_run_check()
            self._sync(depth)
            n = rt[L.COUNT]
            result = self._tail_call(r1, r2, r3, depth, n) if self._tail_call is not None \
                else None
            rt[L.COUNT] = n
            if result is None:
                rt[L.TAIL_TAKEN] = 0
                return 0
            rt[L.TAIL_TAKEN] = 1
            rt[L.TAIL_COUNT] = result[1] - n
            return result[0] & M64
        except BaseException as e:
            self._fail(e, pc)
            return 0

    def _callx_callback(self, pc: int, depth: int, target: int, r1: int, r2: int, r3: int,
                        r4: int, r5: int) -> int:
        try:
            self._new_run_check()
            self._sync(depth)
            fn = self.helpers.get(target) if 0 <= target < (1 << 32) else None
            if fn is None:
                raise VMError(f"callx to {target:#x}: neither a function of this program nor "
                              f"a helper id")
            meter, slots = self.meter, self.slots
            meter.n = slots[_COUNT]
            r0 = fn(r1, r2, r3, r4, r5) & M64
            slots[_COUNT] = meter.n
            return r0
        except BaseException as e:
            self._fail(e, pc)
            return 0

    def _trap_callback(self, code: int, pc: int, depth: int, arg: int) -> int:
        pc = pc - (1 << 64) if pc >> 63 else pc
        try:
            if code == L.TRAP_RAN_OFF:
                raise VMError("execution ran past the last instruction", pc=pc,
                              insn=self.describe(pc))
            if code == L.TRAP_DEPTH:
                self._sync(depth)
                self.stack.enter(arg)         # raises CallDepthExceeded
            if code == L.TRAP_CHECK:
                self._new_run_check()
                meter = self.meter
                if self._repeating and self.slots[L.RUN_INDEX] != self._clock_run:
                    # test_run(repeat=N): each run has max_seconds, as in the interpreter
                    self._clock_run = self.slots[L.RUN_INDEX]
                    meter.start()
                self.slots[L.CHECK_AT] = min(meter.check(arg), arg + INTERRUPT_INTERVAL)
                return 0
            if code == L.TRAP_LIMIT:
                raise InstructionLimitExceeded(
                    f"instruction limit exceeded: {arg} executed, limit "
                    f"max_insns={self.meter.max_insns} (for the whole run: callbacks, subprograms "
                    f"and tail calls included)", pc=pc, insn=self.describe(pc))
            raise VMError(f"no function at pc {pc}")
        except BaseException as e:
            self._fail(e, pc)
        return 0


class _LazySemantics:
    """Each slot's semantics, looked up when first asked (None for an invalid
    slot or the second half of a lddw), as :func:`~pybpf.jit.codegen.forms_of`
    gives them all."""

    def __init__(self, insns: list[Insn]):
        self.insns = insns
        self.known: dict[int, Any] = {}

    def __getitem__(self, pc: int) -> Any:
        try:
            return self.known[pc]
        except KeyError:
            form = self.insns[pc].form
            sem = self.known[pc] = semantics_of(form) if form is not None else None
            return sem

    def __len__(self) -> int:
        return len(self.insns)


#: Opcodes whose instructions decide the compile options (calls, lddw).
_DECISIVE = frozenset({BPF_JMP | BPF_CALL, LDDW_OPCODE})


def decisive_pcs(insns: list[Insn], packed: PackedProgram | None = None) -> list[int]:
    """The pcs of the calls and ``lddw`` slots, in order (found by byte
    search over the opcodes: a load does not walk the program in Python).
    ``packed`` (the program's :func:`packed_program`) gives the opcodes
    without reading the slots again."""
    if packed is not None and packed.stride == _COMPACT.size:
        opcodes = packed.data[::_COMPACT.size]      # the first byte of each slot
    else:
        try:
            opcodes = bytes(map(_opcode, insns))
        except ValueError:              # an opcode beyond a byte: look at each
            return [pc for pc, insn in enumerate(insns) if insn.opcode in _DECISIVE]
    out: list[int] = []
    for opcode in _DECISIVE:
        find = opcodes.find
        at = find(opcode)
        while at >= 0:
            out.append(at)
            at = find(opcode, at + 1)
    out.sort()
    return out


_opcode = itemgetter(0)


class PackedProgram(NamedTuple):
    """A program's slots as bytes, for the disk cache's keys: ``data`` holds
    each slot's fields, ``stride`` bytes a slot; ``digest`` is the SHA-256
    of ``data`` and of the format (what the keys are made of)."""

    data: bytes
    stride: int
    digest: bytes


#: How slots are packed: every field in its encoding's range (opcode, dst
#: and src as bytes, off 16 bits, imm 32 bits signed), else each field as a
#: signed 64-bit integer.  Both are exact; the digest names the format.
_COMPACT = struct.Struct("<BBBhi")
_WIDE = struct.Struct("<5q")


def packed_program(insns: Sequence[Insn]) -> PackedProgram:
    """The program's slots packed (in C) and hashed.  Raises
    :class:`Unsupported` for a field beyond 64 bits (no key can hold it)."""
    global _last_packed
    slots = tuple(insns)
    last = _last_packed
    if last[0] == slots:                # a load asks twice: validation, then code
        return last[1]
    small = len(slots) <= _PACK_WHOLE
    fields = tuple(chain.from_iterable(slots)) if small else ()
    for fmt in (_COMPACT, _WIDE):
        try:
            if small:
                data = _slots_format(fmt.format, len(slots)).pack(*fields)
            else:
                data = b"".join(starmap(fmt.pack, slots))
        except struct.error as e:
            error = str(e)          # not e: its traceback holds this frame (a cycle)
            continue
        digest = hashlib.sha256(fmt.format.encode())
        digest.update(data)
        out = PackedProgram(data, fmt.size, digest.digest())
        _last_packed = (slots, out)
        return out
    raise Unsupported(f"an instruction field is out of range: {error}") from None


#: The last program packed by :func:`packed_program` (its slots, which are
#: immutable, and the result): equal slots pack to equal bytes.
_last_packed: tuple[tuple | None, Any] = (None, None)


#: Programs up to this many slots pack in one call of a Struct made for
#: their length (kept for the next program of that length); longer ones a
#: slot at a time.  A Struct holds about 32 bytes per field: one made for a
#: 200,000-instruction program held 32 MB for as long as the cache kept it.
_PACK_WHOLE = 1024


@lru_cache(maxsize=64)
def _slots_format(slot_format: str, n: int) -> struct.Struct:
    return struct.Struct("<" + slot_format[1:] * n)


def _may_goto_budget() -> int:
    from ..vm.interpreter import MAY_GOTO_BUDGET

    return MAY_GOTO_BUDGET


def cached_native_code(insns: list[Insn], digest: bytes, options: Options
                       ) -> tuple[NativeCode, L.Layout] | None:
    """The LLVM code of a program (``digest``: its :func:`packed_program`
    digest) when this process or the disk cache has it (None: it would
    have to be compiled)."""
    key = cache.key_of(digest, options.key())
    hit = _native.get(key)
    if hit is not None:
        return hit
    stored = cache.read(key)
    if stored is not None:
        plan, data = stored
        try:
            loaded = NativeCode.from_plan(plan), L.Layout.from_data(data)
        except (BPFError, KeyError, TypeError, ValueError, IndexError):
            loaded = None
        if loaded is not None:
            _remember(key, loaded)
            return loaded
    return None


def native_code(insns: list[Insn], digest: bytes, options: Options
                ) -> tuple[NativeCode, L.Layout]:
    """The loaded LLVM code of a program (``digest``: its
    :func:`packed_program` digest): from this process, the disk cache, or LLVM."""
    loaded = cached_native_code(insns, digest, options)
    if loaded is not None:
        return loaded
    key = cache.key_of(digest, options.key())
    from .llvm import compile_module

    start = time.perf_counter()
    text, layout, quick = generate(insns, options)
    plan = link_plan(compile_module(text, quick=quick))
    compile_seconds[key] = time.perf_counter() - start
    cache.write(key, plan, layout.to_data())
    loaded = NativeCode.from_plan(plan), layout
    _remember(key, loaded)
    return loaded


_runtime: list[NativeCode] = []


def runtime_code() -> NativeCode:
    """The shared entry functions (:func:`pybpf.jit.codegen.runtime_module`),
    loaded once per process: from the disk cache, or compiled."""
    if _runtime:
        return _runtime[0]
    text = runtime_module()
    key = cache.key_of(text.encode(), ("runtime",))
    stored = cache.read(key)
    loaded = None
    if stored is not None:
        try:
            loaded = NativeCode.from_plan(stored[0])
        except (BPFError, KeyError, TypeError, ValueError, IndexError):
            loaded = None
    if loaded is None:
        from .llvm import compile_module

        plan = link_plan(compile_module(text))
        cache.write(key, plan, {})
        loaded = NativeCode.from_plan(plan)
    if not _runtime:
        _runtime.append(loaded)
    return _runtime[0]


def proven_accesses(verification: Any, insns: list[Insn], frame_size: int) -> dict[int, str]:
    """The accesses a :class:`pybpf.verifier.VerifierResult` of ``insns``
    proved in bounds, as :attr:`pybpf.jit.codegen.Options.proven` takes them:
    pc -> "stack" or "memory".  Nothing for a rejected result, a result of
    another program (its length differs), or stack proofs when the VM's
    frames are smaller than the verifier's (``MAX_BPF_STACK``)."""
    from ..spec.verifier import MAX_BPF_STACK
    from ..verifier.state import PTR_TO_STACK, base_type

    if not getattr(verification, "accepted", False) or len(verification.facts) != len(insns):
        return {}
    out = {}
    for pc in verification.proven_accesses:
        if base_type(verification.facts[pc].ptr_type) == PTR_TO_STACK:
            if frame_size >= MAX_BPF_STACK:
                out[pc] = "stack"
        else:
            out[pc] = "memory"
    return out


def _remember(key: str, loaded: tuple[NativeCode, L.Layout]) -> None:
    if len(_native) >= _NATIVE_KEEP:
        _native.pop(next(iter(_native)))
    _native[key] = loaded


__all__ = ["JitProgram", "Unsupported", "cached_native_code", "compile_seconds", "host_address",
           "native_code"]
