"""What the kernel says about its BPF objects, and walks over all of them.

For a CLI's ``prog list`` / ``map list`` and for debugging::

    from pybpf.kernel import info

    for p in info.programs():          # every loaded program
        print(p.id, p.type, p.name, p.tag, p.map_ids, p.run_cnt)
    for m in info.maps():
        print(m.id, m.type, m.name, m.key_size, m.value_size, m.max_entries)
    info.select("prog", "name", "handle_exit")   # ids, as bpftool's selectors find them

Each record is a snapshot taken through ``BPF_OBJ_GET_INFO_BY_FD``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import KernelError
from . import sys as _sys
from ._abi import INFO, LINK_TYPES, MAP_TYPES, PROG_TYPES
from ._fd import FD


@dataclass(frozen=True)
class ProgramInfo:
    """A loaded program: identity, type, tag, when and by whom it was loaded,
    the maps it uses, its sizes and (with stats enabled) run counts."""

    id: int
    name: str
    type: str
    tag: str
    load_time_ns: int
    created_by_uid: int
    map_ids: tuple[int, ...]
    btf_id: int
    jited_size: int
    xlated_size: int
    gpl_compatible: bool
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    attach_btf_id: int
    attach_btf_obj_id: int
    ifindex: int
    memlock: int | None = None
    """Bytes charged for the program (from ``/proc/self/fdinfo``)."""

    @property
    def jited(self) -> bool:
        """Whether the JIT compiled the program."""
        return self.jited_size > 0

    @property
    def load_epoch(self) -> int:
        """Wall-clock time of loading in whole seconds since the epoch (the
        time of boot plus ``load_time_ns``, rounded down as bpftool does)."""
        real = time.clock_gettime_ns(time.CLOCK_REALTIME)
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        return (real - boot + self.load_time_ns) // 1_000_000_000

    @property
    def loaded_at(self) -> datetime:
        """Wall-clock time of loading (``load_time_ns`` counts from boot)."""
        since = time.clock_gettime_ns(time.CLOCK_BOOTTIME) - self.load_time_ns
        return datetime.fromtimestamp(time.time() - since / 1e9)


@dataclass(frozen=True)
class MapInfo:
    """A map: identity, type, sizes, flags and BTF ids."""

    id: int
    name: str
    type: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int
    ifindex: int
    frozen: bool | None = None
    memlock: int | None = None
    owner_prog_type: str | None = None
    """For program arrays: the type of the programs it may hold, once one
    was stored (from ``/proc/self/fdinfo``)."""
    owner_jited: bool | None = None
    """For program arrays: whether their programs are JIT-compiled."""


@dataclass(frozen=True)
class LinkInfo:
    """A link: identity, type, the program it attaches and type-specific
    details (tracepoint name, cgroup id, ifindex...)."""

    id: int
    type: str
    prog_id: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BTFInfo:
    """A BTF object: id, name (module name for kernel BTF), size in bytes
    and whether it is the kernel's own."""

    id: int
    name: str
    size: int
    kernel_btf: bool


def _info(fd: int, layout: str, **fields: Any):
    return _sys.obj_get_info_by_fd(fd, INFO[layout].new(**fields))


def program_info(fd: int) -> ProgramInfo:
    """The record of the program behind ``fd``."""
    first = _info(fd, "bpf_prog_info")
    map_ids: tuple[int, ...] = ()
    if first.nr_map_ids:
        ids = (ctypes.c_uint32 * first.nr_map_ids)()
        again = _info(fd, "bpf_prog_info", nr_map_ids=first.nr_map_ids,
                      map_ids=ctypes.addressof(ids))
        map_ids = tuple(ids[:min(again.nr_map_ids, first.nr_map_ids)])
    memlock = _fdinfo(fd).get("memlock")
    return ProgramInfo(
        id=first.id, name=first.name, type=PROG_TYPES.name_of(first.type), tag=first.tag.hex(),
        load_time_ns=first.load_time, created_by_uid=first.created_by_uid, map_ids=map_ids,
        btf_id=first.btf_id, jited_size=first.jited_prog_len,
        xlated_size=first.xlated_prog_len, gpl_compatible=bool(first.gpl_compatible),
        run_time_ns=first.run_time_ns, run_cnt=first.run_cnt,
        recursion_misses=first.recursion_misses, verified_insns=first.verified_insns,
        attach_btf_id=first.attach_btf_id, attach_btf_obj_id=first.attach_btf_obj_id,
        ifindex=first.ifindex, memlock=int(memlock) if memlock is not None else None)


