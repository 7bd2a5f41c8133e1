"""Just enough ELF to find the ``.BTF`` and ``.BTF.ext`` sections of an object.

The object-file loader proper lives in :mod:`pybpf.elf`; this layer sits below
it and only needs section contents by name.
"""

from __future__ import annotations

import struct

from ..errors import BTFError

ELF_MAGIC = b"\x7fELF"
_SHT_NOBITS = 8


def elf_sections(data: bytes, wanted: tuple[str, ...] = (".BTF", ".BTF.ext"),
                 path: str | None = None) -> dict[str, bytes]:
    """Map section name -> contents for the ``wanted`` sections an ELF file has.

    Raises BTFError for a file that is not a well-formed ELF.
    """
    if len(data) < 16 or data[:4] != ELF_MAGIC:
        raise BTFError("not an ELF file", path=path, offset=0)
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise BTFError(f"unsupported ELF class {ei_class} / data encoding {ei_data}",
                       path=path, offset=4)
    e = "<" if ei_data == 1 else ">"
    is64 = ei_class == 2
    try:
        if is64:
            shoff, = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
            shdr = struct.Struct(e + "IIQQQQIIQQ")
        else:
            shoff, = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
            shdr = struct.Struct(e + "IIIIIIIIII")
    except struct.error:
        raise BTFError("truncated ELF header", path=path, offset=0) from None
    if shnum == 0 or shoff == 0:
        return {}
    if shentsize < shdr.size or shoff + shnum * shentsize > len(data):
        raise BTFError("ELF section header table out of bounds", path=path, offset=shoff)
    headers = [shdr.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    if shstrndx >= shnum:
        raise BTFError(f"ELF section name table index {shstrndx} out of range", path=path)

    def contents(h: tuple) -> bytes:
        sh_type, sh_offset, sh_size = h[1], h[4], h[5]
        if sh_type == _SHT_NOBITS:
            return b""
        if sh_offset + sh_size > len(data):
            raise BTFError("ELF section extends past the end of the file", path=path,
                           offset=sh_offset)
        return data[sh_offset:sh_offset + sh_size]

    names = contents(headers[shstrndx])
    out: dict[str, bytes] = {}
    for h in headers[1:]:
        name_off = h[0]
        end = names.find(b"\0", name_off)
        if name_off >= len(names) or end < 0:
            continue
        name = names[name_off:end].decode("utf-8", "replace")
        if name in wanted:
            out[name] = contents(h)
    return out
