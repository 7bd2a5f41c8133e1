"""Writing BTF as a C header (``vmlinux.h``).

:func:`dump_c` emits every named struct, union, enum and typedef of a BTF
(and enums without names, whose constants programs use) so that a BPF program
can ``#include "vmlinux.h"`` instead of kernel headers:

- types come in dependency order: a type used by value is complete before
  its user; a type only pointed to gets a forward declaration;
- anonymous structs, unions and enums are written inline where they are used;
- names that C would see twice (two different ``struct foo``) get a
  ``___2`` suffix, which CO-RE ignores when matching against the kernel;
- every struct and union is laid out exactly as BTF says: gaps become
  unnamed bitfields (``long: 64;``), and a layout natural alignment cannot
  produce is marked ``__attribute__((packed))``;
- records carry ``preserve_access_index`` (through ``#pragma clang attribute``)
  so that member accesses compile to CO-RE relocations;
- functions tagged ``bpf_kfunc`` are declared as ``extern ... __weak __ksym``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import BTFError
from .types import (
    MAX_NESTING,
    QUALIFIER_KINDS,
    Array,
    Composite,
    EnumBase,
    Func,
    FuncProto,
    Int,
    Kind,
    Member,
    Type,
    TypeTable,
)

_COMPILER_TYPEDEFS = frozenset({"__builtin_va_list"})
"""Typedefs the compiler predefines: referred to, never redeclared."""
_QUALIFIER_WORDS = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}
_TAG_KINDS = (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)
MAX_INLINE_DEPTH = 32
"""Deepest nesting of anonymous records written inline."""
MAX_PADDING_BITS = 64 * 1024 * 8
"""Largest gap filled with unnamed bitfields; a bigger one (only seen in
corrupt BTF) leaves the record unpadded rather than print megabytes."""
PROGRESS_STEP = 4096
"""Types between two calls of a dump's progress callback."""
# Unnamed bitfields that fill gaps, widest first: (C type, bits).
_PADDING_TYPES = (("long", 64), ("int", 32), ("short", 16), ("char", 8))


def dump_c(btf: TypeTable, *, guard: str = "__VMLINUX_H__", preserve_access_index: bool = True,
           kfuncs: bool = True, types: Iterable[int | str | Type] | None = None,
           progress: Callable[[int, int], object] | None = None) -> str:
    """The C header declaring ``btf``'s types.

    ``guard`` names the include guard (None for none).  ``types`` limits the
    output to those types and what they need.  ``kfuncs`` adds ``extern``
    declarations of the functions tagged ``bpf_kfunc`` (guarded by
    ``BPF_NO_KFUNC_PROTOTYPES``; ``__PYBPF_VMLINUX_KFUNCS`` is defined when
    they are, so pybpf's headers leave those kfuncs to this header).
    ``progress(done, total)`` hears how far a whole dump has come, every
    few thousand types (vmlinux has over a hundred thousand).
    """
    if progress is not None:
        progress(0, len(btf))
    dumper = CDumper(btf)
    if types is None:
        dumper.emit_all(progress)
    else:
        for ref in types:
            dumper.emit_type(btf.type(ref).id)
        dumper.emit_leftover_enums(only_emitted=True)
    body = "".join(dumper.out)
    parts = []
    if guard:
        parts.append(f"#ifndef {guard}\n#define {guard}\n\n")
    if preserve_access_index:
        parts.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
                     "#pragma clang attribute push (__attribute__((preserve_access_index)), "
                     "apply_to = record)\n#endif\n\n")
    if kfuncs and types is None:
        protos = dumper.kfunc_declarations()
        if protos:
            parts.append("#ifndef __ksym\n#define __ksym __attribute__((section(\".ksyms\")))\n"
                         "#endif\n\n#ifndef __weak\n#define __weak __attribute__((weak))\n"
                         "#endif\n\n")
            # the marker tells pybpf's bpf/*.h that these declarations came
            # (theirs would clash where this kernel's prototypes differ)
            body += ("#ifndef BPF_NO_KFUNC_PROTOTYPES\n#define __PYBPF_VMLINUX_KFUNCS 1\n"
                     + "".join(protos) + "#endif\n\n")
    parts.append(body)
    if preserve_access_index:
        parts.append("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n"
                     "#endif\n\n")
    if guard:
        parts.append(f"#endif /* {guard} */\n")
    return "".join(parts)


