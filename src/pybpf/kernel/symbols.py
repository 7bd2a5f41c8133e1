"""Symbols of user-space binaries, for uprobes and USDT probes.

A uprobe is placed at a *file offset* of an executable or shared library.
:class:`ElfBinary` reads an ELF file's symbol tables (``.symtab`` and
``.dynsym``), program headers and notes, and turns a symbol's virtual
address into that file offset (through the ``PT_LOAD`` segment holding it:
right for position-dependent executables, PIE executables and shared
libraries alike)::

    elf = ElfBinary("/usr/lib/x86_64-linux-gnu/libc.so.6")
    elf.symbol("malloc").value          # virtual address
    elf.file_offset_of("malloc")        # where the uprobe goes

:func:`find_binary` finds ``bash`` on ``$PATH`` and ``libc.so.6`` (or
``c``) in the library directories, or in a process's mappings.
"""

from __future__ import annotations

import fnmatch
import functools
import mmap
import os
import shutil
import struct
from collections.abc import Iterator
from typing import NamedTuple

from ..errors import BPFError
from ..spec import uprobe as _U


class ElfSymbol(NamedTuple):
    """A symbol: name, value (virtual address), size, type (``STT_*``),
    binding and section index."""

    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int


class ElfSection(NamedTuple):
    """A section: name, type, address, file offset, size, link and entry size."""

    name: str
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


class ElfSegment(NamedTuple):
    """A program header: type, flags, file offset, virtual address, sizes."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


class ElfNote(NamedTuple):
    """A note: owner name, type, descriptor bytes, and the file offset of the
    descriptor."""

    owner: str
    type: int
    desc: bytes
    desc_offset: int


class ElfBinary:
    """An ELF executable or shared library, read for probing."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) if size else b""
        except OSError as e:
            raise BPFError(f"cannot read {path}: {e.strerror}") from None
        self._data = data
        if data[:4] != _U.ELF_MAGIC:
            raise BPFError(f"{path} is not an ELF file")
        cls, order = data[4], data[5]
        if cls not in (_U.ELFCLASS32, _U.ELFCLASS64) or order not in (_U.ELFDATA2LSB,
                                                                       _U.ELFDATA2MSB):
            raise BPFError(f"{path}: unsupported ELF class {cls} / data encoding {order}")
        self.is64 = cls == _U.ELFCLASS64
        self.endian = "<" if order == _U.ELFDATA2LSB else ">"
        e = self.endian
        if self.is64:
            (self.type, self.machine, _v, self.entry, phoff, shoff, _fl, _eh, phentsize,
             phnum, shentsize, shnum, shstrndx) = struct.unpack_from(e + "HHIQQQIHHHHHH", data, 16)
        else:
            (self.type, self.machine, _v, self.entry, phoff, shoff, _fl, _eh, phentsize,
             phnum, shentsize, shnum, shstrndx) = struct.unpack_from(e + "HHIIIIIHHHHHH", data, 16)
        self.segments = [self._segment(phoff + i * phentsize) for i in range(phnum)]
        raw = [self._section_raw(shoff + i * shentsize) for i in range(shnum)]
        names = raw[shstrndx] if shstrndx < len(raw) else None
        self.sections: list[ElfSection] = []
        for r in raw:
            name = self._cstr(names[3] + r[0]) if names is not None else ""
            self.sections.append(ElfSection(name, r[1], r[2], r[3], r[4], r[5], r[6]))
        self._symbols: dict[str, ElfSymbol] | None = None

    # --- raw structures ----------------------------------------------------------------

    def _segment(self, off: int) -> ElfSegment:
        if self.is64:
            t, flags, offset, vaddr, _p, filesz, memsz, _a = struct.unpack_from(
                self.endian + "IIQQQQQQ", self._data, off)
        else:
            t, offset, vaddr, _p, filesz, memsz, flags, _a = struct.unpack_from(
                self.endian + "IIIIIIII", self._data, off)
        return ElfSegment(t, flags, offset, vaddr, filesz, memsz)

    def _section_raw(self, off: int) -> tuple[int, ...]:
        if self.is64:
            name, t, _f, addr, offset, size, link, _i, _al, ent = struct.unpack_from(
                self.endian + "IIQQQQIIQQ", self._data, off)
        else:
            name, t, _f, addr, offset, size, link, _i, _al, ent = struct.unpack_from(
                self.endian + "IIIIIIIIII", self._data, off)
        return (name, t, addr, offset, size, link, ent)

    def _cstr(self, off: int) -> str:
        end = self._data.find(b"\0", off)
        return bytes(self._data[off:end if end >= 0 else len(self._data)]).decode(
            "utf-8", "replace")

    # --- sections, symbols, notes ----------------------------------------------------------

    @property
    def is_shared(self) -> bool:
        """Whether the file is position independent (``ET_DYN``: a shared
        library or a PIE executable)."""
        return self.type == _U.ET_DYN

    def section(self, name: str) -> ElfSection | None:
        """The section called ``name``, if any."""
        return next((s for s in self.sections if s.name == name), None)

    def symbols(self) -> dict[str, ElfSymbol]:
        """Every defined symbol of ``.symtab`` and ``.dynsym`` by name
        (``.symtab`` wins; version suffixes dropped)."""
        if self._symbols is None:
            table: dict[str, ElfSymbol] = {}
            for kind in (_U.SHT_DYNSYM, _U.SHT_SYMTAB):
                for s in self.sections:
                    if s.type == kind:
                        for sym in self._read_symbols(s):
                            table[sym.name.split("@", 1)[0]] = sym
            self._symbols = table
        return self._symbols

    def _read_symbols(self, sec: ElfSection) -> Iterator[ElfSymbol]:
        strtab = self.sections[sec.link]
        ent = sec.entsize or (24 if self.is64 else 16)
        fmt = self.endian + ("IBBHQQ" if self.is64 else "IIIBBH")
        data = self._data
        for off in range(sec.offset, sec.offset + sec.size - ent + 1, ent):
            if self.is64:
                name, info, _o, shndx, value, size = struct.unpack_from(fmt, data, off)
            else:
                name, value, size, info, _o, shndx = struct.unpack_from(fmt, data, off)
            if not name or shndx == _U.SHN_UNDEF:
                continue
            yield ElfSymbol(self._cstr(strtab.offset + name), value, size, info & 0xF,
                            info >> 4, shndx)

    def symbol(self, name: str) -> ElfSymbol:
        """The defined symbol ``name`` (``name@VERSION`` accepted)."""
        base = name.split("@", 1)[0]
        sym = self.symbols().get(base)
        if sym is None:
            raise BPFError(f"{self.path} has no symbol {base!r}"
                           + (" (it has no symbol table: stripped?)"
                              if not self.symbols() else ""))
        return sym

    def functions_matching(self, pattern: str) -> list[ElfSymbol]:
        """Function symbols whose name matches glob ``pattern``."""
        return [s for n, s in sorted(self.symbols().items())
                if s.type in (_U.STT_FUNC, _U.STT_GNU_IFUNC) and fnmatch.fnmatchcase(n, pattern)]

    def file_offset(self, vaddr: int) -> int:
        """The file offset where virtual address ``vaddr`` is loaded from."""
        loads = [s for s in self.segments if s.type == _U.PT_LOAD]
        for seg in sorted(loads, key=lambda s: not s.flags & _U.PF_X):
            if seg.vaddr <= vaddr < seg.vaddr + max(seg.memsz, seg.filesz):
                return vaddr - seg.vaddr + seg.offset
        raise BPFError(f"{self.path}: address {vaddr:#x} is in no loadable segment")

    def file_offset_of(self, symbol: str, offset: int = 0) -> int:
        """The file offset of ``symbol`` plus ``offset`` (what a uprobe needs)."""
        sym = self.symbol(symbol)
        if sym.type not in (_U.STT_FUNC, _U.STT_GNU_IFUNC) and sym.size == 0:
            raise BPFError(f"{self.path}: {symbol!r} is not a function")
        return self.file_offset(sym.value + offset)

    def notes(self, section: str | None = None) -> list[ElfNote]:
        """The notes of ``section`` (every ``SHT_NOTE`` section by default)."""
        out = []
        for sec in self.sections:
            if sec.type != _U.SHT_NOTE or (section and sec.name != section):
                continue
            pos, end = sec.offset, sec.offset + sec.size
            while pos + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from(self.endian + "III", self._data, pos)
                name_off = pos + 12
                desc_off = name_off + ((namesz + 3) & ~3)
                owner = bytes(self._data[name_off:name_off + namesz]).rstrip(b"\0").decode(
                    "utf-8", "replace")
                out.append(ElfNote(owner, ntype, bytes(self._data[desc_off:desc_off + descsz]),
                                   desc_off))
                pos = desc_off + ((descsz + 3) & ~3)
        return out

    def close(self) -> None:
        """Unmap the file."""
        if isinstance(self._data, mmap.mmap):
            self._data.close()

    def __enter__(self) -> ElfBinary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ElfBinary {self.path} {'ET_DYN' if self.is_shared else 'ET_EXEC'}>"


