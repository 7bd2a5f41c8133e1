"""The code generator every pybpf front end shares: typed values to LLVM IR,
LLVM's BPF backend to a standard ELF object (with BTF and line info), and
that object to an :class:`~pybpf.objects.ObjectSpec`.

A front end (the Python subset of :mod:`pybpf.lang`, bpftrace's language in
:mod:`pybpf.trace`) builds one :class:`Module`, declares its types, maps and
globals, builds each function with a :class:`FunctionBuilder`, and compiles
(this example is run by tests/lang/test_backend.py)::

    from pybpf.lang import backend as bk
    from pybpf.lang.types import CHAR, S32, U32, U64, ArrayType, PointerType, StructType
    from pybpf.lang.types import kernel_struct

    m = bk.Module("demo", path="demo.bt", source=text, license="GPL")
    event = StructType("event", [("pid", U32), ("ppid", U32), ("comm", ArrayType(CHAR, 16))])
    counts = m.map("counts", "hash", key=U32, value=U64, max_entries=1024)
    events = m.map("events", "ringbuf", max_entries=1 << 16)
    knob = m.global_var("target_pid", U32, const=True)        # const volatile, .rodata

    f = m.function("on_exit", section="tracepoint/sched/sched_process_exit", line=1)
    b = f.builder                       # a FunctionBuilder
    b.locate(2, 5)                      # source line and column of what follows
    pid = b.cast(b.binop(">>", b.call_helper("get_current_pid_tgid"), b.const(U64, 32)), U32)
    with b.if_then(b.compare("!=", b.read_global(knob), b.const(U32, 0))):
        with b.if_then(b.compare("!=", pid, b.read_global(knob))):
            b.ret(b.const(S32, 0))
    key = b.local(U32, "key")
    b.store(key, pid)
    slot = b.map_lookup_or_init(counts, key)                    # ptr to the value, or null
    with b.if_then(b.is_null(slot, negate=True)):
        b.atomic_add(slot, b.const(U64, 1))
    task = b.cast(b.call_helper("get_current_task"), PointerType(kernel_struct("task_struct")))
    e = b.ringbuf_reserve(events, event)                        # may be null
    with b.if_then(b.is_null(e, negate=True)):
        b.store(b.field(e, "pid"), pid)
        b.store(b.field(e, "ppid"), b.core_read(task, "real_parent.tgid"))   # CO-RE
        b.call_helper("get_current_comm", b.field(e, "comm"), b.const(U32, 16))
        b.ringbuf_submit(e)
    b.ret(b.const(S32, 0))
    elf = m.compile()               # bytes of an ELF object (libbpf loads it too)
    spec = m.object_spec()          # the same object as pybpf's ObjectSpec

The API, in short:

- types (:mod:`pybpf.lang.types`): ``U8``..``U64``, ``S8``..``S64``,
  ``CHAR``, ``BOOL``, ``ArrayType(elem, n)``, ``StructType(name, fields,
  offsets=None, size=None)``, ``PointerType(target)``, ``VOID``,
  ``kernel_struct(name)`` (vmlinux BTF, CO-RE); each knows ``size``,
  ``align``, ``ir_type()`` and ``c_name()``; :func:`context_record` gives
  ``__sk_buff``, ``xdp_md``, ``pt_regs``... and :func:`tracepoint_record`
  a tracepoint's record (tracefs), both as ``StructType``;
- :class:`Module`: ``map(name, kind, key=, value=, max_entries=, flags=,
  inner=, pinned=)`` for every kind of :data:`MAP_TYPES`;
  ``global_var(name, ctype, init, const=)``; ``string(text)``;
  ``function(name, params=, ret=, section=, line=, inline=)`` (with a
  section: a program, validated against :mod:`pybpf.spec.sections`;
  without: a bpf-to-bpf subprogram); ``compile(optimize=2)`` -> ELF bytes
  (``compile_seconds``), ``object_spec()``, ``ir_text()``;
- :class:`FunctionBuilder` (``function.builder``): ``ir`` (llvmlite's
  IRBuilder), ``args``, ``locate(line, col)``, ``block()``,
  ``terminated()``, ``if_then``/``if_else``; values: ``const``, ``null``,
  ``local(ctype, zero=)``, ``load``, ``store``, ``zero``, ``copy``,
  ``cast``, ``binop``, ``neg``, ``invert``, ``compare``, ``truth``,
  ``bool_value``, ``is_null``, ``atomic_add``; records: ``field``,
  ``index``, ``context_field``, ``packet_pointer``; kernel memory:
  ``core_read``, ``probe_read``; calls: ``call_helper(name, *args)``,
  ``call(function, *args)``, ``ret``, ``tail_call``, ``trace_printk``;
  maps: ``map_pointer``, ``map_lookup``, ``map_update``, ``map_delete``,
  ``map_lookup_or_init``, ``ringbuf_reserve``/``submit``/``discard``/
  ``output``, ``perf_output``; globals: ``global_pointer``,
  ``read_global``.

Values are :class:`Value` ``(ir, ctype)`` pairs: ``ir`` an llvmlite value,
``ctype`` a :mod:`pybpf.lang.types` type.  Pointers carry what they point
to (``PointerType(U32)``).  ``b.ir`` is the raw llvmlite ``IRBuilder`` for
anything not covered; use :meth:`FunctionBuilder.block` for new blocks.

Integer semantics are C's with the undefined cases defined as BPF defines
them: arithmetic wraps at the type's width, operands are converted by the
usual arithmetic conversions (:func:`common_type`), ``x / 0 == 0`` and
``x % 0 == x`` (unsigned and signed), shift counts are taken modulo the
width, and signed division truncates toward zero.

Kernel types (:func:`pybpf.lang.types.kernel_struct`) are reached through
CO-RE: :meth:`FunctionBuilder.field` on a pointer to one gives a relocatable
address (``llvm.preserve.struct.access.index``), :meth:`FunctionBuilder.core_read`
reads a chain such as ``task->real_parent->tgid`` with ``bpf_probe_read_kernel``
at each hop.  Tracepoint records come from tracefs format files
(:func:`tracepoint_record`).  Helpers are called by name with the prototypes
of :mod:`pybpf.spec.helper_protos` and the ids of :mod:`pybpf.spec`.

``Module.compile_seconds`` is the time of the last :meth:`Module.compile`
(LLVM only: building the IR is the front end's part).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import llvmlite.ir as ir
from llvmlite.ir.values import ArgumentAttributes

from ..spec import constant, enum_values, helper_id, struct_layout
from ..spec.defines import PERF_MAX_STACK_DEPTH
from ..spec.helper_protos import prototype
from ..spec.sections import SectionError
from ..spec.sections import lookup as lookup_section
from .errors import CompileError
from .types import (
    BOOL,
    CHAR,
    I1,
    I8,
    I32,
    I64,
    PTR,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    VOID,
    VOID_PTR,
    ArrayType,
    CType,
    IntType,
    KernelMember,
    KernelStruct,
    PointerType,
    StructType,
    VoidType,
    int_type,
)

BPF_TRIPLE = "bpfel"
BPF_CPU = "v3"
TRACEFS = Path("/sys/kernel/tracing/events")

_lock = threading.Lock()
_serial = itertools.count(1)


class Value(NamedTuple):
    """A typed value: ``ir`` (llvmlite) and ``ctype``."""

    ir: Any
    ctype: CType


# -- maps -------------------------------------------------------------------------

MAP_TYPES = {name.removeprefix("BPF_MAP_TYPE_").lower(): value
             for name, value in enum_values("bpf_map_type").items()}
"""Every map type the kernel knows, by its short name (``hash``, ``ringbuf``...)."""

_NO_KEY = {"queue", "stack", "bloom_filter"}
_SIZES_ONLY = {"perf_event_array", "prog_array", "cgroup_array", "stack_trace",
               "devmap", "cpumap", "xskmap", "sockmap", "reuseport_sockarray"}
_NO_KEY_VALUE = {"ringbuf", "user_ringbuf"}
_OF_MAPS = {"array_of_maps", "hash_of_maps"}


class MapDecl:
    """A map of a :class:`Module`: name, kind, key and value types, size,
    flags, the global that names it in ``.maps``."""

    def __init__(self, module: Module, name: str, kind: str, key: CType | None,
                 value: CType | None, max_entries: int, flags: int, inner: MapDecl | None,
                 pinned: bool, line: int):
        self.module = module
        self.name = name
        self.kind = kind
        self.key = key
        self.value = value
        self.max_entries = max_entries
        self.flags = flags
        self.inner = inner
        self.pinned = pinned
        self.line = line
        self.glob: ir.GlobalVariable | None = None

    def __repr__(self) -> str:
        return f"MapDecl({self.name!r}, {self.kind!r}, key={self.key!r}, value={self.value!r})"


class GlobalDecl:
    """A global variable in ``.bss``, ``.data`` or ``.rodata`` (``const``:
    a ``const volatile`` knob the user sets before loading)."""

    def __init__(self, name: str, ctype: CType, section: str, const: bool,
                 glob: ir.GlobalVariable):
        self.name = name
        self.ctype = ctype
        self.section = section
        self.const = const
        self.glob = glob


# -- debug information (becomes BTF) ----------------------------------------------------


class _Debug:
    """Debug metadata of one module, cached per type."""

    def __init__(self, module: ir.Module, path: str, source: str | None, producer: str):
        self.m = module
        # LLVM's BPF backend keeps the globals of CO-RE accesses in a process-wide
        # table keyed by type name and access: a second module with the same key
        # would find a global of a module already freed.  A flavor suffix per
        # module keeps keys apart (CO-RE ignores ``___flavor`` when matching).
        self.flavor = f"___pybpf{next(_serial)}"
        fields: dict[str, Any] = {"filename": os.path.basename(path) or path,
                                  "directory": os.path.dirname(os.path.abspath(path))}
        if source is not None:
            fields["source"] = source
        self.file = module.add_debug_info("DIFile", fields)
        self.cu = module.add_debug_info("DICompileUnit", {
            "language": ir.DIToken("DW_LANG_C99"), "file": self.file, "producer": producer,
            "isOptimized": True, "runtimeVersion": 0,
            "emissionKind": ir.DIToken("FullDebug")}, is_distinct=True)
        module.add_named_metadata("llvm.dbg.cu", self.cu)
        flags = module.add_named_metadata("llvm.module.flags")
        flags.add(module.add_metadata([ir.Constant(I32, 7), "Dwarf Version", ir.Constant(I32, 5)]))
        flags.add(module.add_metadata([ir.Constant(I32, 2), "Debug Info Version",
                                       ir.Constant(I32, 3)]))
        self._types: dict[Any, Any] = {}
        self.kernel_uses: dict[KernelStruct, dict[str, KernelMember]] = {}

    def basic(self, name: str, bits: int, encoding: str) -> Any:
        key = ("basic", name, bits)
        if key not in self._types:
            self._types[key] = self.m.add_debug_info("DIBasicType", {
                "name": name, "size": bits, "encoding": ir.DIToken(encoding)})
        return self._types[key]

    def type(self, ctype: CType | None) -> Any:
        """The debug type of ``ctype`` (``None``: void)."""
        if ctype is None or isinstance(ctype, VoidType):
            return None
        key = ("t", id(ctype)) if isinstance(ctype, StructType) else ("t", ctype)
        if key in self._types:
            return self._types[key]
        d: Any
        if isinstance(ctype, IntType):
            base_name = {(8, True): "signed char", (8, False): "unsigned char",
                         (16, True): "short", (16, False): "unsigned short",
                         (32, True): "int", (32, False): "unsigned int",
                         (64, True): "long long", (64, False): "unsigned long long"}
            if ctype in (CHAR, BOOL):
                d = self.basic(ctype.c_name(), ctype.bits, ctype.encoding)
            else:
                base = self.basic(base_name[ctype.bits, ctype.signed], ctype.bits, ctype.encoding)
                d = self.m.add_debug_info("DIDerivedType", {
                    "tag": ir.DIToken("DW_TAG_typedef"), "name": ctype.c_name(),
                    "file": self.file, "baseType": base})
        elif isinstance(ctype, PointerType):
            target = ctype.target
            if isinstance(target, KernelStruct):
                target = None       # members of kernel structs reach it through CO-RE only
            d = self.m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": self.type(target),
                "size": 64})
        elif isinstance(ctype, ArrayType):
            d = self.array(self.type(ctype.elem), ctype.elem.size * 8, ctype.count)
        elif isinstance(ctype, StructType):
            members = [self.member(f.name, self.type(f.ctype), f.ctype.size, f.offset)
                       for f in ctype.fields.values()]
            d = self.m.add_debug_info("DICompositeType", {
                "tag": ir.DIToken("DW_TAG_structure_type"), "name": ctype.name,
                "file": self.file, "size": ctype.size * 8,
                "elements": self.m.add_metadata(members)})
        elif isinstance(ctype, KernelStruct):
            return self.kernel_placeholder(ctype)
        else:
            raise CompileError(f"no debug type for {ctype!r}")
        self._types[key] = d
        return d

    def array(self, elem: Any, elem_bits: int, count: int) -> Any:
        sub = self.m.add_debug_info("DISubrange", {"count": count})
        return self.m.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_array_type"), "baseType": elem,
            "size": elem_bits * count, "elements": self.m.add_metadata([sub])})

    def member(self, name: str, dtype: Any, size: int, offset: int) -> Any:
        fields: dict[str, Any] = {"tag": ir.DIToken("DW_TAG_member"), "name": name,
                                  "file": self.file, "baseType": dtype, "size": size * 8}
        if offset:
            fields["offset"] = offset * 8
        return self.m.add_debug_info("DIDerivedType", fields)

    def bitfield_member(self, name: str, dtype: Any, bits: int, bit_offset: int) -> Any:
        """A bitfield member: ``bits`` wide, ``bit_offset`` bits into its struct."""
        fields: dict[str, Any] = {"tag": ir.DIToken("DW_TAG_member"), "name": name,
                                  "file": self.file, "baseType": dtype, "size": bits,
                                  "flags": ir.DIToken("DIFlagBitField")}
        if bit_offset:
            fields["offset"] = bit_offset
        return self.m.add_debug_info("DIDerivedType", fields)

    def program_prototype(self) -> Any:
        """``int (void *)``: what a program array's ``values`` point to."""
        return self.m.add_debug_info("DISubroutineType", {
            "types": self.m.add_metadata([self.type(S32), self.type(VOID_PTR)])})

    def pointer_to_int_array(self, count: int) -> Any:
        """``int (*)[count]``: how a BTF map definition spells a number."""
        return self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"),
            "baseType": self.array(self.type(S32), 32, count), "size": 64})

    def pointer(self, dtype: Any) -> Any:
        return self.m.add_debug_info("DIDerivedType", {
            "tag": ir.DIToken("DW_TAG_pointer_type"), "baseType": dtype, "size": 64})

    # kernel structs: the members this module used, built at the end
    def kernel_placeholder(self, ks: KernelStruct) -> Any:
        self.kernel_uses.setdefault(ks, {})
        key = ("kernel", ks)
        return self._types.get(key)

    def use_kernel_member(self, ks: KernelStruct, member: KernelMember) -> None:
        self.kernel_uses.setdefault(ks, {})[member.name or f"<anon{member.btf_index}>"] = member
        if isinstance(member.ctype, KernelStruct):
            self.kernel_uses.setdefault(member.ctype, {})

    def kernel_struct(self, ks: KernelStruct, done: set[KernelStruct] | None = None) -> Any:
        """The debug type of ``ks`` with the members used (their DI order
        is their BTF order); builds embedded structs first."""
        key = ("kernel", ks)
        if key in self._types:
            return self._types[key]
        used = sorted(self.kernel_uses.get(ks, {}).values(), key=lambda m: m.btf_index)
        members = []
        for m in used:
            if isinstance(m.ctype, KernelStruct):
                dt = self.kernel_struct(m.ctype)
            else:
                dt = self.type(m.ctype)
            if m.is_bitfield:
                members.append(self.bitfield_member(m.name, dt, m.bits, m.bit_offset))
            else:
                members.append(self.member(m.name, dt, m.ctype.size, m.offset))
        fields: dict[str, Any] = {
            "tag": ir.DIToken("DW_TAG_union_type" if ks.kind == "union"
                              else "DW_TAG_structure_type"),
            "file": self.file, "size": ks.size * 8, "elements": self.m.add_metadata(members)}
        if ks.name:
            fields["name"] = ks.name + self.flavor
        d = self.m.add_debug_info("DICompositeType", fields, is_distinct=True)
        self._types[key] = d
        return d

    def kernel_index(self, ks: KernelStruct, member: KernelMember) -> int:
        used = sorted(self.kernel_uses[ks].values(), key=lambda m: m.btf_index)
        return [m.btf_index for m in used].index(member.btf_index)


