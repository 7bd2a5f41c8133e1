"""BTF type values: one small immutable class per BTF kind.

A type refers to other types by *type id* (``type_id``, ``elem_type_id``…);
the :class:`~pybpf.btf.BTF` that holds it turns ids back into types.  Every
type carries its own ``id`` (0 until it belongs to a BTF), so that a type
printed in an error message or a REPL says where it lives.

``repr`` follows the one-line style of ``bpftool btf dump format raw``::

    [114] STRUCT 'task_struct' size=3264 vlen=248
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol

MAX_NESTING = 64
"""Deepest chain of nested types followed before BTF is declared corrupt
(the kernel's own limit is 32; vmlinux nests 15 deep).  Recursive walkers
(values, C dumps) stay far below Python's recursion limit with it."""


class Kind(enum.IntEnum):
    """The BTF kinds (``BTF_KIND_*``), numbered as in the kernel's uapi."""

    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


MAX_KIND = Kind.ENUM64

# Encoding bits of an INT (``BTF_INT_*``).
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4


class Linkage(enum.IntEnum):
    """Linkage of a FUNC (``btf_func_linkage``) or VAR (``BTF_VAR_*``).

    FUNC uses STATIC, GLOBAL and EXTERN; VAR uses STATIC (0), GLOBAL_ALLOCATED
    (1, same number as GLOBAL) and GLOBAL_EXTERN (2, same as EXTERN).
    """

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class Member(NamedTuple):
    """A member of a STRUCT or UNION.

    ``bit_offset`` counts from the start of the enclosing struct;
    ``bitfield_size`` is 0 for a member that is not a bitfield.  An anonymous
    member (an embedded anonymous struct or union) has ``name == ""``.
    """

    name: str
    type_id: int
    bit_offset: int
    bitfield_size: int = 0

    @property
    def offset(self) -> int:
        """Byte offset of the member (rounded down for a bitfield)."""
        return self.bit_offset // 8

    @property
    def is_bitfield(self) -> bool:
        """Whether the member is a bitfield declared with an explicit width."""
        return self.bitfield_size != 0


class EnumValue(NamedTuple):
    """One enumerator: its name and value (signed or not as the enum says)."""

    name: str
    value: int


class Param(NamedTuple):
    """One parameter of a FUNC_PROTO.  A trailing ``Param("", 0)`` means ``...``."""

    name: str
    type_id: int


class VarSecinfo(NamedTuple):
    """One variable of a DATASEC: the VAR's type id, and where it lives."""

    type_id: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Type:
    """Base of every BTF type.  ``name`` is ``""`` for anonymous types."""

    kind: ClassVar[Kind] = Kind.UNKN

    @property
    def kind_name(self) -> str:
        """The kind in lower case, as C would spell it for records: ``struct``."""
        return self.kind.name.lower()

    @property
    def is_anonymous(self) -> bool:
        """Whether the type has no name."""
        return not getattr(self, "name", "")

    def refs(self) -> tuple[int, ...]:
        """Ids of the types this one refers to, in record order."""
        return ()

    def _raw_name(self) -> str:
        return repr(getattr(self, "name", "") or "(anon)")

    def _raw_head(self) -> str:
        return f"[{self.id}] {self.kind.name} {self._raw_name()}"  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return self._raw_head()

    def describe(self) -> str:
        """Multi-line description like ``bpftool btf dump format raw``."""
        return repr(self)


@dataclass(frozen=True, slots=True, repr=False)
class Void(Type):
    """Type id 0: ``void``."""

    id: int = 0
    name: str = "void"

    kind = Kind.UNKN

    def __repr__(self) -> str:
        return "[0] VOID"


def _int_encoding_name(encoding: int) -> str:
    if encoding & INT_BOOL:
        return "BOOL"
    if encoding & INT_CHAR:
        return "CHAR"
    if encoding & INT_SIGNED:
        return "SIGNED"
    return "(none)"


@dataclass(frozen=True, slots=True, repr=False)
class Int(Type):
    """An integer: ``size`` bytes, ``bits`` significant bits starting at
    ``bit_offset`` (non-zero only for legacy bitfields), ``encoding`` a mix of
    INT_SIGNED, INT_CHAR, INT_BOOL."""

    name: str
    size: int
    encoding: int = 0
    bit_offset: int = 0
    bits: int = -1
    id: int = field(default=0, kw_only=True)

    kind = Kind.INT

    def __post_init__(self):
        if self.bits < 0:
            object.__setattr__(self, "bits", self.size * 8)

    @property
    def is_signed(self) -> bool:
        """Whether the integer is signed."""
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        """Whether the integer is a character type."""
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        """Whether the integer is a boolean."""
        return bool(self.encoding & INT_BOOL)

    def __repr__(self) -> str:
        return (f"{self._raw_head()} size={self.size} bits_offset={self.bit_offset} "
                f"nr_bits={self.bits} encoding={_int_encoding_name(self.encoding)}")


@dataclass(frozen=True, slots=True, repr=False)
class Float(Type):
    """A floating-point type of ``size`` bytes."""

    name: str
    size: int
    id: int = field(default=0, kw_only=True)

    kind = Kind.FLOAT

    def __repr__(self) -> str:
        return f"{self._raw_head()} size={self.size}"


@dataclass(frozen=True, slots=True, repr=False)
class _RefType(Type):
    """A type that is another type with something added: ``type_id``."""

    type_id: int
    id: int = field(default=0, kw_only=True)

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return f"{self._raw_head()} type_id={self.type_id}"


@dataclass(frozen=True, slots=True, repr=False)
class Ptr(_RefType):
    """A pointer to ``type_id``."""

    kind = Kind.PTR


@dataclass(frozen=True, slots=True, repr=False)
class Const(_RefType):
    """``const`` qualifier on ``type_id``."""

    kind = Kind.CONST


@dataclass(frozen=True, slots=True, repr=False)
class Volatile(_RefType):
    """``volatile`` qualifier on ``type_id``."""

    kind = Kind.VOLATILE


@dataclass(frozen=True, slots=True, repr=False)
class Restrict(_RefType):
    """``restrict`` qualifier on ``type_id``."""

    kind = Kind.RESTRICT


@dataclass(frozen=True, slots=True, repr=False)
class Typedef(Type):
    """``typedef <type_id> name``."""

    name: str
    type_id: int
    id: int = field(default=0, kw_only=True)

    kind = Kind.TYPEDEF

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return f"{self._raw_head()} type_id={self.type_id}"


@dataclass(frozen=True, slots=True, repr=False)
class TypeTag(Type):
    """A ``btf_type_tag("name")`` attribute on ``type_id`` (e.g. ``__user``)."""

    name: str
    type_id: int
    id: int = field(default=0, kw_only=True)

    kind = Kind.TYPE_TAG

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return f"{self._raw_head()} type_id={self.type_id}"


@dataclass(frozen=True, slots=True, repr=False)
class Array(Type):
    """``elem_type_id[nelems]``; ``index_type_id`` is the index type (an int)."""

    elem_type_id: int
    index_type_id: int
    nelems: int
    id: int = field(default=0, kw_only=True)

    kind = Kind.ARRAY

    def refs(self) -> tuple[int, ...]:
        return (self.elem_type_id, self.index_type_id)

    def __repr__(self) -> str:
        return (f"{self._raw_head()} type_id={self.elem_type_id} "
                f"index_type_id={self.index_type_id} nr_elems={self.nelems}")


@dataclass(frozen=True, slots=True, repr=False)
class Composite(Type):
    """Base of STRUCT and UNION: ``size`` bytes and a tuple of :class:`Member`."""

    name: str
    size: int
    members: tuple[Member, ...] = ()
    id: int = field(default=0, kw_only=True)

    def refs(self) -> tuple[int, ...]:
        return tuple(m.type_id for m in self.members)

    def member(self, name: str) -> Member:
        """The direct member called ``name`` (anonymous members are not
        searched: see :meth:`BTF.find_member`).  Raises KeyError."""
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"{self.kind_name} {self.name or '(anon)'} has no member {name!r}")

    @property
    def has_bitfields(self) -> bool:
        """Whether any member is a bitfield (BTF's ``kind_flag`` for records)."""
        return any(m.bitfield_size for m in self.members)

    def __repr__(self) -> str:
        return f"{self._raw_head()} size={self.size} vlen={len(self.members)}"

    def describe(self) -> str:
        lines = [repr(self)]
        for m in self.members:
            bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t{m.name or '(anon)'!r} type_id={m.type_id} "
                         f"bits_offset={m.bit_offset}{bf}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, repr=False)
