"""The kernel verifier selftests of ../shared/verifier-corpus as VM test cases.

Each accepted program that carries ``runs`` is loaded into a fresh VM with
the maps its ``maps`` field names (built as the selftests build them), and
each run's packet goes through ``test_run``; the kernel's retval is the
expectation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from conftest import SHARED
from pybpf.errors import BPFError
from pybpf.isa import Insn
from pybpf.objects import MapSpec
from pybpf.vm import VM

#: Where the corpus lives, relative to the shared material.
CORPUS_PARTS = ("verifier-corpus", "kernel-selftests.jsonl")
CORPUS = SHARED.joinpath(*CORPUS_PARTS)

#: Map kinds the VM cannot have, with the reason.
UNSUPPORTED_MAPS = {
    "map_sockmap": "sockmap holds kernel sockets",
    "map_sockhash": "sockhash holds kernel sockets",
    "map_xskmap": "xskmap holds AF_XDP sockets",
    "cgroup_storage": "cgroup storage is bound to a kernel cgroup",
    "percpu_cgroup_storage": "cgroup storage is bound to a kernel cgroup",
    "map_reuseport_array": "reuseport arrays hold kernel sockets",
    "sk_storage_map": "socket storage is bound to kernel sockets",
    "map_timer": "bpf_timer needs kernel timers",
}

TEST_VAL = (28).to_bytes(4, "little") + b"".join(
    (0xABCDEF12 if i == 6 else 0).to_bytes(4, "little") for i in range(11))


@dataclass
class Case:
    """One accepted corpus program with its runs."""

    name: str
    prog_type: str
    insns: list[Insn]
    maps: dict[str, list[int]]
    runs: list[dict]
    row: dict


def load_cases() -> list[Case]:
    """Every accepted program of the corpus that the kernel ran."""
    cases = []
    with open(CORPUS) as f:
        for line in f:
            row = json.loads(line)
            if row["kernel_6_18"]["verdict"] != "accept" or not row.get("runs"):
                continue
            insns = [Insn(op & 0xFF, d, s, o, i) for op, d, s, o, i in row["insns"]]
            cases.append(Case(row["name"], row["prog_type"], insns, row.get("maps") or {},
                              row["runs"], row))
    return cases


def unsupported_reason(case: Case) -> str | None:
    """Why the VM cannot run this case, or None."""
    for kind in case.maps:
        if kind in UNSUPPORTED_MAPS:
            return f"needs {kind}: {UNSUPPORTED_MAPS[kind]}"
    return None


def _prog_array(vm: VM, prog_type: str, size: int, keys: tuple[int, int, int]):
    jumps = vm.create_map(MapSpec("jmp_table", "prog_array", 4, 4, size))
    fd = vm.fd_of(jumps)
    simple_42 = vm.load("r0 = 42\nexit", prog_type=prog_type)
    loop = vm.load(f"r3 = {keys[1]}\nr2 = map[fd:{fd}] ll\ncall 12\nr0 = 41\nexit",
                   prog_type=prog_type)
    simple_24 = vm.load("r0 = 24\nexit", prog_type=prog_type)
    for key, prog in zip(keys, (simple_42, loop, simple_24)):
        jumps[key] = prog
    return jumps


def build_map(vm: VM, kind: str, prog_type: str):
    """A map of a corpus fixture kind, as the selftests create it."""
    if kind.startswith("map_hash_"):
        size = int(kind.removeprefix("map_hash_").removesuffix("b"))
        return vm.create_map(MapSpec(kind, "hash", 8, size, 1, flags=1))  # no prealloc
    if kind in ("map_array_48b", "map_array_ro", "map_array_wo"):
        flags = {"map_array_48b": 0, "map_array_ro": 1 << 7, "map_array_wo": 1 << 8}[kind]
        m = vm.create_map(MapSpec(kind, "array", 4, 48, 1, flags=flags))
        m[0] = TEST_VAL
        return m
    if kind == "map_array_small":
        return vm.create_map(MapSpec(kind, "array", 4, 1, 1))
    if kind == "prog1":
        return _prog_array(vm, prog_type, 4, (0, 1, 2))
    if kind == "prog2":
        return _prog_array(vm, prog_type, 8, (7, 1, 2))
    if kind == "map_in_map":
        inner = MapSpec("inner", "array", 4, 4, 1)
        outer = vm.create_map(MapSpec(kind, "array_of_maps", 4, 4, 1, inner=inner))
        from pybpf.maps import create_map

        outer[0] = create_map(inner)
        return outer
    if kind == "map_ringbuf":
        return vm.create_map(MapSpec(kind, "ringbuf", 0, 0, 4096))
    if kind == "map_event_output":
        return vm.create_map(MapSpec(kind, "perf_event_array", 4, 4, 0))
    if kind == "map_stacktrace":
        return vm.create_map(MapSpec(kind, "stack_trace", 4, 8, 1))
    if kind == "map_spin_lock":
        # struct { int cnt; struct bpf_spin_lock l; } without BTF: the lock is at 4.
        from pybpf.maps import create_map

        m = create_map(MapSpec(kind, "array", 4, 8, 1), num_cpus=vm.env.num_cpus,
                       spin_lock_offset=4)
        vm.adopt_map(m)
        return m
    raise BPFError(f"unknown corpus map kind {kind}")


def prepare(case: Case, **vm_options) -> tuple[VM, object]:
    """A VM with the case's maps and its program loaded (``vm_options`` go to
    :class:`VM`, after ``max_insns=5_000_000``)."""
    vm = VM(**{"max_insns": 5_000_000, **vm_options})
    insns = list(case.insns)
    for kind, indexes in case.maps.items():
        m = build_map(vm, kind, case.prog_type)
        fd = vm.fd_of(m)
        for pc in indexes:
            insns[pc] = insns[pc]._replace(imm=fd)  # keeps src: a map (1) or a value (2)
    program = vm.load(insns, name="corpus", prog_type=case.prog_type)
    return vm, program
