"""The default engine: a program starts in the interpreter and moves to the
JIT once it has interpreted about as much as a compile costs
(:class:`pybpf.vm.engines.WarmingProgram`).  Results, counts and map
effects are the same on both sides of the move; where the JIT cannot run
or fails, the program stays in the interpreter."""

from __future__ import annotations

import time
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llvmlite")

from test_jit import self_tail_calling

from pybpf.errors import BPFError
from pybpf.jit import JitProgram
from pybpf.objects import MapSpec
from pybpf.vm import VM, TimeLimitExceeded, engines
from pybpf.vm.engines import WarmingProgram
from pybpf.vm.interpreter import CompiledProgram
from strategies import valid_program

LOOP = "mov %r0, 0\nmov %r1, 1000\nloop:\nadd %r0, 3\nsub %r1, 1\njne %r1, 0, loop\nexit"

#: Adds 1 to slot 0 of array map {fd} on every run and returns the new value.
COUNT_RUNS = """
    stw [%r10-4], 0
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, +4
    mov %r1, 1
    lock add [%r0+0], %r1
    ldxdw %r0, [%r0+0]
    exit
    mov %r0, 0
    exit
"""


@pytest.fixture(autouse=True)
def default_engine(monkeypatch):
    """The default engine, whatever the environment running the tests says."""
    monkeypatch.delenv(engines.JIT_DEFAULT_VARIABLE, raising=False)


def test_a_program_starts_interpreted_and_moves_to_the_jit_when_hot():
    prog = VM().load(LOOP)
    warming = prog._compiled
    assert type(warming) is WarmingProgram
    assert warming.warm_at == engines.WARM_BASE + engines.WARM_PER_INSN * len(prog.insns)
    first = prog.run()
    assert (first.r0, first.insn_count) == (3000, 3003)
    assert prog._compiled is warming and warming.interpreted == 3003
    warming.warm_at = 3 * 3003                      # hot after the third run
    results = [prog.run() for _ in range(4)]
    assert [(r.r0, r.insn_count) for r in results] == [(3000, 3003)] * 4
    assert isinstance(prog._compiled, JitProgram) and prog._compiled is warming.compiled
    assert warming.interpreted == 3 * 3003          # the fourth run was native
    assert prog.test_run().retval == 3000 and prog.last_insn_count == 3003


def test_a_program_run_once_is_never_compiled():
    prog = VM().load(LOOP)
    prog.run()
    assert type(prog._compiled) is WarmingProgram and prog._compiled.compiled is None


def test_the_default_threshold_moves_a_hot_loop():
    prog = VM().load(LOOP)
    runs = 0
    while type(prog._compiled) is WarmingProgram:
        assert prog.run().r0 == 3000
        runs += 1
        assert runs < 1000, "never moved"
    expected = -(-(engines.WARM_BASE + engines.WARM_PER_INSN * len(prog.insns)) // 3003)
    assert runs == expected


def test_a_repeated_test_run_moves_midway_and_runs_exactly_n_times():
    vm = VM()
    counter = vm.create_map(MapSpec("runs", "array", 4, 8, 1))
    prog = vm.load(COUNT_RUNS.format(fd=vm.fd_of(counter)))
    warming = prog._compiled
    warming.warm_at = 5 * warming.insns.__len__()      # a few runs interpreted
    result = prog.test_run(repeat=1000)
    assert result.retval == 1000                         # the last run saw 1000
    assert int.from_bytes(counter[0], "little") == 1000
    assert isinstance(prog._compiled, JitProgram)
    assert 0 < warming.interpreted < 1000 * len(prog.insns)
    assert prog.last_insn_count == prog.run().insn_count


def test_each_repetition_gets_the_whole_tail_call_limit_across_the_move():
    # a program that tail-calls itself to the kernel's limit (33) every run:
    # the first native run after the move must not inherit the last
    # interpreted run's count of tail calls
    prog, counter = self_tail_calling(VM())
    prog._compiled.warm_at = 3 * 34 * len(prog.insns)
    assert prog.test_run(repeat=20).retval == 7
    assert isinstance(prog._compiled, JitProgram)
    assert int.from_bytes(counter[0], "little") == 20 * 34


def test_plain_interpreter_and_eager_jit_stay_as_asked(monkeypatch):
    assert type(VM(jit=False).load(LOOP)._compiled) is CompiledProgram
    assert isinstance(VM(jit=True).load(LOOP)._compiled, JitProgram)
    monkeypatch.setenv(engines.JIT_DEFAULT_VARIABLE, "0")
    assert type(VM().load(LOOP)._compiled) is CompiledProgram
    monkeypatch.setenv(engines.JIT_DEFAULT_VARIABLE, "1")
    assert isinstance(VM().load(LOOP)._compiled, JitProgram)


def test_a_tail_call_target_counts_what_it_interprets():
    vm = VM()
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 1))
    target = vm.load(LOOP)
    jumps[0] = target
    caller = vm.load(f"lddw %r2, map[fd:{vm.fd_of(jumps)}]\nmov %r3, 0\ncall 12\n"
                     f"mov %r0, 1\nexit")
    assert caller.run().r0 == 3000
    assert target._compiled.interpreted == 3003


