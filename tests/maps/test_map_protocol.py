"""One map protocol, two backends: every test here runs against the
userspace maps (:mod:`pybpf.maps`) and against kernel maps
(:class:`pybpf.kernel.KernelMap`, marked ``kernel``, skipped with the reason
where ``bpf()`` is refused), with the same calls and the same expected
results and errnos.  That both pass is the proof that ``pybpf.vm.load`` and
``pybpf.kernel.load`` hand out maps with the same interface.

Userspace maps are created with as many CPUs as the kernel has possible
CPUs, so per-CPU values have the same length in both.
"""

from __future__ import annotations

import errno
import struct

import pytest

from pybpf.codecs import ENOTSUPP, Batch, BTFCodec, BytesCodec, IntCodec
from pybpf.errors import MapError, MapKeyError
from pybpf.kernel import possible_cpus
from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    create_map,
)
from pybpf.objects import MapSpec

NCPUS = possible_cpus()


@pytest.fixture(params=["user", pytest.param("kernel", marks=pytest.mark.kernel)])
def backend(request):
    return request.param


@pytest.fixture
def make(backend):
    """``make(type, key_size, value_size, max_entries, flags=0, **codecs)``:
    a map of that shape in the backend under test."""
    opened = []

    def make(type_: str, key_size: int, value_size: int, max_entries: int, flags: int = 0,
             **codecs):
        name = f"p_{type_}"[:15]
        if backend == "user":
            return create_map(MapSpec(name, type_, key_size, value_size, max_entries, flags),
                              num_cpus=NCPUS, **codecs)
        from pybpf.kernel import KernelMap

        m = KernelMap.create(type_, key_size, value_size, max_entries, flags=flags, name=name,
                             **codecs)
        opened.append(m)
        return m

    yield make
    for m in opened:
        m.close()


def fails(fn, *args, **kw) -> MapError:
    """The MapError ``fn(*args, **kw)`` raises (the test fails if none)."""
    with pytest.raises(MapError) as info:
        fn(*args, **kw)
    return info.value


def errno_of(fn, *args, **kw) -> int:
    return fails(fn, *args, **kw).errno


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


# --------------------------------------------------------------------- hash maps

@pytest.mark.parametrize("type_", ["hash", "lru_hash"])
def test_hash_element_operations(make, type_):
    m = make(type_, 4, 8, 8, key_codec="int", value_codec="int")
    m[1] = 10
    m.update(2, 20, BPF_NOEXIST)
    assert m[1] == 10 and m.lookup(2) == 20 and m.get(3) is None and m.get(3, "x") == "x"
    assert m.lookup(3, default=-1) == -1
    assert 1 in m and 3 not in m and "not a key" not in m and len(m) == 2
    assert sorted(m) == sorted(m.keys()) == [1, 2] and isinstance(m.keys(), list)
    assert sorted(m.items()) == [(1, 10), (2, 20)] and sorted(m.values()) == [10, 20]
    assert errno_of(m.update, 1, 0, BPF_NOEXIST) == errno.EEXIST
    assert errno_of(m.update, 9, 0, BPF_EXIST) == errno.ENOENT
    assert errno_of(m.update, 1, 0, 8) == errno.EINVAL
    assert errno_of(m.lookup, 1, flags=1) == errno.EINVAL
    m.update(1, 11, BPF_EXIST)
    assert m.lookup_and_delete(1) == 11 and 1 not in m
    assert m.pop(2) == 20 and m.pop(2, "gone") == "gone" and len(m) == 0
    with pytest.raises(KeyError):
        m.pop(2)
    m.update(5, 50, BPF_ANY)
    del m[5]
    with pytest.raises(KeyError):
        del m[5]
    assert m.items() == [] and m.get_next_key() is None


