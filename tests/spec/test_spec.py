"""The generated ABI tables: fresh against the running kernel, and readable
through pybpf.spec.layout."""

from __future__ import annotations

import importlib.util
import os

import pytest

from conftest import ROOT
from pybpf.btf import Kind
from pybpf.spec import (
    constant,
    enum_name,
    enum_values,
    helper_id,
    helper_name,
    struct_layout,
    struct_names,
)
from pybpf.spec import linux as data

VMLINUX = "/sys/kernel/btf/vmlinux"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_spec", ROOT / "generators" / "gen_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROVENANCE = ("Source: ", "BTF sha256: ", "SOURCE = ", "BTF_SHA256 = ")


def _tables(text: str) -> list[str]:
    """linux.py without the lines naming the kernel it was generated from."""
    return [line for line in text.splitlines() if not line.startswith(PROVENANCE)]


def test_checked_in_tables_match_the_running_kernel():
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} is absent")
    gen = _generator()
    source = gen._source_for(VMLINUX)
    from pybpf.btf import BTF

    fresh = _tables(gen.generate(BTF.load_vmlinux(), source))
    checked_in = _tables((ROOT / "src" / "pybpf" / "spec" / "linux.py").read_text())
    if fresh != checked_in and source != data.SOURCE:
        # another kernel build may have another ABI: only the generating one must agree
        pytest.skip(f"linux.py was generated from {data.SOURCE!r}; this machine runs "
                    f"{source!r}, whose tables differ")
    assert fresh == checked_in, "run: python generators/gen_spec.py"


def test_generator_is_deterministic_and_self_contained():
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} is absent")
    from pybpf.btf import BTF

    gen = _generator()
    btf = BTF.load_vmlinux()
    assert gen.generate(btf, "x") == gen.generate(btf, "x")
    assert "import" not in (ROOT / "src" / "pybpf" / "spec" / "linux.py").read_text()


def test_enums_and_helpers():
    assert enum_values("bpf_map_type")["BPF_MAP_TYPE_HASH"] == 1
    assert enum_values("bpf_prog_type")["BPF_PROG_TYPE_XDP"] == 6
    assert enum_values("bpf_cmd")["BPF_PROG_LOAD"] == 5
    assert enum_values("xdp_action")["XDP_PASS"] == 2
    for name in ("bpf_attach_type", "bpf_link_type", "bpf_stats_type", "bpf_task_fd_type",
                 "bpf_core_relo_kind", "bpf_ret_code", "bpf_func_id"):
        assert enum_values(name), name
    assert enum_name("bpf_prog_type", 2) == "BPF_PROG_TYPE_KPROBE"
    assert helper_name(1) == "map_lookup_elem"
    assert helper_id("bpf_map_lookup_elem") == helper_id("BPF_FUNC_map_lookup_elem") == 1
    assert helper_name(helper_id("ringbuf_output")) == "ringbuf_output"
    assert constant("BPF_F_NO_PREALLOC") == 1
    assert constant("BPF_ANY") == 0 and constant("BPF_EXIST") == 2
    with pytest.raises(KeyError):
        helper_id("no_such_helper")


def test_btf_kinds_match_the_kernel():
    for kind in Kind:
        if kind is not Kind.UNKN:
            assert constant(f"BTF_KIND_{kind.name}") == int(kind)


def test_context_layouts():
    skb = struct_layout("__sk_buff")
    assert skb.member("len") == (0, 4)
    assert skb.field("cb").nelems == 5 and skb.field("cb").elem_size == 4
    assert skb.field("flow_keys").type == "struct bpf_flow_keys *"  # in an anonymous union
    assert struct_layout("xdp_md").size == 24
    assert struct_layout("xdp_md").offset_of("data_end") == 4
    for name in ("bpf_sock", "bpf_sock_addr", "bpf_sock_ops", "sk_msg_md", "sk_reuseport_md",
                 "bpf_sk_lookup", "bpf_perf_event_data", "bpf_cgroup_dev_ctx", "bpf_sysctl",
                 "bpf_sockopt", "pt_regs", "bpf_prog_info",
                 "bpf_map_info", "bpf_btf_info", "bpf_link_info", "bpf_spin_lock", "bpf_timer",
                 "bpf_dynptr", "bpf_list_head", "perf_event_attr"):
        assert struct_layout(name).size > 0, name
    assert struct_layout("bpf_raw_tracepoint_args").field("args").nelems == 0  # args[0]
    assert set(struct_names()) >= {"__sk_buff", "bpf_attr"}


def test_bitfields_and_union_variants():
    sock = struct_layout("bpf_sock")
    assert not sock.field("family").is_bitfield
    attr = struct_layout("bpf_attr")
    assert attr.kind == "union"
    load = attr.variant("prog_type")
    assert load.member("prog_type") == (0, 4) and "license" in load
    create = attr.variant("map_type")
    assert create.offset_of("value_size") == 8
    info = attr.variant("info.info_len")
    assert info.member("info.bpf_fd") == (0, 4) and info.member("info.info_len") == (4, 4)
    perf = struct_layout("perf_event_attr")
    bits = [f for f in perf.fields if f.is_bitfield]
    assert bits and bits[0].name == "disabled" and bits[0].bits == 1
    with pytest.raises(KeyError):
        struct_layout("no_such_struct")
    with pytest.raises(KeyError):
        struct_layout("__sk_buff").field("nope")
