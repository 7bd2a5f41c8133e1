"""Reading BTF and walking its type graph.

:class:`BTF` parses raw BTF (the ``.BTF`` section of an object, the kernel's
``/sys/kernel/btf/vmlinux``, or a module's split BTF on top of vmlinux).  The
constructor only checks the header and records where each type starts, so
opening the kernel's 100k+ types takes tens of milliseconds; a type becomes a
Python object (:mod:`pybpf.btf.types`) the first time it is asked for.

Type ids of split BTF continue after the base's: ``btf[id]`` answers for both.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

from ..errors import BTFError
from ..spec.defines import BTF_ENUM_MAX_BYTES as MAX_ENUM_BYTES
from ..spec.defines import BTF_HEADER_SIZE as HEADER_SIZE
from ..spec.defines import BTF_INT_MAX_BYTES as MAX_INT_BYTES
from ..spec.defines import BTF_MAGIC, BTF_VERSION
from .sysfs import SYSFS_BTF_DIR, VMLINUX_PATH
from .types import (
    MAX_KIND,
    MAX_NESTING,
    QUALIFIER_KINDS,
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

# Bytes after the 12-byte common header: fixed part by kind, then per vlen item.
_EXTRA = (0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0)
_PER_VLEN = (0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12)


TypeRef = "Type | int | str"


class FieldLocation(NamedTuple):
    """Where a (possibly nested) member lives, from :meth:`BTF.locate`."""

    bit_offset: int
    """Bit offset from the start of the outer type."""
    bitfield_size: int
    """Width in bits for a bitfield, else 0."""
    type_id: int
    """Type id of the member."""
    size: int
    """Size in bytes of the member's type."""

    @property
    def offset(self) -> int:
        """Byte offset (rounded down for a bitfield)."""
        return self.bit_offset // 8


class _Layout:
    """Unpackers for one byte order."""

    def __init__(self, endian: str):
        self.endian = endian
        self.header = struct.Struct(endian + "HBBIIIII")
        self.common = struct.Struct(endian + "III")
        self.u32 = struct.Struct(endian + "I")
        self.i32 = struct.Struct(endian + "i")
        self.triple = struct.Struct(endian + "III")
        self.pair = struct.Struct(endian + "II")


_LAYOUTS = {"<": _Layout("<"), ">": _Layout(">")}


