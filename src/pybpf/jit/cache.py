"""Compiled programs kept on disk, so a second load costs a file read.

An entry is the object file LLVM made, already parsed for loading (its
:func:`~pybpf.jit.loader.link_plan`), and the layout of the program's
runtime block, keyed by the SHA-256 of everything that decides them: the
bytecode, the compile options (how each helper call and reference is
compiled, the stack shape, the instruction limit), a digest of the JIT's
own source and of the semantics table (a pybpf whose code generator
changed never reads an older one's code), the llvmlite version and the
host machine's CPU.  Addresses are not part of the key: compiled code
reads them from its runtime block.

Entries live in this user's private cache (:func:`pybpf.cache.private_dir`:
``$XDG_CACHE_HOME/pybpf/jit``, mode 0700, owner-checked; the newest
:data:`KEEP` kept).  Native code from the cache is executed, so entries are
sealed (:func:`pybpf.cache.write_sealed`): one that is damaged, not this
user's or writable by others is ignored and compiled again.
Beside the code, the cache records which programs passed structural
validation (:func:`pybpf.isa.validate`), so a cached load skips it: a
record is a sealed file named by the SHA-256 of the exact instructions (the
digest of their packed slots), the CPU version, the validator's source and
pybpf's version, holding that key (:func:`validated_key`).  It is trusted only where a code entry would be
(this user's, mode 0700, not writable by others, seal intact) and only for
the exact key: validation is a pure function of those inputs, so the
record says no more than running it again would.
``PYBPF_JIT_CACHE=0`` turns the disk cache off, ``PYBPF_JIT_CACHE=/some/dir``
moves it (a directory that fails the same ownership checks is not used).
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import platform
from functools import lru_cache
from pathlib import Path

from ..cache import CacheError, private_dir, read_sealed, unsafe_reason, write_sealed
from .llvm import llvmlite_version

KEEP = 2048
"""Entries kept on disk (the least recently written go first)."""
MAX_ENTRY = 64 << 20
"""The largest entry read back (bytes)."""

_SOURCES = ("codegen.py", "stackhints.py", "layout.py", "llvm.py", "loader.py", "cache.py")


def cache_dir() -> Path | None:
    """Where entries live; None when the disk cache is off.

    The directory found for a setting is remembered for the process; each
    later call checks it again (one ``lstat``: still a directory, not a
    link, this user's, not writable by others), and each entry is checked
    again when it is opened."""
    environ = os.environ
    setting = environ.get("PYBPF_JIT_CACHE")
    if setting == "0":
        return None
    # what decides the place: the setting, else the user's cache root
    place = (setting, environ.get("XDG_CACHE_HOME"), environ.get("HOME"), os.geteuid())
    known = _dirs.get(place)
    if known is not None and unsafe_reason(known) is None:
        return known
    found = _find_dir(setting)
    if found is not None:
        _dirs[place] = found
    return found


_dirs: dict[tuple, Path] = {}


def _find_dir(setting: str | None) -> Path | None:
    if setting:
        path = Path(setting)
        with contextlib.suppress(OSError):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path if unsafe_reason(path) is None else None
    try:
        return private_dir("jit")
    except (CacheError, OSError):
        return None


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the source that decides the compiled code."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    h.update((here.parent / "vm" / "semantics.py").read_bytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def host_digest() -> str:
    """The machine and CPU the code is compiled for, without loading LLVM."""
    h = hashlib.sha256(platform.machine().encode())
    with contextlib.suppress(OSError), open("/proc/cpuinfo", "rb") as f:
        for line in f:
            if line.startswith((b"model name", b"flags", b"Features", b"CPU part")):
                h.update(line)
            elif not line.strip():
                break  # the first CPU describes them all
    h.update(str(llvmlite_version()).encode())
    return h.hexdigest()


def key_of(program: bytes, options: tuple) -> str:
    """The cache key of a program compiled with ``options``; ``program``
    names the program exactly (the JIT passes the SHA-256 digest of its
    packed slots, :func:`pybpf.jit.program.packed_program`)."""
    h = hashlib.sha256(program)
    h.update(repr(options).encode())
    h.update(code_digest().encode())
    h.update(host_digest().encode())
    return h.hexdigest()


_VALIDATOR_SOURCES = ("validate.py", "opcodes.py", "insn.py")


@lru_cache(maxsize=1)
def validator_digest() -> str:
    """A digest of the code that decides whether a program is well formed
    (:func:`pybpf.isa.validate` and the tables it reads) and of pybpf's version."""
    from .. import __version__

    isa = Path(__file__).resolve().parent.parent / "isa"
    h = hashlib.sha256(__version__.encode())
    for name in _VALIDATOR_SOURCES:
        h.update((isa / name).read_bytes())
    return h.hexdigest()


def validated_key(program: bytes, version: int) -> str:
    """The key of the record that ``program`` (named exactly, as for
    :func:`key_of`) passed structural validation for CPU ``version``: the
    program, the version, the validator's code and pybpf's version
    (validation is a function of these alone)."""
    h = hashlib.sha256(b"validated\0")
    h.update(program)
    h.update(f"\0{version}\0".encode())
    h.update(validator_digest().encode())
    h.update(code_digest().encode())
    return h.hexdigest()


def _entry(where: Path, name: str) -> str:
    # A plain string: joining Paths costs more than the reads of a cached load.
    return f"{os.fspath(where)}/{name}"


def was_validated(key: str) -> bool:
    """Whether this user's cache holds the record ``key`` (sealed, owned by
    this user, not writable by others, and naming the same key inside)."""
    where = cache_dir()
    if where is None:
        return False
    return read_sealed(_entry(where, f"{key}.valid"), max_size=256) == key.encode()


def record_validated(key: str) -> None:
    """Store the record ``key`` (best effort)."""
    where = cache_dir()
    if where is None:
        return
    with contextlib.suppress(OSError):
        write_sealed(where / f"{key}.valid", key.encode())
        _trim(where, "*.valid")


def read(key: str) -> tuple[dict, dict] | None:
    """The (code, layout data) stored under ``key``, or None; the code is
    the :func:`pybpf.jit.loader.link_plan` of the object LLVM made."""
    where = cache_dir()
    if where is None:
        return None
    data = read_sealed(_entry(where, f"{key}.jit"), max_size=MAX_ENTRY)
    if data is None:
        return None
    try:
        entry = marshal.loads(data)
        return entry["code"], entry["layout"]
    except (EOFError, ValueError, TypeError, KeyError):
        return None


def write(key: str, code: dict, layout: dict) -> None:
    """Store an entry: ``code`` a link plan (see :func:`read`).  Best
    effort: a cache that cannot be written is skipped."""
    where = cache_dir()
    if where is None:
        return
    try:
        write_sealed(where / f"{key}.jit", marshal.dumps({"code": code, "layout": layout}))
        _trim(where)
    except OSError:
        pass


def _trim(where: Path, pattern: str = "*.jit") -> None:
    entries = list(where.glob(pattern))
    if len(entries) <= KEEP:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for old in entries[:len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            old.unlink()
