"""Dumps of large BTF are written once and read from a per-user cache (mode
0700), keyed by the BTF's bytes and the dump code; a cached ``pybpf btf
vmlinux`` does not even import the BTF parser; slow dumps report progress
on stderr after a second."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC
from pybpf.btf import BTF, BTFBuilder, dumpcache
from pybpf.btf.dumpcache import Progress, dump_text


def _big_btf() -> bytes:
    """A raw BTF of a few thousand structs."""
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    for n in range(3000):
        b.add_struct(f"s{n}", 8, [("a", i32, 0), ("b", i32, 32)])
    return b.to_bytes()


@pytest.fixture()
def big(tmp_path, monkeypatch):
    monkeypatch.setattr(dumpcache, "CACHE_MIN_BYTES", 1024)
    path = tmp_path / "big.btf"
    path.write_bytes(_big_btf())
    return path


def test_a_dump_is_written_once_then_read(big, tmp_path):
    cache = tmp_path / "cache" / "pybpf" / "btf"
    first = dump_text(big, "c", directory=cache)
    assert not first.cached and first.types == 3002  # void, int, the structs
    assert first.text == BTF.from_file(big).dump_c()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    second = dump_text(big, "c", directory=cache)
    assert second.cached and second.text == first.text and second.types == first.types
    assert second.path == first.path and dumpcache.code_digest() in second.path.name
    raw = dump_text(big, "raw", directory=cache)
    assert not raw.cached and raw.text == BTF.from_file(big).dump_raw() + "\n"
    assert dump_text(big, "raw", directory=cache).cached
    # other bytes, another entry
    other = tmp_path / "other.btf"
    other.write_bytes(big.read_bytes())
    assert dump_text(other, "c", directory=cache).cached  # same bytes: same dump
    b = BTFBuilder()
    b.add_int("int", 4, signed=True)
    small = b.to_bytes()
    assert not dump_text(small, "c", directory=cache).cached
    assert not dump_text(small, "c", directory=cache).cached  # small: never kept


def test_a_broken_entry_is_rewritten_and_old_ones_go(big, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = dump_text(big, "c", directory=cache)
    first.path.write_text("garbage")
    again = dump_text(big, "c", directory=cache)
    assert not again.cached and again.text == first.text
    assert dump_text(big, "c", directory=cache).cached
    monkeypatch.setattr(dumpcache, "KEEP", 2)
    for n in range(4):
        path = tmp_path / f"v{n}.btf"
        path.write_bytes(big.read_bytes() + b"\0" * (n + 1))  # trailing bytes: another key
        dump_text(path, "raw", directory=cache)
    assert len([p for p in cache.iterdir() if p.suffix in (".c", ".raw")]) == 2


def test_the_cache_is_per_user(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dumpcache.cache_dir() == tmp_path / "pybpf" / "btf"


def test_progress_says_nothing_for_a_second_then_once():
    quiet = io.StringIO()
    with Progress("dumping x", quiet) as p:
        p(0, 100)
        p(50, 100)
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    with Progress("dumping x", loud) as p:
        p.start -= 2  # as if two seconds had passed
        p(10, 100)
        p(90, 100)
    lines = loud.getvalue().splitlines()
    assert lines[0] == "pybpf: dumping x: 100 types (once: kept in the cache for next time)"
    assert lines[1].startswith("pybpf: dumping x: done in ") and len(lines) == 2


def test_dump_c_and_raw_report_progress(monkeypatch):
    from pybpf.btf import dump

    monkeypatch.setattr(dump, "PROGRESS_STEP", 500)
    btf = BTF.from_bytes(_big_btf())
    seen = []
    btf.dump_c(progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 3002) and seen[-1][0] > 0 and all(t == 3002 for _, t in seen)
    seen.clear()
    btf.dump_raw(progress=lambda done, total: seen.append(done))
    assert seen == [0, 500, 1000, 1500, 2000, 2500, 3000]


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"),
                    reason="the kernel exposes no BTF")
def test_cached_vmlinux_h_needs_no_parser(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(SRC), XDG_CACHE_HOME=str(tmp_path))
    out = tmp_path / "vmlinux.h"
    cmd = [sys.executable, "-X", "importtime", "-m", "pybpf", "btf", "vmlinux", "-o", str(out)]
    cold = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert "pybpf.btf.btf" in cold.stderr  # parsed once
    text = out.read_text()
    assert text.startswith("#ifndef __VMLINUX_H__") and "struct task_struct {" in text
    out.unlink()
    warm = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert Path(out).read_text() == text
    imported = [ln.rsplit("|", 1)[-1].strip() for ln in warm.stderr.splitlines()
                if ln.startswith("import time:")]
    assert "pybpf.btf.dumpcache" in imported
    assert not {"pybpf.btf.btf", "pybpf.btf.types", "pybpf.btf.dump"} & set(imported)
    assert "wrote" in warm.stderr and "types)" in warm.stderr
