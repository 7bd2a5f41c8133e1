"""Map operations per second from inside a BPF program: the VM beside the kernel.

Each workload is one socket-filter program whose bounded loop does N map
operations (lookups or updates, on a hash or an array map of 1024 u32 keys
with u64 values); it runs in pybpf's VM (``Program.test_run``) and in the
kernel under ``BPF_PROG_TEST_RUN`` with ``repeat``.  Both must return the
same value.  The table gives operations per second and the kernel's speed
over the VM's.

    PYTHONPATH=src python benchmarks/bench_maps.py [--ops N] [--rounds R]
"""

from __future__ import annotations

import argparse

from common import print_table
from pybpf import assemble
from pybpf.objects import MapSpec
from pybpf.vm import VM

ENTRIES = 1024
PACKET = bytes(64)

LOOKUP = """
r1 = {map} ll
r2 = r10
r2 += -4
call bpf_map_lookup_elem#1
if r0 == 0 goto next
r1 = *(u64 *)(r0 + 0)
r9 += r1
next:
"""
UPDATE = """
*(u64 *)(r10 - 16) = r7
r1 = {map} ll
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 0
call bpf_map_update_elem#2
r9 += r0
"""

#: name -> (map type, operation, key expression added to the loop counter, prefill)
WORKLOADS = {
    "array lookup": ("array", LOOKUP, "", True),
    "hash lookup (hit)": ("hash", LOOKUP, "", True),
    "hash lookup (miss)": ("hash", LOOKUP, "r1 |= 0x10000", True),
    "array update": ("array", UPDATE, "", True),
    "hash update (existing)": ("hash", UPDATE, "", True),
}


def program(op: str, key_expr: str, map_ref: str, ops: int) -> str:
    """A loop of ``ops`` map operations; returns the sum of what it saw."""
    return f"""
r9 = 0
r7 = 0
loop:
r1 = r7
r1 &= {ENTRIES - 1}
{key_expr}
*(u32 *)(r10 - 4) = r1
{op.format(map=map_ref)}
r7 += 1
if r7 < {ops} goto loop
r0 = r9
exit
"""


def fill(m, prefill: bool) -> None:
    """Give every key of the map a value (its index)."""
    if prefill:
        for i in range(ENTRIES):
            m.update(i.to_bytes(4, "little"), i.to_bytes(8, "little"))


def vm_rate(map_type: str, op: str, key_expr: str, prefill: bool, ops: int,
            rounds: int) -> tuple[float, int]:
    """(operations per second, retval) in the VM, best of ``rounds``."""
    vm = VM(jit=False)
    m = vm.create_map(MapSpec("m", map_type, 4, 8, ENTRIES))
    fill(m, prefill)
    prog = vm.load(program(op, key_expr, f"map[fd:{vm.fd_of(m)}]", ops),
                   prog_type="socket_filter")
    best = min(prog.test_run(PACKET).duration_ns for _ in range(rounds))
    return ops * 1e9 / best, prog.test_run(PACKET).retval


def kernel_rate(map_type: str, op: str, key_expr: str, prefill: bool, ops: int,
                repeat: int) -> tuple[float, int] | str:
    """(operations per second, retval) in the kernel, or why it is unavailable."""
    try:
        from pybpf.kernel import KernelMap, KernelProgram, unavailable_reason
    except ImportError:
        return "no kernel backend"
    reason = unavailable_reason()
    if reason:
        return f"refused: {reason}"
    with KernelMap.create(map_type, 4, 8, ENTRIES) as m:
        fill(m, prefill)
        insns = assemble(program(op, key_expr, f"map[fd:{m.fd}]", ops))
        with KernelProgram.load(insns, "socket_filter", name="bench_maps") as prog:
            result = prog.test_run(PACKET, repeat=repeat)
            retval = prog.test_run(PACKET).retval
    return ops * 1e9 / max(result.duration_ns, 1), retval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=512, help="map operations per run")
    parser.add_argument("--rounds", type=int, default=3, help="VM: best of R runs")
    parser.add_argument("--repeat", type=int, default=2000, help="kernel: test-run repeat")
    args = parser.parse_args()
    rows = []
    for name, (map_type, op, key_expr, prefill) in WORKLOADS.items():
        ours, vm_ret = vm_rate(map_type, op, key_expr, prefill, args.ops, args.rounds)
        row = [name, str(args.ops), f"{ours:,.0f}"]
        kern = kernel_rate(map_type, op, key_expr, prefill, args.ops, args.repeat)
        if isinstance(kern, tuple):
            rate, k_ret = kern
            assert k_ret == vm_ret, (name, k_ret, vm_ret)
            row += [f"{rate:,.0f}", f"{rate / ours:,.0f}x"]
        else:
            row += [kern, "-"]
        rows.append(row)
    print_table(["operation (from a BPF program)", "ops/run", "VM ops/s", "kernel ops/s",
                 "kernel/VM"], rows)


if __name__ == "__main__":
    main()
