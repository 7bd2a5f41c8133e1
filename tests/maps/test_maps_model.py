"""Model-based tests: maps against plain Python models, driven by hypothesis."""

from __future__ import annotations

import ctypes
import errno
from collections import OrderedDict, deque

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pybpf.maps import BPF_ANY, BPF_EXIST, BPF_F_NO_PREALLOC, BPF_NOEXIST, MapError, create_map
from pybpf.objects import MapSpec

SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
keys = st.integers(0, 15)
values = st.integers(0, 2**64 - 1)
flags = st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST])


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def outcome(fn, *args) -> int:
    try:
        fn(*args)
    except MapError as exc:
        return exc.errno
    return 0


class HashModel(RuleBasedStateMachine):
    """A hash map against a dict, with the kernel's flag rules."""

    MAX = 6

    def __init__(self) -> None:
        super().__init__()
        self.m = create_map(MapSpec("h", "hash", 4, 8, self.MAX), num_cpus=1)
        self.model: dict[int, int] = {}

    @rule(k=keys, v=values, f=flags, bpf=st.booleans())
    def update(self, k, v, f, bpf):
        if k in self.model:
            expected = errno.EEXIST if f == BPF_NOEXIST else 0
        elif f == BPF_EXIST:
            expected = errno.ENOENT
        elif len(self.model) >= self.MAX:
            expected = errno.E2BIG
        else:
            expected = 0
        if bpf:
            got = -self.m.bpf_update(u32(k), u64(v), f)
        else:
            got = outcome(self.m.update, k, u64(v), f)
        assert got == expected
        if not expected:
            self.model[k] = v

    @rule(k=keys, bpf=st.booleans())
    def delete(self, k, bpf):
        got = -self.m.bpf_delete(u32(k)) if bpf else outcome(self.m.delete, k)
        assert got == (0 if k in self.model else errno.ENOENT)
        self.model.pop(k, None)

    @rule(k=keys)
    def lookup(self, k):
        address = self.m.bpf_lookup(u32(k))
        if k in self.model:
            assert self.m.lookup(k) == u64(self.model[k])
            assert ctypes.string_at(address, 8) == u64(self.model[k])
        else:
            assert address == 0 and outcome(self.m.lookup, k) == errno.ENOENT

    @rule(k=keys)
    def lookup_and_delete(self, k):
        if k in self.model:
            assert self.m.lookup_and_delete(k) == u64(self.model.pop(k))
        else:
            assert outcome(self.m.lookup_and_delete, k) == errno.ENOENT

    @rule(count=st.integers(1, 4))
    def batch_walk(self, count):
        seen: dict[bytes, bytes] = {}
        for step in self.m.batches(count):
            assert len(step.keys) <= count
            for key, value in zip(step.keys, step.values):
                assert key not in seen
                seen[key] = value
        assert seen == {u32(k): u64(v) for k, v in self.model.items()}

    @invariant()
    def iteration_matches(self):
        walked, key = [], None
        while (key := self.m.get_next_key(key)) is not None:
            walked.append(int.from_bytes(key, "little"))
        assert sorted(walked) == sorted(self.model)
        assert len(walked) == len(self.m) == len(self.model)


class ArrayModel(RuleBasedStateMachine):
    """An array map against a list."""

    MAX = 5

    def __init__(self) -> None:
        super().__init__()
        self.m = create_map(MapSpec("a", "array", 4, 8, self.MAX), num_cpus=1)
        self.model = [0] * self.MAX

    @rule(k=st.integers(0, 7), v=values, f=flags)
    def update(self, k, v, f):
        if k >= self.MAX:
            expected = errno.E2BIG
        elif f == BPF_NOEXIST:
            expected = errno.EEXIST
        else:
            expected = 0
        assert outcome(self.m.update, k, u64(v), f) == expected
        if not expected:
            self.model[k] = v

    @rule(k=st.integers(0, 7), v=values)
    def program_store(self, k, v):
        address = self.m.bpf_lookup(u32(k))
        if k >= self.MAX:
            assert address == 0
            return
        ctypes.memmove(address, u64(v), 8)
        self.model[k] = v

    @invariant()
    def contents(self):
        assert [int.from_bytes(v, "little") for _, v in self.m.raw.items()] == self.model
        assert self.m.keys() == list(range(self.MAX))
        batched = [v for step in self.m.batches(2) for v in step.values]
        assert batched == [u64(v) for v in self.model]


class LruModel(RuleBasedStateMachine):
    """An LRU hash against an exact LRU list, evicting as the kernel does:
    an update of a full map evicts before it looks at the key."""

    MAX = 4

    def __init__(self) -> None:
        super().__init__()
        self.m = create_map(MapSpec("l", "lru_hash", 4, 8, self.MAX), num_cpus=1)
        self.model: OrderedDict[int, int] = OrderedDict()

    @rule(k=keys, v=values, f=flags)
    def update(self, k, v, f):
        if len(self.model) >= self.MAX:       # a fresh element first: evict when full
            self.model.popitem(last=False)
        if k in self.model:
            expected = errno.EEXIST if f == BPF_NOEXIST else 0
        else:
            expected = errno.ENOENT if f == BPF_EXIST else 0
        assert outcome(self.m.update, k, u64(v), f) == expected
        if not expected:
            self.model[k] = v
            self.model.move_to_end(k)

    @rule(k=keys)
    def program_lookup(self, k):
        found = self.m.bpf_lookup(u32(k))
        assert bool(found) == (k in self.model)
        if k in self.model:
            self.model.move_to_end(k)

    @rule(k=keys)
    def delete(self, k):
        assert outcome(self.m.delete, k) == (0 if k in self.model else errno.ENOENT)
        self.model.pop(k, None)

    @invariant()
    def same_keys(self):
        assert sorted(int.from_bytes(k, "little") for k in self.m) == sorted(self.model)


