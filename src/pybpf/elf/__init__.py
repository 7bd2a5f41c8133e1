"""BPF object files: relocatable ELF from clang or zig -> :class:`~pybpf.objects.ObjectSpec`.

::

    import pybpf

    spec = pybpf.load_object("xdp_count.bpf.o")     # parse only: no kernel, no side effects
    spec.programs["count_packets"].type             # 'xdp'
    spec.maps["counts"].type                        # 'percpu_array'
    spec.set_variable("sample_rate", 10)            # a const volatile knob in .rodata
    resolve_kconfig(spec)                           # fill __kconfig externs from this kernel

The low-level reader (:class:`ElfFile`) is usable on its own for tools.
"""

from .externs import Extern, ExternReference, extern_references_of, externs_of
from .kconfig import KconfigError, read_kernel_config, resolve_kconfig
from .loader import is_data_section, load_object
from .reader import ElfFile, Relocation, Section, Symbol

__all__ = [
    "ElfFile",
    "Extern",
    "ExternReference",
    "KconfigError",
    "Relocation",
    "Section",
    "Symbol",
    "extern_references_of",
    "externs_of",
    "is_data_section",
    "load_object",
    "read_kernel_config",
    "resolve_kconfig",
]
