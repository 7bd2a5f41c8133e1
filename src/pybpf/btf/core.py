"""CO-RE: Compile Once, Run Everywhere.

A BPF object compiled against one kernel's types records, for each
instruction that depends on a type's layout, a relocation (``.BTF.ext``):
the instruction, a *local* type id in the object's own BTF, an *access
string* such as ``"0:54:2"`` (array index on the root, then member and array
indices), and what is wanted (a byte offset, a size, whether a field or type
exists...).  Resolving it against the *target* kernel's BTF gives the value
to patch into the instruction.

Semantics follow libbpf's documented behaviour:

- target candidates are the types whose name, without a ``___flavor``
  suffix, equals the local root type's, and whose kind matches (an enum may
  match an enum64);
- members are matched by name, looking through anonymous structs and unions;
  the field's types must be compatible (any two structs/unions, any two
  pointers, any two ints, enums of the same name, arrays of compatible
  elements...);
- when several candidates match, they must agree on the result;
- an unresolvable field offset/size/signedness/shift or enum value makes the
  result *poisoned*: the instruction becomes a call to helper
  :data:`POISON_HELPER_ID` that the verifier (and pybpf's VM) rejects,
  naming the instruction, unless it is dead code; existence checks simply
  yield 0.

::

    resolver = CoreResolver(object_btf, BTF.load_vmlinux())
    for relo in ext.core_relos["kprobe/do_exit"]:
        result = resolver.resolve(relo)
        print(result)   # byte_off [12] struct task_struct.real_parent (0:54): 1432 -> 2376
    insns = apply_relocations(insns, results)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import BTFError
from ..isa import Insn, s32
from ..isa.opcodes import (
    BPF_ALU,
    BPF_ALU64,
    BPF_CALL,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_ST,
    BPF_STX,
    SIZE_BYTES,
    SIZE_CODE,
    SIZE_MASK,
)
from ..spec.defines import CORE_POISON_HELPER_ID
from .btf import BTF
from .ext import CoreRelo
from .types import (
    Array,
    Composite,
    EnumBase,
    Fwd,
    Int,
    Kind,
    Type,
)

POISON_HELPER_ID = CORE_POISON_HELPER_ID
"""Helper id written into an instruction whose relocation could not be
resolved (``call 195896080``, "bad relo").  No such helper exists, so the
kernel's verifier rejects the program at that instruction if it is
reachable, and pybpf's VM stops there; libbpf uses the same number, so the
kernel's log reads the same either way."""

MAX_SPEC_LEN = 64
"""Most accessors an access string may have."""

MAX_COMPAT_DEPTH = 32
"""Deepest type nesting followed when comparing types."""


class RelocKind(enum.IntEnum):
    """What a CO-RE relocation asks for (``enum bpf_core_relo_kind``)."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12

    @property
    def label(self) -> str:
        """The short name libbpf's messages use (``byte_off``, ``type_exists``...)."""
        return _LABELS[self]

    @property
    def is_field(self) -> bool:
        """Whether the relocation is about a field."""
        return self <= RelocKind.FIELD_RSHIFT_U64

    @property
    def is_type(self) -> bool:
        """Whether the relocation is about a whole type."""
        return self in _TYPE_KINDS

    @property
    def is_enumval(self) -> bool:
        """Whether the relocation is about an enumerator."""
        return self in (RelocKind.ENUMVAL_EXISTS, RelocKind.ENUMVAL_VALUE)


_LABELS = {
    RelocKind.FIELD_BYTE_OFFSET: "byte_off", RelocKind.FIELD_BYTE_SIZE: "byte_sz",
    RelocKind.FIELD_EXISTS: "field_exists", RelocKind.FIELD_SIGNED: "signed",
    RelocKind.FIELD_LSHIFT_U64: "lshift_u64", RelocKind.FIELD_RSHIFT_U64: "rshift_u64",
    RelocKind.TYPE_ID_LOCAL: "local_type_id", RelocKind.TYPE_ID_TARGET: "target_type_id",
    RelocKind.TYPE_EXISTS: "type_exists", RelocKind.TYPE_SIZE: "type_size",
    RelocKind.ENUMVAL_EXISTS: "enumval_exists", RelocKind.ENUMVAL_VALUE: "enumval_value",
    RelocKind.TYPE_MATCHES: "type_matches",
}
_TYPE_KINDS = frozenset({RelocKind.TYPE_ID_LOCAL, RelocKind.TYPE_ID_TARGET,
                         RelocKind.TYPE_EXISTS, RelocKind.TYPE_SIZE, RelocKind.TYPE_MATCHES})


class CoreError(BTFError):
    """A CO-RE relocation that cannot be processed at all (bad access string,
    ambiguous candidates, an instruction that does not fit the relocation)."""


