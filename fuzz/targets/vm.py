"""Random, mutated and attacking programs against the userspace VM.

Each case is one program with its maps and input, from one of five sources:

- ``corpus``: a kernel verifier selftest the kernel accepted (``../shared``),
  usually mutated;
- ``proggen``: a verifier-valid random program of ``tests/proggen.py``,
  usually mutated;
- ``conformance``: a bpf_conformance test program, usually mutated;
- ``random``: random valid instruction slots with jumps, calls, helper calls
  and map references anywhere;
- ``attack``: a template aimed at a boundary — stack frame edges, pointers
  into *another* VM's maps and stack, helpers with hostile sizes and
  pointers, callback loops (``bpf_loop``), tail-call chains, deep calls.

Every program runs with an instruction budget (``max_insns``).  Checks:

- only :class:`~pybpf.errors.BPFError` subclasses escape (``unexpected``);
- no run reports more instructions than its budget or runs longer than
  :data:`RUN_SECONDS` (``budget``; a run past :data:`CASE_TIMEOUT` is a
  ``hang``);
- every load and store the interpreter or a helper makes lies inside an
  active region of the VM's own address space, with the region's
  permission — checked independently of the address space's fast path by
  wrapping :class:`~pybpf.vm.memory.AddressSpace` in this process
  (``escape:memory``);
- a second *canary* VM's maps and stack are never changed and its maps
  never become reachable (``escape:canary``, ``escape:foreign-map``);
- ``r0`` does not hold a host address of the VM's memory
  (``escape:host-pointer``, the address-space isolation of issue 11's S5).
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.harness import Result, exception_result, quick, shared_dir

BUDGET = 10_000
"""The instruction budget of every run."""
RUN_SECONDS = 2.0
"""A run within its budget finishes well within this (the interpreter runs
millions of instructions a second; the budget is ten thousand)."""
CASE_TIMEOUT = 20.0
SETUP_TIMEOUT = 300.0

PROG_TYPES = ("memory", "xdp", "sched_cls", "socket_filter", "tracepoint", "cgroup_skb",
              "kprobe", "perf_event", "raw_tracepoint", "sk_skb", "lwt_in", "flow_dissector")

# std maps: (name, type, key, value, max, flags, inner)
STD_MAPS = (
    ("arr", "array", 4, 16, 4, 0, None),
    ("hsh", "hash", 4, 16, 4, 0, None),
    ("lru", "lru_hash", 4, 8, 4, 0, None),
    ("pcpu", "percpu_array", 4, 8, 2, 0, None),
    ("phash", "percpu_hash", 4, 8, 4, 0, None),
    ("rb", "ringbuf", 0, 0, 4096, 0, None),
    ("queue", "queue", 0, 8, 4, 0, None),
    ("stack", "stack", 0, 8, 4, 0, None),
    ("lpm", "lpm_trie", 8, 8, 4, 1, None),
    ("progs", "prog_array", 4, 4, 2, 0, None),
    ("outer", "array_of_maps", 4, 4, 2, 0, ("inner", "array", 4, 8, 2, 0, None)),
    ("events", "perf_event_array", 4, 4, 0, 0, None),
    ("bloom", "bloom_filter", 0, 4, 8, 0, None),
)
PROG_ARRAY = 9
"""Index of the prog_array in STD_MAPS; the harness puts the program itself at key 0."""

INTERESTING = (0, 1, -1, 2, 4, 7, 8, 15, 16, 31, 32, 63, 64, 255, 256, 511, 512, 513, 4095,
               4096, 0x7FFF, -0x8000, 0xFFFF, 0x7FFFFFFF, -0x80000000, 1 << 20, -512, -513,
               -8, -16, -4096)


@dataclass
class Case:
    """One program and what it runs on.  ``maps`` are STD_MAPS indexes, or
    corpus map kinds (strings); map references in ``insns`` are
    ``lddw src=PSEUDO_MAP_IDX(_VALUE)`` by position in ``maps``.  ``text``,
    when set, is LLVM-syntax assembly with ``@canary:N@`` placeholders,
    assembled at run time (the canary's addresses exist only then)."""

    source: str
    prog_type: str
    insns: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    maps: list[Any] = field(default_factory=list)
    data: bytes = b""
    ctx: bytes | None = None
    text: str | None = None
    mutations: list[str] = field(default_factory=list)


# --- the audit of memory accesses ------------------------------------------------------

class Audit:
    """Wraps AddressSpace's accessors (in this process only) so that every
    completed access is checked against the space's region table, without
    the fast path's remembered region."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.enabled = True

    def check(self, space: Any, address: int, size: int, write: bool) -> None:
        if not self.enabled or size <= 0:
            return
        r = space.find(address, size)
        if r is None or not r.active or not (r.writable if write else r.readable):
            what = "write" if write else "read"
            self.violations.append(f"{what} of {size} bytes at {address:#x} completed "
                                   f"outside the VM's regions (region {r!r})")

    def install(self) -> None:
        from pybpf.vm.memory import AddressSpace

        audit = self
        loader, storer = AddressSpace.loader, AddressSpace.storer
        read, write, read_cstring = AddressSpace.read, AddressSpace.write, \
            AddressSpace.read_cstring

        def audited_loader(space, size, signed=False):
            inner = loader(space, size, signed)

            def load(address):
                value = inner(address)
                audit.check(space, address, size, False)
                return value
            return load

        def audited_storer(space, size):
            inner = storer(space, size)

            def store(address, value):
                inner(address, value)
                audit.check(space, address, size, True)
            return store

        def audited_read(space, address, size):
            data = read(space, address, size)
            audit.check(space, address, size, False)
            return data

        def audited_write(space, address, data):
            write(space, address, data)
            audit.check(space, address, len(data), True)

        def audited_read_cstring(space, address, limit):
            data = read_cstring(space, address, limit)
            audit.check(space, address, max(1, len(data)), False)
            return data

        AddressSpace.loader = audited_loader
        AddressSpace.storer = audited_storer
        AddressSpace.read = audited_read
        AddressSpace.write = audited_write
        AddressSpace.read_cstring = audited_read_cstring


def host_address(region: Any) -> int | None:
    """The real host address of a region's buffer (independent of the
    address the VM presents)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(region.view))
    except (TypeError, ValueError, AttributeError):
        return None


