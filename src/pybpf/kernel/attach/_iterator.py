"""BPF iterators: a program run over kernel objects (tasks, maps, map
elements, cgroups...) each time its link is read::

    with iterator(prog) as it:                # an iter/task program
        print(it.read_text())
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ...errors import KernelError
from ...spec.perf import BPF_ITER_LINK_INFO, BPF_ITER_LINK_INFO_SIZE
from .. import sys as _sys
from .._fd import fd_of
from .._layout import Layout
from ..links import KernelLink, link_create
from ._base import AttachRequest
from ._cgroup import open_cgroup

__all__ = ["IterLink", "iterator"]


class IterLink(KernelLink):
    """An iterator link: each :meth:`read` (or :meth:`open`) runs the
    iterator program over the kernel objects and returns what it wrote."""

    def open(self):
        """A new readable file (``BPF_ITER_CREATE``); reading it runs the
        program.  Close it when done."""
        fd = _sys.iter_create(self.fd, what=f"iterator {self.target}")
        return os.fdopen(fd.release(), "rb", buffering=0)

    def read(self) -> bytes:
        """Run the iterator to the end: every byte its program wrote."""
        chunks = []
        with self.open() as f:
            while True:
                try:
                    chunk = f.read(1 << 16)
                except OSError as e:
                    raise KernelError(f"reading iterator {self.target}: {e.strerror}",
                                      errno=e.errno, operation="read iterator") from None
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks)

    def read_text(self) -> str:
        """:meth:`read` decoded as UTF-8."""
        return self.read().decode("utf-8", "replace")


def iterator(program: Any, *, map: Any = None, task: int | None = None,
             thread: int | None = None, cgroup: Any = None, cgroup_order: int = 0,
             target: str = "") -> IterLink:
    """Attach an iterator program (``iter/task``, ``iter/bpf_map_elem``...):
    ``map`` for map iterators, ``task``/``thread`` to walk one process or
    thread, ``cgroup`` (a path or fd) for cgroup iterators."""
    layout = Layout("bpf_iter_link_info", BPF_ITER_LINK_INFO_SIZE, BPF_ITER_LINK_INFO)
    info = None
    cg_fd = None
    try:
        if map is not None:
            info = layout.new(map_fd=fd_of(map))
        elif task is not None:
            info = layout.new(**{"task.pid": task})
        elif thread is not None:
            info = layout.new(**{"task.tid": thread})
        elif cgroup is not None:
            cg_fd = open_cgroup(cgroup) if isinstance(cgroup, str) else None
            info = layout.new(**{"cgroup.cgroup_fd": int(cg_fd) if cg_fd else fd_of(cgroup),
                                 "cgroup.order": cgroup_order})
        extra: dict[str, Any] = {}
        if info is not None:
            extra = {"iter_info": info.address, "iter_info_len": layout.size}
        label = target or f"iter {getattr(program, 'attach_to', '') or '?'}"
        return link_create(program, 0, "trace_iter", target=label, link_class=IterLink,
                           **extra)
    finally:
        if cg_fd is not None:
            cg_fd.close()


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "iterator": lambda r: iterator(r.program, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