def test_where_the_jit_cannot_load_the_program_stays_without_a_warning(monkeypatch):
    monkeypatch.setattr(engines, "ENGINES", {})
    monkeypatch.setattr(engines, "ENGINE_PACKAGES", {"jit": "pybpf_no_such_package"})
    prog = VM().load(LOOP)
    prog._compiled.warm_at = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [prog.run().r0 for _ in range(3)] == [3000] * 3
    assert type(prog._compiled) is WarmingProgram
    assert prog._compiled.warm_at == float("inf")       # it stopped trying


def test_a_failing_compile_leaves_the_program_interpreted_with_a_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("no room for code")
    monkeypatch.setitem(engines.ENGINES, "jit", broken)
    prog = VM().load(LOOP)
    prog._compiled.warm_at = 1
    with pytest.warns(RuntimeWarning, match="stays in the interpreter.*no room for code"):
        assert prog.run().r0 == 3000
    assert prog.run().r0 == 3000 and type(prog._compiled) is WarmingProgram


def test_the_verification_goes_to_the_compiler(monkeypatch):
    from pybpf.verifier import verify

    seen = []
    factory = engines.engine("jit")

    def recording(*args, **kwargs):
        seen.append(kwargs.get("verification"))
        return factory(*args, **kwargs)
    monkeypatch.setitem(engines.ENGINES, "jit", recording)
    vm = VM()
    proof = verify(vm.load(LOOP).insns, prog_type="socket_filter")
    prog = vm.load(LOOP, verification=proof)
    prog._compiled.warm_at = 1
    prog.run()
    assert seen == [proof] and isinstance(prog._compiled, JitProgram)


# --- moving during a run (on-stack replacement) ---------------------------------------

#: r1 (the memory) gets {n} bytes of a pattern through a stack buffer:
#: bytes written to the stack in one loop, copied out in a second.
TWO_LOOPS = """
    mov %r6, %r1
    mov %r2, %r10
    add %r2, -256
    mov %r3, 0
fill:
    mov %r4, %r3
    mul %r4, 7
    add %r4, 3
    stxb [%r2+0], %r4
    add %r2, 1
    add %r3, 1
    jne %r3, 256, fill
    mov %r3, 0
    mov %r0, 0
copy:
    mov %r2, %r3
    and %r2, 255
    mov %r4, %r10
    add %r4, -256
    add %r4, %r2
    ldxb %r5, [%r4+0]
    mov %r4, %r6
    add %r4, %r3
    stxb [%r4+0], %r5
    add %r0, %r5
    add %r3, 1
    jne %r3, {n}, copy
    exit
"""


def interpreted(text, mem: bytes = b"", **vm_options):
    """The outcome of one run of ``text`` (program text or instructions) in
    the interpreter: (r0, count, memory after), or the error's type and text."""
    return moving(text, None, mem, jit=False, **vm_options)[0]


def moving(text, warm_at: int | None, mem: bytes = b"", **vm_options):
    """The outcome of one run of ``text`` under the default engine, made hot
    after ``warm_at`` interpreted instructions, and the program (None when
    the load failed)."""
    buffer = bytearray(mem)
    prog = None
    try:
        prog = VM(**vm_options).load(text)
        if warm_at is not None:
            prog._compiled.warm_at = prog._compiled.midway_at = warm_at
        result = prog.run(buffer)
    except BPFError as e:
        return (type(e).__name__, str(e)), prog
    return (result.r0, result.insn_count, bytes(buffer)), prog


