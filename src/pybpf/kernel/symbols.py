"""Symbols of user-space binaries, for uprobes and USDT probes.

A uprobe is placed at a *file offset* of an executable or shared library.
:class:`ElfBinary` reads an ELF file's symbol tables (``.symtab`` and
``.dynsym``), program headers and notes (through :mod:`pybpf.elf.reader`,
pybpf's one ELF reader), and turns a symbol's virtual
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
from typing import Any

from ..elf.reader import (
    ET_DYN,
    PF_X,
    PT_LOAD,
    SHT_DYNSYM,
    SHT_SYMTAB,
    ElfImage,
    Note,
    Section,
    Symbol,
    is_elf,
)
from ..errors import BPFError, ObjectError


class ElfBinary:
    """An ELF executable or shared library, read for probing (through
    :class:`pybpf.elf.reader.ElfImage` over a memory map of the file)."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                data: Any = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) if size \
                    else b""
        except OSError as e:
            raise BPFError(f"cannot read {path}: {e.strerror}") from None
        self._data = data
        try:
            self.image = ElfImage(data, path=path)
        except ObjectError:
            self.close()
            raise
        self.is64 = self.image.is64
        self.endian = "<" if self.image.byteorder == "little" else ">"
        self.type = self.image.e_type
        self.machine = self.image.machine
        self.entry = self.image.entry
        self._symbols: dict[str, Symbol] | None = None

    @property
    def sections(self) -> list[Section]:
        """Every section header."""
        return self.image.sections

    @property
    def segments(self) -> list[Any]:
        """Every program header (:class:`pybpf.elf.reader.Segment`)."""
        return self.image.segments

    @property
    def is_shared(self) -> bool:
        """Whether the file is position independent (``ET_DYN``: a shared
        library or a PIE executable)."""
        return self.type == ET_DYN

    def section(self, name: str) -> Section | None:
        """The section called ``name``, if any."""
        return self.image.section(name)

    def symbols(self) -> dict[str, Symbol]:
        """Every defined symbol of ``.symtab`` and ``.dynsym`` by name
        (``.symtab`` wins; version suffixes dropped)."""
        if self._symbols is None:
            table: dict[str, Symbol] = {}
            for kind in (SHT_DYNSYM, SHT_SYMTAB):
                for s in self.image.sections:
                    if s.type == kind:
                        for sym in self.image.read_symbols(s):
                            if sym.name and not sym.is_undefined:
                                table[sym.name.split("@", 1)[0]] = sym
            self._symbols = table
        return self._symbols

    def symbol(self, name: str) -> Symbol:
        """The defined symbol ``name`` (``name@VERSION`` accepted)."""
        base = name.split("@", 1)[0]
        sym = self.symbols().get(base)
        if sym is None:
            raise BPFError(f"{self.path} has no symbol {base!r}"
                           + (" (it has no symbol table: stripped?)"
                              if not self.symbols() else ""))
        return sym

    def functions_matching(self, pattern: str) -> list[Symbol]:
        """Function symbols whose name matches glob ``pattern``."""
        return [s for n, s in sorted(self.symbols().items())
                if s.is_function and fnmatch.fnmatchcase(n, pattern)]

    def file_offset(self, vaddr: int) -> int:
        """The file offset where virtual address ``vaddr`` is loaded from."""
        loads = [s for s in self.segments if s.type == PT_LOAD]
        for seg in sorted(loads, key=lambda s: not s.flags & PF_X):
            if seg.vaddr <= vaddr < seg.vaddr + max(seg.memsz, seg.filesz):
                return vaddr - seg.vaddr + seg.offset
        raise BPFError(f"{self.path}: address {vaddr:#x} is in no loadable segment")

    def file_offset_of(self, symbol: str, offset: int = 0) -> int:
        """The file offset of ``symbol`` plus ``offset`` (what a uprobe needs)."""
        sym = self.symbol(symbol)
        if not sym.is_function and sym.size == 0:
            raise BPFError(f"{self.path}: {symbol!r} is not a function")
        return self.file_offset(sym.value + offset)

    def notes(self, section: str | None = None) -> list[Note]:
        """The notes of ``section`` (every ``SHT_NOTE`` section by default)."""
        return self.image.notes(section)

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
            return is_elf(f.read(4))
    except OSError:
        return False


def _glob(directory: str, pattern: str) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [os.path.join(directory, n) for n in names if fnmatch.fnmatchcase(n, pattern)]
