"""Shared pieces of the benchmarks: timing and the comparison table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def best_of(fn: Callable[[], object], rounds: int) -> float:
    """The fastest of ``rounds`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def build_reference_interpreter() -> Path | None:
    """Compile the C reference interpreter; None when no C compiler is here."""
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        return None
    out = Path(tempfile.gettempdir()) / "pybpf-ref-interp"
    subprocess.run([cc, "-O2", "-o", str(out), str(HERE / "ref_interp.c")], check=True)
    return out


def run_reference(binary: Path, bytecode: bytes, repeat: int) -> tuple[int, float, int]:
    """(r0, ns per run, instructions per run) from the C reference interpreter."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(bytecode)
        f.flush()
        out = subprocess.run([str(binary), f.name, str(repeat)], check=True,
                             capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain text table, columns aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(headers,
                                                                                   widths))))
    for row in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row,
                                                                                       widths))))
