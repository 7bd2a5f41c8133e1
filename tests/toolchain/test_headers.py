"""pybpf's bundled BPF C headers (src/pybpf/include/bpf), one family of
macros at a time: each program in tests/data/headers compiles with the
ziglang wheel (and clang where installed), the object holds what the macros
should have made, and where the program type runs here it loads into the
kernel and behaves.  A macro the headers define without a program using it
fails test_every_macro_is_used_by_a_test_program."""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT
from pybpf.btf import BTF
from pybpf.btf.core import RelocKind
from pybpf.elf import load_object, resolve_kconfig
from pybpf.errors import BPFError
from pybpf.spec import helper_id
from pybpf.toolchain import CompileError, compile, find_compiler, include_dir

SOURCES = DATA / "headers"
HEADERS = include_dir() / "bpf"
HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
HAVE_CLANG = shutil.which("clang") is not None
HAVE_VMLINUX = Path("/sys/kernel/btf/vmlinux").exists()
X86_64 = platform.machine() == "x86_64"

COMPILERS = [pytest.param("zig", marks=pytest.mark.skipif(not HAVE_ZIG, reason="no ziglang")),
             pytest.param("clang", marks=pytest.mark.skipif(not HAVE_CLANG, reason="no clang"))]
needs_vmlinux = pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
needs_x86_64 = pytest.mark.skipif(not X86_64, reason="probe_app's USDT notes and stack "
                                  "arguments are written for x86-64")

CALL, LDDW, END_TO_BE = 0x85, 0x18, 0xDC
PSEUDO_KFUNC_CALL = 2

# Names a header defines that are not macros for programs to use.
PRIVATE = re.compile(r"^(___pybpf|__PYBPF|___PYBPF)")


# ------------------------------------------------------------------ helpers


def header_macros() -> dict[str, str]:
    """Every public ``#define NAME`` of the bundled headers -> its header."""
    found = {}
    for header in sorted(HEADERS.glob("*.h")):
        for name in re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)", header.read_text(), re.M):
            if not PRIVATE.match(name):
                found.setdefault(name, header.name)
    return found


def helper_calls(prog) -> list[int]:
    return [i.imm for i in prog.instructions if i.opcode == CALL and i.src == 0]


def kfunc_calls(prog) -> list[str]:
    return [r.name for r in prog.extern_references if r.kind == "kfunc"
            and prog.instructions[r.pc].opcode == CALL]


@functools.cache
def clang_major() -> int:
    out = subprocess.run([find_compiler("clang").command[0], "--version"], capture_output=True,
                         text=True).stdout
    m = re.search(r"clang version (\d+)", out)
    return int(m.group(1)) if m else 0


def gcc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no host C compiler for probe_app")
    return cc


@pytest.fixture(scope="module")
def vmlinux_dir(tmp_path_factory):
    """A directory with the vmlinux.h that ``pybpf btf dump --format c
    vmlinux`` writes (the command a user runs)."""
    if not HAVE_VMLINUX:
        pytest.skip("the kernel exposes no BTF")
    out = tmp_path_factory.mktemp("vmlinux")
    proc = subprocess.run([sys.executable, "-m", "pybpf", "btf", "dump", "--format", "c",
                           "vmlinux", "-o", str(out / "vmlinux.h")],
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def build(tmp_path_factory, request):
    """build(name, compiler, **options): tests/data/headers/NAME.bpf.c
    compiled once per compiler and options (vmlinux.h from the dump)."""
    out_dir = tmp_path_factory.mktemp("headers")
    cache: dict[tuple, Path] = {}

    def run(name: str, compiler: str, *, vmlinux: bool = True, arch: str | None = None,
            defines: tuple[str, ...] = ()) -> Path:
        key = (name, compiler, vmlinux, arch, defines)
        if key not in cache:
            includes = [request.getfixturevalue("vmlinux_dir")] if vmlinux else []
            tag = "-".join([compiler, arch or "host", *defines])
            cache[key] = compile(SOURCES / f"{name}.bpf.c", out_dir / f"{name}.{tag}.o",
                                 compiler=compiler, include_dirs=includes, arch=arch,
                                 defines=list(defines), vmlinux=False)
        return cache[key]

    return run


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory):
    """probe_app.c built with the host compiler."""
    if not X86_64:
        pytest.skip("probe_app is written for x86-64")
    out = tmp_path_factory.mktemp("app") / "probe_app"
    subprocess.run([gcc(), "-O2", "-o", str(out), str(SOURCES / "probe_app.c")], check=True)
    return str(out)


