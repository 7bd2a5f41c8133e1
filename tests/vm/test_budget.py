"""One budget per run: every route a program has to more instructions —
callbacks, tail calls, subprograms, may_goto — counts against the same
instruction limit, a limit applies by default, and a wall-clock limit can
stop a run too."""

from __future__ import annotations

import time

import pytest

import pybpf.vm
from pybpf.errors import InstructionLimitExceeded
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec
from pybpf.vm import DEFAULT_MAX_INSNS, VM, TimeLimitExceeded

PACKET = bytes(12) + b"\x08\x00" + bytes(50)

# bpf_loop(1 << 23, callback): the most iterations the helper allows, with a
# callback of 10 instructions: 84 million instructions in all.
LOOP_MANY = """
    r1 = 8388608
    r2 = func[callback] ll
    r3 = 0
    r4 = 0
    call bpf_loop#181
    exit
callback:
    r0 = r1
    r0 += 1
    r0 += 1
    r0 += 1
    r0 += 1
    r0 += 1
    r0 += 1
    r0 += 1
    r0 = 0
    exit
"""


def test_bpf_loop_callbacks_share_the_runs_budget():
    vm = VM(max_insns=50_000)
    prog = vm.load(LOOP_MANY)
    start = time.monotonic()
    with pytest.raises(InstructionLimitExceeded, match="limit max_insns=50000") as info:
        prog.run()
    assert time.monotonic() - start < 20
    assert info.value.pc is not None and info.value.pc >= 7   # stopped inside the callback


def test_the_default_limit_stops_a_bpf_loop_of_84_million_instructions():
    assert VM().max_insns == DEFAULT_MAX_INSNS == 1_000_000
    prog = VM().load(LOOP_MANY)
    with pytest.raises(InstructionLimitExceeded, match="limit max_insns=1000000"):
        prog.run()


def test_the_default_limit_stops_an_endless_loop():
    with pytest.raises(InstructionLimitExceeded):
        VM().run("ja -1")
    with pytest.raises(InstructionLimitExceeded):
        pybpf.vm.run("ja -1")


def test_a_loaded_collection_has_the_default_limit():
    spec = ObjectSpec.build([ProgramSpec.from_assembly("spin", "l: goto l", type="xdp")], [])
    with pybpf.vm.load(spec, verify=False) as coll:     # the verifier refuses the loop itself
        assert coll.vm.max_insns == DEFAULT_MAX_INSNS
        with pytest.raises(InstructionLimitExceeded):
            coll.programs["spin"].test_run(PACKET)


def test_callback_instructions_are_counted_exactly():
    prog = VM().load("""
        r1 = 10
        r2 = func[cb] ll
        r3 = 0
        r4 = 0
        call bpf_loop#181
        exit
    cb:
        r0 = 0
        exit
    """)
    # 6 instructions of the main program (lddw counts once), 2 per callback
    assert prog.run().insn_count == 6 + 10 * 2


def test_for_each_map_elem_callbacks_share_the_budget():
    vm = VM(max_insns=20_000)
    arr = vm.create_map(MapSpec("arr", "array", 4, 8, 4096))
    prog = vm.load(f"""
        r1 = map[fd:{vm.fd_of(arr)}] ll
        r2 = func[cb] ll
        r3 = 0
        r4 = 0
        call bpf_for_each_map_elem#164
        exit
    cb:
        r0 = 0
        r1 = 0
    again:
        r1 += 1
        if r1 < 5 goto again
        exit
    """)
    with pytest.raises(InstructionLimitExceeded):   # 4096 callbacks of 13 instructions
        prog.run()
    vm.max_insns = 100_000
    assert prog.run().insn_count == 6 + 4096 * 13


def _tail_call_chain(vm: VM):
    """A program that spends about 2000 instructions, then tail-calls itself
    (33 times, the kernel's limit): about 68,000 instructions in all."""
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 1))
    prog = vm.load(f"""
        r6 = r1
        r7 = 1000
    spend:
        r7 -= 1
        if r7 != 0 goto spend
        r1 = r6
        r2 = map[fd:{vm.fd_of(jumps)}] ll
        r3 = 0
        call bpf_tail_call#12
        r0 = 2
        exit
    """, prog_type="xdp")
    jumps[0] = prog
    return prog


def test_tail_calls_share_the_budget():
    vm = VM(max_insns=None)
    prog = _tail_call_chain(vm)
    prog.test_run(PACKET)
    total = prog.last_insn_count
    assert 34 * 2000 < total < 34 * 2100      # the first run and 33 tail calls
    vm.max_insns = 20_000                      # each program alone stays far below
    with pytest.raises(InstructionLimitExceeded, match="limit max_insns=20000"):
        prog.test_run(PACKET)


def test_subprogram_calls_share_the_budget():
    vm = VM(max_insns=10_000)
    prog = vm.load("""
        r6 = 0
    again:
        call spend
        r6 += 1
        if r6 < 100 goto again
        r0 = r6
        exit
    spend:
        r1 = 50
    down:
        r1 -= 1
        if r1 != 0 goto down
        r0 = 0
        exit
    """)
    with pytest.raises(InstructionLimitExceeded):     # 100 calls of about 100 instructions
        prog.run()
    vm.max_insns = 20_000
    assert prog.run().r0 == 100


def test_may_goto_loops_count_against_the_budget():
    vm = VM(max_insns=10_000)
    with pytest.raises(InstructionLimitExceeded):
        vm.run("mov %r0, 0\nmay_goto +2\nadd %r0, 1\nja -3\nexit")


def test_each_run_and_each_repetition_starts_a_fresh_budget():
    vm = VM(max_insns=2_000)
    prog = vm.load("mov %r0, 0\nmov %r1, 600\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit",
                   prog_type="xdp")
    for _ in range(3):
        assert prog.run().insn_count == 2 + 3 * 600 + 1
    assert prog.test_run(PACKET, repeat=5).retval == 600


def test_unlimited_only_when_asked():
    vm = VM(max_insns=None)
    result = vm.run("mov %r0, 0\nmov %r1, 400000\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit")
    assert result.r0 == 400000 and result.insn_count > DEFAULT_MAX_INSNS


def test_a_wall_clock_limit_stops_a_run():
    vm = VM(max_insns=None, max_seconds=0.3)
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"more than 0\.3 s"):
        vm.run("ja -1")
    assert 0.3 <= time.monotonic() - start < 5
    # ... callbacks included: each is short, the run is long
    vm = VM(max_insns=None, max_seconds=0.3)
    with pytest.raises(TimeLimitExceeded):
        vm.load(LOOP_MANY).run()
    assert issubclass(TimeLimitExceeded, InstructionLimitExceeded)


def test_a_time_limit_leaves_short_runs_alone():
    vm = VM(max_seconds=30)
    assert vm.run("mov %r0, 0\nmov %r1, 1000\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\n"
                  "exit").r0 == 1000
