"""BTF parsing, the type-graph API, building, .BTF.ext, decoding, and
robustness against corrupt input."""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from btf_samples import build_sample, sample, vmlinux, zig_cc
from pybpf.btf import (
    BTF,
    Array,
    BTFBuilder,
    BTFExt,
    Composite,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Kind,
    Member,
    Ptr,
    Struct,
    TypeNotFoundError,
    Union,
    Var,
)
from pybpf.btf.ext import CoreRelo, FuncInfo, LineInfo, build_ext
from pybpf.errors import BTFError, ObjectError

# ------------------------------------------------------------- small BTF


def test_every_kind_round_trips_through_bytes():
    btf, _ = sample()
    kinds = {btf.kind_of(i) for i in range(1, len(btf))}
    assert kinds == set(Kind) - {Kind.UNKN}
    again = BTF.from_bytes(BTFBuilder.from_btf(btf).to_bytes())
    assert list(again) == list(btf)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_both_byte_orders_parse_to_the_same_types(byteorder):
    little, _ = sample("little")
    other, _ = sample(byteorder)
    assert other.byteorder == byteorder
    assert list(other) == list(little)
    if byteorder == "big":
        assert other.raw[:2] == b"\xeb\x9f"
    else:
        assert other.raw[:2] == b"\x9f\xeb"


def test_type_values_and_repr():
    btf, ids = sample()
    point = btf[ids["point"]]
    assert isinstance(point, Struct)
    assert point.members == (Member("x", ids["int"], 0), Member("y", ids["int"], 32))
    assert repr(point) == f"[{ids['point']}] STRUCT 'point' size=8 vlen=2"
    assert repr(btf[ids["int"]]).endswith("INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED")
    flags = btf[ids["flags"]]
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in flags.members] == [
        ("a", 0, 3), ("b", 3, 5), ("c", 8, 4)]
    assert flags.has_bitfields
    assert btf[ids["temp"]].as_dict() == {"COLD": -10, "HOT": 100}
    assert btf[ids["temp"]].signed
    big = btf[ids["big"]]
    assert isinstance(big, Enum64) and big.as_dict()["HUGE"] == 1 << 40
    assert btf[ids["uopaque"]].is_union and not btf[ids["opaque"]].is_union
    assert btf[ids["vproto"]].is_variadic
    assert isinstance(btf[ids["tag"]], DeclTag) and btf[ids["tag"]].component_idx == 1
    assert btf[ids["func"]].linkage == 1
    with pytest.raises(AttributeError):
        point.size = 3  # types are immutable
    assert hash(point) == hash(btf.find("point"))


def test_lookup_by_name_and_kind():
    btf, ids = sample()
    assert btf.find("point").id == ids["point"]
    assert btf.find("struct point").id == ids["point"]
    assert btf.find("point_t").id == ids["point_t"]
    assert btf.find("color", "enum").id == ids["color"]
    assert btf.find("f", Kind.FUNC).id == ids["func"]
    assert btf.get_named("nope") is None
    assert "point" in btf and "nope" not in btf
    with pytest.raises(TypeNotFoundError) as e:
        btf.find("nope")
    assert "nope" in str(e.value) and isinstance(e.value, KeyError)
    assert [t.id for t in btf.find_all("counter")] == [ids["counter"]]


def test_resolve_strip_size_align():
    btf, ids = sample()
    assert btf.resolve(ids["point_t"]).id == ids["point"]
    assert btf.strip(ids["const_int"]).id == ids["int"]
    assert btf.resolve("myint").name == "int"
    assert btf.size_of("node") == 64
    assert btf.size_of(ids["int4"]) == 16
    assert btf.size_of(ids["int_ptr"]) == 8
    assert btf.size_of(ids["counter"]) == 4
    assert btf.align_of("point") == 4
    assert btf.align_of("packed") == 1
    with pytest.raises(BTFError, match="no size"):
        btf.size_of(ids["opaque"])
    with pytest.raises(BTFError):
        btf.size_of(0)


def test_members_offsets_and_paths():
    btf, _ = sample()
    assert btf.member_offset("node", "p.y") == 12
    assert btf.member_offset("node", "q.x") == 48  # through the anonymous union
    assert btf.member_offset("node", "arr[1]") == 32
    loc = btf.locate("flags", "b")
    assert (loc.bit_offset, loc.bitfield_size, loc.offset) == (3, 5, 0)
    assert btf.find_member("node", "l")[1] == 384
    with pytest.raises(BTFError, match="no member"):
        btf.member_offset("node", "missing")
    with pytest.raises(BTFError, match="cannot index"):
        btf.member_offset("node", "p[1]")
    with pytest.raises(BTFError, match="bad member path"):
        btf.member_offset("node", "p..x")


