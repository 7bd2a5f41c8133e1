"""Parts of the kernel backend that need no kernel: struct layouts, the
verifier-log reader, names, error messages (codecs: tests/maps/test_maps_codecs.py)."""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import BPFError
from pybpf.kernel import sys as ksys
from pybpf.kernel._abi import ATTR, COMMANDS, INFO, MAP_FLAGS, MAP_TYPES, PROG_TYPES
from pybpf.kernel._layout import Layout
from pybpf.kernel.maps import map_flags, object_name, parse_cpu_list
from pybpf.kernel.verifier_log import summarize

# --- layouts -----------------------------------------------------------------------


def test_layout_fields_pack_and_read_back():
    lay = Layout("demo", 24, [("a", 0, "u32"), ("b", 4, "s32"), ("c", 8, "u64"),
                              ("name", 16, "char[6]"), ("flag", 22, "u16:1@3")])
    rec = lay.new(a=7, b=-2, c=1 << 40, name="abc")
    rec.flag = 1
    assert bytes(rec)[:16] == (7).to_bytes(4, "little") + (-2 & 0xFFFFFFFF).to_bytes(
        4, "little") + (1 << 40).to_bytes(8, "little")
    assert bytes(rec)[16:22] == b"abc\0\0\0"
    assert int.from_bytes(bytes(rec)[22:24], "little") == 1 << 3
    assert (rec.a, rec.b, rec.c, rec.name, rec.flag) == (7, -2, 1 << 40, "abc", 1)
    with pytest.raises(ValueError, match="holds 5 bytes"):
        rec.name = "toolong"
    with pytest.raises(AttributeError):
        _ = rec.nope


def test_layout_packer_matches_field_offsets():
    lay = Layout("x", 32, [("fd", 0, "u32"), ("key", 8, "u64"), ("flags", 24, "u64")])
    data = lay.packer("fd", "key", "flags").pack(3, 0x1122, 4)
    rec = lay.from_bytes(data)
    assert len(data) == 32 and (rec.fd, rec.key, rec.flags) == (3, 0x1122, 4)
    with pytest.raises(ValueError):
        lay.packer("key", "fd")  # out of order


def test_layout_rejects_field_past_the_end():
    with pytest.raises(ValueError, match="past"):
        Layout("bad", 4, [("a", 2, "u32")])


def test_attr_groups_follow_the_uapi():
    # union bpf_attr facts from include/uapi/linux/bpf.h
    elem = ATTR["map_elem"]
    assert elem.fields["value"].offset == elem.fields["next_key"].offset == 16
    assert elem.fields["flags"].offset == 24
    load = ATTR["prog_load"]
    assert load.fields["log_buf"].offset == 32
    assert load.fields["prog_name"].size == 16 and load.fields["prog_name"].text
    assert load.fields["attach_prog_fd"].offset == load.fields["attach_btf_obj_fd"].offset
    assert ATTR["test"].fields["duration"].offset == 36
    assert ATTR["link_create"].fields["perf_event.bpf_cookie"].offset == 16
    assert ATTR["batch"].size == 56
    assert INFO["bpf_prog_info"].fields["tag"].size == 8
    assert INFO["bpf_prog_info"].fields["gpl_compatible"].bits == 1
    assert INFO["bpf_link_info"].fields["raw_tracepoint.tp_name"].offset == 16


def test_enums_use_short_lower_case_names():
    assert COMMANDS["prog_load"] == 5 and COMMANDS["map_create"] == 0
    assert MAP_TYPES["hash"] == 1 and MAP_TYPES["ringbuf"] == 27
    assert PROG_TYPES["xdp"] == 6 and PROG_TYPES["socket_filter"] == 1
    assert MAP_TYPES.name_of(19) == "cgroup_storage"  # not the _deprecated alias
    assert MAP_TYPES.name_of(10_000) == "unknown(10000)"
    assert MAP_FLAGS["no_prealloc"] == 1 and MAP_FLAGS["rdonly_prog"] == 1 << 7


# --- the verifier log --------------------------------------------------------------

LOG_LEVEL1 = """\
0: R1=ctx() R10=fp0
0: (b7) r2 = 0                        ; R2_w=0
1: (79) r0 = *(u64 *)(r2 +0)
R2 invalid mem access 'scalar'
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""

LOG_LEVEL2 = """\
func#0 @0
Live regs before insn:
      0: .1........ (79) r0 = *(u64 *)(r1 +0)
      1: 0......... (95) exit
0: R1=ctx() R10=fp0
; return *(long *)ctx; @ prog.c:12
0: (79) r0 = *(u64 *)(r1 +0)
invalid bpf_context access off=0 size=8
processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_summary_names_error_and_instruction():
    s = summarize(LOG_LEVEL1)
    assert s == ("R2 invalid mem access 'scalar'", 1, "r0 = *(u64 *)(r2 +0)")


def test_summary_skips_liveness_tables_and_source_lines():
    s = summarize(LOG_LEVEL2)
    assert s.message == "invalid bpf_context access off=0 size=8"
    assert (s.pc, s.insn) == (0, "r0 = *(u64 *)(r1 +0)")


def test_summary_without_instruction_lines_finds_the_pc_in_the_message():
    s = summarize("unreachable insn 2\nprocessed 0 insns (limit 1000000) ...\n")
    assert s == ("unreachable insn 2", 2, None)
    s = summarize("last insn is not an exit or jmp\nprocessed 0 insns\n")
    assert s == ("last insn is not an exit or jmp", None, None)


def test_summary_joins_multi_line_errors():
    log = ("5: (61) r1 = *(u32 *)(r0 +4)\ninvalid access to map value, value_size=4 off=4 "
           "size=4\nR0 min value is outside of the allowed memory range\nprocessed 6 insns\n")
    s = summarize(log)
    assert s.pc == 5
    assert s.message == ("invalid access to map value, value_size=4 off=4 size=4; "
                         "R0 min value is outside of the allowed memory range")


# --- names --------------------------------------------------------------

def test_object_names_and_flags():
    assert object_name("my-prog/with spaces and a long name") == "my_prog_with_sp"
    assert object_name(".rodata") == ".rodata"
    assert map_flags(["no_prealloc", "BPF_F_RDONLY_PROG"]) == 1 | 1 << 7
    with pytest.raises(BPFError, match="unknown map flag"):
        map_flags("fast")


def test_cpu_lists():
    assert parse_cpu_list("0\n") == 1
    assert parse_cpu_list("0-3") == 4
    assert parse_cpu_list("0-3,5,7-8") == 9


# --- error messages ---------------------------------------------------------------

def test_error_messages_name_command_object_and_cause():
    e = ksys.error("map_create", errno.EINVAL, "map 'counts' (hash)")
    assert e.errno == errno.EINVAL and e.operation == "BPF_MAP_CREATE"
    assert str(e).startswith("BPF_MAP_CREATE map 'counts' (hash): Invalid argument (EINVAL)")
    assert "map type or flag this kernel lacks" in str(e)
    e = ksys.error("prog_test_run", ksys.ENOTSUPP)
    assert "ENOTSUPP" in str(e) and "no BPF_PROG_TEST_RUN support" in str(e)
    e = ksys.error("prog_load", errno.EPERM)
    assert "CAP_BPF" in str(e) or "refused even to root" in str(e)
