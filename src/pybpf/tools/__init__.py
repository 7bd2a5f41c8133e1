"""Ready-made tracing tools, each a BPF C program of pybpf's own plus a small
Python front end::

    pybpf tools exitsnoop -d 10
    python -m pybpf.tools.opensnoop -p 1234
    python -m pybpf.tools runqlat -i 1

The BPF objects are built ahead (``python generators/build_tools.py``) and
shipped in the package (``tools/objects``, :mod:`pybpf.tools.prebuilt`):
they are CO-RE, so a plain ``pip install`` runs every tool on any kernel
with BTF, without a compiler.  Where a tool's C was edited since, it is
compiled on first use with the ziglang wheel (or clang) and cached.  The
objects prepared for the running kernel are cached too
(:mod:`pybpf.kernel.load_cache`), so later runs start in milliseconds.
"""

from __future__ import annotations

import importlib

TOOLS = {
    "exitsnoop": "trace process exits (pid, parent, exit code, lifetime)",
    "execsnoop": "trace execve(2) with arguments and result",
    "opensnoop": "trace open(2)/openat(2) with path and result",
    "syscount": "count system calls by name or process, with time spent",
    "runqlat": "run queue latency as a log2 histogram",
}
"""Tool name -> one-line description."""


def main(argv: list[str] | None = None) -> int:
    """``python -m pybpf.tools NAME [ARGS]``: run tool ``NAME``."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m pybpf.tools NAME [ARGS...]\n\ntools:")
        for name, text in TOOLS.items():
            print(f"  {name:<12} {text}")
        return 0 if argv else 2
    return run_tool(argv[0], argv[1:])


def run_tool(name: str, argv: list[str]) -> int:
    """Run tool ``name`` with arguments ``argv``; its exit status."""
    if name not in TOOLS:
        import sys

        print(f"pybpf: error: no tool {name!r} (tools: {', '.join(TOOLS)})", file=sys.stderr)
        return 2
    module = importlib.import_module(f".{name}", __name__)
    return module.main(argv)


__all__ = ["TOOLS", "main", "run_tool"]
