"""Loops on one block, which LLVM's code runs as several copies in a row.

A block that branches back to itself is written as copies run in a row
whenever the instructions left before CHECK_AT cover them all, and as a
single checked copy otherwise (:meth:`pybpf.jit.codegen.Generator._block`).
Whatever the number of iterations, the limit or where a fault lands, the
results, the instruction count and the errors must be the interpreter's.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llvmlite")

from pybpf.errors import BPFError
from pybpf.jit import codegen
from pybpf.vm import VM

#: r1 iterations of a 3-instruction loop (8 copies in a row).
COUNTED = "mov %r0, 0\nmov %r1, {n}\nloop:\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, loop\nexit"

#: A byte store per iteration walking down the stack, off its end after 512.
WALK_OFF = """
    mov %r0, 0
    mov %r2, %r10
loop:
    add %r2, -1
    stxb [%r2+0], %r0
    add %r0, 1
    jne %r0, {n}, loop
    exit
"""


def outcome(prog, **run):
    try:
        result = prog.run(**run)
    except BPFError as e:
        return type(e).__name__, str(e)
    return result.r0, result.insn_count


def engines(text: str, monkeypatch, **options):
    """The same program loaded by LLVM's tier and by the interpreter."""
    monkeypatch.setenv("PYBPF_JIT_TIER", "llvm")
    monkeypatch.setenv("PYBPF_JIT_CACHE", "0")
    jit = VM(jit=True, **options).load(text)
    assert jit._compiled.engine == "jit"
    assert getattr(jit._compiled, "tier", "llvm") == "llvm"   # not the baseline tier
    return jit, VM(jit=False, **options).load(text)


def test_the_loop_is_written_as_copies_with_one_check():
    insns = VM(jit=False).load(COUNTED.format(n=10)).insns
    generator = codegen.Generator(insns, codegen.Options())
    assert generator._loops() == {2: ([2], 3)}
    text = generator.module()
    assert text.count("unrolled2.") >= codegen.UNROLL_COPIES_MAX
    assert "single2." in text


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 15, 16, 17, 1000, 1001])
def test_any_number_of_iterations_counts_as_the_interpreter(n, monkeypatch):
    jit, interp = engines(COUNTED.format(n=n), monkeypatch)
    assert outcome(jit) == outcome(interp) == (n, 2 + 3 * n + 1)


def test_the_instruction_limit_stops_where_the_interpreter_stops(monkeypatch):
    # Limits from below one group of copies to several groups past it: the
    # copies run only where the limit cannot fall among them.
    for limit in range(2, 90):
        jit, interp = engines(COUNTED.format(n=100), monkeypatch, max_insns=limit)
        assert outcome(jit) == outcome(interp), limit
        assert outcome(jit)[0] == "InstructionLimitExceeded", limit


def test_a_fault_inside_the_copies_names_the_interpreter_pc_and_count(monkeypatch):
    jit, interp = engines(WALK_OFF.format(n=600), monkeypatch)
    fault = outcome(jit)
    assert fault == outcome(interp)
    assert fault[0] == "MemoryFault" and "stxb" in fault[1]
    fine, fine_interp = engines(WALK_OFF.format(n=512), monkeypatch)
    assert outcome(fine) == outcome(fine_interp) == (512, 2 + 4 * 512 + 1)


#: Counts the bytes equal to 0x41 among the first r2 bytes of the memory at
#: r1, stopping early at a zero byte: a loop of four blocks with an if, a
#: way out in the middle and two back edges.
BRANCHY = """
    mov %r0, 0
    mov %r3, 0
loop:
    mov %r4, %r1
    add %r4, %r3
    ldxb %r5, [%r4+0]
    jeq %r5, 0, out
    jne %r5, 0x41, next
    add %r0, 1
    add %r3, 1
    jlt %r3, %r2, loop
    ja out
next:
    add %r3, 1
    jlt %r3, %r2, loop
out:
    exit
"""


def test_a_loop_of_several_blocks_is_copied_whole():
    insns = VM(jit=False).load(BRANCHY).insns
    loops = codegen.Generator(insns, codegen.Options())._loops()
    assert loops == {2: ([2, 6, 7, 10, 11], 11)}


@pytest.mark.parametrize("data", [b"AAAA" * 64, b"ABAB" * 64, b"AAB" * 30 + b"\0AAAA",
                                  b"BA" * 17, b"A"])
def test_several_blocks_count_as_the_interpreter(data, monkeypatch):
    jit, interp = engines(BRANCHY, monkeypatch)
    mem = bytearray(data)
    assert outcome(jit, mem=mem) == outcome(interp, mem=bytearray(data))
    for limit in range(10, 120, 7):
        jit, interp = engines(BRANCHY, monkeypatch, max_insns=limit)
        assert outcome(jit, mem=bytearray(data)) == outcome(interp, mem=bytearray(data)), limit


def test_inner_loops_side_entries_and_calls_are_not_copied():
    nested = """
        mov %r0, 0
        mov %r1, 10
    outer:
        mov %r2, 10
    inner:
        add %r0, 1
        sub %r2, 1
        jne %r2, 0, inner
        sub %r1, 1
        jne %r1, 0, outer
        exit
    """
    insns = VM(jit=False).load(nested).insns
    assert codegen.Generator(insns, codegen.Options())._loops() == {3: ([3], 3)}
    side_entry = """
        mov %r0, 0
        jeq %r1, 0, middle
    top:
        add %r0, 1
    middle:
        add %r0, 2
        jlt %r0, 100, top
        exit
    """
    insns = VM(jit=False).load(side_entry).insns
    assert codegen.Generator(insns, codegen.Options())._loops() == {}
    calling = "mov %r6, 10\ncall 5\nsub %r6, 1\njne %r6, 0, -3\nexit"
    insns = VM(jit=False).load(calling).insns
    assert codegen.Generator(insns, codegen.Options())._loops() == {}
