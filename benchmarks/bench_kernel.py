"""The kernel backend's costs: system-call round trips from Python.

Rows: one bpf() call with no work (the floor), map element operations
through KernelMap, the same elements moved by batch operations, loading a
program, one BPF_PROG_TEST_RUN, and loading a small ObjectSpec.  Each is the
best of N rounds, in microseconds per operation.

    PYTHONPATH=src python benchmarks/bench_kernel.py [--rounds N]
"""

from __future__ import annotations

import argparse

from common import best_of, print_table
from pybpf import assemble
from pybpf.kernel import KernelMap, KernelProgram, load, unavailable_reason
from pybpf.kernel import sys as ksys
from pybpf.objects import MapReference, MapSpec, ObjectSpec, ProgramSpec

N = 2000

COUNT = """
    r1 = 0 ll
    r2 = r10
    r2 += -4
    *(u32 *)(r10 - 4) = 0
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = 0
    exit
"""


def per_op(fn, count: int, rounds: int) -> str:
    return f"{best_of(fn, rounds) * 1e6 / count:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of N rounds (default 5)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bpf() refused: {reason}")
        return
    r = args.rounds
    rows = []

    # the floor: a command the kernel refuses at once (no such map id)
    rows.append(["bpf() round trip (GET_NEXT_ID past the end)",
                 per_op(lambda: [ksys.get_next_id("map", (1 << 31) - 2) for _ in range(N)], N, r)])

    with KernelMap.create("hash", 4, 8, N, key_codec="int", value_codec="int") as m:
        keys = list(range(N))
        rows.append(["map update (hash, int codec)",
                     per_op(lambda: [m.update(k, k) for k in keys], N, r)])
        rows.append(["map lookup (hash, int codec)",
                     per_op(lambda: [m[k] for k in keys], N, r)])
        rows.append(["map iteration, items() (per element)",
                     per_op(lambda: list(m.items()), N, r)])
        rows.append(["map update_batch (per element)",
                     per_op(lambda: m.update_batch(keys, keys), N, r)])
        rows.append(["map lookup_batch (per element)",
                     per_op(lambda: list(m.batches(N)), N, r)])

    insns = assemble("r0 = 1\nexit")

    def load_close():
        KernelProgram.load(insns, "socket_filter").close()

    rows.append(["program load + close (2 insns)", per_op(load_close, 1, r * 20)])
    with KernelProgram.load(insns, "socket_filter") as p:
        packet = bytes(64)
        rows.append(["test_run, 64-byte packet, repeat=1",
                     per_op(lambda: p.test_run(packet), 1, r * 50)])

    def load_and_run():
        with KernelProgram.load(insns, "socket_filter") as prog:
            prog.test_run(bytes(64))

    rows.append(["load + test_run + close", per_op(load_and_run, 1, r * 20)])

    prog = ProgramSpec.from_assembly("count", COUNT, map_references=[MapReference(0, "counts")])
    spec = ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1)])

    def load_spec():
        load(spec).close()

    rows.append(["kernel.load(ObjectSpec: 1 map, 1 program) + close",
                 per_op(load_spec, 1, r * 20)])
    print_table(["operation", "us/op"], rows)


if __name__ == "__main__":
    main()
