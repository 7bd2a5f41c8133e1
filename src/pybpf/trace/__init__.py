"""bpftrace's language on pybpf: one-liners and ``.bt`` scripts parsed,
checked against this system's probes, compiled through the shared code
generator (:mod:`pybpf.lang.backend`) and run in the kernel, or in the
userspace VM on synthetic events::

    from pybpf import trace

    prog = trace.compile('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    trace.run(prog, duration=5)                      # in the kernel (root)
    text = trace.run_vm(prog, [trace.Event("tracepoint:syscalls:sys_enter_openat",
                                           comm="bash")])

Parts: :mod:`~pybpf.trace.lexer` and :mod:`~pybpf.trace.parser` (syntax),
:mod:`~pybpf.trace.semantic` (types, maps, actions), :mod:`~pybpf.trace.probes`
(probes on this system, ``-l``), :mod:`~pybpf.trace.codegen` (lowering),
:mod:`~pybpf.trace.runtime` (running, printing), :mod:`~pybpf.trace.output`
(bpftrace's formats).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "parse": ".parser", "analyze": ".semantic", "compile": ".runtime", "run": ".runtime",
    "run_vm": ".runtime", "Event": ".runtime", "Compiled": ".runtime",
    "list_probes": ".probes", "TraceError": ".errors", "TraceSyntaxError": ".errors",
    "TraceSemanticError": ".errors", "TraceProbeError": ".errors",
}
"""Public name -> the module defining it (imported on first use)."""

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