prefixes = st.tuples(st.integers(0, 16), st.integers(0, 0xFFFF))


def covers(prefixlen: int, data: int, key_len: int, key: int) -> bool:
    if prefixlen > key_len:
        return False
    shift = 16 - prefixlen
    return data >> shift == key >> shift


class LpmModel(RuleBasedStateMachine):
    """An LPM trie (16-bit data) against a brute-force longest-prefix search."""

    MAX = 8

    def __init__(self) -> None:
        super().__init__()
        self.m = create_map(MapSpec("t", "lpm_trie", 6, 4, self.MAX, BPF_F_NO_PREALLOC),
                            num_cpus=1)
        self.model: dict[tuple[int, int], int] = {}   # (prefixlen, masked data) -> value
        self.data: dict[tuple[int, int], int] = {}    # the data as last given

    @staticmethod
    def key(prefixlen: int, data: int) -> bytes:
        return u32(prefixlen) + data.to_bytes(2, "big")

    @staticmethod
    def masked(prefixlen: int, data: int) -> int:
        return data >> (16 - prefixlen) << (16 - prefixlen) if prefixlen else 0

    @rule(p=prefixes, v=st.integers(0, 2**32 - 1), f=flags)
    def update(self, p, v, f):
        plen, data = p
        ident = (plen, self.masked(plen, data))
        if ident in self.model:
            expected = errno.EEXIST if f == BPF_NOEXIST else 0
        elif f == BPF_EXIST:
            expected = errno.ENOENT
        elif len(self.model) >= self.MAX:
            expected = errno.ENOSPC
        else:
            expected = 0
        assert outcome(self.m.update, self.key(plen, data), u32(v), f) == expected
        if not expected:
            self.model[ident] = v
            self.data[ident] = data

    @rule(p=prefixes)
    def delete(self, p):
        plen, data = p
        ident = (plen, self.masked(plen, data))
        got = outcome(self.m.delete, self.key(plen, data))
        assert got == (0 if ident in self.model else errno.ENOENT)
        self.model.pop(ident, None)
        self.data.pop(ident, None)

    @rule(p=prefixes)
    def lookup(self, p):
        plen, data = p
        best = None
        for (mplen, mdata), value in self.model.items():
            if covers(mplen, mdata, plen, data) and (best is None or mplen > best[0]):
                best = (mplen, value)
        got = self.m.bpf_lookup(self.key(plen, data))
        if best is None:
            assert got == 0
        else:
            assert ctypes.string_at(got, 4) == u32(best[1])

    @invariant()
    def iteration(self):
        order = [(int.from_bytes(k[:4], "little"), int.from_bytes(k[4:], "big"))
                 for k in self.m]
        assert sorted(order) == sorted((plen, self.data[(plen, d)])
                                       for plen, d in self.model)
        for i, (plen_a, data_a) in enumerate(order):
            for plen_b, data_b in order[i + 1:]:
                # post-order: a prefix never comes before a more specific one inside it
                assert not (plen_a < plen_b and covers(plen_a, data_a, plen_b, data_b))


class QueueModel(RuleBasedStateMachine):
    """Queue and stack against deques: both drop their oldest on overwrite."""

    MAX = 3

    def __init__(self) -> None:
        super().__init__()
        self.q = create_map(MapSpec("q", "queue", 0, 4, self.MAX), num_cpus=1)
        self.s = create_map(MapSpec("s", "stack", 0, 4, self.MAX), num_cpus=1)
        self.models = {"q": deque(), "s": deque()}

    @rule(which=st.sampled_from("qs"), v=st.integers(0, 1000), overwrite=st.booleans())
    def push(self, which, v, overwrite):
        m, model = getattr(self, which), self.models[which]
        full = len(model) >= self.MAX
        expected = errno.E2BIG if full and not overwrite else 0
        assert outcome(m.push, v, BPF_EXIST if overwrite else BPF_ANY) == expected
        if not expected:
            if full:
                model.popleft()
            model.append(v)

    @rule(which=st.sampled_from("qs"))
    def pop(self, which):
        m, model = getattr(self, which), self.models[which]
        if not model:
            assert outcome(m.pop) == errno.ENOENT
            return
        assert m.peek() == m.lookup(None)
        expected = model.popleft() if which == "q" else model.pop()
        assert m.pop() == u32(expected)

    @invariant()
    def front(self):
        for which, m in (("q", self.q), ("s", self.s)):
            model = self.models[which]
            if not model:
                assert outcome(m.peek) == errno.ENOENT
            else:
                assert m.peek() == u32(model[0] if which == "q" else model[-1])


TestHashModel = HashModel.TestCase
TestHashModel.settings = SETTINGS
TestArrayModel = ArrayModel.TestCase
TestArrayModel.settings = SETTINGS
TestLruModel = LruModel.TestCase
TestLruModel.settings = SETTINGS
TestLpmModel = LpmModel.TestCase
TestLpmModel.settings = settings(SETTINGS, max_examples=100)
TestQueueModel = QueueModel.TestCase
TestQueueModel.settings = SETTINGS
