"""Shared material for the BTF tests: a BTF holding every kind, and ways to
reach the kernel's BTF and a C compiler (the ziglang wheel)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.btf import BTF, BTFBuilder, Linkage

VMLINUX = "/sys/kernel/btf/vmlinux"


def vmlinux() -> BTF:
    """The running kernel's BTF, or skip."""
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} is absent (kernel built without CONFIG_DEBUG_INFO_BTF)")
    return BTF.load_vmlinux()


def zig_cc(source: str, directory: Path, name: str = "prog", *, flags=("-O2", "-g")) -> Path:
    """Compile C ``source`` for BPF with the ziglang wheel; skip if missing."""
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("the ziglang wheel is not installed")
    c = directory / f"{name}.c"
    c.write_text(source)
    obj = directory / f"{name}.o"
    proc = subprocess.run([sys.executable, "-m", "ziglang", "cc", "-target", "bpfel-freestanding",
                           *flags, "-c", str(c), "-o", str(obj)],
                          capture_output=True, text=True, cwd=directory)
    if proc.returncode:
        raise AssertionError(f"zig cc failed:\n{proc.stderr[-4000:]}")
    return obj


def build_sample(byteorder: str = "little") -> tuple[BTFBuilder, dict[str, int]]:
    """A builder holding at least one type of every kind, and their ids by
    a short name."""
    b = BTFBuilder(byteorder=byteorder)
    ids: dict[str, int] = {}
    ids["int"] = b.add_int("int", 4, signed=True)
    ids["uint"] = b.add_int("unsigned int", 4)
    ids["char"] = b.add_int("char", 1, signed=True)
    ids["uchar"] = b.add_int("unsigned char", 1)
    ids["long"] = b.add_int("long", 8, signed=True)
    ids["bool"] = b.add_int("_Bool", 1, bool_=True)
    ids["double"] = b.add_float("double", 8)
    ids["int_ptr"] = b.add_ptr(ids["int"])
    ids["const_int"] = b.add_const(ids["int"])
    ids["volatile_int"] = b.add_volatile(ids["int"])
    ids["char_ptr"] = b.add_ptr(ids["char"])
    ids["restrict_ptr"] = b.add_restrict(ids["char_ptr"])
    ids["int4"] = b.add_array(ids["int"], 4)
    ids["char16"] = b.add_array(ids["char"], 16)
    ids["point"] = b.add_struct("point", 8, [("x", ids["int"], 0), ("y", ids["int"], 32)])
    ids["flags"] = b.add_struct("flags", 4, [("a", ids["uint"], 0, 3), ("b", ids["uint"], 3, 5),
                                             ("c", ids["int"], 8, 4)])
    ids["u"] = b.add_union("u", 4, [("i", ids["int"], 0), ("c", b.add_array(ids["char"], 4), 0)])
    ids["color"] = b.add_enum("color", {"RED": 1, "GREEN": 2, "BLUE": 4})
    ids["temp"] = b.add_enum("temp", {"COLD": -10, "HOT": 100})
    ids["big"] = b.add_enum("big", {"SMALL": 1, "HUGE": 1 << 40}, size=8)
    ids["opaque"] = b.add_fwd("opaque")
    ids["uopaque"] = b.add_fwd("uopaque", union=True)
    ids["myint"] = b.add_typedef("myint", ids["int"])
    ids["point_t"] = b.add_typedef("point_t", ids["point"])
    ids["proto"] = b.add_func_proto(ids["int"], [("a", ids["int"]), ("s", ids["char_ptr"])])
    ids["vproto"] = b.add_func_proto(ids["int"], [ids["char_ptr"]], variadic=True)
    ids["func"] = b.add_func("f", ids["proto"], Linkage.GLOBAL)
    ids["counter"] = b.add_var("counter", ids["int"])
    ids["data"] = b.add_datasec(".data", 4, [(ids["counter"], 0, 4)])
    ids["tag"] = b.add_decl_tag("tagged", ids["point"], 1)
    ids["user_ptr"] = b.add_ptr(b.add_type_tag("user", ids["int"]))
    ids["cb"] = b.add_typedef("cb_t", b.add_ptr(ids["vproto"]))
    node = b.next_id + 5  # node_ptr, ptr_arr, int[3], its pointer, anon_union come first
    ids["node_ptr"] = b.add_ptr(node)
    ids["ptr_arr"] = b.add_array(ids["int_ptr"], 2)
    ids["arr_ptr"] = b.add_ptr(b.add_array(ids["int"], 3))
    ids["anon_union"] = b.add_union("", 8, [("l", ids["long"], 0), ("q", ids["point"], 0)])
    ids["node"] = b.add_struct("node", 64, [
        ("next", ids["node_ptr"], 0), ("p", ids["point_t"], 64), ("cb", ids["cb"], 128),
        ("arr", ids["ptr_arr"], 192), ("pa", ids["arr_ptr"], 320), ("", ids["anon_union"], 384),
        ("col", ids["color"], 448)])
    assert ids["node"] == node
    ids["packed"] = b.add_struct("packed", 5, [("c", ids["char"], 0), ("x", ids["int"], 8)])
    return b, ids


def sample(byteorder: str = "little") -> tuple[BTF, dict[str, int]]:
    """The sample BTF parsed back, and its ids."""
    b, ids = build_sample(byteorder)
    return b.build(), ids
