"""Loading an :class:`~pybpf.objects.ObjectSpec` into the userspace VM.

>>> import pybpf.vm
>>> with pybpf.vm.load(spec) as coll:                      # doctest: +SKIP
...     result = coll.programs["xdp_count"].test_run(packet)
...     print(dict(coll.maps["counts"].items()))

The same interface as :func:`pybpf.kernel.load` (both are
:class:`pybpf.backend.Collection`\\ s): ``programs`` and ``maps`` by name,
``ringbuf()``, ``close()`` and a context manager.  Maps are
:mod:`pybpf.maps` maps, with the map protocol the kernel's maps have
(:mod:`pybpf.codecs`) and the same codecs (the object's BTF types);
programs are :class:`~pybpf.vm.machine.Program`\\ s with ``test_run``.

The spec goes through :func:`pybpf.linker.link` first, with a resolver
that knows no kernel symbols (:class:`~pybpf.linker.NoKernel`): weak ksym
and kfunc externs read as 0, strong ones cannot load.  What is left here
is the backend's last step: a map reference becomes the map's address in
the VM (the VM's own address, not the host's).  An arena map
(:class:`pybpf.maps.ArenaMap`) is one region of the VM's memory holding the
object's ``__arena`` globals, in a 4 GiB window of its own;
``addr_space_cast`` finds it through the VM's ``arena_base``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from .. import backend
from ..errors import BPFError
from ..isa import OpForm
from ..linked import PROG_ARRAY, LinkedObject
from ..linker import NoKernel, link
from ..objects import ObjectSpec
from ..records import choose_record
from ..verifier import VerifierResult, verify_object
from .machine import VM, Program


class Collection(backend.Collection):
    """Programs and maps loaded together into one VM (a
    :class:`pybpf.backend.Collection`)."""

    def __init__(self, vm: VM, spec: ObjectSpec):
        self.vm = vm
        self.spec = spec
        self.maps: dict[str, Any] = {}
        self.programs: dict[str, Program] = {}  # type: ignore[assignment]

    def ringbuf(self, name: str, *, record: Any = None, raw: bool = False,
                type: Any = None) -> Iterator[Any]:
        """Consume the records waiting in ring buffer map ``name``, decoded
        as the kernel backend decodes them (:func:`pybpf.records.choose_record`):
        as ``record`` when given (``"struct event"``, a
        :class:`~pybpf.records.RecordType` or a function; ``type`` is its
        older name), else as the object says (the map's value type,
        ``BPF_RECORD``, the one struct of the reserved size), else (or with
        ``raw``) raw bytes."""
        ring = self.maps[name]
        decode = None if raw else \
            choose_record(self.spec, name, record if record is not None else type).decode
        for record in ring:
            yield decode(record) if decode is not None else bytes(record)

    def close(self) -> None:
        """Forget the programs and maps (the VM's memory goes with them)."""
        self.programs.clear()
        self.maps.clear()


def load(spec: ObjectSpec, *, vm: VM | None = None, core_target: Any = None,
         verify: bool = True, privileged: bool = True, log_level: int = 0,
         **vm_options: Any) -> Collection:
    """Load every map and program of ``spec`` into a VM (a new one unless
    ``vm`` is given; ``vm_options`` go to :class:`VM`).

    The spec is linked (:func:`pybpf.linker.link`; CO-RE relocations
    against ``core_target``, the running kernel's BTF by default, when a
    program has relocations), then, with ``verify`` (the default), every
    program is proved safe by :mod:`pybpf.verifier` as the kernel would
    (``privileged`` False: as an unprivileged user's; ``log_level`` 1 or 2
    keeps the kernel-format log in each result); a refusal raises
    :class:`pybpf.errors.VerifierError` (a
    :class:`pybpf.verifier.VerificationError`: the kernel's message, the
    instruction, the source line, the state and path that failed).  A
    program using a feature the verifier does not model yet is refused
    too, the error naming the feature.  ``verify=False`` runs programs
    unverified, under the VM's run-time checks only.  Each loaded program's
    ``verification`` is its :class:`pybpf.verifier.VerifierResult` (None
    unverified).  Maps are then created and filled in the linked order:
    plain maps and ``.rodata`` before the programs, program arrays after
    them.
    """
    linked = link(spec, NoKernel(), core_target=core_target, debug_info=verify)
    results = verify_linked(linked, privileged=privileged, log_level=log_level) if verify \
        else {}
    return load_linked(linked, vm=vm or VM(**vm_options), verification=results)


def verify_linked(linked: LinkedObject, *, privileged: bool = True,
                  log_level: int = 0) -> dict[str, VerifierResult]:
    """Verify every program of ``linked``; raise the first refusal."""
    results = verify_object(linked, privileged=privileged, log_level=log_level)
    for result in results.values():
        result.raise_if_rejected()
    return results


def load_linked(linked: LinkedObject, *, vm: VM,
                verification: Mapping[str, VerifierResult] | None = None) -> Collection:
    """Load what :func:`pybpf.linker.link` made of a spec (``linked.spec``,
    whose map specs give the maps their codecs) into ``vm``; ``verification``
    gives programs by name their :class:`~pybpf.verifier.VerifierResult`."""
    spec = linked.spec
    if spec is None:
        raise BPFError("the VM loads linked objects with their spec (link(spec), not "
                       "LinkedObject.from_data)")
    coll = Collection(vm, spec)
    for name in linked.maps:
        mspec = spec.maps[name]
        changes: dict[str, Any] = {"contents": [], "freeze": False}
        if mspec.btf is None and spec.btf is not None and \
                (mspec.key_type is not None or mspec.value_type is not None):
            changes["btf"] = spec.btf  # codecs as the kernel's
        coll.maps[name] = vm.create_map(dataclasses.replace(mspec, **changes))
        data = linked.maps[name].initial_data
        if data:  # an arena's __arena globals, at its start
            coll.maps[name].write(0, data)
    for name in linked.fill_before:
        _fill(coll, linked, name)
    ordered = list(coll.maps.values())
    for name, lp in linked.programs.items():
        refs = lp.map_refs

        def resolve(pc: int, form: OpForm, imm: int, next_imm: int, refs: Any = refs) -> int:
            ref = refs.get(pc)
            if ref is None:  # a map[fd:N] of this VM's
                return vm.resolve_pseudo(pc, form, imm, next_imm, ordered)
            m = coll.maps[ref.map]
            return vm.value_pointer(m, ref.offset) if ref.value else vm.map_pointer(m)

        coll.programs[name] = vm.load(lp.insns, name=name, prog_type=lp.type,
                                      resolve_pseudo=resolve,
                                      verification=(verification or {}).get(name))
    for name in linked.fill_after:
        _fill(coll, linked, name)
    return coll


def _fill(coll: Collection, linked: LinkedObject, name: str) -> None:
    """Write a map's initial contents (names become the programs or maps
    they name: the link step checked they exist) and freeze it if asked."""
    lm, m = linked.maps[name], coll.maps[name]
    table: dict[str, Any] = coll.programs if lm.type == PROG_ARRAY else coll.maps
    for key, value in lm.contents:
        m.update(key, table[value] if isinstance(value, str) else value)
    if lm.freeze:
        m.freeze()
