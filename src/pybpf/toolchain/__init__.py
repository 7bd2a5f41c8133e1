"""Compiling BPF C without a system compiler.

::

    from pybpf.toolchain import compile

    obj = compile("xdp_count.bpf.c")                       # -> xdp_count.bpf.o next to it
    obj = compile("prog.bpf.c", "out/prog.o", defines={"DEBUG": 1}, arch="arm64")

The ``ziglang`` wheel carries clang: ``zig cc -target bpfel-freestanding``
compiles BPF with BTF and CO-RE relocations, so ``pip install ziglang`` is
all a machine needs.  A system ``clang`` (``-target bpf``) is used when asked
for, or by ``compiler="auto"`` when zig is not installed.  pybpf's own
``bpf/bpf_helpers.h``, ``bpf/bpf_tracing.h``, ``bpf/bpf_core_read.h`` and
``bpf/bpf_endian.h`` are on the include path (:func:`include_dir`).
"""

from .compiler import (
    CompileError,
    Compiler,
    CompilerNotFound,
    cache_dir,
    compile,
    compile_source,
    find_compiler,
    include_dir,
    target_arch,
    vmlinux_header,
)

__all__ = [
    "CompileError",
    "Compiler",
    "CompilerNotFound",
    "cache_dir",
    "compile",
    "compile_source",
    "find_compiler",
    "include_dir",
    "target_arch",
    "vmlinux_header",
]
