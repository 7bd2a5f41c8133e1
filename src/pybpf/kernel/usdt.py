"""USDT probes: the static probe points (``DTRACE_PROBE``, ``sys/sdt.h``) that
programs such as Python, PostgreSQL or libc compile in, as a binary's notes
describe them (attaching is :func:`pybpf.kernel.attach.usdt`).

Each probe is a ``.note.stapsdt`` note naming a provider and a probe, the
address of a ``nop`` to put a uprobe on, an optional *semaphore* (a
counter the program checks before computing expensive arguments) and the
argument locations in assembler syntax (``-4@%edi 8@-8(%rbp) 4@$5``)::

    for p in probes("/usr/bin/python3"):
        print(p.provider, p.name, p.args)
    link = pybpf.kernel.attach.usdt(prog, "./server", "server", "request", pid=1234)

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

import os
import re
import struct
from typing import NamedTuple

from ..elf.reader import MACHINES
from ..errors import BPFError
from ..spec import uprobe as _U
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
        return _U.AARCH64_PT_REGS_OFFSETS
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
    return MACHINES.get(elf.machine, os.uname().machine)


def encode_spec(args: tuple[UsdtArg, ...], cookie: int) -> bytes:
    """The spec-map value ``pybpf_usdt.bpf.h`` reads for one probe site: its
    arguments and the cookie the program asked for."""
    if len(args) > MAX_ARGS:
        raise BPFError(f"a USDT probe with {len(args)} arguments: at most {MAX_ARGS} are "
                       f"supported")
    return _SPEC.pack(b"".join(a.encode() for a in args), cookie, len(args))


def find(binary: str, provider: str, name: str, *, pid: int | None = None) -> list[UsdtProbe]:
    """The sites of probe ``provider:name`` in ``binary``."""
    found = [p for p in probes(binary, pid=pid) if p.provider == provider and p.name == name]
    if not found:
        known = sorted({f"{p.provider}:{p.name}" for p in probes(binary, pid=pid, parse=False)})
        raise BPFError(f"{binary} has no USDT probe {provider}:{name}"
                       + (f" (it has {', '.join(known[:20])})" if known else
                          " (it has no .note.stapsdt probes)"))
    return found


__all__ = ["ARG_CONST", "ARG_DEREF", "ARG_REG", "MAX_ARGS", "SPEC_MAP", "UsdtArg", "UsdtProbe",
           "encode_spec", "find", "parse_arg", "parse_args", "probes"]
