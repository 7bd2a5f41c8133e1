"""Every registered helper called with random register values from a small
program in the VM: only :class:`~pybpf.errors.BPFError` subclasses may
escape (a helper that raised anything else shows up as a HelperError
"helper raised ..." whose cause is not a BPFError), and no call may
allocate more than a bound.

A register is drawn as a plain 64-bit value (boundary sizes, flags, random
bits) or as a pointer a program could hold: into the context, the stack,
a map value, the packet-free argument area, or a map itself.  One program
per helper and program type loads r1..r5 from an array map, turns the
pointer kinds into real addresses (the context and r10 are only known
while it runs) and calls the helper.  The default run is small; the
``slow`` one makes 100,000 calls.
"""

from __future__ import annotations

import resource
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import BPFError
from pybpf.helpers import default_registry
from pybpf.helpers.environment import Environment
from pybpf.maps import BPF_F_NO_PREALLOC, create_map
from pybpf.objects import MapSpec
from pybpf.vm import VM

PROG_TYPES = ["socket_filter", "sched_cls", "xdp", "kprobe", "memory"]
INPUT = {
    "socket_filter": (bytes(14) + b"\x45" + bytes(63), None),
    "sched_cls": (bytes.fromhex("ffffffffffff0000000000010800") + b"\x45" + bytes(63), None),
    "xdp": (bytes(14) + b"\x45" + bytes(63), None),
    "kprobe": (b"", bytes(168)),
    "memory": (bytes(64), None),
}
HELPERS = sorted(default_registry(), key=lambda h: h.id)
MEMORY_BOUND = 64 << 20         # per call
BOUNDARIES = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 100, 255, 256, 511, 512, 1023, 1024,
              4095, 4096, 65535, 65536, (1 << 24), (1 << 31) - 1, 1 << 31, (1 << 32) - 1,
              1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 8, (1 << 64) - 512]
ARGS_LAYOUT = struct.Struct("<15Q")  # r1..r5, their context masks, their stack masks

LOAD_ARGS = "\n".join(
    ["r6 = r1", "r9 = map[fd:{args}][0]+0 ll"] +
    [f"r{i} = *(u64 *)(r9 + {8 * (i - 1)})" for i in range(1, 6)] +
    [line for i in range(1, 6) for line in (
        f"r7 = *(u64 *)(r9 + {40 + 8 * (i - 1)})", "r7 &= r6", f"r{i} += r7",
        f"r7 = *(u64 *)(r9 + {80 + 8 * (i - 1)})", "r8 = r10", "r8 &= r7", f"r{i} += r8")] +
    ["call {helper}", "exit"])


class Bench:
    """One VM with a map of every kind, the argument map and a program per
    (helper, program type), compiled on first use."""

    def __init__(self) -> None:
        self.vm = VM(env=Environment.fixed(num_cpus=2), max_insns=100_000)
        make = self.vm.create_map
        self.args = make(MapSpec("args", "array", 4, ARGS_LAYOUT.size, 1))
        inner = MapSpec("inner", "array", 4, 8, 2)
        self.maps = [
            self.args,
            make(MapSpec("hash", "hash", 4, 16, 8)),
            make(MapSpec("lru", "lru_hash", 4, 8, 4)),
            make(MapSpec("pcpu", "percpu_array", 4, 8, 4)),
            make(MapSpec("queue", "queue", 0, 8, 4)),
            make(MapSpec("stack", "stack", 0, 8, 4)),
            make(MapSpec("bloom", "bloom_filter", 0, 8, 8)),
            make(MapSpec("ring", "ringbuf", 0, 0, 4096)),
            make(MapSpec("perf", "perf_event_array", 4, 4, 2)),
            make(MapSpec("stacks", "stack_trace", 4, 16, 4)),
            make(MapSpec("progs", "prog_array", 4, 4, 2)),
            make(MapSpec("outer", "array_of_maps", 4, 4, 2, inner=inner)),
            make(MapSpec("lpm", "lpm_trie", 8, 8, 4, BPF_F_NO_PREALLOC)),
        ]
        locked = create_map(MapSpec("locked", "array", 4, 16, 2), num_cpus=2,
                            spin_lock_offset=0)
        self.vm.adopt_map(locked)
        self.maps.append(locked)
        self.maps[8].open_buffers(page_count=1)
        self.maps[11].update(0, create_map(inner, num_cpus=2))
        self.pointers = [self.vm.map_pointer(m) for m in self.maps]
        self.values = [(self.vm.memory.from_host(m.arena_addresses[0]), len(m.arenas[0]))
                       for m in self.maps if m.arenas]
        self.programs: dict[tuple[int, str], object] = {}

    def program(self, helper_id: int, prog_type: str):
        """The program that calls ``helper_id`` (a broken harness fails the
        test here, outside the calls whose BPFErrors are accepted)."""
        key = (helper_id, prog_type)
        if key not in self.programs:
            text = LOAD_ARGS.format(args=self.vm.fd_of(self.args), helper=helper_id)
            self.programs[key] = self.vm.load(text, prog_type=prog_type,
                                              name=f"fuzz_{helper_id}_{prog_type}")
        return self.programs[key]

    def prepare(self) -> None:
        """Load every program (before memory is measured)."""
        for helper in HELPERS:
            for prog_type in PROG_TYPES:
                self.program(helper.id, prog_type)

    def call(self, helper_id: int, prog_type: str, regs: list[tuple[str, int]]) -> None:
        values, ctx_masks, stack_masks = [], [], []
        for kind, value in regs:
            if kind == "map":
                value = self.pointers[value % len(self.pointers)]
            elif kind == "value":
                base, size = self.values[value % len(self.values)]
                value = base + (value >> 8) % (size + 16)
            values.append(value & ((1 << 64) - 1))
            ctx_masks.append((1 << 64) - 1 if kind == "ctx" else 0)
            stack_masks.append((1 << 64) - 1 if kind == "stack" else 0)
        self.args.raw.update(0, ARGS_LAYOUT.pack(*values, *ctx_masks, *stack_masks))
        data, ctx = INPUT[prog_type]
        self.vm.trace_pipe.clear()
        self.program(helper_id, prog_type).test_run(data, ctx)


