"""Where pybpf keeps files between runs, and how it writes and reads them.

Every cache pybpf writes — zig's compiler cache and generated ``vmlinux.h``
headers (:mod:`pybpf.toolchain`), prepared objects
(:mod:`pybpf.kernel.load_cache`), the tools' compiled objects
(:mod:`pybpf.tools`) — lives in a directory from :func:`private_dir`, and
its entries are written with :func:`write_file` or :func:`write_sealed` and
read back with :func:`read_file` or :func:`read_sealed`.

pybpf often runs as root, and what it reads from a cache it trusts: a
planted ``vmlinux.h`` is compiled into programs, a planted object is loaded
into the kernel, a planted prepared object is unmarshalled.  So:

* The cache is **per user**: ``$XDG_CACHE_HOME/pybpf``, else
  ``~/.cache/pybpf``, else ``$TMPDIR/pybpf-cache-<uid>`` (a user without a
  home).  A directory is used only if it is a real directory (not a
  symlink) **owned by the current user** and not writable by group or
  others, in a parent that is owned by the user or root and not writable
  by others unless sticky (``/tmp``).  pybpf creates missing directories
  with mode 0700 and tightens a directory of its own that others could only
  read.
* A location that fails these checks is **not used**.  Caching is an
  optimisation, so pybpf does not refuse to work: it moves to the next
  location, and when none is usable (another user planted them, or none can
  be created) it uses a fresh private directory from :func:`tempfile.mkdtemp`
  that is removed when the process exits.  A location refused as unsafe, or
  falling back to the temporary directory, is reported once per process as
  a :class:`CacheWarning` (``warnings``), naming the directory and why.
* Entries are **written atomically** (a private temporary file in the same
  directory, then ``rename``) and **read defensively**: a file that is a
  symlink, not regular, not owned by the user, writable by others, larger
  than the caller's limit, or (sealed entries) whose SHA-256 does not match
  its contents is treated as absent — the caller rebuilds it — never
  trusted and never a crash.  Data read from a sealed entry therefore comes
  from a file this user wrote through pybpf (or root did); whoever can
  forge that can already run code as this user.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import warnings
from pathlib import Path

from .errors import BPFError

DIR_MODE = 0o700
FILE_MODE = 0o600
SEAL_MAGIC = b"pybpf-cache-1\n"
"""The start of a sealed entry, followed by the SHA-256 of the payload."""


class CacheWarning(UserWarning):
    """A cache location was refused (not the user's, or writable by
    others) or could not be created, and pybpf used another."""


class CacheError(BPFError):
    """No cache directory can be used at all (not even a temporary one)."""


_fallback: Path | None = None
_chosen: dict[tuple[Path, ...], Path] = {}
"""The location chosen for each list of candidates (the environment decides them)."""
_warned: set[str] = set()


def _warn(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(CacheWarning(message), stacklevel=3)


def candidates() -> list[Path]:
    """The cache locations pybpf tries, in order (relative settings ignored,
    as the XDG specification says)."""
    out = []
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        out.append(Path(xdg) / "pybpf")
    home = os.path.expanduser("~")
    if os.path.isabs(home) and home != "/":
        out.append(Path(home) / ".cache" / "pybpf")
    out.append(Path(tempfile.gettempdir()) / f"pybpf-cache-{os.geteuid()}")
    return out


def unsafe_reason(path: str | os.PathLike, *, parent: bool = False) -> str | None:
    """Why the existing directory ``path`` must not hold this user's cache
    (None when it may).  With ``parent``, the rules for a directory the
    cache sits in: owned by the user or root, not writable by others
    unless sticky."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"cannot examine it: {e.strerror or e}"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    me = os.geteuid()
    if parent:
        if st.st_uid not in (me, 0):
            return f"it belongs to uid {st.st_uid}"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            return "others may write to it and it is not sticky"
        return None
    if st.st_uid != me:
        return f"it belongs to uid {st.st_uid}, not to this user (uid {me})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"its mode {stat.S_IMODE(st.st_mode):o} lets others write to it "
                f"(remove it; pybpf recreates it with mode 700)")
    return None


def _make_private(path: Path) -> str | None:
    """Create ``path`` (and missing parents, all mode 0700) or check the
    existing one; tighten our own directory to 0700.  Why not, or None."""
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, DIR_MODE)
        except FileExistsError:
            pass  # made meanwhile: checked below like any existing directory
        except OSError as e:
            return f"cannot create {p}: {e.strerror or e}"
    reason = unsafe_reason(path.parent, parent=True)
    if reason:
        return f"its parent {path.parent}: {reason}"
    reason = unsafe_reason(path)
    if reason:
        return reason
    if stat.S_IMODE(os.lstat(path).st_mode) != DIR_MODE:
        try:
            os.chmod(path, DIR_MODE)
        except OSError as e:
            return f"cannot make it private: {e.strerror or e}"
    return None