class Struct(Composite):
    """A ``struct``."""

    kind = Kind.STRUCT


@dataclass(frozen=True, slots=True, repr=False)
class Union(Composite):
    """A ``union``."""

    kind = Kind.UNION


@dataclass(frozen=True, slots=True, repr=False)
class EnumBase(Type):
    """Base of ENUM and ENUM64: ``size`` bytes, ``values`` in declaration order."""

    name: str
    size: int
    values: tuple[EnumValue, ...] = ()
    signed: bool = False
    id: int = field(default=0, kw_only=True)

    def as_dict(self) -> dict[str, int]:
        """The enumerators as ``{name: value}``."""
        return {v.name: v.value for v in self.values}

    def name_of(self, value: int) -> str | None:
        """The first enumerator whose value is ``value``, or None."""
        for v in self.values:
            if v.value == value:
                return v.name
        return None

    def __repr__(self) -> str:
        enc = "SIGNED" if self.signed else "UNSIGNED"
        return f"{self._raw_head()} encoding={enc} size={self.size} vlen={len(self.values)}"

    def describe(self) -> str:
        suffix = "ULL" if self.kind is Kind.ENUM64 and not self.signed else (
            "LL" if self.kind is Kind.ENUM64 else "")
        return "\n".join([repr(self)] + [f"\t{v.name!r} val={v.value}{suffix}"
                                         for v in self.values])


