"""Reading ELF files: sections, segments, symbols, notes and relocations.

One reader for every ELF pybpf opens: :class:`ElfImage` reads any ELF file
(32- or 64-bit, either byte order, any type: BPF objects, ``vmlinux``,
executables and shared libraries for uprobes), :class:`ElfFile` is a
relocatable BPF object on top of it (symbols and relocations).  Defensive
everywhere: every offset and size read from the file is checked against the
file before it is used, so a truncated or corrupt file raises
:class:`~pybpf.errors.ObjectError` naming the section and offset, never an
``IndexError`` or ``struct.error``.

This module imports nothing of pybpf but :mod:`pybpf.errors`: the BTF
parser (below the object loader) reads ELF through it too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property

from ..errors import ObjectError

ELF_MAGIC = b"\x7fELF"
"""The first four bytes of every ELF file."""
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
ET_REL, ET_EXEC, ET_DYN = 1, 2, 3
EM_NONE, EM_X86_64, EM_AARCH64, EM_BPF = 0, 62, 183, 247
MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64"}
"""ELF machine numbers -> ``uname -m`` names (the machines pybpf probes)."""

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOTE, SHT_NOBITS, SHT_REL, SHT_DYNSYM = 7, 8, 9, 11
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4

PT_LOAD = 1
PF_X = 1

SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFF00, 0xFFF1, 0xFFF2, 0xFFFF

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STT_GNU_IFUNC = 10
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN, STV_PROTECTED = 0, 1, 2, 3

# BPF relocation types (llvm's BPF ELF ABI).
R_BPF_NONE = 0
R_BPF_64_64 = 1
"""``lddw``: 64-bit immediate split across the two slots."""
R_BPF_64_ABS64 = 2
"""Data: an absolute 64-bit address."""
R_BPF_64_ABS32 = 3
"""Data: an absolute 32-bit address."""
R_BPF_64_NODYLD32 = 4
"""Data (``.BTF.ext`` and DWARF): 32-bit, not applied at load time."""
R_BPF_64_32 = 10
"""``call``: the 32-bit immediate of a call instruction."""

RELOC_NAMES = {R_BPF_NONE: "R_BPF_NONE", R_BPF_64_64: "R_BPF_64_64",
               R_BPF_64_ABS64: "R_BPF_64_ABS64", R_BPF_64_ABS32: "R_BPF_64_ABS32",
               R_BPF_64_NODYLD32: "R_BPF_64_NODYLD32", R_BPF_64_32: "R_BPF_64_32"}

MAX_SECTIONS = 1 << 16
MAX_SYMBOLS = 1 << 22
MAX_NOBITS = 1 << 26
"""Largest zero-filled section :meth:`ElfImage.data` materializes."""

# Header, section header, program header and symbol layouts by ELF class
# (without the byte order character).
_EHDR = {ELFCLASS32: "HHIIIIIHHHHHH", ELFCLASS64: "HHIQQQIHHHHHH"}
_SHDR = {ELFCLASS32: "IIIIIIIIII", ELFCLASS64: "IIQQQQIIQQ"}
_PHDR = {ELFCLASS32: "IIIIIIII", ELFCLASS64: "IIQQQQQQ"}
_SYM = {ELFCLASS32: "IIIBBH", ELFCLASS64: "IBBHQQ"}
# File offsets of e_shoff, e_shentsize, e_shnum and e_shstrndx, for error messages.
_SH_FIELDS = {ELFCLASS32: (0x20, 0x2E, 0x30, 0x32), ELFCLASS64: (0x28, 0x3A, 0x3C, 0x3E)}


@dataclass(frozen=True, slots=True)
class Section:
    """One section header, with its name resolved."""

    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    addralign: int
    entsize: int
    addr: int = 0
    """Where the section is loaded (0 in relocatable objects)."""

    @property
    def is_code(self) -> bool:
        """Whether the section holds instructions."""
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    @property
    def is_nobits(self) -> bool:
        """Whether the section occupies no file space (``.bss``)."""
        return self.type == SHT_NOBITS


@dataclass(frozen=True, slots=True)
class Segment:
    """One program header: type (``PT_LOAD``...), flags, file offset,
    virtual address, and sizes in the file and in memory."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True, slots=True)
