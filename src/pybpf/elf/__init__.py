"""BPF object files: relocatable ELF from clang or zig -> :class:`~pybpf.objects.ObjectSpec`.

::

    import pybpf

    spec = pybpf.load_object("xdp_count.bpf.o")     # parse only: no kernel, no side effects
    spec.programs["count_packets"].type             # 'xdp'
    spec.maps["counts"].type                        # 'percpu_array'
    spec.set_variable("sample_rate", 10)            # a const volatile knob in .rodata
    resolve_kconfig(spec)                           # fill __kconfig externs from this kernel

The low-level reader (:mod:`pybpf.elf.reader`: :class:`ElfFile`, and
:class:`~pybpf.elf.reader.ElfImage` for any ELF file) is usable on its own
for tools.  The names below are imported on first use, so that
``pybpf.elf.reader`` can be imported without the object loader: the BTF
parser, which the loader builds on, reads ELF through it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .externs import Extern, ExternReference, extern_references_of, externs_of
    from .kconfig import KconfigError, read_kernel_config, resolve_kconfig
    from .loader import is_data_section, load_object
    from .reader import ElfFile, Relocation, Section, Symbol

_HOME = {
    "Extern": "externs", "ExternReference": "externs", "extern_references_of": "externs",
    "externs_of": "externs",
    "KconfigError": "kconfig", "read_kernel_config": "kconfig", "resolve_kconfig": "kconfig",
    "is_data_section": "loader", "load_object": "loader",
    "ElfFile": "reader", "Relocation": "reader", "Section": "reader", "Symbol": "reader",
}
"""Public name -> the submodule defining it."""


_SUBMODULES = ("externs", "kconfig", "loader", "maps", "reader")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME) | set(_SUBMODULES))


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
