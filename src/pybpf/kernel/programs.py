"""Programs loaded into the kernel.

::

    from pybpf import assemble
    from pybpf.kernel import KernelProgram

    prog = KernelProgram.load(assemble("r0 = 2\\nexit"), "xdp", name="pass")
    result = prog.test_run(b"\\0" * 64)     # BPF_PROG_TEST_RUN
    result.retval, result.data_out         # (2, b'\\x00' * 64)
    prog.close()

A verifier rejection raises :class:`~pybpf.errors.VerifierError`: its
``str()`` is the verifier's error line and the instruction it stopped at,
``.log`` the whole log.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import backend
from ..backend import TestRunResult, checked_repeat, verdict
from ..errors import BPFError, CoreRelocationError, KernelError, VerifierError
from ..spec.defines import (
    BPF_F_SLEEPABLE,
    BPF_F_TEST_RUN_ON_CPU,
    BPF_LINE_INFO_COL_BITS,
    CORE_POISON_HELPER_ID,
)
from . import sys as _sys
from ._abi import ATTACH_TYPES, INFO, PROG_TYPES
from ._fd import FD, FDOwner
from .maps import object_name


def prog_type_id(type_: str | int) -> int:
    """The kernel's number for program type ``type_`` (``"xdp"``...)."""
    return PROG_TYPES.id_of(type_)


def prog_type_name(type_id: int) -> str:
    """The name of program type number ``type_id``."""
    return PROG_TYPES.name_of(type_id)


def attach_type_id(type_: str | int) -> int:
    """The kernel's number for attach type ``type_`` (``"cgroup_inet_ingress"``,
    ``"xdp"``, ``"trace_raw_tp"``...)."""
    return ATTACH_TYPES.id_of(type_)


def attach_type_name(type_id: int) -> str:
    """The name of attach type number ``type_id``."""
    return ATTACH_TYPES.name_of(type_id)


_CTX_NOT_RETURNED = frozenset({"raw_tracepoint", "raw_tracepoint_writable", "tracing",
                               "syscall", "struct_ops"})
"""Program types whose test run refuses a ``ctx_out`` buffer."""


def func_info_bytes(records: Any) -> tuple[bytes, int]:
    """``func_info`` as ``BPF_PROG_LOAD`` reads it, and the record count:
    from raw bytes, ``(insn, type_id)`` rows (a linked program's) or
    ``.BTF.ext`` records."""
    if isinstance(records, bytes | bytearray):
        return bytes(records), len(records) // INFO["bpf_func_info"].size
    pack = _packer("bpf_func_info", _FUNC_INFO_FIELDS).pack
    out = []
    for r in records:
        if isinstance(r, tuple | list) and not hasattr(r, "type_id"):
            out.append(pack(*r))
        else:  # .BTF.ext records count bytes (insn_index converts); the kernel counts slots
            out.append(pack(r.insn_index if hasattr(r, "insn_index") else r.insn_off, r.type_id))
    return b"".join(out), len(out)


_FUNC_INFO_FIELDS = ("insn_off", "type_id")
_LINE_INFO_FIELDS = ("insn_off", "file_name_off", "line_off", "line_col")


@functools.cache
def _packer(struct_name: str, fields: tuple[str, ...]) -> struct.Struct:
    return INFO[struct_name].packer(*fields)


def line_info_bytes(records: Any, btf: Any = None) -> tuple[bytes, int]:
    """``line_info`` as ``BPF_PROG_LOAD`` reads it, and the record count:
    from raw bytes, ``(insn, file name offset, line offset, line_col)``
    rows (a linked program's) or ``.BTF.ext`` records (whose strings are
    looked up in ``btf``, the program's BTF)."""
    if isinstance(records, bytes | bytearray):
        return bytes(records), len(records) // INFO["bpf_line_info"].size
    pack = _packer("bpf_line_info", _LINE_INFO_FIELDS).pack
    offsets: dict[str, int] | None = None
    out = []
    for r in records:
        if isinstance(r, tuple | list) and not hasattr(r, "line_num"):
            out.append(pack(*r))
            continue
        insn = r.insn_index if hasattr(r, "insn_index") else r.insn_off
        if hasattr(r, "file_name_off"):
            fname, line = r.file_name_off, r.line_off
        else:  # strings: find their offsets in the program's BTF
            if offsets is None:
                if btf is None or not hasattr(btf, "strings"):
                    raise BPFError("line_info with strings needs the program's BTF")
                offsets = {s: off for off, s in btf.strings()}
            try:
                fname, line = offsets[r.file_name], offsets[r.line]
            except KeyError as e:
                raise BPFError(f"line_info names {e.args[0]!r}, which the program's BTF "
                               "does not hold") from None
        col = (r.line_num << BPF_LINE_INFO_COL_BITS) | \
            (r.column & ((1 << BPF_LINE_INFO_COL_BITS) - 1))
        out.append(pack(insn, fname, line, col))
    return b"".join(out), len(out)