def kernel_load(spec):
    from pybpf import kernel

    return kernel.load(spec)


# ------------------------------------------------------- coverage, packaging


def test_every_macro_is_used_by_a_test_program():
    macros = header_macros()
    assert {"SEC", "bpf_for", "BPF_USDT", "BPF_PROG2", "__bpf_ntohs", "NULL",
            "BPF_SEQ_PRINTF", "bpf_core_cast"} <= set(macros)
    programs = "\n".join(p.read_text() for p in sorted(SOURCES.glob("*.c")))
    unused = sorted(f"{name} ({header})" for name, header in macros.items()
                    if not re.search(rf"(?<![\w#]){re.escape(name)}\b", programs))
    assert not unused, f"macros no program in {SOURCES} uses: {', '.join(unused)}"


def test_every_header_is_packaged_and_ours():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"include/bpf/*.h"' in pyproject
    headers = sorted(p.name for p in HEADERS.glob("*.h"))
    assert "usdt.bpf.h" in headers and "bpf_helpers.h" in headers
    for name in headers:
        text = (HEADERS / name).read_text()
        assert text.startswith("/* SPDX-License-Identifier: MIT */"), name
        guard = re.search(r"#ifndef (\w+)\n#define \1\n", text)
        assert guard and text.rstrip().endswith(f"#endif /* {guard.group(1)} */"), name


# ------------------------------------------------------------ bpf_helpers.h


@pytest.mark.parametrize("compiler", COMPILERS)
def test_basics_object(build, compiler):
    spec = load_object(build("basics", compiler, vmlinux=False))
    assert {n: p.type for n, p in spec.programs.items()} == {"entry": "xdp", "second": "xdp"}
    assert spec.license == "GPL"
    assert spec.maps["pairs"].type == "array" and spec.maps["pairs"].pinning in (None, 0)
    assert (spec.maps["seen"].type, spec.maps["seen"].map_extra) == ("bloom_filter", 3)
    assert spec.maps["jumps"].type == "prog_array"
    assert spec.maps["jumps"].contents == [(1, "second")]
    entry = spec.programs["entry"]
    code = entry.instructions
    # bpf_tail_call_static: the slot is an immediate in r3 right before the call
    tail = [pc for pc, i in enumerate(code) if i.opcode == CALL and i.src == 0
            and i.imm == helper_id("tail_call")]
    assert len(tail) == 1
    assert (code[tail[0] - 1].opcode, code[tail[0] - 1].dst, code[tail[0] - 1].imm) == \
        (0xB7, 3, 1)
    # the __weak __hidden global and the static __noinline function are subprograms
    assert [i for i in code if i.opcode == CALL and i.src == 1]
    externs = {r.name for r in entry.extern_references}
    assert {"bpf_prog_put", "pybpf_no_such_symbol", "bpf_cast_to_kern_ctx"} <= externs
    assert {"LINUX_KERNEL_VERSION", "CONFIG_PYBPF_NO_SUCH_OPTION"} <= set(spec.variables)


@pytest.mark.kernel
@pytest.mark.parametrize("compiler", COMPILERS)
def test_basics_run_in_the_kernel(build, compiler):
    from pybpf.kernel import kallsyms

    spec = load_object(build("basics", compiler, vmlinux=False))
    resolve_kconfig(spec)
    spec.maps["pairs"].contents = [(0, struct.pack("<ii", 9, 1))]
    with kernel_load(spec) as coll:
        assert coll.programs["entry"].test_run(bytes(64)).retval == 42  # second's verdict
        (r,) = [v["results"] for v in coll.maps[".bss"].values()]
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:3])
    assert r[0] == 4                        # offsetof
    assert r[1] == 7                        # container_of, then a static subprogram
    assert r[2] == 42                       # __weak __hidden global function
    assert r[3] == 1                        # a __bpf_fastcall kfunc returned the kernel ctx
    assert r[4] == 0                        # a weak ksym the kernel lacks
    assert r[5] & 0xFFFFFFFFFFFFFFFF == kallsyms.address("bpf_prog_put")
    assert r[6] == (release[0] << 16) + (release[1] << 8) + min(release[2], 255)
    assert r[7] == 0                        # weak kconfig option the kernel lacks
    assert r[8] == (6 << 16) + (1 << 8) + 255  # KERNEL_VERSION caps the patch level
    assert r[9:14] == [1, 1, 9, 1, 1]       # likely/barrier_var, NULL, map, bloom, tail call


