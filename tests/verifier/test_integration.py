"""The verifier inside the VM and kernel backends: ``pybpf.vm.load``
verifies by default and raises the kernel's message, ``verify=False`` runs
unverified programs under the run-time checks, features pybpf does not
model are refused by name, and accepted programs carry facts for a JIT."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf.vm
from pybpf.errors import BPFError, VerifierError
from pybpf.isa import Insn, assemble
from pybpf.isa.opcodes import BPF_CALL, BPF_JMP, PSEUDO_CALL_KFUNC
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec
from pybpf.verifier import verify

NO_BOUNDS_CHECK = """
    r2 = *(u32 *)(r1 + 0)
    r0 = *(u8 *)(r2 + 12)
    r0 = 2
    exit
"""


def _spec(text: str, prog_type: str = "xdp", maps=()) -> ObjectSpec:
    return ObjectSpec.build([ProgramSpec("prog", assemble(text), type=prog_type)], maps)


def test_vm_load_refuses_with_the_kernels_message():
    with pytest.raises(VerifierError) as info:
        pybpf.vm.load(_spec(NO_BOUNDS_CHECK))
    e = info.value
    assert e.message.startswith("invalid access to packet, off=12 size=1")
    assert e.pc == 1 and e.insn == "(71) r0 = *(u8 *)(r2 +12)"
    assert "R2=pkt(r=0)" in e.state and e.program == "prog"
    assert "at insn 1" in str(e)


def test_verify_false_runs_under_the_run_time_checks():
    coll = pybpf.vm.load(_spec(NO_BOUNDS_CHECK), verify=False)
    prog = coll.programs["prog"]
    assert prog.verification is None
    assert prog.test_run(bytes(64)).retval == 2          # in bounds at run time
    with pytest.raises(BPFError):
        prog.test_run(bytes(4))                          # the VM's check stops it


def test_accepted_programs_carry_facts_for_a_jit():
    text = """
        r2 = 0
        *(u32 *)(r10 - 4) = r2
        r2 = r10
        r2 += -4
        r1 = map[idx:0] ll
        call 1
        if r0 == 0 goto +1
        r0 = *(u64 *)(r0 + 0)
        r0 = 2
        exit
    """
    spec = _spec(text, maps=[MapSpec("counts", "array", 4, 8, 4)])
    with pybpf.vm.load(spec) as coll:
        res = coll.programs["prog"].verification
        assert res.accepted
        assert res.proven_accesses == {1, 8}               # the stack store, the value load
        (pc, m), = res.const_map_pointers.items()
        assert pc == 4 and m.type == "array" and m.value_size == 8
        assert coll.programs["prog"].test_run(bytes(64)).retval == 2


def test_memory_programs_are_verified_for_a_buffer_size():
    insns = assemble("r0 = *(u32 *)(r1 + 4)\nexit")
    assert verify(insns, prog_type="memory", memory_size=8).accepted
    res = verify(insns, prog_type="memory", memory_size=6)
    assert res.message.startswith("invalid access to memory, mem_size=6 off=4 size=4")
    with pytest.raises(VerifierError, match="does not model 'memory' programs"):
        pybpf.vm.load(_spec("r0 = 0\nexit", prog_type="memory"))


def test_unknown_program_types_are_refused():
    res = verify(assemble("r0 = 0\nexit"), prog_type="no_such_type")
    assert res.message.startswith("pybpf: unknown program type 'no_such_type'")


@pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(), reason="no kernel BTF")
def test_unmodelled_features_are_refused_by_name():
    from pybpf.btf import BTF

    kfunc_id = BTF.load_vmlinux().find_ids("bpf_task_acquire")[0]
    insns = [Insn(BPF_JMP | BPF_CALL, 0, PSEUDO_CALL_KFUNC, 0, kfunc_id), *assemble("exit")]
    res = verify(insns, prog_type="tracing", attach_type="trace_fentry")
    e = res.error
    assert e is not None and e.unmodelled == "kfunc calls"
    assert "verify=False" in str(e) and "bpf_task_acquire" in e.message