@dataclass(frozen=True, slots=True, repr=False)
class Enum(EnumBase):
    """A C ``enum`` with 32-bit enumerators (BTF_KIND_ENUM)."""

    kind = Kind.ENUM


@dataclass(frozen=True, slots=True, repr=False)
class Enum64(EnumBase):
    """An ``enum`` with 64-bit enumerators (BTF_KIND_ENUM64)."""

    kind = Kind.ENUM64


@dataclass(frozen=True, slots=True, repr=False)
class Fwd(Type):
    """A forward declaration: ``struct name;`` or, if ``is_union``, ``union name;``."""

    name: str
    is_union: bool = False
    id: int = field(default=0, kw_only=True)

    kind = Kind.FWD

    @property
    def fwd_kind(self) -> str:
        """``"union"`` or ``"struct"``."""
        return "union" if self.is_union else "struct"

    def __repr__(self) -> str:
        return f"{self._raw_head()} fwd_kind={self.fwd_kind}"


@dataclass(frozen=True, slots=True, repr=False)
class Func(Type):
    """A function: its name, its FUNC_PROTO ``type_id`` and its linkage."""

    name: str
    type_id: int
    linkage: int = Linkage.STATIC
    id: int = field(default=0, kw_only=True)

    kind = Kind.FUNC

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return (f"{self._raw_head()} type_id={self.type_id} "
                f"linkage={_linkage_name(self.linkage)}")


def _linkage_name(linkage: int) -> str:
    names = ("static", "global", "extern")
    return names[linkage] if 0 <= linkage < len(names) else str(linkage)


@dataclass(frozen=True, slots=True, repr=False)
class FuncProto(Type):
    """A function signature: return type and parameters."""

    return_type_id: int
    params: tuple[Param, ...] = ()
    id: int = field(default=0, kw_only=True)

    kind = Kind.FUNC_PROTO

    @property
    def is_variadic(self) -> bool:
        """Whether the last parameter is ``...``."""
        return bool(self.params) and self.params[-1].type_id == 0 and not self.params[-1].name

    def refs(self) -> tuple[int, ...]:
        return (self.return_type_id, *(p.type_id for p in self.params))

    def __repr__(self) -> str:
        return f"{self._raw_head()} ret_type_id={self.return_type_id} vlen={len(self.params)}"

    def describe(self) -> str:
        return "\n".join([repr(self)] + [f"\t{p.name or '(anon)'!r} type_id={p.type_id}"
                                         for p in self.params])


