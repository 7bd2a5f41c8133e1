"""Helpers for the libbpf compatibility tests: C sources compiled once per
module with the ziglang wheel (or Debian's clang), and libbpf's verdict on
the same object through ``bpftool prog loadall``."""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
BPFTOOL = shutil.which("bpftool")
_pins = itertools.count()


class Builder:
    """``build(name, source, compiler="zig", defines=())`` compiles C
    ``source`` (vmlinux.h generated from the running kernel when included)
    into ``directory`` once and returns the object's path."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.cache: dict[tuple, Path] = {}

    def __call__(self, name: str, source: str, compiler: str = "zig",
                 defines: tuple[str, ...] = ()) -> Path:
        from pybpf.toolchain import compile_source

        if compiler == "zig" and not HAVE_ZIG:
            pytest.skip("the ziglang wheel is not installed")
        if compiler == "clang" and shutil.which("clang") is None:
            pytest.skip("clang is not installed")
        key = (name, source, compiler, defines)
        if key not in self.cache:
            tag = "-".join([compiler, *defines])
            self.cache[key] = compile_source(source, self.directory / f"{name}.{tag}.o",
                                             name=f"{name}.bpf.c", compiler=compiler,
                                             defines=list(defines))
        return self.cache[key]


def bpftool_loadall(obj: Path) -> subprocess.CompletedProcess:
    """``bpftool prog loadall OBJ DIR`` (libbpf's loader), everything it
    pinned removed again; skips where bpftool is not installed."""
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed")
    pin = f"/sys/fs/bpf/pybpf_compat_{os.getpid()}_{next(_pins)}"
    try:
        return subprocess.run([BPFTOOL, "prog", "loadall", str(obj), pin], capture_output=True,
                              text=True, timeout=120)
    finally:
        shutil.rmtree(pin, ignore_errors=True)
