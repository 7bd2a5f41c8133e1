"""The interpreter and the JIT agree on the VM's own test programs.

A selection of the programs of tests/vm, tests/helpers and tests/maps — the
scenarios the interpreter's tests check, built the same way in two VMs,
one per engine — runs on both engines; everything a test could observe must
be the same: r0, the instructions executed, the packet and memory left
behind, the maps, and an error's type, message and pc.  This is what
``PYBPF_JIT=1`` (the JIT as every VM's default engine) relies on; the
differences found by running the whole suite that way are regression cases
here (the run's one instruction budget across helper callbacks and tail
calls; the registers a bpf-to-bpf call hands its callee).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("llvmlite")

from pybpf.errors import BPFError
from pybpf.helpers import HelperRegistry
from pybpf.helpers.environment import Environment
from pybpf.objects import MapSpec
from pybpf.vm import VM

PACKET = bytes(12) + b"\x08\x00" + bytes(range(50))


def outcome(call: Callable[[], object]) -> object:
    """What ``call`` returned, or its error as (type, message, pc)."""
    try:
        return call()
    except BPFError as e:
        return type(e).__name__, str(e), getattr(e, "pc", None)


def engine_of(prog) -> str:
    return getattr(prog._compiled, "engine", "interpreter")


def ran(prog, *args, **kwargs) -> tuple:
    """A run's r0, instruction count and memory, or its error."""
    def go():
        result = prog.run(*args, **kwargs)
        return result.r0, result.insn_count, bytes(result.mem or b"")
    return outcome(go)


def test_ran(prog, data: bytes = PACKET) -> tuple:
    """A test run's retval, packet out and instruction count, or its error."""
    def go():
        result = prog.test_run(data)
        return result.retval, bytes(result.data_out), prog.last_insn_count
    return outcome(go)


test_ran.__test__ = False          # a helper, not a test


def contents(m) -> list:
    return sorted((bytes(k), bytes(v)) for k, v in m.items())


# --- the scenarios: each builds what it needs in ``vm`` and returns what a test sees ---

LOOP_SUM = "mov %r0, 0\nmov %r1, 1000\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit"


def alu_and_jumps(vm: VM):
    text = """
        lddw %r1, 0x8000000000000000
        mov %r2, -7
        mov %r0, %r1
        sdiv %r0, -1
        smod %r2, 2
        add %r0, %r2
        mov32 %r3, -16
        arsh32 %r3, 2
        add %r0, %r3
        lddw %r4, 0x1122334455667788
        be16 %r4
        add %r0, %r4
        mov %r5, 7
        div %r5, 0
        add %r0, %r5
        jsgt %r2, 0, +1
        add %r0, 1
        exit
    """
    return ran(vm.load(text)), ran(vm.load(LOOP_SUM))


def stack_frames_and_calls(vm: VM):
    callee_saved = """
        mov %r6, 1
        stdw [%r10-8], 5
        mov %r1, %r10
        add %r1, -8
        call local f
        add %r0, %r6
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        exit
    f:
        mov %r6, 100
        ldxdw %r0, [%r1+0]
        stdw [%r1+0], 9
        ldxdw %r3, [%r10-8]
        add %r0, %r3
        exit
    """
    recurse = "call local f\nexit\nf:\ncall local f\nexit"
    return ran(vm.load(callee_saved)), ran(vm.load(recurse))


def faults(vm: VM):
    return [ran(vm.load(text)) for text in (
        "mov %r1, 0\nldxw %r0, [%r1+0]\nexit",
        "lddw %r1, 0x7fffdeadbeef\nstxw [%r1+0], %r1\nexit",
        "stdw [%r10-520], 1\nexit",
        "mov %r2, 0x123456\ncallx %r2\nexit",
        "call 5\nexit",
        "ja -1",
    )]


def memory_and_legacy_packet_loads(vm: VM):
    buffer = bytes(8)
    packet = bytes.fromhex("0800450000140001")
    return [ran(vm.load("mov %r2, 0x1234\nstxh [%r1+2], %r2\nstb [%r1+7], 9\n"
                        "ldxdw %r0, [%r1+0]\nexit"), bytearray(buffer)),
            ran(vm.load("ldabsh 0\nexit"), bytearray(packet)),
            ran(vm.load("mov %r1, 2\nldindw %r1, 0\nexit"), bytearray(packet)),
            ran(vm.load("ldabsw 6\nmov %r0, 7\nexit"), bytearray(packet))]


