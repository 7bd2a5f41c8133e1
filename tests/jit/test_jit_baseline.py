"""The baseline tier (machine code without LLVM) against the interpreter,
and the switch to LLVM's code when a program is hot.

Every test here forces the tier (``PYBPF_JIT_TIER``) and checks that the
code running is the tier's.  As in ``test_jit.py``, each program runs in
native code and in the interpreter (a traced run of the same loaded
program) and the outcomes must be the same: r0, instructions executed,
memory, or the error's type and text (pc and instruction).  The whole
conformance suite runs under ``-m slow``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llvmlite")

from conftest import SHARED, shared_params
from pybpf.conformance import load_data_file, run_test
from pybpf.errors import BPFError, MemoryFault
from pybpf.isa import encode
from pybpf.jit import JitProgram, baseline, tiers
from pybpf.jit.codegen import Options, Unsupported
from pybpf.objects import MapSpec
from pybpf.vm import VM, Tracer
from strategies import any_slot, valid_program

CONFORMANCE = sorted((SHARED / "conformance" / "tests").glob("*.data"))
#: Conformance programs in the default run: one in this many.
CONFORMANCE_SAMPLE = 6


@pytest.fixture(autouse=True)
def baseline_tier(monkeypatch):
    monkeypatch.setenv(tiers.TIER_ENV, "baseline")


def tier_of(prog) -> str:
    return getattr(prog._compiled, "tier", "interpreter")


def both(text_or_code, mem: bytes = b"", **vm_options) -> tuple[tuple, tuple]:
    """(baseline outcome, interpreter outcome) of one program on one buffer."""
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
    prog = VM(jit=True, **vm_options).load(text_or_code)
    assert tier_of(prog) == "baseline"
    jit, interp = both(text_or_code, mem, **vm_options)
    assert jit == interp
    return jit


def _conformance_params() -> list:
    params = shared_params(CONFORMANCE, lambda p: p.stem, "conformance", "tests")
    return [p if i % CONFORMANCE_SAMPLE == 0 or p.id == "shared-absent"
            else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
            for i, p in enumerate(params)]


@pytest.mark.parametrize("path", _conformance_params())
def test_conformance_in_baseline_code(path):
    test = load_data_file(path)

    def runner(program: bytes, mem: bytes) -> int:
        prog = VM(jit=True, max_insns=10_000_000).load(program)
        assert tier_of(prog) == "baseline"
        return prog.run(mem).r0

    outcome = run_test(test, runner)
    assert outcome.passed, outcome.error


def random_programs_agree(examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(valid_program(max_size=25), st.binary(max_size=64))
    def check(program, mem):
        jit, interp = both(program, mem, max_insns=5000)
        assert jit == interp
    check()


def random_slots_agree(examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(any_slot, min_size=1, max_size=25))
    def check(slots):
        jit, interp = both(encode(slots), b"\0" * 16, max_insns=5000)
        assert jit == interp
    check()


def test_random_programs_and_slots_agree():
    random_programs_agree(25)
    random_slots_agree(60)


@pytest.mark.slow
def test_many_random_programs_and_slots_agree():
    random_programs_agree(1500)
    random_slots_agree(3000)


ALU = """
    lddw %r1, 0x8000000000000000
    mov %r2, -1
    mov %r0, %r1
    div %r0, 0
    mov %r3, %r1
    sdiv %r3, %r2
    add %r0, %r3
    mov %r4, %r1
    smod %r4, %r2
    add %r0, %r4
    mov %r5, 77
    mod %r5, 0
    add %r0, %r5
    mov32 %r6, 0x80000000
    sdiv32 %r6, -1
    add %r0, %r6
    mov %r7, -5
    smod32 %r7, 0
    add %r0, %r7
    lddw %r7, 0xffffffff00000005
    mod32 %r7, 3
    add %r0, %r7
    mov %r8, 1
    lsh %r8, 65
    add %r0, %r8
    lddw %r9, 0xfedcba9876543210
    mov %r1, 0
    rsh32 %r9, %r1        # a count of 0 still clears the upper half
    add %r0, %r9
    lddw %r9, 0xfedcba9876543210
    lsh32 %r9, 0
    add %r0, %r9
    mov %r1, 0x1234
    movsx864 %r2, %r1
    add %r0, %r2
    mov %r1, 0xff80
    movsx1664 %r3, %r1
    add %r0, %r3
    movsx832 %r3, %r1
    add %r0, %r3
    lddw %r1, 0x80000000
    movsx3264 %r3, %r1
    add %r0, %r3
    lddw %r4, 0x1122334455667788
    be16 %r4
    add %r0, %r4
    lddw %r4, 0x1122334455667788
    be32 %r4
    add %r0, %r4
    lddw %r4, 0x1122334455667788
    be64 %r4
    add %r0, %r4
    lddw %r4, 0x1122334455667788
    le16 %r4
    add %r0, %r4
    lddw %r4, 0x1122334455667788
    le32 %r4
    add %r0, %r4
    mov32 %r6, -1
    arsh32 %r6, 4
    add %r0, %r6
    mov %r6, -7
    arsh %r6, %r8
    add %r0, %r6
    mul32 %r6, 100000
    add %r0, %r6
    mov %r1, %r10
    sub %r1, %r0
    neg32 %r1
    xor %r0, %r1
    exit
