"""max_seconds and the instruction limit under the JIT, as in the interpreter.

The compiled code asks the VM's meter whenever its count passes the runtime
block's CHECK_AT (at function entries and backward jumps): the instruction
limit, and the wall clock every CLOCK_INTERVAL instructions when
``max_seconds`` is set.  A helper that calls back into the program many
times (``bpf_loop``) is stopped at the entry of a callback, as the
interpreter stops it: the callbacks count on from the run's count.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("llvmlite")

from pybpf.errors import InstructionLimitExceeded
from pybpf.vm import VM, TimeLimitExceeded

#: 10^11 iterations: only a limit ends it.
ENDLESS = "mov %r0, 0\nlddw %r1, 100000000000\nadd %r0, 1\nsub %r1, 1\njne %r1, 0, -3\nexit"

BPF_LOOP = """
    lddw %r1, 8000000
    lddw %r2, func[cb]
    mov %r3, 0
    mov %r4, 0
    call 181              # bpf_loop(8,000,000, cb, 0, 0)
    exit
cb:
    mov %r0, 0
    exit
"""


def test_max_seconds_stops_a_long_loop_in_native_code():
    prog = VM(jit=True, max_insns=None, max_seconds=0.2).load(ENDLESS)
    assert prog._compiled.engine == "jit"
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"pc 3 \(add %r0, 1\): time limit exceeded"):
        prog.run()
    assert time.monotonic() - start < 5


def test_max_seconds_stops_a_helper_that_calls_back_many_times():
    prog = VM(jit=True, max_insns=None, max_seconds=0.2).load(BPF_LOOP)
    start = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"pc 8 \(mov %r0, 0\)"):
        prog.run()
    assert time.monotonic() - start < 5


def test_max_seconds_holds_for_each_run_of_a_repeated_test_run():
    prog = VM(jit=True, max_insns=None, max_seconds=0.2).load(ENDLESS)
    with pytest.raises(TimeLimitExceeded):
        prog.test_run(b"", repeat=3)
    short = VM(jit=True, max_seconds=0.5).load("mov %r0, 3\nexit")
    assert short.test_run(b"", repeat=100_000).retval == 3


def test_a_limit_set_after_loading_holds():
    vm = VM(jit=True, max_insns=None)
    prog = vm.load(ENDLESS)
    vm.max_seconds = 0.1
    with pytest.raises(TimeLimitExceeded):
        prog.run()
    vm.max_seconds = None
    vm.max_insns = 1000
    with pytest.raises(InstructionLimitExceeded, match=r"instruction limit exceeded: 100[0-9] executed"):
        prog.run()
