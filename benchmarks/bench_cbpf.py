"""Classic BPF speed: packets per second through one socket filter on each
backend, side by side.

Columns, for each filter over the same mix of IPv4 packets:

- **interp**: pybpf's classic interpreter (:class:`pybpf.cbpf.interp.Machine`,
  the skbs built beforehand);
- **VM/call**: the eBPF translation (:mod:`pybpf.cbpf.translate`) as a
  socket-filter test run in pybpf's VM, one test run per packet (setting
  up the run's skb and address space dominates);
- **VM**: the VM's own time per packet (``repeat`` runs inside one test
  run, its duration);
- **VM+JIT**: the same with ``VM(jit=True)``, when this pybpf has the JIT;
- **kernel/call**: the translation loaded into the kernel, one
  ``BPF_PROG_TEST_RUN`` per packet from Python (the system call dominates);
- **kernel**: the kernel's own time per packet (``repeat`` runs inside one
  test run, its duration);

and each as a ratio to the interpreter.  A ``compile`` column (microseconds
to compile the filter's pcap expression) appears when this pybpf has the
pcap filter compiler: see :func:`compile_microseconds`, the hook.

    PYTHONPATH=src python benchmarks/bench_cbpf.py [--rounds N] [--packets N]

Figures (2 shared cores, load average 12, Python 3.11, Linux 6.18; packets
per second, ratio to the interpreter)::

    filter                         interp    VM/call  VM              kernel/call     kernel
    ip                             328,586   4,765    215,495 (0.66x)  26,251 (0.08x)  28,918,450 (88x)
    tcp dst port 80                353,697   5,032    221,579 (0.63x)  27,053 (0.08x)  21,701,389 (61x)
    host 10.0.0.1 or net ... udp   284,137   5,070     72,009 (0.25x)  33,914 (0.12x)  18,825,301 (66x)

The classic interpreter (closures compiled once per instruction) beats the
VM running the eBPF translation (two to three times the instructions, a
general interpreter); a test run per packet costs the VM about 200 us of
setup and the kernel about 35 us of system call, so both lose to the
interpreter there; the kernel's JIT is 60-90 times the interpreter.
"""

from __future__ import annotations

import argparse
import os
import random

from common import best_of, print_table
from pybpf.cbpf import assemble
from pybpf.cbpf.backends import frame_for_test_run, skb_for_test_run
from pybpf.cbpf.interp import Machine
from pybpf.cbpf.translate import translate

# Filters over the packet from its IP header (a socket-filter test run hands
# the filter the data after the Ethernet header), each with the pcap
# expression that means the same for link type raw (the compile-time hook).
FILTERS: dict[str, tuple[str, str]] = {
    "ip": ("ip", """
        ldb [0]
        and #0xf0
        jeq #0x40, yes, no
yes:    ret #262144
no:     ret #0
"""),
    "tcp dst port 80": ("tcp dst port 80", """
        ldb [0]
        and #0xf0
        jne #0x40, no
        ldb [9]
        jne #6, no
        ldh [6]
        jset #0x1fff, no
        ldxb 4*([0]&0xf)
        ldh [x + 2]
        jeq #80, yes, no
yes:    ret #262144
no:     ret #0
"""),
    "host 10.0.0.1 or net 192.168.0.0/16 and udp": (
        "host 10.0.0.1 or net 192.168.0.0/16 and udp", """
        ldb [0]
        and #0xf0
        jne #0x40, no
        ld [12]
        jeq #0x0a000001, yes
        ld [16]
        jeq #0x0a000001, yes
        ld [12]
        and #0xffff0000
        jeq #0xc0a80000, proto
        ld [16]
        and #0xffff0000
        jne #0xc0a80000, no
proto:  ldb [9]
        jeq #17, yes, no
yes:    ret #262144
no:     ret #0
"""),
}


def packets(count: int, seed: int = 1) -> list[bytes]:
    """A mix of IPv4 TCP, UDP and ICMP packets between a few addresses."""
    rng = random.Random(seed)
    addresses = [bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes([192, 168, 1, 7]),
                 bytes([172, 16, 0, 9])]
    out = []
    for _ in range(count):
        proto, header = rng.choice([(6, 20), (17, 8), (1, 8)])
        payload = bytes(rng.randrange(0, 64))
        total = 20 + header + len(payload)
        ip = bytes([0x45, 0]) + total.to_bytes(2, "big") + bytes(4) + bytes([64, proto, 0, 0]) \
            + rng.choice(addresses) + rng.choice(addresses)
        transport = rng.randrange(1024, 65536).to_bytes(2, "big") + \
            rng.choice([80, 443, 53, 8080]).to_bytes(2, "big") + bytes(header - 4)
        out.append(ip + transport + payload)
    return out


def compile_microseconds(expression: str, rounds: int) -> float | None:
    """The hook for the pcap compiler's column: microseconds to compile
    ``expression`` for link type raw, or None while pybpf has no pcap
    filter compiler (the column is left out)."""
    try:
        from pybpf.cbpf.pcap_compile import compile_filter  # type: ignore[import-not-found]
    except ImportError:
        return None
    return best_of(lambda: compile_filter(expression, "raw"), rounds) * 1e6