# --- state -------------------------------------------------------------------------------

@dataclass
class State:
    seed: int
    audit: Audit
    corpus: list[Any]
    proggen: list[Any]
    conformance: list[Any]
    helper_ids: list[int]
    forms: list[Any]
    canary: Any = None
    canary_maps: list[Any] = field(default_factory=list)
    canary_targets: list[int] = field(default_factory=list)
    canary_snapshot: bytes = b""


def setup(seed: int) -> State:
    """Load the seed programs, install the memory audit, build the canary VM."""
    import sys

    sys.setrecursionlimit(10_000)
    from pybpf.isa import FORMS

    audit = Audit()
    audit.install()
    state = State(seed, audit, _corpus(), _proggen(seed, 10 if quick() else 150),
                  _conformance(), [], list(FORMS))
    from pybpf.vm import VM

    state.helper_ids = sorted({e.id for e in VM().helpers})
    _make_canary(state)
    return state


def _corpus() -> list[Any]:
    try:
        from corpus import CORPUS, load_cases, unsupported_reason
    except Exception:
        return []
    if not Path(CORPUS).exists():
        return []
    return [c for c in load_cases() if unsupported_reason(c) is None]


def _conformance() -> list[Any]:
    from pybpf.conformance import load_data_file

    tests = []
    shared = shared_dir()
    for path in sorted((shared / "conformance" / "tests").glob("*.data")):
        try:
            t = load_data_file(path)
            tests.append((t.name, t.program(), t.mem))
        except Exception:
            continue
    return tests