def callx_may_goto_and_helpers(vm: VM):
    registry = HelperRegistry()
    registry.add(77, lambda ctx, a, b, c, d, e: a + b * 10, "sum")
    registry.add(9, lambda ctx, *a: 1 // 0, "broken")

    def loop(ctx, count, callback, data, *_):
        return sum(ctx.invoke(callback, i, data) for i in range(count))

    registry.add(181, loop, "loop")
    own = VM(helpers=registry, jit=vm.engine is not None)
    return [ran(own.load("mov %r1, 3\nmov %r2, 4\nmov %r3, 77\ncallx %r3\nexit")),
            ran(own.load("call 9\nexit")),
            ran(own.load("mov %r1, 4\nlddw %r2, func[cb]\nmov %r3, 10\ncall 181\nexit\n"
                         "cb:\nmov %r0, %r1\nadd %r0, %r2\nexit")),
            ran(vm.load("lddw %r2, func[f]\ncallx %r2\nadd %r0, 1\nexit\nf:\nmov %r0, 41\n"
                        "exit")),
            ran(vm.load("mov %r0, 0\nmay_goto +2\nadd %r0, 1\nja -3\nexit"))]


def maps_and_callbacks(vm: VM):
    arr = vm.create_map(MapSpec("arr", "array", 4, 8, 3))
    hashed = vm.create_map(MapSpec("h", "hash", 4, 8, 16))
    for i in range(3):
        arr[i] = i + 1
    prog = vm.load(f"""
        r1 = 5
        r2 = func[sum] ll
        r3 = r10
        r3 += -8
        r4 = 0
        *(u64 *)(r10 - 8) = r4
        call bpf_loop#181
        r6 = *(u64 *)(r10 - 8)
        r1 = map[fd:{vm.fd_of(arr)}] ll
        r2 = func[add_value] ll
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_for_each_map_elem#164
        r7 = *(u64 *)(r10 - 8)
        *(u32 *)(r10 - 12) = r7
        *(u64 *)(r10 - 24) = r6
        r1 = map[fd:{vm.fd_of(hashed)}] ll
        r2 = r10
        r2 += -12
        r3 = r10
        r3 += -24
        r4 = 0
        call bpf_map_update_elem#2
        r1 = map[fd:{vm.fd_of(hashed)}] ll
        r2 = r10
        r2 += -12
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r0 = *(u64 *)(r0 + 0)
    out:
        r0 <<= 8
        r0 |= r7
        exit
    sum:
        r3 = *(u64 *)(r2 + 0)
        r3 += r1
        *(u64 *)(r2 + 0) = r3
        r0 = 0
        exit
    add_value:
        r5 = *(u64 *)(r3 + 0)
        r6 = *(u64 *)(r4 + 0)
        r6 += r5
        *(u64 *)(r4 + 0) = r6
        r0 = 0
        exit
    """)
    return ran(prog), ran(prog), contents(arr), contents(hashed)


def packets_and_tail_calls(vm: VM):
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 2))
    counter = vm.create_map(MapSpec("n", "array", 4, 8, 1))
    again = vm.load(f"""
        r6 = r1
        r1 = map[fd:{vm.fd_of(counter)}] ll
        r2 = r10
        r2 += -4
        r3 = 0
        *(u32 *)(r10 - 4) = r3
        call bpf_map_lookup_elem#1
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
        r1 = r6
        r2 = map[fd:{vm.fd_of(jumps)}] ll
        r3 = 0
        call bpf_tail_call#12
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 14
        if r4 > r3 goto out
        r5 = *(u16 *)(r2 + 12)
        *(u16 *)(r2 + 0) = r5
    out:
        r0 = 2
        exit
    """, prog_type="xdp")
    jumps[0] = again
    return test_ran(again), test_ran(again, PACKET[:10]), contents(counter)


