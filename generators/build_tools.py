#!/usr/bin/env python3
"""Build the tracing tools' BPF objects shipped inside the package.

    python generators/build_tools.py            # rebuild src/pybpf/tools/objects/*.bpf.o
    python generators/build_tools.py --check    # rebuild in a temporary directory, compare
    python generators/build_tools.py exitsnoop  # one tool
    python generators/build_tools.py --bindings # only tools/bindings/*_bpf.py, from the objects

Needs the ziglang wheel (``pip install 'pybpf[tools]'``): the objects are
built with zig so that the same sources give the same bytes anywhere;
``manifest.json`` beside them names the zig version.  Run it after editing
a tool's C, the tools' headers or pybpf's ``bpf/*.h``; the tools refuse
stale objects only when they can compile fresh ones
(:mod:`pybpf.tools.prebuilt`).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pybpf.tools.prebuilt import main

if __name__ == "__main__":
    raise SystemExit(main())
