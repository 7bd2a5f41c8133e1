"""CO-RE relocation resolution and instruction patching."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from btf_samples import vmlinux, zig_cc
from pybpf.btf import BTF, BTFBuilder, BTFExt, CoreRelo
from pybpf.btf._elf import elf_sections
from pybpf.btf.core import (
    POISON_HELPER_ID,
    CoreError,
    CoreResolver,
    RelocKind,
    essential_name,
    is_poison,
    poison_messages,
    relocate,
    types_compatible,
    types_match,
)
from pybpf.isa import Insn, decode

K = RelocKind


def _pair():
    """A local BTF (what the program was compiled against) and a target
    (the "kernel") where things moved, grew, were renamed or vanished."""
    loc = BTFBuilder()
    i32 = loc.add_int("int", 4, signed=True)
    u32 = loc.add_int("unsigned int", 4)
    u64 = loc.add_int("unsigned long", 8)
    arr = loc.add_array(i32, 4)
    flex = loc.add_array(i32, 0)
    task = loc.add_struct("task", 40, [("pid", i32, 0), ("flags", u32, 32), ("gone", i32, 64),
                                       ("vals", arr, 96), ("mode", u32, 224, 3),
                                       ("neg", i32, 227, 5), ("size", u32, 256),
                                       ("tail", flex, 288)])
    task_old = loc.add_struct("task___old", 8, [("pid", i32, 0), ("state", i32, 32)])
    color = loc.add_enum("color___mine", {"RED": 1, "BLUE": 2, "PURPLE": 9})
    ghost = loc.add_struct("ghost", 4, [("x", i32, 0)])
    ptr = loc.add_ptr(task)
    local_ids = dict(i32=i32, u32=u32, u64=u64, task=task, task_old=task_old, color=color,
                     ghost=ghost, ptr=ptr)

    tgt = BTFBuilder()
    t_i32 = tgt.add_int("int", 4, signed=True)
    t_u32 = tgt.add_int("unsigned int", 4)
    t_u64 = tgt.add_int("long unsigned int", 8)
    t_arr = tgt.add_array(t_i32, 8)
    t_flex = tgt.add_array(t_i32, 0)
    inner = tgt.add_struct("", 8, [("flags", t_u64, 0)])
    t_task = tgt.add_struct("task", 96, [
        ("state", t_i32, 0), ("pid", t_i32, 32), ("", inner, 64), ("vals", t_arr, 128),
        ("mode", t_u32, 384, 3), ("neg", t_i32, 387, 5), ("size", t_u64, 448),
        ("tail", t_flex, 512)])
    t_color = tgt.add_enum("color", {"BLUE": 20, "RED": 10})
    target_ids = dict(task=t_task, color=t_color, u64=t_u64)
    return loc.build(), local_ids, tgt.build(), target_ids


def _resolve(kind, type_key, access, insn_off=0):
    local, lids, target, _ = _pair()
    return CoreResolver(local, target).resolve(CoreRelo(insn_off, lids[type_key], access, kind))


def test_essential_names():
    assert essential_name("task_struct___old") == "task_struct"
    assert essential_name("a___b___c") == "a___b"
    assert essential_name("task_struct") == "task_struct"
    assert essential_name("__x___") == "__x___"
    assert essential_name("x____y") == "x____y"  # the separator needs non-'_' on both sides


def test_field_offsets_follow_the_target():
    r = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:0")
    assert (r.local_value, r.target_value, r.poisoned) == (0, 4, False)
    assert r.description == "[6] struct task.pid (0:0)"
    assert r.target_description == "[7] struct task.pid (0:1 @ offset 4)"
    assert str(r) == "byte_off [6] struct task.pid (0:0): 0 -> 4"
    flags = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:1")
    assert flags.target_value == 8  # found inside an anonymous struct
    assert flags.target_description.endswith("(0:2:0 @ offset 8)")
    elem = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:3:2")
    assert (elem.local_value, elem.target_value) == (20, 24)
    root = _resolve(K.FIELD_BYTE_OFFSET, "task", "1")
    assert (root.local_value, root.target_value) == (40, 96)
    flexible = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:7:5")
    assert (flexible.local_value, flexible.target_value) == (56, 84)


def test_field_sizes_signedness_and_existence():
    assert _resolve(K.FIELD_BYTE_SIZE, "task", "0:6").target_value == 8
    assert _resolve(K.FIELD_BYTE_SIZE, "task", "0:3").target_value == 32
    assert _resolve(K.FIELD_SIGNED, "task", "0:0").target_value == 1
    assert _resolve(K.FIELD_SIGNED, "task", "0:1").target_value == 0
    assert _resolve(K.FIELD_EXISTS, "task", "0:0").target_value == 1
    gone = _resolve(K.FIELD_EXISTS, "task", "0:2")
    assert (gone.local_value, gone.target_value, gone.poisoned) == (1, 0, False)
    poisoned = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:2")
    assert poisoned.poisoned and poisoned.local_value == 8
    assert "poisoned" in str(poisoned)
    assert _resolve(K.FIELD_BYTE_OFFSET, "task_old", "0:0").target_value == 4  # flavor
    assert _resolve(K.FIELD_BYTE_OFFSET, "task_old", "0:1").target_value == 0


def test_bitfield_shifts():
    # target: mode at bit 384 (3 bits), neg at bit 387 (5 bits, signed)
    off = _resolve(K.FIELD_BYTE_OFFSET, "task", "0:4")
    assert (off.target_value, off.validate) == (48, False)
    assert _resolve(K.FIELD_BYTE_SIZE, "task", "0:4").target_value == 4
    lshift = _resolve(K.FIELD_LSHIFT_U64, "task", "0:5")
    assert lshift.target_value == 64 - (387 + 5 - 48 * 8)
    assert _resolve(K.FIELD_RSHIFT_U64, "task", "0:5").target_value == 64 - 5
    assert _resolve(K.FIELD_SIGNED, "task", "0:5").target_value == 1


def test_type_relocations():
    assert _resolve(K.TYPE_EXISTS, "task", "0").target_value == 1
    assert _resolve(K.TYPE_SIZE, "task", "0").target_value == 96
    assert _resolve(K.TYPE_ID_TARGET, "task", "0").target_value == 7
    local = _resolve(K.TYPE_ID_LOCAL, "task", "0")
    assert (local.local_value, local.target_value, local.validate) == (6, 6, False)
    missing = _resolve(K.TYPE_SIZE, "ghost", "0")
    assert (missing.local_value, missing.target_value, missing.poisoned) == (4, 0, False)
    assert _resolve(K.TYPE_EXISTS, "ghost", "0").target_value == 0
    assert _resolve(K.TYPE_MATCHES, "task", "0").target_value == 0  # members differ


def test_enum_value_relocations():
    blue = _resolve(K.ENUMVAL_VALUE, "color", "1")
    assert (blue.local_value, blue.target_value) == (2, 20)
    assert blue.description == "[8] enum color___mine::BLUE = 2"
    assert _resolve(K.ENUMVAL_EXISTS, "color", "2").target_value == 0
    purple = _resolve(K.ENUMVAL_VALUE, "color", "2")
    assert purple.poisoned


def test_bad_relocations_raise():
    local, lids, target, _ = _pair()
    r = CoreResolver(local, target)
    with pytest.raises(CoreError, match="malformed"):
        r.resolve(CoreRelo(0, lids["task"], "0:x", 0))
    with pytest.raises(CoreError, match="no member #99"):
        r.resolve(CoreRelo(0, lids["task"], "0:99", 0))
    with pytest.raises(CoreError, match="unknown CO-RE relocation kind 77"):
        r.resolve(CoreRelo(0, lids["task"], "0", 77))
    with pytest.raises(CoreError, match="expected '0'"):
        r.resolve(CoreRelo(0, lids["task"], "0:1", K.TYPE_SIZE))


def test_candidates_must_agree():
    local, lids, _, _ = _pair()
    tgt = BTFBuilder()
    i32 = tgt.add_int("int", 4, signed=True)
    tgt.add_struct("task", 8, [("pid", i32, 0)])
    tgt.add_struct("task___v2", 8, [("x", i32, 0), ("pid", i32, 32)])
    target = tgt.build()
    with pytest.raises(CoreError, match="ambiguity"):
        CoreResolver(local, target).resolve(CoreRelo(0, lids["task"], "0:0", 0))
    tgt2 = BTFBuilder()
    i32 = tgt2.add_int("int", 4, signed=True)
    tgt2.add_struct("task", 8, [("pid", i32, 0)])
    tgt2.add_struct("task___v2", 8, [("pid", i32, 0), ("x", i32, 32)])
    agreed = CoreResolver(local, tgt2.build()).resolve(CoreRelo(0, lids["task"], "0:0", 0))
    assert agreed.target_value == 0


def test_first_target_with_candidates_wins():
    local, lids, target, _ = _pair()
    other = BTFBuilder()
    other.add_struct("task", 4, [("pid", other.add_int("int", 4, signed=True), 0)])
    r = CoreResolver(local, [target, other.build()])
    assert r.resolve(CoreRelo(0, lids["task"], "0:0", 0)).target_value == 4
    r2 = CoreResolver(local, [other.build(), target])
    assert r2.resolve(CoreRelo(0, lids["task"], "0:0", 0)).target_value == 0


def test_compat_and_match_relations():
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    u32 = b.add_int("unsigned int", 4)
    s1 = b.add_struct("s", 4, [("a", i32, 0)])
    s2 = b.add_struct("s", 8, [("a", i32, 0), ("b", i32, 32)])
    s3 = b.add_struct("s", 4, [("a", u32, 0)])
    fwd = b.add_fwd("s")
    p1, pf = b.add_ptr(s1), b.add_ptr(fwd)
    e4 = b.add_enum("e", {"A": 1, "B": 2})
    e8 = b.add_enum("e", {"B": 5, "A": 6, "C": 1 << 40}, size=8)
    e4b = b.add_enum("e", {"A": 1, "B": 2, "C": 3})
    btf = b.build()
    assert types_compatible(btf, s1, btf, s2) and types_compatible(btf, i32, btf, u32)
    assert types_match(btf, s1, btf, s2)          # local members all present
    assert not types_match(btf, s2, btf, s1)      # target lacks b
    assert not types_match(btf, s1, btf, s3)      # int vs unsigned int
    assert types_match(btf, p1, btf, pf)          # behind a pointer a fwd will do
    assert not types_match(btf, s1, btf, fwd)
    assert not types_match(btf, e4, btf, e8)      # enum sizes differ
    assert types_match(btf, e4, btf, e4b) and not types_match(btf, e4b, btf, e4)


def test_integers_match_by_size_and_signedness_not_by_name():
    """libbpf documents TYPE_MATCHES integers as matching when size and
    signedness do: compilers and pahole spell the same type differently."""
    local, target = BTFBuilder(), BTFBuilder()
    ul = local.add_int("unsigned long", 8)
    lu = target.add_int("long unsigned int", 8)
    sl = target.add_int("long int", 8, signed=True)
    u32 = target.add_int("unsigned int", 4)
    ls = local.add_struct("s", 8, [("a", ul, 0)])
    ts = target.add_struct("s", 8, [("a", lu, 0)])
    td = local.add_typedef("u64_t", ul)
    lb, tb = local.build(), target.build()
    assert types_match(lb, ul, tb, lu) and types_match(lb, td, tb, lu)
    assert types_match(lb, ls, tb, ts)                 # a member of another spelling
    assert not types_match(lb, ul, tb, sl)             # signedness differs
    assert not types_match(lb, ul, tb, u32)            # size differs
    assert not types_match(lb, ul, tb, ts)             # not an integer at all


def _program():
    return [Insn(0xB7, 1, 0, 0, 0),          # r1 = 0            (byte_off pid)
            Insn(0x61, 2, 1, 4, 0),          # r2 = *(u32 *)(r1 + 4)   (flags)
            *Insn.lddw(3, 2),                # r3 = 2            (enum BLUE)
            Insn(0x61, 4, 1, 32, 0),         # r4 = *(u32 *)(r1 + 32)  (size)
            Insn(0xB7, 5, 0, 0, 8),          # r5 = 8            (gone: poisoned)
            *Insn.lddw(6, 9),                # r6 = PURPLE       (poisoned)
            Insn(0x95)]


def _relos(lids):
    return [CoreRelo(0, lids["task"], "0:0", K.FIELD_BYTE_OFFSET),
            CoreRelo(8, lids["task"], "0:1", K.FIELD_BYTE_OFFSET),
            CoreRelo(16, lids["color"], "1", K.ENUMVAL_VALUE),
            CoreRelo(32, lids["task"], "0:6", K.FIELD_BYTE_OFFSET),
            CoreRelo(40, lids["task"], "0:2", K.FIELD_BYTE_OFFSET),
            CoreRelo(48, lids["color"], "2", K.ENUMVAL_VALUE)]


def test_patching_instructions():
    local, lids, target, _ = _pair()
    patched, results = relocate(_program(), _relos(lids), local, target)
    assert patched[0] == Insn(0xB7, 1, 0, 0, 4)
    # flags grew from u32 to an unsigned 64-bit field: the load widens
    assert patched[1] == Insn(0x79, 2, 1, 8, 0)
    assert (patched[2].imm, patched[3].imm) == (20, 0)
    # size: u32 -> long unsigned int, also widened
    assert patched[4] == Insn(0x79, 4, 1, 56, 0)
    assert is_poison(patched[5]) and patched[5].imm == POISON_HELPER_ID
    assert is_poison(patched[6]) and is_poison(patched[7])  # both lddw slots
    assert patched[8] == Insn(0x95)
    assert [r.poisoned for r in results] == [False, False, False, False, True, True]
    messages = poison_messages(results)
    assert sorted(messages) == [5, 6]
    assert messages[5] == ("insn 5: unresolved CO-RE relocation byte_off [6] struct task.gone "
                           "(0:2): not found in the target BTF")


def test_patching_checks_the_compiled_value():
    local, lids, target, _ = _pair()
    prog = _program()
    prog[0] = Insn(0xB7, 1, 0, 0, 123)
    with pytest.raises(CoreError, match="expected immediate 0, found 123"):
        relocate(prog, _relos(lids)[:1], local, target)
    patched, _ = relocate(prog, _relos(lids)[:1], local, target, validate=False)
    assert patched[0].imm == 4
    with pytest.raises(CoreError, match="cannot take a relocated value"):
        relocate([Insn(0xBF, 1, 2, 0, 0)], _relos(lids)[:1], local, target)


def test_signed_field_that_changes_size_is_poisoned():
    loc = BTFBuilder()
    loc.add_struct("s", 4, [("v", loc.add_int("int", 4, signed=True), 0)])
    tgt = BTFBuilder()
    tgt.add_struct("s", 8, [("v", tgt.add_int("long", 8, signed=True), 0)])
    local, target = loc.build(), tgt.build()
    patched, results = relocate([Insn(0x61, 1, 2, 0, 0)], [CoreRelo(0, 2, "0:0", 0)], local,
                                target)
    assert results[0].resize_unsafe and is_poison(patched[0])


# ------------------------------------------------- compiled programs, real kernel

CORE_PROGRAM = r"""
#include "vmlinux.h"
#define SEC(n) __attribute__((section(n), used))
struct task_struct___old { int pid; long gone_field; } __attribute__((preserve_access_index));
struct not_in_kernel { int x; } __attribute__((preserve_access_index));
enum bpf_map_type___mine { BPF_MAP_TYPE_RINGBUF___mine = 99, NOT_A_MAP_TYPE = 5 };
SEC("kprobe/x")
long prog(struct task_struct *t)
{
    long out = 0;
    out += __builtin_preserve_field_info(t->pid, 0);
    out += __builtin_preserve_field_info(t->real_parent, 0);
    out += __builtin_preserve_field_info(t->comm, 1);
    out += __builtin_preserve_field_info(t->comm[3], 0);
    out += __builtin_preserve_field_info(t->pid, 2);
    out += __builtin_preserve_field_info(((struct task_struct___old *)t)->gone_field, 2);
    out += __builtin_preserve_field_info(((struct task_struct___old *)t)->gone_field, 0);
    out += __builtin_preserve_field_info(t->pid, 3);
    out += __builtin_preserve_type_info(*(struct task_struct *)0, 0);
    out += __builtin_preserve_type_info(*(struct task_struct *)0, 1);
    out += __builtin_preserve_type_info(*(struct not_in_kernel *)0, 0);
    out += __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)BPF_MAP_TYPE_RINGBUF___mine, 1);
    out += __builtin_preserve_enum_value(*(enum bpf_map_type___mine *)NOT_A_MAP_TYPE, 0);
    out += __builtin_btf_type_id(*t, 1);
    return out;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def core_object(tmp_path_factory):
    vm = vmlinux()
    d = tmp_path_factory.mktemp("core")
    (d / "vmlinux.h").write_text(vm.dump_c(types=["task_struct", "bpf_map_type"]))
    return zig_cc(CORE_PROGRAM, d, "core")


