"""Every userspace map type used from several threads at once, against a
serial model.

Keyed maps (hash, percpu and LRU hashes, arrays, LPM tries, maps of maps):
each writer thread owns its keys, so every operation's result is the same
whatever the interleaving; the model is the same map type run serially
(thread after thread).  Per operation results (value or errno) and the
final contents must agree (``mismatch``), and reader threads iterating,
batch-reading and dumping the map meanwhile must see only values some
writer wrote (``mismatch:corrupt``).  Queues and stacks must neither lose
nor duplicate a value, bloom filters must find every value pushed, ring
buffers must deliver every record written exactly once and intact.

Capacities are large enough that no outcome depends on timing (no map
fills, no LRU eviction: an LRU map updating an existing key takes a free
element first, so it needs room beyond its keys).  Only :class:`~pybpf.errors.BPFError` subclasses
may escape (``unexpected``).
"""

from __future__ import annotations

import random
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from fuzz.harness import Result, exception_result

CASE_TIMEOUT = 60.0
SETUP_TIMEOUT = 60.0
NUM_CPUS = 2

KEYED = ("hash", "percpu_hash", "lru_hash", "lru_percpu_hash", "array", "percpu_array",
         "lpm_trie", "hash_of_maps", "array_of_maps")
OTHERS = ("queue", "stack", "bloom_filter", "ringbuf")
TYPES = KEYED + OTHERS


@dataclass
class Case:
    """The map type, its shape, and each thread's operations."""

    type: str
    threads: int
    ops: list[list[tuple]] = field(default_factory=list)   # per writer thread
    readers: int = 0
    key_size: int = 4
    value_size: int = 8
    max_entries: int = 64


def setup(seed: int) -> Any:
    """Many thread switches: interleavings are what this target is about."""
    sys.setswitchinterval(1e-5)
    return None


def generate(state: Any, rng: random.Random) -> Case:
    """A map type, threads, and their operations."""
    kind = rng.choice(TYPES)
    threads = rng.choice((2, 2, 3, 4, 8))
    per_thread = rng.choice((10, 50, 200))
    case = Case(kind, threads, readers=rng.choice((0, 1, 2)))
    if kind in KEYED:
        keys_each = rng.choice((1, 2, 4, 8))
        case.max_entries = threads * keys_each
        if kind.startswith("lru"):
            # an LRU map updates an existing key by taking a free element first, so
            # a full one evicts some key whose owner depends on timing: keep room
            case.max_entries = 2 * threads * keys_each + 2
        if kind == "lpm_trie":
            case.key_size = 8
        for t in range(threads):
            mine = [t * keys_each + j for j in range(keys_each)]
            case.ops.append([_keyed_op(rng, kind, rng.choice(mine), t, i)
                             for i in range(per_thread)])
    else:
        case.value_size = 8
        case.max_entries = rng.choice((4, 16, 256)) if kind != "ringbuf" else \
            rng.choice((4096, 8192))
        for t in range(threads):
            case.ops.append([("push", t, i) for i in range(per_thread)]
                            if kind in ("bloom_filter", "ringbuf") else
                            [(rng.choice(("push", "push", "pop", "peek")), t, i)
                             for i in range(per_thread)])
    return case


def _keyed_op(rng: random.Random, kind: str, key: int, thread: int, i: int) -> tuple:
    ops = ["update", "update", "lookup", "delete", "update_noexist", "update_exist",
           "lookup_and_delete", "update_batch", "delete_batch"]
    if kind.endswith("of_maps"):
        ops = ["update", "update", "lookup", "delete", "update_noexist", "update_exist"]
    return (rng.choice(ops), key, thread, i)


# --- running -----------------------------------------------------------------------------------

def _make(case: Case) -> Any:
    from pybpf.maps import create_map
    from pybpf.objects import MapSpec

    inner = MapSpec("inner", "array", 4, 4, 1) if case.type.endswith("of_maps") else None
    flags = 1 if case.type == "lpm_trie" else 0  # BPF_F_NO_PREALLOC, required
    key_size = 0 if case.type in OTHERS else case.key_size
    value_size = 0 if case.type == "ringbuf" else (4 if inner else case.value_size)
    return create_map(MapSpec("fuzzed", case.type, key_size, value_size, case.max_entries,
                              flags=flags, inner=inner), num_cpus=NUM_CPUS)


def _key(case: Case, k: int) -> bytes:
    if case.type == "lpm_trie":
        return (32).to_bytes(4, "little") + k.to_bytes(4, "big")
    return k.to_bytes(case.key_size, "little")


def _value(case: Case, thread: int, i: int) -> Any:
    raw = (thread << 48 | i << 16 | 0xBEEF).to_bytes(8, "little")
    if case.type.startswith(("percpu", "lru_percpu")):
        return [raw, raw[::-1]]
    return raw


