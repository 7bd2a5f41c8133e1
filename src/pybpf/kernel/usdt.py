"""USDT probes: the static probe points (``DTRACE_PROBE``, ``sys/sdt.h``) that
programs such as Python, PostgreSQL or libc compile in.

Each probe is a ``.note.stapsdt`` note naming a provider and a probe, the
address of a ``nop`` to put a uprobe on, an optional *semaphore* (a
counter the program checks before computing expensive arguments) and the
argument locations in assembler syntax (``-4@%edi 8@-8(%rbp) 4@$5``)::

    for p in probes("/usr/bin/python3"):
        print(p.provider, p.name, p.args)
    link = usdt(prog, "./server", "server", "request", pid=1234)

Attaching puts a uprobe at every site of the probe; the semaphore is
raised through the uprobe's ``ref_ctr_offset`` (the kernel counts it for
every process) or, with ``semaphore="mem"``, by writing ``/proc/PID/mem``.

Arguments reach the BPF program through ``pybpf_usdt.bpf.h`` (shipped with
the tools' headers): a program that includes it has an array map
``pybpf_usdt_spec``; attaching writes each site's argument spec there and
gives the uprobe the spec's index as its BPF cookie, and
``pybpf_usdt_arg(ctx, n, &value)`` reads argument ``n``.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
from typing import Any, NamedTuple

from ..errors import BPFError, KernelError
from ..spec import uprobe as _U
from .attach import AttachmentGroup, raw_update
from .symbols import ElfBinary, find_binary

ARG_CONST, ARG_REG, ARG_DEREF = 0, 1, 2
"""Argument kinds, as ``pybpf_usdt.bpf.h`` numbers them."""
MAX_ARGS = 12
SPEC_MAP = "pybpf_usdt_spec"
"""The name of the spec map ``pybpf_usdt.bpf.h`` declares."""
_ARG = struct.Struct("<QIHbx")
_SPEC = struct.Struct(f"<{_ARG.size * MAX_ARGS}sQh6x")


class UsdtArg(NamedTuple):
    """One argument: ``size`` in bytes, ``signed``, ``kind`` (const, reg,
    deref), the register name and its offset in ``struct pt_regs``, the
    displacement of a memory operand and the value of a constant."""

    size: int
    signed: bool
    kind: int
    register: str = ""
    reg_offset: int = 0
    offset: int = 0
    value: int = 0

    def encode(self) -> bytes:
        """The record ``pybpf_usdt.bpf.h`` reads."""
        val = self.value if self.kind == ARG_CONST else self.offset
        return _ARG.pack(val & 0xFFFFFFFFFFFFFFFF, self.kind, self.reg_offset,
                         -self.size if self.signed else self.size)


class UsdtProbe(NamedTuple):
    """One probe site: provider and name, the binary, the probe's virtual
    address and file offset, the semaphore's address and file offset (0:
    none), and the parsed arguments (``arg_text`` as written)."""

    provider: str
    name: str
    path: str
    address: int
    file_offset: int
    semaphore: int
    semaphore_offset: int
    args: tuple[UsdtArg, ...]
    arg_text: str


def _pt_regs_offsets() -> dict[str, int]:
    from ..spec.layout import struct_layout

    machine = os.uname().machine
    if machine in ("aarch64", "arm64"):
        return {f"regs[{n}]": 8 * n for n in range(31)} | {"sp": 248, "pc": 256}
    layout = struct_layout("pt_regs")
    return {f.name: f.offset for f in layout.fields}


_X86_ARG = re.compile(r"^(?:\$(?P<const>-?(?:0x[0-9a-fA-F]+|\d+))|"
                      r"%(?P<reg>\w+)|"
                      r"(?P<disp>-?(?:0x[0-9a-fA-F]+|\d+))?\(%(?P<base>\w+)\))$")
_ARM_ARG = re.compile(r"^(?:(?P<const>-?\d+)|(?P<reg>[xw]\d+|sp)|"
                      r"\[(?P<base>[xw]?\d+|sp|x\d+)(?:\s*,\s*(?P<disp>-?\d+))?\])$")


def parse_arg(text: str, machine: str | None = None) -> UsdtArg:
    """One argument spec (``-4@%edi``, ``8@-8(%rbp)``, ``4@$5``; on arm64
    ``8@x0``, ``-4@[sp, 12]``)."""
    machine = machine or os.uname().machine
    size_text, sep, loc = text.partition("@")
    if not sep:
        raise BPFError(f"USDT argument {text!r} is not 'SIZE@LOCATION'")
    try:
        size = int(size_text)
    except ValueError:
        raise BPFError(f"USDT argument {text!r}: bad size {size_text!r}") from None
    signed, size = size < 0, abs(size)
    if size not in (1, 2, 4, 8):
        raise BPFError(f"USDT argument {text!r}: size {size} is not 1, 2, 4 or 8")
    regs = _U.REGISTERS.get(machine)
    if regs is None:
        raise BPFError(f"USDT arguments on {machine} are not supported")
    pattern = _ARM_ARG if regs is _U.AARCH64_REGS else _X86_ARG
    m = pattern.match(loc.strip())
    if m is None:
        raise BPFError(f"USDT argument {text!r}: location {loc!r} is not supported "
                       f"(register, constant or register+displacement only)")
    if m["const"] is not None:
        return UsdtArg(size, signed, ARG_CONST, value=int(m["const"], 0))
    offsets = _pt_regs_offsets()
    name = m["reg"] or m["base"]
    member = regs.get(name)
    if member is None or member not in offsets:
        raise BPFError(f"USDT argument {text!r}: unknown register {name!r}")
    if m["reg"] is not None:
        return UsdtArg(size, signed, ARG_REG, name, offsets[member])
    disp = int(m["disp"], 0) if m["disp"] else 0
    return UsdtArg(size, signed, ARG_DEREF, name, offsets[member], offset=disp)


def parse_args(text: str, machine: str | None = None) -> tuple[UsdtArg, ...]:
    """Every argument of a probe's argument string."""
    return tuple(parse_arg(t, machine) for t in text.split())