"""


def test_alu_corner_cases():
    _r0, count, _ = same(ALU)
    assert count > 60


@pytest.mark.parametrize("cond", ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge",
                                  "jslt", "jsle", "jset"])
@pytest.mark.parametrize("width", ["", "32"])
def test_every_branch_on_registers_and_immediates(cond, width):
    values = (0, 1, -1, 0x7FFFFFFF, -0x80000000, 0x100000000)
    lines = ["mov %r0, 0"]
    for a in values:
        for b in values:
            lines += [f"lddw %r1, {a & (2**64 - 1):#x}", f"lddw %r2, {b & (2**64 - 1):#x}",
                      "mul %r0, 3", f"{cond}{width} %r1, %r2, +1", "ja +1", "or %r0, 1"]
            if -(1 << 31) <= b < (1 << 31):
                lines += ["mul %r0, 3", f"{cond}{width} %r1, {b}, +1", "ja +1", "or %r0, 1"]
    same("\n".join([*lines, "exit"]))


def test_memory_faults_and_stack_bounds_agree():
    jit, interp = both("mov %r1, 4096\nldxdw %r0, [%r1+8]\nexit")
    assert jit == interp and jit[0] == "MemoryFault"
    prog = VM(jit=True).load("mov %r0, 0\nstxdw [%r1+12], %r0\nexit")
    assert tier_of(prog) == "baseline"
    with pytest.raises(MemoryFault) as err:
        prog.run(bytearray(16))
    assert err.value.pc == 1 and err.value.write and err.value.size == 8
    same("mov %r1, %r10\nldxdw %r0, [%r1-520]\nexit")
    same("mov %r1, %r10\nstxb [%r1-512], %r1\nldxb %r0, [%r1-512]\nexit")
    same("ldxdw %r0, [%r10-520]\nexit")
    same("ldxw %r0, [%r1+0]\nldxh %r2, [%r1+6]\nldxb %r3, [%r1+7]\nstxb [%r1+3], %r2\n"
         "stb [%r1+4], -1\nsth [%r1+0], 0x1234\nstw [%r1+8], -2\nstdw [%r1+8], -3\n"
         "ldxsb %r4, [%r1+4]\nldxsh %r5, [%r1+4]\nldxsw %r6, [%r1+4]\nadd %r0, %r4\n"
         "add %r0, %r5\nadd %r0, %r6\nexit", bytes(range(16)))


def test_calls_frames_depth_callx_and_atomics():
    text = """
        mov %r6, 11
        stdw [%r10-8], 5
        mov %r1, %r10
        add %r1, -8
        call local +4
        add %r0, %r6
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        exit
        mov %r6, 1000
        ldxdw %r0, [%r1+0]
        stdw [%r1+0], 40
        stdw [%r10-8], 1
        exit
    """
    r0, _, _ = same(text)
    assert r0 == 5 + 11 + 40
    jit, interp = both("call local -1\nexit")
    assert jit == interp and jit[0] == "CallDepthExceeded"
    assert same("lddw %r2, func[f]\ncallx %r2\nadd %r0, 1\nexit\nf:\nmov %r0, 41\nexit")[0] == 42
    same("mov %r2, 8\ncallx %r2\nexit")
    jit, interp = both("mov %r2, 123456\ncallx %r2\nexit")
    assert jit == interp and "callx to 0x" in jit[1]
    same("stdw [%r10-8], 3\nmov %r1, 4\nlock add [%r10-8], %r1\nmov %r0, 3\n"
         "lock cmpxchg [%r10-8], %r1\nldxdw %r2, [%r10-8]\nadd %r0, %r2\nexit")


def test_limits_and_may_goto_count_as_the_interpreter_counts(monkeypatch):
    from pybpf.vm import interpreter

    monkeypatch.setattr(interpreter, "MAY_GOTO_BUDGET", 1000)
    same("mov %r0, 0\nadd %r0, 1\nmay_goto +1\nja -3\nexit")
    jit, interp = both("ja -1\nexit", max_insns=1000)
    assert jit[0] == interp[0] == "InstructionLimitExceeded"
    jit, interp = both("mov %r0, 0\nadd %r0, 1\njlt %r0, 100, -2\nexit", max_insns=150)
    assert jit == interp


MAPS = """
    mov %r6, 0
