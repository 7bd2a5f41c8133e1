"""Loading ObjectSpecs into the kernel, pins, links, BTF objects and the
inspection walkers."""

from __future__ import annotations

import errno
import gc
import os
import shutil
import struct
import time

import pytest

from pybpf import assemble
from pybpf.errors import BPFError, KernelError, VerifierError
from pybpf.kernel import (
    KernelBTF,
    KernelMap,
    KernelProgram,
    info,
    link_create,
    load,
    raw_tracepoint_open,
)
from pybpf.kernel.pins import is_bpffs, open_pinned, unpin
from pybpf.objects import MapReference, MapSpec, ObjectSpec, ProgramSpec

pytestmark = pytest.mark.kernel

PACKET = bytes(64)



@pytest.fixture
def pin_dir():
    path = f"/sys/fs/bpf/pybpf-test-{os.getpid()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# A counter: look up key 0 of the map, add 1, return the new value.
COUNT = """
    r1 = 0 ll
    r2 = r10
    r2 += -4
    *(u32 *)(r10 - 4) = 0
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    r0 = *(u64 *)(r0 + 0)
    exit
out:
    r0 = 0
    exit
"""


def counter_spec(**map_fields) -> ObjectSpec:
    prog = ProgramSpec.from_assembly("count", COUNT, type="socket_filter",
                                     map_references=[MapReference(0, "counts")])
    return ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1, **map_fields)])


def test_load_resolves_map_references():
    with load(counter_spec()) as coll:
        prog = coll.programs["count"]
        assert [prog.test_run(PACKET).retval for _ in range(3)] == [1, 2, 3]
        assert coll.maps["counts"][0] == (3).to_bytes(8, "little")
        assert prog.info().map_ids == (coll.maps["counts"].info().id,)


def test_map_idx_loads_and_global_data():
    # map[idx:1][0]+4 reads 4 bytes at offset 4 of the second map's value (.rodata)
    text = """
        r1 = map[idx:1][0]+4 ll
        r0 = *(u32 *)(r1 + 0)
        r2 = map[idx:0] ll
        exit
    """
    prog = ProgramSpec.from_assembly("read", text, type="socket_filter")
    rodata = MapSpec(".rodata", "array", 4, 8, 1, flags=1 << 7, section=".rodata",
                     freeze=True, contents=[(0, struct.pack("<II", 1, 0xC0FFEE))])
    spec = ObjectSpec.build([prog], [MapSpec("unused", "hash", 4, 4, 1), rodata])
    with load(spec) as coll:
        assert coll.programs["read"].test_run(PACKET).retval == 0xC0FFEE
        ro = coll.maps[".rodata"]
        assert ro.info().frozen is True
        with pytest.raises(KernelError):
            ro[0] = bytes(8)


def test_value_reference_with_offset():
    prog = ProgramSpec.from_assembly("read", "r1 = 0 ll\nr0 = *(u32 *)(r1 + 0)\nexit",
                                     map_references=[MapReference(0, ".data", True, 8)])
    data = MapSpec(".data", "array", 4, 12, 1, contents=[(0, struct.pack("<III", 1, 2, 77))])
    with load(ObjectSpec.build([prog], [data])) as coll:
        assert coll.programs["read"].test_run(PACKET).retval == 77


def test_prog_array_filled_by_program_name():
    main = ProgramSpec.from_assembly("main", """
        r2 = map[idx:0] ll
        r3 = 1
        call 12
        r0 = 7
        exit
    """, type="socket_filter")
    callee = ProgramSpec.from_assembly("callee", "r0 = 42\nexit", type="socket_filter")
    jumps = MapSpec("jumps", "prog_array", 4, 4, 2, contents=[(1, "callee")])
    with load(ObjectSpec.build([main, callee], [jumps])) as coll:
        assert coll.programs["main"].test_run(PACKET).retval == 42  # tail call taken
        assert int.from_bytes(coll.maps["jumps"][1], "little") == coll.programs["callee"].id


