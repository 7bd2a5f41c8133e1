"""pybpf.cache: per-user private cache directories, atomic writes and
defensive reads; and the caches that use it (vmlinux.h, zig, tools).

The tests that need a second user create one (``useradd``) and run as it
through ``setpriv``; they skip with the reason when not root.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

from conftest import SRC
from pybpf import cache
from pybpf.cache import (
    CacheWarning,
    cache_root,
    private_dir,
    read_file,
    read_sealed,
    trusted_file,
    write_file,
    write_sealed,
)

TEST_USER = "pybpf-cachetest"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An environment whose cache locations are all under tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    cache.reset()
    yield tmp_path
    cache.reset()


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# --- directories -------------------------------------------------------------------------------

def test_the_cache_is_created_private(fresh):
    root = cache_root()
    assert root == fresh / "xdg" / "pybpf"
    assert _mode(root) == 0o700
    sub = private_dir("tools")
    assert sub == root / "tools" and _mode(sub) == 0o700


def test_relative_settings_are_ignored(fresh, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")
    assert cache_root() == fresh / "home" / ".cache" / "pybpf"


def test_an_own_directory_others_can_read_is_tightened(fresh):
    (fresh / "xdg" / "pybpf").mkdir(parents=True, mode=0o755)
    os.chmod(fresh / "xdg" / "pybpf", 0o755)
    assert cache_root() == fresh / "xdg" / "pybpf"
    assert _mode(fresh / "xdg" / "pybpf") == 0o700


@pytest.mark.parametrize("bad", ["world-writable", "group-writable", "symlink", "file"])
def test_an_unsafe_location_is_not_used(fresh, bad):
    where = fresh / "xdg" / "pybpf"
    where.parent.mkdir()
    if bad == "symlink":
        (fresh / "elsewhere").mkdir(mode=0o700)
        where.symlink_to(fresh / "elsewhere")
    elif bad == "file":
        where.write_text("not a directory")
    else:
        where.mkdir()
        os.chmod(where, 0o777 if bad == "world-writable" else 0o770)
    with pytest.warns(CacheWarning, match="does not use the cache directory"):
        root = cache_root()
    assert root == fresh / "home" / ".cache" / "pybpf"  # the next candidate
    assert _mode(root) == 0o700


def test_with_no_usable_location_a_temporary_directory_is_used(fresh, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.delenv("HOME")
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # no home at all ("~")
    planted = fresh / "tmp" / f"pybpf-cache-{os.geteuid()}"
    planted.mkdir(mode=0o777)
    os.chmod(planted, 0o777)
    with pytest.warns(CacheWarning):
        root = cache_root()
    assert root.parent == fresh / "tmp" and root != planted
    assert root.name.startswith("pybpf-cache-") and _mode(root) == 0o700
    assert private_dir("prepared").parent == root


def test_private_dir_takes_single_components(fresh):
    for bad in ("", ".", "..", "a/b", "a\0b"):
        with pytest.raises(ValueError):
            private_dir(bad)


# --- entries -----------------------------------------------------------------------------------

def test_write_file_is_atomic_and_private(fresh):
    path = private_dir("x") / "entry"
    write_file(path, b"one")
    assert path.read_bytes() == b"one" and _mode(path) == 0o600
    write_file(path, b"two")
    assert read_file(path) == b"two"
    assert sorted(os.listdir(path.parent)) == ["entry"]  # no temporary left behind


def test_read_file_refuses_what_it_must_not_trust(fresh):
    d = private_dir("x")
    good = write_file(d / "good", b"data")
    assert read_file(good) == b"data" and trusted_file(good)
    assert read_file(good, max_size=3) is None
    os.chmod(good, 0o666)
    assert read_file(good) is None and not trusted_file(good)
    link = d / "link"
    target = write_file(d / "target", b"data")
    link.symlink_to(target)
    assert read_file(link) is None and not trusted_file(link)
    assert read_file(d / "missing") is None
    os.mkfifo(d / "fifo")
    assert read_file(d / "fifo") is None  # and does not block


def test_sealed_entries_detect_damage(fresh):
    path = private_dir("x") / "sealed"
    write_sealed(path, b"payload" * 100)
    assert read_sealed(path) == b"payload" * 100
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    assert read_sealed(path) is None
    path.write_bytes(b"payload")  # not sealed
    assert read_sealed(path) is None


# --- the caches that use it ---------------------------------------------------------------------

def _small_btf(tmp: Path) -> Path:
    from pybpf.btf import BTFBuilder

    b = BTFBuilder()
    b.add_typedef("cachetest_t", b.add_int("int", 4, signed=True))
    path = tmp / "small.btf"
    path.write_bytes(b.to_bytes())
    return path


def test_vmlinux_header_goes_to_the_private_cache(fresh):
    from pybpf.toolchain import vmlinux_header

    out = vmlinux_header(_small_btf(fresh))
    assert out.parent == cache_root() and _mode(out) == 0o700
    header = out / "vmlinux.h"
    assert "cachetest_t" in header.read_text() and _mode(header) == 0o600


def test_a_header_others_could_have_written_is_regenerated(fresh):
    from pybpf.toolchain import vmlinux_header

    btf = _small_btf(fresh)
    header = vmlinux_header(btf) / "vmlinux.h"
    header.write_text("#error planted\n")
    os.chmod(header, 0o666)
    text = (vmlinux_header(btf) / "vmlinux.h").read_text()
    assert "planted" not in text and "cachetest_t" in text


def test_a_tool_object_others_could_have_written_is_compiled_again(fresh, monkeypatch):
    import pybpf.toolchain
    from pybpf.tools import _runtime, prebuilt

    # as in a checkout whose tool sources were edited: the shipped object is stale
    monkeypatch.setattr(prebuilt, "shipped_object", lambda name: (None, "sources edited"))
    monkeypatch.setattr(pybpf.toolchain, "find_compiler", lambda kind="auto": None)
    compiled = []

    def fake_compile(source, output, **options):
        compiled.append(source)
        Path(output).write_bytes(b"\x7fELF compiled")
        return Path(output)

    monkeypatch.setattr(pybpf.toolchain, "compile", fake_compile)
    first = _runtime.object_path("execsnoop", quiet=True)
    assert first.parent == private_dir("tools") and len(compiled) == 1
    assert _runtime.object_path("execsnoop", quiet=True) == first and len(compiled) == 1
    os.chmod(first, 0o666)
    _runtime.object_path("execsnoop", quiet=True)
    assert len(compiled) == 2 and trusted_file(first)


# --- a second user (root only) ------------------------------------------------------------------

def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates a user and runs as it")
    if shutil.which("setpriv") is None or shutil.which("useradd") is None:
        pytest.skip("needs setpriv and useradd")


@pytest.fixture(scope="module")
def other_user():
    """(uid, gid) of a system user without a home, created if missing."""
    _root_only()
    import grp
    import pwd

    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        try:        # a group left behind by a user deleted earlier is reused
            group = ["--gid", grp.getgrnam(TEST_USER).gr_name]
        except KeyError:
            group = []
        proc = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                               "/nonexistent", "--shell", "/usr/sbin/nologin", *group,
                               TEST_USER], capture_output=True, text=True)
        try:        # exit status 9 also means a parallel run created it meanwhile
            pw = pwd.getpwnam(TEST_USER)
        except KeyError:
            pytest.skip(f"useradd failed: {proc.stderr.strip()}")
    return pw.pw_uid, pw.pw_gid


def _python() -> str:
    """A Python the other user can run (root's pyenv sits in /root, 0700)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no system Python for the other user")


def _as_user(user, args, *, env, cwd, timeout=300) -> subprocess.CompletedProcess:
    uid, gid = user
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                           "--", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


@pytest.fixture
def shared_tmp():
    """A scratch directory both root and the other user can use."""
    path = Path(tempfile.mkdtemp(prefix="pybpf-cachetest-"))
    os.chmod(path, 0o1777)  # shared and sticky, like /tmp
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_directory_planted_by_another_user_is_not_used(other_user, shared_tmp, monkeypatch):
    uid, gid = other_user
    planted = shared_tmp / "pybpf"
    (planted / "tools").mkdir(parents=True)
    evil = planted / "tools" / "x.bpf.o"
    evil.write_bytes(b"planted")
    for p in (planted, planted / "tools", evil):
        os.chown(p, uid, gid)
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_tmp))
    cache.reset()
    try:
        with pytest.warns(CacheWarning, match=f"belongs to uid {uid}"):
            root = cache_root()
        assert root != planted and not str(root).startswith(str(planted))
        assert _mode(root) == 0o700 and os.lstat(root).st_uid == 0
        assert read_file(evil) is None  # and a planted entry is never read
    finally:
        cache.reset()