_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


@functools.cache
def _multiarch_dirs() -> tuple[str, ...]:
    machine = os.uname().machine
    triple = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}.get(machine, "")
    dirs = []
    for base in ("/lib", "/usr/lib"):
        if triple:
            dirs.append(os.path.join(base, triple))
    return (*dirs, *_LIB_DIRS)


def find_binary(name: str, pid: int | None = None) -> str:
    """The path of binary ``name``: a path as is; a library name
    (``libc.so.6``, ``libc``, ``c``) from ``pid``'s mappings or the library
    directories; else an executable on ``$PATH``."""
    if "/" in name:
        if not os.path.exists(name):
            raise BPFError(f"{name}: no such file")
        return os.path.realpath(name)
    looks_like_lib = name.startswith("lib") or ".so" in name
    candidates = [name] if name.startswith("lib") else [name, f"lib{name}.so", f"lib{name}"]
    if pid is not None:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    path = line.split(None, 5)[-1].strip()
                    base = os.path.basename(path)
                    if path.startswith("/") and any(base == c or base.startswith(c + ".")
                                                    or base.startswith(c + "-")
                                                    for c in candidates):
                        return path
        except OSError:
            pass
    found = shutil.which(name)
    if found and not looks_like_lib:
        return os.path.realpath(found)
    for d in _multiarch_dirs():
        for c in candidates:
            for pattern in (c, c + ".so.*", c + "-*.so*", c + ".so"):
                hits = sorted(h for h in _glob(d, pattern) if _is_elf(h))
                if hits:
                    return os.path.realpath(hits[0])
    if found:
        return os.path.realpath(found)
    raise BPFError(f"cannot find binary or library {name!r} (give a path)")


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == _U.ELF_MAGIC
    except OSError:
        return False


def _glob(directory: str, pattern: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if fnmatch.fnmatchcase(n, pattern)]