_ALIGNED_RESULTS = frozenset({"map_lookup_elem", "map_lookup_percpu_elem", "ringbuf_reserve"})
"""Helpers whose pointer results are 8-byte aligned: map values and ring-buffer
records start on the kernel's ``round_up(size, 8)`` boundaries."""


class _ReturnAlign:
    """``align N`` on a call's result.  llvmlite has no return attributes; it
    prints these where fast-math flags go (``call align 8 ptr %f(...)``), which
    is where LLVM reads return attributes.  Knowing the alignment lets LLVM
    copy records between map values and ring-buffer slots with 8-byte
    accesses instead of 4-byte ones (half the instructions, and half the
    instruction-selection time)."""

    def __init__(self, align: int):
        self.align = align

    def __bool__(self) -> bool:
        return True

    def _to_list(self, typ: Any) -> list[str]:
        return [f"align {self.align}"]


class _ElementType(ArgumentAttributes):
    """The ``elementtype(T)`` argument attribute of CO-RE intrinsics."""

    def __init__(self, elem: ir.Type):
        super().__init__()
        self.elem = elem

    def _to_list(self, typ: Any) -> list[str]:
        return [f"elementtype({self.elem})"]


# -- C types of helper prototypes ------------------------------------------------------

_C_INTS = {
    "u8": U8, "__u8": U8, "u16": U16, "__u16": U16, "__be16": U16, "__le16": U16,
    "u32": U32, "__u32": U32, "__be32": U32, "__wsum": U32, "int": S32, "s32": S32,
    "__s32": S32, "unsigned int": U32, "u64": U64, "__u64": U64, "__be64": U64,
    "long": S64, "s64": S64, "__s64": S64, "unsigned long": U64, "long long": S64,
    "unsigned long long": U64, "enum bpf_adj_room_mode": U32, "enum bpf_hdr_start_off": U32,
    "__sum16": U16, "char": CHAR, "bool": BOOL, "size_t": U64, "pid_t": S32, "gid_t": U32,
    "uid_t": U32,
}


