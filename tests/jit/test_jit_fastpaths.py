"""The JIT's native fast paths of helper calls agree with the interpreter.

Each test runs the same program in an interpreter VM and a JIT VM set up
alike and compares r0 and the maps; where it matters it also checks that
the JIT answered in native code (the Python method is replaced after the
load by one that counts its calls).
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("llvmlite")

from pybpf.helpers.environment import RANDOM_POOL, Environment
from pybpf.jit import tiers
from pybpf.objects import MapSpec
from pybpf.vm import VM


@pytest.fixture(autouse=True)
def llvm_code(monkeypatch):
    """The fast paths are LLVM's code (the baseline tier calls the helpers)."""
    monkeypatch.setenv(tiers.TIER_ENV, "llvm")

M64 = (1 << 64) - 1


def key(i: int) -> bytes:
    return i.to_bytes(4, "little")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


# r0 = the u64 value of key {key}, or -1 when absent.
LOOKUP = """
    mov %r1, {key}
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

# Look keys {keys} up in order (one call site), then insert key {new}
# (value {new}); r0 = the sum of the values seen.
LOOKUPS_THEN_INSERT = """
    lddw %r6, {keys}
    mov %r9, 0
again:
    mov %r1, %r6
    and %r1, 0xff
    jeq %r1, 0, insert
    stxw [%r10-4], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 1
    rsh %r6, 8
    jeq %r0, 0, again
    ldxdw %r1, [%r0+0]
    add %r9, %r1
    ja again
insert:
    mov %r1, {new}
    stxw [%r10-4], %r1
    stxdw [%r10-16], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, 0
    call 2
    mov %r0, %r9
    exit
"""

# Update key {key} with value {value} and flags {flags}; r0 = the helper's answer.
UPDATE = """
    mov %r1, {key}
    stxw [%r10-4], %r1
    lddw %r1, {value}
    stxdw [%r10-16], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, {flags}
    call 2
    exit
