"""Userspace maps hammered from eight threads.

Every map type gets a random mix of operations from :data:`THREADS` threads
at once, through both faces of a map (the map protocol userspace uses and
the ``bpf_*`` methods the VM's helpers call), with a tiny thread switch
interval so that operations interleave.

* **Exact**: each thread owns a disjoint range of keys (or values), keeps a
  serial model of it and checks every operation's result class (success,
  or which errno; the value a lookup returns) as the operation returns; at
  the end the map's contents must equal the union of the models.
* **Contention**: threads share keys where only invariants can be checked:
  the count never exceeds ``max_entries``, an LRU list holds exactly the
  map's keys, no queue element is lost or duplicated, no ring-buffer record
  is lost, torn or duplicated, spin-locked increments made by programs in
  several VMs are all counted and ``BPF_F_LOCK`` lookups never see a
  half-done update, and walks never yield a key twice unless the kernel
  could have (a ``get_next_key`` restart after the current key vanished).

Seeds are recorded: every failure names the seed, the map type and the
thread; ``PYBPF_HAMMER_SEED`` replays a run.  The default run is small; the
``slow`` variant does :data:`SLOW_OPS` operations per map type.
"""

from __future__ import annotations

import errno
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_CURRENT_CPU,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_REUSE_STACKID,
    BPF_NOEXIST,
    Map,
    MapError,
    create_map,
)
from pybpf.objects import MapSpec
from pybpf.spec import helper_id
from pybpf.vm import VM

THREADS = 8
SEED = int(os.environ.get("PYBPF_HAMMER_SEED", "20250611"))
FAST_OPS = 1_200           # operations per map type in the default run
SLOW_OPS = 100_000         # ... in the slow run
NUM_CPUS = 4

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture(autouse=True)
def interleave():
    """Switch threads every few microseconds so that operations interleave."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def rng_for(name: str, thread: int) -> random.Random:
    return random.Random(f"{SEED}:{name}:{thread}")


def where(name: str, thread: int | None = None) -> str:
    who = "" if thread is None else f", thread {thread}"
    return f"[PYBPF_HAMMER_SEED={SEED}, {name}{who}]"


def run_threads(name: str, work: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """Run ``work(thread)`` in ``count`` threads released together; return
    their results, re-raising the first failure with the seed."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    failures: list[tuple[int, BaseException]] = []

    def body(thread: int) -> None:
        barrier.wait()
        try:
            results[thread] = work(thread)
        except BaseException as exc:  # reported below with the seed
            failures.append((thread, exc))

    threads = [threading.Thread(target=body, args=(t,), daemon=True) for t in range(count)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(600)
        assert not th.is_alive(), f"{where(name)} a thread hangs"
    if failures:
        thread, exc = failures[0]
        raise AssertionError(f"{where(name, thread)} {type(exc).__name__}: {exc}") from exc
    return results


def result_class(fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[str, Any]:
    """``("ok", result)`` or ``(errno name, None)`` for a protocol call."""
    try:
        return "ok", fn(*args, **kw)
    except MapError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno)), None


def bpf_class(ret: int) -> str:
    return "ok" if ret == 0 else errno.errorcode.get(-ret, str(ret))


class Log:
    """One thread's record of what it did and what it got."""

    def __init__(self, name: str, thread: int):
        self.name, self.thread = name, thread
        self.entries: list[tuple[Any, ...]] = []

    def check(self, op: str, key: Any, expected: Any, got: Any) -> None:
        self.entries.append((op, key, expected, got))
        if expected != got:
            raise AssertionError(f"{where(self.name, self.thread)} op #{len(self.entries)} "
                                 f"{op} key {key!r}: expected {expected!r}, got {got!r}")


def value_at(m: Map, address: int) -> bytes:
    """The value a program would read at ``address`` (a bpf_lookup result)."""
    found = m.locate(address)
    assert found is not None, f"{address:#x} is not a value of {m.name}"
    arena, offset = found
    return bytes(m.arenas[arena][offset:offset + m.value_size])