def program_code(fd: int, *, jited: bool = False) -> bytes:
    """The program as the kernel holds it: the translated (``xlated``)
    instructions, or the native code with ``jited``.  Empty when the
    kernel withholds it (needs CAP_SYS_ADMIN; kptr restrictions)."""
    size_field, ptr_field = ("jited_prog_len", "jited_prog_insns") if jited else \
        ("xlated_prog_len", "xlated_prog_insns")
    size = _info(fd, "bpf_prog_info")[size_field]
    if not size:
        return b""
    buf = ctypes.create_string_buffer(size)
    rec = _info(fd, "bpf_prog_info", **{size_field: size, ptr_field: ctypes.addressof(buf)})
    return buf.raw[:min(size, rec[size_field])]


def _fdinfo(fd: int) -> dict[str, str]:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def map_info(fd: int) -> MapInfo:
    """The record of the map behind ``fd`` (``frozen`` and ``memlock`` from
    ``/proc/self/fdinfo``)."""
    r = _info(fd, "bpf_map_info")
    extra = _fdinfo(fd)
    frozen = extra.get("frozen")
    memlock = extra.get("memlock")
    owner = extra.get("owner_prog_type")
    owner_jited = extra.get("owner_jited")
    return MapInfo(
        id=r.id, name=r.name, type=MAP_TYPES.name_of(r.type), key_size=r.key_size,
        value_size=r.value_size, max_entries=r.max_entries, flags=r.map_flags,
        btf_id=r.btf_id, btf_key_type_id=r.btf_key_type_id,
        btf_value_type_id=r.btf_value_type_id,
        btf_vmlinux_value_type_id=r.btf_vmlinux_value_type_id, map_extra=r.map_extra,
        ifindex=r.ifindex, frozen=bool(int(frozen)) if frozen is not None else None,
        memlock=int(memlock) if memlock is not None else None,
        owner_prog_type=PROG_TYPES.name_of(int(owner)) if owner is not None else None,
        owner_jited=bool(int(owner_jited)) if owner_jited is not None else None)


_LINK_NAMES = {  # link type -> (pointer field, length field) of a name to fetch
    "raw_tracepoint": ("raw_tracepoint.tp_name", "raw_tracepoint.tp_name_len"),
    "iter": ("iter.target_name", "iter.target_name_len"),
}
_LINK_DETAILS = {
    "raw_tracepoint": ("raw_tracepoint.cookie",),
    "tracing": ("tracing.attach_type", "tracing.target_obj_id", "tracing.target_btf_id",
                "tracing.cookie"),
    "cgroup": ("cgroup.cgroup_id", "cgroup.attach_type"),
    "iter": ("iter.map.map_id",),
    "netns": ("netns.netns_ino", "netns.attach_type"),
    "xdp": ("xdp.ifindex",),
    "struct_ops": ("struct_ops.map_id",),
    "netfilter": ("netfilter.pf", "netfilter.hooknum", "netfilter.priority",
                  "netfilter.flags"),
    "kprobe_multi": ("kprobe_multi.count", "kprobe_multi.flags", "kprobe_multi.missed"),
    "uprobe_multi": ("uprobe_multi.count", "uprobe_multi.flags", "uprobe_multi.pid"),
    "perf_event": ("perf_event.type",),
    "tcx": ("tcx.ifindex", "tcx.attach_type"),
    "netkit": ("netkit.ifindex", "netkit.attach_type"),
    "sockmap": ("sockmap.map_id", "sockmap.attach_type"),
}


