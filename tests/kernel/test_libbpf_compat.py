"""Objects of the kinds public tutorials and libbpf-tools carry load into the
kernel as libbpf (bpftool) loads them: maps whose BTF description the kernel
refuses, global functions without SEC(), kfuncs, CO-RE failures named,
autoload and skip_failed."""

from __future__ import annotations

import os

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


# --- kfuncs checked against the kernel's prototypes ----------------------------------------

KFUNC_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct;

#if defined(WRONG_COUNT)
extern struct task_struct *bpf_task_from_pid(int pid, int extra) __ksym;
#define LOOKUP(pid) bpf_task_from_pid(pid, 0)
#elif defined(WRONG_CLASS)
extern struct task_struct *bpf_task_from_pid(void *pid) __ksym;
#define LOOKUP(pid) bpf_task_from_pid((void *)(long)(pid))
#elif defined(WEAK_WRONG)
extern struct task_struct *bpf_task_from_pid(int pid, int extra) __ksym __weak;
#define LOOKUP(pid) (bpf_ksym_exists(bpf_task_from_pid) ? bpf_task_from_pid(pid, 0) : 0)
#elif defined(MISSING)
extern struct task_struct *pybpf_no_such_kfunc(int pid) __ksym;
#define LOOKUP(pid) pybpf_no_such_kfunc(pid)
#else
extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
#define LOOKUP(pid) bpf_task_from_pid(pid)
#endif
extern void bpf_task_release(struct task_struct *p) __ksym;

int found = -1;
const volatile int target_pid;

