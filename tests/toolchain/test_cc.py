"""pybpf.toolchain and pybpf's BPF C headers: compile with the ziglang wheel
(and clang when installed), load the result, check what the headers made."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from pybpf.btf import BTF
from pybpf.btf.core import CoreResolver, RelocKind
from pybpf.elf import load_object
from pybpf.errors import BPFError
from pybpf.spec import helper_id, helpers
from pybpf.spec.helper_protos import HELPER_PROTOS
from pybpf.toolchain import CompileError, compile, compile_source, find_compiler, include_dir

HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
HAVE_CLANG = shutil.which("clang") is not None
HAVE_VMLINUX = Path("/sys/kernel/btf/vmlinux").exists()

COMPILERS = [pytest.param("zig", marks=pytest.mark.skipif(not HAVE_ZIG, reason="no ziglang")),
             pytest.param("clang", marks=pytest.mark.skipif(not HAVE_CLANG, reason="no clang"))]
needs_vmlinux = pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")

CALL = 0x85


def helper_calls(prog) -> list[int]:
    return [i.imm for i in prog.instructions if i.opcode == CALL and i.src == 0]


# ------------------------------------------------------------ the generator


def test_helper_table_covers_every_helper():
    missing = [n for i, n in helpers().items() if i and n not in HELPER_PROTOS]
    assert not missing


def test_helper_defs_header_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "generators" / "gen_helper_defs.py"),
                           "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (include_dir() / "bpf" / "bpf_helper_defs.h").read_text()
    assert "static void *(* const bpf_map_lookup_elem)(void *map, const void *key) = " \
           "(void *) 1;" in text
    assert "static long (* const bpf_skb_store_bytes)(struct __sk_buff *skb," in text
    assert "static long (* const bpf_xdp_adjust_head)(struct xdp_md *xdp_md," in text


# ----------------------------------------------------------------- compile


SIMPLE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ANSWER
#define ANSWER 1
#endif

const volatile int knob = 3;

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
    __ulong(map_extra, 0);
} arr SEC(".maps");

static __always_inline int port_class(__u16 port)
{
    switch (port) {
    case bpf_htons(53): return 1;        /* constant folding in a case label */
    case bpf_htons(443): return 2;
    default: return 0;
    }
}

SEC("socket")
int prog(struct __sk_buff *skb)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&arr, &k);
    if (v)
        *v += bpf_ntohl(skb->len) + bpf_be64_to_cpu(*v) + port_class(skb->protocol);
    bpf_printk("none");
    bpf_printk("one %d", 1);
    bpf_printk("three %d %d %d", 1, 2, 3);
    bpf_printk("five %d %d %d %d %d", 1, 2, 3, 4, 5);
    return ANSWER + knob;
}
BPF_LICENSE("GPL");
"""


@pytest.mark.parametrize("compiler", COMPILERS)
def test_compile_simple(tmp_path, compiler):
    src = tmp_path / "simple.bpf.c"
    src.write_text(SIMPLE)
    out = compile(src, compiler=compiler, defines={"ANSWER": 40})
    assert out == tmp_path / "simple.bpf.o"
    spec = load_object(out)
    prog = spec.programs["prog"]
    assert prog.type == "socket_filter" and spec.license == "GPL"
    calls = helper_calls(prog)
    assert helper_id("map_lookup_elem") in calls
    assert calls.count(helper_id("trace_printk")) == 3
    assert calls.count(helper_id("trace_vprintk")) == 1
    assert spec.maps["arr"].type == "array"
    assert spec.variables["knob"][2] == 4
    assert any(i.imm == 40 for i in prog.instructions)       # -DANSWER=40 reached the code


@pytest.mark.parametrize("compiler", COMPILERS)
def test_compile_error_names_the_first_error(tmp_path, compiler):
    src = tmp_path / "broken.bpf.c"
    src.write_text("#include <bpf/bpf_helpers.h>\nint f(void) { return undefined_name; }\n")
    with pytest.raises(CompileError) as info:
        compile(src, tmp_path / "broken.o", compiler=compiler)
    message = str(info.value)
    assert "broken.bpf.c:2" in message and "undefined_name" in message
    assert len(message.splitlines()) <= 6
    assert "error" in info.value.output
    assert isinstance(info.value, BPFError)


@pytest.mark.parametrize("compiler", COMPILERS)
def test_a_compiler_message_quoting_non_utf8_source_is_an_error_not_a_crash(tmp_path, compiler):
    # the compiler quotes the offending line, latin-1 byte and all (cli fuzz
    # seed 20261210 case 55626: UnicodeDecodeError reading its output)
    src = tmp_path / "latin1.s"
    src.write_bytes(b"mov r0, 1 ; caf\xe9\nexit\n\xff\xfe\n")
    with pytest.raises(CompileError) as info:
        compile(src, tmp_path / "latin1.o", compiler=compiler)
    assert "latin1.s:1" in str(info.value)