@dataclass(frozen=True)
class CoreResult:
    """The outcome of resolving one relocation.

    ``local_value`` is what the compiler put in the instruction (checked
    before patching when ``validate``), ``target_value`` what the target
    kernel needs.  A ``poisoned`` result has no target value: the instruction
    is replaced by a call to :data:`POISON_HELPER_ID`.
    """

    relo: CoreRelo
    kind: RelocKind
    local_value: int
    target_value: int
    poisoned: bool
    description: str
    """The local side, libbpf style: ``[12] struct task_struct.real_parent (0:54)``."""
    target_description: str | None = None
    """The matched target, with its id and offset, when one matched."""
    validate: bool = True
    local_size: int = 0
    """Byte size of the local field (memory accesses may be resized)."""
    target_size: int = 0
    """Byte size of the target field."""
    resize_unsafe: bool = False
    """The field's size changed in a way a load/store cannot follow."""

    @property
    def insn_index(self) -> int:
        """Index of the instruction the relocation patches."""
        return self.relo.insn_index

    def __str__(self) -> str:
        if self.poisoned:
            outcome = f"{self.local_value} -> poisoned (no match in target)"
        else:
            outcome = f"{self.local_value} -> {self.target_value}"
        return f"{self.kind.label} {self.description}: {outcome}"


# --------------------------------------------------------------- names


def essential_name(name: str) -> str:
    """``name`` without a ``___flavor`` suffix: ``task_struct___old`` ->
    ``task_struct``.  The suffix starts at the last ``___`` that has a
    non-underscore character on both sides."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


def _essential_index(btf: BTF) -> dict[str, list[int]]:
    """essential name -> ids of this BTF's own types with that name."""
    index = getattr(btf, "_core_essential_index", None)
    if index is None:
        index = {}
        for name, ids in btf._name_index().items():
            index.setdefault(essential_name(name), []).extend(ids)
        for ids in index.values():
            ids.sort()
        btf._core_essential_index = index  # type: ignore[attr-defined]
    return index


def _kinds_compatible(a: Kind, b: Kind) -> bool:
    return a == b or (a in (Kind.ENUM, Kind.ENUM64) and b in (Kind.ENUM, Kind.ENUM64))


def _skip(btf: BTF, tid: int) -> Type:
    """Skip typedefs and qualifiers, raising CoreError on a cycle."""
    try:
        return btf.resolve(tid)
    except BTFError as e:
        raise CoreError(str(e)) from None


# ---------------------------------------------------------------- specs


@dataclass
class _Accessor:
    type_id: int   # the record holding a member, or an array's element type
    index: int
    name: str | None  # member name; None for an array index


@dataclass
class _Spec:
    """An access string resolved in one BTF."""

    btf: BTF
    root_id: int
    accessors: list[_Accessor]
    raw: list[int]
    bit_offset: int = 0


def _parse_access(access: str) -> list[int]:
    if not re.fullmatch(r"\d+(:\d+)*", access or ""):
        raise CoreError(f"malformed CO-RE access string {access!r}")
    raw = [int(x) for x in access.split(":")]
    if len(raw) > MAX_SPEC_LEN:
        raise CoreError(f"CO-RE access string {access!r} is longer than {MAX_SPEC_LEN}")
    return raw


def _is_flexible(btf: BTF, prev: _Accessor | None, arr: Array) -> bool:
    """A zero-length array that is the last member of its struct."""
    if prev is None or prev.name is None or arr.nelems:
        return False
    holder = btf[prev.type_id]
    return isinstance(holder, Composite) and prev.index == len(holder.members) - 1


def _local_spec(btf: BTF, relo: CoreRelo, kind: RelocKind) -> _Spec:
    raw = _parse_access(relo.access_str)
    if not 0 < relo.type_id < len(btf):
        raise CoreError(f"relocation refers to local type id {relo.type_id}, which does not "
                        f"exist")
    spec = _Spec(btf, relo.type_id, [], raw)
    root = _skip(btf, relo.type_id)
    if kind.is_type:
        if raw != [0]:
            raise CoreError(f"type relocation with access string {relo.access_str!r} "
                            f"(expected '0')")
        return spec
    if kind.is_enumval:
        if not isinstance(root, EnumBase) or len(raw) != 1 or raw[0] >= len(root.values):
            raise CoreError(f"enum value relocation {relo.access_str!r} on "
                            f"{_describe_type(btf, relo.type_id)}, which has no such "
                            f"enumerator")
        spec.accessors.append(_Accessor(root.id, raw[0], root.values[raw[0]].name))
        return spec
    if not kind.is_field:
        raise CoreError(f"unknown CO-RE relocation kind {int(kind)}")
    try:
        root_size = btf.size_of(root)
    except BTFError as e:
        raise CoreError(f"field relocation on a type without size: {e}") from None
    spec.accessors.append(_Accessor(root.id, raw[0], None))
    spec.bit_offset = raw[0] * root_size * 8
    cur = root.id
    for idx in raw[1:]:
        t = _skip(btf, cur)
        if isinstance(t, Composite):
            if idx >= len(t.members):
                raise CoreError(f"access {relo.access_str!r}: {_describe_type(btf, t.id)} has "
                                f"no member #{idx}")
            m = t.members[idx]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(_Accessor(t.id, idx, m.name))
            cur = m.type_id
        elif isinstance(t, Array):
            prev = spec.accessors[-1] if spec.accessors else None
            if idx >= t.nelems and not _is_flexible(btf, prev, t):
                raise CoreError(f"access {relo.access_str!r}: index {idx} is outside "
                                f"{_describe_type(btf, t.id)} of {t.nelems} elements")
            elem = _skip(btf, t.elem_type_id)
            spec.accessors.append(_Accessor(elem.id, idx, None))
            spec.bit_offset += idx * btf.size_of(elem) * 8
            cur = elem.id
        else:
            raise CoreError(f"access {relo.access_str!r} goes into "
                            f"{_describe_type(btf, t.id)}, which has no members or elements")
    return spec


