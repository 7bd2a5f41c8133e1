"""Building BTF: add types and strings, get raw BTF bytes the kernel accepts.

::

    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    pair = b.add_struct("pair", 8, [("a", u32, 0), ("b", u32, 32)])
    raw = b.to_bytes()            # for BPF_BTF_LOAD or a .BTF section
    btf = b.build()               # or parse it straight back

Types are the values of :mod:`pybpf.btf.types`; their ``id`` is ignored on
:meth:`BTFBuilder.add` and the new id returned.  With ``base=`` the builder
makes split BTF whose ids and string offsets continue after the base's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from ..errors import BTFError
from ..spec.defines import BTF_HEADER_SIZE as HEADER_SIZE
from ..spec.defines import BTF_MAGIC, BTF_VERSION
from .btf import BTF
from .types import (
    INT_SIGNED,
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


class BTFBuilder:
    """Collects types and strings and serializes them as raw BTF."""

    def __init__(self, *, base: BTF | None = None, byteorder: str = "little"):
        """Start an empty BTF (split on top of ``base`` if given)."""
        if byteorder not in ("little", "big"):
            raise ValueError(f"byteorder must be 'little' or 'big', not {byteorder!r}")
        self.base = base
        self.byteorder = byteorder
        self._e = "<" if byteorder == "little" else ">"
        self.types: list[Type] = []
        self._strtab = bytearray() if base is not None else bytearray(b"\0")
        self._str_first = (base._str_first + base._str_len) if base is not None else 0
        self._str_offsets: dict[str, int] = {"": 0}
        self.first_id = len(base) if base is not None else 1

    # ---------------------------------------------------------------- strings

    def add_string(self, s: str) -> int:
        """The string-section offset of ``s``, adding it if new."""
        off = self._str_offsets.get(s)
        if off is None:
            raw = s.encode("utf-8", "surrogateescape")
            if b"\0" in raw:
                raise BTFError(f"BTF strings cannot contain NUL bytes: {s!r}")
            off = self._str_first + len(self._strtab)
            self._strtab += raw + b"\0"
            self._str_offsets[s] = off
        return off

    # ------------------------------------------------------------------ types

    @property
    def next_id(self) -> int:
        """The id the next added type will get."""
        return self.first_id + len(self.types)

    def add(self, t: Type) -> int:
        """Add a type value and return its new type id."""
        if isinstance(t, Void):
            raise BTFError("void is type id 0 and cannot be added")
        if t.kind not in _ENCODERS:
            raise BTFError(f"cannot add {type(t).__name__}")
        tid = self.next_id
        self.types.append(t)
        return tid

    def add_int(self, name: str, size: int, *, signed: bool = False, char: bool = False,
                bool_: bool = False, bits: int | None = None, bit_offset: int = 0) -> int:
        """An integer type of ``size`` bytes."""
        encoding = (INT_SIGNED if signed else 0) | (2 if char else 0) | (4 if bool_ else 0)
        return self.add(Int(name, size, encoding, bit_offset,
                            size * 8 if bits is None else bits))

    def add_float(self, name: str, size: int) -> int:
        """A floating-point type."""
        return self.add(Float(name, size))

    def add_ptr(self, type_id: int) -> int:
        """A pointer to ``type_id``."""
        return self.add(Ptr(type_id))

    def add_const(self, type_id: int) -> int:
        """``const type_id``."""
        return self.add(Const(type_id))

    def add_volatile(self, type_id: int) -> int:
        """``volatile type_id``."""
        return self.add(Volatile(type_id))

    def add_restrict(self, type_id: int) -> int:
        """``restrict type_id``."""
        return self.add(Restrict(type_id))

    def add_type_tag(self, name: str, type_id: int) -> int:
        """``type_id`` with a ``btf_type_tag(name)``."""
        return self.add(TypeTag(name, type_id))

    def add_typedef(self, name: str, type_id: int) -> int:
        """``typedef type_id name``."""
        return self.add(Typedef(name, type_id))

    def add_array(self, elem_type_id: int, nelems: int, index_type_id: int | None = None) -> int:
        """``elem_type_id[nelems]``; the index type defaults to a 4-byte
        ``unsigned int`` (added once if needed)."""
        if index_type_id is None:
            index_type_id = self._index_type()
        return self.add(Array(elem_type_id, index_type_id, nelems))

    def _index_type(self) -> int:
        for i, t in enumerate(self.types):
            if isinstance(t, Int) and t.size == 4 and not t.encoding and t.bits == 32:
                return self.first_id + i
        return self.add_int("__ARRAY_SIZE_TYPE__", 4)

    def add_struct(self, name: str, size: int,
                   members: Iterable[Member | tuple] = ()) -> int:
        """A struct; members are :class:`Member` or ``(name, type_id,
        bit_offset[, bitfield_size])`` tuples."""
        return self.add(Struct(name, size, tuple(Member(*m) for m in members)))

    def add_union(self, name: str, size: int, members: Iterable[Member | tuple] = ()) -> int:
        """A union (members as for :meth:`add_struct`)."""
        return self.add(Union(name, size, tuple(Member(*m) for m in members)))

    def add_enum(self, name: str, values: Mapping[str, int] | Iterable[tuple[str, int]],
                 size: int = 4, *, signed: bool | None = None) -> int:
        """An enum; 64-bit values (or ``size=8``) make an ENUM64.  Signedness
        defaults to "any value is negative"."""
        items = tuple(EnumValue(*v) for v in (values.items() if isinstance(values, Mapping)
                                              else values))
        if signed is None:
            signed = any(v.value < 0 for v in items)
        wide = size > 4 or any(not -(1 << 31) <= v.value < (1 << 32) for v in items)
        cls = Enum64 if wide else Enum
        return self.add(cls(name, size, items, signed))

    def add_fwd(self, name: str, *, union: bool = False) -> int:
        """``struct name;`` (or ``union name;``)."""
        return self.add(Fwd(name, union))

    def add_func_proto(self, return_type_id: int,
                       params: Iterable[Param | tuple | int] = (), *,
                       variadic: bool = False) -> int:
        """A function prototype; params are type ids or ``(name, type_id)``."""
        ps = [Param("", p) if isinstance(p, int) else Param(*p) for p in params]
        if variadic:
            ps.append(Param("", 0))
        return self.add(FuncProto(return_type_id, tuple(ps)))

    def add_func(self, name: str, proto_type_id: int,
                 linkage: int = Linkage.GLOBAL) -> int:
        """A function named ``name`` with prototype ``proto_type_id``."""
        return self.add(Func(name, proto_type_id, int(linkage)))

    def add_var(self, name: str, type_id: int, linkage: int = Linkage.GLOBAL) -> int:
        """A variable (put it in a DATASEC with :meth:`add_datasec`)."""
        return self.add(Var(name, type_id, int(linkage)))

    def add_datasec(self, name: str, size: int,
                    vars: Iterable[VarSecinfo | tuple[int, int, int]] = ()) -> int:
        """A data section with ``(var_type_id, offset, size)`` entries."""
        return self.add(Datasec(name, size, tuple(VarSecinfo(*v) for v in vars)))

    def add_decl_tag(self, name: str, type_id: int, component_idx: int = -1) -> int:
        """A ``btf_decl_tag(name)`` on a type, member or parameter."""
        return self.add(DeclTag(name, type_id, component_idx))

    # ------------------------------------------------------------ serializing

    def to_bytes(self) -> bytes:
        """The raw BTF: header, type section, string section."""
        e = self._e
        total = self.next_id
        common = struct.Struct(e + "III")
        chunks: list[bytes] = []
        add_string = self.add_string
        for i, t in enumerate(self.types):
            tid = self.first_id + i
            for ref in t.refs():
                if not 0 <= ref < total:
                    raise BTFError(f"type [{tid}] ({t!r}) refers to type id {ref}, which does "
                                   f"not exist ({total} types)")
            try:
                chunks.append(_ENCODERS[t.kind](t, e, common, add_string))
            except struct.error as err:
                raise BTFError(f"type [{tid}] ({t!r}) cannot be encoded: {err}") from None
        types = b"".join(chunks)
        strings = bytes(self._strtab)
        header = struct.pack(e + "HBBIIIII", BTF_MAGIC, BTF_VERSION, 0, HEADER_SIZE,
                             0, len(types), len(types), len(strings))
        return header + types + strings

    def build(self) -> BTF:
        """Serialize and parse back: a :class:`BTF` of the added types."""
        return BTF.from_bytes(self.to_bytes(), base=self.base)

    @classmethod
    def from_btf(cls, btf: BTF) -> BTFBuilder:
        """A builder holding a copy of ``btf``'s own types, to extend it."""
        b = cls(base=btf.base, byteorder=btf.byteorder)
        for t in btf.own_types():
            b.add(t)
        return b


