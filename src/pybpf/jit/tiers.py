"""Two tiers of native code: the baseline translator first, LLVM when hot.

LLVM's code runs faster than the baseline tier's (:mod:`pybpf.jit.baseline`;
up to twice as fast on tight loops, and map lookups it inlines) but costs
tens of milliseconds per thousand instructions to compile; the baseline
costs a few.  A program loads with LLVM's code when this process or the
disk cache already has it, else with baseline code, and moves to LLVM's
code once it has done enough work in baseline code that the time the
baseline loses would have paid for the compile (the rent-or-buy rule:
never worse than twice the better choice made in hindsight):

    tier up after  TIER_UP_BASE + TIER_UP_PER_INSN * len(program)
    instructions executed in baseline code, counted over runs, batches of
    ``test_run(repeat=N)`` and tail calls into the program, each map
    lookup LLVM's code would answer natively (array maps, hash maps)
    counting as LOOKUP_WEIGHT instructions.

Measured (``benchmarks/bench_jit.py``, CPU time): LLVM compiles about
60 µs per instruction of the program and at least about 8 ms for any
program; baseline code runs the workloads at most about 0.1 ns per executed
instruction slower than LLVM's (0.18 against 0.09 ns on the loop, 0.21
against 0.16 on FNV-1a, the same on xorshift).  The two constants below
are those ratios: 8 ms / 0.1 ns and 60 µs / 0.1 ns; a lookup baseline
code makes through the Python helper costs about 1 µs more than LLVM's
inlined one (1 µs / 0.1 ns).  Programs that run briefly never tier up.
The switch happens between runs
(or between the batches of a repeated test run): both tiers' functions
have one ABI and share the runtime block, so it is the function addresses
that change.

``PYBPF_JIT_TIER`` chooses: ``auto`` (the default: as above), ``baseline``
(baseline code only, never tiering up: for tests and measurements) or
``llvm`` (LLVM's code from the start, as before the baseline tier).  A
program the baseline cannot translate gets LLVM's code in every mode.
"""

from __future__ import annotations

import os
from typing import Any

from . import layout as L
from .baseline import BaselineCode, translate
from .codegen import Options, Unsupported
from .program import JitProgram, cached_native_code, native_code

TIER_ENV = "PYBPF_JIT_TIER"
TIERS = ("auto", "baseline", "llvm")
#: Instructions executed in baseline code before any program tiers up
#: (a small program's compile time over the baseline's extra ns per instruction).
TIER_UP_BASE = 80_000_000
#: More for each instruction of the program (LLVM's compile time grows with it).
TIER_UP_PER_INSN = 600_000
#: What a map lookup through Python from baseline code counts as (instructions).
LOOKUP_WEIGHT = 10_000

_baseline: dict[str, tuple[BaselineCode, L.Layout]] = {}
"""Baseline code already made in this process, by the LLVM cache key."""
_BASELINE_KEEP = 256


def tier_setting() -> str:
    """The tier policy ``PYBPF_JIT_TIER`` asks for (``auto`` when unset or unknown)."""
    value = os.environ.get(TIER_ENV, "auto").strip().lower()
    return value if value in TIERS else "auto"


def make_program(insns: Any, **options: Any) -> JitProgram:
    """A :class:`JitProgram` under the tier policy of :func:`tier_setting`:
    plain LLVM code for ``llvm``, else a :class:`TieredProgram`."""
    mode = tier_setting()
    if options.get("resume_at") is not None:    # only LLVM's code takes over a run
        if mode == "baseline":
            raise Unsupported("the baseline tier does not take over runs")
        return JitProgram(insns, **options)
    if mode == "llvm":
        return JitProgram(insns, **options)
    return TieredProgram(insns, mode=mode, **options)