@dataclass(frozen=True, slots=True, repr=False)
class Var(Type):
    """A global or static variable (lives in a DATASEC)."""

    name: str
    type_id: int
    linkage: int = Linkage.STATIC
    id: int = field(default=0, kw_only=True)

    kind = Kind.VAR

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return (f"{self._raw_head()} type_id={self.type_id}, "
                f"linkage={_linkage_name(self.linkage)}")


@dataclass(frozen=True, slots=True, repr=False)
class Datasec(Type):
    """A data section (``.data``, ``.bss``, ``.maps``…) and the variables in it."""

    name: str
    size: int
    vars: tuple[VarSecinfo, ...] = ()
    id: int = field(default=0, kw_only=True)

    kind = Kind.DATASEC

    def refs(self) -> tuple[int, ...]:
        return tuple(v.type_id for v in self.vars)

    def __repr__(self) -> str:
        return f"{self._raw_head()} size={self.size} vlen={len(self.vars)}"

    def describe(self) -> str:
        return "\n".join([repr(self)] + [f"\ttype_id={v.type_id} offset={v.offset} size={v.size}"
                                         for v in self.vars])


@dataclass(frozen=True, slots=True, repr=False)
class DeclTag(Type):
    """A ``btf_decl_tag("name")`` on ``type_id``; ``component_idx`` is -1 for
    the type itself, else the member or parameter index."""

    name: str
    type_id: int
    component_idx: int = -1
    id: int = field(default=0, kw_only=True)

    kind = Kind.DECL_TAG

    def refs(self) -> tuple[int, ...]:
        return (self.type_id,)

    def __repr__(self) -> str:
        return f"{self._raw_head()} type_id={self.type_id} component_idx={self.component_idx}"


VOID = Void()

QUALIFIER_KINDS = frozenset({Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})
"""Kinds that only qualify another type: :meth:`BTF.strip` skips them."""

CLASS_OF_KIND: dict[Kind, type[Type]] = {
    Kind.INT: Int, Kind.PTR: Ptr, Kind.ARRAY: Array, Kind.STRUCT: Struct, Kind.UNION: Union,
    Kind.ENUM: Enum, Kind.FWD: Fwd, Kind.TYPEDEF: Typedef, Kind.VOLATILE: Volatile,
    Kind.CONST: Const, Kind.RESTRICT: Restrict, Kind.FUNC: Func, Kind.FUNC_PROTO: FuncProto,
    Kind.VAR: Var, Kind.DATASEC: Datasec, Kind.FLOAT: Float, Kind.DECL_TAG: DeclTag,
    Kind.TYPE_TAG: TypeTag, Kind.ENUM64: Enum64,
}
"""The class that represents each kind."""


def with_id(t: Type, type_id: int) -> Type:
    """A copy of ``t`` that carries ``type_id`` as its id."""
    if getattr(t, "id", None) == type_id:
        return t
    from dataclasses import replace

    return replace(t, id=type_id)


class TypeTable(Protocol):
    """What the C dumper (:mod:`pybpf.btf.dump`) and the value codecs
    (:mod:`pybpf.btf.values`) need of a BTF: :class:`pybpf.btf.BTF` is one.
    They are written against this interface rather than the class, which
    offers them as methods (``btf.dump_c()``, ``btf.decode(...)``)."""

    byteorder: str
    path: Any
    pointer_size: int

    def type(self, ref: Any) -> Type:
        """The type a reference (id, name or type) names."""
        ...

    def resolve(self, ref: Any) -> Type:
        """The type with typedefs and qualifiers stripped."""
        ...

    def size_of(self, ref: Any) -> int:
        """The size in bytes of a type."""
        ...

    def kind_of(self, type_id: int) -> Kind:
        """The kind of type ``type_id``."""
        ...

    def name_of(self, type_id: int) -> str:
        """The name of type ``type_id``."""
        ...

    def find_ids(self, name: str) -> list[int]:
        """The ids of the types named ``name``."""
        ...

    def datasec_vars(self, ref: Any) -> list[tuple[Any, int, int]]:
        """The variables of a DATASEC with their offsets and sizes."""
        ...

    def type_name(self, ref: Any, name: str = "") -> str:
        """A type as C spells it."""
        ...
