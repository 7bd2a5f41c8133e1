"""Userspace maps: every type's operations, errors and iteration orders."""

from __future__ import annotations

import ctypes
import errno
import struct
import threading

import pytest

from pybpf.btf import BTFBuilder, Member
from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_FAST_STACK_CMP,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_REUSE_STACKID,
    BPF_F_WRONLY,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    ENOTSUPP,
    BytesCodec,
    IntCodec,
    Map,
    MapError,
    create_map,
    map_at,
    map_by_id,
)
from pybpf.maps.jhash import jhash, jhash2
from pybpf.objects import MapSpec


def spec(type_: str, key_size: int = 4, value_size: int = 8, max_entries: int = 4,
         flags: int = 0, **kw) -> MapSpec:
    return MapSpec(f"t_{type_}", type_, key_size, value_size, max_entries, flags, **kw)


def make(type_: str, *args, num_cpus: int = 2, **kw) -> Map:
    return create_map(spec(type_, *args, **kw), num_cpus=num_cpus)


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(MapError) as info:
        fn(*args, **kw)
    return info.value.errno


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def read_at(address: int, size: int) -> bytes:
    return ctypes.string_at(address, size)


def write_at(address: int, data: bytes) -> None:
    ctypes.memmove(address, data, len(data))


# --------------------------------------------------------------------- creation

@pytest.mark.parametrize("type_,args,code", [
    ("hash", (0, 8, 4), errno.EINVAL),
    ("hash", (4, 0, 4), errno.EINVAL),
    ("hash", (4, 8, 0), errno.EINVAL),
    ("hash", (4, 8, 4, BPF_F_NO_COMMON_LRU), errno.EINVAL),
    ("hash", (4, 8, 4, 1 << 20), errno.EINVAL),
    ("hash", (4, 1 << 30, 4), errno.E2BIG),
    ("hash", (4, 8, 4, BPF_F_RDONLY | BPF_F_WRONLY), errno.EINVAL),
    ("lru_hash", (4, 8, 4, BPF_F_NO_PREALLOC), ENOTSUPP),
    ("percpu_hash", (4, 32769, 4), errno.E2BIG),
    ("array", (8, 8, 4), errno.EINVAL),
    ("array", (4, 8, 4, BPF_F_NO_PREALLOC), errno.EINVAL),
    ("array", (4, 8, 4, BPF_F_ZERO_SEED), errno.EINVAL),
    ("percpu_array", (4, 32769, 4), errno.E2BIG),
    ("lpm_trie", (8, 8, 4), errno.EINVAL),
    ("lpm_trie", (4, 8, 4, BPF_F_NO_PREALLOC), errno.EINVAL),
    ("lpm_trie", (261, 8, 4, BPF_F_NO_PREALLOC), errno.EINVAL),
    ("queue", (4, 8, 4), errno.EINVAL),
    ("queue", (0, 8, 4, BPF_F_NO_PREALLOC), errno.EINVAL),
    ("bloom_filter", (4, 8, 4), errno.EINVAL),
    ("ringbuf", (0, 0, 12288), errno.EINVAL),
    ("ringbuf", (0, 0, 2048), errno.EINVAL),
    ("ringbuf", (4, 0, 4096), errno.EINVAL),
    ("stack_trace", (4, 12, 4), errno.EINVAL),
    ("stack_trace", (4, 8 * 128, 4), errno.EINVAL),
    ("perf_event_array", (4, 8, 4), errno.EINVAL),
    ("prog_array", (4, 8, 4), errno.EINVAL),
    ("array_of_maps", (4, 4, 4), errno.EINVAL),
])
def test_create_refuses_what_the_kernel_refuses(type_, args, code):
    assert errno_of(make, type_, *args) == code


def test_missing_keys_raise_an_error_that_is_also_a_key_error():
    m = make("hash", 4, 8, 2)
    with pytest.raises(KeyError) as info:
        m.lookup(5)
    assert isinstance(info.value, MapError) and info.value.errno == errno.ENOENT
    assert str(info.value).startswith("lookup on map 't_hash' key 5")
    with pytest.raises(KeyError):
        m.delete(5)
    with pytest.raises(KeyError):
        make("queue", 0, 4, 2).pop()
    m[1] = 1
    assert m.get_next_key(1) is None              # the end of iteration is not an error
    assert m.lookup(5, "absent") == "absent" and m.get(5) is None


def test_create_error_names_map_and_op():
    with pytest.raises(MapError) as info:
        make("array", 8, 8, 4)
    assert info.value.op == "create" and "t_array" in str(info.value)
    assert "EINVAL" in str(info.value)


def test_unknown_type_is_refused():
    assert errno_of(create_map, spec("devmap")) == errno.EINVAL


def test_bloom_map_extra_is_checked():
    assert errno_of(make, "bloom_filter", 0, 8, 4, map_extra=16) == errno.EINVAL
    assert make("bloom_filter", 0, 8, 4, map_extra=15).nr_hash_funcs == 15


