"""What a VM runs its programs with: the interpreter, a compiler, or both.

Compilers live in other packages (the JIT in :mod:`pybpf.jit`), found here
by name, so the VM runs without them.  By default a program starts in the
interpreter and moves to the JIT once it is hot (:class:`WarmingProgram`):
a program run once or twice never pays for a compile, and one run many
times gets native code.  ``VM(jit=True)`` compiles at load, ``jit=False``
(or ``PYBPF_JIT=0``) keeps the interpreter, ``PYBPF_JIT=1`` makes
``jit=True`` the default.

The rent-or-buy rule decides when (as :mod:`pybpf.jit.tiers` does between
the JIT's own tiers): a program moves after it has executed about as many
interpreted instructions as a compile would have cost, so it never spends
more than twice what the better choice in hindsight would have:

    move after  WARM_BASE + WARM_PER_INSN * len(program)
    instructions interpreted, counted over runs and tail calls into it.

Measured (``benchmarks/bench_jit.py``): the interpreter runs 25-90 ns per
instruction, native code well under 1; the baseline tier compiles a
program in about 1 ms plus 5-10 µs per instruction, and the first JIT
program of a process loads the shared entry code (a few ms from the disk
cache).  The constants below are those costs over ~50 ns.  The move
happens between runs; a test run repeated N times moves as soon as its
repetitions make the program hot, and does the rest in native code.  One
long run moves during the run (on-stack replacement) once it has
interpreted ``MIDWAY_BASE + MIDWAY_PER_INSN * len(program)`` instructions
(an LLVM compile's worth): at that backward jump, in the main function,
the JIT compiles the program
with a way in at that loop header, and the run goes on there in native
code with the interpreter's registers, count and stack frame; the later
runs start in that code.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
import warnings
from collections.abc import Callable
from typing import Any

from .interpreter import CompiledProgram
from .semantics import semantics_of

#: Compilers a VM can run programs with besides the interpreter, by name.  A
#: compiler's package installs itself here when imported (pybpf.jit installs
#: "jit"): a factory taking CompiledProgram's arguments and returning an
#: object with its interface (or a CompiledProgram where it cannot compile).
ENGINES: dict[str, Callable[..., Any]] = {}
#: The package that provides each engine, imported on first use (by name:
#: the VM does not depend on it, and runs without it).
ENGINE_PACKAGES = {"jit": "pybpf.jit"}
#: ``PYBPF_JIT=1`` compiles every program at load unless told otherwise,
#: ``0`` keeps the interpreter; unset, programs warm up (:class:`WarmingProgram`).
JIT_DEFAULT_VARIABLE = "PYBPF_JIT"
#: Instructions interpreted before any program moves to the JIT.
WARM_BASE = 100_000
#: More for each instruction of the program (the compile grows with it).
WARM_PER_INSN = 200
#: A run moves midway only later: its code is LLVM's (the baseline tier
#: cannot take over a run), which costs 15-25 ms for a small program when
#: nothing is cached (the shared entry code included) and about 30 µs more
#: per instruction: some 400,000 + 700 per instruction interpreted at ~45 ns.
MIDWAY_BASE = 400_000
MIDWAY_PER_INSN = 700


class EngineUnavailable(RuntimeWarning):
    """A VM was asked for a compiler that cannot run here (the JIT without
    llvmlite, or off x86-64): it runs its programs in the interpreter."""


_WARNED: set[str] = set()


def engine(name: str, *, required: bool = True) -> Callable[..., Any] | None:
    """The compiler ``name`` (importing its package); None when it cannot
    load.  When it was ``required`` (asked for by name), that is said once
    per process with an :class:`EngineUnavailable` warning naming the reason:
    the VM then runs the interpreter, which gives the same results."""
    factory = ENGINES.get(name)
    if factory is None:
        reason = "it does not run on this machine (it needs llvmlite, on x86-64)"
        try:
            importlib.import_module(ENGINE_PACKAGES[name])
        except ImportError as e:
            reason = f"{e} (pip install 'pybpf[{name}]')"
        factory = ENGINES.get(name)
        if factory is None and required and name not in _WARNED:
            _WARNED.add(name)
            warnings.warn(EngineUnavailable(
                f"pybpf: the {name} engine is not available, running programs in the "
                f"interpreter: {reason}"), stacklevel=3)
    return factory


def choose_engine(jit: bool | None) -> Callable[..., Any] | None:
    """What ``VM(jit=...)`` runs programs with: the JIT from the load
    (True), the interpreter (False, or None where the JIT is not
    available), or by default what ``PYBPF_JIT`` says: ``1`` as True,
    ``0`` as False, unset :class:`WarmingProgram` (interpreter first)."""
    if jit is None:
        setting = os.environ.get(JIT_DEFAULT_VARIABLE, "").strip().lower()
        if setting in ("1", "yes", "true"):
            return engine("jit", required=False)
        if setting in ("0", "no", "false"):
            return None
        return WarmingProgram
    return engine("jit") if jit else None


class WarmingProgram(CompiledProgram):
    """The interpreter, until the program is hot: then the JIT's code.

    Runs as :class:`~pybpf.vm.interpreter.CompiledProgram` and counts what
    it interprets; past ``warm_at`` instructions it compiles the program
    with the ``jit`` engine and hands the compiled program to ``replace``
    (the VM's :class:`~pybpf.vm.machine.Program` runs it from then on).
    Where the JIT cannot run, or gives back an interpreter, the program
    stays here and stops counting.  ``verification`` goes to the compiler
    (accesses it proved run unchecked).
    """

    def __init__(self, insns: Any, *, replace: Callable[[Any], None] | None = None,
                 verification: Any = None, **options: Any):
        super().__init__(insns, **options)
        self._compile_options = options
        self._verification = verification
        self._replace = replace
        self.interpreted = 0
        """Instructions this program has interpreted (runs and tail calls into it)."""
        self.warm_at: float = WARM_BASE + WARM_PER_INSN * len(self.insns)
        """The count of interpreted instructions that moves it to the JIT."""
        self.midway_at: float = max(self.warm_at, MIDWAY_BASE + MIDWAY_PER_INSN * len(self.insns))
        """The count that moves it during a run."""
        self.compiled: Any = None
        """The JIT's program once it has moved (None before)."""
        self.on_new_run: Callable[[], None] | None = None
        """Called between the runs of :meth:`run_repeat` (the VM resets its
        per-run state), as the JIT's loop calls it."""
        self._movable = False
        """Whether the run in progress may move to the JIT midway (a run of
        its own, by :meth:`run`; not a tail call or a callback into it)."""
        self._may_move = not any(f is not None and semantics_of(f).operation == "may_goto"
                                 for f in self.forms)

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """As :meth:`CompiledProgram.run`, counting the run (a run that
        raises is not counted) and moving to the JIT when hot, between
        runs or during one."""
        self._movable = self._may_move and self.compiled is None
        try:
            r0 = CompiledProgram.run(self, r1, r2, r3, r4, r5)
        finally:
            self._movable = False
        self._interpreted(self.insn_count)
        return r0

    def _left(self) -> int:
        """Instructions this run may interpret before it is hot."""
        return max(int(min(self.midway_at, 1 << 62)) - self.interpreted, 0)

    def _starting_run(self) -> None:
        if self._movable:       # be asked at the backward jump where it gets hot
            self.meter.next_check = min(self.meter.next_check, self._left())

    def _check(self, pc: int, n: int) -> int:
        following = CompiledProgram._check(self, pc, n)    # the limits first
        if not self._movable:
            return following
        if n >= self._left():
            return -1                                       # see _handover
        return min(following, self._left())

    def _handover(self, pc: int, n: int, depth: int, frames: list, *registers: int
                  ) -> tuple[int, int] | None:
        """The run got hot at the loop header ``pc``: in the main function,
        compile the program to go on there and finish the run in native
        code (it then runs every later run); inside a call go on
        interpreting (the program moves when the run ends)."""
        if depth or frames:
            return None
        self._movable = False
        self.interpreted += n
        compiled = self.warm_up(resume_at=pc)
        if getattr(compiled, "resume_at", None) != pc:    # compiled without the way in
            return None
        return compiled.resume(pc, registers, n)

    def _interpreted(self, count: int) -> None:
        self.interpreted += count
        if self.interpreted >= self.warm_at:
            self.warm_up()

    def run_in_frame(self, r1: int, depth: int, n: int = 0) -> tuple[int, int]:
        """As :meth:`CompiledProgram.run_in_frame` (a tail call into this
        program), counting it; the move waits for a run of its own."""
        movable, self._movable = self._movable, False     # a tail call does not move
        try:
            r0, executed = CompiledProgram.run_in_frame(self, r1, depth, n)
        finally:
            self._movable = movable
        self.interpreted += executed - n
        return r0, executed

    def run_repeat(self, repeat: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
                   r5: int = 0) -> tuple[int, int]:
        """``repeat`` runs (a repeated test run): interpreted while cold,
        the rest in the JIT's own loop once the program is hot; returns (r0
        of the last run, nanoseconds of this thread's CPU time in all the
        runs, as the JIT's loop counts: the compile is not counted)."""
        repeat = max(repeat, 1)
        total = r0 = done = 0
        while done < repeat and self.compiled is None:
            if done and self.on_new_run is not None:
                self.on_new_run()
            start = time.thread_time_ns()
            r0 = CompiledProgram.run(self, r1, r2, r3, r4, r5)
            total += time.thread_time_ns() - start
            self._interpreted(self.insn_count)      # the compile is not a run's time
            done += 1
        if done < repeat:                            # hot: the rest in native code
            if self.on_new_run is not None:
                self.on_new_run()
            self.compiled.on_new_run = self.on_new_run
            r0, elapsed = self.compiled.run_repeat(repeat - done, r1, r2, r3, r4, r5)
            self.insn_count = self.compiled.insn_count
            total += elapsed
        return r0, total

    def warm_up(self, resume_at: int | None = None) -> Any:
        """Compile the program now and hand it over; returns the compiled
        program, or None where it stays in the interpreter.  With
        ``resume_at``, the code can also take over a run at that loop
        header of the main function; where it cannot, the program is
        compiled without (the run in progress stays interpreted)."""
        self.warm_at = self.midway_at = float("inf")
        factory = engine("jit", required=False)
        if factory is None:
            return None
        options = dict(self._compile_options)
        if self._verification is not None:
            options["verification"] = self._verification
        try:
            compiled = None
            if resume_at is not None:
                with contextlib.suppress(Exception):    # it then compiles without
                    compiled = factory(self.insns, resume_at=resume_at, **options)
            if compiled is None:
                compiled = factory(self.insns, **options)
        except Exception as e:    # the interpreter runs it as well: say so, go on
            warnings.warn(f"pybpf: {self.name} stays in the interpreter, the JIT failed: "
                          f"{type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)
            return None
        if isinstance(compiled, CompiledProgram):       # the JIT left it to the interpreter
            return None
        self.compiled = compiled
        if self._replace is not None:
            self._replace(compiled)
        return compiled


__all__ = ["ENGINES", "ENGINE_PACKAGES", "JIT_DEFAULT_VARIABLE", "MIDWAY_BASE", "MIDWAY_PER_INSN",
           "WARM_BASE", "WARM_PER_INSN",
           "EngineUnavailable", "WarmingProgram", "choose_engine", "engine"]
