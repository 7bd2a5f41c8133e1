"""The JIT: native code that agrees with the interpreter, bit for bit.

The interpreter is the specification.  Each test runs the same bytecode in
the JIT and in the interpreter (a traced run of a JIT VM's program runs in
the interpreter, on the same memory) and compares r0, the instructions
executed, the memory left behind, or the error (type and message, with its
pc and instruction).  The robustness test runs random programs, unverified,
in a child process and counts the times it dies: none.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llvmlite")

from conftest import (
    SHARED,
    SRC,
    shared_params,
)
from pybpf.conformance import load_data_file, run_test
from pybpf.errors import (
    BPFError,
    CallDepthExceeded,
    InstructionError,
    InstructionLimitExceeded,
    MemoryFault,
)
from pybpf.isa import encode
from pybpf.jit import JitProgram, cache
from pybpf.objects import MapSpec
from pybpf.vm import VM, Tracer
from pybpf.vm.interpreter import CompiledProgram
from strategies import any_slot, valid_program

HERE = Path(__file__).resolve().parent
CONFORMANCE = sorted((SHARED / "conformance" / "tests").glob("*.data"))


def engine_of(prog) -> str:
    return getattr(prog._compiled, "engine", "interpreter")


def both(text_or_code, mem: bytes = b"", **vm_options) -> tuple[tuple, tuple]:
    """(JIT outcome, interpreter outcome) of one program on one buffer: r0,
    instructions executed and memory after, or the error's type and text."""
    try:
        prog = VM(jit=True, **vm_options).load(text_or_code)
    except BPFError as e:
        return (type(e).__name__, str(e)), (type(e).__name__, str(e))
    buffer = bytearray(mem)
    out = []
    for tracer in (None, Tracer(prog.insns, keep=True)):
        buffer[:] = mem
        try:
            result = prog.run(buffer, trace=tracer)
        except BPFError as e:
            out.append((type(e).__name__, str(e)))
        else:
            out.append((result.r0, result.insn_count, bytes(result.mem or b"")))
    return out[0], out[1]


def same(text_or_code, mem: bytes = b"", **vm_options):
    jit, interp = both(text_or_code, mem, **vm_options)
    assert jit == interp
    return jit


# --- engine selection ----------------------------------------------------------------------

def test_vm_jit_true_compiles_and_false_interprets(monkeypatch):
    monkeypatch.delenv("PYBPF_JIT", raising=False)
    assert isinstance(VM(jit=True).load("mov %r0, 1\nexit")._compiled, JitProgram)
    assert isinstance(VM(jit=False).load("mov %r0, 1\nexit")._compiled, CompiledProgram)
    assert isinstance(VM().load("mov %r0, 1\nexit")._compiled, CompiledProgram)
    monkeypatch.setenv("PYBPF_JIT", "1")
    assert isinstance(VM().load("mov %r0, 1\nexit")._compiled, JitProgram)


def test_tracing_runs_in_the_interpreter():
    prog = VM(jit=True).load("mov %r0, 3\nadd %r0, 4\nexit")
    tracer = Tracer(prog.insns, keep=True)
    assert prog.run(trace=tracer).r0 == 7
    assert len(tracer.lines) == 3


def test_a_malformed_program_is_refused_at_load_even_unchecked():
    # r11 does not exist: no engine may be asked to run it (it used to reach
    # the interpreter's generated code and fail there with NameError)
    with pytest.raises(InstructionError, match=r"r11|register"):
        VM(jit=True).load(bytes.fromhex("b70b000001000000" "9500000000000000"), check=False)


def test_collections_load_with_the_jit():
    import pybpf.vm
    from pybpf.objects import ObjectSpec, ProgramSpec

    insns = VM().load("mov %r0, 2\nexit").insns
    spec = ObjectSpec(programs={"p": ProgramSpec("p", insns, "xdp")})

    with pybpf.vm.load(spec, jit=True) as coll:
        assert engine_of(coll.programs["p"]) == "jit"
        assert coll.programs["p"].test_run(bytes(64)).retval == 2


# --- agreement with the interpreter ---------------------------------------------------------

#: One conformance program in CONFORMANCE_SAMPLE runs in the default suite,
#: the others under ``-m slow``.
CONFORMANCE_SAMPLE = 8


def _conformance_params() -> list:
    params = shared_params(CONFORMANCE, lambda p: p.stem, "conformance", "tests")
    return [p if i % CONFORMANCE_SAMPLE == 0 or p.id == "shared-absent"
            else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
            for i, p in enumerate(params)]


