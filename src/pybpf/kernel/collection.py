"""Loading an :class:`~pybpf.objects.ObjectSpec` into the kernel.

::

    import pybpf
    from pybpf.kernel import load

    spec = pybpf.load_object("prog.bpf.o")
    with load(spec) as coll:
        coll.programs["count_packets"].test_run(b"\\0" * 64)
        print(dict(coll.maps["counts"].items()))

:func:`load` links the spec (:func:`pybpf.linker.link`) with a
:class:`KernelResolver` — ksyms and kfuncs by vmlinux BTF id or kallsyms
address, ``__kconfig`` values from the kernel configuration, CO-RE against
the kernel's BTF, attach targets by BTF id — then :func:`load_linked` does
the kernel's part: load the object BTF, create the maps (inner-map
templates for maps of maps, ``pinning: by_name`` maps reused from the pin
directory), fill them in the linked order (frozen ``.rodata`` before the
programs, program arrays after), turn each map reference into the map's
fd and load the programs.  If anything fails, whatever was created is
closed.  The prepared cache (:mod:`pybpf.kernel.load_cache`) calls
:func:`load_linked` on the linked object it stored.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import backend
from ..errors import BPFError, KernelError, LoadError, VerifierError
from ..linked import PROG_ARRAY, LinkedMap, LinkedObject, LinkedProgram
from . import kallsyms
from .maps import KernelMap, map_type_id
from .pins import DEFAULT_BPFFS
from .programs import KernelProgram, core_poison_error, func_info_bytes, line_info_bytes
from .readers import CollectionReaders

if TYPE_CHECKING:
    from ..objects import Extern, ObjectSpec
    from .kernel_btf import KernelBTF


class Collection(CollectionReaders, backend.Collection):
    """Programs and maps loaded together from one spec (a
    :class:`pybpf.backend.Collection`).

    ``programs`` and ``maps`` are keyed by the spec's names; ``btf`` is the
    loaded object BTF (None without one); ``spec`` the spec loaded (None
    when loaded from a prepared form).  ``ringbuf()``, ``perfbuf()`` and
    ``trace_pipe()`` open readers.  ``close()`` (or leaving a ``with``
    block) closes every reader, detaches what ``program.attach()`` attached
    and closes every fd; pinned maps and links live on in the kernel.
    ``failed`` holds the programs a ``skip_failed`` load left out, by name,
    with the error that refused each.
    """

    def __init__(self, programs: dict[str, KernelProgram], maps: dict[str, KernelMap],
                 btf: KernelBTF | None = None, spec: ObjectSpec | None = None,
                 failed: dict[str, BPFError] | None = None):
        self.programs = programs  # type: ignore[assignment]
        self.maps = maps
        self.btf = btf
        self.spec = spec
        self.failed = failed if failed is not None else {}
        self.readers: list[Any] = []

    def close(self) -> None:
        """Close every reader, attachment, program, map and BTF fd."""
        self.close_readers()
        for p in self.programs.values():
            p.close()  # type: ignore[attr-defined]
        for m in self.maps.values():
            m.close()
        if self.btf is not None:
            self.btf.close()

    def __enter__(self) -> Collection:
        return self

    def __repr__(self) -> str:
        return (f"<Collection programs={list(self.programs)} maps={list(self.maps)}>")


class KernelResolver:
    """The running kernel as the link step sees it (a
    :class:`pybpf.linker.SymbolResolver`): BTF ids from vmlinux BTF,
    addresses from ``/proc/kallsyms``, ``__kconfig`` values from the
    kernel configuration."""

    describe = "this kernel"
    has_kernel_btf = True

    def __init__(self) -> None:
        self._config: dict[str, str] | None = None

    def kernel_btf_id(self, name: str, kind: str | None = None) -> int | None:
        """The first vmlinux BTF id of ``name`` (of BTF kind ``kind``)."""
        from ..btf import BTF

        vmlinux = BTF.load_vmlinux()
        for type_id in vmlinux.find_ids(name):
            if kind is None or vmlinux.kind_of(type_id).name == kind:
                return type_id
        return None

    def kernel_symbol_address(self, name: str) -> int | None:
        """The kallsyms address of ``name`` (None when hidden or absent)."""
        return kallsyms.address(name)

    def kernel_btf(self) -> Any:
        """vmlinux BTF, which kfunc prototypes are checked against."""
        from ..btf import BTF

        return BTF.load_vmlinux()

    def kconfig(self, extern: Extern, btf: Any) -> bytes | None:
        """The value of ``__kconfig`` extern ``extern`` in this kernel's
        configuration (``LINUX_KERNEL_VERSION`` and the like computed as
        libbpf does), encoded for its type; None when not set."""
        from ..elf.kconfig import KconfigError, encode_extern, read_kernel_config, special_number

        value: str | int | None = special_number(extern.name)
        if value is None:
            if self._config is None:
                try:
                    self._config = read_kernel_config()
                except KconfigError:
                    self._config = {}
            value = self._config.get(extern.name)
        if value is None:
            return None
        try:
            return encode_extern(extern.name, value, extern.type, extern.size, btf)
        except KconfigError as e:
            from ..errors import LoadError

            raise LoadError(str(e)) from None


def load(spec: ObjectSpec, *, pin_dir: str | None = None, log_level: int = 0,
         skip_failed: bool = False) -> Collection:
    """Create ``spec``'s maps and load its programs into the kernel.

    ``pin_dir`` is where maps with ``pinning="by_name"`` are pinned and
    looked for (default ``/sys/fs/bpf``); an existing pin of a compatible
    map is reused, contents and all.  ``log_level`` keeps each program's
    verifier log in ``program.log``.  Programs whose ``autoload`` is off
    are not loaded.  With ``skip_failed`` a program the link step or the
    kernel refuses is left out and the others load; ``collection.failed``
    says which and why (name -> error).
    """
    from ..linker import link

    linked = link(spec, KernelResolver(), skip_failed=skip_failed)
    return load_linked(linked, pin_dir=pin_dir, log_level=log_level, skip_failed=skip_failed)


def load_linked(linked: LinkedObject, *, pin_dir: str | None = None,
                log_level: int = 0, skip_failed: bool = False) -> Collection:
    """Load what :func:`pybpf.linker.link` produced (see :func:`load`)."""
    loader = _Loader(linked, pin_dir or DEFAULT_BPFFS, log_level, skip_failed)
    try:
        return loader.run()
    except BaseException:
        loader.abandon()
        raise


class _Loader:
    def __init__(self, linked: LinkedObject, pin_dir: str, log_level: int,
                 skip_failed: bool = False):
        self.linked = linked
        self.skip_failed = skip_failed
        self.failed: dict[str, BPFError] = dict(getattr(linked, "failed", {}))
        self.spec = linked.spec
        self.pin_dir = pin_dir
        self.log_level = log_level
        self.btf: KernelBTF | None = None
        self.maps: dict[str, KernelMap] = {}
        self.reused: set[str] = set()
        self.programs: dict[str, KernelProgram] = {}

    def run(self) -> Collection:
        linked = self.linked
        self.btf = self._load_btf()
        for name, lm in linked.maps.items():
            self.maps[name] = self._create_map(lm)
        self._fill(linked.fill_before)
        for name, lp in linked.programs.items():
            try:
                self.programs[name] = self._load_program(lp)
            except (KernelError, LoadError) as e:
                if not self.skip_failed:
                    raise
                self.failed[name] = e  # the others load: the refusal is reported
        self._fill(linked.fill_after)
        for name, lm in linked.maps.items():
            if lm.pinning == "by_name" and name not in self.reused:
                self.maps[name].pin(self._pin_path(name))
        return Collection(self.programs, self.maps, self.btf, self.spec, self.failed)

    def abandon(self) -> None:
        Collection(self.programs, self.maps, self.btf).close()

    def _load_btf(self) -> KernelBTF | None:
        linked = self.linked
        raw = linked.btf
        if raw is None:
            return None
        from .kernel_btf import KernelBTF

        if linked.btf_types is not None:
            from .features import btf_kind_supported

            if not btf_kind_supported("int"):  # a kernel without BTF: load without it
                return None
            return KernelBTF.load(raw, log_level=self.log_level, btf=linked.btf_types)
        try:  # (from a prepared form: no probe on the fast path)
            return KernelBTF.load(raw, log_level=self.log_level)
        except KernelError:
            return None  # a kernel without BTF support: load without it

    # --- maps ----------------------------------------------------------------

    def _pin_path(self, name: str) -> str:
        return os.path.join(self.pin_dir, name)

    def _codecs(self, lm: LinkedMap) -> dict[str, Any]:
        """The codecs the userspace maps would have (the object's BTF types
        where they fit, int keys for array-like maps, else bytes:
        :func:`pybpf.codecs.default_codecs`); none (the map's defaults) for
        a linked object without its spec."""
        spec = self.spec
        if spec is None or lm.name not in spec.maps:
            return {}
        from ..codecs import default_codecs

        ms = spec.maps[lm.name]
        btf = ms.btf if ms.btf is not None else spec.btf
        key_codec, value_codec = default_codecs(ms.type, ms.key_size, ms.value_size, btf=btf,
                                                key_type=ms.key_type, value_type=ms.value_type)
        return {"key_codec": key_codec, "value_codec": value_codec}

    def _create_map(self, lm: LinkedMap, outer: bool = True) -> KernelMap:
        if lm.pinning not in (None, "none", "by_name"):
            raise BPFError(f"map {lm.name!r}: unknown pinning {lm.pinning!r} "
                           "(use None or 'by_name')")
        if outer and lm.pinning == "by_name":
            existing = self._open_pinned(lm)
            if existing is not None:
                self.reused.add(lm.name)
                return existing
        inner = self._create_map(lm.inner, outer=False) if lm.inner is not None else None
        try:
            args: dict[str, Any] = dict(
                flags=lm.flags, name=lm.name, inner=inner, numa_node=lm.numa_node,
                map_extra=lm.map_extra, **(self._codecs(lm) if outer else {}))
            entries = default_max_entries(lm.type, lm.max_entries)
            if self.btf is not None and (lm.btf_key_type_id or lm.btf_value_type_id):
                # the BTF description is optional, as libbpf treats it: left out for
                # map types that take none, dropped when the kernel refuses it
                return KernelMap.create(lm.type, lm.key_size, lm.value_size, entries,
                                        btf=self.btf, btf_key_type_id=lm.btf_key_type_id,
                                        btf_value_type_id=lm.btf_value_type_id,
                                        btf_optional=True, **args)
            return KernelMap.create(lm.type, lm.key_size, lm.value_size, entries, **args)
        finally:
            if inner is not None:
                inner.close()  # the outer map keeps what it needs of the template

    def _open_pinned(self, lm: LinkedMap) -> KernelMap | None:
        path = self._pin_path(lm.name)
        if not os.path.exists(path):
            return None
        from .pins import open_pinned

        m = open_pinned(path)
        if not isinstance(m, KernelMap):
            m.close()
            raise BPFError(f"map {lm.name!r}: {path} holds something other than a map")
        want = (map_type_id(lm.type), lm.key_size, lm.value_size, lm.max_entries)
        have = (m.type_id, m.key_size, m.value_size, m.max_entries)
        if want != have:
            m.close()
            raise BPFError(
                f"map {lm.name!r}: the map pinned at {path} does not match the spec "
                f"(type/key/value/max_entries {have} pinned, {want} wanted); remove the pin "
                "to recreate it")
        for which, codec in self._codecs(lm).items():
            setattr(m, which, codec)
        return m

    def _fill(self, names: list[str]) -> None:
        """Write the initial contents of maps ``names`` (unless reused from a
        pin: names in fd-valued maps become those programs' or maps' fds)
        and freeze those that ask for it."""
        for name in names:
            if name in self.reused:
                continue
            lm, m = self.linked.maps[name], self.maps[name]
            if lm.initial_data:
                _write_arena(m, lm)
            table: dict[str, Any] = self.programs if lm.type == PROG_ARRAY else self.maps
            for key, value in lm.contents:
                if isinstance(value, str) and value in self.failed:
                    continue  # a program left out: its slot stays empty
                m.update(key, table[value] if isinstance(value, str) else value)
            if lm.freeze:
                m.freeze()

    # --- programs ------------------------------------------------------------

    def _load_program(self, lp: LinkedProgram) -> KernelProgram:
        maps = self.maps
        code = lp.bytecode(lambda ref: maps[ref.map].fd)
        extra: dict[str, Any] = {}
        if self.btf is not None and (lp.func_info or lp.line_info):
            extra = dict(btf=self.btf,
                         func_info=func_info_bytes(lp.func_info)[0] if lp.func_info else None,
                         line_info=line_info_bytes(lp.line_info)[0] if lp.line_info else None)
        try:
            prog = KernelProgram.load(
                code, lp.type, name=lp.name, license=lp.license,
                expected_attach_type=lp.attach_type, kernel_version=lp.kernel_version,
                flags=lp.flags, sleepable=lp.sleepable, log_level=self.log_level,
                attach_btf_id=lp.attach_btf_id, **extra)
        except VerifierError as e:
            # the verifier reached an instruction a CO-RE relocation poisoned: name it
            named = core_poison_error(e, lp.core_poisons, program=lp.name, insns=lp.insns,
                                      path=self.linked.path or None, section=lp.section)
            if named is None:
                _add_explanation(e, lp, self.linked)
                raise
            raise named from e
        prog.section, prog.attach_to = lp.section, lp.attach_to
        return prog


def _add_explanation(error: VerifierError, lp: LinkedProgram, linked: LinkedObject) -> None:
    """Add pybpf's verifier's explanation (source line, registers and
    stack, the path taken) to the kernel's refusal when pybpf refuses the
    program at the same instruction: ``error.explanation``, ``line``,
    ``state``, ``path``, and the state and path as lines after the first
    of ``str(error)`` (which already names the instruction)."""
    from ..verifier import explain_refusal

    ours = explain_refusal(error, lp, linked.maps, getattr(linked, "btf_types", None))
    if ours is None:
        return
    error.explanation = ours.explanation
    error.line, error.state, error.path = ours.line, ours.state, ours.path
    details = [ln for ln in ours.explanation.split("\n")
               if ln.startswith(("  state:", "  path:"))]
    if details:
        error.args = ("\n".join([str(error), *details]),)


def _write_arena(m: KernelMap, lm: LinkedMap) -> None:
    """Copy an arena's ``__arena`` globals to its start through a shared
    mapping of the map, as libbpf does (the pages stay the arena's)."""
    import mmap

    size = lm.max_entries * mmap.PAGESIZE
    try:
        with mmap.mmap(m.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mem:
            mem[:len(lm.initial_data)] = lm.initial_data
    except OSError as e:
        raise KernelError(f"map {lm.name!r}: cannot map the arena to write its __arena "
                          f"globals: {e.strerror or e}", errno=e.errno,
                          operation="mmap") from None


def default_max_entries(map_type: str, max_entries: int) -> int:
    """``max_entries`` as given, except that a perf event array declared
    without it gets one slot per possible CPU (as libbpf does)."""
    if map_type == "perf_event_array" and not max_entries:
        from .maps import possible_cpus

        return possible_cpus()
    return max_entries