def test_a_user_without_home_compiles_with_no_traceback(other_user, shared_tmp):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang (the other user cannot run root's ziglang wheel)")
    uid, gid = other_user
    work = shared_tmp / "work"
    work.mkdir()
    os.chown(work, uid, gid)
    source = work / "prog.bpf.c"
    source.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                      'SEC("xdp") int prog(struct xdp_md *ctx) { return XDP_PASS; }\n'
                      'char LICENSE[] SEC("license") = "GPL";\n')
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "LANG": "C",
           "TMPDIR": str(shared_tmp)}  # and no HOME
    proc = _as_user(other_user, [_python(), "-m", "pybpf.cli", "cc", "--compiler", "clang",
                                 str(source), "-o", str(work / "prog.o")], env=env, cwd=work)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert (work / "prog.o").read_bytes().startswith(b"\x7fELF")


def test_a_cache_root_made_at_a_shared_place_does_not_break_another_user(other_user,
                                                                         shared_tmp):
    with_root = subprocess.run(
        [_python(), "-c", "from pybpf.cache import private_dir; print(private_dir('zig-cache'))"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "XDG_CACHE_HOME": str(shared_tmp)})
    assert with_root.returncode == 0, with_root.stderr
    root_dir = Path(with_root.stdout.strip())
    assert root_dir.is_dir() and os.lstat(root_dir.parent).st_uid == 0
    code = ("import warnings; warnings.simplefilter('ignore'); from pybpf.cache import "
            "private_dir, write_file; d = private_dir('zig-cache'); "
            "write_file(d / 'f', b'x'); print(d)")
    proc = _as_user(other_user, [_python(), "-c", code], cwd="/",
                    env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC),
                         "XDG_CACHE_HOME": str(shared_tmp), "TMPDIR": str(shared_tmp)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    theirs = Path(proc.stdout.strip())
    assert theirs != root_dir and os.lstat(theirs).st_uid == other_user[0]
    assert not (root_dir / "f").exists()