def _info(kind: int, vlen: int, kflag: bool = False) -> int:
    if not 0 <= vlen <= 0xFFFF:
        raise struct.error(f"vlen {vlen} does not fit in 16 bits")
    return (int(kflag) << 31) | (kind << 24) | vlen


def _enc_int(t: Int, e, common, s) -> bytes:
    enc = ((t.encoding & 0x0F) << 24) | ((t.bit_offset & 0xFF) << 16) | (t.bits & 0xFF)
    if t.bits > 128 or t.bit_offset > 255:
        raise struct.error("INT bits/offset out of range")
    return common.pack(s(t.name), _info(Kind.INT, 0), t.size) + struct.pack(e + "I", enc)


def _enc_ref(t, e, common, s) -> bytes:
    return common.pack(s(getattr(t, "name", "")), _info(t.kind, 0), t.type_id)


def _enc_array(t: Array, e, common, s) -> bytes:
    return (common.pack(0, _info(Kind.ARRAY, 0), 0)
            + struct.pack(e + "III", t.elem_type_id, t.index_type_id, t.nelems))


def _enc_composite(t: Composite, e, common, s) -> bytes:
    kflag = t.has_bitfields
    rec = struct.Struct(e + "III")
    parts = [common.pack(s(t.name), _info(t.kind, len(t.members), kflag), t.size)]
    for m in t.members:
        if kflag:
            if m.bit_offset >= 1 << 24 or m.bitfield_size > 255:
                raise struct.error(f"member {m.name!r} bit offset or size too large")
            off = (m.bitfield_size << 24) | m.bit_offset
        else:
            off = m.bit_offset
        parts.append(rec.pack(s(m.name), m.type_id, off))
    return b"".join(parts)