def test_missing_keys_are_key_errors_and_map_errors(make):
    m = make("hash", 4, 8, 4, key_codec="int")
    for call in (lambda: m[7], lambda: m.lookup(7), lambda: m.delete(7),
                 lambda: m.lookup_and_delete(7), lambda: m.pop(7)):
        with pytest.raises(KeyError) as info:
            call()
        exc = info.value
        assert isinstance(exc, MapKeyError) and isinstance(exc, MapError)
        assert exc.errno == errno.ENOENT and exc.key == 7 and exc.map_name == "p_hash"
        assert exc.op in ("lookup", "delete", "lookup_and_delete")
    exc = fails(m.update, 7, b"short")
    assert exc.errno == errno.EINVAL and exc.op == "update" and exc.key == 7
    assert not isinstance(exc, KeyError)
    exc = fails(m.update, "seven", 0)
    assert exc.errno == errno.EINVAL and "bad key" in str(exc) and exc.key == "seven"


def test_get_next_key_walks_and_ends_with_none(make):
    m = make("hash", 4, 8, 8, key_codec="int")
    for k in (5, 3, 9):
        m[k] = k
    first = m.get_next_key()
    assert first == m.get_next_key(None) == m.get_next_key(12345)  # missing key: the first
    walked, key = [first], first
    while (key := m.get_next_key(key)) is not None:
        walked.append(key)
    assert sorted(walked) == [3, 5, 9] and walked == m.keys()


def test_full_hash_is_e2big_and_lru_evicts(make):
    h = make("hash", 4, 8, 2, key_codec="int")
    h[1], h[2] = 1, 2
    exc = fails(h.update, 3, 3)
    assert exc.errno == errno.E2BIG and exc.key == 3
    h[1] = 5                                     # an existing key still updates
    lru = make("lru_hash", 4, 8, 8, key_codec="int", value_codec="int")
    for k in range(40):
        lru[k] = k
    assert 0 < len(lru) <= 8 and 39 in lru and lru[39] == 39


# --------------------------------------------------------------------- arrays

def test_array_operations(make):
    a = make("array", 4, 8, 4, value_codec="int")
    assert len(a) == 4 and a.keys() == [0, 1, 2, 3] and a.values() == [0, 0, 0, 0]
    a[2] = 7
    assert a[2] == 7 and a.get_next_key() == 0 and a.get_next_key(2) == 3
    assert a.get_next_key(3) is None and a.get_next_key(99) == 0
    assert 3 in a and 4 not in a
    assert errno_of(a.update, 4, 1) == errno.E2BIG
    assert errno_of(a.update, 1, 1, BPF_NOEXIST) == errno.EEXIST
    a.update(1, 3, BPF_EXIST)
    assert errno_of(a.delete, 1) == errno.EINVAL
    assert errno_of(a.lookup_and_delete, 1) == ENOTSUPP
    assert errno_of(a.pop, 1) == errno.EINVAL    # a lookup, then a delete arrays refuse
    with pytest.raises(KeyError):
        a[4]
    assert a.items() == [(0, 0), (1, 3), (2, 7), (3, 0)]
    a.clear()
    assert a.values() == [0, 0, 0, 0]


@pytest.mark.parametrize("type_", ["percpu_hash", "percpu_array"])
def test_percpu_values_are_lists(make, type_):
    m = make(type_, 4, 4, 4, key_codec="int", value_codec="int")
    m[1] = list(range(NCPUS))
    assert m[1] == list(range(NCPUS))
    m[2] = 7                                     # one value: every CPU
    assert m[2] == [7] * NCPUS
    layout = b"".join(u32(c + 100) + bytes(4) for c in range(NCPUS))
    m[3] = layout                                # the kernel's layout, 8 bytes per CPU
    assert m[3] == [c + 100 for c in range(NCPUS)]
    assert m.raw[3] == [u32(c + 100) for c in range(NCPUS)]
    exc = fails(m.update, 1, [1] * (NCPUS + 1))
    assert exc.errno == errno.EINVAL and "per-CPU values given" in str(exc)
    assert dict(m.items())[2] == [7] * NCPUS
    assert m.update_batch([0, 1], [[5] * NCPUS, 6]) == 2
    step = m.lookup_batch(None, 4)
    assert dict(zip(step.keys, step.values))[0] == [5] * NCPUS
    assert dict(zip(step.keys, step.values))[1] == [6] * NCPUS
    m.clear()
    assert m.values() == ([[0] * NCPUS] * 4 if type_ == "percpu_array" else [])


# --------------------------------------------------------------------- codecs and raw

