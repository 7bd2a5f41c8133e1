"""hardirqs: time spent in hard interrupt handlers, by handler name.

::

    pybpf tools hardirqs -d 5          # total time per handler after 5 seconds
    pybpf tools hardirqs -C -i 1       # runs per handler, every second
    pybpf tools hardirqs -D            # a latency histogram per handler
"""

from __future__ import annotations

from . import _irqtime
from . import _runtime as rt
from .bindings.hardirqs_bpf import Hardirqs, IrqKey

NAME = "hardirqs"
DESCRIPTION = "Summarize hard interrupt handler time (or runs) by handler name, as totals " \
              "or log2 histograms."


def label_key(key: IrqKey) -> tuple[str, int]:
    """A totals key: (the handler's name, histogram slot)."""
    return (key.name, key.slot)


def build_parser():
    """hardirqs's argument parser."""
    return _irqtime.build_parser(NAME, DESCRIPTION,
                                 count_help="count handler runs instead of timing them",
                                 dist_help="a log2 histogram of handler time per name")


def run(argv: list[str] | None = None) -> int:
    """Run hardirqs with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    return _irqtime.run(Hardirqs(rt.object_path(NAME)), args, label_key, kind="hardirq",
                        width=26, header="Tracing hard irq event time... Hit Ctrl-C to end.")


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
