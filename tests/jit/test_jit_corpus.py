"""The interpreter and the JIT agree on every program of the verifier corpus
that runs (../shared/verifier-corpus: the kernel's verifier selftests with
their packets): same retval, same packet out, or the same error.  A sample
runs by default, every program under ``-m slow``."""

from __future__ import annotations

import pytest

pytest.importorskip("llvmlite")

from conftest import shared_params
from corpus import CORPUS, CORPUS_PARTS, load_cases, prepare, unsupported_reason
from pybpf.errors import BPFError
from pybpf.helpers.environment import Environment
from pybpf.vm.progtypes import SUPPORTED

#: One case in SAMPLE runs in the default suite.
SAMPLE = 12
#: The corpus records this retval where the kernel returned an address.
POINTER_PLACEHOLDER = 13303370
#: Programs that write a packet pointer's bytes into the packet: data_out
#: changes with the packet's address, from one run to the next, in either engine.
LEAKS_ADDRESSES = {
    "ctx_skb: direct packet write for SK_SKB",
    "direct_packet_access: direct packet access: test4 (write)",
    "direct_packet_access: direct packet access: test18 (imm += pkt_ptr, 1)",
    "direct_packet_access: direct packet access: test19 (imm += pkt_ptr, 2)",
    "lwt: direct packet write for LWT_XMIT",
}

CASES = [c for c in (load_cases() if CORPUS.exists() else [])
         if c.prog_type in SUPPORTED and c.runs and not unsupported_reason(c)]


def _params() -> list:
    params = shared_params(CASES, lambda c: c.name, *CORPUS_PARTS)
    return [p if i % SAMPLE == 0 or p.id == "shared-absent"
            else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
            for i, p in enumerate(params)]


def _outcomes(case, jit: bool, keep: list) -> tuple[str, list]:
    try:
        vm, program = prepare(case, jit=jit, env=Environment.fixed())
    except BPFError as e:
        return "refused", [f"{type(e).__name__}: {e}"]
    keep.append(vm)             # alive until the comparison: the next VM gets other addresses
    engine = getattr(program._compiled, "engine", "interpreter")
    out = []
    for run in case.runs:
        if run["retval"] == POINTER_PLACEHOLDER:
            continue        # an address: each VM has its own
        try:
            result = program.test_run(bytes.fromhex(run["data"]))
            out.append((result.retval, None if case.name in LEAKS_ADDRESSES
                        else result.data_out))
        except BPFError as e:
            out.append((type(e).__name__, str(e)))
    return engine, out


@pytest.mark.parametrize("case", _params())
def test_interpreter_and_jit_agree(case):
    keep: list = []
    engine, jit = _outcomes(case, True, keep)
    _, interpreted = _outcomes(case, False, keep)
    assert engine in ("jit", "refused")
    if jit != interpreted:
        _, again = _outcomes(case, False, keep)
        if again != interpreted:    # the interpreter disagrees with itself: addresses leak out
            pytest.skip("the outcome holds an address (the program writes a pointer out)")
    assert jit == interpreted
