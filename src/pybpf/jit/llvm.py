"""The LLVM side of the JIT: llvmlite, initialised once, turning IR text into
an x86-64 object file.

llvmlite is imported only here and only when something is compiled: a
program whose object is in the disk cache loads without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


class LLVMUnavailable(ImportError):
    """llvmlite is not installed (or cannot load): the interpreter runs programs."""


def llvmlite_version() -> str | None:
    """The installed llvmlite's version, without loading LLVM; None when absent."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("llvmlite")
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _binding() -> Any:
    try:
        import llvmlite.binding as llvm
    except ImportError as e:
        raise LLVMUnavailable(f"the JIT needs llvmlite (pip install 'pybpf[jit]'): {e}") from e
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm


@lru_cache(maxsize=3)
def target_machine(opt: int = 2) -> Any:
    """The host's target machine (its CPU and features: code is cached per
    CPU), generating code at LLVM's level ``opt`` (0-3)."""
    llvm = _binding()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=opt, reloc="pic", codemodel="small")


#: The passes of the default pipeline (``optimize=1``), chosen by measurement
#: (benchmarks/bench_jit.py, 1,000 instructions): registers out of their
#: stack slots (SROA), then instruction combining and CFG simplification,
#: and code generation at level 1.  That compiles in about a third of the
#: time of LLVM's -O2 pipeline with its level-2 code generation and runs
#: the FNV-1a and xorshift workloads as fast or faster; what it gives up is
#: the loop analyses (-O2 computes a counting loop's result in closed form).
#: Functions compiled quickly (``compile_module``'s ``quick``) get them too:
#: without instruction combining their code is larger and a third slower,
#: for a tenth less compile time.
LIGHT_PASSES = ("sroa", "instruction_combine", "simplify_cfg")


@lru_cache(maxsize=1)
def host_description() -> str:
    """Triple, CPU and features of the host as LLVM sees them (part of the cache key)."""
    llvm = _binding()
    return f"{llvm.get_process_triple()}/{llvm.get_host_cpu_name()}/" \
           f"{llvm.get_host_cpu_features().flatten()}/{llvm.llvm_version_info}"


#: The stack LLVM compiles on (:func:`compile_module`): bytes per byte of the
#: module's text, at least STACK_MIN and at most STACK_MAX.  Some of LLVM's
#: routines recurse once per value of a chain of dependent instructions
#: (instruction combining asks whether a 32-bit truncation can be pushed
#: through every add and xor before it): measured about 4 bytes of stack per
#: byte of text, so a straight 40,000-instruction program overflowed a
#: main thread's usual 8 MiB and killed the process.  The margin is
#: fourfold; untouched stack costs address space only.
STACK_PER_TEXT_BYTE = 16
STACK_MIN = 64 << 20
STACK_MAX = 4 << 30
_stack_size_lock = threading.Lock()


def compile_module(text: str, *, optimize: int = 1, quick: Sequence[str] = ()) -> bytes:
    """An object file from the text of an LLVM module: ``optimize`` 0 runs
    no pass (code generation at level 0), 1 the :data:`LIGHT_PASSES`
    (level 1), 2 LLVM's -O2 pipeline without vectorisation (level 2).
    The functions named in ``quick`` get the passes, then LLVM's quick code
    generation (marked ``optnone`` after the passes: fast instruction
    selection and no machine-level optimisation, register allocation as
    at ``optimize``).  LLVM runs on a thread of its own with a stack sized
    for the module (:data:`STACK_PER_TEXT_BYTE`), whatever the caller's."""
    stack = min(max(STACK_MIN, STACK_PER_TEXT_BYTE * len(text)), STACK_MAX)
    return on_stack_of(stack, _compile, text, optimize, quick)


def on_stack_of(size: int, work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` run on a new thread with a stack of ``size`` bytes
    (rounded up to a MiB), the caller waiting; on the caller's thread when no
    such thread can be made (the address space refused it)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, work(*args)))
        except BaseException as e:              # handed to the caller
            outcome.append((False, e))

    thread = threading.Thread(target=run, name="pybpf-llvm", daemon=True)
    with _stack_size_lock:                      # the size applies to threads started now
        previous = threading.stack_size(-(-size // (1 << 20)) << 20)
        try:
            thread.start()
        except RuntimeError:                    # no memory for that stack
            thread = None
        finally:
            threading.stack_size(previous)
    if thread is None:
        return work(*args)
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _compile(text: str, optimize: int, quick: Sequence[str]) -> bytes:
    llvm = _binding()
    with _lock:
        tm = target_machine(min(optimize, 2))
        module = llvm.parse_assembly(text)
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        if optimize >= 2:
            tuning = llvm.create_pipeline_tuning_options(speed_level=optimize)
            tuning.loop_vectorization = False
            tuning.slp_vectorization = False
            builder = llvm.create_pass_builder(tm, tuning)
            builder.getModulePassManager().run(module, builder)
        elif optimize == 1:
            builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(0))
            _run_passes(llvm, module, builder, LIGHT_PASSES)
        _quick(module, quick)
        return bytes(tm.emit_object(module))


def _run_passes(llvm: Any, module: Any, builder: Any, names: Sequence[str]) -> None:
    passes = llvm.create_new_module_pass_manager()
    for name in names:
        getattr(passes, f"add_{name}_pass")()
    passes.run(module, builder)


def _quick(module: Any, names: Sequence[str]) -> None:
    """Mark functions ``optnone``: passes after this skip them, and code
    generation selects their instructions quickly."""
    for name in names:
        fn = module.get_function(name)
        fn.add_function_attribute("noinline")      # optnone requires it
        fn.add_function_attribute("optnone")


def check_module(text: str) -> None:
    """Parse and verify a module (tests: a generator bug fails here, named)."""
    llvm = _binding()
    with _lock:
        llvm.parse_assembly(text).verify()