def probes(binary: str, *, pid: int | None = None, parse: bool = True) -> list[UsdtProbe]:
    """Every USDT probe site of ``binary`` (a path, a name on ``$PATH`` or a
    library name)."""
    path = find_binary(binary, pid)
    out = []
    with ElfBinary(path) as elf:
        base_sec = elf.section(_U.STAPSDT_BASE_SECTION)
        word = "Q" if elf.is64 else "I"
        head = struct.Struct(elf.endian + word * 3)
        for note in elf.notes(_U.STAPSDT_NOTE_SECTION):
            if note.owner != _U.STAPSDT_NOTE_OWNER or note.type != _U.STAPSDT_NOTE_TYPE:
                continue
            pc, base, sema = head.unpack_from(note.desc)
            provider, name, args = [*note.desc[head.size:].split(b"\0"), b"", b""][:3]
            if base_sec is not None and base:
                pc += base_sec.addr - base  # the file was prelinked after the note was written
            text = args.decode("utf-8", "replace")
            out.append(UsdtProbe(
                provider.decode(), name.decode(), path, pc, elf.file_offset(pc), sema,
                elf.file_offset(sema) if sema else 0,
                parse_args(text, _machine(elf)) if parse else (), text))
    return out


def _machine(elf: ElfBinary) -> str:
    return {62: "x86_64", 183: "aarch64"}.get(elf.machine, os.uname().machine)


def find(binary: str, provider: str, name: str, *, pid: int | None = None) -> list[UsdtProbe]:
    """The sites of probe ``provider:name`` in ``binary``."""
    found = [p for p in probes(binary, pid=pid) if p.provider == provider and p.name == name]
    if not found:
        known = sorted({f"{p.provider}:{p.name}" for p in probes(binary, pid=pid, parse=False)})
        raise BPFError(f"{binary} has no USDT probe {provider}:{name}"
                       + (f" (it has {', '.join(known[:20])})" if known else
                          " (it has no .note.stapsdt probes)"))
    return found


class SemaphoreHold:
    """A USDT semaphore raised by writing ``/proc/PID/mem``; :meth:`close`
    lowers it again."""

    def __init__(self, pid: int, address: int):
        self.pid = pid
        self.address = address
        self._add(1)
        self._closed = False

    def _add(self, delta: int) -> None:
        try:
            fd = os.open(f"/proc/{self.pid}/mem", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise KernelError(f"cannot open /proc/{self.pid}/mem to set a USDT semaphore: "
                              f"{e.strerror}", errno=e.errno, operation="usdt semaphore") from None
        try:
            (value,) = struct.unpack("<H", os.pread(fd, 2, self.address))
            os.pwrite(fd, struct.pack("<H", max(0, value + delta) & 0xFFFF), self.address)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Lower the semaphore (if the process still runs)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError, KernelError):
                self._add(-1)

    def detach(self) -> None:
        """Same as :meth:`close`."""
        self.close()