"""


def pair(kind: str, cpu: int = 0, entries: int = 16, fill=range(3, 9), **env):
    """(interpreter VM, map), (JIT VM, map): the same map in each, filled
    with value 10*k for key k (per-CPU maps: 10*k on CPU 0, 100*k on CPU 1)."""
    out = []
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed(num_cpus=2, cpu=cpu, **env))
        m = vm.create_map(MapSpec("m", kind, 4, 8, entries))
        for k in fill:
            m.update(key(k), [u64(10 * k), u64(100 * k)] if m.percpu else u64(10 * k))
        out.append((vm, m))
    return out


def counting(m, name: str) -> list[int]:
    """Replace map method ``name`` by one that counts its calls."""
    calls = [0]
    original = getattr(m, name)

    def counted(*args, **kw):
        calls[0] += 1
        return original(*args, **kw)

    setattr(m, name, counted)
    return calls


def contents(m) -> dict:
    return {bytes(k): v for k, v in m.items()}


@pytest.mark.parametrize("kind", ["percpu_array", "percpu_hash", "lru_hash",
                                  "lru_percpu_hash"])
@pytest.mark.parametrize("cpu", [0, 1, 7])
def test_lookups_agree_on_every_cpu_and_key(kind, cpu):
    (ivm, im), (jvm, jm) = pair(kind, cpu)
    for k in (7, 7, 3, 20, 0):
        answers = []
        for vm, m in ((ivm, im), (jvm, jm)):
            prog = vm.load(LOOKUP.format(key=k, fd=vm.fd_of(m)))
            try:
                answers.append([prog.run().r0, prog.run().r0])
            except Exception as e:          # CPU 7 of a 2-CPU map: the helper's error
                answers.append(type(e).__name__)
        assert answers[0] == answers[1], (kind, cpu, k)
    assert contents(im) == contents(jm)


@pytest.mark.parametrize("kind", ["percpu_array", "percpu_hash", "lru_hash",
                                  "lru_percpu_hash"])
def test_lookups_are_answered_in_native_code(kind):
    (_, _), (vm, m) = pair(kind, cpu=1)
    prog = vm.load(LOOKUP.format(key=7, fd=vm.fd_of(m)))
    assert prog._compiled.layout.maps or prog._compiled.layout.hashes
    calls = counting(m, "bpf_lookup")
    expected = 700 if m.percpu else 70
    assert prog.run().r0 == expected
    first = calls[0]                       # a hash table fills on the first run
    for _ in range(5):
        assert prog.run().r0 == expected
    assert calls[0] == first <= 1


def test_a_cpu_change_between_runs_is_seen():
    for kind in ("percpu_array", "percpu_hash", "lru_percpu_hash"):
        (_, _), (vm, m) = pair(kind, cpu=0)
        prog = vm.load(LOOKUP.format(key=5, fd=vm.fd_of(m)))
        assert prog.run().r0 == 50
        vm.env.cpu = 1
        assert prog.run().r0 == 500
        vm.env.cpu = 0
        assert prog.run().r0 == 50


@pytest.mark.parametrize("kind", ["percpu_hash", "lru_hash", "lru_percpu_hash"])
def test_map_changes_between_runs_are_seen(kind):
    (ivm, im), (jvm, jm) = pair(kind, cpu=1)
    progs = [vm.load(LOOKUP.format(key=7, fd=vm.fd_of(m))) for vm, m in ((ivm, im), (jvm, jm))]
    steps = [lambda m: None,
             lambda m: m.delete(key(7)),
             lambda m: m.update(key(7), [u64(1), u64(2)] if m.percpu else u64(3)),
             lambda m: m.update(key(7), [u64(4), u64(5)] if m.percpu else u64(6)),
             lambda m: m.clear()]
    for step in steps:
        for m in (im, jm):
            step(m)
        assert [p.run().r0 for p in progs for _ in range(2)][::2] == \
            [p.run().r0 for p in progs]


def test_a_change_by_another_thread_during_a_run_is_seen():
    """Another thread deletes the key while the program sits in a helper
    call (bpf_loop's callback): the second lookup at the same site must
    miss."""
    vm = VM(jit=True, env=Environment.fixed(num_cpus=2, cpu=1))
    m = vm.create_map(MapSpec("m", "percpu_hash", 4, 8, 16))
    m.update(key(7), [u64(1), u64(2)])
    source = """
        mov %r6, 0
    again:
        mov %r1, 7
        stxw [%r10-4], %r1
        lddw %r1, map[fd:{fd}]
        mov %r2, %r10
        add %r2, -4
        call 1
        mov %r8, -1
        jeq %r0, 0, +1
        ldxdw %r8, [%r0+0]
        jne %r6, 0, out
        call 14
        mov %r6, 1
        ja again
    out:
        mov %r0, %r8
        exit
    """
    prog = vm.load(source.format(fd=vm.fd_of(m)))
    assert prog.run().r0 == 2
    assert prog.run().r0 == 2

    def other_thread_deletes(*_):   # helper 14's place: another thread runs meanwhile
        worker = threading.Thread(target=lambda: m.delete(key(7)))
        worker.start()
        worker.join()
        return 0

    compiled = prog._compiled
    assert compiled.engine == "jit"
    site = next(i for i, pc in enumerate(compiled.layout.helpers) if compiled.insns[pc].imm == 14)
    compiled._helper_fns[site] = other_thread_deletes
    assert prog.run().r0 == M64


# --- LRU order ----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["lru_hash", "lru_percpu_hash"])
@pytest.mark.parametrize("looked", [(1, 2), (2, 1), (1, 1, 3), (4, 2, 4, 1), (9,), (),
                                    (3, 2, 1, 4, 3)])
@pytest.mark.parametrize("insert", ["program", "userspace"])
def test_lru_evictions_follow_the_lookups_in_order(kind, looked, insert):
    """A full 4-entry LRU map; one program per key looks it up (each run
    once first, so that the JIT's lookups below are native hits); then the
    keys ``looked`` are looked up in that order and key 5, then key 6, is
    inserted (each evicts the least recently used).  The keys left and the
    values seen agree."""
    (ivm, im), (jvm, jm) = pair(kind, fill=range(1, 5), entries=4)
    answers = []
    for vm, m in ((ivm, im), (jvm, jm)):
        fd = vm.fd_of(m)
        lookups = {k: vm.load(LOOKUP.format(key=k, fd=fd)) for k in (1, 2, 3, 4, 9)}
        for k in (4, 3, 2, 1, 9):
            lookups[k].run()
        seen = [lookups[k].run().r0 for k in looked]
        for new in (5, 6):
            if insert == "program":
                vm.load(LOOKUPS_THEN_INSERT.format(keys=0, fd=fd, new=new)).run()
            else:
                m.update(key(new), [u64(new), u64(new)] if m.percpu else u64(new))
        answers.append((seen, sorted(m.keys())))
    assert answers[0] == answers[1]


def test_lru_touches_from_native_code_are_applied_before_a_userspace_update():
    (ivm, im), (jvm, jm) = pair("lru_hash", fill=range(1, 5), entries=4)
    for vm, m in ((ivm, im), (jvm, jm)):
        lookups = {k: vm.load(LOOKUP.format(key=k, fd=vm.fd_of(m))) for k in (1, 2, 3)}
        for k in (1, 2, 3, 1, 2):
            assert lookups[k].run().r0 == 10 * k
        m.update(key(9), u64(90))           # evicts 4, the only one not looked up
        m.update(key(8), u64(80))           # evicts 3
    assert sorted(im.keys()) == sorted(jm.keys()) == [key(1), key(2), key(8), key(9)]


def test_lru_hits_are_native_and_leave_a_touch_record():
    (_, _), (vm, m) = pair("lru_hash", fill=range(1, 5), entries=4)
    prog = vm.load(LOOKUP.format(key=2, fd=vm.fd_of(m)))
    prog.run()
    calls = counting(m, "bpf_lookup")
    for _ in range(3):
        assert prog.run().r0 == 20
    assert calls[0] == 0
    assert m._touch_words[2] == 1           # one slot recorded, applied on the next change
    m.update(key(8), u64(80))               # evicts 1 (2 was touched last)
    assert sorted(m.keys()) == [key(2), key(3), key(4), key(8)]
    assert m._touch_words[2] == 0


# --- array updates -----------------------------------------------------------------

@pytest.mark.parametrize("k, flags", [(3, 0), (3, 2), (3, 1), (3, 4), (15, 0), (16, 0),
                                      (-(1 << 31), 0), (5, -1)])
def test_array_updates_agree(k, flags):
    (ivm, im), (jvm, jm) = pair("array")
    r0 = []
    for vm, m in ((ivm, im), (jvm, jm)):
        prog = vm.load(UPDATE.format(key=k, value=0x1122334455667788, flags=flags,
                                     fd=vm.fd_of(m)))
        r0.append(prog.run().r0)
    assert r0[0] == r0[1]
    assert contents(im) == contents(jm)


def test_array_updates_are_native():
    (_, _), (vm, m) = pair("array")
    prog = vm.load(UPDATE.format(key=4, value=99, flags=0, fd=vm.fd_of(m)))
    assert prog._compiled.layout.maps
    calls = counting(m, "bpf_update")
    assert prog.run().r0 == 0
    assert m[key(4)] == u64(99)
    assert calls[0] == 0


def test_an_array_update_with_the_value_off_the_stack_takes_the_helper():
    """The value comes from a map value (not the stack): the helper copies it."""
    (ivm, im), (jvm, jm) = pair("array")
    source = """
        mov %r1, 3
        stxw [%r10-4], %r1
        lddw %r1, map[fd:{fd}]
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, out
        mov %r3, %r0
        mov %r1, 9
        stxw [%r10-4], %r1
        lddw %r1, map[fd:{fd}]
        mov %r2, %r10
        add %r2, -4
        mov %r4, 0
        call 2
    out:
        exit
    """
    for vm, m in ((ivm, im), (jvm, jm)):
        assert vm.load(source.format(fd=vm.fd_of(m))).run().r0 == 0
        assert m[key(9)] == u64(30)


# --- environment helpers -----------------------------------------------------------

def helper_program(helper_id: int, times: int = 3) -> str:
    """Call helper ``helper_id`` ``times`` times; r0 = the answers xored, r6.. kept."""
    body = "".join(f"call {helper_id}\n    mov %r{6 + i}, %r0\n    " for i in range(times))
    return f"""
    {body}
    mov %r0, %r6
    lsh %r0, 1
    xor %r0, %r7
    lsh %r0, 1
    xor %r0, %r8
    exit
    """


def test_prandom_follows_the_seeded_sequence_under_both_engines():
    answers = []
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed(seed=42))
        prog = vm.load(helper_program(7))
        # more calls than the pool holds: the refill goes through Python
        answers.append([prog.run().r0 for _ in range(RANDOM_POOL)] +
                       [vm.env.prandom_u32() for _ in range(3)])
    assert answers[0] == answers[1]


def test_prandom_is_native():
    vm = VM(jit=True, env=Environment.fixed(seed=1))
    prog = vm.load(helper_program(7))
    assert 7 in {prog._compiled.insns[pc].imm for pc in prog._compiled.layout.helpers}
    prog.run()                                      # the first run fills the pool
    drawn = vm.env.native.random_next
    calls = [0]
    original = vm.env.prandom_u32

    def counted():
        calls[0] += 1
        return original()

    vm.env.prandom_u32 = counted
    prog.run()
    assert calls[0] == 0 and vm.env.native.random_next == drawn + 3


def test_cpu_id_agrees_and_follows_the_environment():
    for cpu in (0, 1, 5, (1 << 32) + 3):
        answers = []
        for jit in (False, True):
            vm = VM(jit=jit, env=Environment.fixed(cpu=0))
            prog = vm.load(helper_program(8, 1))
            vm.env.cpu = cpu
            answers.append(prog.run().r0)
        assert answers[0] == answers[1]


class MirrorlessEnvironment:
    """An environment of the user's own, without the native mirror."""

    cpu = 6


@pytest.mark.parametrize("jit", [False, True])
def test_an_environment_replaced_after_load_is_what_the_helpers_report(jit):
    vm = VM(jit=jit, env=Environment.fixed(cpu=0))
    prog = vm.load(helper_program(8, 1))

    def cpu() -> int:
        return prog.run().r0 >> 2

    assert cpu() == 0
    prog.env = Environment.fixed(cpu=3)
    assert cpu() == 3
    if jit:                         # still answered in native code
        assert prog._compiled.engine == "jit"
        assert prog._compiled._fast_paths.env is prog.env
    prog.env.cpu = 4
    assert cpu() == 4
    prog.env = MirrorlessEnvironment()      # the JIT compiles it again for this one
    assert cpu() == 6


def test_ktime_reads_the_monotonic_clock_in_native_code():
    vm = VM(jit=True)
    prog = vm.load("call 5\n exit")
    before = time.monotonic_ns()
    t = prog.run().r0
    after = time.monotonic_ns()
    assert before <= t <= after
    assert vm.env.native.host_clock == 1


def test_ktime_follows_a_frozen_or_replaced_clock():
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed())
        prog = vm.load("call 5\n exit")
        assert prog.run().r0 == 1_000_000_000
        vm.env.monotonic_ns = lambda: 77
        assert prog.run().r0 == 77
        vm.env.monotonic_ns = time.monotonic_ns
        assert prog.run().r0 > 77


# --- ring buffer output --------------------------------------------------------------

# Write {n} records of {size} bytes (the counter, from the stack) with
# flags {flags}; r0 = the sum of the helper's answers.
RING_OUTPUT = """
    mov %r7, {n}
loop:
    stxdw [%r10-16], %r7
    stxdw [%r10-8], %r7
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -16
    mov %r3, {size}
    mov %r4, {flags}
    call 130
    add %r9, %r0
    sub %r7, 1
    jne %r7, 0, loop
    mov %r0, %r9
    exit
"""


def ring_state(rb) -> tuple:
    return (rb.ring(), rb.producer_pos, rb.consumer_pos, rb.pending_pos, rb.dropped,
            rb.wakeups)


@pytest.mark.parametrize("size, flags, n, consume", [
    (8, 0, 3, False),          # the first record wakes the consumer (Python), the rest native
    (13, 1, 600, False),       # BPF_RB_NO_WAKEUP, until the ring is full (-EAGAIN, counted)
    (16, 0, 300, True),        # consumed between runs: records wrap past the end
    (16, 2, 5, False),         # BPF_RB_FORCE_WAKEUP: Python
    (16, 4, 5, False),         # bad flags: Python's -EINVAL
    (0, 0, 2, False),          # empty records: Python
])
def test_ringbuf_output_agrees(size, flags, n, consume):
    out = []
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed())
        rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
        prog = vm.load(RING_OUTPUT.format(fd=vm.fd_of(rb), size=size, flags=flags, n=n))
        seen = []
        for _ in range(4):
            seen.append(prog.run().r0)
            if consume:
                seen.append(rb.consume())
        out.append((seen, ring_state(rb), rb.consume()))
    assert out[0] == out[1]


