"""One Collection / Program interface and one TestRunResult for both
backends: checked as types, not left to convention."""

from __future__ import annotations

import pytest

import pybpf.kernel
import pybpf.vm
from pybpf import backend
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec

PACKET = bytes(range(64))

COUNT = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r2 = r10
    r2 += -4
    r1 = map[idx:0] ll
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = 2
    exit
"""


def _spec() -> ObjectSpec:
    prog = ProgramSpec.from_assembly("count", COUNT, type="xdp")
    return ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1)])


def test_both_backends_subclass_the_interface():
    assert issubclass(pybpf.vm.Collection, backend.Collection)
    assert issubclass(pybpf.kernel.Collection, backend.Collection)
    assert issubclass(pybpf.vm.Program, backend.Program)
    assert issubclass(pybpf.kernel.KernelProgram, backend.Program)
    assert pybpf.vm.TestRunResult is pybpf.kernel.TestRunResult is backend.TestRunResult
    for cls in (pybpf.vm.Collection, pybpf.kernel.Collection, pybpf.vm.Program,
                pybpf.kernel.KernelProgram):
        assert not getattr(cls, "__abstractmethods__", None), cls  # nothing left abstract


def test_an_incomplete_backend_cannot_be_instantiated():
    class Half(backend.Collection):
        def close(self) -> None:
            pass

    with pytest.raises(TypeError, match="ringbuf"):
        Half()


def test_vm_collection_and_programs_are_backend_objects():
    with pybpf.vm.load(_spec()) as coll:
        assert isinstance(coll, backend.Collection)
        prog = coll.programs["count"]
        assert isinstance(prog, backend.Program) and (prog.name, prog.type) == ("count", "xdp")
        result = prog.test_run(PACKET)
        assert type(result) is backend.TestRunResult
        assert (result.retval, result.r0, result.verdict) == (2, 2, "XDP_PASS")


@pytest.mark.kernel
def test_the_same_spec_gives_the_same_results_in_both_backends():
    results = {}
    for name, load in (("vm", pybpf.vm.load), ("kernel", pybpf.kernel.load)):
        with load(_spec()) as coll:
            assert isinstance(coll, backend.Collection), name
            prog = coll.programs["count"]
            assert isinstance(prog, backend.Program) and (prog.name, prog.type) == ("count", "xdp")
            results[name] = prog.test_run(PACKET)
            assert coll.maps["counts"][0] == (1).to_bytes(8, "little")
    vm, kernel = results["vm"], results["kernel"]
    assert type(vm) is type(kernel) is backend.TestRunResult
    assert (vm.retval, vm.data_out, vm.verdict) == (kernel.retval, kernel.data_out,
                                                    kernel.verdict) == (2, PACKET, "XDP_PASS")
    assert kernel.r0 is None and vm.r0 == 2  # the kernel reports the low 32 bits only


def test_verdicts_name_return_values():
    assert backend.verdict("xdp", 1) == "XDP_DROP"
    assert backend.verdict("sched_cls", 2) == "TC_ACT_SHOT"
    assert backend.verdict("socket_filter", 0) == "drop"
    assert backend.verdict("kprobe", 0) is None
