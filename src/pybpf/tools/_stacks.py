"""Stack traces for profile and offcputime: reading a stack trace map and
turning its addresses into function names.

Kernel addresses are named from ``/proc/kallsyms``
(:mod:`pybpf.kernel.kallsyms`), user addresses from the process's
mappings (``/proc/PID/maps``) and the mapped files' ELF symbol tables
(:class:`pybpf.kernel.symbols.ElfBinary`: ``.symtab`` and ``.dynsym``),
plus the LZMA-compressed MiniDebugInfo symbol table that distributions
leave in ``.gnu_debugdata`` of stripped binaries, plus the separate debug
file found by the binary's build id under ``/usr/lib/debug/.build-id``.  An address that nothing
names prints as ``[unknown]``, as libbpf-tools print it.

Symbol tables are cached per file (device, inode and modification time:
the same file under any path or mount namespace), so that a library is
read once however many processes map it; each table records the file's
build id (the ELF ``NT_GNU_BUILD_ID`` note).
"""

from __future__ import annotations

import bisect
import lzma
import os
import struct
from collections.abc import Iterable
from typing import Any

from ..bindings.runtime import TypedMap
from ..elf.reader import PT_LOAD, SHT_DYNSYM, SHT_SYMTAB, ElfImage
from ..errors import BPFError
from ..kernel import kallsyms
from ..kernel.symbols import ElfBinary

UNKNOWN = "[unknown]"
MAX_DEPTH = 127
"""Frames a stack trace map value holds (the kernel's PERF_MAX_STACK_DEPTH)."""

GNU_BUILD_ID_NOTE = 3
"""``NT_GNU_BUILD_ID``: the note type of a file's build id."""

MINIDEBUGINFO_SECTION = ".gnu_debugdata"


def read_stack(stacks: TypedMap[int, bytes], stack_id: int) -> list[int]:
    """The addresses of stack ``stack_id`` in stack trace map ``stacks``,
    innermost first (empty for a negative id — the program's error — or one
    gone from the map)."""
    if stack_id < 0:
        return []
    try:
        raw = stacks.get(stack_id)
    except OSError:
        return []
    if raw is None:
        return []
    out = []
    for (ip,) in struct.iter_unpack("<Q", raw[:len(raw) - len(raw) % 8]):
        if not ip:
            break
        out.append(ip)
    return out


class SymbolTable:
    """Function symbols sorted by address: ``name_of(address)``."""

    def __init__(self, entries: Iterable[tuple[int, int, str]]):
        rows = sorted((start, size, name) for start, size, name in entries if name)
        self.starts = [r[0] for r in rows]
        self.sizes = [r[1] for r in rows]
        self.names = [r[2] for r in rows]

    def __len__(self) -> int:
        return len(self.names)

    def name_of(self, address: int, *, sized: bool = True) -> str | None:
        """The function holding ``address``: the last symbol starting at or
        before it (which, with ``sized``, must also extend over it when its
        size is known)."""
        i = bisect.bisect_right(self.starts, address) - 1
        if i < 0:
            return None
        if sized and self.sizes[i] and address >= self.starts[i] + self.sizes[i]:
            return None
        return self.names[i]


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


def _function_symbols(image: ElfImage) -> list[tuple[int, int, str]]:
    out = []
    for kind in (SHT_DYNSYM, SHT_SYMTAB):
        for section in image.sections:
            if section.type != kind:
                continue
            for sym in image.read_symbols(section):
                if sym.is_function and not sym.is_undefined and sym.value:
                    out.append((sym.value, sym.size, sym.name.split("@", 1)[0]))
    return out


def minidebuginfo_symbols(elf: ElfBinary) -> list[tuple[int, int, str]]:
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
                       ) -> list[tuple[int, int, str]]:
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
        for offset, vaddr, size in self.loads:
            if offset <= file_offset < offset + size:
                return self.table.name_of(file_offset - offset + vaddr)
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
        self.remember(pid)
        maps = self._maps.get(pid, [])
        i = bisect.bisect_right([m.start for m in maps], address) - 1
        if i < 0 or address >= maps[i].end:
            return UNKNOWN
        m = maps[i]
        symbols = self._file(pid, m.path)
        if symbols is None:
            return UNKNOWN
        return symbols.name_at_offset(address - m.start + m.offset) or UNKNOWN


def folded_line(comm: str, user: list[str], kernel: list[str], count: int, *,
                delimiter: bool = False) -> str:
    """One line of folded stacks (Brendan Gregg's format, what flame graph
    generators read): ``comm;outer;...;inner count`` — user frames, then
    kernel frames, each from the outermost call; ``-`` between them with
    ``delimiter``."""
    frames = [comm.replace(";", "_") or "?", *reversed(user)]
    if delimiter and user and kernel:
        frames.append("-")
    frames.extend(reversed(kernel))
    return ";".join(f.replace(";", "_").replace(" ", "_") for f in frames) + f" {count}"




# --- what profile and offcputime print ----------------------------------------------------

EFAULT = 14
"""``bpf_get_stackid`` returns ``-EFAULT`` where there is no stack of that
kind (a kernel thread has no user stack): printed as nothing."""