def jit_vm():
    """A VM that compiles with the JIT, or None when this pybpf has none."""
    from pybpf.vm import VM

    try:
        import pybpf.jit as jit  # type: ignore[import-not-found]
    except ImportError:
        return None
    if not jit.available():
        return None
    return VM(jit=True)


def kernel_reason() -> str | None:
    """Why the kernel column is missing, or None when test runs work."""
    try:
        from pybpf.kernel import unavailable_reason
    except ImportError:
        return "no kernel backend"
    return unavailable_reason()


SAMPLE = 50
"""Packets of the mix timed with runs repeated inside one test run."""


def in_run_rate(prog, datas: list[bytes], repeat: int, rounds: int) -> float | None:
    """Packets per second a backend reports for itself: each packet run
    ``repeat`` times inside one test run, its mean duration per run."""
    ns = min(sum(prog.test_run(d, repeat=repeat).duration_ns for d in datas)
             for _ in range(rounds)) / len(datas)
    return 1e9 / ns if ns else None


def rate(seconds: float, count: int) -> float:
    return count / seconds if seconds else float("inf")


def fmt_rate(value: float | None, base: float) -> str:
    if value is None:
        return "-"
    ratio = value / base
    shown = f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.2g}"
    return f"{value:,.0f} ({shown}x)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="best of N rounds (default 5)")
    parser.add_argument("--packets", type=int, default=400,
                        help="packets in the mix (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=10000,
                        help="kernel: runs per packet inside one test run (default "
                             "%(default)s)")
    parser.add_argument("--vm-repeat", type=int, default=50,
                        help="VM: runs per packet inside one test run (default %(default)s)")
    args = parser.parse_args()
    from pybpf.vm import VM

    mix = packets(args.packets)
    skbs = [skb_for_test_run(p) for p in mix]
    datas = [frame_for_test_run(p) for p in mix]
    jit = jit_vm()
    no_kernel = kernel_reason()
    headers = ["filter", "cBPF insns", "eBPF insns", "matches", "interp pkt/s",
               "VM/call pkt/s", "VM pkt/s"]
    if jit is not None:
        headers.append("VM+JIT pkt/s")
    if no_kernel is None:
        headers += ["kernel/call pkt/s", "kernel pkt/s"]
    compile_column = compile_microseconds("ip", 1) is not None
    if compile_column:
        headers.append("compile us")
    rows = []
    for name, (expression, text) in FILTERS.items():
        program = assemble(text)
        insns = translate(program).instructions
        machine = Machine(program)
        want = [machine.run(s).value for s in skbs]
        interp = rate(best_of(lambda m=machine: [m.run(s) for s in skbs], args.rounds),
                      len(mix))
        vm_prog = VM(jit=False).load(insns, prog_type="socket_filter")
        assert [vm_prog.test_run(d).retval for d in datas] == want, name
        vm = rate(best_of(lambda p=vm_prog: [p.test_run(d) for d in datas], args.rounds),
                  len(mix))
        row = [name, str(len(program)), str(len(insns)), f"{sum(map(bool, want))}/{len(mix)}",
               f"{interp:,.0f}", fmt_rate(vm, interp),
               fmt_rate(in_run_rate(vm_prog, datas[:SAMPLE], args.vm_repeat, args.rounds),
                        interp)]
        if jit is not None:
            jit_prog = jit.load(insns, prog_type="socket_filter")
            assert [jit_prog.test_run(d).retval for d in datas] == want, name
            row.append(fmt_rate(in_run_rate(jit_prog, datas[:SAMPLE], args.vm_repeat,
                                            args.rounds), interp))
        if no_kernel is None:
            from pybpf.kernel import KernelProgram

            with KernelProgram.load(insns, "socket_filter", name="bench_cbpf") as kprog:
                assert [kprog.test_run(d).retval for d in datas] == want, name
                per_call = rate(best_of(lambda k=kprog: [k.test_run(d) for d in datas],
                                        args.rounds), len(mix))
                in_kernel = in_run_rate(kprog, datas[:SAMPLE], args.repeat, args.rounds)
            row += [fmt_rate(per_call, interp), fmt_rate(in_kernel, interp)]
        if compile_column:
            us = compile_microseconds(expression, args.rounds)
            row.append("-" if us is None else f"{us:.0f}")
        rows.append(row)
    print(f"{len(mix)} IPv4 packets, best of {args.rounds} rounds; load average "
          f"{os.getloadavg()[0]:.1f}; ratios are to the classic interpreter")
    print_table(headers, rows)
    if jit is None:
        print("VM+JIT: this pybpf has no JIT (the column appears with pybpf.jit)")
    if no_kernel is not None:
        print(f"kernel: {no_kernel}")
    if not compile_column:
        print("compile: this pybpf has no pcap filter compiler (the column appears with "
              "pybpf.cbpf.pcap_compile; hook: compile_microseconds)")


if __name__ == "__main__":
    main()