def test_ringbuf_output_is_native():
    vm = VM(jit=True)
    rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 1 << 16))
    prog = vm.load(RING_OUTPUT.format(fd=vm.fd_of(rb), size=8, flags=1, n=10))
    assert prog._compiled.layout.rings
    calls = counting(rb, "bpf_ringbuf_output")
    assert prog.run().r0 == 0
    assert calls[0] == 0
    assert rb.consume() == [(i).to_bytes(8, "little") for i in range(10, 0, -1)]


def test_ringbuf_output_waits_for_a_python_reservation():
    """While Python reserves (the positions' busy word set), native code
    leaves the record to the helper, which takes the map's lock."""
    vm = VM(jit=True)
    rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 1 << 16))
    prog = vm.load(RING_OUTPUT.format(fd=vm.fd_of(rb), size=8, flags=1, n=2))
    calls = counting(rb, "bpf_ringbuf_output")
    rb.positions.busy = 1
    try:
        assert prog.run().r0 == 0
    finally:
        rb.positions.busy = 0
    assert calls[0] == 1        # the helper's own reservation ends with the word clear
    assert len(rb.consume()) == 2


def test_ringbuf_output_beside_a_reserved_record():
    """A record reserved (Python), then outputs (native) that skip past it,
    then the reservation submitted: the consumer sees them in ring order
    once the reserved one is committed, as in the interpreter."""
    source = """
        lddw %r1, map[fd:{fd}]
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, 0x77
        stxdw [%r6+0], %r1
        mov %r7, 3
    loop:
        stxdw [%r10-8], %r7
        lddw %r1, map[fd:{fd}]
        mov %r2, %r10
        add %r2, -8
        mov %r3, 8
        mov %r4, 1
        call 130
        sub %r7, 1
        jne %r7, 0, loop
        mov %r1, %r6
        mov %r2, 0
        call 132
    out:
        mov %r0, 0
        exit
    """
    out = []
    for jit in (False, True):
        vm = VM(jit=jit)
        rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
        prog = vm.load(source.format(fd=vm.fd_of(rb)))
        prog.run()
        prog.run()
        out.append((ring_state(rb), rb.consume()))
    assert out[0] == out[1]
    assert len(out[1][1]) == 8