def c_type(text: str) -> CType:
    """A :class:`CType` for a C type as a helper prototype spells it
    (pointers are ``void *``; unknown scalars are ``u64``)."""
    text = text.replace("const ", "").replace("volatile ", "").strip()
    if "*" in text:
        return VOID_PTR
    if text == "void":
        return VOID
    return _C_INTS.get(text, U64)


@cache
def helper_signature(name: str) -> tuple[int, CType, tuple[CType, ...], bool]:
    """``(id, return type, parameter types, variadic)`` of helper ``name``
    (``bpf_`` prefix optional); raises :class:`CompileError`."""
    short = name.removeprefix("bpf_")
    try:
        hid = helper_id(short)
    except KeyError:
        raise CompileError(f"no BPF helper named {name!r}") from None
    proto = prototype(short)
    if proto is None:
        return hid, U64, (), True
    ret, params = proto
    types: list[CType] = []
    variadic = False
    for p in params.split(","):
        p = p.strip()
        if p in ("void", ""):
            continue
        if p == "...":
            variadic = True
            continue
        decl = re.sub(r"\b[A-Za-z_][A-Za-z_0-9]*$", "", p).strip() if "*" not in p.rsplit(None, 1)[-1] \
            else p
        types.append(c_type(decl))
    return hid, c_type(ret), tuple(types), variadic


# -- tracepoint records -------------------------------------------------------------------

_FIELD = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"\s*signed:(?P<signed>\d)")


@cache
def tracepoint_record(category: str, event: str, tracefs: str = str(TRACEFS)) -> StructType:
    """The record a tracepoint program receives (``sched``,
    ``sched_process_exec``), read from the event's tracefs format file:
    fields by name at their offsets.  ``__data_loc`` strings are ``u32``
    (offset in the low half, length in the high half); pointers are
    ``void *``; arrays keep their element type.  Without tracefs, the
    kernel's BTF ``struct trace_event_raw_EVENT`` gives the fields (events
    of the same class share one: ``syscalls`` events have none of their
    own)."""
    path = Path(tracefs) / category / event / "format"
    try:
        text = path.read_text()
    except OSError as e:
        record = _tracepoint_record_from_btf(category, event)
        if record is not None:
            return record
        raise CompileError(f"no tracepoint {category}/{event}: cannot read {path} "
                           f"({e.strerror or e}), and the kernel's BTF has no "
                           f"trace_event_raw_{event}") from None
    fields: list[tuple[str, CType]] = []
    offsets: list[int] = []
    end = 0
    for m in _FIELD.finditer(text):
        decl = m["decl"].strip()
        off, size, signed = int(m["off"]), int(m["size"]), m["signed"] == "1"
        name_part = decl.rsplit(None, 1)[-1]
        name = re.sub(r"\[.*\]$", "", name_part).lstrip("*")
        ctype: CType
        if decl.startswith("__data_loc") or decl.startswith("__rel_loc"):
            ctype = U32
        elif "*" in decl:
            ctype = VOID_PTR
        elif "[" in name_part:
            count_text = name_part[name_part.index("[") + 1:-1]
            count = int(count_text) if count_text.isdigit() else 0
            elem_size = size // count if count else 1
            elem = CHAR if "char" in decl.split(name_part)[0] else int_type(elem_size * 8, signed)
            ctype = ArrayType(elem, count)
        elif size in (1, 2, 4, 8):
            ctype = int_type(size * 8, signed)
        else:
            ctype = ArrayType(U8, size)
        fields.append((name, ctype))
        offsets.append(off)
        end = max(end, off + size)
    if not fields:
        raise CompileError(f"tracepoint {category}/{event}: no fields in {path}")
    return StructType(f"tp_{category}_{event}", fields, offsets=offsets, size=end)


def _tracepoint_record_from_btf(category: str, event: str) -> StructType | None:
    from .types import kernel_struct

    try:
        raw = kernel_struct(f"trace_event_raw_{event}")
    except Exception:           # no BTF, or no such struct
        return None
    fields: list[tuple[str, CType]] = []
    offsets: list[int] = []
    for name in raw.member_names():
        if name == "ent":       # struct trace_entry: the common fields
            continue
        try:
            member = raw.member(name)
        except CompileError:     # a bitfield
            continue
        ctype = member.ctype
        if isinstance(ctype, KernelStruct):
            ctype = ArrayType(U8, ctype.size)
        elif isinstance(ctype, ArrayType) and ctype.count == 0:
            continue            # the __data[] tail
        elif isinstance(ctype, PointerType) and isinstance(ctype.target, KernelStruct):
            ctype = VOID_PTR
        for prefix in ("__data_loc_", "__rel_loc_"):   # tracefs names these fields bare
            if name.startswith(prefix):
                name = name[len(prefix):]
                ctype = U32
        fields.append((name, ctype))
        offsets.append(member.offset)
    return StructType(f"tp_{category}_{event}", fields, offsets=offsets, size=raw.size)


@cache
def context_record(name: str) -> StructType:
    """A program context of the uapi (``__sk_buff``, ``xdp_md``,
    ``bpf_sock_addr``...) as a :class:`StructType` with the kernel's
    offsets, from :mod:`pybpf.spec` (members of anonymous unions by their
    own names; bitfields left out).  The program reads it with direct loads,
    which the kernel rewrites."""
    try:
        layout = struct_layout(name)
    except KeyError:
        raise CompileError(f"no context struct {name!r} in pybpf.spec") from None
    fields: list[tuple[str, CType]] = []
    offsets: list[int] = []
    seen: set[str] = set()
    for f in layout.fields:
        if f.is_bitfield or "." in f.name or f.name in seen:
            continue
        seen.add(f.name)
        if f.nelems:
            elem = c_type(f.elem_type or "u32")
            if not isinstance(elem, IntType) or elem.size != f.elem_size:
                elem = int_type(f.elem_size * 8, False) if f.elem_size in (1, 2, 4, 8) else U8
            ctype: CType = ArrayType(elem, f.nelems)
        elif "*" in f.type:
            ctype = VOID_PTR if f.size == 8 else U32
        elif f.size in (1, 2, 4, 8):
            t = c_type(f.type)
            ctype = t if isinstance(t, IntType) and t.size == f.size else \
                int_type(f.size * 8, False)
        else:
            ctype = ArrayType(U8, f.size)
        fields.append((f.name, ctype))
        offsets.append(f.offset)
    return StructType(name, fields, offsets=offsets, size=layout.size)


# -- common integer conversions ---------------------------------------------------------------


def common_type(a: CType, b: CType) -> IntType:
    """The type C computes ``a op b`` in: both promoted to at least ``int``,
    then the wider; at equal width, unsigned wins."""
    if not isinstance(a, IntType) or not isinstance(b, IntType):
        raise CompileError(f"arithmetic needs integers, not {a!r} and {b!r}")

    def promote(t: IntType) -> IntType:
        return S32 if t.bits < 32 else int_type(t.bits, t.signed)

    a, b = promote(a), promote(b)
    if a.bits != b.bits:
        return a if a.bits > b.bits else b
    return int_type(a.bits, a.signed and b.signed)


# -- functions ---------------------------------------------------------------------------------


class Function:
    """A function of a :class:`Module`: an entry program (``section`` set)
    or a bpf-to-bpf subprogram; ``builder`` fills its body."""

    def __init__(self, module: Module, name: str, params: Sequence[tuple[str, CType]],
                 ret: CType, section: str | None, line: int, inline: bool):
        self.module = module
        self.name = name
        self.params = list(params)
        self.ret = ret
        self.section = section
        fnty = ir.FunctionType(ret.ir_type(), [t.ir_type() for _, t in self.params])
        self.ir = ir.Function(module.ir, fnty, name)
        if section is None:
            self.ir.linkage = "internal"
            self.ir.attributes.add("alwaysinline" if inline else "noinline")
        else:
            self.ir.section = section
        self.ir.attributes.add("nounwind")
        dbg = module.debug
        sub_type = module.ir.add_debug_info("DISubroutineType", {
            "types": module.ir.add_metadata([dbg.type(ret)] + [dbg.type(t) for _, t in self.params])})
        # the parameters' names (BTF needs them) refer to the subprogram that lists
        # them: a tuple unique to this function, filled once the subprogram exists
        retained = module.ir.add_metadata([f"pybpf.params.{name}"])
        self.subprogram = module.ir.add_debug_info("DISubprogram", {
            "name": name, "scope": dbg.file, "file": dbg.file, "line": line, "type": sub_type,
            "scopeLine": line,
            "spFlags": ir.DIToken("DISPFlagDefinition | DISPFlagOptimized" +
                                  (" | DISPFlagLocalToUnit" if section is None else "")),
            "unit": dbg.cu, "retainedNodes": retained}, is_distinct=True)
        self._retained = retained
        self._params_named = False
        self._line = line
        self.ir.set_metadata("dbg", self.subprogram)
        self.builder = FunctionBuilder(self, line)

    def finish_debug(self) -> None:
        """Name the parameters in debug info (last: the nodes form a cycle that
        llvmlite cannot hash, so nothing may be added after this)."""
        dbg = self.module.debug
        if not self._params_named:
            self._params_named = True
            self._retained.operands = tuple(
                self.module.ir.add_debug_info("DILocalVariable", {
                    "name": pname, "arg": i + 1, "scope": self.subprogram, "file": dbg.file,
                    "line": self._line, "type": dbg.type(ptype)})
                for i, (pname, ptype) in enumerate(self.params))

    def __repr__(self) -> str:
        return f"Function({self.name!r}, section={self.section!r})"


