"""Objects of the kinds libbpf loads, parsed as libbpf parses them: arena
maps and their ``__arena`` globals, the newer section names (tcx, netkit,
struct_ops.s, uprobe.multi...), ``SEC("?...")`` and autoload.  Compiled
from C here with the ziglang wheel (the arena needs clang 18+, which zig
bundles)."""

from __future__ import annotations

import importlib.util
import struct

import pytest

from pybpf.elf import load_object
from pybpf.errors import ObjectError, VerifierError
from pybpf.spec.defines import BPF_F_SLEEPABLE
from pybpf.spec.sections import hook_for

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ziglang") is None,
                                reason="the ziglang wheel is not installed")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    from pybpf.toolchain import compile_source

    out = tmp_path_factory.mktemp("elf_compat")
    cache: dict = {}

    def run(name: str, source: str, defines: tuple[str, ...] = ()):
        key = (name, source, defines)
        if key not in cache:
            cache[key] = compile_source(source, out / f"{name}-{'-'.join(defines)}.o",
                                        name=f"{name}.bpf.c", compiler="zig",
                                        defines=list(defines))
        return cache[key]

    return run


# --- arena maps and __arena globals -------------------------------------------------------

ARENA_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))

#ifndef NO_ARENA_MAP
struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PAGES);
} arena SEC(".maps");
#endif

int __arena counter = 5;
long __arena table[4];
int __arena zeroed;
#ifdef BIG
char __arena big[5000] = { 1 };
#endif