# Reserve {n} records of {size} bytes with flags {rflags}, fill each with
# the counter, submit (or discard every second one when {discard}) with
# flags {sflags}; r0 = how many reservations failed.
RING_RESERVE = """
    mov %r7, {n}
    mov %r9, 0
loop:
    lddw %r1, map[fd:{fd}]
    mov %r2, {size}
    mov %r3, {rflags}
    call 131
    jne %r0, 0, got
    add %r9, 1
    ja next
got:
    stxb [%r0+0], %r7
    mov %r1, %r0
    mov %r2, {sflags}
    mov %r3, %r7
    and %r3, {discard}
    jne %r3, 0, drop
    call 132
    ja next
drop:
    call 133
next:
    sub %r7, 1
    jne %r7, 0, loop
    mov %r0, %r9
    exit
"""


@pytest.mark.parametrize("size, rflags, sflags, discard, n, consume", [
    (8, 0, 0, 0, 3, False),        # the first submit wakes the consumer (Python)
    (13, 0, 1, 1, 400, False),     # BPF_RB_NO_WAKEUP, every second discarded, until full
    (16, 0, 1, 0, 300, True),      # consumed between runs: records wrap past the end
    (16, 0, 2, 0, 4, False),       # BPF_RB_FORCE_WAKEUP: Python
    (16, 1, 0, 0, 4, False),       # reserve flags: NULL
    (0, 0, 1, 0, 4, False),        # empty records: Python
    (5000, 0, 1, 0, 2, False),     # larger than the ring: NULL, counted
])
def test_ringbuf_reserve_submit_discard_agree(size, rflags, sflags, discard, n, consume):
    out = []
    for jit in (False, True):
        vm = VM(jit=jit, env=Environment.fixed())
        rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
        prog = vm.load(RING_RESERVE.format(fd=vm.fd_of(rb), size=size, rflags=rflags,
                                           sflags=sflags, discard=discard, n=n))
        if jit:
            assert len(prog._compiled.layout.rings) == 3
        seen = []
        for _ in range(4):
            seen.append(prog.run().r0)
            if consume:
                seen.append(rb.consume())
        out.append((seen, ring_state(rb), rb.consume()))
    assert out[0] == out[1]


