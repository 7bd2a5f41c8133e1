"""Pin paths that cannot hurt: unpin removes only bpffs entries, a NUL in a
path is refused rather than truncated, and failures are one-line BPFErrors."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from pybpf.errors import BPFError, KernelError
from pybpf.kernel import KernelLink, KernelMap, KernelProgram
from pybpf.kernel.pins import checked_path, fs_type, is_bpffs, open_pinned, pin, unpin
from pybpf.spec.defines import BPF_FS_MAGIC


@pytest.fixture
def pin_dir():
    path = f"/sys/fs/bpf/pybpf-pins-{os.getpid()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _one_line(error: BaseException) -> None:
    assert "\n" not in str(error) and "Traceback" not in str(error)


# --- without the kernel ----------------------------------------------------------------

def test_unpin_refuses_a_regular_file(tmp_path):
    victim = tmp_path / "precious"
    victim.write_text("keep me")
    with pytest.raises(BPFError, match="not in a bpf filesystem") as info:
        unpin(str(victim))
    _one_line(info.value)
    assert victim.read_text() == "keep me"


def test_unpin_refuses_a_directory_and_odd_names(tmp_path):
    for path in (str(tmp_path) + "/", f"{tmp_path}/.", f"{tmp_path}/..", ""):
        with pytest.raises(BPFError):
            unpin(path)
    assert tmp_path.is_dir()


def test_unpin_of_a_missing_directory_is_one_line(tmp_path):
    with pytest.raises(KernelError) as info:
        unpin(str(tmp_path / "no" / "such" / "pin"))
    assert info.value.errno == errno.ENOENT
    _one_line(info.value)


@pytest.mark.parametrize("call", [
    lambda p: unpin(p),
    lambda p: open_pinned(p),
    lambda p: pin(3, p),
    lambda p: fs_type(p),
    lambda p: is_bpffs(p),
    lambda p: KernelMap.from_pin(p),
    lambda p: KernelProgram.from_pin(p),
    lambda p: KernelLink.from_pin(p),
], ids=["unpin", "open_pinned", "pin", "fs_type", "is_bpffs", "map", "program", "link"])
def test_a_nul_in_a_path_is_refused(tmp_path, call):
    kept = tmp_path / "x"
    kept.write_text("the path before the NUL")
    with pytest.raises(BPFError, match="NUL") as info:
        call(f"{kept}\0/../y")
    _one_line(info.value)
    assert kept.read_text() == "the path before the NUL"


def test_checked_path():
    assert checked_path("/sys/fs/bpf/a") == "/sys/fs/bpf/a"
    assert checked_path(b"/sys/fs/bpf/a") == "/sys/fs/bpf/a"
    for bad in ("", "a\0b", 3, None):
        with pytest.raises(BPFError):
            checked_path(bad)


# --- with the kernel -------------------------------------------------------------------

@pytest.mark.kernel
def test_unpin_removes_a_pin(pin_dir):
    with KernelMap.create("array", 4, 4, 1, name="unpin_me") as m:
        m.pin(f"{pin_dir}/m")
    assert fs_type(pin_dir) == BPF_FS_MAGIC
    unpin(f"{pin_dir}/m")
    assert not os.path.exists(f"{pin_dir}/m")
    with pytest.raises(KernelError) as info:
        unpin(f"{pin_dir}/m")
    assert info.value.errno == errno.ENOENT


@pytest.mark.kernel
def test_a_nul_does_not_pin_or_unpin_the_shorter_path(pin_dir):
    with KernelMap.create("array", 4, 4, 1, name="nul_pin") as m:
        with pytest.raises(BPFError, match="NUL"):
            m.pin(f"{pin_dir}/a\0b")
        assert not os.path.exists(f"{pin_dir}/a")
        m.pin(f"{pin_dir}/a")
    with pytest.raises(BPFError, match="NUL"):
        unpin(f"{pin_dir}/a\0b")
    with pytest.raises(BPFError, match="NUL"):
        KernelMap.from_pin(f"{pin_dir}/a\0b")
    assert os.path.exists(f"{pin_dir}/a")


@pytest.mark.kernel
def test_unpin_refuses_a_symlink_outside_bpffs_that_points_at_a_pin(pin_dir, tmp_path):
    with KernelMap.create("array", 4, 4, 1, name="linked_pin") as m:
        m.pin(f"{pin_dir}/m")
    link = tmp_path / "link"
    link.symlink_to(f"{pin_dir}/m")
    assert is_bpffs(str(link))  # statfs follows it: the check must not
    with pytest.raises(BPFError, match="not in a bpf filesystem"):
        unpin(str(link))
    assert link.is_symlink() and os.path.exists(f"{pin_dir}/m")


@pytest.mark.kernel
def test_unpin_of_a_bpffs_symlink_removes_the_link_not_its_target(pin_dir, tmp_path):
    victim = tmp_path / "precious"
    victim.write_text("keep me")
    os.makedirs(pin_dir, exist_ok=True)
    if not is_bpffs(pin_dir):
        pytest.skip("no bpffs at /sys/fs/bpf")
    os.symlink(str(victim), f"{pin_dir}/to_file")
    unpin(f"{pin_dir}/to_file")
    assert not os.path.lexists(f"{pin_dir}/to_file")
    assert victim.read_text() == "keep me"


@pytest.mark.kernel
def test_unpin_refuses_a_pin_directory(pin_dir):
    with KernelMap.create("array", 4, 4, 1, name="in_dir") as m:
        m.pin(f"{pin_dir}/sub/m")
    with pytest.raises(BPFError, match="directory") as info:
        unpin(f"{pin_dir}/sub")
    _one_line(info.value)
    assert os.path.exists(f"{pin_dir}/sub/m")


@pytest.mark.kernel
def test_pin_directory_errors_are_one_line(pin_dir):
    with KernelMap.create("array", 4, 4, 1, name="in_the_way") as m:
        m.pin(f"{pin_dir}/m")
        with pytest.raises(KernelError) as info:
            m.pin(f"{pin_dir}/m/below/it")  # a pin where a directory must be
        _one_line(info.value)
        assert info.value.operation == "mkdir"
    with pytest.raises(KernelError) as info:
        open_pinned(f"{pin_dir}/nothing")
    _one_line(info.value)
