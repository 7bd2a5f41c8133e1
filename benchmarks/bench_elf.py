"""How long parsing BPF objects takes.

    PYTHONPATH=src python benchmarks/bench_elf.py [FILE.o ...]

Defaults to the test objects in tests/data.  Prints the best of several
runs per object (ELF + BTF + BTF.ext + maps + programs -> ObjectSpec).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pybpf.elf import load_object

ROOT = Path(__file__).resolve().parent.parent


def bench(path: Path, repeat: int = 20) -> float:
    data = path.read_bytes()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        load_object(data)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted((ROOT / "tests" / "data").glob("*.o"))
    for path in paths:
        spec = load_object(path)
        insns = sum(len(p.instructions) for p in spec.programs.values())
        print(f"{path.name:32s} {path.stat().st_size:8d} bytes  {len(spec.programs):3d} progs "
              f"{insns:6d} insns  {bench(path) * 1000:7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