def test_compiled_program_against_the_running_kernel(core_object):
    vm = vmlinux()
    local = BTF.from_file(core_object)
    ext = BTFExt.from_file(core_object, local)
    relos = ext.core_relos["kprobe/x"]
    insns = decode(elf_sections(core_object.read_bytes(), ("kprobe/x",))["kprobe/x"])
    patched, results = relocate(insns, relos, local, vm)
    offsets = {r.description.split(".", 1)[1].split(" ")[0]: r.target_value
               for r in results if r.kind == K.FIELD_BYTE_OFFSET and not r.poisoned
               and "task_struct." in r.description}
    assert offsets == {"pid": vm.member_offset("task_struct", "pid"),
                       "real_parent": vm.member_offset("task_struct", "real_parent"),
                       "comm[3]": vm.member_offset("task_struct", "comm[3]")}
    kinds = {r.kind for r in results}
    assert kinds >= {K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_EXISTS, K.FIELD_SIGNED,
                     K.TYPE_EXISTS, K.TYPE_SIZE, K.ENUMVAL_VALUE, K.ENUMVAL_EXISTS,
                     K.TYPE_ID_TARGET}
    for r in results:
        if r.kind == K.TYPE_SIZE:
            assert r.target_value == vm.size_of("task_struct")
        if r.kind == K.ENUMVAL_VALUE:
            assert r.target_value == vm.enum_values("bpf_map_type")["BPF_MAP_TYPE_RINGBUF"]
        if r.kind == K.TYPE_ID_TARGET:
            assert r.target_value == vm.find("task_struct").id
        if r.kind == K.TYPE_EXISTS:
            assert r.target_value == (0 if "not_in_kernel" in r.description else 1)
    assert sum(r.poisoned for r in results) == 1  # gone_field's offset
    assert sum(is_poison(i) for i in patched) == 1


