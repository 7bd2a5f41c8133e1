"""Mutated ELF objects and BTF against the loaders and what reads their output.

A case is one of:

- ``elf``: a real object (tests/data, the compiled examples and tools) with
  bytes flipped, overwritten, cut, duplicated or spliced, given to
  :func:`pybpf.load_object`; when it loads, its programs are disassembled,
  its BTF dumped as C and values decoded, formatted and encoded with it, it
  is linked (:func:`pybpf.linker.link`, CO-RE against the running kernel's
  BTF) and loaded into a VM (maps created, nothing run);
- ``btf``: a structured random type graph (:func:`random_btf`: every kind,
  references forward, backward, to themselves and past the end, hostile
  names and sizes), encoded, optionally byte-mutated, given to
  :meth:`pybpf.btf.BTF.from_bytes` (sometimes as split BTF on a base), then
  dumped and used for values.

Only :class:`~pybpf.errors.BPFError` subclasses may escape, and each case
must finish in :data:`CASE_SECONDS`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.harness import ROOT, TESTS, Result, exception_result, quick

CASE_SECONDS = 10.0
"""One object or BTF blob is parsed, dumped and linked within this."""
CASE_TIMEOUT = 60.0
SETUP_TIMEOUT = 600.0
MAX_VALUE_SIZE = 1 << 16
"""Values larger than this are not decoded (a size, not a parser, decides the cost)."""


@dataclass
class Case:
    """The input bytes and how they were made."""

    kind: str               # elf or btf
    origin: str
    data: bytes
    base: bool = False      # btf: parse as split BTF on the sample base
    probe: bytes = b""      # bytes to decode values from
    steps: tuple[str, ...] = ()


@dataclass
class State:
    objects: list[tuple[str, bytes]]
    base: Any
    vmlinux: Any


def setup(seed: int) -> State:
    """The seed objects (compiled once per run into the scratch directory)."""
    import sys

    sys.setrecursionlimit(10_000)
    from pybpf.btf import BTF

    objects = [(p.name, p.read_bytes()) for p in sorted((TESTS / "data").glob("*.o"))]
    if not quick():  # compiling the examples takes a while
        objects += _compiled_examples()
    try:
        vmlinux = BTF.load_vmlinux()
    except Exception:
        vmlinux = None
    return State(objects, _base(seed), vmlinux)


def _base(seed: int) -> Any:
    """A random base for split BTF: the first seed from ``seed`` on whose
    types the builder encodes."""
    from pybpf.btf import BTF
    from pybpf.errors import BTFError

    for attempt in range(1000):
        try:
            return BTF.from_bytes(random_btf(random.Random(seed + attempt), 40).to_bytes())
        except BTFError:
            continue
    raise RuntimeError("no encodable base BTF")


def _compiled_examples() -> list[tuple[str, bytes]]:
    import os

    scratch = Path(os.environ.get("FUZZ_SCRATCH") or "/nonexistent")
    out = []
    sources = sorted((ROOT / "examples").glob("*.bpf.c"))
    sources += sorted((ROOT / "src" / "pybpf" / "tools").glob("*.bpf.c"))
    for src in sources:
        obj = scratch / f"{src.parent.name}-{src.stem}.o"
        if not obj.exists() and scratch.is_dir():
            try:
                from pybpf.toolchain import compile

                include = [str(ROOT / "src" / "pybpf" / "tools" / "include")]
                compile(src, obj.with_suffix(f".{os.getpid()}.o"), include_dirs=include,
                        timeout=120)
                os.replace(obj.with_suffix(f".{os.getpid()}.o"), obj)
            except Exception:
                continue
        if obj.exists():
            out.append((obj.name, obj.read_bytes()))
    return out


# --- structured BTF ---------------------------------------------------------------------------

NAMES = ("", "a", "int", "char", "long", "task_struct", "x" * 300, "a b", "1abc", "__u32",
         "\u00e9", "\x1b[2J", "struct", "typedef", "%s%n", "a" * 70000, "long long", "_Bool")


def random_btf(rng: random.Random, count: int | None = None) -> Any:
    """A BTFBuilder holding ``count`` random types of every kind, whose
    references may point anywhere in it (forward, backward, to themselves,
    in cycles)."""
    from pybpf.btf import BTFBuilder
    from pybpf.btf.types import (
        Array,
        Const,
        Datasec,
        DeclTag,
        Enum,
        Enum64,
        EnumValue,
        Float,
        Func,
        FuncProto,
        Fwd,
        Int,
        Member,
        Param,
        Ptr,
        Restrict,
        Struct,
        Typedef,
        TypeTag,
        Union,
        Var,
        VarSecinfo,
        Volatile,
    )

    n = count if count is not None else rng.choice((1, 2, 5, 10, 30, 100))
    b = BTFBuilder(byteorder=rng.choice(("little", "little", "little", "big")))

    def ref() -> int:  # (ids past the end come from byte mutation: the builder refuses them)
        return rng.randrange(0, n + 1)

    def name() -> str:
        return rng.choice(NAMES) if rng.random() < 0.3 else f"t{rng.randrange(1000)}"

    def size() -> int:
        return rng.choice((0, 1, 2, 4, 8, 16, 3, 64, 4096, 1 << 20, (1 << 31) - 1,
                           (1 << 32) - 1))

    for _ in range(n):
        k = rng.randrange(19)
        if k == 0:
            bits = rng.choice((8, 16, 32, 64, 128, 1, 7, 0))
            t = Int(name(), rng.choice((1, 2, 4, 8, 16, 3, 0)), rng.randrange(8),
                    rng.choice((0, 0, 1, 7, 64)), bits)  # (wilder ones come from mutation)
        elif k in (1, 2, 3, 4):
            t = (Ptr, Const, Volatile, Restrict)[k - 1](ref())
        elif k == 5:
            t = Typedef(name(), ref())
        elif k == 6:
            t = TypeTag(name(), ref())
        elif k == 7:
            t = Array(ref(), ref(), rng.choice((0, 1, 4, 1000, (1 << 32) - 1)))
        elif k in (8, 9):
            members = tuple(Member(name() if rng.random() < 0.8 else "", ref(),
                                   rng.choice((0, 8, 32, 64, rng.randrange(1 << 20))),
                                   rng.choice((0, 0, 0, 1, 3, 32, 64, 200)))
                            for _ in range(rng.choice((0, 1, 2, 5, 20))))
            t = (Struct if k == 8 else Union)(name(), size(), members)
        elif k == 10:
            t = Enum(name(), rng.choice((1, 2, 4, 8, 3)),
                     tuple(EnumValue(name(), rng.randrange(-(1 << 31), 1 << 31))
                           for _ in range(rng.choice((0, 1, 3, 10)))), rng.random() < 0.5)
        elif k == 11:
            t = Enum64(name(), rng.choice((8, 4, 1)),
                       tuple(EnumValue(name(), rng.randrange(-(1 << 63), 1 << 64))
                             for _ in range(rng.choice((0, 1, 3)))), rng.random() < 0.5)
        elif k == 12:
            t = Fwd(name(), rng.random() < 0.5)
        elif k == 13:
            t = Func(name(), ref(), rng.randrange(4))
        elif k == 14:
            t = FuncProto(ref(), tuple(Param(name(), ref())
                                       for _ in range(rng.choice((0, 1, 2, 6, 40)))))
        elif k == 15:
            t = Var(name(), ref(), rng.randrange(4))
        elif k == 16:
            t = Datasec(rng.choice((".data", ".bss", ".rodata", name())), size(),
                        tuple(VarSecinfo(ref(), rng.choice((0, 4, 1 << 31)),
                                         rng.choice((0, 4, 8, 1 << 31)))
                              for _ in range(rng.choice((0, 1, 3)))))
        elif k == 17:
            t = Float(name(), rng.choice((2, 4, 8, 12, 16, 3, 0)))
        else:
            t = DeclTag(name(), ref(), rng.choice((-1, 0, 1, 100)))
        try:
            b.add(t)
        except Exception:
            b.add(Int("int", 4, 1, 0, 32))  # the builder refused the shape: a plain int
    return b


# --- mutation ------------------------------------------------------------------------------------

def mutate(rng: random.Random, data: bytes) -> tuple[bytes, tuple[str, ...]]:
    """``data`` with a few random byte-level changes, and their names."""
    d = bytearray(data)
    steps = []
    for _ in range(rng.choice((1, 1, 2, 3, 6))):
        if not d:
            break
        op = rng.randrange(8)
        p = rng.randrange(len(d))
        if op == 0:
            d[p] ^= 1 << rng.randrange(8)
            steps.append(f"flip@{p}")
        elif op == 1:
            d[p] = rng.choice((0, 0xFF, 0x7F, 0x80, 1, rng.randrange(256)))
            steps.append(f"byte@{p}")
        elif op == 2 and p + 4 <= len(d):
            v = rng.choice((0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 1, len(d), len(d) + 1,
                            rng.randrange(1 << 32)))
            d[p:p + 4] = v.to_bytes(4, "little")
            steps.append(f"word@{p}={v:#x}")
        elif op == 3 and p + 8 <= len(d):
            v = rng.choice((0, (1 << 64) - 1, 1 << 63, rng.randrange(1 << 64)))
            d[p:p + 8] = v.to_bytes(8, "little")
            steps.append(f"quad@{p}")
        elif op == 4:
            cut = rng.randrange(len(d))
            del d[cut:]
            steps.append(f"cut@{cut}")
        elif op == 5:
            n = rng.randint(1, 64)
            d[p:p] = d[p:p + n]
            steps.append(f"dup@{p}+{n}")
        elif op == 6:
            n = rng.randint(1, 64)
            del d[p:p + n]
            steps.append(f"del@{p}+{n}")
        else:
            # the ELF header and section header table are where the structure lives
            shoff = int.from_bytes(d[0x28:0x30], "little") if len(d) >= 0x30 else 0
            lo = shoff if shoff < len(d) and rng.random() < 0.6 else 0
            q = rng.randrange(lo, min(len(d), lo + 64 * 40)) if lo < len(d) else 0
            if q < len(d):
                d[q] = rng.randrange(256)
            steps.append(f"header@{q}")
    return bytes(d), tuple(steps)


# --- cases ---------------------------------------------------------------------------------------

def generate(state: State, rng: random.Random) -> Case:
    """An ELF object (mutated) or a BTF blob (structured, maybe mutated)."""
    probe = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 4, 8, 64, 256))))
    if rng.random() < 0.55 and state.objects:
        name, data = rng.choice(state.objects)
        if rng.random() < 0.05 and len(state.objects) > 1:  # splice two objects
            _, other = rng.choice(state.objects)
            cut = rng.randrange(min(len(data), len(other)))
            data = data[:cut] + other[cut:]
            name += "+spliced"
        data, steps = mutate(rng, data)
        return Case("elf", name, data, probe=probe, steps=steps)
    from pybpf.errors import BTFError

    data = b""
    for _ in range(8):  # some shapes the builder will not encode (INT bits past 128...)
        try:
            data = random_btf(rng).to_bytes()
            break
        except BTFError:
            continue
    steps: tuple[str, ...] = ()
    if rng.random() < 0.5:
        data, steps = mutate(rng, data)
    return Case("btf", "random", data, base=rng.random() < 0.15, probe=probe, steps=steps)


def execute(state: State, case: Case) -> Result:
    """Parse and use the input; only BPFErrors may escape."""
    from pybpf.errors import BPFError

    t0 = time.perf_counter()
    try:
        if case.kind == "elf":
            _elf(state, case)
        else:
            _btf(state, case)
        result = Result("ok")
    except Exception as e:
        result = exception_result(e, (BPFError,))
    elapsed = time.perf_counter() - t0
    if elapsed > CASE_SECONDS and result.kind in ("ok", "rejected"):
        result = Result("budget", "time", f"{case.kind} {case.origin} took {elapsed:.1f} s")
    return result


def _elf(state: State, case: Case) -> None:
    import pybpf
    from pybpf.isa import disassemble
    from pybpf.linker import NoKernel, link

    spec = pybpf.load_object(case.data)
    for prog in spec.programs.values():
        disassemble(prog.instructions, syntax="llvm")
    if spec.btf is not None:
        _use_btf(spec.btf, case.probe)
    target = state.vmlinux if state.vmlinux is not None else []
    link(spec, NoKernel(), core_target=target)
    from pybpf.vm import VM, load

    load(spec, vm=VM(max_insns=10_000), core_target=target).close()


def _btf(state: State, case: Case) -> None:
    from pybpf.btf import BTF

    btf = BTF.from_bytes(case.data, base=state.base if case.base else None)
    _use_btf(btf, case.probe)


def _use_btf(btf: Any, probe: bytes) -> None:
    btf.dump_c()
    btf.dump_raw()
    count = 0
    for t in btf.own_types():
        count += 1
        if count > 200:
            break
        tid = t.id
        btf.describe(tid)
        try:
            size = btf.size_of(tid)
        except Exception as e:
            if not _is_bpf_error(e):
                raise
            continue
        if not 0 < size <= MAX_VALUE_SIZE:
            continue
        data = (probe * (size // max(1, len(probe)) + 1))[:size] if probe else bytes(size)
        value = btf.decode(tid, data)
        btf.format(tid, data)
        try:
            btf.encode(tid, value)
        except Exception as e:
            if not _is_bpf_error(e):
                raise


def _is_bpf_error(e: BaseException) -> bool:
    from pybpf.errors import BPFError

    return isinstance(e, BPFError)


def show(case: Case) -> str:
    """The case as text."""
    return (f"{case.kind} from {case.origin}, {len(case.data)} bytes, base={case.base}, "
            f"steps {list(case.steps)}, probe {case.probe[:32].hex()}\n"
            f"first bytes {case.data[:64].hex()}")