def test_default_codecs_and_raw_view(make):
    h = make("hash", 4, 8, 4)
    a = make("array", 4, 8, 2)
    assert isinstance(h.key_codec, BytesCodec) and isinstance(h.value_codec, BytesCodec)
    assert isinstance(a.key_codec, IntCodec) and isinstance(a.value_codec, BytesCodec)
    h[1] = 2                                     # ints are accepted by every codec
    assert h[1] == u64(2) and h.keys() == [u32(1)]
    a[1] = u64(9)
    assert a.items() == [(0, bytes(8)), (1, u64(9))]
    assert a.raw.items() == [(u32(0), bytes(8)), (u32(1), u64(9))]
    view = a.raw
    assert view.get_next_key(u32(0)) == u32(1) and view.raw is view
    assert view.type == "array" and view.max_entries == 2 and len(view) == 2
    a.raw[u32(0)] = u64(4)
    assert a[0] == u64(4)


def test_btf_codecs_decode_the_same_in_both(make):
    from pybpf.btf import BTFBuilder, Member

    b = BTFBuilder()
    u32_id = b.add_int("u32", 4)
    pair = b.add_struct("pair", 8, [Member("a", u32_id, 0), Member("b", u32_id, 32)])
    btf = b.build()
    m = make("hash", 4, 8, 4, key_codec=BTFCodec(btf, u32_id), value_codec=BTFCodec(btf, pair))
    m[1] = {"a": 5, "b": 6}
    m[2] = u32(7) + u32(8)
    assert sorted(m.items()) == [(1, {"a": 5, "b": 6}), (2, {"a": 7, "b": 8})]
    assert m.raw[1] == u32(5) + u32(6)
    assert errno_of(m.update, 3, {"a": 1 << 40}) == errno.EINVAL


# --------------------------------------------------------------------- batches

def test_hash_batches(make):
    m = make("hash", 4, 8, 16, key_codec="int", value_codec="int")
    assert m.update_batch(range(10), [k * 10 for k in range(10)]) == 10
    got, cursor, steps = {}, None, 0
    while True:
        step = m.lookup_batch(cursor, 4)
        assert isinstance(step, Batch) and len(step.keys) <= 4
        got.update(zip(step.keys, step.values))
        steps += 1
        if step.done:
            break
        cursor = step.cursor
    assert got == {k: k * 10 for k in range(10)} and steps >= 3
    assert {k: v for s in m.batches(3) for k, v in zip(s.keys, s.values)} == got
    assert m.lookup_batch(None, 0) == Batch([], [], None, False)
    assert errno_of(m.lookup_batch, None, 4, flags=1) == errno.EINVAL
    assert errno_of(m.update_batch, [1], [0], elem_flags=BPF_NOEXIST) == errno.EINVAL
    exc = fails(m.delete_batch, [0, 99, 1])
    assert exc.errno == errno.ENOENT and exc.count == 1 and 1 in m and 0 not in m
    exc = fails(m.update_batch, [1], [0, 1])
    assert exc.errno == errno.EINVAL and exc.count == 0
    drained = [k for s in m.batches(2, delete=True) for k in s.keys]
    assert sorted(drained) == list(range(1, 10)) and len(m) == 0


def test_array_batches_and_cursors(make):
    a = make("array", 4, 4, 5, value_codec="int")
    assert a.update_batch(range(5), [i * 3 for i in range(5)]) == 5
    first = a.lookup_batch(None, 2)
    assert first == Batch([0, 1], [0, 3], u32(1), False)
    rest = a.lookup_batch(first.cursor, 10)
    assert rest == Batch([2, 3, 4], [6, 9, 12], u32(4), True)
    assert a.raw.lookup_batch(None, 1).keys == [u32(0)]
    exc = fails(a.update_batch, [0, 9, 1], [0, 0, 0])
    assert (exc.errno, exc.count) == (errno.E2BIG, 1)
    assert errno_of(a.lookup_and_delete_batch, None, 2) == ENOTSUPP
    assert errno_of(a.delete_batch, [0]) == ENOTSUPP


# --------------------------------------------------------------------- queues and stacks