class FunctionBuilder:
    """Builds the body of one :class:`Function`.  ``ir`` is the llvmlite
    ``IRBuilder`` (positioned where code goes), ``args`` the parameters as
    :class:`Value` s, ``module`` the :class:`Module`."""

    def __init__(self, function: Function, line: int):
        self.function = function
        self.module = function.module
        entry = function.ir.append_basic_block("entry")
        self._allocas = ir.IRBuilder(entry)
        body = function.ir.append_basic_block("body")
        self.ir = ir.IRBuilder(body)
        self._entry = entry
        self._body = body
        self.args = [Value(arg, t) for arg, (_, t) in zip(function.ir.args, function.params)]
        for arg, (pname, _) in zip(function.ir.args, function.params):
            arg.name = pname
        self.locate(line, 0)

    # -- places ------------------------------------------------------------------
    def locate(self, line: int, column: int = 0) -> None:
        """Attach source ``line`` and ``column`` to the code built from now on."""
        loc = self.module.ir.add_debug_info("DILocation", {
            "line": max(line, 0), "column": max(column, 0), "scope": self.function.subprogram})
        self.ir.debug_metadata = loc
        self._allocas.debug_metadata = loc

    def block(self, name: str = "") -> ir.Block:
        """A new basic block of this function (not yet branched to)."""
        return self.function.ir.append_basic_block(name)

    def terminated(self) -> bool:
        """Whether the current block already ends (return, branch)."""
        return self.ir.block.is_terminated

    def if_then(self, cond: Value | Any, likely: bool | None = None) -> Any:
        """``with b.if_then(cond):`` — code for when ``cond`` is true."""
        return self.ir.if_then(self.truth(cond), likely=likely)

    def if_else(self, cond: Value | Any) -> Any:
        """``with b.if_else(cond) as (then, otherwise):`` (llvmlite's form)."""
        return self.ir.if_else(self.truth(cond))

    def finish(self) -> None:
        """Close the function: the entry block (stack slots) jumps to the body;
        a body falling off the end returns 0 (or nothing)."""
        if not self.ir.block.is_terminated:
            ret = self.function.ret
            if isinstance(ret, VoidType):
                self.ir.ret_void()
            else:
                self.ir.ret(ir.Constant(ret.ir_type(), 0))
        if not self._entry.is_terminated:
            self._allocas.position_at_end(self._entry)
            self._allocas.branch(self._body)

    # -- values ------------------------------------------------------------------
    def const(self, ctype: CType, value: int) -> Value:
        """An integer constant of ``ctype`` (wrapped to its width)."""
        if isinstance(ctype, IntType):
            value = ctype.wrap(value)
        return Value(ir.Constant(ctype.ir_type(), value), ctype)

    def null(self, target: CType | None = None) -> Value:
        """A null pointer."""
        return Value(ir.Constant(PTR, None), PointerType(target))

    def local(self, ctype: CType, name: str = "", *, zero: bool = False) -> Value:
        """A stack slot for a ``ctype``: a pointer to it.  ``zero`` fills it
        with zeros first (the verifier wants initialized stack for helpers)."""
        with self._at_entry():
            slot = self._allocas.alloca(ctype.ir_type(), name=name)
            slot.align = max(ctype.align, 1)
            slot.type = PTR         # opaque: Value.ctype says what it points to
        v = Value(slot, PointerType(ctype))
        if zero:
            self.zero(v)
        return v

    @contextlib.contextmanager
    def _at_entry(self) -> Iterator[None]:
        instrs = self._entry.instructions
        if instrs and instrs[-1].opname == "br":
            self._allocas.position_before(instrs[-1])
        else:
            self._allocas.position_at_end(self._entry)
        yield

    def zero(self, ptr: Value, size: int | None = None) -> None:
        """Fill ``size`` bytes (default: the pointed-to type's) with zeros."""
        n = size if size is not None else self._pointee(ptr).size
        memset = self.module.ir.declare_intrinsic("llvm.memset", [PTR, I64])
        call = self.ir.call(memset, [ptr.ir, ir.Constant(I8, 0), ir.Constant(I64, n),
                                     ir.Constant(I1, 0)])
        self._align_argument(call, 0, ptr)

    def copy(self, dst: Value, src: Value, size: int | None = None) -> None:
        """Copy ``size`` bytes (default: the pointed-to type's) from src to dst."""
        n = size if size is not None else self._pointee(dst).size
        memcpy = self.module.ir.declare_intrinsic("llvm.memcpy", [PTR, PTR, I64])
        call = self.ir.call(memcpy, [dst.ir, src.ir, ir.Constant(I64, n), ir.Constant(I1, 0)])
        self._align_argument(call, 0, dst)
        self._align_argument(call, 1, src)

    def _align_argument(self, call: Any, index: int, ptr: Value) -> None:
        """Tell LLVM a pointer argument's alignment (its type's), so copies and
        fills use 8-byte accesses rather than bytes."""
        if isinstance(ptr.ctype, PointerType) and ptr.ctype.target is not None:
            attrs = ArgumentAttributes()
            attrs.align = max(ptr.ctype.target.align, 1)
            call.arg_attributes[index] = attrs

    def _pointee(self, ptr: Value) -> CType:
        if not isinstance(ptr.ctype, PointerType) or ptr.ctype.target is None:
            raise CompileError(f"expected a typed pointer, got {ptr.ctype!r}")
        return ptr.ctype.target

    def load(self, ptr: Value, *, volatile: bool = False) -> Value:
        """The value ``ptr`` points to (an integer or pointer)."""
        t = self._pointee(ptr)
        if isinstance(t, (ArrayType, StructType, KernelStruct)):
            raise CompileError(f"a {t.c_name()} is not a value: copy it or take its fields")
        v = self.ir.load(ptr.ir, typ=t.ir_type(), align=max(t.align, 1))
        if volatile:
            # llvmlite has no volatile loads: a side-effecting empty asm after the
            # load keeps it from merging with another load of the same place
            self.ir.asm(ir.FunctionType(ir.VoidType(), []), "", "", [], True)
        return Value(v, t)

    def store(self, ptr: Value, value: Value) -> None:
        """Store ``value`` (converted to the pointed-to type) at ``ptr``."""
        t = self._pointee(ptr)
        if isinstance(t, (ArrayType, StructType)):
            if isinstance(value.ctype, PointerType):
                self.copy(ptr, value)
                return
            raise CompileError(f"cannot store a {value.ctype!r} into a {t.c_name()}")
        self.ir.store(self.cast(value, t).ir, ptr.ir, align=max(t.align, 1))

    def truth(self, v: Value | Any) -> Any:
        """An ``i1`` that is true when ``v`` is non-zero (or non-null)."""
        if not isinstance(v, Value):
            return v
        if v.ir.type == I1:
            return v.ir
        if isinstance(v.ctype, PointerType):
            return self.ir.icmp_unsigned("!=", v.ir, ir.Constant(PTR, None))
        return self.ir.icmp_unsigned("!=", v.ir, ir.Constant(v.ir.type, 0))

    def bool_value(self, cond: Any) -> Value:
        """An ``i1`` as a :class:`Value` of type ``bool``."""
        return Value(self.ir.zext(cond, I8), BOOL)

    def is_null(self, ptr: Value, *, negate: bool = False) -> Value:
        """Whether ``ptr`` is null (or, with ``negate``, not null)."""
        return self.bool_value(self.ir.icmp_unsigned("!=" if negate else "==", ptr.ir,
                                                     ir.Constant(PTR, None)))

    def cast(self, v: Value, ctype: CType) -> Value:
        """``(ctype)v`` with C's rules: integers truncate or extend by the
        source's signedness; integers and pointers convert both ways."""
        src = v.ctype
        if isinstance(ctype, IntType):
            if isinstance(src, PointerType):
                return Value(self.ir.ptrtoint(v.ir, ctype.ir_type()), ctype)
            if not isinstance(src, IntType):
                raise CompileError(f"cannot convert a {src!r} to {ctype.c_name()}")
            if ctype is BOOL and src is not BOOL:
                return self.bool_value(self.truth(v))
            if src.bits == ctype.bits:
                return Value(v.ir, ctype)
            if src.bits > ctype.bits:
                return Value(self.ir.trunc(v.ir, ctype.ir_type()), ctype)
            ext = self.ir.sext if src.signed else self.ir.zext
            return Value(ext(v.ir, ctype.ir_type()), ctype)
        if isinstance(ctype, PointerType):
            if isinstance(src, PointerType):
                return Value(v.ir, ctype)
            if isinstance(src, IntType):
                return Value(self.ir.inttoptr(self.cast(v, U64).ir, PTR), ctype)
        if isinstance(ctype, VoidType):
            return v
        if src == ctype:
            return v
        raise CompileError(f"cannot convert a {src!r} to {ctype.c_name()}")

    def binop(self, op: str, a: Value, b: Value, ctype: IntType | None = None) -> Value:
        """``a op b`` for ``+ - * / % & | ^ << >>`` in ``ctype`` (default:
        :func:`common_type`; shifts: the left operand's promoted type)."""
        if op in ("<<", ">>"):
            t = ctype or common_type(a.ctype, a.ctype)
            x = self.cast(a, t).ir
            n = self.cast(b, t).ir
            n = self.ir.and_(n, ir.Constant(t.ir_type(), t.bits - 1))
            if op == "<<":
                return Value(self.ir.shl(x, n), t)
            return Value((self.ir.ashr if t.signed else self.ir.lshr)(x, n), t)
        if isinstance(a.ctype, PointerType) and op in ("+", "-") and isinstance(b.ctype, IntType):
            step = a.ctype.target.size if a.ctype.target and a.ctype.target.size else 1
            off = self.cast(b, S64).ir
            if op == "-":
                off = self.ir.neg(off)
            return Value(self.ir.gep(a.ir, [self.ir.mul(off, ir.Constant(I64, step))],
                                     source_etype=I8), a.ctype)
        t = ctype or common_type(a.ctype, b.ctype)
        x, y = self.cast(a, t).ir, self.cast(b, t).ir
        simple = {"+": self.ir.add, "-": self.ir.sub, "*": self.ir.mul, "&": self.ir.and_,
                  "|": self.ir.or_, "^": self.ir.xor}
        if op in simple:
            return Value(simple[op](x, y), t)
        if op in ("/", "%"):
            return Value(self._divide(op, x, y, t), t)
        raise CompileError(f"no operator {op!r} on integers")

    def _divide(self, op: str, x: Any, y: Any, t: IntType) -> Any:
        zero = ir.Constant(t.ir_type(), 0)
        one = ir.Constant(t.ir_type(), 1)
        y_is_zero = self.ir.icmp_unsigned("==", y, zero)
        safe_y = self.ir.select(y_is_zero, one, y)
        if not t.signed:
            q = (self.ir.udiv if op == "/" else self.ir.urem)(x, safe_y)
        else:
            # cpu v3 has no signed division: divide magnitudes, then fix the sign
            x_neg = self.ir.icmp_signed("<", x, zero)
            y_neg = self.ir.icmp_signed("<", safe_y, zero)
            ax = self.ir.select(x_neg, self.ir.sub(zero, x), x)
            ay = self.ir.select(y_neg, self.ir.sub(zero, safe_y), safe_y)
            if op == "/":
                uq = self.ir.udiv(ax, ay)
                q = self.ir.select(self.ir.xor(x_neg, y_neg), self.ir.sub(zero, uq), uq)
            else:
                ur = self.ir.urem(ax, ay)
                q = self.ir.select(x_neg, self.ir.sub(zero, ur), ur)
        return self.ir.select(y_is_zero, zero if op == "/" else x, q)

    def neg(self, a: Value) -> Value:
        """``-a`` (after promotion)."""
        t = common_type(a.ctype, a.ctype)
        return Value(self.ir.neg(self.cast(a, t).ir), t)

    def invert(self, a: Value) -> Value:
        """``~a`` (after promotion)."""
        t = common_type(a.ctype, a.ctype)
        return Value(self.ir.not_(self.cast(a, t).ir), t)

    def compare(self, op: str, a: Value, b: Value) -> Value:
        """``a op b`` for ``== != < <= > >=``: C's ``int`` 0 or 1; integers
        compare in :func:`common_type` (signed or unsigned), pointers unsigned."""
        if isinstance(a.ctype, PointerType) or isinstance(b.ctype, PointerType):
            x = a.ir if isinstance(a.ctype, PointerType) else self.cast(a, VOID_PTR).ir
            y = b.ir if isinstance(b.ctype, PointerType) else self.cast(b, VOID_PTR).ir
            return Value(self.ir.zext(self.ir.icmp_unsigned(op, x, y), I32), S32)
        t = common_type(a.ctype, b.ctype)
        cmp = self.ir.icmp_signed if t.signed else self.ir.icmp_unsigned
        return Value(self.ir.zext(cmp(op, self.cast(a, t).ir, self.cast(b, t).ir), I32), S32)

    def atomic_add(self, ptr: Value, value: Value) -> None:
        """``*ptr += value`` atomically (``__sync_fetch_and_add``)."""
        t = self._pointee(ptr)
        self.ir.atomic_rmw("add", ptr.ir, self.cast(value, t).ir, "monotonic")

    # -- records, arrays, kernel structs -------------------------------------------------
    def field(self, ptr: Value, name: str) -> Value:
        """A pointer to member ``name`` of the record ``ptr`` points to: a byte
        offset for a :class:`StructType`, a CO-RE relocatable access for a
        :class:`KernelStruct` (through anonymous members as needed)."""
        t = self._pointee(ptr)
        if isinstance(t, StructType):
            f = t.field(name)
            p = self.ir.gep(ptr.ir, [ir.Constant(I64, f.offset)], source_etype=I8) \
                if f.offset else ptr.ir
            return Value(p, PointerType(f.ctype))
        if isinstance(t, KernelStruct):
            base, holder, member = self._kernel_member(ptr, t, name)
            if member.is_bitfield:
                raise CompileError(f"{holder.c_name()}.{name} is a bitfield: it has no "
                                   "address (read its value instead)")
            return self._core_access(base, holder, member)
        raise CompileError(f"a {t.c_name()} has no fields (looking for {name!r})")

    def _kernel_member(self, ptr: Value, ks: KernelStruct,
                       name: str) -> tuple[Value, KernelStruct, KernelMember]:
        """Member ``name`` of the kernel struct ``ptr`` points to, with the
        struct that holds it (``ks`` or an anonymous struct or union inside
        it, reached through CO-RE accesses) and a pointer to that struct."""
        while not ks.direct(name) and ks.has(name):
            anon = ks.anonymous_member(name)
            ptr = self._core_access(ptr, ks, anon)
            assert isinstance(anon.ctype, KernelStruct)
            ks = anon.ctype
        return ptr, ks, ks.member(name)

    def _core_access(self, ptr: Value, ks: KernelStruct, member: KernelMember) -> Value:
        dbg = self.module.debug
        dbg.use_kernel_member(ks, member)
        intrinsic = self.module.core_intrinsic()
        index = ir.Constant(I32, 0)            # set when the module is finished
        call = self.ir.call(intrinsic, [ptr.ir, index, index])
        call.arg_attributes[0] = _ElementType(self.module.kernel_ir_type(ks))
        self.module.core_calls.append((call, ks, member))
        return Value(call, PointerType(member.ctype))

    def index(self, ptr: Value, i: Value | int) -> Value:
        """A pointer to element ``i`` of the array ``ptr`` points to (no bounds
        check: the front end proves or checks the index)."""
        t = self._pointee(ptr)
        if not isinstance(t, ArrayType):
            raise CompileError(f"a {t.c_name()} cannot be indexed")
        idx = ir.Constant(I64, i) if isinstance(i, int) else self.cast(i, U64).ir
        off = self.ir.mul(idx, ir.Constant(I64, t.elem.size))
        return Value(self.ir.gep(ptr.ir, [off], source_etype=I8), PointerType(t.elem))

    def probe_read(self, dst: Value, size: int | Value, src: Value, *, user: bool = False,
                   string: bool = False) -> Value:
        """``bpf_probe_read_{kernel,user}[_str](dst, size, src)``: its result."""
        name = f"probe_read_{'user' if user else 'kernel'}{'_str' if string else ''}"
        n = self.const(U32, size) if isinstance(size, int) else size
        return self.call_helper(name, dst, n, src)

    def core_read(self, ptr: Value, path: str | Sequence[str]) -> Value:
        """Follow ``path`` (``"real_parent.tgid"``) from a pointer to a kernel
        struct, reading each pointer with ``bpf_probe_read_kernel`` and each
        field through CO-RE: the final field's value (an integer or pointer),
        or a pointer to a stack copy (arrays, structs)."""
        names = path.split(".") if isinstance(path, str) else list(path)
        current = root = ptr        # root: where LLVM's chain of CO-RE accesses starts
        for i, name in enumerate(names):
            t = self._pointee(current)
            last = i == len(names) - 1
            if isinstance(t, KernelStruct):
                base, holder, member = self._kernel_member(current, t, name)
                if member.is_bitfield:
                    if not last:
                        raise CompileError(f"{holder.c_name()}.{name} is a bitfield, not a "
                                           f"pointer: cannot follow {'.'.join(names[i + 1:])!r}")
                    return self.core_bitfield(root, base, holder, member)
                addr = self._core_access(base, holder, member)
            else:
                addr = self.field(current, name)
            ftype = self._pointee(addr)
            if isinstance(ftype, (KernelStruct, StructType)) and not last:
                current = addr              # embedded: keep walking without reading
                continue
            slot = self.local(ftype, f"core_{name}", zero=True)
            self.probe_read(slot, ftype.size, addr)
            if isinstance(ftype, (ArrayType, StructType, KernelStruct)):
                return slot
            value = self.load(slot)
            if last:
                return value
            if not isinstance(ftype, PointerType):
                raise CompileError(f"{t.c_name()}.{name} is not a pointer: cannot follow "
                                   f"{'.'.join(names[i + 1:])!r}")
            current = root = value
        return current

    def core_bitfield(self, root: Value, ptr: Value, ks: KernelStruct,
                      member: KernelMember) -> Value:
        """Read bitfield ``member`` of the kernel struct ``ptr`` points to, as
        libbpf's ``BPF_CORE_READ_BITFIELD_PROBED`` does: the byte offset and
        size of the word holding it and the two shifts that extract it are
        CO-RE relocations (``llvm.bpf.preserve.field.info``), so the loader
        fits them to the running kernel's layout.  ``root`` is where the
        accesses leading to ``ptr`` start (``ptr`` itself, or the struct
        whose anonymous member ``ptr`` is): the byte offset counts from it.
        The value has the member's declared type (sign-extended when that
        is signed)."""

        def info(kind: str) -> Any:
            access = self._core_access(ptr, ks, member)
            value = self.ir.call(self.module.field_info_intrinsic(),
                                 [access.ir, ir.Constant(I64, constant(f"BPF_CORE_FIELD_{kind}"))])
            return self.ir.zext(value, I64)

        offset, size = info("BYTE_OFFSET"), info("BYTE_SIZE")
        lshift, rshift = info("LSHIFT_U64"), info("RSHIFT_U64")
        word = self.local(U64, f"bits_{member.name}", zero=True)
        src = self.ir.gep(root.ir, [offset], source_etype=I8)
        self.probe_read(word, Value(self.ir.trunc(size, I32), U32), Value(src, VOID_PTR))
        value = self.ir.shl(self.load(word).ir, lshift)
        signed = isinstance(member.ctype, IntType) and member.ctype.signed
        value = self.ir.ashr(value, rshift) if signed else self.ir.lshr(value, rshift)
        return self.cast(Value(value, S64 if signed else U64), member.ctype)

    # -- calls --------------------------------------------------------------------
    def call_helper(self, name: str, *args: Value, ret: CType | None = None) -> Value:
        """Call BPF helper ``name`` (``bpf_`` prefix optional) with ``args``
        converted to its prototype's parameter types; returns its result
        (``ret`` overrides the prototype's return type)."""
        hid, proto_ret, params, variadic = helper_signature(name)
        if len(args) < len(params) or (len(args) > len(params) and not variadic):
            raise CompileError(f"helper {name} takes {len(params)} arguments, "
                               f"{len(args)} given")
        values = []
        types = []
        for i, a in enumerate(args):
            want = params[i] if i < len(params) else (
                a.ctype if isinstance(a.ctype, PointerType) else U64)
            if isinstance(want, PointerType) and isinstance(a.ctype, IntType):
                want = U64
            v = self.cast(a, want)
            values.append(v.ir)
            types.append(v.ir.type)
        rtype = ret or proto_ret
        fnty = ir.FunctionType(rtype.ir_type() if not isinstance(rtype, VoidType) else ir.VoidType(),
                               types)
        callee = ir.Constant(I64, hid).inttoptr(fnty.as_pointer())
        callee.function_type = fnty
        result = self.ir.call(callee, values)
        if name.removeprefix("bpf_") in _ALIGNED_RESULTS and isinstance(rtype, PointerType):
            result.fastmath = _ReturnAlign(U64.align)
        return Value(result, rtype)

    def call(self, function: Function, *args: Value) -> Value:
        """Call a function of the module (a bpf-to-bpf call unless inlined)."""
        if len(args) != len(function.params):
            raise CompileError(f"{function.name}() takes {len(function.params)} arguments, "
                               f"{len(args)} given")
        values = [self.cast(a, t).ir for a, (_, t) in zip(args, function.params)]
        return Value(self.ir.call(function.ir, values), function.ret)

    def ret(self, value: Value | None = None) -> None:
        """Return ``value`` (converted to the function's return type)."""
        rtype = self.function.ret
        if isinstance(rtype, VoidType):
            self.ir.ret_void()
        else:
            self.ir.ret(self.cast(value if value is not None else self.const(rtype, 0), rtype).ir)

    # -- maps ---------------------------------------------------------------------
    def map_pointer(self, m: MapDecl) -> Value:
        """The map as a helper argument (``&map``)."""
        return Value(m.glob, VOID_PTR)

    def map_lookup(self, m: MapDecl, key: Value) -> Value:
        """``bpf_map_lookup_elem(&map, key)``: a pointer to the value, or null."""
        r = self.call_helper("map_lookup_elem", self.map_pointer(m), key)
        return Value(r.ir, PointerType(m.value))

    def map_update(self, m: MapDecl, key: Value, value: Value, flags: int = 0) -> Value:
        """``bpf_map_update_elem(&map, key, value, flags)``: 0 or a negative errno."""
        return self.call_helper("map_update_elem", self.map_pointer(m), key, value,
                                self.const(U64, flags))

    def map_delete(self, m: MapDecl, key: Value) -> Value:
        """``bpf_map_delete_elem(&map, key)``."""
        return self.call_helper("map_delete_elem", self.map_pointer(m), key)

    def map_lookup_or_init(self, m: MapDecl, key: Value) -> Value:
        """A pointer to ``map[key]``, inserting a zero value first when the key
        is absent (``BPF_NOEXIST``: a racing insert wins); null only when the
        map is full."""
        found = self.map_lookup(m, key)
        result = self.local(PointerType(m.value), "slot")
        self.store(result, found)
        with self.if_then(self.is_null(found)):
            zero = self.local(m.value, "zero", zero=True)
            self.map_update(m, key, zero, constant("BPF_NOEXIST"))
            self.store(result, self.map_lookup(m, key))
        return Value(self.load(result).ir, PointerType(m.value))

    def ringbuf_reserve(self, m: MapDecl, ctype: CType, flags: int = 0) -> Value:
        """``bpf_ringbuf_reserve(&map, sizeof(ctype), flags)``: a pointer to a
        ``ctype`` in the ring, or null (check it before use)."""
        r = self.call_helper("ringbuf_reserve", self.map_pointer(m), self.const(U64, ctype.size),
                             self.const(U64, flags))
        return Value(r.ir, PointerType(ctype))

    def ringbuf_submit(self, ptr: Value, flags: int = 0) -> None:
        """Hand a reserved record to user space."""
        self.call_helper("ringbuf_submit", ptr, self.const(U64, flags))

    def ringbuf_discard(self, ptr: Value, flags: int = 0) -> None:
        """Give back a reserved record unsent."""
        self.call_helper("ringbuf_discard", ptr, self.const(U64, flags))

    def ringbuf_output(self, m: MapDecl, ptr: Value, size: int | None = None,
                       flags: int = 0) -> Value:
        """``bpf_ringbuf_output(&map, ptr, size, flags)``: copy a record in."""
        n = size if size is not None else self._pointee(ptr).size
        return self.call_helper("ringbuf_output", self.map_pointer(m), ptr, self.const(U64, n),
                                self.const(U64, flags))

    def perf_output(self, ctx: Value, m: MapDecl, ptr: Value, size: int | None = None) -> Value:
        """``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ptr, size)``."""
        n = size if size is not None else self._pointee(ptr).size
        return self.call_helper("perf_event_output", ctx, self.map_pointer(m),
                                self.const(U64, constant("BPF_F_CURRENT_CPU")), ptr,
                                self.const(U64, n))

    def tail_call(self, ctx: Value, m: MapDecl, index: Value) -> None:
        """``bpf_tail_call(ctx, &prog_array, index)`` (returns when it fails)."""
        self.call_helper("tail_call", ctx, self.map_pointer(m), index)

    def trace_printk(self, fmt: str | bytes, *args: Value) -> Value:
        """``bpf_trace_printk(fmt, sizeof(fmt), args...)`` (at most 3 args;
        the format is a read-only string of the module)."""
        if len(args) > 3:
            raise CompileError(f"bpf_trace_printk takes at most 3 values, {len(args)} given")
        s = self.module.string(fmt)
        ptr = Value(s.glob, PointerType(s.ctype))
        return self.call_helper("trace_printk", ptr, self.const(U32, s.ctype.size),
                                *[self.cast(a, U64) if isinstance(a.ctype, IntType) else a
                                  for a in args])

    # -- globals and contexts ---------------------------------------------------------
    def global_pointer(self, g: GlobalDecl) -> Value:
        """A pointer to global ``g``."""
        return Value(g.glob, PointerType(g.ctype))

    def read_global(self, g: GlobalDecl) -> Value:
        """The value of an integer global (a volatile load for ``const`` knobs,
        so the value set before loading is read, not the initializer)."""
        return self.load(self.global_pointer(g), volatile=g.const)

    def packet_pointer(self, ctx: Value, record: StructType, name: str) -> Value:
        """A 32-bit context field that the kernel turns into a packet pointer
        (``xdp_md.data``, ``__sk_buff.data_end``) as a ``u8 *``."""
        v = self.context_field(ctx, record, name)
        return Value(self.ir.inttoptr(self.ir.zext(v.ir, I64), PTR), PointerType(U8))

    def context_field(self, ctx: Value, record: StructType, name: str) -> Value:
        """The value of field ``name`` of a context laid out as ``record``
        (``__sk_buff``, ``xdp_md``, a tracepoint record): a direct load from
        the context, which the kernel rewrites."""
        p = self.field(Value(ctx.ir, PointerType(record)), name)
        t = self._pointee(p)
        if isinstance(t, (ArrayType, StructType)):
            return p
        return self.load(p)