# ------------------------------------------------------ type comparisons


def fields_compatible(local: BTF, local_id: int, target: BTF, target_id: int) -> bool:
    """Whether a local field type and a target field type are close enough
    for a field relocation to go through (see the module docstring)."""
    for _ in range(MAX_COMPAT_DEPTH):
        lt, tt = _skip(local, local_id), _skip(target, target_id)
        if isinstance(lt, Composite) and isinstance(tt, Composite):
            return True
        if not _kinds_compatible(lt.kind, tt.kind):
            return False
        if lt.kind in (Kind.PTR, Kind.FLOAT):
            return True
        if lt.kind in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ln, tn = essential_name(lt.name), essential_name(tt.name)  # type: ignore[attr-defined]
            return not ln or not tn or ln == tn
        if isinstance(lt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0  # type: ignore[attr-defined]
        if isinstance(lt, Array):
            local_id, target_id = lt.elem_type_id, tt.elem_type_id  # type: ignore[attr-defined]
            continue
        return False
    raise CoreError("field types nest too deeply to compare")


def types_compatible(local: BTF, local_id: int, target: BTF, target_id: int,
                     depth: int = MAX_COMPAT_DEPTH) -> bool:
    """libbpf's "compatible types" relation used by TYPE_EXISTS, TYPE_SIZE and
    TYPE_ID_TARGET: same kinds through typedefs, qualifiers, pointers and
    arrays; any two structs, unions, enums or forward declarations of one
    kind; ints of any size; function prototypes with compatible signatures.
    Names are not compared below the root."""
    if not _kinds_compatible(local.kind_of(local_id), target.kind_of(target_id)):
        return False
    for _ in range(MAX_COMPAT_DEPTH):
        lt, tt = _skip(local, local_id), _skip(target, target_id)
        if not _kinds_compatible(lt.kind, tt.kind):
            return False
        kind = lt.kind
        if kind in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            return True
        if isinstance(lt, Int):
            return lt.bit_offset == 0 and tt.bit_offset == 0  # type: ignore[attr-defined]
        if kind == Kind.PTR:
            local_id, target_id = lt.type_id, tt.type_id  # type: ignore[attr-defined]
        elif isinstance(lt, Array):
            local_id, target_id = lt.elem_type_id, tt.elem_type_id  # type: ignore[attr-defined]
        elif kind == Kind.FUNC_PROTO:
            lp, tp = lt.params, tt.params  # type: ignore[attr-defined]
            if len(lp) != len(tp):
                return False
            if depth <= 0:
                raise CoreError("function prototypes nest too deeply to compare")
            for a, b in zip(lp, tp):
                if not types_compatible(local, _skip(local, a.type_id).id, target,
                                        _skip(target, b.type_id).id, depth - 1):
                    return False
            local_id, target_id = lt.return_type_id, tt.return_type_id  # type: ignore[attr-defined]
        else:
            return False
    raise CoreError("types nest too deeply to compare")


def _names_match(local_name: str, target_name: str) -> bool:
    if not target_name:
        return not local_name
    return essential_name(local_name) == essential_name(target_name)


def types_match(local: BTF, local_id: int, target: BTF, target_id: int, *,
                behind_ptr: bool = False, depth: int = MAX_COMPAT_DEPTH) -> bool:
    """libbpf's stricter "types match" relation (TYPE_MATCHES): same kinds and
    names through typedefs and qualifiers; ints of equal size and signedness
    whatever the compiler called them (``unsigned long`` and ``long
    unsigned int`` match: libbpf documents integers as matching by size and
    signedness);
    arrays of equal length; every local member present in the target by name
    with a matching type (behind a pointer, a struct only needs the same
    name and kind, or a forward declaration of it); every local enumerator
    present by name, enum sizes equal; function prototypes with the same
    number of matching parameters."""
    if depth <= 0:
        raise CoreError("types nest too deeply to match")
    for _ in range(MAX_COMPAT_DEPTH):
        lt, tt = _skip(local, local_id), _skip(target, target_id)
        if isinstance(lt, Int):
            return isinstance(tt, Int) and lt.size == tt.size and lt.is_signed == tt.is_signed
        if not _names_match(getattr(lt, "name", "") if lt.kind != Kind.UNKN else "",
                            getattr(tt, "name", "") if tt.kind != Kind.UNKN else ""):
            return False
        lk, tk = lt.kind, tt.kind
        if lk == Kind.UNKN:
            return tk == Kind.UNKN
        if isinstance(lt, Fwd):
            if isinstance(tt, Fwd):
                return lt.is_union == tt.is_union
            if not behind_ptr:
                return False
            return tk == (Kind.UNION if lt.is_union else Kind.STRUCT)
        if isinstance(lt, EnumBase):
            return isinstance(tt, EnumBase) and _enums_match(lt, tt)
        if isinstance(lt, Composite):
            if behind_ptr:
                if lk == tk:
                    return True
                return isinstance(tt, Fwd) and tt.is_union == (lk == Kind.UNION)
            return lk == tk and _composites_match(local, lt, target, tt,  # type: ignore[arg-type]
                                                  depth)
        if lk != tk:
            return False
        if lk == Kind.PTR:
            behind_ptr = True
            local_id, target_id = lt.type_id, tt.type_id  # type: ignore[attr-defined]
        elif isinstance(lt, Array):
            if lt.nelems != tt.nelems:  # type: ignore[attr-defined]
                return False
            local_id, target_id = lt.elem_type_id, tt.elem_type_id  # type: ignore[attr-defined]
        elif lk == Kind.FUNC_PROTO:
            lp, tp = lt.params, tt.params  # type: ignore[attr-defined]
            if len(lp) != len(tp):
                return False
            for a, b in zip(lp, tp):
                if not types_match(local, a.type_id, target, b.type_id, behind_ptr=behind_ptr,
                                   depth=depth - 1):
                    return False
            local_id, target_id = lt.return_type_id, tt.return_type_id  # type: ignore[attr-defined]
        else:
            return False
    raise CoreError("types nest too deeply to match")


def _enums_match(lt: EnumBase, tt: EnumBase) -> bool:
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return False
    target_names = {essential_name(v.name) for v in tt.values if v.name}
    return all((essential_name(v.name) in target_names) if v.name else
               any(not w.name for w in tt.values) for v in lt.values)


def _composites_match(local: BTF, lt: Composite, target: BTF, tt: Composite, depth: int) -> bool:
    if len(lt.members) > len(tt.members):
        return False
    for lm in lt.members:
        if not any(_names_match(lm.name, tm.name)
                   and types_match(local, lm.type_id, target, tm.type_id, depth=depth - 1)
                   for tm in tt.members):
            return False
    return True


# -------------------------------------------------------- target matching


def _match_member(local: BTF, acc: _Accessor, target: BTF, target_id: int,
                  spec: _Spec, depth: int = 0) -> int | None:
    """Find the local accessor's member in target record ``target_id`` (looking
    into anonymous members); on success extend ``spec`` and return the
    member's type id."""
    if depth > MAX_SPEC_LEN:
        raise CoreError("anonymous members nest too deeply")
    t = _skip(target, target_id)
    if not isinstance(t, Composite):
        return None
    local_member = local[acc.type_id].members[acc.index]  # type: ignore[attr-defined]
    for i, m in enumerate(t.members):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise CoreError(f"target access path is longer than {MAX_SPEC_LEN}")
        spec.raw.append(i)
        spec.bit_offset += m.bit_offset
        if not m.name:
            found = _match_member(local, acc, target, m.type_id, spec, depth + 1)
            if found is not None:
                return found
        elif m.name == acc.name:
            if not fields_compatible(local, local_member.type_id, target, m.type_id):
                return None
            spec.accessors.append(_Accessor(t.id, i, m.name))
            return m.type_id
        spec.raw.pop()
        spec.bit_offset -= m.bit_offset
    return None


def _match_spec(local_spec: _Spec, kind: RelocKind, target: BTF, target_id: int) -> _Spec | None:
    local = local_spec.btf
    spec = _Spec(target, target_id, [], [])
    if kind.is_type:
        if kind == RelocKind.TYPE_MATCHES:
            ok = types_match(local, local_spec.root_id, target, target_id)
        else:
            ok = types_compatible(local, local_spec.root_id, target, target_id)
        spec.raw = [0]
        return spec if ok else None
    if kind.is_enumval:
        acc = local_spec.accessors[0]
        t = _skip(target, target_id)
        if not isinstance(t, EnumBase):
            return None
        want = essential_name(acc.name or "")
        for i, v in enumerate(t.values):
            if essential_name(v.name) == want:
                spec.accessors.append(_Accessor(t.id, i, v.name))
                spec.raw = [i]
                return spec
        return None
    cur = target_id
    for n, acc in enumerate(local_spec.accessors):
        t = _skip(target, cur)
        cur = t.id
        if acc.name is not None:
            found = _match_member(local, acc, target, cur, spec)
            if found is None:
                return None
            cur = found
            continue
        if n > 0:
            if not isinstance(t, Array):
                return None
            prev = spec.accessors[-1] if spec.accessors else None
            if acc.index >= t.nelems and not _is_flexible(target, prev, t):
                return None
            cur = _skip(target, t.elem_type_id).id
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise CoreError(f"target access path is longer than {MAX_SPEC_LEN}")
        spec.accessors.append(_Accessor(cur, acc.index, None))
        spec.raw.append(acc.index)
        try:
            spec.bit_offset += acc.index * target.size_of(cur) * 8
        except BTFError:
            return None
    return spec


# ----------------------------------------------------------- calculation


class _Poison(Exception):
    pass


@dataclass
class _FieldValue:
    value: int
    size: int = 0
    type_id: int = 0
    validate: bool = True


def _field_value(spec: _Spec | None, kind: RelocKind) -> _FieldValue:
    if kind == RelocKind.FIELD_EXISTS:
        return _FieldValue(1 if spec is not None else 0)
    if spec is None:
        raise _Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        size = btf.size_of(acc.type_id)
        if kind == RelocKind.FIELD_BYTE_OFFSET:
            return _FieldValue(spec.bit_offset // 8, size, acc.type_id)
        if kind == RelocKind.FIELD_BYTE_SIZE:
            return _FieldValue(size)
        raise CoreError(f"{kind.label} relocation cannot apply to an array element")
    holder = btf[acc.type_id]
    member = holder.members[acc.index]  # type: ignore[attr-defined]
    field_type = _skip(btf, member.type_id)
    bit_off = spec.bit_offset
    bit_size = member.bitfield_size
    if bit_size:
        byte_size = field_type.size  # type: ignore[attr-defined]
        if byte_size <= 0:
            raise CoreError(f"bitfield {member.name!r} has a type without size")
        byte_off = bit_off // 8 // byte_size * byte_size
        while bit_off + bit_size - byte_off * 8 > byte_size * 8:
            if byte_size >= 8:
                raise CoreError(f"bitfield {member.name!r} cannot be read with one 64-bit load")
            byte_size *= 2
            byte_off = bit_off // 8 // byte_size * byte_size
    else:
        byte_size = btf.size_of(field_type)
        byte_off = bit_off // 8
        bit_size = byte_size * 8
    bitfield = bool(member.bitfield_size)
    if kind == RelocKind.FIELD_BYTE_OFFSET:
        if bitfield:
            return _FieldValue(byte_off, validate=False)
        return _FieldValue(byte_off, byte_size, field_type.id, validate=True)
    if kind == RelocKind.FIELD_BYTE_SIZE:
        return _FieldValue(byte_size, validate=not bitfield)
    if kind == RelocKind.FIELD_SIGNED:
        signed = (isinstance(field_type, EnumBase) and field_type.signed) or (
            isinstance(field_type, Int) and field_type.is_signed)
        return _FieldValue(int(signed))
    if kind == RelocKind.FIELD_LSHIFT_U64:
        if btf.byteorder == "little":
            shift = 64 - (bit_off + bit_size - byte_off * 8)
        else:
            shift = (8 - byte_size) * 8 + (bit_off - byte_off * 8)
        return _FieldValue(shift, validate=not bitfield)
    if kind == RelocKind.FIELD_RSHIFT_U64:
        return _FieldValue(64 - bit_size)
    raise CoreError(f"unknown field relocation kind {int(kind)}")  # pragma: no cover


def _type_value(spec: _Spec | None, kind: RelocKind) -> tuple[int, bool]:
    """(value, validate) for a type-based relocation; 0 when nothing matched."""
    if spec is None:
        return 0, True
    if kind == RelocKind.TYPE_ID_TARGET:
        return spec.root_id, False
    if kind in (RelocKind.TYPE_EXISTS, RelocKind.TYPE_MATCHES):
        return 1, True
    if kind == RelocKind.TYPE_SIZE:
        try:
            return spec.btf.size_of(spec.root_id), True
        except BTFError as e:
            raise CoreError(f"type_size of a type without size: {e}") from None
    raise CoreError(f"unknown type relocation kind {int(kind)}")  # pragma: no cover


def _enum_value(spec: _Spec | None, kind: RelocKind) -> int:
    if kind == RelocKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise _Poison
    acc = spec.accessors[0]
    return spec.btf[acc.type_id].values[acc.index].value  # type: ignore[attr-defined]


@dataclass
class _Outcome:
    local_value: int
    target_value: int
    poisoned: bool
    validate: bool
    local_size: int = 0
    target_size: int = 0
    resize_unsafe: bool = False


def _calculate(kind: RelocKind, local: _Spec, target: _Spec | None) -> _Outcome:
    try:
        if kind.is_field:
            lv = _field_value(local, kind)
            tv = _field_value(target, kind)
            out = _Outcome(lv.value, tv.value, False, lv.validate, lv.size, tv.size)
            if lv.size != tv.size and target is not None:
                lt, tt = local.btf[lv.type_id], target.btf[tv.type_id]
                both_ptrs = lt.kind == Kind.PTR and tt.kind == Kind.PTR
                both_unsigned = (isinstance(lt, Int) and isinstance(tt, Int)
                                 and not lt.is_signed and not tt.is_signed)
                out.resize_unsafe = not (both_ptrs or both_unsigned)
            return out
        if kind.is_type:
            lv_, validate = _type_value(local, kind)
            tv_, _ = _type_value(target, kind)
            return _Outcome(lv_, tv_, False, validate)
        return _Outcome(_enum_value(local, kind), _enum_value(target, kind), False, True)
    except _Poison:
        local_value = 0
        if kind.is_field:
            local_value = _field_value(local, kind).value
        elif kind.is_enumval:
            local_value = _enum_value(local, kind)
        return _Outcome(local_value, 0, True, True)


# ----------------------------------------------------------- descriptions


def _describe_type(btf: BTF, tid: int) -> str:
    t = btf[tid]
    name = getattr(t, "name", "") if t.kind != Kind.UNKN else "void"
    kind = "fwd" if t.kind == Kind.FWD else t.kind.name.lower()
    return f"[{tid}] {kind} {name or '<anon>'}"


def describe_spec(spec: _Spec, kind: RelocKind, with_offset: bool = False) -> str:
    """libbpf-style text for a resolved access: ``[12] struct task_struct.real_parent (0:54)``."""
    btf = spec.btf
    text = _describe_type(btf, spec.root_id)
    if kind.is_type:
        return text
    if kind.is_enumval:
        acc = spec.accessors[0]
        value = btf[acc.type_id].values[acc.index].value  # type: ignore[attr-defined]
        return f"{text}::{acc.name} = {value}"
    parts = []
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            parts.append(f".{acc.name}")
        elif i > 0 or acc.index > 0:
            parts.append(f"[{acc.index}]")
    raw = ":".join(str(x) for x in spec.raw)
    where = ""
    if with_offset:
        where = f" @ offset {spec.bit_offset // 8}"
        if spec.bit_offset % 8:
            where += f".{spec.bit_offset % 8}"
    return f"{text}{''.join(parts)} ({raw}{where})"


# ------------------------------------------------------------- resolver


class CoreResolver:
    """Resolves the CO-RE relocations of one local BTF against target BTFs.

    ``targets`` is one BTF or several (vmlinux first, then modules): as in
    libbpf, candidates come from the first target that has any.  Candidate
    lists are cached, so resolving all relocations of an object is cheap.
    """

    def __init__(self, local: BTF, targets: BTF | Sequence[BTF]):
        self.local = local
        self.targets: list[BTF] = [targets] if isinstance(targets, BTF) else list(targets)
        if not self.targets:
            raise ValueError("CoreResolver needs at least one target BTF")
        self._candidates: dict[int, list[tuple[BTF, int]]] = {}

    def candidates(self, local_type_id: int) -> list[tuple[BTF, int]]:
        """(target BTF, type id) of every type the local type could be."""
        found = self._candidates.get(local_type_id)
        if found is not None:
            return found
        local_kind = self.local.kind_of(local_type_id)
        want = essential_name(self.local.name_of(local_type_id))
        found = []
        if want:
            for target in self.targets:
                chain = []
                t: BTF | None = target
                while t is not None:  # a module's split BTF sits on vmlinux
                    chain.append(t)
                    t = t.base
                for part in reversed(chain):
                    for tid in _essential_index(part).get(want, ()):
                        if _kinds_compatible(local_kind, part.kind_of(tid)):
                            found.append((target, tid))
                if found:
                    break
        self._candidates[local_type_id] = found
        return found

    def resolve(self, relo: CoreRelo) -> CoreResult:
        """Resolve one relocation.  Raises CoreError when it cannot be
        processed at all; a relocation that simply finds no match in the
        target comes back poisoned (or 0 for existence checks)."""
        try:
            kind = RelocKind(relo.kind)
        except ValueError:
            raise CoreError(f"insn #{relo.insn_index}: unknown CO-RE relocation kind "
                            f"{relo.kind}") from None
        try:
            return self._resolve(relo, kind)
        except CoreError as e:
            raise CoreError(f"insn #{relo.insn_index}: {kind.label} relocation on "
                            f"{_safe_describe(self.local, relo.type_id)} "
                            f"({relo.access_str}): {e.reason}") from None

    def _resolve(self, relo: CoreRelo, kind: RelocKind) -> CoreResult:
        local_spec = _local_spec(self.local, relo, kind)
        description = describe_spec(local_spec, kind)
        if kind == RelocKind.TYPE_ID_LOCAL:
            return CoreResult(relo, kind, relo.type_id, relo.type_id, False, description,
                              description, validate=False)
        if not self.local.name_of(relo.type_id):
            raise CoreError("CO-RE relocations against anonymous types are not supported")
        chosen: tuple[_Spec, _Outcome] | None = None
        for target, tid in self.candidates(relo.type_id):
            cand = _match_spec(local_spec, kind, target, tid)
            if cand is None:
                continue
            outcome = _calculate(kind, local_spec, cand)
            if chosen is None:
                chosen = (cand, outcome)
                continue
            first_spec, first = chosen
            if kind.is_field and cand.bit_offset != first_spec.bit_offset:
                raise CoreError(f"field offset ambiguity: {describe_spec(first_spec, kind, True)}"
                                f" vs {describe_spec(cand, kind, True)}")
            if outcome.poisoned != first.poisoned or outcome.target_value != first.target_value:
                raise CoreError(f"relocation decision ambiguity: "
                                f"{describe_spec(first_spec, kind, True)} gives "
                                f"{first.target_value}, {describe_spec(cand, kind, True)} gives "
                                f"{outcome.target_value}")
        if chosen is None:
            outcome = _calculate(kind, local_spec, None)
            return CoreResult(relo, kind, outcome.local_value, outcome.target_value,
                              outcome.poisoned, description, None, outcome.validate,
                              outcome.local_size, outcome.target_size)
        spec, outcome = chosen
        return CoreResult(relo, kind, outcome.local_value, outcome.target_value,
                          outcome.poisoned, description, describe_spec(spec, kind, True),
                          outcome.validate, outcome.local_size, outcome.target_size,
                          outcome.resize_unsafe)

    def poison_reason(self, result: CoreResult) -> str:
        """Why ``result`` was poisoned, in words: the target has no type of
        the root's name, none of its candidates has the field or
        enumerator, or the field changed size in a way a load cannot
        follow."""
        relo, kind = result.relo, result.kind
        if result.resize_unsafe and not result.poisoned:
            return (f"the field changed size from {result.local_size} to "
                    f"{result.target_size} bytes and is not an unsigned integer or pointer")
        try:
            name = essential_name(self.local.name_of(relo.type_id))
            local_kind = self.local.resolve(relo.type_id).kind
        except BTFError:
            return "no match in the target BTF"
        what = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
                Kind.ENUM64: "enum"}.get(local_kind, "type")
        found = self.candidates(relo.type_id)
        if not found:
            return f"the target BTF has no {what} {name}"
        wanted = result.description.rsplit(" (", 1)[0]
        if kind.is_enumval:
            member = wanted.rsplit("::", 1)[-1].split(" =")[0]
            return f"no {what} {name} of the target BTF has the value {member}"
        path = wanted.split(" ", 2)[-1]
        field = path[len(path.split(".")[0]):] if "." in path else path
        return f"no {what} {name} of the target BTF has {field.lstrip('.') or 'it'}" \
            if kind.is_field else f"no {what} {name} of the target BTF matches"

    def resolve_all(self, relos: Iterable[CoreRelo]) -> list[CoreResult]:
        """Resolve several relocations (e.g. one section's)."""
        return [self.resolve(r) for r in relos]


def _safe_describe(btf: BTF, tid: int) -> str:
    try:
        return _describe_type(btf, tid)
    except BTFError:
        return f"[{tid}] <invalid>"


def resolve_relocation(local: BTF, relo: CoreRelo, target: BTF | Sequence[BTF]) -> CoreResult:
    """Resolve one relocation of ``local`` against ``target`` (see :class:`CoreResolver`)."""
    return CoreResolver(local, target).resolve(relo)


# --------------------------------------------------------------- patching


def poison_insn() -> Insn:
    """The instruction that replaces one whose relocation failed."""
    return Insn(BPF_JMP | BPF_CALL, 0, 0, 0, POISON_HELPER_ID)


def is_poison(insn: Insn) -> bool:
    """Whether ``insn`` is a poisoned CO-RE instruction."""
    return insn.opcode == (BPF_JMP | BPF_CALL) and insn.src == 0 and insn.imm == POISON_HELPER_ID


def apply_relocations(insns: Sequence[Insn], results: Iterable[CoreResult], *,
                      validate: bool = True) -> list[Insn]:
    """``insns`` with every result patched in: the immediate of an ALU
    instruction, the offset (and, if the field's size changed, the access
    size) of a load or store, the 64-bit immediate of an ``lddw``.  A
    poisoned result turns the instruction (both slots of an ``lddw``) into
    ``call`` :data:`POISON_HELPER_ID`.

    With ``validate``, an instruction that does not hold the value the
    compiler is expected to have put there raises CoreError.
    """
    out = list(insns)
    for res in results:
        _patch(out, res, validate)
    return out


def _patch(insns: list[Insn], res: CoreResult, validate: bool) -> None:
    pc = res.insn_index
    if not 0 <= pc < len(insns):
        raise CoreError(f"insn #{pc}: relocation {res.description} points past the end of the "
                        f"program ({len(insns)} instructions)")
    insn = insns[pc]
    cls = insn.opcode & 0x07
    is_lddw = insn.is_lddw

    def fail(why: str) -> CoreError:
        return CoreError(f"insn #{pc} ({insn}): {res.kind.label} {res.description}: {why}")

    if res.poisoned or (res.resize_unsafe and cls in (BPF_LDX, BPF_ST, BPF_STX)):
        if is_lddw and pc + 1 < len(insns):
            insns[pc + 1] = poison_insn()
        insns[pc] = poison_insn()
        return
    check = validate and res.validate
    new = res.target_value
    if cls in (BPF_ALU, BPF_ALU64):
        if insn.opcode & 0x08 != BPF_K:
            raise fail("ALU instruction with a register source cannot take a relocated value")
        if check and (insn.imm & 0xFFFFFFFF) != (res.local_value & 0xFFFFFFFF):
            raise fail(f"expected immediate {res.local_value}, found {insn.imm}")
        insns[pc] = insn._replace(imm=s32(new))
    elif cls in (BPF_LDX, BPF_ST, BPF_STX):
        if check and insn.off != res.local_value:
            raise fail(f"expected offset {res.local_value}, found {insn.off}")
        if not -(1 << 15) <= new < (1 << 15):
            raise fail(f"offset {new} does not fit in 16 bits")
        opcode = insn.opcode
        if res.local_size != res.target_size and res.target_size:
            size_code = opcode & SIZE_MASK
            if SIZE_BYTES.get(size_code) != res.local_size:
                raise fail(f"accesses {SIZE_BYTES.get(size_code)} bytes, but the field has "
                           f"{res.local_size}")
            if res.target_size not in SIZE_CODE:
                raise fail(f"the target field has {res.target_size} bytes, which no single "
                           f"load or store can access")
            opcode = (opcode & ~SIZE_MASK) | SIZE_CODE[res.target_size]
        insns[pc] = insn._replace(opcode=opcode, off=new)
    elif cls == BPF_LD and is_lddw:
        if pc + 1 >= len(insns):
            raise fail("lddw without its second half")
        second = insns[pc + 1]
        if insn.src or insn.off or second.opcode or second.dst or second.src or second.off:
            raise fail("lddw has an unexpected form for a CO-RE relocation")
        current = (insn.imm & 0xFFFFFFFF) | ((second.imm & 0xFFFFFFFF) << 32)
        if check and current != res.local_value & 0xFFFFFFFFFFFFFFFF:
            raise fail(f"expected value {res.local_value}, found {current}")
        new &= 0xFFFFFFFFFFFFFFFF
        insns[pc] = insn._replace(imm=s32(new))
        insns[pc + 1] = second._replace(imm=s32(new >> 32))
    else:
        raise fail("this kind of instruction cannot be relocated")


def poison_messages(results: Iterable[CoreResult]) -> dict[int, str]:
    """For each poisoned instruction index, the sentence to show when a
    program reaches it (the VM or a verifier log can print it instead of
    "unknown helper 195896080")::

        insn 18: unresolved CO-RE relocation byte_off [327] struct
        task_struct___old.state___nope (0:1): not found in the target BTF
    """
    out = {}
    for r in results:
        if r.poisoned:
            out[r.insn_index] = (f"insn {r.insn_index}: unresolved CO-RE relocation "
                                 f"{r.kind.label} {r.description}: not found in the target BTF")
        elif r.resize_unsafe:
            out[r.insn_index] = (f"insn {r.insn_index}: CO-RE relocation {r.kind.label} "
                                 f"{r.description}: the field changed size from "
                                 f"{r.local_size} to {r.target_size} bytes and is not an "
                                 f"unsigned integer or pointer")
    return out


def relocate(insns: Sequence[Insn], relos: Iterable[CoreRelo], local: BTF,
             target: BTF | Sequence[BTF], *, validate: bool = True
             ) -> tuple[list[Insn], list[CoreResult]]:
    """Resolve ``relos`` of ``local`` against ``target`` and patch ``insns``:
    returns the patched program and the results (for logging)."""
    resolver = CoreResolver(local, target)
    results = resolver.resolve_all(relos)
    return apply_relocations(insns, results, validate=validate), results


__all__ = [
    "MAX_COMPAT_DEPTH",
    "MAX_SPEC_LEN",
    "POISON_HELPER_ID",
    "CoreError",
    "CoreResolver",
    "CoreResult",
    "RelocKind",
    "apply_relocations",
    "describe_spec",
    "essential_name",
    "fields_compatible",
    "is_poison",
    "poison_insn",
    "poison_messages",
    "relocate",
    "resolve_relocation",
    "types_compatible",
    "types_match",
]
