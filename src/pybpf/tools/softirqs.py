"""softirqs: time spent in soft interrupts, by kind (timer, net_rx, rcu...).

::

    pybpf tools softirqs -d 5          # total time per kind after 5 seconds
    pybpf tools softirqs -C -i 1       # runs per kind, every second
    pybpf tools softirqs -D            # a latency histogram per kind
"""

from __future__ import annotations

from ..spec.tracing import SOFTIRQ_VECTORS
from . import _irqtime
from . import _runtime as rt
from .bindings.softirqs_bpf import SoftirqKey, Softirqs

NAME = "softirqs"
DESCRIPTION = "Summarize soft interrupt time (or runs) by kind, as totals or log2 histograms."

VECTORS = SOFTIRQ_VECTORS
"""Soft interrupt kinds by vector number (:data:`pybpf.spec.tracing.SOFTIRQ_VECTORS`)."""


def vector_name(vec: int) -> str:
    """``net_rx`` for 3; the number for unknown vectors."""
    return VECTORS[vec] if 0 <= vec < len(VECTORS) else str(vec)


def vector_order(name: str) -> int:
    """Where kind ``name`` sorts: by vector number."""
    return VECTORS.index(name) if name in VECTORS else int(name) if name.isdigit() else 1 << 30


def label_key(key: SoftirqKey) -> tuple[str, int]:
    """A totals key: (the kind's name, histogram slot)."""
    return (vector_name(key.vec), key.slot)


def build_parser():
    """softirqs's argument parser."""
    return _irqtime.build_parser(NAME, DESCRIPTION,
                                 count_help="count soft interrupt runs instead of timing them",
                                 dist_help="a log2 histogram of time per kind")


def run(argv: list[str] | None = None) -> int:
    """Run softirqs with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    return _irqtime.run(Softirqs(rt.object_path(NAME)), args, label_key, kind="softirq",
                        width=18, header="Tracing soft irq event time... Hit Ctrl-C to end.",
                        order=vector_order)


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
