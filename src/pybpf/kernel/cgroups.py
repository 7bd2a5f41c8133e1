"""Programs attached to cgroups, cgroup by cgroup.

::

    from pybpf.kernel.cgroups import cgroup_programs, cgroup_tree

    for cg in cgroup_tree():                       # the whole cgroup v2 hierarchy
        for p in cg.programs:
            print(cg.path, p.id, p.attach_type, p.attach_flags, p.name)
    cgroup_programs("/sys/fs/cgroup/app", effective=True)   # inherited ones too

Each cgroup is asked with ``BPF_PROG_QUERY``, once per cgroup attach type;
the walk goes depth first in directory order, as ``bpftool cgroup tree``
does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import BPFError, KernelError
from ..spec.defines import BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE
from . import sys as _sys
from ._abi import ATTACH_TYPES
from .queries import prog_query


def cgroup2_mount() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (None when it is not)."""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


def cgroup_attach_types() -> list[str]:
    """The attach types of cgroup programs, in the kernel's order."""
    names = [n for n in ATTACH_TYPES if n.startswith("cgroup_") or n == "lsm_cgroup"]
    return sorted(names, key=ATTACH_TYPES.id_of)


def attach_flags_name(flags: int) -> str:
    """``multi``, ``override``, ``""`` or ``unknown(N)``, as bpftool prints
    a cgroup hook's attach flags."""
    if flags == BPF_F_ALLOW_MULTI:
        return "multi"
    if flags == BPF_F_ALLOW_OVERRIDE:
        return "override"
    return "" if not flags else f"unknown({flags:x})"


@dataclass(frozen=True)
class CgroupProgram:
    """A program attached to a cgroup hook."""

    id: int
    attach_type: str
    attach_flags: str
    name: str
    attach_btf_name: str = ""
    attach_btf_obj_id: int = 0
    attach_btf_id: int = 0


@dataclass(frozen=True)
class Cgroup:
    """A cgroup directory, its depth below the walk's root and its programs."""

    path: str
    level: int
    programs: list[CgroupProgram] = field(default_factory=list)


def _program(prog_id: int, attach_type: str, flags: int) -> CgroupProgram | None:
    from .info import program_info

    try:
        with _sys.get_fd_by_id("prog", prog_id) as fd:
            p = program_info(int(fd))
    except KernelError:  # detached meanwhile
        return None
    btf_name = ""
    if attach_type == "lsm_cgroup" and p.attach_btf_id:
        btf_name = _vmlinux_name(p.attach_btf_id)
    return CgroupProgram(p.id, attach_type, attach_flags_name(flags), p.name, btf_name,
                         p.attach_btf_obj_id, p.attach_btf_id)


def _vmlinux_name(type_id: int) -> str:
    try:
        from ..btf import BTF

        return BTF.load_vmlinux().name_of(type_id)
    except Exception:  # no kernel BTF: no name
        return ""


def cgroup_programs(path: str, *, effective: bool = False) -> list[CgroupProgram]:
    """The programs attached to the cgroup directory ``path`` (with
    ``effective``, also those it inherits), hook by hook."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise BPFError(f"cannot open cgroup {path}: {e.strerror}") from None
    out = []
    try:
        for attach_type in cgroup_attach_types():
            try:
                q = prog_query(attach_type, target_fd=fd, effective=effective)
            except KernelError:  # a hook this kernel lacks
                continue
            for i, prog_id in enumerate(q.prog_ids):
                flags = 0 if effective else (q.prog_flags[i] or q.attach_flags)
                p = _program(prog_id, attach_type, flags)
                if p is not None:
                    out.append(p)
    finally:
        os.close(fd)
    return out


def cgroup_tree(root: str | None = None, *, effective: bool = False) -> Iterator[Cgroup]:
    """Every cgroup under ``root`` (the cgroup v2 mount by default), root
    first then depth first, with its programs (cgroups without any
    included)."""
    root = root or cgroup2_mount()
    if root is None:
        raise BPFError("no cgroup v2 hierarchy is mounted: give the cgroup root")
    if not os.path.isdir(root):
        raise BPFError(f"{root}: no such cgroup directory")
    root_dev = os.stat(root).st_dev

    def walk(path: str, level: int) -> Iterator[Cgroup]:
        yield Cgroup(path, level, cgroup_programs(path, effective=effective))
        try:
            entries = list(os.scandir(path))
        except OSError:
            return
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False) or \
                        entry.stat(follow_symlinks=False).st_dev != root_dev:
                    continue
            except OSError:
                continue
            yield from walk(entry.path, level + 1)

    yield from walk(root.rstrip("/") or "/", 0)