@pytest.mark.parametrize("path", _conformance_params())
def test_conformance_under_the_jit(path):
    test = load_data_file(path)

    def runner(program: bytes, mem: bytes) -> int:
        prog = VM(jit=True, max_insns=10_000_000).load(program)
        assert engine_of(prog) == "jit"
        return prog.run(mem).r0

    outcome = run_test(test, runner)
    assert outcome.passed, outcome.error


ALU_CORNERS = """
    lddw %r1, 0x8000000000000000
    mov %r2, -1
    mov %r0, %r1
    div %r0, 0            # x / 0 = 0
    mov %r3, %r1
    sdiv %r3, %r2         # INT_MIN / -1 = INT_MIN
    add %r0, %r3
    mov %r4, %r1
    smod %r4, %r2         # INT_MIN % -1 = 0
    add %r0, %r4
    mov %r5, 77
    mod %r5, 0            # x % 0 = x
    add %r0, %r5
    mov32 %r6, 0x80000000
    sdiv32 %r6, -1        # 32-bit INT_MIN / -1
    add %r0, %r6
    mov %r7, -5
    smod32 %r7, 0         # x % 0, zero-extended
    add %r0, %r7
    mov %r8, 1
    lsh %r8, 65           # shift count masked to 63: 1 << 1
    add %r0, %r8
    mov32 %r9, -1
    rsh32 %r9, 36         # masked to 31: >> 4
    add %r0, %r9
    mov %r1, 0x1234
    movsx864 %r2, %r1     # 0x34
    add %r0, %r2
    mov %r1, 0xff80
    movsx1664 %r3, %r1
    add %r0, %r3
    lddw %r4, 0x1122334455667788
    be32 %r4
    add %r0, %r4
    lddw %r5, 0x1122334455667788
    bswap16 %r5
    add %r0, %r5
    mov32 %r6, -1
    arsh32 %r6, 4
    add %r0, %r6
    exit
"""


def test_alu_corner_cases_agree():
    _r0, count, _ = same(ALU_CORNERS)
    assert count > 30


def test_atomics_agree_and_are_atomic_instructions():
    text = """
        stdw [%r10-8], 10
        mov %r1, 5
        lock add [%r10-8], %r1
        mov %r2, 3
        lock fetch add [%r10-8], %r2     # r2 = 15
        mov %r0, 18
        mov %r3, 99
        lock cmpxchg [%r10-8], %r3       # mem == r0: mem = 99, r0 = 18
        ldxdw %r4, [%r10-8]
        lock xchg [%r10-8], %r4
        stw [%r10-16], -1
        mov %r5, 0xf0
        lock fetch and32 [%r10-16], %r5  # r5 = 0xffffffff
        mov %r6, 0x3
        lock fetch or32 [%r10-16], %r6
        lock fetch xor [%r10-8], %r6
        add %r0, %r2
        add %r0, %r4
        add %r0, %r5
        add %r0, %r6
        ldxdw %r7, [%r10-8]
        add %r0, %r7
        exit
    """
    same(text)
    # An atomic on the memory a caller passes (a checked site) too.
    same("mov %r2, 7\nlock fetch add [%r1+0], %r2\nmov %r0, %r2\nexit", bytes(range(16)))


def test_memory_faults_name_the_same_pc_instruction_and_address():
    jit, interp = both("mov %r1, 4096\nldxdw %r0, [%r1+8]\nexit")
    assert jit == interp and jit[0] == "MemoryFault"
    prog = VM(jit=True).load("mov %r0, 0\nstxdw [%r1+12], %r0\nexit")
    with pytest.raises(MemoryFault) as err:
        prog.run(bytearray(16))
    assert err.value.pc == 1 and err.value.write and err.value.size == 8
    assert "stxdw" in err.value.insn


def test_stack_frames_below_the_current_one_fault():
    same("mov %r1, %r10\nldxdw %r0, [%r1-520]\nexit")          # frame 1 is not active
    same("ldxdw %r0, [%r10-520]\nexit")


