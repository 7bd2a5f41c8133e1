"""Names for the addresses of stack traces: kernel addresses from
``/proc/kallsyms`` (:mod:`pybpf.kernel.kallsyms`), user addresses from the
process's mappings (``/proc/PID/maps``) and the mapped files' ELF symbol
tables (:class:`pybpf.kernel.symbols.ElfBinary`: ``.symtab`` and
``.dynsym``), plus the LZMA-compressed MiniDebugInfo symbol table that
distributions leave in ``.gnu_debugdata`` of stripped binaries, plus the
separate debug file found by the binary's build id under
``/usr/lib/debug/.build-id``.  The profiling tools (:mod:`pybpf.tools`)
and ``pybpf trace`` (``ustack``, ``usym``) name frames with it::

    symbols = UserSymbols()
    symbols.name(pid, address)          # "PyObject_Call" (or "[unknown]")
    symbols.symbol(pid, address)        # ("PyObject_Call", 42): name and offset

Symbol tables are cached per file (device, inode and modification time:
the same file under any path or mount namespace), so that a library is
read once however many processes map it; each table records the file's
build id (the ELF ``NT_GNU_BUILD_ID`` note).
"""

from __future__ import annotations

import bisect
import lzma
import os
from collections.abc import Iterable

from ..elf.reader import PT_LOAD, SHT_DYNSYM, SHT_SYMTAB, ElfImage
from ..errors import BPFError
from . import kallsyms
from .symbols import ElfBinary

__all__ = ["DEBUG_FILE_DIR", "GNU_BUILD_ID_NOTE", "MINIDEBUGINFO_SECTION", "UNKNOWN",
           "FileSymbols", "KernelSymbols", "Mapping", "SymbolTable", "UserSymbols", "build_id",
           "debug_file_symbols", "minidebuginfo_symbols", "read_maps"]

UNKNOWN = "[unknown]"
"""What an address nothing names prints as (as libbpf-tools print it)."""

GNU_BUILD_ID_NOTE = 3
"""``NT_GNU_BUILD_ID``: the note type of a file's build id."""

MINIDEBUGINFO_SECTION = ".gnu_debugdata"
"""The section of a stripped binary holding its XZ-compressed MiniDebugInfo."""


class SymbolTable:
    """Function symbols sorted by address: ``name_of(address)``.

    ``entries`` are ``(start, size, name)``, or ``(start, size, name, weak)``
    for ELF symbols: of several names for one address (``getpid`` and
    ``__getpid`` in glibc), a strong (global or local) one is preferred over
    a weak alias, as perf and bpftrace name it; then the larger, then the
    name last in order."""

    def __init__(self, entries: Iterable[tuple]):
        rows = sorted((e[0], not (len(e) > 3 and e[3]), e[1], e[2]) for e in entries if e[2])
        self.starts = [r[0] for r in rows]
        self.sizes = [r[2] for r in rows]
        self.names = [r[3] for r in rows]

    def __len__(self) -> int:
        return len(self.names)

    def name_of(self, address: int, *, sized: bool = True) -> str | None:
        """The function holding ``address``: the last symbol starting at or
        before it (which, with ``sized``, must also extend over it when its
        size is known)."""
        found = self.symbol_of(address, sized=sized)
        return found[0] if found else None

    def symbol_of(self, address: int, *, sized: bool = True) -> tuple[str, int] | None:
        """``(name, offset of address in it)`` of the function holding
        ``address`` (see :meth:`name_of`), or None."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i < 0:
            return None
        if sized and self.sizes[i] and address >= self.starts[i] + self.sizes[i]:
            return None
        return self.names[i], address - self.starts[i]


class KernelSymbols:
    """Kernel function names from ``/proc/kallsyms`` (read on first use)."""

    def __init__(self, path: str = kallsyms.PATH):
        self.path = path
        self._table: SymbolTable | None = None

    @property
    def table(self) -> SymbolTable:
        """The sorted table of text symbols (empty when addresses are hidden)."""
        if self._table is None:
            self._table = SymbolTable(_kernel_functions(self.path))
        return self._table

    def name(self, address: int) -> str:
        """The kernel function at ``address``, or ``[unknown]``."""
        return self.table.name_of(address, sized=False) or UNKNOWN


def _kernel_functions(path: str) -> list[tuple[int, int, str]]:
    # kallsyms.symbols() parses every field of every line; a profile needs
    # only the text symbols' addresses and names, read in one pass
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[1] in kallsyms.FUNCTION_KINDS:
            address = int(parts[0], 16)
            if address:
                out.append((address, 0, parts[2]))
    return out


def _function_symbols(image: ElfImage) -> list[tuple[int, int, str, bool]]:
    out = []
    for kind in (SHT_DYNSYM, SHT_SYMTAB):
        for section in image.sections:
            if section.type != kind:
                continue
            for sym in image.read_symbols(section):
                if sym.is_function and not sym.is_undefined and sym.value:
                    out.append((sym.value, sym.size, sym.name.split("@", 1)[0], sym.is_weak))
    return out


def minidebuginfo_symbols(elf: ElfBinary) -> list[tuple[int, int, str, bool]]:
    """The function symbols of ``elf``'s ``.gnu_debugdata`` section (an
    XZ-compressed ELF file holding a ``.symtab``), or none."""
    section = elf.section(MINIDEBUGINFO_SECTION)
    if section is None:
        return []
    try:
        inner = lzma.decompress(elf.image.data(section))
        return _function_symbols(ElfImage(inner, path=f"{elf.path}{MINIDEBUGINFO_SECTION}"))
    except (lzma.LZMAError, BPFError, ValueError):
        return []


def build_id(elf: ElfBinary) -> str | None:
    """The file's GNU build id as hex, if it has one."""
    for note in elf.notes():
        if note.type == GNU_BUILD_ID_NOTE and note.owner.rstrip("\0") == "GNU":
            return bytes(note.desc).hex()
    return None


