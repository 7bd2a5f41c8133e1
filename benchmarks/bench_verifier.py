"""pybpf's verifier against the kernel's on the selftests corpus: total
verification time of the same programs, and the ratio.

The kernel's time is its own ``verification time`` (``BPF_LOG_STATS``),
summed over the corpus rows it verifies (root and bpf() needed); pybpf's is
wall time of :func:`pybpf.verifier.verify` over the same rows.  Both are
measured in the same run, so machine load affects them alike.  Also prints
the time per processed instruction and the rows that take longest.

    PYTHONPATH=src python benchmarks/bench_verifier.py [--rounds N] [--top K]
"""

from __future__ import annotations

import argparse
import sys
import time

from common import HERE
from pybpf.verifier.corpus import load_rows, verify_row

sys.path.insert(0, str(HERE.parent / "tests" / "verifier"))


def kernel_times(rows: list[dict]) -> dict[int, tuple[int, int]]:
    """Row index -> (kernel verification time in µs, insns processed)."""
    from kernel_oracle import kernel_verify

    out = {}
    for i, row in enumerate(rows):
        kv = kernel_verify(row, log_level=4)
        if kv.verdict is not None and kv.usec is not None:
            out[i] = (kv.usec, kv.insns_processed or 0)
    return out


def pybpf_times(rows: list[dict], indexes: list[int]) -> dict[int, tuple[float, int]]:
    out = {}
    for i in indexes:
        t = time.perf_counter()
        res = verify_row(rows[i])
        out[i] = (time.perf_counter() - t, res.insns_processed)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=1, help="rounds (best total wins)")
    ap.add_argument("--top", type=int, default=8, help="slowest rows to list")
    args = ap.parse_args()
    rows = load_rows()
    try:
        from pybpf.kernel import unavailable_reason

        reason = unavailable_reason()
    except Exception as e:
        reason = str(e)
    if reason:
        print(f"the kernel's side needs bpf(): {reason}")
        return 1
    best_k = best_p = None
    for _ in range(args.rounds):
        k = kernel_times(rows)
        p = pybpf_times(rows, sorted(k))
        tk = sum(v[0] for v in k.values()) / 1e6
        tp = sum(v[0] for v in p.values())
        if best_k is None or tk < best_k[0]:
            best_k = (tk, k)
        if best_p is None or tp < best_p[0]:
            best_p = (tp, p)
    tk, k = best_k
    tp, p = best_p
    ik = sum(v[1] for v in k.values())
    ip = sum(v[1] for v in p.values())
    print(f"rows verified by both: {len(k)}")
    print(f"kernel: {tk:8.3f} s  {ik:9d} insns processed  {tk / ik * 1e9:7.0f} ns/insn")
    print(f"pybpf:  {tp:8.3f} s  {ip:9d} insns processed  {tp / ip * 1e9:7.0f} ns/insn")
    print(f"ratio pybpf/kernel: {tp / tk:.1f}x (target: at most 20x)")
    slow = sorted(p, key=lambda i: -p[i][0])[:args.top]
    print("\nslowest rows (pybpf s, kernel s, insns processed):")
    for i in slow:
        print(f"  {p[i][0]:7.3f} {k[i][0] / 1e6:7.3f} {p[i][1]:8d}  {rows[i]['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
