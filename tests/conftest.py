"""Shared fixtures: where the project, its test data and the shared material
live; kernel-marked tests skip with the reason where ``bpf()`` is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"
EXAMPLES = ROOT / "examples"
DATA = TESTS / "data"
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(TESTS))


def shared_path(*parts: str) -> Path:
    """A path in ../shared, or skip the test when the shared material is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared material sits beside the checkout)")
    return path


_BPF_UNAVAILABLE: list[str | None] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``kernel`` skip, with the reason, where ``bpf()`` is refused."""
    if item.get_closest_marker("kernel") is None:
        return
    if not _BPF_UNAVAILABLE:
        from pybpf.kernel import unavailable_reason

        _BPF_UNAVAILABLE.append(unavailable_reason())
    if _BPF_UNAVAILABLE[0]:
        pytest.skip(f"bpf() refused: {_BPF_UNAVAILABLE[0]}")