@pytest.mark.parametrize("compiler", COMPILERS)
def test_ksym_exists_object(build, compiler):
    spec = load_object(build("ksym_exists", compiler, vmlinux=False))
    prog = spec.programs["probe_kfuncs"]
    loads = {r.name for r in prog.extern_references if prog.instructions[r.pc].opcode == LDDW}
    assert loads == {"bpf_cast_to_kern_ctx", "pybpf_no_such_kfunc"}


@pytest.mark.kernel
@pytest.mark.parametrize("compiler", COMPILERS)
def test_ksym_exists_in_the_kernel(build, compiler):
    from pybpf.kernel.collection import KernelResolver
    from pybpf.linker import link

    spec = load_object(build("ksym_exists", compiler, vmlinux=False))
    linked = link(spec, KernelResolver()).programs["probe_kfuncs"]
    prog = spec.programs["probe_kfuncs"]
    loads = {r.name: linked.insns[r.pc] for r in prog.extern_references
             if prog.instructions[r.pc].opcode == LDDW}
    exists = loads["bpf_cast_to_kern_ctx"]   # BPF_PSEUDO_BTF_ID and the kernel's FUNC id
    assert exists.src == 3 and BTF.load_vmlinux()[exists.imm].name == "bpf_cast_to_kern_ctx"
    assert loads["pybpf_no_such_kfunc"][2:] == (0, 0, 0)  # a missing weak kfunc: 0
    with kernel_load(spec) as coll:
        coll.programs["probe_kfuncs"].test_run(bytes(64))
        assert [v["exists"] for v in coll.maps[".bss"].values()] == [[1, 0]]


# ------------------------------------------------------------- bpf_endian.h


ENDIAN_INPUT = bytes(range(1, 9))


def endian_expected() -> list[int]:
    b = ENDIAN_INPUT
    s16, s32, s64 = (int.from_bytes(b[:n], "big") for n in (2, 4, 8))
    runtime = [s16, s16, s32, s32, s64, s64] * 2
    constants = [0x0201, 0x04030201, 0x04030201, 0x0807060504030201, 0x0807060504030201]
    return runtime + constants + [21]


@pytest.mark.parametrize("compiler", COMPILERS)
def test_endian_object(build, compiler):
    prog = load_object(build("endian", compiler, vmlinux=False)).programs["convert"]
    widths = {i.imm for i in prog.instructions if i.opcode == END_TO_BE}
    assert widths == {16, 32, 64}          # run-time forms are byte-swap instructions


@pytest.mark.kernel
@pytest.mark.parametrize("compiler", COMPILERS)
def test_endian_in_the_kernel(build, compiler):
    with kernel_load(load_object(build("endian", compiler, vmlinux=False))) as coll:
        coll.programs["convert"].test_run(ENDIAN_INPUT + bytes(56))
        assert [v["conv"] for v in coll.maps[".bss"].values()] == [endian_expected()]


# ------------------------------------------------------ printf-style output


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_printf_object(build, compiler):
    spec = load_object(build("printf", compiler))
    calls = helper_calls(spec.programs["print"])
    assert calls.count(helper_id("trace_printk")) == 3     # 0-3 arguments
    assert calls.count(helper_id("trace_vprintk")) == 3    # 4-12 arguments
    assert calls.count(helper_id("snprintf")) == 2
    assert helper_calls(spec.programs["seq_tasks"]).count(helper_id("seq_printf")) == 3
    assert spec.programs["seq_tasks"].section == "iter/task"


@pytest.mark.kernel
@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_printf_in_the_kernel(build, compiler):
    from pybpf.kernel.tracepipe import TracePipe

    marker = int.from_bytes(os.urandom(3), "little")
    spec = load_object(build("printf", compiler))
    spec.set_variable("marker", marker)
    spec.set_variable("target_tgid", os.getpid())
    with kernel_load(spec) as coll, TracePipe() as pipe:
        pipe.read_lines()
        coll.programs["print"].test_run(bytes(64))
        tag = f"pybpf-hdr {marker} "
        lines = [line.message[len(tag):] for line in pipe.lines(1.0)
                 if line.message.startswith(tag)]
        (bss,) = coll.maps[".bss"].values()
        with coll.programs["seq_tasks"].attach() as link:
            text = link.read_text()
    assert lines == ["none", "two -5 str", "four 1 2 3", "twelve 1 2 3 4 5 6 7 8 9 10 ff",
                     "direct", "vdirect 7"]
    assert (bss["text"], bss["text_len"]) == ("-42|42|beef|ok|z", 17)
    assert (bss["empty"], bss["empty_len"]) == ("none", 5)
    comm = Path("/proc/self/comm").read_text().strip()
    assert text == f"task {os.getpid()}\nplain line\n1 2 3 4 5 6 7 8 9 10 11 {comm}\n"


