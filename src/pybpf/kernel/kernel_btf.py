"""BTF loaded into the kernel (``BPF_BTF_LOAD``).

Maps and programs refer to their types by the fd of a loaded BTF object.
:func:`load_btf` is the hook the object loader uses: it takes whatever BTF
an :class:`~pybpf.objects.ObjectSpec` carries — a :class:`pybpf.btf.BTF`,
raw bytes, an already loaded :class:`KernelBTF` — and returns a
:class:`KernelBTF`.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Any

from ..errors import BPFError
from . import sys as _sys
from ._abi import INFO
from ._fd import FD, FDOwner


class KernelBTF(FDOwner):
    """A BTF object in the kernel, owned through its fd.  ``log`` is the
    kernel's BTF log when one was asked for."""

    def __init__(self, fd: FD, *, log: str = "", btf: Any = None):
        self._fd = fd
        self.log = log
        self.btf = btf

    @classmethod
    def load(cls, data: bytes, *, log_level: int = 0, btf: Any = None) -> KernelBTF:
        """Load raw BTF.  The kernel's rejection raises
        :class:`~pybpf.errors.VerifierError` (operation ``BPF_BTF_LOAD``)
        whose ``log`` is the kernel's BTF log."""
        fd, log = _sys.btf_load(bytes(data), log_level=log_level)
        return cls(fd, log=log, btf=btf)

    @classmethod
    def from_id(cls, btf_id: int) -> KernelBTF:
        """Open the BTF object with kernel id ``btf_id``."""
        return cls(_sys.get_fd_by_id("btf", btf_id))

    @property
    def id(self) -> int:
        """The kernel's id for this BTF object."""
        return self.info().id

    def info(self):
        """The kernel's view (:class:`~pybpf.kernel.info.BTFInfo`)."""
        from .info import btf_info

        return btf_info(self.fd)

    def raw(self) -> bytes:
        """The BTF bytes as the kernel holds them."""
        size = _sys.obj_get_info_by_fd(self.fd, INFO["bpf_btf_info"].new()).btf_size
        buf = ctypes.create_string_buffer(size)
        _sys.obj_get_info_by_fd(self.fd, INFO["bpf_btf_info"].new(
            btf=ctypes.addressof(buf), btf_size=size))
        return buf.raw

    def __repr__(self) -> str:
        return f"<KernelBTF {self._state()}>"


def load_btf(btf: Any, *, log_level: int = 0, strings: Iterable[str] = ()) -> KernelBTF:
    """The hook between a spec's BTF and the kernel: load ``btf`` (a
    :class:`pybpf.btf.BTF`, raw bytes, or a :class:`KernelBTF` returned as
    is) and return the kernel object.

    ``strings`` (source file names and lines that ``line_info`` records
    point at) are added to a BTF that lacks them; the result's ``btf``
    attribute is then the extended BTF, whose string offsets to use.
    """
    if isinstance(btf, KernelBTF):
        return btf
    if isinstance(btf, bytes | bytearray | memoryview):
        return KernelBTF.load(bytes(btf), log_level=log_level)
    from ..btf import BTF

    if isinstance(btf, BTF):
        if btf.base is not None:
            raise BPFError("loading split BTF (on top of vmlinux or a module) is not supported")
        from ..linker import btf_with_strings

        full, _ = btf_with_strings(btf, strings)
        return KernelBTF.load(full.raw, log_level=log_level, btf=full)
    raise BPFError(f"cannot load {type(btf).__name__} as BTF: give pybpf.btf.BTF or bytes")


def int_btf() -> KernelBTF:
    """A BTF object with one 4-byte int (type id 1), for maps that insist on
    some BTF (local storage, struct_ops)."""
    from ..btf import BTFBuilder

    b = BTFBuilder()
    b.add_int("int", 4, signed=True)
    return KernelBTF.load(b.to_bytes())


