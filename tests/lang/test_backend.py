"""The shared code generator (pybpf.lang.backend), driven directly as a
second front end would: objects it compiles parse into ObjectSpecs with the
maps, globals, BTF, line info and CO-RE relocations declared, run in the VM
and load into the kernel and through libbpf (bpftool)."""

from __future__ import annotations

import os

import pytest
from lang_util import HAVE_VMLINUX, bpftool_loadall, packet

from pybpf import vm
from pybpf.lang import backend as bk
from pybpf.lang.errors import CompileError
from pybpf.lang.types import (
    CHAR,
    S32,
    U8,
    U32,
    U64,
    ArrayType,
    PointerType,
    StructType,
    kernel_struct,
)
from pybpf.spec import constant, enum_values

XDP = enum_values("xdp_action")
SOURCE = "\n".join(f"line {i}" for i in range(1, 40)) + "\n"


def xdp_counter() -> bk.Module:
    """counts[ip proto] += 1 in a per-CPU array; drops the knob's protocol."""
    m = bk.Module("xdp_counter", path="/src/xdp_counter.py", source=SOURCE)
    counts = m.map("counts", "percpu_array", key=U32, value=U64, max_entries=256, line=3)
    drop = m.global_var("drop_proto", U8, const=True, line=4)
    md = bk.context_record("xdp_md")

    bump = m.function("bump", params=[("proto", U32)], ret=S32, line=6)
    b = bump.builder
    b.locate(7, 5)
    key = b.local(U32, "key")
    b.store(key, b.args[0])
    slot = b.map_lookup(counts, key)
    with b.if_then(b.is_null(slot)):
        b.ret(b.const(S32, 0))
    b.locate(8, 5)
    b.store(slot, b.binop("+", b.load(slot), b.const(U64, 1)))
    b.ret(b.const(S32, 1))

    f = m.function("count_packets", section="xdp", line=10)
    b = f.builder
    ctx = b.args[0]
    b.locate(11, 5)
    data = b.packet_pointer(ctx, md, "data")
    end = b.packet_pointer(ctx, md, "data_end")
    proto = b.local(U32, "proto")
    b.store(proto, b.const(U32, 0))
    b.locate(12, 5)
    with b.if_then(b.compare("<=", b.binop("+", data, b.const(U32, 34)), end)):
        ethertype = b.binop("|", b.binop("<<", b.load(b.binop("+", data, b.const(U32, 12))),
                                         b.const(U32, 8)),
                            b.load(b.binop("+", data, b.const(U32, 13))))
        with b.if_then(b.compare("==", ethertype, b.const(U32, 0x0800))):
            b.store(proto, b.load(b.binop("+", data, b.const(U32, 23))))
    b.locate(14, 5)
    p = b.load(proto)
    b.call(bump, p)
    dp = b.read_global(drop)
    with b.if_then(b.compare("==", dp, p)), b.if_then(b.compare("!=", dp, b.const(U8, 0))):
        b.ret(b.const(S32, XDP["XDP_DROP"]))
    b.ret(b.const(S32, XDP["XDP_PASS"]))
    return m


def test_xdp_counter_object_has_maps_globals_subprogram_and_python_lines():
    m = xdp_counter()
    spec = m.object_spec()
    assert m.compile_seconds > 0
    prog = spec.programs["count_packets"]
    assert (prog.section, prog.type, prog.license) == ("xdp", "xdp", "GPL")
    assert spec.maps["counts"].type == "percpu_array"
    assert (spec.maps["counts"].key_size, spec.maps["counts"].value_size) == (4, 8)
    assert spec.variables["drop_proto"][0] == ".rodata" and spec.maps[".rodata"].freeze
    assert len(prog.func_info) == 2                       # the program and bump()
    assert any(i.opcode == 0x85 and i.src == 1 for i in prog.instructions)   # a bpf-to-bpf call
    lines = {(li.file_name, li.line_num) for li in prog.line_info}
    assert ("/src/xdp_counter.py", 8) in lines and ("/src/xdp_counter.py", 12) in lines
    assert any(li.line == "line 12" for li in prog.line_info)