# --------------------------------------------------- open-coded iterators


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_iterators_object(build, compiler):
    spec = load_object(build("iter", compiler))
    calls = [n for p in spec.programs.values() for n in kfunc_calls(p)]
    for kind in ("num", "bits"):     # (the compiler may copy a destroy onto each exit path)
        assert {f"bpf_iter_{kind}_{op}" for op in ("new", "next", "destroy")} <= set(calls)


@pytest.mark.kernel
@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_iterators_in_the_kernel(build, compiler):
    spec = load_object(build("iter", compiler))
    spec.maps["limit"].contents = [(0, struct.pack("<i", 1000))]
    with kernel_load(spec) as coll:
        assert coll.programs["iterate"].test_run(bytes(64)).retval == 2   # XDP_PASS
        (bss,) = coll.maps[".bss"].values()
    bits = [0, 2, 63, 64, 65]                  # the set bits of words[]
    assert bss["sums"] == [sum(range(1000)), 3000, 10 + 11 + 12 + 13 + 14, 7,
                           sum(i * j for i in range(4) for j in range(3)), 9,
                           functools.reduce(lambda acc, b: acc * 100 + b, bits, 0), 0]


# ---------------------------------------------------------- bpf_helpers.h tags


def type_and_decl_tags(spec) -> set[str]:
    return {f"{t.kind.name}:{t.name}" for t in spec.btf.types
            if t.kind.name in ("TYPE_TAG", "DECL_TAG")}


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_tags_reach_btf(build, compiler):
    spec = load_object(build("kptr", compiler))
    tags = type_and_decl_tags(spec)
    assert {"DECL_TAG:contains:hdr_node:node", "DECL_TAG:arg:ctx", "DECL_TAG:arg:nonnull",
            "DECL_TAG:arg:nullable", "DECL_TAG:arg:trusted", "DECL_TAG:arg:untrusted"} <= tags
    assert "DECL_TAG:arg:arena" in type_and_decl_tags(load_object(build("arena", compiler)))
    if compiler == "clang" and clang_major() < 15:
        pytest.skip(f"clang {clang_major()} leaves btf_type_tag out of BTF")
    assert {"TYPE_TAG:kptr", "TYPE_TAG:kptr_untrusted", "TYPE_TAG:percpu_kptr",
            "TYPE_TAG:uptr"} <= tags


@pytest.mark.kernel
@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_kptrs_and_argument_tags_in_the_kernel(build, compiler):
    if compiler == "clang" and clang_major() < 15:
        pytest.skip(f"clang {clang_major()} leaves btf_type_tag (__kptr) out of BTF")
    spec = load_object(build("kptr", compiler))
    spec.set_variable("target_pid", os.getpid())
    pid = os.getpid()
    with kernel_load(spec) as coll:
        prog = coll.programs["tags"]
        assert prog.test_run(bytes(64)).retval == 2
        assert prog.test_run(bytes(64)).retval == 2
        (bss,) = coll.maps[".bss"].values()
    # tgid via __arg_trusted, pid via __arg_nullable, NULL via __arg_nullable,
    # the kptr read back, the untrusted copy, a per-CPU object kept across
    # runs (+5 each), a list node, the ctx length, a __arg_nonnull read
    assert bss["out"][:9] == [pid, pid, -1, pid, pid, 10, 77, 64, pid]


@needs_vmlinux
@pytest.mark.kernel
@pytest.mark.parametrize("compiler", COMPILERS)
def test_arena_argument_in_the_kernel(build, compiler):
    from pybpf.errors import KernelError

    spec = load_object(build("arena", compiler))
    try:
        coll = kernel_load(spec)
    except (KernelError, BPFError) as e:
        if "EPERM" in str(e) or "arena" in str(e):
            pytest.skip(f"arena maps cannot be created or loaded here: {e}")
        raise
    with coll:
        assert coll.programs["use_arena"].test_run(ctx=bytes(8)).retval == 0
        assert [v["out"] for v in coll.maps[".bss"].values()] == [5]


# ------------------------------------------------------------ bpf_tracing.h


