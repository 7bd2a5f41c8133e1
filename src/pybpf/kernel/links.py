"""Links: a program attached to a hook, for as long as the link lives.

:class:`KernelLink` owns a link fd: ``close()`` (or leaving a ``with``
block) detaches unless the link is pinned; :meth:`~KernelLink.detach`
detaches while keeping the fd; :meth:`~KernelLink.update` swaps the
program.  The generic constructors here are :func:`link_create`
(``BPF_LINK_CREATE``) and :func:`raw_tracepoint_open`; hook-specific
attach functions build on them.
"""

from __future__ import annotations

from typing import Any

from . import sys as _sys
from ._abi import ATTACH_TYPES, INFO, LINK_TYPES
from ._fd import FD, FDOwner, fd_of


def link_type_name(type_id: int) -> str:
    """The name of link type number ``type_id`` (``"raw_tracepoint"``...)."""
    return LINK_TYPES.name_of(type_id)


class KernelLink(FDOwner):
    """An attachment, owned through its link fd.

    ``program`` is the :class:`KernelProgram` attached (when known) and
    ``target`` a description of the hook.
    """

    def __init__(self, fd: FD, *, program: Any = None, target: str = ""):
        self._fd = fd
        self.program = program
        self.target = target

    @classmethod
    def from_id(cls, link_id: int) -> KernelLink:
        """Open the link with kernel id ``link_id``."""
        return cls(_sys.get_fd_by_id("link", link_id), target=f"link id {link_id}")

    @classmethod
    def from_pin(cls, path: str) -> KernelLink:
        """Open the link pinned at ``path``."""
        return cls(_sys.obj_get(path, what=f"link pinned at {path}"), target=path)

    @property
    def id(self) -> int:
        """The kernel's id for this link."""
        return _sys.obj_get_info_by_fd(self.fd, INFO["bpf_link_info"].new()).id

    def info(self):
        """The kernel's view of the link (:class:`~pybpf.kernel.info.LinkInfo`)."""
        from .info import link_info

        return link_info(self.fd)

    def update(self, program: Any, *, old_program: Any = None) -> None:
        """Attach ``program`` in place of the current one, atomically
        (``BPF_LINK_UPDATE``); with ``old_program`` only if that is the
        one attached."""
        from ..spec.defines import BPF_F_REPLACE

        _sys.link_update(self.fd, fd_of(program),
                         flags=BPF_F_REPLACE if old_program is not None else 0,
                         old_prog_fd=fd_of(old_program) if old_program is not None else 0,
                         what=self._what())
        self.program = program

    def detach(self) -> None:
        """Detach the program now (``BPF_LINK_DETACH``), even if pinned; the
        fd stays open until :meth:`close`."""
        _sys.link_detach(self.fd, self._what())

    def pin(self, path: str) -> None:
        """Pin the link at ``path`` so it outlives this process."""
        from .bpffs import pin

        pin(self, path)

    def close(self) -> None:
        """Close the link fd: the program is detached unless the link is
        pinned or another fd holds it."""
        super().close()

    def _what(self) -> str:
        return f"link to {self.target}" if self.target else "link"

    def __repr__(self) -> str:
        return f"<KernelLink {self.target or '?'} {self._state()}>"


def link_create(program: Any, target_fd: int = 0, attach_type: str | int = 0, *,
                flags: int = 0, target_ifindex: int | None = None, target: str = "",
                link_class: type[KernelLink] | None = None, **extra: Any) -> KernelLink:
    """Attach ``program`` with ``BPF_LINK_CREATE``.

    ``target_fd`` is the hook object (a cgroup fd, a perf event fd...) or
    ``target_ifindex`` a network interface; ``attach_type`` an attach type
    name (``"cgroup_inet_ingress"``, ``"xdp"``, ``"tcx_ingress"``,
    ``"trace_iter"``...); ``extra`` sets per-type fields such as
    ``target_btf_id``, ``iter_info``/``iter_info_len`` or
    ``perf_event.bpf_cookie`` (pass them as ``**{"perf_event.bpf_cookie": c}``).
    The result is a ``link_class`` (a :class:`KernelLink` subclass for links
    with more to them, such as iterators) or a plain :class:`KernelLink`.
    """
    fields: dict[str, Any] = dict(prog_fd=fd_of(program),
                                  attach_type=ATTACH_TYPES.id_of(attach_type), flags=flags,
                                  **extra)
    if target_ifindex is not None:
        fields["target_ifindex"] = target_ifindex
    else:
        fields["target_fd"] = target_fd
    label = target or (f"ifindex {target_ifindex}" if target_ifindex is not None
                       else f"fd {target_fd}")
    name = getattr(program, "name", "")
    fd = _sys.link_create(what=f"program {name!r} to {label}" if name else f"to {label}",
                          **fields)
    return (link_class or KernelLink)(fd, program=program, target=label)


def raw_tracepoint_open(program: Any, name: str | None = None, *, cookie: int = 0) -> KernelLink:
    """Attach a ``raw_tracepoint`` program to raw tracepoint ``name``
    (``"sched_switch"``), or a BTF-typed ``tracing`` program to the target
    it was loaded for (``name`` None), with ``BPF_RAW_TRACEPOINT_OPEN``."""
    pname = getattr(program, "name", "")
    what = f"program {pname!r} to raw tracepoint {name!r}" if pname else \
        f"raw tracepoint {name!r}"
    fd = _sys.raw_tracepoint_open(name, fd_of(program), cookie, what)
    return KernelLink(fd, program=program, target=f"raw_tracepoint:{name}" if name else
                      "its BTF target")