# -- modules ----------------------------------------------------------------------------------


class Module:
    """One BPF object being built: maps, globals, functions, license.

    ``path`` names the source file for line info (``source``, its text, is
    embedded so the line text reaches BTF even when the file is elsewhere).
    """

    def __init__(self, name: str, *, path: str = "<string>", source: str | None = None,
                 license: str = "GPL", producer: str = "pybpf.lang"):
        self.name = name
        self.path = path
        self.license = license
        self.ir = ir.Module(name)
        self.ir.triple = BPF_TRIPLE
        self.debug = _Debug(self.ir, path, source, producer)
        self.maps: dict[str, MapDecl] = {}
        self.globals: dict[str, GlobalDecl] = {}
        self.functions: dict[str, Function] = {}
        self.core_calls: list[tuple[Any, KernelStruct, KernelMember]] = []
        self._kernel_ir: dict[KernelStruct, Any] = {}
        self._core_intrinsic: ir.Function | None = None
        self._field_info: ir.Function | None = None
        self._slot_values: list[tuple[Any, Any, int, int, dict[int, Any]]] = []
        self.compile_seconds = 0.0
        self._elf: bytes | None = None
        self._elf_optimize = -1
        self._strings: dict[bytes, GlobalDecl] = {}

    # -- declarations --------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise CompileError(f"{name!r} is not a valid symbol name")
        if name in self.maps or name in self.globals or name in self.functions:
            raise CompileError(f"{name!r} is declared twice")

    def map(self, name: str, kind: str, *, key: CType | None = None,
            value: CType | None = None, max_entries: int = 1, flags: int = 0,
            inner: MapDecl | None = None, pinned: bool = False, line: int = 0,
            values: dict[int, MapDecl | str] | None = None) -> MapDecl:
        """Declare a BTF-defined map in ``.maps``.  ``kind`` is the kernel's
        map type without ``BPF_MAP_TYPE_`` (``hash``, ``percpu_array``,
        ``lru_hash``, ``lpm_trie``, ``ringbuf``, ``perf_event_array``,
        ``stack_trace``, ``prog_array``, ``queue``, ``stack``,
        ``array_of_maps`` with ``inner``...).  ``pinned`` pins by name.
        ``values`` puts maps of the module (maps of maps) or programs of the
        module, by function name (``prog_array``), in slots when the object
        is loaded, as libbpf's ``.values = { [0] = &a }`` does."""
        self._check_name(name)
        if kind not in MAP_TYPES:
            raise CompileError(f"no map type {kind!r} (known: {', '.join(sorted(MAP_TYPES))})")
        if kind == "lpm_trie":
            flags |= constant("BPF_F_NO_PREALLOC")
        if kind in _OF_MAPS and inner is None:
            raise CompileError(f"a {kind} map needs the inner map it holds (inner=...)")
        values = values or {}
        if values and kind not in _OF_MAPS and kind != "prog_array":
            raise CompileError(f"a {kind} map takes no initial values (values=...)")
        for index, v in values.items():
            if not 0 <= index < max_entries:
                raise CompileError(f"values: slot {index} is outside max_entries {max_entries}")
            if kind == "prog_array":
                if not isinstance(v, str):
                    raise CompileError(f"values[{index}] of a prog_array must be a program")
                continue
            assert inner is not None
            if not isinstance(v, MapDecl):
                raise CompileError(f"values[{index}] of a {kind} must be a map")
            if (v.kind, v.key, v.value) != (inner.kind, inner.key, inner.value):
                raise CompileError(f"values[{index}] ({v.name}: {v.kind} {v.key}->{v.value}) "
                                   f"is not a map like the inner one ({inner.name}: "
                                   f"{inner.kind} {inner.key}->{inner.value})")
        decl = MapDecl(self, name, kind, key, value, max_entries, flags, inner, pinned, line)
        dbg = self.debug
        members: list[tuple[str, Any]] = [("type", dbg.pointer_to_int_array(MAP_TYPES[kind]))]
        if kind in _NO_KEY_VALUE:
            pass
        elif kind in _SIZES_ONLY:
            members.append(("key_size", dbg.pointer_to_int_array(4)))
            vsize = value.size if value is not None else (
                U64.size * PERF_MAX_STACK_DEPTH if kind == "stack_trace" else 4)
            members.append(("value_size", dbg.pointer_to_int_array(vsize)))
        elif kind in _NO_KEY:
            if value is None:
                raise CompileError(f"a {kind} map needs a value type")
            members.append(("value", dbg.pointer(dbg.type(value))))
        elif kind in _OF_MAPS:
            members.append(("key", dbg.pointer(dbg.type(key or U32))))
        else:
            if key is None or value is None:
                raise CompileError(f"a {kind} map needs key and value types")
            members.append(("key", dbg.pointer(dbg.type(key))))
            members.append(("value", dbg.pointer(dbg.type(value))))
        members.append(("max_entries", dbg.pointer_to_int_array(max_entries)))
        if flags:
            members.append(("map_flags", dbg.pointer_to_int_array(flags)))
        if pinned:
            members.append(("pinning", dbg.pointer_to_int_array(1)))
        if kind in _OF_MAPS:
            assert inner is not None
            inner_type = self._map_def_type(inner)
            members.append(("values", dbg.array(dbg.pointer(inner_type), 64, 0)))
        elif values:                # prog_array: __array(values, int (void *))
            members.append(("values", dbg.array(dbg.pointer(dbg.program_prototype()), 64, 0)))
        di_members = [dbg.member(n, t, 8 if n != "values" else 0, 8 * i)
                      for i, (n, t) in enumerate(members)]
        struct = self.ir.add_debug_info("DICompositeType", {
            "tag": ir.DIToken("DW_TAG_structure_type"), "file": dbg.file,
            "size": 64 * len([n for n, _ in members if n != "values"]),
            "elements": self.ir.add_metadata(di_members)}, is_distinct=True)
        decl.def_type = struct
        fields = len([n for n, _ in members if n != "values"])
        slots = max(values) + 1 if values else 0
        ir_type = ir.LiteralStructType([PTR] * fields + (
            [ir.ArrayType(PTR, slots)] if kind in _OF_MAPS or values else []))
        g = ir.GlobalVariable(self.ir, ir_type, name)
        g.section = ".maps"
        g.align = 8
        g.initializer = ir.Constant(ir_type, None)
        if values:                  # filled by finish(), once every program exists
            self._slot_values.append((g, ir_type, fields, slots, values))
        self._global_debug(g, name, struct, line)
        decl.glob = g
        self.maps[name] = decl
        return decl

    def _map_def_type(self, m: MapDecl) -> Any:
        return m.def_type

    def _global_debug(self, g: ir.GlobalVariable, name: str, dtype: Any, line: int) -> None:
        dbg = self.debug
        var = self.ir.add_debug_info("DIGlobalVariable", {
            "name": name, "scope": dbg.cu, "file": dbg.file, "line": line, "type": dtype,
            "isLocal": False, "isDefinition": True}, is_distinct=True)
        expr = self.ir.add_debug_info("DIGlobalVariableExpression", {
            "var": var, "expr": self.ir.add_debug_info("DIExpression", {})})
        g.set_metadata("dbg", expr)

    def global_var(self, name: str, ctype: CType, init: int | bytes | None = None, *,
                   const: bool = False, line: int = 0) -> GlobalDecl:
        """A global variable: ``const`` ones are ``const volatile`` knobs in
        ``.rodata`` (set before loading), others live in ``.data`` when
        initialized to non-zero and ``.bss`` otherwise."""
        self._check_name(name)
        if const:
            section = ".rodata"
        else:
            section = ".data" if init else ".bss"
        g = ir.GlobalVariable(self.ir, ctype.ir_type(), name)
        g.type = PTR                # opaque: GlobalDecl.ctype says what it holds
        g.section = section
        g.align = max(ctype.align, 1)
        g.initializer = self._initializer(ctype, init)
        # not an LLVM constant: the value is set after compiling, so no load may fold
        dtype = self.debug.type(ctype)
        if const:
            dtype = self.ir.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_const_type"),
                "baseType": self.ir.add_debug_info("DIDerivedType", {
                    "tag": ir.DIToken("DW_TAG_volatile_type"), "baseType": dtype})})
        self._global_debug(g, name, dtype, line)
        decl = GlobalDecl(name, ctype, section, const, g)
        self.globals[name] = decl
        return decl

    def _initializer(self, ctype: CType, init: int | bytes | None) -> ir.Constant:
        if init is None or init == 0:
            return ir.Constant(ctype.ir_type(), None)
        if isinstance(init, int):
            if not isinstance(ctype, IntType):
                raise CompileError(f"an integer cannot initialize a {ctype.c_name()}")
            return ir.Constant(ctype.ir_type(), ctype.wrap(init))
        data = bytes(init)
        if len(data) > ctype.size:
            raise CompileError(f"{len(data)} bytes do not fit in a {ctype.c_name()}")
        data = data.ljust(ctype.size, b"\0")
        if isinstance(ctype, ArrayType) and ctype.elem.size == 1:
            return ir.Constant(ctype.ir_type(), bytearray(data))
        if isinstance(ctype, StructType):
            return ir.Constant(ctype.ir_type(), bytearray(data))
        raise CompileError(f"bytes cannot initialize a {ctype.c_name()}")

    def string(self, text: str | bytes) -> GlobalDecl:
        """A read-only NUL-terminated string in ``.rodata`` (one global per
        distinct text): format strings of ``bpf_trace_printk``, keys..."""
        data = (text.encode() if isinstance(text, str) else bytes(text)) + b"\0"
        name = f"__str_{len(self._strings)}"
        if data in self._strings:
            return self._strings[data]
        ctype = ArrayType(CHAR, len(data))
        g = ir.GlobalVariable(self.ir, ctype.ir_type(), name)
        g.type = PTR
        g.section = ".rodata"
        g.linkage = "internal"
        g.global_constant = True
        g.initializer = ir.Constant(ctype.ir_type(), bytearray(data))
        decl = GlobalDecl(name, ctype, ".rodata", True, g)
        self._strings[data] = decl
        return decl

    def function(self, name: str, *, params: Sequence[tuple[str, CType]] = (),
                 ret: CType = S32, section: str | None = None, line: int = 0,
                 inline: bool = False) -> Function:
        """A function: with ``section`` (a libbpf section name such as
        ``"xdp"`` or ``"tp/sched/sched_process_exit"``), a program entry
        taking the context (``params`` default to ``[("ctx", void *)]``);
        without, a subprogram (a bpf-to-bpf call, or inlined)."""
        self._check_name(name)
        if section is not None:
            try:
                info = lookup_section(section, strict=True)
            except SectionError as e:
                raise CompileError(f"section {section!r}: {e}") from None
            if info is None:
                raise CompileError(f"{section!r} is not a program section libbpf knows "
                                   "(see pybpf.spec.sections)")
            if not params:
                params = [("ctx", VOID_PTR)]
        f = Function(self, name, params, ret, section, line, inline)
        self.functions[name] = f
        return f

    def _finish_slot_values(self) -> None:
        # the slots follow the map's definition (BTF says 'values' has no
        # elements): LLVM writes a relocation naming the map or program in
        # each, which pybpf's loader and libbpf fill
        for g, ir_type, fields, slots, values in self._slot_values:
            targets = []
            for i in range(slots):
                v = values.get(i)
                if v is None:
                    targets.append(ir.Constant(PTR, None))
                elif isinstance(v, MapDecl):
                    targets.append(v.glob)
                elif v in self.functions and self.functions[v].section:
                    targets.append(self.functions[v].ir)
                else:
                    raise CompileError(f"map {g.name!r}: values[{i}] names {v!r}, which is "
                                       "not a program of this module")
            g.initializer = ir.Constant(ir_type, [ir.Constant(PTR, None)] * fields
                                        + [ir.Constant(ir.ArrayType(PTR, slots), targets)])

    # -- kernel types -------------------------------------------------------------
    def core_intrinsic(self) -> ir.Function:
        """``llvm.preserve.struct.access.index`` (declared once)."""
        if self._core_intrinsic is None:
            fnty = ir.FunctionType(PTR, [PTR, I32, I32])
            self._core_intrinsic = ir.Function(
                self.ir, fnty, "llvm.preserve.struct.access.index.p0.p0")
        return self._core_intrinsic

    def field_info_intrinsic(self) -> ir.Function:
        """``llvm.bpf.preserve.field.info`` (declared once): a relocatable
        fact about a field (byte offset, byte size, shifts of a bitfield)."""
        if self._field_info is None:
            fnty = ir.FunctionType(I32, [PTR, I64])
            self._field_info = ir.Function(self.ir, fnty, "llvm.bpf.preserve.field.info.p0")
        return self._field_info

    def kernel_ir_type(self, ks: KernelStruct) -> Any:
        """The LLVM struct standing for ``ks`` (its body: the used members)."""
        if ks not in self._kernel_ir:
            self._kernel_ir[ks] = self.ir.context.get_identified_type(
                f"{ks.kind}.{ks.name or 'anon'}.{ks.key.lstrip('#')}")
        return self._kernel_ir[ks]

    def _finish_kernel_types(self) -> None:
        dbg = self.debug
        for ks in dbg.kernel_uses:
            dbg.kernel_struct(ks)
        for ks, t in self._kernel_ir.items():
            if t.is_opaque:
                used = sorted(dbg.kernel_uses.get(ks, {}).values(), key=lambda m: m.btf_index)
                # a bitfield stands as a u64: LLVM describes bitfields by the
                # aligned word holding them, the struct's alignment in its IR type
                t.set_body(*[I64 if m.is_bitfield else m.ctype.ir_type()
                             if not isinstance(m.ctype, KernelStruct)
                             else self.kernel_ir_type(m.ctype) for m in used] or [I8])
        for call, ks, member in self.core_calls:
            index = ir.Constant(I32, dbg.kernel_index(ks, member))
            call.operands[2] = index         # operands: callee, base, gep index, di index
            call.operands[3] = index
            call.set_metadata("llvm.preserve.access.index", dbg.kernel_struct(ks))

    # -- output -------------------------------------------------------------------
    def finish(self) -> None:
        """Close every function, emit the license and kernel types (idempotent)."""
        if "LICENSE" not in self.globals and self.license is not None:
            data = self.license.encode() + b"\0"
            ctype = ArrayType(CHAR, len(data))
            g = ir.GlobalVariable(self.ir, ctype.ir_type(), "LICENSE")
            g.section = "license"
            g.initializer = ir.Constant(ctype.ir_type(), bytearray(data))
            self._global_debug(g, "LICENSE", self.debug.type(ctype), 0)
            self.globals["LICENSE"] = GlobalDecl("LICENSE", ctype, "license", False, g)
        for f in self.functions.values():
            f.builder.finish()
        self._finish_slot_values()
        self._finish_kernel_types()
        for f in self.functions.values():
            f.finish_debug()

    def ir_text(self) -> str:
        """The module's LLVM IR as text (after :meth:`finish`)."""
        self.finish()
        return str(self.ir)

    def compile(self, *, optimize: int = 2) -> bytes:
        """The ELF object (``compile_seconds`` says how long LLVM took)."""
        if self._elf is not None and self._elf_optimize == optimize:
            return self._elf
        text = self.ir_text()
        for layouts in {id(ks.layouts): ks.layouts for ks in self.debug.kernel_uses}.values():
            layouts.save()          # what this module learnt of the kernel's layouts
        start = time.perf_counter()
        self._elf = compile_ir(text, optimize=optimize, name=self.path)
        self.compile_seconds = time.perf_counter() - start
        self._elf_optimize = optimize
        return self._elf

    def object_spec(self) -> Any:
        """The compiled object as an :class:`~pybpf.objects.ObjectSpec`."""
        from ..elf import load_object

        data = self._elf if self._elf is not None else self.compile()
        return load_object(data, path=f"{self.path} (compiled)")