def test_contents_and_freeze_from_spec():
    s = spec("array", 4, 4, 2, contents=[(1, u32(99))], freeze=True)
    m = create_map(s, num_cpus=1)
    assert m.lookup(1) == u32(99) and m[1] == u32(99) and m.frozen
    assert errno_of(m.update, 0, u32(1)) == errno.EPERM


def test_perf_event_array_sized_to_cpus_when_zero():
    m = create_map(spec("perf_event_array", 4, 4, 0), num_cpus=3)
    assert m.max_entries == 3


# --------------------------------------------------------------------- hash

def test_hash_update_flags_and_errors():
    m = make("hash", 4, 8, 3)
    for k in range(3):
        m.update(k, u64(k))
    assert errno_of(m.update, 7, u64(0)) == errno.E2BIG
    m.update(1, u64(11))                      # existing key in a full map is fine
    assert m.lookup(1) == u64(11)
    assert errno_of(m.update, 1, u64(0), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, 9, u64(0), BPF_EXIST) == errno.ENOENT
    assert errno_of(m.update, 1, u64(0), 3) == errno.EINVAL
    assert errno_of(m.update, 1, u64(0), BPF_F_LOCK) == errno.EINVAL
    assert errno_of(m.lookup, 9) == errno.ENOENT
    assert errno_of(m.lookup, 1, flags=1) == errno.EINVAL
    assert errno_of(m.delete, 9) == errno.ENOENT
    assert errno_of(m.lookup_and_delete, 9) == errno.ENOENT
    assert errno_of(m.lookup_and_delete, 1, flags=1) == errno.EINVAL
    m.update(2, u64(22), BPF_EXIST)
    assert m.lookup_and_delete(2) == u64(22) and 2 not in m and len(m) == 2


def test_wrong_sizes_are_einval_and_name_the_key():
    m = make("hash", 4, 8, 3)
    with pytest.raises(MapError) as info:
        m.update(b"abc", u64(1))
    assert info.value.errno == errno.EINVAL and info.value.key == b"abc"
    assert "update" in str(info.value) and "t_hash" in str(info.value)
    assert errno_of(m.update, 1, b"short") == errno.EINVAL
    assert errno_of(m.update, 1 << 40, u64(1)) == errno.EINVAL
    assert errno_of(m.update, "text", u64(1)) == errno.EINVAL


def test_hash_get_next_key_kernel_rules():
    m = make("hash", 4, 8, 8)
    for k in (5, 3, 9):
        m[k] = k
    first = m.get_next_key(None)
    assert m.get_next_key(12345) == first          # missing key: the first key
    seen, key = [first], first
    while (key := m.get_next_key(key)) is not None:
        seen.append(key)
    assert sorted(seen) == [u32(3), u32(5), u32(9)]
    assert seen == list(m) == m.keys()              # iteration agrees


def test_hash_delete_while_iterating_restarts_like_kernel():
    m = make("hash", 4, 8, 8)
    for k in range(6):
        m[k] = k
    key = m.get_next_key(None)
    deleted = 0
    while key is not None:
        m.delete(key)
        deleted += 1
        key = m.get_next_key(key)                 # key is gone: restarts from the first
    assert deleted == 6 and len(m) == 0


def test_hash_slots_are_reused_after_delete():
    m = make("hash", 4, 8, 2)
    m[1] = 1
    m[2] = 2
    addr1 = m.bpf_lookup(u32(1))
    m.delete(1)
    m[3] = 3
    assert m.bpf_lookup(u32(3)) == addr1
    assert errno_of(m.update, 4, 4) == errno.E2BIG


def test_hash_value_pointer_sees_userspace_updates_and_back():
    m = make("hash", 4, 8, 4)
    m[1] = 10
    addr = m.bpf_lookup(u32(1))
    assert addr and read_at(addr, 8) == u64(10)
    m[1] = 20                                     # in place: the pointer sees it
    assert read_at(addr, 8) == u64(20)
    write_at(addr, u64(30))                       # a program's store
    assert m.lookup(1) == u64(30)
    assert m.bpf_lookup(u32(2)) == 0
    arena, offset = m.locate(addr)
    assert arena == 0 and m.arenas[0][offset:offset + 8] == u64(30)


def test_hash_bpf_side_returns_negative_errno():
    m = make("hash", 4, 8, 1)
    assert m.bpf_update(u32(1), u64(1), BPF_ANY) == 0
    assert m.bpf_update(u32(2), u64(1), BPF_ANY) == -errno.E2BIG
    assert m.bpf_update(u32(1), u64(1), BPF_NOEXIST) == -errno.EEXIST
    assert m.bpf_update(u32(2), u64(1), BPF_EXIST) == -errno.ENOENT
    assert m.bpf_update(u32(1), u64(1), 8) == -errno.EINVAL
    assert m.bpf_delete(u32(2)) == -errno.ENOENT
    assert m.bpf_delete(u32(1)) == 0 and len(m) == 0