def test_bpf_to_bpf_calls_frames_and_depth_limit():
    text = """
        mov %r6, 11
        stdw [%r10-8], 5
        mov %r1, %r10
        add %r1, -8
        call local +4
        add %r0, %r6          # r6 restored
        ldxdw %r2, [%r10-8]
        add %r0, %r2          # the callee wrote the caller's frame
        exit
        mov %r6, 1000
        ldxdw %r0, [%r1+0]
        stdw [%r1+0], 40
        stdw [%r10-8], 1      # its own frame
        exit
    """
    r0, _, _ = same(text)
    assert r0 == 5 + 11 + 40
    jit, interp = both("call local -1\nexit")                    # unbounded recursion
    assert jit == interp and jit[0] == CallDepthExceeded.__name__


def test_callx_to_a_function_and_to_a_helper_and_to_nothing():
    r0, _, _ = same("lddw %r2, func[f]\ncallx %r2\nadd %r0, 1\nexit\nf:\nmov %r0, 41\nexit")
    assert r0 == 42
    same("mov %r2, 8\ncallx %r2\nexit")          # bpf_get_smp_processor_id
    jit, interp = both("mov %r2, 123456\ncallx %r2\nexit")
    assert jit == interp and "callx to 0x" in jit[1]


def test_may_goto_budget_and_instruction_limit(monkeypatch):
    from pybpf.vm import interpreter

    monkeypatch.setattr(interpreter, "MAY_GOTO_BUDGET", 1000)   # the traced run is slow
    same("mov %r0, 0\nadd %r0, 1\nmay_goto +1\nja -3\nexit")
    jit, interp = both("ja -1\nexit", max_insns=1000)
    assert jit[0] == interp[0] == InstructionLimitExceeded.__name__


def test_lddw_map_references_and_kfunc_calls():
    vm = VM(jit=True)
    m = vm.create_map(MapSpec("a", "array", 4, 8, 4))
    fd = vm.fd_of(m)
    prog = vm.load(f"lddw %r1, map[fd:{fd}]\nmov %r2, %r10\nadd %r2, -4\nstw [%r10-4], 2\n"
                   f"call 1\njeq %r0, 0, +2\nstdw [%r0+0], 42\nmov %r0, 1\nexit")
    assert prog.run().r0 == 1
    assert m[2] == (42).to_bytes(8, "little")
    kfunc = encode(VM().load("call 1\nexit").insns).replace(b"\x85\x00", b"\x85\x20", 1)
    jit, interp = both(kfunc)
    assert jit == interp and "kfunc" in jit[1]


ARRAY_LOOKUPS = """
    mov %r6, 0
    mov %r7, 0
loop:
    stw [%r10-4], 0
    stxw [%r10-4], %r7
    lddw %r1, map[fd:{h}]     # index 3: the same call site with another map (the helper)
    jeq %r7, 3, +2
    lddw %r1, map[fd:{a}]
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, +3
    ldxdw %r3, [%r0+0]
    add %r6, %r3
    add %r6, 1000
    add %r7, 1
    jlt %r7, 6, loop          # index 4 and 5 are past max_entries: NULL
    lddw %r1, map[fd:{a}]
    mov %r2, %r10
    add %r2, -4
    stw [%r10-4], 1
    call 1
    mov %r9, %r0
    lddw %r1, map[fd:{a}]
    mov %r2, %r9              # a key off the stack (in map a's value 1): the helper
    call 1
    ldxdw %r0, [%r0+0]
    add %r0, %r6
    exit
"""


def test_array_lookups_are_inlined_and_agree():
    outcomes = []
    for jit in (True, False):
        vm = VM(jit=jit)
        a = vm.create_map(MapSpec("a", "array", 4, 8, 4))
        h = vm.create_map(MapSpec("h", "hash", 4, 8, 8))
        for i in range(4):
            a[i] = (i + 1).to_bytes(8, "little")
        a[1] = (2).to_bytes(8, "little")
        h[3] = (70).to_bytes(8, "little")
        prog = vm.load(ARRAY_LOOKUPS.format(a=vm.fd_of(a), h=vm.fd_of(h)))
        if jit:
            assert len(prog._compiled.layout.maps) == 3     # the three call sites
        outcomes.append(prog.run().r0)
    assert outcomes[0] == outcomes[1] == 3 + (1 + 2 + 3 + 70) + 4000


def test_tail_calls_stop_at_the_kernel_limit():
    prog, counter = self_tail_calling(VM(jit=True))
    assert prog.run().r0 == 7
    assert int.from_bytes(counter[0], "little") == 34      # the first run and 33 tail calls