def test_xdp_counter_runs_in_the_vm():
    spec = xdp_counter().object_spec()
    spec.set_variable("drop_proto", 17)
    with vm.load(spec) as coll:
        prog = coll.programs["count_packets"]
        assert prog.test_run(packet(17, 53)).retval == XDP["XDP_DROP"]
        assert prog.test_run(packet(6, 80)).retval == XDP["XDP_PASS"]
        assert prog.test_run(b"\x02" * 12 + b"\x86\xdd" + b"\x00" * 40).retval == XDP["XDP_PASS"]
        assert sum(coll.maps["counts"][17]) == 1
        assert sum(coll.maps["counts"][6]) == 1
        assert sum(coll.maps["counts"][0]) == 1


@pytest.mark.kernel("test_run")
def test_xdp_counter_runs_in_the_kernel(tmp_path):
    from pybpf import kernel

    m = xdp_counter()
    spec = m.object_spec()
    spec.set_variable("drop_proto", 6)
    with kernel.load(spec) as coll:
        prog = coll.programs["count_packets"]
        assert prog.test_run(packet(6, 80)).retval == XDP["XDP_DROP"]
        assert prog.test_run(packet(17, 53)).retval == XDP["XDP_PASS"]
        assert sum(coll.maps["counts"][6]) == 1
    result = bpftool_loadall(m.compile(), tmp_path)
    assert result.returncode == 0, result.stderr


def exit_tracer() -> bk.Module:
    """A tracepoint program: ring buffer records with CO-RE reads of the
    current task, a hash map, a const knob."""
    m = bk.Module("exits", path="/src/exits.py", source=SOURCE)
    event = StructType("event", [("pid", U32), ("ppid", U32), ("code", S32),
                                 ("comm", ArrayType(CHAR, 16))])
    events = m.map("events", "ringbuf", max_entries=1 << 16, line=2)
    seen = m.map("seen", "hash", key=U32, value=U64, max_entries=1024, line=3)
    target = m.global_var("target_ppid", U32, const=True, line=4)
    record = bk.tracepoint_record("sched", "sched_process_exit")
    task_t = kernel_struct("task_struct")

    f = m.function("on_exit", section="tp/sched/sched_process_exit", line=6)
    b = f.builder
    b.locate(7, 5)
    pid = b.cast(b.binop(">>", b.call_helper("get_current_pid_tgid"), b.const(U64, 32)), U32)
    task = b.cast(b.call_helper("get_current_task"), PointerType(task_t))
    ppid = b.core_read(task, "real_parent.tgid")
    b.locate(9, 5)
    t = b.read_global(target)
    with b.if_then(b.compare("!=", t, b.const(U32, 0))), b.if_then(b.compare("!=", t, ppid)):
        b.ret(b.const(S32, 0))
    key = b.local(U32, "key")
    b.store(key, pid)
    slot = b.map_lookup_or_init(seen, key)
    with b.if_then(b.is_null(slot, negate=True)):
        b.atomic_add(slot, b.const(U64, 1))
    b.locate(12, 5)
    e = b.ringbuf_reserve(events, event)
    with b.if_then(b.is_null(e)):
        b.ret(b.const(S32, 0))
    b.store(b.field(e, "pid"), pid)
    b.store(b.field(e, "ppid"), ppid)
    b.store(b.field(e, "code"), b.binop(">>", b.core_read(task, "exit_code"), b.const(S32, 8)))
    b.call_helper("get_current_comm", b.field(e, "comm"), b.const(U32, 16))
    assert "pid" in record.fields
    b.ringbuf_submit(e)
    b.ret(b.const(S32, 0))
    return m


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_tracepoint_program_carries_core_relocations_for_the_fields_it_reads():
    from pybpf.btf import BTF
    from pybpf.btf.core import CoreResolver

    spec = exit_tracer().object_spec()
    prog = spec.programs["on_exit"]
    assert prog.type == "tracepoint" and prog.attach_to == "sched/sched_process_exit"
    assert spec.maps["events"].type == "ringbuf" and spec.maps["seen"].type == "hash"
    vmlinux = BTF.load_vmlinux()
    task = vmlinux.find("task_struct")
    resolver = CoreResolver(spec.btf, vmlinux)
    got = {}
    for relo in prog.core_relocations:
        res = resolver.resolve(relo)
        assert not res.poisoned, str(res)
        got[res.description.split("(")[0].strip().rsplit(".", 1)[-1]] = res.target_value
    assert got == {name: vmlinux.member_offset(task, name)
                   for name in ("real_parent", "tgid", "exit_code")}


