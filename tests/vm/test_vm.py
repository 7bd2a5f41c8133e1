"""The reference interpreter: semantics, memory, calls, limits, errors."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.errors import (
    BPFError,
    CallDepthExceeded,
    HelperError,
    InstructionError,
    InstructionLimitExceeded,
    MemoryFault,
    VMError,
)
from pybpf.helpers import HelperRegistry
from pybpf.isa import Insn, assemble, encode
from pybpf.vm import VM, AddressSpace, Region, Tracer
from pybpf.vm.semantics import sdiv32, sdiv64, smod32, smod64
from strategies import any_slot, valid_program

M64 = (1 << 64) - 1


def vm(**kw) -> VM:
    kw.setdefault("helpers", HelperRegistry())
    kw.setdefault("max_insns", 1_000_000)
    return VM(**kw)


def run(text: str, mem: bytes | None = None, **kw) -> int:
    return vm(**kw).run(text, mem).r0


@pytest.mark.parametrize("text, expected", [
    ("mov %r0, -1\nexit", M64),
    ("mov32 %r0, -1\nexit", 0xFFFFFFFF),
    ("lddw %r0, 0x8000000000000000\nsub %r0, 1\nexit", 0x7FFFFFFFFFFFFFFF),
    ("mov %r0, 7\ndiv %r0, 0\nexit", 0),
    ("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit", 7),
    ("lddw %r0, 0x100000007\nmov32 %r1, 0\nmod32 %r0, %r1\nexit", 7),  # upper half zeroed
    ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 1 << 63),  # INT_MIN / -1
    ("mov %r0, -7\nsmod %r0, 2\nexit", M64),  # -1: the dividend's sign
    ("mov %r0, 1\nlsh %r0, 65\nexit", 2),  # shift counts are masked
    ("mov %r0, 1\nlsh32 %r0, 33\nexit", 2),
    ("mov %r0, -16\narsh %r0, 2\nexit", (-4) & M64),
    ("mov32 %r0, -16\narsh32 %r0, 2\nexit", (-4) & 0xFFFFFFFF),
    ("mov %r0, 0x80\nmovsx864 %r0, %r0\nexit", (-128) & M64),
    ("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit", 0xFFFF8000),
    ("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", 0x8877),
    ("lddw %r0, 0x1122334455667788\nle32 %r0\nexit", 0x55667788),
    ("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit", 0x8877665544332211),
    ("mov %r0, 5\nneg32 %r0\nexit", 0xFFFFFFFB),
    ("lddw %r1, 0xFFFFFFFF80000000\nmov %r0, 0\njeq %r1, 0x80000000, +1\nexit\nmov %r0, 1\n"
     "exit", 1),  # 64-bit compares sign-extend the immediate
    ("mov %r1, -1\nmov %r0, 0\njsgt %r1, 0, +1\nmov %r0, 1\nexit", 1),
    ("lddw %r1, 0x100000000\nmov %r0, 0\njeq32 %r1, 0, +1\nexit\nmov %r0, 1\nexit", 1),
])
def test_alu_and_jump_semantics(text, expected):
    assert run(text) == expected


@pytest.mark.parametrize("a, b, quotient, remainder", [
    (7, 2, 3, 1), (-7, 2, -3, -1), (7, -2, -3, 1), (-7, -2, 3, -1),
    (-(1 << 63), -1, -(1 << 63), 0), (5, 0, 0, 5), (0, 3, 0, 0), (-1, 1, -1, 0),
])
def test_signed_division_truncates_toward_zero(a, b, quotient, remainder):
    assert sdiv64(a & M64, b & M64) == quotient & M64
    assert smod64(a & M64, b & M64) == remainder & M64
    if -(1 << 31) <= a < (1 << 31):
        assert sdiv32(a & 0xFFFFFFFF, b & 0xFFFFFFFF) == quotient & 0xFFFFFFFF
        assert smod32(a & 0xFFFFFFFF, b & 0xFFFFFFFF) == remainder & 0xFFFFFFFF
    assert sdiv32(0x80000000, 0xFFFFFFFF) == 0x80000000
    assert smod32(0x80000000, 0xFFFFFFFF) == 0


def test_memory_is_little_endian_and_bounded():
    mem = bytes(range(16))
    assert run("ldxdw %r0, [%r1+2]\nexit", mem) == int.from_bytes(mem[2:10], "little")
    assert run("mov %r0, %r2\nexit", mem) == 16
    assert run("ldxsh %r0, [%r1+0]\nexit", b"\xfe\xff") == (-2) & M64
    with pytest.raises(MemoryFault) as info:
        run("ldxdw %r0, [%r1+9]\nexit", mem)
    fault = info.value
    assert fault.pc == 0 and fault.size == 8 and not fault.write
    assert "ldxdw %r0, [%r1+9]" in str(fault)
    assert "runs past the end of mem region" in str(fault)


def test_writes_are_visible_to_the_caller():
    buffer = bytearray(8)
    result = vm().run("mov %r2, 0x1234\nstxh [%r1+2], %r2\nstb [%r1+7], 9\nmov %r0, 0\nexit",
                      buffer)
    assert buffer == bytes([0, 0, 0x34, 0x12, 0, 0, 0, 9])
    assert result.mem is buffer


def test_null_and_wild_pointers_fault_without_touching_the_host():
    with pytest.raises(MemoryFault, match="NULL"):
        run("mov %r1, 0\nldxw %r0, [%r1+0]\nexit")
    with pytest.raises(MemoryFault):
        run("lddw %r1, 0x7fffdeadbeef\nstxw [%r1+0], %r1\nexit")


def test_read_only_regions_refuse_writes():
    space = AddressSpace()
    region = space.map(Region("ro", bytearray(8), writable=False))
    assert space.load(region.start, 4) == 0
    with pytest.raises(MemoryFault, match="read-only"):
        space.store(region.start, 4, 1)


def test_stack_frames_are_separate_and_zeroed():
    text = """
        stdw [%r10-8], 5
        call local f
        ldxdw %r0, [%r10-8]      # the caller's slot is intact
        exit
    f:
        ldxdw %r0, [%r10-8]      # a fresh frame reads zero
        stdw [%r10-8], 9
        exit
    """
    assert run(text) == 5
    # The callee's frame is separate: it cannot reach above its own r10 ...
    assert run("call local f\nexit\nf:\nldxdw %r0, [%r10-8]\nexit") == 0
    # ... but a pointer into the caller's frame stays valid.
    text = """
        stdw [%r10-8], 77
        mov %r1, %r10
        add %r1, -8
        call local f
        exit
    f:
        ldxdw %r0, [%r1+0]
        exit
    """
    assert run(text) == 77
    with pytest.raises(MemoryFault):
        run("stdw [%r10-520], 1\nexit")
    with pytest.raises(MemoryFault):
        run("stdw [%r10+0], 1\nexit")


def test_callee_saved_registers_survive_calls():
    text = """
        mov %r6, 1
        mov %r7, 2
        call local f
        add %r0, %r6
        add %r0, %r7
        exit
    f:
        mov %r6, 100
        mov %r7, 200
        mov %r0, 10
        exit
    """
    assert run(text) == 13


def test_call_depth_limit():
    recurse = "call local f\nexit\nf:\ncall local f\nexit"
    with pytest.raises(CallDepthExceeded) as info:
        run(recurse)
    assert info.value.pc == 2
    # eight frames are allowed: main plus seven nested calls
    chain = "\n".join(["call local f1\nexit"] + [f"f{i}:\ncall local f{i + 1}\nexit"
                                                 for i in range(1, 7)] + ["f7:\nmov %r0, 8\nexit"])
    assert run(chain) == 8


def test_instruction_limit():
    with pytest.raises(InstructionLimitExceeded) as info:
        run("ja -1", max_insns=1000)
    assert info.value.pc == 0
    result = vm(max_insns=None).run("mov %r0, 0\nmov %r1, 1000\nadd %r0, 1\nsub %r1, 1\n"
                                    "jne %r1, 0, -3\nexit")
    assert result.r0 == 1000 and result.insn_count == 2 + 3 * 1000 + 1


def test_may_goto_bounds_loops():
    # may_goto falls through until the budget runs out, then jumps.
    result = vm(max_insns=None).run("mov %r0, 0\nmay_goto +2\nadd %r0, 1\nja -3\nexit")
    assert result.r0 == 8 * 1024 * 1024


def test_helpers_by_id_and_callx():
    registry = HelperRegistry()
    registry.add(77, lambda ctx, a, b, c, d, e: a + b * 10, "sum")
    machine = vm(helpers=registry)
    assert machine.run("mov %r1, 1\nmov %r2, 2\ncall 77\nexit").r0 == 21
    assert machine.run("mov %r1, 3\nmov %r2, 4\nmov %r3, 77\ncallx %r3\nexit").r0 == 43
    with pytest.raises(HelperError, match="unknown helper function #5"):
        machine.run("call 5\nexit")


def test_callx_to_a_function_pointer():
    text = """
        lddw %r2, func[f]
        callx %r2
        add %r0, 1
        exit
    f:
        mov %r0, 41
        exit
    """
    assert run(text) == 42
    with pytest.raises(VMError, match="callx to 0x"):
        run("mov %r2, 0x123456\ncallx %r2\nexit")


def test_helper_callbacks_run_in_a_new_frame():
    registry = HelperRegistry()

    def loop(ctx, count, callback, data, *_):
        total = 0
        for i in range(count):
            total += ctx.invoke(callback, i, data)
        return total

    registry.add(181, loop, "loop")
    text = """
        mov %r1, 4
        lddw %r2, func[cb]
        mov %r3, 10
        call 181
        exit
    cb:
        mov %r0, %r1
        add %r0, %r2
        exit
    """
    assert vm(helpers=registry).run(text).r0 == (0 + 1 + 2 + 3) + 4 * 10


def test_helper_exceptions_become_pybpf_errors():
    registry = HelperRegistry()
    registry.add(9, lambda ctx, *a: 1 // 0, "broken")
    with pytest.raises(HelperError, match="ZeroDivisionError") as info:
        vm(helpers=registry).run("call 9\nexit")
    assert info.value.pc == 0


def test_legacy_packet_loads_read_network_order_and_abort_out_of_bounds():
    packet = bytes.fromhex("0800450000140001")
    assert run("ldabsh 0\nexit", packet) == 0x0800
    assert run("mov %r1, 2\nldindw %r1, 0\nexit", packet) == 0x45000014
    assert run("ldabsw 6\nmov %r0, 7\nexit", packet) == 0  # out of bounds: the program returns 0


def test_invalid_programs_are_refused_at_load():
    with pytest.raises(InstructionError, match="reserved field"):
        vm().load(bytes.fromhex("0700010001000000" "9500000000000000"))
    with pytest.raises(VMError, match="ran past the last instruction"):
        run("mov %r0, 1")


def test_unknown_map_reference_fails_at_load():
    with pytest.raises(VMError, match="lddw refers to map fd 3, which this VM does not have") as info:
        run("mov %r0, 0\nlddw %r1, map[fd:3]\nexit")
    assert info.value.pc == 1
    resolved = vm().load("lddw %r0, map[fd:3]\nexit",
                         resolve_pseudo=lambda pc, form, imm, nxt: 0x1000 + imm)
    assert resolved.run().r0 == 0x1003


def test_trace_shows_changed_registers():
    out = io.StringIO()
    vm().run("mov %r0, 3\nadd %r0, 4\nexit", trace=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["0:", "mov", "%r0,", "3", "r0=0x3"]
    assert lines[1].endswith("r0=0x7")
    assert lines[2].split()[1] == "exit"
    tracer = Tracer(assemble("mov %r0, 1\nexit"), keep=True)
    vm().run("mov %r0, 1\nexit", trace=tracer)
    assert len(tracer.lines) == 2


def test_atomics():
    text = """
        stdw [%r10-8], 10
        mov %r1, 5
        lock fetch add [%r10-8], %r1     # r1 = 10, mem = 15
        mov %r0, 15
        mov %r2, 99
        lock cmpxchg [%r10-8], %r2       # mem == r0: mem = 99, r0 = 15
        ldxdw %r3, [%r10-8]
        lock xchg [%r10-8], %r3          # r3 = 99, mem = 99
        lock or32 [%r10-8], %r1          # low word 99 | 10
        ldxdw %r0, [%r10-8]
        add %r0, %r3
        exit
    """
    assert run(text) == (99 | 10) + 99


def outcomes(program, mem: bytes) -> tuple[tuple, tuple]:
    """Load ``program`` into a VM and run it untraced, then traced, on the
    same buffer (so addresses a program computes are the same): for each run
    (r0, instructions executed, memory after) or the pybpf error's type and
    message.  Anything else escapes."""
    try:
        prog = vm(max_insns=5000).load(program)
    except BPFError as e:
        return (type(e).__name__, str(e)), (type(e).__name__, str(e))
    buffer = bytearray(mem)
    runs = []
    for tracer in (None, Tracer(prog.insns, keep=True)):
        buffer[:] = mem
        try:
            result = prog.run(buffer, trace=tracer)
        except BPFError as e:
            runs.append((type(e).__name__, str(e)))
        else:
            runs.append((result.r0, result.insn_count, bytes(result.mem or b"")))
    return runs[0], runs[1]


# Random programs raise nothing but pybpf errors, and the interpreter's traced
# code (a second code generator path) agrees with the untraced one.

def check_random_programs(examples: int) -> None:
    """``examples`` structurally valid programs, then as many arbitrary byte
    strings: the same outcome traced and untraced."""

    @given(valid_program(max_size=25), st.binary(max_size=64))
    @settings(max_examples=examples, deadline=None)
    def valid_programs(program, mem):
        untraced, traced = outcomes(program, mem)
        assert untraced == traced

    @given(st.lists(any_slot, min_size=1, max_size=25))
    @settings(max_examples=examples, deadline=None)
    def arbitrary_bytes(slots):
        untraced, traced = outcomes(encode(slots), b"\0" * 16)
        assert untraced == traced

    valid_programs()
    arbitrary_bytes()


def test_random_programs_only_raise_pybpf_errors():
    check_random_programs(300)


@pytest.mark.slow
def test_ten_thousand_random_programs_only_raise_pybpf_errors():
    check_random_programs(10_000)


def test_program_reuse_is_independent():
    prog = vm().load("ldxdw %r0, [%r10-8]\nstdw [%r10-8], 7\nexit")
    assert prog.run().r0 == 0
    assert prog.run().r0 == 0  # the stack is zeroed for every run
    assert Insn(0x95).encode() == bytes.fromhex("9500000000000000")


def test_unchecked_loading_allows_newer_instructions_but_never_malformed_ones():
    v4_only = "mov %r0, 7\nsdiv %r0, 2\nexit"     # signed division: cpu v4
    with pytest.raises(InstructionError):
        VM(version=1).load(v4_only)
    assert VM(version=1).load(v4_only, check=False).run().r0 == 3
    r11 = bytes.fromhex("b70b000001000000" "9500000000000000")
    with pytest.raises(InstructionError):
        VM().load(r11, check=False)
