"""Loading with the JIT stays linear and small, as tests/vm/test_load_scale.py
asks of the VM: a 1,000,000-instruction program within 400 MB of Python
allocations (it found 550 bytes an instruction under ``PYBPF_JIT=1``)."""

from __future__ import annotations

import sys
import tracemalloc

import pytest

pytest.importorskip("llvmlite")

from conftest import ROOT
from pybpf.objects import MapSpec
from pybpf.vm import VM

sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_load_scale import make_program


def peak_to_load(size: int, tier: str, monkeypatch) -> tuple[int, int]:
    """(peak bytes of Python allocations, slots) to load a ``size``-instruction
    program with the JIT's ``tier`` and run its early exit."""
    monkeypatch.setenv("PYBPF_JIT_TIER", tier)
    code = make_program(size)
    vm = VM(jit=True)
    vm.create_map(MapSpec("values", "array", 4, 8, 1))
    tracemalloc.start()
    try:
        prog = vm.load(code)
        assert prog.run(bytes(8)).insn_count == 4
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, len(prog.insns)


def test_baseline_code_loads_in_under_400_bytes_an_instruction(monkeypatch):
    small, n_small = peak_to_load(2_000, "baseline", monkeypatch)
    large, n_large = peak_to_load(20_000, "baseline", monkeypatch)
    assert n_large > 9 * n_small
    per_insn = (large - small) / (n_large - n_small)
    assert per_insn < 400, f"{per_insn:.0f} bytes per instruction"
