"""The short paths of a call from Python (a bare run, a single untraced
test run) give what the general paths give."""

from __future__ import annotations

import io

import pytest

from pybpf.backend import TestRunResult
from pybpf.vm import VM
from pybpf.vm.machine import RunResult

ENGINES = [False, pytest.param(True, marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("llvmlite") is None, reason="llvmlite is absent"))]


@pytest.mark.parametrize("jit", ENGINES)
def test_bare_calls_give_what_the_general_paths_give(jit):
    prog = VM(jit=jit).load("mov %r0, -7\nexit")
    for _ in range(2):                                  # the bare input is reused
        bare = prog.test_run(b"")
        traced = prog.test_run(b"", trace=io.StringIO())   # the general path
        assert type(bare) is TestRunResult
        assert bare._replace(duration_ns=0) == traced._replace(duration_ns=0)
        assert bare.retval == 0xFFFFFFF9 and bare.r0 == (1 << 64) - 7
        assert prog.invocation is None and prog.last_insn_count == 2
        run = prog.run()
        assert type(run) is RunResult
        assert run == prog.run(args=[0, 0]) == ((1 << 64) - 7, 2, None)