def test_map_of_maps_with_inner_template():
    prog = ProgramSpec.from_assembly("get", """
        r1 = map[idx:0] ll
        r2 = r10
        r2 += -4
        *(u32 *)(r10 - 4) = 0
        call 1
        if r0 == 0 goto none
        r1 = r0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto none
        r0 = *(u32 *)(r0 + 0)
        exit
    none:
        r0 = 99
        exit
    """)
    inner = MapSpec("inner", "array", 4, 4, 1, contents=[(0, 31)])
    outer = MapSpec("outer", "array_of_maps", 4, 4, 1, inner=MapSpec("tmpl", "array", 4, 4, 1),
                    contents=[(0, "inner")])
    with load(ObjectSpec.build([prog], [outer, inner])) as coll:
        assert coll.programs["get"].test_run(PACKET).retval == 31


def test_pinning_by_name_reuses_the_map(pin_dir):
    spec = counter_spec(pinning="by_name")
    with load(spec, pin_dir=pin_dir) as coll:
        coll.programs["count"].test_run(PACKET)
        assert is_bpffs(pin_dir) and os.path.exists(f"{pin_dir}/counts")
    with load(spec, pin_dir=pin_dir) as coll:  # the pinned map, with its count
        assert coll.programs["count"].test_run(PACKET).retval == 2
    bigger = counter_spec(pinning="by_name")
    bigger.maps["counts"].max_entries = 2
    with pytest.raises(BPFError, match="does not match the spec"):
        load(bigger, pin_dir=pin_dir)


def test_failed_load_closes_what_it_created():
    before = open_fds()
    bad = ProgramSpec.from_assembly("bad", "r0 = r7\nexit")
    spec = counter_spec()
    spec.programs["bad"] = bad
    with pytest.raises(VerifierError, match="program 'bad'"):
        load(spec)
    missing = ProgramSpec.from_assembly("m", "r1 = 0 ll\nexit",
                                        map_references=[MapReference(0, "nope")])
    with pytest.raises(BPFError, match="map 'nope', which the object does not have"):
        load(ObjectSpec.build([missing], [MapSpec("x", "array", 4, 4, 1)]))
    gc.collect()
    assert open_fds() == before


def test_collections_do_not_leak_fds():
    before = open_fds()
    for _ in range(10):
        with load(counter_spec()) as coll:
            coll.programs["count"].test_run(PACKET)
    assert open_fds() == before


def test_log_level_keeps_each_programs_log():
    with load(counter_spec(), log_level=2) as coll:
        assert "5: (85) call bpf_map_lookup_elem#1" in coll.programs["count"].log


# --- pins, BTF, links, info ------------------------------------------------------

def test_pin_and_open_a_map(pin_dir):
    with KernelMap.create("hash", 4, 4, 4, name="pinned", value_codec="int") as m:
        m[1] = 5
        m.pin(f"{pin_dir}/sub/m")
    again = open_pinned(f"{pin_dir}/sub/m")
    with again:
        assert isinstance(again, KernelMap) and again.name == "pinned"
        assert again[1] == (5).to_bytes(4, "little")
    unpin(f"{pin_dir}/sub/m")
    with pytest.raises(KernelError, match="nothing is pinned"):
        KernelMap.from_pin(f"{pin_dir}/sub/m")


def test_mount_a_bpffs_and_pin_in_it(tmp_path):
    import ctypes

    from pybpf.kernel.pins import mount_bpffs

    where = str(tmp_path / "bpffs")
    assert mount_bpffs(where) == where and is_bpffs(where)
    try:
        assert mount_bpffs(where) == where  # mounted already: nothing to do
        with KernelMap.create("array", 4, 4, 1, name="in_tmp") as m:
            m.pin(f"{where}/m")
        with open_pinned(f"{where}/m") as again:
            assert again.name == "in_tmp"
    finally:
        assert ctypes.CDLL(None, use_errno=True).umount2(where.encode(), 2) == 0  # MNT_DETACH
    assert not is_bpffs(where)


def test_pinning_outside_bpffs_is_refused(tmp_path):
    with KernelMap.create("array", 4, 4, 1) as m, pytest.raises(BPFError, match="not in a bpf"):
        m.pin(str(tmp_path / "m"))


def int_btf() -> tuple[bytes, int]:
    from pybpf.btf import BTFBuilder

    b = BTFBuilder()
    tid = b.add_int("int", 4, signed=True)
    return b.to_bytes(), tid


