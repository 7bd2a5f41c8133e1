"""The kernel's verifier selftests, run: the VM gives BPF_PROG_TEST_RUN's retval.

Every accepted program of ../shared/verifier-corpus carries ``runs`` (a
packet and the retval the kernel returned).  Those of program types the
kernel can test-run must give the same retval in the VM.  Excluded, each
with its reason: programs needing maps the VM cannot have (kernel sockets,
cgroup storage, timers) and runs whose recorded retval is the corpus's
placeholder for a kernel address (programs that return a pointer).
"""

from __future__ import annotations

import pytest

from conftest import shared_params, shared_path
from corpus import CORPUS, CORPUS_PARTS, load_cases, prepare, unsupported_reason
from pybpf.vm.progtypes import SUPPORTED, TestRunError

#: Program types BPF_PROG_TEST_RUN executes on this kernel.
KERNEL_RUNNABLE = {"socket_filter", "sched_cls", "sched_act", "xdp", "cgroup_skb", "lwt_in",
                   "lwt_out", "lwt_xmit"}
#: The corpus records this retval where the kernel returned an address.
POINTER_PLACEHOLDER = 13303370
#: Runs whose recorded retval the live kernel no longer gives; the value here is
#: what this machine's kernel returns today (test_live_kernel_agrees_on_anomalies).
ANOMALIES = {
    "map_ptr: bpf_map_ptr: read non-existent field rejected": 1,
    "spin_lock: spin_lock: test10 lock in subprog without unlock": 1,
}

CASES = load_cases() if CORPUS.exists() else []
RUNNABLE = [c for c in CASES if c.prog_type in KERNEL_RUNNABLE]
OTHERS = [c for c in CASES if c.prog_type not in KERNEL_RUNNABLE]


def _names(case):
    return case.name


@pytest.mark.parametrize("case", shared_params(RUNNABLE, _names, *CORPUS_PARTS))
def test_vm_gives_the_kernels_retval(case):
    reason = unsupported_reason(case)
    if reason:
        pytest.skip(reason)
    _vm, program = prepare(case)
    checked = 0
    for run in case.runs:
        if run["retval"] == POINTER_PLACEHOLDER:
            continue
        result = program.test_run(bytes.fromhex(run["data"]))
        expected = ANOMALIES.get(case.name, run["retval"])
        assert result.retval == expected, f"packet {run['data'][:16]}..."
        checked += 1
    if not checked:
        pytest.skip("the kernel returned a kernel address")


@pytest.mark.parametrize("case", shared_params(OTHERS, _names, *CORPUS_PARTS))
def test_other_program_types_run_or_refuse_cleanly(case):
    # The kernel cannot test-run these types, so there is no retval to compare
    # (the corpus records the selftest's default).  The VM runs every packet of
    # the types it can run, and refuses the others naming the type.
    if unsupported_reason(case):
        pytest.skip(unsupported_reason(case))
    _vm, program = prepare(case)
    for run in case.runs:
        packet = bytes.fromhex(run["data"])
        if case.prog_type in SUPPORTED:
            program.test_run(packet)
        else:
            with pytest.raises(TestRunError,
                               match=f"cannot run programs of type '{case.prog_type}'"):
                program.test_run(packet)


def test_corpus_coverage():
    shared_path(*CORPUS_PARTS)
    runs = [r for c in RUNNABLE for r in c.runs]
    assert len(runs) == 648
    unsupported = sum(len(c.runs) for c in RUNNABLE if unsupported_reason(c))
    pointers = sum(1 for c in RUNNABLE for r in c.runs if r["retval"] == POINTER_PLACEHOLDER)
    # Everything else is compared by test_vm_gives_the_kernels_retval.
    assert unsupported <= 10 and pointers <= 12


@pytest.mark.kernel
def test_live_kernel_agrees_on_anomalies():
    from pybpf import kernel
    from pybpf.btf.builder import BTFBuilder
    from pybpf.kernel.kernel_btf import KernelBTF

    shared_path(*CORPUS_PARTS)
    by_name = {c.name: c for c in CASES}
    for name, expected in ANOMALIES.items():
        case = by_name[name]
        insns = list(case.insns)
        ((kind, indexes),) = case.maps.items()
        if kind == "map_spin_lock":
            b = BTFBuilder()
            i = b.add_int("int", 4, signed=True)
            lock = b.add_struct("bpf_spin_lock", 4, [("val", i, 0)])
            val = b.add_struct("val", 8, [("cnt", i, 0), ("l", lock, 32)])
            btf = KernelBTF.load(b.to_bytes())
            m = kernel.KernelMap.create("array", 4, 8, 1, btf=btf, btf_key_type_id=i,
                                        btf_value_type_id=val)
        else:
            m = kernel.KernelMap.create("array", 4, 48, 1)
        for pc in indexes:
            insns[pc] = insns[pc]._replace(imm=m.fd)
        prog = kernel.KernelProgram.load(insns, case.prog_type, name="anomaly")
        try:
            assert prog.test_run(bytes(64)).retval == expected, name
        finally:
            prog.close()
            m.close()
