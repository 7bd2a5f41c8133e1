"""Writing BTF as a C header: text shape, and the real test: a compiler
accepts it and lays every struct out exactly as the BTF says."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from btf_samples import build_sample, sample, vmlinux, zig_cc
from pybpf.btf import BTF, BTFBuilder, Composite, Kind
from pybpf.btf.dump import CDumper


def _layouts(btf: BTF, names: set[str] | None = None) -> dict[str, tuple]:
    """name -> (size, members) of every named struct/union of ``btf``."""
    out = {}
    for t in btf:
        if isinstance(t, Composite) and t.name and (names is None or t.name in names):
            out.setdefault(f"{t.kind_name} {t.name}", (t.size, [
                (m.name, m.bit_offset, m.bitfield_size) for m in t.members]))
    return out


def test_header_shape():
    btf, _ = sample()
    text = btf.dump_c()
    assert text.startswith("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n")
    assert "#pragma clang attribute push (__attribute__((preserve_access_index)), " \
           "apply_to = record)" in text
    assert text.rstrip().endswith("#endif /* __VMLINUX_H__ */")
    assert "typedef int (*cb_t)(char *, ...);" in text
    assert "\tint *arr[2];" in text and "\tint (*pa)[3];" in text
    assert "\tunsigned int b: 5;" in text and "\tint c: 4;" in text
    assert "} __attribute__((packed));" in text
    assert "\tunion {\n\t\tlong l;\n\t\tstruct point q;\n\t};" in text
    assert "HUGE = 1099511627776ULL," in text and "COLD = -10," in text
    assert "struct opaque;" in text and "union uopaque;" in text
    # a struct used by value comes before its user
    assert text.index("struct point {") < text.index("typedef struct point point_t;") \
        < text.index("struct node {")
    bare = btf.dump_c(guard=None, preserve_access_index=False)
    assert "#ifndef" not in bare and "pragma" not in bare


def test_padding_and_alignment_are_explicit():
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    i64 = b.add_int("long", 8, signed=True)
    char = b.add_int("char", 1, signed=True)
    aligned = b.add_struct("aligned64", 64, [("x", i32, 0)])  # __aligned(64) in the source
    b.add_struct("holder", 192, [("c", char, 0), ("inner", aligned, 512), ("y", i64, 1024)])
    b.add_struct("odd", 12, [("a", i64, 0), ("b", i32, 64)])  # packed: size not a multiple of 8
    text = b.build().dump_c()
    assert "struct aligned64 {\n\tint x;\n\tint: 32;\n\tlong: 64;" in text
    assert "struct holder {\n\tchar c;\n\tchar: 8;\n\tshort: 16;\n\tint: 32;\n" in text
    assert "struct odd {\n\tlong a;\n\tint b;\n} __attribute__((packed));" in text


def test_duplicate_names_get_suffixes():
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    b.add_struct("dup", 4, [("a", i32, 0)])
    b.add_struct("dup", 8, [("a", i32, 0), ("b", i32, 32)])
    b.add_enum("e1", {"SAME": 1})
    b.add_enum("e2", {"SAME": 2})
    b.add_fwd("dup")
    b.add_typedef("__builtin_va_list", b.add_ptr(0))
    text = b.build().dump_c()
    assert "struct dup {" in text and "struct dup___2 {" in text
    assert "SAME = 1," in text and "SAME___2 = 2," in text
    assert "typedef void *__builtin_va_list" not in text  # the compiler's own
    d = CDumper(b.build())
    assert d._tag(b.build()[6]) == "struct dup"  # the forward declaration names the first


def test_type_subset_pulls_in_dependencies():
    btf, _ = sample()
    text = btf.dump_c(types=["node"], guard=None, preserve_access_index=False)
    assert "struct node {" in text and "struct point {" in text and "enum color {" in text
    assert "struct flags" not in text and "union u {" not in text


def test_sample_header_compiles_to_the_same_layouts(tmp_path):
    btf, _ = sample()
    header = btf.dump_c()
    src = header + "\n".join(f"{name} *use_{i};" for i, name in enumerate(_layouts(btf)))
    src += "\nstruct node n; struct packed pk; struct flags fl; union u uu;\n"
    obj = zig_cc(src, tmp_path, "sample", flags=("-g", "-Wall", "-Werror"))
    compiled = BTF.from_file(obj)
    assert _layouts(compiled) == _layouts(btf)


@pytest.fixture(scope="module")
def vmlinux_h() -> str:
    """This machine's vmlinux.h, written once for the tests below."""
    return vmlinux().dump_c()