class BTF:
    """A parsed BTF blob: a sequence of types indexed by type id.

    Build one with :meth:`from_bytes`, :meth:`from_file`, :meth:`load_vmlinux`
    or :meth:`load_module`::

        btf = BTF.load_vmlinux()
        ts = btf.find("task_struct")          # struct task_struct
        btf.member_offset(ts, "se.vruntime")  # byte offset of a nested member
        btf.enum_values("bpf_map_type")["BPF_MAP_TYPE_HASH"]

    Anything that takes a type accepts a :class:`Type`, a type id or a name
    (``"task_struct"``, ``"struct sk_buff"``, ``"u32"``).
    """

    pointer_size = 8
    """Size of a pointer in bytes.  BTF does not record it; 8 for BPF and
    every 64-bit kernel."""

    def __init__(self, data: bytes | bytearray | memoryview, *, base: BTF | None = None,
                 path: str | None = None):
        """Parse raw BTF.  ``base`` is the BTF that split BTF builds on."""
        self._data = bytes(data)
        self.base = base
        self.path = path
        self._parse_header()
        self._index_types()
        self._cache: list[Type | None] = [None] * len(self._offsets)
        self._strings: dict[int, str] = {}
        self._names: dict[str, list[int]] | None = None
        self._sizes: dict[int, int] = {}

    # ---------------------------------------------------------------- loading

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, *, base: BTF | None = None,
                   path: str | None = None) -> BTF:
        """Parse raw BTF bytes (starting with the 0xeB9F magic)."""
        return cls(data, base=base, path=path)

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, base: BTF | None = None) -> BTF:
        """Parse raw BTF or the ``.BTF`` section of an ELF object file."""
        from ._elf import ELF_MAGIC, elf_sections

        path = os.fspath(path)
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] == ELF_MAGIC:
            sections = elf_sections(data, path=path)
            if ".BTF" not in sections:
                raise BTFError("object file has no .BTF section", path=path)
            return cls(sections[".BTF"], base=base, path=path)
        return cls(data, base=base, path=path)

    @staticmethod
    def load_vmlinux(path: str = VMLINUX_PATH) -> BTF:
        """The running kernel's BTF, parsed once and cached.

        Raises BTFError if the kernel exposes no BTF (CONFIG_DEBUG_INFO_BTF).
        """
        return _load_cached(os.path.realpath(path))

    @staticmethod
    def load_module(module: str, *, base: BTF | None = None) -> BTF:
        """The split BTF of a loaded kernel module (``/sys/kernel/btf/<module>``)
        on top of vmlinux (or ``base``)."""
        path = os.path.join(SYSFS_BTF_DIR, module)
        if base is None:
            base = BTF.load_vmlinux()
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise BTFError(f"cannot read module BTF: {e.strerror}", path=path) from None
        return BTF(data, base=base, path=path)

    # ------------------------------------------------------------ raw parsing

    def _error(self, message: str, offset: int | None = None) -> BTFError:
        return BTFError(message, section=".BTF", offset=offset, path=self.path)

    def _parse_header(self) -> None:
        data = self._data
        if len(data) < HEADER_SIZE:
            raise self._error(f"truncated header ({len(data)} bytes, need {HEADER_SIZE})", 0)
        if int.from_bytes(data[:2], "little") == BTF_MAGIC:
            endian = "<"
        elif int.from_bytes(data[:2], "big") == BTF_MAGIC:
            endian = ">"
        else:
            raise self._error(f"bad magic {data[:2].hex()} (want 0xeb9f)", 0)
        self._lay = lay = _LAYOUTS[endian]
        _, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            lay.header.unpack_from(data, 0)
        if version != BTF_VERSION:
            raise self._error(f"unsupported BTF version {version}", 2)
        if hdr_len < HEADER_SIZE or hdr_len > len(data):
            raise self._error(f"bad header length {hdr_len}", 4)
        t_start, s_start = hdr_len + type_off, hdr_len + str_off
        if t_start + type_len > len(data):
            raise self._error(f"type section ({type_len} bytes at {t_start:#x}) runs past "
                              f"the end of the data ({len(data)} bytes)", 12)
        if s_start + str_len > len(data):
            raise self._error(f"string section ({str_len} bytes at {s_start:#x}) runs past "
                              f"the end of the data ({len(data)} bytes)", 20)
        if type_off % 4:
            raise self._error(f"type section offset {type_off} is not 4-byte aligned", 8)
        if str_len and data[s_start + str_len - 1] != 0:
            raise self._error("string section does not end with a NUL byte", s_start + str_len - 1)
        if self.base is None:
            if not str_len or data[s_start] != 0:
                raise self._error("string section does not start with an empty string", s_start)
            self._first_id = 1
            self._str_first = 0
        else:
            if self.base._lay.endian != endian:
                raise self._error("split BTF and its base have different byte orders", 0)
            self._first_id = len(self.base)
            self._str_first = self.base._str_first + self.base._str_len
        self.byteorder = "little" if endian == "<" else "big"
        self._t_start, self._t_end = t_start, t_start + type_len
        self._s_start, self._str_len = s_start, str_len

    def _index_types(self) -> None:
        data, off, end = self._data, self._t_start, self._t_end
        unpack = self._lay.common.unpack_from
        extra, per_vlen = _EXTRA, _PER_VLEN
        offsets = array("L")
        append = offsets.append
        kind = 0
        try:
            while off < end:
                info = unpack(data, off)[1]
                kind = (info >> 24) & 0x1F
                if not 0 < kind <= MAX_KIND:
                    raise IndexError
                append(off)
                off += 12 + extra[kind] + (info & 0xFFFF) * per_vlen[kind]
        except struct.error:
            raise self._error(f"type [{self._first_id + len(offsets)}] is truncated",
                              off) from None
        except IndexError:
            raise self._error(f"type [{self._first_id + len(offsets)}] has unknown kind "
                              f"{kind}", off) from None
        if off != end:
            raise self._error(f"type [{self._first_id + len(offsets) - 1}] runs past the end "
                              f"of the type section", offsets[-1])
        self._offsets = offsets

    # ---------------------------------------------------------------- strings

    def string_at(self, offset: int) -> str:
        """The string at ``offset`` in the string section (of the base for
        offsets below this split BTF's own strings)."""
        if offset < self._str_first:
            return self.base.string_at(offset)  # type: ignore[union-attr]
        s = self._strings.get(offset)
        if s is not None:
            return s
        rel = offset - self._str_first
        if rel >= self._str_len:
            raise self._error(f"string offset {offset} is outside the string section "
                              f"({self._str_len} bytes)")
        start = self._s_start + rel
        end = self._data.find(b"\0", start, self._s_start + self._str_len)
        s = self._data[start:end].decode("utf-8", "surrogateescape")
        self._strings[offset] = s
        return s

    def strings(self) -> Iterator[tuple[int, str]]:
        """Every (offset, string) of this BTF's own string section."""
        raw = self._data[self._s_start:self._s_start + self._str_len]
        pos = 0
        while pos < len(raw):
            end = raw.index(b"\0", pos)
            yield self._str_first + pos, raw[pos:end].decode("utf-8", "surrogateescape")
            pos = end + 1

    # ------------------------------------------------------------------ types

    def __deepcopy__(self, memo: dict) -> BTF:
        """BTF is immutable once parsed: copies of a spec share it."""
        return self

    def __copy__(self) -> BTF:
        return self

    def __len__(self) -> int:
        """Number of type ids, including void (0) and any base types."""
        return self._first_id + len(self._offsets)

    @property
    def first_id(self) -> int:
        """The first type id this BTF defines (1, or after the base for split BTF)."""
        return self._first_id

    @property
    def types(self) -> TypesView:
        """All types by id, as a lazy sequence (``btf.types[0]`` is void)."""
        return TypesView(self)

    def __iter__(self) -> Iterator[Type]:
        """Every type except void, base types first."""
        for tid in range(1, len(self)):
            yield self[tid]

    def own_types(self) -> Iterator[Type]:
        """The types this BTF defines itself (without its base's)."""
        for tid in range(self._first_id, len(self)):
            yield self[tid]

    def __getitem__(self, type_id: int) -> Type:
        """The type with id ``type_id`` (0 is void).  Raises BTFError if absent."""
        idx = type_id - self._first_id
        if idx >= 0:
            try:
                t = self._cache[idx]
            except IndexError:
                raise self._error(f"no type with id {type_id} ({len(self)} types)") from None
            except TypeError:
                raise TypeError(f"type ids are ints, not {type(type_id).__name__}") from None
            if t is None:
                t = self._cache[idx] = self._decode(type_id, self._offsets[idx])
            return t
        if type_id == 0:
            return VOID
        if self.base is not None and type_id > 0:
            return self.base[type_id]
        raise self._error(f"no type with id {type_id}")

    def get(self, type_id: int) -> Type | None:
        """The type with id ``type_id``, or None."""
        if not 0 <= type_id < len(self):
            return None
        return self[type_id]

    def kind_of(self, type_id: int) -> Kind:
        """The kind of type ``type_id`` without building the type object."""
        idx = type_id - self._first_id
        if idx < 0:
            if type_id == 0:
                return Kind.UNKN
            if self.base is None or type_id < 0:
                raise self._error(f"no type with id {type_id}")
            return self.base.kind_of(type_id)
        if idx >= len(self._offsets):
            raise self._error(f"no type with id {type_id} ({len(self)} types)")
        return Kind((self._lay.common.unpack_from(self._data, self._offsets[idx])[1] >> 24) & 0x1F)

    def name_of(self, type_id: int) -> str:
        """The name of type ``type_id`` without building the type object."""
        idx = type_id - self._first_id
        if idx < 0:
            if type_id == 0:
                return "void"
            if self.base is None or type_id < 0:
                raise self._error(f"no type with id {type_id}")
            return self.base.name_of(type_id)
        if idx >= len(self._offsets):
            raise self._error(f"no type with id {type_id} ({len(self)} types)")
        return self.string_at(self._lay.u32.unpack_from(self._data, self._offsets[idx])[0])

    def _ref(self, type_id: int, owner: int, what: str) -> int:
        if not 0 <= type_id < len(self):
            raise self._error(f"type [{owner}] refers to {what} type id {type_id}, which does "
                              f"not exist ({len(self)} types)", self._offsets[owner - self._first_id])
        return type_id

    def _decode(self, tid: int, off: int) -> Type:
        data, lay = self._data, self._lay
        name_off, info, size = lay.common.unpack_from(data, off)
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = info >> 31
        name = self.string_at(name_off) if name_off else ""
        p = off + 12
        ref = self._ref
        s = self.string_at
        if kind == Kind.INT:
            enc = lay.u32.unpack_from(data, p)[0]
            if size > MAX_INT_BYTES or (enc & 0xFF) > MAX_INT_BYTES * 8:
                raise self._error(f"type [{tid}] is an integer of {size} bytes, {enc & 0xFF} "
                                  f"bits: at most {MAX_INT_BYTES} bytes (128 bits)", off)
            return Int(name, size, (enc >> 24) & 0x0F, (enc >> 16) & 0xFF, enc & 0xFF, id=tid)
        if kind == Kind.PTR:
            return Ptr(ref(size, tid, "pointed-to"), id=tid)
        if kind == Kind.ARRAY:
            elem, index, nelems = lay.triple.unpack_from(data, p)
            return Array(ref(elem, tid, "element"), ref(index, tid, "index"), nelems, id=tid)
        if kind == Kind.STRUCT or kind == Kind.UNION:
            n = len(self)
            members = []
            for m_name, m_type, m_off in lay.triple.iter_unpack(data[p:p + 12 * vlen]):
                if m_type >= n:
                    ref(m_type, tid, "member")
                if kflag:
                    members.append(Member(s(m_name) if m_name else "", m_type,
                                          m_off & 0xFFFFFF, m_off >> 24))
                else:
                    members.append(Member(s(m_name) if m_name else "", m_type, m_off, 0))
            cls = Struct if kind == Kind.STRUCT else Union
            return cls(name, size, tuple(members), id=tid)
        if kind in (Kind.ENUM, Kind.ENUM64) and size > MAX_ENUM_BYTES:
            raise self._error(f"type [{tid}] is an enum of {size} bytes: at most "
                              f"{MAX_ENUM_BYTES}", off)
        if kind == Kind.ENUM:
            values = []
            for v_name, v in lay.pair.iter_unpack(data[p:p + 8 * vlen]):
                if kflag and v & 0x80000000:
                    v -= 1 << 32
                values.append(EnumValue(s(v_name), v))
            return Enum(name, size, tuple(values), bool(kflag), id=tid)
        if kind == Kind.ENUM64:
            values = []
            for v_name, lo, hi in lay.triple.iter_unpack(data[p:p + 12 * vlen]):
                v = (hi << 32) | lo
                if kflag and v & (1 << 63):
                    v -= 1 << 64
                values.append(EnumValue(s(v_name), v))
            return Enum64(name, size, tuple(values), bool(kflag), id=tid)
        if kind == Kind.FWD:
            return Fwd(name, bool(kflag), id=tid)
        if kind == Kind.TYPEDEF:
            return Typedef(name, ref(size, tid, "aliased"), id=tid)
        if kind == Kind.VOLATILE:
            return Volatile(ref(size, tid, "qualified"), id=tid)
        if kind == Kind.CONST:
            return Const(ref(size, tid, "qualified"), id=tid)
        if kind == Kind.RESTRICT:
            return Restrict(ref(size, tid, "qualified"), id=tid)
        if kind == Kind.FUNC:
            return Func(name, ref(size, tid, "prototype"), vlen, id=tid)
        if kind == Kind.FUNC_PROTO:
            params = tuple(Param(s(p_name) if p_name else "", ref(p_type, tid, "parameter"))
                           for p_name, p_type in lay.pair.iter_unpack(data[p:p + 8 * vlen]))
            return FuncProto(ref(size, tid, "return"), params, id=tid)
        if kind == Kind.VAR:
            return Var(name, ref(size, tid, "variable"), lay.u32.unpack_from(data, p)[0], id=tid)
        if kind == Kind.DATASEC:
            secinfo = tuple(VarSecinfo(ref(v_type, tid, "variable"), v_off, v_size)
                            for v_type, v_off, v_size in
                            lay.triple.iter_unpack(data[p:p + 12 * vlen]))
            return Datasec(name, size, secinfo, id=tid)
        if kind == Kind.FLOAT:
            return Float(name, size, id=tid)
        if kind == Kind.DECL_TAG:
            return DeclTag(name, ref(size, tid, "tagged"), lay.i32.unpack_from(data, p)[0],
                           id=tid)
        if kind == Kind.TYPE_TAG:
            return TypeTag(name, ref(size, tid, "tagged"), id=tid)
        raise self._error(f"type [{tid}] has unknown kind {kind}", off)  # pragma: no cover

    # ----------------------------------------------------------- lookup by name

    def _name_index(self) -> dict[str, list[int]]:
        if self._names is None:
            names: dict[str, list[int]] = {}
            unpack = self._lay.u32.unpack_from
            data = self._data
            s = self.string_at
            tid = self._first_id
            for off in self._offsets:
                name_off = unpack(data, off)[0]
                if name_off:
                    name = s(name_off)
                    lst = names.get(name)
                    if lst is None:
                        names[name] = [tid]
                    else:
                        lst.append(tid)
                tid += 1
            self._names = names
        return self._names

    def find_all(self, name: str, kind: Kind | str | None = None) -> list[Type]:
        """Every type called ``name`` (of ``kind`` if given), base types first."""
        kind = _as_kind(kind)
        found = self.base.find_all(name, kind) if self.base is not None else []
        for tid in self._name_index().get(name, ()):
            if kind is None or self.kind_of(tid) == kind:
                found.append(self[tid])
        return found

    def find_ids(self, name: str) -> list[int]:
        """Ids of every type called ``name``, base types first (cheap)."""
        ids = self.base.find_ids(name) if self.base is not None else []
        return ids + list(self._name_index().get(name, ()))

    def find(self, name: str, kind: Kind | str | None = None) -> Type:
        """The type called ``name``.

        Without ``kind``, a name may carry a C tag (``"struct sk_buff"``,
        ``"union bpf_attr"``, ``"enum bpf_map_type"``); a bare name prefers
        struct, union, typedef, enum, int, float, then any other kind.  Raises
        :class:`TypeNotFoundError` when there is none.
        """
        t = self.get_named(name, kind)
        if t is None:
            what = f"{_as_kind(kind).name.lower()} " if kind is not None else ""
            raise TypeNotFoundError(f"no {what}type named {name!r} in BTF", path=self.path)
        return t

    def get_named(self, name: str, kind: Kind | str | None = None) -> Type | None:
        """Like :meth:`find`, but None when there is no such type."""
        if kind is None:
            tag, _, rest = name.partition(" ")
            if rest and tag in _TAG_KINDS:
                kinds = _TAG_KINDS[tag]
                name = rest.strip()
            else:
                kinds = _PREFERRED_KINDS
        else:
            kinds = (_as_kind(kind),)
        ids = self.find_ids(name)
        if not ids:
            return None
        by_kind = {}
        for tid in ids:
            by_kind.setdefault(self.kind_of(tid), tid)
        for k in kinds:
            if k in by_kind:
                return self[by_kind[k]]
        if kind is None and kinds is _PREFERRED_KINDS:
            return self[ids[0]]
        return None

    def __contains__(self, name: object) -> bool:
        """Whether a type of that name (or id) exists."""
        if isinstance(name, int):
            return 0 <= name < len(self)
        return isinstance(name, str) and self.get_named(name) is not None

    def type(self, ref: TypeRef) -> Type:
        """Turn a Type, type id or name into a Type."""
        if isinstance(ref, Type):
            return ref
        if isinstance(ref, int):
            return self[ref]
        if isinstance(ref, str):
            return self.find(ref)
        raise TypeError(f"expected a BTF type, type id or name, not {type(ref).__name__}")

    # ---------------------------------------------------- following type chains

    def strip(self, ref: TypeRef) -> Type:
        """Skip const, volatile, restrict and type tags."""
        t = self.type(ref)
        for _ in range(MAX_NESTING):
            if t.kind not in QUALIFIER_KINDS:
                return t
            t = self[t.type_id]  # type: ignore[attr-defined]
        raise self._error(f"qualifier chain from type [{self.type(ref).id}] is too long "
                          f"(or cyclic)")

    def resolve(self, ref: TypeRef) -> Type:
        """Skip typedefs and qualifiers: the type a value really has."""
        t = self.type(ref)
        for _ in range(MAX_NESTING):
            if t.kind not in QUALIFIER_KINDS and t.kind != Kind.TYPEDEF:
                return t
            t = self[t.type_id]  # type: ignore[attr-defined]
        raise self._error(f"typedef/qualifier chain from type [{self.type(ref).id}] is too "
                          f"long (or cyclic)")

    def resolve_id(self, type_id: int) -> int:
        """The id :meth:`resolve` lands on."""
        return self.resolve(type_id).id

    def size_of(self, ref: TypeRef) -> int:
        """Size in bytes of a value of the type.  Raises BTFError for types
        without a size (void, functions, forward declarations)."""
        t = self.type(ref)
        if t.id and t.id in self._sizes:
            return self._sizes[t.id]
        start = t
        mult = 1
        for _ in range(MAX_NESTING):
            kind = t.kind
            if kind in _SIZED_KINDS:
                size = mult * t.size  # type: ignore[attr-defined]
                break
            if kind == Kind.PTR:
                size = mult * self.pointer_size
                break
            if kind == Kind.ARRAY:
                mult *= t.nelems  # type: ignore[attr-defined]
                t = self[t.elem_type_id]  # type: ignore[attr-defined]
            elif kind in QUALIFIER_KINDS or kind in (Kind.TYPEDEF, Kind.VAR):
                t = self[t.type_id]  # type: ignore[attr-defined]
            else:
                what = "void" if kind == Kind.UNKN else f"a {kind.name} ({_label(t)})"
                raise self._error(f"type [{start.id}] has no size: it is or contains {what}")
        else:
            raise self._error(f"type chain from [{start.id}] is too long (or cyclic)")
        if start.id:
            self._sizes[start.id] = size
        return size

    def align_of(self, ref: TypeRef) -> int:
        """Natural alignment of the type on 64-bit targets (BPF, x86-64).

        A struct whose members or size break natural alignment is packed and
        aligns to 1.
        """
        return self._align(self.type(ref), 0)

    def _align(self, t: Type, depth: int) -> int:
        if depth > MAX_NESTING:
            raise self._error(f"type [{t.id}] nests too deeply (or cyclically)")
        kind = t.kind
        if kind in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64):
            return min(max(t.size, 1), 16)  # type: ignore[attr-defined]
        if kind == Kind.PTR:
            return self.pointer_size
        if kind == Kind.ARRAY:
            return self._align(self[t.elem_type_id], depth + 1)  # type: ignore[attr-defined]
        if kind in QUALIFIER_KINDS or kind in (Kind.TYPEDEF, Kind.VAR):
            return self._align(self[t.type_id], depth + 1)  # type: ignore[attr-defined]
        if isinstance(t, Composite):
            align = 1
            for m in t.members:
                a = self._align(self[m.type_id], depth + 1)
                if not m.bitfield_size and m.bit_offset % (8 * a):
                    return 1
                align = max(align, a)
            return 1 if t.size % align else align
        raise self._error(f"type [{t.id}] ({_label(t)}) has no alignment")

    # ----------------------------------------------------------------- members

    def members(self, ref: TypeRef) -> tuple[Member, ...]:
        """The members of a struct or union (through typedefs and qualifiers)."""
        t = self.resolve(ref)
        if not isinstance(t, Composite):
            raise BTFError(f"{_label(t)} is not a struct or union", path=self.path)
        return t.members

    def find_member(self, ref: TypeRef, name: str) -> tuple[Member, int] | None:
        """The member ``name`` of a struct or union, looking through anonymous
        members as C does, with its bit offset from the start of ``ref``."""
        t = self.resolve(ref)
        if not isinstance(t, Composite):
            raise BTFError(f"{_label(t)} is not a struct or union", path=self.path)
        return self._find_member(t, name, 0, 0)

    def _find_member(self, t: Composite, name: str, base: int, depth: int):
        if depth > MAX_NESTING:
            raise self._error(f"anonymous members of [{t.id}] nest too deeply (or cyclically)")
        for m in t.members:
            if m.name == name:
                return m, base + m.bit_offset
            if not m.name:
                inner = self.resolve(m.type_id)
                if isinstance(inner, Composite):
                    found = self._find_member(inner, name, base + m.bit_offset, depth + 1)
                    if found:
                        return found
        return None

    def locate(self, ref: TypeRef, path: str) -> FieldLocation:
        """Where ``path`` (``"a.b[2].c"``, C member syntax) lives inside ``ref``.

        Anonymous struct/union members are looked through, as in C.
        """
        t = self.type(ref)
        bit_offset = 0
        bitfield = 0
        cur = t.id
        for name, index in _parse_path(path, self.path):
            outer = self.resolve(cur)
            if name is not None:
                if not isinstance(outer, Composite):
                    raise BTFError(f"cannot take member {name!r} of {_label(outer)} "
                                   f"(in {path!r})", path=self.path)
                found = self._find_member(outer, name, 0, 0)
                if found is None:
                    raise BTFError(f"{_label(outer)} has no member {name!r} (in {path!r})",
                                   path=self.path)
                m, off = found
                bit_offset += off
                bitfield = m.bitfield_size
                cur = m.type_id
            else:
                if not isinstance(outer, Array):
                    raise BTFError(f"cannot index {_label(outer)} (in {path!r})", path=self.path)
                bit_offset += index * 8 * self.size_of(outer.elem_type_id)
                bitfield = 0
                cur = outer.elem_type_id
        if bitfield:
            size = self.size_of(cur)
        else:
            size = self.size_of(cur) if self.resolve(cur).kind not in _UNSIZED else 0
        return FieldLocation(bit_offset, bitfield, cur, size)

    def member_offset(self, ref: TypeRef, path: str) -> int:
        """Byte offset of ``path`` (``"se.vruntime"``, ``"arr[3].x"``) in ``ref``.

        For a bitfield, the offset of the byte holding its first bit.
        """
        return self.locate(ref, path).offset

    # ----------------------------------------------------------- other helpers

    def enum_values(self, ref: TypeRef) -> dict[str, int]:
        """An enum's enumerators as ``{name: value}``."""
        t = self.resolve(ref if not isinstance(ref, str) else self._find_enum(ref))
        if not isinstance(t, EnumBase):
            raise BTFError(f"{_label(t)} is not an enum", path=self.path)
        return t.as_dict()

    def _find_enum(self, name: str) -> Type:
        t = self.get_named(name, Kind.ENUM) or self.get_named(name, Kind.ENUM64)
        return t if t is not None else self.find(name)

    def func_proto(self, ref: TypeRef) -> FuncProto:
        """The prototype of a FUNC (or the FUNC_PROTO itself, through typedefs
        and pointers)."""
        t = self.type(ref if not isinstance(ref, str) else (
            self.get_named(ref, Kind.FUNC) or self.find(ref)))
        for _ in range(MAX_NESTING):
            if isinstance(t, FuncProto):
                return t
            if isinstance(t, (Func, Ptr, Typedef)) or t.kind in QUALIFIER_KINDS:
                t = self[t.type_id]  # type: ignore[attr-defined]
            else:
                break
        raise BTFError(f"{_label(t)} is not a function", path=self.path)

    def datasec_vars(self, ref: TypeRef) -> list[tuple[Var, int, int]]:
        """The (VAR, offset, size) entries of a DATASEC."""
        t = self.type(ref if not isinstance(ref, str) else (
            self.get_named(ref, Kind.DATASEC) or self.find(ref)))
        if not isinstance(t, Datasec):
            raise BTFError(f"{_label(t)} is not a DATASEC", path=self.path)
        out = []
        for v in t.vars:
            var = self[v.type_id]
            if not isinstance(var, Var):
                raise BTFError(f"DATASEC {t.name!r} entry [{v.type_id}] is a {var.kind.name}, "
                               f"not a VAR", path=self.path)
            out.append((var, v.offset, v.size))
        return out

    def type_name(self, ref: TypeRef, name: str = "") -> str:
        """The type as C spells it, declaring ``name`` if given:
        ``"struct task_struct *"``, ``"int (*cb)(void *)"``."""
        from .dump import c_declaration

        return c_declaration(self, self.type(ref).id, name)

    def describe(self, ref: TypeRef) -> str:
        """A type's bpftool-style raw description (members included)."""
        return self.type(ref).describe()

    def dump_raw(self, *, progress: Callable[[int, int], object] | None = None) -> str:
        """All types, one block per type, like ``bpftool btf dump format raw``;
        ``progress(done, total)`` hears how far it has come."""
        if progress is None:
            return "\n".join(_describe_raw(self, t) for t in self)
        from .dump import PROGRESS_STEP

        total, out = len(self), []
        for i, t in enumerate(self):
            if not i % PROGRESS_STEP:
                progress(i, total)
            out.append(_describe_raw(self, t))
        return "\n".join(out)

    def dump_c(self, **options) -> str:
        """A C header declaring every type (a ``vmlinux.h``); see
        :func:`pybpf.btf.dump.dump_c` for options."""
        from .dump import dump_c

        return dump_c(self, **options)

    def decode(self, ref: TypeRef, data: bytes | bytearray | memoryview):
        """Decode a value of type ``ref`` into Python objects; see
        :func:`pybpf.btf.values.decode`."""
        from .values import decode

        return decode(self, ref, data)

    def encode(self, ref: TypeRef, value) -> bytes:
        """The bytes of a Python value as type ``ref`` (the inverse of
        :meth:`decode`); see :func:`pybpf.btf.values.encode`."""
        from .values import encode

        return encode(self, ref, value)

    def format(self, ref: TypeRef, data: bytes | bytearray | memoryview, **options) -> str:
        """A value of type ``ref`` for humans; see :func:`pybpf.btf.values.format_value`."""
        from .values import format_value

        return format_value(self, ref, data, **options)

    @property
    def raw(self) -> bytes:
        """The bytes this BTF was parsed from."""
        return self._data

    def __repr__(self) -> str:
        where = f" from {self.path}" if self.path else ""
        split = f" on a base of {len(self.base)}" if self.base is not None else ""
        return f"<BTF {len(self) - self._first_id} types{split}{where}>"


