"""Compatibility with libbpf: a libbpf-style program compiled with clang and
libbpf's own headers (libbpf-dev) loads into an ObjectSpec just like the
same source compiled with pybpf's headers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DATA
from pybpf.btf.core import RelocKind
from pybpf.elf import load_object
from pybpf.toolchain import compile

SOURCE = DATA / "libbpf_style.bpf.c"
LIBBPF_HEADERS = Path("/usr/include/bpf/bpf_helpers.h")

pytestmark = [
    pytest.mark.skipif(shutil.which("clang") is None, reason="no clang"),
    pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(), reason="no kernel BTF"),
]


@pytest.fixture(scope="module")
def vmlinux_dir():
    from pybpf.toolchain import vmlinux_header

    return vmlinux_header()


def _check(spec) -> None:
    progs = {p.name: (p.type, p.attach_type, p.attach_to) for p in spec.programs.values()}
    assert progs == {
        "do_unlinkat": ("kprobe", None, "do_unlinkat"),
        "do_unlinkat_exit": ("kprobe", None, "do_unlinkat"),
        "fentry_unlinkat": ("tracing", "trace_fentry", "do_unlinkat"),
        "exec": ("tracing", "trace_raw_tp", "sched_process_exec"),
        "xdp_pass": ("xdp", "xdp", None),
    }
    maps = {n: (m.type, m.key_size, m.value_size) for n, m in spec.maps.items()}
    assert maps["rb"] == ("ringbuf", 0, 0)
    assert maps["seen"] == ("lru_hash", 4, 8) and spec.maps["seen"].pinning == "by_name"
    assert maps["perf"] == ("perf_event_array", 4, 4)
    assert spec.variables["filter_pid"][0] == ".rodata"
    assert spec.variables["hits"][0] == ".bss"
    kprobe = spec.programs["do_unlinkat"]
    assert any(i.opcode == 0x85 and i.src == 1 for i in kprobe.instructions)   # remember()
    assert len(kprobe.func_info) == 2
    kinds = {RelocKind(r.kind) for p in spec.programs.values() for r in p.core_relocations}
    assert {RelocKind.FIELD_BYTE_OFFSET, RelocKind.FIELD_EXISTS, RelocKind.TYPE_SIZE} <= kinds


@pytest.mark.skipif(not LIBBPF_HEADERS.exists(), reason="libbpf-dev is not installed")
def test_libbpf_headers(tmp_path, vmlinux_dir):
    out = tmp_path / "libbpf_style.o"
    proc = subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-D__TARGET_ARCH_x86",
                           "-I", str(vmlinux_dir), "-c", str(SOURCE), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    _check(load_object(out))


@pytest.mark.parametrize("compiler", ["clang", "zig"])
def test_pybpf_headers_same_source(tmp_path, vmlinux_dir, compiler):
    if compiler == "zig":
        pytest.importorskip("ziglang")
    out = compile(SOURCE, tmp_path / f"pybpf_{compiler}.o", compiler=compiler,
                  include_dirs=[vmlinux_dir], arch="x86")
    _check(load_object(out))
