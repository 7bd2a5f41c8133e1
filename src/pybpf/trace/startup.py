"""The start-up cache of ``pybpf trace``: a program run before is read back
prepared for this kernel, without parsing, analysing or compiling it.

A one-liner's start-up is counted in milliseconds.  What its run needs —
the object linked for this kernel (:func:`pybpf.kernel.load_cache.prepare`:
instructions, maps, BTF, CO-RE already resolved) and the
:class:`~pybpf.trace.layout.Plan` user space prints by — depends only on

* the program text, its positional parameters, ``--unsafe`` and ``-p PID``;
* the code that compiles and prepares it: the pybpf version and the size
  and modification time of every source file of :mod:`pybpf.trace`,
  :mod:`pybpf.lang` and the linking modules;
* the kernel: :func:`pybpf.kernel.load_cache.kernel_identity` (release,
  build, BTF size), the kernel's build id (``/sys/kernel/notes``) and the
  modification time of ``/sys/kernel/btf/vmlinux``;
* for uprobes and USDT probes, the binaries probed: their paths, sizes,
  modification times and inode numbers are kept in the entry and checked
  when it is read (a binary rebuilt in place is compiled again).

So the key is the SHA-256 of the first three, computed from the command's
arguments alone.  Entries are kept with the project's cache code
(:mod:`pybpf.cache`): in this user's private cache directory
(``<cache>/trace``, mode 0700, owner-checked; the newest :data:`KEEP`
kept), written atomically and sealed with their SHA-256, read only when
they are regular files of this user that nobody else can write; the payload is :mod:`marshal` data (plain
values, no code).  An entry that is absent, damaged, of another format or
made for other binaries or another boot is ignored and the program is
compiled again.  ``PYBPF_TRACE_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["FORMAT", "KEEP", "MAX_ENTRY", "binaries", "enabled", "read", "start_key", "write"]

FORMAT = 1
"""Version of an entry's layout; entries of another version are ignored."""
MAX_ENTRY = 64 << 20
"""The largest entry read back (bytes)."""
KEEP = 512
"""Entries kept (the least recently written go first when one is added)."""

_SOURCE_DIRS = ("trace", "lang")
_SOURCE_FILES = ("linker.py", "linked.py", "records.py", "objects.py",
                 os.path.join("kernel", "load_cache.py"))


def enabled() -> bool:
    """Whether the start-up cache is used (``PYBPF_TRACE_CACHE=0``: not)."""
    return os.environ.get("PYBPF_TRACE_CACHE") != "0"


def _code_identity() -> str:
    """The pybpf version and a signature of the sources that decide an entry."""
    from .. import __version__

    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [os.path.join(top, f) for f in _SOURCE_FILES]
    for d in _SOURCE_DIRS:
        with contextlib.suppress(OSError):
            paths += sorted(e.path for e in os.scandir(os.path.join(top, d))
                            if e.name.endswith(".py"))
    parts = [__version__]
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            parts.append(f"{path}:-")
        else:
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def _kernel_identity() -> str:
    """The running kernel: release, build and BTF (size, time), build id."""
    from ..kernel.load_cache import kernel_identity

    ident = kernel_identity()
    with contextlib.suppress(OSError):
        ident += f"|{os.stat('/sys/kernel/btf/vmlinux').st_mtime_ns}"
    with contextlib.suppress(OSError), open("/sys/kernel/notes", "rb") as f:
        ident += "|" + hashlib.sha256(f.read()).hexdigest()
    return ident


def start_key(text: str, params: Sequence[str], unsafe: bool, pid: int | None) -> str:
    """The cache key of program ``text`` run with these options on this
    kernel by this pybpf (see the module's description)."""
    h = hashlib.sha256(f"pybpf-trace-start-{FORMAT}\0".encode())
    for part in (text, "\0".join(params), str(bool(unsafe)), str(pid), _code_identity(),
                 _kernel_identity()):
        h.update(part.encode("utf-8", "surrogateescape") + b"\1")
    return h.hexdigest()


def binaries(plan: Any) -> list[tuple[str, int, int, int]]:
    """``(path, size, mtime_ns, inode)`` of each binary ``plan`` probes
    (uprobes, USDT): an entry holds for these files only."""
    out = []
    for path in sorted({p.target.params["binary"] for p in plan.programs
                        if "binary" in p.target.params}):
        try:
            st = os.stat(path)
        except OSError:
            out.append((path, -1, -1, -1))
        else:
            out.append((path, st.st_size, st.st_mtime_ns, st.st_ino))
    return out


def _path(key: str) -> Any:
    from ..cache import private_dir

    return private_dir("trace") / f"{key}.start"


def read(key: str) -> tuple[dict[str, Any], Any] | None:
    """``(prepared object, Plan)`` of entry ``key``; None when there is no
    usable entry (absent, not to be trusted, damaged, of another format,
    for other binaries or, for objects that use kernel addresses, another
    boot)."""
    from ..cache import CacheError, read_sealed

    try:
        payload = read_sealed(_path(key), max_size=MAX_ENTRY)
    except (CacheError, OSError):
        return None
    if payload is None:
        return None
    try:
        entry = marshal.loads(payload)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        from .layout import Plan

        plan = Plan.from_data(entry["plan"])
        deps = [tuple(d) for d in entry["binaries"]]
        prepared = entry["prepared"]
    except Exception:  # not what write() stores: damaged or foreign
        return None
    if deps != binaries(plan):
        return None
    boot = prepared.get("boot_id") if isinstance(prepared, dict) else None
    if boot:
        from ..kernel.load_cache import kernel_identity

        if boot != kernel_identity(True):
            return None
    return prepared, plan


def write(key: str, prepared: dict[str, Any], plan: Any) -> None:
    """Keep ``prepared`` (:func:`pybpf.kernel.load_cache.prepare`'s form)
    and ``plan`` as entry ``key`` (failures to write are ignored: the cache
    only saves time)."""
    from ..cache import CacheError, trim, write_sealed

    entry = {"format": FORMAT, "prepared": prepared, "plan": plan.to_data(),
             "binaries": binaries(plan)}
    with contextlib.suppress(CacheError, OSError, ValueError):
        path = write_sealed(_path(key), marshal.dumps(entry))
        trim(path.parent, ".start", KEEP)
