"""C-like types for the code generator: what each is in LLVM, its size and
alignment, and its debug-info description (which LLVM's BPF backend turns
into BTF).

Types are values: ``U32``, ``ArrayType(CHAR, 16)``, ``StructType("event",
[("pid", U32), ("comm", ArrayType(CHAR, 16))])``, ``PointerType(U64)``.
Kernel types are read from vmlinux BTF by name (:func:`kernel_struct`) and
accessed through CO-RE relocations; only the members a program touches end
up in the object's BTF, as a ``preserve_access_index`` struct does in C.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import llvmlite.ir as ir

from .errors import CompileError

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()


class CType:
    """Base of every type: ``name`` (as the front ends spell it), ``size``
    and ``align`` in bytes, :meth:`ir_type` (LLVM) and :meth:`c_name`."""

    name: str = "?"
    size: int = 0
    align: int = 1

    def ir_type(self) -> ir.Type:
        """The LLVM type of a value of this type in memory."""
        raise NotImplementedError

    def c_name(self) -> str:
        """The C spelling (used in BTF and messages)."""
        return self.name

    def __repr__(self) -> str:
        return self.c_name()


class VoidType(CType):
    """``void``: no value (helpers and functions returning nothing)."""

    name = "void"

    def ir_type(self) -> ir.Type:
        return ir.VoidType()


class IntType(CType):
    """A fixed-width integer (``u8``...``s64``, ``char``, ``bool``)."""

    def __init__(self, name: str, bits: int, signed: bool, c_name: str, *,
                 encoding: str | None = None):
        self.name = name
        self.bits = bits
        self.signed = signed
        self.size = self.align = bits // 8
        self._c_name = c_name
        self.encoding = encoding or ("DW_ATE_signed" if signed else "DW_ATE_unsigned")

    def ir_type(self) -> ir.Type:
        return ir.IntType(self.bits)

    def c_name(self) -> str:
        return self._c_name

    @property
    def min(self) -> int:
        """The smallest value."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """The largest value."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def wrap(self, value: int) -> int:
        """``value`` as this type holds it (C conversion: modulo 2**bits)."""
        value &= (1 << self.bits) - 1
        if self.signed and value >> (self.bits - 1):
            value -= 1 << self.bits
        return value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntType) and (self.bits, self.signed, self.name) == \
            (other.bits, other.signed, other.name)

    def __hash__(self) -> int:
        return hash((self.bits, self.signed, self.name))


U8 = IntType("u8", 8, False, "__u8")
U16 = IntType("u16", 16, False, "__u16")
U32 = IntType("u32", 32, False, "__u32")
U64 = IntType("u64", 64, False, "__u64")
S8 = IntType("s8", 8, True, "__s8")
S16 = IntType("s16", 16, True, "__s16")
S32 = IntType("s32", 32, True, "__s32")
S64 = IntType("s64", 64, True, "__s64")
CHAR = IntType("char", 8, True, "char", encoding="DW_ATE_signed_char")
BOOL = IntType("bool", 8, False, "_Bool", encoding="DW_ATE_boolean")
VOID = VoidType()
INTS = {t.name: t for t in (U8, U16, U32, U64, S8, S16, S32, S64, CHAR, BOOL)}
"""The integer types by their front-end names."""


def int_type(bits: int, signed: bool) -> IntType:
    """The standard integer type of that width and signedness."""
    for t in (U8, U16, U32, U64, S8, S16, S32, S64):
        if t.bits == bits and t.signed == signed:
            return t
    raise CompileError(f"no {bits}-bit integer type")


class ArrayType(CType):
    """``elem[count]``; ``ArrayType(CHAR, 16)`` is a 16-byte string."""

    def __init__(self, elem: CType, count: int):
        if count < 0:
            raise CompileError(f"array of {count} elements")
        self.elem = elem
        self.count = count
        self.size = elem.size * count
        self.align = elem.align
        self.name = f"{elem.name}[{count}]"

    def ir_type(self) -> ir.Type:
        return ir.ArrayType(self.elem.ir_type(), self.count)

    def c_name(self) -> str:
        return f"{self.elem.c_name()}[{self.count}]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayType) and (self.elem, self.count) == (other.elem, other.count)

    def __hash__(self) -> int:
        return hash((self.elem, self.count))


