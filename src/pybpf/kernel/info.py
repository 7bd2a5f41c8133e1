"""What the kernel says about its BPF objects, and walks over all of them.

For a CLI's ``prog list`` / ``map list`` and for debugging::

    from pybpf.kernel import info

    for p in info.programs():          # every loaded program
        print(p.id, p.type, p.name, p.tag, p.map_ids, p.run_cnt)
    for m in info.maps():
        print(m.id, m.type, m.name, m.key_size, m.value_size, m.max_entries)

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
    return ProgramInfo(
        id=first.id, name=first.name, type=PROG_TYPES.name_of(first.type), tag=first.tag.hex(),
        load_time_ns=first.load_time, created_by_uid=first.created_by_uid, map_ids=map_ids,
        btf_id=first.btf_id, jited_size=first.jited_prog_len,
        xlated_size=first.xlated_prog_len, gpl_compatible=bool(first.gpl_compatible),
        run_time_ns=first.run_time_ns, run_cnt=first.run_cnt,
        recursion_misses=first.recursion_misses, verified_insns=first.verified_insns,
        attach_btf_id=first.attach_btf_id, attach_btf_obj_id=first.attach_btf_obj_id,
        ifindex=first.ifindex)


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
    return MapInfo(
        id=r.id, name=r.name, type=MAP_TYPES.name_of(r.type), key_size=r.key_size,
        value_size=r.value_size, max_entries=r.max_entries, flags=r.map_flags,
        btf_id=r.btf_id, btf_key_type_id=r.btf_key_type_id,
        btf_value_type_id=r.btf_value_type_id,
        btf_vmlinux_value_type_id=r.btf_vmlinux_value_type_id, map_extra=r.map_extra,
        ifindex=r.ifindex, frozen=bool(int(frozen)) if frozen is not None else None,
        memlock=int(memlock) if memlock is not None else None)


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
    return LinkInfo(id=r.id, type=kind, prog_id=r.prog_id, details=details)


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
