"""BTF, the BPF Type Format: parse it, walk its type graph, build it, write it
as a C header, decode values with it, and resolve CO-RE relocations.

::

    from pybpf.btf import BTF

    btf = BTF.load_vmlinux()                     # the running kernel's types
    task = btf.find("task_struct")
    btf.member_offset(task, "se.vruntime")       # byte offset of a nested member
    btf.enum_values("bpf_map_type")["BPF_MAP_TYPE_HASH"]
    open("vmlinux.h", "w").write(btf.dump_c())   # like bpftool ... format c

Parsing is lazy: the constructor only indexes where each type starts, and a
type becomes an object the first time it is used.  So is this package:
names are imported on first use (a dump read from the cache,
:mod:`pybpf.btf.dumpcache`, needs none of the parser).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_MODULES = {
    "btf": ("BTF", "FieldLocation", "TypeNotFoundError", "TypesView",),
    "builder": ("BTFBuilder",),
    "core": ("CoreError", "CoreResolver", "CoreResult", "POISON_HELPER_ID", "RelocKind",
             "apply_relocations", "poison_messages", "relocate",),
    "ext": ("BTFExt", "CoreRelo", "FuncInfo", "LineInfo",),
    "types": ("Array", "Composite", "Const", "Datasec", "DeclTag", "Enum", "Enum64", "EnumBase",
              "EnumValue", "Float", "Func", "FuncProto", "Fwd", "INT_BOOL", "INT_CHAR",
              "INT_SIGNED", "Int", "Kind", "Linkage", "Member", "Param", "Ptr", "Restrict",
              "Struct", "Type", "TypeTag", "Typedef", "Union", "VOID", "Var", "VarSecinfo", "Void",
              "Volatile",),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

if TYPE_CHECKING:
    from .btf import BTF, FieldLocation, TypeNotFoundError, TypesView
    from .builder import BTFBuilder
    from .core import (
        POISON_HELPER_ID,
        CoreError,
        CoreResolver,
        CoreResult,
        RelocKind,
        apply_relocations,
        poison_messages,
        relocate,
    )
    from .ext import BTFExt, CoreRelo, FuncInfo, LineInfo
    from .types import (
        INT_BOOL,
        INT_CHAR,
        INT_SIGNED,
        VOID,
        Array,
        Composite,
        Const,
        Datasec,
        DeclTag,
        Enum,
        Enum64,
        EnumBase,
        EnumValue,
        Float,
        Func,
        FuncProto,
        Fwd,
        Int,
        Kind,
        Linkage,
        Member,
        Param,
        Ptr,
        Restrict,
        Struct,
        Type,
        Typedef,
        TypeTag,
        Union,
        Var,
        VarSecinfo,
        Void,
        Volatile,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "BTF",
    "INT_BOOL",
    "INT_CHAR",
    "INT_SIGNED",
    "POISON_HELPER_ID",
    "VOID",
    "Array",
    "BTFBuilder",
    "BTFExt",
    "Composite",
    "Const",
    "CoreError",
    "CoreRelo",
    "CoreResolver",
    "CoreResult",
    "Datasec",
    "DeclTag",
    "Enum",
    "Enum64",
    "EnumBase",
    "EnumValue",
    "FieldLocation",
    "Float",
    "Func",
    "FuncInfo",
    "FuncProto",
    "Fwd",
    "Int",
    "Kind",
    "LineInfo",
    "Linkage",
    "Member",
    "Param",
    "Ptr",
    "RelocKind",
    "Restrict",
    "Struct",
    "Type",
    "TypeNotFoundError",
    "TypeTag",
    "Typedef",
    "TypesView",
    "Union",
    "Var",
    "VarSecinfo",
    "Void",
    "Volatile",
    "apply_relocations",
    "poison_messages",
    "relocate",
]