def cache_root() -> Path:
    """The directory of this user's pybpf caches: the first usable of
    :func:`candidates`, else a private temporary directory for this process
    (removed at exit).  Chosen once per process and environment."""
    tried = tuple(candidates())
    chosen = _chosen.get(tried)
    if chosen is not None and unsafe_reason(chosen) is None:
        return chosen
    for path in tried:
        reason = _make_private(path)
        if reason is None:
            _chosen[tried] = path
            return path
        if os.path.lexists(path):  # exists but unusable: someone else's, or unsafe
            _warn(f"pybpf does not use the cache directory {path}: {reason}")
    chosen = _chosen[tried] = _temporary_root()
    _warn(f"pybpf caches in {chosen} for this run only (no usable per-user cache "
          f"directory: tried {', '.join(str(p) for p in tried)})")
    return chosen


def _temporary_root() -> Path:
    global _fallback
    if _fallback is None or not _fallback.is_dir():
        try:
            _fallback = Path(tempfile.mkdtemp(prefix="pybpf-cache-"))
        except OSError as e:
            raise CacheError(f"no cache directory can be created, not even a temporary "
                             f"one: {e.strerror or e}") from None
        atexit.register(shutil.rmtree, _fallback, True)
    return _fallback


def private_dir(*parts: str) -> Path:
    """The cache directory ``<root>/<parts...>`` (each part one path
    component), created with mode 0700 and checked as the root is.  If
    something else (not owned by this user) sits there, a fresh temporary
    directory is used instead, with a warning."""
    root = cache_root()
    path = root.joinpath(*parts)
    for part in parts:
        if not part or "/" in part or part in (".", "..") or "\0" in part:
            raise ValueError(f"not a single path component: {part!r}")
    reason = _make_private(path)
    if reason is None:
        return path
    _warn(f"pybpf does not use the cache directory {path}: {reason}")
    fallback = _temporary_root().joinpath(*parts)
    fallback.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return fallback


def reset() -> None:
    """Forget the chosen locations and the warnings given (for tests)."""
    _chosen.clear()
    _warned.clear()


# --- entries ---------------------------------------------------------------------------------

def write_file(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: readers see the old file or
    the whole new one, never a part.  The file is mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def trusted_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file (not a symlink) owned by this user
    and not writable by others: one pybpf may use from its cache."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def read_file(path: str | os.PathLike, *, max_size: int | None = None) -> bytes | None:
    """The bytes of cache entry ``path``, or None when it is absent or not
    to be trusted (see :func:`trusted_file`; checked on the open file, so a
    swap after the check does not matter) or larger than ``max_size``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or \
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        if max_size is not None and st.st_size > max_size:
            return None
        # Plain reads on the descriptor (no file object: a cached JIT load
        # reads two small entries, and the buffered reader's setup cost more
        # than the reads), asking for one byte more than the size: a regular
        # file reads short only at its end, so one read usually does.
        want = st.st_size + 1
        chunks = [os.read(fd, want)]
        while len(chunks[-1]) == want:
            chunks.append(os.read(fd, want))
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_sealed(path: str | os.PathLike, payload: bytes) -> Path:
    """:func:`write_file` with the payload's SHA-256 in front, so that
    :func:`read_sealed` can tell a damaged entry."""
    return write_file(path, SEAL_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_sealed(path: str | os.PathLike, *, max_size: int | None = None) -> bytes | None:
    """The payload of a sealed entry, or None when it is absent, not to be
    trusted, not sealed, or damaged (its digest does not match)."""
    data = read_file(path, max_size=max_size)
    head = len(SEAL_MAGIC) + hashlib.sha256().digest_size
    if data is None or len(data) < head or not data.startswith(SEAL_MAGIC):
        return None
    digest, payload = data[len(SEAL_MAGIC):head], data[head:]
    if hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def trim(directory: str | os.PathLike, suffix: str, keep: int) -> int:
    """Remove the least recently written entries named ``*suffix`` of cache
    ``directory`` beyond the newest ``keep``; how many were removed."""
    entries = []
    with contextlib.suppress(OSError), os.scandir(directory) as it:
        for e in it:
            if e.name.endswith(suffix) and e.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.path))
    if len(entries) <= keep:
        return 0
    entries.sort()
    removed = 0
    for _, path in entries[:len(entries) - keep]:
        with contextlib.suppress(OSError):
            os.unlink(path)
            removed += 1
    return removed


__all__ = ["CacheError", "CacheWarning", "cache_root", "candidates", "private_dir",
           "read_file", "read_sealed", "reset", "trim", "trusted_file", "unsafe_reason",
           "write_file", "write_sealed"]
