"""pybpf's verifier against the Linux 6.18 verifier on the selftests corpus.

Every row of ../shared/verifier-corpus is verified privileged and compared
with the kernel's verdict (``kernel_6_18``); the rows with an unprivileged
expectation are also verified unprivileged and compared with what this
kernel said when the same programs were loaded without capabilities
(``data/kernel_6_18_unpriv.json``, written by ``kernel_oracle.py
dump-unpriv``).  The thresholds are the issue's: at least 97% of verdicts
agree, the kernel's error line is in our message for at least 90% of the
rejections, no program the kernel rejects is accepted.  Every disagreement
(verdict or message) is listed with its reason in
``data/known_disagreements.json``; the list must be exact, so that a fix
shrinks it and a regression fails.

The whole corpus takes about a minute on a busy machine, so those tests are
``slow``; the default run verifies a fixed sample (every 8th row, both
modes) and checks it the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.verifier.corpus import corpus_path, load_rows, run, summary

KNOWN = json.loads((Path(__file__).parent / "data" / "known_disagreements.json").read_text())

pytestmark = pytest.mark.skipif(corpus_path() is None,
                                reason="../shared/verifier-corpus is absent")


SAMPLE_EVERY = 8


@pytest.fixture(scope="module")
def rows():
    return load_rows()


def test_a_sample_agrees_with_the_kernel(rows):
    for privileged, mode in ((True, "privileged"), (False, "unprivileged")):
        outcomes = run(rows, privileged=privileged, every=SAMPLE_EVERY)
        assert len(outcomes) > 10
        unsafe = [o.name for o in outcomes if o.expected == "reject" and o.verdict == "accept"]
        assert unsafe == []
        unlisted = _disagreements(outcomes) - set(KNOWN[mode])
        assert not unlisted, f"new disagreements: {sorted(unlisted)}"
        assert not [o.name for o in outcomes if o.verdict == "crash"]


@pytest.fixture(scope="module")
def privileged(rows):
    return run(rows, privileged=True)


@pytest.fixture(scope="module")
def unprivileged(rows):
    return run(rows, privileged=False)


def _disagreements(outcomes) -> set[str]:
    return {o.name for o in outcomes if not o.agrees or not o.message_matches}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["privileged", "unprivileged"])
def test_thresholds(mode, request):
    outcomes = request.getfixturevalue(mode)
    s = summary(outcomes)
    assert s["rows"] > 100
    assert s["agreement"] >= 0.97, s
    assert s["message_rate"] >= 0.90, s


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["privileged", "unprivileged"])
def test_no_unsafe_accepts(mode, request):
    unsafe = [o.name for o in request.getfixturevalue(mode)
              if o.expected == "reject" and o.verdict == "accept"]
    assert unsafe == []


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["privileged", "unprivileged"])
def test_every_disagreement_is_listed_with_its_reason(mode, request):
    found = _disagreements(request.getfixturevalue(mode))
    listed = set(KNOWN[mode])
    assert not found - listed, f"new disagreements: {sorted(found - listed)}"
    assert not listed - found, f"listed but now agreeing (remove them): {sorted(listed - found)}"
    assert all(KNOWN[mode].values()), "every listed disagreement says why"


@pytest.mark.slow
def test_no_row_crashes(privileged, unprivileged):
    crashed = [o.name for o in privileged + unprivileged if o.verdict == "crash"]
    assert crashed == []
