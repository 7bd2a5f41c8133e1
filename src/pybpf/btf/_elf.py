"""The ``.BTF`` and ``.BTF.ext`` sections of an ELF file, for the BTF parser.

ELF is read by :mod:`pybpf.elf.reader` (which imports nothing above
:mod:`pybpf.errors`, so the BTF layer can use it below the object loader);
this module only turns its errors into :class:`~pybpf.errors.BTFError`.
"""

from __future__ import annotations

from ..elf.reader import ELF_MAGIC, ElfImage
from ..errors import BTFError, ObjectError

__all__ = ["ELF_MAGIC", "elf_sections"]


def elf_sections(data: bytes, wanted: tuple[str, ...] = (".BTF", ".BTF.ext"),
                 path: str | None = None) -> dict[str, bytes]:
    """Map section name -> contents for the ``wanted`` sections an ELF file has.

    Raises BTFError for a file that is not a well-formed ELF.
    """
    try:
        return ElfImage(data, path=path).sections_by_name(wanted)
    except ObjectError as e:
        raise BTFError(e.reason, section=e.section, offset=e.offset, path=path) from None