def _btf_fields(fields: dict[str, Any], keep: list[Any], btf: Any, func_info: Any,
                line_info: Any) -> Any:
    """Set the BTF fd and func/line info of a load; returns a BTF object
    loaded here (the caller closes it after the load), or None."""
    from .kernel_btf import load_btf

    owned = None
    if isinstance(btf, int | FD):
        fields["prog_btf_fd"], source = int(btf), None
    else:
        strings: Any = ()
        if line_info and not isinstance(line_info, bytes | bytearray):
            from ..linker import line_strings  # records with strings (not a linked program's)

            strings = line_strings(line_info)
        kbtf = load_btf(btf, strings=strings)
        owned = kbtf if kbtf is not btf else None
        fields["prog_btf_fd"], source = kbtf.fd, kbtf.btf
    for kind, records in (("func_info", func_info), ("line_info", line_info)):
        if not records:
            continue
        if kind == "func_info":
            data, n = func_info_bytes(records)
        else:
            data, n = line_info_bytes(records, source)
        buf = ctypes.create_string_buffer(data, len(data))
        keep.append(buf)
        fields.update({kind: ctypes.addressof(buf), f"{kind}_cnt": n,
                       f"{kind}_rec_size": INFO[f"bpf_{kind}"].size})
    return owned


_attacher: Callable[..., Any] | None = None
"""What :meth:`KernelProgram.attach` calls: the dispatcher of
:mod:`pybpf.kernel.attach`, which installs itself when imported (importing
:mod:`pybpf.kernel` does).  Programs sit below the hooks they attach to, so
the hooks register here rather than this module importing them."""


def set_attacher(attacher: Callable[..., Any]) -> None:
    """Install ``attacher(program, **options)`` as what
    :meth:`KernelProgram.attach` calls (done by :mod:`pybpf.kernel.attach`)."""
    global _attacher
    _attacher = attacher


