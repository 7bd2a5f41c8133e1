"""The userspace backend: address space, interpreter and the machine that runs
programs without a kernel.

>>> import pybpf.vm
>>> pybpf.vm.run("mov %r0, 7\\nexit").r0
7
"""

from __future__ import annotations

from ..backend import TestRunResult
from ..errors import TimeLimitExceeded
from .collection import Collection, load
from .engines import EngineUnavailable
from .machine import (
    DEFAULT_MAX_INSNS,
    TRACED_MAX_INSNS,
    VM,
    Program,
    RunResult,
    as_instructions,
)
from .memory import AddressSpace, Region
from .trace import Tracer


def run(program, mem: bytes | bytearray | None = None, **vm_options) -> RunResult:
    """Run ``program`` (slots, bytecode or assembly text) once in a fresh VM
    with ``r1`` pointing at ``mem``; ``vm_options`` go to :class:`VM`."""
    return VM(**vm_options).run(program, mem)


__all__ = ["DEFAULT_MAX_INSNS", "TRACED_MAX_INSNS", "VM", "AddressSpace", "Collection", "EngineUnavailable", "Program",
           "Region", "RunResult", "TestRunResult", "TimeLimitExceeded", "Tracer", "as_instructions",
           "load", "run"]
