"""Differential testing of the VM against the kernel on random programs.

Every program :mod:`proggen` generates must pass the kernel's verifier (a
rejection is a generator bug) and give, under ``BPF_PROG_TEST_RUN`` and in
pybpf's VM, the same retval, data_out, ctx_out and map contents.

The quick test runs 300 programs of each type; the slow one ten thousand::

    PYTHONPATH=src python -m pytest -q -s -m slow tests/differential/test_differential.py

Both are derandomized, so a run is reproducible; the slow test prints how
many programs ran, how long it took, the rejection rate and every difference.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from proggen import PROG_TYPES, Comparison, programs, run_both

pytestmark = pytest.mark.kernel("test_run")

#: The largest share of generated programs the verifier may reject.
MAX_REJECTION_RATE = 0.005
#: Programs of each type in the default run (the slow test runs ten thousand).
PER_TYPE = 300


def _check(comparison: Comparison) -> None:
    """Fail on a rejection (a generator bug) or any difference."""
    if comparison.rejected:
        pytest.fail(f"the verifier rejected a generated program: {comparison.rejected}\n"
                    f"{comparison.program}")
    differences = comparison.differences
    assert not differences, f"{comparison.program}\n" + "\n".join(differences)


@pytest.mark.parametrize("prog_type", PROG_TYPES)
def test_vm_matches_kernel(prog_type):
    seen = Counter()

    @settings(max_examples=PER_TYPE, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs(prog_type))
    def check(program):
        comparison = run_both(program)
        seen["rejected" if comparison.rejected else "run"] += 1
        _check(comparison)

    check()
    assert seen["run"] >= 0.95 * PER_TYPE


@pytest.mark.slow
def test_vm_matches_kernel_on_ten_thousand_programs():
    count = 10_000
    stats: Counter[str] = Counter()
    rejected: list[Comparison] = []
    different: list[Comparison] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def check(program):
        comparison = run_both(program)
        stats[program.prog_type] += 1
        if comparison.rejected:
            rejected.append(comparison)
        elif comparison.differences:
            different.append(comparison)

    start = time.perf_counter()
    check()
    elapsed = time.perf_counter() - start
    total = sum(stats.values())
    print(f"\n{total} programs ({dict(stats)}) in {elapsed:.0f} s: "
          f"{len(rejected)} rejected ({len(rejected) / total:.2%}), "
          f"{len(different)} with differences")
    for comparison in rejected[:5]:
        print(f"REJECTED: {comparison.rejected}\n{comparison.program}")
    for comparison in different[:20]:
        print(f"DIFFERENT:\n{comparison.program}\n" + "\n".join(comparison.differences))
    assert total >= count
    assert len(rejected) <= MAX_REJECTION_RATE * total, rejected[0].rejected
    assert not different, "\n".join(different[0].differences)
