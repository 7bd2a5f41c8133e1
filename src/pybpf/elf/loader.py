"""Relocatable BPF objects (from clang or zig) -> :class:`~pybpf.objects.ObjectSpec`.

The conventions are libbpf's:

- each function symbol in an executable section other than ``.text`` is a
  program; the section name (``SEC("xdp")``) gives its type and attach point
  (:mod:`pybpf.spec.sections`); a section named ``?xdp`` is ``xdp`` with the
  program's ``autoload`` off, and ``struct_ops`` programs start with it off
  too (they are loaded with the struct_ops table that holds them:
  :func:`pybpf.kernel.attach.struct_ops`);
- functions in ``.text`` are subprograms: every program that calls one (a
  ``call`` relocated against ``.text``) or takes its address (a ``lddw``
  relocated against ``.text``: a callback) gets a copy appended, and the
  call or ``lddw`` (then ``BPF_PSEUDO_FUNC``) is rewritten with the relative
  offset;
- maps come from ``.maps`` (BTF-defined) and the legacy ``maps`` section;
  ``.data``, ``.rodata``, ``.bss``, ``.data.*`` and ``.rodata.*`` become
  one-entry array maps holding the section, and ``.kconfig`` externs one
  more; a ``lddw`` relocated against a map or a global becomes a
  :class:`~pybpf.objects.MapReference`;
- ``__arena`` globals (section ``.addr_space.1``) start the memory of the
  object's arena map (``BPF_MAP_TYPE_ARENA``: :attr:`MapSpec.initial_data
  <pybpf.objects.MapSpec.initial_data>`); a ``lddw`` of one becomes a
  reference into the arena's value (the arena's address plus the offset);
- ``license`` and ``version`` sections give the license and kernel version;
- ``.BTF`` and ``.BTF.ext`` are attached: per program, function and line
  information and CO-RE relocations, rebased to the program's layout.

Nothing here touches the kernel.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from ..btf import BTF, BTFExt, Datasec, Func, Var
from ..errors import BTFError, DecodeError, ObjectError
from ..isa import Insn, decode
from ..isa.insn import LDDW_OPCODE
from ..isa.opcodes import BPF_CALL, BPF_JMP
from ..objects import MapReference, MapSpec, ObjectSpec, ProgramSpec
from ..spec.defines import (
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
)
from ..spec.sections import lookup as lookup_section
from .externs import (
    KCONFIG_SECTION,
    KIND_KCONFIG,
    KIND_KFUNC,
    KIND_KSYM,
    KSYMS_SECTION,
    Extern,
    ExternReference,
)
from .maps import parse_btf_map, parse_legacy_maps
from .reader import (
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_64_ABS32,
    R_BPF_64_ABS64,
    R_BPF_64_NODYLD32,
    R_BPF_NONE,
    SHF_ALLOC,
    SHN_LORESERVE,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    STT_FUNC,
    STT_SECTION,
    ElfFile,
    Relocation,
    Section,
    Symbol,
)

_CALL = BPF_JMP | BPF_CALL
_LDDW = LDDW_OPCODE

_DATA_PREFIXES = (".data", ".rodata", ".bss")
ARENA_SECTION = ".addr_space.1"
"""Where the compiler puts ``__arena`` globals (address space 1)."""
_IGNORED_RELOCS = {R_BPF_NONE}
MAX_KCONFIG_SIZE = 1 << 20
"""Largest ``.kconfig`` map (all kconfig externs together)."""
LINKAGE_FUNC = 0
"""Linkage given to extern kfunc declarations in the BTF handed on."""


def _rdonly_prog() -> int:
    """Map flag BPF_F_RDONLY_PROG: programs may only read (``.rodata``, ``.kconfig``)."""
    from ..spec.layout import constant

    return constant("BPF_F_RDONLY_PROG")


def is_data_section(name: str) -> bool:
    """Whether a section of this name becomes a global-data map."""
    return any(name == p or name.startswith(p + ".") for p in _DATA_PREFIXES)


def load_object(source: str | os.PathLike | bytes | bytearray | memoryview, *,
                path: str | None = None) -> ObjectSpec:
    """Parse a BPF object file (a path or its bytes) into an
    :class:`~pybpf.objects.ObjectSpec`.

    Raises :class:`~pybpf.errors.ObjectError` for files that are truncated,
    corrupt or use something pybpf does not support.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ObjectError(f"cannot read: {e.strerror or e}", path=path) from None
    try:
        return _Loader(ElfFile(data, path=path)).load()
    except RecursionError:
        raise ObjectError("type information nests too deeply", path=path) from None