# -- LLVM ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _llvm() -> Any:
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    return llvm


@lru_cache(maxsize=1)
def target_machine() -> Any:
    """LLVM's BPF target (little-endian, cpu v3)."""
    llvm = _llvm()
    return llvm.Target.from_triple(BPF_TRIPLE).create_target_machine(
        cpu=BPF_CPU, opt=2, reloc="static", codemodel="small")


#: The flavor suffix of a module's kernel type names (see :class:`_Debug`).
_FLAVOR = re.compile(r"___pybpf\d+")


def compile_ir(text: str, *, optimize: int = 2, name: str = "<module>") -> bytes:
    """An ELF object from LLVM IR text, through LLVM's BPF backend.  Each
    compile gets its own flavor of the kernel type names, so the same text
    compiled again (another optimization level, a second call) never meets
    the CO-RE table entries of a module LLVM has freed: that aborts the
    process."""
    llvm = _llvm()
    text = _FLAVOR.sub(f"___pybpf{next(_serial)}", text)
    with _lock:
        tm = target_machine()
        try:
            # a context per compile: identified types of one module never meet another's
            module = llvm.parse_assembly(text, context=llvm.create_context())
            module.verify()
        except RuntimeError as e:
            raise CompileError(f"{name}: the generated LLVM IR is invalid (a pybpf.lang bug): "
                               f"{e}") from None
        module.triple = BPF_TRIPLE
        module.data_layout = str(tm.target_data)
        # the pipeline runs even at -O0: the BPF backend's CO-RE pass sits in it
        tuning = llvm.create_pipeline_tuning_options(speed_level=optimize)
        tuning.loop_vectorization = False
        tuning.slp_vectorization = False
        tuning.loop_unrolling = optimize > 0
        builder = llvm.create_pass_builder(tm, tuning)
        builder.getModulePassManager().run(module, builder)
        try:
            return bytes(tm.emit_object(module))
        except RuntimeError as e:
            raise CompileError(f"{name}: LLVM's BPF backend refused the program: {e}") from None


__all__ = [
    "BPF_CPU", "BPF_TRIPLE", "MAP_TYPES", "Function", "FunctionBuilder", "GlobalDecl",
    "MapDecl", "Module", "Value", "c_type", "common_type", "compile_ir", "context_record",
    "helper_signature",
    "target_machine", "tracepoint_record",
]