def test_btf_objects():
    data, _ = int_btf()
    with KernelBTF.load(data) as btf:
        assert btf.raw() == data
        rec = btf.info()
        assert rec.size == len(data) and not rec.kernel_btf
        assert rec.id in {b.id for b in info.btfs()}
        with KernelBTF.from_id(rec.id) as again:
            assert again.raw() == data
    with pytest.raises(VerifierError) as e:
        KernelBTF.load(data[:-3] + b"\xff\xff\xff")  # unterminated string section
    assert e.value.operation == "BPF_BTF_LOAD" and e.value.log


def test_kernel_btf_is_listed():
    vmlinux = [b for b in info.btfs() if b.name == "vmlinux"]
    assert len(vmlinux) == 1 and vmlinux[0].kernel_btf and vmlinux[0].size > 1 << 20


def test_raw_tracepoint_link_counts_context_switches():
    spec = counter_spec()
    spec.programs["count"].type = "raw_tracepoint"
    with load(spec) as coll:
        prog = coll.programs["count"]
        with raw_tracepoint_open(prog, "sched_switch") as link:
            time.sleep(0.02)
            details = link.info()
            assert details.type == "raw_tracepoint" and details.prog_id == prog.id
            assert details.details["tp_name"] == "sched_switch"
            assert link.id in {x.id for x in info.links()}
        seen = int.from_bytes(coll.maps["counts"][0], "little")
        assert seen > 0
        time.sleep(0.02)  # detached: no more counting
        assert int.from_bytes(coll.maps["counts"][0], "little") == seen


def test_xdp_link_create_update_and_detach():
    with KernelProgram.load(assemble("r0 = 2\nexit"), "xdp", name="a") as a, \
            KernelProgram.load(assemble("r0 = 2\nexit"), "xdp", name="b") as b:
        lo = socket_if_nametoindex("lo")
        with link_create(a, target_ifindex=lo, attach_type="xdp") as link:
            assert link.info().details == {"ifindex": lo}
            assert link.info().prog_id == a.id
            link.update(b)
            assert link.info().prog_id == b.id
            with pytest.raises(KernelError):
                link.update(a, old_program=a)  # a is no longer attached
            link.detach()
            assert link.info().details == {"ifindex": 0}  # no longer on the device
            with pytest.raises(KernelError) as e:
                link.update(a)
            assert e.value.errno == errno.ENOLINK


def socket_if_nametoindex(name: str) -> int:
    import socket

    return socket.if_nametoindex(name)


def test_program_and_map_walkers():
    with load(counter_spec()) as coll:
        prog = coll.programs["count"]
        mine = [p for p in info.programs() if p.id == prog.id]
        assert len(mine) == 1 and mine[0].name == "count" and mine[0].type == "socket_filter"
        assert mine[0].map_ids == (coll.maps["counts"].info().id,)
        assert abs(mine[0].loaded_at.timestamp() - time.time()) < 60
        maps = {m.id: m for m in info.maps()}
        m = maps[coll.maps["counts"].info().id]
        assert (m.name, m.type, m.key_size, m.value_size, m.max_entries) == \
            ("counts", "array", 4, 8, 1)


def test_run_statistics_while_enabled():
    from pybpf.kernel.sys import enable_stats

    with KernelProgram.load(assemble("r0 = 0\nexit"), "xdp") as p:
        with enable_stats():
            p.test_run(PACKET, repeat=5)
        stats = p.info()
        assert stats.run_cnt == 5 and stats.run_time_ns > 0