def link_info(fd: int) -> LinkInfo:
    """The record of the link behind ``fd``, with the details of its type."""
    r = _info(fd, "bpf_link_info")
    kind = LINK_TYPES.name_of(r.type)
    details: dict[str, Any] = {}
    if kind in _LINK_NAMES:
        ptr, length = _LINK_NAMES[kind]
        buf = ctypes.create_string_buffer(256)
        r = _info(fd, "bpf_link_info", **{ptr: ctypes.addressof(buf), length: 256})
        details[ptr.split(".", 1)[1]] = buf.value.decode("utf-8", "replace")
    for name in _LINK_DETAILS.get(kind, ()):
        details[name.split(".", 1)[1].replace("map.", "")] = r[name]
    if kind == "perf_event":
        details.update(_perf_event_details(fd, r["perf_event.type"]))
    return LinkInfo(id=r.id, type=kind, prog_id=r.prog_id, details=details)


# perf event link kind -> (union member, name field, the other fields to report)
_PERF_EVENT_FIELDS = {
    "uprobe": ("uprobe", "file_name", ("offset", "cookie", "ref_ctr_offset")),
    "uretprobe": ("uprobe", "file_name", ("offset", "cookie", "ref_ctr_offset")),
    "kprobe": ("kprobe", "func_name", ("offset", "addr", "missed", "cookie")),
    "kretprobe": ("kprobe", "func_name", ("offset", "addr", "missed", "cookie")),
    "tracepoint": ("tracepoint", "tp_name", ("cookie",)),
    "event": ("event", None, ("config", "type", "cookie")),
}


def perf_event_kind(type_id: int) -> str:
    """The name of a perf event link's kind (``"tracepoint"``, ``"kprobe"``...)
    from its ``bpf_perf_event_type`` number."""
    from ..spec.layout import enum_name

    name = enum_name("bpf_perf_event_type", type_id)
    return name.removeprefix("BPF_PERF_EVENT_").lower() if name else f"unknown({type_id})"


def _perf_event_details(fd: int, type_id: int) -> dict[str, Any]:
    kind = perf_event_kind(type_id)
    if kind not in _PERF_EVENT_FIELDS:
        return {"event_type": kind}
    member, name_field, others = _PERF_EVENT_FIELDS[kind]
    prefix = f"perf_event.{member}."
    out: dict[str, Any] = {"event_type": kind}
    if name_field is not None:
        buf = ctypes.create_string_buffer(4096)
        r = _info(fd, "bpf_link_info", **{prefix + name_field: ctypes.addressof(buf),
                                          prefix + "name_len": len(buf)})
        out[name_field] = buf.value.decode("utf-8", "replace")
    else:
        r = _info(fd, "bpf_link_info")
    for f in others:
        out[f] = r[prefix + f]
    return out


def btf_info(fd: int) -> BTFInfo:
    """The record of the BTF object behind ``fd``."""
    name = ctypes.create_string_buffer(64)
    r = _info(fd, "bpf_btf_info", name=ctypes.addressof(name), name_len=64)
    return BTFInfo(id=r.id, name=name.value.decode("utf-8", "replace"), size=r.btf_size,
                   kernel_btf=bool(r.kernel_btf))


def ids(kind: str) -> Iterator[int]:
    """Every id of ``kind`` (``prog``, ``map``, ``link``, ``btf``), ascending."""
    current = 0
    while (current := _sys.get_next_id(kind, current)) is not None:
        yield current


def _walk(kind: str, read) -> Iterator[Any]:
    for ident in ids(kind):
        try:
            fd: FD = _sys.get_fd_by_id(kind, ident)
        except KernelError as e:
            if e.errno == _errno.ENOENT:  # unloaded between the two calls
                continue
            raise
        try:
            yield read(int(fd))
        finally:
            fd.close()


def programs() -> Iterator[ProgramInfo]:
    """A record for every program loaded in the kernel."""
    return _walk("prog", program_info)


