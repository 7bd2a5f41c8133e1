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
from pybpf.vm.progtypes import SUPPORTED

#: One case in SAMPLE runs in the default suite.
SAMPLE = 12

CASES = [c for c in (load_cases() if CORPUS.exists() else [])
         if c.prog_type in SUPPORTED and c.runs and not unsupported_reason(c)]


def _params() -> list:
    params = shared_params(CASES, lambda c: c.name, *CORPUS_PARTS)
    return [p if i % SAMPLE == 0 or p.id == "shared-absent"
            else pytest.param(*p.values, id=p.id, marks=pytest.mark.slow)
            for i, p in enumerate(params)]


def _outcomes(case, jit: bool) -> tuple[str, list]:
    try:
        _vm, program = prepare(case, jit=jit)
    except BPFError as e:
        return "refused", [f"{type(e).__name__}: {e}"]
    engine = getattr(program._compiled, "engine", "interpreter")
    out = []
    for run in case.runs:
        try:
            result = program.test_run(bytes.fromhex(run["data"]))
            out.append((result.retval, result.data_out))
        except BPFError as e:
            out.append((type(e).__name__, str(e)))
    return engine, out


@pytest.mark.parametrize("case", _params())
def test_interpreter_and_jit_agree(case):
    engine, jit = _outcomes(case, True)
    _, interpreted = _outcomes(case, False)
    assert jit == interpreted
    assert engine in ("jit", "refused")
