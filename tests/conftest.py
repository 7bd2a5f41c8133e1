"""Shared fixtures: where the project, its test data and the shared material
live; the one place kernel tests are skipped.

Kernel tests carry ``@pytest.mark.kernel`` and nothing else: the hook below
skips them, with the reason, where ``bpf()`` is refused.  Arguments to the
marker name further kernel facilities the test needs, each probed once:

- ``@pytest.mark.kernel("test_run")``: ``BPF_PROG_TEST_RUN`` must run a
  program (the differential tests).

The shared material (the conformance suite, the verifier corpus) sits in
``../shared`` beside the checkout, or where ``PYBPF_SHARED`` says; tests that
read it skip with the reason when it is absent.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"
EXAMPLES = ROOT / "examples"
DATA = TESTS / "data"
SHARED = Path(os.environ.get("PYBPF_SHARED") or ROOT.parent / "shared")
sys.path.insert(0, str(TESTS))


def shared_absent(*parts: str) -> str | None:
    """Why ``../shared/<parts>`` cannot be read (None when it exists)."""
    path = SHARED.joinpath(*parts)
    if path.exists():
        return None
    return f"{path} is absent (the shared material sits beside the checkout or in $PYBPF_SHARED)"


def shared_path(*parts: str) -> Path:
    """A path in ../shared, or skip the test when the shared material is absent."""
    reason = shared_absent(*parts)
    if reason:
        pytest.skip(reason)
    return SHARED.joinpath(*parts)


def shared_params(values: Iterable[Any], ids: Callable[[Any], str], *parts: str) -> list:
    """Parameters for a test over ``values`` read from ``../shared/<parts>``;
    where that is absent, one parameter that skips with the reason (rather
    than pytest's reasonless "got empty parameter set")."""
    reason = shared_absent(*parts)
    if reason:
        return [pytest.param(None, id="shared-absent", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(v, id=ids(v)) for v in values]


# --- kernel tests -------------------------------------------------------------------

def _bpf_refused() -> str | None:
    from pybpf.kernel import features, unavailable_reason

    reason = unavailable_reason()
    if reason:
        return f"bpf() refused: {reason}"
    # Where unprivileged bpf() is allowed, anyone may create maps and load
    # socket filters; the kernel tests need the privileged program types too.
    for prog_type in ("xdp", "tracepoint"):
        probe = features.probe_prog_type(prog_type)
        if probe.errno == errno.EPERM:
            return (f"bpf() works here without privileges only: {prog_type} programs are "
                    f"refused ({probe.reason}); the kernel tests need CAP_BPF, CAP_PERFMON "
                    f"and CAP_NET_ADMIN")
    return None


def _test_run_refused() -> str | None:
    from pybpf import assemble
    from pybpf.errors import BPFError
    from pybpf.kernel import KernelProgram

    try:
        with KernelProgram.load(assemble("r0 = 1\nexit"), "xdp") as prog:
            prog.test_run(bytes(64))
    except BPFError as e:
        return f"BPF_PROG_TEST_RUN refused: {e}"
    return None


#: What ``@pytest.mark.kernel(<need>)`` may name, and how to find out it is refused.
KERNEL_NEEDS: dict[str, Callable[[], str | None]] = {
    "bpf": _bpf_refused,
    "test_run": _test_run_refused,
}
_refusals: dict[str, str | None] = {}


def kernel_refusal(need: str = "bpf") -> str | None:
    """Why this process cannot use the kernel facility ``need`` (probed
    once), or None when it can."""
    if need not in KERNEL_NEEDS:
        raise ValueError(f"@pytest.mark.kernel({need!r}): known needs are {sorted(KERNEL_NEEDS)}")
    if need not in _refusals:
        _refusals[need] = KERNEL_NEEDS[need]()
    return _refusals[need]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``kernel`` skip, with the reason, where ``bpf()`` (or a
    facility the marker names) is refused."""
    markers = list(item.iter_markers("kernel"))
    if not markers:
        return
    needs = ["bpf"] + [need for m in markers for need in m.args]
    for need in needs:
        reason = kernel_refusal(need)
        if reason:
            pytest.skip(reason)