def test_bpf_map_iterator_writes_one_byte_per_map():
    from pybpf.btf import BTF
    from pybpf.kernel.sys import iter_create
    from pybpf.spec.layout import helper_id

    # ctx is struct bpf_iter__bpf_map {meta; map}; meta->seq is the output
    text = f"""
        r6 = *(u64 *)(r1 + 0)
        r7 = *(u64 *)(r1 + 8)
        if r7 == 0 goto out
        r1 = *(u64 *)(r6 + 0)
        r2 = 77
        *(u64 *)(r10 - 8) = r2
        r2 = r10
        r2 += -8
        r3 = 1
        call {helper_id("seq_write")}
    out:
        r0 = 0
        exit
    """
    target = BTF.load_vmlinux().find_ids("bpf_iter_bpf_map")[0]
    with KernelMap.create("array", 4, 4, 1) as m, KernelProgram.load(
            assemble(text), "tracing", expected_attach_type="trace_iter",
            attach_btf_id=target, name="maps_iter") as prog, \
            link_create(prog, 0, "trace_iter") as link:
        assert link.info().details["target_name"] == "bpf_map"
        before = len(list(info.maps()))
        with iter_create(link.fd) as out:
            data = b""
            while chunk := os.read(int(out), 4096):
                data += chunk
        after = len(list(info.maps()))
        # other processes may create or free maps meanwhile: bounds, not equality
        assert set(data) == {ord("M")}
        assert min(before, after) - 8 <= len(data) <= max(before, after) + 8
        assert m.info().id in {x.id for x in info.maps()}


def test_btf_described_maps_and_source_lines():
    from pybpf.btf import BTFBuilder, FuncInfo, LineInfo

    b = BTFBuilder()
    i = b.add_int("int", 4, signed=True)
    pair = b.add_struct("pair", 8, [("a", i, 0), ("b", i, 32)])
    ctx = b.add_ptr(0)
    proto = b.add_func_proto(i, [("ctx", ctx)])
    func = b.add_func("prog", proto, linkage=0)
    b.add_string("t.c")
    b.add_string("return 7;")
    btf = b.build()
    prog = ProgramSpec.from_assembly(
        "prog", "r0 = 7\nexit", func_info=[FuncInfo(0, func)],
        line_info=[LineInfo(0, "t.c", "return 7;", 3, 5)])
    m = MapSpec("pairs", "hash", 4, 8, 4, key_type=btf[i], value_type=btf[pair],
                contents=[(1, struct.pack("<ii", -1, 2))])
    spec = ObjectSpec.build([prog], [m])
    spec.btf = btf
    with load(spec, log_level=2) as coll:
        pairs = coll.maps["pairs"]
        assert pairs[1] == {"a": -1, "b": 2}
        assert dict(pairs.items()) == {1: {"a": -1, "b": 2}}
        rec = pairs.info()
        assert (rec.btf_key_type_id, rec.btf_value_type_id) == (i, pair)
        assert rec.btf_id == coll.btf.id
        p = coll.programs["prog"]
        assert "; return 7; @ t.c:3" in p.log
        assert p.info().btf_id == coll.btf.id
        assert p.test_run(PACKET).retval == 7


def cgroup2_root() -> str | None:
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    return None


def test_cgroup_prog_attach_query_detach():
    from pybpf.kernel import sys as ksys
    from pybpf.kernel.programs import attach_type_id
    from pybpf.spec.defines import BPF_F_ALLOW_MULTI

    root = cgroup2_root()
    if root is None:
        pytest.skip("no cgroup2 mount")
    path = os.path.join(root, f"pybpf-test-{os.getpid()}")
    os.mkdir(path)
    ingress = attach_type_id("cgroup_inet_ingress")
    try:
        cg = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with KernelProgram.load(assemble("r0 = 1\nexit"), "cgroup_skb",
                                    expected_attach_type="cgroup_inet_ingress") as p:
                ksys.prog_attach(target_fd=cg, attach_bpf_fd=p.fd, attach_type=ingress,
                                 attach_flags=BPF_F_ALLOW_MULTI)
                q, ids = ksys.prog_query(target_fd=cg, attach_type=ingress)
                assert ids == [p.id] and q.attach_flags == BPF_F_ALLOW_MULTI
                ksys.prog_detach(target_fd=cg, attach_bpf_fd=p.fd, attach_type=ingress)
                assert ksys.prog_query(target_fd=cg, attach_type=ingress)[1] == []
                with pytest.raises(KernelError) as e:
                    ksys.prog_detach(target_fd=cg, attach_bpf_fd=p.fd, attach_type=ingress)
                assert e.value.errno == errno.ENOENT
        finally:
            os.close(cg)
    finally:
        os.rmdir(path)
