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
    "killsnoop": "trace signals sent by kill(2)/tkill(2)/tgkill(2)",
    "bindsnoop": "trace bind(2): protocol, address, port and result",
    "tcpconnect": "trace active TCP connections (connect)",
    "tcplife": "trace TCP sessions as they close: bytes and lifespan",
    "tcpretrans": "trace TCP retransmissions",
    "biolatency": "block I/O latency as log2 histograms (-D per disk)",
    "biosnoop": "trace block I/O requests with their latency",
    "statsnoop": "trace stat(2)-family calls with path and result",
    "mountsnoop": "trace mount(2)/umount(2) and the new mount API",
    "filelife": "trace short-lived files: age at deletion (deletions on ext4)",
    "hardirqs": "time in hard interrupt handlers, by handler",
    "softirqs": "time in soft interrupts, by kind",
    "bpftop": "what each loaded BPF program costs, refreshed like top",
    "profile": "CPU profile by sampling stacks (folded output, flame graph SVG)",
    "offcputime": "time spent blocked (off CPU), by stack",
    "funclatency": "latency of a function as a log2 histogram (uprobes; kprobes)",
    "bashreadline": "command lines typed into bash (uretprobe on readline)",
    "cachestat": "page cache hits, misses and dirtied pages (tracepoints)",
}
"""Tool name -> one-line description."""

PROGRAMLESS = frozenset({"bpftop"})
"""Tools that load no BPF object of their own (they read the kernel's
statistics): every other tool has ``NAME.bpf.c`` and a shipped object."""


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


__all__ = ["PROGRAMLESS", "TOOLS", "main", "run_tool"]
