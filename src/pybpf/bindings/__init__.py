"""Typed Python bindings for a BPF object (``pybpf gen bindings``).

:mod:`pybpf.bindings.generate` writes the module; generated modules import
:mod:`pybpf.bindings.runtime` (typed maps, ring buffers, variables and the
loader class) at run time.
"""
