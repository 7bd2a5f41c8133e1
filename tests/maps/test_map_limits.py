"""Map specs against the kernel's limits, and maps the kernel would accept
that must not cost their full size up front.

Creation answers as the kernel (6.18, x86-64) does: EINVAL for sizes and
flags it refuses, E2BIG where a size is over its cap, ENOMEM where it could
not allocate what the map preallocates (more than the machine's memory).
The ``kernel``-marked test asks the running kernel the same questions; only
questions the kernel answers without allocating much are asked.
"""

from __future__ import annotations

import errno
import os
import tracemalloc

import pytest

from pybpf.errors import BPFError, MapError
from pybpf.maps import BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, create_map
from pybpf.objects import MapSpec

NP = BPF_F_NO_PREALLOC
OK = 0
RAM = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
INNER = MapSpec("inner", "array", 4, 4, 1)

#: (type, key_size, value_size, max_entries, flags, map_extra) -> the kernel's answer
KERNEL_ANSWERS = [
    # hash maps: key + value under KMALLOC_MAX_SIZE - sizeof(struct htab_elem)
    (("hash", 0, 4, 1, NP, 0), errno.EINVAL),
    (("hash", 4, 0, 1, NP, 0), errno.EINVAL),
    (("hash", 4, 4, 0, NP, 0), errno.EINVAL),
    (("hash", 4, 8, 4, NP, 1), errno.EINVAL),
    (("hash", 513, 8, 4, 0, 0), OK),
    (("hash", 4, 4194251, 1, NP, 0), OK),
    (("hash", 4, 4194252, 1, NP, 0), errno.E2BIG),
    (("hash", 4194252, 4, 1, NP, 0), errno.E2BIG),
    (("hash", 1 << 31, 8, 4, 0, 0), errno.E2BIG),
    (("hash", 4, 1 << 31, 4, 0, 0), errno.E2BIG),
    (("hash", 4, 8, (1 << 27) + 1, NP, 0), errno.E2BIG),      # 2^28 buckets overflow a u32
    (("hash", 4, 8, (1 << 31) + 1, NP, 0), errno.E2BIG),
    (("hash", 4, 8, (1 << 32) - 1, NP, 0), errno.E2BIG),
    (("hash", 4, 4_000_000, 1 << 20, 0, 0), errno.ENOMEM),    # 4 TB of preallocated elements
    (("hash", 4, 4_000_000, 1 << 20, NP, 0), OK),             # ... allocated one by one
    (("lru_hash", 4, 4_000_000, 1 << 20, 0, 0), errno.ENOMEM),
    (("lru_hash", 4, 4194252, 1, 0, 0), errno.E2BIG),
    (("percpu_hash", 4, 32768, 4, 0, 0), OK),
    (("percpu_hash", 4, 32769, 4, 0, 0), errno.E2BIG),
    (("percpu_hash", 4, 8, (1 << 31) + 1, NP, 0), errno.E2BIG),
    # arrays: value_size up to INT_MAX, then what vmalloc can give
    (("array", 4, 1 << 31, 1, 0, 0), errno.E2BIG),
    (("array", 4, 1 << 20, (1 << 32) - 1, 0, 0), errno.ENOMEM),
    (("percpu_array", 4, 32761, 4, 0, 0), OK),
    (("percpu_array", 4, 32769, 4, 0, 0), errno.E2BIG),
    # LPM tries: value up to KMALLOC_MAX_SIZE - 256 - sizeof(struct lpm_trie_node)
    (("lpm_trie", 8, 4194024, 4, NP, 0), OK),
    (("lpm_trie", 8, 4194025, 4, NP, 0), errno.EINVAL),
    (("lpm_trie", 8, 8, (1 << 32) - 1, NP, 0), OK),           # nodes are allocated on insert
    (("lpm_trie", 4, 8, 4, NP, 0), errno.EINVAL),
    (("lpm_trie", 260, 8, 4, NP, 0), OK),
    (("lpm_trie", 261, 8, 4, NP, 0), errno.EINVAL),
    # queues, stacks, bloom filters: value up to KMALLOC_MAX_SIZE
    (("queue", 0, 1 << 22, 4, 0, 0), OK),
    (("queue", 0, (1 << 22) + 1, 4, 0, 0), errno.E2BIG),
    (("queue", 0, 1 << 20, (1 << 32) - 1, 0, 0), errno.ENOMEM),
    (("stack", 0, (1 << 22) + 1, 1, 0, 0), errno.E2BIG),
    (("bloom_filter", 0, 1 << 22, 1, 0, 0), OK),
    (("bloom_filter", 0, (1 << 22) + 1, 1, 0, 0), errno.E2BIG),
    (("bloom_filter", 0, 8, 4, 0, 16), errno.EINVAL),
    # stack traces, ring buffers
    (("stack_trace", 4, 8 * 127, 1, 0, 0), OK),
    (("stack_trace", 4, 8 * 128, 1, 0, 0), errno.EINVAL),
    (("stack_trace", 4, 8, (1 << 31) + 1, 0, 0), errno.E2BIG),
    (("ringbuf", 0, 0, 0, 0, 0), errno.EINVAL),
    (("ringbuf", 0, 0, (1 << 32) - 1, 0, 0), errno.EINVAL),
    (("array_of_maps", 4, 4, 4, 0, 0), errno.EINVAL),        # no inner map
]

