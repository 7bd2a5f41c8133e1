"""What the verifier proves, the VM's run-time checks confirm.

Every corpus program pybpf's verifier accepts (privileged) runs in the VM,
unverified, on random packets with random map contents, and must never
stop with a ``MemoryFault``: an access the verifier proved safe cannot
touch memory outside its region.  (The differential fuzz of
``test_differential_fuzz.py`` does the same for generated programs.)
"""

from __future__ import annotations

import random

import pytest

from corpus import Case, prepare, unsupported_reason
from pybpf.errors import BPFError, MemoryFault
from pybpf.isa import Insn
from pybpf.verifier.corpus import corpus_path, load_rows, verify_row
from pybpf.vm.progtypes import SUPPORTED

pytestmark = pytest.mark.skipif(corpus_path() is None,
                                reason="../shared/verifier-corpus is absent")


def _accepted_cases() -> list[tuple[dict, Case]]:
    out = []
    for row in load_rows(corpus_path()):
        if row["prog_type"] not in SUPPORTED:
            continue
        insns = [Insn(op & 0xFF, d, s, o, i) for op, d, s, o, i in row["insns"]]
        case = Case(row["name"], row["prog_type"], insns, row.get("maps") or {},
                    row.get("runs") or [], row)
        if unsupported_reason(case):
            continue
        out.append((row, case))
    return out


def _fill_maps(vm, rng: random.Random) -> None:
    for m in list(vm.maps_by_fd.values()):
        try:
            ks, vs = m.key_size, m.value_size
            if m.type in ("hash", "array") and vs:
                for key in (bytes(ks), rng.randbytes(ks)):
                    m.raw[key[:ks]] = rng.randbytes(vs)
        except (BPFError, KeyError, TypeError, AttributeError):
            continue


RAW_CONTEXT_TYPES = {"tracepoint", "raw_tracepoint", "raw_tracepoint_writable", "kprobe",
                     "perf_event", "tracing"}


def _check(every: int, seed: int, min_runs: int) -> None:
    rng = random.Random(seed)
    faults = []
    ran = 0
    for n, (row, case) in enumerate(_accepted_cases()):
        if n % every:
            continue
        result = verify_row(row)
        if result.verdict != "accept":
            continue
        try:
            vm, program = prepare(case)
        except BPFError:
            continue
        _fill_maps(vm, rng)
        for size in (14, 64, rng.randrange(15, 400)):
            if case.prog_type in RAW_CONTEXT_TYPES:
                # the hook gives the program at least the context it reads
                size = max(size, result.max_ctx_offset)
            packet = bytes(12) + b"\x08\x00" + rng.randbytes(max(size, 14) - 14)
            try:
                program.test_run(packet)
                ran += 1
            except MemoryFault as e:
                faults.append(f"{case.name}: {e}")
            except BPFError:
                continue
    assert ran > min_runs
    assert faults == []


def test_a_sample_of_accepted_corpus_programs_never_faults():
    _check(every=7, seed=7, min_runs=60)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_accepted_corpus_programs_never_fault(seed):
    _check(every=1, seed=seed, min_runs=500)