def test_ringbuf_reserve_and_submit_are_native():
    vm = VM(jit=True)
    rb = vm.create_map(MapSpec("rb", "ringbuf", 0, 0, 1 << 16))
    prog = vm.load(RING_RESERVE.format(fd=vm.fd_of(rb), size=8, rflags=0, sflags=1,
                                       discard=0, n=5))
    calls = counting(rb, "bpf_ringbuf_reserve") + counting(rb, "bpf_ringbuf_submit")
    assert prog.run().r0 == 0
    assert calls == [0, 0]
    assert [r[0] for r in rb.consume()] == [5, 4, 3, 2, 1]


def test_a_submit_of_another_rings_record_takes_the_helper():
    """The program reserves from two rings: its submits go to Python, which
    finds each record's ring by address."""
    source = """
        lddw %r1, map[fd:{a}]
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        mov %r6, %r0
        lddw %r1, map[fd:{b}]
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        mov %r7, %r0
        mov %r1, %r7
        mov %r2, 1
        call 132
        mov %r1, %r6
        mov %r2, 1
        call 133
    out:
        mov %r0, 0
        exit
    """
    out = []
    for jit in (False, True):
        vm = VM(jit=jit)
        a = vm.create_map(MapSpec("a", "ringbuf", 0, 0, 4096))
        b = vm.create_map(MapSpec("b", "ringbuf", 0, 0, 4096))
        prog = vm.load(source.format(a=vm.fd_of(a), b=vm.fd_of(b)))
        if jit:
            kinds = prog._compiled.layout.rings
            assert len(kinds) == 2              # the two reserves only
        prog.run()
        out.append((ring_state(a), ring_state(b), a.consume(), b.consume()))
    assert out[0] == out[1]
    assert out[1][3] == [bytes(8)] and out[1][2] == []