def test_hash_batches_follow_kernel_cursor_semantics():
    m = make("hash", 4, 8, 10)
    for k in range(7):
        m[k] = k * 10
    got, cursor, steps = {}, None, 0
    while True:
        step = m.lookup_batch(cursor, 3)
        steps += 1
        assert len(step.keys) <= 3
        got.update(zip(step.keys, step.values))
        if step.done:
            break
        cursor = step.cursor
    assert got == dict(m.raw.items()) == dict(m.items()) and steps == 3
    assert m.lookup_batch(None, 0).keys == []
    assert errno_of(m.lookup_batch, None, 3, flags=1) == errno.EINVAL
    assert errno_of(m.lookup_batch, None, 3, elem_flags=1) == errno.EINVAL
    past_end = m.lookup_batch(u32(99), 3)
    assert past_end.done and past_end.keys == []
    drained = [k for step in m.batches(2, delete=True) for k in step.keys]
    assert len(drained) == 7 and len(m) == 0


def test_update_and_delete_batch_partial_counts():
    m = make("hash", 4, 8, 4)
    assert m.update_batch([1, 2], [u64(1), u64(2)]) == 2
    assert errno_of(m.update_batch, [3], [u64(3)], elem_flags=BPF_NOEXIST) == errno.EINVAL
    with pytest.raises(MapError) as info:
        m.update_batch([3, 4, 5, 6], [u64(0)] * 4)
    assert info.value.errno == errno.E2BIG and info.value.count == 2
    with pytest.raises(MapError) as info:
        m.delete_batch([1, 99, 2])
    assert info.value.errno == errno.ENOENT and info.value.count == 1
    assert 1 not in m and 2 in m


def test_for_each_yields_key_and_value_addresses():
    m = make("hash", 4, 8, 8)
    for k in (4, 7):
        m[k] = k * 100
    seen = {}
    for key_addr, value_addr in m.bpf_for_each(0):
        seen[read_at(key_addr, 4)] = read_at(value_addr, 8)
    assert seen == {u32(4): u64(400), u32(7): u64(700)}


# --------------------------------------------------------------------- percpu

def test_percpu_hash_userspace_sees_every_cpu():
    m = make("percpu_hash", 4, 4, 4, num_cpus=3)
    m.update(1, [1, 2, 3])
    assert m.lookup(1) == [u32(1), u32(2), u32(3)]
    m.update(1, u32(7) + bytes(4) + u32(8) + bytes(4) + u32(9) + bytes(4))  # kernel layout
    assert m[1] == [u32(7), u32(8), u32(9)]
    m.update(2, u32(5))                                  # one value: every CPU
    assert m[2] == [u32(5)] * 3
    assert errno_of(m.update, 1, [1, 2]) == errno.EINVAL
    assert errno_of(m.update, 1, b"\1\2") == errno.EINVAL


def test_percpu_hash_bpf_update_writes_own_cpu_and_zeroes_others_when_new():
    m = make("percpu_hash", 4, 4, 4, num_cpus=2)
    assert m.bpf_update(u32(5), u32(42), 0, cpu=1) == 0
    assert m.lookup(5) == [u32(0), u32(42)]
    assert m.bpf_update(u32(5), u32(43), 0, cpu=0) == 0
    assert m.lookup(5) == [u32(43), u32(42)]
    a0, a1 = m.bpf_lookup(u32(5), 0), m.bpf_lookup(u32(5), 1)
    assert read_at(a0, 4) == u32(43) and read_at(a1, 4) == u32(42)
    assert m.bpf_lookup_percpu(u32(5), 2) == 0


def test_percpu_array_layout_and_cpus():
    m = make("percpu_array", 4, 4, 2, num_cpus=2)
    m.update(0, [1, 2])
    assert m.lookup(0) == [u32(1), u32(2)]
    assert m.bpf_update(u32(1), u32(9), 0, cpu=1) == 0
    assert m.lookup(1) == [u32(0), u32(9)]
    assert read_at(m.bpf_lookup(u32(0), 1), 4) == u32(2)
    assert m.value_stride == 8 and len(m.arenas) == 2


# --------------------------------------------------------------------- array

def test_array_semantics():
    m = make("array", 4, 8, 4)
    assert m.lookup(3) == bytes(8)
    assert errno_of(m.lookup, 4) == errno.ENOENT
    assert errno_of(m.update, 4, u64(1)) == errno.E2BIG
    assert errno_of(m.update, 1, u64(1), BPF_NOEXIST) == errno.EEXIST
    m.update(1, u64(5), BPF_EXIST)
    assert errno_of(m.update, 1, u64(1), 8) == errno.EINVAL
    assert errno_of(m.delete, 1) == errno.EINVAL
    assert errno_of(m.lookup_and_delete, 1) == ENOTSUPP
    assert len(m) == 4 and list(m) == [0, 1, 2, 3]
    assert m[1] == u64(5)
    assert errno_of(m.pop, 1) == errno.EINVAL      # looked up, then the delete fails
    m.clear()                                      # arrays: every value zeroed
    assert m.values() == [bytes(8)] * 4