loop:
    stxw [%r10-4], %r6
    lddw %r1, map[fd:{a}]
    mov %r2, %r10
    add %r2, -4
    call 1                    # lookup in the array
    jeq %r0, 0, +2
    mov %r1, 5
    lock add [%r0+0], %r1
    stxw [%r10-4], %r6
    stxdw [%r10-16], %r6
    lddw %r1, map[fd:{h}]
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, 0
    call 2                    # update the hash map
    add %r6, 1
    jlt %r6, 6, loop
    stw [%r10-4], 3
    lddw %r1, map[fd:{h}]
    mov %r2, %r10
    add %r2, -4
    call 1
    ldxdw %r0, [%r0+0]
    exit
"""


def test_maps_and_helpers_end_the_same():
    outcomes = []
    for jit in (True, False):
        vm = VM(jit=jit)
        a = vm.create_map(MapSpec("a", "array", 4, 8, 4))
        h = vm.create_map(MapSpec("h", "hash", 4, 8, 8))
        prog = vm.load(MAPS.format(a=vm.fd_of(a), h=vm.fd_of(h)))
        if jit:
            assert tier_of(prog) == "baseline"
        result = prog.run()
        outcomes.append((result.r0, result.insn_count, dict(a.items()), dict(h.items())))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 3


def test_a_program_the_baseline_cannot_translate_gets_llvm_code():
    with pytest.raises(Unsupported):
        baseline.translate(VM().load("mov %r10, 1\nmov %r0, 0\nexit", check=False).insns,
                           Options())
    prog = VM(jit=True).load("mov %r10, 1\nmov %r0, 0\nexit", check=False)
    assert tier_of(prog) == "llvm" and prog.run().r0 == 0


# --- tiering up ---------------------------------------------------------------------------

LOOP = """
    mov %r0, 0
    mov %r1, 0
loop:
    add %r0, %r1
    stxdw [%r10-8], %r0
    ldxdw %r2, [%r10-8]
    xor %r0, %r2
    add %r0, %r2
    add %r1, 1
    jlt %r1, 50, loop
    exit
"""


def test_a_hot_program_tiers_up_to_llvm_code_and_still_agrees(monkeypatch):
    monkeypatch.setenv(tiers.TIER_ENV, "auto")
    monkeypatch.setattr(tiers, "cached_native_code", lambda *a: None)   # as if never compiled
    vm = VM(jit=True)
    prog = vm.load(LOOP, prog_type="xdp")
    compiled = prog._compiled
    assert compiled.tier == "baseline"
    first = prog.run()
    compiled.tier_up_at = 5 * first.insn_count      # hot after a few runs
    assert prog.test_run(bytes(64)).retval == first.r0 and compiled.tier == "baseline"
    many = prog.test_run(bytes(64), repeat=100)     # the switch happens between batches
    assert compiled.tier == "llvm"
    assert compiled.native is not compiled._retired[0]
    assert many.retval == first.r0
    after = prog.run()
    assert (after.r0, after.insn_count) == (first.r0, first.insn_count)
    traced = prog.run(trace=Tracer(prog.insns, keep=True))
    assert (traced.r0, traced.insn_count) == (after.r0, after.insn_count)


def test_runs_from_python_count_toward_the_switch(monkeypatch):
    monkeypatch.setenv(tiers.TIER_ENV, "auto")
    monkeypatch.setattr(tiers, "cached_native_code", lambda *a: None)
    prog = VM(jit=True).load(LOOP)
    compiled = prog._compiled
    compiled.tier_up_at = 1000
    results = {prog.run().r0 for _ in range(5)}
    assert compiled.tier == "llvm" and len(results) == 1
    assert compiled.baseline_executed >= 1000


def test_forced_tiers(monkeypatch):
    prog = VM(jit=True).load(LOOP)
    prog._compiled.tier_up_at = 0
    prog.run()
    assert tier_of(prog) == "baseline"              # baseline: never tiers up
    monkeypatch.setenv(tiers.TIER_ENV, "llvm")
    assert type(VM(jit=True).load(LOOP)._compiled) is JitProgram     # as before the tiers


def test_map_lookups_llvm_code_inlines_weigh_toward_the_switch(monkeypatch):
    monkeypatch.setenv(tiers.TIER_ENV, "auto")
    monkeypatch.setattr(tiers, "cached_native_code", lambda *a: None)
    vm = VM(jit=True)
    a = vm.create_map(MapSpec("a", "array", 4, 8, 4))
    h = vm.create_map(MapSpec("h", "hash", 4, 8, 8))
    prog = vm.load(MAPS.format(a=vm.fd_of(a), h=vm.fd_of(h)))
    compiled = prog._compiled
    assert len(compiled.lookup_sites) == 3          # the array lookup, the hash update and lookup
    compiled.tier_up_at = 3 * tiers.LOOKUP_WEIGHT   # 13 native calls a run, ~150 instructions
    first = prog.run()
    assert first.insn_count < compiled.tier_up_at <= compiled.baseline_executed
    assert compiled.tier == "llvm"
    assert prog.run().r0 == first.r0 == 3