@pytest.mark.kernel
def test_agrees_with_libbpf(core_object, tmp_path):
    """Differential test: libbpf (inside bpftool) logs each relocation it
    applies while loading; every decision must equal ours."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    if not os.path.isdir("/sys/fs/bpf"):
        pytest.skip("no BPF file system at /sys/fs/bpf")
    vm = vmlinux()
    pin = f"/sys/fs/bpf/pybpf_core_test_{os.getpid()}"
    proc = subprocess.run([bpftool, "-d", "prog", "load", str(core_object), pin, "type", "kprobe"],
                          capture_output=True, text=True)
    if os.path.exists(pin):
        os.unlink(pin)
    log = proc.stdout + proc.stderr
    libbpf: dict[int, int | None] = {}
    for m in re.finditer(r"patched insn #(\d+) \(\S+\) imm(?:64)? (\d+) -> (\d+)", log):
        libbpf[int(m[1])] = int(m[3])
    for m in re.finditer(r"substituting insn #(\d+) w/ invalid insn", log):
        libbpf.setdefault(int(m[1]), None)
    if not libbpf:
        pytest.skip("this bpftool does not log CO-RE relocations")
    local = BTF.from_file(core_object)
    results = CoreResolver(local, vm).resolve_all(BTFExt.from_file(core_object).core_relos[
        "kprobe/x"])
    ours = {r.insn_index: (None if r.poisoned else r.target_value) for r in results}
    assert {k: ours.get(k) for k in libbpf} == libbpf


def test_relocation_kinds_match_the_kernel_enum():
    from pybpf.spec.layout import enum_values

    kernel = enum_values("bpf_core_relo_kind")
    assert {f"BPF_CORE_{k.name}": int(k) for k in RelocKind} == kernel