def self_tail_calling(vm: VM):
    """(program, counter map): a program that adds 1 to the counter and
    tail-calls itself, to the kernel's limit of 33, then returns 7."""
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 1))
    counter = vm.create_map(MapSpec("n", "array", 4, 8, 1))
    text = (f"mov %r6, %r1\nstw [%r10-4], 0\nlddw %r1, map[fd:{vm.fd_of(counter)}]\n"
            f"mov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +2\nmov %r1, 1\n"
            f"lock add [%r0+0], %r1\nmov %r1, %r6\nlddw %r2, map[fd:{vm.fd_of(jumps)}]\n"
            f"mov %r3, 0\ncall 12\nmov %r0, 7\nexit")
    prog = vm.load(text)
    jumps[0] = prog
    return prog, counter


@pytest.mark.parametrize("repeat", [2, 3, 20])
def test_each_repeated_run_gets_the_whole_tail_call_limit(repeat):
    # test_run(repeat=N) runs in native batches, each numbering its runs
    # from 0: the first run of a batch used to keep the previous run's
    # tail-call count (repeat=2 counted 35 executions, not 68)
    prog, counter = self_tail_calling(VM(jit=True))
    assert prog.test_run(repeat=repeat).retval == 7
    assert int.from_bytes(counter[0], "little") == repeat * 34


def test_helpers_and_callbacks_run_through_python():
    vm = VM(jit=True)
    text = """
        mov %r1, 5
        lddw %r2, func[cb]
        mov %r3, 0
        mov %r4, 0
        call 181              # bpf_loop(5, cb, 0, 0)
        mov %r6, %r0
        call 7                # get_prandom_u32
        mov %r0, %r6
        exit
    cb:
        mov %r0, 0
        exit
    """
    prog = vm.load(text)
    assert prog.run().r0 == 5


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_program(max_size=25), st.binary(max_size=64))
def test_random_valid_programs_agree(program, mem):
    jit, interp = both(program, mem, max_insns=5000)
    assert jit == interp


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(any_slot, min_size=1, max_size=25))
def test_random_slots_agree(slots):
    jit, interp = both(encode(slots), b"\0" * 16, max_insns=5000)
    assert jit == interp


# --- test runs ------------------------------------------------------------------------------

def test_test_run_repeat_loops_in_native_code_and_agrees():
    vm = VM(jit=True)
    text = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r0, %r3\nsub %r0, %r2\nexit"
    prog = vm.load(text, prog_type="xdp")
    packet = bytes(range(64))
    once = prog.test_run(packet)
    many = prog.test_run(packet, repeat=1000)
    assert once.retval == many.retval == 64
    assert many.data_out == once.data_out == packet


def test_a_long_repeat_stops_on_ctrl_c():
    # cli fuzz seed 20261206 case 61358: test-run --repeat 2147483648 --jit
    # ran in one native call that Ctrl-C could not stop
    import _thread
    import threading
    import time

    prog = VM(jit=True).load("mov %r0, 0\nl: add %r0, 1\njlt %r0, 100, l\nexit")
    assert prog.test_run(b"", repeat=3000).retval == 100
    timer = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            prog.test_run(b"", repeat=(1 << 32) - 1)   # minutes of runs in one call
    finally:
        timer.cancel()
    assert time.monotonic() - started < 60
    assert prog.test_run(b"").retval == 100               # and the program still runs


