"""The userspace virtual machine: load programs, run them on memory.

>>> from pybpf.vm import VM
>>> vm = VM()
>>> prog = vm.load("mov %r0, %r2\\nexit")
>>> prog.run(b"abcd").r0
4

A :class:`VM` owns one address space (stack frames, input memory, later
maps), a helper registry, an :class:`~pybpf.helpers.environment.Environment`
and limits.  :meth:`VM.load` validates and prepares a program;
:meth:`Program.run` runs it with ``r1`` pointing at the given memory and
``r2`` holding its length, as uBPF and the bpf_conformance suite do.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from .. import backend
from ..backend import TestRunResult, verdict
from ..errors import HelperError, VMError
from ..isa import Insn, OpForm, assemble, decode, validate
from ..isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE, PSEUDO_MAP_VALUE
from ..isa.validate import LATEST_CPU_VERSION
from ..objects import MapSpec
from ..spec.defines import BPF_COMPLEXITY_LIMIT_INSNS, MAX_TAIL_CALLS
from ..spec.net import ETH_HLEN
from .context import StructContext
from .engines import WarmingProgram, choose_engine
from .interpreter import (
    TAIL_CALL_ID,
    CompiledProgram,
    Helper,
    Meter,
    StackFrames,
    checked_max_insns,
    checked_max_seconds,
    code_region,
)
from .memory import GUARD, LAYOUT_BASE, AddressSpace, Region
from .packet import Packet
from .progtypes import Invocation, prepare
from .trace import Tracer

if TYPE_CHECKING:
    from ..maps import Map


#: Arenas live in 4 GiB windows of their own from here (pointers into an
#: arena keep 32 bits and get the window's upper bits back).
ARENA_WINDOW = 1 << 32
ARENA_AREA = LAYOUT_BASE + (1 << 40)


#: ``_new_tuple(RunResult, (r0, count, mem))`` builds a NamedTuple from all
#: its fields in one C call.  The class's own ``__new__`` is Python code: on
#: the per-call paths of run and test_run it cost about as much as the run.
_new_tuple = tuple.__new__


class RunResult(NamedTuple):
    """What a run produced: r0, the number of instructions executed and the
    memory as the program left it."""

    r0: int
    insn_count: int
    mem: bytearray | None = None


ProgramSource = Sequence[Insn] | bytes | bytearray | str


def as_instructions(program: ProgramSource, *, syntax: str = "auto") -> list[Insn]:
    """Instruction slots from slots, raw bytecode or assembly text."""
    if isinstance(program, str):
        return assemble(program, syntax)
    if isinstance(program, (bytes, bytearray, memoryview)):
        return decode(bytes(program))
    if set(map(type, program)) == {Insn}:
        return list(program)
    return [i if type(i) is Insn else Insn(*i) for i in program]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a while.  Loading makes a
    tuple or two per instruction and no cycles: left running, the collector
    would walk the growing program over and over (a 1M-instruction load took
    twice as long)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


DEFAULT_MAX_INSNS = BPF_COMPLEXITY_LIMIT_INSNS
"""The instructions one run may execute unless the VM is told otherwise:
the kernel's limit on the instructions its verifier processes
(BPF_COMPLEXITY_LIMIT_INSNS), used here as a limit on the instructions a
run executes.  The two differ: the kernel bounds the proof, not the run, so
a program the kernel accepts may execute more (``bpf_loop`` allows 8 million
callbacks) and needs a larger ``max_insns``.  At the interpreter's tens of
nanoseconds per instruction the default stops a runaway program within a
second or two."""

TRACED_MAX_INSNS = 100_000
"""The budget front ends give a traced run when the user gave none: each
instruction prints a line, and a program that loops would otherwise print
for an hour before a larger budget stops it."""


class VM:
    """A userspace eBPF machine.

    ``helpers`` is a :class:`~pybpf.helpers.registry.HelperRegistry` (the
    built-in helpers by default); ``env`` the environment helpers report;
    ``stack_size`` and ``max_call_depth`` shape the stack (512 bytes per
    frame, 8 frames, as the RFC and uBPF have it); ``version`` is the
    highest CPU version accepted.
    ``jit`` compiles programs to native code (:mod:`pybpf.jit`, needs
    llvmlite): True asks for it (where it cannot run, the interpreter runs
    with an :class:`EngineUnavailable` warning) from the load, False runs
    the interpreter, None (the default) follows ``PYBPF_JIT`` and, when it
    is unset, interprets a program until it is hot and then compiles it
    (:class:`~pybpf.vm.engines.WarmingProgram`, :func:`choose_engine`).

    LIMITS: each run (``run``, ``test_run``, each repetition of a test run)
    has one budget covering everything it executes — the program, its
    subprograms, the callbacks of ``bpf_loop`` and the other callback
    helpers, the programs tail calls jump to.  ``max_insns`` (default
    :data:`DEFAULT_MAX_INSNS`; ``None`` for no limit) stops it with
    :class:`~pybpf.errors.InstructionLimitExceeded`, ``max_seconds``
    (default none) with :class:`~pybpf.errors.TimeLimitExceeded`
    once the run has taken that much wall-clock time.  Both can be changed
    between runs.

    THREADS: a VM runs one program at a time (its stack, budget and address
    space serve the run in progress); runs of one VM from several threads
    take turns (:attr:`lock`).  For parallel runs, use a VM per thread: VMs
    can share maps, whose operations and atomics are thread-safe.
    """

    def __init__(self, *, helpers=None, env=None, max_insns: int | None = DEFAULT_MAX_INSNS,
                 max_seconds: float | None = None, stack_size: int = 512,
                 max_call_depth: int = 8, version: int = 4, jit: bool | None = None):
        from ..helpers import default_registry
        from ..helpers.environment import Environment

        self.lock = threading.RLock()
        """Held by a run, and while maps are adopted: one thread at a time
        uses the VM's stack, budget and address space."""
        self.memory = AddressSpace()
        self.stack = StackFrames(self.memory, stack_size, max_call_depth)
        self.helpers = helpers if helpers is not None else default_registry()
        self.env = env if env is not None else Environment()
        self.meter = Meter(max_insns, max_seconds)
        """The budget of the run in progress (shared by the VM's programs)."""
        self.version = version
        self.trace_pipe: list[bytes] = []
        self.arena_base = 0
        """Where address-space-1 (arena) pointers point: the 4 GiB window of
        the VM's arena map (set when one is adopted)."""
        self.maps_by_fd: dict[int, Any] = {}
        self._fds: dict[int, int] = {}            # map id -> fd
        self._by_address: dict[int, Any] = {}    # map pointer in this VM -> map
        self._pointers: dict[int, int] = {}       # map id -> its pointer in this VM
        self._next_fd = 3
        self.tail_calls = 0
        self.engine = choose_engine(jit)
        """The compiler programs are loaded with (None: the interpreter)."""

    @property
    def max_insns(self) -> int | None:
        """Instructions a run may execute (None: no limit)."""
        return self.meter.max_insns

    @max_insns.setter
    def max_insns(self, value: int | None) -> None:
        self.meter.max_insns = checked_max_insns(value)

    @property
    def max_seconds(self) -> float | None:
        """Wall-clock seconds a run may take (None: no limit)."""
        return self.meter.max_seconds

    @max_seconds.setter
    def max_seconds(self, value: float | None) -> None:
        self.meter.max_seconds = checked_max_seconds(value)

    # --- maps -------------------------------------------------------------------------

    def create_map(self, spec: MapSpec) -> Map:
        """Create a userspace map (see :mod:`pybpf.maps`) that this VM's
        programs can use; its fd is ``vm.fd_of(map)``."""
        from ..maps import create_map

        m = create_map(spec, num_cpus=self.env.num_cpus)
        self.adopt_map(m)
        return m

    def adopt_map(self, m: Map) -> int:
        """Make an existing userspace map reachable by this VM's programs
        (map its memory at addresses of this VM, give it an fd); returns the
        fd.  Programs reach only the maps their VM adopted: the ones it
        created, the ones given to it, and the inner maps of its maps of
        maps (adopted when a lookup returns them)."""
        with self.lock:
            return self._adopt(m)

    def _adopt(self, m: Map) -> int:
        fd = self._fds.get(m.id)
        if fd is not None:
            return fd
        for buf in m.buffers():
            region = Region(buf.name, buf.buffer, kind=buf.kind, writable=buf.writable)
            region.owner = m
            if buf.kind == "arena":
                self.memory.map(region, at=self._arena_placement(m, region.size))
                self.arena_base = region.start - region.start % ARENA_WINDOW
            else:
                self.memory.map(region)
            if buf.kind == "map_ptr":
                self._by_address[region.start] = m
                self._pointers[m.id] = region.start
        fd = self._next_fd
        self._next_fd += 1
        self._fds[m.id] = fd
        self.maps_by_fd[fd] = m
        return fd

    def _arena_placement(self, m: Map, size: int) -> int:
        """Where an arena goes: in a 4 GiB window of its own (pointers into
        it keep 32 bits), at the offset ``map_extra`` asks for, else one
        guard gap in (so that no arena byte has the 32-bit address 0)."""
        offset = m.spec.map_extra % ARENA_WINDOW or GUARD
        window = ARENA_AREA
        while not self.memory.is_free(window, ARENA_WINDOW):
            window += ARENA_WINDOW
        return self.memory.reserve(size, at=window + offset)

    def fd_of(self, m: Map) -> int:
        """The VM-local file descriptor of a map (what ``map[fd:N]`` names)."""
        return self.adopt_map(m)

    def map_pointer(self, m: Map) -> int:
        """The address of map ``m`` in this VM (what ``lddw map`` loads),
        adopting it first if needed."""
        address = self._pointers.get(m.id)
        if address is None:
            self.adopt_map(m)
            address = self._pointers[m.id]
        return address

    def value_pointer(self, m: Map, offset: int = 0, *, pc: int | None = None) -> int:
        """The address in this VM of byte ``offset`` of map ``m``'s first
        value (what ``lddw map_value`` loads: global data).  Only maps with
        values at fixed places (arrays, arenas) have one, as in the kernel;
        :class:`VMError` (at ``pc``) for the others."""
        value_address = getattr(m, "value_address", None)
        if value_address is None:
            raise VMError(f"lddw map_value of map {m.name!r}: a {m.type} map has no value "
                          f"at a fixed address", pc=pc)
        self.adopt_map(m)
        address = self.memory.from_host(value_address(0))
        if not address:
            raise VMError(f"lddw map_value of map {m.name!r}: the map has no values for a "
                          f"program to point into", pc=pc)
        return address + offset

    def map_at(self, address: int) -> Map | None:
        """The map whose pointer (the value ``lddw map`` loads) is ``address``
        in this VM, or None: a map of another VM is not found, whatever its
        address there."""
        return self._by_address.get(address)

    def map_owning(self, address: int) -> Map | None:
        """The map whose memory holds ``address``."""
        region = self.memory.find(address)
        return region.owner if region is not None else None

    def resolve_pseudo(self, pc: int, form: OpForm, imm: int, next_imm: int,
                       maps_by_index: Sequence[Map] = ()) -> int:
        """The value a pseudo ``lddw`` loads: a map pointer or the address of
        a map value, by VM fd or by index into ``maps_by_index``."""
        pseudo = form.pseudo
        if pseudo in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            m = self.maps_by_fd.get(imm)
            where = f"fd {imm}"
        elif pseudo in (PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE):
            m = maps_by_index[imm] if 0 <= imm < len(maps_by_index) else None
            where = f"index {imm}"
        else:
            raise VMError(f"lddw {form.name}: kernel objects (BTF ids) do not exist in the "
                          f"userspace VM", pc=pc)
        if m is None:
            raise VMError(f"lddw refers to map {where}, which this VM does not have", pc=pc)
        if pseudo in (PSEUDO_MAP_FD, PSEUDO_MAP_IDX):
            return self.map_pointer(m)
        return self.value_pointer(m, next_imm & 0xFFFFFFFF, pc=pc)

    def load(self, program: ProgramSource, *, name: str = "prog", prog_type: str = "memory",
             check: bool = True,
             resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
             verification: Any = None) -> Program:
        """Validate and prepare a program (slots, bytecode or assembly text).

        ``prog_type`` is the kernel's program type name (``xdp``,
        ``sched_cls``, ``socket_filter``...) or ``memory``; it decides what
        :meth:`Program.test_run` passes.  Map references (``lddw rN,
        map[fd:F]``) resolve against this VM's maps unless ``resolve_pseudo``
        is given.  Raises :class:`~pybpf.errors.InstructionError` for a
        malformed program and :class:`~pybpf.errors.AssemblerError` for bad
        text.  ``verification`` is the :class:`pybpf.verifier.VerifierResult`
        that proved exactly these instructions safe (the JIT then leaves out
        the checks of the accesses it proved).  ``check=False`` allows
        instructions beyond this VM's CPU ``version``; a structurally
        malformed program (unknown opcode, register above r10, jump out of
        the program...) is refused either way, since no engine can run it.
        """
        with collector_paused(), self.lock:
            insns = as_instructions(program)
            # An engine may remember the programs it saw validated (the JIT
            # does, on disk, beside their code): its ``validate`` replaces
            # pybpf.isa.validate, with the same answers.
            check_with = getattr(self.engine, "validate", None) or validate
            check_with(insns, version=self.version if check else LATEST_CPU_VERSION)
            return Program(self, insns, name, resolve_pseudo or self.resolve_pseudo, prog_type,
                           verification=verification)

    def run(self, program: ProgramSource, mem: bytes | bytearray | None = None, *,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Load and run a program once (see :meth:`Program.run`)."""
        return self.load(program).run(mem, trace=trace)


class BoundHelpers(Mapping[int, Helper]):
    """The helpers a program's engine calls, by id: the VM's helper
    functions (as they were when it was compiled), each bound to the
    program (``functools.partial(fn, program)``: its first argument, the
    helper context).  Each is bound when first asked for: a program calls
    a few of the many helpers."""

    def __init__(self, functions: Mapping[int, Callable[..., int]], program: Program):
        self._functions = functions
        self._program = program
        self._bound: dict[int, Helper] = {}

    def __getitem__(self, helper_id: int) -> Helper:
        fn = self._bound.get(helper_id)
        if fn is None:
            fn = self._bound[helper_id] = functools.partial(self._functions[helper_id],
                                                            self._program)
        return fn

    def __contains__(self, helper_id: object) -> bool:
        return helper_id in self._functions

    def __iter__(self) -> Iterator[int]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)


class Program(backend.Program):
    """A program loaded into a :class:`VM`, ready to run (a
    :class:`pybpf.backend.Program`).

    ``prog_type`` (the kernel's program type name: ``xdp``, ``sched_cls``,
    ``socket_filter``, ``tracepoint``... or ``memory``; also ``type``)
    decides what :meth:`test_run` passes in ``r1``.
    """

    def __init__(self, vm: VM, insns: list[Insn], name: str,
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
                 prog_type: str = "memory", verification: Any = None):
        self.vm = vm
        self.insns = insns
        self.name = name
        self.prog_type = prog_type
        self._resolve_pseudo = resolve_pseudo
        self.memory = vm.memory
        self._env = vm.env
        self._compiled: Any = None
        self.invocation: Invocation | None = None
        self.redirect: Any = None
        self.verification: Any = verification
        """The :class:`pybpf.verifier.VerifierResult` that proved this
        program safe (what :func:`pybpf.vm.load` verified), else None."""
        self.code = code_region(vm.memory, insns, name)
        self._compiled = self._compile(None)
        self._active = self._compiled
        # The inputs of the bare runs (no memory, no arguments), made once:
        # nothing writes to an invocation, and these map nothing.
        self._bare_run = Invocation((0, 0), "memory")
        self._bare_test_run = Invocation((0, 0), "memory", memory=bytearray())

    @property
    def env(self) -> Any:
        """The :class:`~pybpf.helpers.environment.Environment` the helpers
        report (the VM's when loaded).  A replacement reaches every engine:
        the JIT's native helper paths read the new one from the next run."""
        return self._env

    @env.setter
    def env(self, env: Any) -> None:
        self._env = env
        adopt = getattr(self._compiled, "adopt_environment", None)
        if adopt is not None and not adopt(env):
            self._compiled = self._active = self._compile(None)

    @property
    def type(self) -> str:  # type: ignore[override]
        """The program type name (:attr:`prog_type`)."""
        return self.prog_type

    # The HelperContext protocol: helpers reach the VM through the program.

    def invoke(self, address: int, *args: int) -> int:
        """Call a subprogram of this program by code address (for callbacks)."""
        return self._active.invoke(address, *args)

    def map_at(self, address: int) -> Map | None:
        """The map whose pointer is ``address`` (for helpers)."""
        return self.vm.map_at(address)

    def map_owning(self, address: int) -> Map | None:
        """The map whose memory holds ``address`` (for helpers)."""
        return self.vm.map_owning(address)

    def map_pointer(self, m: Map) -> int:
        """The address of map ``m`` in this program's VM (for helpers that
        return a map: a map of maps' lookup)."""
        return self.vm.map_pointer(m)

    @property
    def packet(self) -> Packet | None:
        """The packet of the run in progress (skb and XDP programs)."""
        return self.invocation.packet if self.invocation is not None else None

    @property
    def ctx(self) -> StructContext | None:
        """The context struct of the run in progress, if it has one."""
        return self.invocation.ctx if self.invocation is not None else None

    @property
    def trace_pipe(self) -> list[bytes]:
        """Lines written by bpf_trace_printk, shared by the VM's programs."""
        return self.vm.trace_pipe

    def _packet_bytes(self) -> tuple[bytearray, int, int, int, int] | None:
        inv = self.invocation
        if inv is None:
            return None
        packet = inv.packet
        if packet is not None:
            net = packet.network if packet.network is not None else packet.mac + ETH_HLEN
            return packet.buffer, packet.data, packet.end, packet.mac, net
        if inv.memory is not None:
            return inv.memory, 0, len(inv.memory), 0, ETH_HLEN
        return None

    def _compile(self, tracer: Tracer | None) -> CompiledProgram:
        bound = BoundHelpers(self.vm.helpers.functions(), self)
        self._tail_call_target = bound.get(TAIL_CALL_ID)
        factory = self.vm.engine if tracer is None else None
        # An engine (the JIT) may use what verification proved.
        extra: dict[str, Any] = {"verification": self.verification} \
            if factory is not None and self.verification is not None else {}
        if factory is WarmingProgram:
            extra["replace"] = self._adopt
        return (factory or CompiledProgram)(self.insns, space=self.vm.memory, stack=self.vm.stack,
                               helpers=bound, resolve_pseudo=self._resolve_pseudo,
                               packet=self._packet_bytes, trace=tracer,
                               meter=self.vm.meter, name=self.name, code=self.code,
                               tail_call=self._tail_call, arena_base=self.vm.arena_base,
                               **extra)

    def _adopt(self, compiled: Any) -> None:
        """Run ``compiled`` from now on (a :class:`WarmingProgram` that got
        hot hands over the JIT's program, between runs)."""
        self._compiled = compiled
        self._active = compiled

    def _tail_call(self, ctx_ptr: int, map_ptr: int, index: int, depth: int, n: int
                   ) -> tuple[int, int] | None:
        """Jump to ``map_ptr[index]``: run that program in the current frame,
        counting on from ``n`` instructions, and return (r0, instructions
        executed so far), or None to fall through."""
        find = self._tail_call_target
        target = find(ctx_ptr, map_ptr, index, 0, 0) if find is not None else None
        if target is None or self.vm.tail_calls >= MAX_TAIL_CALLS:
            return None
        if not isinstance(target, Program) or target.vm is not self.vm:
            raise HelperError(f"bpf_tail_call: the prog_array holds {target!r}, not a program "
                              f"of this VM")
        self.vm.tail_calls += 1
        saved = target.invocation
        target.invocation = self.invocation
        target._active = target._compiled
        try:
            return target._compiled.run_in_frame(ctx_ptr, depth, n)
        finally:
            target.invocation = saved

    def _select(self, trace: Tracer | TextIO | None) -> tuple[CompiledProgram, Tracer | None]:
        if trace is None:
            return self._compiled, None
        tracer = trace if isinstance(trace, Tracer) else Tracer(self.insns, trace)
        return self._compile(tracer), tracer

    def _new_run(self) -> None:
        self.redirect = None
        self.vm.tail_calls = 0

    def _execute(self, compiled: CompiledProgram, tracer: Tracer | None,
                 inv: Invocation) -> int:
        regs = [*inv.args, 0, 0, 0, 0, 0][:5]
        self.invocation = inv
        self._new_run()
        self._active = compiled
        if tracer is not None:
            tracer.start([0, *regs, 0, 0, 0, 0, self.vm.stack.frames[0].end])
        return compiled.run(*regs)

    def _execute_repeated(self, compiled: Any, inv: Invocation, repeat: int) -> tuple[int, int]:
        """Run ``repeat`` times in the compiled code's own loop: (r0, ns per run)."""
        regs = [*inv.args, 0, 0, 0, 0, 0][:5]
        self.invocation = inv
        self._new_run()
        self._active = compiled
        compiled.on_new_run = self._new_run
        r0, elapsed = compiled.run_repeat(repeat, *regs)
        return r0, elapsed // repeat

    def run(self, mem: bytes | bytearray | None = None, *, args: Sequence[int] | None = None,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Run the program once, uBPF style, whatever its type.

        ``mem`` is mapped as a writable region: ``r1`` holds its address and
        ``r2`` its length (a ``bytearray`` is used in place, so the caller
        sees the program's writes; ``bytes`` are copied).  ``args`` gives
        r1..r5 explicitly instead.  ``trace`` is a :class:`Tracer` or a text
        stream to print one line per executed instruction to.
        """
        with self.vm.lock:
            if mem is None and args is None and trace is None:
                return self._run_bare()
            return self._run(mem, args, trace)

    def _run_bare(self) -> RunResult:
        """:meth:`_run` with no memory, arguments or trace, in fewer steps."""
        compiled = self._compiled
        self.invocation = self._bare_run
        self.redirect = None
        self.vm.tail_calls = 0
        self._active = compiled
        try:
            r0 = compiled.run(0, 0)
        finally:
            self.invocation = None
        return _new_tuple(RunResult, (r0, compiled.insn_count, None))

    def _run(self, mem: bytes | bytearray | None, args: Sequence[int] | None,
             trace: Tracer | TextIO | None) -> RunResult:
        compiled, tracer = self._select(trace)
        buffer = None if mem is None else mem if isinstance(mem, bytearray) else bytearray(mem)
        regions = []
        inv_args: tuple[int, ...] = (0, 0)
        if buffer:
            region = self.memory.map(Region("mem", buffer, kind="mem"))
            regions.append(region)
            inv_args = (region.start, len(buffer))
        inv = Invocation(inv_args, "memory", regions=regions, memory=buffer)
        if args is not None:
            inv.args = tuple(v & ((1 << 64) - 1) for v in args[:5])
        try:
            r0 = self._execute(compiled, tracer, inv)
        finally:
            inv.close(self.memory)
            self.invocation = None
        return RunResult(r0, compiled.insn_count, buffer)

    def test_run(self, data: bytes = b"", ctx: bytes | None = None, *, repeat: int = 1,
                 trace: Tracer | TextIO | None = None) -> TestRunResult:
        """Run the program as ``BPF_PROG_TEST_RUN`` would: ``data`` is the
        packet (or memory), ``ctx`` the context struct's bytes; the program
        runs ``repeat`` times on the same input.  Returns retval (the low 32
        bits of r0), data_out, ctx_out and the average duration."""
        if type(repeat) is not int or not 0 <= repeat <= 1:
            repeat = backend.checked_repeat(repeat, f"program {self.name!r}")
        with self.vm.lock:
            if repeat <= 1 and trace is None:
                if not data and ctx is None and self.prog_type == "memory":
                    return self._test_run_bare(self._compiled)
                return self._test_run_once(data, ctx)
            return self._test_run(data, ctx, max(repeat, 1), trace)

    def _test_run_bare(self, compiled: Any) -> TestRunResult:
        """One run of a ``memory`` program with no input: nothing to map
        (r1 = r2 = 0), nothing to copy out, no verdict (as :func:`prepare`
        makes it: an empty memory)."""
        self.invocation = self._bare_test_run
        self.redirect = None
        self.vm.tail_calls = 0
        self._active = compiled
        try:
            start = time.perf_counter_ns()
            r0 = compiled.run(0, 0)
            duration = time.perf_counter_ns() - start
        finally:
            self.invocation = None
        self.last_insn_count = compiled.insn_count
        return _new_tuple(TestRunResult,
                         (r0 & 0xFFFFFFFF, b"", None, duration, r0, None, self.redirect))

    def _test_run_once(self, data: bytes, ctx: bytes | None) -> TestRunResult:
        """:meth:`_test_run` for one untraced run, with fewer steps (what a
        call from Python costs is mostly this)."""
        compiled = self._compiled
        prog_type = self.prog_type
        if prog_type == "memory" and not data and ctx is None:
            return self._test_run_bare(compiled)
        inv = prepare(prog_type, self.memory, data if type(data) is bytes else bytes(data), ctx)
        try:
            self.invocation = inv
            self.redirect = None
            self.vm.tail_calls = 0
            self._active = compiled
            start = time.perf_counter_ns()
            r0 = compiled.run(*inv.args[:5])
            duration = time.perf_counter_ns() - start
            result = TestRunResult(r0 & 0xFFFFFFFF, inv.data_out(), inv.ctx_out(), duration, r0,
                                   verdict(prog_type, r0), self.redirect)
        finally:
            inv.close(self.memory)
            self.invocation = None
        self.last_insn_count = compiled.insn_count
        return result

    def _test_run(self, data: bytes, ctx: bytes | None, repeat: int,
                  trace: Tracer | TextIO | None) -> TestRunResult:
        compiled, tracer = self._select(trace)
        inv = prepare(self.prog_type, self.memory, bytes(data), ctx)
        try:
            if repeat > 1 and hasattr(compiled, "run_repeat"):
                r0, duration = self._execute_repeated(compiled, inv, repeat)
            else:
                start = time.perf_counter_ns()
                for _ in range(repeat):
                    r0 = self._execute(compiled, tracer, inv)
                duration = (time.perf_counter_ns() - start) // repeat
            result = TestRunResult(r0 & 0xFFFFFFFF, inv.data_out(), inv.ctx_out(),
                                   duration, r0, verdict(self.prog_type, r0),
                                   self.redirect)
        finally:
            inv.close(self.memory)
            self.invocation = None
        self.last_insn_count = compiled.insn_count
        return result