def c_declaration(btf: TypeTable, type_id: int, name: str = "") -> str:
    """How C declares ``name`` with type ``type_id`` (``"int (*name)(void)"``);
    anonymous records are abbreviated to ``struct {...}``."""
    return CDumper(btf, abbreviate=True).declaration(type_id, name, 0)


class _Layout:
    """How a struct or union is written: packed or not, and which unnamed
    bitfields go before each member (``pads[i]``) and at the end."""

    __slots__ = ("align", "packed", "pads", "tail")

    def __init__(self, packed: bool, pads: list[list[tuple[str, int]]],
                 tail: list[tuple[str, int]], align: int):
        self.packed = packed
        self.pads = pads
        self.tail = tail
        self.align = align


class _LayoutMismatch(Exception):
    pass


class CDumper:
    """Emits C declarations for types of one BTF, remembering what has been
    declared so each type is written once and in an order C accepts."""

    def __init__(self, btf: TypeTable, *, abbreviate: bool = False):
        self.btf = btf
        self.abbreviate = abbreviate
        self.out: list[str] = []
        self._tag_names: dict[int, str] = {}
        self._ident_names: dict[int, str] = {}
        self._ident_counts: dict[str, int] = {}
        self._enumerator_names: dict[int, list[str]] = {}
        self._declared: set[str] = set()      # "struct foo" forward-declared or defined
        self._defined: set[int] = set()       # records/enums written in full, typedefs written
        self._in_progress: set[int] = set()
        self._inline_enums: set[int] = set()  # anonymous enums already written somewhere
        self._layouts: dict[int, _Layout] = {}
        self._in_progress_layout: set[int] = set()
        self._depth = 0
        if not abbreviate:
            self._assign_names()

    # ---------------------------------------------------------------- naming

    def _assign_names(self) -> None:
        btf = self.btf
        tag_counts: dict[str, int] = {}
        fwds: list[int] = []
        first_of_tag: dict[str, Kind] = {}
        for tid in range(1, len(btf)):
            kind = btf.kind_of(tid)
            if kind in _TAG_KINDS:
                name = btf.name_of(tid)
                if not name:
                    continue
                n = tag_counts.get(name, 0) + 1
                tag_counts[name] = n
                self._tag_names[tid] = name if n == 1 else f"{name}___{n}"
                first_of_tag.setdefault(name, kind)
            elif kind == Kind.FWD:
                fwds.append(tid)
            elif kind == Kind.TYPEDEF:
                self._ident_names[tid] = self._unique_ident(btf.name_of(tid))
        fwd_names: dict[tuple[str, bool], str] = {}
        for tid in fwds:
            fwd = btf[tid]
            key = (fwd.name, fwd.is_union)  # type: ignore[attr-defined]
            if key not in fwd_names:
                want = Kind.UNION if fwd.is_union else Kind.STRUCT  # type: ignore[attr-defined]
                owner = first_of_tag.get(fwd.name)  # type: ignore[attr-defined]
                if owner is None or owner == want:
                    fwd_names[key] = fwd.name  # type: ignore[attr-defined]
                    first_of_tag.setdefault(fwd.name, want)  # type: ignore[attr-defined]
                else:
                    n = tag_counts.get(fwd.name, 0) + 1  # type: ignore[attr-defined]
                    tag_counts[fwd.name] = n  # type: ignore[attr-defined]
                    fwd_names[key] = f"{fwd.name}___{n}"  # type: ignore[attr-defined]
            self._tag_names[tid] = fwd_names[key]

    def _unique_ident(self, name: str) -> str:
        n = self._ident_counts.get(name, 0) + 1
        self._ident_counts[name] = n
        return name if n == 1 else f"{name}___{n}"

    def _tag(self, t: Type) -> str:
        """``struct foo`` / ``union foo`` / ``enum foo`` for a named record."""
        name = self._tag_names.get(t.id) or getattr(t, "name", "")
        if t.kind == Kind.FWD:
            return f"{t.fwd_kind} {name}"  # type: ignore[attr-defined]
        word = "enum" if t.kind in (Kind.ENUM, Kind.ENUM64) else t.kind.name.lower()
        return f"{word} {name}"

    def _typedef_name(self, t: Type) -> str:
        return self._ident_names.get(t.id) or t.name  # type: ignore[attr-defined]

    # ------------------------------------------------------------- top level

    def emit_all(self, progress: Callable[[int, int], object] | None = None) -> None:
        """Emit every type a header should declare, in id order;
        ``progress(done, total)`` hears how far it has come."""
        btf = self.btf
        total = len(btf)
        for tid in range(1, total):
            if progress is not None and not tid % PROGRESS_STEP:
                progress(tid, total)
            kind = btf.kind_of(tid)
            if kind == Kind.TYPEDEF or ((kind in _TAG_KINDS or kind == Kind.FWD) \
                    and btf.name_of(tid)):
                self.emit_type(tid)
        self.emit_leftover_enums(only_emitted=False)

    def emit_type(self, tid: int) -> None:
        """Emit type ``tid`` in full, after everything it needs."""
        t = self.btf[tid]
        if t.kind in (Kind.STRUCT, Kind.UNION):
            if t.name:  # type: ignore[attr-defined]
                self._define(t)
            else:
                self._need_members(t)  # type: ignore[arg-type]
        elif isinstance(t, EnumBase):
            if t.name:
                self._define_enum(t)
        elif t.kind == Kind.FWD:
            self._forward(t)
        else:
            self._need(tid, True)

    def emit_leftover_enums(self, *, only_emitted: bool) -> None:
        """Write anonymous enums that no emitted type carried inline (their
        constants are still wanted).  With ``only_emitted``, none are added."""
        if only_emitted:
            return
        btf = self.btf
        for tid in range(1, len(btf)):
            if btf.kind_of(tid) in (Kind.ENUM, Kind.ENUM64) and tid not in self._inline_enums \
                    and not btf.name_of(tid):
                t = btf[tid]
                self._inline_enums.add(tid)
                self.out.append(self._enum_body(t, 0) + ";\n\n")  # type: ignore[arg-type]

    def kfunc_declarations(self) -> list[str]:
        """``extern`` declarations of the functions tagged ``bpf_kfunc``."""
        btf = self.btf
        out = []
        seen = set()
        for tid in btf.find_ids("bpf_kfunc"):
            tag = btf[tid]
            if tag.kind != Kind.DECL_TAG or tag.component_idx != -1:  # type: ignore[attr-defined]
                continue
            func = btf[tag.type_id]  # type: ignore[attr-defined]
            if not isinstance(func, Func) or func.name in seen:
                continue
            seen.add(func.name)
            proto = btf[func.type_id]
            if not isinstance(proto, FuncProto):
                continue
            self._need(proto.id, False)
            out.append(f"extern {self._func_decl(func, proto)} __weak __ksym;\n")
        if out:
            out.append("\n")
        return out

    def _func_decl(self, func: Func, proto: FuncProto) -> str:
        params = []
        for i, p in enumerate(proto.params):
            if p.type_id == 0 and not p.name and i == len(proto.params) - 1:
                params.append("...")
            else:
                params.append(self.declaration(p.type_id, p.name, 0, in_proto=True))
        inner = f"{func.name}({', '.join(params) or 'void'})"
        return self.declaration(proto.return_type_id, inner, 0, in_proto=True)

    # ------------------------------------------------------------ ordering

    def _need(self, tid: int, complete: bool) -> None:
        """Make type ``tid`` usable at this point: declared, and if
        ``complete``, defined (a value of it is being declared)."""
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise BTFError(f"type [{tid}] nests too deeply (or cyclically) to dump as C")
            self._need_inner(tid, complete)
        finally:
            self._depth -= 1

    def _need_inner(self, tid: int, complete: bool) -> None:
        btf = self.btf
        for _ in range(MAX_NESTING):
            t = btf[tid]
            kind = t.kind
            if kind in QUALIFIER_KINDS:
                tid = t.type_id  # type: ignore[attr-defined]
                continue
            if kind == Kind.PTR:
                tid, complete = t.type_id, False  # type: ignore[attr-defined]
                continue
            if kind == Kind.ARRAY:
                tid, complete = t.elem_type_id, True  # type: ignore[attr-defined]
                continue
            break
        else:
            raise BTFError(f"type chain at [{tid}] is too long (or cyclic) to dump as C")
        if kind in (Kind.STRUCT, Kind.UNION):
            if not t.name:  # type: ignore[attr-defined]
                self._need_members(t)  # type: ignore[arg-type]
            elif complete:
                self._define(t)
            else:
                self._forward(t)
        elif kind in (Kind.ENUM, Kind.ENUM64):
            if t.name:  # type: ignore[attr-defined]
                self._define_enum(t)  # type: ignore[arg-type]
        elif kind == Kind.FWD:
            self._forward(t)
        elif kind == Kind.TYPEDEF:
            if tid not in self._defined:
                if tid in self._in_progress:
                    return
                self._in_progress.add(tid)
                try:
                    self._need(t.type_id, False)  # type: ignore[attr-defined]
                    self._write_typedef(t)
                finally:
                    self._in_progress.discard(tid)
            if complete:
                self._need(t.type_id, True)  # type: ignore[attr-defined]
        elif kind == Kind.FUNC_PROTO:
            self._need(t.return_type_id, False)  # type: ignore[attr-defined]
            for p in t.params:  # type: ignore[attr-defined]
                self._need(p.type_id, False)

    def _need_members(self, t: Composite) -> None:
        if t.id in self._in_progress:
            return
        self._in_progress.add(t.id)
        try:
            for m in t.members:
                self._need(m.type_id, True)
        finally:
            self._in_progress.discard(t.id)

    def _forward(self, t: Type) -> None:
        tag = self._tag(t)
        if tag not in self._declared:
            self._declared.add(tag)
            self.out.append(f"{tag};\n\n")

    def _define(self, t: Type) -> None:
        if t.id in self._defined:
            return
        if t.id in self._in_progress:
            self._forward(t)  # only a broken BTF contains itself by value
            return
        self._in_progress.add(t.id)
        try:
            for m in t.members:  # type: ignore[attr-defined]
                self._need(m.type_id, True)
        finally:
            self._in_progress.discard(t.id)
        self._defined.add(t.id)
        self._declared.add(self._tag(t))
        self.out.append(self._record_body(t, 0) + ";\n\n")  # type: ignore[arg-type]

    def _define_enum(self, t: EnumBase) -> None:
        if t.id in self._defined:
            return
        self._defined.add(t.id)
        self.out.append(self._enum_body(t, 0) + ";\n\n")

    def _write_typedef(self, t: Type) -> None:
        self._defined.add(t.id)
        if t.name in _COMPILER_TYPEDEFS:  # type: ignore[attr-defined]
            return
        decl = self.declaration(t.type_id, self._typedef_name(t), 0)  # type: ignore[attr-defined]
        self.out.append(f"typedef {decl};\n\n")

    # ----------------------------------------------------------- declarators

    def declaration(self, tid: int, name: str, level: int, *, in_proto: bool = False) -> str:
        """C declaration of ``name`` as type ``tid`` (``name`` may be empty).
        Anonymous records are written inline at indent ``level``."""
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise BTFError(f"type [{tid}] nests too deeply (or cyclically) to dump as C")
            return self._declaration(tid, name, level, in_proto)
        finally:
            self._depth -= 1

    def _declaration(self, tid: int, name: str, level: int, in_proto: bool) -> str:
        btf = self.btf
        inner = name
        quals = ""
        for _ in range(MAX_NESTING):
            t = btf[tid]
            kind = t.kind
            if kind in _QUALIFIER_WORDS:
                word = _QUALIFIER_WORDS[kind]
                if word not in quals.split():
                    quals = f"{quals} {word}" if quals else word
                tid = t.type_id  # type: ignore[attr-defined]
            elif kind == Kind.TYPE_TAG:
                tid = t.type_id  # type: ignore[attr-defined]
            elif kind == Kind.PTR:
                inner = "*" + (quals + (" " if inner else "") if quals else "") + inner
                quals = ""
                tid = t.type_id  # type: ignore[attr-defined]
            elif kind == Kind.ARRAY:
                if inner.startswith("*"):
                    inner = f"({inner})"
                inner = f"{inner}[{t.nelems}]"  # type: ignore[attr-defined]
                tid = t.elem_type_id  # type: ignore[attr-defined]
            elif kind == Kind.FUNC_PROTO:
                if inner.startswith("*"):
                    inner = f"({inner})"
                params = []
                n = len(t.params)  # type: ignore[attr-defined]
                for i, p in enumerate(t.params):  # type: ignore[attr-defined]
                    if p.type_id == 0 and i == n - 1 and not p.name:
                        params.append("...")
                    else:
                        params.append(self.declaration(p.type_id, p.name, level, in_proto=True))
                inner = f"{inner}({', '.join(params) or 'void'})"
                quals = ""
                tid = t.return_type_id  # type: ignore[attr-defined]
                in_proto = True
            else:
                base = self._base_name(t, level, in_proto)
                if quals:
                    base = f"{quals} {base}"
                return f"{base} {inner}" if inner else base
        raise BTFError(f"type chain at [{tid}] is too long (or cyclic) to dump as C")

    def _base_name(self, t: Type, level: int, in_proto: bool) -> str:
        kind = t.kind
        if kind == Kind.UNKN:
            return "void"
        if kind in (Kind.INT, Kind.FLOAT):
            return t.name  # type: ignore[attr-defined]
        if kind == Kind.TYPEDEF:
            return self._typedef_name(t)
        if kind == Kind.FWD:
            return self._tag(t)
        if kind in (Kind.STRUCT, Kind.UNION):
            if t.name:  # type: ignore[attr-defined]
                return self._tag(t)
            if self.abbreviate:
                return f"{t.kind_name} {{...}}"
            if level > MAX_INLINE_DEPTH:
                raise BTFError(f"anonymous {t.kind_name} [{t.id}] nests too deeply (or "
                               f"contains itself) to dump as C")
            return self._record_body(t, level)  # type: ignore[arg-type]
        if kind in (Kind.ENUM, Kind.ENUM64):
            if t.name:  # type: ignore[attr-defined]
                return self._tag(t)
            if self.abbreviate:
                return "enum {...}"
            if in_proto or t.id in self._inline_enums:
                # Its constants are (or will be) defined elsewhere: C cannot
                # name an anonymous enum twice, so use an integer of its size.
                return _int_for_size(t.size, t.signed)  # type: ignore[attr-defined]
            self._inline_enums.add(t.id)
            return self._enum_body(t, level)  # type: ignore[arg-type]
        # FUNC, VAR, DATASEC, DECL_TAG cannot be the type of a value.
        return f"void /* {kind.name} [{t.id}] */"

    # --------------------------------------------------------------- records

    def _record_body(self, t: Composite, level: int) -> str:
        layout = self.layout(t)
        head = self._tag(t) if t.name else t.kind_name
        ind = "\t" * (level + 1)
        lines = [f"{head} {{"]
        for m, pads in zip(t.members, layout.pads):
            for ctype, bits in pads:
                lines.append(f"{ind}{ctype}: {bits};")
            bits = self._bitfield_bits(m)
            decl = self.declaration(m.type_id, m.name, level + 1)
            lines.append(f"{ind}{decl}: {bits};" if bits else f"{ind}{decl};")
        for ctype, bits in layout.tail:
            lines.append(f"{ind}{ctype}: {bits};")
        close = "\t" * level + "}"
        if layout.packed:
            close += " __attribute__((packed))"
        lines.append(close)
        return "\n".join(lines)

    def _bitfield_bits(self, m: Member) -> int:
        if m.bitfield_size:
            return m.bitfield_size
        t = self.btf.resolve(m.type_id)
        if isinstance(t, Int) and (t.bits != t.size * 8 or t.bit_offset):
            return t.bits  # a bitfield in BTF without kind_flag
        return 0

    def _member_bit_offset(self, m: Member) -> int:
        if m.bitfield_size:
            return m.bit_offset
        t = self.btf.resolve(m.type_id)
        if isinstance(t, Int) and (t.bits != t.size * 8 or t.bit_offset):
            return m.bit_offset + t.bit_offset
        return m.bit_offset

    def _enum_body(self, t: EnumBase, level: int) -> str:
        head = self._tag(t) if t.name else "enum"
        ind = "\t" * (level + 1)
        names = self._enumerator_names.get(t.id)
        if names is None:
            names = self._enumerator_names[t.id] = [self._unique_ident(v.name) for v in t.values]
        lines = [f"{head} {{"]
        wide = t.kind == Kind.ENUM64 or any(not -(1 << 31) <= v.value < (1 << 32)
                                             for v in t.values)
        for name, v in zip(names, t.values):
            lines.append(f"{ind}{name} = {_enum_literal(v.value, t.signed, wide)},")
        close = "\t" * level + "}"
        natural = _natural_enum_size(t)
        if t.size != natural and t.size in _MODE_BY_SIZE:
            close += f" __attribute__((mode({_MODE_BY_SIZE[t.size]})))"
        lines.append(close)
        return "\n".join(lines)

    # --------------------------------------------------------------- layout

    def align_of(self, tid: int) -> int:
        """Alignment of type ``tid`` as this header declares it."""
        btf = self.btf
        t = btf.resolve(tid)
        for _ in range(MAX_NESTING):
            if not isinstance(t, Array):
                break
            t = btf.resolve(t.elem_type_id)
        kind = t.kind
        if kind == Kind.PTR:
            return btf.pointer_size
        if kind in (Kind.INT, Kind.FLOAT):
            return _scalar_align(t.size)  # type: ignore[attr-defined]
        if kind in (Kind.ENUM, Kind.ENUM64):
            return _scalar_align(t.size)  # type: ignore[attr-defined]
        if isinstance(t, Composite):
            return self.layout(t).align
        return 1

    def layout(self, t: Composite) -> _Layout:
        """How ``t`` is written so that a compiler lays it out as BTF says."""
        layout = self._layouts.get(t.id)
        if layout is None:
            if t.id in self._in_progress_layout:
                return _Layout(False, [[] for _ in t.members], [], 1)
            self._in_progress_layout.add(t.id)
            try:
                try:
                    layout = self._plan(t, packed=False)
                except _LayoutMismatch:
                    try:
                        layout = self._plan(t, packed=True)
                    except _LayoutMismatch:
                        layout = _Layout(True, [[] for _ in t.members], [], 1)
            finally:
                self._in_progress_layout.discard(t.id)
            self._layouts[t.id] = layout
        return layout

    def _plan(self, t: Composite, packed: bool) -> _Layout:
        """The layout of ``t`` written ``packed`` or not; raises _LayoutMismatch
        when a compiler would not place some member where BTF has it."""
        is_union = t.kind == Kind.UNION
        pads: list[list[tuple[str, int]]] = []
        cur = 0  # first free bit after the members so far
        record_align = 1
        for m in t.members:
            declared_bits = self._bitfield_bits(m)
            size = _safe_size(self.btf, m.type_id)
            bits = declared_bits or size * 8
            align = 1 if packed else self.align_of(m.type_id)
            pos = self._member_bit_offset(m)
            gap: list[tuple[str, int]] = []
            if is_union:
                if pos != 0:
                    raise _LayoutMismatch
                cur = max(cur, bits)
            else:
                natural = self._place(cur, bits, align, size, bool(declared_bits), packed)
                if pos < natural:
                    raise _LayoutMismatch
                if pos > natural:
                    gap = _padding(cur, pos)
                    if self._place(pos, bits, align, size, bool(declared_bits), packed) != pos:
                        raise _LayoutMismatch
                cur = pos + bits
            pads.append(gap)
            record_align = max(record_align, align)
        total = t.size * 8
        natural_end = _round_up(cur, record_align * 8)
        if natural_end > total:
            raise _LayoutMismatch
        tail: list[tuple[str, int]] = []
        if natural_end < total:
            if _round_up(total, record_align * 8) != total:
                raise _LayoutMismatch
            if is_union:
                if total > 64:
                    raise _LayoutMismatch
                tail = [("long", total)]  # every union member starts at bit 0
            else:
                tail = _padding(cur, total)
        return _Layout(packed, pads, tail, 1 if packed else record_align)

    @staticmethod
    def _place(cur: int, bits: int, align: int, size: int, is_bitfield: bool,
               packed: bool) -> int:
        """Bit position a compiler gives a member declared after bit ``cur``."""
        if packed:
            return cur if is_bitfield else _round_up(cur, 8)
        if not is_bitfield:
            return _round_up(cur, align * 8)
        if bits == 0:
            return _round_up(cur, align * 8)
        unit = size * 8
        if unit <= 0:
            raise _LayoutMismatch  # a bitfield of a type without size: corrupt BTF
        if cur // unit != (cur + bits - 1) // unit:
            return _round_up(cur, align * 8)
        return cur