TRACING_FRAMES = ("bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_")
"""Innermost kernel frames that are the tracing itself (a tracepoint
calling the BPF program that took the stack): dropped."""


class StackSample:
    """One counted stack pair: process, command, frames (innermost first,
    symbolized) and the count (samples, or microseconds off CPU)."""

    __slots__ = ("comm", "count", "kernel", "pid", "tid", "user")

    def __init__(self, pid: int, comm: str, user: list[str], kernel: list[str], count: int,
                 tid: int | None = None):
        self.pid, self.comm, self.user, self.kernel, self.count = pid, comm, user, kernel, count
        self.tid = tid


class Symbolizer:
    """Names for the frames of a stack trace map: kernel and user."""

    def __init__(self) -> None:
        self.kernel_symbols = KernelSymbols()
        self.user_symbols = UserSymbols()

    def kernel_frames(self, stacks: TypedMap[int, bytes], stack_id: int, *, user_only: bool = False) -> list[str]:
        """Kernel stack ``stack_id``, symbolized (innermost first)."""
        if user_only or stack_id == -EFAULT or stack_id == -1:
            return []
        if stack_id < 0:
            return ["[Missed Kernel Stack]"]
        frames = [self.kernel_symbols.name(ip) for ip in read_stack(stacks, stack_id)]
        while frames and frames[0].startswith(TRACING_FRAMES):
            del frames[0]
        return frames

    def user_frames(self, stacks: TypedMap[int, bytes], stack_id: int, pid: int, *,
                    kernel_only: bool = False) -> list[str]:
        """User stack ``stack_id`` of process ``pid``, symbolized (innermost first)."""
        if kernel_only or stack_id == -EFAULT or stack_id == -1:
            return []
        if stack_id < 0:
            return ["[Missed User Stack]"]
        return [self.user_symbols.name(pid, ip) for ip in read_stack(stacks, stack_id)]


def merge_samples(samples: Iterable[StackSample]) -> list[StackSample]:
    """``samples`` with those of the same process, thread and symbolized
    frames added up (different addresses in the same functions)."""
    merged: dict[tuple, StackSample] = {}
    for s in samples:
        key = (s.pid, s.tid, s.comm, tuple(s.user), tuple(s.kernel))
        have = merged.get(key)
        if have is None:
            merged[key] = StackSample(s.pid, s.comm, s.user, s.kernel, s.count, s.tid)
        else:
            have.count += s.count
    return list(merged.values())


def format_sample(s: StackSample, *, delimiter: bool = False) -> str:
    """A stack as libbpf-tools' profile and offcputime print it: kernel
    frames, then user frames, innermost first, one per line; then the
    command and process; then the count."""
    lines = [f"    {f}" for f in s.kernel]
    if delimiter and s.kernel and s.user:
        lines.append("    --")
    lines.extend(f"    {f}" for f in s.user)
    lines.append(f"    {'-':<16} {s.comm} ({s.pid})")
    lines.append(f"        {s.count}\n")
    return "\n".join(lines)


def sample_json(s: StackSample, count_name: str = "count") -> dict[str, Any]:
    """A stack as a JSON object (frames innermost first)."""
    out: dict[str, Any] = {"pid": s.pid, "comm": s.comm}
    if s.tid is not None:
        out["tid"] = s.tid
    out.update({count_name: s.count, "kernel_stack": s.kernel, "user_stack": s.user})
    return out


def flame_stacks(samples: Iterable[StackSample]) -> list[tuple[list[str], int]]:
    """Samples as flame graph input (frames from the outermost; kernel
    frames marked ``_[k]``)."""
    return [([s.comm or "?", *reversed(s.user), *(f"{k}_[k]" for k in reversed(s.kernel))],
             s.count) for s in samples]


def print_samples(samples: list[StackSample], *, folded: bool, json_lines: bool,
                  delimiter: bool, count_name: str = "count") -> None:
    """Print ``samples`` in the chosen form: folded lines (largest first),
    JSON lines, or libbpf-tools' blocks (smallest first, so the largest end
    up nearest the prompt); stacks that symbolize alike are merged."""
    from ._runtime import print_json

    samples = merge_samples(samples)
    if folded:
        for s in sorted(samples, key=lambda s: -s.count):
            print(folded_line(s.comm, s.user, s.kernel, s.count, delimiter=delimiter))
    elif json_lines:
        for s in sorted(samples, key=lambda s: -s.count):
            print_json(sample_json(s, count_name))
    else:
        for s in sorted(samples, key=lambda s: s.count):
            print(format_sample(s, delimiter=delimiter))


__all__ = ["EFAULT", "MAX_DEPTH", "TRACING_FRAMES", "UNKNOWN", "FileSymbols", "KernelSymbols",
           "Mapping", "StackSample", "SymbolTable", "Symbolizer", "UserSymbols", "build_id", "debug_file_symbols",
           "flame_stacks", "folded_line", "format_sample", "merge_samples",
           "minidebuginfo_symbols", "print_samples", "read_maps", "read_stack", "sample_json"]