def test_missing_source_and_unknown_compiler(tmp_path):
    with pytest.raises(CompileError, match="no such source"):
        compile(tmp_path / "nope.c")
    with pytest.raises(BPFError, match="unknown compiler"):
        find_compiler("gcc")
    with pytest.raises(BPFError, match="architecture"):
        compile_source("int x;", tmp_path / "x.o", arch="sparc")


# ------------------------------------------------------- libbpf-style code


TRACING = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

struct task_struct___old { int state; } __attribute__((preserve_access_index));

char comm[16];
long results[24];

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
{
    struct task_struct *t = (void *)bpf_get_current_task();
    const char *path = BPF_CORE_READ(name, name);
    results[0] = dfd;
    results[1] = BPF_CORE_READ(t, real_parent, real_parent, tgid);
    results[2] = BPF_CORE_READ(t, mm, exe_file, f_path.dentry, d_name.len);
    BPF_CORE_READ_STR_INTO(&comm, t, comm);
    BPF_CORE_READ_INTO(&results[3], t, start_time);
    results[4] = bpf_core_field_exists(t->pid);
    results[5] = bpf_core_field_size(t->comm);
    results[6] = bpf_core_field_offset(struct task_struct, tgid);
    results[7] = bpf_core_type_exists(struct task_struct);
    results[8] = bpf_core_type_size(struct task_struct);
    results[9] = bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop);
    results[10] = bpf_core_enum_value(enum bpf_func_id, BPF_FUNC_loop);
    results[11] = bpf_core_field_exists(((struct task_struct___old *)t)->state);
    results[12] = BPF_CORE_READ_BITFIELD_PROBED(t, sched_reset_on_fork);
    results[13] = bpf_core_type_id_kernel(struct task_struct);
    results[14] = (long)path + PT_REGS_PARM3(ctx) + PT_REGS_IP(ctx) + PT_REGS_SP(ctx);
    results[15] = PT_REGS_PARM1_CORE(ctx) + PT_REGS_PARM7(ctx);
#if __clang_major__ >= 17  /* older clang lacks the type-matches relocation */
    results[16] = bpf_core_type_matches(struct task_struct);
