"""The VM-vs-kernel differential tests with the VM on the JIT.

The generated programs (maps, helpers, packets and contexts of every
program type :mod:`proggen` knows) run under ``BPF_PROG_TEST_RUN`` and in a
VM whose engine is the JIT; retval, data_out, ctx_out and the maps must be
the same.  The default run takes a sample of each type; the slow test ten
thousand programs::

    PYTHONPATH=src python -m pytest -q -s -m slow tests/jit/test_jit_differential.py
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("llvmlite")

from proggen import PROG_TYPES, programs, run_both
from pybpf.jit import JitProgram
from pybpf.vm import engines as vm_engines

pytestmark = pytest.mark.kernel("test_run")

#: Programs of each type in the default run.
PER_TYPE = 40


@pytest.fixture
def engines(monkeypatch) -> Counter:
    """Counts what the JIT made of each program loaded: "jit" (native code)
    or "interpreter" (a program it leaves to the interpreter)."""
    made: Counter[str] = Counter()
    factory = vm_engines.engine("jit")
    assert factory is not None

    def counting(*args, **kwargs):
        compiled = factory(*args, **kwargs)
        made["jit" if isinstance(compiled, JitProgram) else "interpreter"] += 1
        return compiled

    monkeypatch.setitem(vm_engines.ENGINES, "jit", counting)
    return made


def _differences(count: int, prog_type: str | None) -> tuple[Counter, list, list]:
    stats: Counter[str] = Counter()
    rejected, different = [], []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs(prog_type) if prog_type else programs())
    def check(program):
        comparison = run_both(program, jit=True)
        stats[program.prog_type] += 1
        if comparison.rejected:
            rejected.append(comparison)
        elif comparison.differences:
            different.append(comparison)

    check()
    return stats, rejected, different


@pytest.mark.parametrize("prog_type", PROG_TYPES)
def test_jit_matches_kernel(prog_type, engines):
    stats, rejected, different = _differences(PER_TYPE, prog_type)
    assert not rejected, rejected[0].rejected
    assert not different, f"{different[0].program}\n" + "\n".join(different[0].differences)
    assert sum(stats.values()) >= PER_TYPE
    assert engines["jit"] >= 0.95 * sum(engines.values())   # native code, not the fallback


@pytest.mark.slow
def test_jit_matches_kernel_on_ten_thousand_programs(engines):
    start = time.perf_counter()
    stats, rejected, different = _differences(10_000, None)
    total = sum(stats.values())
    print(f"\n{total} programs ({dict(stats)}) in {time.perf_counter() - start:.0f} s: "
          f"{len(rejected)} rejected, {len(different)} with differences; engines {dict(engines)}")
    for comparison in different[:20]:
        print(f"DIFFERENT:\n{comparison.program}\n" + "\n".join(comparison.differences))
    assert total >= 10_000
    assert len(rejected) <= 0.005 * total
    assert not different, "\n".join(different[0].differences)