def test_func_proto_datasec_and_type_names():
    btf, ids = sample()
    proto = btf.func_proto("f")
    assert [p.name for p in proto.params] == ["a", "s"]
    assert [(v.name, off, size) for v, off, size in btf.datasec_vars(".data")] == [
        ("counter", 0, 4)]
    assert btf.enum_values("color") == {"RED": 1, "GREEN": 2, "BLUE": 4}
    assert btf.type_name(ids["cb"]) == "cb_t"
    assert btf.type_name(btf.resolve(ids["cb"]).id, "fn") == "int (*fn)(char *, ...)"
    assert btf.type_name(ids["ptr_arr"], "a") == "int *a[2]"
    assert btf.type_name(ids["arr_ptr"], "p") == "int (*p)[3]"
    assert btf.type_name(ids["restrict_ptr"], "s") == "char *restrict s"
    assert btf.type_name(ids["func"]) .startswith("void")  # a FUNC is not a value type


def test_split_btf_continues_ids_and_strings():
    base, ids = sample()
    b = BTFBuilder(base=base)
    wrapper = b.add_struct("wrapper", 16, [("pt", ids["point"], 0), ("n", ids["long"], 64)])
    ptr = b.add_ptr(wrapper)
    split = b.build()
    assert split.first_id == len(base)
    assert wrapper == len(base) and ptr == len(base) + 1
    assert split[ids["point"]] == base[ids["point"]]
    assert split.find("wrapper").members[0].name == "pt"
    assert split.size_of(ptr) == 8 and split.size_of("wrapper") == 16
    assert [t.name for t in split.own_types() if hasattr(t, "name")] == ["wrapper"]
    assert split.find("point").id == ids["point"]  # names reach into the base
    # string offsets of the split part start after the base's strings
    raw = split.raw
    str_len = struct.unpack_from("<I", raw, 20)[0]
    assert str_len == len(b"wrapper\0pt\0n\0")


def test_split_btf_on_vmlinux():
    vm = vmlinux()
    b = BTFBuilder(base=vm)
    task = vm.find("task_struct").id
    holder = b.add_struct("holder", 8, [("task", b.add_ptr(task), 0)])
    split = b.build()
    assert split[holder].members[0].name == "task"
    assert split.resolve(split[split[holder].members[0].type_id].type_id).name == "task_struct"
    for module in sorted(os.listdir("/sys/kernel/btf")):
        if module != "vmlinux":
            mod = BTF.load_module(module)
            assert mod.first_id == len(vm)
            assert all(t.id >= mod.first_id for t in mod.own_types())
            break


# ------------------------------------------------------------- vmlinux


def test_vmlinux_parses_and_makes_sense():
    vm = vmlinux()
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        data = f.read()
    fresh = BTF.from_bytes(data)    # its speed is measured in benchmarks/bench_btf.py
    assert len(fresh) > 10_000
    ts = vm.find("task_struct")
    assert isinstance(ts, Struct) and ts.size > 1000
    assert vm.member_offset("task_struct", "pid") == ts.member("pid").offset
    assert vm.size_of("struct list_head") == 16
    assert vm.enum_values("bpf_map_type")["BPF_MAP_TYPE_HASH"] == 1
    assert vm.enum_values("bpf_func_id")["BPF_FUNC_map_lookup_elem"] == 1
    assert BTF.load_vmlinux() is vm  # cached


def test_vmlinux_find_all_kinds_and_resolve():
    vm = vmlinux()
    counts = {k: 0 for k in Kind}
    for tid in range(1, len(vm)):
        counts[vm.kind_of(tid)] += 1
    assert counts[Kind.STRUCT] > 1000 and counts[Kind.FUNC] > 1000
    u64 = vm.find("u64")
    assert vm.resolve(u64).kind == Kind.INT and vm.size_of(u64) == 8
    attr = vm.find("bpf_attr")
    assert isinstance(attr, Union) and vm.size_of(attr) >= 120


@pytest.mark.slow
def test_vmlinux_round_trips_through_the_builder():
    vm = vmlinux()
    again = BTF.from_bytes(BTFBuilder.from_btf(vm).to_bytes())
    assert len(again) == len(vm)
    assert all(a == b for a, b in zip(again, vm))


# ------------------------------------------------------------- kernel