class TypeNotFoundError(BTFError, KeyError):
    """No type of the requested name (or kind) exists."""

    def __str__(self) -> str:
        return BTFError.__str__(self)


class TypesView(Sequence):
    """A lazy sequence of all types of a BTF, indexed by type id."""

    def __init__(self, btf: BTF):
        self._btf = btf

    def __len__(self) -> int:
        return len(self._btf)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._btf[i] for i in range(*index.indices(len(self._btf)))]
        if index < 0:
            index += len(self._btf)
        if not 0 <= index < len(self._btf):
            raise IndexError(index)
        return self._btf[index]

    def __iter__(self) -> Iterator[Type]:
        btf = self._btf
        for i in range(len(btf)):
            yield btf[i]


_SIZED_KINDS = frozenset({Kind.INT, Kind.FLOAT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                          Kind.DATASEC})
_UNSIZED = frozenset({Kind.UNKN, Kind.FUNC, Kind.FUNC_PROTO, Kind.FWD})
_TAG_KINDS = {
    "struct": (Kind.STRUCT, Kind.FWD),
    "union": (Kind.UNION, Kind.FWD),
    "enum": (Kind.ENUM, Kind.ENUM64),
}
_PREFERRED_KINDS = (Kind.STRUCT, Kind.UNION, Kind.TYPEDEF, Kind.ENUM, Kind.ENUM64, Kind.INT,
                    Kind.FLOAT, Kind.FWD)


