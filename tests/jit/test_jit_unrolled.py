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
COUNTED = """
    mov %r0, 0
    mov %r1, {n}
loop:
    add %r0, 1
    sub %r1, 1
    jne %r1, 0, loop
    exit
"""

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
    assert generator._unrolling(2, 5, 3) == codegen.UNROLL_COPIES_MAX
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
