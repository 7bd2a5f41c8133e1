"""Speed of the userspace maps on the paths programs use.

Run: ``PYTHONPATH=src python benchmarks/bench_maps_userspace.py``.  Prints
nanoseconds per call for the BPF-side calls the VM's helpers make
(``bpf_lookup``/``bpf_update`` on hash and array maps, ring buffer output)
and for the userspace mapping protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pybpf.maps import create_map
from pybpf.objects import MapSpec


def per_call(fn: Callable[[], None], loops: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - start) / loops)
    return best


def main() -> None:
    n = 100_000
    keys = [i.to_bytes(4, "little") for i in range(1000)]
    value = bytes(8)
    rows: list[tuple[str, float]] = []

    h = create_map(MapSpec("h", "hash", 4, 8, 1000), num_cpus=2)
    for k in keys:
        h.bpf_update(k, value)
    lookup, update = h.bpf_lookup, h.bpf_update
    work = (keys * (n // len(keys)))[:n]

    def hash_lookup() -> None:
        for k in work:
            lookup(k, 0)

    def hash_update() -> None:
        for k in work:
            update(k, value, 0, 0)

    rows += [("hash bpf_lookup (hit)", per_call(hash_lookup, n)),
             ("hash bpf_update (existing)", per_call(hash_update, n))]

    miss = [(i + 5000).to_bytes(4, "little") for i in range(1000)] * (n // 1000)

    def hash_miss() -> None:
        for k in miss:
            lookup(k, 0)

    rows.append(("hash bpf_lookup (miss)", per_call(hash_miss, n)))

    def insert_delete() -> None:
        d = h.bpf_delete
        for k in work[:n // 2]:
            d(k, 0)
            update(k, value, 0, 0)

    rows.append(("hash bpf_delete + insert", per_call(insert_delete, n // 2)))

    a = create_map(MapSpec("a", "array", 4, 8, 1000), num_cpus=2)
    alookup, aupdate = a.bpf_lookup, a.bpf_update

    def array_lookup() -> None:
        for k in work:
            alookup(k, 0)

    def array_update() -> None:
        for k in work:
            aupdate(k, value, 0, 0)

    rows += [("array bpf_lookup", per_call(array_lookup, n)),
             ("array bpf_update", per_call(array_update, n))]

    p = create_map(MapSpec("p", "percpu_hash", 4, 8, 1000), num_cpus=4)
    for k in keys:
        p.bpf_update(k, value, 0, 0)
    plookup = p.bpf_lookup

    def percpu_lookup() -> None:
        for k in work:
            plookup(k, 1)

    rows.append(("percpu_hash bpf_lookup", per_call(percpu_lookup, n)))

    lru = create_map(MapSpec("l", "lru_hash", 4, 8, 1000), num_cpus=2)
    for k in keys:
        lru.bpf_update(k, value)
    llookup = lru.bpf_lookup

    def lru_lookup() -> None:
        for k in work:
            llookup(k, 0)

    rows.append(("lru_hash bpf_lookup (hit)", per_call(lru_lookup, n)))

    rb = create_map(MapSpec("rb", "ringbuf", 0, 0, 1 << 20), num_cpus=1)
    sample = bytes(64)

    def ring_output() -> None:
        out = rb.bpf_ringbuf_output
        for _ in range(n // 10):
            out(sample, 0)
        rb.consume()

    rows.append(("ringbuf output 64 B (+consume)", per_call(ring_output, n // 10)))

    def mapping() -> None:
        for i in range(n // 10):
            h[i % 1000] = i

    rows.append(("hash m[k] = v (userspace)", per_call(mapping, n // 10)))

    width = max(len(name) for name, _ in rows)
    for name, ns in rows:
        print(f"{name:<{width}}  {ns:8.0f} ns/call")


if __name__ == "__main__":
    main()
