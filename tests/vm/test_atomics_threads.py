"""Atomic instructions are atomic between threads: programs running in
several threads on one map value lose no update."""

from __future__ import annotations

import sys
import threading

import pytest

from pybpf.maps import create_map
from pybpf.objects import MapSpec
from pybpf.vm import VM

THREADS = 4
ITERATIONS = 20000

# Look up value 0 of the map, then add r7 to it ITERATIONS times with the
# atomic under test; the non-fetching forms and the fetching ones.
PROGRAM = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = map[fd:{fd}] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem#1
    if r0 == 0 goto out
    r6 = {iterations}
again:
    r7 = 1
    {atomic}
    r6 -= 1
    if r6 != 0 goto again
out:
    r0 = 0
    exit
"""

ATOMICS = {
    "add64": ("lock *(u64 *)(r0 + 0) += r7", 8),
    "add32": ("lock *(u32 *)(r0 + 0) += w7", 4),
    "fetch_add64": ("r7 = atomic_fetch_add((u64 *)(r0 + 0), r7)", 8),
    "fetch_add32": ("w7 = atomic_fetch_add((u32 *)(r0 + 0), w7)", 4),
}


@pytest.fixture
def fast_switching():
    """Switch threads as often as CPython allows, so that an unprotected
    read-modify-write is interrupted many times."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.mark.parametrize("name", ATOMICS)
def test_threads_lose_no_atomic_update(name, fast_switching):
    atomic, size = ATOMICS[name]
    shared = create_map(MapSpec("shared", "array", 4, 8, 1), num_cpus=1)
    programs = []
    for _ in range(THREADS):          # a VM per thread (a VM runs one program at a time)
        vm = VM(max_insns=None)
        programs.append(vm.load(PROGRAM.format(fd=vm.fd_of(shared), atomic=atomic,
                                               iterations=ITERATIONS)))
    errors: list[BaseException] = []

    def work(prog):
        try:
            prog.run()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in programs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    value = int.from_bytes(shared.raw[0][:size], "little")
    assert value == THREADS * ITERATIONS


def test_cmpxchg_spin_counter_under_threads(fast_switching):
    # Each thread increments with a compare-and-exchange loop, retrying when
    # another thread changed the value in between: a compare and exchange
    # that is not atomic lets two threads store the same new value.
    shared = create_map(MapSpec("shared", "array", 4, 8, 1), num_cpus=1)
    vms = [VM(max_insns=None) for _ in range(THREADS)]
    progs = [vm.load(f"""
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r1 = map[fd:{vm.fd_of(shared)}] ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r6 = r0
        r8 = 10000
    again:
        r0 = *(u64 *)(r6 + 0)
        r7 = r0
        r7 += 1
        r9 = r0
        r0 = cmpxchg_64(r6 + 0, r0, r7)
        if r0 != r9 goto again
        r8 -= 1
        if r8 != 0 goto again
    out:
        r0 = 0
        exit
    """) for vm in vms]
    threads = [threading.Thread(target=p.run) for p in progs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int.from_bytes(shared.raw[0], "little") == THREADS * 10000


def test_runs_of_one_vm_from_several_threads_take_turns(fast_switching):
    # Each run keeps its own value in the stack frame and checks it is still
    # there: runs sharing the VM's stack at the same time would see each
    # other's stores.
    vm = VM(max_insns=None)
    prog = vm.load("""
        r0 = 0
        r6 = 3000
    again:
        *(u64 *)(r10 - 8) = r1
        r2 = *(u64 *)(r10 - 8)
        if r2 == r1 goto same
        r0 += 1
    same:
        r6 -= 1
        if r6 != 0 goto again
        exit
    """)
    results: dict[int, list[int]] = {}

    def work(token: int) -> None:
        results[token] = [prog.run(args=[token]).r0 for _ in range(5)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(1, THREADS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {t: [0] * 5 for t in range(1, THREADS + 1)}