# --- hash updates ----------------------------------------------------------------------

# Update key {key} with value r6 (the run's r1) and flags {flags}, twice at
# one call site with {between} in between; r0 = the two answers, (first << 8) | second.
HASH_UPDATE_TWICE = """
    mov %r6, %r1
    mov %r8, 0
    mov %r9, 0
again:
    mov %r1, {key}
    stxw [%r10-4], %r1
    stxdw [%r10-16], %r6
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    mov %r3, %r10
    add %r3, -16
    mov %r4, {flags}
    call 2
    and %r0, 0xff
    lsh %r9, 8
    or %r9, %r0
    jne %r8, 0, out
    {between}
    mov %r8, 1
    add %r6, 1
    ja again
out:
    mov %r0, %r9
    exit
"""
DELETE_KEY = """mov %r1, {key}
    stxw [%r10-4], %r1
    lddw %r1, map[fd:{fd}]
    mov %r2, %r10
    add %r2, -4
    call 3"""


@pytest.mark.parametrize("flags", [0, 1, 2, 3])
@pytest.mark.parametrize("k", [5, 30])
@pytest.mark.parametrize("between", ["", "delete"])
def test_hash_updates_agree(flags, k, between):
    (ivm, im), (jvm, jm) = pair("hash")
    answers = []
    for vm, m in ((ivm, im), (jvm, jm)):
        fd = vm.fd_of(m)
        middle = DELETE_KEY.format(key=k, fd=fd) if between else ""
        prog = vm.load(HASH_UPDATE_TWICE.format(key=k, flags=flags, fd=fd, between=middle))
        seen = [prog.run(args=[100 + i]).r0 for i in range(3)]
        m.delete(key(k)) if key(k) in m else m.update(key(k), u64(1))
        seen += [prog.run(args=[200 + i]).r0 for i in range(3)]
        answers.append((seen, contents(m)))
    assert answers[0] == answers[1]