@pytest.mark.parametrize("type_,order", [("queue", [2, 3, 4]), ("stack", [4, 3, 2])])
def test_queue_and_stack(make, type_, order):
    q = make(type_, 0, 4, 3, value_codec="int")
    for v in (1, 2, 3):
        q.push(v)
    assert errno_of(q.push, 4) == errno.E2BIG
    assert errno_of(q.push, 4, BPF_NOEXIST) == errno.EINVAL
    q.push(4, BPF_EXIST)                         # full: the oldest goes
    assert q.peek() == q.lookup(None) == order[0]
    assert errno_of(q.lookup, None, flags=4) == errno.EINVAL
    assert [q.pop() for _ in range(3)] == order
    with pytest.raises(KeyError) as info:
        q.pop()
    assert info.value.errno == errno.ENOENT and info.value.op == "lookup_and_delete"
    assert q.pop(None, "empty") == "empty"
    assert errno_of(q.peek) == errno.ENOENT
    q.update(None, 8)                            # bpf()'s own spelling of push
    assert q.lookup_and_delete(None) == 8
    assert errno_of(q.delete, None) == errno.EINVAL
    assert errno_of(q.get_next_key) == errno.EINVAL
    assert errno_of(len, q) == errno.EINVAL       # no keys to count or walk
    assert errno_of(q.items) == errno.EINVAL
    assert errno_of(q.lookup, 1) == errno.EINVAL  # no keys: pass None
    assert errno_of(q.lookup_batch, None, 2) == ENOTSUPP
    q.push(1)
    q.push(2)
    q.clear()
    assert q.pop(None, "empty") == "empty"


def test_bloom_filter(make):
    b = make("bloom_filter", 0, 4, 64, BPF_F_ZERO_SEED, value_codec="int")
    for v in (5, 10, 15):
        b.push(v)
    assert all(v in b for v in (5, 10, 15)) and b.peek(10) is None
    absent = [v for v in range(100, 200) if v not in b]
    assert absent                                # some values are certainly absent
    with pytest.raises(KeyError):
        b.peek(absent[0])
    assert errno_of(b.push, 6, BPF_EXIST) == errno.EINVAL
    assert errno_of(b.lookup_and_delete, None) == ENOTSUPP
    assert errno_of(b.get_next_key) == errno.EOPNOTSUPP


# --------------------------------------------------------------------- LPM tries

def lpm(prefixlen: int, *octets: int) -> bytes:
    return struct.pack("<I4B", prefixlen, *octets)