class Note:
    """One note: owner name, type, descriptor bytes, and the file offset of
    the descriptor."""

    owner: str
    type: int
    desc: bytes
    desc_offset: int


@dataclass(frozen=True, slots=True)
class Symbol:
    """One symbol table entry."""

    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    visibility: int
    shndx: int

    @property
    def is_undefined(self) -> bool:
        """Whether the symbol is an extern (defined elsewhere)."""
        return self.shndx == SHN_UNDEF

    @property
    def is_weak(self) -> bool:
        """Whether the symbol is weak."""
        return self.bind == STB_WEAK

    @property
    def is_global(self) -> bool:
        """Whether the symbol is visible outside its object."""
        return self.bind in (STB_GLOBAL, STB_WEAK)

    @property
    def is_function(self) -> bool:
        """Whether the symbol names code (``STT_FUNC`` or an indirect function)."""
        return self.type in (STT_FUNC, STT_GNU_IFUNC)


@dataclass(frozen=True, slots=True)
class Relocation:
    """One relocation: patch ``offset`` of section ``target`` with ``symbol``."""

    offset: int
    type: int
    symbol: Symbol
    addend: int = 0

    @property
    def type_name(self) -> str:
        """``R_BPF_64_64`` and friends."""
        return RELOC_NAMES.get(self.type, f"relocation type {self.type}")


def is_elf(data: bytes) -> bool:
    """Whether ``data`` starts like an ELF file."""
    return data[:4] == ELF_MAGIC


