"""LLVM compiles on a stack of its own, sized for the module: some of its
routines recurse once per instruction of a dependency chain, and a long
chain overflowed the caller's stack and killed the process (a segmentation
fault: PYBPF_JIT=1 PYBPF_JIT_TIER=llvm tests/vm/test_load_scale.py, a
200,000-instruction program; a straight 40,000-instruction one does it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("llvmlite")

from conftest import SRC
from pybpf.jit.llvm import on_stack_of
from pybpf.vm import VM


def chain(n: int) -> str:
    """``n`` dependent adds and xors, then a 32-bit move of the result (which
    instruction combining tries to push back through the whole chain)."""
    return ("r2 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r1 + 8)\n" + "r0 += r2\nr0 ^= r2\n" * (n // 2)
            + "w0 = w0\nexit\n")


CHILD = """
import resource, struct, sys
resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, resource.getrlimit(resource.RLIMIT_STACK)[1]))
from pybpf.vm import VM
prog = VM(jit=True).load(sys.stdin.read())
print(type(prog._compiled).__name__, prog.run(struct.pack("<QQ", 3, 5)).r0)
"""


def test_a_long_chain_compiles_with_llvm_whatever_the_callers_stack(tmp_path):
    # 8,000 instructions need more than the 1 MiB the child's main thread
    # gets (RLIMIT_STACK applies to it): before the fix it died of SIGSEGV
    source = chain(8_000)
    expected = VM(jit=False).load(source).run((3).to_bytes(8, "little")
                                               + (5).to_bytes(8, "little")).r0
    env = dict(os.environ, PYTHONPATH=str(SRC), PYBPF_JIT_TIER="llvm",
               PYBPF_JIT_CACHE=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", CHILD], input=source, capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.split() == ["JitProgram", str(expected)]


def test_work_on_a_stack_of_its_own_returns_and_raises_as_called():
    assert on_stack_of(1 << 20, divmod, 7, 2) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        on_stack_of(1 << 20, divmod, 7, 0)
