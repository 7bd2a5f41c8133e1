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
from collections.abc import Callable, Sequence
from typing import NamedTuple, TextIO

from ..isa import Insn, OpForm, assemble, decode, validate
from .interpreter import CompiledProgram, Helper, StackFrames, code_region
from .memory import AddressSpace, Region
from .trace import Tracer


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

    def load(self, program: ProgramSource, *, name: str = "prog", check: bool = True,
             resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None) -> Program:
        """Validate and prepare a program (slots, bytecode or assembly text).

        Raises :class:`~pybpf.errors.InstructionError` for a malformed
        program and :class:`~pybpf.errors.AssemblerError` for bad text.
        """
        insns = as_instructions(program)
        if check:
            validate(insns, version=self.version)
        return Program(self, insns, name, resolve_pseudo)

    def run(self, program: ProgramSource, mem: bytes | bytearray | None = None, *,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Load and run a program once (see :meth:`Program.run`)."""
        return self.load(program).run(mem, trace=trace)


class Program:
    """A program loaded into a :class:`VM`, ready to run."""

    def __init__(self, vm: VM, insns: list[Insn], name: str,
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None):
        self.vm = vm
        self.insns = insns
        self.name = name
        self._resolve_pseudo = resolve_pseudo
        self.packet: Region | None = None
        self.memory = vm.memory
        self.env = vm.env
        self.code = code_region(vm.memory, insns, name)
        self._compiled = self._compile(None)
        self._traced: CompiledProgram | None = None

    # The HelperContext protocol: helpers reach the VM through the program.

    def invoke(self, address: int, *args: int) -> int:
        """Call a subprogram of this program by code address (for callbacks)."""
        return self._active.invoke(address, *args)

    @property
    def trace_pipe(self) -> list[bytes]:
        """Lines written by bpf_trace_printk, shared by the VM's programs."""
        return self.vm.trace_pipe

    def _compile(self, tracer: Tracer | None) -> CompiledProgram:
        bound: dict[int, Helper] = {}
        for entry in self.vm.helpers:
            bound[entry.id] = functools.partial(entry.fn, self)
        return CompiledProgram(self.insns, space=self.vm.memory, stack=self.vm.stack,
                               helpers=bound, resolve_pseudo=self._resolve_pseudo,
                               packet=lambda: self.packet, trace=tracer,
                               max_insns=self.vm.max_insns, name=self.name, code=self.code)

    def run(self, mem: bytes | bytearray | None = None, *, args: Sequence[int] | None = None,
            trace: Tracer | TextIO | None = None) -> RunResult:
        """Run the program once.

        ``mem`` is mapped as a writable region: ``r1`` holds its address and
        ``r2`` its length (a ``bytearray`` is used in place, so the caller
        sees the program's writes; ``bytes`` are copied).  ``args`` gives
        r1..r5 explicitly instead.  ``trace`` is a :class:`Tracer` or a text
        stream to print one line per executed instruction to.
        """
        compiled = self._compiled
        tracer: Tracer | None = None
        if trace is not None:
            tracer = trace if isinstance(trace, Tracer) else Tracer(self.insns, trace)
            compiled = self._compile(tracer)
        buffer: bytearray | None = None
        region: Region | None = None
        regs = [0, 0, 0, 0, 0]
        if mem is not None:
            buffer = mem if isinstance(mem, bytearray) else bytearray(mem)
            if buffer:
                region = self.memory.map_buffer(buffer, "mem", kind="mem")
                regs[0], regs[1] = region.start, len(buffer)
        if args is not None:
            for i, value in enumerate(args[:5]):
                regs[i] = value & ((1 << 64) - 1)
        self.packet = region
        self._active = compiled
        if tracer is not None:
            tracer.start([0, *regs, 0, 0, 0, 0, self.vm.stack.frames[0].end])
        try:
            r0 = compiled.run(*regs)
        finally:
            if region is not None:
                self.memory.unmap(region)
            self.packet = None
        return RunResult(r0, compiled.insn_count, buffer)