def regs_expected(arch: str) -> dict[str, list[int | None]]:
    """The 8-byte word of the context each PT_REGS_* macro of regs.bpf.c reads."""
    if arch == "x86":  # struct pt_regs: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di
        args = [14, 13, 12, 11, 9, 8]    # di si dx cx r8 r9
        rest = [10, 16, 19, 4, 19]       # ax, ip, sp, bp, and the return address at sp
        return {"plain": args + rest + [None, None], "core": args + rest + [None, None],
                "syscall": [14, 13, 12, 7, 9, 8] * 2}   # the 4th syscall argument is r10
    args = [0, 1, 2, 3, 4, 5]            # user_pt_regs.regs[0..5]
    rest = [0, 32, 31, 29, 30]           # x0, pc, sp, x29, x30 (the link register)
    return {"plain": args + rest + [6, 7], "core": args + rest + [6, 7],
            "syscall": [34, 1, 2, 3, 4, 5] * 2}        # orig_x0 follows pstate


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("arch", ["x86", "arm64"])
def test_pt_regs_read_the_right_registers(build, compiler, arch):
    import pybpf.vm

    spec = load_object(build("regs", compiler, vmlinux=False, arch=arch))
    kernel_types = load_object(build("regs", compiler, vmlinux=False, arch=arch,
                                     defines=("KERNEL_TYPES_ONLY",)))
    prog = spec.programs["read_regs"]
    assert prog.type == "kprobe"
    # the VM bounds a kprobe context by this machine's pt_regs; arm64's is larger.
    # A syscall program would have to be sleepable: run it unverified
    prog.type = "syscall"
    ctx = b"".join(struct.pack("<Q", 1000 + i) for i in range(40))
    with pybpf.vm.load(spec, core_target=kernel_types.btf, verify=False) as coll:
        coll.programs["read_regs"].test_run(ctx=ctx)
        (bss,) = coll.maps[".bss"].values()
    got = {k: [v - 1000 if v else None for v in words] for k, words in bss.items()}
    assert got == regs_expected(arch)


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_tracing_object(build, compiler):
    spec = load_object(build("tracing", compiler, arch="x86"))
    assert {n: (p.type, p.attach_to) for n, p in spec.programs.items()} == {
        "prog_args": ("raw_tracepoint", "pybpf_args"),
        "prog_none": ("raw_tracepoint", "pybpf_none"),
        "prog2_args": ("raw_tracepoint", "pybpf_args2"),
        "prog2_none": ("raw_tracepoint", "pybpf_none2"),
        "on_unlink": ("kprobe", "do_unlinkat"),
        "on_eight": ("kprobe", "pybpf_eight"),
        "on_unlink_ret": ("kprobe", "do_unlinkat"),
        "on_unlink_ret_bare": ("kprobe", "do_unlinkat"),
        "on_openat": ("kprobe", "openat"),
        "on_close": ("kprobe", "close"),
        "on_pread": ("kprobe", "__x64_sys_pread64"),
    }
    # BPF_KSYSCALL asks the loader whether syscalls have pt_regs wrappers
    assert "LINUX_HAS_SYSCALL_WRAPPER" in spec.variables
    # x86-64 arguments 7 and 8 are read from the kernel stack
    calls = helper_calls(spec.programs["on_eight"])
    assert calls.count(helper_id("probe_read_kernel")) >= 4


@pytest.mark.kernel
@needs_vmlinux
@pytest.mark.skipif(not X86_64, reason="built for x86-64 registers")
@pytest.mark.parametrize("compiler", COMPILERS)
def test_tracing_wrappers_in_the_kernel(build, compiler):
    spec = load_object(build("tracing", compiler, arch="x86"))
    resolve_kconfig(spec)
    task = 0xFFFF888812345678
    with kernel_load(spec) as coll:        # the kprobe programs pass the verifier too
        p = coll.programs
        assert p["prog_args"].test_run(ctx=struct.pack("<qqQ", 5, -3, task)).retval == 2
        assert p["prog_none"].test_run(ctx=bytes(8)).retval == 11
        ctx2 = struct.pack("<qqqqq", 7, 100, -200, 65, 1 << 40)
        assert p["prog2_args"].test_run(ctx=ctx2).retval == 2
        assert p["prog2_none"].test_run(ctx=bytes(8)).retval == 22
        (bss,) = coll.maps[".bss"].values()
    assert bss["prog_out"] == [5, -3, task - (1 << 64), 1]
    # the 16-byte struct took slots 1 and 2; the char and the long came after
    assert bss["prog2_out"] == [7, 100, -200, 65, 1 << 40, 1]