class _Inner:
    """Inner maps for maps of maps, made once per case (a map per value)."""

    def __init__(self) -> None:
        self.maps: dict[tuple[int, int], Any] = {}
        self.lock = threading.Lock()

    def get(self, thread: int, i: int) -> Any:
        from pybpf.maps import create_map
        from pybpf.objects import MapSpec

        with self.lock:
            if (thread, i) not in self.maps:
                self.maps[(thread, i)] = create_map(MapSpec("inner", "array", 4, 4, 1),
                                                    num_cpus=NUM_CPUS)
            return self.maps[(thread, i)]


def _apply(case: Case, m: Any, op: tuple, inner: _Inner) -> Any:
    """One operation; its result as comparable data (a value or an errno)."""
    from pybpf.errors import BPFError
    from pybpf.maps import BPF_EXIST, BPF_NOEXIST

    name, k, thread, i = op
    key = _key(case, k)
    value = inner.get(thread, i) if case.type.endswith("of_maps") else _value(case, thread, i)
    raw = m.raw
    try:
        if name == "update":
            return raw.update(key, value)
        if name == "update_noexist":
            return raw.update(key, value, BPF_NOEXIST)
        if name == "update_exist":
            return raw.update(key, value, BPF_EXIST)
        if name == "lookup":
            return _comparable(raw.lookup(key))
        if name == "delete":
            return raw.delete(key)
        if name == "lookup_and_delete":
            return _comparable(raw.lookup_and_delete(key))
        if name == "update_batch":
            return raw.update_batch([key], [value])
        if name == "delete_batch":
            return raw.delete_batch([key])
        raise AssertionError(name)
    except BPFError as e:
        return ("errno", getattr(e, "errno", None), type(e).__name__)


def _comparable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (list, tuple)):
        return tuple(_comparable(x) for x in v)
    if hasattr(v, "name") and hasattr(v, "type"):
        return ("map", id(v))
    return v


def _run_threads(bodies: list[Any]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(bodies))

    def wrap(body):
        def run():
            try:
                barrier.wait(timeout=30)
                body()
            except BaseException as e:  # reported, not swallowed
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(b), daemon=True) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=50)
    if any(t.is_alive() for t in threads):
        errors.append(TimeoutError("a thread did not finish: deadlock?"))
    return errors


def execute(state: Any, case: Case) -> Result:
    """Run the threads, then the serial model, and compare."""
    from pybpf.errors import BPFError

    try:
        if case.type in KEYED:
            return _keyed(case)
        return _unkeyed(case)
    except Exception as e:
        return exception_result(e, (BPFError,))


def _keyed(case: Case) -> Result:
    from pybpf.errors import BPFError

    inner = _Inner()
    m = _make(case)
    results: list[list[Any]] = [[] for _ in case.ops]
    written = {(_key(case, op[1]), _comparable(_value(case, op[2], op[3])))
               for ops in case.ops for op in ops}
    corrupt: list[str] = []
    done = threading.Event()

    def writer(t):
        def body():
            for op in case.ops[t]:
                results[t].append(_apply(case, m, op, inner))
        return body

    reader_errors: list[BaseException] = []

    def reader():
        while not done.is_set():
            try:
                for k, v in m.raw.items():
                    _check_seen(case, k, v, written, corrupt)
                m.raw.lookup_batch(None, 64)
                key = None
                for _ in range(case.max_entries + 1):
                    key = m.raw.get_next_key(key)
            except BPFError:
                pass
            except BaseException as e:
                reader_errors.append(e)
                return

    bodies = [writer(t) for t in range(len(case.ops))]
    readers = [threading.Thread(target=reader, daemon=True) for _ in range(case.readers)]
    for r in readers:
        r.start()
    errors = _run_threads(bodies)
    done.set()
    for r in readers:
        r.join(timeout=30)
    errors += reader_errors
    if errors:
        raise errors[0]
    if corrupt:
        return Result("mismatch", "corrupt", corrupt[0])
    model = _make(case)
    for t, ops in enumerate(case.ops):
        for n, op in enumerate(ops):
            expected = _apply(case, model, op, inner)
            if expected != results[t][n]:
                return Result("mismatch", f"{case.type}:result",
                              f"thread {t} op {n} {op}: threads gave {results[t][n]!r}, "
                              f"serial {expected!r}")
    got = {bytes(k): _comparable(v) for k, v in m.raw.items()}
    want = {bytes(k): _comparable(v) for k, v in model.raw.items()}
    if got != want:
        missing = set(want) - set(got)
        extra = set(got) - set(want)
        differ = [k for k in set(got) & set(want) if got[k] != want[k]]
        return Result("mismatch", f"{case.type}:contents",
                      f"{len(missing)} keys lost, {len(extra)} extra, {len(differ)} values "
                      f"differ (e.g. {sorted(missing or extra or differ)[:2]})")
    return Result("ok")