DEBUG_FILE_DIR = "/usr/lib/debug/.build-id"
"""Where distributions' debug packages put a binary's separate debug file:
``xx/yyyy.debug`` for build id ``xxyyyy``."""


def debug_file_symbols(build_id_hex: str | None, directory: str = DEBUG_FILE_DIR
                       ) -> list[tuple[int, int, str, bool]]:
    """The function symbols of the separate debug file of the binary with
    build id ``build_id_hex`` (installed by a ``-dbg``/``-debuginfo``
    package), or none."""
    if not build_id_hex or len(build_id_hex) < 3:
        return []
    path = os.path.join(directory, build_id_hex[:2], build_id_hex[2:] + ".debug")
    if not os.path.isfile(path):
        return []
    try:
        with ElfBinary(path) as debug:
            return _function_symbols(debug.image)
    except (BPFError, OSError, ValueError):
        return []


class FileSymbols:
    """One mapped file's function symbols and load segments: a file offset
    to a function name.  The symbols are the file's own, those of its
    MiniDebugInfo, and those of its separate debug file found by build id."""

    def __init__(self, path: str):
        with ElfBinary(path) as elf:
            self.build_id = build_id(elf)
            self.table = SymbolTable(_function_symbols(elf.image) + minidebuginfo_symbols(elf)
                                     + debug_file_symbols(self.build_id))
            self.loads = [(seg.offset, seg.vaddr, max(seg.filesz, seg.memsz))
                          for seg in elf.segments if seg.type == PT_LOAD]

    def name_at_offset(self, file_offset: int) -> str | None:
        """The function at ``file_offset`` of the file."""
        found = self.symbol_at_offset(file_offset)
        return found[0] if found else None

    def symbol_at_offset(self, file_offset: int) -> tuple[str, int] | None:
        """``(function, offset in it)`` at ``file_offset`` of the file."""
        for offset, vaddr, size in self.loads:
            if offset <= file_offset < offset + size:
                return self.table.symbol_of(file_offset - offset + vaddr)
        return None


class Mapping:
    """One executable mapping of a file in a process (a line of
    ``/proc/PID/maps``)."""

    __slots__ = ("end", "offset", "path", "start")

    def __init__(self, start: int, end: int, offset: int, path: str):
        self.start, self.end, self.offset, self.path = start, end, offset, path


def read_maps(pid: int) -> list[Mapping]:
    """Process ``pid``'s executable file mappings, by address (empty when it
    is gone)."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            lines = f.readlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 6 or "x" not in parts[1]:
            continue
        path = parts[5].strip()
        if not path.startswith("/"):
            continue
        lo, _, hi = parts[0].partition("-")
        out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), path))
    return sorted(out, key=lambda m: m.start)


class UserSymbols:
    """User-space function names, per process: each process's mappings are
    read once (on its first address), each file's symbols once."""

    def __init__(self) -> None:
        self._maps: dict[int, list[Mapping]] = {}
        self._files: dict[tuple, FileSymbols | None] = {}

    def _file(self, pid: int, path: str) -> FileSymbols | None:
        candidates = [f"/proc/{pid}/root{path}", path]
        for candidate in candidates:
            try:
                st = os.stat(candidate)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino, st.st_mtime_ns)
            if key not in self._files:
                try:
                    self._files[key] = FileSymbols(candidate)
                except (BPFError, OSError, ValueError):
                    self._files[key] = None
            return self._files[key]
        return None

    def remember(self, pid: int) -> None:
        """Read process ``pid``'s mappings now (once), while it is alive."""
        if pid not in self._maps:
            maps = read_maps(pid)
            if maps:
                self._maps[pid] = maps

    def name(self, pid: int, address: int) -> str:
        """The function at ``address`` in process ``pid``, or ``[unknown]``."""
        found = self.symbol(pid, address)
        return found[0] if found else UNKNOWN

    def symbol(self, pid: int, address: int) -> tuple[str, int] | None:
        """``(function, offset in it)`` at ``address`` in process ``pid``,
        or None when nothing names it (or the process is gone)."""
        self.remember(pid)
        maps = self._maps.get(pid, [])
        i = bisect.bisect_right([m.start for m in maps], address) - 1
        if i < 0 or address >= maps[i].end:
            return None
        m = maps[i]
        symbols = self._file(pid, m.path)
        if symbols is None:
            return None
        return symbols.symbol_at_offset(address - m.start + m.offset)