@pytest.mark.kernel
@needs_vmlinux
@needs_x86_64
@pytest.mark.parametrize("compiler", COMPILERS)
def test_uprobe_wrappers_in_the_kernel(build, compiler, probe_app):
    spec = load_object(build("uprobes", compiler))
    proc = subprocess.Popen([probe_app, "1", "wait"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with kernel_load(spec) as coll:
            p = coll.programs
            links = [p["on_eight"].attach(target=f"{probe_app}:pybpf_hdr_eight", pid=proc.pid),
                     p["on_eight_ret"].attach(target=f"{probe_app}:pybpf_hdr_eight",
                                              pid=proc.pid),
                     p["on_walk"].attach(target=f"{probe_app}:pybpf_hdr_walk", pid=proc.pid)]
            out, _ = proc.communicate("go\n", timeout=30)
            (bss,) = coll.maps[".bss"].values()
            for link in links:
                link.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    address = out.split()[2]                               # "done TOTAL ADDRESS"
    assert bss["eight_args"] == [1, 2, 3, 4, 5, 6, 7, 8]   # 7 and 8 from the user stack
    regs = bss["eight_regs"]
    assert regs[:6] == [1, 2, 3, 4, 5, 6]
    assert regs[6] == int(address, 16)                     # PT_REGS_IP: the function entry
    assert regs[7] == regs[9] != 0                         # x86-64: the return address at sp
    ret = sum(i * i for i in range(1, 9))
    assert bss["eight_ret"] == [ret, ret]
    walk = bss["walk"]
    assert (walk["value1"], walk["value2"]) == (11, 22)
    assert (walk["label"], walk["label_len"], walk["first_label"]) == ("second", 7, "first")
    assert walk["mid"] and walk["tail"] and walk["mid"] != walk["tail"]
    assert (walk["end"], walk["prev"]) == (0, 0)
    assert (walk["name"], walk["name_len"]) == ("/pybpf/name", 12)
    assert walk["nodename"] == os.uname().nodename[:64]


# ----------------------------------------------------------- bpf_core_read.h


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_core_object(build, compiler):
    prog = load_object(build("core", compiler)).programs["read_task"]
    kinds = {RelocKind(r.kind) for r in prog.core_relocations}
    assert kinds >= {RelocKind.FIELD_BYTE_OFFSET, RelocKind.FIELD_BYTE_SIZE,
                     RelocKind.FIELD_EXISTS, RelocKind.FIELD_SIGNED,
                     RelocKind.FIELD_LSHIFT_U64, RelocKind.FIELD_RSHIFT_U64,
                     RelocKind.TYPE_EXISTS, RelocKind.TYPE_SIZE, RelocKind.TYPE_ID_LOCAL,
                     RelocKind.TYPE_ID_TARGET, RelocKind.ENUMVAL_EXISTS,
                     RelocKind.ENUMVAL_VALUE}
    if compiler == "zig" or clang_major() >= 17:
        assert RelocKind.TYPE_MATCHES in kinds
    assert "bpf_rdonly_cast" in kfunc_calls(prog)          # bpf_core_cast


@pytest.mark.kernel
@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_core_reads_in_the_kernel(build, compiler):
    spec = load_object(build("core", compiler))
    with kernel_load(spec) as coll:
        assert coll.programs["read_task"].test_run(ctx=bytes(8)).retval == 0
        (bss,) = coll.maps[".bss"].values()
    o = bss["core_out"]
    vmlinux = BTF.load_vmlinux()
    task = next(t for t in vmlinux.find_all("task_struct") if hasattr(t, "members"))
    pid, ppid = os.getpid(), os.getppid()
    comm = Path("/proc/self/comm").read_text().strip()
    assert [o[k] for k in ("tgid", "tgid_into", "tgid_probe", "tgid_probe_into", "tgid_cast",
                           "tgid_single")] == [pid] * 6
    assert [o["ppid"], o["ppid_chain"], o["ppid_probe"]] == [ppid] * 3
    assert [o["comm"], o["comm_core"], o["comm_probe"], o["comm_single"]] == [comm] * 4
    assert o["comm_len"] == o["comm_core_len"] == len(comm) + 1
    assert (o["field_exists"], o["field_exists_typed"], o["field_missing"]) == (1, 1, 0)
    assert o["field_size"] == 16
    assert o["field_offset"] == vmlinux.member_offset(task, "tgid")
    assert (o["type_exists"], o["type_missing"]) == (1, 0)
    assert o["type_size"] == vmlinux.size_of(task)
    assert (o["type_matches"], o["type_mismatch"]) == (1, 0)
    assert o["type_id_local"] == spec.btf.find("hdr_core_out").id
    assert o["type_id_kernel"] == task.id
    func_id = vmlinux.find("bpf_func_id")
    loop = next(v.value for v in func_id.values if v.name == "BPF_FUNC_loop")
    assert (o["enum_exists"], o["enum_missing"], o["enum_value"]) == (1, 0, loop)
    # snd_wscale = 11, sack_ok = 13 & 7, wscale_ok = 1 and rcv_wscale = 0 untouched
    assert (o["bits_direct"], o["bits_probed"], o["bits_untouched"]) == (11, 5, 1)
    assert o["bits_raw"] == (1 << 3) | (5 << 4) | (11 << 8)


# --------------------------------------------------------------- usdt.bpf.h


@pytest.mark.parametrize("compiler", COMPILERS)
def test_usdt_spec_layout_matches_the_attach_side(build, compiler):
    from pybpf.kernel import usdt

    spec = load_object(build("usdt", compiler, vmlinux=False))
    m = spec.maps[usdt.SPEC_MAP]
    assert (m.type, m.max_entries) == ("array", 16)          # PYBPF_USDT_MAX_SITES
    btf = spec.btf
    value = btf.resolve(m.value_type.id)
    arg = btf.find("pybpf_usdt_arg")
    sample = usdt.UsdtArg(4, True, usdt.ARG_DEREF, "bp", 32, offset=-24)
    encoded = sample.encode()
    assert btf.size_of(arg) == len(encoded)
    fields = {mb.name: (mb.offset, btf.size_of(btf.resolve(mb.type_id)))
              for mb in arg.members}
    def field(name: str, signed: bool = False) -> int:
        at, size = fields[name]
        return int.from_bytes(encoded[at:at + size], "little", signed=signed)
    assert (field("val_off", signed=True), field("kind"), field("reg_off"),
            field("size", signed=True)) == (-24, usdt.ARG_DEREF, 32, -4)
    members = {mb.name: mb.offset for mb in value.members}
    assert members["args"] == 0
    assert members["cookie"] == usdt.MAX_ARGS * len(encoded)
    assert members["arg_cnt"] == members["cookie"] + 8


@pytest.mark.parametrize("compiler", COMPILERS)
def test_usdt_header_and_tools_header_together(tmp_path, compiler):
    tools = ROOT / "src" / "pybpf" / "tools" / "include"
    for first, second in [("<bpf/usdt.bpf.h>", '"pybpf_usdt.bpf.h"'),
                          ('"pybpf_usdt.bpf.h"', "<bpf/usdt.bpf.h>")]:
        src = tmp_path / "both.bpf.c"
        src.write_text(f"#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
                       f"#include {first}\n#include {second}\n"
                       "long v;\nSEC(\"usdt\") int p(struct pt_regs *ctx)\n"
                       "{ return bpf_usdt_arg(ctx, 0, &v) + pybpf_usdt_arg(ctx, 1, &v); }\n"
                       "char LICENSE[] SEC(\"license\") = \"GPL\";\n")
        spec = load_object(compile(src, tmp_path / "both.o", compiler=compiler,
                                   include_dirs=[tools]))
        assert spec.maps["pybpf_usdt_spec"].max_entries == 256


@pytest.mark.kernel
@needs_x86_64
@pytest.mark.parametrize("compiler", COMPILERS)
def test_usdt_arguments_in_the_kernel(build, compiler, probe_app):
    spec = load_object(build("usdt", compiler, vmlinux=False))
    with kernel_load(spec) as coll:
        p = coll.programs
        links = [p["on_mixed"].attach(target=f"{probe_app}:pybpf_hdr:mixed", cookie=0x1234),
                 p["on_twelve"].attach(target=f"{probe_app}:pybpf_hdr:twelve", cookie=99),
                 p["on_twelve_typed"].attach(target=f"{probe_app}:pybpf_hdr:twelve")]
        try:
            out = subprocess.run([probe_app, "3"], capture_output=True, text=True,
                                 timeout=30).stdout
            (bss,) = coll.maps[".bss"].values()
        finally:
            for link in links:
                link.close()
    assert out.startswith("done ")
    # the last of three calls: register -3 (signed 4 bytes), memory 3000, constant -7;
    # 3 arguments, the cookie, sizes 4/8/2, no 4th argument (-ENOENT) twice
    assert bss["mixed"] == [-3, 3000, -7, 3, 0x1234, 482, -2, -2, 3, 0x1234]
    assert bss["twelve"] == [*range(1, 12), -12, 12, 99]
    assert bss["twelve_typed"] == [*range(1, 12), -12]


# -------------------------------------------------- vmlinux.h from btf dump


ALL_HEADERS = ["<bpf/bpf_helpers.h>", "<bpf/bpf_helper_defs.h>", "<bpf/bpf_tracing.h>",
               "<bpf/bpf_core_read.h>", "<bpf/bpf_endian.h>", "<bpf/usdt.bpf.h>"]

TOGETHER = r"""
/* the user's own declarations of kfuncs vmlinux.h and our headers declare too */
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

long total;

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    int i;

    bpf_for(i, 0, 3)
        total += i;
    total += bpf_core_cast(prev, struct task_struct)->pid;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("order", ["vmlinux first", "vmlinux last"])
def test_dumped_vmlinux_h_compiles_with_every_header(tmp_path, vmlinux_dir, compiler, order):
    includes = [f"#include {h}" for h in ALL_HEADERS]
    if order == "vmlinux first":
        lines = ['#include "vmlinux.h"', *includes]
    else:  # usdt.bpf.h defines a map: it needs BPF_MAP_TYPE_ARRAY from vmlinux.h first
        lines = [*includes[:-1], '#include "vmlinux.h"', includes[-1]]
    src = tmp_path / "together.bpf.c"
    src.write_text("\n".join(lines) + TOGETHER)
    spec = load_object(compile(src, tmp_path / "together.o", compiler=compiler,
                               include_dirs=[vmlinux_dir]))
    prog = spec.programs["on_switch"]
    assert {"bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy",
            "bpf_rdonly_cast"} <= set(kfunc_calls(prog))
    assert "bpf_iter_num_new" in (vmlinux_dir / "vmlinux.h").read_text()


CLASHING = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
/* a prototype that differs from the kernel's (u32 there) */
extern struct cgroup *bpf_cgroup_ancestor(struct cgroup *cgrp, long level) __ksym;
SEC("xdp") int x(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
"""


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_user_kfunc_prototypes_win_with_bpf_no_kfunc_prototypes(tmp_path, vmlinux_dir,
                                                                compiler):
    src = tmp_path / "clash.bpf.c"
    src.write_text(CLASHING)
    with pytest.raises(CompileError, match="bpf_cgroup_ancestor"):
        compile(src, tmp_path / "clash.o", compiler=compiler, include_dirs=[vmlinux_dir])
    spec = load_object(compile(src, tmp_path / "clash.o", compiler=compiler,
                               include_dirs=[vmlinux_dir],
                               defines=["BPF_NO_KFUNC_PROTOTYPES"]))
    assert spec.programs["x"].type == "xdp"


@needs_vmlinux
@pytest.mark.parametrize("compiler", COMPILERS)
def test_kfunc_prototypes_of_vmlinux_h_take_precedence(tmp_path, vmlinux_dir, compiler):
    # a kernel older than this one: bpf_rdonly_cast took a non-const pointer
    text = (vmlinux_dir / "vmlinux.h").read_text()
    assert "#define __PYBPF_VMLINUX_KFUNCS 1" in text
    older = text.replace("extern void *bpf_rdonly_cast(const void *", "extern void *bpf_rdonly_cast(void *")
    assert older != text
    src = tmp_path / "older.bpf.c"
    src.write_text('#include "vmlinux.h"\n' + "\n".join(f"#include {h}" for h in ALL_HEADERS)
                   + "\nlong pid;\nSEC(\"tp_btf/sched_switch\")\nint BPF_PROG(sw, bool p, "
                   "struct task_struct *prev)\n{ pid = bpf_core_cast(prev, struct task_struct)"
                   "->pid; return 0; }\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n")
    (tmp_path / "vmlinux.h").write_text(older)
    spec = load_object(compile(src, tmp_path / "older.o", compiler=compiler,
                               include_dirs=[tmp_path]))
    assert "bpf_rdonly_cast" in kfunc_calls(spec.programs["sw"])
    # without the marker both declarations meet, and they disagree
    (tmp_path / "vmlinux.h").write_text(older.replace("#define __PYBPF_VMLINUX_KFUNCS 1\n", ""))
    with pytest.raises(CompileError, match="bpf_rdonly_cast"):
        compile(src, tmp_path / "older.o", compiler=compiler, include_dirs=[tmp_path])
