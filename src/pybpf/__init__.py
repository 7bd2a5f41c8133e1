"""pybpf: the eBPF system in Python.

The instruction set and its tools live in :mod:`pybpf.isa`, the userspace
virtual machine in :mod:`pybpf.vm`.  Heavy parts are imported on first use,
so ``import pybpf`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    AssemblerError,
    AttachError,
    BPFError,
    BTFError,
    CallDepthExceeded,
    CoreRelocationError,
    DecodeError,
    HelperError,
    InstructionError,
    InstructionLimitExceeded,
    KernelError,
    LoadError,
    MemoryFault,
    ObjectError,
    VerifierError,
    VMError,
)

__version__ = "0.1.0"

_SUBMODULES = {"isa", "vm", "helpers", "spec", "btf", "elf", "kernel", "maps", "cli",
               "conformance", "toolchain", "objects"}

__all__ = [
    "AssemblerError",
    "AttachError",
    "BPFError",
    "BTFError",
    "CallDepthExceeded",
    "CoreRelocationError",
    "DecodeError",
    "HelperError",
    "InstructionError",
    "InstructionLimitExceeded",
    "KernelError",
    "LoadError",
    "MemoryFault",
    "ObjectError",
    "VMError",
    "VerifierError",
    "__version__",
    "assemble",
    "disassemble",
    "load_object",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in ("assemble", "disassemble"):
        return getattr(importlib.import_module(".isa", __name__), name)
    if name == "load_object":
        return importlib.import_module(".elf", __name__).load_object
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
