"""Dumps of large BTF written once: ``vmlinux.h`` and raw listings kept per
user, so that asking again costs a hash and a file read.

Writing the C header of the kernel's BTF (over a hundred thousand types)
takes seconds in Python; its text depends only on the BTF's bytes and on
the code that writes it.  :func:`dump_text` keys each dump by the SHA-256
of the file it read (a kernel's BTF changes with its build), the format
and a digest of the dump code's own source (so a pybpf whose dump changed
never reads an older one's text), and keeps it in
``$XDG_CACHE_HOME/pybpf/btf`` (this user's private cache,
:mod:`pybpf.cache`: mode 0700, owner-checked, entries sealed with their
SHA-256; the newest :data:`KEEP` dumps)::

    from pybpf.btf.dumpcache import dump_text

    dump = dump_text("/sys/kernel/btf/vmlinux", "c")
    dump.text, dump.types, dump.cached
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BTFError
from .sysfs import VMLINUX_PATH

CACHE_MIN_BYTES = 256 * 1024
"""BTF smaller than this is dumped afresh each time (it is quick)."""
KEEP = 8
"""Dumps kept in the cache (the least recently written go first)."""
FORMATS = ("c", "raw")

_CODE = ("dump.py", "btf.py", "types.py")
"""The modules whose source decides a dump's text."""


class Dump:
    """A dump's ``text``, the number of ``types`` it describes, whether it
    came from the cache (``cached``) and the cache file (``path``, None
    when not kept)."""

    __slots__ = ("cached", "path", "text", "types")

    def __init__(self, text: str, types: int, cached: bool, path: Path | None):
        self.text = text
        self.types = types
        self.cached = cached
        self.path = path

    def __repr__(self) -> str:
        return (f"<Dump {len(self.text)} chars, {self.types} types"
                f"{', cached' if self.cached else ''}>")


class Progress:
    """A ``progress(done, total)`` callback for :func:`dump_text` (used as a
    context manager) that says nothing for the first second, then reports
    on ``stream`` (stderr): a percentage updated in place on a terminal,
    one line otherwise, and the time taken at the end."""

    DELAY = 1.0

    def __init__(self, what: str, stream: Any = None):
        self.stream = stream if stream is not None else sys.stderr
        self.what = what
        self.start = time.monotonic()
        self.shown = False
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.DELAY:
            return
        if self.tty:
            if now - self._last >= 0.2:
                self._last = now
                pct = 100 * done // max(total, 1)
                self.stream.write(f"\rpybpf: {self.what}: {pct}% of {total} types "
                                  f"(once: kept in the cache for next time)")
                self.stream.flush()
        elif not self.shown:
            print(f"pybpf: {self.what}: {total} types (once: kept in the cache for next "
                  f"time)", file=self.stream, flush=True)
        self.shown = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            took = time.monotonic() - self.start
            end = "\r" if self.tty else ""
            print(f"{end}pybpf: {self.what}: done in {took:.1f} s" + " " * 40 * self.tty,
                  file=self.stream, flush=True)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pybpf/btf`` (``~/.cache/pybpf/btf``): this user's
    private cache (:func:`pybpf.cache.private_dir`, mode 0700, owner-checked)."""
    from ..cache import private_dir

    return private_dir("btf")


def code_digest() -> str:
    """A digest of the source of the code that writes dumps."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE:
        with contextlib.suppress(OSError):
            h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def dump_text(source: str | os.PathLike | bytes, format: str = "c", *,
              progress: Callable[[int, int], object] | None = None,
              cache: bool = True, directory: str | os.PathLike | None = None) -> Dump:
    """The ``format`` dump (``c``: a vmlinux.h; ``raw``: bpftool's raw
    listing) of the BTF in ``source`` — a file (raw BTF such as
    ``/sys/kernel/btf/vmlinux``, or an object file's ``.BTF``) or its bytes.
    Large BTF is dumped once and kept (``cache=False`` skips the cache;
    ``directory`` puts it elsewhere); ``progress(done, total)`` hears how far
    a fresh dump has come."""
    if format not in FORMATS:
        raise BTFError(f"unknown dump format {format!r} (use c or raw)")
    path = None if isinstance(source, bytes | bytearray) else os.fspath(source)
    if path is None:
        data = bytes(source)  # type: ignore[arg-type]
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise BTFError(f"cannot read BTF: {e.strerror or e}", path=path) from None
    keep = cache and len(data) >= CACHE_MIN_BYTES
    file = None
    if keep:
        where = Path(directory) if directory is not None else cache_dir()
        key = hashlib.sha256(data).hexdigest()[:32]
        file = where / f"{key}-{code_digest()}.{format}"
        found = _read(file)
        if found is not None:
            return Dump(found[1], found[0], True, file)
    btf = _parse(data, path)
    text = btf.dump_c(progress=progress) if format == "c" else btf.dump_raw(progress=progress) \
        + "\n"
    if file is not None:
        _write(file, len(btf), text)
    return Dump(text, len(btf), False, file)


def _parse(data: bytes, path: str | None):  # -> BTF
    from ._elf import ELF_MAGIC, elf_sections
    from .btf import BTF

    if data[:4] == ELF_MAGIC:
        sections = elf_sections(data, path=path)
        if ".BTF" not in sections:
            raise BTFError("object file has no .BTF section", path=path)
        data = sections[".BTF"]
    return BTF.from_bytes(data, path=path)


def _read(file: Path) -> tuple[int, str] | None:
    """(types, text) of a cache entry, or None when it is absent, not this
    user's, damaged (:func:`pybpf.cache.read_sealed`) or not a dump."""
    from ..cache import read_sealed

    data = read_sealed(file)
    if data is None:
        return None
    head, _, body = data.partition(b"\n")
    word, _, count = head.decode("ascii", "replace").partition(" ")
    if word != "types" or not count.strip().isdigit():
        return None
    try:
        return int(count), body.decode()
    except UnicodeDecodeError:
        return None


def _write(file: Path, types: int, text: str) -> None:
    """Keep a dump (best effort: a cache that cannot be written is no error)."""
    from ..cache import write_sealed

    try:
        directory = file.parent
        if not directory.is_dir():
            directory.mkdir(parents=True, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        write_sealed(file, f"types {types}\n".encode() + text.encode())
        _prune(directory)
    except OSError:
        return


def _prune(directory: Path) -> None:
    entries = sorted((p for p in directory.iterdir() if p.suffix in (".c", ".raw")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


__all__ = ["CACHE_MIN_BYTES", "FORMATS", "KEEP", "VMLINUX_PATH", "Dump", "Progress", "cache_dir", "code_digest",
           "dump_text"]