class ElfImage:
    """Any ELF file, parsed eagerly for the header and section headers and
    lazily for the rest.

    ``data`` is the whole file: bytes, or a memory map of a large binary
    (it is not copied).  ``sections`` lists every section header (index 0
    is the null section; empty when the file has no section header table),
    ``segments`` the program headers; :meth:`data` returns a section's
    bytes, :meth:`read_symbols` a symbol table and :meth:`notes` the notes.
    """

    def __init__(self, data: bytes | memoryview | bytearray | object, *,
                 path: str | None = None):
        self.raw = data
        self.path = path
        self._parse_header()
        self._parse_sections()

    # ---------------------------------------------------------------- helpers

    def error(self, message: str, *, section: str | None = None,
              offset: int | None = None) -> ObjectError:
        """An ObjectError that names this file."""
        return ObjectError(message, section=section, offset=offset, path=self.path)

    def _unpack(self, fmt: struct.Struct, offset: int, what: str,
                section: str | None = None) -> tuple:
        if offset < 0 or offset + fmt.size > len(self.raw):
            raise self.error(f"truncated {what}: {fmt.size} bytes at {offset:#x} run past the "
                             f"end of the file ({len(self.raw)} bytes)", section=section,
                             offset=offset)
        return fmt.unpack_from(self.raw, offset)

    def _check_ident(self, ei_class: int, ei_data: int) -> None:
        """Refuse what this reader cannot read (a subclass refuses more)."""
        if ei_class not in (ELFCLASS32, ELFCLASS64):
            raise self.error(f"unsupported ELF class {ei_class}", offset=4)
        if ei_data not in (ELFDATA2LSB, ELFDATA2MSB):
            raise self.error(f"unsupported ELF data encoding {ei_data}", offset=5)

    def _check_header(self) -> None:
        """Refuse file types a subclass does not read (every type is fine here)."""

    # ----------------------------------------------------------------- header

    def _parse_header(self) -> None:
        raw = self.raw
        if len(raw) < 16 or raw[:4] != ELF_MAGIC:
            raise self.error("not an ELF file (bad magic)", offset=0)
        ei_class, ei_data = raw[4], raw[5]
        self._check_ident(ei_class, ei_data)
        self.is64 = ei_class == ELFCLASS64
        self.byteorder = "little" if ei_data == ELFDATA2LSB else "big"
        e = "<" if ei_data == ELFDATA2LSB else ">"
        self._e = e
        self._class = ei_class
        hdr = struct.Struct(e + _EHDR[ei_class])
        (self.e_type, self.machine, _version, self.entry, self._phoff, shoff, _flags,
         _ehsize, self._phentsize, self._phnum, shentsize, shnum,
         shstrndx) = self._unpack(hdr, 16, "ELF header")
        self._check_header()
        self._shdr = struct.Struct(e + _SHDR[ei_class])
        self._shoff, self._shentsize, self._shnum, self._shstrndx = shoff, shentsize, 0, 0
        if shoff == 0:
            return
        _at_shoff, at_shentsize, at_shnum, self._at_shstrndx = _SH_FIELDS[ei_class]
        if shentsize < self._shdr.size:
            raise self.error(f"section header entry size {shentsize} is too small",
                             offset=at_shentsize)
        first = self._unpack(self._shdr, shoff, "section header table")
        if shnum == 0:
            shnum = first[5]  # more than SHN_LORESERVE sections: count in sh_size of [0]
        if shstrndx == SHN_XINDEX:
            shstrndx = first[6]
        if not 0 < shnum <= MAX_SECTIONS:
            raise self.error(f"implausible section count {shnum}", offset=at_shnum)
        if shoff + shnum * shentsize > len(self.raw):
            raise self.error(f"section header table ({shnum} entries at {shoff:#x}) runs past "
                             f"the end of the file", offset=shoff)
        self._shnum, self._shstrndx = shnum, shstrndx

    def _parse_sections(self) -> None:
        self.sections: list[Section] = []
        self._by_name: dict[str, Section] = {}
        if not self._shnum:
            return
        headers = [self._shdr.unpack_from(self.raw, self._shoff + i * self._shentsize)
                   for i in range(self._shnum)]
        if not 0 < self._shstrndx < len(headers):
            raise self.error(f"section name table index {self._shstrndx} is out of range",
                             offset=self._at_shstrndx)
        names = self._bytes_of(headers[self._shstrndx], "section name table")
        sections: list[Section] = []
        for i, h in enumerate(headers):
            name_off, sh_type, flags, addr, offset, size, link, info, align, entsize = h
            name = _cstring(names, name_off) if i else ""
            if name is None:
                raise self.error(f"section {i} name offset {name_off} is outside the section "
                                 f"name table", offset=self._shoff + i * self._shentsize)
            if sh_type != SHT_NOBITS and i and (offset + size > len(self.raw)):
                raise self.error(f"section contents ({size} bytes at {offset:#x}) run past the "
                                 f"end of the file ({len(self.raw)} bytes)", section=name,
                                 offset=offset)
            sections.append(Section(i, name, sh_type, flags, offset, size, link, info, align,
                                    entsize, addr))
        self.sections = sections
        for s in sections[1:]:
            self._by_name.setdefault(s.name, s)

    def _bytes_of(self, header: tuple, what: str) -> bytes:
        offset, size = header[4], header[5]
        if offset + size > len(self.raw):
            raise self.error(f"{what} ({size} bytes at {offset:#x}) runs past the end of the "
                             f"file", offset=offset)
        return bytes(self.raw[offset:offset + size])

    # ---------------------------------------------------------------- queries

    def section(self, name: str) -> Section | None:
        """The first section called ``name``, or None."""
        return self._by_name.get(name)

    def section_at(self, index: int) -> Section:
        """The section with header index ``index``."""
        if not 0 <= index < len(self.sections):
            raise self.error(f"section index {index} is out of range ({len(self.sections)} "
                             f"sections)")
        return self.sections[index]

    def data(self, section: Section) -> bytes:
        """A section's contents (zeros for ``SHT_NOBITS``)."""
        if section.type == SHT_NOBITS:
            if section.size > MAX_NOBITS:
                raise self.error(f"implausible section size {section.size}",
                                 section=section.name)
            return bytes(section.size)
        return bytes(self.raw[section.offset:section.offset + section.size])

    def sections_by_name(self, wanted: tuple[str, ...]) -> dict[str, bytes]:
        """Name -> contents of the ``wanted`` sections the file has."""
        return {s.name: self.data(s) for s in self.sections[1:] if s.name in wanted}

    @cached_property
    def segments(self) -> list[Segment]:
        """The program headers (none in a relocatable object)."""
        if not self._phoff or not self._phnum:
            return []
        fmt = struct.Struct(self._e + _PHDR[self._class])
        if self._phentsize < fmt.size:
            raise self.error(f"program header entry size {self._phentsize} is too small")
        out = []
        for i in range(self._phnum):
            f = self._unpack(fmt, self._phoff + i * self._phentsize, "program header")
            if self.is64:
                p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = f
            else:
                p_type, offset, vaddr, _paddr, filesz, memsz, flags, _align = f
            out.append(Segment(p_type, flags, offset, vaddr, filesz, memsz))
        return out

    def read_symbols(self, table: Section) -> list[Symbol]:
        """Every entry of symbol table ``table`` (``SHT_SYMTAB`` or
        ``SHT_DYNSYM``), in table order (index 0 is the null symbol)."""
        fmt = struct.Struct(self._e + _SYM[self._class])
        entsize = table.entsize or fmt.size
        if entsize < fmt.size:
            raise self.error(f"symbol entry size {entsize} is too small", section=table.name)
        count = table.size // entsize
        if count > MAX_SYMBOLS:
            raise self.error(f"implausible symbol count {count}", section=table.name)
        strtab = self.data(self.section_at(table.link))
        raw = self.raw
        out = []
        for i in range(count):
            fields = fmt.unpack_from(raw, table.offset + i * entsize)
            if self.is64:
                name_off, info, other, shndx, value, size = fields
            else:
                name_off, value, size, info, other, shndx = fields
            name = _cstring(strtab, name_off)
            if name is None:
                raise self.error(f"symbol {i} name offset {name_off} is outside the string "
                                 f"table", section=table.name, offset=table.offset + i * entsize)
            out.append(Symbol(i, name, value, size, info >> 4, info & 0xF, other & 3, shndx))
        return out

    def notes(self, section: str | None = None) -> list[Note]:
        """The notes of section ``section`` (of every ``SHT_NOTE`` section by
        default)."""
        out = []
        head = struct.Struct(self._e + "III")
        for sec in self.sections:
            if sec.type != SHT_NOTE or (section and sec.name != section):
                continue
            pos, end = sec.offset, sec.offset + sec.size
            while pos + head.size <= end:
                namesz, descsz, ntype = head.unpack_from(self.raw, pos)
                name_off = pos + head.size
                desc_off = name_off + ((namesz + 3) & ~3)
                if desc_off + descsz > end:
                    raise self.error("note runs past the end of its section", section=sec.name,
                                     offset=pos)
                owner = bytes(self.raw[name_off:name_off + namesz]).rstrip(b"\0").decode(
                    "utf-8", "replace")
                out.append(Note(owner, ntype, bytes(self.raw[desc_off:desc_off + descsz]),
                                desc_off))
                pos = desc_off + ((descsz + 3) & ~3)
        return out


