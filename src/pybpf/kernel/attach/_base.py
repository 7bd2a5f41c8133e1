"""What every hook family shares: the attachment interface, the request a
``program.attach()`` call becomes, and small helpers.

Every attach function returns an attachment: a
:class:`~pybpf.kernel.KernelLink` where the kernel has a BPF link for the
hook, or an :class:`Attachment` (a perf event, an rtnetlink filter, a
``BPF_PROG_ATTACH`` entry, a socket option) with the same interface:
``close()`` (or leaving a ``with`` block) detaches, ``detach()`` detaches
now, ``closed`` says whether it is gone.
"""

from __future__ import annotations

import abc
import ctypes
import errno as _errno
from typing import Any

from ...errors import AttachError, BPFError, KernelError
from ...spec.sections import Hook, is_return_probe
from .. import sys as _sys
from .._fd import FD, Closing, fd_of
from ..links import KernelLink

__all__ = ["LINK_UNSUPPORTED", "AttachRequest", "Attachment", "AttachmentGroup",
           "ProgAttachment", "program_label", "raw_delete", "raw_update"]


class Attachment(Closing, abc.ABC):
    """An attached program that is not a plain BPF link: same interface as
    :class:`~pybpf.kernel.KernelLink` (``close``, ``detach``, ``closed``,
    ``with``).  ``program`` is what was attached and ``target`` the hook."""

    program: Any = None
    target: str = ""
    kind: str = "attachment"

    def __init__(self, *, program: Any = None, target: str = ""):
        self.program = program
        self.target = target
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    def detach(self) -> None:
        """Detach the program now (the object stays until :meth:`close`)."""
        self.close()

    def close(self) -> None:
        """Detach and release everything held (again is a no-op)."""
        if not self._closed:
            self._closed = True
            self._release()

    @abc.abstractmethod
    def _release(self) -> None:
        """Undo the attachment (run once, by :meth:`close`)."""

    def pin(self, path: str) -> None:
        """Only BPF links can be pinned."""
        raise BPFError(f"{self.kind} attachment to {self.target} is not a BPF link and "
                       f"cannot be pinned")

    def __repr__(self) -> str:
        name = getattr(self.program, "name", "") or "?"
        state = "closed" if self.closed else "attached"
        return f"<{type(self).__name__} {name} -> {self.target} {state}>"


Attachment.register(KernelLink)


class AttachmentGroup(Attachment):
    """Several attachments of one program made together (one per CPU for a
    sampling event, one per site of a USDT probe): closed together."""

    kind = "group"

    def __init__(self, parts: list[Any], *, program: Any, target: str):
        super().__init__(program=program, target=target)
        self.parts = parts

    def detach(self) -> None:
        """Detach every part."""
        for p in self.parts:
            p.detach()

    def _release(self) -> None:
        for p in self.parts:
            p.close()

    def __len__(self) -> int:
        return len(self.parts)


class ProgAttachment(Attachment):
    """A ``BPF_PROG_ATTACH`` attachment (before links existed for the hook):
    closing runs ``BPF_PROG_DETACH`` on the same target."""

    kind = "prog_attach"

    def __init__(self, target_fd: FD | None, attach_type: int, *, program: Any, target: str,
                 target_num: int | None = None):
        super().__init__(program=program, target=target)
        self._target_fd = target_fd
        self._target_num = target_num
        self.attach_type = attach_type

    def _release(self) -> None:
        try:
            if self.program is not None and not getattr(self.program, "closed", False):
                tfd = int(self._target_fd) if self._target_fd is not None else self._target_num
                _sys.prog_detach(target_fd=tfd, attach_bpf_fd=fd_of(self.program),
                                 attach_type=self.attach_type, what=f"from {self.target}")
        except KernelError as e:
            if e.errno not in (_errno.ENOENT, _errno.EBADF):
                raise
        finally:
            if self._target_fd is not None:
                self._target_fd.close()


def program_label(program: Any) -> str:
    """``program 'name'`` (or ``program``) for messages."""
    name = getattr(program, "name", "")
    return f"program {name!r}" if name else "program"


LINK_UNSUPPORTED = (_errno.EINVAL, _errno.EOPNOTSUPP, _sys.ENOTSUPP)
"""What a kernel without BPF links for a hook answers ``BPF_LINK_CREATE``:
attach functions then fall back to the older interface."""


def raw_update(map_fd: int, key: bytes, value: bytes, flags: int = 0, what: str = "") -> None:
    """``BPF_MAP_UPDATE_ELEM`` with raw key and value bytes (no codecs)."""
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    v = ctypes.create_string_buffer(value, max(len(value), 1))
    _sys.map_update_elem(map_fd, ctypes.addressof(k), ctypes.addressof(v), flags, what)


def raw_delete(map_fd: int, key: bytes, what: str = "") -> bool:
    """``BPF_MAP_DELETE_ELEM`` with a raw key; False when it was absent."""
    k = ctypes.create_string_buffer(key, max(len(key), 1))
    return _sys.map_delete_elem(map_fd, ctypes.addressof(k), what)


class AttachRequest:
    """One ``program.attach(**options)`` call resolved against the section
    table (:data:`pybpf.spec.sections.HOOKS`): the program, its section, the
    hook, the target (from the options, the section or the program) and the
    options left for the hook, every one of which the hook takes."""

    __slots__ = ("hook", "options", "program", "section", "target")

    def __init__(self, program: Any, section: str, hook: Hook, target: Any = None,
                 options: dict[str, Any] | None = None):
        self.program = program
        self.section = section
        self.hook = hook
        self.target = target
        self.options = options if options is not None else {}

    def __repr__(self) -> str:
        return (f"AttachRequest({self.where}, hook={self.hook.name!r}, "
                f"target={self.target!r}, options={self.options!r})")

    @property
    def where(self) -> str:
        """The program and its section, for messages."""
        label = program_label(self.program)
        return f"{label} (section {self.section!r})" if self.section else label

    def error(self, message: str) -> AttachError:
        """An :class:`~pybpf.errors.AttachError` about this request."""
        return AttachError(f"{self.where}: {message}",
                           program=getattr(self.program, "name", None) or None,
                           target=self.hook.name)

    def retprobe(self) -> bool:
        """The ``retprobe`` option, by default what the section says
        (``kretprobe``, ``uretprobe``, ``kretsyscall``...)."""
        return bool(self.options.pop("retprobe", is_return_probe(self.section)))
