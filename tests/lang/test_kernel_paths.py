"""A path through embedded kernel structs (``task.se.vruntime``) is one
CO-RE read of the final field: the embedded struct is not copied to the
stack first (``sched_entity`` is 256 bytes here, half the stack; a bigger
embedded struct could not be read at all)."""

from __future__ import annotations

import pytest
from lang_util import HAVE_VMLINUX

from pybpf.lang.compiler import compile_module, load_module

pytestmark = pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")

SOURCE = '''
from pybpf.lang import Array, current_task, raw_tracepoint, u32, u64

out = Array[u32, u64](max_entries=4)


@raw_tracepoint("sys_enter")
def paths(ctx) -> int:
    task = current_task()
    out[0] = task.se.vruntime               # embedded struct, then a field
    out[1] = task.thread.sp                 # another embedded struct
    out[2] = task.real_parent.pid           # a pointer hop, then a field
    return 0
'''


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("paths") / "paths.py"
    path.write_text(SOURCE)
    return compile_module(load_module(path))


def offset_of(struct: str, path: str) -> int:
    from pybpf.lang.types import vmlinux

    btf = vmlinux()
    t = btf.get_named(struct, "struct")
    total = 0
    for name in path.split("."):
        m = next(m for m in btf.resolve(t.id).members if m.name == name)
        total += m.bit_offset // 8
        t = btf.resolve(m.type_id)
    return total


def test_embedded_structs_are_walked_not_copied(compiled):
    prog = compiled.object_spec().programs["paths"]
    assert len(prog.instructions) < 120          # no zeroing of a copied struct
    sizes = {insn.imm for insn in prog.instructions
             if getattr(insn, "imm", None) is not None}
    assert not sizes & {256, 512}                # no probe_read of a whole struct


def test_the_vm_reads_them_where_vmlinux_puts_them(compiled):
    from pybpf import vm
    from pybpf.lang.types import vmlinux

    btf = vmlinux()
    machine = vm.VM()
    parent = bytearray(btf.size_of(btf.get_named("task_struct", "struct").id))
    task = bytearray(len(parent))

    def put(image: bytearray, path: str, value: int, size: int) -> None:
        at = offset_of("task_struct", path)
        image[at:at + size] = value.to_bytes(size, "little")

    put(parent, "pid", 77, 4)
    put(task, "se.vruntime", 123456789, 8)
    put(task, "thread.sp", 0xFFFF_C900_0000_1000, 8)
    put(task, "real_parent", machine.memory.map_buffer(parent, "parent").start, 8)
    machine.env.task = machine.memory.map_buffer(task, "task").start
    coll = vm.load(compiled.object_spec(), vm=machine)
    assert coll.programs["paths"].test_run(ctx=bytes(16)).retval == 0
    out = coll.maps["out"]
    assert [out[i] for i in range(3)] == [123456789, 0xFFFF_C900_0000_1000, 77]


@pytest.mark.kernel("test_run")
def test_the_kernel_reads_the_callers_vruntime(compiled):
    from pybpf import kernel

    with kernel.load(compiled.object_spec()) as coll:
        assert coll.programs["paths"].test_run(ctx=bytes(16)).retval == 0
        out = coll.maps["out"]
        assert out[0] > 0 and out[1] > 0
        assert out[2] > 0                        # pytest's parent


U8_FIELD = '''
from pybpf.lang import Array, current_task, kernel, ptr, raw_tracepoint, u32, u64

out = Array[u32, u64](max_entries=2)


@raw_tracepoint("sys_enter")
def ttl(ctx) -> int:
    iph = ptr[kernel.iphdr](current_task())     # the VM test plants an iphdr there
    out[0] = iph.ttl
    out[1] = iph.protocol
    return 0
'''


def test_an_unsigned_char_field_is_a_number_not_a_signed_char(tmp_path):
    """BTF encodes ``char`` and ``unsigned char`` alike; ``iphdr.ttl`` (a
    ``__u8``) of 200 read as -56 widened to 64 bits when every one-byte
    ``*char`` type became the signed character type."""
    from pybpf import vm
    from pybpf.lang.types import U8, kernel_struct

    assert kernel_struct("iphdr").member("ttl").ctype == U8
    path = tmp_path / "ttl.py"
    path.write_text(U8_FIELD)
    machine = vm.VM()
    header = bytearray(20)
    header[offset_of("iphdr", "ttl")] = 200
    header[offset_of("iphdr", "protocol")] = 17
    machine.env.task = machine.memory.map_buffer(header, "iphdr").start
    coll = vm.load(compile_module(load_module(path)).object_spec(), vm=machine)
    coll.programs["ttl"].test_run(ctx=bytes(16))
    assert (coll.maps["out"][0], coll.maps["out"][1]) == (200, 17)
