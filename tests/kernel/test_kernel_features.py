"""Feature probes against the running kernel."""

from __future__ import annotations

import pytest

from pybpf.kernel import features

pytestmark = pytest.mark.kernel



@pytest.mark.parametrize("name", ["hash", "array", "percpu_array", "lpm_trie", "queue",
                                  "ringbuf", "array_of_maps", "sk_storage", "bloom_filter"])
def test_long_standing_map_types_are_supported(name):
    probe = features.probe_map_type(name)
    assert probe.supported is True, probe.reason


def test_map_probe_verdicts():
    assert features.probe_map_type("struct_ops").supported is None
    bogus = features.probe_map_type("no_such_type")
    assert bogus.supported is False and "not in pybpf's tables" in bogus.reason


@pytest.mark.parametrize("name", ["socket_filter", "xdp", "sched_cls", "tracepoint",
                                  "raw_tracepoint", "cgroup_skb", "cgroup_sock_addr",
                                  "sk_lookup", "syscall", "tracing"])
def test_program_types_are_supported(name):
    probe = features.probe_prog_type(name)
    assert probe.supported is True, probe.reason


def test_refused_program_types_say_why():
    probe = features.probe_prog_type("lsm")
    if probe.supported:
        pytest.skip("this kernel loads LSM programs")
    assert probe.errno is not None and probe.reason


def test_helpers_by_program_type():
    assert features.helper_supported("socket_filter", "bpf_map_lookup_elem") is True
    assert features.helper_supported("xdp", "xdp_adjust_head") is True
    refused = features.probe_helper("socket_filter", "xdp_adjust_head")
    assert refused.supported is False
    assert refused.reason == ("helper bpf_xdp_adjust_head is not allowed in program type "
                              "socket_filter")
    # a helper whose arguments the probe gets wrong still counts as allowed
    assert features.helper_supported("sched_cls", "skb_store_bytes") is True


def test_supported_helpers_lists_names():
    names = features.supported_helpers("socket_filter")
    assert "bpf_map_lookup_elem" in names and "bpf_ktime_get_ns" in names
    assert "bpf_xdp_adjust_head" not in names


@pytest.mark.parametrize("kind", features.BTF_KINDS)
def test_btf_kinds(kind):
    assert features.btf_kind_supported(kind) is True


def test_report_covers_everything():
    r = features.report(helpers_for=("xdp",))
    assert r["map_types"]["hash"] is True and "cgroup_storage_deprecated" not in r["map_types"]
    assert r["prog_types"]["xdp"] is True
    assert r["btf_kinds"]["func"] is True
    assert "bpf_redirect" in r["helpers"]["xdp"]
