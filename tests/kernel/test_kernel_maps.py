"""KernelMap against the running kernel: element operations and their
errnos, iteration, batches, per-CPU values, queues, freezing, maps of
maps, BTF-described values and fd hygiene."""

from __future__ import annotations

import errno
import gc
import os

import pytest

from pybpf import assemble
from pybpf.errors import BPFError, KernelError, MapError
from pybpf.kernel import KernelBTF, KernelMap, KernelProgram, possible_cpus
from pybpf.kernel import maps as kmaps

pytestmark = pytest.mark.kernel



def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def hmap():
    with KernelMap.create("hash", 4, 8, 8, name="t_hash", key_codec="int",
                          value_codec="int") as m:
        yield m


def test_hash_update_lookup_delete(hmap):
    hmap[1] = 10
    hmap.update(2, 20, kmaps.NOEXIST)
    assert hmap[1] == 10 and hmap.lookup(2) == 20
    assert sorted(hmap) == [1, 2] and len(hmap) == 2
    assert 1 in hmap and 3 not in hmap
    assert hmap.get(3, "absent") == "absent"
    del hmap[1]
    assert dict(hmap.items()) == {2: 20}
    with pytest.raises(KeyError):
        hmap[1]
    with pytest.raises(KeyError) as e:
        hmap.delete(1)
    assert isinstance(e.value, MapError) and isinstance(e.value, KernelError)
    assert e.value.errno == errno.ENOENT and e.value.op == "delete" and e.value.key == 1
    assert e.value.operation == "BPF_MAP_DELETE_ELEM"


def test_update_flags_report_the_kernels_errno(hmap):
    hmap[5] = 1
    with pytest.raises(KernelError) as e:
        hmap.update(5, 2, kmaps.NOEXIST)
    assert e.value.errno == errno.EEXIST and "BPF_NOEXIST" in str(e.value)
    with pytest.raises(KernelError) as e:
        hmap.update(6, 2, kmaps.EXIST)
    assert e.value.errno == errno.ENOENT
    hmap.update(5, 3, kmaps.EXIST)
    assert hmap[5] == 3


def test_full_hash_map_says_so(hmap):
    for k in range(8):
        hmap[k] = k
    with pytest.raises(KernelError) as e:
        hmap[100] = 1
    assert e.value.errno == errno.E2BIG and "full" in str(e.value)


def test_get_next_key_walks_every_key(hmap):
    hmap.update_batch(range(5), [k * k for k in range(5)])
    seen, key = [], hmap.get_next_key()
    while key is not None:
        seen.append(key)
        key = hmap.get_next_key(key)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert hmap.pop(3) == 9 and 3 not in hmap
    assert hmap.pop(3, None) is None


def test_array_semantics():
    with KernelMap.create("array", 4, 4, 3, value_codec="int") as a:
        assert len(a) == 3 and list(a.values()) == [0, 0, 0]
        a[2] = 0xDEADBEEF
        assert a[2] == 0xDEADBEEF
        assert a[1] == 0
        with pytest.raises(KernelError) as e:
            a[3] = 1  # past max_entries
        assert e.value.errno == errno.E2BIG
        with pytest.raises(KernelError) as e:
            a.update(0, 1, kmaps.NOEXIST)  # every element of an array exists
        assert e.value.errno == errno.EEXIST
        with pytest.raises(KernelError) as e:
            del a[0]
        assert e.value.errno == errno.EINVAL


def test_bytes_keys_and_values():
    with KernelMap.create("hash", 2, 3, 4) as m:
        m[b"ab"] = b"xyz"
        m[0x0201] = 0x030201
        assert m[b"ab"] == b"xyz"
        assert m[b"\x01\x02"] == b"\x01\x02\x03"
        with pytest.raises(MapError, match="bad key: 3 bytes given where 2") as e:
            m[b"abc"] = b"xyz"
        assert e.value.errno == errno.EINVAL
        assert m.raw.items() == m.items()            # bytes codecs: the same view
        assert sorted(m.items()) == [(b"\x01\x02", b"\x01\x02\x03"), (b"ab", b"xyz")]


def test_batch_operations():
    with KernelMap.create("hash", 4, 4, 256, key_codec="int", value_codec="int") as m:
        assert m.update_batch(range(100), [k + 1000 for k in range(100)]) == 100
        got = [kv for step in m.batches(7) for kv in zip(step.keys, step.values)]
        assert sorted(got) == [(k, k + 1000) for k in range(100)]
        assert m.delete_batch(range(10)) == 10
        assert len(m) == 90
        drained = [k for step in m.batches(16, delete=True) for k in step.keys]
        assert sorted(drained) == list(range(10, 100))
        assert len(m) == 0


def test_batch_on_arrays():
    with KernelMap.create("array", 4, 8, 10, key_codec="int", value_codec="int") as a:
        assert a.update_batch(range(10), [i * 3 for i in range(10)]) == 10
        first = a.lookup_batch(None, 4)
        assert first.keys == [0, 1, 2, 3] and first.cursor == (3).to_bytes(4, "little")
        assert [v for step in a.batches(4) for v in step.values] == [i * 3 for i in range(10)]


