"""Loading an :class:`~pybpf.objects.ObjectSpec` into the userspace VM.

>>> import pybpf.vm
>>> with pybpf.vm.load(spec) as coll:                      # doctest: +SKIP
...     result = coll.programs["xdp_count"].test_run(packet)
...     print(dict(coll.maps["counts"].items()))

The same interface as :func:`pybpf.kernel.load`: ``programs`` and ``maps``
by name, ``close()`` and a context manager.  Maps are :mod:`pybpf.maps`
maps, with the map protocol the kernel's maps have (:mod:`pybpf.codecs`)
and the same codecs (the object's BTF types); programs are
:class:`~pybpf.vm.machine.Program`\\ s with ``test_run``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ..errors import BPFError
from ..isa import Insn
from ..isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_VALUE
from ..objects import MapReference, ObjectSpec, ProgramSpec
from ..records import record_decoder
from .machine import VM, Program


class Collection:
    """Programs and maps loaded together into one VM."""

    def __init__(self, vm: VM, spec: ObjectSpec):
        self.vm = vm
        self.spec = spec
        self.maps: dict[str, Any] = {}
        self.programs: dict[str, Program] = {}

    def ringbuf(self, name: str, type: Any = None) -> Iterator[Any]:
        """Consume the records waiting in ring buffer map ``name``, decoded
        as the kernel backend decodes them: as BTF type ``type`` when given,
        else as the struct the programs reserve (inferred from the object),
        else raw bytes."""
        ring = self.maps[name]
        decode = record_decoder(self.spec, name, type)
        for record in ring:
            yield decode(record) if decode is not None else bytes(record)

    def close(self) -> None:
        """Forget the programs and maps (the VM's memory goes with them)."""
        self.programs.clear()
        self.maps.clear()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(spec: ObjectSpec, *, vm: VM | None = None, core_target: Any = None,
         **vm_options: Any) -> Collection:
    """Load every map and program of ``spec`` into a VM (a new one unless
    ``vm`` is given; ``vm_options`` go to :class:`VM`).

    Map contents are written (prog arrays get the named programs), map
    references in instructions are resolved, CO-RE relocations are applied
    against ``core_target`` (the running kernel's BTF by default, when the
    program has relocations).
    """
    vm = vm or VM(**vm_options)
    coll = Collection(vm, spec)
    deferred: list[tuple[Any, list[tuple[Any, Any]]]] = []
    for name, mspec in spec.maps.items():
        if mspec.type == "prog_array" and mspec.contents:
            pending = list(mspec.contents)
            mspec = mspec.copy()
            mspec.contents = []
            deferred.append((name, pending))
        if mspec.btf is None and spec.btf is not None and \
                (mspec.key_type is not None or mspec.value_type is not None):
            mspec = dataclasses.replace(mspec, btf=spec.btf)  # codecs as the kernel's
        coll.maps[name] = vm.create_map(mspec)
    ordered = list(coll.maps.values())
    for pspec in spec.programs.values():
        insns = _relocate(pspec, coll, core_target)
        refs = {ref.pc: ref for ref in pspec.map_references}

        def resolve(pc, form, imm, next_imm, refs=refs, program=pspec.name):
            ref = refs.get(pc)
            if ref is not None:
                m = coll.maps.get(ref.map_name)
                if m is None:
                    raise BPFError(f"program {program}: pc {pc} refers to map "
                                   f"{ref.map_name!r}, which the object does not define")
                return m.value_address(0) + ref.offset if ref.value else m.address
            return vm.resolve_pseudo(pc, form, imm, next_imm, ordered)

        coll.programs[pspec.name] = vm.load(insns, name=pspec.name, prog_type=pspec.type,
                                            resolve_pseudo=resolve)
    for name, contents in deferred:
        prog_array = coll.maps[name]
        for key, value in contents:
            target = coll.programs.get(value) if isinstance(value, str) else value
            if target is None:
                raise BPFError(f"prog_array {name}: no program {value!r} in the object")
            prog_array.update(key, target)
    return coll


def _relocate(pspec: ProgramSpec, coll: Collection, core_target: Any) -> list[Insn]:
    insns = [Insn(*i) for i in pspec.instructions]
    for ref in pspec.map_references:
        _mark_map_load(insns, ref, pspec)
    if pspec.core_relocations:
        insns = _apply_core(pspec, insns, core_target)
    return insns


def _mark_map_load(insns: list[Insn], ref: MapReference, pspec: ProgramSpec) -> None:
    if not 0 <= ref.pc < len(insns) or not insns[ref.pc].is_lddw:
        raise BPFError(f"program {pspec.name}: map reference to {ref.map_name!r} at pc "
                       f"{ref.pc} is not on an lddw instruction")
    insns[ref.pc] = insns[ref.pc]._replace(src=PSEUDO_MAP_VALUE if ref.value else PSEUDO_MAP_FD)


def _apply_core(pspec: ProgramSpec, insns: list[Insn], target: Any) -> list[Insn]:
    from ..btf import BTF
    from ..btf.core import relocate

    if target is None:
        target = BTF.load_vmlinux()
    patched, _results = relocate(insns, pspec.core_relocations, pspec.btf, target)
    return patched