def budgets(vm: VM):
    """The run's one budget across bpf_loop callbacks and tail calls
    (tests/vm/test_budget.py): where a limit stops the run, and its count."""
    looping = """
        r1 = 8388608
        r2 = func[callback] ll
        r3 = 0
        r4 = 0
        call bpf_loop#181
        exit
    callback:
        r0 = r1
        r0 += 1
        r0 = 0
        exit
    """
    vm.max_insns = 50_000
    stopped_in_callback = ran(vm.load(looping))
    jumps = vm.create_map(MapSpec("jumps", "prog_array", 4, 4, 1))
    chain = vm.load(f"""
        r6 = r1
        r7 = 100
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
    jumps[0] = chain
    vm.max_insns = None
    whole = test_ran(chain)
    vm.max_insns = 3000                     # each program alone stays far below
    limited = test_ran(chain)
    vm.max_insns = 100_000
    counted = ran(vm.load("r1 = 10\nr2 = func[cb] ll\nr3 = 0\nr4 = 0\ncall bpf_loop#181\n"
                          "exit\ncb:\nr0 = 0\nexit"))
    return stopped_in_callback, whole, limited, counted


def calls_hand_over_registers(vm: VM):
    """A bpf-to-bpf call starts the callee with the caller's r0 and r6..r9,
    as the interpreter runs it (tests/linker's splice program read its
    caller's r0: the JIT had zeroed it); a function entered from Python (a
    bpf_loop callback, the next run) starts with zeros."""
    carried = """
        mov %r0, 3
        mov %r6, 10
        mov %r7, 20
        mov %r8, 30
        call local f
        add %r0, %r6
        add %r0, %r7
        lddw %r2, func[g]
        mov %r6, 7
        callx %r2
        add %r0, %r8
        exit
    f:
        add %r0, %r6
        add %r0, %r7
        mov %r6, 1000
        call local g
        add %r0, %r6
        exit
    g:
        add %r0, %r6
        add %r0, %r8
        exit
    """
    looped = """
        mov %r6, 5
        mov %r9, 9
        call local f
        mov %r1, 3
        lddw %r2, func[cb]
        mov %r3, 0
        mov %r4, 0
        call 181
        add %r0, %r6
        exit
    f:
        mov %r0, %r9
        exit
    cb:
        mov %r0, %r6
        add %r0, %r9
        exit
    """
    linked = """
        r0 = 0
        r1 = 5
    loop:
        r0 += r1
        r1 -= 1
        if r1 != 0 goto loop
        call sub
        exit
    sub:
        r0 += 100
        exit
    """
    first = vm.load(carried)
    return ran(first), ran(first), ran(vm.load(looped)), ran(vm.load(linked))


def environment_helpers(vm: VM):
    prog = vm.load("""
        r1 = r10
        r1 += -16
        r2 = 16
        call bpf_get_current_comm#16
        r6 = *(u64 *)(r10 - 16)
        call bpf_get_current_pid_tgid#14
        r0 ^= r6
        exit
    """)
    return ran(prog)


SCENARIOS = [alu_and_jumps, stack_frames_and_calls, faults, memory_and_legacy_packet_loads,
             callx_may_goto_and_helpers, maps_and_callbacks, packets_and_tail_calls, budgets,
             calls_hand_over_registers, environment_helpers]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_the_engines_agree(scenario):
    seen = {}
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed(comm=b"tester", pid=42, tgid=40))
        loads = []
        original = vm.load

        def load(*args, _original=original, _loads=loads, **kwargs):
            prog = _original(*args, **kwargs)
            _loads.append(engine_of(prog))
            return prog

        vm.load = load
        seen[jit] = scenario(vm), loads
    (interpreted, engines), (compiled, jit_engines) = seen[False], seen[True]
    assert set(engines) == {"interpreter"}
    assert jit_engines and set(jit_engines) == {"jit"}     # native code, not the fallback
    assert compiled == interpreted


def test_the_budget_scenario_checks_what_the_interpreter_does():
    """The regression cases say something: the limit stops bpf_loop inside
    its callback, and the tail-call chain over the run's budget."""
    vm = VM(jit=True)
    stopped, whole, limited, counted = budgets(vm)
    assert stopped[0] == "InstructionLimitExceeded" and stopped[2] >= 7
    assert whole[0] == 2 and 34 * 200 < whole[2] < 34 * 210
    assert limited[0] == "InstructionLimitExceeded" and "max_insns=3000" in limited[1]
    assert counted[:2] == (10, 6 + 10 * 2)       # bpf_loop returns its iterations
