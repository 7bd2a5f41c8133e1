"""kernel.symbols: reading executables and libraries for uprobes, through
pybpf's one ELF reader (pybpf.elf.reader.ElfImage).  No kernel needed."""

from __future__ import annotations

import struct
import sys

import pytest

from pybpf.elf.reader import ELF_MAGIC, ElfImage
from pybpf.errors import BPFError, ObjectError
from pybpf.kernel.symbols import ElfBinary, find_binary


def elf32(*, big_endian: bool = False) -> bytes:
    """A 32-bit ET_EXEC file: one PT_LOAD segment at 0x8048000 (file offset
    0x1000), a function ``probe_me`` at 0x8048010 in ``.symtab``, and a
    note ``demo``/7 with descriptor ``b"abcd"``."""
    e = ">" if big_endian else "<"
    shstr = b"\0.text\0.symtab\0.strtab\0.shstrtab\0.note.demo\0"
    strtab = b"\0probe_me\0"
    text = bytes(range(32))
    note = struct.pack(e + "III", 5, 4, 7) + b"demo\0\0\0\0" + b"abcd"
    sym = struct.Struct(e + "IIIBBH")
    symtab = bytes(sym.size) + sym.pack(1, 0x8048010, 8, (1 << 4) | 2, 0, 1)
    body = {0x1000: text, 0x1100: symtab, 0x1200: strtab, 0x1300: shstr, 0x1400: note}
    shoff = 0x1500
    shdr = struct.Struct(e + "IIIIIIIIII")
    sections = [
        bytes(shdr.size),
        shdr.pack(shstr.index(b".text"), 1, 6, 0x8048000, 0x1000, len(text), 0, 0, 16, 0),
        shdr.pack(shstr.index(b".symtab"), 2, 0, 0, 0x1100, len(symtab), 3, 1, 4, sym.size),
        shdr.pack(shstr.index(b".strtab"), 3, 0, 0, 0x1200, len(strtab), 0, 0, 1, 0),
        shdr.pack(shstr.index(b".shstrtab"), 3, 0, 0, 0x1300, len(shstr), 0, 0, 1, 0),
        shdr.pack(shstr.index(b".note.demo"), 7, 2, 0, 0x1400, len(note), 0, 0, 4, 0),
    ]
    phoff = 52
    phdr = struct.pack(e + "IIIIIIII", 1, 0x1000, 0x8048000, 0x8048000, len(text),
                       len(text), 5, 0x1000)
    ident = ELF_MAGIC + bytes([1, 2 if big_endian else 1, 1]) + bytes(9)
    header = ident + struct.pack(e + "HHIIIIIHHHHHH", 2, 3, 1, 0x8048000, phoff, shoff, 0, 52,
                                 32, 1, shdr.size, len(sections), 4)
    out = bytearray(shoff + shdr.size * len(sections))
    out[:len(header)] = header
    out[phoff:phoff + len(phdr)] = phdr
    for off, data in body.items():
        out[off:off + len(data)] = data
    out[shoff:] = b"".join(sections)
    return bytes(out)


@pytest.mark.parametrize("big_endian", [False, True])
def test_a_32_bit_executable_reads_its_symbols_segments_and_notes(tmp_path, big_endian):
    path = tmp_path / "exe32"
    path.write_bytes(elf32(big_endian=big_endian))
    with ElfBinary(str(path)) as elf:
        assert not elf.is64 and elf.endian == (">" if big_endian else "<")
        assert not elf.is_shared and elf.machine == 3
        assert elf.symbol("probe_me").value == 0x8048010
        assert elf.file_offset_of("probe_me", 4) == 0x1014
        assert [s.name for s in elf.functions_matching("probe_*")] == ["probe_me"]
        (note,) = elf.notes(".note.demo")
        assert (note.owner, note.type, note.desc) == ("demo", 7, b"abcd")
        with pytest.raises(BPFError, match="no symbol 'missing'"):
            elf.symbol("missing")
        with pytest.raises(BPFError, match="no loadable segment"):
            elf.file_offset(0x10)


def test_the_python_binary_reads_like_any_executable():
    path = find_binary(sys.executable)
    with ElfBinary(path) as elf:
        assert elf.is64 and elf.segments
        assert elf.section(".text") is not None
        assert any(s.type == 1 for s in elf.segments)  # PT_LOAD


def test_not_an_elf_file_is_an_object_error_naming_the_file(tmp_path):
    path = tmp_path / "text"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(ObjectError, match=r"text, offset 0x0: not an ELF file"):
        ElfBinary(str(path))
    with pytest.raises(BPFError, match="cannot read"):
        ElfBinary(str(tmp_path / "absent"))


def test_truncated_program_headers_are_refused_not_misread():
    data = bytearray(elf32())
    data[44:46] = (200).to_bytes(2, "little")  # e_phnum far past the end of the file
    image = ElfImage(bytes(data))
    with pytest.raises(ObjectError, match="truncated program header"):
        _ = image.segments