class TieredProgram(JitProgram):
    """A :class:`JitProgram` that starts with baseline code and switches to
    LLVM's when hot (``mode`` "auto"), or keeps baseline code (``mode``
    "baseline").  ``tier`` says which code runs now; ``tier_up_at`` is the
    count of baseline instructions that triggers the switch."""

    def __init__(self, insns: Any, *, mode: str = "auto", **options: Any):
        self.mode = mode
        self.tier = "llvm"
        self.baseline_executed = 0
        self.tier_up_at = TIER_UP_BASE + TIER_UP_PER_INSN * len(insns)
        self._retired: list[Any] = []
        super().__init__(insns, **options)
        inlined = set(self.layout.maps) | set(self.layout.hashes)
        #: The helper sites (callback indexes) LLVM's code answers natively.
        self.lookup_sites = frozenset(i for i, pc in enumerate(self.layout.helpers)
                                      if pc in inlined)
        if self.tier == "llvm":
            self._plain_runs()

    def load_code(self, options: Options) -> tuple[Any, L.Layout]:
        """Cached LLVM code when there is some (mode "auto"), else baseline
        code, else (a program the baseline leaves to LLVM) LLVM's."""
        if self.mode != "baseline":
            cached = cached_native_code(self.insns, self.digest, options)
            if cached is not None:
                return cached
        try:
            made = baseline_code(self.insns, self.digest, options)
        except Unsupported:
            return native_code(self.insns, self.digest, options)
        except Exception:
            if self.mode == "baseline":
                raise
            return native_code(self.insns, self.digest, options)
        self.tier = "baseline"
        return made

    def tier_up(self) -> bool:
        """Switch to LLVM's code now (compiling it when needed); False when
        the LLVM code's runtime block differs from the running one (the
        program then stays on baseline code)."""
        if self.tier == "llvm":
            return True
        native, layout = native_code(self.insns, self.digest, self.options)
        if layout.to_data() != self.layout.to_data():
            self.tier_up_at = float("inf")
            return False
        self._retired.append(self.native)       # a run of it may still be on the stack
        self.native = native
        self._functions = {pc: native.symbols[f"f{pc}"] for pc in layout.entries}
        self.rt[L.MAIN] = self._functions[0]
        self.tier = "llvm"
        self._plain_runs()
        return True

    def _plain_runs(self) -> None:
        """Runs without counting (LLVM code: nothing left to decide)."""
        self.run = JitProgram.run.__get__(self)            # type: ignore[method-assign]

    def _executed(self, count: int) -> None:
        self.baseline_executed += count
        if self.mode == "auto" and self.baseline_executed >= self.tier_up_at:
            self.tier_up()

    def _helper_callback(self, site: int, depth: int, r1: int, r2: int, r3: int, r4: int,
                         r5: int) -> int:
        if site in self.lookup_sites and self.tier == "baseline":
            self.baseline_executed += LOOKUP_WEIGHT
        return super()._helper_callback(site, depth, r1, r2, r3, r4, r5)

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """As :meth:`JitProgram.run`, counting what baseline code executes
        (a run that raises is not counted)."""
        r0 = JitProgram.run(self, r1, r2, r3, r4, r5)
        self.baseline_executed += self.slots[L.COUNT]
        if self.baseline_executed >= self.tier_up_at and self.mode == "auto":
            self.tier_up()
        return r0

    def _repeat_batch(self, count: int, regs: tuple[int, ...]) -> tuple[int, int, bool]:
        result = super()._repeat_batch(count, regs)
        if self.tier == "baseline":
            self._executed(self.insn_count * count)
        return result

    def run_in_frame(self, r1: int, depth: int, n: int = 0) -> tuple[int, int]:
        """As :meth:`JitProgram.run_in_frame` (a tail call into this
        program), counting what baseline code executes (the switch waits
        for a run of its own)."""
        r0, executed = super().run_in_frame(r1, depth, n)
        if self.tier == "baseline":
            self.baseline_executed += executed - n
        return r0, executed


def baseline_code(insns: Any, digest: bytes, options: Options
                  ) -> tuple[BaselineCode, L.Layout]:
    """A program's baseline code, loaded (from this process when it made it before)."""
    from . import cache

    key = cache.key_of(digest, options.key())
    hit = _baseline.get(key)
    if hit is not None:
        return hit
    code, offsets, layout = translate(insns, options)
    made = BaselineCode(code, offsets), layout
    if len(_baseline) >= _BASELINE_KEEP:
        _baseline.pop(next(iter(_baseline)))
    _baseline[key] = made
    return made


__all__ = ["LOOKUP_WEIGHT", "TIERS", "TIER_ENV", "TIER_UP_BASE", "TIER_UP_PER_INSN", "TieredProgram",
           "baseline_code", "make_program", "tier_setting"]