def test_lpm_trie(make):
    t = make("lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC, value_codec="int")
    t[lpm(16, 192, 168, 0, 0)] = 16
    t[lpm(24, 192, 168, 1, 0)] = 241
    t[lpm(24, 192, 168, 0, 0)] = 240
    assert t[lpm(32, 192, 168, 1, 7)] == 241     # the longest prefix that covers the key
    assert t[lpm(32, 192, 168, 9, 9)] == 16
    assert lpm(32, 192, 168, 9, 9) in t and lpm(32, 10, 0, 0, 1) not in t
    with pytest.raises(KeyError):
        t[lpm(32, 10, 0, 0, 1)]
    assert t.keys() == [lpm(24, 192, 168, 0, 0), lpm(24, 192, 168, 1, 0),
                        lpm(16, 192, 168, 0, 0)]   # the kernel's order: post-order
    assert t.get_next_key(lpm(16, 192, 168, 0, 0)) is None
    assert t.get_next_key(lpm(8, 1, 0, 0, 0)) == lpm(24, 192, 168, 0, 0)
    t[lpm(8, 10, 0, 0, 0)] = 8
    assert errno_of(t.update, lpm(8, 11, 0, 0, 0), 1) == errno.ENOSPC
    assert errno_of(t.update, lpm(33, 1, 0, 0, 0), 1) == errno.EINVAL
    assert errno_of(t.update, lpm(8, 10, 0, 0, 0), 1, BPF_NOEXIST) == errno.EEXIST
    assert errno_of(t.delete, lpm(8, 9, 0, 0, 0)) == errno.ENOENT
    assert errno_of(t.lookup_and_delete, lpm(8, 10, 0, 0, 0)) == ENOTSUPP
    assert t.pop(lpm(8, 10, 0, 0, 0)) == 8 and len(t) == 3
    t.clear()
    assert len(t) == 0 and t.items() == []


# --------------------------------------------------------------------- freezing and access

def test_freeze(make):
    m = make("hash", 4, 8, 4, key_codec="int", value_codec="int")
    m[1] = 1
    m.freeze()
    for call in (lambda: m.update(1, 2), lambda: m.delete(1), lambda: m.lookup_and_delete(1),
                 lambda: m.update_batch([2], [2]), m.freeze):
        exc = fails(call)
        assert exc.errno == errno.EPERM, exc.op
    assert m[1] == 1 and m.items() == [(1, 1)]


@pytest.mark.parametrize("flags,failing", [
    (BPF_F_RDONLY, ("update", "delete", "lookup_and_delete")),
    (BPF_F_WRONLY, ("lookup", "get_next_key", "lookup_and_delete", "contains")),
])
def test_access_flags(make, flags, failing):
    m = make("hash", 4, 8, 4, flags, key_codec="int", value_codec="int")
    calls = {"update": lambda: m.update(1, 1), "lookup": lambda: m.lookup(1),
             "get_next_key": m.get_next_key, "delete": lambda: m.delete(1),
             "lookup_and_delete": lambda: m.lookup_and_delete(1),
             "contains": lambda: 1 in m}
    for name, call in calls.items():
        if name in failing:
            assert errno_of(call) == errno.EPERM, name
        else:
            try:
                call()
            except MapError as exc:  # allowed to fail, but not for lack of permission
                assert exc.errno != errno.EPERM, name


# --------------------------------------------------------------------- through load()

def test_load_gives_maps_with_the_same_codecs(backend):
    """``pybpf.vm.load(spec)`` and ``pybpf.kernel.load(spec)``: maps typed by
    the object's BTF decode the same; array keys are indexes in both."""
    from pybpf.btf import BTFBuilder, Member
    from pybpf.objects import ObjectSpec

    b = BTFBuilder()
    u32_id = b.add_int("u32", 4)
    stats = b.add_struct("stats", 8, [Member("packets", u32_id, 0), Member("bytes", u32_id, 32)])
    btf = b.build()
    spec = ObjectSpec(btf=btf, maps={
        "counts": MapSpec("counts", "hash", 4, 8, 8, key_type=u32_id, value_type=stats,
                          contents=[(1, {"packets": 2, "bytes": 3})]),
        "plain": MapSpec("plain", "array", 4, 8, 2, contents=[(1, u64(9))]),
    })
    if backend == "user":
        from pybpf.vm import load
    else:
        from pybpf.kernel import load
    with load(spec) as coll:
        counts, plain = coll.maps["counts"], coll.maps["plain"]
        assert counts.items() == [(1, {"packets": 2, "bytes": 3})]
        counts[7] = {"packets": 1, "bytes": 64}
        assert counts[7] == {"packets": 1, "bytes": 64} and counts.raw[7] == u32(1) + u32(64)
        assert plain.items() == [(0, bytes(8)), (1, u64(9))]
        with pytest.raises(KeyError):
            counts[8]


def test_spin_lock_values(backend):
    """A value with a ``struct bpf_spin_lock`` (found through BTF): BPF_F_LOCK
    updates and lookups, the lock word read as zero, and no freezing."""
    from pybpf.btf import BTFBuilder
    from pybpf.maps import BPF_F_LOCK

    b = BTFBuilder()
    u32_id = b.add_int("unsigned int", 4)
    lock = b.add_struct("bpf_spin_lock", 4, [("val", u32_id, 0)])
    val = b.add_struct("val", 8, [("lock", lock, 0), ("count", u32_id, 32)])
    if backend == "user":
        m = create_map(MapSpec("locked", "hash", 4, 8, 4, btf=b.build(), key_type=u32_id,
                               value_type=val), num_cpus=NCPUS, value_codec="bytes")
        plain = create_map(MapSpec("plain", "hash", 4, 8, 4), num_cpus=NCPUS)
        closing = []
    else:
        from pybpf.kernel import KernelBTF, KernelMap

        kbtf = KernelBTF.load(b.to_bytes())
        m = KernelMap.create("hash", 4, 8, 4, name="locked", btf=kbtf, btf_key_type_id=u32_id,
                             btf_value_type_id=val, value_codec="bytes")
        plain = KernelMap.create("hash", 4, 8, 4, name="plain")
        closing = [m, plain, kbtf]
    try:
        m.update(1, u32(0xFFFF) + u32(7), BPF_F_LOCK)
        assert m.lookup(1, flags=BPF_F_LOCK) == bytes(4) + u32(7)   # the lock reads as 0
        assert m[1] == bytes(4) + u32(7)
        assert errno_of(m.freeze) == ENOTSUPP
        assert errno_of(plain.update, 1, 0, BPF_F_LOCK) == errno.EINVAL
        assert errno_of(plain.lookup, 1, flags=BPF_F_LOCK) == errno.EINVAL
    finally:
        for c in closing:
            c.close()


# --------------------------------------------------------------------- both at once

def _outcome(m, op: str, key, value, flags: int, ordered: bool):
    """What ``op`` gave on ``m``: its result (lists of pairs sorted: hash maps
    iterate in different orders), or its errno and whether it was a KeyError."""
    calls = {
        "update": lambda: m.update(key, value, flags),
        "lookup": lambda: m.lookup(key, flags=flags & 4),
        "delete": lambda: m.delete(key),
        "lookup_and_delete": lambda: m.lookup_and_delete(key),
        "pop": lambda: m.pop(key, "absent"),
        "get": lambda: m.get(key),
        "in": lambda: key in m,
        "len": lambda: len(m),
        "items": m.items,
        "next": lambda: m.get_next_key(key) if ordered else len(m.keys()),
        "push": lambda: m.push(value, flags),
        "peek": m.peek,
        "pop_front": m.pop,
        "clear": m.clear,
        "update_batch": lambda: m.update_batch([key, key], [value, value + 1],
                                               elem_flags=flags),
        "delete_batch": lambda: m.delete_batch([key]),
        "lookup_batch": lambda: m.lookup_batch(None, 10),
    }
    try:
        result = calls[op]()
    except MapError as exc:
        return ("error", exc.errno, isinstance(exc, KeyError))
    except TypeError:  # pop() without a key on a map that has keys
        return ("TypeError",)
    if isinstance(result, Batch):
        result = sorted(zip(result.keys, result.values))
    if isinstance(result, list) and result and isinstance(result[0], tuple):
        result = sorted(result)
    return ("ok", result)


RANDOM_OPS = ("update", "lookup", "delete", "lookup_and_delete", "pop", "get", "in", "len",
              "items", "next", "push", "peek", "pop_front", "clear", "update_batch",
              "delete_batch", "lookup_batch")
RANDOM_SHAPES = [("hash", 4, 8, 4, 0), ("lru_hash", 4, 8, 4, 0), ("array", 4, 8, 4, 0),
                 ("percpu_hash", 4, 4, 3, 0), ("percpu_array", 4, 4, 3, 0),
                 ("lpm_trie", 5, 4, 4, BPF_F_NO_PREALLOC), ("queue", 0, 4, 3, 0),
                 ("stack", 0, 4, 3, 0)]


@pytest.mark.kernel
@pytest.mark.parametrize("shape", RANDOM_SHAPES, ids=lambda s: s[0])
def test_random_operations_agree(shape):
    """The same random calls on a userspace and a kernel map of one shape give
    the same results and errnos, call after call."""
    import random

    from pybpf.kernel import KernelMap

    type_, ks, vs, entries, flags = shape
    rng = random.Random(type_)
    ordered = type_ in ("array", "percpu_array", "lpm_trie")  # hash orders differ

    def key():
        if not ks:
            return None
        if type_ == "lpm_trie":
            return u32(rng.choice((0, 4, 8))) + bytes([rng.choice((1, 2, 3))])
        return rng.randrange(6)

    calls = 0
    for _ in range(20):
        ours = create_map(MapSpec("r", type_, ks, vs, entries, flags), num_cpus=NCPUS,
                          value_codec="int")
        with KernelMap.create(type_, ks, vs, entries, flags=flags, name="r",
                              value_codec="int") as theirs:
            for _ in range(25):
                step = (rng.choice(RANDOM_OPS), key(), rng.randrange(100),
                        rng.choice((0, 0, 0, 1, 2, 4)), ordered)
                assert _outcome(ours, *step) == _outcome(theirs, *step), step
                calls += 1
    assert calls == 500
