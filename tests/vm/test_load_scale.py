"""Loading is linear and small: a 1,000,000-instruction program (the
kernel's limit) loads in the VM in well under 10 s and 1 GB
(``benchmarks/bench_load_scale.py`` prints the figures)."""

from __future__ import annotations

import sys
import time
import tracemalloc

import pytest

from conftest import ROOT
from pybpf.objects import MapSpec
from pybpf.vm import VM

sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_load_scale import make_program, rss_bytes


def load_and_measure(size: int, *, traced: bool) -> tuple[float, int, int]:
    """(seconds, bytes, slots) to load and run the early exit of a
    ``size``-instruction program; bytes is the peak of Python allocations
    when ``traced`` (tracemalloc slows allocation: time is then not
    meaningful), else the growth of the resident memory."""
    code = make_program(size)
    vm = VM()
    vm.create_map(MapSpec("values", "array", 4, 8, 1))
    before = rss_bytes()
    if traced:
        tracemalloc.start()
    try:
        start = time.perf_counter()
        prog = vm.load(code)
        assert prog.run(bytes(8)).insn_count == 4
        seconds = time.perf_counter() - start
        used = tracemalloc.get_traced_memory()[1] if traced else rss_bytes() - before
    finally:
        tracemalloc.stop()
    return seconds, used, len(prog.insns)


def test_memory_to_load_grows_linearly_and_small():
    _, small, n_small = load_and_measure(20_000, traced=True)
    _, large, n_large = load_and_measure(200_000, traced=True)
    assert n_large > 9 * n_small
    per_insn = (large - small) / (n_large - n_small)
    assert per_insn < 400, f"{per_insn:.0f} bytes per instruction"   # 1M -> under 400 MB


@pytest.mark.slow
def test_a_million_instructions_load_in_under_ten_seconds_and_a_gigabyte():
    seconds, grown, slots = load_and_measure(1_000_000, traced=False)
    assert slots > 990_000
    assert grown < 1 << 30
    assert seconds < 10
