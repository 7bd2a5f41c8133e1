#!/usr/bin/env python3
"""How long pybpf takes to compile a pcap filter expression, next to
libpcap (``tcpdump -d``).

    PYTHONPATH=src python benchmarks/bench_pcap_compile.py [--runs 7]

For each expression: pybpf's in-process compile time (parse, generate,
optimize, lay out; best of the runs), the same without the optimizer, and
``tcpdump -d -r EMPTY.pcap EXPR``'s CPU time (user + system of the child,
median of the runs) — a whole process, so its start is in it; the
``tcpdump -d`` of the one-word expression ``ip`` gives that floor.  The
program lengths are printed beside: ours, libpcap's.  Then the means over
the set.  The machine's load is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table  # noqa: E402
from pybpf.cbpf.pcap_compile import compile_filter  # noqa: E402
from pybpf.cbpf.pcapfile import write_pcap  # noqa: E402

EXPRESSIONS = [
    "ip", "tcp port 80", "host 10.0.0.1", "net 192.168.0.0/16 and not port 22",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "udp and (port 53 or port 5353)",
    "ip6 and tcp and dst port 443", "vlan 100 and host 10.0.0.1", "mpls 100 and tcp",
    "ip[2:2] > 576 or ip6", "ether multicast and not ip6", "portrange 1000-2000",
    "icmp[icmptype] = icmp-echo or icmp6", "ip6 protochain 6",
    "(tcp port 80 or tcp port 443) and not src net 10.0.0.0/8 and greater 100",
    "src host 10.0.0.1 and dst host 10.0.0.2 and tcp dst port 80 and tcp[13] & 2 != 0",
    "arp or rarp or (ip and icmp) or (ip6 and icmp6)",
    "not (port 22 or port 53 or port 80 or port 443 or port 8080)",
]


def best(fn, runs: int) -> float:
    """Fastest of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def child_cpu(argv: list[str]) -> tuple[float, str]:
    """CPU seconds (user + system) a child process took, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement")
    args = parser.parse_args()
    tcpdump = shutil.which("tcpdump")
    empty = Path(tempfile.mkdtemp(prefix="bench-pcap-")) / "empty.pcap"
    write_pcap(empty, [])
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
          f"{args.runs} runs; tcpdump: {tcpdump or 'not installed'}")
    compile_filter("ip")  # imports and name tables loaded before timing
    rows, ours_all, raw_all, theirs_all = [], [], [], []
    for expression in EXPRESSIONS:
        ours = best(lambda e=expression: compile_filter(e), args.runs)
        raw = best(lambda e=expression: compile_filter(e, optimize=False), args.runs)
        length = len(compile_filter(expression))
        ours_all.append(ours)
        raw_all.append(raw)
        row = [expression if len(expression) <= 44 else expression[:41] + "...",
               f"{ours * 1e3:.2f}", f"{raw * 1e3:.2f}"]
        if tcpdump:
            samples, out = [], ""
            for _ in range(args.runs):
                cpu, out = child_cpu([tcpdump, "-d", "-r", str(empty), expression])
                samples.append(cpu)
            theirs = statistics.median(samples)
            theirs_all.append(theirs)
            row += [f"{theirs * 1e3:.1f}", str(length),
                    str(sum(1 for line in out.splitlines() if line.startswith("(")))]
        else:
            row += ["-", str(length), "-"]
        rows.append(row)
    print_table(["expression", "pybpf ms", "unoptimized ms", "tcpdump -d cpu ms",
                 "our insns", "libpcap insns"], rows)
    print(f"\nmean pybpf compile: {statistics.mean(ours_all) * 1e3:.2f} ms per expression "
          f"({statistics.mean(raw_all) * 1e3:.2f} ms without the optimizer)")
    if tcpdump:
        floor = statistics.median(child_cpu([tcpdump, "-d", "-r", str(empty), "ip"])[0]
                                  for _ in range(args.runs))
        print(f"mean tcpdump -d process: {statistics.mean(theirs_all) * 1e3:.1f} ms CPU "
              f"(tcpdump -d 'ip', its start-up floor: {floor * 1e3:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
