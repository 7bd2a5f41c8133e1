"""Fast start: objects prepared once for this kernel, loaded from a cache.

Loading a compiled object the ordinary way parses its ELF and BTF, then
resolves CO-RE relocations against the kernel's BTF (parsing several
megabytes of vmlinux BTF): hundreds of milliseconds in Python.  All of it
depends only on the object file and the running kernel, so
:func:`prepare` does it once and keeps the result — bytecode with map
loads still symbolic, raw BTF, func/line info, map definitions, record
decoders — as plain data; :func:`load_prepared` then needs no ELF, BTF or
CO-RE code at all::

    import pybpf
    from pybpf.kernel.load_cache import load_cached

    with load_cached("exitsnoop.bpf.o", pybpf.load_object,
                     record_types={"events": "exit_event"}) as coll:
        coll.programs["handle_exit"].attach()
        for event in coll.ringbuf("events"):
            ...

The cache lives in ``$XDG_CACHE_HOME/pybpf/prepared`` (``~/.cache``),
keyed by the object's SHA-256, the kernel (release, build, BTF size; the
boot for objects that use kallsyms addresses) and the Python version.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import hashlib
import marshal
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import BPFError, KernelError

FORMAT = 1
"""Version of the prepared form; older cache files are ignored."""


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/pybpf`` (``~/.cache/pybpf``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pybpf")


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
    """``spec`` (an :class:`~pybpf.objects.ObjectSpec`) reduced to plain
    data for this kernel: CO-RE relocations and extern references resolved,
    instructions encoded, BTF and func/line info serialized.
    ``record_types`` maps ring buffer / perf buffer map names to the BTF
    type of their records (inferred where not given)."""
    from ..isa import encode
    from ..records import RecordType, infer_record_type
    from .collection import _attach_btf_id, _Loader
    from .kernel_btf import with_strings
    from .pins import DEFAULT_BPFFS
    from .programs import _func_info_bytes, _line_info_bytes, line_strings

    loader = _Loader(spec, DEFAULT_BPFFS, 0)
    btf = spec.btf
    full_btf = None
    if btf is not None and hasattr(btf, "strings"):
        strings = set().union(*(line_strings(ps.line_info) for ps in spec.programs.values()))
        full_btf = with_strings(btf, strings)
    programs = []
    for ps in spec.programs.values():
        insns = list(ps.instructions)
        if getattr(ps, "extern_references", None):
            insns = loader._resolve_externs(ps, insns)
        if ps.core_relocations:
            insns = loader._relocate(ps, insns)
        func_info = line_info = b""
        if full_btf is not None and (ps.func_info or ps.line_info):
            if ps.func_info:
                func_info = _func_info_bytes(ps.func_info)[0]
            if ps.line_info:
                line_info = _line_info_bytes(ps.line_info, full_btf)[0]
        programs.append({
            "name": ps.name, "type": ps.type, "section": ps.section,
            "attach_type": ps.attach_type, "attach_to": ps.attach_to,
            "license": ps.license or spec.license,
            "kernel_version": ps.kernel_version or spec.kernel_version,
            "flags": ps.flags, "sleepable": ps.sleepable, "code": encode(insns),
            "map_refs": [(r.pc, r.map_name, r.value, r.offset) for r in ps.map_references],
            "func_info": func_info, "line_info": line_info,
            "attach_btf_id": _attach_btf_id(ps)})
    maps = [_map_data(ms, loader) for ms in spec.maps.values()]
    decoders = {}
    for ms in spec.maps.values():
        if ms.type not in ("ringbuf", "perf_event_array"):
            continue
        t = (record_types or {}).get(ms.name)
        if t is None and btf is not None:
            t = infer_record_type(spec, ms.name)
        if t is not None and btf is not None:
            rt = RecordType.from_btf(btf, t)
            if rt is not None:
                decoders[ms.name] = rt.to_data()
    return {"format": FORMAT, "btf": full_btf.raw if full_btf is not None else None,
            "maps": maps, "programs": programs, "record_types": decoders,
            "variables": {k: tuple(v[:3]) for k, v in spec.variables.items()},
            "path": str(spec.path or "")}


def _map_data(ms: Any, loader: Any) -> dict[str, Any]:
    return {"name": ms.name, "type": ms.type, "key_size": ms.key_size,
            "value_size": ms.value_size, "max_entries": ms.max_entries, "flags": ms.flags,
            "btf_key": loader._type_id(ms.key_type), "btf_value": loader._type_id(ms.value_type),
            "inner": _map_data(ms.inner, loader) if ms.inner is not None else None,
            "pinning": ms.pinning, "freeze": ms.freeze, "numa_node": ms.numa_node,
            "map_extra": ms.map_extra,
            "contents": [(_plain(k), _plain(v)) for k, v in ms.contents]}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, int | str) or value is None:
        return value
    raise BPFError(f"initial map contents of type {type(value).__name__} cannot be cached")


# --- loading ---------------------------------------------------------------------------

def load_prepared(prepared: dict[str, Any], *, pin_dir: str | None = None,
                  log_level: int = 0) -> Any:
    """Load what :func:`prepare` produced: a
    :class:`~pybpf.kernel.Collection` (without a spec; ring buffer records
    decode with the prepared record types)."""
    from ..records import RecordType
    from .collection import Collection
    from .kernel_btf import KernelBTF
    from .pins import DEFAULT_BPFFS

    if prepared.get("format") != FORMAT:
        raise BPFError("prepared object of another format version: prepare it again")
    kbtf = None
    maps: dict[str, Any] = {}
    programs: dict[str, Any] = {}
    try:
        if prepared["btf"]:
            try:
                kbtf = KernelBTF.load(prepared["btf"])
            except KernelError:
                kbtf = None  # a kernel without BTF support: load without it
        reused: set[str] = set()
        for md in prepared["maps"]:
            maps[md["name"]] = _create_map(md, kbtf, pin_dir or DEFAULT_BPFFS, reused)
        arrays = [n for n, m in maps.items() if m.type == "prog_array"]
        for md in prepared["maps"]:
            if md["name"] not in arrays and md["name"] not in reused:
                _fill(md, maps[md["name"]], programs, maps)
        for pd in prepared["programs"]:
            programs[pd["name"]] = _load_program(pd, maps, kbtf, log_level)
        for md in prepared["maps"]:
            if md["name"] in arrays and md["name"] not in reused:
                _fill(md, maps[md["name"]], programs, maps)
        for md in prepared["maps"]:
            if md["pinning"] == "by_name" and md["name"] not in reused:
                maps[md["name"]].pin(os.path.join(pin_dir or DEFAULT_BPFFS, md["name"]))
    except BaseException:
        Collection(programs, maps, kbtf).close()
        raise
    coll = Collection(programs, maps, kbtf)
    coll.record_types = {k: RecordType.from_data(v) for k, v in prepared["record_types"].items()}
    return coll


def _create_map(md: dict[str, Any], kbtf: Any, pin_dir: str, reused: set[str]) -> Any:
    from .maps import KernelMap

    if md["pinning"] == "by_name":
        path = os.path.join(pin_dir, md["name"])
        if os.path.exists(path):
            from .pins import open_pinned

            m = open_pinned(path)
            if (m.type, m.key_size, m.value_size, m.max_entries) != (
                    md["type"], md["key_size"], md["value_size"], md["max_entries"]):
                m.close()
                raise BPFError(f"map {md['name']!r}: the map pinned at {path} does not match "
                               f"the object; remove the pin to recreate it")
            reused.add(md["name"])
            return m
    from .collection import default_max_entries

    inner = _create_map(md["inner"], kbtf, pin_dir, set()) if md["inner"] else None
    args = dict(flags=md["flags"], name=md["name"], inner=inner, numa_node=md["numa_node"],
                map_extra=md["map_extra"])
    entries = default_max_entries(md["type"], md["max_entries"])
    try:
        if kbtf is not None and (md["btf_key"] or md["btf_value"]):
            try:
                return KernelMap.create(md["type"], md["key_size"], md["value_size"],
                                        entries, btf=kbtf,
                                        btf_key_type_id=md["btf_key"],
                                        btf_value_type_id=md["btf_value"], **args)
            except KernelError as e:
                if e.errno != _errno.EINVAL:
                    raise
        return KernelMap.create(md["type"], md["key_size"], md["value_size"], entries, **args)
    finally:
        if inner is not None:
            inner.close()


def _fill(md: dict[str, Any], m: Any, programs: dict[str, Any], maps: dict[str, Any]) -> None:
    from . import sys as _sys

    if not md["contents"]:
        return
    for key, value in md["contents"]:
        kb = key if isinstance(key, bytes) else int(key).to_bytes(md["key_size"], "little")
        if isinstance(value, str):
            table = programs if md["type"] == "prog_array" else maps
            if value not in table:
                raise BPFError(f"map {md['name']!r}: element {key!r} names {value!r}, which "
                               f"the object does not have")
            vb = int(table[value].fd).to_bytes(4, "little")
        elif isinstance(value, int):
            vb = value.to_bytes(md["value_size"], "little", signed=value < 0)
        else:
            vb = value
        kbuf = ctypes.create_string_buffer(kb, max(len(kb), 1))
        vbuf = ctypes.create_string_buffer(vb, max(len(vb), 1))
        _sys.map_update_elem(m.fd, ctypes.addressof(kbuf), ctypes.addressof(vbuf), 0,
                             what=f"map {md['name']!r}")
    if md["freeze"]:
        m.freeze()


def _load_program(pd: dict[str, Any], maps: dict[str, Any], kbtf: Any, log_level: int) -> Any:
    from ..spec.defines import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE
    from .programs import KernelProgram

    code = bytearray(pd["code"])
    for pc, name, value, offset in pd["map_refs"]:
        if name not in maps:
            raise BPFError(f"program {pd['name']!r}: insn {pc} refers to map {name!r}, which "
                           f"the object does not have")
        base = pc * 8
        if code[base] != 0x18:
            raise BPFError(f"program {pd['name']!r}: reference to map {name!r} at insn {pc} "
                           f"is not a lddw")
        src = BPF_PSEUDO_MAP_VALUE if value else BPF_PSEUDO_MAP_FD
        code[base + 1] = (code[base + 1] & 0x0F) | (src << 4)
        code[base + 4:base + 8] = int(maps[name].fd).to_bytes(4, "little", signed=True)
        code[base + 12:base + 16] = (offset if value else 0).to_bytes(4, "little", signed=True)
    extra: dict[str, Any] = {}
    if kbtf is not None and (pd["func_info"] or pd["line_info"]):
        extra = dict(btf=kbtf, func_info=pd["func_info"] or None,
                     line_info=pd["line_info"] or None)
    prog = KernelProgram.load(bytes(code), pd["type"], name=pd["name"], license=pd["license"],
                              expected_attach_type=pd["attach_type"],
                              kernel_version=pd["kernel_version"], flags=pd["flags"],
                              sleepable=pd["sleepable"], log_level=log_level,
                              attach_btf_id=pd["attach_btf_id"], **extra)
    prog.section, prog.attach_to = pd["section"], pd["attach_to"]
    return prog


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
    where = directory or os.path.join(cache_dir(), "prepared")
    types_tag = repr(sorted((record_types or {}).items())).encode()
    key = _key(data + types_tag)
    file = os.path.join(where, f"{key}.marshal")
    prepared = None
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
        with open(file, "rb") as f:
            prepared = marshal.load(f)
        if prepared.get("format") != FORMAT or (prepared.get("boot_id") and prepared["boot_id"] != kernel_identity(True)):
            prepared = None
    if prepared is None:
        spec = parse(data)
        spec.path = str(path)
        prepared = prepare(spec, record_types=record_types)
        if any(getattr(p, "extern_references", None) for p in spec.programs.values()):
            prepared["boot_id"] = kernel_identity(True)
        os.makedirs(where, exist_ok=True)
        tmp = f"{file}.{os.getpid()}"
        with open(tmp, "wb") as f:
            marshal.dump(prepared, f)
        os.replace(tmp, file)
    if set_variables:
        prepared = set_prepared_variables(prepared, set_variables)
    return load_prepared(prepared, pin_dir=pin_dir)


def set_prepared_variables(prepared: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``prepared`` with global variables set (``{"min_duration_ns":
    1000}``), like :meth:`~pybpf.objects.ObjectSpec.set_variable`."""
    out = dict(prepared)
    maps = [dict(m) for m in prepared["maps"]]
    by_name = {m["name"]: m for m in maps}
    for name, value in values.items():
        if name not in prepared["variables"]:
            known = ", ".join(sorted(prepared["variables"])) or "none"
            raise BPFError(f"no global variable {name!r} (variables: {known})")
        map_name, offset, size = prepared["variables"][name]
        md = by_name[map_name]
        raw = value if isinstance(value, bytes) else int(value).to_bytes(
            size, "little", signed=int(value) < 0)
        if len(raw) != size:
            raise BPFError(f"variable {name} has {size} bytes, not {len(raw)}")
        contents = list(md["contents"])
        key, old = contents[0] if contents else (0, bytes(md["value_size"]))
        buf = bytearray(old)
        buf[offset:offset + size] = raw
        contents[:1] = [(key, bytes(buf))]
        md["contents"] = contents
    out["maps"] = maps
    return out


__all__ = ["cache_dir", "kernel_identity", "load_cached", "load_prepared", "prepare",
           "set_prepared_variables"]
