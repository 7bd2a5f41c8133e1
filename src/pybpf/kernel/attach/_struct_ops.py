"""struct_ops: registering a table of BPF programs as a kernel ops
structure (a TCP congestion control, for example)::

    progs = {m: load_struct_ops_program(code[m], "tcp_congestion_ops", m) for m in code}
    with struct_ops("tcp_congestion_ops", progs, {"name": "pybpf_cc"}):
        ...

The whole table is registered at once, so ``program.attach()`` of one
``struct_ops`` program says to use :func:`struct_ops`.
"""

from __future__ import annotations

import contextlib
import errno as _errno
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import AttachError, BPFError, KernelError
from .. import sys as _sys
from .._abi import MAP_TYPES, constant
from .._fd import fd_of
from ..kernel_btf import int_btf
from ..links import KernelLink, link_create
from ..maps import KernelMap
from ..programs import KernelProgram
from ._base import Attachment, AttachRequest, raw_delete, raw_update

__all__ = ["StructOpsAttachment", "load_struct_ops_program", "struct_ops"]


class StructOpsAttachment(Attachment):
    """A struct_ops map registered with the kernel (a TCP congestion control,
    for example).  With a link, closing the link unregisters it; without
    one, deleting the map's element does."""

    kind = "struct_ops"

    def __init__(self, map: Any, *, target: str, link: KernelLink | None = None,
                 programs: Sequence[Any] = ()):
        super().__init__(program=None, target=target)
        self.map = map
        self.link = link
        self.programs = list(programs)

    def _release(self) -> None:
        try:
            if self.link is not None:
                self.link.close()
            elif not self.map.closed:
                with contextlib.suppress(KernelError):
                    raw_delete(self.map.fd, (0).to_bytes(4, "little"))
        finally:
            self.map.close()
            for p in self.programs:
                p.close()


def struct_ops(struct: str, programs: dict[str, Any], data: dict[str, Any] | None = None, *,
               name: str = "", link: bool = True) -> StructOpsAttachment:
    """Register an implementation of kernel ops table ``struct`` (for example
    ``tcp_congestion_ops``): ``programs`` maps member names to loaded
    ``struct_ops`` programs (see :func:`load_struct_ops_program`) and
    ``data`` fills the other members (``{"name": "pybpf_cc"}``).  The map is
    created with ``BPF_F_LINK`` and attached through a link (Linux 6.0+)
    unless ``link`` is False."""
    from ...btf import BTF

    vmlinux = BTF.load_vmlinux()
    st = _struct(vmlinux, struct)
    wrapper = _struct(vmlinux, f"bpf_struct_ops_{struct}")
    data_member = next((m for m in wrapper.members if m.name == "data"), None)
    if data_member is None:
        raise BPFError(f"kernel BTF struct bpf_struct_ops_{struct} has no 'data' member")
    base = data_member.offset
    value = bytearray(vmlinux.size_of(wrapper))
    members = {m.name: m for m in st.members}
    for member, prog in programs.items():
        if member not in members:
            raise AttachError(f"struct {struct} has no member {member!r}")
        off = base + members[member].offset
        value[off:off + 8] = int(fd_of(prog)).to_bytes(8, "little")
    for member, v in (data or {}).items():
        if member not in members:
            raise AttachError(f"struct {struct} has no member {member!r}")
        m = members[member]
        off = base + m.offset
        size = vmlinux.size_of(m.type_id)
        raw = v.encode() if isinstance(v, str) else v
        raw = raw if isinstance(raw, bytes | bytearray) else int(raw).to_bytes(size, "little")
        if len(raw) > size:
            raise AttachError(f"{struct}.{member} holds {size} bytes, got {len(raw)}")
        value[off:off + len(raw)] = raw
    flags = constant("BPF_F_LINK") if link else 0
    label = f"struct_ops {struct}" + (f" {name!r}" if name else "")
    try:
        with int_btf() as btf:  # map_create insists on some BTF fd
            fd = _sys.map_create(what=label, map_type=MAP_TYPES.id_of("struct_ops"),
                                 key_size=4, value_size=len(value), max_entries=1,
                                 map_flags=flags, btf_fd=btf.fd,
                                 btf_vmlinux_value_type_id=wrapper.id,
                                 map_name=(name or struct)[:15])
    except KernelError as e:
        raise _explain_struct_ops(e, label) from e
    m = KernelMap(fd, type="struct_ops", key_size=4, value_size=len(value), max_entries=1,
                  name=name or struct)
    try:
        try:
            raw_update(m.fd, (0).to_bytes(4, "little"), bytes(value))
        except KernelError as e:
            raise _explain_struct_ops(e, label) from e
        lk = None
        if link:
            lk = link_create(m, 0, "struct_ops", target=label)
    except BaseException:
        m.close()
        raise
    return StructOpsAttachment(m, target=label, link=lk, programs=())


def load_struct_ops_program(insns: Any, struct: str, member: str, *, name: str = "",
                            license: str = "GPL", **options: Any) -> KernelProgram:
    """Load a ``struct_ops`` program implementing ``struct.member`` (the
    kernel checks it against that member's function type)."""
    from ...btf import BTF

    vmlinux = BTF.load_vmlinux()
    st = _struct(vmlinux, struct)
    index = next((i for i, m in enumerate(st.members) if m.name == member), None)
    if index is None:
        raise AttachError(f"struct {struct} has no member {member!r}")
    try:
        return KernelProgram.load(insns, "struct_ops", name=name or member, license=license,
                                  expected_attach_type=index, attach_btf_id=st.id, **options)
    except KernelError as e:
        raise _explain_struct_ops(e, f"struct_ops program {name or member!r}") from e


def _struct(btf: Any, name: str) -> Any:
    from ...btf import Struct

    for t in btf.find_all(name):
        if isinstance(t, Struct):
            return t
    raise AttachError(f"the kernel's BTF has no struct {name}")


def _explain_struct_ops(e: KernelError, label: str) -> KernelError:
    if e.errno == _errno.EPERM:
        return KernelError(f"{label}: {e.reason}: this kernel refuses struct_ops "
                           f"registration (it needs BPF trampolines)", errno=e.errno,
                           operation=e.operation)
    if e.errno in (_sys.ENOTSUPP, _errno.EOPNOTSUPP):
        return KernelError(f"{label}: {e.reason}: this kernel has no struct_ops support for "
                           f"this type", errno=e.errno, operation=e.operation)
    return e


def _whole_table(r: AttachRequest) -> Any:
    raise r.error(r.hook.note)


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "struct_ops": _whole_table,
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