def maps() -> Iterator[MapInfo]:
    """A record for every map in the kernel."""
    return _walk("map", map_info)


def links() -> Iterator[LinkInfo]:
    """A record for every link in the kernel."""
    return _walk("link", link_info)


def btfs() -> Iterator[BTFInfo]:
    """A record for every BTF object in the kernel (vmlinux, modules, programs')."""
    return _walk("btf", btf_info)


# --- selecting objects as bpftool does ---------------------------------------------------

SELECTORS = {"prog": ("id", "name", "tag", "pinned"), "map": ("id", "name", "pinned"),
             "link": ("id", "pinned"), "btf": ("id",)}
"""The ways each kind of object can be selected (bpftool's ``id N``,
``name NAME``, ``tag TAG``, ``pinned PATH``)."""

_KIND_WORDS = {"prog": "program", "map": "map", "link": "link", "btf": "BTF object"}


def select(kind: str, by: str, value: str | int) -> list[int]:
    """The ids of the ``kind`` objects (``prog``, ``map``, ``link``, ``btf``)
    that ``by value`` selects: ``id 5``, ``name counts`` (every object of
    that name: names are not unique, and the kernel keeps 15 characters),
    ``tag 6b1ea1a5d5faa698`` (programs) or ``pinned /sys/fs/bpf/x``.  An
    id must exist; a selector that finds nothing raises
    :class:`~pybpf.errors.BPFError` naming it."""
    from ..errors import BPFError

    word = _KIND_WORDS[kind]
    if by not in SELECTORS[kind]:
        raise BPFError(f"a {word} is selected by {' | '.join(SELECTORS[kind])}, not {by!r}")
    if by == "id":
        ident = _parse_id(value, word)
        try:
            _sys.get_fd_by_id(kind, ident).close()
        except KernelError as e:
            if e.errno == _errno.ENOENT:
                raise BPFError(f"no {word} with id {ident}") from None
            raise
        return [ident]
    if by == "pinned":
        return [pinned_id(kind, str(value))]
    if by == "tag":
        want = "".join(c for c in str(value).lower() if c not in " :")
        found = [p.id for p in programs() if p.tag == want]
        if not found:
            raise BPFError(f"no program with tag {value}")
        return found
    name = str(value)
    records = programs() if kind == "prog" else maps()
    found = [r.id for r in records if r.name == name[:15]]
    if not found:
        raise BPFError(f"no {word} named {name!r}")
    return found


def _parse_id(value: str | int, word: str) -> int:
    from ..errors import BPFError

    try:
        ident = int(value, 0) if isinstance(value, str) else int(value)
    except ValueError:
        raise BPFError(f"{value!r} is not a {word} id") from None
    if ident <= 0:
        raise BPFError(f"{value!r} is not a {word} id")
    return ident


def pinned_id(kind: str, path: str) -> int:
    """The id of the ``kind`` object pinned at ``path``; a pin of another
    kind raises :class:`~pybpf.errors.BPFError`."""
    from ..errors import BPFError
    from .bpffs import pinned_kind

    fd = _sys.obj_get(path, what=f"object pinned at {path}")
    try:
        found = pinned_kind(int(fd))
        if found != kind:
            raise BPFError(f"{path} holds a {_KIND_WORDS.get(found, found)}, "
                           f"not a {_KIND_WORDS[kind]}")
        layout = {"prog": "bpf_prog_info", "map": "bpf_map_info", "link": "bpf_link_info",
                  "btf": "bpf_btf_info"}[kind]
        return _info(int(fd), layout).id
    finally:
        fd.close()


def btf_users() -> dict[int, tuple[list[int], list[int]]]:
    """For each BTF id that programs or maps use: ``(program ids, map ids)``."""
    out: dict[int, tuple[list[int], list[int]]] = {}
    for p in programs():
        if p.btf_id:
            out.setdefault(p.btf_id, ([], []))[0].append(p.id)
    for m in maps():
        if m.btf_id:
            out.setdefault(m.btf_id, ([], []))[1].append(m.id)
    return out
