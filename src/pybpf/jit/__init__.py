"""The JIT: eBPF programs to native code, directly and through LLVM (llvmlite).

>>> from pybpf.vm import VM
>>> prog = VM(jit=True).load("mov %r0, 7\\nexit")       # doctest: +SKIP
>>> prog.run().r0                                       # doctest: +SKIP
7

``VM(jit=True)`` and ``pybpf.vm.load(spec, jit=True)`` compile every program
the VM loads; ``PYBPF_JIT=1`` makes that the default.  The interpreter stays
the specification: the code is generated from the same semantics table
(:mod:`pybpf.jit.codegen`), instructions the JIT does not translate run in
the interpreter (:meth:`pybpf.vm.interpreter.CompiledProgram.execute`), and
a program the JIT cannot compile at all (an invalid slot, a call into the
middle of a function) runs in the interpreter entirely.  Compiled code is
kept on disk (:mod:`pybpf.jit.cache`).  A program not in the cache first
runs machine code written without LLVM (:mod:`pybpf.jit.baseline`) and
moves to LLVM's code when hot (:mod:`pybpf.jit.tiers`;
``PYBPF_JIT_TIER=baseline|llvm`` forces a tier).

Importing this package installs the engine into :mod:`pybpf.vm.engines`.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..isa import Insn, validate
from ..vm import engines
from ..vm.interpreter import CompiledProgram
from . import cache
from .codegen import Unsupported
from .llvm import LLVMUnavailable, llvmlite_version
from .loader import LoaderError
from .program import JitProgram, packed_program
from .tiers import make_program


def available() -> bool:
    """Whether programs can be compiled here (llvmlite importable, x86-64)."""
    import platform

    return llvmlite_version() is not None and platform.machine() in ("x86_64", "AMD64")


def compile_program(insns: Any, **options: Any) -> Any:
    """The engine's factory: a :class:`JitProgram` for ``insns`` with
    :class:`~pybpf.vm.interpreter.CompiledProgram`'s arguments, or that
    interpreter for a program the JIT leaves to it (tracing, invalid slots).
    ``verification`` (a :class:`pybpf.verifier.VerifierResult` of exactly
    these instructions) lets the code skip the checks of proven accesses."""
    verification = options.pop("verification", None)
    if options.get("trace") is not None:
        return CompiledProgram(insns, **options)
    try:
        return make_program(insns, verification=verification, **options)
    except Unsupported:
        return CompiledProgram(insns, **options)
    except (LLVMUnavailable, LoaderError) as e:
        warnings.warn(f"pybpf.jit: running {options.get('name', 'prog')} in the interpreter: "
                      f"{e}", RuntimeWarning, stacklevel=2)
        return CompiledProgram(insns, **options)


def validate_program(insns: list[Insn], *, version: int) -> None:
    """:func:`pybpf.isa.validate` (same answers, same errors), remembered in
    the disk cache: a program validated before by this pybpf for this CPU
    version is not validated again (see :func:`pybpf.jit.cache.validated_key`
    for what the record is keyed by and why it can be trusted)."""
    try:
        key = cache.validated_key(packed_program(insns).digest, version)
    except Unsupported:                 # a field beyond 64 bits: no key
        validate(insns, version=version)
        return
    if cache.was_validated(key):
        return
    validate(insns, version=version)
    cache.record_validated(key)


compile_program.validate = validate_program  # type: ignore[attr-defined]

if available():
    engines.ENGINES["jit"] = compile_program

__all__ = ["JitProgram", "LLVMUnavailable", "Unsupported", "available", "compile_program",
           "validate_program"]