def test_percpu_values_are_lists():
    n = possible_cpus()
    with KernelMap.create("percpu_hash", 4, 4, 4, key_codec="int", value_codec="int") as m:
        m[1] = 7  # one value: every CPU
        assert m[1] == [7] * n
        m[2] = list(range(n))
        assert m[2] == list(range(n))
        step = m.lookup_batch(None, 8)
        assert step.done and sorted(zip(step.keys, step.values)) == [(1, [7] * n),
                                                                     (2, list(range(n)))]
        with pytest.raises(MapError, match="per-CPU values given") as e:
            m[3] = [1] * (n + 1)
        assert e.value.errno == errno.EINVAL
    with KernelMap.create("percpu_array", 4, 12, 1) as a:  # 12 bytes, stride 16 per CPU
        a[0] = [bytes([i]) * 12 for i in range(n)]
        assert a[0] == [bytes([i]) * 12 for i in range(n)]


def test_queue_and_stack():
    with KernelMap.create("queue", 0, 4, 3, value_codec="int") as q:
        for v in (1, 2, 3):
            q.push(v)
        with pytest.raises(KernelError) as e:
            q.push(4)
        assert e.value.errno == errno.E2BIG
        q.push(4, kmaps.EXIST)  # drops the oldest
        assert q.peek() == 2
        assert [q.pop(), q.pop(), q.pop()] == [2, 3, 4]
        assert q.pop(default=None) is None
        with pytest.raises(KeyError):
            q.pop()
        with pytest.raises(KeyError):
            q.peek()
    with KernelMap.create("stack", 0, 4, 3, value_codec="int") as s:
        s.push(1)
        s.push(2)
        assert [s.pop(), s.pop()] == [2, 1]


def test_freeze_forbids_user_writes():
    with KernelMap.create("array", 4, 4, 1, value_codec="int", name="ro") as a:
        a[0] = 5
        a.freeze()
        assert a.info().frozen is True
        with pytest.raises(KernelError) as e:
            a[0] = 6
        assert e.value.errno == errno.EPERM
        assert a[0] == 5


def test_map_of_maps_holds_inner_maps():
    inner = KernelMap.create("array", 4, 4, 1, name="inner")
    with inner, KernelMap.create("array_of_maps", 4, 4, 2, inner=inner,
                                 value_codec="int") as outer:
        outer[0] = inner
        assert outer[0] == inner.info().id  # user space reads back ids
        assert dict(outer.items()) == {0: inner.info().id}  # empty slot skipped


def test_prog_array_holds_programs():
    prog = KernelProgram.load(assemble("r0 = 0\nexit"), "socket_filter", name="callee")
    with prog, KernelMap.create("prog_array", 4, 4, 4, value_codec="int") as pa:
        pa[1] = prog
        assert pa[1] == prog.id


def test_spin_lock_values_need_btf_and_take_f_lock():
    from pybpf.btf import BTFBuilder

    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    lock = b.add_struct("bpf_spin_lock", 4, [("val", u32, 0)])
    val = b.add_struct("val", 8, [("lock", lock, 0), ("count", u32, 32)])
    with KernelBTF.load(b.to_bytes()) as btf, KernelMap.create(
            "hash", 4, 8, 4, btf=btf, btf_key_type_id=u32, btf_value_type_id=val) as m:
        m.update(1, (7 << 32), kmaps.F_LOCK)
        assert m.lookup(1, flags=kmaps.F_LOCK) == (7 << 32).to_bytes(8, "little")
        assert m.info().btf_value_type_id == val
    with KernelMap.create("hash", 4, 8, 4) as plain, pytest.raises(KernelError) as e:
        plain.update(1, 0, kmaps.F_LOCK)  # no bpf_spin_lock in the value
    assert e.value.errno == errno.EINVAL


def test_reopen_by_id_and_fd():
    with KernelMap.create("lru_hash", 8, 16, 32, name="reopen") as m:
        m[1] = b"x" * 16
        info = m.info()
        assert (info.name, info.type, info.key_size, info.value_size, info.max_entries) == \
            ("reopen", "lru_hash", 8, 16, 32)
        with KernelMap.from_id(info.id) as again:
            assert again.type == "lru_hash" and again[1] == b"x" * 16


def test_unknown_and_unsupported_map_types():
    with pytest.raises(BPFError, match="unknown map type 'hashmap'"):
        KernelMap.create("hashmap")
    with pytest.raises(KernelError, match="does not support map type 'unknown\\(200\\)'"):
        KernelMap.create(200, 4, 4, 1)


def test_no_fd_leaks():
    before = open_fds()
    for _ in range(20):
        with KernelMap.create("hash", 4, 4, 4) as m:
            m[1] = 1
            m.lookup_batch()
            m.items()
    for _ in range(5):  # dropped without close: collected and closed
        KernelMap.create("array", 4, 4, 1)
    gc.collect()
    for _ in range(3):
        with pytest.raises(KernelError):
            KernelMap.create("hash", 4, 4, 0)
    assert open_fds() == before


def test_refusals_quote_the_attributes_and_the_types_rules():
    with pytest.raises(KernelError) as e:
        KernelMap.create("ringbuf", 0, 0, 1000, name="events")
    assert e.value.errno == errno.EINVAL
    assert isinstance(e.value, MapError) and e.value.op == "create"  # as userspace maps say
    assert e.value.map_name == "events" and e.value.operation == "BPF_MAP_CREATE"
    assert str(e.value).startswith("create on map 'events': BPF_MAP_CREATE (ringbuf, key 0, "
                                   "value 0, 1000 entries, flags 0x0): Invalid argument")
    assert str(e.value).endswith("ringbuf maps need key and value size 0, max_entries a "
                                 "power-of-2 multiple of the page size (EINVAL)")
    with KernelMap.create("ringbuf", 0, 0, os.sysconf("SC_PAGE_SIZE") * 4) as rb:
        assert rb.info().type == "ringbuf"
