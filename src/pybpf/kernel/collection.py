"""Loading an :class:`~pybpf.objects.ObjectSpec` into the kernel.

::

    import pybpf
    from pybpf.kernel import load

    spec = pybpf.load_object("prog.bpf.o")
    with load(spec) as coll:
        coll.programs["count_packets"].test_run(b"\\0" * 64)
        print(dict(coll.maps["counts"].items()))

:func:`load` creates the maps (inner-map templates for maps of maps,
initial contents, frozen ``.rodata``, ``pinning: by_name`` maps reused from
the pin directory), resolves each program's map loads to map fds, applies
CO-RE relocations against the kernel's BTF, loads the programs and fills
program arrays.  If anything fails, whatever was created is closed.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import TYPE_CHECKING, Any

from ..errors import BPFError, KernelError
from ..spec.defines import (
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX,
    BPF_PSEUDO_MAP_IDX_VALUE,
    BPF_PSEUDO_MAP_VALUE,
)
from . import kallsyms
from .maps import FD_VALUE_TYPES, KernelMap, map_type_id
from .pins import DEFAULT_BPFFS
from .programs import KernelProgram
from .readers import CollectionReaders

if TYPE_CHECKING:  # pybpf.isa is imported where instructions are rewritten (start-up time)
    from ..isa import Insn
    from ..objects import MapSpec, ObjectSpec, ProgramSpec
    from .kernel_btf import KernelBTF


class Collection(CollectionReaders):
    """Programs and maps loaded together from one spec.

    ``programs`` and ``maps`` are keyed by the spec's names; ``btf`` is the
    loaded object BTF (None without one); ``spec`` the spec loaded.
    ``ringbuf()``, ``perfbuf()`` and ``trace_pipe()`` open readers.
    ``close()`` (or leaving a ``with`` block) closes every reader, detaches
    what ``program.attach()`` attached and closes every fd; pinned maps and
    links live on in the kernel.
    """

    def __init__(self, programs: dict[str, KernelProgram], maps: dict[str, KernelMap],
                 btf: KernelBTF | None = None, spec: ObjectSpec | None = None):
        self.programs = programs
        self.maps = maps
        self.btf = btf
        self.spec = spec
        self.readers: list[Any] = []

    def close(self) -> None:
        """Close every reader, attachment, program, map and BTF fd."""
        self.close_readers()
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        if self.btf is not None:
            self.btf.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Collection programs={list(self.programs)} maps={list(self.maps)}>")


def load(spec: ObjectSpec, *, pin_dir: str | None = None, log_level: int = 0) -> Collection:
    """Create ``spec``'s maps and load its programs into the kernel.

    ``pin_dir`` is where maps with ``pinning="by_name"`` are pinned and
    looked for (default ``/sys/fs/bpf``); an existing pin of a compatible
    map is reused, contents and all.  ``log_level`` keeps each program's
    verifier log in ``program.log``.
    """
    loader = _Loader(spec, pin_dir or DEFAULT_BPFFS, log_level)
    try:
        return loader.run()
    except BaseException:
        loader.abandon()
        raise


class _Loader:
    def __init__(self, spec: ObjectSpec, pin_dir: str, log_level: int):
        self.spec = spec
        self.pin_dir = pin_dir
        self.log_level = log_level
        self.btf: KernelBTF | None = None
        self.maps: dict[str, KernelMap] = {}
        self.reused: set[str] = set()
        self.programs: dict[str, KernelProgram] = {}

    def run(self) -> Collection:
        spec = self.spec
        if spec.btf is not None:
            self.btf = self._load_btf(spec.btf)
        for name, ms in spec.maps.items():
            self.maps[name] = self._create_map(ms)
        # .rodata must be frozen before programs load, so the verifier can
        # treat its values as constants; program arrays need the programs.
        prog_arrays = [n for n, m in self.maps.items() if m.type == "prog_array"]
        self._initialize([n for n in self.maps if n not in prog_arrays])
        for name, ps in spec.programs.items():
            self.programs[name] = prog = self._load_program(ps)
            prog.section, prog.attach_to = ps.section, ps.attach_to
        self._initialize(prog_arrays)
        for name, ms in spec.maps.items():
            if ms.pinning == "by_name" and name not in self.reused:
                self.maps[name].pin(self._pin_path(ms))
        return Collection(self.programs, self.maps, self.btf, spec)

    def abandon(self) -> None:
        Collection(self.programs, self.maps, self.btf).close()

    # --- BTF -----------------------------------------------------------------

    def _load_btf(self, btf: Any) -> KernelBTF | None:
        from .features import btf_kind_supported
        from .kernel_btf import load_btf
        from .programs import line_strings

        if not btf_kind_supported("int"):  # a kernel without BTF: load without it
            return None
        strings = set().union(*(line_strings(ps.line_info) for ps in self.spec.programs.values()))
        return load_btf(btf, log_level=self.log_level, strings=strings)

    @staticmethod
    def _type_id(t: Any) -> int:
        if t is None:
            return 0
        return t if isinstance(t, int) else int(getattr(t, "id", 0) or 0)

    # --- maps ----------------------------------------------------------------

    def _pin_path(self, ms: MapSpec) -> str:
        return os.path.join(self.pin_dir, ms.name)

    def _create_map(self, ms: MapSpec) -> KernelMap:
        if ms.pinning not in (None, "none", "by_name"):
            raise BPFError(f"map {ms.name!r}: unknown pinning {ms.pinning!r} "
                           "(use None or 'by_name')")
        if ms.pinning == "by_name":
            existing = self._open_pinned(ms)
            if existing is not None:
                self.reused.add(ms.name)
                return existing
        inner = self._create_map(ms.inner) if ms.inner is not None else None
        try:
            return self._create_plain(ms, inner)
        finally:
            if inner is not None:
                inner.close()  # the outer map keeps what it needs of the template

    def _codecs(self, ms: MapSpec) -> dict[str, Any]:
        """The codecs the userspace maps would have for ``ms`` (the object's
        BTF types where they fit, int keys for array-like maps, else bytes):
        :func:`pybpf.codecs.default_codecs`."""
        from ..codecs import default_codecs

        btf = ms.btf if ms.btf is not None else self.spec.btf
        key_codec, value_codec = default_codecs(ms.type, ms.key_size, ms.value_size, btf=btf,
                                                key_type=ms.key_type, value_type=ms.value_type)
        return {"key_codec": key_codec, "value_codec": value_codec}

    def _create_plain(self, ms: MapSpec, inner: KernelMap | None) -> KernelMap:
        args: dict[str, Any] = dict(
            flags=ms.flags, name=ms.name, inner=inner, numa_node=ms.numa_node,
            map_extra=ms.map_extra, **self._codecs(ms))
        key_id, value_id = self._type_id(ms.key_type), self._type_id(ms.value_type)
        entries = default_max_entries(ms.type, ms.max_entries)
        if self.btf is not None and (key_id or value_id):
            try:
                return KernelMap.create(ms.type, ms.key_size, ms.value_size, entries,
                                        btf=self.btf, btf_key_type_id=key_id,
                                        btf_value_type_id=value_id, **args)
            except KernelError as e:
                if e.errno != _errno.EINVAL:
                    raise
                # the kernel disliked the BTF description: create the map without it
        return KernelMap.create(ms.type, ms.key_size, ms.value_size, entries, **args)

    def _open_pinned(self, ms: MapSpec) -> KernelMap | None:
        path = self._pin_path(ms)
        if not os.path.exists(path):
            return None
        from .pins import open_pinned

        m = open_pinned(path)
        if not isinstance(m, KernelMap):
            m.close()
            raise BPFError(f"map {ms.name!r}: {path} holds something other than a map")
        want = (map_type_id(ms.type), ms.key_size, ms.value_size, ms.max_entries)
        have = (m.type_id, m.key_size, m.value_size, m.max_entries)
        if want != have:
            m.close()
            raise BPFError(
                f"map {ms.name!r}: the map pinned at {path} does not match the spec "
                f"(type/key/value/max_entries {have} pinned, {want} wanted); remove the pin "
                "to recreate it")
        for which, codec in self._codecs(ms).items():
            setattr(m, which, codec)
        return m

    def _initialize(self, names: list[str]) -> None:
        """Write the initial contents of maps ``names`` (unless reused from a
        pin) and freeze those that ask for it."""
        for name in names:
            if name not in self.reused:
                ms, m = self.spec.maps[name], self.maps[name]
                self._fill(ms, m)
                if ms.freeze:
                    m.freeze()

    def _fill(self, ms: MapSpec, m: KernelMap) -> None:
        """Write initial contents; names in fd-valued maps become the fds of
        those programs (prog arrays) or maps (maps of maps)."""
        is_prog_array = m.type == "prog_array"
        for key, value in ms.contents:
            if isinstance(value, str) and m.type in FD_VALUE_TYPES:
                table = self.programs if is_prog_array else self.maps
                if value not in table:
                    kind = "program" if is_prog_array else "map"
                    raise BPFError(f"map {ms.name!r}: element {key!r} names {kind} "
                                   f"{value!r}, which the object does not have")
                value = table[value]
            m.update(key, value)

    # --- programs ------------------------------------------------------------

    def _load_program(self, ps: ProgramSpec) -> KernelProgram:
        insns = self._resolve_maps(ps)
        if ps.extern_references:
            insns = self._resolve_externs(ps, insns)
        if ps.core_relocations:
            insns = self._relocate(ps, insns)
        extra: dict[str, Any] = {}
        btf = None
        if self.btf is not None and (ps.func_info or ps.line_info):
            btf = self.btf
            extra.update(func_info=ps.func_info or None, line_info=ps.line_info or None)
        attach_btf_id = _attach_btf_id(ps)
        return KernelProgram.load(
            insns, ps.type, name=ps.name, license=ps.license or self.spec.license,
            expected_attach_type=ps.attach_type,
            kernel_version=ps.kernel_version or self.spec.kernel_version, flags=ps.flags,
            sleepable=ps.sleepable, log_level=self.log_level, btf=btf,
            attach_btf_id=attach_btf_id, **extra)

    def _resolve_maps(self, ps: ProgramSpec) -> list[Insn]:
        """Every map load as the kernel wants it: ``lddw`` with src
        BPF_PSEUDO_MAP_FD (imm = fd) or BPF_PSEUDO_MAP_VALUE (imm = fd,
        second slot = offset)."""
        insns = list(ps.instructions)

        def patch(pc: int, m: KernelMap, value: bool, offset: int, what: str) -> None:
            if pc + 1 >= len(insns) or not insns[pc].is_lddw:
                raise BPFError(f"program {ps.name!r}: {what} at insn {pc} is not a lddw "
                               f"({insns[pc] if pc < len(insns) else 'past the end'})")
            src = BPF_PSEUDO_MAP_VALUE if value else BPF_PSEUDO_MAP_FD
            insns[pc] = insns[pc]._replace(src=src, imm=m.fd)
            insns[pc + 1] = insns[pc + 1]._replace(imm=offset if value else 0)

        for ref in ps.map_references:
            if ref.map_name not in self.maps:
                raise BPFError(f"program {ps.name!r}: insn {ref.pc} refers to map "
                               f"{ref.map_name!r}, which the object does not have")
            patch(ref.pc, self.maps[ref.map_name], ref.value, ref.offset,
                  f"reference to map {ref.map_name!r}")
        names = list(self.spec.maps)
        for pc, insn in enumerate(insns):
            if insn.is_lddw and insn.src in (BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE):
                index = insn.imm
                if not 0 <= index < len(names):
                    raise BPFError(f"program {ps.name!r}: insn {pc} loads map[idx:{index}] "
                                   f"but the object has {len(names)} maps")
                value = insn.src == BPF_PSEUDO_MAP_IDX_VALUE
                offset = insns[pc + 1].imm if value and pc + 1 < len(insns) else 0
                patch(pc, self.maps[names[index]], value, offset, f"map[idx:{index}]")
        return insns

    def _resolve_externs(self, ps: ProgramSpec, insns: list[Insn]) -> list[Insn]:
        """Point ksym loads and kfunc calls at the running kernel: typed
        ksyms and kfuncs by their vmlinux BTF id, typeless ksyms by their
        /proc/kallsyms address.  A weak extern the kernel lacks becomes 0."""
        from ..btf import BTF
        from ..btf.types import Void
        from ..isa import Insn

        vmlinux = BTF.load_vmlinux()
        insns = list(insns)
        for ref in ps.extern_references:
            ext = self.spec.externs.get(ref.name)
            weak = ext.weak if ext is not None else False
            pc = ref.pc
            if ref.kind == "kfunc":
                ids = [i for i in vmlinux.find_ids(ref.name) if vmlinux.kind_of(i).name == "FUNC"]
                if ids:
                    insns[pc] = insns[pc]._replace(src=BPF_PSEUDO_KFUNC_CALL, imm=ids[0], off=0)
                elif weak:
                    insns[pc] = Insn(0xB7, 0, 0, 0, 0)  # r0 = 0: the kfunc does not exist
                else:
                    raise BPFError(f"program {ps.name!r}: insn {pc} calls kfunc {ref.name!r}, "
                                   f"which this kernel's BTF does not have")
                continue
            typed = ext is not None and ext.type is not None and not isinstance(ext.type, Void)
            ids = [i for i in vmlinux.find_ids(ref.name) if vmlinux.kind_of(i).name == "VAR"]
            if typed and ids:
                insns[pc] = insns[pc]._replace(src=BPF_PSEUDO_BTF_ID, imm=ids[0])
                insns[pc + 1] = insns[pc + 1]._replace(imm=0)
                continue
            address = kallsyms.address(ref.name)
            if address is None and not weak:
                raise BPFError(f"program {ps.name!r}: insn {pc} loads ksym {ref.name!r}, which "
                               f"this kernel does not export")
            value = address or 0
            insns[pc] = insns[pc]._replace(src=0, imm=_s32(value & 0xFFFFFFFF))
            insns[pc + 1] = insns[pc + 1]._replace(imm=_s32(value >> 32))
        return insns

    def _relocate(self, ps: ProgramSpec, insns: list[Insn]) -> list[Insn]:
        from ..btf import BTF
        from ..btf.core import relocate

        local = ps.btf if ps.btf is not None else self.spec.btf
        if local is None:
            raise BPFError(f"program {ps.name!r} has CO-RE relocations but no BTF")
        patched, _ = relocate(insns, ps.core_relocations, local, BTF.load_vmlinux())
        return patched


def default_max_entries(map_type: str, max_entries: int) -> int:
    """``max_entries`` as given, except that a perf event array declared
    without it gets one slot per possible CPU (as libbpf does)."""
    if map_type == "perf_event_array" and not max_entries:
        from .maps import possible_cpus

        return possible_cpus()
    return max_entries


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _attach_btf_id(ps: ProgramSpec) -> int:
    """The kernel BTF id a tracing-style program attaches to, from its
    ``attach_to`` (``tp_btf`` tracepoints, fentry/fexit functions, LSM hooks)."""
    if ps.type not in ("tracing", "lsm") or not ps.attach_to:
        return 0
    from ..btf import BTF

    vmlinux = BTF.load_vmlinux()
    if ps.type == "lsm":
        candidates = [f"bpf_lsm_{ps.attach_to}"]
    elif ps.attach_type == "trace_iter":  # iter/task -> the bpf_iter_task function
        ids = [i for i in vmlinux.find_ids(f"bpf_iter_{ps.attach_to}")
               if vmlinux.kind_of(i).name == "FUNC"]
        if ids:
            return ids[0]
        candidates = [f"bpf_iter_{ps.attach_to}"]
    elif ps.attach_type in ("trace_raw_tp", None):
        candidates = [f"btf_trace_{ps.attach_to}", ps.attach_to]
    else:
        candidates = [ps.attach_to]
    for name in candidates:
        ids = vmlinux.find_ids(name)
        if ids:
            return ids[0]
    raise BPFError(f"program {ps.name!r}: the kernel's BTF has no {candidates[0]!r} "
                   f"to attach to")