def test_array_get_next_key_order():
    m = make("array", 4, 8, 4)
    assert m.get_next_key(None) == 0                # keys decode as indexes
    assert m.get_next_key(2) == 3
    assert m.get_next_key(3) is None
    assert m.get_next_key(99) == 0
    assert m.raw.get_next_key(u32(1)) == u32(2)


def test_array_values_never_move_and_stride_is_8():
    m = make("array", 4, 5, 3)
    assert m.value_stride == 8
    addrs = [m.bpf_lookup(u32(i)) for i in range(3)]
    assert addrs[1] - addrs[0] == 8 and m.bpf_lookup(u32(3)) == 0
    m.update(2, b"hello")
    assert read_at(addrs[2], 5) == b"hello" and m.value_address(2) == addrs[2]


def test_array_batches():
    m = make("array", 4, 4, 5)
    m.update_batch([0, 1, 2, 3, 4], [u32(i * 3) for i in range(5)])
    first = m.lookup_batch(None, 2)
    assert first.keys == [0, 1] and first.cursor == u32(1) and not first.done
    rest = m.lookup_batch(first.cursor, 10)
    assert rest.keys == [2, 3, 4] and rest.done and rest.cursor == u32(4)
    assert rest.values == [u32(6), u32(9), u32(12)]
    assert m.raw.lookup_batch(None, 1).keys == [u32(0)]
    assert errno_of(m.lookup_and_delete_batch, None, 2) == ENOTSUPP
    assert errno_of(m.delete_batch, [0]) == ENOTSUPP
    with pytest.raises(MapError) as info:
        m.update_batch([0, 9, 1], [u32(0)] * 3)
    assert info.value.errno == errno.E2BIG and info.value.count == 1


def test_freeze_blocks_userspace_writes_only():
    m = make("array", 4, 8, 2)
    m.freeze()
    assert errno_of(m.update, 0, u64(1)) == errno.EPERM
    assert errno_of(m.update_batch, [0], [u64(1)]) == errno.EPERM
    assert errno_of(m.freeze) == errno.EPERM
    assert m.bpf_update(u32(0), u64(7)) == 0       # programs still write
    assert m.lookup(0) == u64(7)
    h = make("hash", 4, 8, 2)
    h[1] = 1
    h.freeze()
    assert errno_of(h.delete, 1) == errno.EPERM
    assert errno_of(h.lookup_and_delete, 1) == errno.EPERM


def test_access_flags():
    ro = make("array", 4, 8, 2, BPF_F_RDONLY)
    assert errno_of(ro.update, 0, u64(1)) == errno.EPERM
    assert ro.lookup(0) == bytes(8)
    wo = make("array", 4, 8, 2, BPF_F_WRONLY)
    wo.update(0, u64(1))
    assert errno_of(wo.lookup, 0) == errno.EPERM
    rop = make("array", 4, 8, 2, BPF_F_RDONLY_PROG)
    assert not rop.prog_writable
    assert [b.writable for b in rop.buffers() if b.kind == "map_value"] == [False]


def test_spin_lock_is_preserved_and_read_as_zero():
    s = spec("hash", 4, 16, 4)
    m = create_map(s, num_cpus=1, spin_lock_offset=0)
    m.update(1, b"\xff" * 16)
    addr = m.bpf_lookup(u32(1))
    assert read_at(addr, 4) == bytes(4)          # the lock word is never written from userspace
    where = m.locate(addr)
    held, release = threading.Event(), threading.Event()

    def program_holding_the_lock():       # a program in another thread
        m.bpf_spin_lock(*where)
        held.set()
        release.wait(10)
        m.bpf_spin_unlock(*where)

    holder = threading.Thread(target=program_holding_the_lock)
    holder.start()
    held.wait(10)
    m.update(1, b"\xee" * 16, BPF_EXIST)          # a plain update leaves the lock alone
    assert read_at(addr, 4) == u32(1) and read_at(addr + 4, 12) == b"\xee" * 12
    assert m.lookup(1) == bytes(4) + b"\xee" * 12
    # BPF_F_LOCK copies wait for the holder to let go
    threading.Timer(0.05, release.set).start()
    m.update(1, b"\xdd" * 16, BPF_F_LOCK | BPF_EXIST)
    holder.join()
    assert read_at(addr, 4) == bytes(4) and read_at(addr + 4, 12) == b"\xdd" * 12
    assert m.lookup(1, flags=BPF_F_LOCK) == bytes(4) + b"\xdd" * 12
    plain = make("hash", 4, 16, 4)
    assert errno_of(plain.lookup, 1, flags=BPF_F_LOCK) == errno.EINVAL
    lru = create_map(spec("lru_hash", 4, 16, 4), num_cpus=1, spin_lock_offset=0)
    assert lru.bpf_update(u32(1), bytes(16), BPF_F_LOCK) == -errno.EINVAL   # kernel: LRU has no F_LOCK


# --------------------------------------------------------------------- LRU

