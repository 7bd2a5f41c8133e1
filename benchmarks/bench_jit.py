"""The JIT beside the interpreter and the kernel's JIT, in one run.

Six tables:

1. ns per executed instruction on the fixed workloads (``workloads.py``):
   pybpf's interpreter, pybpf's JIT (``test_run(repeat=N)``, the loop in
   native code: LLVM's code, and the baseline tier's machine code) and the kernel's JIT under ``BPF_PROG_TEST_RUN`` on the same
   bytecode (FNV-1a once more loaded with its verification: the accesses
   the verifier proved run unchecked), and the kernel JIT's own machine
   code copied out and run in this process.  Both test-run timers count CPU time (the kernel's stops while
   it reschedules; the JIT's is the thread's CPU time), so a loaded machine
   does not charge other processes' time to either.
2. Compile time per 1,000 instructions (the baseline tier's translator
   and LLVM, an empty disk cache), and
   the load time of a program whose code is in the disk cache (``VM.load``
   in a new VM, the process's own cache of loaded code emptied; the whole
   load and the JIT engine's part of it), beside the interpreter's load of
   the same program.  CPU time of this thread.
3. Per-call overhead from Python: ``Program.test_run`` and ``Program.run``
   of a two-instruction program under the JIT, beside the kernel's
   ``BPF_PROG_TEST_RUN`` round trip through ctypes.  CPU time (user and
   system) of this thread.
4. What the limits cost in native code (xorshift with none, the default
   instruction limit, max_seconds).
5. Map operations per second from inside a program (``bench_maps.py``'s
   workloads, then the helpers with native paths in the JIT: per-CPU
   array, per-CPU hash and LRU hash lookups, ``bpf_ringbuf_output`` and
   ``bpf_ktime_get_ns``): interpreter, JIT, kernel.
6. The default engine (interpreter first, the JIT once hot) beside the
   interpreter alone and the JIT at load: N runs of a small program, and
   one long run (moved to native code midway), from the load.

    PYTHONPATH=src python benchmarks/bench_jit.py [--rounds N] [--tables 1,2,...]

Each JIT figure names its tier (``PYBPF_JIT_TIER``): "JIT" alone is LLVM's
code; "baseline" the baseline tier's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time

import bench_maps
from common import print_table
from pybpf.helpers import HelperRegistry
from pybpf.isa import assemble, encode
from pybpf.objects import MapSpec
from pybpf.vm import VM
from workloads import WORKLOADS, expected_results

TRIVIAL = "mov %r0, 1\nexit"
#: Instructions per measure of table 1 (a few ms of native code): the best of
#: very short measures favours whichever engine gets a lucky millisecond (the
#: kernel's xorshift: 0.1477 ns per instruction in measures of 10 runs, 0.1491
#: in measures of 200).
INSNS_PER_MEASURE = 20_000_000


@contextlib.contextmanager
def tier(name: str):
    """Programs loaded inside get the JIT tier ``name`` (``PYBPF_JIT_TIER``)."""
    saved = os.environ.get("PYBPF_JIT_TIER")
    os.environ["PYBPF_JIT_TIER"] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYBPF_JIT_TIER", None)
        else:
            os.environ["PYBPF_JIT_TIER"] = saved


def jit_program(insns, tier_name: str = "llvm", verification=None, **vm_options):
    """A program loaded under the JIT with the code of ``tier_name`` (and
    the verifier's ``verification`` of it, if given)."""
    with tier(tier_name):
        prog = VM(jit=True, **vm_options).load(insns, verification=verification)
    assert getattr(prog._compiled, "engine", None) == "jit", "the JIT did not compile it"
    assert getattr(prog._compiled, "tier", "llvm") == tier_name, "not the tier asked for"
    return prog


def interleaved_minimum(measures: dict, rounds: int) -> dict:
    """The best of ``rounds`` of each measure (a name -> callable giving
    ns), taken in turn round by round: a busy phase of the machine then
    falls on every engine alike, not on whichever was measured during it.
    A measure that raises gives its reason instead of a figure."""
    best: dict = {}
    for _ in range(rounds):
        for name, measure in measures.items():
            if isinstance(best.get(name), str):
                continue
            try:
                t = measure()
            except Exception as e:  # the reason goes into the table
                best[name] = f"refused: {e}"
                continue
            best[name] = min(best.get(name, t), t)
    return best


def kernel_measure(bytecode: bytes, repeat: int):
    """A callable giving the kernel's ns per run of ``bytecode`` (loaded
    and run ``repeat`` times under ``BPF_PROG_TEST_RUN``)."""
    def measure() -> float:
        from pybpf.kernel import probe_test_run
        return probe_test_run(bytecode, repeat)[1]
    return measure


#: A native loop that calls ``fn(ctx)`` ``count`` times (System V ABI:
#: ``loop(fn, count, ctx)``), so the kernel's code runs in user space
#: without a Python call per run:
#:     push rbx; push r12; push r13; mov rbx, rdi; mov r12, rsi; mov r13, rdx
#:  1: mov rdi, r13; call rbx; dec r12; jnz 1b
#:     pop r13; pop r12; pop rbx; ret
CALL_LOOP = bytes.fromhex("53415441554889fb4989f44989d5" "4c89efffd349ffcc75f6" "415d415c5bc3")


def kernel_code_measure(bytecode: bytes, repeat: int, expected: int):
    """A callable giving ns per run of the kernel JIT's machine code for
    ``bytecode``, copied out of the kernel and run in this process (CPU
    time, as the JIT's test runs are timed): the same code as the kernel
    column without the kernel's test-run loop around it, so the two show
    how much of a difference is code and how much is where it runs.  Only
    for programs that call nothing; raises with the reason otherwise."""
    import ctypes

    from pybpf.jit.loader import ExecutableMemory
    from pybpf.kernel.info import program_code
    from pybpf.kernel.programs import KernelProgram

    with KernelProgram.load(bytecode, "socket_filter", name="bench_jit") as prog:
        code = bytearray(program_code(prog.fd, jited=True))
    if not code:
        raise RuntimeError("the kernel withholds its JIT code")
    if code[-5] == 0xE9:                # jmp to the kernel's return thunk: return here
        code[-5:] = b"\xc3" + b"\x90" * 4
    elif code[-1] != 0xC3:
        raise RuntimeError(f"unexpected end of the kernel's code: {code[-8:].hex()}")
    native = ExecutableMemory(bytes(code))
    caller = ExecutableMemory(CALL_LOOP)
    loop = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)(caller.base)
    ctx = ctypes.create_string_buffer(256)
    result = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(native.base)(
        ctypes.addressof(ctx))
    if result != expected:
        raise RuntimeError(f"the kernel's code returned {result:#x} here, not {expected:#x}")

    def measure() -> float:
        start = time.thread_time_ns()
        loop(native.base, repeat, ctypes.addressof(ctx))
        return (time.thread_time_ns() - start) / repeat
    measure.keep = (native, caller)     # the code lives as long as the measure
    return measure


