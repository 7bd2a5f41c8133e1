"""The link step: an :class:`~pybpf.objects.ObjectSpec` turned into the
instructions a backend loads.

Both backends — the userspace VM (:func:`pybpf.vm.load`) and the kernel
(:func:`pybpf.kernel.load`, and the kernel's prepared cache) — load what
:func:`link` returns, so every decision about a program's final
instructions is taken here, once:

* **map references** stay symbolic: each ``lddw`` that loads a map (from a
  :class:`~pybpf.objects.MapReference` or a ``map[idx:N]`` pseudo load) is
  rewritten to ``src`` ``PSEUDO_MAP_FD`` (the map) or ``PSEUDO_MAP_VALUE``
  (an address in its value; the offset in the second slot) with ``imm`` 0,
  and recorded as a :class:`MapRef` (map name, value or pointer, offset).
  The backend's only remaining step is "map reference -> VM address or
  kernel fd" (:meth:`LinkedProgram.with_map_values`,
  :meth:`~LinkedProgram.bytecode`).
* **externs** — ksyms, kfuncs and ``__kconfig`` values — are answered by a
  :class:`SymbolResolver` the caller passes in: the kernel backend's looks
  in vmlinux BTF, ``/proc/kallsyms`` and the kernel configuration;
  :class:`NoKernel` (the VM's) knows no kernel symbol.  A kfunc's declared
  prototype is checked against the kernel's BTF (number of arguments, a
  pointer where the kernel takes an integer...), and a 64-bit load of a
  kfunc's address (``bpf_ksym_exists``) gets src ``PSEUDO_BTF_ID`` and the
  FUNC's id.  A weak extern that is not found (or a weak kfunc of another
  shape) reads as 0 (a kfunc call becomes ``r0 = 0``); a strong one is a
  :class:`~pybpf.errors.LoadError` naming program, instruction and extern.
* **CO-RE** relocations are applied against a target BTF the caller gives
  (loaded only when some program has relocations); one that cannot be
  processed is a :class:`~pybpf.errors.CoreRelocationError`, one that finds
  no match is poisoned, as libbpf does, and recorded in
  :attr:`LinkedProgram.core_poisons <pybpf.linked.LinkedProgram.core_poisons>`
  (kind, type, access string, why) so that a backend whose verifier reaches
  the poisoned instruction can name the relocation.
* **autoload**: programs whose ``autoload`` is off are left out (and their
  ``prog_array`` slots with them); with ``skip_failed`` a program that
  cannot be linked is left out too, its error in ``LinkedObject.failed``.
* the **attach BTF id** of tracing and LSM programs comes from the resolver.
* the **fill order** of maps: plain maps and ``.rodata`` are filled (and
  frozen) before programs load, so the verifier sees constants; maps of
  maps after the maps they hold; program arrays after the programs.

The output, a :class:`~pybpf.linked.LinkedObject` of
:class:`~pybpf.linked.LinkedProgram` and :class:`~pybpf.linked.LinkedMap`
objects (module :mod:`pybpf.linked`, re-exported here), is plain data:
:meth:`~pybpf.linked.LinkedObject.to_data` gives ints, strings, bytes,
lists and dicts that :mod:`marshal` stores (the kernel's prepared cache
keeps exactly that, and loads it back without this module).

How references travel with instructions
---------------------------------------
A :class:`LinkedProgram` keeps its instruction slots as an immutable tuple
of plain :class:`~pybpf.isa.Insn` and its map references in a table keyed
by pc, beside func_info and line_info keyed the same way.  The only way to
insert or remove instructions is :meth:`LinkedProgram.splice`, which takes
a batch of edits and, in one pass, moves the references, func/line info and
every pc-relative offset (jumps, ``gotol``, bpf-to-bpf calls, ``lddw``
of a subprogram) together.  The alternative — metadata carried on each
instruction, as cilium/ebpf's ``asm.Instruction`` does — was not taken:

* the next layers read far more than they rewrite.  A verifier records
  facts per pc and asks "what map does pc N load?" (a dict lookup); a JIT
  translates slot by slot, 1:1, and needs the same lookup; the interpreter
  and the encoder want bare ``Insn`` tuples.  With metadata on the
  instructions every reader would unwrap 1M objects, and every ``Insn``
  built by the assembler, decoder and CO-RE code would need a wider type.
* a table is cheap where it matters: a 1M-slot program with a few thousand
  map loads costs a tuple and a small dict, and serialises as bytes plus a
  short list (what the prepared cache stores).
* rewrites stay safe without per-instruction identity: the kernel's own
  verifier patches programs the same way (replace one instruction by a
  sequence, then fix jumps, line info and aux data in one place), and
  :meth:`~LinkedProgram.splice` is that one place here, batched so that a
  pass patching many sites costs one pass over the program (slices for
  the unchanged runs, a table lookup per slot, work per branch) rather
  than one per site.

This module imports only :mod:`pybpf.isa`, :mod:`pybpf.spec`,
:mod:`pybpf.btf`, :mod:`pybpf.objects`, :mod:`pybpf.linked` and
:mod:`pybpf.errors`: it sits below both backends.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import BPFError, CoreRelocationError, LoadError
from .isa import Insn, s32
from .isa.insn import LDDW_OPCODE
from .isa.opcodes import (
    BPF_ALU64,
    BPF_CALL,
    BPF_JMP,
    BPF_K,
    BPF_MOV,
    PSEUDO_BTF_ID,
    PSEUDO_CALL_KFUNC,
    PSEUDO_IMM,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
)
from .linked import (
    DATA_FORMAT,
    MAP_OF_MAPS,
    PROG_ARRAY,
    CorePoison,
    Edit,
    LinkedMap,
    LinkedObject,
    LinkedProgram,
    MapRef,
)

if TYPE_CHECKING:  # pybpf.objects is imported where a spec is linked (start-up time)
    from .objects import Extern, ObjectSpec, ProgramSpec

_MOV64_IMM = BPF_ALU64 | BPF_MOV | BPF_K
_CALL = BPF_JMP | BPF_CALL


# --- what the target knows ---------------------------------------------------------------

class SymbolResolver(Protocol):
    """What the link step asks the target about kernel symbols.

    ``describe`` names the target in errors (``"this kernel"``);
    ``has_kernel_btf`` says whether attach targets of tracing programs can
    be looked up (when False they stay 0: nothing attaches by BTF id).
    Each lookup returns None for "not there".
    """

    describe: str
    has_kernel_btf: bool

    def kernel_btf_id(self, name: str, kind: str | None = None) -> int | None:
        """The kernel BTF id of ``name`` (of BTF kind ``kind`` — ``FUNC``,
        ``VAR``... — or of any kind)."""
        ...

    def kernel_symbol_address(self, name: str) -> int | None:
        """The address of kernel symbol ``name``."""
        ...

    def kconfig(self, extern: Extern, btf: Any) -> bytes | None:
        """The bytes of ``__kconfig`` extern ``extern`` (``btf`` is the
        object's, which types it)."""
        ...

    def kernel_btf(self) -> Any:
        """The target kernel's BTF (a :class:`pybpf.btf.BTF`) that kfunc
        prototypes are checked against; None when there is none.  (Optional:
        a resolver without it gets no prototype checks.)"""
        ...


class NoKernel:
    """A target without kernel symbols (the userspace VM): no BTF ids, no
    addresses, no kernel configuration."""

    has_kernel_btf = False

    def __init__(self, describe: str = "the userspace VM"):
        self.describe = describe

    def kernel_btf_id(self, name: str, kind: str | None = None) -> int | None:
        """None: there is no kernel BTF."""
        return None

    def kernel_symbol_address(self, name: str) -> int | None:
        """None: there are no kernel symbols."""
        return None

    def kconfig(self, extern: Extern, btf: Any) -> bytes | None:
        """None: there is no kernel configuration."""
        return None

    def kernel_btf(self) -> Any:
        """None: there is no kernel BTF."""
        return None


# --- linking -------------------------------------------------------------------------------

def link(spec: ObjectSpec, resolver: SymbolResolver | None = None, *,
         core_target: Any = None, debug_info: bool = True,
         skip_failed: bool = False) -> LinkedObject:
    """Link ``spec``: its programs' final instructions, map loads symbolic
    (see the module documentation).  Programs whose ``autoload`` is off are
    left out; with ``skip_failed`` a program that cannot be linked is left
    out too, its error kept in :attr:`LinkedObject.failed` (by name).

    ``resolver`` answers for kernel symbols and configuration (default:
    :class:`NoKernel`); ``core_target`` is the BTF CO-RE relocations are
    resolved against — a :class:`pybpf.btf.BTF`, several, or a function
    returning them, called only when a program has relocations (default:
    the running kernel's vmlinux BTF).  Without ``debug_info`` the linked
    programs carry no func_info or line_info and the object's BTF is left
    as it is (a backend that does not use them saves the work).

    Raises :class:`~pybpf.errors.LoadError` (and
    :class:`~pybpf.errors.CoreRelocationError`) naming object, program and
    instruction.
    """
    return _Linker(spec, resolver or NoKernel(), core_target, debug_info, skip_failed).run()


_WITH_STRINGS: weakref.WeakKeyDictionary[Any, dict[frozenset[str], tuple[Any, dict[str, int]]]] \
    = weakref.WeakKeyDictionary()
"""BTFs extended with line_info strings, by the BTF they extend (BTFs do not
change once built, so an object linked again reuses the work).  A BTF that
needed nothing added is recorded as None: a value must not hold its key."""


def btf_with_strings(btf: Any, strings: Iterable[str]) -> tuple[Any, dict[str, int]]:
    """``btf`` (a :class:`pybpf.btf.BTF`), or a copy of it with the same
    type ids, holding every string of ``strings``, and the offset of each
    of its strings.  Line info points into the string section, which a BTF
    rebuilt from its types alone no longer carries."""
    wanted = frozenset(strings)
    known = _WITH_STRINGS.setdefault(btf, {})
    found = known.get(wanted)
    if found is None:
        have = {text: off for off, text in btf.strings()}
        missing = sorted(wanted - have.keys())
        final = None
        if missing:
            from .btf import BTFBuilder

            b = BTFBuilder.from_btf(btf)
            for text in missing:
                b.add_string(text)
            final = b.build()
            have = {text: off for off, text in final.strings()}
        found = known[wanted] = (final, have)
    final, have = found
    return (final if final is not None else btf), have


class _Linker:
    def __init__(self, spec: ObjectSpec, resolver: SymbolResolver, core_target: Any,
                 debug_info: bool = True, skip_failed: bool = False):
        self.spec = spec
        self.skip_failed = skip_failed
        self.resolver = resolver
        self.core_target = core_target
        self.debug_info = debug_info
        self.path = str(spec.path) if spec.path else None
        self.boot_dependent = False
        self.map_names = list(spec.maps)
        self._target: Any = None
        self._core: dict[int, Any] = {}

    def error(self, message: str, ps: ProgramSpec | None = None, pc: int | None = None,
              insns: Sequence[Insn] | None = None) -> LoadError:
        insn = insns[pc] if insns is not None and pc is not None and 0 <= pc < len(insns) \
            else None
        return LoadError(message, program=ps.name if ps is not None else None, pc=pc,
                         insn=insn, path=self.path,
                         section=ps.section if ps is not None else None)

    def run(self) -> LinkedObject:
        spec = self.spec
        maps = {name: LinkedMap.from_spec(ms) for name, ms in spec.maps.items()}
        self._kconfig(maps)
        final_btf, line_offsets = self._btf()
        programs = {}
        failed: dict[str, BPFError] = {}
        for name, ps in spec.programs.items():
            if not getattr(ps, "autoload", True):
                continue
            try:
                programs[name] = self._program(ps, final_btf, line_offsets)
            except LoadError as e:
                if not self.skip_failed:
                    raise
                failed[name] = e
        before, after = self._fill_order(maps, programs)
        linked = LinkedObject(programs, maps, before, after,
                              {k: tuple(v[:3]) for k, v in spec.variables.items()},
                              self.boot_dependent, str(spec.path or ""), spec, final_btf)
        linked.failed = failed
        return linked

    # --- BTF and debug info ------------------------------------------------------------

    def _btf(self) -> tuple[Any, dict[str, int] | None]:
        """The object BTF to load (with every string line_info names) and
        those strings' offsets in it."""
        btf = self.spec.btf
        if not self.debug_info or btf is None or not hasattr(btf, "strings"):
            return btf, None
        wanted: set[str] = set()
        for ps in self.spec.programs.values():
            wanted |= line_strings(ps.line_info)
        if not wanted:
            return btf, None
        return btf_with_strings(btf, wanted)

    def _debug_info(self, ps: ProgramSpec, btf: Any, offsets: dict[str, int] | None
                    ) -> tuple[list[tuple[int, int]], list[tuple[int, int, int, int]]]:
        if btf is None or not self.debug_info:
            return [], []
        func_info = [tuple(r) for r in _info_rows(ps.func_info, 2)] \
            if isinstance(ps.func_info, bytes | bytearray) else \
            [(_insn_index(r), r.type_id) for r in ps.func_info]
        if isinstance(ps.line_info, bytes | bytearray):
            return func_info, [tuple(r) for r in _info_rows(ps.line_info, 4)]
        from .spec.defines import BPF_LINE_INFO_COL_BITS

        col_mask = (1 << BPF_LINE_INFO_COL_BITS) - 1
        line_info = []
        for r in ps.line_info:
            if hasattr(r, "file_name_off"):
                name_off, line_off = r.file_name_off, r.line_off
            else:
                if offsets is None:
                    raise self.error("line_info with strings needs the object's BTF", ps)
                name_off, line_off = offsets[r.file_name], offsets[r.line]
            line_info.append((_insn_index(r), name_off, line_off,
                              (r.line_num << BPF_LINE_INFO_COL_BITS) | (r.column & col_mask)))
        return func_info, line_info

    # --- programs --------------------------------------------------------------------

    def _program(self, ps: ProgramSpec, btf: Any, offsets: dict[str, int] | None
                 ) -> LinkedProgram:
        insns = [i if type(i) is Insn else Insn(*i) for i in ps.instructions]
        if ps.extern_references:
            self._externs(ps, insns)
        poisons: dict[int, CorePoison] = {}
        if ps.core_relocations:
            insns = self._relocate(ps, insns, poisons)
        refs = self._map_refs(ps, insns)
        func_info, line_info = self._debug_info(ps, btf, offsets)
        spec = self.spec
        return LinkedProgram(
            ps.name, insns, refs, type=ps.type, section=ps.section,
            attach_type=ps.attach_type, attach_to=ps.attach_to,
            attach_btf_id=self._attach_btf_id(ps), license=ps.license or spec.license,
            kernel_version=ps.kernel_version or spec.kernel_version, flags=ps.flags,
            sleepable=ps.sleepable, func_info=func_info, line_info=line_info,
            core_poisons=poisons)

    def _map_refs(self, ps: ProgramSpec, insns: list[Insn]) -> dict[int, MapRef]:
        """Every map load as a symbolic reference: the ``lddw`` gets src
        PSEUDO_MAP_FD or PSEUDO_MAP_VALUE, imm 0, the offset in its second
        slot."""
        refs: dict[int, MapRef] = {}

        def mark(pc: int, ref: MapRef, what: str) -> None:
            if not 0 <= pc < len(insns) - 1 or not insns[pc].is_lddw:
                raise self.error(f"{what} is not on an lddw instruction", ps, pc, insns)
            if ref.map not in self.spec.maps:
                raise self.error(f"{what} refers to map {ref.map!r}, which the object does "
                                 f"not have", ps, pc, insns)
            op, dst, _src, off, _imm = insns[pc]
            insns[pc] = Insn(op, dst, PSEUDO_MAP_VALUE if ref.value else PSEUDO_MAP_FD, off, 0)
            op, dst, src, off, _imm = insns[pc + 1]
            insns[pc + 1] = Insn(op, dst, src, off, s32(ref.offset) if ref.value else 0)
            refs[pc] = ref

        for r in ps.map_references:
            mark(r.pc, MapRef(r.map_name, bool(r.value), r.offset if r.value else 0),
                 "map reference")
        by_index = (PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE)
        for pc, insn in enumerate(insns):
            if insn[0] == LDDW_OPCODE and insn[2] in by_index and pc not in refs:
                index = insn.imm
                if not 0 <= index < len(self.map_names):
                    raise self.error(f"map[idx:{index}] is out of range: the object has "
                                     f"{len(self.map_names)} maps", ps, pc, insns)
                value = insn.src == PSEUDO_MAP_IDX_VALUE
                offset = insns[pc + 1].imm & 0xFFFFFFFF if value and pc + 1 < len(insns) else 0
                mark(pc, MapRef(self.map_names[index], value, offset), f"map[idx:{index}]")
        return refs

    def _externs(self, ps: ProgramSpec, insns: list[Insn]) -> None:
        """Point ksym loads and kfunc calls at the target: typed ksyms and
        kfuncs by kernel BTF id, typeless ksyms by address.  A weak extern
        the target lacks becomes 0."""
        from .btf.types import Void

        r = self.resolver
        for ref in ps.extern_references:
            ext = self.spec.externs.get(ref.name)
            weak = ext.weak if ext is not None else False
            pc = ref.pc
            if not 0 <= pc < len(insns):
                raise self.error(f"extern {ref.name!r} is referenced past the end of the "
                                 f"program", ps, pc)
            if ref.kind == "kfunc":
                self._kfunc(ps, insns, pc, ref.name, ext, weak)
                continue
            if not insns[pc].is_lddw or pc + 1 >= len(insns):
                raise self.error(f"ksym {ref.name!r} is not on an lddw instruction",
                                 ps, pc, insns)
            typed = ext is not None and ext.type is not None and not isinstance(ext.type, Void)
            btf_id = r.kernel_btf_id(ref.name, "VAR") if typed else None
            if btf_id:
                insns[pc] = insns[pc]._replace(src=PSEUDO_BTF_ID, imm=btf_id)
                insns[pc + 1] = insns[pc + 1]._replace(imm=0)
                continue
            address = r.kernel_symbol_address(ref.name)
            if address is None and not weak:
                raise self.error(f"loads ksym {ref.name!r}, which {r.describe} does not "
                                 f"export", ps, pc, insns)
            if address is not None:
                self.boot_dependent = True
            value = address or 0
            insns[pc] = insns[pc]._replace(src=PSEUDO_IMM, imm=s32(value))
            insns[pc + 1] = insns[pc + 1]._replace(imm=s32(value >> 32))

    def _kfunc(self, ps: ProgramSpec, insns: list[Insn], pc: int, name: str,
               ext: Extern | None, weak: bool) -> None:
        """A kfunc call (src PSEUDO_CALL_KFUNC and the kernel's FUNC id), or
        a 64-bit load of a kfunc's address (``bpf_ksym_exists``: src
        PSEUDO_BTF_ID and the FUNC id), checked against the kernel's
        prototype.  A weak kfunc the kernel lacks — or whose prototype does
        not match, as libbpf treats it — reads as 0."""
        r = self.resolver
        insn = insns[pc]
        is_call = insn.opcode == _CALL
        if not is_call and not (insn.is_lddw and pc + 1 < len(insns)):
            raise self.error(f"kfunc {name!r} is neither called nor loaded by an lddw",
                             ps, pc, insns)
        from .btf.core import essential_name

        btf_id = r.kernel_btf_id(essential_name(name), "FUNC")  # bpf_foo___v2: bpf_foo
        if btf_id:
            mismatch = self._kfunc_mismatch(name, ext, btf_id)
            if mismatch is not None:
                if not weak:
                    raise self.error(f"kfunc {name!r} does not match {r.describe}'s "
                                     f"prototype: {mismatch}", ps, pc, insns)
                btf_id = None  # a weak kfunc of another shape counts as absent
        if not btf_id and not weak:
            what = "calls" if is_call else "loads the address of"
            raise self.error(f"{what} kfunc {name!r}, which {r.describe} does not have",
                             ps, pc, insns)
        if is_call:
            insns[pc] = insn._replace(src=PSEUDO_CALL_KFUNC, imm=btf_id, off=0) if btf_id \
                else Insn(_MOV64_IMM, 0, 0, 0, 0)  # r0 = 0: the kfunc is absent
        else:
            insns[pc] = insn._replace(src=PSEUDO_BTF_ID if btf_id else PSEUDO_IMM,
                                      imm=btf_id or 0)
            insns[pc + 1] = insns[pc + 1]._replace(imm=0)

    def _kfunc_mismatch(self, name: str, ext: Extern | None, btf_id: int) -> str | None:
        """Why the object's declaration of kfunc ``name`` does not fit the
        kernel's FUNC ``btf_id`` (a different number of arguments, a pointer
        where the kernel takes an integer...), or None."""
        kernel = getattr(self.resolver, "kernel_btf", None)
        kernel = kernel() if callable(kernel) else None
        local = self.spec.btf
        func = ext.type if ext is not None else None
        if kernel is None or local is None or func is None or not hasattr(func, "type_id"):
            return None
        try:
            theirs = kernel.resolve(kernel[btf_id].type_id)
            ours = local.resolve(func.type_id)
        except (BPFError, IndexError, KeyError, AttributeError):
            return None
        if not hasattr(theirs, "params") or not hasattr(ours, "params"):
            return None
        spelled = kernel.type_name(theirs.id, name)
        if len(ours.params) != len(theirs.params):
            return (f"the object declares {_count(len(ours.params), 'argument')}, this "
                    f"kernel's takes {len(theirs.params)}: {spelled}")
        for i, (a, b) in enumerate(zip(ours.params, theirs.params), 1):
            mine, kernels = _type_class(local, a.type_id), _type_class(kernel, b.type_id)
            if mine != kernels:
                return (f"argument {i} is declared {_a(mine)}, this kernel's is {_a(kernels)}: "
                        f"{spelled}")
        mine = _type_class(local, ours.return_type_id)
        kernels = _type_class(kernel, theirs.return_type_id)
        if mine != kernels and mine != "void":
            return f"it is declared to return {_a(mine)}, this kernel's returns " \
                   f"{_a(kernels)}: {spelled}"
        return None

    def _target_btf(self, ps: ProgramSpec) -> Any:
        if self._target is None:
            target = self.core_target
            try:
                if target is None:
                    from .btf import BTF

                    target = BTF.load_vmlinux()
                elif callable(target):
                    target = target()
            except (BPFError, OSError) as e:
                raise self.error(f"has {len(ps.core_relocations)} CO-RE relocations, but "
                                 f"there is no target BTF to resolve them against: {e}",
                                 ps) from None
            self._target = target
        return self._target

    def _relocate(self, ps: ProgramSpec, insns: list[Insn], poisons: dict[int, CorePoison]
                  ) -> list[Insn]:
        """``insns`` with the CO-RE relocations applied; the ones poisoned
        (no match in the target) are recorded in ``poisons`` by pc."""
        from .btf.core import CoreError, CoreResolver, RelocKind, apply_relocations, is_poison

        local = ps.btf if ps.btf is not None else self.spec.btf
        if local is None:
            raise self.error(f"has {len(ps.core_relocations)} CO-RE relocations but no BTF", ps)
        resolver = self._core.get(id(local))
        if resolver is None:
            resolver = self._core[id(local)] = CoreResolver(local, self._target_btf(ps))

        def fail(e: CoreError, relo: Any, description: str | None = None
                 ) -> CoreRelocationError:
            pc = relo.insn_index
            try:
                kind = RelocKind(relo.kind).label
            except ValueError:
                kind = str(relo.kind)
            try:
                type_name = local.name_of(relo.type_id)
            except BPFError:
                type_name = None
            return CoreRelocationError(
                f"CO-RE relocation cannot be applied: {e.reason}", kind=kind,
                type_name=type_name, access=relo.access_str, spelled=description,
                program=ps.name, pc=pc,
                insn=insns[pc] if 0 <= pc < len(insns) else None, path=self.path,
                section=ps.section)

        results = []
        for relo in ps.core_relocations:
            try:
                results.append(resolver.resolve(relo))
            except CoreError as e:
                raise fail(e, relo) from None
        try:
            out = apply_relocations(insns, results)
        except CoreError:
            for res in results:  # find the one that does not fit its instruction
                try:
                    apply_relocations(insns, [res])
                except CoreError as e:
                    raise fail(e, res.relo, res.description) from None
            raise
        for res in results:
            pc = res.insn_index
            if (res.poisoned or res.resize_unsafe) and is_poison(out[pc]):
                try:
                    type_name = local.name_of(res.relo.type_id)
                except BPFError:
                    type_name = ""
                poisons[pc] = CorePoison(res.kind.label, type_name, res.relo.access_str,
                                         res.description, resolver.poison_reason(res))
        return out

    def _attach_btf_id(self, ps: ProgramSpec) -> int:
        """The kernel BTF id a tracing-style program attaches to, from its
        ``attach_to`` (``tp_btf`` tracepoints, fentry/fexit functions, LSM
        hooks, iterators)."""
        if ps.type not in ("tracing", "lsm") or not ps.attach_to:
            return 0
        r = self.resolver
        if not r.has_kernel_btf:
            return 0
        candidates: list[tuple[str, str | None]]
        if ps.type == "lsm":
            candidates = [(f"bpf_lsm_{ps.attach_to}", None)]
        elif ps.attach_type == "trace_iter":  # iter/task -> the bpf_iter_task function
            candidates = [(f"bpf_iter_{ps.attach_to}", "FUNC"), (f"bpf_iter_{ps.attach_to}", None)]
        elif ps.attach_type in ("trace_raw_tp", None):
            candidates = [(f"btf_trace_{ps.attach_to}", None), (ps.attach_to, None)]
        else:
            candidates = [(ps.attach_to, None)]
        for name, kind in candidates:
            btf_id = r.kernel_btf_id(name, kind)
            if btf_id:
                return btf_id
        raise self.error(f"{r.describe}'s BTF has no {candidates[0][0]!r} to attach to", ps)

    # --- maps ------------------------------------------------------------------------

    def _kconfig(self, maps: dict[str, LinkedMap]) -> None:
        """Fill ``__kconfig`` externs the spec has not been given values for
        from the resolver; a strong one it cannot answer is an error."""
        from .objects import patch_value

        spec = self.spec
        for ext in spec.externs.values():
            if ext.kind != "kconfig" or ext.value is not None:
                continue
            data = self.resolver.kconfig(ext, spec.btf)
            if data is None:
                if ext.weak:
                    continue
                raise LoadError(f"kconfig extern {ext.name} has no value in "
                                f"{self.resolver.describe} (give one with "
                                f"spec.set_variable({ext.name!r}, ...) or "
                                f"pybpf.elf.resolve_kconfig, or declare it __weak)",
                                path=self.path)
            if ext.name not in spec.variables:
                raise LoadError(f"kconfig extern {ext.name} has no place in a .kconfig map",
                                path=self.path)
            map_name, offset, size = spec.variables[ext.name][:3]
            lm = maps[map_name]
            lm.contents[:1] = [patch_value(lm.contents, lm.value_size, ext.name, offset, size,
                                           data)]

    def _fill_order(self, maps: dict[str, LinkedMap], programs: dict[str, LinkedProgram]
                    ) -> tuple[list[str], list[str]]:
        """Maps to fill before the programs load (maps of maps after the maps
        they hold) and after (program arrays); names in contents checked."""
        before: list[str] = []
        after: list[str] = []
        state: dict[str, int] = {}  # 1: being ordered, 2: ordered

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise LoadError(f"map {name!r}: maps of maps hold each other in a cycle",
                                path=self.path)
            state[name] = 1
            lm = maps[name]
            if lm.type in MAP_OF_MAPS:
                for key, value in lm.contents:
                    if isinstance(value, str):
                        if value not in maps:
                            raise LoadError(f"map {name!r}: element {key!r} names map "
                                            f"{value!r}, which the object does not have",
                                            path=self.path)
                        if maps[value].type != PROG_ARRAY:
                            visit(value)
            state[name] = 2
            before.append(name)

        for name, lm in maps.items():
            if lm.type == PROG_ARRAY:
                for key, value in lm.contents:
                    if isinstance(value, str) and value not in self.spec.programs:
                        raise LoadError(f"map {name!r}: element {key!r} names program "
                                        f"{value!r}, which the object does not have",
                                        path=self.path)
                # a slot of a program left out (autoload off, or refused) stays empty
                lm.contents = [(k, v) for k, v in lm.contents
                               if not isinstance(v, str) or v in programs]
                after.append(name)
            else:
                visit(name)
        return before, after


def _type_class(btf: Any, type_id: int) -> str:
    """What a kfunc argument or result is, as far as a prototype check
    cares: ``integer`` (ints, enums), ``pointer``, ``struct``, ``float``,
    ``void``."""
    if not type_id:
        return "void"
    try:
        kind = btf.resolve(type_id).kind.name
    except (BPFError, IndexError, KeyError):
        return "unknown"
    return {"INT": "integer", "ENUM": "integer", "ENUM64": "integer", "PTR": "pointer",
            "STRUCT": "struct", "UNION": "struct", "FLOAT": "float", "UNKN": "void"
            }.get(kind, kind.lower())


def _a(what: str) -> str:
    return what if what == "void" else ("an " if what[0] in "aeiou" else "a ") + what


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def line_strings(records: Any) -> set[str]:
    """The file names and source lines ``line_info`` records name (none for
    raw records that carry string offsets)."""
    if not records or isinstance(records, bytes | bytearray):
        return set()
    return {s for r in records if hasattr(r, "file_name") for s in (r.file_name, r.line)}


def _insn_index(record: Any) -> int:
    # .BTF.ext records count bytes (insn_index converts); hand-made ones count slots
    return record.insn_index if hasattr(record, "insn_index") else record.insn_off


def _info_rows(raw: bytes | bytearray, fields: int) -> list[tuple[int, ...]]:
    """Raw ``bpf_func_info`` (2 fields) or ``bpf_line_info`` (4) records as
    rows of u32."""
    import struct

    row = struct.Struct("<" + "I" * fields)
    return [tuple(r) for r in row.iter_unpack(bytes(raw))]


__all__ = [
    "DATA_FORMAT",
    "MAP_OF_MAPS",
    "PROG_ARRAY",
    "CorePoison",
    "Edit",
    "LinkedMap",
    "LinkedObject",
    "LinkedProgram",
    "MapRef",
    "NoKernel",
    "SymbolResolver",
    "btf_with_strings",
    "line_strings",
    "link",
]
