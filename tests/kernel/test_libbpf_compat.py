"""Objects of the kinds public tutorials and libbpf-tools carry load into the
kernel as libbpf (bpftool) loads them: maps whose BTF description the kernel
refuses, global functions without SEC(), kfuncs, CO-RE failures named,
autoload and skip_failed."""

from __future__ import annotations

import pytest
from compat_objects import Builder, bpftool_loadall

from pybpf.elf import load_object

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return Builder(tmp_path_factory.mktemp("compat"))


# --- maps whose BTF key/value types the kernel refuses (ENOTSUPP) -----------------------

NO_BTF_MAPS_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__type(key, int);
	__type(value, __u32);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sock_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sock_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int classify(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 one = 1;
	long under = bpf_skb_under_cgroup(skb, &cgroups, 0);

	bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &key, sizeof(key));
	bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
	return under == 1;
}

SEC("sk_msg")
int redirect_msg(struct sk_msg_md *msg)
{
	__u32 key = 0;

	return bpf_msg_redirect_hash(msg, &sock_hash, &key, BPF_F_INGRESS);
}

SEC("sk_skb/stream_verdict")
int verdict(struct __sk_buff *skb)
{
	return bpf_sk_redirect_map(skb, &sock_map, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_maps_the_kernel_takes_without_btf_load(build, compiler):
    from pybpf import kernel

    obj = build("no_btf_maps", NO_BTF_MAPS_C, compiler)
    libbpf = bpftool_loadall(obj)
    assert libbpf.returncode == 0, libbpf.stderr            # libbpf loads it ...
    spec = load_object(obj)
    assert spec.maps["events"].key_type is not None           # the object describes them
    with kernel.load(spec) as coll:                           # ... and so does pybpf
        types = {name: m.type for name, m in coll.maps.items()}
        assert types == {"cgroups": "cgroup_array", "events": "perf_event_array",
                         "sock_hash": "sockhash", "sock_map": "sockmap", "counts": "hash"}
        for name in ("cgroups", "events", "sock_hash", "sock_map"):
            assert coll.maps[name].info().btf_id == 0        # created without BTF ids
        assert coll.maps["counts"].info().btf_id == coll.btf.id  # the others keep theirs
        assert coll.programs["classify"].test_run(bytes(64)).retval == 0
        assert coll.maps["counts"][0] == 1


def test_the_probe_makes_the_first_create_right(monkeypatch):
    """The probe is cached and consulted first: creating such a map with
    optional BTF ids takes one BPF_MAP_CREATE, not a refusal and a retry."""
    from pybpf.kernel import KernelMap, features
    from pybpf.kernel import sys as ksys
    from pybpf.kernel.kernel_btf import int_btf

    probe = features.probe_map_btf_ids("perf_event_array")
    assert probe.supported is False and "ENOTSUPP" in probe.reason
    assert features.map_btf_ids_supported("hash") is True
    assert features.probe_map_btf_ids("perf_event_array") is probe   # cached
    calls = []
    real = ksys.map_create

    def counting(**fields):
        calls.append(fields.get("btf_key_type_id", 0))
        return real(**fields)

    monkeypatch.setattr(ksys, "map_create", counting)
    with int_btf() as btf:
        with KernelMap.create("perf_event_array", 4, 4, 2, btf=btf, btf_key_type_id=1,
                              btf_value_type_id=1, btf_optional=True) as m:
            assert m.info().btf_id == 0
        assert calls == [0]
        calls.clear()
        with KernelMap.create("hash", 4, 4, 2, btf=btf, btf_key_type_id=1,
                              btf_value_type_id=1, btf_optional=True) as m:
            assert m.info().btf_id == btf.id
        assert calls == [1]


def test_btf_ids_stay_mandatory_unless_optional():
    from pybpf.errors import KernelError
    from pybpf.kernel import KernelMap
    from pybpf.kernel.kernel_btf import int_btf

    with int_btf() as btf, pytest.raises(KernelError, match=r"ENOTSUPP|not supported"):
        KernelMap.create("perf_event_array", 4, 4, 2, btf=btf, btf_key_type_id=1,
                         btf_value_type_id=1)


# --- global functions without SEC() are subprograms -------------------------------------

GLOBAL_FUNC_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

long out[4];

/* global (non-static) functions in .text: subprograms the kernel verifies on
 * their own, against their BTF prototype */
__noinline int scale(struct __sk_buff *skb, int k)
{
	return skb ? skb->len * k : 0;
}

__noinline long bump(unsigned int i)
{
	if (i >= 4)
		return -1;
	out[i] += 1;
	return out[i];
}

__noinline int never_called(int a)
{
	return a * 3;
}

static __noinline int twice(int a)
{
	return a * 2;
}

SEC("tc")
int first(struct __sk_buff *skb)
{
	out[0] = scale(skb, 2);
	bump(1);
	return twice(1);
}

SEC("socket")
int second(struct __sk_buff *skb)
{
	bump(2);
	return scale(skb, 1);
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_global_functions_are_not_programs(build):
    spec = load_object(build("global_func", GLOBAL_FUNC_C))
    assert sorted(spec.programs) == ["first", "second"]
    first = spec.programs["first"]
    funcs = {spec.btf[r.type_id].name: spec.btf[r.type_id].linkage for r in first.func_info}
    assert {"first": 1, "scale": 1, "bump": 1}.items() <= funcs.items()  # linkage 1: global
    assert "never_called" not in funcs


def test_an_object_of_only_global_functions_has_no_programs(build):
    source = "int add(int a, int b) { return a + b; }\n" \
             'char LICENSE[] __attribute__((section("license"), used)) = "GPL";\n'
    obj = build("only_text", source)
    assert load_object(obj).programs == {}
    assert bpftool_loadall(obj).returncode == 0   # libbpf: nothing to load either


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_global_functions_are_verified_on_their_own(build, compiler):
    import pybpf.vm
    from pybpf import kernel

    obj = build("global_func", GLOBAL_FUNC_C, compiler)
    assert bpftool_loadall(obj).returncode == 0
    spec = load_object(obj)
    with kernel.load(spec, log_level=2) as coll:
        first, second = coll.programs["first"], coll.programs["second"]
        assert "Func#1 ('scale') is safe for any args that match its prototype" in first.log
        assert "Validating bump() func#2..." in first.log
        assert first.test_run(bytes(64)).retval == 2
        assert second.test_run(bytes(64)).retval == 50     # socket filters see no L2 header
        assert list(coll.maps[".bss"].values()) == [{"out": [128, 1, 1, 0]}]
    vm = pybpf.vm.load(spec)
    assert vm.programs["first"].test_run(bytes(64)).retval == 2
    assert vm.programs["second"].test_run(bytes(64)).retval == 50
    assert list(vm.maps[".bss"].values()) == [{"out": [128, 1, 1, 0]}]