def _check_seen(case: Case, k: bytes, v: Any, written: set, corrupt: list[str]) -> None:
    if case.type.endswith("of_maps"):
        return
    v = _comparable(v)
    if case.type.startswith(("array", "percpu_array")) and \
            (v == bytes(case.value_size) or v == (bytes(case.value_size),) * NUM_CPUS):
        return  # an array slot not written yet (or deleted by a writer's update?)
    if case.type.startswith(("percpu", "lru_percpu")) and isinstance(v, tuple):
        if any(x != bytes(case.value_size) and (bytes(k), (x, x[::-1])) not in written and
               (bytes(k), (x[::-1], x)) not in written for x in v):
            corrupt.append(f"a reader saw {k.hex()} = {[x.hex() for x in v]}, never written")
        return
    if (bytes(k), v) not in written:
        corrupt.append(f"a reader saw {bytes(k).hex()} = {v!r}, which no writer wrote")


def _unkeyed(case: Case) -> Result:
    m = _make(case)
    if case.type == "ringbuf":
        return _ringbuf(case, m)
    pushed: list[list[bytes]] = [[] for _ in case.ops]
    popped: list[list[bytes]] = [[] for _ in case.ops]

    def worker(t):
        def body():
            from pybpf.errors import BPFError

            for name, thread, i in case.ops[t]:
                value = (thread << 48 | i << 16 | 0xBEEF).to_bytes(8, "little")
                try:
                    if name == "push":
                        m.raw.push(value)
                        pushed[t].append(value)
                    elif name == "pop":
                        popped[t].append(bytes(m.raw.pop()))
                    else:
                        m.raw.peek()
                except BPFError:
                    pass
        return body

    errors = _run_threads([worker(t) for t in range(len(case.ops))])
    if errors:
        raise errors[0]
    all_pushed = [v for vs in pushed for v in vs]
    if case.type == "bloom_filter":
        from pybpf.errors import BPFError

        for v in all_pushed:
            try:
                m.raw.peek(v)
            except BPFError:
                return Result("mismatch", "bloom:lost", f"{v.hex()} pushed but not found")
        return Result("ok")
    rest = []
    from pybpf.errors import BPFError

    while True:
        try:
            rest.append(bytes(m.raw.pop()))
        except BPFError:
            break
    all_popped = [v for vs in popped for v in vs] + rest
    if sorted(all_popped) != sorted(all_pushed):
        lost = len(set(all_pushed) - set(all_popped))
        dup = len(all_popped) - len(set(all_popped))
        invented = len(set(all_popped) - set(all_pushed))
        return Result("mismatch", f"{case.type}:conservation",
                      f"{len(all_pushed)} pushed, {len(all_popped)} popped: {lost} lost, "
                      f"{dup} duplicated, {invented} never pushed")
    return Result("ok")


def _ringbuf(case: Case, m: Any) -> Result:
    written: list[list[bytes]] = [[] for _ in case.ops]
    got: list[bytes] = []
    done = threading.Event()

    def producer(t):
        def body():
            for _, thread, i in case.ops[t]:
                record = (thread << 48 | i << 16 | 0xBEEF).to_bytes(8, "little") * \
                    (1 + i % 3)
                if m.bpf_ringbuf_output(record) == 0:
                    written[t].append(record)
        return body

    consumer_errors: list[BaseException] = []

    def consumer():
        try:
            while not done.is_set():
                got.extend(bytes(r) for r in m.consume())
        except BaseException as e:
            consumer_errors.append(e)

    reader = threading.Thread(target=consumer, daemon=True)
    reader.start()
    errors = _run_threads([producer(t) for t in range(len(case.ops))])
    done.set()
    reader.join(timeout=30)
    errors += consumer_errors
    if errors:
        raise errors[0]
    got.extend(bytes(r) for r in m.consume())
    want = [r for rs in written for r in rs]
    if sorted(got) != sorted(want):
        return Result("mismatch", "ringbuf:records",
                      f"{len(want)} records written, {len(got)} consumed "
                      f"({len(set(want) - set(got))} lost, "
                      f"{len(set(got) - set(want))} never written)")
    return Result("ok")


def show(case: Case) -> str:
    """The case as text."""
    lines = [f"{case.type}: {case.threads} writer threads, {case.readers} readers, "
             f"max_entries {case.max_entries}"]
    for t, ops in enumerate(case.ops):
        lines.append(f"thread {t}: {ops[:20]}{' ...' if len(ops) > 20 else ''}")
    return "\n".join(lines)
