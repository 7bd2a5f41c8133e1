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

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from .. import backend
from ..backend import TestRunResult, verdict
from ..errors import HelperError, VMError
from ..isa import Insn, OpForm, assemble, decode, validate
from ..isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE, PSEUDO_MAP_VALUE
from ..objects import MapSpec
from ..spec.defines import MAX_TAIL_CALLS
from ..spec.net import ETH_HLEN
from .context import StructContext
from .interpreter import TAIL_CALL_ID, CompiledProgram, Helper, StackFrames, code_region
from .memory import AddressSpace, Region
from .packet import Packet
from .progtypes import Invocation, prepare
from .trace import Tracer

if TYPE_CHECKING:
    from ..maps import Map


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
    return [Insn(*i) for i in program]


class VM:
    """A userspace eBPF machine.

    ``helpers`` is a :class:`~pybpf.helpers.registry.HelperRegistry` (the
    built-in helpers by default); ``env`` the environment helpers report;
    ``max_insns`` stops runaway programs with
    :class:`~pybpf.errors.InstructionLimitExceeded`; ``stack_size`` and
    ``max_call_depth`` shape the stack (512 bytes per frame, 8 frames, as the
    RFC and uBPF have it); ``version`` is the highest CPU version accepted.
    """

    def __init__(self, *, helpers=None, env=None, max_insns: int | None = None,
                 stack_size: int = 512, max_call_depth: int = 8, version: int = 4):
        from ..helpers import default_registry
        from ..helpers.environment import Environment

        self.memory = AddressSpace()
        self.stack = StackFrames(self.memory, stack_size, max_call_depth)
        self.helpers = helpers if helpers is not None else default_registry()
        self.env = env if env is not None else Environment()
        self.max_insns = max_insns
        self.version = version
        self.trace_pipe: list[bytes] = []
        self.arena_base = 0
        """Where address-space-1 (arena) pointers point: the 4 GiB window of
        the VM's arena map (set when one is created)."""
        self.maps_by_fd: dict[int, Any] = {}
        self._fds: dict[int, int] = {}            # map id -> fd
        self._by_address: dict[int, Any] = {}
        self._next_fd = 3
        self.tail_calls = 0

    # --- maps -------------------------------------------------------------------------

    def create_map(self, spec: MapSpec) -> Map:
        """Create a userspace map (see :mod:`pybpf.maps`) that this VM's
        programs can use; its fd is ``vm.fd_of(map)``."""
        from ..maps import create_map

        m = create_map(spec, num_cpus=self.env.num_cpus)
        self.adopt_map(m)
        if spec.type == "arena":
            self.arena_base = m.base
        return m

    def adopt_map(self, m: Map) -> int:
        """Make an existing userspace map reachable by programs (map its
        memory, give it an fd); returns the fd."""
        fd = self._fds.get(m.id)
        if fd is not None:
            return fd
        for buf in m.buffers():
            region = Region(buf.name, buf.buffer, kind=buf.kind, writable=buf.writable)
            region.owner = m
            self.memory.map(region)
        fd = self._next_fd
        self._next_fd += 1
        self._fds[m.id] = fd
        self.maps_by_fd[fd] = m
        self._by_address[m.address] = m
        return fd

    def fd_of(self, m: Map) -> int:
        """The VM-local file descriptor of a map (what ``map[fd:N]`` names)."""
        return self.adopt_map(m)

    def map_at(self, address: int) -> Map | None:
        """The map whose pointer (the value ``lddw map`` loads) is ``address``."""
        m = self._by_address.get(address)
        if m is None:
            from ..maps import map_at

            m = map_at(address)
            if m is not None:
                self.adopt_map(m)  # an inner map userspace put into a map of maps
        return m

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
            return m.address
        return m.value_address(0) + (next_imm & 0xFFFFFFFF)

    def load(self, program: ProgramSource, *, name: str = "prog", prog_type: str = "memory",
             check: bool = True,
             resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None) -> Program:
        """Validate and prepare a program (slots, bytecode or assembly text).

        ``prog_type`` is the kernel's program type name (``xdp``,
        ``sched_cls``, ``socket_filter``...) or ``memory``; it decides what
        :meth:`Program.test_run` passes.  Map references (``lddw rN,
        map[fd:F]``) resolve against this VM's maps unless ``resolve_pseudo``
        is given.  Raises :class:`~pybpf.errors.InstructionError` for a
        malformed program and :class:`~pybpf.errors.AssemblerError` for bad
        text.
        """
        insns = as_instructions(program)
        if check:
            validate(insns, version=self.version)
        return Program(self, insns, name, resolve_pseudo or self.resolve_pseudo, prog_type)

    def run(self, program: ProgramSource, mem: bytes | bytearray | None = None, *,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Load and run a program once (see :meth:`Program.run`)."""
        return self.load(program).run(mem, trace=trace)


class Program(backend.Program):
    """A program loaded into a :class:`VM`, ready to run (a
    :class:`pybpf.backend.Program`).

    ``prog_type`` (the kernel's program type name: ``xdp``, ``sched_cls``,
    ``socket_filter``, ``tracepoint``... or ``memory``; also ``type``)
    decides what :meth:`test_run` passes in ``r1``.
    """

    def __init__(self, vm: VM, insns: list[Insn], name: str,
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
                 prog_type: str = "memory"):
        self.vm = vm
        self.insns = insns
        self.name = name
        self.prog_type = prog_type
        self._resolve_pseudo = resolve_pseudo
        self.memory = vm.memory
        self.env = vm.env
        self.invocation: Invocation | None = None
        self.redirect: Any = None
        self.verification: Any = None
        """The :class:`pybpf.verifier.VerifierResult` that proved this
        program safe (what :func:`pybpf.vm.load` verified), else None."""
        self.code = code_region(vm.memory, insns, name)
        self._compiled = self._compile(None)
        self._active = self._compiled

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
        bound: dict[int, Helper] = {}
        for entry in self.vm.helpers:
            bound[entry.id] = functools.partial(entry.fn, self)
        self._tail_call_target = bound.get(TAIL_CALL_ID)
        return CompiledProgram(self.insns, space=self.vm.memory, stack=self.vm.stack,
                               helpers=bound, resolve_pseudo=self._resolve_pseudo,
                               packet=self._packet_bytes, trace=tracer,
                               max_insns=self.vm.max_insns, name=self.name, code=self.code,
                               tail_call=self._tail_call, arena_base=self.vm.arena_base)

    def _tail_call(self, ctx_ptr: int, map_ptr: int, index: int, depth: int
                   ) -> tuple[int, int] | None:
        """Jump to ``map_ptr[index]``: run that program in the current frame
        and return its (r0, instructions), or None to fall through."""
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
            return target._compiled.run_in_frame(ctx_ptr, depth)
        finally:
            target.invocation = saved

    def _select(self, trace: Tracer | TextIO | None) -> tuple[CompiledProgram, Tracer | None]:
        if trace is None:
            return self._compiled, None
        tracer = trace if isinstance(trace, Tracer) else Tracer(self.insns, trace)
        return self._compile(tracer), tracer

    def _execute(self, compiled: CompiledProgram, tracer: Tracer | None,
                 inv: Invocation) -> int:
        regs = [*inv.args, 0, 0, 0, 0, 0][:5]
        self.invocation = inv
        self.redirect = None
        self.vm.tail_calls = 0
        self._active = compiled
        if tracer is not None:
            tracer.start([0, *regs, 0, 0, 0, 0, self.vm.stack.frames[0].end])
        return compiled.run(*regs)

    def run(self, mem: bytes | bytearray | None = None, *, args: Sequence[int] | None = None,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Run the program once, uBPF style, whatever its type.

        ``mem`` is mapped as a writable region: ``r1`` holds its address and
        ``r2`` its length (a ``bytearray`` is used in place, so the caller
        sees the program's writes; ``bytes`` are copied).  ``args`` gives
        r1..r5 explicitly instead.  ``trace`` is a :class:`Tracer` or a text
        stream to print one line per executed instruction to.
        """
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
        if repeat < 1:
            repeat = 1
        compiled, tracer = self._select(trace)
        inv = prepare(self.prog_type, self.memory, bytes(data), ctx)
        try:
            start = time.perf_counter_ns()
            for _ in range(repeat):
                r0 = self._execute(compiled, tracer, inv)
            elapsed = time.perf_counter_ns() - start
            result = TestRunResult(r0 & 0xFFFFFFFF, inv.data_out(), inv.ctx_out(),
                                   elapsed // repeat, r0, verdict(self.prog_type, r0),
                                   self.redirect)
        finally:
            inv.close(self.memory)
            self.invocation = None
        self.last_insn_count = compiled.insn_count
        return result