class Field:
    """One member of a struct: ``name``, ``ctype``, byte ``offset`` and its
    ``index`` in declaration order."""

    def __init__(self, name: str, ctype: CType, offset: int, index: int):
        self.name = name
        self.ctype = ctype
        self.offset = offset
        self.index = index

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.ctype!r}, offset={self.offset})"


class StructType(CType):
    """A named record.  Laid out as C lays it out (natural alignment, padding
    at the end to the largest alignment), or at the given ``offsets`` and
    ``size`` (a tracepoint's record, a kernel layout).  Fields are reached by
    byte offset, so the LLVM type is the record's bytes."""

    def __init__(self, name: str, fields: list[tuple[str, CType]], *,
                 offsets: list[int] | None = None, size: int | None = None):
        self.name = name
        self.fields: dict[str, Field] = {}
        offset = 0
        align = 1
        for index, (fname, ftype) in enumerate(fields):
            if fname in self.fields:
                raise CompileError(f"struct {name}: field {fname!r} declared twice")
            if offsets is not None:
                offset = offsets[index]
            else:
                offset = -(-offset // ftype.align) * ftype.align
            self.fields[fname] = Field(fname, ftype, offset, index)
            offset += ftype.size
            align = max(align, ftype.align)
        self.align = align
        self.size = size if size is not None else -(-offset // align) * align

    def field(self, name: str) -> Field:
        """The member named ``name``; raises :class:`CompileError`."""
        try:
            return self.fields[name]
        except KeyError:
            raise CompileError(f"struct {self.name} has no field {name!r} "
                               f"(fields: {', '.join(self.fields) or 'none'})") from None

    def ir_type(self) -> ir.Type:
        return ir.ArrayType(I8, self.size)

    def c_name(self) -> str:
        return f"struct {self.name}"


class PointerType(CType):
    """A pointer to ``target`` (``None``: ``void *``)."""

    size = align = 8

    def __init__(self, target: CType | None = None):
        self.target = target
        self.name = f"{target.name if target else 'void'}*"

    def ir_type(self) -> ir.Type:
        return PTR

    def c_name(self) -> str:
        return f"{self.target.c_name() if self.target else 'void'} *"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PointerType) and self.target == other.target

    def __hash__(self) -> int:
        return hash(("ptr", self.target))


VOID_PTR = PointerType(None)


# -- kernel types, from vmlinux BTF ------------------------------------------------


@lru_cache(maxsize=1)
def vmlinux() -> Any:
    """The running kernel's BTF (loaded once per process)."""
    from ..btf import BTF

    return BTF.load_vmlinux()


class KernelMember:
    """A member of a kernel struct: name, its index among the BTF members,
    byte offset and type (converted to a :class:`CType`)."""

    def __init__(self, name: str, btf_index: int, offset: int, ctype: CType):
        self.name = name
        self.btf_index = btf_index
        self.offset = offset
        self.ctype = ctype


class KernelStruct(CType):
    """A struct or union of the kernel, by name (or anonymous, inside
    another), read from vmlinux BTF.  Members are converted on first use and
    remembered in ``used``: the object's BTF carries only those, and CO-RE
    relocates each access against the running kernel."""

    def __init__(self, btf: Any, type_id: int):
        t = btf[type_id]
        self.btf = btf
        self.type_id = type_id
        self.kind = "union" if type(t).__name__ == "Union" else "struct"
        self.name = t.name
        self.size = t.size
        self.align = btf.align_of(type_id) or 1
        self.used: dict[str, KernelMember] = {}

    def c_name(self) -> str:
        return f"{self.kind} {self.name or '(anonymous)'}"

    def member(self, name: str) -> KernelMember:
        """The member ``name`` (direct members only; anonymous members are
        reached by their own names through :meth:`path_to`)."""
        if name in self.used:
            return self.used[name]
        t = self.btf[self.type_id]
        for index, m in enumerate(t.members):
            if m.name == name:
                if m.bitfield_size:
                    raise CompileError(f"{self.c_name()}.{name} is a bitfield; "
                                     "bitfields cannot be read through CO-RE here")
                member = KernelMember(name, index, m.bit_offset // 8,
                                      ctype_from_btf(self.btf, m.type_id))
                self.used[name] = member
                return member
        raise CompileError(f"{self.c_name()} has no member {name!r}")

    def has(self, name: str) -> bool:
        """Whether ``name`` is a member, directly or inside anonymous members."""
        for m in self.btf[self.type_id].members:
            if m.name == name:
                return True
            if not m.name:
                inner = self.btf.resolve(m.type_id)
                if hasattr(inner, "members") and _kernel_struct_by_id(self.btf, inner.id).has(name):
                    return True
        return False

    def anonymous_member(self, name: str) -> KernelMember:
        """The anonymous member (a struct or union) that holds ``name``."""
        for index, m in enumerate(self.btf[self.type_id].members):
            if not m.name:
                inner = self.btf.resolve(m.type_id)
                if hasattr(inner, "members"):
                    sub = _kernel_struct_by_id(self.btf, inner.id)
                    if sub.has(name):
                        key = f"<anon{index}>"
                        if key not in self.used:
                            self.used[key] = KernelMember("", index, m.bit_offset // 8, sub)
                        return self.used[key]
        raise CompileError(f"{self.c_name()} has no member {name!r}")

    def ir_type(self) -> ir.Type:
        return ir.ArrayType(I8, self.size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelStruct) and (self.btf, self.type_id) == \
            (other.btf, other.type_id)

    def __hash__(self) -> int:
        return hash(("kernel", self.type_id))


_KERNEL_STRUCTS: dict[tuple[int, int], KernelStruct] = {}


def _kernel_struct_by_id(btf: Any, type_id: int) -> KernelStruct:
    key = (id(btf), type_id)
    if key not in _KERNEL_STRUCTS:
        _KERNEL_STRUCTS[key] = KernelStruct(btf, type_id)
    return _KERNEL_STRUCTS[key]


def kernel_struct(name: str, btf: Any = None) -> KernelStruct:
    """The kernel's ``struct name`` (or union) from vmlinux BTF (or ``btf``).

    The same object is returned for the same name, so the members used by
    every program of a process accumulate (each compile emits the members
    its own module used: see :class:`pybpf.lang.backend.Module`)."""
    btf = btf if btf is not None else vmlinux()
    for kind in ("struct", "union"):
        found = btf.get_named(name, kind)
        if found is not None:
            return _kernel_struct_by_id(btf, found.id)
    raise CompileError(f"the kernel's BTF has no struct or union named {name!r}")


def ctype_from_btf(btf: Any, type_id: int) -> CType:
    """A :class:`CType` for a BTF type: integers and enums by size and sign,
    pointers (to kernel structs, integers or ``void``), arrays, structs."""
    t = btf.resolve(type_id)
    kind = type(t).__name__
    if kind == "Int":
        if t.name == "char" or (t.size == 1 and "char" in t.name):
            return CHAR
        if t.name == "_Bool":
            return BOOL
        return int_type(t.size * 8, bool(t.encoding & 1))
    if kind in ("Enum", "Enum64"):
        return int_type(t.size * 8, bool(getattr(t, "signed", False)))
    if kind == "Ptr":
        target = btf.resolve(t.type_id)
        tkind = type(target).__name__
        if tkind in ("Struct", "Union") and target.name:
            return PointerType(_kernel_struct_by_id(btf, target.id))
        if tkind in ("Int", "Enum"):
            return PointerType(ctype_from_btf(btf, target.id))
        return VOID_PTR
    if kind == "Array":
        return ArrayType(ctype_from_btf(btf, t.elem_type_id), t.nelems)
    if kind in ("Struct", "Union"):
        return _kernel_struct_by_id(btf, t.id)
    if kind == "Fwd":
        return ArrayType(U8, 0)
    raise CompileError(f"the kernel type {btf.describe(type_id)} cannot be used here ({kind})")


__all__ = [
    "BOOL", "CHAR", "I1", "I8", "I32", "I64", "INTS", "PTR", "S8", "S16", "S32", "S64",
    "U8", "U16", "U32", "U64", "VOID", "VOID_PTR", "ArrayType", "CType", "Field", "IntType",
    "KernelMember", "KernelStruct", "PointerType", "StructType", "VoidType",
    "ctype_from_btf", "int_type", "kernel_struct", "vmlinux",
]
