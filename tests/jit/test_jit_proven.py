"""Accesses the verifier proved run without checks, and only those.

A program loaded with its :class:`~pybpf.verifier.VerifierResult` (what
``pybpf.vm.load`` does when it verifies) compiles its proven stack accesses
to a bare address translation and its other proven accesses without the
stack test; an unverified program, or a result that belongs to another
program, keeps every check.  The answers are the interpreter's either way.
"""

from __future__ import annotations

import pytest

pytest.importorskip("llvmlite")

from pybpf.isa import assemble
from pybpf.jit.program import proven_accesses
from pybpf.objects import MapSpec
from pybpf.verifier import verify
from pybpf.verifier.maps import MapDescription
from pybpf.vm import VM

# A stack buffer walked through a pointer in r2 (not r10): the JIT alone
# cannot prove these in bounds; the verifier can.
STACK_WALK = """
    mov %r1, 0
    mov %r2, %r10
    add %r2, -64
fill:
    stxb [%r2+0], %r1
    add %r2, 1
    add %r1, 1
    jne %r1, 64, fill
    mov %r2, %r10
    add %r2, -64
    mov %r1, 0
    mov %r0, 0
sum:
    ldxb %r3, [%r2+0]
    add %r0, %r3
    add %r2, 1
    add %r1, 1
    jne %r1, 64, sum
    exit
"""

# A map value read through the pointer bpf_map_lookup_elem returned.
MAP_VALUE = """
    mov %r1, 0
    stxw [%r10-4], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, +2
    ldxdw %r0, [%r0+0]
    exit
    mov %r0, 99
    exit
"""


def test_verified_stack_accesses_run_unchecked_and_agree():
    insns = assemble(STACK_WALK)
    result = verify(insns, prog_type="socket_filter")
    assert result.accepted
    checked = VM(jit=True).load(insns)
    proven = VM(jit=True).load(insns, verification=result)
    interpreted = VM(jit=False).load(insns)
    assert checked._compiled.layout.sites == [3, 11]       # the stxb and the ldxb
    assert proven._compiled.layout.sites == []
    expected = sum(range(64))
    for prog in (checked, proven, interpreted):
        run = prog.run()
        assert (run.r0, run.insn_count) == (expected, interpreted.run().insn_count)


def test_proven_map_value_accesses_skip_the_stack_test_and_agree():
    outcomes = []
    for jit in (True, False):
        vm = VM(jit=jit)
        m = vm.create_map(MapSpec("a", "array", 4, 8, 1))
        m[0] = (1234).to_bytes(8, "little")
        insns = assemble(MAP_VALUE.format(fd=vm.fd_of(m)))
        result = verify(insns, {"2": MapDescription("array", 4, 8, 1, name="a")},
                        prog_type="socket_filter")
        assert result.accepted
        prog = vm.load(insns, verification=result)
        if jit:
            kinds = proven_accesses(result, insns, vm.stack.frame_size)
            assert kinds == {1: "stack", 8: "memory"}
            assert prog._compiled.layout.sites == [8]        # its region still looked up
        outcomes.append(prog.run().r0)
    assert outcomes == [1234, 1234]


def test_a_result_of_another_program_or_a_rejection_proves_nothing():
    insns = assemble(STACK_WALK)
    other = verify(assemble("mov %r0, 0\nexit"), prog_type="socket_filter")
    assert proven_accesses(other, insns, 512) == {}
    rejected = verify(assemble("ldxdw %r0, [%r10+8]\nexit"), prog_type="socket_filter")
    assert not rejected.accepted
    assert proven_accesses(rejected, assemble("ldxdw %r0, [%r10+8]\nexit"), 512) == {}
    prog = VM(jit=True).load(insns, verification=other)
    assert prog._compiled.layout.sites == [3, 11]


def test_stack_proofs_need_frames_as_large_as_the_verifiers():
    insns = assemble(STACK_WALK)
    result = verify(insns, prog_type="socket_filter")
    assert set(proven_accesses(result, insns, 512).values()) == {"stack"}
    assert proven_accesses(result, insns, 256) == {}


def test_collections_pass_their_verification_to_the_jit():
    import pybpf.vm
    from pybpf.objects import ObjectSpec, ProgramSpec

    insns = assemble(STACK_WALK)
    spec = ObjectSpec(programs={"p": ProgramSpec("p", insns, "socket_filter")})
    with pybpf.vm.load(spec, jit=True) as coll:
        prog = coll.programs["p"]
        assert prog.verification is not None and prog.verification.accepted
        assert prog._compiled.layout.sites == []
        assert prog.test_run(bytes(64)).r0 == sum(range(64))
    with pybpf.vm.load(spec, jit=True, verify=False) as coll:
        prog = coll.programs["p"]
        assert prog.verification is None
        assert prog._compiled.layout.sites == [3, 11]
        assert prog.test_run(bytes(64)).r0 == sum(range(64))
