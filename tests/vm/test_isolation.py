"""Each VM is a world of its own: programs see the VM's addresses, never the
host's, and reach only the maps their VM has."""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import re

import pytest

from pybpf.errors import HelperError, MemoryFault, VMError
from pybpf.maps import create_map
from pybpf.objects import MapSpec
from pybpf.vm import VM, Tracer
from pybpf.vm.memory import GUARD, HEAP_BASE, LAYOUT_BASE, STACK_BASE

PACKET = bytes(12) + b"\x08\x00" + bytes(50)


def host_ranges() -> list[tuple[int, int]]:
    """The address ranges mapped in this process (user space)."""
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo < 1 << 47:     # the vsyscall page sits in the kernel's half
                ranges.append((lo, hi))
    return ranges


def host_addresses_in(values, ranges) -> list[int]:
    return [v for v in values if any(lo <= v < hi for lo, hi in ranges)]


def array_map(vm: VM, value: int):
    m = vm.create_map(MapSpec("values", "array", 4, 8, 1))
    m[0] = value.to_bytes(8, "little")
    return m


LOOKUP = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = map[fd:{fd}] ll
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem#1
    exit
"""


def test_addresses_are_the_vms_own_and_the_same_in_every_vm():
    a, b = VM(), VM()
    ma, mb = array_map(a, 1), array_map(b, 2)
    pa = a.load(LOOKUP.format(fd=a.fd_of(ma))).run().r0
    pb = b.load(LOOKUP.format(fd=b.fd_of(mb))).run().r0
    assert pa == pb != 0                         # the same layout ...
    assert pa >= HEAP_BASE > LAYOUT_BASE          # ... in the VM's range
    host = ma.arena_addresses[0]
    assert pa != host and not host_addresses_in([pa], host_ranges())
    assert a.run("mov %r0, %r10\nexit").r0 == STACK_BASE + 8 * 512   # r10 is fixed


def test_regions_are_page_aligned_and_guard_gaps_apart():
    vm = VM()
    for i in range(5):
        vm.create_map(MapSpec(f"m{i}", "array", 4, 8, 3))
    regions = list(vm.memory.regions())
    for r in regions:
        if r.kind != "stack":
            assert r.start % 4096 == 0
    for low, high in itertools.pairwise(regions):
        if low.kind == "stack" and high.kind == "stack":
            continue                          # frames are one block: a callee may use r10 of the caller
        assert high.start - low.end >= GUARD, (low, high)


def test_a_program_cannot_reach_another_vms_map_by_its_address():
    a, b = VM(), VM()
    secret = array_map(b, 0x5EC12E7)
    b_pointer = b.map_pointer(secret)
    b_value = b.load(LOOKUP.format(fd=b.fd_of(secret))).run().r0
    # A has no maps: B's map pointer is no map here, B's value address no memory.
    with pytest.raises(HelperError, match="not a map pointer"):
        a.load("call 1\nexit").run(args=[b_pointer, 0])
    with pytest.raises(MemoryFault):
        a.load("ldxdw %r0, [%r1]\nexit").run(args=[b_value])
    with pytest.raises(MemoryFault):
        a.load("stxdw [%r1], %r1\nexit").run(args=[b_value])
    assert secret[0] == (0x5EC12E7).to_bytes(8, "little")


def test_the_same_address_in_another_vm_is_that_vms_own_memory():
    a, b = VM(), VM()
    mine, theirs = array_map(a, 1), array_map(b, 2)
    address = b.load(LOOKUP.format(fd=b.fd_of(theirs))).run().r0
    prog = a.load("ldxdw %r0, [%r1]\nmov %r2, 7\nstxdw [%r1], %r2\nexit")
    assert prog.run(args=[address]).r0 == 1          # A's own value
    assert mine[0] == (7).to_bytes(8, "little")
    assert theirs[0] == (2).to_bytes(8, "little")    # B's untouched


def test_host_addresses_mean_nothing_to_a_program():
    vm = VM()
    m = array_map(vm, 9)
    for host in (m.address, m.arena_addresses[0], ctypes.addressof(ctypes.c_char.from_buffer(
            m.arenas[0])), id(m.arenas[0])):
        with pytest.raises(MemoryFault):
            vm.load("ldxdw %r0, [%r1]\nexit").run(args=[host])
        with pytest.raises(HelperError):
            vm.load("call 1\nexit").run(args=[host, 0])


def test_a_map_the_vm_was_not_given_is_unreachable():
    vm = VM()
    stranger = create_map(MapSpec("stranger", "array", 4, 8, 1))
    other = VM()
    pointer = other.map_pointer(stranger)      # adopted by another VM only
    assert vm.map_at(pointer) is None and vm.map_at(stranger.address) is None
    with pytest.raises(HelperError):
        vm.load("call 1\nexit").run(args=[pointer, 0])


def test_inner_maps_are_reached_through_their_outer_map_only():
    vm = VM()
    inner_spec = MapSpec("inner", "array", 4, 8, 1)
    outer = vm.create_map(MapSpec("outer", "array_of_maps", 4, 4, 1, inner=inner_spec))
    inner = create_map(inner_spec)
    outer[0] = inner                           # from userspace: not adopted by anyone yet
    prog = vm.load(f"""
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r1 = map[fd:{vm.fd_of(outer)}] ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r1 = r0
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r1 = 77
        *(u64 *)(r0 + 0) = r1
        r0 = 1
    out:
        exit
    """)
    assert prog.run().r0 == 1
    assert inner[0] == (77).to_bytes(8, "little")
    pointer = vm.map_pointer(inner)
    assert vm.map_at(pointer) is inner and pointer != inner.address
    assert VM().map_at(pointer) is None


def test_ring_buffer_records_are_vm_addresses():
    vm = VM()
    ring = vm.create_map(MapSpec("ring", "ringbuf", 0, 0, 4096))
    prog = vm.load(f"""
        r1 = map[fd:{vm.fd_of(ring)}] ll
        r2 = 8
        r3 = 0
        call bpf_ringbuf_reserve#131
        if r0 == 0 goto out
        r6 = r0
        r1 = 0x1234
        *(u64 *)(r0 + 0) = r1
        r1 = r6
        r2 = 0
        call bpf_ringbuf_submit#132
        r0 = r6
    out:
        exit
    """)
    record = prog.run().r0
    assert record and not host_addresses_in([record], host_ranges())
    assert [bytes(r) for r in ring] == [(0x1234).to_bytes(8, "little")]


def test_packet_and_context_pointers_are_vm_addresses():
    vm = VM()
    prog = vm.load("""
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r0 = r3
        r0 -= r2
        exit
    """, prog_type="xdp")
    values: list[int] = []
    assert prog.test_run(PACKET, trace=_Recorder(prog.insns, values)).retval == len(PACKET)
    assert values and not host_addresses_in(values, host_ranges())
    assert all(v < 1 << 32 or v >= LAYOUT_BASE for v in values)


class _Recorder(Tracer):
    """A tracer that keeps every register value it sees."""

    def __init__(self, insns, values: list[int]):
        super().__init__(insns, keep=True)
        self.values = values

    def start(self, registers):
        self.values.extend(registers)
        super().start(registers)

    def __call__(self, pc, registers):
        self.values.extend(registers)


def test_messages_name_vm_addresses():
    vm = VM()
    with pytest.raises(VMError) as info:
        vm.run("mov %r1, %r10\nldxdw %r0, [%r1+8]\nexit")
    shown = [int(x, 16) for x in re.findall(r"0x[0-9a-f]+", str(info.value))]
    assert shown and not host_addresses_in(shown, host_ranges())


# --- no host address anywhere a program can see ------------------------------------

def _words(buffer, limit: int = 1 << 20) -> list[int]:
    data = bytes(memoryview(buffer)[:limit])
    data = data[:len(data) // 8 * 8]
    return [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]


def _map_words(vm: VM) -> list[int]:
    """Every 8-byte word of every value of every map the VM has."""
    words = []
    for m in vm.maps_by_fd.values():
        for arena in m.arenas:
            words += _words(arena)
    return words


def _leaks(vm: VM, values: list[int], ranges) -> list[str]:
    found = [f"register {v:#x}" for v in host_addresses_in(set(values), ranges)]
    found += [f"map word {v:#x}" for v in host_addresses_in(set(_map_words(vm)), ranges)]
    return found


def test_corpus_programs_never_hold_a_host_address():
    from conftest import shared_path
    from corpus import CORPUS, CORPUS_PARTS, load_cases, prepare, unsupported_reason
    from pybpf.vm.progtypes import SUPPORTED

    if not CORPUS.exists():
        shared_path(*CORPUS_PARTS)      # skips, naming what is missing
    process = host_ranges()
    runs = 0
    leaks = {}
    for case in load_cases():
        if unsupported_reason(case) or case.prog_type not in SUPPORTED:
            continue
        vm, program = prepare(case)
        values: list[int] = []
        for run in case.runs:
            with contextlib.suppress(VMError):   # a fault or a limit: the registers still count
                program.test_run(bytes.fromhex(run["data"]),
                                 trace=_Recorder(program.insns, values))
            runs += 1
        # the buffers behind this VM's regions, and anything the process maps above
        # 4 GiB (below that, a Python that is not position-independent has its heap,
        # which the corpus's random 32-bit constants can hit)
        ranges = [(r.buffer_address, r.buffer_address + r.size) for r in vm.memory.regions()]
        ranges += [(max(lo, 1 << 32), hi) for lo, hi in process if hi > 1 << 32]
        found = _leaks(vm, values, ranges)
        if found:
            leaks[case.name] = found[:3]
    assert runs > 500
    assert leaks == {}


EXAMPLE_PROGRAMS = {
    # name: (program, input for test_run)
    "exitsnoop": ("handle_exit", {"ctx": bytes(64)}),
    "syscount": ("sys_enter", {"ctx": bytes(64)}),
    "xdp_count": ("count_packets", {"data": PACKET}),
    "tc_classify": ("classify", {"data": PACKET}),
    "sockfilter": ("keep_dns", {"data": PACKET}),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_PROGRAMS))
def test_example_programs_never_hold_a_host_address(name, tmp_path):
    pytest.importorskip("ziglang")
    import pybpf
    import pybpf.vm
    from conftest import EXAMPLES
    from pybpf.toolchain import compile

    program, args = EXAMPLE_PROGRAMS[name]
    spec = pybpf.load_object(compile(EXAMPLES / f"{name}.bpf.c", tmp_path / f"{name}.o",
                                     compiler="zig"))
    ranges = host_ranges()
    with pybpf.vm.load(spec) as coll:
        prog = coll.programs[program]
        values: list[int] = []
        for _ in range(3):
            prog.test_run(**args, trace=_Recorder(prog.insns, values))
        assert len(values) > 100
        assert _leaks(coll.vm, values, ranges) == []


@pytest.mark.parametrize("name", ["sum.s", "fib.bpf.s"])
def test_assembly_examples_never_hold_a_host_address(name):
    from conftest import EXAMPLES

    vm = VM()
    prog = vm.load((EXAMPLES / name).read_text())
    values: list[int] = []
    prog.run(bytes(range(16)), trace=_Recorder(prog.insns, values))
    assert values and not host_addresses_in(values, host_ranges())


def test_pointers_a_program_prints_are_not_host_addresses():
    vm = VM()
    m = array_map(vm, 3)
    fmt = b"%llx %llx\0".ljust(16, b"\0")
    low, high = (int.from_bytes(fmt[i:i + 8], "little") for i in (0, 8))
    prog = vm.load(f"""
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r1 = map[fd:{vm.fd_of(m)}] ll
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r4 = r0
        r1 = {low:#x} ll
        *(u64 *)(r10 - 24) = r1
        r1 = {high:#x} ll
        *(u64 *)(r10 - 16) = r1
        r1 = r10
        r1 += -24
        r2 = 10
        r3 = r10
        call bpf_trace_printk#6
    out:
        exit
    """)
    assert prog.run().r0 > 0
    printed = [int(x, 16) for x in vm.trace_pipe[-1].split()[-2:]]
    hosts = {ctypes.addressof(ctypes.c_char.from_buffer(buf))
             for buf in (vm.stack._storage, *m.arenas)}
    hosts |= {r.buffer_address for r in vm.memory.regions()}
    hosts |= {r.buffer_address + r.size for r in vm.memory.regions()}
    r10, value = printed
    assert r10 == STACK_BASE + 8 * 512
    assert value >= HEAP_BASE
    assert not {r10, value} & hosts
    assert not host_addresses_in(printed, host_ranges())


def test_a_map_value_lddw_of_a_hash_map_is_a_vm_error():
    vm = VM()
    h = vm.create_map(MapSpec("h", "hash", 4, 8, 4))
    with pytest.raises(VMError, match="hash map has no value at a fixed address") as info:
        vm.load(f"r0 = map[fd:{vm.fd_of(h)}][0]+0 ll\nexit")   # the fuzz suite's case: AttributeError
    assert info.value.pc == 0


def _first_fit_by_scanning(space, size: int) -> int:
    """The lowest free place for ``size`` bytes, found by scanning every
    reservation from HEAP_BASE (the definition the fast search must keep)."""
    from pybpf.vm.memory import PAGE, round_up

    span = round_up(max(size, 1), PAGE)
    candidate = HEAP_BASE
    while True:
        clash = [(s, e) for s, e in zip(space._span_starts, space._span_ends)
                 if s < candidate + span + GUARD and e + GUARD > candidate]
        if not clash:
            return candidate
        candidate = round_up(max(e for _, e in clash) + GUARD, PAGE)


def test_reservations_take_the_lowest_fit():
    import random

    from pybpf.vm.memory import AddressSpace

    rng = random.Random(20261203)
    space = AddressSpace()
    live: list[int] = []
    for _ in range(3000):
        if live and rng.random() < 0.45:
            space.release(live.pop(rng.randrange(len(live))))
        else:
            size = rng.choice([1, 64, 4096, 5000, 1 << 16, 1 << 20])
            expected = _first_fit_by_scanning(space, size)
            live.append(space.reserve(size))
            assert live[-1] == expected
    for start in live:
        space.release(start)
    many = [space.reserve(64) for _ in range(500)]        # a long-lived VM's regions
    space.release(many[250])
    assert space.reserve(64) == many[250]                 # the freed hole is reused
    expected = _first_fit_by_scanning(space, 1 << 20)
    assert space.reserve(1 << 20) == expected


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("budget", [{"max_insns": -1}, {"max_insns": 1.5}, {"max_insns": True},
                                    {"max_seconds": 0}, {"max_seconds": -2.0},
                                    {"max_seconds": float("nan")}, {"max_seconds": "1"}])
def test_a_budget_that_is_not_one_is_refused(jit, budget):
    # cli fuzz seed 20261206 case 95985: run --max-insns -1 --jit raised
    # ValueError from the JIT's runtime block
    with pytest.raises(VMError, match="must be"):
        VM(jit=jit, **budget)
    vm = VM(jit=jit)
    name, value = next(iter(budget.items()))
    with pytest.raises(VMError, match="must be"):
        setattr(vm, name, value)
    assert vm.run("mov r0, 3\nexit", b"").r0 == 3
