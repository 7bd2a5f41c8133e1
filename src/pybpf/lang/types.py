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

import contextlib
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

VMLINUX = "/sys/kernel/btf/vmlinux"


@lru_cache(maxsize=1)
def vmlinux() -> Any:
    """The running kernel's BTF (loaded once per process)."""
    from ..btf import BTF

    return BTF.load_vmlinux()


class KernelLayouts:
    """The layouts of the kernel's structs a process has used, read from
    vmlinux BTF on first need and kept in the per-user cache
    (:mod:`pybpf.cache`, one sealed file per booted kernel), so a compile
    that needs only known structs does not parse vmlinux BTF again.

    A layout is ``{"name", "kind", "size", "align", "members": [[name,
    bit_offset, bitfield_size, desc]...]}`` with members in BTF order; a
    member's ``desc`` says what :func:`ctype_from_desc` builds:
    ``["int", bits, signed, "char"|"bool"|""]``, ``["ptr", desc|null]``,
    ``["array", desc, count]``, ``["struct", key]`` (a named struct's name,
    or ``"#ID"`` for an anonymous one), ``["bytes", size]``."""

    def __init__(self, btf: Any = None):
        self._btf = btf
        self._layouts: dict[str, Any] = {}
        self._path: Any = None
        self._dirty = False
        if btf is None:
            self._load_cache()

    @property
    def parsed(self) -> bool:
        """Whether BTF has been parsed (False while the cache answered everything)."""
        return self._btf is not None

    @property
    def btf(self) -> Any:
        """The BTF the layouts come from (vmlinux, parsed on first need)."""
        if self._btf is None:
            self._btf = vmlinux()
        return self._btf

    def _cache_key(self) -> str | None:
        import hashlib
        import os

        try:
            st = os.stat(VMLINUX)
            with open("/proc/sys/kernel/random/boot_id") as f:
                boot = f.read().strip()
        except OSError:
            return None
        return hashlib.sha256(f"{LAYOUT_FORMAT}:{boot}:{st.st_size}:{st.st_mtime_ns}".encode()
                              ).hexdigest()[:32]

    def _load_cache(self) -> None:
        import json

        from ..cache import private_dir, read_sealed

        key = self._cache_key()
        if key is None:
            return
        try:
            self._path = private_dir("lang") / f"kernel-{key}.json"
        except Exception:       # no usable cache directory: work without one
            self._path = None
            return
        data = read_sealed(self._path)
        if data is not None:
            try:
                self._layouts = json.loads(data)
            except ValueError:
                self._layouts = {}

    def save(self) -> None:
        """Write the layouts learnt since the last save to the cache."""
        import json

        from ..cache import write_sealed

        if self._dirty and self._path is not None:
            with contextlib.suppress(Exception):    # a cache is an optimisation only
                write_sealed(self._path, json.dumps(self._layouts).encode())
        self._dirty = False

    def layout(self, key: str) -> dict[str, Any]:
        """The layout of struct ``key`` (a name, or ``#ID``); raises
        :class:`CompileError` when the kernel has no such struct."""
        if key not in self._layouts:
            self._layouts[key] = self._read(key)
            self._dirty = True
        return self._layouts[key]

    def _read(self, key: str) -> dict[str, Any]:
        btf = self.btf
        if key.startswith("#"):
            t = btf[int(key[1:])]
        else:
            t = None
            for kind in ("struct", "union"):
                t = btf.get_named(key, kind)
                if t is not None:
                    break
            if t is None:
                raise CompileError(f"the kernel's BTF has no struct or union named {key!r}")
        members = [[m.name, m.bit_offset, m.bitfield_size, self.desc(m.type_id)]
                   for m in t.members]
        return {"name": t.name, "kind": "union" if type(t).__name__ == "Union" else "struct",
                "size": t.size, "align": btf.align_of(t.id) or 1, "members": members}

    def desc(self, type_id: int) -> list[Any]:
        """The description of BTF type ``type_id`` a layout member carries."""
        btf = self.btf
        t = btf.resolve(type_id)
        kind = type(t).__name__
        if kind == "Int":
            # plain char only: BTF encodes 'char' and 'unsigned char' alike, and
            # a u8 field (iphdr.ttl) is a number, not a character
            special = "char" if t.name == "char" else \
                "bool" if t.name == "_Bool" else ""
            return ["int", t.size * 8, bool(t.encoding & 1), special]
        if kind in ("Enum", "Enum64"):
            return ["int", t.size * 8, bool(getattr(t, "signed", False)), ""]
        if kind == "Ptr":
            target = btf.resolve(t.type_id)
            tkind = type(target).__name__
            if tkind in ("Struct", "Union") and target.name:
                return ["ptr", ["struct", target.name]]
            if tkind in ("Int", "Enum"):
                return ["ptr", self.desc(target.id)]
            return ["ptr", None]
        if kind == "Array":
            return ["array", self.desc(t.elem_type_id), t.nelems]
        if kind in ("Struct", "Union"):
            return ["struct", t.name or f"#{t.id}"]
        return ["bytes", btf.size_of(type_id) if kind != "Func" else 0]