#: Fields a bpf_attr cannot even carry: pybpf refuses them with EINVAL.
OUT_OF_RANGE = [
    ("hash", -1, 8, 4, 0, 0), ("hash", 1 << 32, 8, 4, 0, 0), ("hash", 4, -8, 4, 0, 0),
    ("hash", 4, 1 << 32, 4, NP, 0), ("array", 4, 8, 1 << 32, 0, 0), ("array", 4, 8, -1, 0, 0),
    ("hash", 4, 8, 4, 1 << 32, 0), ("hash", 4, 8, 4, -1, 0), ("bloom_filter", 0, 8, 4, 0, -1),
    ("bloom_filter", 0, 8, 4, 0, 1 << 64), ("ringbuf", 0, 0, 1 << 35, 0, 0),
    ("queue", 0, 8, 1 << 40, 0, 0),
]


def spec_of(case: tuple) -> MapSpec:
    type_, key, value, entries, flags, extra = case
    return MapSpec(f"lim_{type_}", type_, key, value, entries, flags, map_extra=extra)


def user_answer(case: tuple) -> int:
    try:
        create_map(spec_of(case), num_cpus=2)
    except MapError as exc:
        assert exc.op == "create"
        return exc.errno
    return OK


def name(case: tuple) -> str:
    return "-".join(str(f) for f in case)


@pytest.mark.parametrize("case,answer", KERNEL_ANSWERS, ids=[name(c) for c, _ in KERNEL_ANSWERS])
def test_userspace_maps_answer_creation_as_the_kernel(case, answer):
    assert user_answer(case) == answer


@pytest.mark.parametrize("case", OUT_OF_RANGE, ids=[name(c) for c in OUT_OF_RANGE])
def test_fields_a_bpf_attr_cannot_carry_are_einval_not_internal_errors(case):
    assert user_answer(case) == errno.EINVAL


@pytest.mark.parametrize("type_,value_size,entries", [
    ("array", 8, (1 << 32) - 1), ("percpu_array", 8, (1 << 32) - 1),
    ("prog_array", 4, (1 << 32) - 1), ("perf_event_array", 4, (1 << 32) - 1),
])
def test_preallocated_maps_larger_than_memory_are_enomem(type_, value_size, entries):
    """The kernel preallocates 8 bytes a slot at least: 32 GB here, which it
    can give only on a machine with more memory than that."""
    answer = user_answer((type_, 4, value_size, entries, 0, 0))
    assert answer == (errno.ENOMEM if 8 * entries > RAM else OK)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