def decode(raw: bytes) -> list[tuple[str, int]]:
    """Five registers from 80 bytes: each 16 bytes choose a kind (a
    boundary size, random bits, or a pointer into the context, the stack,
    a map value or at a map) and its value.  Hypothesis mutates and shrinks
    the bytes; the registers follow."""
    regs = []
    for i in range(0, 80, 16):
        chunk = raw[i:i + 16]
        kind, a, b = chunk[0] % 8, chunk[1], int.from_bytes(chunk[8:], "little")
        if kind <= 1:
            regs.append(("imm", BOUNDARIES[a % len(BOUNDARIES)]))
        elif kind == 2:
            regs.append(("imm", b))
        elif kind == 3:
            regs.append(("imm", (BOUNDARIES[a % len(BOUNDARIES)] + (b % 17) - 8) % (1 << 64)))
        elif kind == 4:
            regs.append(("ctx", b % 272 - 16))
        elif kind == 5:
            regs.append(("stack", -(b % 528) + 8))
        elif kind == 6:
            regs.append(("map", a))
        else:
            regs.append(("value", b % (1 << 20)))
    return regs


CALL = st.tuples(st.integers(0, len(HELPERS) - 1), st.integers(0, len(PROG_TYPES) - 1),
                 st.binary(min_size=80, max_size=80))


def escaped(exc: BaseException) -> BaseException | None:
    """The non-BPFError behind ``exc`` (itself, or the cause a helper raised), if any."""
    seen = exc
    while seen is not None:
        if not isinstance(seen, BPFError):
            return seen
        seen = seen.__cause__
    return None


class AddressSpaceLimit:
    """Cap the process's address space growth while fuzzing, so that a
    helper that tries to allocate gigabytes fails at once (MemoryError, an
    escape) instead of taking the machine's memory."""

    def __init__(self, headroom: int = 1 << 30):
        self.headroom = headroom

    def __enter__(self) -> AddressSpaceLimit:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        self.old = resource.getrlimit(resource.RLIMIT_AS)
        hard = self.old[1]
        limit = size + self.headroom
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        return self

    def __exit__(self, *exc: object) -> None:
        resource.setrlimit(resource.RLIMIT_AS, self.old)


_BENCH: list[Bench] = []


def bench() -> Bench:
    """One VM with its maps and programs for the whole module."""
    if not _BENCH:
        _BENCH.append(Bench())
        _BENCH[0].prepare()
    return _BENCH[0]


class CallMemory:
    """The most Python memory any one call allocated (tracemalloc, from the
    call's start)."""

    def __init__(self) -> None:
        self.worst = 0

    def __enter__(self) -> CallMemory:
        tracemalloc.reset_peak()
        self.start = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.worst = max(self.worst, tracemalloc.get_traced_memory()[1] - self.start)