@pytest.mark.parametrize("tier", ["baseline", "llvm"])
@pytest.mark.parametrize("how", ["run", "test_run", "bpf_loop callback"])
def test_an_endless_run_without_a_limit_stops_on_ctrl_c(how, tier, monkeypatch):
    # cli fuzz seed 20261208 case 23222: run loop.s --max-insns 0 --jit never
    # returned to Python, so Ctrl-C could not stop it
    import _thread
    import threading
    import time

    endless = "mov %r0, 0\nl: add %r0, 1\nja l\nexit"
    if how == "bpf_loop callback":
        endless = ("mov %r1, 2\nlddw %r2, func[cb]\nmov %r3, 0\nmov %r4, 0\ncall 181\n"
                   "exit\ncb: mov %r0, 0\nl: add %r0, 1\nja l\nexit")
    monkeypatch.setenv("PYBPF_JIT_TIER", tier)
    prog = VM(jit=True, max_insns=None).load(endless)
    assert prog._compiled.engine == "jit"
    assert getattr(prog._compiled, "tier", "llvm") == tier
    timer = threading.Timer(0.3, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            prog.run() if how == "run" else prog.test_run(b"")
    finally:
        timer.cancel()
    assert time.monotonic() - started < 30
    counted = VM(jit=True, max_insns=1000).load(endless)
    with pytest.raises(InstructionLimitExceeded):     # and the limits still hold
        counted.run()


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("text", [
    "mov %r0, %r1\nadd %r0, %r2\nadd %r0, 9\nexit",       # r1 = r2 = 0 without input
    "ldabsw 6\nmov %r0, 7\nexit",                             # a packet load of no packet
    "lddw %r0, 0x1234567890\nexit",                         # retval: the low 32 bits
])
def test_a_single_test_run_without_input_is_the_prepared_run(jit, text):
    """test_run(b"") of a memory program takes a shorter path than a run
    with input or repeats; it returns the same thing."""
    prog = VM(jit=jit).load(text)
    once, prepared = prog.test_run(b""), prog.test_run(bytearray(), repeat=2)
    assert (once.retval, once.data_out, once.ctx_out, once.r0, once.verdict, once.redirect) == \
        (prepared.retval, prepared.data_out, prepared.ctx_out, prepared.r0, prepared.verdict,
         prepared.redirect)

    def outcome(**kw):
        try:
            return prog.run(**kw).r0
        except BPFError as e:            # ldabs with no memory at all: refused
            return type(e)

    assert outcome() == outcome(args=[0, 0])
    assert prog.last_insn_count >= 2
    with pytest.raises(BPFError):
        prog.test_run(b"", repeat=-1)


def _straight_line(size: int, seed: int) -> str:
    """A loop-free program of about ``size`` instructions: ALU on r0..r5,
    stack stores and loads, accesses to the memory in r1, forward jumps."""
    import random

    rnd = random.Random(seed)
    lines = ["mov %r6, %r1"] + [f"mov %r{r}, {r + 3}" for r in range(6)]
    ops = ["add", "sub", "mul", "xor", "or", "and", "lsh", "rsh", "arsh", "mov", "div", "mod"]
    while len(lines) < size - 2:
        kind = rnd.random()
        if kind < 0.6:
            lines.append(f"{rnd.choice(ops)}{'32' if rnd.random() < 0.3 else ''} "
                         f"%r{rnd.randrange(6)}, {rnd.choice(['%r3', '%r4', str(rnd.randrange(1, 63))])}")
        elif kind < 0.75:
            lines.append(f"stxdw [%r10-{8 * rnd.randrange(1, 64)}], %r{rnd.randrange(6)}")
        elif kind < 0.85:
            lines.append(f"ldxdw %r{rnd.randrange(6)}, [%r10-{8 * rnd.randrange(1, 64)}]")
        elif kind < 0.92:
            lines.append(f"ldxb %r{rnd.randrange(6)}, [%r6+{rnd.randrange(16)}]")
        else:
            lines.append(f"jgt %r{rnd.randrange(6)}, {rnd.randrange(100)}, +{rnd.randrange(1, 8)}")
    lines += ["mov %r5, 0"] * 8 + ["mov %r0, %r2", "exit"]     # jumps land inside
    return "\n".join(lines)


def test_large_functions_without_loops_get_quick_code_generation():
    from pybpf.isa import assemble
    from pybpf.jit.codegen import QUICK_MIN_INSNS, Generator, Options

    def quick(text):
        gen = Generator(assemble(text), Options())
        gen.module()
        return gen.quick

    text = _straight_line(QUICK_MIN_INSNS + 50, seed=1)
    assert quick(text) == ["f0"]
    assert quick(text.replace("exit", "jeq %r0, 12345, -3\nexit")) == []   # a loop
    looping_callee = text.replace("exit", "call 1\nexit\nmov %r0, 1\njeq %r0, 2, -2\nexit")
    assert quick(looping_callee) == []            # a loop anywhere: nothing quick
    assert quick(_straight_line(QUICK_MIN_INSNS // 2, seed=1)) == []       # small
    for seed in range(3):                   # quick code computes what the interpreter does
        text = _straight_line(QUICK_MIN_INSNS + 100, seed)
        assert engine_of(VM(jit=True).load(text)) == "jit"
        jit, interp = both(text, bytes(range(16)))
        assert jit == interp and isinstance(jit[0], int)


# --- the cache ------------------------------------------------------------------------------

def test_the_disk_cache_is_private_and_serves_a_second_load(tmp_path, monkeypatch):
    from pybpf.jit import program as jitprogram

    where = tmp_path / "jit"
    monkeypatch.setenv("PYBPF_JIT_CACHE", str(where))
    monkeypatch.setenv("PYBPF_JIT_TIER", "llvm")     # LLVM's code is what goes to disk
    monkeypatch.setattr(jitprogram, "_native", {})
    text = "mov %r0, 17\nmul %r0, 3\nexit"
    assert VM(jit=True).load(text).run().r0 == 51
    entries = list(where.glob("*.jit"))
    assert len(entries) == 1
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    compiled = dict(jitprogram.compile_seconds)
    monkeypatch.setattr(jitprogram, "_native", {})
    assert VM(jit=True).load(text).run().r0 == 51
    assert jitprogram.compile_seconds == compiled          # loaded, not compiled
    entries[0].write_bytes(b"garbage")
    monkeypatch.setattr(jitprogram, "_native", {})
    assert VM(jit=True).load(text).run().r0 == 51           # a damaged entry is rewritten


def test_a_cached_load_trusts_only_its_own_validation_record(tmp_path, monkeypatch):
    """The disk cache records the programs that passed structural
    validation: a second load skips it, but only with a record this user
    owns, sealed, naming the exact key (bytecode, CPU version, validator)."""
    import pybpf.jit as jit
    from pybpf.isa import validate as real_validate

    where = tmp_path / "jit"
    monkeypatch.setenv("PYBPF_JIT_CACHE", str(where))
    calls = []

    def counting(insns, *, version):
        calls.append(version)
        real_validate(insns, version=version)

    monkeypatch.setattr(jit, "validate", counting)
    text = "mov %r0, 5\nadd %r0, 2\nexit"
    assert VM(jit=True).load(text).run().r0 == 7
    assert len(calls) == 1
    records = list(where.glob("*.valid"))
    assert len(records) == 1 and stat.S_IMODE(records[0].stat().st_mode) == 0o600
    assert VM(jit=True).load(text).run().r0 == 7
    assert len(calls) == 1                                  # validated from the record
    assert VM(jit=True, version=3).load(text).run().r0 == 7
    assert calls == [4, 3]                                  # another version: its own record
    # a record writable by others, or holding another key, is not trusted
    for record in where.glob("*.valid"):
        record.chmod(0o666)
    VM(jit=True).load(text)
    assert len(calls) == 3
    for record in where.glob("*.valid"):
        record.chmod(0o600)
        data = record.read_bytes()
        record.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the seal no longer matches
    VM(jit=True).load(text)
    assert len(calls) == 4
    # a malformed program is refused as before, and leaves no record
    before = set(where.glob("*.valid"))
    with pytest.raises(InstructionError):
        VM(jit=True).load([(0xFF, 0, 0, 0, 0), (0x95, 0, 0, 0, 0)])
    assert set(where.glob("*.valid")) == before


def test_cache_keys_differ_by_options():
    a = cache.key_of(b"x", ("a",))
    assert a != cache.key_of(b"x", ("b",)) and a != cache.key_of(b"y", ("a",))


# --- robustness -----------------------------------------------------------------------------

def fuzz(count: int, seed: int = 1) -> tuple[int, int, dict[str, int]]:
    """Run ``count`` random programs in child processes; returns (programs
    run, crashes, outcomes by kind).  A child that dies is restarted after
    the program that killed it."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    done, crashes = 0, 0
    kinds: dict[str, int] = {}
    while done < count:
        proc = subprocess.run([sys.executable, str(HERE / "fuzz_child.py"), str(seed),
                               str(done), str(count - done)], capture_output=True, text=True,
                              env=env, timeout=3600)
        last = done - 1
        for line in proc.stdout.splitlines():
            if line.startswith("done "):
                _, index, outcome = line.split(" ", 2)
                last = int(index)
                kind = outcome.split()[0]
                kinds[kind] = kinds.get(kind, 0) + 1
        if proc.returncode != 0:
            crashes += 1
            last += 1                      # the program that killed the child
            print(f"program {last} killed the child: {proc.returncode}\n{proc.stderr[-2000:]}")
        done = last + 1
    return done, crashes, kinds


def test_random_unverified_programs_never_crash_the_process():
    ran, crashes, kinds = fuzz(100)
    assert ran == 100 and crashes == 0
    assert kinds.get("jit", 0) > 0           # some of them ran to the end in native code


@pytest.mark.slow
def test_ten_thousand_random_unverified_programs_never_crash_the_process():
    ran, crashes, kinds = fuzz(10_000)
    print(f"\n{ran} programs, {crashes} crashes: {kinds}")
    assert ran == 10_000 and crashes == 0