def _proggen(seed: int, count: int = 150) -> list[Any]:
    """Verifier-valid programs of tests/proggen.py, drawn with a fixed seed
    (kept in the run's scratch directory, so restarted workers load them)."""
    import os
    import pickle

    cache = Path(os.environ.get("FUZZ_SCRATCH", "/nonexistent")) / f"proggen-{seed}-{count}.pickle"
    try:
        with open(cache, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    try:
        from hypothesis import HealthCheck, given, settings
        from hypothesis import seed as hseed

        from proggen import programs
    except Exception:
        return []
    pool: list[Any] = []

    @hseed(seed)
    @settings(max_examples=count, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(gp):
        pool.append(gp)

    with contextlib.suppress(Exception):  # a health check or a flaky draw: keep what we have
        collect()
    if cache.parent.is_dir():
        tmp = cache.with_suffix(f".{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump(pool, f)
        os.replace(tmp, cache)
    return pool


def _make_canary(state: State) -> None:
    """Another VM in the same process: its maps and stack must never change."""
    from pybpf.objects import MapSpec
    from pybpf.vm import VM

    vm = VM(max_insns=BUDGET)
    arr = vm.create_map(MapSpec("canary_arr", "array", 4, 64, 4))
    hsh = vm.create_map(MapSpec("canary_hsh", "hash", 4, 64, 4))
    for k in range(4):
        arr[k.to_bytes(4, "little")] = bytes([0xC0 + k]) * 64
        hsh[k.to_bytes(4, "little")] = bytes([0xD0 + k]) * 64
    prog = vm.load("r0 = 7\nexit")
    prog.run()
    state.canary, state.canary_maps = vm, [arr, hsh]
    targets = [arr.address, hsh.address]
    for r in vm.memory.regions():
        targets += [r.start, r.start + r.size // 2, r.end - 8]
    state.canary_targets = targets
    state.canary_snapshot = _canary_bytes(state)


def _canary_bytes(state: State) -> bytes:
    parts = []
    for r in state.canary.memory.regions():
        if r.kind != "stack":  # the canary's stack is scratch between its own runs
            parts.append(bytes(r.view))
    for m in state.canary_maps:
        parts += [k + v for k, v in sorted(m.raw.items())]
    return b"".join(parts)


# --- generating ----------------------------------------------------------------------------

def generate(state: State, rng: random.Random) -> Case:
    """A case: a seed program (mutated or not), random slots, or an attack."""
    pick = rng.random()
    if pick < 0.22 and state.corpus:
        case = _from_corpus(state, rng)
    elif pick < 0.40 and state.proggen:
        case = _from_proggen(state, rng)
    elif pick < 0.52 and state.conformance:
        case = _from_conformance(state, rng)
    elif pick < 0.72:
        return _random(state, rng)
    else:
        return _attack(state, rng)
    if rng.random() < 0.8:
        _mutate(state, rng, case)
    return case


def _from_corpus(state: State, rng: random.Random) -> Case:
    c = rng.choice(state.corpus)
    insns = [tuple(i) for i in c.insns]
    kinds = list(c.maps)
    for index, kind in enumerate(kinds):
        for pc in c.maps[kind]:
            op, dst, src, off, _ = insns[pc]
            insns[pc] = (op, dst, 5 if src == 1 else 6 if src == 2 else src, off, index)
    run = rng.choice(c.runs)
    data = bytes.fromhex(run["data"]) if isinstance(run.get("data"), str) else \
        bytes(run.get("data") or b"")
    return Case(f"corpus:{c.name}", c.prog_type, insns, kinds, data)


def _from_proggen(state: State, rng: random.Random) -> Case:
    from pybpf.isa import assemble

    gp = rng.choice(state.proggen)
    names = [m.name for m in gp.maps]
    text = gp.text
    for i, name in enumerate(names):
        text = text.replace(f"@map:{name}@", f"map[idx:{i}]")
    insns = [tuple(i) for i in assemble(text, "llvm")]
    maps = [("gen", m.type, m.key_size, m.value_size, m.max_entries, 0, None, m.initial)
            for m in gp.maps]
    return Case("proggen", gp.prog_type, insns, maps, gp.packet, gp.ctx_in)


def _from_conformance(state: State, rng: random.Random) -> Case:
    name, insns, mem = rng.choice(state.conformance)
    return Case(f"conformance:{name}", "memory", [tuple(i) for i in insns], [], bytes(mem))


def _interesting(rng: random.Random, bits: int = 32) -> int:
    if rng.random() < 0.6:
        v = rng.choice(INTERESTING)
    else:
        v = rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
    lo = -(1 << (bits - 1))
    return ((v - lo) % (1 << bits)) + lo


def _slot(state: State, rng: random.Random, pc: int, length: int, nmaps: int) -> list[tuple]:
    """The slots of one random valid instruction at ``pc`` of a ``length``-slot program."""
    from pybpf.isa import Kind

    form = rng.choice(state.forms)
    f = {"dst": rng.randrange(11), "src": rng.randrange(11), "off": 0, "imm": 0}
    if "off" in form.uses:
        f["off"] = _interesting(rng, 16)
    if "imm" in form.uses:
        f["imm"] = _interesting(rng, 32)
    f.update(dict(form.fixed))
    kind = form.kind
    if kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO):
        f["off"] = rng.randrange(-pc - 1, max(1, length - pc - 1))
    elif kind is Kind.CALL:
        f["imm"] = rng.choice(state.helper_ids)
    elif kind in (Kind.CALL_LOCAL, Kind.GOTOL):
        f["imm"] = rng.randrange(-pc - 1, max(1, length - pc - 1))
    first = (form.opcode, f["dst"], f["src"], f["off"], f["imm"])
    if form.slots == 2:
        pseudo = form.pseudo
        if pseudo in (5, 6) and nmaps:
            first = (form.opcode, f["dst"], pseudo, 0, rng.randrange(nmaps))
            return [first, (0, 0, 0, 0, rng.choice((0, 0, 4, 8, 4096)) if pseudo == 6 else 0)]
        if pseudo == 4:
            first = (form.opcode, f["dst"], 4, 0, rng.randrange(-pc - 1, max(1, length - pc - 2)))
            return [first, (0, 0, 0, 0, 0)]
        return [(form.opcode, f["dst"], 0, 0, _interesting(rng)),
                (0, 0, 0, 0, _interesting(rng))]
    return [first]


def _random(state: State, rng: random.Random) -> Case:
    length = rng.choice((2, 4, 8, 16, 32, 64))
    maps = list(range(len(STD_MAPS)))
    insns: list[tuple] = []
    while len(insns) < length - 1:
        insns += _slot(state, rng, len(insns), length, len(maps))
    insns.append((0x95, 0, 0, 0, 0))  # exit
    prog_type = rng.choice(PROG_TYPES)
    return Case("random", prog_type, insns, maps, _input(rng, prog_type))


def _input(rng: random.Random, prog_type: str) -> bytes:
    size = rng.choice((0, 1, 14, 34, 54, 64, 128, 1500))
    return bytes(rng.randrange(256) for _ in range(size))


MUTATIONS = ("field", "opcode", "insert", "delete", "duplicate", "swap", "jump", "helper",
             "mapref", "canary-imm")


def _mutate(state: State, rng: random.Random, case: Case) -> None:
    insns = case.insns
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        if not insns:
            break
        op = rng.choice(MUTATIONS)
        case.mutations.append(op)
        pc = rng.randrange(len(insns))
        o, d, s, off, imm = insns[pc]
        if op == "field":
            which = rng.randrange(4)
            if which == 0:
                d = rng.randrange(16) if rng.random() < 0.1 else rng.randrange(11)
            elif which == 1:
                s = rng.randrange(16) if rng.random() < 0.1 else rng.randrange(11)
            elif which == 2:
                off = _interesting(rng, 16)
            else:
                imm = _interesting(rng, 32)
            insns[pc] = (o, d, s, off, imm)
        elif op == "opcode":
            o = rng.choice(state.forms).opcode if rng.random() < 0.9 else rng.randrange(256)
            insns[pc] = (o, d, s, off, imm)
        elif op == "insert":
            insns[pc:pc] = _slot(state, rng, pc, len(insns), len(case.maps))
        elif op == "delete":
            del insns[pc]
        elif op == "duplicate":
            end = min(len(insns), pc + rng.randint(1, 8))
            insns[pc:pc] = insns[pc:end]
        elif op == "swap":
            other = rng.randrange(len(insns))
            insns[pc], insns[other] = insns[other], insns[pc]
        elif op == "jump":
            insns[pc] = (0x05 if rng.random() < 0.5 else o, d, s,
                         rng.randrange(-pc - 1, max(1, len(insns) - pc)), imm)
        elif op == "helper":
            insns[pc:pc] = [(0x85, 0, 0, 0, rng.choice(state.helper_ids))]
        elif op == "mapref" and case.maps:
            insns[pc:pc] = [(0x18, rng.randrange(10), rng.choice((5, 6)), 0,
                             rng.randrange(len(case.maps))), (0, 0, 0, 0, rng.choice((0, 8)))]
        elif op == "canary-imm":
            case.mutations[-1] = f"canary-imm:{pc}"
            insns[pc:pc] = [(0x18, rng.randrange(10), 0, 0, 0), (0, 0, 0, 0, 0)]
            # the address is filled in at run time (see _resolve_canary)
            case.mutations[-1] = f"canary-imm:{pc}:{rng.randrange(1 << 16)}"
    if not insns or insns[-1][0] != 0x95:
        insns.append((0x95, 0, 0, 0, 0))


# --- attacks -------------------------------------------------------------------------------

ATTACKS = ("stack-edge", "foreign-load", "foreign-map", "helper-args", "bpf-loop",
           "nested-loop", "tail-chain", "deep-calls", "spin", "may-goto", "ringbuf",
           "map-in-map", "leak-pointer", "atomics")


AMPLIFIERS = ("bpf-loop", "nested-loop", "tail-chain")
"""Attacks that run long on a VM whose budget they escape: picked a tenth as
often as the others, as each such case costs seconds until the budget holds."""


def _attack(state: State, rng: random.Random) -> Case:
    kind = rng.choices(ATTACKS, [0.1 if a in AMPLIFIERS else 1.0 for a in ATTACKS])[0]
    prog_type = rng.choice(("memory", "xdp", "sched_cls", "socket_filter", "tracepoint"))
    maps = list(range(len(STD_MAPS)))
    text = getattr(_Attacks, kind.replace("-", "_"))(rng)
    return Case(f"attack:{kind}", prog_type, [], maps, _input(rng, prog_type), text=text)


def _canary_ref(rng: random.Random) -> str:
    return f"@canary:{rng.randrange(1 << 16)}:{rng.choice((0, 0, 8, -8, 64, 4096, -4096))}@"


class _Attacks:
    """Templates of LLVM-syntax programs; maps by STD_MAPS index."""

    @staticmethod
    def stack_edge(rng):
        size = rng.choice((1, 2, 4, 8))
        base = rng.choice((-520, -513, -512, -8, -1, 0, 1, 8, 504, 512, 4096, 1 << 20,
                           rng.randrange(-70000, 70000)))
        off = rng.choice((0, -8, 8, rng.randrange(-(1 << 15), 1 << 15)))
        return (f"r1 = r10\nr1 += {base}\n*(u{size * 8} *)(r1 {'+' if off >= 0 else '-'} "
                f"{abs(off)}) = 65\nr0 = *(u{size * 8} *)(r1 {'+' if off >= 0 else '-'} "
                f"{abs(off)})\nexit")

    @staticmethod
    def foreign_load(rng):
        size = rng.choice((1, 2, 4, 8))
        return (f"r1 = {_canary_ref(rng)} ll\nr0 = *(u{size * 8} *)(r1 + 0)\n"
                f"*(u{size * 8} *)(r1 + 0) = r0\nr2 = 1\nlock *(u64 *)(r1 + 0) += r2\nexit")

    @staticmethod
    def foreign_map(rng):
        helper = rng.choice((1, 2, 3, 87, 88, 89))  # lookup, update, delete, push, pop, peek
        return (f"*(u32 *)(r10 - 4) = {rng.randrange(4)}\n*(u64 *)(r10 - 72) = 0\n"
                f"r1 = {_canary_ref(rng)} ll\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -72\n"
                f"r4 = 0\ncall {helper}\nif r0 == 0 goto +2\nr1 = 65\n"
                f"*(u64 *)(r0 + 0) = r1\nr0 = 0\nexit")

    @staticmethod
    def helper_args(rng):
        lines = ["*(u64 *)(r10 - 8) = 0", "*(u64 *)(r10 - 16) = 0", "r6 = r1"]
        choices = ["r10", "r6", _canary_ref(rng), "map[idx:0]", "map[idx:5]", "map[idx:1]",
                   "map[idx:0][0]+0", "map[idx:9]", "map[idx:10]"]
        for reg in range(1, 6):
            pick = rng.random()
            if pick < 0.3:
                value = _interesting(rng)
                lines.append(f"r{reg} = {value}")
            elif pick < 0.45:
                lines.append(f"r{reg} = {rng.randrange(1 << 64)} ll")
            elif pick < 0.6:
                lines += [f"r{reg} = r10", f"r{reg} += {rng.choice((-8, -16, -512, -4, 0, 8))}"]
            else:
                src = rng.choice(choices)
                lines.append(f"r{reg} = {src} ll" if src.startswith(("@", "map")) else
                             f"r{reg} = {src}")
        lines += [f"call {rng.randrange(1, 220)}", "exit"]
        return "\n".join(lines)

    @staticmethod
    def bpf_loop(rng):
        # sized so that a VM that gives each callback a fresh budget runs a few
        # seconds (a budget finding), and rarely forever (a hang)
        n = (1 << 23) if rng.random() < 0.05 else rng.choice((100, 1000, 3000))
        spin = rng.choice((10, 1000, 5000))
        return (f"r1 = {n}\nr2 = func[+6] ll\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n"
                f"r6 = {spin}\nr6 += -1\nif r6 != 0 goto -2\nr0 = 0\nexit")

    @staticmethod
    def nested_loop(rng):
        n = (1 << 23) if rng.random() < 0.05 else rng.choice((30, 100, 300))
        return (f"r1 = {n}\nr2 = func[+6] ll\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n"
                f"r1 = {n}\nr2 = func[+6] ll\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n"
                f"r6 = 100\nr6 += -1\nif r6 != 0 goto -2\nr0 = 0\nexit")

    @staticmethod
    def tail_chain(rng):
        spin = rng.choice((10, 2000, 9000, 50_000))
        return (f"r6 = r1\nr7 = {spin}\nr7 += -1\nif r7 != 0 goto -2\nr1 = r6\n"
                f"r2 = map[idx:{PROG_ARRAY}] ll\nr3 = 0\ncall 12\nr0 = 1\nexit")

    @staticmethod
    def deep_calls(rng):
        return rng.choice(("r0 = 0\ncall pc-1\nexit",
                           "r1 = r10\nr1 += -512\n*(u64 *)(r1 + 0) = 1\ncall pc+1\nexit\n"
                           "r2 = r10\n*(u64 *)(r2 - 512) = 2\ncall pc-4\nr0 = 0\nexit"))

    @staticmethod
    def spin(rng):
        return rng.choice(("goto -1\nexit", "r0 = 0\nr0 += 1\ngoto -2\nexit",
                           "r1 = 1\nif r1 != 0 goto -1\nexit"))

    @staticmethod
    def may_goto(rng):
        return "r0 = 0\nmay_goto +2\nr0 += 1\ngoto -3\nexit"

    @staticmethod
    def ringbuf(rng):
        size = rng.choice((8, 4096, 4088, 1 << 20, 0x7FFFFFFF, -1, 0))
        off = rng.choice((0, 8, size if isinstance(size, int) and 0 < size < 1 << 16 else 16,
                          -8, 4096))
        submit_ptr = rng.choice(("r0", "r10", "r7"))
        return (f"r7 = r10\nr7 += -8\nr1 = map[idx:5] ll\nr2 = {size}\nr3 = 0\ncall 131\n"
                f"if r0 == 0 goto +5\nr1 = 66\n*(u64 *)(r0 {'+' if off >= 0 else '-'} "
                f"{abs(off)}) = r1\nr1 = {submit_ptr}\nr2 = 0\ncall 132\nr0 = 0\nexit")

    @staticmethod
    def map_in_map(rng):
        inner = rng.choice(("r0", _canary_ref(rng), "map[idx:0]", "map[idx:1]"))
        set_inner = (f"r1 = {inner} ll\n" if inner.startswith(("@", "map")) else
                     f"r1 = {inner}\n")
        return ("*(u32 *)(r10 - 4) = 0\nr1 = map[idx:10] ll\nr2 = r10\nr2 += -4\ncall 1\n"
                "if r0 == 0 goto +6\nr0 = *(u64 *)(r0 + 0)\n" + set_inner +
                "r2 = r10\nr2 += -4\ncall 1\nif r0 == 0 goto +1\n*(u64 *)(r0 + 0) = r10\n"
                "r0 = 0\nexit")

    @staticmethod
    def leak_pointer(rng):
        src = rng.choice(("r10", "r1", "map[idx:0]", "map[idx:0][0]+0"))
        if src.startswith("map"):
            return f"r0 = {src} ll\nexit"
        return f"r0 = {src}\nexit"

    @staticmethod
    def atomics(rng):
        op = rng.choice(("lock *(u64 *)(r1 + {o}) += r2", "r2 = atomic_fetch_add((u64 *)"
                         "(r1 + {o}), r2)", "r0 = cmpxchg_64(r1 + {o}, r0, r2)",
                         "r2 = xchg_64(r1 + {o}, r2)"))
        base = rng.choice(("r10", "map[idx:0][0]+0", _canary_ref(rng)))
        setup = f"r1 = {base} ll" if base.startswith(("@", "map")) else "r1 = r10"
        o = rng.choice((-8, 0, 8, 12, -512, 4096, 16))
        return f"{setup}\nr2 = 5\nr0 = 0\n{op.format(o=o)}\nr0 = 0\nexit"


# --- running ---------------------------------------------------------------------------------

def _canary_address(state: State, token: int, offset: int) -> int:
    return (state.canary_targets[token % len(state.canary_targets)] + offset) % (1 << 64)


def _program(state: State, case: Case) -> list[Any]:
    import re

    from pybpf.isa import Insn, assemble

    if case.text is not None:
        text = re.sub(r"@canary:(\d+):(-?\d+)@",
                      lambda m: str(_canary_address(state, int(m.group(1)), int(m.group(2)))),
                      case.text)
        return assemble(text, "llvm")
    insns = [Insn(*i) for i in case.insns]
    for m in case.mutations:
        if m.startswith("canary-imm:"):
            _, pc, token = m.split(":")
            pc = int(pc)
            if pc + 1 < len(insns) and insns[pc].opcode == 0x18 and insns[pc].src == 0:
                addr = _canary_address(state, int(token), 0)
                lo, hi = addr & 0xFFFFFFFF, addr >> 32
                insns[pc] = insns[pc]._replace(imm=lo - (1 << 32) if lo >> 31 else lo)
                insns[pc + 1] = insns[pc + 1]._replace(imm=hi - (1 << 32) if hi >> 31 else hi)
    return insns


def _build_maps(vm: Any, case: Case) -> list[Any]:
    from pybpf.objects import MapSpec

    made = []
    for entry in case.maps:
        if isinstance(entry, str):
            from corpus import build_map

            made.append(build_map(vm, entry, case.prog_type))
            continue
        if isinstance(entry, int):
            entry = STD_MAPS[entry]
        name, kind, key, value, count, flags, inner, *initial = entry
        inner_spec = MapSpec(*inner[:5], flags=inner[5]) if inner else None
        m = vm.create_map(MapSpec(name, kind, key, value, count, flags=flags, inner=inner_spec))
        if inner_spec is not None:
            for k in range(count):
                m[k.to_bytes(4, "little")] = vm.create_map(inner_spec)
        for k, v in (initial[0] if initial else ()):
            m.update(k, v)
        made.append(m)
    return made


def execute(state: State, case: Case) -> Result:
    """Run the case and check it."""
    from pybpf.errors import BPFError
    from pybpf.vm import VM

    audit = state.audit
    audit.violations.clear()
    vm = VM(max_insns=BUDGET)
    result: Result | None = None
    res = None
    elapsed = 0.0
    try:
        maps = _build_maps(vm, case)
        insns = _program(state, case)

        def resolve(pc, form, imm, next_imm):
            return vm.resolve_pseudo(pc, form, imm, next_imm, maps)

        prog = vm.load(insns, prog_type=case.prog_type, name="fuzz", resolve_pseudo=resolve)
        for m in maps:
            if getattr(m, "type", "") == "prog_array":
                m[(0).to_bytes(4, "little")] = prog
        t0 = time.perf_counter()
        try:
            if case.prog_type == "memory":
                res = prog.run(bytearray(case.data) if case.data else None)
                count = res.insn_count
            else:
                res = prog.test_run(case.data, case.ctx)
                count = getattr(prog, "last_insn_count", 0)
        finally:
            elapsed = time.perf_counter() - t0
        if count > BUDGET:
            result = Result("budget", "insn-count", f"{count} instructions reported, budget "
                                                    f"{BUDGET}")
    except (BPFError, Exception) as e:
        result = exception_result(e, (BPFError,))
    if elapsed > RUN_SECONDS:
        result = Result("budget", "time", f"ran {elapsed:.1f} s with a budget of {BUDGET} "
                                          f"instructions")
    if audit.violations:
        result = Result("escape", "memory", "; ".join(audit.violations[:3]))
    elif _canary_bytes(state) != state.canary_snapshot:
        state.canary_snapshot = _canary_bytes(state)
        result = Result("escape", "canary", "the canary VM's memory changed")
    else:
        foreign = _foreign_regions(state, vm)
        if foreign:
            result = Result("escape", "foreign-map", f"regions of the canary VM mapped into "
                                                     f"this VM: {foreign[:3]}")
        elif res is not None and result is None:
            leak = _host_pointer(vm, getattr(res, "r0", None))
            if leak:
                result = Result("escape", "host-pointer", leak)
    return result or Result("ok")


def _foreign_regions(state: State, vm: Any) -> list[str]:
    canary = {id(m) for m in state.canary_maps}
    return [repr(r) for r in vm.memory.regions() if id(getattr(r, "owner", None)) in canary]


def _host_pointer(vm: Any, r0: int | None) -> str | None:
    if r0 is None or r0 < 4096:
        return None
    for r in vm.memory.regions():
        host = host_address(r)
        if host is not None and host <= r0 < host + r.size:
            return f"r0 = {r0:#x} is a host address in {r.kind} region {r.name}"
    return None


def show(case: Case) -> str:
    """The case as text."""
    from pybpf.isa import Insn, disassemble

    head = (f"source {case.source}, type {case.prog_type}, maps {case.maps}, "
            f"data {case.data[:64].hex()}{'...' if len(case.data) > 64 else ''}, "
            f"mutations {case.mutations}")
    if case.text is not None:
        return head + "\n" + case.text
    try:
        body = disassemble([Insn(*i) for i in case.insns], syntax="llvm", pcs=True)
    except Exception as e:
        body = f"(cannot disassemble: {e})\n{case.insns}"
    return head + "\n" + body
