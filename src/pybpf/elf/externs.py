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

from dataclasses import dataclass
from typing import Any

KCONFIG_SECTION = ".kconfig"
KSYMS_SECTION = ".ksyms"

KIND_KCONFIG = "kconfig"
KIND_KSYM = "ksym"
KIND_KFUNC = "kfunc"


@dataclass
class Extern:
    """One extern the object declares.

    ``kind`` is ``kconfig``, ``ksym`` or ``kfunc``; ``weak`` externs may be
    missing from the kernel (they read as zero, or as a NULL kfunc).
    ``type`` is the BTF type (the variable's type, or the FUNC for a kfunc);
    for kconfig externs ``offset`` and ``size`` place the value in the
    ``.kconfig`` map.
    """

    name: str
    kind: str
    weak: bool = False
    type: Any = None
    type_id: int = 0
    offset: int = 0
    size: int = 0


@dataclass
class ExternReference:
    """Instruction ``pc`` of a program uses extern ``name``: a ``lddw`` of a
    ksym's address (kind ``ksym``; the kernel backend sets src
    BPF_PSEUDO_BTF_ID and the BTF id), or a call of a kfunc (kind ``kfunc``;
    src BPF_PSEUDO_KFUNC_CALL and the BTF id)."""

    pc: int
    name: str
    kind: str


def externs_of(spec: Any) -> dict[str, Extern]:
    """The externs recorded on an :class:`~pybpf.objects.ObjectSpec` by
    :func:`pybpf.elf.load_object` (empty for specs built otherwise)."""
    return getattr(spec, "externs", None) or {}


def extern_references_of(program: Any) -> list[ExternReference]:
    """The extern references recorded on a
    :class:`~pybpf.objects.ProgramSpec` (empty for programs built otherwise)."""
    return getattr(program, "extern_references", None) or []


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
