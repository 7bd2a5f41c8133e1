"""The errors pybpf raises for things a user can cause.

Every error a user can provoke — bad assembly, a malformed instruction, a
memory access outside the program's memory, a corrupt object file, a kernel
refusal — is a :class:`BPFError` subclass.  Each names *where* (line, section,
instruction index, the instruction itself) and *why*, so that the command line
can print it in one or two lines without a traceback.

This module is the bottom of the import graph: every layer may import it.
"""

from __future__ import annotations


class BPFError(Exception):
    """Base class of every error pybpf raises for something a user can cause."""


class AssemblerError(BPFError):
    """Assembly text that cannot be assembled.

    ``line`` and ``column`` are 1-based; ``token`` is the offending text.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 token: str | None = None, source: str | None = None):
        self.reason = message
        self.line = line
        self.column = column
        self.token = token
        self.source = source
        where = []
        if source:
            where.append(source)
        if line is not None:
            where.append(f"line {line}")
            if column is not None:
                where[-1] += f", column {column}"
        prefix = (" ".join(where) + ": ") if where else ""
        near = f" (at {token!r})" if token else ""
        super().__init__(f"{prefix}{message}{near}")


class InstructionError(BPFError):
    """An instruction that does not encode anything valid.

    Raised by decoding and validation; names the instruction index and the
    raw instruction.
    """

    def __init__(self, message: str, *, pc: int | None = None, insn: object = None):
        self.reason = message
        self.pc = pc
        self.insn = insn
        where = f"insn {pc}: " if pc is not None else ""
        raw = f" ({_raw(insn)})" if insn is not None else ""
        super().__init__(f"{where}{message}{raw}")


class DecodeError(InstructionError):
    """Bytes that cannot be split into 8-byte instructions."""


class VMError(BPFError):
    """A program stopped abnormally in the userspace virtual machine.

    ``pc`` is the index of the instruction that stopped it and ``insn`` its
    disassembly.
    """

    def __init__(self, message: str, *, pc: int | None = None, insn: str | None = None):
        self.reason = message
        self.pc = pc
        self.insn = insn
        where = ""
        if pc is not None:
            where = f"pc {pc}"
            if insn:
                where += f" ({insn})"
            where += ": "
        super().__init__(f"{where}{message}")


class MemoryFault(VMError):
    """A load, store or atomic touched an address outside every mapped region,
    or a region that forbids the access (writing read-only memory)."""

    def __init__(self, message: str, *, address: int, size: int, write: bool,
                 pc: int | None = None, insn: str | None = None):
        self.address = address
        self.size = size
        self.write = write
        super().__init__(message, pc=pc, insn=insn)


class InstructionLimitExceeded(VMError):
    """The program executed more instructions than the caller allowed."""


class TimeLimitExceeded(InstructionLimitExceeded):
    """The program ran longer than the wall-clock limit the caller allowed."""


class CallDepthExceeded(VMError):
    """bpf-to-bpf calls nested deeper than the frame limit."""


class HelperError(VMError):
    """A helper function was called that does not exist, or misused its arguments."""


def _raw(insn: object) -> str:
    encode = getattr(insn, "encode", None)
    if callable(encode):
        try:
            return str(insn) + ", raw " + encode().hex()
        except Exception:  # an instruction too broken to print still gets reported
            return repr(insn)
    return repr(insn)


class ObjectError(BPFError):
    """An object file (ELF, BTF) that is truncated, corrupt or unsupported.

    ``section`` and ``offset`` say where in the file the problem is.
    """

    def __init__(self, message: str, *, section: str | None = None, offset: int | None = None,
                 path: str | None = None):
        self.reason = message
        self.section = section
        self.offset = offset
        self.path = path
        where = []
        if path:
            where.append(str(path))
        if section:
            where.append(f"section {section}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        super().__init__(("" if not where else ", ".join(where) + ": ") + message)


class BTFError(ObjectError):
    """BTF type information that cannot be parsed, resolved or built."""


class LoadError(BPFError):
    """An object or program that cannot be prepared for loading: a map
    reference to a map the object lacks, an extern the target does not
    have, a relocation that does not fit its instruction.

    Names where: the object file (``path``), the ``program``, the
    instruction index ``pc`` and the instruction ``insn`` when there is one.
    """

    def __init__(self, message: str, *, program: str | None = None, pc: int | None = None,
                 insn: object = None, path: str | None = None, section: str | None = None):
        self.reason = message
        self.program = program
        self.pc = pc
        self.insn = insn
        self.path = path
        self.section = section
        where = []
        if path:
            where.append(str(path))
        if program:
            where.append(f"program {program}")
        if section and section != program:
            where.append(f"section {section}")
        if pc is not None:
            where.append(f"insn {pc}" + (f" ({insn})" if insn is not None else ""))
        super().__init__(("" if not where else ", ".join(where) + ": ") + message)


class CoreRelocationError(LoadError):
    """A CO-RE relocation that cannot be resolved against the target BTF
    (a field or type the running kernel does not have).

    Besides :class:`LoadError`'s fields it carries the relocation ``kind``
    (``field_byte_offset``...), the local ``type_name`` and the ``access``
    string (``0:1:2``) with its spelled-out form ``spelled``
    (``task_struct.real_parent``).
    """

    def __init__(self, message: str, *, kind: str | None = None,
                 type_name: str | None = None, access: str | None = None,
                 spelled: str | None = None, **where: object):
        self.kind = kind
        self.type_name = type_name
        self.access = access
        self.spelled = spelled
        super().__init__(message, **where)  # type: ignore[arg-type]


class AttachError(BPFError):
    """A program that cannot be attached where it was asked to: the section
    does not say where, an option does not apply, the hook does not exist.
    (A refusal by the kernel itself is a :class:`KernelError`.)

    ``program`` names the program, ``target`` the hook.
    """

    def __init__(self, message: str, *, program: str | None = None,
                 target: str | None = None):
        self.reason = message
        self.program = program
        self.target = target
        super().__init__(message)


class KernelError(BPFError):
    """The kernel refused an operation.

    ``errno`` is the kernel's error number and ``operation`` what was
    attempted (``BPF_PROG_LOAD``, ``attach xdp to eth0``...).
    """

    def __init__(self, message: str, *, errno: int | None = None,
                 operation: str | None = None):
        self.reason = message
        self.errno = errno
        self.operation = operation
        super().__init__(message)


class MapError(BPFError):
    """A map operation failed, in either backend, the way ``bpf()`` fails.

    ``errno`` is the value ``bpf()`` sets (ENOENT for a missing key, EEXIST
    for ``BPF_NOEXIST`` on an existing one, E2BIG for a full map, EINVAL for
    bad flags or a key or value that cannot be encoded, EPERM on a frozen
    map...); ``op`` names the operation (``lookup``, ``update``, ``delete``,
    ``lookup_and_delete``, ``get_next_key``, ``freeze``, the batch
    operations, ``create``), ``map_name`` the map and ``key`` the key as the
    caller gave it.  Batch operations also set ``count``: how many elements
    were processed before the failure.  ``reason`` is the explanation
    without the location.

    The userspace maps (:mod:`pybpf.maps`) raise it directly, the kernel
    backend a subclass that is also a :class:`KernelError`; ``except
    MapError`` catches both.
    """

    def __init__(self, code: int, message: str, *, map_name: str | None = None,
                 op: str | None = None, key: object = None, count: int | None = None,
                 errno_name: str | None = None):
        super().__init__(message)
        self.errno = code
        self.reason = message
        self.map_name = map_name
        self.op = op
        self.key = key
        self.count = count
        self._errno_name = errno_name

    @property
    def errno_name(self) -> str:
        """The symbolic errno (``ENOENT``...)."""
        if self._errno_name:
            return self._errno_name
        import errno as _errno

        return _errno.errorcode.get(self.errno, f"errno {self.errno}")

    def __str__(self) -> str:
        where = []
        if self.op:
            where.append(self.op)
        if self.map_name is not None:
            where.append(f"on map {self.map_name!r}")
        if self.key is not None:
            where.append(f"key {_show_key(self.key)}")
        prefix = " ".join(where)
        return f"{prefix + ': ' if prefix else ''}{self.reason} ({self.errno_name})"


class MapKeyError(MapError, KeyError):
    """ENOENT from ``lookup``, ``delete``, ``lookup_and_delete``, ``pop`` or
    ``peek``: the key (or element) is not there.  Also a :class:`KeyError`,
    so ``except KeyError`` works as with Python mappings."""

    __str__ = MapError.__str__  # not KeyError's repr-of-the-key


def _show_key(key: object) -> str:
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
        return raw.hex() if len(raw) <= 32 else raw[:32].hex() + "..."
    text = repr(key)
    return text if len(text) <= 80 else text[:77] + "..."


class VerifierError(KernelError):
    """The kernel's verifier rejected a program.

    ``str(error)`` is a short summary — the error line and the instruction it
    failed at; ``log`` holds the full verifier log.
    """

    def __init__(self, message: str, *, log: str = "", errno: int | None = None,
                 operation: str | None = "BPF_PROG_LOAD", program: str | None = None,
                 pc: int | None = None):
        self.log = log
        self.program = program
        self.pc = pc
        super().__init__(message, errno=errno, operation=operation)
