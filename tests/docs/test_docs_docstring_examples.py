"""The ``>>>`` examples in pybpf's docstrings run (they are code blocks on
the API reference pages): each docstring with examples is a doctest.  An
example that cannot run here says so with ``# doctest: +SKIP``."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted((SRC / "pybpf").rglob("*.py")):
        if ">>>" in path.read_text():
            parts = list(path.relative_to(SRC).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def _examples():
    params = []
    for name in _modules_with_examples():
        module = importlib.import_module(name)
        for test in doctest.DocTestFinder().find(module, name):
            if test.examples and test.name.startswith(name):
                params.append(pytest.param(test, id=f"{test.name}:{test.lineno}"))
    return params


EXAMPLES = _examples()


def test_examples_are_found():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("test", EXAMPLES)
def test_docstring_examples_run(test: doctest.DocTest):
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)