def _as_kind(kind: Kind | str | int | None) -> Kind | None:
    if kind is None or isinstance(kind, Kind):
        return kind
    if isinstance(kind, str):
        try:
            return Kind[kind.upper()]
        except KeyError:
            raise ValueError(f"unknown BTF kind {kind!r}") from None
    return Kind(kind)


def _label(t: Type) -> str:
    if isinstance(t, Void):
        return "void"
    name = getattr(t, "name", "") or "(anon)"
    return f"[{t.id}] {t.kind.name} {name!r}"


def _describe_raw(btf: BTF, t: Type) -> str:
    if isinstance(t, Datasec):
        lines = [repr(t)]
        for v in t.vars:
            var = btf.get(v.type_id)
            what = f" ({var.kind.name} {getattr(var, 'name', '')!r})" if var is not None else ""
            lines.append(f"\ttype_id={v.type_id} offset={v.offset} size={v.size}{what}")
        return "\n".join(lines)
    return t.describe()


_PATH_TOKEN = re.compile(r"\s*(?:(\.)?\s*([A-Za-z_][A-Za-z_0-9]*)|\[\s*(\d+)\s*\])")


def _parse_path(path: str, where: str | None) -> list[tuple[str | None, int]]:
    steps: list[tuple[str | None, int]] = []
    pos = 0
    path = path.strip()
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None or (m.group(2) and steps and not m.group(1)) or (
                not steps and m.group(1)):
            raise BTFError(f"bad member path {path!r} at character {pos}", path=where)
        if m.group(2):
            steps.append((m.group(2), 0))
        else:
            steps.append((None, int(m.group(3))))
        pos = m.end()
    if not steps:
        raise BTFError("empty member path", path=where)
    return steps


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> BTF:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BTFError(f"cannot read kernel BTF: {e.strerror} (is CONFIG_DEBUG_INFO_BTF "
                       f"enabled?)", path=path) from None
    return BTF(data, path=path)
