"""Machine code into executable memory: a small linker for the JIT's objects.

LLVM compiles a program into a relocatable ELF object.  The JIT does not
hand it to LLVM's own execution engine: it places the object's allocated
sections in one anonymous mapping, applies the relocations itself and makes
the mapping executable.  The same path loads an object from the disk cache,
so a cached program runs without loading LLVM at all.

The generated code reaches nothing outside itself except through the
runtime block it is passed (callbacks, map addresses), so the relocations
are few: references between its own sections (constant pools), and calls
LLVM makes to the C library for large ``memset`` and ``memcpy``, which go
through a table of absolute jumps placed after the code.  x86-64 objects
only; another machine raises :class:`LoaderError` (the JIT then is not
available there).
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ..elf.reader import (
    EM_X86_64,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    SHT_SYMTAB,
    ElfImage,
)
from ..errors import BPFError

# x86-64 relocation types (the System V x86-64 psABI).
R_X86_64_NONE = 0
R_X86_64_64 = 1
R_X86_64_PC32 = 2
R_X86_64_PLT32 = 4
R_X86_64_GOTPCREL = 9
R_X86_64_32 = 10
R_X86_64_32S = 11
R_X86_64_PC64 = 24
R_X86_64_GOTPCRELX = 41
R_X86_64_REX_GOTPCRELX = 42

#: An absolute jump: ``movabs rax, <address>; jmp rax``.
_STUB_HEAD = bytes.fromhex("48b8")
_STUB_TAIL = bytes.fromhex("ffe0")
_STUB_SIZE = 16
_RELA = struct.Struct("<QQq")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_libc.mprotect.restype = ctypes.c_int


class LoaderError(BPFError):
    """Compiled code that cannot be placed in memory on this machine."""


#: The Python C API functions generated code calls (its fast-call entry, and
#: the signal check of long runs).
PYTHON_API = ("PyLong_AsUnsignedLongLongMask", "PyLong_FromUnsignedLongLong",
              "PyErr_CheckSignals")


def c_library_symbols() -> dict[str, int]:
    """The C library (and Python C API) functions generated code may call, by name."""
    return dict(_c_library_symbols())


@lru_cache(maxsize=1)
def _c_library_symbols() -> dict[str, int]:
    # The addresses are the process's: looked up once (each load needs them).
    out = {}
    for name in ("memset", "memcpy", "memmove", "memcmp", "clock_gettime"):
        out[name] = ctypes.cast(getattr(_libc, name), ctypes.c_void_p).value or 0
    for name in PYTHON_API:
        out[name] = ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value or 0
    return out


class MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``: how a C function becomes a Python callable."""

    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


METH_FASTCALL = 0x0080
_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.argtypes = (ctypes.c_void_p, ctypes.py_object, ctypes.py_object)
_new_function.restype = ctypes.py_object


