"""The stack-address hint that lays out checked accesses (pybpf.jit.stackhints)."""

from __future__ import annotations

import pytest

from pybpf.isa import assemble
from pybpf.jit.codegen import blocks_of, forms_of, function_entries, successors
from pybpf.jit.stackhints import stack_registers

PROGRAM = """
    mov %r2, %r10
    add %r2, -16          # r2: the stack, moved along it
    mov %r3, %r2          # r3: a copy of it
    mov %r6, %r10
    jeq %r1, 0, other
    mov %r4, %r10
    ja join
other:
    mov %r4, 0            # r4 is the stack on one path only
join:
    stxdw [%r2+0], %r1    # pc 8
    ldxdw %r3, [%r2+0]    # pc 9: r3 now holds a loaded value
    stxdw [%r3+0], %r1    # pc 10
    mov32 %r2, %r2        # pc 11: a 32-bit move is no address
    stxdw [%r6+0], %r1    # pc 12
    call 5
    stxdw [%r6-8], %r0    # pc 14: r6 survives the call, r1..r5 do not
    mov %r0, 0
    exit
"""


def hints(text: str) -> dict[int, frozenset[int]]:
    insns = assemble(text)
    sems = forms_of(insns)
    blocks = blocks_of(insns, sems)
    flow = {s: (e, successors(insns, sems, s, e)) for s, e in blocks.items()}
    return stack_registers(insns, sems, flow, function_entries(insns, sems))


def test_registers_computed_from_r10_on_every_path_are_stack_addresses():
    found = hints(PROGRAM)
    assert found[8] == {2, 3, 6, 10}            # r4 only on one of the two paths
    assert found[9] == {2, 3, 6, 10}
    assert found[10] == {2, 6, 10}              # r3 was loaded
    assert found[12] == {6, 10}                 # r2 narrowed to 32 bits
    assert found[14] == {6, 10}


def test_a_loop_keeps_what_every_iteration_keeps():
    found = hints("""
        mov %r2, %r10
        add %r2, -64
        mov %r5, %r10
    loop:
        stxb [%r2+0], %r1     # pc 3
        add %r2, 1
        mov %r5, %r1          # r5 stops being the stack after the first pass
        add %r1, 1
        jne %r1, 64, loop
        exit
    """)
    assert found[3] == {2, 10}


def test_the_checked_stack_path_is_laid_out_ahead_for_hinted_accesses():
    pytest.importorskip("llvmlite")
    from pybpf.jit import codegen

    insns = assemble("mov %r2, %r10\nstxdw [%r2-8], %r1\nmov %r0, 0\nexit")
    text = codegen.Generator(insns, codegen.Options()).module()
    assert any("label %stack" in line and "label %cached" in line and "!prof !0" in line
               for line in text.splitlines())
    plain = assemble("ldxdw %r0, [%r1+0]\nexit")          # r1: not the stack
    text = codegen.Generator(plain, codegen.Options()).module()
    assert not any("label %stack" in line and "!prof" in line for line in text.splitlines())
