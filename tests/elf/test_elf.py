"""pybpf.elf: BPF objects from zig and clang -> ObjectSpec.

The objects in tests/data are built from the sources beside them by
tests/data/build.sh, so these tests need no compiler."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from conftest import DATA
from pybpf.btf import BTF, Datasec, Func, Var
from pybpf.btf.core import RelocKind
from pybpf.elf import (
    ElfFile,
    extern_references_of,
    externs_of,
    load_object,
    resolve_kconfig,
)
from pybpf.elf.kconfig import (
    KconfigError,
    encode_value,
    kernel_version_code,
    parse_config,
)
from pybpf.errors import BPFError, ObjectError
from pybpf.isa import Insn
from pybpf.spec import enum_values
from pybpf.spec.sections import SECTIONS, SectionError, find_definition, lookup

RICH = [DATA / "rich.bpf.zig.o", DATA / "rich.bpf.clang.o"]
LEGACY = [DATA / "legacy.bpf.zig.o", DATA / "legacy.bpf.clang.o"]

CALL, LDDW = 0x85, 0x18


@pytest.fixture(params=RICH, ids=lambda p: p.name.split(".")[2])
def rich(request):
    return load_object(request.param)


# ------------------------------------------------------------------ sections


def test_section_table_names_exist_in_kernel_enums():
    prog_types = {k.removeprefix("BPF_PROG_TYPE_").lower() for k in enum_values("bpf_prog_type")}
    attach_types = {k.removeprefix("BPF_").lower() for k in enum_values("bpf_attach_type")}
    for d in SECTIONS:
        assert d.prog_type in prog_types, d
        assert d.attach_type is None or d.attach_type in attach_types, d


@pytest.mark.parametrize("section, expected", [
    ("tracepoint/sched/sched_process_exit", ("tracepoint", None, "sched/sched_process_exit", 0)),
    ("tp/syscalls/sys_enter_openat", ("tracepoint", None, "syscalls/sys_enter_openat", 0)),
    ("raw_tp/sched_switch", ("raw_tracepoint", None, "sched_switch", 0)),
    ("tp_btf/sched_switch", ("tracing", "trace_raw_tp", "sched_switch", 0)),
    ("kprobe/do_sys_openat2+16", ("kprobe", None, "do_sys_openat2+16", 0)),
    ("kretprobe/do_exit", ("kprobe", None, "do_exit", 0)),
    ("kprobe", ("kprobe", None, None, 0)),
    ("kprobe.multi/tcp_*", ("kprobe", "trace_kprobe_multi", "tcp_*", 0)),
    ("uprobe//bin/bash:readline", ("kprobe", None, "/bin/bash:readline", 0)),
    ("uretprobe.s//lib/libc.so.6:malloc", ("kprobe", None, "/lib/libc.so.6:malloc", 16)),
    ("usdt/./app:prov:probe", ("kprobe", None, "./app:prov:probe", 0)),
    ("fentry/do_unlinkat", ("tracing", "trace_fentry", "do_unlinkat", 0)),
    ("fexit.s/do_unlinkat", ("tracing", "trace_fexit", "do_unlinkat", 16)),
    ("fmod_ret/security_x", ("tracing", "modify_return", "security_x", 0)),
    ("lsm/file_open", ("lsm", "lsm_mac", "file_open", 0)),
    ("lsm.s/bprm_committed_creds", ("lsm", "lsm_mac", "bprm_committed_creds", 16)),
    ("iter/task", ("tracing", "trace_iter", "task", 0)),
    ("struct_ops/dctcp_init", ("struct_ops", None, "dctcp_init", 0)),
    ("xdp", ("xdp", "xdp", None, 0)),
    ("xdp.frags", ("xdp", "xdp", None, 32)),
    ("xdp/devmap", ("xdp", "xdp_devmap", None, 0)),
    ("xdp.frags/cpumap", ("xdp", "xdp_cpumap", None, 32)),
    ("tc", ("sched_cls", None, None, 0)),
    ("tc/ingress", ("sched_cls", "tcx_ingress", None, 0)),
    ("tcx/egress", ("sched_cls", "tcx_egress", None, 0)),
    ("classifier", ("sched_cls", None, None, 0)),
    ("action", ("sched_act", None, None, 0)),
    ("socket", ("socket_filter", None, None, 0)),
    ("sk_skb/stream_verdict", ("sk_skb", "sk_skb_stream_verdict", None, 0)),
    ("sk_msg", ("sk_msg", "sk_msg_verdict", None, 0)),
    ("sockops", ("sock_ops", "cgroup_sock_ops", None, 0)),
    ("cgroup_skb/ingress", ("cgroup_skb", "cgroup_inet_ingress", None, 0)),
    ("cgroup_skb/egress", ("cgroup_skb", "cgroup_inet_egress", None, 0)),
    ("cgroup/sock_create", ("cgroup_sock", "cgroup_inet_sock_create", None, 0)),
    ("cgroup/bind4", ("cgroup_sock_addr", "cgroup_inet4_bind", None, 0)),
    ("cgroup/connect_unix", ("cgroup_sock_addr", "cgroup_unix_connect", None, 0)),
    ("cgroup/sysctl", ("cgroup_sysctl", "cgroup_sysctl", None, 0)),
    ("cgroup/getsockopt", ("cgroup_sockopt", "cgroup_getsockopt", None, 0)),
    ("cgroup/dev", ("cgroup_device", "cgroup_device", None, 0)),
    ("flow_dissector", ("flow_dissector", "flow_dissector", None, 0)),
    ("sk_lookup", ("sk_lookup", "sk_lookup", None, 0)),
    ("perf_event", ("perf_event", None, None, 0)),
    ("syscall", ("syscall", None, None, 16)),
    ("netfilter", ("netfilter", "netfilter", None, 0)),
    ("lwt_seg6local", ("lwt_seg6local", None, None, 0)),
    ("sk_reuseport/migrate", ("sk_reuseport", "sk_reuseport_select_or_migrate", None, 0)),
])
def test_section_lookup(section, expected):
    info = lookup(section)
    assert info is not None
    assert tuple(info[:4]) == expected
    assert info.sleepable == bool(expected[3] & 16)


def test_section_lookup_unknown_and_strict():
    assert lookup("license") is None
    assert lookup(".text") is None
    assert lookup("xdpfoo") is None
    assert lookup("socketx") is None
    assert find_definition("cgroup/unknown") is None
    with pytest.raises(SectionError):
        lookup("tracepoint/no_category", strict=True)
    with pytest.raises(SectionError):
        lookup("uprobe/no_colon", strict=True)
    assert lookup("tracepoint/no_category").attach_to == "no_category"


# ---------------------------------------------------------------- programs


def test_programs_by_section_and_symbol(rich):
    assert list(rich.programs) == ["tail_target", "probe_one", "probe_two", "sleepy", "frags"]
    one, two = rich.programs["probe_one"], rich.programs["probe_two"]
    assert one.section == two.section == "kprobe/do_unlinkat"   # two programs, one section
    assert (one.type, one.attach_to) == ("kprobe", "do_unlinkat")
    sleepy = rich.programs["sleepy"]
    assert (sleepy.type, sleepy.attach_type, sleepy.sleepable) == ("tracing", "trace_fentry",
                                                                    True)
    frags = rich.programs["frags"]
    assert (frags.type, frags.attach_type, frags.flags) == ("xdp", "xdp", 32)
    assert rich.license == one.license == "Dual BSD/GPL"
    assert rich.kernel_version == one.kernel_version == 0x060800
    assert rich.programs["tail_target"].type == "sched_cls"


def _calls(prog):
    return [(pc, i) for pc, i in enumerate(prog.instructions)
            if i.opcode == CALL and i.src == 1]


def test_subprograms_appended_and_calls_fixed(rich):
    for prog in rich.programs.values():
        n = len(prog.instructions)
        starts = {fi.insn_index for fi in prog.func_info}
        for pc, insn in _calls(prog):
            target = pc + insn.imm + 1
            assert 0 <= target < n
            assert target in starts, (prog.name, pc, target)   # calls land on a function start
        for pc, insn in enumerate(prog.instructions):
            if insn.opcode == LDDW and insn.src == 4:   # callback address
                assert pc + insn.imm + 1 in starts
    # probe_one: shared_sub calls helper_sub; both appended once; bpf_loop callback too
    one = rich.programs["probe_one"]
    assert len(one.func_info) == 4
    assert one.func_info[0].insn_off == 0
    assert len({fi.type_id for fi in one.func_info}) == 4
    names = [rich.btf[fi.type_id].name for fi in one.func_info]
    assert names[0] == "probe_one"
    assert set(names[1:]) == {"shared_sub", "helper_sub", "loop_cb"}
    # probe_two only calls helper_sub
    two = rich.programs["probe_two"]
    assert [rich.btf[fi.type_id].name for fi in two.func_info] == ["probe_two", "helper_sub"]


def test_line_info_rebased_and_sorted(rich):
    for prog in rich.programs.values():
        offs = [li.insn_off for li in prog.line_info]
        assert offs == sorted(offs)
        assert all(0 <= o < len(prog.instructions) * 8 for o in offs)
        assert prog.line_info and prog.line_info[0].insn_off == 0
        assert any(li.file_name.endswith("rich.bpf.c") for li in prog.line_info)


def test_core_relocations_rebased(rich):
    one = rich.programs["probe_one"]
    kinds = {RelocKind(r.kind) for r in one.core_relocations}
    assert kinds == {RelocKind.FIELD_BYTE_OFFSET, RelocKind.FIELD_EXISTS}
    for r in one.core_relocations:
        insn = one.instructions[r.insn_index]
        assert insn.opcode & 0x07 in (0x00, 0x01, 0x04, 0x07)   # lddw, ldx, alu, alu64
    task = rich.btf.find("task_struct")
    offsets = {r.access_str: r for r in one.core_relocations
               if r.kind == RelocKind.FIELD_BYTE_OFFSET}
    assert rich.btf[offsets["0:2"].type_id].name == "task_struct"
    pc = offsets["0:2"].insn_index
    assert one.instructions[pc].imm == rich.btf.member_offset(task, "real_parent")


def test_map_references(rich):
    one = rich.programs["probe_one"]
    refs = {(r.map_name, r.value) for r in one.map_references}
    assert ("events", False) in refs
    assert (".data.custom", True) in refs and (".kconfig", True) in refs
    for r in one.map_references:
        assert one.instructions[r.pc].opcode == LDDW
    tail = rich.programs["tail_target"]
    assert tail.map_references[0].map_name == "jumps"
    two = rich.programs["probe_two"]
    offsets = {(r.map_name, r.offset) for r in two.map_references}
    assert (".rodata", 8) in offsets     # big_knob
    assert (".bss", 0) in offsets        # zeroed


def test_externs(rich):
    ext = externs_of(rich)
    assert {n: e.kind for n, e in ext.items()} == {
        "LINUX_KERNEL_VERSION": "kconfig", "CONFIG_PYBPF_MISSING": "kconfig",
        "CONFIG_BPF_JIT": "kconfig", "CONFIG_DEFAULT_HOSTNAME": "kconfig",
        "bpf_prog_fops": "ksym", "bpf_task_acquire": "kfunc", "bpf_task_release": "kfunc"}
    assert ext["CONFIG_BPF_JIT"].weak and not ext["LINUX_KERNEL_VERSION"].weak
    sleepy = rich.programs["sleepy"]
    refs = extern_references_of(sleepy)
    assert [r.name for r in refs] == ["bpf_task_acquire", "bpf_task_release"]
    for r in refs:
        assert sleepy.instructions[r.pc].opcode == CALL
        assert sleepy.instructions[r.pc].src == 2
    one = rich.programs["probe_one"]
    (ksym,) = extern_references_of(one)
    assert ksym.name == "bpf_prog_fops" and one.instructions[ksym.pc].src == 3


def test_kconfig_layout_and_resolution(rich):
    kmap = rich.maps[".kconfig"]
    assert kmap.freeze and kmap.flags & 128
    layout = {n: v[1:3] for n, v in rich.variables.items() if v[0] == ".kconfig"}
    assert layout == {"LINUX_KERNEL_VERSION": (0, 4), "CONFIG_PYBPF_MISSING": (4, 1),
                      "CONFIG_BPF_JIT": (8, 4), "CONFIG_DEFAULT_HOSTNAME": (12, 8)}
    written = resolve_kconfig(rich, {"CONFIG_BPF_JIT": "m",
                                     "CONFIG_DEFAULT_HOSTNAME": '"(none)-long"'},
                              release="6.8.12-foo")
    assert set(written) == {"LINUX_KERNEL_VERSION", "CONFIG_BPF_JIT",
                            "CONFIG_DEFAULT_HOSTNAME"}
    value = kmap.contents[0][1]
    assert struct.unpack_from("<i", value, 0)[0] == (6 << 16) | (8 << 8) | 12
    assert value[4] == 0                                   # weak and missing: zero
    assert struct.unpack_from("<i", value, 8)[0] == 2      # TRI_MODULE
    assert value[12:20] == b"(none)-\0"


def test_kconfig_strong_missing_is_an_error(rich):
    ext = externs_of(rich)["CONFIG_BPF_JIT"]
    ext.weak = False
    with pytest.raises(KconfigError, match="CONFIG_BPF_JIT"):
        resolve_kconfig(rich, {})


def test_kconfig_helpers():
    cfg = parse_config("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=0x10\nCONFIG_S=\"x\"\n")
    assert cfg == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": "0x10", "CONFIG_S": '"x"'}
    assert kernel_version_code("5.15.300-x") == (5 << 16) | (15 << 8) | 255
    assert kernel_version_code("6.1") == (6 << 16) | (1 << 8)
    from pybpf.btf import INT_BOOL, INT_SIGNED, Int

    assert encode_value("X", "y", Int("_Bool", 1, INT_BOOL, 0, 8), 1) == b"\x01"
    assert encode_value("X", "-3", Int("int", 4, INT_SIGNED, 0, 32), 4) == b"\xfd\xff\xff\xff"
    with pytest.raises(KconfigError):
        encode_value("X", "m", Int("_Bool", 1, INT_BOOL, 0, 8), 1)
    with pytest.raises(KconfigError):
        encode_value("X", "999", Int("char", 1, 0, 0, 8), 1)


def test_running_kernel_kconfig(rich):
    if not Path("/proc/config.gz").exists():
        pytest.skip("no /proc/config.gz")
    written = resolve_kconfig(rich)
    assert "LINUX_KERNEL_VERSION" in written


# -------------------------------------------------------------------- maps


def test_btf_maps(rich):
    m = rich.maps
    ev = m["events"]
    assert (ev.type, ev.key_size, ev.value_size, ev.max_entries, ev.flags, ev.pinning) == (
        "hash", 4, 8, 128, 1, "by_name")
    assert ev.value_type.name == "event" and ev.key_type.name == "__u32"
    assert (m["rb"].type, m["rb"].key_size, m["rb"].value_size, m["rb"].max_entries) == (
        "ringbuf", 0, 0, 4096)
    bloom = m["bloom"]
    assert (bloom.type, bloom.value_size, bloom.map_extra, bloom.numa_node) == (
        "bloom_filter", 8, 3, 0)
    outer = m["outer"]
    assert outer.type == "array_of_maps" and outer.inner is not None
    assert (outer.inner.type, outer.inner.value_size, outer.inner.max_entries) == (
        "array", 8, 4)
    assert outer.contents == [(0, "in1"), (2, "in2")]
    assert m["jumps"].type == "prog_array" and m["jumps"].contents == [(1, "tail_target")]


def test_global_data_maps_and_variables(rich):
    ro = rich.maps[".rodata"]
    assert ro.freeze and ro.type == "array" and ro.max_entries == 1 and ro.flags == 128
    assert isinstance(ro.value_type, Datasec) and ro.value_type.name == ".rodata"
    assert not rich.maps[".data"].freeze and not rich.maps[".bss"].contents
    assert rich.maps[".data.custom"].contents == [(0, (42).to_bytes(4, "little"))]
    var = rich.variables
    assert var["knob"][:3] == (".rodata", 0, 4)
    assert var["big_knob"][:3] == (".rodata", 8, 8)
    assert var["counter"][:3] == (".data", 0, 4)
    assert var["zeroed"][:3] == (".bss", 0, 8)
    rich.set_variable("knob", 11)
    rich.set_variable("big_knob", 1)
    rich.set_variable("zeroed", 9)
    data = rich.maps[".rodata"].contents[0][1]
    assert data[:4] == (11).to_bytes(4, "little") and data[8:16] == (1).to_bytes(8, "little")
    assert rich.maps[".bss"].contents[0][1] == (9).to_bytes(8, "little")
    with pytest.raises(BPFError):
        rich.set_variable("nope", 1)


def test_btf_fixed_up_for_the_kernel(rich):
    elf = ElfFile(Path(rich.path).read_bytes())
    btf = rich.btf
    for name in (".rodata", ".data", ".bss", ".maps", "license"):
        ds = btf.get_named(name, "datasec")
        assert ds is not None and ds.size == elf.section(name).size
        assert [v.offset for v in ds.vars] == sorted(v.offset for v in ds.vars)
    for t in btf.own_types():
        if isinstance(t, Var):
            assert t.linkage != 2, t
        if isinstance(t, Func):
            assert t.linkage != 2, t
    # the original type ids are unchanged
    raw = BTF.from_file(rich.path)
    assert raw.find("task_struct").id == btf.find("task_struct").id


def test_legacy_maps():
    for path in LEGACY:
        spec = load_object(path)
        assert {n: (m.type, m.key_size, m.value_size, m.max_entries)
                for n, m in spec.maps.items()} == {
            "legacy_hash": ("hash", 4, 8, 16), "legacy_array": ("array", 4, 4, 2)}
        prog = spec.programs["filter"]
        assert prog.type == "socket_filter"
        assert {r.map_name for r in prog.map_references} == {"legacy_hash", "legacy_array"}


def test_load_from_bytes(rich):
    spec = load_object(Path(rich.path).read_bytes())
    assert spec.path is None and list(spec.programs) == list(rich.programs)
    assert spec.programs["probe_one"].instructions == rich.programs["probe_one"].instructions


def test_parse_time():
    data = RICH[0].read_bytes()
    load_object(data)
    best = min(_timed(lambda: load_object(data)) for _ in range(5))
    assert best < 0.05, f"parsing took {best * 1000:.1f} ms"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ errors


def _mutate(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new):]


def test_not_elf_and_truncated():
    with pytest.raises(ObjectError, match="not an ELF"):
        load_object(b"hello")
    data = RICH[0].read_bytes()
    for cut in (8, 40, 64, len(data) // 2, len(data) - 1):
        with pytest.raises(ObjectError):
            load_object(data[:cut])
    with pytest.raises(ObjectError, match="cannot read"):
        load_object("/nonexistent/x.o")


def test_wrong_machine_and_class():
    data = RICH[0].read_bytes()
    with pytest.raises(ObjectError, match="machine"):
        load_object(_mutate(data, 18, struct.pack("<H", 62)))   # x86-64
    with pytest.raises(ObjectError, match="class"):
        load_object(_mutate(data, 4, b"\x01"))
    with pytest.raises(ObjectError, match="relocatable"):
        load_object(_mutate(data, 16, struct.pack("<H", 2)))    # ET_EXEC


def test_error_names_path_and_section(tmp_path):
    data = bytearray(RICH[0].read_bytes())
    elf = ElfFile(bytes(data))
    sec = elf.section("kprobe/do_unlinkat")
    # make the code section one byte shorter than a whole instruction count
    hdr = elf._shoff + sec.index * elf._shentsize
    struct.pack_into("<Q", data, hdr + 32, sec.size - 3)
    bad = tmp_path / "bad.o"
    bad.write_bytes(bytes(data))
    with pytest.raises(ObjectError) as info:
        load_object(bad)
    assert info.value.path == str(bad)
    assert info.value.section == "kprobe/do_unlinkat"
    assert "multiple of 8" in str(info.value)


def test_relocation_against_unknown_section_is_reported():
    data = bytearray(LEGACY[0].read_bytes())
    elf = ElfFile(bytes(data))
    # retarget the first map symbol to the license section
    syms = elf.symtab
    for s in elf.symbols:
        if s.name == "legacy_array":
            off = syms.offset + s.index * 24 + 6
            struct.pack_into("<H", data, off, elf.section("license").index)
    with pytest.raises(ObjectError, match="not a map"):
        load_object(bytes(data))


def test_object_without_btf_still_loads():
    data = bytearray(LEGACY[1].read_bytes())
    elf = ElfFile(bytes(data))
    for name in (".BTF", ".BTF.ext"):
        sec = elf.section(name)
        if sec is None:
            continue
        hdr = elf._shoff + sec.index * elf._shentsize
        name_off = struct.unpack_from("<I", data, hdr)[0]
        struct.pack_into("<I", data, hdr, name_off + 1)   # ".BTF" -> "BTF"
    spec = load_object(bytes(data))
    assert spec.btf is None
    assert spec.programs["filter"].func_info == []
    assert len(spec.maps) == 2


def test_instructions_are_insns(rich):
    for prog in rich.programs.values():
        assert all(isinstance(i, Insn) for i in prog.instructions)