LAYOUT_FORMAT = 2
"""The version of the cached layouts' format: a change to what ``desc``
records (2: only plain ``char`` is a character) needs a fresh cache."""

_LAYOUTS: KernelLayouts | None = None


def kernel_layouts() -> KernelLayouts:
    """The process's :class:`KernelLayouts` of the running kernel."""
    global _LAYOUTS
    if _LAYOUTS is None:
        _LAYOUTS = KernelLayouts()
    return _LAYOUTS


class KernelMember:
    """A member of a kernel struct: name, its index among the BTF members,
    byte offset and type (converted to a :class:`CType`).  A bitfield has
    ``bits`` (its width) and ``bit_offset`` (from the struct's start); its
    ``ctype`` is the integer type it was declared with."""

    def __init__(self, name: str, btf_index: int, offset: int, ctype: CType, *,
                 bits: int = 0, bit_offset: int | None = None):
        self.name = name
        self.btf_index = btf_index
        self.offset = offset
        self.ctype = ctype
        self.bits = bits
        self.bit_offset = offset * 8 if bit_offset is None else bit_offset

    @property
    def is_bitfield(self) -> bool:
        """Whether the member is a bitfield (read it, never take its address)."""
        return self.bits > 0


class KernelStruct(CType):
    """A struct or union of the kernel, by name (or anonymous, inside
    another: key ``#ID``), laid out as vmlinux BTF says.  Members are
    converted on first use; a module's BTF carries only the members it used,
    and CO-RE relocates each access against the running kernel."""

    def __init__(self, layouts: KernelLayouts, key: str):
        layout = layouts.layout(key)
        self.layouts = layouts
        self.key = key
        self.kind = layout["kind"]
        self.name = layout["name"]
        self.size = layout["size"]
        self.align = layout["align"]
        self._members = layout["members"]
        self.used: dict[str, KernelMember] = {}

    def c_name(self) -> str:
        return f"{self.kind} {self.name or '(anonymous)'}"

    @property
    def btf(self) -> Any:
        """The BTF the struct comes from (parsed on first use)."""
        return self.layouts.btf

    @property
    def type_id(self) -> int:
        """The struct's id in :attr:`btf`."""
        if self.key.startswith("#"):
            return int(self.key[1:])
        return self.btf.get_named(self.key, self.kind).id

    def member_names(self) -> list[str]:
        """The names of the direct members, in order (anonymous ones as '')."""
        return [m[0] for m in self._members]

    def direct(self, name: str) -> bool:
        """Whether ``name`` is a member of this struct itself."""
        return any(m[0] == name for m in self._members)

    def member(self, name: str) -> KernelMember:
        """The member ``name`` (direct members only; see :meth:`anonymous_member`)."""
        if name in self.used:
            return self.used[name]
        for index, (mname, bit_offset, bits, desc) in enumerate(self._members):
            if mname == name:
                ctype = ctype_from_desc(self.layouts, desc)
                if bits:
                    if desc[0] == "int":    # its signedness, even for (unsigned) char
                        ctype = int_type(desc[1], bool(desc[2]))
                    self._check_bitfield(name, bit_offset, bits, ctype)
                member = KernelMember(name, index, bit_offset // 8, ctype, bits=bits,
                                      bit_offset=bit_offset)
                self.used[name] = member
                return member
        raise CompileError(f"{self.c_name()} has no member {name!r}")

    def _check_bitfield(self, name: str, bit_offset: int, bits: int, ctype: CType) -> None:
        # LLVM's BPF backend describes a bitfield by the 8-byte-aligned word
        # holding it (and aborts the process on one it cannot describe)
        word = U64.size * 8
        if not isinstance(ctype, IntType) or bits > word or \
                bit_offset // word != (bit_offset + bits - 1) // word:
            raise CompileError(f"{self.c_name()}.{name} is a bitfield that does not fit "
                               "one aligned 64-bit word: it cannot be read through CO-RE")

    def has(self, name: str) -> bool:
        """Whether ``name`` is a member, directly or inside anonymous members."""
        for mname, _, _, desc in self._members:
            if mname == name:
                return True
            if not mname and desc[0] == "struct" and \
                    kernel_struct_by_key(self.layouts, desc[1]).has(name):
                return True
        return False

    def anonymous_member(self, name: str) -> KernelMember:
        """The anonymous member (a struct or union) that holds ``name``."""
        for index, (mname, bit_offset, _, desc) in enumerate(self._members):
            if not mname and desc[0] == "struct":
                sub = kernel_struct_by_key(self.layouts, desc[1])
                if sub.has(name):
                    key = f"<anon{index}>"
                    if key not in self.used:
                        self.used[key] = KernelMember("", index, bit_offset // 8, sub)
                    return self.used[key]
        raise CompileError(f"{self.c_name()} has no member {name!r}")

    def ir_type(self) -> ir.Type:
        return ir.ArrayType(I8, self.size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KernelStruct) and (self.layouts, self.key) == \
            (other.layouts, other.key)

    def __hash__(self) -> int:
        return hash(("kernel", self.key))


_KERNEL_STRUCTS: dict[tuple[int, str], KernelStruct] = {}


def kernel_struct_by_key(layouts: KernelLayouts, key: str) -> KernelStruct:
    """The :class:`KernelStruct` for ``key`` (one object per key)."""
    k = (id(layouts), key)
    if k not in _KERNEL_STRUCTS:
        _KERNEL_STRUCTS[k] = KernelStruct(layouts, key)
    return _KERNEL_STRUCTS[k]


def kernel_struct(name: str, btf: Any = None) -> KernelStruct:
    """The kernel's ``struct name`` (or union), from vmlinux BTF (or
    ``btf``) through the cached layouts."""
    layouts = kernel_layouts() if btf is None else _layouts_for(btf)
    return kernel_struct_by_key(layouts, name)


_BTF_LAYOUTS: dict[int, KernelLayouts] = {}


def _layouts_for(btf: Any) -> KernelLayouts:
    if id(btf) not in _BTF_LAYOUTS:
        _BTF_LAYOUTS[id(btf)] = KernelLayouts(btf)
    return _BTF_LAYOUTS[id(btf)]


def ctype_from_btf(btf: Any, type_id: int) -> CType:
    """A :class:`CType` for BTF type ``type_id`` of ``btf``: integers and
    enums by size and sign, pointers, arrays, kernel structs."""
    layouts = _layouts_for(btf)
    return ctype_from_desc(layouts, layouts.desc(type_id))


def ctype_from_desc(layouts: KernelLayouts, desc: list[Any]) -> CType:
    """The :class:`CType` a layout member's ``desc`` describes."""
    kind = desc[0]
    if kind == "int":
        _, bits, signed, special = desc
        if special == "char":
            return CHAR
        if special == "bool":
            return BOOL
        return int_type(bits, signed)
    if kind == "ptr":
        target = desc[1]
        if target is None:
            return VOID_PTR
        if target[0] == "struct":
            return PointerType(kernel_struct_by_key(layouts, target[1]))
        return PointerType(ctype_from_desc(layouts, target))
    if kind == "array":
        return ArrayType(ctype_from_desc(layouts, desc[1]), desc[2])
    if kind == "struct":
        return kernel_struct_by_key(layouts, desc[1])
    return ArrayType(U8, desc[1])


__all__ = [
    "BOOL", "CHAR", "I1", "I8", "I32", "I64", "INTS", "PTR", "S8", "S16", "S32", "S64",
    "U8", "U16", "U32", "U64", "VOID", "VOID_PTR", "ArrayType", "CType", "Field", "IntType",
    "KernelLayouts", "KernelMember", "KernelStruct", "PointerType", "StructType", "VoidType",
    "ctype_from_btf", "ctype_from_desc", "int_type", "kernel_layouts", "kernel_struct", "kernel_struct_by_key",
    "vmlinux",
]