TWICE = """
import sys
sys.path.insert(0, sys.argv[1])
from test_backend import exit_tracer
from pybpf.lang import backend as bk
m = exit_tracer()
first = m.compile()
text = m.ir_text()
again = [bk.compile_ir(text), bk.compile_ir(text), m.compile(optimize=1)]
assert all(len(elf) > 1000 for elf in [first, *again])
print("compiled 4 times")
"""


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_the_same_module_compiles_again_without_aborting_the_process():
    # LLVM's CO-RE table outlives a module: the same type names in a second
    # compile used to abort the process (an assertion in LLVM), so this runs
    # in a child
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    src = here.parents[1] / "src"
    done = subprocess.run([sys.executable, "-c", TWICE, str(here)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(src)})
    assert done.returncode == 0 and "compiled 4 times" in done.stdout, done.stderr[-2000:]


@pytest.mark.kernel
@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_tracepoint_program_loads_into_the_kernel_and_through_libbpf(tmp_path):
    from pybpf import kernel

    m = exit_tracer()
    with kernel.load(m.object_spec()) as coll:
        assert set(coll.programs) == {"on_exit"}
    result = bpftool_loadall(m.compile(), tmp_path)
    assert result.returncode == 0, result.stderr


MAP_KINDS = [
    ("hash", {"key": U32, "value": U64}),
    ("array", {"key": U32, "value": U64}),
    ("percpu_hash", {"key": U32, "value": U64}),
    ("percpu_array", {"key": U32, "value": U64}),
    ("lru_hash", {"key": U32, "value": U64}),
    ("lru_percpu_hash", {"key": U32, "value": U64}),
    ("lpm_trie", {"key": StructType("lpm_key", [("prefixlen", U32), ("addr", U32)]),
                  "value": U64}),
    ("ringbuf", {"max_entries": 4096}),
    ("perf_event_array", {}),
    ("stack_trace", {"value": ArrayType(U64, 127)}),
    ("prog_array", {}),
    ("queue", {"value": U64}),
    ("stack", {"value": U64}),
]


def maps_module(kinds) -> bk.Module:
    m = bk.Module("maps", path="/src/maps.py", source=SOURCE)
    for i, (kind, args) in enumerate(kinds):
        args = {"max_entries": 16, **args}
        m.map(f"m_{kind}", kind, line=i + 1, **args)
    inner = m.map("inner", "array", key=U32, value=U32, max_entries=4)
    m.map("outer", "array_of_maps", key=U32, max_entries=4, inner=inner)
    m.global_var("counter", U64)
    m.global_var("seeded", U32, 7)
    m.global_var("name", ArrayType(CHAR, 8), b"pybpf")
    f = m.function("prog", section="socket")
    f.builder.ret(f.builder.const(S32, 0))
    return m


def test_every_common_map_kind_and_global_section_is_declared():
    spec = maps_module(MAP_KINDS).object_spec()
    for kind, _args in MAP_KINDS:
        assert spec.maps[f"m_{kind}"].type == kind
    assert spec.maps["m_lpm_trie"].flags & constant("BPF_F_NO_PREALLOC")
    assert spec.maps["outer"].type == "array_of_maps" and spec.maps["outer"].inner.type == "array"
    assert spec.variables["counter"][0] == ".bss"
    assert spec.variables["seeded"][0] == ".data"
    data = spec.maps[".data"].contents[0][1]
    _, off, size, _ = spec.variables["name"]
    assert data[off:off + size] == b"pybpf\0\0\0"


