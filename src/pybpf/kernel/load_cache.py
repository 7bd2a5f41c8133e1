"""Fast start: objects prepared once for this kernel, loaded from a cache.

Loading a compiled object the ordinary way parses its ELF and BTF, then
resolves CO-RE relocations against the kernel's BTF (parsing several
megabytes of vmlinux BTF): hundreds of milliseconds in Python.  All of it
depends only on the object file and the running kernel, so
:func:`prepare` links the object once (:func:`pybpf.linker.link`) and
keeps the linked object — instructions with map loads still symbolic, raw
BTF, func/line info, map definitions and fill order — with the record
decoders, as plain data that :mod:`marshal` stores; :func:`load_prepared`
hands it to the kernel backend's last step
(:func:`pybpf.kernel.collection.load_linked`) and needs no ELF, BTF or
CO-RE code at all::

    import pybpf
    from pybpf.kernel.load_cache import load_cached

    with load_cached("exitsnoop.bpf.o", pybpf.load_object,
                     record_types={"events": "exit_event"}) as coll:
        coll.programs["handle_exit"].attach()
        for event in coll.ringbuf("events"):
            ...

The cache lives in this user's private pybpf cache
(:func:`pybpf.cache.private_dir`: ``$XDG_CACHE_HOME/pybpf/prepared`` or
``~/.cache/pybpf/prepared``, mode 0700, owner-checked), keyed by the
object's SHA-256, the kernel (release, build, BTF size; the boot for objects
that use kallsyms addresses) and the Python version.  Entries are sealed
with their SHA-256 and only unmarshalled from files this user owns
(:func:`pybpf.cache.read_sealed`); an entry that is damaged, foreign or of
another shape is ignored and prepared again.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from typing import Any

from ..cache import cache_root, private_dir, read_sealed, write_sealed
from ..errors import BPFError

FORMAT = 3
"""Version of the prepared form; older cache files are ignored.  (2: the
linked object of :mod:`pybpf.linker`, ``LinkedObject.to_data()``; 3: record
types chosen by :func:`pybpf.records.choose_record`, with their rules.)"""


MAX_ENTRY = 256 << 20
"""A prepared entry larger than this is not read (it is not one pybpf wrote)."""


def cache_dir() -> str:
    """This user's private pybpf cache directory
    (:func:`pybpf.cache.cache_root`)."""
    return os.fspath(cache_root())


def kernel_identity(boot: bool = False) -> str:
    """A string that changes when the running kernel does (with ``boot``,
    on every boot too: kallsyms addresses move with KASLR)."""
    u = os.uname()
    try:
        btf_size = os.stat("/sys/kernel/btf/vmlinux").st_size
    except OSError:
        btf_size = 0
    ident = f"{u.release}|{u.version}|{u.machine}|{btf_size}"
    if boot:
        with contextlib.suppress(OSError), open("/proc/sys/kernel/random/boot_id") as f:
            ident += "|" + f.read().strip()
    return ident


# --- preparing -------------------------------------------------------------------------

def prepare(spec: Any, *, record_types: dict[str, Any] | None = None) -> dict[str, Any]:
    """``spec`` (an :class:`~pybpf.objects.ObjectSpec`) linked for this
    kernel (:func:`pybpf.linker.link` with the kernel's resolver: CO-RE
    relocations and externs resolved, map loads symbolic) and reduced to
    plain data, with the decoders of its ring and perf buffer records.
    ``record_types`` maps ring buffer / perf buffer map names to the BTF
    type of their records (inferred where not given)."""
    from ..linker import link
    from ..records import BUFFER_MAP_TYPES, RecordType, choose_record
    from .collection import KernelResolver

    linked = link(spec, KernelResolver())
    decoders, rules = {}, {}
    for ms in spec.maps.values():
        if ms.type not in BUFFER_MAP_TYPES:
            continue
        choice = choose_record(spec, ms.name, (record_types or {}).get(ms.name))
        if isinstance(choice.decode, RecordType):
            decoders[ms.name] = choice.decode.to_data()
            rules[ms.name] = choice.rule
    prepared = {"format": FORMAT, "linked": linked.to_data(), "record_types": decoders,
                "record_rules": rules}
    if linked.boot_dependent:
        prepared["boot_id"] = kernel_identity(True)
    return prepared


# --- loading ---------------------------------------------------------------------------

def load_prepared(prepared: dict[str, Any], *, pin_dir: str | None = None,
                  log_level: int = 0, set_variables: dict[str, Any] | None = None) -> Any:
    """Load what :func:`prepare` produced: a
    :class:`~pybpf.kernel.Collection` (without a spec; ring buffer records
    decode with the prepared record types).  ``set_variables`` sets global
    variables first (as :meth:`ObjectSpec.set_variable`)."""
    return _load(*_materialize(prepared), pin_dir=pin_dir, log_level=log_level,
                 set_variables=set_variables)


def _load(linked: Any, record_types: dict[str, Any], record_rules: dict[str, Any], *,
          pin_dir: str | None = None, log_level: int = 0,
          set_variables: dict[str, Any] | None = None) -> Any:
    from .collection import load_linked

    for name, value in (set_variables or {}).items():
        linked.set_variable(name, value)
    coll = load_linked(linked, pin_dir=pin_dir, log_level=log_level)
    coll.record_types = record_types
    coll.record_rules = record_rules
    return coll


def _materialize(prepared: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The linked object, record types and record rules of a prepared form;
    a BPFError when it is of another version or shape."""
    from ..linked import LinkedObject
    from ..records import RecordType

    if not isinstance(prepared, dict) or prepared.get("format") != FORMAT:
        raise BPFError("prepared object of another format version: prepare it again")
    try:
        linked = LinkedObject.from_data(prepared["linked"])
        record_types = {k: RecordType.from_data(v)
                        for k, v in prepared["record_types"].items()}
        record_rules = dict(prepared.get("record_rules", {}))
    except Exception as e:  # not what prepare() writes: a damaged or foreign form
        raise BPFError(f"prepared object of the wrong shape ({type(e).__name__}: {e}): "
                       f"prepare it again") from None
    return linked, record_types, record_rules