def _enc_enum(t: EnumBase, e, common, s) -> bytes:
    parts = [common.pack(s(t.name), _info(t.kind, len(t.values), t.signed), t.size)]
    if t.kind == Kind.ENUM:
        rec = struct.Struct(e + "II")
        for v in t.values:
            if not -(1 << 31) <= v.value < (1 << 32):
                raise struct.error(f"enumerator {v.name} = {v.value} does not fit in 32 bits")
            parts.append(rec.pack(s(v.name), v.value & 0xFFFFFFFF))
    else:
        rec = struct.Struct(e + "III")
        for v in t.values:
            if not -(1 << 63) <= v.value < (1 << 64):
                raise struct.error(f"enumerator {v.name} = {v.value} does not fit in 64 bits")
            val = v.value & 0xFFFFFFFFFFFFFFFF
            parts.append(rec.pack(s(v.name), val & 0xFFFFFFFF, val >> 32))
    return b"".join(parts)


def _enc_fwd(t: Fwd, e, common, s) -> bytes:
    return common.pack(s(t.name), _info(Kind.FWD, 0, t.is_union), 0)


def _enc_func(t: Func, e, common, s) -> bytes:
    return common.pack(s(t.name), _info(Kind.FUNC, t.linkage), t.type_id)


def _enc_func_proto(t: FuncProto, e, common, s) -> bytes:
    rec = struct.Struct(e + "II")
    return (common.pack(0, _info(Kind.FUNC_PROTO, len(t.params)), t.return_type_id)
            + b"".join(rec.pack(s(p.name), p.type_id) for p in t.params))


def _enc_var(t: Var, e, common, s) -> bytes:
    return common.pack(s(t.name), _info(Kind.VAR, 0), t.type_id) + struct.pack(e + "I", t.linkage)


def _enc_datasec(t: Datasec, e, common, s) -> bytes:
    rec = struct.Struct(e + "III")
    return (common.pack(s(t.name), _info(Kind.DATASEC, len(t.vars)), t.size)
            + b"".join(rec.pack(*v) for v in t.vars))


def _enc_float(t: Float, e, common, s) -> bytes:
    return common.pack(s(t.name), _info(Kind.FLOAT, 0), t.size)


def _enc_decl_tag(t: DeclTag, e, common, s) -> bytes:
    return (common.pack(s(t.name), _info(Kind.DECL_TAG, 0), t.type_id)
            + struct.pack(e + "i", t.component_idx))


_ENCODERS = {
    Kind.INT: _enc_int, Kind.PTR: _enc_ref, Kind.ARRAY: _enc_array,
    Kind.STRUCT: _enc_composite, Kind.UNION: _enc_composite, Kind.ENUM: _enc_enum,
    Kind.FWD: _enc_fwd, Kind.TYPEDEF: _enc_ref, Kind.VOLATILE: _enc_ref, Kind.CONST: _enc_ref,
    Kind.RESTRICT: _enc_ref, Kind.FUNC: _enc_func, Kind.FUNC_PROTO: _enc_func_proto,
    Kind.VAR: _enc_var, Kind.DATASEC: _enc_datasec, Kind.FLOAT: _enc_float,
    Kind.DECL_TAG: _enc_decl_tag, Kind.TYPE_TAG: _enc_ref, Kind.ENUM64: _enc_enum,
}