@pytest.mark.kernel
def test_every_common_map_kind_loads_into_the_kernel(tmp_path):
    from pybpf import kernel

    m = maps_module(MAP_KINDS)
    with kernel.load(m.object_spec()) as coll:
        for kind, _args in MAP_KINDS:
            assert f"m_{kind}" in coll.maps
    result = bpftool_loadall(m.compile(), tmp_path)
    assert result.returncode == 0, result.stderr


def test_refusals_are_compile_errors():
    m = bk.Module("bad")
    with pytest.raises(CompileError, match="not a program section"):
        m.function("f", section="nonsense_section")
    with pytest.raises(CompileError, match="no map type"):
        m.map("x", "hashish", key=U32, value=U32)
    with pytest.raises(CompileError, match="declared twice"):
        m.map("y", "hash", key=U32, value=U32)
        m.global_var("y", U32)
    f = m.function("g", section="xdp")
    with pytest.raises(CompileError, match="no BPF helper"):
        f.builder.call_helper("make_coffee")
    with pytest.raises(CompileError, match="takes 2 arguments"):
        f.builder.call_helper("map_lookup_elem", f.builder.const(U32, 1))


def test_integer_conversions_follow_c():
    assert bk.common_type(U8, U8) == S32
    assert bk.common_type(U32, S32) == U32
    assert bk.common_type(U32, bk.S64) == bk.S64
    assert bk.common_type(U64, bk.S64) == U64


def test_tracepoint_record_from_tracefs():
    try:
        rec = bk.tracepoint_record("sched", "sched_process_exec")
    except CompileError as e:
        pytest.skip(str(e))
    assert rec.field("pid").ctype == S32
    assert rec.field("filename").ctype == U32        # __data_loc
    assert rec.field("pid").offset > rec.field("filename").offset


def test_compiles_fast_once_warm():
    xdp_counter().compile()
    m = xdp_counter()
    m.compile()
    assert m.compile_seconds < 0.5


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_kernel_layouts_come_from_the_cache_without_parsing_vmlinux(tmp_path, monkeypatch):
    from pybpf import cache
    from pybpf.lang.types import KernelLayouts, kernel_struct_by_key

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache.reset()
    try:
        first = KernelLayouts()
        task = kernel_struct_by_key(first, "task_struct")
        tgid = task.member("tgid")
        task.member("real_parent").ctype.target.member("pid")
        first.save()
        again = KernelLayouts()                 # a new process, in effect
        assert not again.parsed
        cached = kernel_struct_by_key(again, "task_struct")
        assert (cached.size, cached.member("tgid").offset) == (task.size, tgid.offset)
        assert cached.member("real_parent").ctype.target.member("pid").offset == \
            task.member("real_parent").ctype.target.member("pid").offset
        assert not again.parsed                 # vmlinux BTF never parsed
    finally:
        cache.reset()


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_the_module_docstring_example_compiles_and_runs_as_documented():
    import re

    doc = bk.__doc__
    code = re.search(r"compiles\n\(this example is run by tests/lang/test_backend.py\)::\n\n"
                     r"(.*?)\n\nThe API", doc, re.S).group(1)
    namespace = {"text": "line one\nline two\n"}
    exec(compile("\n".join(line[4:] for line in code.splitlines()), "<doc>", "exec"), namespace)
    spec = namespace["spec"]
    assert spec.programs["on_exit"].type == "tracepoint"
    assert set(spec.maps) >= {"counts", "events", ".rodata"}
    assert len(spec.programs["on_exit"].core_relocations) == 2
    assert spec.programs["on_exit"].line_info[0].line == "line two"


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
def test_tracepoint_record_from_btf_when_tracefs_is_missing(tmp_path):
    from_tracefs = bk.tracepoint_record("sched", "sched_process_exec")
    from_btf = bk.tracepoint_record("sched", "sched_process_exec", str(tmp_path))
    for name in ("pid", "old_pid"):
        assert from_btf.field(name).offset == from_tracefs.field(name).offset
        assert from_btf.field(name).ctype.size == from_tracefs.field(name).ctype.size
    with pytest.raises(CompileError, match="no tracepoint"):
        bk.tracepoint_record("nope", "no_such_event_here", str(tmp_path))