#endif
    return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_unlink_ret, long ret)
{
    results[17] = ret;
    return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlink, int dfd, struct filename *name)
{
    results[18] = dfd + name->name[0];
    results[19] = BPF_CORE_READ_BITFIELD(bpf_get_current_task_btf(), sched_reset_on_fork);
    return 0;
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(on_openat, int dfd, const char *path, int flags)
{
    results[20] = dfd + flags;
    return 0;
}

SEC("uprobe//bin/sh:main")
int BPF_UPROBE(on_main, int argc) { results[21] = argc; return 0; }

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def vmlinux_dir():
    if not HAVE_VMLINUX:
        pytest.skip("the kernel exposes no BTF")
    from pybpf.toolchain import vmlinux_header

    return vmlinux_header()


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_tracing_and_core_headers(tmp_path, vmlinux_dir, compiler):
    src = tmp_path / "tracing.bpf.c"
    src.write_text(TRACING)
    spec = load_object(compile(src, compiler=compiler, include_dirs=[vmlinux_dir], arch="x86"))
    assert {p.name: (p.type, p.attach_to) for p in spec.programs.values()} == {
        "on_unlink": ("kprobe", "do_unlinkat"),
        "on_unlink_ret": ("kprobe", "do_unlinkat"),
        "fentry_unlink": ("tracing", "do_unlinkat"),
        "on_openat": ("kprobe", "openat"),
        "on_main": ("kprobe", "/bin/sh:main"),
    }
    kinds = {RelocKind(r.kind) for p in spec.programs.values() for r in p.core_relocations}
    assert kinds >= {RelocKind.FIELD_BYTE_OFFSET, RelocKind.FIELD_BYTE_SIZE,
                     RelocKind.FIELD_EXISTS, RelocKind.FIELD_SIGNED,
                     RelocKind.FIELD_LSHIFT_U64, RelocKind.FIELD_RSHIFT_U64,
                     RelocKind.TYPE_EXISTS, RelocKind.TYPE_SIZE, RelocKind.TYPE_ID_TARGET,
                     RelocKind.ENUMVAL_EXISTS, RelocKind.ENUMVAL_VALUE}
    if compiler == "zig":
        assert RelocKind.TYPE_MATCHES in kinds
    # BPF_KSYSCALL reads LINUX_HAS_SYSCALL_WRAPPER
    assert "LINUX_HAS_SYSCALL_WRAPPER" in spec.variables
    # every relocation resolves against this kernel; the old flavor does not exist
    vmlinux = BTF.load_vmlinux()
    resolver = CoreResolver(spec.btf, vmlinux)
    prog = spec.programs["on_unlink"]
    results = {(r.access_str, RelocKind(r.kind)): resolver.resolve(r)
               for r in prog.core_relocations}
    task = vmlinux.find("task_struct")
    for (access, kind), res in results.items():
        local = spec.btf[res.relo.type_id]
        if kind == RelocKind.FIELD_EXISTS and local.name == "task_struct___old":
            assert res.target_value == 0
        elif kind == RelocKind.FIELD_EXISTS:
            assert res.target_value == 1
        elif kind == RelocKind.TYPE_SIZE:
            assert res.target_value == vmlinux.size_of(task)
        else:
            assert not res.poisoned, (access, kind, str(res))
    offset = [res.target_value for (a, k), res in results.items()
              if k == RelocKind.FIELD_BYTE_OFFSET and spec.btf[res.relo.type_id].name ==
              "task_struct" and res.description.endswith(f"({a})")
              and ".start_time" in res.description]
    assert offset == [vmlinux.member_offset(task, "start_time")]


PT_REGS = r"""
typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64; typedef signed char __s8; typedef short __s16;
typedef int __s32; typedef long long __s64; typedef __u16 __be16; typedef __u32 __be32;
typedef __u32 __wsum;
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
struct pt_regs { unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di,
                 orig_ax, ip, cs, flags, sp, ss; };
struct user_pt_regs { unsigned long long regs[31], sp, pc, pstate; };
long out[4];
SEC("kprobe/f") int BPF_KPROBE(k, long a, long b)
{ out[0] = a; out[1] = b; out[2] = PT_REGS_RC(ctx); out[3] = PT_REGS_SP(ctx); return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("arch, offsets", [("x86", [112, 104, 80, 152]),
                                           ("arm64", [0, 8, 0, 248])])
def test_pt_regs_per_architecture(tmp_path, compiler, arch, offsets):
    src = tmp_path / "regs.bpf.c"
    # vmlinux.h's guard selects kernel field names for x86
    src.write_text("#define __VMLINUX_H__\n" + PT_REGS)
    spec = load_object(compile(src, compiler=compiler, arch=arch))
    prog = spec.programs["k"]
    loads = [i.off for i in prog.instructions if i.opcode == 0x79 and i.src == 1]
    assert sorted(set(loads)) == sorted(set(offsets))   # arm64: PARM1 and RC are both x0


def test_pt_regs_without_architecture_is_a_compile_error(tmp_path):
    if not HAVE_ZIG and not HAVE_CLANG:
        pytest.skip("no compiler")
    src = tmp_path / "noarch.bpf.c"
    src.write_text("#include <bpf/bpf_helpers.h>\n#undef __TARGET_ARCH_x86\n"
                   "#undef __TARGET_ARCH_arm64\n#include <bpf/bpf_tracing.h>\n"
                   "long f(struct pt_regs *ctx) { return PT_REGS_PARM1(ctx); }\n")
    with pytest.raises(CompileError, match="TARGET_ARCH"):
        compile(src, tmp_path / "noarch.o")


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_generated_vmlinux_h_compiles_with_our_headers(tmp_path, vmlinux_dir, compiler):
    src = tmp_path / "all.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   "#include <bpf/bpf_tracing.h>\n#include <bpf/bpf_core_read.h>\n"
                   "#include <bpf/bpf_endian.h>\n"
                   "SEC(\"tp_btf/sched_switch\")\n"
                   "int BPF_PROG(sw, bool preempt, struct task_struct *prev,"
                   " struct task_struct *next) { return prev->pid + next->pid; }\n"
                   "char LICENSE[] SEC(\"license\") = \"GPL\";\n")
    spec = load_object(compile(src, compiler=compiler, include_dirs=[vmlinux_dir]))
    prog = spec.programs["sw"]
    assert (prog.type, prog.attach_type, prog.attach_to) == ("tracing", "trace_raw_tp",
                                                             "sched_switch")
    assert len(prog.core_relocations) == 2


@needs_vmlinux
@pytest.mark.skipif(not HAVE_ZIG, reason="no ziglang")
def test_vmlinux_h_generated_on_demand(tmp_path, vmlinux_dir, monkeypatch):
    # a source including vmlinux.h with none on its include path gets the cached one
    src = tmp_path / "v.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
                   "SEC(\"xdp\") int x(struct xdp_md *ctx) { return XDP_PASS; }\n")
    spec = load_object(compile(src, compiler="zig"))
    assert spec.programs["x"].type == "xdp"
    with pytest.raises(CompileError, match=r"vmlinux\.h"):
        compile(src, tmp_path / "n.o", compiler="zig", vmlinux=False)