def test_hash_updates_of_known_keys_are_native():
    (_, _), (vm, m) = pair("hash")
    prog = vm.load(HASH_UPDATE_TWICE.format(key=5, flags=0, fd=vm.fd_of(m), between=""))
    assert prog._compiled.layout.hashes
    prog.run(args=[7])                                 # the first update teaches the table
    calls = counting(m, "bpf_update")
    assert prog.run(args=[40]).r0 == 0
    assert calls[0] == 0
    assert m[key(5)] == u64(41)


def test_hash_update_tables_ignore_another_keys_update():
    """Another program update (another thread's, in real life) lands
    between the helper's update and the site reading the map's record of
    it: the record names the other key, and the site learns nothing."""
    (_, _), (vm, m) = pair("hash")
    prog = vm.load(HASH_UPDATE_TWICE.format(key=5, flags=0, fd=vm.fd_of(m), between=""))
    original = m.bpf_update

    def and_another(raw_key, value, flags=0, cpu=0):
        ret = original(raw_key, value, flags, cpu)
        original(key(6), u64(66), 0, cpu)          # the record now names key 6
        return ret

    m.bpf_update = and_another
    for i in range(3):
        prog.run(args=[10 * i])
    m.bpf_update = original
    assert m[key(5)] == u64(21) and m[key(6)] == u64(66)
    prog.run(args=[100])                        # no entry was learnt: the helper again
    assert m[key(5)] == u64(101) and m[key(6)] == u64(66)


def test_a_hash_update_after_another_thread_deleted_the_key_inserts_it_again():
    vm = VM(jit=True, env=Environment.fixed())
    m = vm.create_map(MapSpec("m", "hash", 4, 8, 16))
    fd = vm.fd_of(m)
    prog = vm.load(HASH_UPDATE_TWICE.format(key=5, flags=0, fd=fd, between="call 14"))
    prog.run(args=[1])
    prog.run(args=[2])
    assert m[key(5)] == u64(3)

    def other_thread_deletes(*_):
        worker = threading.Thread(target=lambda: m.delete(key(5)))
        worker.start()
        worker.join()
        return 0

    compiled = prog._compiled
    site = next(i for i, pc in enumerate(compiled.layout.helpers) if compiled.insns[pc].imm == 14)
    compiled._helper_fns[site] = other_thread_deletes
    assert prog.run(args=[50]).r0 == 0
    assert m[key(5)] == u64(51)                 # inserted again by the second update