SEC("syscall")
int lookup(void *ctx)
{
	struct task_struct *t = LOOKUP(target_pid);

	found = t != 0;
	if (t)
		bpf_task_release(t);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_kfuncs_that_match_load(build):
    from pybpf import kernel

    spec = load_object(build("kfunc", KFUNC_C))
    spec.set_variable("target_pid", os.getpid())
    with kernel.load(spec) as coll:
        assert coll.programs["lookup"].test_run(ctx=bytes(8)).retval == 0
        assert list(coll.maps[".data"].values()) == [{"found": 1}]


@pytest.mark.parametrize(("variant", "why"), [
    ("WRONG_COUNT", "the object declares 2 arguments, this kernel's takes 1: struct "
                    "task_struct [*]bpf_task_from_pid[(]s32 pid[)]"),
    ("WRONG_CLASS", "argument 1 is declared a pointer, this kernel's is an integer"),
    ("MISSING", "calls kfunc 'pybpf_no_such_kfunc', which this kernel does not have"),
])
def test_kfunc_mismatches_are_named_before_load(build, variant, why):
    from pybpf import kernel
    from pybpf.errors import LoadError

    obj = build("kfunc", KFUNC_C, defines=(variant,))
    assert bpftool_loadall(obj).returncode != 0      # libbpf refuses these too
    spec = load_object(obj)
    with pytest.raises(LoadError, match=why) as info:
        kernel.load(spec)
    e = info.value
    assert e.program == "lookup" and e.pc is not None and e.insn.opcode == 0x85
    assert str(e).startswith(f"{obj}, program lookup, section syscall, insn {e.pc} (")


def test_a_weak_kfunc_of_another_shape_counts_as_absent(build):
    from pybpf import kernel

    # (libbpf since 1.3; Debian's libbpf 1.1 still refuses the object)
    spec = load_object(build("kfunc", KFUNC_C, defines=("WEAK_WRONG",)))
    spec.set_variable("target_pid", os.getpid())
    with kernel.load(spec) as coll:
        coll.programs["lookup"].test_run(ctx=bytes(8))
        assert list(coll.maps[".data"].values()) == [{"found": 0}]


# --- CO-RE relocations that cannot be resolved are named ------------------------------------

CORE_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* a field no kernel has */
struct task_struct___pybpf {
	int pybpf_no_such_field;
	int pid;
} __attribute__((preserve_access_index));

long out[2];

SEC("raw_tp/sys_enter")
int guarded(void *ctx)
{
	struct task_struct___pybpf *t = (void *)bpf_get_current_task();

	if (bpf_core_field_exists(t->pybpf_no_such_field))
		out[0] = BPF_CORE_READ(t, pybpf_no_such_field);
	else
		out[0] = -1;
	out[1] = BPF_CORE_READ(t, pid);
	return 0;
}

#ifdef UNGUARDED
SEC("raw_tp/sys_enter")
int unguarded(void *ctx)
{
	struct task_struct___pybpf *t = (void *)bpf_get_current_task();

	out[0] = BPF_CORE_READ(t, pybpf_no_such_field);
	return 0;
}
#endif

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_a_guarded_access_to_a_missing_field_loads(build, compiler):
    from pybpf import kernel

    obj = build("core", CORE_C, compiler)
    assert bpftool_loadall(obj).returncode == 0
    spec = load_object(obj)
    with kernel.load(spec) as coll:
        (linked_poison,) = {p.spelled for p in _poisons(spec, "guarded").values()}
        assert "pybpf_no_such_field" in linked_poison        # poisoned, but never reached
        coll.programs["guarded"].test_run(ctx=bytes(16))
        (bss,) = coll.maps[".bss"].values()
        assert bss["out"][0] == -1 and bss["out"][1] > 0


def _poisons(spec, name):
    from pybpf.kernel.collection import KernelResolver
    from pybpf.linker import link

    return link(spec, KernelResolver()).programs[name].core_poisons


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_an_unguarded_access_to_a_missing_field_is_named(build, compiler):
    from pybpf import kernel
    from pybpf.errors import CoreRelocationError, VerifierError

    obj = build("core", CORE_C, compiler, defines=("UNGUARDED",))
    libbpf = bpftool_loadall(obj)
    assert libbpf.returncode != 0 and "failed to resolve CO-RE relocation" in libbpf.stderr
    spec = load_object(obj)
    (pc, poison), = _poisons(spec, "unguarded").items()   # known before load ...
    assert (poison.kind, poison.type_name, poison.access) == \
        ("byte_off", "task_struct___pybpf", "0:0")
    assert poison.reason == "no struct task_struct of the target BTF has pybpf_no_such_field"
    with pytest.raises(CoreRelocationError) as info:      # ... and named when reached
        kernel.load(spec)
    e = info.value
    assert (e.program, e.pc, e.kind, e.type_name, e.access) == \
        ("unguarded", pc, "byte_off", "task_struct___pybpf", "0:0")
    assert e.spelled == poison.spelled and "task_struct___pybpf.pybpf_no_such_field" in e.spelled
    assert str(e).startswith(f"{obj}, program unguarded, section raw_tp/sys_enter, insn {pc} ")
    assert "unresolved CO-RE relocation byte_off" in str(e)
    assert "guard the access with bpf_core_field_exists()" in str(e)
    assert isinstance(e.__cause__, VerifierError) and "unknown#195896080" in e.log


# --- autoload per program, loading the rest when one is refused ---------------------------

AUTOLOAD_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps");

long out[8];

SEC("xdp")
int good(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int refused(struct xdp_md *ctx)
{
	__u32 i = ctx->ingress_ifindex;	/* unbounded: the verifier refuses the access */

	return out[i];
}

SEC("?xdp")
int optional(struct xdp_md *ctx)
{
	return XDP_DROP;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} slots SEC(".maps") = {
	.values = { [0] = (void *)&good, [1] = (void *)&refused },
};

char LICENSE[] SEC("license") = "GPL";
"""


def test_autoload_and_skip_failed(build):
    from pybpf import kernel
    from pybpf.errors import VerifierError

    obj = build("autoload", AUTOLOAD_C)
    spec = load_object(obj)
    assert not spec.programs["optional"].autoload and spec.programs["optional"].section == "xdp"
    assert spec.programs["good"].autoload
    with pytest.raises(VerifierError, match="program 'refused'"):
        kernel.load(spec)
    with kernel.load(spec, skip_failed=True) as coll:
        assert sorted(coll.programs) == ["good"]             # optional: autoload off
        assert list(coll.failed) == ["refused"]
        assert isinstance(coll.failed["refused"], VerifierError)
        assert coll.programs["good"].test_run(bytes(64)).retval == 2
        assert 0 in coll.maps["slots"] and 1 not in coll.maps["slots"]  # refused: slot empty
    spec.programs["optional"].autoload = True
    spec.programs["refused"].autoload = False
    with kernel.load(spec) as coll:
        assert sorted(coll.programs) == ["good", "optional"]
        assert coll.programs["optional"].test_run(bytes(64)).retval == 1
        assert coll.failed == {}


def test_cli_load_skip_failed(build):
    import subprocess
    import sys

    from conftest import ROOT

    obj = build("autoload", AUTOLOAD_C)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    run = [sys.executable, "-m", "pybpf", "load", str(obj), "-d", "0.2"]
    refused = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0 and "refused" in refused.stderr
    proc = subprocess.run([*run, "--skip-failed"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "pybpf: not loaded refused: program 'refused' (xdp) rejected by the verifier" \
        in proc.stderr
    assert "loaded good (xdp" in proc.stdout and "optional" not in proc.stdout


# --- arena maps ------------------------------------------------------------------------------

ARENA_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2);
} arena SEC(".maps");

int __arena counter = 5;

SEC("syscall")
int bump(void *ctx)
{
	counter += 1;
	return counter;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_arena_objects_load_or_say_why_not(build):
    import pybpf.vm
    from pybpf import kernel
    from pybpf.errors import KernelError
    from pybpf.kernel import features

    spec = load_object(build("arena", ARENA_C))
    # pybpf's verifier does not model arenas yet: the VM runs them unverified
    assert pybpf.vm.load(spec, verify=False).programs["bump"].test_run(ctx=bytes(8)).retval == 6
    if features.probe_map_type("arena").errno == 1:   # EPERM: refused here even to root
        with pytest.raises(KernelError) as info:
            kernel.load(spec)
        assert info.value.errno == 1
        assert "map 'arena'" in str(info.value) and "refuses arena maps" in str(info.value)
        assert "pybpf's VM runs programs that use an arena" in str(info.value)
        return
    with kernel.load(spec) as coll:                   # a kernel with arenas: globals copied
        assert coll.programs["bump"].test_run(ctx=bytes(8)).retval == 6


# --- kconfig values libbpf computes, in integer externs ---------------------------------------

KCONFIG_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern long LINUX_KERNEL_VERSION __kconfig;
extern char LINUX_HAS_BPF_COOKIE __kconfig;

long out[3];

SEC("syscall")
int read_config(void *ctx)
{
	out[0] = LINUX_HAS_SYSCALL_WRAPPER;
	out[1] = LINUX_KERNEL_VERSION;
	out[2] = LINUX_HAS_BPF_COOKIE;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_computed_kconfig_values_in_the_kernel(build):
    import platform

    from pybpf import kernel
    from pybpf.elf.kconfig import kernel_version_code, special_number

    obj = build("kconfig", KCONFIG_C)
    assert bpftool_loadall(obj).returncode == 0
    with kernel.load(load_object(obj)) as coll:
        coll.programs["read_config"].test_run(ctx=bytes(8))
        (bss,) = coll.maps[".bss"].values()
    wrapper = special_number("LINUX_HAS_SYSCALL_WRAPPER")
    assert bss["out"] == [wrapper, kernel_version_code(), 1]   # 6.x has BPF cookies
    if platform.machine() == "x86_64":
        assert wrapper == 1


# --- end to end: one object of every kind above -------------------------------------------

def _compat_object(build, compiler, *defines):
    from conftest import DATA

    return build("libbpf_compat", (DATA / "libbpf_compat.bpf.c").read_text(), compiler,
                 defines)


@pytest.fixture
def interface():
    """A fresh veth interface (its peer goes with it)."""
    import shutil
    import subprocess
    import uuid

    if shutil.which("ip") is None:
        pytest.skip("iproute2 'ip' is not installed")
    name = f"pybd{uuid.uuid4().hex[:6]}"
    add = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name",
                          f"{name}p"], capture_output=True, text=True)
    if add.returncode:
        pytest.skip(f"cannot create a veth interface: {add.stderr.strip()}")
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_everything_together_loads_as_libbpf_loads_it(build, compiler, interface):
    from pybpf import kernel

    # libbpf's verdict on the same source (tc sections: this bpftool predates tcx)
    assert bpftool_loadall(_compat_object(build, compiler, "OLD_LIBBPF")).returncode == 0
    spec = load_object(_compat_object(build, compiler))
    assert sorted(spec.programs) == ["on_probe", "redirect_msg", "tcx_in", "tcx_out", "verdict"]
    assert (spec.programs["tcx_in"].attach_type, spec.programs["tcx_out"].attach_type) == \
        ("tcx_ingress", "tcx_egress")
    with kernel.load(spec) as coll:
        assert coll.failed == {}
        assert {m.type for m in coll.maps.values()} >= {
            "cgroup_array", "perf_event_array", "sockhash", "sockmap"}
        assert coll.programs["tcx_in"].test_run(bytes(64)).retval == 0      # TCX_PASS
        assert coll.programs["tcx_out"].test_run(bytes(64)).retval == -1 & 0xFFFFFFFF
        (bss,) = coll.maps[".bss"].values()
        assert bss["out"][:3] == [10, 0, -1]    # sum_below(5), not under cgroup, no field
        link = coll.programs["tcx_in"].attach(interface=interface)
        assert link.info().type == "tcx"


@pytest.mark.parametrize("compiler", ["zig", "clang"])
def test_everything_together_unguarded_fails_with_the_named_reason(build, compiler):
    from pybpf import kernel
    from pybpf.errors import CoreRelocationError

    libbpf = bpftool_loadall(_compat_object(build, compiler, "OLD_LIBBPF", "UNGUARDED"))
    assert libbpf.returncode != 0
    assert "failed to resolve CO-RE relocation <byte_off> [" in libbpf.stderr
    assert "struct sk_buff___pybpf.pybpf_no_such_field (0:0" in libbpf.stderr
    spec = load_object(_compat_object(build, compiler, "UNGUARDED"))
    with pytest.raises(CoreRelocationError) as info:
        kernel.load(spec)
    e = info.value
    assert (e.program, e.kind, e.type_name, e.access) == \
        ("tcx_in", "byte_off", "sk_buff___pybpf", "0:0")
    assert "struct sk_buff___pybpf.pybpf_no_such_field (0:0)" in str(e)
    assert "no struct sk_buff of the target BTF has pybpf_no_such_field" in str(e)
    with kernel.load(spec, skip_failed=True) as coll:  # the other programs still load
        assert sorted(coll.programs) == ["on_probe", "redirect_msg", "tcx_out", "verdict"]
        assert isinstance(coll.failed["tcx_in"], CoreRelocationError)
