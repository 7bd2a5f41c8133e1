"""The ``.BTF.ext`` section: per-program-section function info, line info and
CO-RE relocation records.

Records are grouped by the name of the ELF section holding the code they
describe.  ``insn_off`` is kept as the file stores it (a byte offset in that
section); ``insn_index`` divides by the 8-byte instruction size.
"""

from __future__ import annotations

import os
import struct
from typing import NamedTuple

from ..errors import BTFError
from ..spec.defines import BTF_MAGIC
from .btf import BTF

EXT_HEADER_MIN = 24
"""Header without the CO-RE part (func_info and line_info only)."""
EXT_HEADER_CORE = 32
"""Header with the CO-RE relocation part."""


class FuncInfo(NamedTuple):
    """A function starts at ``insn_off`` and has type ``type_id`` (a FUNC)."""

    insn_off: int
    type_id: int

    @property
    def insn_index(self) -> int:
        """Instruction index of the function's first instruction."""
        return self.insn_off // 8


class LineInfo(NamedTuple):
    """Source position of the instruction at ``insn_off``."""

    insn_off: int
    file_name: str
    line: str
    line_num: int
    column: int

    @property
    def insn_index(self) -> int:
        """Instruction index this line information describes."""
        return self.insn_off // 8


class CoreRelo(NamedTuple):
    """One CO-RE relocation (``struct bpf_core_relo``): patch the instruction at
    ``insn_off`` with what ``access_str`` of local type ``type_id`` means in the
    target kernel, according to ``kind`` (:class:`~pybpf.btf.core.RelocKind`)."""

    insn_off: int
    type_id: int
    access_str: str
    kind: int

    @property
    def insn_index(self) -> int:
        """Index of the instruction to patch."""
        return self.insn_off // 8


class BTFExt:
    """A parsed ``.BTF.ext`` section.

    ``func_info``, ``line_info`` and ``core_relos`` map a code section name
    (``"kprobe/do_exit"``) to its records in file order.
    """

    def __init__(self, func_info: dict[str, list[FuncInfo]],
                 line_info: dict[str, list[LineInfo]],
                 core_relos: dict[str, list[CoreRelo]], byteorder: str = "little"):
        self.func_info = func_info
        self.line_info = line_info
        self.core_relos = core_relos
        self.byteorder = byteorder

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, btf: BTF, *,
                   path: str | None = None) -> BTFExt:
        """Parse ``.BTF.ext`` bytes; names come from ``btf``'s string section."""
        return _parse(bytes(data), btf, path)

    @classmethod
    def from_file(cls, path: str | os.PathLike, btf: BTF | None = None) -> BTFExt:
        """Parse the ``.BTF.ext`` section of an ELF object (its ``.BTF`` too
        unless ``btf`` is given)."""
        from ._elf import elf_sections

        path = os.fspath(path)
        with open(path, "rb") as f:
            sections = elf_sections(f.read(), path=path)
        if ".BTF.ext" not in sections:
            raise BTFError("object file has no .BTF.ext section", path=path)
        if btf is None:
            if ".BTF" not in sections:
                raise BTFError("object file has no .BTF section", path=path)
            btf = BTF.from_bytes(sections[".BTF"], path=path)
        return _parse(sections[".BTF.ext"], btf, path)

    def __repr__(self) -> str:
        def count(d):
            return sum(len(v) for v in d.values())

        return (f"<BTFExt {count(self.func_info)} func_info, {count(self.line_info)} "
                f"line_info, {count(self.core_relos)} CO-RE relocations in "
                f"{len(set(self.func_info) | set(self.line_info) | set(self.core_relos))} "
                f"sections>")


