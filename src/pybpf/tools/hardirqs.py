"""hardirqs: time spent in hard interrupt handlers, by handler name.

::

    pybpf tools hardirqs -d 5          # total time per handler after 5 seconds
    pybpf tools hardirqs -C -i 1       # runs per handler, every second
    pybpf tools hardirqs -D            # a latency histogram per handler
"""

from __future__ import annotations

import struct

from . import _irqtime
from . import _runtime as rt

NAME = "hardirqs"
DESCRIPTION = "Summarize hard interrupt handler time (or runs) by handler name, as totals " \
              "or log2 histograms."
IRQ_NAME_LEN = 32
_KEY = struct.Struct(f"<{IRQ_NAME_LEN}sI")


def decode_key(key: bytes) -> tuple[str, int]:
    """A totals key: (the handler's name, histogram slot)."""
    raw, slot = _KEY.unpack(key[:_KEY.size])
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace"), slot


def build_parser():
    """hardirqs's argument parser."""
    return _irqtime.build_parser(NAME, DESCRIPTION,
                                 count_help="count handler runs instead of timing them",
                                 dist_help="a log2 histogram of handler time per name")


def run(argv: list[str] | None = None) -> int:
    """Run hardirqs with command-line arguments ``argv``."""
    return _irqtime.run(NAME, rt.parse_args(build_parser(), argv), decode_key, kind="hardirq",
                        width=26, header="Tracing hard irq event time... Hit Ctrl-C to end.")


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