def fuzz(calls: int, seed_examples: int) -> None:
    bench_ = bench()
    failures: list[str] = []
    returned = [0]
    memory = CallMemory()
    per_example = max(1, calls // seed_examples)

    @settings(max_examples=seed_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(CALL, min_size=per_example, max_size=per_example))
    def run(batch):
        for helper_index, type_index, raw in batch:
            helper_id, prog_type = HELPERS[helper_index].id, PROG_TYPES[type_index]
            regs = decode(raw)
            try:
                with memory:
                    bench_.call(helper_id, prog_type, regs)
                returned[0] += 1
            except Exception as exc:
                bad = escaped(exc)
                if bad is not None:
                    name = next(h.name for h in HELPERS if h.id == helper_id)
                    failures.append(f"bpf_{name} ({prog_type}) with {regs}: "
                                    f"{type(bad).__name__}: {bad}")
        # Failures are collected, not raised: every helper that misbehaves is
        # reported at the end (derandomized examples replay as they are).

    tracemalloc.start()
    try:
        with AddressSpaceLimit():
            run()
    finally:
        tracemalloc.stop()
    peak = memory.worst
    kinds = sorted({f.split(" with ")[0] + ": " + f.rsplit(": ", 2)[-2] for f in failures})
    assert not failures, (f"{len(failures)} calls let non-BPFErrors escape:\n" +
                          "\n".join(kinds) + "\nfirst: " + "\n".join(failures[:5]))
    assert peak < MEMORY_BOUND, f"a helper call allocated up to {peak} bytes"
    # A harness that breaks every call (a program that no longer loads...)
    # would pass the checks above: most calls must reach the helper and return.
    assert returned[0] > calls // 4, f"only {returned[0]} of {calls} calls returned"


def test_every_helper_survives_random_arguments():
    fuzz(calls=600, seed_examples=30)


@pytest.mark.slow
def test_every_helper_survives_random_arguments_at_length():
    fuzz(calls=100_000, seed_examples=2_500)


SHAPES = [
    *([("imm", value)] * 5 for value in BOUNDARIES),
    *([ptr, ("imm", value), ("stack", -64), ("imm", value), ("imm", 0)]
      for ptr in (("stack", -16), ("ctx", 0), ("value", 0), ("map", 1))
      for value in (1 << 31, (1 << 32) - 1, (1 << 64) - 1, 4097)),
    *([("ctx", 0), ptr, ("imm", value), ptr, ("imm", value)]
      for ptr in (("stack", -8), ("map", 7), ("value", 3))
      for value in (1 << 29, (1 << 64) - 8)),
]


SMALL_SHAPES = [
    *([("imm", value)] * 5 for value in (0, 8, 4096, 1 << 31, 1 << 32, (1 << 64) - 1)),
    *([ptr, ("imm", value), ("stack", -64), ("imm", value), ("imm", 0)]
      for ptr in (("stack", -16), ("value", 0)) for value in (1 << 31, (1 << 64) - 1)),
    [("ctx", 0), ("stack", -8), ("imm", 1 << 29), ("map", 7), ("imm", 1 << 29)],
]


def test_every_helper_with_boundary_sizes_beside_small_buffers():
    boundary_sizes(SMALL_SHAPES)


@pytest.mark.slow
def test_every_helper_with_boundary_sizes_beside_small_buffers_at_length():
    boundary_sizes(SHAPES)


def boundary_sizes(shapes: list[list[tuple[str, int]]]) -> None:
    """Every helper in every program type with each register at boundary
    values, and huge sizes next to pointers to small buffers."""
    bench_ = bench()
    problems = []
    memory = CallMemory()
    tracemalloc.start()
    try:
        with AddressSpaceLimit():
            for helper in HELPERS:
                for prog_type in PROG_TYPES:
                    for regs in shapes:
                        try:
                            with memory:
                                bench_.call(helper.id, prog_type, regs)
                        except Exception as exc:
                            bad = escaped(exc)
                            if bad is not None:
                                problems.append(f"bpf_{helper.name} ({prog_type}) {regs}: "
                                                f"{type(bad).__name__}: {bad}")
    finally:
        tracemalloc.stop()
    assert not problems, f"{len(problems)} escapes:\n" + "\n".join(problems[:10])
    assert memory.worst < MEMORY_BOUND, f"a helper call allocated up to {memory.worst} bytes"