class KernelProgram(FDOwner, backend.Program):
    """A program in the kernel, owned through its fd (a
    :class:`pybpf.backend.Program`).

    ``log`` holds the verifier log when the program was loaded with a
    ``log_level``.
    """

    section: str = ""
    """The ELF section the program came from: it says where to attach."""
    attach_to: str | None = None
    """The hook named in the section (``sched/sched_process_exit``...)."""

    def __init__(self, fd: FD, *, type: str | int, name: str = "",
                 expected_attach_type: str | int | None = None, log: str = ""):
        self._fd = fd
        self.type_id = prog_type_id(type)
        self.type = prog_type_name(self.type_id)
        self.name = name
        self.expected_attach_type = expected_attach_type
        self.log = log
        self.attachments: list[Any] = []

    def attach(self, **options: Any) -> Any:
        """Attach where the section name says (see
        :func:`pybpf.kernel.attach.attach_program` for ``options``: the
        interface, cgroup, socket... a section cannot name).  Returns the
        link or attachment; :meth:`close` detaches it too."""
        if _attacher is None:
            raise BPFError("no attach dispatcher: import pybpf.kernel.attach")
        attachment = _attacher(self, **options)
        self.attachments.append(attachment)
        return attachment

    def close(self) -> None:
        """Detach what :meth:`attach` attached, then close the program fd."""
        attachments, self.attachments = self.attachments, []
        for a in reversed(attachments):
            a.close()
        super().close()

    @classmethod
    def load(cls, insns: Sequence[Any] | bytes, type: str | int = "socket_filter", *,
             name: str = "", license: str = "GPL",
             expected_attach_type: str | int | None = None, attach_btf_id: int = 0,
             attach_btf_obj_fd: int | None = None, attach_prog_fd: int | None = None,
             kernel_version: int = 0, flags: int = 0, sleepable: bool = False,
             log_level: int = 0, log_size: int | None = None, btf: Any = None,
             func_info: Any = None, line_info: Any = None,
             fd_array: Sequence[int] | None = None, ifindex: int = 0) -> KernelProgram:
        """Load a program (``BPF_PROG_LOAD``).

        ``insns`` are :class:`pybpf.isa.Insn` slots (or bytecode) with map
        loads already resolved to fds (or ``map[idx:I]`` loads with
        ``fd_array``).  ``type`` is the program type name; tracing-style
        programs name their target with ``expected_attach_type`` and
        ``attach_btf_id``.  ``log_level`` 1 or 2 (or-ed with 4 for
        statistics) keeps the verifier log in :attr:`log`.  ``btf`` (a
        :class:`KernelBTF`, fd, or :class:`pybpf.btf.BTF`) with
        ``func_info``/``line_info`` gives the verifier source lines.
        """
        if (func_info or line_info) and btf is None:
            raise BPFError(f"program {name!r}: func_info and line_info need the program's BTF")
        type_id = prog_type_id(type)
        if isinstance(insns, bytes | bytearray):
            code = bytes(insns)
        else:
            from ..isa import encode

            code = encode(insns)
        if not code:
            raise BPFError(f"program {name!r} has no instructions")
        kname = object_name(name)
        label = f"program {name!r} ({prog_type_name(type_id)})" if name else \
            f"{prog_type_name(type_id)} program"
        fields: dict[str, Any] = {
            "prog_type": type_id, "prog_name": kname, "kern_version": kernel_version,
            "prog_flags": flags | (BPF_F_SLEEPABLE if sleepable else 0),
            "prog_ifindex": ifindex, "attach_btf_id": attach_btf_id,
        }
        if expected_attach_type is not None:
            fields["expected_attach_type"] = attach_type_id(expected_attach_type)
        if attach_prog_fd is not None:
            fields["attach_prog_fd"] = attach_prog_fd
        elif attach_btf_obj_fd is not None:
            fields["attach_btf_obj_fd"] = attach_btf_obj_fd
        keep: list[Any] = []  # buffers that must outlive the call
        if fd_array:
            arr = (ctypes.c_int32 * len(fd_array))(*fd_array)
            keep.append(arr)
            fields["fd_array"] = ctypes.addressof(arr)
        owned_btf = None
        try:
            if btf is not None:
                owned_btf = _btf_fields(fields, keep, btf, func_info, line_info)
            fd, log = _sys.prog_load(insns=code, license=license, log_level=log_level,
                                     log_size=log_size, what=label, program=name or None,
                                     **fields)
        except VerifierError:
            raise
        except KernelError as e:
            raise _explain_load(e, type_id, label, expected_attach_type) from e
        finally:
            if owned_btf is not None:
                owned_btf.close()  # the program holds its own reference
        return cls(fd, type=type_id, name=name, expected_attach_type=expected_attach_type,
                   log=log)

    @classmethod
    def from_fd(cls, fd: int | FD) -> KernelProgram:
        """Wrap a program fd (ownership passes to the program)."""
        owned = fd if isinstance(fd, FD) else FD(fd)
        try:
            info = _sys.obj_get_info_by_fd(int(owned), INFO["bpf_prog_info"].new())
        except BaseException:
            owned.close()
            raise
        return cls(owned, type=info.type, name=info.name)

    @classmethod
    def from_id(cls, prog_id: int) -> KernelProgram:
        """Open the program with kernel id ``prog_id``."""
        return cls.from_fd(_sys.get_fd_by_id("prog", prog_id))

    @classmethod
    def from_pin(cls, path: str) -> KernelProgram:
        """Open the program pinned at ``path``."""
        return cls.from_fd(_sys.obj_get(path, what=f"program pinned at {path}"))

    def info(self):
        """The kernel's view of the program (:class:`~pybpf.kernel.info.ProgramInfo`)."""
        from .info import program_info

        return program_info(self.fd)

    @property
    def id(self) -> int:
        """The kernel's id for this program."""
        return _sys.obj_get_info_by_fd(self.fd, INFO["bpf_prog_info"].new()).id

    @property
    def tag(self) -> str:
        """The program tag (hex of the truncated SHA-1 the kernel computes)."""
        return _sys.obj_get_info_by_fd(self.fd, INFO["bpf_prog_info"].new()).tag.hex()

    def pin(self, path: str) -> None:
        """Pin the program at ``path`` in a bpffs (mounted on demand)."""
        from .bpffs import pin

        pin(self, path)

    def test_run(self, data: bytes = b"", ctx: bytes | None = None, repeat: int = 1,
                 data_size_out: int | None = None, flags: int = 0, cpu: int = 0,
                 ctx_size_out: int | None = None, batch_size: int = 0) -> TestRunResult:
        """Run the program in the kernel on ``data`` (a packet) and/or
        ``ctx`` (a context struct, e.g. ``__sk_buff`` or raw tracepoint
        arguments), ``repeat`` times (``BPF_PROG_TEST_RUN``).

        ``data_size_out`` bounds the packet copied back; by default there is
        room for any growth the kernel allows (64 KiB more than ``data``), so
        the program runs exactly ``repeat`` times.  A non-zero ``cpu`` runs on
        that CPU (raw tracepoint programs).
        """
        repeat = checked_repeat(repeat, f"program {self.name!r}")
        din = ctypes.create_string_buffer(bytes(data), len(data)) if data else None
        cin = ctypes.create_string_buffer(bytes(ctx), len(ctx)) if ctx else None
        dsize = data_size_out if data_size_out is not None else (
            len(data) + _MAX_PACKET_GROWTH if data else 0)
        if ctx_size_out is None:
            ctx_size_out = len(ctx) if ctx and self.type not in _CTX_NOT_RETURNED else 0
        csize = ctx_size_out
        if cpu:
            flags |= BPF_F_TEST_RUN_ON_CPU
        what = f"program {self.name!r} ({self.type})" if self.name else f"{self.type} program"
        dout = self._output_buffer(dsize) if dsize else None
        cout = ctypes.create_string_buffer(csize) if csize else None
        # repeat 0 means once; some types (raw tracepoints) refuse any other value
        fields = dict(prog_fd=self.fd, repeat=0 if repeat == 1 else repeat,
                      flags=flags, cpu=cpu,
                      batch_size=batch_size,
                      data_in=ctypes.addressof(din) if din else 0,
                      data_size_in=len(data),
                      data_out=ctypes.addressof(dout) if dout else 0, data_size_out=dsize,
                      ctx_in=ctypes.addressof(cin) if cin else 0,
                      ctx_size_in=len(ctx) if ctx else 0,
                      ctx_out=ctypes.addressof(cout) if cout else 0, ctx_size_out=csize)
        try:
            attr = _sys.prog_test_run(what=what, **fields)
        except KernelError as e:
            raise _explain_test_run(e, self.type, what) from e
        data_out = ctypes.string_at(dout, min(attr.data_size_out, dsize)) if dout is not None \
            else b""
        ctx_out = cout.raw[:attr.ctx_size_out] if cout is not None else None
        if self.type == "syscall" and cin is not None:
            ctx_out = cin.raw  # syscall programs update their context in place
        return TestRunResult(attr.retval, data_out, ctx_out, attr.duration,
                             verdict=verdict(self.type, attr.retval))

    def _output_buffer(self, size: int) -> ctypes.Array:
        """A reusable buffer of at least ``size`` bytes for test-run output."""
        buf = getattr(self, "_test_run_out", None)
        if buf is None or len(buf) < size:
            buf = ctypes.create_string_buffer(size)
            self._test_run_out = buf
        return buf

    def __repr__(self) -> str:
        return f"<KernelProgram {self.name or '?'} {self.type} {self._state()}>"