def _safe_size(btf: TypeTable, tid: int) -> int:
    t = btf.resolve(tid)
    if t.kind == Kind.FWD or t.kind == Kind.UNKN:
        return 0
    return btf.size_of(tid)


def _round_up(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def _scalar_align(size: int) -> int:
    for align in (16, 8, 4, 2):
        if size >= align:
            return align
    return 1


def _padding(start: int, end: int) -> list[tuple[str, int]]:
    """Unnamed bitfields covering bits [start, end).  Each is naturally
    placed (none crosses a boundary of its own type) and unnamed bitfields do
    not change a record's alignment, so the compiler puts them exactly there."""
    if end - start > MAX_PADDING_BITS:
        raise _LayoutMismatch
    out = []
    pos = start
    while pos < end:
        remaining = end - pos
        if pos % 8:
            take = min(remaining, 8 - pos % 8)
            out.append(("char", take))
        else:
            for ctype, width in _PADDING_TYPES:
                if pos % width == 0 and remaining >= width:
                    take = width
                    out.append((ctype, width))
                    break
            else:
                take = remaining
                out.append(("char", take))
        pos += take
    return out


def _int_for_size(size: int, signed: bool) -> str:
    name = {1: "char", 2: "short", 4: "int", 8: "long long"}.get(size, "int")
    return ("signed " if signed and size == 1 else "" if signed else "unsigned ") + name


_MODE_BY_SIZE = {1: "byte", 2: "HI", 4: "SI", 8: "word"}


def _natural_enum_size(t: EnumBase) -> int:
    if all(-(1 << 31) <= v.value < (1 << 31) for v in t.values):
        return 4
    if all(0 <= v.value < (1 << 32) for v in t.values):
        return 4
    return 8


def _enum_literal(value: int, signed: bool, wide: bool) -> str:
    if not wide:
        return str(value)
    if value < 0:
        return "-9223372036854775807LL - 1" if value == -(1 << 63) else f"{value}LL"
    return f"{value}ULL" if value >= (1 << 63) or not signed else f"{value}LL"
