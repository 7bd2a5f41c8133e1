"""Objects compiled from C, loaded into the kernel end to end: ELF ->
ObjectSpec -> maps, global data and programs in the kernel."""

from __future__ import annotations

import pytest

from btf_samples import zig_cc
from pybpf.kernel import load

pytestmark = pytest.mark.kernel



COUNTER_C = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct pair { u32 packets; u32 bytes; };

struct {
    __uint(type, 1);            /* BPF_MAP_TYPE_HASH */
    __uint(max_entries, 4);
    __type(key, u32);
    __type(value, struct pair);
} counts SEC(".maps");

const volatile u32 weight = 1;
u64 total = 0;

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
    u32 key = 0;
    struct pair *v = bpf_map_lookup_elem(&counts, &key);
    if (v) {
        __sync_fetch_and_add(&v->packets, 1);
        __sync_fetch_and_add(&v->bytes, weight);
    }
    total += weight;
    return 7;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_compiled_object_runs_in_the_kernel(tmp_path):
    from pybpf.elf import load_object

    spec = load_object(zig_cc(COUNTER_C, tmp_path, "counter"))
    spec.maps["counts"].contents = [(0, bytes(8))]
    spec.set_variable("weight", 5)
    with load(spec, log_level=2) as coll:
        prog = coll.programs["count_packets"]
        assert [prog.test_run(bytes(64)).retval for _ in range(3)] == [7, 7, 7]
        assert coll.maps["counts"][0] == {"packets": 3, "bytes": 15}   # decoded with BTF
        assert dict(coll.maps[".bss"].items()) == {0: {"total": 15}}   # array keys: indexes
        rodata = coll.maps[".rodata"]
        assert rodata.info().frozen and list(rodata.values()) == [{"weight": 5}]
        assert "counter.c" in prog.log  # line info reached the verifier
        assert prog.info().btf_id == coll.btf.id


CORE_C = r"""
#define SEC(n) __attribute__((section(n), used))
/* fields in another order than the kernel's: CO-RE must fix the offset */
struct __sk_buff { unsigned int mark; unsigned int len; } __attribute__((preserve_access_index));
SEC("socket") int read_mark(struct __sk_buff *skb) { return skb->mark; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_core_relocations_are_applied_against_the_kernels_btf(tmp_path):
    import struct

    from pybpf.elf import load_object

    spec = load_object(zig_cc(CORE_C, tmp_path, "core"))
    assert spec.programs["read_mark"].core_relocations
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 8, 1000)  # __sk_buff.mark is at 8 in the kernel, not 0
    with load(spec) as coll:
        assert coll.programs["read_mark"].test_run(bytes(64), ctx=bytes(ctx)).retval == 1000
