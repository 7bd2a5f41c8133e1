"""Hash map lookups answered from native code stay coherent with the map.

A ``bpf_map_lookup_elem`` call on a plain hash map keeps a table of recent
answers (hits and misses) in native memory; an entry is trusted only while
no key has come into or left the map.  These tests change the map between
runs, inside a run (through a helper) and from another thread, and check
that the JIT answers what the interpreter answers.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("llvmlite")

from pybpf.objects import MapSpec
from pybpf.vm import VM

# r0 = the value of key r6's lookup, or -1 when absent, for key = 7.
LOOKUP_7 = """
    mov %r1, 7
    stxw [%r10-4], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, +2
    ldxdw %r0, [%r0+0]
    exit
    mov %r0, -1
    exit
"""

# Look key 7 up twice at the same call site (the second time through the
# loop), with {change} between the two: r0 = the second answer's value, or
# -1 when key 7 is absent then.
LOOKUP_CHANGE_LOOKUP = """
    mov %r6, 0
again:
    mov %r1, 7
    stxw [%r10-4], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 1
    mov %r8, -1
    jeq %r0, 0, absent
    ldxdw %r8, [%r0+0]
absent:
    jne %r6, 0, out
    {change}
    mov %r6, 1
    ja again
out:
    mov %r0, %r8
    exit
"""
DELETE_7 = """lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 3"""


def key(i: int) -> bytes:
    return i.to_bytes(4, "little")


def value(v: int) -> bytes:
    return v.to_bytes(8, "little")


def hash_program(jit: bool, text: str):
    vm = VM(jit=jit)
    m = vm.create_map(MapSpec("h", "hash", 4, 8, 16))
    prog = vm.load(text.format(fd=vm.fd_of(m)))
    return m, prog


def test_lookups_use_the_table_and_follow_changes_made_between_runs():
    answers = {}
    for jit in (True, False):
        m, prog = hash_program(jit, LOOKUP_7)
        if jit:
            assert prog._compiled.layout.hashes == [6]
        seen = []
        seen.append(prog.run().r0)              # a miss, remembered
        m.update(key(7), value(70))             # a new key: the miss is stale
        seen.append(prog.run().r0)
        seen.append(prog.run().r0)              # a hit from the table
        m.update(key(7), value(71))             # in place: the address holds
        seen.append(prog.run().r0)
        m.delete(key(7))
        m.update(key(9), value(90))             # takes the slot key 7 had
        seen.append(prog.run().r0)
        m.update(key(7), value(72))
        seen.append(prog.run().r0)
        answers[jit] = [v & 0xFFFFFFFFFFFFFFFF for v in seen]
    minus_one = (1 << 64) - 1
    assert answers[True] == answers[False] == [minus_one, 70, 70, 71, minus_one, 72]


def test_a_delete_inside_the_run_is_seen_by_the_next_lookup():
    results = []
    for jit in (True, False):
        m, prog = hash_program(jit, LOOKUP_CHANGE_LOOKUP.replace("{change}", DELETE_7))
        if jit:
            assert len(prog._compiled.layout.hashes) == 1
        m.update(key(7), value(5))
        first = prog.run().r0
        m.update(key(7), value(5))
        second = prog.run().r0
        results.append((first & 0xFFFFFFFFFFFFFFFF, second & 0xFFFFFFFFFFFFFFFF))
    assert results[0] == results[1] == ((1 << 64) - 1, (1 << 64) - 1)


WAIT = 0x7000


def test_a_change_made_by_another_thread_during_a_run_is_seen_after_it():
    from pybpf.helpers import HelperRegistry, default_registry

    answers = []
    for jit in (True, False):
        go, done = threading.Event(), threading.Event()
        armed = [False]
        helpers = HelperRegistry(default_registry())

        def wait(_prog, *_args, go=go, done=done, armed=armed) -> int:
            if armed[0]:
                go.set()
                assert done.wait(10)
            return 0

        helpers.add(WAIT, wait, "wait")
        vm = VM(jit=jit, helpers=helpers)
        m = vm.create_map(MapSpec("h", "hash", 4, 8, 16))
        prog = vm.load(LOOKUP_CHANGE_LOOKUP.format(fd=vm.fd_of(m), change=f"call {WAIT}"))

        def churn(m=m, go=go, done=done) -> None:
            assert go.wait(10)
            m.delete(key(7))
            done.set()

        m.update(key(7), value(70))
        assert prog.run().r0 == 70              # the table knows key 7 (JIT)
        assert prog.run().r0 == 70
        armed[0] = True
        worker = threading.Thread(target=churn)
        worker.start()
        answers.append(prog.run().r0 & 0xFFFFFFFFFFFFFFFF)
        worker.join()
    assert answers == [(1 << 64) - 1, (1 << 64) - 1]


def test_per_cpu_and_lru_hash_maps_have_lookup_tables_too():
    for kind in ("percpu_hash", "lru_hash", "lru_percpu_hash"):
        vm = VM(jit=True)
        m = vm.create_map(MapSpec("h", kind, 4, 8, 16))
        prog = vm.load(LOOKUP_7.format(fd=vm.fd_of(m)))
        assert prog._compiled.layout.hashes == [6]
        assert prog.run().r0 == (1 << 64) - 1