@dataclass
class _Function:
    """A function symbol's slice of a code section."""

    name: str
    section: Section
    start: int
    end: int
    symbol: Symbol | None
    insns: list[Insn]

    @property
    def key(self) -> tuple[int, int]:
        return (self.section.index, self.start)


@dataclass
class _Analysis:
    """What one function needs from the rest of the object."""

    insns: list[Insn]
    calls: list[tuple[int, _Function, int]] = field(default_factory=list)
    """(pc in function, callee, insn index in callee) for calls and func refs."""
    map_refs: list[tuple[int, str, bool, int]] = field(default_factory=list)
    extern_refs: list[tuple[int, str, str]] = field(default_factory=list)


class _Loader:
    def __init__(self, elf: ElfFile):
        self.elf = elf
        self.path = elf.path
        self.byteorder = elf.byteorder

    def error(self, message: str, *, section: str | None = None,
              offset: int | None = None) -> ObjectError:
        return ObjectError(message, section=section, offset=offset, path=self.path)

    # ------------------------------------------------------------------ main

    def load(self) -> ObjectSpec:
        elf = self.elf
        self.btf, self.ext = self._load_btf()
        self.license = self._license()
        self.kernel_version = self._version()
        self.maps: dict[str, MapSpec] = {}
        self.map_symbols: dict[tuple[int, int], str] = {}
        self.variables: dict[str, tuple[str, int, int, Any]] = {}
        self.externs: dict[str, Extern] = {}
        self.data_maps: dict[int, str] = {}
        self.functions = self._functions()
        self._btf_maps()
        self._legacy_maps()
        self._data_sections()
        self._arena_section()
        self._extern_symbols()
        if self.btf is not None:
            self.btf = self._fixed_btf()
            for ms in self.maps.values():
                self._rebind_types(ms)
            self.variables = {name: (m, off, size, self._rebind(t))
                              for name, (m, off, size, t) in self.variables.items()}
            for ext in self.externs.values():
                ext.type = self._rebind(ext.type)
        self._analyses: dict[tuple[int, int], _Analysis] = {}
        programs = self._programs()
        self._map_initial_values(programs)
        spec = ObjectSpec(programs=programs, maps=self.maps, btf=self.btf,
                          license=self.license, kernel_version=self.kernel_version,
                          variables=self.variables, path=elf.path)
        spec.externs = self.externs
        return spec

    # ------------------------------------------------------------------- BTF

    def _load_btf(self) -> tuple[BTF | None, BTFExt | None]:
        sec = self.elf.section(".BTF")
        if sec is None:
            return None, None
        try:
            btf = BTF.from_bytes(self.elf.data(sec), path=self.path)
            ext = None
            ext_sec = self.elf.section(".BTF.ext")
            if ext_sec is not None:
                ext = BTFExt.from_bytes(self.elf.data(ext_sec), btf, path=self.path)
        except BTFError:
            raise
        except (IndexError, KeyError, ValueError, struct.error, UnicodeDecodeError) as e:
            raise self.error(f"corrupt BTF ({type(e).__name__}: {e})", section=".BTF") from None
        return btf, ext

    def _btf_call(self, what: str, call, section: str | None = ".BTF"):
        """Run a query on the object's BTF; failures become ObjectErrors."""
        try:
            return call()
        except ObjectError:
            raise
        except (IndexError, KeyError, ValueError, TypeError, AttributeError,
                struct.error, UnicodeDecodeError) as e:
            raise self.error(f"{what}: corrupt BTF ({type(e).__name__}: {e})",
                             section=section) from None

    def _datasec(self, name: str) -> Datasec | None:
        if self.btf is None:
            return None
        t = self._btf_call(f"DATASEC {name}", lambda: self.btf.get_named(name, "datasec"))
        return t if isinstance(t, Datasec) else None

    def _datasec_vars(self, ds: Datasec) -> list[tuple[Var, int, int]]:
        return self._btf_call(f"DATASEC {ds.name}", lambda: self.btf.datasec_vars(ds))

    # --------------------------------------------------------- small sections

    def _license(self) -> str:
        sec = self.elf.section("license")
        if sec is None:
            return ""
        raw = self.elf.data(sec).split(b"\0", 1)[0]
        return raw.decode("utf-8", "replace")

    def _version(self) -> int:
        sec = self.elf.section("version")
        if sec is None:
            return 0
        data = self.elf.data(sec)
        if len(data) != 4:
            raise self.error(f"the version section has {len(data)} bytes, not 4",
                             section="version")
        return int.from_bytes(data, self.byteorder)

    # ------------------------------------------------------------- functions

    def _functions(self) -> dict[int, list[_Function]]:
        """Code sections -> their functions, sorted by start."""
        elf = self.elf
        by_section: dict[int, list[Symbol]] = {}
        for sym in elf.symbols:
            if sym.type == STT_FUNC and 0 < sym.shndx < SHN_LORESERVE:
                by_section.setdefault(sym.shndx, []).append(sym)
        out: dict[int, list[_Function]] = {}
        for sec in elf.sections:
            if not sec.is_code or sec.size == 0:
                continue
            try:
                insns = decode(elf.data(sec), self.byteorder)
            except DecodeError:
                raise self.error(f"code size {sec.size} is not a multiple of 8",
                                 section=sec.name) from None
            syms = sorted(by_section.get(sec.index, []), key=lambda s: s.value)
            funcs: list[_Function] = []
            if not syms:
                name = re.sub(r"\W", "_", sec.name).strip("_") or "prog"
                funcs.append(_Function(name, sec, 0, len(insns), None, insns))
            for i, sym in enumerate(syms):
                if sym.value % 8:
                    raise self.error(f"function {sym.name!r} starts at byte {sym.value}, not "
                                     f"on an instruction", section=sec.name, offset=sym.value)
                start = sym.value // 8
                end = start + sym.size // 8 if sym.size else (
                    syms[i + 1].value // 8 if i + 1 < len(syms) else len(insns))
                if sym.size % 8 or start >= len(insns) or end > len(insns) or end <= start:
                    raise self.error(f"function {sym.name!r} ({sym.size} bytes at {sym.value}) "
                                     f"does not fit its section ({sec.size} bytes)",
                                     section=sec.name, offset=sym.value)
                if funcs and start < funcs[-1].end:
                    if start == funcs[-1].start:
                        continue  # an alias of the previous function
                    raise self.error(f"function {sym.name!r} overlaps {funcs[-1].name!r}",
                                     section=sec.name, offset=sym.value)
                funcs.append(_Function(sym.name, sec, start, end, sym, insns))
            out[sec.index] = funcs
        return out

    def _function_at(self, section: Section, index: int, where: str) -> _Function:
        funcs = self.functions.get(section.index)
        if not funcs:
            raise self.error(f"{where}: target section {section.name!r} holds no code",
                             section=section.name)
        starts = [f.start for f in funcs]
        k = bisect.bisect_right(starts, index) - 1
        if k < 0 or not funcs[k].start <= index < funcs[k].end:
            raise self.error(f"{where}: instruction {index} of {section.name!r} is in no "
                             f"function", section=section.name, offset=index * 8)
        return funcs[k]

    # ------------------------------------------------------------------ maps

    def _add_map(self, spec: MapSpec) -> None:
        if spec.name in self.maps:
            raise self.error(f"two maps are called {spec.name!r}")
        self.maps[spec.name] = spec

    def _btf_maps(self) -> None:
        sec = self.elf.section(".maps")
        if sec is None:
            return
        if self.btf is None:
            raise self.error("BTF-defined maps need the object's BTF (compile with -g)",
                             section=".maps")
        ds = self._datasec(".maps")
        if ds is None:
            raise self.error("the BTF has no DATASEC for .maps", section=".maps")
        offsets = self._symbol_offsets(sec)
        self.btf_map_defs = {}
        for var, ds_offset, _size in self._datasec_vars(ds):
            offset = offsets.get(var.name, ds_offset)

            def parse(var=var):
                return parse_btf_map(self.btf, var.name, var.type_id,
                                     error=lambda m: self.error(m, section=".maps"))

            mdef = self._btf_call(f"map {var.name!r}", parse, ".maps")
            self._add_map(mdef.spec)
            self.map_symbols[(sec.index, offset)] = var.name
            self.btf_map_defs[var.name] = (mdef, offset)

    def _symbol_offsets(self, sec: Section) -> dict[str, int]:
        return {s.name: s.value for s in self.elf.symbols
                if s.shndx == sec.index and s.type != STT_SECTION and s.name}

    def _legacy_maps(self) -> None:
        sec = self.elf.section("maps")
        if sec is None:
            return
        syms = [(s.name, s.value) for s in self.elf.symbols
                if s.shndx == sec.index and s.type != STT_SECTION and s.name]
        for spec, offset in parse_legacy_maps(self.elf.data(sec), syms, self.byteorder,
                                              error=lambda m: self.error(m, section="maps")):
            self._add_map(spec)
            self.map_symbols[(sec.index, offset)] = spec.name

    def _data_sections(self) -> None:
        for sec in self.elf.sections:
            if not (is_data_section(sec.name) and sec.flags & SHF_ALLOC
                    and sec.type in (SHT_PROGBITS, SHT_NOBITS)) or sec.is_code:
                continue
            if sec.size == 0:
                continue
            if sec.size > (1 << 30):
                raise self.error(f"implausible size {sec.size}", section=sec.name)
            readonly = sec.name == ".rodata" or sec.name.startswith(".rodata.")
            ds = self._datasec(sec.name)
            contents = [] if sec.type == SHT_NOBITS else [(0, self.elf.data(sec))]
            spec = MapSpec(name=sec.name, type="array", key_size=4, value_size=sec.size,
                           max_entries=1, flags=_rdonly_prog() if readonly else 0,
                           value_type=ds, btf=self.btf, contents=contents,
                           section=sec.name, freeze=readonly)
            self._add_map(spec)
            self.data_maps[sec.index] = sec.name
            self._variables(sec, ds)

    def _variables(self, sec: Section, ds: Datasec | None, map_name: str | None = None
                   ) -> None:
        """Record the globals of data section ``sec`` as variables of map
        ``map_name`` (the section's own map by default)."""
        map_name = map_name or sec.name
        for s in self.elf.symbols:
            if (s.shndx == sec.index and s.type != STT_SECTION and s.name and s.size
                    and s.value + s.size <= sec.size):
                self.variables[s.name] = (map_name, s.value, s.size, None)
        if ds is None:
            return
        for var, offset, size in self._datasec_vars(ds):
            known = self.variables.get(var.name)
            if known is not None and known[0] == map_name:
                offset, size = known[1], known[2]
            if offset + size > sec.size:
                raise self.error(f"variable {var.name!r} ({size} bytes at {offset}) lies "
                                 f"outside its section ({sec.size} bytes)", section=sec.name)
            self.variables[var.name] = (map_name, offset, size, self.btf[var.type_id])

    def _arena_section(self) -> None:
        """``__arena`` globals: the start of the object's arena map."""
        sec = self.elf.section(ARENA_SECTION)
        if sec is None or not sec.size or sec.is_code:
            return
        arenas = [m for m in self.maps.values() if m.type == "arena"]
        if len(arenas) != 1:
            raise self.error(
                "__arena globals need exactly one arena map (BPF_MAP_TYPE_ARENA) declared in "
                f'SEC(".maps"); the object has {len(arenas) or "none"}'
                + (f" ({', '.join(m.name for m in arenas)})" if arenas else ""),
                section=ARENA_SECTION)
        arena = arenas[0]
        from ..spec.defines import PAGE_SIZE

        if sec.size > arena.max_entries * PAGE_SIZE:
            raise self.error(f"arena map {arena.name!r} has {arena.max_entries} pages, too "
                             f"small for {sec.size} bytes of __arena globals",
                             section=ARENA_SECTION)
        arena.initial_data = b"" if sec.type == SHT_NOBITS else self.elf.data(sec)
        self.data_maps[sec.index] = arena.name
        self._variables(sec, self._datasec(ARENA_SECTION), arena.name)

    # --------------------------------------------------------------- externs

    def _extern_symbols(self) -> None:
        """Classify undefined symbols as kconfig, ksym or kfunc externs and
        lay the kconfig ones out in the ``.kconfig`` map."""
        declared: dict[str, tuple[str, int, Any]] = {}
        for sec_name in (KCONFIG_SECTION, KSYMS_SECTION):
            ds = self._datasec(sec_name)
            if ds is None:
                continue
            for v in ds.vars:
                t = self._btf_call("extern", lambda v=v: self.btf[v.type_id])
                if isinstance(t, (Var, Func)):
                    declared[t.name] = (sec_name, v.type_id, t)
        kconfig: list[Extern] = []
        for sym in self.elf.symbols:
            if sym.shndx != SHN_UNDEF or not sym.name or sym.index == 0:
                continue
            if sym.name in self.externs:
                continue
            where, type_id, t = declared.get(sym.name, (None, 0, None))
            if where == KCONFIG_SECTION or (where is None and sym.name.startswith(
                    ("CONFIG_", "LINUX_"))):
                if t is None:
                    raise self.error(f"kconfig extern {sym.name!r} needs BTF (compile with -g)")
                vt = t.type_id
                size = self._btf_call(f"extern {sym.name!r}", lambda vt=vt: self.btf.size_of(vt))
                align = self._btf_call(f"extern {sym.name!r}",
                                       lambda vt=vt: self.btf.align_of(vt))
                ext = Extern(sym.name, KIND_KCONFIG, sym.is_weak, self.btf[vt], type_id,
                             size=size)
                ext.offset = max(1, align)  # placeholder: alignment, laid out below
                kconfig.append(ext)
            else:
                is_func = isinstance(t, Func) or sym.type == STT_FUNC
                kind = KIND_KFUNC if is_func else KIND_KSYM
                typ = t if is_func or t is None else self.btf[t.type_id]
                self.externs[sym.name] = Extern(sym.name, kind, sym.is_weak, typ, type_id)
        if not kconfig:
            return
        offset = 0
        for ext in kconfig:
            align = ext.offset
            offset = (offset + align - 1) // align * align
            ext.offset = offset
            offset += ext.size
            self.externs[ext.name] = ext
        total = (offset + 7) // 8 * 8
        if total > MAX_KCONFIG_SIZE:
            raise self.error(f"kconfig externs take {total} bytes, more than the "
                             f"{MAX_KCONFIG_SIZE} pybpf allows", section=KCONFIG_SECTION)
        self._add_map(MapSpec(name=KCONFIG_SECTION, type="array", key_size=4,
                              value_size=total, max_entries=1, flags=_rdonly_prog(),
                              value_type=self._datasec(KCONFIG_SECTION), btf=self.btf,
                              contents=[(0, bytes(total))], section=KCONFIG_SECTION,
                              freeze=True))
        for ext in kconfig:
            self.variables[ext.name] = (KCONFIG_SECTION, ext.offset, ext.size, ext.type)

    # ------------------------------------------------------------ BTF fix-up

    def _fixed_btf(self) -> BTF:
        """The object's BTF with DATASEC sizes and variable offsets filled in
        from the ELF sections and symbols (the compiler leaves them to the
        linker), and extern variables placed where the ``.kconfig`` map
        holds them — BTF the kernel accepts and loaders can rely on."""
        btf = self.btf
        assert btf is not None
        sections = {s.name: s for s in self.elf.sections[1:]}
        changes: dict[int, Any] = {}
        extra: list[Any] = []
        for t in self._btf_call("DATASECs", lambda: [d for d in btf.own_types()
                                                      if isinstance(d, Datasec)]):
            if t.name in (KCONFIG_SECTION, KSYMS_SECTION):
                self._fix_extern_datasec(t, changes, extra)
                continue
            sec = sections.get(t.name)
            if sec is None:
                continue
            offsets = self._symbol_offsets(sec)
            new_vars = []
            for v in t.vars:
                var = self._btf_call("DATASEC", lambda v=v: btf[v.type_id])
                off = offsets.get(getattr(var, "name", ""), v.offset)
                new_vars.append(v._replace(offset=off))
            new_vars.sort(key=lambda v: v.offset)  # the kernel wants them in order
            fixed = Datasec(t.name, sec.size, tuple(new_vars), id=t.id)
            if fixed != t:
                changes[t.id] = fixed
        if not changes and not extra:
            return btf
        from ..btf import BTFBuilder

        def build() -> BTF:
            b = BTFBuilder(base=btf.base, byteorder=btf.byteorder)
            for t in btf.own_types():
                b.add(changes.get(t.id, t))
            for t in extra:
                b.add(t)
            return BTF.from_bytes(b.to_bytes(), base=btf.base, path=self.path)

        return self._btf_call("rewriting DATASECs", build)

    def _fix_extern_datasec(self, t: Datasec, changes: dict[int, Any], extra: list) -> None:
        """Make a ``.kconfig``/``.ksyms`` DATASEC acceptable to the kernel:
        extern VARs become allocated globals at their ``.kconfig`` offsets;
        kfunc entries and typeless ksyms (``const void``) point at a dummy
        ``int`` variable, and extern FUNCs become static with named
        parameters (kfuncs are resolved by name, so the declarations stay)."""
        btf = self.btf
        assert btf is not None
        new_vars = []
        offset = 0
        dummy: list[int] = []

        def dummy_var() -> int:
            if not dummy:
                from ..btf import INT_SIGNED, Int

                int_id = len(btf) + len(extra)
                extra.append(Int("int", 4, INT_SIGNED, 0, 32))
                extra.append(Var("__pybpf_dummy_ksym", int_id, 1))
                dummy.append(int_id + 1)
            return dummy[0]

        for v in t.vars:
            ref = btf[v.type_id]
            ext = self.externs.get(getattr(ref, "name", ""))
            if isinstance(ref, Var):
                size = self._size_or_zero(ref.type_id)
                if ext is not None and ext.kind == KIND_KCONFIG:
                    changes[ref.id] = Var(ref.name, ref.type_id, 1, id=ref.id)
                    new_vars.append(v._replace(offset=ext.offset, size=ext.size))
                    continue
                if size:
                    changes[ref.id] = Var(ref.name, ref.type_id, 1, id=ref.id)
                    new_vars.append(v._replace(offset=offset, size=size))
                else:  # extern const void sym __ksym: no type to describe
                    changes[ref.id] = Var(ref.name, dummy_var() - 1, 1, id=ref.id)
                    size = 4
                    new_vars.append(v._replace(offset=offset, size=size))
                offset += size
            else:
                if isinstance(ref, Func) and ref.linkage == 2:
                    proto_id = self._named_proto(ref.type_id, extra)
                    changes[ref.id] = Func(ref.name, proto_id, LINKAGE_FUNC, id=ref.id)
                new_vars.append(v._replace(type_id=dummy_var(), offset=offset, size=4))
                offset += 4
        if t.name == KCONFIG_SECTION:
            kmap = self.maps.get(KCONFIG_SECTION)
            size = kmap.value_size if kmap is not None else offset
        else:
            size = offset
        new_vars.sort(key=lambda v: v.offset)
        changes[t.id] = Datasec(t.name, max(size, 1), tuple(new_vars), id=t.id)

    def _size_or_zero(self, type_id: int) -> int:
        try:
            return self.btf.size_of(type_id)
        except BTFError:
            return 0

    def _named_proto(self, proto_id: int, extra: list) -> int:
        """``proto_id``, or a copy appended to ``extra`` whose unnamed
        parameters are called ``argN``."""
        from ..btf import FuncProto, Param

        proto = self.btf[proto_id]
        if not isinstance(proto, FuncProto) or all(p.name or not p.type_id
                                                    for p in proto.params):
            return proto_id
        params = tuple(Param(p.name or (f"arg{i}" if p.type_id else ""), p.type_id)
                       for i, p in enumerate(proto.params))
        extra.append(FuncProto(proto.return_type_id, params))
        return len(self.btf) + len(extra) - 1

    def _rebind(self, t: Any) -> Any:
        if t is None or self.btf is None:
            return t
        tid = getattr(t, "id", 0)
        return self.btf[tid] if tid else t

    def _rebind_types(self, ms: MapSpec) -> None:
        ms.btf = self.btf
        ms.key_type = self._rebind(ms.key_type)
        ms.value_type = self._rebind(ms.value_type)
        if ms.inner is not None:
            self._rebind_types(ms.inner)

    # -------------------------------------------------------------- programs

    def _programs(self) -> dict[str, ProgramSpec]:
        programs: dict[str, ProgramSpec] = {}
        entries = [f for funcs in self.functions.values() for f in funcs
                   if f.section.name != ".text"]
        for f in entries:
            if f.name in programs:
                raise self.error(f"two programs are called {f.name!r}", section=f.section.name)
            programs[f.name] = self._program(f)
        return programs

    def _analyze(self, f: _Function) -> _Analysis:
        found = self._analyses.get(f.key)
        if found is not None:
            return found
        sec = f.section
        relocs: dict[int, Relocation] = {}
        for r in self._section_relocs(sec):
            if r.type in _IGNORED_RELOCS:
                continue
            if r.offset % 8:
                raise self.error(f"{r.type_name} at byte {r.offset} is not on an instruction",
                                 section=sec.name, offset=r.offset)
            relocs[r.offset // 8] = r
        insns = list(f.insns[f.start:f.end])
        a = _Analysis(insns)
        for i, insn in enumerate(insns):
            index = f.start + i
            r = relocs.get(index)
            where = f"{f.name} insn {i}"
            if insn.opcode == _CALL:
                if r is not None:
                    self._call_reloc(a, f, i, insn, r, where)
                elif insn.src == BPF_PSEUDO_CALL:
                    target = index + insn.imm + 1
                    callee = self._function_at(sec, target, where)
                    a.calls.append((i, callee, target - callee.start))
            elif insn.opcode == _LDDW and r is not None:
                if i + 1 >= len(insns):
                    raise self.error(f"{where}: lddw without its second slot",
                                     section=sec.name, offset=index * 8)
                self._lddw_reloc(a, f, i, insn, r, where)
            elif r is not None:
                raise self.error(f"{where}: {r.type_name} against {r.symbol.name or 'a section'}"
                                 f" on an instruction that takes no relocation ({insn})",
                                 section=sec.name, offset=index * 8)
        self._analyses[f.key] = a
        return a

    def _section_relocs(self, sec: Section) -> list[Relocation]:
        cache = self.__dict__.setdefault("_reloc_cache", {})
        found = cache.get(sec.index)
        if found is None:
            found = cache[sec.index] = self.elf.relocations(sec)
        return found

    def _call_reloc(self, a: _Analysis, f: _Function, i: int, insn: Insn, r: Relocation,
                    where: str) -> None:
        sym = r.symbol
        if r.type not in (R_BPF_64_32, R_BPF_64_NODYLD32):
            raise self.error(f"{where}: call with unexpected {r.type_name}",
                             section=f.section.name, offset=(f.start + i) * 8)
        if sym.shndx == SHN_UNDEF:
            ext = self.externs.get(sym.name)
            if ext is None or ext.kind != KIND_KFUNC:
                ext = self.externs.setdefault(sym.name, Extern(sym.name, KIND_KFUNC,
                                                               sym.is_weak))
                ext.kind = KIND_KFUNC
            a.insns[i] = insn._replace(src=BPF_PSEUDO_KFUNC_CALL, imm=0)
            a.extern_refs.append((i, sym.name, KIND_KFUNC))
            return
        target_sec = self._symbol_section(sym, where)
        if not target_sec.is_code:
            raise self.error(f"{where}: call into non-code section {target_sec.name!r}",
                             section=f.section.name, offset=(f.start + i) * 8)
        if sym.value % 8:
            raise self.error(f"{where}: call target {sym.name!r} is not on an instruction",
                             section=f.section.name)
        target = sym.value // 8 + insn.imm + 1
        callee = self._function_at(target_sec, target, where)
        a.insns[i] = insn._replace(src=BPF_PSEUDO_CALL)
        a.calls.append((i, callee, target - callee.start))

    def _symbol_section(self, sym: Symbol, where: str) -> Section:
        if sym.shndx >= SHN_LORESERVE:
            raise self.error(f"{where}: relocation against symbol {sym.name!r} with special "
                             f"section index {sym.shndx:#x}")
        return self.elf.section_at(sym.shndx)

    def _lddw_reloc(self, a: _Analysis, f: _Function, i: int, insn: Insn, r: Relocation,
                    where: str) -> None:
        sym = r.symbol
        pos = (f.start + i) * 8
        if r.type != R_BPF_64_64:
            raise self.error(f"{where}: lddw with unexpected {r.type_name}",
                             section=f.section.name, offset=pos)
        if sym.shndx == SHN_UNDEF:
            ext = self.externs.get(sym.name)
            if ext is None:
                raise self.error(f"{where}: lddw of undefined symbol {sym.name!r} that is "
                                 f"neither a __kconfig nor a __ksym extern",
                                 section=f.section.name, offset=pos)
            if ext.kind == KIND_KCONFIG:
                a.map_refs.append((i, KCONFIG_SECTION, True, ext.offset + insn.imm))
            else:
                a.insns[i] = insn._replace(src=BPF_PSEUDO_BTF_ID, imm=0)
                a.extern_refs.append((i, sym.name, ext.kind))
            return
        target_sec = self._symbol_section(sym, where)
        offset = sym.value + insn.imm
        if target_sec.is_code:
            if offset % 8:
                raise self.error(f"{where}: function address {offset} is not on an instruction",
                                 section=f.section.name, offset=pos)
            callee = self._function_at(target_sec, offset // 8, where)
            a.insns[i] = insn._replace(src=BPF_PSEUDO_FUNC)
            a.insns[i + 1] = a.insns[i + 1]._replace(imm=0)
            a.calls.append((i, callee, offset // 8 - callee.start))
            return
        name = self.map_symbols.get((target_sec.index, offset))
        if name is not None:
            a.map_refs.append((i, name, False, 0))
            return
        if target_sec.index in self.data_maps:
            if not 0 <= offset <= target_sec.size:
                raise self.error(f"{where}: offset {offset} lies outside "
                                 f"{target_sec.name} ({target_sec.size} bytes)",
                                 section=f.section.name, offset=pos)
            a.map_refs.append((i, self.data_maps[target_sec.index], True, offset))
            return
        if target_sec.name in (".maps", "maps"):
            raise self.error(f"{where}: lddw of {target_sec.name} offset {offset}, where no "
                             f"map starts", section=f.section.name, offset=pos)
        raise self.error(f"{where}: lddw relocated against {sym.name or 'a symbol'} in "
                         f"section {target_sec.name!r}, which is not a map, global data or "
                         f"code", section=f.section.name, offset=pos)

    def _program(self, entry: _Function) -> ProgramSpec:
        order = [entry]
        placed = {entry.key: 0}
        total = entry.end - entry.start
        k = 0
        while k < len(order):
            for _i, callee, _off in self._analyze(order[k]).calls:
                if callee.key not in placed:
                    placed[callee.key] = total
                    total += callee.end - callee.start
                    order.append(callee)
            k += 1
        insns: list[Insn] = []
        map_refs: list[MapReference] = []
        extern_refs: list[ExternReference] = []
        func_info: list[Any] = []
        line_info: list[Any] = []
        core: list[Any] = []
        for f in order:
            a = self._analyze(f)
            base = placed[f.key]
            body = list(a.insns)
            for i, callee, off in a.calls:
                rel = placed[callee.key] + off - (base + i) - 1
                if not -(1 << 31) <= rel < (1 << 31):
                    raise self.error(f"{f.name}: call offset {rel} does not fit")
                body[i] = body[i]._replace(imm=rel)
            insns.extend(body)
            map_refs.extend(MapReference(base + i, m, value, off)
                            for i, m, value, off in a.map_refs)
            extern_refs.extend(ExternReference(base + i, n, kind)
                               for i, n, kind in a.extern_refs)
            if self.ext is not None:
                self._rebase_ext(f, base, func_info, line_info, core)
        section = entry.section.name
        optional = section.startswith("?")  # SEC("?xdp"): xdp, not loaded unless asked
        section = section.removeprefix("?")
        info = lookup_section(section)
        prog_type, attach_type, attach_to, flags = (info[:4] if info is not None
                                                    else ("unspec", None, None, 0))
        sleepable = bool(info is not None and info.sleepable)
        from ..spec.defines import BPF_F_SLEEPABLE

        spec = ProgramSpec(
            name=entry.name, instructions=insns, type=prog_type, section=section,
            attach_type=attach_type, attach_to=attach_to, license=self.license,
            kernel_version=self.kernel_version, flags=flags & ~BPF_F_SLEEPABLE,
            map_references=map_refs, btf=self.btf,
            func_info=sorted(func_info, key=lambda r: r.insn_off),
            line_info=sorted(line_info, key=lambda r: r.insn_off),
            core_relocations=sorted(core, key=lambda r: r.insn_off), sleepable=sleepable,
            autoload=not optional and prog_type != "struct_ops")
        spec.extern_references = extern_refs
        return spec

    def _rebase_ext(self, f: _Function, base: int, func_info: list, line_info: list,
                    core: list) -> None:
        ext = self.ext
        assert ext is not None
        lo, hi = f.start * 8, f.end * 8
        shift = base * 8 - lo
        name = f.section.name
        for records, out in ((ext.func_info.get(name, ()), func_info),
                             (ext.line_info.get(name, ()), line_info),
                             (ext.core_relos.get(name, ()), core)):
            out.extend(r._replace(insn_off=r.insn_off + shift) for r in records
                       if lo <= r.insn_off < hi)

    # ------------------------------------------------- .maps initial values

    def _map_initial_values(self, programs: dict[str, ProgramSpec]) -> None:
        """Fill ``values`` of maps of maps and program arrays from the
        relocations of ``.maps``."""
        sec = self.elf.section(".maps")
        defs = getattr(self, "btf_map_defs", {})
        if sec is None or not defs:
            return
        spans = sorted((off, name) for name, (_d, off) in defs.items())
        starts = [s for s, _ in spans]
        for r in self.elf.relocations(sec):
            if r.type in _IGNORED_RELOCS:
                continue
            if r.type not in (R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_64):
                raise self.error(f"unexpected {r.type_name} in .maps", section=".maps",
                                 offset=r.offset)
            k = bisect.bisect_right(starts, r.offset) - 1
            if k < 0:
                raise self.error("relocation before the first map", section=".maps",
                                 offset=r.offset)
            start, name = spans[k]
            mdef, _ = defs[name]
            if mdef.values_offset is None:
                raise self.error(f"map {name!r}: initial value for a map without 'values'",
                                 section=".maps", offset=r.offset)
            rel = r.offset - start - mdef.values_offset
            if rel < 0 or rel % 8:
                raise self.error(f"map {name!r}: relocation does not land on a 'values' slot",
                                 section=".maps", offset=r.offset)
            index = rel // 8
            sym = r.symbol
            if mdef.values_kind == "progs":
                if sym.type != STT_FUNC or sym.name not in programs:
                    raise self.error(f"map {name!r}: slot {index} names {sym.name!r}, which "
                                     f"is not a program of this object", section=".maps")
                value = sym.name
            else:
                value = self.map_symbols.get((sym.shndx, sym.value))
                if value is None:
                    raise self.error(f"map {name!r}: slot {index} names {sym.name!r}, which "
                                     f"is not a map of this object", section=".maps")
            mdef.spec.contents.append((index, value))
            if mdef.spec.max_entries and index >= mdef.spec.max_entries:
                raise self.error(f"map {name!r}: initial value at index {index} is beyond "
                                 f"max_entries {mdef.spec.max_entries}", section=".maps")


__all__ = ["is_data_section", "load_object"]
