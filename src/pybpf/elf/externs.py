"""Extern symbols of a BPF object: kernel config values and kernel symbols.

``extern int LINUX_KERNEL_VERSION __kconfig;`` and
``extern bool CONFIG_BPF_SYSCALL __kconfig __weak;`` are *kconfig* externs:
the loader lays them out in a read-only ``.kconfig`` array map, and their
values come from the running kernel's configuration (see
:mod:`pybpf.elf.kconfig`).  ``extern const struct rq runqueues __ksym;`` is
a *ksym* (a kernel variable whose address a ``lddw`` loads through its BTF
id) and ``extern struct task_struct *bpf_task_acquire(...) __ksym;`` a
*kfunc* (a kernel function called through its BTF id).  Both are recorded
for the kernel backend to resolve against the kernel's BTF.
"""

from __future__ import annotations

from typing import Any

from ..objects import Extern, ExternReference

KCONFIG_SECTION = ".kconfig"
KSYMS_SECTION = ".ksyms"

KIND_KCONFIG = "kconfig"
KIND_KSYM = "ksym"
KIND_KFUNC = "kfunc"


def externs_of(spec: Any) -> dict[str, Extern]:
    """The externs of an :class:`~pybpf.objects.ObjectSpec` (its ``externs``)."""
    return spec.externs


def extern_references_of(program: Any) -> list[ExternReference]:
    """The extern references of a :class:`~pybpf.objects.ProgramSpec`."""
    return program.extern_references


__all__ = [
    "KCONFIG_SECTION",
    "KIND_KCONFIG",
    "KIND_KFUNC",
    "KIND_KSYM",
    "KSYMS_SECTION",
    "Extern",
    "ExternReference",
    "extern_references_of",
    "externs_of",
]