def run_measure(prog, repeat: int):
    """A callable giving ns per run of ``prog`` under ``test_run(repeat=...)``."""
    return lambda: prog.test_run(b"", repeat=repeat).duration_ns


def instruction_speed(rounds: int) -> None:
    from pybpf.verifier import verify

    expected = expected_results()
    rows = []
    for name, text in WORKLOADS.items():
        insns = assemble(text)
        interp = VM(helpers=HelperRegistry(), jit=False).load(insns)
        result = interp.run()
        assert result.r0 == expected[name]
        count = result.insn_count
        repeat = max(10, INSNS_PER_MEASURE // count)
        measures = {"interp": run_measure(interp, 1)}
        engines = [("jit", {}), ("baseline", {})]
        if name == "fnv1a":   # once more with the accesses the verifier proved unchecked
            proof = verify(insns, prog_type="socket_filter")
            engines += [("jit verified", {"verification": proof}),
                        ("baseline verified", {"verification": proof})]
        for label, options in engines:
            prog = jit_program(insns, label.split()[0].replace("jit", "llvm"),
                               helpers=HelperRegistry(), **options)
            ran = prog.run()
            assert (ran.r0, ran.insn_count) == (expected[name], count), label
            measures[label] = run_measure(prog, repeat)
        measures["kernel"] = kernel_measure(encode(insns), repeat)
        try:
            measures["kernel code"] = kernel_code_measure(encode(insns), repeat, expected[name])
        except Exception as e:  # the reason goes into the table
            measures["kernel code"] = lambda reason=str(e): reason
        best = interleaved_minimum(measures, rounds)
        kern = best["kernel"]
        here = best["kernel code"]
        for suffix in ("", " verified"):
            if "jit" + suffix not in best:
                continue
            t_jit = best["jit" + suffix] / count
            row = [name + (" (verified)" if suffix else ""), str(count),
                   "-" if suffix else f"{best['interp'] / count:.1f}", f"{t_jit:.3f}",
                   f"{best['baseline' + suffix] / count:.3f}"]
            if isinstance(kern, float):
                row += [f"{kern / count:.3f}", f"{t_jit / (kern / count):.2f}"]
            else:
                row += [kern, "-"]
            if isinstance(here, float):
                row += [f"{here / count:.3f}", f"{t_jit / (here / count):.2f}"]
            else:
                row += [f"refused: {here}"[:60], "-"]
            rows.append(row)
    print_table(["workload", "insns/run", "interp ns/insn", "JIT ns/insn",
                 "baseline ns/insn", "kernel JIT ns/insn", "JIT/kernel",
                 "kernel code here ns/insn", "JIT/kernel code"], rows)
    print("(JIT/kernel below 1: the JIT is faster.  Each figure is the best of the "
          "rounds, the engines measured in turn in each round.  LLVM may fold a loop "
          "whose result it can compute: 0.000 means the loop is gone.  'Kernel code "
          "here': the kernel JIT's machine code for the same bytecode, copied out "
          "and run in this process, timed as the JIT is.)")


def limit_costs(rounds: int) -> None:
    """What the limits cost in native code: the xorshift workload with no
    limit, the default instruction limit, and max_seconds (the clock read
    every CLOCK_INTERVAL instructions)."""
    insns = assemble(WORKLOADS["xorshift"])
    rows = []
    for label, options in (("no limit (max_insns=None)", {"max_insns": None}),
                           ("default max_insns", {}),
                           ("max_insns=None, max_seconds=60", {"max_insns": None,
                                                               "max_seconds": 60})):
        prog = jit_program(insns, helpers=HelperRegistry(), **options)
        count = prog.run().insn_count
        t = min(prog.test_run(b"", repeat=40).duration_ns for _ in range(rounds)) / count
        rows.append([label, f"{t:.3f}"])
    print_table(["xorshift under the JIT", "ns/insn"], rows)


def synthetic_program(size: int, seed: int) -> list:
    """A straight-line-and-forward-branch program of about ``size``
    instructions: ALU on r0..r5, stack stores and loads, conditional jumps."""
    rnd = random.Random(seed)
    lines = [f"mov %r{r}, {r + 1}" for r in range(6)]
    alu = ["add", "sub", "mul", "xor", "or", "and", "lsh", "rsh", "arsh", "mov"]
    while len(lines) < size - 1:
        kind = rnd.random()
        if kind < 0.6:
            op = rnd.choice(alu)
            operand = f"%r{rnd.randrange(6)}" if rnd.random() < 0.5 else \
                str(rnd.randrange(1, 63))
            lines.append(f"{op}{'32' if rnd.random() < 0.3 else ''} %r{rnd.randrange(6)}, "
                         f"{operand}")
        elif kind < 0.75:
            lines.append(f"stxdw [%r10-{8 * rnd.randrange(1, 64)}], %r{rnd.randrange(6)}")
        elif kind < 0.9:
            lines.append(f"ldxdw %r{rnd.randrange(6)}, [%r10-{8 * rnd.randrange(1, 64)}]")
        else:
            lines.append(f"jgt %r{rnd.randrange(6)}, {rnd.randrange(100)}, "
                         f"+{rnd.randrange(1, 8)}")
    lines += ["mov %r0, 0"] * 8 + ["exit"]
    return assemble("\n".join(lines))


def compile_and_load(rounds: int) -> None:
    from pybpf.jit import program as jitprogram
    from pybpf.jit import tiers

    rows = []
    saved = os.environ.get("PYBPF_JIT_CACHE")
    with tempfile.TemporaryDirectory() as cache_dir:
        os.environ["PYBPF_JIT_CACHE"] = cache_dir
        try:
            for size in (100, 1000, 4000):
                base_ms, base_engine_ms, compile_ms, load_ms, engine_ms, interp_ms = \
                    [], [], [], [], [], []
                for r in range(rounds):
                    insns = synthetic_program(size, seed=size * 1000 + r)
                    tiers._baseline.clear()
                    t0 = time.thread_time()
                    prog = jit_program(insns, "baseline")
                    base_ms.append((time.thread_time() - t0) * 1e3)
                    tiers._baseline.clear()      # the engine alone (no validation)
                    with tier("baseline"):
                        t0 = time.thread_time()
                        prog._compile(None)
                        base_engine_ms.append((time.thread_time() - t0) * 1e3)
                    jitprogram._native.clear()
                    t0 = time.thread_time()
                    jit_program(insns)
                    compile_ms.append((time.thread_time() - t0) * 1e3)
                    jitprogram._native.clear()     # a new process: code from the disk
                    jitprogram._last_packed = (None, None)
                    vm = VM(jit=True)
                    t0 = time.thread_time()
                    prog = vm.load(insns)
                    load_ms.append((time.thread_time() - t0) * 1e3)
                    assert prog._compiled.engine == "jit" and prog._compiled.tier == "llvm"
                    jitprogram._native.clear()     # the engine alone (no validation)
                    t0 = time.thread_time()
                    prog._compile(None)
                    engine_ms.append((time.thread_time() - t0) * 1e3)
                    t0 = time.thread_time()
                    VM(jit=False).load(insns)
                    interp_ms.append((time.thread_time() - t0) * 1e3)
                n = len(insns)
                best, base = min(compile_ms), min(base_ms)
                rows.append([str(n), f"{base:.2f}", f"{base * 1000 / n:.2f}",
                             f"{min(base_engine_ms) * 1000 / n:.2f}",
                             f"{best:.1f}", f"{best * 1000 / n:.1f}",
                             f"{min(load_ms):.2f}", f"{min(engine_ms):.2f}",
                             f"{min(interp_ms):.1f}"])
        finally:
            if saved is None:
                os.environ.pop("PYBPF_JIT_CACHE", None)
            else:
                os.environ["PYBPF_JIT_CACHE"] = saved
    print_table(["insns", "baseline first load ms", "baseline ms / 1,000 insns",
                 "of which the JIT ms / 1,000", "LLVM first load (compile) ms",
                 "LLVM compile ms / 1,000 insns", "cached load ms (VM.load)",
                 "of which the JIT ms", "interpreter load ms"], rows)
    print("(First loads: VM.load with nothing cached, validation included; the baseline "
          "tier's 'of which the JIT' is the engine's part: options, translation, mapping.  "
          "The cached load is VM.load in an existing VM, the process's loaded code "
          "forgotten: it reads LLVM's code and the record that the program passed structural "
          "validation (isa.validate) from the disk cache; a cached program starts on "
          "LLVM's code.)")


def call_overhead(rounds: int) -> None:
    insns = assemble(TRIVIAL)
    prog = jit_program(insns)
    interp = VM(jit=False).load(insns)
    calls = 20_000

    def per_call(fn) -> float:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.thread_time_ns()
            for _ in range(calls):
                fn()
            best = min(best, (time.thread_time_ns() - t0) / calls)
        return best

    rows = [["JIT Program.test_run(b'')", f"{per_call(lambda: prog.test_run(b'')):.0f}"],
            ["JIT Program.run()", f"{per_call(prog.run):.0f}"],
            ["JIT compiled.run() (the engine alone)", f"{per_call(prog._compiled.run):.0f}"],
            ["interpreter Program.test_run(b'')",
             f"{per_call(lambda: interp.test_run(b'')):.0f}"]]
    try:
        from pybpf.kernel import KernelProgram
        with KernelProgram.load(encode(insns), "socket_filter", name="bench_jit") as kprog:
            packet = bytes(64)
            rows.append(["kernel KernelProgram.test_run (bpf() via ctypes)",
                         f"{per_call(lambda: kprog.test_run(packet)):.0f}"])
    except Exception as e:
        rows.append(["kernel", f"refused: {e}"])
    print_table(["call from Python (mov r0, 1; exit)", "ns per call"], rows)


RINGBUF_OUTPUT = """
*(u64 *)(r10 - 16) = r7
r1 = {map} ll
r2 = r10
r2 += -16
r3 = 8
r4 = 0
call bpf_ringbuf_output#130
r9 += r0
"""
RINGBUF_RESERVE_SUBMIT = """
r1 = {map} ll
r2 = 8
r3 = 0
call bpf_ringbuf_reserve#131
if r0 == 0 goto next
*(u64 *)(r0 + 0) = r7
r1 = r0
r2 = 0
call bpf_ringbuf_submit#132
r9 += 1
next:
"""
KTIME = """
call bpf_ktime_get_ns#5
r9 += r0
"""
#: name -> ((map type, key size, value size, max_entries) or None, operation,
#: JIT runs per test_run): the helpers with native paths under the JIT.
#: Maps are filled as bench_maps fills them (every CPU's value alike); the
#: LRU map has room for twice the keys (the kernel's LRU may evict early);
#: the ring buffer has room for every record the runs write.
HELPER_WORKLOADS = {
    "per-CPU array lookup": (("percpu_array", 4, 8, bench_maps.ENTRIES), bench_maps.LOOKUP, 200),
    "per-CPU hash lookup (hit)": (("percpu_hash", 4, 8, bench_maps.ENTRIES), bench_maps.LOOKUP,
                                  200),
    "LRU hash lookup (hit)": (("lru_hash", 4, 8, 2 * bench_maps.ENTRIES), bench_maps.LOOKUP, 200),
    "ringbuf output (8 bytes)": (("ringbuf", 0, 0, 1 << 24), RINGBUF_OUTPUT, 20),
    "ringbuf reserve + submit (8 bytes)": (("ringbuf", 0, 0, 1 << 24), RINGBUF_RESERVE_SUBMIT,
                                           20),
    "ktime_get_ns": (None, KTIME, 200),
}


def _fill(m, map_type: str) -> None:
    if map_type == "ringbuf":
        return
    for i in range(bench_maps.ENTRIES):
        value = i.to_bytes(8, "little")
        m.update(i.to_bytes(4, "little"), [value] * m.num_cpus if m.percpu else value)


def _kernel_helper_rate(spec, op: str, ops: int, repeat: int) -> float | str:
    """Operations per second of a helper workload in the kernel, or why not."""
    try:
        from pybpf.kernel import KernelMap, KernelProgram, unavailable_reason
        reason = unavailable_reason()
        if reason:
            return f"refused: {reason}"
        m = KernelMap.create(*spec) if spec is not None else None
        try:
            ref = f"map[fd:{m.fd}]" if m is not None else ""
            if m is not None:
                _fill(m, spec[0])
            insns = assemble(bench_maps.program(op, "", ref, ops))
            with KernelProgram.load(insns, "socket_filter", name="bench_jit") as prog:
                result = prog.test_run(bench_maps.PACKET, repeat=repeat)
        finally:
            if m is not None:
                m.close()
        return ops * 1e9 / max(result.duration_ns, 1)
    except Exception as e:  # the reason goes into the table
        return f"refused: {e}"


def map_rates(rounds: int) -> None:
    ops = 512
    rows = []
    for name, (map_type, op, key_expr, prefill) in bench_maps.WORKLOADS.items():
        rates = []
        for jit in (False, True):
            vm = VM(jit=jit)
            m = vm.create_map(MapSpec("m", map_type, 4, 8, bench_maps.ENTRIES))
            bench_maps.fill(m, prefill)
            with tier("llvm"):          # LLVM's code (the baseline calls every helper)
                prog = vm.load(bench_maps.program(op, key_expr, f"map[fd:{vm.fd_of(m)}]", ops),
                               prog_type="socket_filter")
            repeat = 200 if jit else 1
            best = min(prog.test_run(bench_maps.PACKET, repeat=repeat).duration_ns
                       for _ in range(rounds))
            rates.append(ops * 1e9 / best)
        kern = bench_maps.kernel_rate(map_type, op, key_expr, prefill, ops, 2000)
        row = [name, f"{rates[0]:,.0f}", f"{rates[1]:,.0f}"]
        row.append(f"{kern[0]:,.0f}" if isinstance(kern, tuple) else kern)
        rows.append(row)
    for name, (spec, op, jit_repeat) in HELPER_WORKLOADS.items():
        rates = []
        for jit in (False, True):
            vm = VM(jit=jit)
            ref = ""
            if spec is not None:
                m = vm.create_map(MapSpec("m", *spec))
                _fill(m, spec[0])
                ref = f"map[fd:{vm.fd_of(m)}]"
            with tier("llvm"):          # as above: the native paths are LLVM's code
                prog = vm.load(bench_maps.program(op, "", ref, ops), prog_type="socket_filter")
            if jit:
                assert getattr(prog._compiled, "engine", None) == "jit", name
                assert getattr(prog._compiled, "tier", "llvm") == "llvm", name
            repeat = jit_repeat if jit else 1
            best = min(prog.test_run(bench_maps.PACKET, repeat=repeat).duration_ns
                       for _ in range(rounds))
            rates.append(ops * 1e9 / best)
        kern = _kernel_helper_rate(spec, op, ops, 1000)
        rows.append([name, f"{rates[0]:,.0f}", f"{rates[1]:,.0f}",
                     f"{kern:,.0f}" if isinstance(kern, float) else kern])
    print_table(["operation (from a BPF program)", "interpreter ops/s", "JIT ops/s",
                 "kernel ops/s"], rows)


def forget_compiled_code() -> None:
    """Empty this process's own caches of compiled code (baseline and
    LLVM), as a new process starts."""
    from pybpf.jit import program as jitprogram
    from pybpf.jit import tiers

    tiers._baseline.clear()
    jitprogram._native.clear()


#: A small packet-sized program: a 16-round xorshift over r1 (the same
#: work every run, no helpers), about 50 instructions a run.
SMALL = "\n".join(["mov %r0, %r1", "add %r0, 12345"] + [
    "mov %r2, %r0\nlsh %r2, 13\nxor %r0, %r2"] * 16 + ["exit"])


#: One run of {n} iterations of a 3-instruction loop (table 6, second part).
LONG_LOOP = "mov %r0, 0\nlddw %r1, {n}\nloop:\nadd %r0, 3\nsub %r1, 1\njne %r1, 0, loop\nexit"
ENGINES = (("interpreter", False), ("default", None), ("JIT at load", True))


def from_load(insns, jit, rounds: int, work) -> float:
    """Seconds from the load of ``insns`` under engine ``jit`` to the end of
    ``work(prog)``, best of ``rounds`` (the process's compiled code forgotten)."""
    best = float("inf")
    for _ in range(rounds):
        forget_compiled_code()
        start = time.perf_counter()
        work(VM(helpers=HelperRegistry(), jit=jit, max_insns=None).load(insns))
        best = min(best, time.perf_counter() - start)
    return best


def engine_row(label: str, times: dict) -> list[str]:
    fastest = min(times.values())
    return [label, *(f"{times[k] * 1e3:.2f} ({times[k] / fastest:.1f}x)" for k, _ in ENGINES)]


def default_engine(rounds: int) -> None:
    """The default engine (interpreter first, the JIT once hot) beside the
    interpreter alone and the JIT from the load: the total time of N runs
    of a small program, and of one long run, from its load (wall clock,
    disk cache off, so the JIT pays its compile)."""
    saved = {k: os.environ.get(k) for k in ("PYBPF_JIT", "PYBPF_JIT_CACHE")}
    os.environ.pop("PYBPF_JIT", None)
    os.environ["PYBPF_JIT_CACHE"] = "0"
    insns = assemble(SMALL)
    rows = []
    try:
        for runs in (1, 100, 1_000, 10_000, 100_000):
            def work(prog, runs=runs):
                for i in range(runs):
                    prog.run(args=(i,))
            rows.append(engine_row(f"{runs:,} runs", {
                label: from_load(insns, jit, rounds, work) for label, jit in ENGINES}))
        for n in (10_000, 100_000, 1_000_000, 10_000_000):
            loop = assemble(LONG_LOOP.format(n=n))
            rows.append(engine_row(f"1 run of {3 * n + 3:,} insns", {
                label: from_load(loop, jit, rounds, lambda prog: prog.run())
                for label, jit in ENGINES}))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print_table(["from load", "interpreter ms", "default engine ms", "JIT at load ms"], rows)
    print(f"(runs: {len(insns)} instructions, {VM(jit=False).load(insns).run().insn_count} "
          f"executed a run; one run: a 3-instruction loop, which the default engine moves to "
          f"native code midway once hot.  Each cell: load and runs, best of the rounds; "
          f"(Nx): over the fastest)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of N rounds (default 5)")
    parser.add_argument("--tables", default="1,2,3,4,5,6",
                        help="which tables to print, by number (default all: 1,2,3,4,5,6)")
    args = parser.parse_args()
    wanted = {int(t) for t in args.tables.split(",") if t.strip()}
    for number, (title, table) in enumerate((("instruction speed", instruction_speed),
                                             ("compile and load", compile_and_load),
                                             ("call overhead", call_overhead),
                                             ("limits", limit_costs),
                                             ("maps", map_rates),
                                             ("the default engine", default_engine)), 1):
        if number not in wanted:
            continue
        print(f"\n## {title}\n")
        table(args.rounds)


if __name__ == "__main__":
    main()