class ElfFile(ElfImage):
    """A relocatable BPF object (64-bit, ``ET_REL``, machine BPF or none),
    with its symbol table and relocations.

    ``sections`` lists every section header (index 0 is the null section);
    :meth:`data` returns a section's bytes; :attr:`symbols` the symbol table;
    :meth:`relocations` the relocations that apply to a section.
    """

    def __init__(self, data: bytes, *, path: str | None = None):
        super().__init__(bytes(data), path=path)
        if not self.sections:
            raise self.error("the file has no section header table",
                             offset=_SH_FIELDS[ELFCLASS64][0])

    def _check_ident(self, ei_class: int, ei_data: int) -> None:
        if ei_class != ELFCLASS64:
            raise self.error(f"unsupported ELF class {ei_class} (BPF objects are 64-bit)",
                             offset=4)
        super()._check_ident(ei_class, ei_data)

    def _check_header(self) -> None:
        if self.e_type != ET_REL:
            raise self.error(f"not a relocatable object (ELF type {self.e_type}); BPF objects "
                             f"come from 'cc -c'", offset=16)
        if self.machine not in (EM_BPF, EM_NONE):
            raise self.error(f"not a BPF object (ELF machine {self.machine}, BPF is {EM_BPF})",
                             offset=18)

    @cached_property
    def symtab(self) -> Section | None:
        """The symbol table section (None if the object has none)."""
        tables = [s for s in self.sections if s.type == SHT_SYMTAB]
        if len(tables) > 1:
            raise self.error("more than one symbol table", section=tables[1].name)
        return tables[0] if tables else None

    @cached_property
    def symbols(self) -> list[Symbol]:
        """Every symbol, in table order (index 0 is the null symbol)."""
        table = self.symtab
        return [] if table is None else self.read_symbols(table)

    def symbol(self, index: int, where: str | None = None) -> Symbol:
        """Symbol ``index``."""
        symbols = self.symbols
        if not 0 <= index < len(symbols):
            raise self.error(f"symbol index {index} is out of range ({len(symbols)} symbols)",
                             section=where)
        return symbols[index]

    def symbol_section_name(self, sym: Symbol) -> str | None:
        """The name of the section a symbol is defined in (None for special indexes)."""
        if sym.shndx == SHN_UNDEF or sym.shndx >= SHN_LORESERVE:
            return None
        return self.section_at(sym.shndx).name

    @cached_property
    def _reloc_sections(self) -> dict[int, list[Section]]:
        out: dict[int, list[Section]] = {}
        for s in self.sections:
            if s.type in (SHT_REL, SHT_RELA):
                out.setdefault(s.info, []).append(s)
        return out

    def relocation_sections(self, target: Section) -> list[Section]:
        """The REL/RELA sections that apply to ``target``."""
        return self._reloc_sections.get(target.index, [])

    def relocations(self, target: Section) -> list[Relocation]:
        """Every relocation against ``target``, sorted by offset."""
        out: list[Relocation] = []
        for rs in self.relocation_sections(target):
            rela = rs.type == SHT_RELA
            fmt = struct.Struct(self._e + ("QQq" if rela else "QQ"))
            entsize = rs.entsize or fmt.size
            if entsize < fmt.size:
                raise self.error(f"relocation entry size {entsize} is too small",
                                 section=rs.name)
            raw = self.raw
            for i in range(rs.size // entsize):
                fields = fmt.unpack_from(raw, rs.offset + i * entsize)
                offset, info = fields[0], fields[1]
                sym = self.symbol(info >> 32, rs.name)
                out.append(Relocation(offset, info & 0xFFFFFFFF, sym,
                                      fields[2] if rela else 0))
        out.sort(key=lambda r: r.offset)
        return out


def _cstring(table: bytes, offset: int) -> str | None:
    """The NUL-terminated string at ``offset`` of a string table, or None."""
    if not 0 <= offset < len(table):
        return "" if offset == 0 and not table else None
    end = table.find(b"\0", offset)
    if end < 0:
        return None
    return table[offset:end].decode("utf-8", "surrogateescape")


__all__ = [
    "ELF_MAGIC",
    "EM_BPF",
    "R_BPF_64_32",
    "R_BPF_64_64",
    "R_BPF_64_ABS32",
    "R_BPF_64_ABS64",
    "R_BPF_64_NODYLD32",
    "R_BPF_NONE",
    "ElfFile",
    "ElfImage",
    "Note",
    "Relocation",
    "Section",
    "Segment",
    "Symbol",
    "is_elf",
]
