"""cgroup hooks: ``cgroup_skb``, ``cgroup/connect4``, ``sockops``... on a
directory of the cgroup v2 hierarchy::

    with cgroup(prog, "/sys/fs/cgroup/app"):      # the hook its section names
        ...
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

from ...errors import AttachError, KernelError
from ...spec.defines import BPF_F_ALLOW_MULTI
from .. import perf as _perf
from .. import sys as _sys
from .._abi import ATTACH_TYPES
from .._fd import FD, fd_of
from ..links import KernelLink, link_create
from ._base import LINK_UNSUPPORTED, Attachment, AttachRequest, ProgAttachment, program_label

__all__ = ["cgroup", "cgroup_root", "open_cgroup"]


def cgroup_root() -> str:
    """The mount point of the cgroup v2 hierarchy (``/sys/fs/cgroup`` or
    ``/sys/fs/cgroup/unified``), mounting one when there is none."""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    target = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/cpu") else \
        "/sys/fs/cgroup"
    os.makedirs(target, exist_ok=True)
    lib = _perf.libc()
    if lib.mount(b"cgroup2", target.encode(), b"cgroup2", 0, None) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"no cgroup v2 hierarchy is mounted and mounting one at {target} "
                          f"failed: {os.strerror(err)}", errno=err, operation="mount cgroup2")
    return target


def open_cgroup(path: str | None) -> FD:
    """An fd of the cgroup directory ``path`` (relative to the cgroup v2
    root, or absolute; the root itself by default)."""
    path = path or cgroup_root()
    if not os.path.isabs(path):
        path = os.path.join(cgroup_root(), path)
    try:
        return FD(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as e:
        raise KernelError(f"cannot open cgroup {path}: {e.strerror}", errno=e.errno,
                          operation="open cgroup") from None


def cgroup(program: Any, path: str | int | None = None, attach_type: str | None = None, *,
           multi: bool = True, use_link: bool | None = None) -> Attachment | KernelLink:
    """Attach a cgroup program (``cgroup_skb``, ``cgroup/connect4``,
    ``sockops``...) to the cgroup at ``path`` (a directory in the cgroup v2
    hierarchy, relative to its root, or an open fd; default the root):
    a BPF link, or ``BPF_PROG_ATTACH`` with ``BPF_F_ALLOW_MULTI`` on kernels
    without cgroup links (before 5.7; ``use_link=False`` forces it)."""
    at = attach_type or getattr(program, "expected_attach_type", None)
    if at is None:
        raise AttachError(f"{program_label(program)}: which cgroup hook? give attach_type "
                       f"(for example 'cgroup_inet_ingress')")
    label = f"cgroup {path if path is not None else 'root'} ({at})"
    if use_link is not False:
        fd = FD(os.dup(path)) if isinstance(path, int) else open_cgroup(path)
        try:
            return link_create(program, int(fd), at, target=label)
        except KernelError as e:
            if use_link or e.errno not in LINK_UNSUPPORTED:
                raise
        finally:
            fd.close()
    fd = FD(os.dup(path)) if isinstance(path, int) else open_cgroup(path)
    try:
        _sys.prog_attach(target_fd=int(fd), attach_bpf_fd=fd_of(program),
                         attach_type=ATTACH_TYPES.id_of(at),
                         attach_flags=BPF_F_ALLOW_MULTI if multi else 0,
                         what=f"{program_label(program)} to {label}")
    except BaseException:
        fd.close()
        raise
    return ProgAttachment(fd, ATTACH_TYPES.id_of(at), program=program, target=label)


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "cgroup": lambda r: cgroup(r.program, r.target, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