def test_vmlinux_header_compiles_with_zig(tmp_path, vmlinux_h):
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    obj = zig_cc('#include "vmlinux.h"\nstruct task_struct *t;\n'
                 '_Static_assert(sizeof(struct list_head) == 16, "list_head");\n',
                 tmp_path, "use", flags=("-O2", "-g", "-Wall", "-Werror"))
    assert obj.exists()


def test_vmlinux_header_compiles_with_clang(tmp_path, vmlinux_h):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed")
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    (tmp_path / "use.c").write_text('#include "vmlinux.h"\nstruct task_struct *t;\n')
    proc = subprocess.run([clang, "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c", "use.c",
                           "-o", "use.o"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_vmlinux_header_has_kfuncs_and_guards(vmlinux_h):
    vm = vmlinux()
    text = vmlinux_h
    if vm.find_ids("bpf_kfunc"):
        assert "#ifndef BPF_NO_KFUNC_PROTOTYPES" in text
        assert " __weak __ksym;" in text
    assert text.count("#pragma clang attribute push") == 1
    assert text.count("#pragma clang attribute pop") == 1


@pytest.mark.slow
def test_vmlinux_header_reproduces_every_kernel_layout(tmp_path, vmlinux_h):
    """Every named struct and union of the kernel, compiled from our header,
    has the kernel's size, member offsets and bitfields (va_list is the
    compiler's own on BPF, so structs holding one by value differ)."""
    vm = vmlinux()
    dumper = CDumper(vm)
    names = []
    for t in vm:
        if isinstance(t, Composite) and t.name:
            names.append(dumper._tag(t))
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    src = '#include "vmlinux.h"\n' + "".join(f"{n} v{i};\n" for i, n in enumerate(names))
    obj = zig_cc(src, tmp_path, "all", flags=("-g",))
    compiled = BTF.from_file(obj)
    want = _layouts(vm)
    got = _layouts(compiled)
    bad = [n for n in want if n in got and got[n] != want[n]]
    va_list_users = {f"struct {t.name}" for t in vm if isinstance(t, Composite) and any(
        vm.type_name(m.type_id) == "va_list" for m in t.members)}
    assert set(bad) <= va_list_users, bad[:10]
    assert len(got) > 0.9 * len(want)


def test_structs_with_kernel_style_attributes(tmp_path):
    """Bitfields across units, cacheline-aligned members and packed records
    written by a compiler come back out of our header with the same layout."""
    obj = zig_cc("""
        struct __attribute__((aligned(64))) line { int x; };
        struct mixed { char c; struct line l; short s: 3, t: 13; long long big: 40, rest: 24; };
        struct __attribute__((packed)) wire { char tag; int len; short port; };
        struct nested { struct wire w; char after; union { int i; struct { short a, b; }; }; };
        struct mixed m; struct wire w; struct nested n;
    """, tmp_path, "src", flags=("-g",))
    original = BTF.from_file(obj)
    header = original.dump_c(guard=None)
    obj2 = zig_cc(header + "struct mixed m2; struct wire w2; struct nested n2;\n", tmp_path,
                  "again", flags=("-g",))
    assert _layouts(BTF.from_file(obj2)) == _layouts(original)


def test_enum_sizes_follow_btf(tmp_path):
    b, _ = build_sample()
    b.add_enum("tiny", {"T": 1}, size=1)
    b.add_enum("wide", {"W": 1}, size=8)
    btf = b.build()
    text = btf.dump_c(guard=None)
    assert "__attribute__((mode(byte)))" in text and "__attribute__((mode(word)))" in text
    obj = zig_cc(text + '_Static_assert(sizeof(enum tiny) == 1, "tiny");\n'
                 '_Static_assert(sizeof(enum wide) == 8, "wide");\n'
                 'enum tiny tv; enum wide wv;\n', tmp_path, "enums")
    assert BTF.from_file(obj).find("tiny", Kind.ENUM).size == 1