SEC("syscall")
int bump(void *ctx)
{
	counter += 1;
	table[1] = counter * 10;
	zeroed = 7;
#ifdef BIG
	big[1] = 2;
#endif
	return counter;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_arena_globals_start_the_arena(build):
    spec = load_object(build("arena", ARENA_C, ("PAGES=2",)))
    arena = spec.maps["arena"]
    assert (arena.type, arena.key_size, arena.value_size, arena.max_entries) == ("arena", 0, 0, 2)
    assert arena.initial_data[:4] == struct.pack("<i", 5) and len(arena.initial_data) == 44
    assert {n: v[:3] for n, v in spec.variables.items()} == {
        "counter": ("arena", 0, 4), "table": ("arena", 8, 32), "zeroed": ("arena", 40, 4)}
    refs = {(r.map_name, r.value, r.offset) for r in spec.programs["bump"].map_references}
    assert refs == {("arena", True, 0), ("arena", True, 8), ("arena", True, 40)}
    spec.set_variable("counter", 41)
    assert arena.initial_data[:4] == struct.pack("<i", 41)


def test_arena_globals_link_to_the_arena(build):
    from pybpf.isa.opcodes import PSEUDO_MAP_VALUE
    from pybpf.linked import LinkedObject
    from pybpf.linker import link

    spec = load_object(build("arena", ARENA_C, ("PAGES=2",)))
    linked = link(spec)
    lp = linked.programs["bump"]
    assert sorted((pc, r.offset) for pc, r in lp.map_refs.items()) == [(0, 0), (6, 8), (15, 40)]
    assert all(lp.insns[pc].src == PSEUDO_MAP_VALUE for pc in lp.map_refs)
    assert lp.insns[7].imm == 8                                    # the offset, second slot
    linked.set_variable("zeroed", 9)
    again = LinkedObject.from_data(linked.to_data())
    assert again.maps["arena"].initial_data[40:44] == struct.pack("<i", 9)


def test_arena_programs_run_in_the_vm(build):
    import pybpf.vm

    spec = load_object(build("arena", ARENA_C, ("PAGES=2",)))
    spec.set_variable("counter", 41)
    # pybpf's verifier does not model arenas yet: it says so, and verify=False runs them
    with pytest.raises(VerifierError, match="does not model arena maps"):
        pybpf.vm.load(spec)
    coll = pybpf.vm.load(spec, verify=False)
    bump = coll.programs["bump"]
    assert [bump.test_run(ctx=bytes(8)).retval for _ in range(2)] == [42, 43]
    memory = coll.maps["arena"].memory
    assert struct.unpack_from("<i", memory, 0) == (43,)
    assert struct.unpack_from("<4q", memory, 8) == (0, 430, 0, 0)
    assert struct.unpack_from("<i", memory, 40) == (7,)
    struct.pack_into("<i", memory, 0, 100)                    # userspace writes, programs see
    assert bump.test_run(ctx=bytes(8)).retval == 101


def test_arena_globals_need_one_big_enough_arena(build):
    with pytest.raises(ObjectError, match=r"__arena globals need exactly one arena map .*none"):
        load_object(build("arena", ARENA_C, ("NO_ARENA_MAP",)))
    with pytest.raises(ObjectError, match=r"arena map 'arena' has 1 pages, too small for 5044 "
                                          r"bytes of __arena globals"):
        load_object(build("arena", ARENA_C, ("PAGES=1", "BIG")))
    assert load_object(build("arena", ARENA_C, ("PAGES=2", "BIG"))).maps["arena"]


def test_arena_map_rules_in_userspace():
    from pybpf.maps import MapError, create_map
    from pybpf.objects import MapSpec

    with pytest.raises(MapError, match="BPF_F_MMAPABLE"):
        create_map(MapSpec("a", "arena", 0, 0, 1))
    with pytest.raises(MapError, match="key_size and value_size must be 0"):
        create_map(MapSpec("a", "arena", 4, 4, 1, flags=1024))
    m = create_map(MapSpec("a", "arena", 0, 0, 3, flags=1024))
    assert len(m.memory) == 3 * 4096
    assert m.base % (1 << 32) == 0 and m.base <= m.value_address() < m.base + (1 << 32) - 3 * 4096
    with pytest.raises(MapError) as info:
        m.lookup(0)
    assert info.value.errno_name == "EINVAL"


# --- sections -----------------------------------------------------------------------------

SECTIONS_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tcx/ingress") int tcx_in(struct __sk_buff *skb) { return TCX_PASS; }
SEC("tcx/egress") int tcx_out(struct __sk_buff *skb) { return TCX_NEXT; }
SEC("tc/ingress") int tc_in(struct __sk_buff *skb) { return TCX_PASS; }
SEC("netkit/primary") int nk_primary(struct __sk_buff *skb) { return 0; }
SEC("netkit/peer") int nk_peer(struct __sk_buff *skb) { return 0; }
SEC("struct_ops.s/pybpf_op") int sleepable_op(void *ctx) { return 0; }
SEC("struct_ops/pybpf_op2") int plain_op(void *ctx) { return 0; }
SEC("uprobe.multi//bin/true:main*") int um(void *ctx) { return 0; }
SEC("uretprobe.multi//bin/true:main*") int urm(void *ctx) { return 0; }
SEC("uprobe.multi.s//bin/true:main*") int ums(void *ctx) { return 0; }
SEC("uretprobe.multi.s//bin/true:main*") int urms(void *ctx) { return 0; }
SEC("uprobe.session//bin/true:main*") int us(void *ctx) { return 0; }
SEC("?tcx/ingress") int maybe(struct __sk_buff *skb) { return TCX_DROP; }

char LICENSE[] SEC("license") = "GPL";
"""

EXPECTED = {
    # name: (type, attach type, sleepable, hook, autoload)
    "tcx_in": ("sched_cls", "tcx_ingress", False, "tc", True),
    "tcx_out": ("sched_cls", "tcx_egress", False, "tc", True),
    "tc_in": ("sched_cls", "tcx_ingress", False, "tc", True),
    "nk_primary": ("sched_cls", "netkit_primary", False, "netkit", True),
    "nk_peer": ("sched_cls", "netkit_peer", False, "netkit", True),
    "sleepable_op": ("struct_ops", None, True, "struct_ops", False),
    "plain_op": ("struct_ops", None, False, "struct_ops", False),
    "um": ("kprobe", "trace_uprobe_multi", False, "uprobe_multi", True),
    "urm": ("kprobe", "trace_uprobe_multi", False, "uprobe_multi", True),
    "ums": ("kprobe", "trace_uprobe_multi", True, "uprobe_multi", True),
    "urms": ("kprobe", "trace_uprobe_multi", True, "uprobe_multi", True),
    "us": ("kprobe", "trace_uprobe_session", False, "uprobe_multi", True),
    "maybe": ("sched_cls", "tcx_ingress", False, "tc", False),
}


def test_section_names_as_libbpf_reads_them(build):
    spec = load_object(build("sections", SECTIONS_C))
    got = {}
    for name, p in spec.programs.items():
        hook = hook_for(p.section, p.type, p.attach_type, p.attach_to)
        got[name] = (p.type, p.attach_type, p.sleepable, hook.name, p.autoload)
        assert not p.flags & BPF_F_SLEEPABLE   # sleepable is its own field
    assert got == EXPECTED
    assert spec.programs["maybe"].section == "tcx/ingress"   # the '?' is not part of it
    assert spec.programs["sleepable_op"].attach_to == "pybpf_op"
    assert spec.programs["um"].attach_to == "/bin/true:main*"


# --- kconfig values libbpf computes ---------------------------------------------------------

KCONFIG_C = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern long LINUX_KERNEL_VERSION __kconfig;
extern char LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

long out[4];

SEC("syscall")
int read_config(void *ctx)
{
	out[0] = LINUX_HAS_SYSCALL_WRAPPER;
	out[1] = LINUX_KERNEL_VERSION;
	out[2] = LINUX_HAS_BPF_COOKIE;
	out[3] = CONFIG_BPF_SYSCALL;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_computed_kconfig_values_fill_integer_externs(build):
    from pybpf.elf import resolve_kconfig
    from pybpf.elf.kconfig import kernel_version_code

    spec = load_object(build("kconfig", KCONFIG_C))
    written = resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "y"}, release="6.8.12-1-amd64")
    assert written == {
        "LINUX_HAS_SYSCALL_WRAPPER": written["LINUX_HAS_SYSCALL_WRAPPER"],
        "LINUX_KERNEL_VERSION": kernel_version_code("6.8.12").to_bytes(8, "little"),
        "LINUX_HAS_BPF_COOKIE": b"\x01", "CONFIG_BPF_SYSCALL": b"\x01"}
    assert written["LINUX_HAS_SYSCALL_WRAPPER"] in ((1).to_bytes(4, "little"), bytes(4))
    assert resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "n"},
                           release="5.4.0")["LINUX_HAS_BPF_COOKIE"] == b"\x00"