# --- the cache -----------------------------------------------------------------------------

def _key(data: bytes, uses_kallsyms: bool | None = None) -> str:
    h = hashlib.sha256(data)
    h.update(f"|{FORMAT}|{sys.version_info[:2]}|{kernel_identity(bool(uses_kallsyms))}".encode())
    return h.hexdigest()[:32]


def load_cached(path: str | os.PathLike, parse: Callable[[bytes], Any], *,
                record_types: dict[str, Any] | None = None,
                set_variables: dict[str, Any] | None = None, pin_dir: str | None = None,
                directory: str | None = None) -> Any:
    """Load object file ``path`` through the prepared cache: the first call
    for an object and kernel parses it with ``parse`` (the object's bytes
    -> an :class:`~pybpf.objects.ObjectSpec`: ``pybpf.load_object``) and
    prepares it (slow), later calls load the prepared form (fast).
    ``set_variables`` sets ``.rodata``/``.data`` knobs before loading (as
    :meth:`ObjectSpec.set_variable`)."""
    with open(path, "rb") as f:
        data = f.read()
    if directory is not None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        where = directory
    else:
        where = os.fspath(private_dir("prepared"))
    types_tag = repr(sorted((record_types or {}).items())).encode()
    key = _key(data + types_tag)
    file = os.path.join(where, f"{key}.marshal")
    cached = _read_entry(file)
    if cached is not None:
        return _load(*cached, pin_dir=pin_dir, set_variables=set_variables)
    spec = parse(data)
    spec.path = str(path)
    prepared = prepare(spec, record_types=record_types)
    write_sealed(file, marshal.dumps(prepared))
    return load_prepared(prepared, pin_dir=pin_dir, set_variables=set_variables)


def _read_entry(file: str) -> tuple[Any, dict[str, Any], dict[str, Any]] | None:
    """The materialized form (:func:`_materialize`) of a cache entry, or None when the
    entry is absent, not this user's, damaged, of another format or shape,
    or made for another boot."""
    payload = read_sealed(file, max_size=MAX_ENTRY)
    if payload is None:
        return None
    try:
        prepared = marshal.loads(payload)
        materialized = _materialize(prepared)
    except (ValueError, EOFError, TypeError, BPFError):
        return None
    if prepared.get("boot_id") and prepared["boot_id"] != kernel_identity(True):
        return None
    return materialized


def set_prepared_variables(prepared: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``prepared`` with global variables set (``{"min_duration_ns":
    1000}``), like :meth:`~pybpf.objects.ObjectSpec.set_variable`."""
    from ..linked import LinkedObject

    linked = LinkedObject.from_data(prepared["linked"])
    for name, value in values.items():
        linked.set_variable(name, value)
    return {**prepared, "linked": linked.to_data()}


__all__ = ["cache_dir", "kernel_identity", "load_cached", "load_prepared", "prepare",
           "set_prepared_variables"]