def test_lru_evicts_least_recently_used():
    m = make("lru_hash", 4, 8, 3)
    for k in (1, 2, 3):
        m[k] = k
    assert m.bpf_lookup(u32(1))                  # a program touches 1
    m[4] = 4                                     # evicts 2, the oldest untouched
    assert sorted(m) == [u32(1), u32(3), u32(4)]
    m.lookup(3)                                  # userspace lookups do not count as use
    m[5] = 5
    assert sorted(m) == [u32(1), u32(4), u32(5)]
    # like the kernel, an update of a full LRU map evicts first, even for an existing key
    m[4] = 44
    assert sorted(m) == [u32(4), u32(5)] and m[4] == u64(44)
    assert errno_of(m.update, 5, u64(0), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, 9, u64(0), BPF_EXIST) == errno.ENOENT
    assert len(m) == 2


def test_lru_never_reports_full():
    m = make("lru_hash", 4, 8, 4)
    for k in range(100):
        assert m.bpf_update(u32(k), u64(k)) == 0
    assert sorted(int.from_bytes(k, "little") for k in m) == [96, 97, 98, 99]


def test_lru_no_common_lru_has_per_cpu_lists():
    m = make("lru_hash", 4, 8, 5, BPF_F_NO_COMMON_LRU, num_cpus=2)
    assert m.max_entries == 6                    # rounded up to a multiple of the CPU count
    for k in range(10):
        m.bpf_update(u32(k), u64(k), 0, cpu=0)
    assert sorted(int.from_bytes(k, "little") for k in m) == [7, 8, 9]
    for k in range(100, 103):
        m.bpf_update(u32(k), u64(k), 0, cpu=1)
    assert len(m) == 6 and u32(7) in [k for k in m]


def test_lru_percpu():
    m = make("lru_percpu_hash", 4, 4, 2, num_cpus=2)
    m.update(1, [1, 2])
    m.update(2, [3, 4])
    m.update(3, [5, 6])
    assert 1 not in m and m.lookup(3) == [u32(5), u32(6)]


# --------------------------------------------------------------------- LPM

def lpm_key(prefixlen: int, *octets: int) -> bytes:
    return struct.pack("<I4B", prefixlen, *octets)