def link_plan(obj: bytes) -> dict[str, Any]:
    """What placing an object file in memory needs, as plain data (what the
    disk cache keeps, so that a cached load parses no ELF): ``image``, the
    allocated sections laid out one after another, aligned (zeros for
    ``SHT_NOBITS`` and the gaps); ``relocations``, each ``(offset in the
    image, type, addend, target)`` where the target is an extern's name, an
    absolute value (``("abs", value)``) or an offset in the image; the
    ``externs`` called, sorted; the global ``functions`` by name -> offset.
    Raises :class:`LoaderError` for an object this loader cannot place."""
    image = ElfImage(obj)
    if image.machine != EM_X86_64 or not image.is64 or image.byteorder != "little":
        raise LoaderError(f"the JIT loads x86-64 code; this object is for ELF machine "
                          f"{image.machine}")
    sections = image.sections
    placed: dict[int, int] = {}
    size = 0
    for s in sections:
        if s.flags & SHF_ALLOC and s.size:
            align = max(s.addralign, 1)
            size = -(-size // align) * align
            placed[s.index] = size
            size += s.size
    laid_out = bytearray(size)
    for index, at in placed.items():
        s = sections[index]
        if s.type != SHT_NOBITS:
            laid_out[at:at + s.size] = image.data(s)
    symtab = next((s for s in sections if s.type == SHT_SYMTAB), None)
    symbols = image.read_symbols(symtab) if symtab is not None else []

    def target_of(sym) -> Any:
        if sym.shndx == SHN_UNDEF:
            return sym.name
        if sym.shndx == SHN_ABS:
            return ("abs", sym.value)
        if sym.shndx not in placed:
            raise LoaderError(f"symbol {sym.name!r} is in a section that is not loaded")
        return placed[sym.shndx] + sym.value

    relocations = []
    for rs in sections:
        if rs.type != SHT_RELA or rs.info not in placed:
            continue
        data = image.data(rs)
        for i in range(len(data) // _RELA.size):
            offset, info, addend = _RELA.unpack_from(data, i * _RELA.size)
            rtype, sym = info & 0xFFFFFFFF, symbols[info >> 32]
            if rtype == R_X86_64_NONE:
                continue
            if rtype not in _RELOCATION_TYPES:
                raise LoaderError(f"x86-64 relocation type {rtype} is not supported")
            if rtype in _GOT_TYPES and sym.shndx != SHN_UNDEF:
                raise LoaderError(f"GOT reference to the local symbol {sym.name!r}")
            relocations.append((placed[rs.info] + offset, rtype, addend, target_of(sym)))
    functions = {sym.name: target_of(sym) for sym in symbols
                 if sym.is_global and sym.shndx in placed
                 and sections[sym.shndx].flags & SHF_EXECINSTR}
    externs = sorted({r[3] for r in relocations if isinstance(r[3], str)})
    return {"image": bytes(laid_out), "relocations": relocations, "externs": externs,
            "functions": functions}


_GOT_TYPES = (R_X86_64_GOTPCREL, R_X86_64_GOTPCRELX, R_X86_64_REX_GOTPCRELX)
_RELOCATION_TYPES = frozenset({R_X86_64_64, R_X86_64_PC64, R_X86_64_PC32, R_X86_64_PLT32,
                               R_X86_64_32, R_X86_64_32S, *_GOT_TYPES})


class NativeCode:
    """An object file's code, loaded and executable.

    ``symbols`` maps each defined global function to its address;
    :meth:`function` wraps one in a ctypes prototype.  The memory lives as
    long as this object.  ``NativeCode(obj)`` loads an object file,
    :meth:`from_plan` its :func:`link_plan`.
    """

    def __init__(self, obj: bytes, externals: Mapping[str, int] | None = None):
        self._place(link_plan(obj), externals)

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any], externals: Mapping[str, int] | None = None
                  ) -> NativeCode:
        """The code of an object file from its :func:`link_plan`."""
        code = cls.__new__(cls)
        code._place(plan, externals)
        return code

    def _place(self, plan: Mapping[str, Any], externals: Mapping[str, int] | None) -> None:
        externals = externals if externals is not None else _c_library_symbols()
        image: bytes = plan["image"]
        externs: list[str] = plan["externs"]
        size = -(-len(image) // _STUB_SIZE) * _STUB_SIZE
        stubs_at = size
        size += _STUB_SIZE * len(externs)
        got_at = size
        size += 8 * len(externs)
        # Private: an anonymous mapping is shared (shmem-backed) by default,
        # and its page faults cost about as much again as the whole placing.
        self._map = mmap.mmap(-1, max(size, 1), flags=mmap.MAP_PRIVATE,
                              prot=mmap.PROT_READ | mmap.PROT_WRITE)
        anchor = (ctypes.c_char * len(self._map)).from_buffer(self._map)
        base = ctypes.addressof(anchor)
        buf = self._map
        buf[:len(image)] = image
        stub_of: dict[str, int] = {}
        got_of: dict[str, int] = {}
        for i, name in enumerate(externs):
            target = externals.get(name)
            if not target:
                raise LoaderError(f"compiled code calls {name!r}, which the JIT does not provide")
            stub = stubs_at + i * _STUB_SIZE
            buf[stub:stub + 12] = _STUB_HEAD + target.to_bytes(8, "little") + _STUB_TAIL
            stub_of[name] = base + stub
            got = got_at + 8 * i
            buf[got:got + 8] = target.to_bytes(8, "little")
            got_of[name] = base + got

        def value_of(target: Any) -> int:
            if isinstance(target, str):
                return stub_of[target]
            if isinstance(target, int):
                return base + target
            return target[1]                    # ("abs", value)

        for where, rtype, addend, target in plan["relocations"]:
            p = base + where
            if rtype == R_X86_64_64:
                struct.pack_into("<Q", buf, where, (value_of(target) + addend) & ((1 << 64) - 1))
            elif rtype == R_X86_64_PC64:
                struct.pack_into("<q", buf, where, value_of(target) + addend - p)
            elif rtype in (R_X86_64_PC32, R_X86_64_PLT32):
                _pack32(buf, where, value_of(target) + addend - p, signed=True)
            elif rtype in _GOT_TYPES:
                _pack32(buf, where, got_of[target] + addend - p, signed=True)
            elif rtype == R_X86_64_32:
                _pack32(buf, where, value_of(target) + addend, signed=False)
            elif rtype == R_X86_64_32S:
                _pack32(buf, where, value_of(target) + addend, signed=True)
            else:
                raise LoaderError(f"x86-64 relocation type {rtype} is not supported")
        self.symbols: dict[str, int] = {name: value_of(target)
                                        for name, target in plan["functions"].items()}
        del anchor
        self._methods: dict[str, MethodDef] = {}
        self.base = base
        self.size = len(self._map)
        if _libc.mprotect(base, self.size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            raise LoaderError(f"cannot make JIT code executable (errno {ctypes.get_errno()})")

    def function(self, name: str, prototype: type) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
        """The function ``name`` as an instance of the ctypes ``prototype``."""
        address = self.symbols.get(name)
        if address is None:
            raise LoaderError(f"compiled code has no function {name!r}")
        fn = prototype(address)
        fn._code = self  # keeps the memory alive as long as the function
        return fn

    def python_function(self, name: str, bound: int) -> Callable[..., int]:
        """The fast-call function ``name`` (``PyObject *f(PyObject *self,
        PyObject *const *args, Py_ssize_t nargs)``) as a Python builtin whose
        ``self`` is the int ``bound``.  Whoever holds it must hold this
        object too (the function does not keep the code alive)."""
        address = self.symbols.get(name)
        if address is None:
            raise LoaderError(f"compiled code has no function {name!r}")
        method = self._methods.get(name)
        if method is None:
            method = MethodDef(name.encode(), address, METH_FASTCALL, None)
            self._methods[name] = method
        return _new_function(ctypes.addressof(method), bound, None)


class ExecutableMemory:
    """Position-independent machine code placed in its own mapping: written
    while the mapping is writable, then made read-and-execute (never both
    writable and executable).  The memory lives as long as this object;
    ``base`` is the address of the code's first byte."""

    def __init__(self, code: bytes):
        self._map = mmap.mmap(-1, max(len(code), 1), prot=mmap.PROT_READ | mmap.PROT_WRITE)
        anchor = (ctypes.c_char * len(self._map)).from_buffer(self._map)
        self.base = ctypes.addressof(anchor)
        del anchor
        self._map[:len(code)] = code
        if _libc.mprotect(self.base, len(self._map), mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            raise LoaderError(f"cannot make JIT code executable (errno {ctypes.get_errno()})")


def _pack32(buf: mmap.mmap, where: int, value: int, *, signed: bool) -> None:
    if (signed and not -(1 << 31) <= value < (1 << 31)) or (not signed and not 0 <= value < (1 << 32)):
        raise LoaderError(f"relocation value {value:#x} does not fit in 32 bits")
    struct.pack_into("<i" if signed else "<I", buf, where, value)