def ops_per_thread(total: int) -> int:
    return max(1, total // THREADS)


# ------------------------------------------------------------------ hash maps, exactly

HASH_TYPES = ["hash", "percpu_hash", "lru_hash", "lru_percpu_hash"]
KEYS_PER_THREAD = 12


def hash_exact(type_: str, total: int) -> None:
    name = f"{type_} exact"
    # Room for every thread's keys: no E2BIG and no LRU eviction, so every
    # result is decided by the thread's own keys alone.
    m = create_map(MapSpec(name, type_, 4, 8, THREADS * KEYS_PER_THREAD + 8), num_cpus=NUM_CPUS)
    percpu = m.percpu
    raw = m.raw

    def make_value(rng: random.Random) -> Any:
        if percpu:
            return [rng.getrandbits(64).to_bytes(8, "little") for _ in range(NUM_CPUS)]
        return rng.getrandbits(64).to_bytes(8, "little")

    def work(t: int) -> dict[bytes, Any]:
        rng, log = rng_for(name, t), Log(name, t)
        keys = [(t * 1000 + i).to_bytes(4, "little") for i in range(KEYS_PER_THREAD)]
        model: dict[bytes, Any] = {}
        for _ in range(ops_per_thread(total)):
            key = rng.choice(keys)
            op = rng.choice(("update", "update", "bpf_update", "delete", "bpf_delete",
                             "lookup", "bpf_lookup", "lookup_and_delete", "update_batch",
                             "delete_batch", "walk", "snapshot", "batch_walk"))
            if op == "update":
                flags = rng.choice((BPF_ANY, BPF_NOEXIST, BPF_EXIST))
                value = make_value(rng)
                expected = ("EEXIST" if key in model and flags == BPF_NOEXIST else
                            "ENOENT" if key not in model and flags == BPF_EXIST else "ok")
                log.check(op, key, expected, result_class(raw.update, key, value, flags)[0])
                if expected == "ok":
                    model[key] = value
            elif op == "bpf_update":
                flags = rng.choice((BPF_ANY, BPF_NOEXIST, BPF_EXIST))
                cpu = rng.randrange(NUM_CPUS)
                one = rng.getrandbits(64).to_bytes(8, "little")
                expected = ("EEXIST" if key in model and flags == BPF_NOEXIST else
                            "ENOENT" if key not in model and flags == BPF_EXIST else "ok")
                log.check(op, key, expected, bpf_class(m.bpf_update(key, one, flags, cpu)))
                if expected == "ok":
                    if percpu:
                        values = list(model.get(key, [bytes(8)] * NUM_CPUS))
                        values[cpu] = one
                        model[key] = values
                    else:
                        model[key] = one
            elif op in ("delete", "bpf_delete"):
                expected = "ok" if key in model else "ENOENT"
                got = (result_class(raw.delete, key)[0] if op == "delete"
                       else bpf_class(m.bpf_delete(key)))
                log.check(op, key, expected, got)
                model.pop(key, None)
            elif op == "lookup":
                got = result_class(raw.lookup, key)
                log.check(op, key, ("ok", model[key]) if key in model else ("ENOENT", None), got)
            elif op == "bpf_lookup":
                cpu = rng.randrange(NUM_CPUS)
                address = m.bpf_lookup(key, cpu)
                if key not in model:
                    log.check(op, key, 0, address)
                else:
                    want = model[key][cpu] if percpu else model[key]
                    log.check(op, key, want, value_at(m, address) if address else None)
            elif op == "lookup_and_delete":
                got = result_class(raw.lookup_and_delete, key)
                log.check(op, key, ("ok", model.pop(key)) if key in model else ("ENOENT", None),
                          got)
            elif op == "update_batch":
                chosen = rng.sample(keys, rng.randint(1, 4))
                values = [make_value(rng) for _ in chosen]
                log.check(op, chosen, ("ok", len(chosen)),
                          result_class(raw.update_batch, chosen, values))
                model.update(zip(chosen, values))
            elif op == "delete_batch":
                present = [k for k in keys if k in model]
                chosen = rng.sample(present, min(len(present), rng.randint(1, 3)))
                log.check(op, chosen, ("ok", len(chosen)), result_class(raw.delete_batch, chosen))
                for k in chosen:
                    del model[k]
            elif op == "snapshot":
                items = raw.items()
                seen = [k for k, _ in items]
                assert len(seen) == len(set(seen)), f"{where(name, t)} a snapshot repeats keys"
                mine = {k: v for k, v in items if k in keys}
                log.check(op, None, model, mine)
            elif op == "batch_walk":
                got: dict[bytes, Any] = {}
                repeats = Counter()
                for step in raw.batches(rng.choice((1, 3, 16))):
                    for k, v in zip(step.keys, step.values):
                        repeats[k] += 1
                        got[k] = v
                # Our keys are stable during our own walk: each exactly once.
                log.check(op, None, {k: 1 for k in model}, {k: repeats[k] for k in keys
                                                            if repeats[k]})
                log.check(op, None, model, {k: got[k] for k in keys if k in got})
            else:  # a get_next_key walk
                check_walk(m, name, t, set(model), set(keys))
        return model

    models = run_threads(name, work)
    final = dict(raw.items())
    expected: dict[bytes, Any] = {}
    for model in models:
        expected.update(model)
    assert final == expected, f"{where(name)} final contents differ from the serial models"
    assert len(m) == len(expected)
    if m.lru:
        assert_lru_consistent(m, name)


def check_walk(m: Map, name: str, t: int, stable: set[bytes], mine: set[bytes]) -> None:
    """A get_next_key walk while other threads change their keys.  Our keys
    (``stable``: present, and nobody else touches them) must each appear;
    one of them may appear again only after a restart, which happens only
    when the walk stood on a key someone else could delete."""
    raw = m.raw
    seen_since_restart_risk: set[bytes] = set()
    visited: set[bytes] = set()
    key = None
    for _ in range(4 * m.max_entries + 16):
        nxt = raw.get_next_key(key)
        if nxt is None:
            break
        if nxt in stable:
            assert nxt not in seen_since_restart_risk, (
                f"{where(name, t)} get_next_key yielded {nxt!r} twice without a restart")
            seen_since_restart_risk.add(nxt)
            visited.add(nxt)
        if nxt not in mine:       # someone else's key: it may vanish and restart the walk
            seen_since_restart_risk.clear()
        key = nxt
    else:
        return  # endless churn kept restarting the walk: nothing more to check
    assert visited == stable, f"{where(name, t)} a walk missed {stable - visited!r}"


def assert_lru_consistent(m: Map, name: str) -> None:
    """Every LRU list holds exactly the map's keys, each list within its capacity."""
    listed = [k for lst in m._lists for k in lst]
    assert len(listed) == len(set(listed)), f"{where(name)} a key is on two LRU lists"
    assert set(listed) == set(m._index), f"{where(name)} LRU lists differ from the contents"
    assert all(len(lst) <= m._list_capacity for lst in m._lists)
    slots = [k for k in m._slot_keys if k is not None]
    assert sorted(slots) == sorted(m._index), f"{where(name)} slots differ from the index"
    assert len(m._index) <= m.max_entries


@pytest.mark.parametrize("type_", HASH_TYPES)
def test_hash_maps_match_a_serial_model_under_threads(type_):
    hash_exact(type_, FAST_OPS)


# ------------------------------------------------------------------ hash maps, contended

def hash_contended(type_: str, flags: int, total: int) -> None:
    name = f"{type_} contended {flags:#x}"
    m = create_map(MapSpec(name, type_, 4, 8, 32, flags), num_cpus=NUM_CPUS)
    raw = m.raw

    def work(t: int) -> None:
        rng = rng_for(name, t)
        for _ in range(ops_per_thread(total)):
            key = rng.randrange(96).to_bytes(4, "little")
            op = rng.random()
            cpu = rng.randrange(NUM_CPUS)
            if op < 0.35:
                got = bpf_class(m.bpf_update(key, bytes(8), rng.choice((0, 1, 2)), cpu))
                allowed = {"ok", "EEXIST", "ENOENT"} | (set() if m.lru else {"E2BIG"})
                assert got in allowed, f"{where(name, t)} bpf_update: {got}"
            elif op < 0.5:
                value = [bytes(8)] * NUM_CPUS if m.percpu else bytes(8)
                got = result_class(raw.update, key, value)[0]
                assert got in ({"ok"} if m.lru else {"ok", "E2BIG"}), f"{where(name, t)} {got}"
            elif op < 0.7:
                assert bpf_class(m.bpf_delete(key)) in ("ok", "ENOENT")
            elif op < 0.85:
                address = m.bpf_lookup(key, cpu)
                assert address == 0 or m.locate(address) is not None
            elif op < 0.95:
                keys = raw.keys()
                assert len(keys) == len(set(keys)) <= m.max_entries, (
                    f"{where(name, t)} keys() repeats keys or overflows")
            else:
                assert len(m) <= m.max_entries, f"{where(name, t)} count over max_entries"

    run_threads(name, work)
    assert len(m) <= m.max_entries
    assert len(raw.keys()) == len(m)
    if m.lru:
        assert_lru_consistent(m, name)
    else:
        slots = [k for k in m._slot_keys if k is not None]
        assert sorted(slots) == sorted(m._index), f"{where(name)} slots differ from the index"
        free = set(m._free)
        assert len(free) == len(m._free) and not free & {
            off // m.value_stride for off in m._index.values()}, f"{where(name)} free list"


@pytest.mark.parametrize("type_,flags", [
    ("hash", 0), ("lru_hash", 0), ("lru_hash", BPF_F_NO_COMMON_LRU), ("lru_percpu_hash", 0),
    ("percpu_hash", BPF_F_NO_PREALLOC),
])
def test_hash_maps_keep_their_invariants_under_contention(type_, flags):
    hash_contended(type_, flags, FAST_OPS)


# ------------------------------------------------------------------ arrays

def array_exact(type_: str, total: int) -> None:
    name = f"{type_} exact"
    per = 6
    m = create_map(MapSpec(name, type_, 4, 8, THREADS * per), num_cpus=NUM_CPUS)
    raw, percpu = m.raw, m.percpu

    def work(t: int) -> dict[bytes, Any]:
        rng, log = rng_for(name, t), Log(name, t)
        keys = [(t * per + i).to_bytes(4, "little") for i in range(per)]
        zero = [bytes(8)] * NUM_CPUS if percpu else bytes(8)
        model = dict.fromkeys(keys, zero)
        for _ in range(ops_per_thread(total)):
            key = rng.choice(keys)
            op = rng.choice(("update", "bpf_update", "lookup", "bpf_lookup", "delete",
                             "update_batch", "snapshot"))
            if op == "update":
                flags = rng.choice((BPF_ANY, BPF_EXIST, BPF_NOEXIST))
                value = ([rng.getrandbits(64).to_bytes(8, "little") for _ in range(NUM_CPUS)]
                         if percpu else rng.getrandbits(64).to_bytes(8, "little"))
                expected = "EEXIST" if flags == BPF_NOEXIST else "ok"
                log.check(op, key, expected, result_class(raw.update, key, value, flags)[0])
                if expected == "ok":
                    model[key] = value
            elif op == "bpf_update":
                cpu = rng.randrange(NUM_CPUS)
                one = rng.getrandbits(64).to_bytes(8, "little")
                log.check(op, key, "ok", bpf_class(m.bpf_update(key, one, BPF_ANY, cpu)))
                if percpu:
                    values = list(model[key])
                    values[cpu] = one
                    model[key] = values
                else:
                    model[key] = one
            elif op == "lookup":
                log.check(op, key, ("ok", model[key]), result_class(raw.lookup, key))
            elif op == "bpf_lookup":
                cpu = rng.randrange(NUM_CPUS)
                want = model[key][cpu] if percpu else model[key]
                log.check(op, key, want, value_at(m, m.bpf_lookup(key, cpu)))
            elif op == "delete":
                log.check(op, key, "EINVAL", result_class(raw.delete, key)[0])
            elif op == "update_batch":
                chosen = rng.sample(keys, 3)
                values = [model[k] for k in chosen][::-1]
                log.check(op, chosen, ("ok", 3), result_class(raw.update_batch, chosen, values))
                model.update(zip(chosen, values))
            else:
                items = dict(raw.items())
                log.check(op, None, model, {k: items[k] for k in keys})
        return model

    models = run_threads(name, work)
    expected: dict[bytes, Any] = {}
    for model in models:
        expected.update(model)
    assert dict(raw.items()) == expected, f"{where(name)} final contents differ"


@pytest.mark.parametrize("type_", ["array", "percpu_array"])
def test_arrays_match_a_serial_model_under_threads(type_):
    array_exact(type_, FAST_OPS)


# ------------------------------------------------------------------ LPM tries

def lpm_exact(total: int) -> None:
    name = "lpm_trie exact"
    per = 10
    m = create_map(MapSpec(name, "lpm_trie", 8, 8, THREADS * per, BPF_F_NO_PREALLOC),
                   num_cpus=NUM_CPUS)
    raw = m.raw

    def prefix_key(prefixlen: int, data: int) -> bytes:
        return prefixlen.to_bytes(4, "little") + data.to_bytes(4, "big")

    def covers(prefix: bytes, address: int) -> bool:
        plen = int.from_bytes(prefix[:4], "little")
        net = int.from_bytes(prefix[4:], "big")
        mask = ((1 << plen) - 1) << (32 - plen) if plen else 0
        return (address & mask) == (net & mask)

    def work(t: int) -> dict[bytes, bytes]:
        rng, log = rng_for(name, t), Log(name, t)
        top = (10 + t) << 24          # every prefix of this thread lies in its own /8
        prefixes = []
        for _ in range(per):
            plen = rng.randint(8, 32)
            data = top | (rng.getrandbits(24) & ~((1 << (32 - plen)) - 1) & 0xFFFFFF)
            prefixes.append(prefix_key(plen, data))
        prefixes = list(dict.fromkeys(prefixes))
        model: dict[bytes, bytes] = {}
        for _ in range(ops_per_thread(total)):
            key = rng.choice(prefixes)
            op = rng.choice(("update", "bpf_update", "delete", "bpf_delete", "lookup",
                             "bpf_lookup", "walk"))
            value = rng.getrandbits(64).to_bytes(8, "little")
            if op in ("update", "bpf_update"):
                flags = rng.choice((BPF_ANY, BPF_NOEXIST, BPF_EXIST))
                expected = ("EEXIST" if key in model and flags == BPF_NOEXIST else
                            "ENOENT" if key not in model and flags == BPF_EXIST else "ok")
                got = (result_class(raw.update, key, value, flags)[0] if op == "update"
                       else bpf_class(m.bpf_update(key, value, flags)))
                log.check(op, key, expected, got)
                if expected == "ok":
                    model[key] = value
            elif op in ("delete", "bpf_delete"):
                got = (result_class(raw.delete, key)[0] if op == "delete"
                       else bpf_class(m.bpf_delete(key)))
                log.check(op, key, "ok" if key in model else "ENOENT", got)
                model.pop(key, None)
            elif op in ("lookup", "bpf_lookup"):
                address = top | rng.getrandbits(24)
                probe = prefix_key(32, address)
                matches = [p for p in model if covers(p, address)]
                best = max(matches, key=lambda p: int.from_bytes(p[:4], "little"), default=None)
                want = None if best is None else model[best]
                if op == "lookup":
                    got = result_class(raw.lookup, probe)[1]
                else:
                    found = m.bpf_lookup(probe)
                    got = value_at(m, found) if found else None
                log.check(op, probe, want, got)
            else:
                check_walk(m, name, t, set(model), set(prefixes))
        return model

    models = run_threads(name, work)
    expected: dict[bytes, bytes] = {}
    for model in models:
        expected.update(model)
    assert dict(raw.items()) == expected, f"{where(name)} final contents differ"
    assert len(m) == len(expected)


def test_lpm_trie_matches_a_serial_model_under_threads():
    lpm_exact(FAST_OPS)


# ------------------------------------------------------------------ maps of objects

def objects_exact(type_: str, total: int) -> None:
    name = f"{type_} exact"
    per = 5
    inner = MapSpec("inner", "array", 4, 4, 1)
    if type_ == "hash_of_maps":
        spec = MapSpec(name, type_, 4, 4, THREADS * per + 4, inner=inner)
    elif type_ == "array_of_maps":
        spec = MapSpec(name, type_, 4, 4, THREADS * per, inner=inner)
    else:
        spec = MapSpec(name, type_, 4, 4, THREADS * per)
    m = create_map(spec, num_cpus=NUM_CPUS)
    raw = m.raw
    pool = [create_map(inner, num_cpus=1) for _ in range(6)]

    def work(t: int) -> dict[bytes, Any]:
        rng, log = rng_for(name, t), Log(name, t)
        keys = [(t * per + i).to_bytes(4, "little") for i in range(per)]
        model: dict[bytes, Any] = {}
        for _ in range(ops_per_thread(total)):
            key = rng.choice(keys)
            obj = rng.choice(pool) if type_ != "prog_array" else (t, rng.randrange(5))
            op = rng.choice(("update", "delete", "lookup", "bpf_lookup", "snapshot"))
            if op == "update":
                log.check(op, key, "ok", result_class(raw.update, key, obj)[0])
                model[key] = obj
            elif op == "delete":
                log.check(op, key, "ok" if key in model else "ENOENT",
                          result_class(raw.delete, key)[0])
                model.pop(key, None)
            elif op == "lookup":
                got = result_class(raw.lookup, key)
                log.check(op, key, ("ok", model[key]) if key in model else ("ENOENT", None),
                          got)
            elif op == "bpf_lookup":
                if type_ == "prog_array":
                    got = m.bpf_tail_call_target(int.from_bytes(key, "little"))
                    log.check(op, key, model.get(key), got)
                else:
                    got = m.bpf_lookup(key)
                    log.check(op, key, model[key].address if key in model else 0, got)
            else:
                items = dict(raw.items())
                log.check(op, None, model, {k: v for k, v in items.items() if k in keys})
        return model

    models = run_threads(name, work)
    expected: dict[bytes, Any] = {}
    for model in models:
        expected.update(model)
    assert dict(raw.items()) == expected, f"{where(name)} final contents differ"


@pytest.mark.parametrize("type_", ["hash_of_maps", "array_of_maps", "prog_array"])
def test_maps_of_objects_match_a_serial_model_under_threads(type_):
    objects_exact(type_, FAST_OPS)


# ------------------------------------------------------------------ queues and stacks

def queue_contended(type_: str, overwrite: bool, total: int) -> None:
    name = f"{type_} {'overwriting' if overwrite else 'exact'}"
    m = create_map(MapSpec(name, type_, 0, 8, 24), num_cpus=NUM_CPUS)
    raw = m.raw

    def tag(t: int, seq: int) -> bytes:
        return ((t << 32) | seq).to_bytes(8, "little")

    def work(t: int) -> tuple[list[bytes], list[bytes]]:
        rng = rng_for(name, t)
        pushed, popped = [], []
        seq = 0
        for _ in range(ops_per_thread(total)):
            op = rng.random()
            if op < 0.5:
                value = tag(t, seq)
                seq += 1
                flags = BPF_EXIST if overwrite and rng.random() < 0.5 else BPF_ANY
                if rng.random() < 0.5:
                    got = bpf_class(m.bpf_push(value, flags))
                else:
                    got = result_class(raw.push, value, flags)[0]
                assert got in ("ok", "E2BIG"), f"{where(name, t)} push: {got}"
                assert got == "ok" or flags == BPF_ANY, f"{where(name, t)} overwriting push failed"
                if got == "ok":
                    pushed.append(value)
            elif op < 0.9:
                out = bytearray(8)
                if rng.random() < 0.5:
                    got, value = bpf_class(m.bpf_pop(out)), bytes(out)
                else:
                    got, value = result_class(raw.pop)
                assert got in ("ok", "ENOENT"), f"{where(name, t)} pop: {got}"
                if got == "ok":
                    popped.append(value)
            else:
                out = bytearray(8)
                assert bpf_class(m.bpf_peek(out)) in ("ok", "ENOENT")
        return pushed, popped

    results = run_threads(name, work)
    remaining = []
    while True:
        got, value = result_class(raw.pop)
        if got != "ok":
            break
        remaining.append(value)
    if type_ == "stack":
        remaining.reverse()            # bottom of the stack first
    pushed = Counter(v for p, _ in results for v in p)
    taken = Counter(v for _, q in results for v in q) + Counter(remaining)
    assert all(n == 1 for n in pushed.values())
    assert all(n == 1 for n in taken.values()), f"{where(name)} an element came out twice"
    assert set(taken) <= set(pushed), f"{where(name)} an element nobody pushed came out"
    if not overwrite:
        assert taken == pushed, f"{where(name)} elements were lost"
    # What is left keeps each producer's order (FIFO and LIFO alike, bottom first).
    by_producer: dict[int, list[int]] = {}
    for value in remaining:
        n = int.from_bytes(value, "little")
        by_producer.setdefault(n >> 32, []).append(n & 0xFFFFFFFF)
    assert all(seqs == sorted(seqs) for seqs in by_producer.values()), (
        f"{where(name)} the remaining elements are out of order")
    if type_ == "queue":
        for _, popped in results:      # one consumer sees each producer's values in order
            last: dict[int, int] = {}
            for value in popped:
                n = int.from_bytes(value, "little")
                assert last.get(n >> 32, -1) < n & 0xFFFFFFFF, f"{where(name)} FIFO order broken"
                last[n >> 32] = n & 0xFFFFFFFF


@pytest.mark.parametrize("type_", ["queue", "stack"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_queues_and_stacks_lose_and_duplicate_nothing_under_threads(type_, overwrite):
    queue_contended(type_, overwrite, FAST_OPS)


# ------------------------------------------------------------------ bloom filters

def bloom_exact(total: int) -> None:
    name = "bloom_filter"
    m = create_map(MapSpec(name, "bloom_filter", 0, 8, 64), num_cpus=NUM_CPUS)

    def work(t: int) -> list[bytes]:
        rng, log = rng_for(name, t), Log(name, t)
        added: list[bytes] = []
        for i in range(ops_per_thread(total)):
            if not added or rng.random() < 0.6:
                value = ((t << 32) | i).to_bytes(8, "little")
                got = (bpf_class(m.bpf_push(value, BPF_ANY)) if rng.random() < 0.5
                       else result_class(m.raw.push, value)[0])
                log.check("push", value, "ok", got)
                added.append(value)
            else:
                value = rng.choice(added)          # no false negatives, ever
                log.check("peek", value, "ok", bpf_class(m.bpf_peek(bytearray(value))))
        return added

    for added in run_threads(name, work):
        for value in added:
            assert value in m, f"{where(name)} {value!r} was added but tests absent"


def test_bloom_filter_has_no_false_negatives_under_threads():
    bloom_exact(FAST_OPS)


# ------------------------------------------------------------------ ring buffers

def ringbuf_producers(total: int) -> None:
    name = "ringbuf"
    rb = create_map(MapSpec(name, "ringbuf", 0, 0, 4096 * 4), num_cpus=NUM_CPUS)
    done = threading.Event()
    received: list[bytes] = []

    def consumer() -> None:
        while not done.is_set():
            received.extend(rb.consume())
        received.extend(rb.consume())

    def payload(t: int, seq: int, size: int) -> bytes:
        head = t.to_bytes(4, "little") + seq.to_bytes(4, "little")
        body = bytes((t * 31 + seq + i) & 0xFF for i in range(size - 8))
        return head + body

    def work(t: int) -> tuple[list[bytes], int]:
        rng = rng_for(name, t)
        committed, failed = [], 0
        for seq in range(ops_per_thread(total)):
            data = payload(t, seq, rng.choice((8, 13, 64, 200)))
            how = rng.random()
            if how < 0.5:
                ret = rb.bpf_ringbuf_output(data, 0)
                assert ret in (0, -errno.EAGAIN), f"{where(name, t)} output: {ret}"
                if ret == 0:
                    committed.append(data)
                else:
                    failed += 1
                continue
            address = rb.bpf_ringbuf_reserve(len(data), 0)
            if not address:
                failed += 1
                continue
            _, offset = rb.locate(address)
            rb.data[offset:offset + len(data)] = data
            if how < 0.85:
                rb.bpf_ringbuf_submit(address, 0)
                committed.append(data)
            else:
                rb.bpf_ringbuf_discard(address, 0)
        return committed, failed

    reader = threading.Thread(target=consumer, daemon=True)
    reader.start()
    try:
        results = run_threads(name, work)
    finally:
        done.set()
        reader.join(60)
    assert not reader.is_alive()
    committed = Counter(d for c, _ in results for d in c)
    got = Counter(received)
    assert got == committed, (f"{where(name)} records lost, torn or duplicated: "
                              f"{sum((committed - got).values())} missing, "
                              f"{sum((got - committed).values())} unexpected")
    assert rb.dropped == sum(f for _, f in results)
    order: dict[int, int] = {}
    for record in received:        # each producer's records arrive in its order
        t, seq = int.from_bytes(record[:4], "little"), int.from_bytes(record[4:8], "little")
        assert order.get(t, -1) < seq, f"{where(name)} producer {t}'s records out of order"
        order[t] = seq
    assert rb.avail_data == 0


def test_ringbuf_loses_and_tears_nothing_under_threads():
    ringbuf_producers(FAST_OPS)


# ------------------------------------------------------------------ perf event arrays

def perf_producers(total: int) -> None:
    name = "perf_event_array"
    m = create_map(MapSpec(name, "perf_event_array", 4, 4, NUM_CPUS), num_cpus=NUM_CPUS)
    reader = m.open_buffers(page_count=1)
    done = threading.Event()
    samples: list[bytes] = []

    def consumer() -> None:
        while not done.is_set():
            samples.extend(r.data[:8] for r in reader.read() if hasattr(r, "data"))
        samples.extend(r.data[:8] for r in reader.read() if hasattr(r, "data"))

    def work(t: int) -> tuple[list[bytes], int]:
        rng = rng_for(name, t)
        sent, lost = [], 0
        cpu = t % NUM_CPUS
        for seq in range(ops_per_thread(total)):
            data = t.to_bytes(4, "little") + seq.to_bytes(4, "little") + bytes(rng.randrange(40))
            ret = m.bpf_perf_event_output(data, BPF_F_CURRENT_CPU, cpu)
            assert ret in (0, -errno.ENOSPC), f"{where(name, t)} output: {ret}"
            if ret == 0:
                sent.append(data[:8])
            else:
                lost += 1
        return sent, lost

    thread = threading.Thread(target=consumer, daemon=True)
    thread.start()
    try:
        results = run_threads(name, work)
    finally:
        done.set()
        thread.join(60)
    assert Counter(samples) == Counter(s for sent, _ in results for s in sent), (
        f"{where(name)} samples lost or duplicated")
    assert reader.lost == sum(lost for _, lost in results)


def test_perf_event_array_loses_nothing_under_threads():
    perf_producers(FAST_OPS)


# ------------------------------------------------------------------ stack traces

def stacktrace_contended(total: int) -> None:
    name = "stack_trace"
    m = create_map(MapSpec(name, "stack_trace", 4, 8 * 4, 16), num_cpus=NUM_CPUS)
    stacks = {tuple(0xFFFF_0000 + 16 * i + j for j in range(1 + i % 4)) for i in range(40)}
    all_stacks = sorted(stacks)

    def work(t: int) -> None:
        rng = rng_for(name, t)
        for _ in range(ops_per_thread(total)):
            op = rng.random()
            if op < 0.6:
                ips = rng.choice(all_stacks)
                flags = BPF_F_REUSE_STACKID if rng.random() < 0.3 else 0
                ret = m.bpf_get_stackid(ips, flags)
                assert ret >= 0 or -ret in (errno.EEXIST, errno.ENOMEM), f"{where(name, t)} {ret}"
            elif op < 0.8:
                key = rng.randrange(m.n_buckets).to_bytes(4, "little")
                assert result_class(m.raw.delete, key)[0] in ("ok", "ENOENT")
            else:
                for value in m.raw.values():
                    frames = tuple(int.from_bytes(value[i:i + 8], "little")
                                   for i in range(0, len(value), 8))
                    assert tuple(f for f in frames if f) in stacks, f"{where(name, t)} torn"

    run_threads(name, work)
    used = m.raw.keys()
    assert len(used) == len(m) <= m.max_entries, f"{where(name)} count is off"


def test_stack_trace_map_keeps_its_count_under_threads():
    stacktrace_contended(FAST_OPS)


# ------------------------------------------------------------------ spin locks and BPF_F_LOCK

LOCKED_INCREMENT = """
    *(u32 *)(r10 - 4) = 0
    r1 = map[fd:{fd}] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem#{lookup}
    if r0 == 0 goto out
    r6 = r0
    r1 = r6
    call bpf_spin_lock#{lock}
    r1 = *(u64 *)(r6 + 8)
    r1 += 1
    *(u64 *)(r6 + 8) = r1
    r1 = *(u64 *)(r6 + 16)
    r1 += 1
    *(u64 *)(r6 + 16) = r1
    r1 = r6
    call bpf_spin_unlock#{unlock}
out:
    r0 = 0
    exit
"""


def locked_increment(fd: int) -> str:
    return LOCKED_INCREMENT.format(fd=fd, lookup=helper_id("map_lookup_elem"),
                                   lock=helper_id("spin_lock"), unlock=helper_id("spin_unlock"))


def spin_locked_increments(type_: str, total: int) -> None:
    """Programs in one VM per thread increment two counters under the value's
    bpf_spin_lock; a userspace thread reads with BPF_F_LOCK meanwhile and
    another rewrites the pad word with BPF_F_LOCK updates.  No increment may
    be lost and no locked read may see the counters differ."""
    name = f"{type_} spin lock"
    m = create_map(MapSpec(name, type_, 4, 24, 4), num_cpus=NUM_CPUS, spin_lock_offset=0)
    if type_ == "hash":
        m.raw.update(0, bytes(24))
    runs = ops_per_thread(total)
    workers = THREADS - 2
    stop = threading.Event()
    finished = [0]
    finished_lock = threading.Lock()

    def reader(t: int) -> int:
        reads = 0
        while not stop.is_set() or not reads:
            value = m.raw.lookup(0, flags=BPF_F_LOCK)
            a, b = int.from_bytes(value[8:16], "little"), int.from_bytes(value[16:], "little")
            assert a == b, f"{where(name, t)} a locked lookup saw {a} != {b}"
            reads += 1
        return reads

    def writer(t: int) -> int:
        writes = 0
        while not stop.is_set() or not writes:
            value = m.raw.lookup(0, flags=BPF_F_LOCK)
            m.raw.update(0, value, BPF_F_LOCK | BPF_EXIST)
            writes += 1
        return writes

    def work(t: int) -> int:
        if t == workers:
            return reader(t)
        if t == workers + 1:
            return writer(t)
        try:
            vm = VM()
            prog = vm.load(locked_increment(vm.adopt_map(m)))
            for _ in range(runs):
                prog.run()
            return runs
        finally:
            with finished_lock:
                finished[0] += 1
                if finished[0] == workers:
                    stop.set()

    run_threads(name, work)
    value = m.raw.lookup(0, flags=BPF_F_LOCK)
    a, b = int.from_bytes(value[8:16], "little"), int.from_bytes(value[16:], "little")
    # The locked writer writes back what it read: a lost increment shows as a
    # total below the number of runs, exactly as in the kernel (where such a
    # read-modify-write from userspace is not atomic either) - so it only
    # writes the value back under the lock, and nothing may be lost.
    assert a == b, f"{where(name)} counters differ"
    assert a <= runs * workers


@pytest.mark.parametrize("type_", ["hash", "array"])
def test_spin_locked_values_under_threads(type_):
    spin_locked_increments(type_, FAST_OPS // 4)


def test_spin_locked_increments_are_never_lost():
    """Without userspace writers, every program's increment counts."""
    name = "array spin lock exact"
    m = create_map(MapSpec(name, "array", 4, 24, 1), num_cpus=NUM_CPUS, spin_lock_offset=0)
    runs = ops_per_thread(FAST_OPS // 4)

    def work(t: int) -> None:
        vm = VM()
        prog = vm.load(locked_increment(vm.adopt_map(m)))
        for _ in range(runs):
            prog.run()

    run_threads(name, work)
    value = m.raw.lookup(0, flags=BPF_F_LOCK)
    assert int.from_bytes(value[8:16], "little") == THREADS * runs
    assert int.from_bytes(value[16:], "little") == THREADS * runs


# ------------------------------------------------------------------ the slow variant

@pytest.mark.slow
@pytest.mark.parametrize("case", [
    *(f"hash_exact:{t}" for t in HASH_TYPES),
    "hash_contended:hash", "hash_contended:lru_hash", "hash_contended:lru_percpu_hash",
    "array_exact:array", "array_exact:percpu_array", "lpm", "objects:hash_of_maps",
    "objects:array_of_maps", "objects:prog_array", "queue:queue", "queue:stack",
    "bloom", "ringbuf", "perf", "stack_trace", "spin:hash", "spin:array",
])
def test_every_map_type_under_threads_at_length(case):
    kind, _, arg = case.partition(":")
    n = SLOW_OPS
    {
        "hash_exact": lambda: hash_exact(arg, n),
        "hash_contended": lambda: hash_contended(arg, 0, n),
        "array_exact": lambda: array_exact(arg, n),
        "lpm": lambda: lpm_exact(n),
        "objects": lambda: objects_exact(arg, n),
        "queue": lambda: (queue_contended(arg, False, n), queue_contended(arg, True, n)),
        "bloom": lambda: bloom_exact(n),
        "ringbuf": lambda: ringbuf_producers(n),
        "perf": lambda: perf_producers(n),
        "stack_trace": lambda: stacktrace_contended(n),
        "spin": lambda: spin_locked_increments(arg, n),
    }[kind]()


def test_a_spin_lock_no_live_thread_can_release_fails_at_once():
    """A lock whose holder's thread has ended, or a lock word a program
    stored to directly, can never be released: EDEADLK now, not a hang."""
    m = create_map(MapSpec("locked", "array", 4, 8, 2), num_cpus=1, spin_lock_offset=0)
    where = m.locate(m.bpf_lookup((0).to_bytes(4, "little")))
    holder = threading.Thread(target=m.bpf_spin_lock, args=where)
    holder.start()
    holder.join()
    start = time.monotonic()
    with pytest.raises(MapError) as info:
        m.raw.lookup(0, flags=BPF_F_LOCK)
    assert info.value.errno == errno.EDEADLK and "ended" in str(info.value)
    arena, offset = m.locate(m.bpf_lookup((1).to_bytes(4, "little")))
    m.arenas[arena][offset:offset + 4] = (1).to_bytes(4, "little")   # a plain store
    with pytest.raises(MapError) as info:
        m.raw.update(1, bytes(8), BPF_F_LOCK)
    assert info.value.errno == errno.EDEADLK and "stored to it directly" in str(info.value)
    assert time.monotonic() - start < 5    # refused at once, not after waiting for the lock