def test_one_long_run_moves_to_native_code_at_the_loop_where_it_gets_hot():
    long_loop = LOOP.replace("1000", "1000000")
    outcome, prog = moving(long_loop, 10_000, max_insns=None)
    assert outcome == interpreted(long_loop, max_insns=None) == (3_000_000, 3_000_003, b"")
    warming = prog._compiled
    assert isinstance(warming, JitProgram) and warming.options.resume_at == 2
    assert prog._compiled.insn_count == outcome[1]        # the JIT counted on to the end
    assert prog.run().r0 == 3_000_000                     # later runs: native from the start


def test_the_stack_frame_registers_and_memory_carry_over():
    for n, warm_at in ((600, 500), (600, 2_500), (5_000, 4_000)):  # in the fill, in the copy
        text = TWO_LOOPS.format(n=n)
        outcome, prog = moving(text, warm_at, bytes(n))
        assert outcome == interpreted(text, bytes(n)), (n, warm_at)
        assert isinstance(prog._compiled, JitProgram)
        resumed = prog._compiled.options.resume_at
        assert resumed == (4 if warm_at < 7 * 256 else 13), (n, warm_at)


def test_limits_hold_across_the_move():
    long_loop = LOOP.replace("1000", "1000000")
    for limit in (20_000, 20_001, 2_000_000):
        outcome, _ = moving(long_loop, 10_000, max_insns=limit)
        assert outcome == interpreted(long_loop, max_insns=limit), limit
        assert outcome[0] == "InstructionLimitExceeded"
    endless = "mov %r0, 0\nadd %r0, 1\nja -2\nexit"
    prog = VM(max_insns=None, max_seconds=0.3).load(endless)
    prog._compiled.warm_at = prog._compiled.midway_at = 10_000
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded):
        prog.run()
    assert time.monotonic() - start < 3
    assert isinstance(prog._compiled, JitProgram)


def test_a_loop_in_a_called_function_does_not_move_the_run():
    text = """
        mov %r1, 200000
        call local sub
        add %r0, 1
        exit
    sub:
        mov %r0, 0
    again:
        add %r0, 2
        sub %r1, 1
        jne %r1, 0, again
        exit
    """
    outcome, prog = moving(text, 10_000)
    assert outcome == interpreted(text) == (400_001, 600_006, b"")
    assert isinstance(prog._compiled, JitProgram)          # moved after the run
    assert prog._compiled.options.resume_at is None


def test_a_may_goto_loop_does_not_move_the_run(monkeypatch):
    from pybpf.vm import interpreter

    monkeypatch.setattr(interpreter, "MAY_GOTO_BUDGET", 5_000)
    text = "mov %r0, 0\nadd %r0, 1\nmay_goto +1\nja -3\nexit"
    outcome, prog = moving(text, 1_000)
    assert outcome == interpreted(text) == (5_001, 15_004, b"")
    assert prog._compiled.options.resume_at is None         # moved after the run


def test_a_program_interpreted_in_chunks_moves_too():
    from pybpf.vm.interpreter import CHUNK_INSNS

    straight = "\n".join(["mov %r2, 1"] * (CHUNK_INSNS + 100))
    text = f"mov %r0, 0\nmov %r1, 100000\n{straight}\nloop:\nadd %r0, 3\nsub %r1, 1\n" \
           "jne %r1, 0, loop\nexit"
    outcome, prog = moving(text, 50_000, max_insns=None)
    assert outcome == interpreted(text, max_insns=None) == (300_000, 300_000 + CHUNK_INSNS + 103,
                                                            b"")
    assert prog._compiled.options.resume_at == CHUNK_INSNS + 102


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_program(max_size=25), st.binary(max_size=64), st.integers(0, 300))
def test_random_programs_moving_at_any_point_agree_with_the_interpreter(program, mem, warm_at):
    outcome, _ = moving(program, warm_at, mem, max_insns=5000)
    assert outcome == interpreted(program, mem, max_insns=5000)


def test_a_run_moves_midway_later_than_between_runs():
    prog = VM().load(LOOP)
    warming = prog._compiled
    assert warming.midway_at == max(warming.warm_at, engines.MIDWAY_BASE
                                    + engines.MIDWAY_PER_INSN * len(prog.insns))
    outcome, prog = moving(LOOP.replace("1000", "100000"), None, max_insns=None)
    assert outcome == (300_000, 300_003, b"")   # past warm_at, short of midway_at
    assert isinstance(prog._compiled, JitProgram) and prog._compiled.resume_at is None