def test_warnings_do_not_repeat(fresh):
    where = fresh / "xdg" / "pybpf"
    where.mkdir(parents=True)
    os.chmod(where, 0o777)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        cache_root()
        private_dir("a")
        private_dir("b")
    assert len([w for w in seen if issubclass(w.category, CacheWarning)]) == 1


@pytest.mark.parametrize("damage", ["not utf-8", "foreign", "flipped", "symlink"])
def test_a_bad_btf_dump_entry_is_dumped_again(fresh, monkeypatch, damage):
    from pybpf.btf import BTFBuilder, dumpcache

    monkeypatch.setattr(dumpcache, "CACHE_MIN_BYTES", 64)
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    for n in range(50):
        b.add_struct(f"s{n}", 4, [("a", i32, 0)])
    btf = fresh / "some.btf"
    btf.write_bytes(b.to_bytes())
    first = dumpcache.dump_text(btf, "c")
    assert first.path.parent == private_dir("btf") and not first.cached
    if damage == "not utf-8":  # sealed, so only a writer with this user's rights
        write_sealed(first.path, b"types 51\n\xff\xfe not text")
    elif damage == "foreign":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the entry away")
        os.chown(first.path, 65534, 65534)
    elif damage == "flipped":
        raw = bytearray(first.path.read_bytes())
        raw[-2] ^= 1
        first.path.write_bytes(bytes(raw))
    else:
        planted = fresh / "planted"
        write_sealed(planted, b"types 1\nplanted")
        first.path.unlink()
        first.path.symlink_to(planted)
    again = dumpcache.dump_text(btf, "c")
    assert not again.cached and again.text == first.text
    assert dumpcache.dump_text(btf, "c").cached


def test_a_tool_as_a_user_without_home_fails_in_one_line(other_user, shared_tmp):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "TMPDIR": str(shared_tmp)}
    proc = _as_user(other_user, [_python(), "-m", "pybpf.cli", "tools", "execsnoop", "-d", "1"],
                    env=env, cwd="/", timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("pybpf: error:")]
    assert len(errors) == 1 and "CAP_BPF" in errors[0], proc.stderr