def _runtime_address(pid: int, path: str, file_offset: int) -> int:
    """Where file offset ``file_offset`` of ``path`` is mapped in ``pid``."""
    real = os.path.realpath(path)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6 or os.path.realpath(parts[5].strip()) != real:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
            if off <= file_offset < off + (hi - lo):
                return lo + file_offset - off
    raise BPFError(f"{path} offset {file_offset:#x} is not mapped in process {pid}")


def _spec_map(program: Any) -> Any:
    """The ``pybpf_usdt_spec`` map the program uses, or None."""
    from .info import program_info
    from .maps import KernelMap

    with contextlib.suppress(Exception):
        for map_id in program_info(program.fd).map_ids:
            m = KernelMap.from_id(map_id)
            if m.name == SPEC_MAP[:15]:
                return m
            m.close()
    return None


_next_spec: dict[int, int] = {}


def usdt(program: Any, binary: str, provider: str, name: str, *, pid: int = -1,
         cookie: int = 0, semaphore: str = "kernel", spec_map: Any = None) -> AttachmentGroup:
    """Attach a ``kprobe``-type program to every site of USDT probe
    ``provider:name`` in ``binary`` (in process ``pid`` only, or all).

    ``semaphore`` is ``"kernel"`` (the uprobe's ``ref_ctr_offset``) or
    ``"mem"`` (written through ``/proc/PID/mem``; needs ``pid``).  When the
    program uses ``pybpf_usdt.bpf.h`` (its ``pybpf_usdt_spec`` map, or
    ``spec_map``), each site's argument spec goes there and ``cookie``
    comes back from ``pybpf_usdt_cookie(ctx)``.
    """
    from .info import map_info
    from .uprobe import uprobe

    if semaphore not in ("kernel", "mem"):
        raise BPFError(f"semaphore must be 'kernel' or 'mem', not {semaphore!r}")
    if semaphore == "mem" and pid <= 0:
        raise BPFError("semaphore='mem' needs the pid of the process to write to")
    sites = find(binary, provider, name, pid=pid if pid > 0 else None)
    owned_map = None
    m = spec_map
    if m is None:
        m = owned_map = _spec_map(program)
    parts: list[Any] = []
    try:
        for site in sites:
            site_cookie = cookie
            if m is not None:
                key = map_info(m.fd).id
                index = _next_spec.get(key, 0)
                if index >= m.max_entries:
                    raise BPFError(f"map {SPEC_MAP} is full ({m.max_entries} probe sites)")
                _next_spec[key] = index + 1
                if len(site.args) > MAX_ARGS:
                    raise BPFError(f"USDT {provider}:{name} has {len(site.args)} arguments; "
                                   f"at most {MAX_ARGS} are supported")
                args = b"".join(a.encode() for a in site.args)
                raw_update(m.fd, index.to_bytes(4, "little"),
                           _SPEC.pack(args, cookie, len(site.args)), what=f"map {SPEC_MAP}")
                site_cookie = index
            ref = site.semaphore_offset if semaphore == "kernel" else 0
            if site.semaphore and semaphore == "mem":
                parts.append(SemaphoreHold(pid, _runtime_address(pid, site.path,
                                                                 site.semaphore_offset)))
            link = uprobe(program, site.path, None, offset=site.file_offset, pid=pid,
                          cookie=site_cookie, ref_ctr_offset=ref)
            link.target = f"usdt {provider}:{name} at {site.path}:{site.address:#x}"
            parts.append(link)
    except BaseException:
        for p in parts:
            p.close()
        raise
    finally:
        if owned_map is not None:
            owned_map.close()
    return AttachmentGroup(parts, program=program,
                           target=f"usdt {provider}:{name} ({len(sites)} sites) in {binary}")


__all__ = ["ARG_CONST", "ARG_DEREF", "ARG_REG", "SemaphoreHold", "UsdtArg", "UsdtProbe",
           "find", "parse_arg", "parse_args", "probes", "usdt"]