_TRAMPOLINE_TYPES = frozenset({"trace_fentry", "trace_fexit", "modify_return", "lsm_mac",
                               "lsm_cgroup"})


def _explain_load(e: KernelError, type_id: int, label: str,
                  expected_attach_type: str | int | None = None) -> KernelError:
    """A load refused without a log: say which program type this kernel lacks."""
    at = expected_attach_type
    if isinstance(at, int):
        at = attach_type_name(at)
    if e.errno == _errno.EPERM and (at in _TRAMPOLINE_TYPES or prog_type_name(type_id) == "lsm"):
        from .features import trampoline_refusal

        return KernelError(f"BPF_PROG_LOAD {label} ({at}): Operation not permitted "
                           f"(EPERM): {trampoline_refusal()}", errno=e.errno,
                           operation="BPF_PROG_LOAD")
    if e.errno not in (_errno.EINVAL, _errno.E2BIG, _errno.EOPNOTSUPP, _sys.ENOTSUPP):
        return e
    from .features import prog_type_supported

    name = prog_type_name(type_id)
    if prog_type_supported(name) is False:
        return KernelError(f"BPF_PROG_LOAD {label}: this kernel does not support program "
                           f"type {name!r}", errno=e.errno, operation="BPF_PROG_LOAD")
    return e


