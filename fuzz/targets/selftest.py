"""A target that misbehaves on purpose, so the harness's own counting can be
tested: a case whose draw ends in 3 aborts the process, 5 hangs, 7 raises
ValueError, 9 raises a BPFError; every other case is fine."""

from __future__ import annotations

import os
import random
import time

from fuzz.harness import Result, exception_result

CASE_TIMEOUT = 2.0
SETUP_TIMEOUT = 30.0


def setup(seed: int) -> None:
    """Nothing."""
    return None


def generate(state: None, rng: random.Random) -> int:
    """The case number, recovered from the random source's first draw."""
    return rng.randrange(1 << 30)


def execute(state: None, case: int) -> Result:
    """Misbehave by case number (see the module docstring)."""
    from pybpf.errors import BPFError

    marker = case % 10
    try:
        if marker == 3:
            os.abort()
        if marker == 5:
            time.sleep(3600)
        if marker == 7:
            raise ValueError("a bug")
        if marker == 9:
            raise BPFError("refused")
    except Exception as e:
        return exception_result(e, (BPFError,))
    return Result("ok")


def show(case: int) -> str:
    """The number."""
    return str(case)