def _parse(data: bytes, btf: BTF, path: str | None) -> BTFExt:
    def error(message: str, offset: int | None = None) -> BTFError:
        return BTFError(message, section=".BTF.ext", offset=offset, path=path)

    if len(data) < 8:
        raise error(f"truncated header ({len(data)} bytes)", 0)
    if int.from_bytes(data[:2], "little") == BTF_MAGIC:
        e = "<"
    elif int.from_bytes(data[:2], "big") == BTF_MAGIC:
        e = ">"
    else:
        raise error(f"bad magic {data[:2].hex()} (want 0xeb9f)", 0)
    if (e == "<") != (btf.byteorder == "little"):
        raise error(".BTF.ext and .BTF have different byte orders", 0)
    version = data[2]
    if version != 1:
        raise error(f"unsupported version {version}", 2)
    hdr_len = struct.unpack_from(e + "I", data, 4)[0]
    if hdr_len < EXT_HEADER_MIN or hdr_len > len(data):
        raise error(f"bad header length {hdr_len}", 4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(e + "IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= EXT_HEADER_CORE:
        cr_off, cr_len = struct.unpack_from(e + "II", data, 24)

    def string(off: int, where: int) -> str:
        try:
            return btf.string_at(off)
        except BTFError:
            raise error(f"string offset {off} is outside the .BTF string section", where) \
                from None

    def blocks(off: int, length: int, what: str, min_rec: int):
        """Yield (section name, record size, record start offsets)."""
        if not length:
            return
        start = hdr_len + off
        end = start + length
        if end > len(data):
            raise error(f"{what} ({length} bytes at {start:#x}) runs past the end "
                        f"({len(data)} bytes)", start)
        if length < 4:
            raise error(f"{what} is too short for its record size", start)
        rec_size = struct.unpack_from(e + "I", data, start)[0]
        if rec_size < min_rec or rec_size % 4:
            raise error(f"{what} record size {rec_size} is invalid (need at least {min_rec}, "
                        f"a multiple of 4)", start)
        pos = start + 4
        while pos < end:
            if pos + 8 > end:
                raise error(f"{what} section header is truncated", pos)
            sec_off, num = struct.unpack_from(e + "II", data, pos)
            name = string(sec_off, pos)
            pos += 8
            if num == 0:
                raise error(f"{what} for section {name!r} has no records", pos - 4)
            if pos + num * rec_size > end:
                raise error(f"{what} for section {name!r}: {num} records of {rec_size} bytes "
                            f"run past the end", pos)
            yield name, [pos + i * rec_size for i in range(num)]
            pos += num * rec_size

    u2 = struct.Struct(e + "II").unpack_from
    u4 = struct.Struct(e + "IIII").unpack_from
    func_info: dict[str, list[FuncInfo]] = {}
    for name, recs in blocks(fi_off, fi_len, "func_info", 8):
        func_info.setdefault(name, []).extend(FuncInfo(*u2(data, r)) for r in recs)
    line_info: dict[str, list[LineInfo]] = {}
    for name, recs in blocks(li_off, li_len, "line_info", 16):
        out = line_info.setdefault(name, [])
        for r in recs:
            insn_off, file_off, line_off, line_col = u4(data, r)
            out.append(LineInfo(insn_off, string(file_off, r + 4), string(line_off, r + 8),
                                line_col >> 10, line_col & 0x3FF))
    core_relos: dict[str, list[CoreRelo]] = {}
    for name, recs in blocks(cr_off, cr_len, "CO-RE relocation", 16):
        out_r = core_relos.setdefault(name, [])
        for r in recs:
            insn_off, type_id, access_off, kind = u4(data, r)
            out_r.append(CoreRelo(insn_off, type_id, string(access_off, r + 8), kind))
    return BTFExt(func_info, line_info, core_relos, "little" if e == "<" else "big")


def build_ext(btf_strings, func_info: dict[str, list[FuncInfo]] | None = None,
              line_info: dict[str, list[LineInfo]] | None = None,
              core_relos: dict[str, list[CoreRelo]] | None = None,
              byteorder: str = "little") -> bytes:
    """Serialize ``.BTF.ext``.  ``btf_strings`` is a :class:`BTFBuilder` (its
    :meth:`add_string` places section names, file names and access strings)."""
    e = "<" if byteorder == "little" else ">"
    s = btf_strings.add_string

    def part(groups, rec_size, pack_record) -> bytes:
        if not groups:
            return b""
        out = [struct.pack(e + "I", rec_size)]
        for name, recs in groups.items():
            out.append(struct.pack(e + "II", s(name), len(recs)))
            out.extend(pack_record(r) for r in recs)
        return b"".join(out)

    fi = part(func_info, 8, lambda r: struct.pack(e + "II", r.insn_off, r.type_id))
    li = part(line_info, 16, lambda r: struct.pack(
        e + "IIII", r.insn_off, s(r.file_name), s(r.line),
        (r.line_num << 10) | (r.column & 0x3FF)))
    cr = part(core_relos, 16, lambda r: struct.pack(
        e + "IIII", r.insn_off, r.type_id, s(r.access_str), r.kind))
    header = struct.pack(e + "HBBIIIIIII", BTF_MAGIC, 1, 0, EXT_HEADER_CORE,
                         0, len(fi), len(fi), len(li), len(fi) + len(li), len(cr))
    return header + fi + li + cr
