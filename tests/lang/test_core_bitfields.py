"""Bitfields of kernel structs read through CO-RE: the byte offset, the load
size and the two shifts are relocations (``llvm.bpf.preserve.field.info``)
that pybpf's relocator fits to the running kernel's BTF, for the VM and for
the kernel — checked against images laid out from vmlinux BTF in the VM, and
against a bitfield the test sets (``task_struct.sched_reset_on_fork``) in
the kernel."""

from __future__ import annotations

import os
import threading

import pytest
from lang_util import HAVE_VMLINUX, bpftool_loadall

from pybpf.lang import CompileError
from pybpf.lang.compiler import compile_module, load_module

pytestmark = pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")

SOURCE = '''
from pybpf.lang import Array, current_task, kernel, ptr, raw_tracepoint, u32, u64

out = Array[u32, u64](max_entries=8)


@raw_tracepoint("sys_enter")
def read_bits(ctx) -> int:
    task = current_task()
    out[0] = task.sched_reset_on_fork
    out[1] = task.sched_contributes_to_load
    out[2] = task.in_execve
    out[3] = task.pid
    skb = ptr[kernel.sk_buff](task.stack)      # the VM test plants an sk_buff there
    out[4] = skb.fclone                        # 2 bits
    out[5] = skb.pkt_type                      # 3 bits
    return 0
'''

TASK_BITS = ("sched_reset_on_fork", "sched_contributes_to_load", "in_execve")
SKB_BITS = ("fclone", "pkt_type")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("bitfields") / "bits.py"
    path.write_text(SOURCE)
    return compile_module(load_module(path))


def members(struct: str) -> dict[str, tuple[int, int]]:
    """``name: (bit_offset, bits)`` of a vmlinux struct's members, those of
    its anonymous structs and unions included (``sk_buff.pkt_type`` is)."""
    from pybpf.lang.types import vmlinux

    btf = vmlinux()
    found: dict[str, tuple[int, int]] = {}

    def walk(type_id: int, base: int) -> None:
        for m in btf.resolve(type_id).members:
            if m.name:
                found.setdefault(m.name, (base + m.bit_offset, m.bitfield_size))
            else:
                walk(m.type_id, base + m.bit_offset)

    walk(btf.get_named(struct, "struct").id, 0)
    return found


def put_bits(image: bytearray, bit_offset: int, bits: int, value: int) -> None:
    """Write ``value`` into a little-endian bitfield of ``image``."""
    start, end = bit_offset // 8, (bit_offset + bits + 7) // 8
    word = int.from_bytes(image[start:end], "little")
    shift = bit_offset - start * 8
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((value << shift) & mask)
    image[start:end] = word.to_bytes(end - start, "little")


def image_of(struct: str, values: dict[str, int]) -> bytearray:
    """An image of ``struct`` whose storage words around the bitfields are
    all ones, then the chosen ``values`` written: a read that takes a
    neighbour's bits, or too many bits, sees the ones."""
    from pybpf.lang.types import vmlinux

    btf = vmlinux()
    image = bytearray(btf.size_of(btf.get_named(struct, "struct").id))
    layout = members(struct)
    for name in values:
        bit_offset, bits = layout[name]
        if bits:
            first = bit_offset // 64 * 8
            image[first:first + 8] = b"\xff" * 8
    for name, value in values.items():
        bit_offset, bits = layout[name]
        put_bits(image, bit_offset, bits or 64, value)
    return image


def test_the_fields_are_bitfields_of_this_kernel():
    task, skb = members("task_struct"), members("sk_buff")
    assert all(task[n][1] == 1 for n in TASK_BITS)
    assert (skb["fclone"][1], skb["pkt_type"][1]) == (2, 3)


def test_bitfield_reads_carry_field_info_relocations(compiled):
    from pybpf.btf.core import RelocKind

    relos = compiled.object_spec().programs["read_bits"].core_relocations
    kinds = {RelocKind(r.kind) for r in relos}
    assert {RelocKind.FIELD_BYTE_OFFSET, RelocKind.FIELD_BYTE_SIZE,
            RelocKind.FIELD_LSHIFT_U64, RelocKind.FIELD_RSHIFT_U64} <= kinds
    # four relocations per bitfield read (and none for the anonymous union
    # holding pkt_type: the offset counts from the sk_buff), one per plain field
    assert len(relos) == 4 * (len(TASK_BITS) + len(SKB_BITS)) + 2


def test_bitfields_read_in_the_vm_as_vmlinux_lays_them_out(compiled):
    from pybpf import vm

    machine = vm.VM()
    skb = image_of("sk_buff", {"fclone": 2, "pkt_type": 5})
    skb_region = machine.memory.map_buffer(skb, "sk_buff")
    task = image_of("task_struct", {"sched_reset_on_fork": 1, "sched_contributes_to_load": 0,
                                    "in_execve": 1, "pid": 4242,
                                    "stack": skb_region.start})
    machine.env.task = machine.memory.map_buffer(task, "task_struct").start
    coll = vm.load(compiled.object_spec(), vm=machine)
    assert coll.programs["read_bits"].test_run(ctx=bytes(16)).retval == 0
    out = coll.maps["out"]
    assert [out[i] for i in range(6)] == [1, 0, 1, 4242, 2, 5]


@pytest.mark.kernel("test_run")
def test_the_kernel_reads_a_bitfield_the_test_sets(compiled, tmp_path):
    """``sched_setscheduler(SCHED_RESET_ON_FORK)`` sets the calling thread's
    ``task_struct.sched_reset_on_fork``; a raw tracepoint program run by
    ``BPF_PROG_TEST_RUN`` from that thread reads it as 1, from another as 0."""
    from pybpf import kernel

    seen: dict[str, list[int]] = {}
    with kernel.load(compiled.object_spec()) as coll:
        prog, out = coll.programs["read_bits"], coll.maps["out"]

        def run(tag: str, reset_on_fork: bool) -> None:
            if reset_on_fork:
                os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK,
                                      os.sched_param(0))
            assert prog.test_run(ctx=bytes(16)).retval == 0
            seen[tag] = [out[i] for i in range(4)]
            seen[tag + " tid"] = [threading.get_native_id()]

        for tag, reset in (("plain", False), ("reset", True)):
            thread = threading.Thread(target=run, args=(tag, reset))
            thread.start()
            thread.join()
    # [1] (sched_contributes_to_load) keeps what the thread's last sleep left
    assert (seen["plain"][0], seen["plain"][2]) == (0, 0)
    assert (seen["reset"][0], seen["reset"][2]) == (1, 0)       # not in execve
    assert seen["plain"][3] == seen["plain tid"][0]
    assert seen["reset"][3] == seen["reset tid"][0]
    result = bpftool_loadall(compiled.elf, tmp_path)     # libbpf relocates them too
    assert result.returncode == 0, result.stderr


def test_a_bitfield_is_not_followed_or_addressed(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text('''
from pybpf.lang import Array, current_task, raw_tracepoint, u32, u64
from pybpf.lang.helpers import bpf_probe_read_kernel

out = Array[u32, u64](max_entries=1)


@raw_tracepoint("sys_enter")
def bad(ctx) -> int:
    task = current_task()
    out[0] = task.sched_reset_on_fork.x
    return 0
''')
    with pytest.raises(CompileError) as e:
        compile_module(load_module(path))
    assert e.value.line == 11