def core_poison_error(error: VerifierError, poisons: Mapping[int, Any], *, program: str,
                      insns: Sequence[Any] = (), path: str | None = None,
                      section: str | None = None) -> CoreRelocationError | None:
    """The verifier's refusal of a program at an instruction the link step
    poisoned (``invalid func unknown#195896080``) as the
    :class:`~pybpf.errors.CoreRelocationError` it really is — program,
    instruction, relocation kind, type and access string, as libbpf
    reports after a failed load — or None when the refusal is about
    something else.  ``poisons`` are the linked program's
    :attr:`~pybpf.linked.LinkedProgram.core_poisons`; the error keeps the
    verifier's ``log``."""
    if not poisons:
        return None
    log = error.log or ""
    call = f"unknown#{CORE_POISON_HELPER_ID}"
    pc = error.pc if error.pc in poisons else None
    if pc is None:
        if call not in log and call not in str(error):
            return None
        reached = [int(m.group(1)) for m in re.finditer(rf"^(\d+): \(85\) call {call}", log,
                                                        re.M)]
        pc = next((p for p in reversed(reached) if p in poisons), None)
        if pc is None:
            return None
    p = poisons[pc]
    hint = {"enumval_value": "bpf_core_enum_value_exists()"}.get(
        p.kind, "bpf_core_field_exists()" if p.kind in _FIELD_KINDS else "bpf_core_type_exists()")
    translated = CoreRelocationError(
        f"unresolved CO-RE relocation {p.kind} {p.spelled}: {p.reason}, and the verifier "
        f"reached the instruction it poisoned (guard the access with {hint})",
        kind=p.kind, type_name=p.type_name or None, access=p.access, spelled=p.spelled,
        program=program, pc=pc, insn=insns[pc] if 0 <= pc < len(insns) else None,
        path=path, section=section)
    translated.log = log  # type: ignore[attr-defined]
    return translated


_FIELD_KINDS = frozenset({"byte_off", "byte_sz", "field_exists", "signed", "lshift_u64",
                          "rshift_u64"})


#: Room left for a packet to grow in a test run: skb programs can grow it by
#: up to 64 KiB (GSO_MAX_SIZE), XDP programs within a page.
_MAX_PACKET_GROWTH = 65536


def _explain_test_run(e: KernelError, type_name: str, what: str) -> KernelError:
    if e.errno in (_sys.ENOTSUPP, _errno.EOPNOTSUPP):
        return KernelError(f"BPF_PROG_TEST_RUN {what}: this kernel cannot test-run "
                           f"{type_name} programs", errno=e.errno, operation="BPF_PROG_TEST_RUN")
    return e


def probe_test_run(bytecode: bytes, repeat: int) -> tuple[int, float]:
    """Load ``bytecode`` as a GPL ``socket_filter`` program, run it
    ``repeat`` times on a 64-byte zero packet (``BPF_PROG_TEST_RUN``) and
    close it: ``(retval as u32, the kernel's average ns per run)``."""
    with KernelProgram.load(bytecode, "socket_filter", name="probe_test_run") as prog:
        result = prog.test_run(bytes(64), repeat=repeat)
    return result.retval, float(result.duration_ns)