def test_lpm_longest_prefix_match_and_order():
    m = make("lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC)
    m.update(lpm_key(16, 192, 168, 0, 0), u32(16))
    m.update(lpm_key(24, 192, 168, 0, 0), u32(240))
    m.update(lpm_key(24, 192, 168, 1, 0), u32(241))
    m.update(lpm_key(24, 192, 168, 128, 0), u32(24128))
    assert m.lookup(lpm_key(32, 192, 168, 1, 5)) == u32(241)
    assert m.lookup(lpm_key(32, 192, 168, 2, 5)) == u32(16)
    assert m.lookup(lpm_key(20, 192, 168, 1, 5)) == u32(16)
    assert errno_of(m.lookup, lpm_key(32, 10, 1, 1, 1)) == errno.ENOENT
    assert errno_of(m.update, lpm_key(8, 10, 0, 0, 0), u32(8)) == errno.ENOSPC
    assert errno_of(m.update, lpm_key(24, 192, 168, 1, 0), u32(1), BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, lpm_key(8, 10, 0, 0, 0), u32(1), BPF_EXIST) == errno.ENOENT
    assert errno_of(m.update, lpm_key(33, 10, 0, 0, 0), u32(1)) == errno.EINVAL
    assert errno_of(m.update, lpm_key(24, 192, 168, 1, 0), u32(1), BPF_F_LOCK) == errno.EINVAL
    order = list(m)
    assert order == [lpm_key(24, 192, 168, 0, 0), lpm_key(24, 192, 168, 1, 0),
                     lpm_key(24, 192, 168, 128, 0), lpm_key(16, 192, 168, 0, 0)]
    assert m.get_next_key(lpm_key(8, 1, 0, 0, 0)) == order[0]
    assert m.get_next_key(order[-1]) is None
    assert errno_of(m.delete, lpm_key(8, 1, 0, 0, 0)) == errno.ENOENT
    assert errno_of(m.delete, lpm_key(33, 1, 0, 0, 0)) == errno.EINVAL
    assert errno_of(m.lookup_and_delete, order[0]) == ENOTSUPP


def test_lpm_delete_keeps_structure():
    m = make("lpm_trie", 8, 4, 16, BPF_F_NO_PREALLOC)
    prefixes = [(8, 10, 0, 0, 0), (16, 10, 1, 0, 0), (16, 10, 2, 0, 0), (24, 10, 1, 1, 0),
                (32, 10, 1, 1, 1), (0, 0, 0, 0, 0)]
    for i, p in enumerate(prefixes):
        m.update(lpm_key(*p), u32(i))
    m.delete(lpm_key(16, 10, 1, 0, 0))          # a node with one child
    assert m.lookup(lpm_key(32, 10, 1, 9, 9)) == u32(0)
    assert m.lookup(lpm_key(32, 10, 1, 1, 7)) == u32(3)
    m.delete(lpm_key(8, 10, 0, 0, 0))
    assert m.lookup(lpm_key(32, 10, 9, 9, 9)) == u32(5)   # the /0 default route
    m.delete(lpm_key(0, 0, 0, 0, 0))
    assert errno_of(m.lookup, lpm_key(32, 10, 9, 9, 9)) == errno.ENOENT
    assert len(m) == 3 and m.lookup(lpm_key(32, 10, 1, 1, 1)) == u32(4)


def test_lpm_key_data_is_kept_as_given_and_bpf_lookup():
    m = make("lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC)
    m.update(lpm_key(8, 10, 1, 2, 3), u32(7))
    assert m.get_next_key(None) == lpm_key(8, 10, 1, 2, 3)
    addr = m.bpf_lookup(lpm_key(32, 10, 200, 0, 1))
    assert addr and read_at(addr, 4) == u32(7)
    assert m.bpf_update(lpm_key(40, 0, 0, 0, 0), u32(1)) == -errno.EINVAL
    assert m.key(8, b"\x0a") == lpm_key(8, 10, 0, 0, 0)


# --------------------------------------------------------------------- queue / stack

def test_queue_push_pop_peek_and_overwrite():
    q = make("queue", 0, 4, 3)
    for i in range(3):
        q.push(i)
    assert errno_of(q.push, 9) == errno.E2BIG
    assert errno_of(q.push, 9, BPF_NOEXIST) == errno.EINVAL
    assert errno_of(q.push, 9, BPF_F_LOCK) == errno.EINVAL
    q.push(9, BPF_EXIST)                         # drops the oldest (0)
    assert q.peek() == u32(1) == q.lookup(None)
    assert errno_of(q.lookup, None, flags=BPF_F_LOCK) == errno.EINVAL
    assert errno_of(len, q) == errno.EINVAL        # no keys to count, as in the kernel
    assert errno_of(q.peek, 1) == errno.EINVAL
    assert [q.pop() for _ in range(3)] == [u32(1), u32(2), u32(9)]
    assert q.pop(None, "empty") == "empty"
    q.push(1)
    q.clear()
    assert errno_of(q.peek) == errno.ENOENT
    assert errno_of(q.pop) == errno.ENOENT
    assert errno_of(q.delete, None) == errno.EINVAL
    assert errno_of(q.get_next_key, None) == errno.EINVAL
    assert errno_of(q.lookup_batch, None, 1) == ENOTSUPP
    assert errno_of(q.update, 1, u32(1)) == errno.EINVAL


def test_stack_is_lifo_and_bpf_side():
    s = make("stack", 0, 4, 3)
    for i in range(3):
        assert s.bpf_push(u32(i), 0) == 0
    assert s.bpf_push(u32(9), 0) == -errno.E2BIG
    assert s.bpf_push(u32(9), BPF_EXIST) == 0
    out = bytearray(4)
    assert s.bpf_peek(out) == 0 and out == u32(9)
    popped = []
    while s.bpf_pop(out) == 0:
        popped.append(bytes(out))
    assert popped == [u32(9), u32(2), u32(1)]
    assert s.bpf_pop(out) == -errno.ENOENT


# --------------------------------------------------------------------- bloom

def test_bloom_filter_semantics():
    b = make("bloom_filter", 0, 4, 100, BPF_F_ZERO_SEED)
    b.push(5)
    assert u32(5) in b
    assert b.peek(5) is None and 5 in b and 6 not in b and "text" not in b
    assert errno_of(b.peek, 6) == errno.ENOENT
    with pytest.raises(KeyError):
        b.peek(6)
    assert errno_of(b.lookup, None) == errno.ENOENT   # tests the zero value, as bpf() does
    b.push(0)
    assert b.lookup(None) == bytes(4)
    assert errno_of(b.push, 6, BPF_NOEXIST) == errno.EINVAL
    assert errno_of(b.push, 6, BPF_EXIST) == errno.EINVAL
    assert errno_of(b.delete, None) == errno.EOPNOTSUPP
    assert errno_of(b.get_next_key, None) == errno.EOPNOTSUPP
    assert errno_of(b.lookup_and_delete, None) == ENOTSUPP
    assert b.bpf_push(u32(6), 0) == 0
    assert b.bpf_peek(bytearray(u32(6))) == 0
    assert b.bpf_peek(bytearray(u32(7))) == -errno.ENOENT
    assert b.nr_hash_funcs == 5 and b.bitset_mask == 1023     # 100*5/5*7 -> 1024 bits


def test_bloom_has_no_false_negatives():
    b = make("bloom_filter", 0, 8, 1000, BPF_F_ZERO_SEED, map_extra=3)
    values = [u64(i * 7919) for i in range(1000)]
    for v in values:
        b.push(v)
    assert all(v in b for v in values)
    false_positives = sum(u64(i * 7919 + 1) in b for i in range(1000))
    assert false_positives < 200


# --------------------------------------------------------------------- stack trace

def test_stack_trace_ids_and_collisions():
    m = make("stack_trace", 4, 8 * 4, 4)
    ips = [0x1000, 0x2000, 0x3000]
    sid = m.bpf_get_stackid(ips, 0)
    assert sid == jhash2([0x1000, 0, 0x2000, 0, 0x3000, 0]) & 3
    assert m.bpf_get_stackid(ips, 0) == sid
    assert m.lookup(sid) == u64(0x1000) + u64(0x2000) + u64(0x3000) + bytes(8)
    assert m.stack(sid) == ips
    assert m.stack(m.bpf_get_stackid(ips, 1)) == [0x2000, 0x3000]    # skip one frame
    assert m.bpf_get_stackid(ips, 3) == -errno.EFAULT           # skipped everything
    assert m.bpf_get_stackid(ips, 1 << 12) == -errno.EINVAL
    # find a different stack landing in the same bucket
    other = next([0x5000 + i] for i in range(1000)
                 if jhash(u64(0x5000 + i)) & 3 == sid)
    assert m.bpf_get_stackid(other, 0) == -errno.EEXIST
    assert m.bpf_get_stackid(other, BPF_F_REUSE_STACKID) == sid
    assert m.stack(sid) == other
    assert m.bpf_get_stackid(ips, BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID) == sid
    assert errno_of(m.update, sid, bytes(32)) == errno.EINVAL
    m.delete(sid)
    assert errno_of(m.delete, sid) == errno.ENOENT
    assert errno_of(m.delete, 99) == errno.E2BIG
    for key in list(m):
        m.delete(key)
    assert m.get_next_key(None) is None and len(m) == 0


def test_stack_trace_depth_is_truncated_and_map_fills():
    m = make("stack_trace", 4, 8 * 2, 2)
    assert m.stack(m.bpf_get_stackid([1, 2, 3, 4], 0)) == [1, 2]
    ids = set()
    for i in range(50):
        r = m.bpf_get_stackid([100 + i], 0)
        if r >= 0:
            ids.add(r)
    assert len(m) <= 2 and len(list(m)) == len(m)


# --------------------------------------------------------------------- prog array / maps of maps

def test_prog_array():
    m = make("prog_array", 4, 4, 4)
    prog = object()
    m.update(1, prog)
    assert m.lookup(1) is prog and m.bpf_tail_call_target(1) is prog
    assert m.bpf_tail_call_target(0) is None and m.bpf_tail_call_target(99) is None
    assert errno_of(m.lookup, 0) == errno.ENOENT
    assert errno_of(m.update, 0, prog, BPF_NOEXIST) == errno.EINVAL
    assert errno_of(m.update, 9, prog) == errno.E2BIG
    assert errno_of(m.delete, 0) == errno.ENOENT
    assert errno_of(m.delete, 9) == errno.E2BIG
    assert list(m) == [1] and m[1] is prog
    m.delete(1)
    assert len(m) == 0


def test_array_of_maps():
    inner = spec("array", 4, 8, 4)
    outer = create_map(spec("array_of_maps", 4, 4, 4, inner=inner), num_cpus=1)
    a = create_map(inner, num_cpus=1)
    a[2] = 22
    outer[0] = a
    assert outer[0] is a and outer.lookup(0) is a
    addr = outer.bpf_lookup(u32(0))
    assert addr == a.address and map_at(addr) is a
    assert read_at(map_at(addr).bpf_lookup(u32(2)), 8) == u64(22)
    assert outer.bpf_lookup(u32(1)) == 0
    bigger = create_map(spec("array", 4, 8, 8), num_cpus=1)
    other = create_map(spec("hash", 4, 8, 4), num_cpus=1)
    assert errno_of(outer.update, 1, bigger) == errno.EINVAL
    assert errno_of(outer.update, 1, other) == errno.EINVAL
    assert errno_of(outer.update, 0, a, BPF_NOEXIST) == errno.EINVAL
    assert errno_of(outer.update, 1, "not a map") == errno.EBADF
    outer.update(2, a.id)                                  # by id, like an fd
    assert outer[2] is a and map_by_id(a.id) is a
    assert errno_of(outer.delete, 1) == errno.ENOENT


def test_inner_map_flag_allows_other_sizes():
    inner = spec("array", 4, 8, 4, BPF_F_INNER_MAP)
    outer = create_map(spec("array_of_maps", 4, 4, 4, inner=inner), num_cpus=1)
    outer[1] = create_map(spec("array", 4, 8, 64, BPF_F_INNER_MAP), num_cpus=1)
    assert errno_of(outer.update, 2, create_map(spec("array", 4, 8, 64), num_cpus=1)) \
        == errno.EINVAL


def test_hash_of_maps():
    inner = spec("hash", 4, 8, 4)
    outer = create_map(spec("hash_of_maps", 4, 4, 2, inner=inner), num_cpus=1)
    a, b, c = (create_map(inner, num_cpus=1) for _ in range(3))
    outer[5] = a
    outer[6] = b
    assert errno_of(outer.update, 7, c) == errno.E2BIG
    assert errno_of(outer.update, 5, c, BPF_NOEXIST) == errno.EEXIST
    assert errno_of(outer.update, 8, c, BPF_EXIST) == errno.ENOENT
    assert outer[5] is a and outer.bpf_lookup(u32(6)) == b.address
    assert outer.bpf_lookup_map(u32(6)) is b
    del outer[5]
    assert outer.bpf_lookup(u32(5)) == 0 and 5 not in outer
    assert errno_of(create_map, spec("hash_of_maps", 4, 4, 2,
                                     inner=spec("array_of_maps", inner=inner))) == errno.EINVAL


# --------------------------------------------------------------------- codecs and protocol

def test_mapping_protocol_with_codecs():
    m = make("hash", 4, 8, 8)
    m.key_codec, m.value_codec = IntCodec(4), IntCodec(8, signed=True)
    m[1] = -5
    m[2] = 7
    assert m[1] == -5 and dict(m.items()) == {1: -5, 2: 7}
    assert m.get(3, "none") == "none" and 3 not in m and 2 in m
    with pytest.raises(KeyError):
        m[3]
    with pytest.raises(KeyError):
        del m[3]
    assert m.pop(2) == 7 and m.pop(2, None) is None
    assert m.keys() == [1] and m.values() == [-5]
    m.clear()
    assert len(m) == 0
    assert isinstance(make("array").key_codec, IntCodec)
    assert isinstance(make("hash").key_codec, BytesCodec)


def test_btf_typed_view():
    builder = BTFBuilder()
    u32_id = builder.add_int("u32", 4)
    lock_id = builder.add_struct("bpf_spin_lock", 4, [Member("val", u32_id, 0)])
    struct_id = builder.add_struct("pair", 12, [Member("a", u32_id, 0),
                                                Member("lock", lock_id, 32),
                                                Member("b", u32_id, 64)])
    btf = builder.build()
    m = create_map(spec("hash", 4, 12, 4, btf=btf, key_type=u32_id, value_type=struct_id),
                   num_cpus=1)
    assert m.spin_lock_offset == 4                 # found through BTF
    m[3] = u32(1) + u32(5) + u32(2)
    assert m[3] == {"a": 1, "lock": {"val": 0}, "b": 2}
    assert list(m) == [3] and m.lookup(3, flags=BPF_F_LOCK) == {"a": 1, "lock": {"val": 0},
                                                                 "b": 2}
    assert m.raw.lookup(3, flags=BPF_F_LOCK) == u32(1) + bytes(4) + u32(2)
    m[4] = {"a": 7, "lock": {"val": 0}, "b": 8}     # structured values, encoded through BTF
    assert m[4] == {"a": 7, "lock": {"val": 0}, "b": 8}
    assert m.raw.lookup(4) == u32(7) + bytes(4) + u32(8)


def test_map_handles_and_buffers():
    m = make("hash", 4, 8, 4)
    assert map_at(m.address) is m and map_at(1) is None
    kinds = [b.kind for b in m.buffers()]
    assert kinds == ["map_value", "map_key", "map_ptr"]
    handle = read_at(m.address, 16)
    assert struct.unpack("<IIII", handle) == (1, 4, 8, 4)
    pc = make("percpu_array", num_cpus=3)
    assert len([b for b in pc.buffers() if b.kind == "map_value"]) == 3


def test_vm_regions_over_arenas_translate_the_addresses_maps_hand_out():
    from pybpf.vm.memory import AddressSpace, Region

    m = make("hash", 4, 8, 4)
    m[1] = 5
    space = AddressSpace()
    for buf in m.buffers():
        space.map(Region(buf.name, buf.buffer, kind=buf.kind, writable=buf.writable))
    host = m.bpf_lookup(u32(1))
    address = space.from_host(host)                  # what a program is handed
    assert address and address != host
    assert space.load(address, 8) == 5
    space.store(address, 8, 6)                       # a program's store through the pointer
    assert m[1] == u64(6)
    assert space.to_host(address, 8) == host
    handle = space.from_host(m.address)
    assert space.find(handle).kind == "map_ptr"      # the map's handle is mapped too


def test_for_each_on_arrays_and_deleting_during_hash_walk():
    a = make("percpu_array", 4, 4, 3, num_cpus=2)
    a.update(2, [7, 8])
    walked = [(ctypes.string_at(k, 4), ctypes.string_at(v, 4)) for k, v in a.bpf_for_each(1)]
    assert walked == [(u32(0), u32(0)), (u32(1), u32(0)), (u32(2), u32(8))]
    h = make("hash", 4, 8, 8)
    for k in range(5):
        h[k] = k
    visited = []
    for key_addr, _ in h.bpf_for_each(0):
        key = ctypes.string_at(key_addr, 4)
        visited.append(key)
        h.bpf_delete(u32(int.from_bytes(key, "little") + 1))   # delete the next one
    assert visited == [u32(0), u32(2), u32(4)]
    lpm = make("lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC)
    with pytest.raises(MapError):
        next(lpm.bpf_for_each(0))