def _btf_load(raw: bytes) -> tuple[int, str]:
    """BPF_BTF_LOAD via the raw system call: (fd or -errno, verifier log)."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(raw)
    log = ctypes.create_string_buffer(1 << 16)
    # union bpf_attr for BPF_BTF_LOAD: btf, btf_log_buf (u64), btf_size,
    # btf_log_size, btf_log_level (u32)
    attr = struct.pack("<QQIII", ctypes.addressof(buf), ctypes.addressof(log), len(raw),
                       len(log), 1)
    attr_buf = ctypes.create_string_buffer(attr + bytes(128 - len(attr)))
    bpf_syscall = 321 if os.uname().machine == "x86_64" else 280
    btf_load_cmd = 18
    fd = libc.syscall(bpf_syscall, btf_load_cmd, attr_buf, 128)
    if fd < 0:
        return -ctypes.get_errno(), log.value.decode(errors="replace")
    os.close(fd)
    return fd, ""


@pytest.mark.kernel
def test_kernel_accepts_built_btf():
    btf, _ = sample()
    fd, log = _btf_load(BTFBuilder.from_btf(btf).to_bytes())
    assert fd >= 0, f"kernel rejected our BTF: errno {-fd}\n{log}"


# ------------------------------------------------------------- errors


def test_corrupt_input_raises_btf_errors():
    btf, _ = sample()
    raw = btf.raw
    with pytest.raises(BTFError, match="truncated header"):
        BTF.from_bytes(raw[:10])
    with pytest.raises(BTFError, match="bad magic"):
        BTF.from_bytes(b"\0\0" + raw[2:])
    with pytest.raises(BTFError, match="runs past the end"):
        BTF.from_bytes(raw[:-5])
    bad_kind = bytearray(raw)
    struct.pack_into("<I", bad_kind, 24 + 4, 25 << 24)
    with pytest.raises(BTFError, match="unknown kind 25") as e:
        BTF.from_bytes(bytes(bad_kind))
    assert isinstance(e.value, ObjectError) and e.value.section == ".BTF"
    assert e.value.offset == 24
    dangling = BTFBuilder()
    dangling.add(Ptr(99))
    with pytest.raises(BTFError, match="does not exist"):
        dangling.to_bytes()


def test_type_cycles_do_not_hang():
    b = BTFBuilder()
    b.add_typedef("a", 2)
    b.add_typedef("b", 1)
    b.add(Array(3, 4, 2))  # [3] is an array of itself
    b.add_int("int", 4)
    b.add_struct("s", 8, [("x", 3, 0)])
    btf = b.build()
    with pytest.raises(BTFError, match="too long"):
        btf.resolve(1)
    with pytest.raises(BTFError):
        btf.size_of(3)
    with pytest.raises(BTFError):
        btf.decode("s", bytes(8))
    with pytest.raises(BTFError, match="cycl"):
        btf.dump_c()


def _exercise(data: bytes) -> None:
    """Everything a user might do with a BTF; only BTFError may escape."""
    try:
        btf = BTF.from_bytes(data)
    except BTFError:
        return
    for tid in range(1, len(btf)):
        try:
            t = btf[tid]
            repr(t)
            btf.resolve(t)
            if isinstance(t, (Composite, Int, Enum, Enum64, Float, Ptr, Array)):
                size = btf.size_of(t)
                if size < 4096:
                    value = btf.decode(t, bytes(size))
                    btf.format(t, bytes(size))
                    btf.encode(t, value)
        except BTFError:
            pass
    for fn in (btf.dump_c, btf.dump_raw, lambda: BTFBuilder.from_btf(btf).to_bytes()):
        with contextlib.suppress(BTFError):
            fn()


_SAMPLE_RAW = sample()[0].raw


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_flipped_and_cut_btf(data):
    raw = bytearray(_SAMPLE_RAW)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    _exercise(bytes(raw))


def test_fuzz_real_kernel_btf_prefix():
    vm = vmlinux()
    raw = bytearray(vm.raw[:24 + 4000])
    struct.pack_into("<I", raw, 12, 4000)  # type_len: just the first types
    struct.pack_into("<I", raw, 16, 4000)  # str_off: no strings left
    struct.pack_into("<I", raw, 20, 1)
    raw += b"\0"
    _exercise(bytes(raw))


# ------------------------------------------------------------- decoding


def test_decode_and_format_a_struct():
    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    u32 = b.add_int("unsigned int", 4)
    char = b.add_int("char", 1, signed=True)
    u8 = b.add_int("unsigned char", 1)
    boolean = b.add_int("_Bool", 1, bool_=True)
    color = b.add_enum("color", {"RED": 1, "GREEN": 2, "BLUE": 4})
    ptr = b.add_ptr(0)
    anon = b.add_union("", 4, [("i", i32, 0), ("raw", b.add_array(u8, 4), 0)])
    ev = b.add_struct("ev", 32, [
        ("pid", i32, 0), ("comm", b.add_array(char, 8), 32), ("a", u32, 96, 3),
        ("b", i32, 99, 5), ("ok", boolean, 104), ("col", color, 128), ("", anon, 160),
        ("p", ptr, 192)])
    btf = b.build()
    data = struct.pack("<i8sBB2xIiQ", -7, b"bash\0\0\0\0", 5 | (0x1D << 3), 1, 5, 0x01020304,
                       0xFFFF8880)
    value = btf.decode(ev, data)
    assert value == {"pid": -7, "comm": "bash", "a": 5, "b": -3, "ok": True, "col": 5,
                     "i": 0x01020304, "raw": b"\x04\x03\x02\x01", "p": 0xFFFF8880}
    text = btf.format("ev", data)
    assert text == ('{.pid = -7, .comm = "bash", .a = 5, .b = -3, .ok = true, '
                    '.col = RED | BLUE, .i = 16909060, .raw = [4, 3, 2, 1], .p = 0xffff8880}')
    assert btf.format("ev", data, indent=2).startswith("{\n  .pid = -7,\n")
    with pytest.raises(BTFError, match="32 bytes needed"):
        btf.decode(ev, data[:10])
    assert btf.encode(ev, value) == data
    assert btf.decode(ev, btf.encode(ev, {"col": "BLUE", "comm": "sh", "b": -1})) == {
        "pid": 0, "comm": "sh", "a": 0, "b": -1, "ok": False, "col": 4, "i": 0,
        "raw": bytes(4), "p": 0}
    with pytest.raises(BTFError, match="no member 'nope'"):
        btf.encode(ev, {"nope": 1})
    with pytest.raises(BTFError, match="out of range"):
        btf.encode(ev, {"a": 8})
    with pytest.raises(BTFError, match="longer than 8"):
        btf.encode(ev, {"comm": "a much longer name"})


def test_decode_big_endian_bitfields():
    b = BTFBuilder(byteorder="big")
    u16 = b.add_int("unsigned short", 2)
    s = b.add_struct("s", 2, [("hi", u16, 0, 4), ("lo", u16, 4, 12)])
    btf = b.build()
    assert btf.decode(s, bytes([0xAB, 0xCD])) == {"hi": 0xA, "lo": 0xBCD}
    assert btf.encode(s, {"hi": 0xA, "lo": 0xBCD}) == bytes([0xAB, 0xCD])


def test_decode_vmlinux_types():
    vm = vmlinux()
    size = vm.size_of("task_struct")
    value = vm.decode("task_struct", bytes(size))
    assert value["pid"] == 0 and value["comm"] == ""
    assert "tasks" in value and value["tasks"] == {"next": 0, "prev": 0}
    assert vm.format("struct list_head", bytes(16)) == "{.next = NULL, .prev = NULL}"


# ------------------------------------------------------------- .BTF.ext


def test_btf_ext_round_trip():
    b, _ = build_sample()
    ext_raw = build_ext(b, func_info={"xdp": [FuncInfo(0, 29)]},
                        line_info={"xdp": [LineInfo(0, "prog.c", "int x = 1;", 12, 5),
                                           LineInfo(16, "prog.c", "return x;", 13, 2)]},
                        core_relos={"kprobe/x": [CoreRelo(8, 15, "0:1", 0)]})
    btf = b.build()
    ext = BTFExt.from_bytes(ext_raw, btf)
    assert ext.func_info == {"xdp": [FuncInfo(0, 29)]}
    assert ext.line_info["xdp"][1] == LineInfo(16, "prog.c", "return x;", 13, 2)
    assert ext.core_relos["kprobe/x"][0].access_str == "0:1"
    assert ext.core_relos["kprobe/x"][0].insn_index == 1
    with pytest.raises(BTFError, match=r"\.BTF\.ext"):
        BTFExt.from_bytes(ext_raw[:40], btf)


def test_btf_and_ext_from_a_compiled_object(tmp_path):
    obj = zig_cc("""
        struct pair { int a; long b; };
        struct pair pairs[2];
        __attribute__((section("xdp"), used)) int prog(void *ctx)
        {
            struct pair *p = __builtin_preserve_access_index(&pairs[1]);
            return p->a + (int)__builtin_preserve_field_info(p->b, 0);
        }
        char LICENSE[] __attribute__((section("license"), used)) = "GPL";
    """, tmp_path)
    btf = BTF.from_file(obj)
    assert btf.size_of("pair") == 16
    assert isinstance(btf.find("prog", "func"), Func)
    assert isinstance(btf.find("pairs", "var"), Var)
    assert any(isinstance(t, Datasec) for t in btf)
    ext = BTFExt.from_file(obj)
    assert [fi.type_id for fi in ext.func_info["xdp"]] == [btf.find("prog", "func").id]
    assert ext.line_info["xdp"] and ext.line_info["xdp"][0].file_name.endswith("prog.c")
    relos = ext.core_relos["xdp"]
    assert {r.kind for r in relos} == {0}
    assert {r.access_str for r in relos} >= {"0:1"}
    assert isinstance(btf[relos[0].type_id], (Struct, Array, FuncProto, Fwd))