LAZY = [
    MapSpec("big_hash", "hash", 8, 64, 1 << 20),                    # 64 MB of values
    MapSpec("huge_hash", "hash", 4, 4_000_000, 1 << 20, NP),        # 4 TB, allocated on insert
    MapSpec("big_lru", "lru_hash", 8, 64, 1 << 20),
    MapSpec("big_array", "array", 4, 8, 1 << 24),                   # 128 MB
    MapSpec("mmap_array", "array", 4, 8, 1 << 24, BPF_F_MMAPABLE),
    MapSpec("big_prog_array", "prog_array", 4, 4, 1 << 26),         # 512 MB of slots
    MapSpec("big_perf", "perf_event_array", 4, 4, 1 << 26),
    MapSpec("big_outer", "array_of_maps", 4, 4, 1 << 26, inner=INNER),
    MapSpec("big_stacks", "stack_trace", 4, 8, 1 << 26),
    MapSpec("big_ring", "ringbuf", 0, 0, 1 << 28),                  # 256 MB ring
    MapSpec("big_bloom", "bloom_filter", 0, 8, 1 << 28),            # 256 MB of bits
    MapSpec("big_lpm", "lpm_trie", 8, 8, (1 << 32) - 1, NP),        # 32 GB, allocated on insert
]


@pytest.mark.parametrize("spec", LAZY, ids=[s.name for s in LAZY])
def test_large_maps_cost_what_they_hold_not_what_they_could(spec):
    """Creating the map allocates (Python objects or resident memory) far
    less than its size; what is stored is there, and programs see it."""
    before = rss()
    tracemalloc.start()
    try:
        m = create_map(spec, num_cpus=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes of Python objects at creation"
    assert rss() - before < 32 << 20, "the values were allocated up front"
    if spec.type in ("hash", "lru_hash", "array"):
        last = (spec.max_entries - 1).to_bytes(spec.key_size, "little")
        value = bytes(range(8)) * (spec.value_size // 8) or bytes(spec.value_size)
        m.raw.update(last, value)
        assert m.raw.lookup(last) == value
        address = m.bpf_lookup(last)
        arena, offset = m.locate(address)
        assert bytes(m.arenas[arena][offset:offset + 8]) == value[:8]
    if spec.type == "ringbuf":
        assert m.bpf_ringbuf_output(b"x" * 100, 0) == 0 and m.consume() == [b"x" * 100]
    if spec.type == "prog_array":
        m.update(spec.max_entries - 1, "prog")
        assert m.bpf_tail_call_target(spec.max_entries - 1) == "prog" and len(m.keys()) == 1


def test_lpm_trie_of_four_billion_entries_takes_prefixes():
    m = create_map(MapSpec("lpm", "lpm_trie", 8, 8, (1 << 32) - 1, NP), num_cpus=1)
    key = m.key(16, bytes([10, 1]))
    m.raw.update(key, b"abcdefgh")
    assert m.raw.lookup(m.key(32, bytes([10, 1, 2, 3]))) == b"abcdefgh"


def test_every_create_error_is_a_map_error():
    """Whatever the spec, creation raises MapError or succeeds."""
    for type_ in ("hash", "array", "percpu_hash", "lru_hash", "lpm_trie", "queue", "stack",
                  "bloom_filter", "ringbuf", "stack_trace", "prog_array", "perf_event_array",
                  "array_of_maps", "hash_of_maps", "percpu_array", "lru_percpu_hash"):
        for key, value, entries in ((1 << 40, 4, 1), (4, 1 << 40, 1), (4, 4, 1 << 40),
                                    (-5, 4, 1), (4, -5, 1), (4, 4, -5), (4, 4, 1 << 31)):
            try:
                create_map(MapSpec("x", type_, key, value, entries, inner=INNER), num_cpus=1)
            except BPFError as exc:
                assert isinstance(exc, MapError), (type_, key, value, entries, exc)


@pytest.mark.kernel
@pytest.mark.parametrize("case,answer", KERNEL_ANSWERS, ids=[name(c) for c, _ in KERNEL_ANSWERS])
def test_the_kernel_gives_the_same_answers(case, answer):
    """Each question, asked of the running kernel (every one it accepts
    allocates little; every ENOMEM is far beyond any machine's memory)."""
    from pybpf.kernel import KernelMap

    type_, key, value, entries, flags, extra = case
    if answer == errno.ENOMEM:
        assert value * entries > 64 * RAM, "an ENOMEM question must not make the kernel try"
    try:
        KernelMap.create(type_, key, value, entries, flags=flags, map_extra=extra).close()
        got = OK
    except MapError as exc:
        got = exc.errno
    assert got == answer == user_answer(case)
