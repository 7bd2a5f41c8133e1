"""profile: a CPU profile by sampling — which code each CPU runs, F times
a second, with its user and kernel stacks.

::

    pybpf tools profile -d 10                  # every CPU, 49 Hz, for 10 seconds
    pybpf tools profile -F 99 -p 1234 -f       # one process, folded stacks
    pybpf tools profile -d 5 --svg cpu.svg     # and a flame graph
    pybpf tools profile -U -- ./benchmark      # user stacks of a command

A ``perf_event`` program runs on each CPU's clock (one perf event per CPU
at ``-F`` Hz); it records the stacks of the task it interrupts in a stack
trace map and counts each (process, user stack, kernel stack).  At the end
the stacks are symbolized — kernel frames from ``/proc/kallsyms``, user
frames from the process's mappings and the mapped files' ELF symbol tables
(``.symtab``, ``.dynsym`` and the MiniDebugInfo of ``.gnu_debugdata``) —
and printed as libbpf-tools' profile prints them, as folded stacks
(``-f``), as JSON lines (``-j``), or drawn as a flame graph (``--svg``,
written by :mod:`pybpf.tools._flamegraph`).

User stacks are walked by frame pointers: code built without them shows
its innermost function and little else, as with every frame-pointer
profiler.  The maps of the processes sampled are read while the profile
runs (every half second), so short-lived processes are still named.
"""

from __future__ import annotations

from ..bindings.runtime import TypedMap
from . import _runtime as rt
from ._flamegraph import write_svg
from ._stacks import StackSample, Symbolizer, flame_stacks, print_samples
from .bindings.profile_bpf import Profile, StackKey

NAME = "profile"
DESCRIPTION = "Profile CPU usage by sampling stack traces at a timed interval."
DEFAULT_FREQUENCY = 49
REMEMBER_EVERY = 0.5
"""Seconds between readings of the new processes' mappings."""


def read_counts(counts: TypedMap[StackKey, int]) -> list[tuple[int, int, int, str, int]]:
    """``(pid, user stack id, kernel stack id, comm, samples)`` of each
    counted stack pair."""
    return [(key.pid, key.user_stack_id, key.kernel_stack_id, key.comm, n)
            for key, n in counts.items()]


def build_parser():
    """profile's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    who = p.add_mutually_exclusive_group()
    who.add_argument("-p", "--pid", type=int, help="profile this process only")
    who.add_argument("-L", "--tid", type=int, help="profile this thread only")
    which = p.add_mutually_exclusive_group()
    which.add_argument("-U", "--user-stacks-only", action="store_true",
                       help="show stacks from user space only (no kernel space stacks)")
    which.add_argument("-K", "--kernel-stacks-only", action="store_true",
                       help="show stacks from kernel space only (no user space stacks)")
    p.add_argument("-F", "--frequency", type=int, default=DEFAULT_FREQUENCY, metavar="HZ",
                   help=f"sample frequency, Hertz (default {DEFAULT_FREQUENCY})")
    p.add_argument("-C", "--cpu", type=int, help="cpu number to run profile on")
    p.add_argument("-I", "--include-idle", action="store_true",
                   help="include CPU idle stacks")
    p.add_argument("-f", "--folded", action="store_true",
                   help="output folded format, one line per stack (for flame graphs)")
    p.add_argument("--delimited", action="store_true",
                   help="insert delimiter between kernel/user stacks")
    p.add_argument("--svg", metavar="FILE", help="also write a flame graph of the profile "
                   "to FILE (SVG)")
    p.add_argument("--title", default="CPU Flame Graph", help="the flame graph's title")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run profile with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    if args.frequency <= 0:
        from ..errors import BPFError

        raise BPFError(f"-F {args.frequency}: the frequency must be positive")
    skel = Profile(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.target_tid = args.tid or 0
    skel.rodata.user_only = args.user_stacks_only
    skel.rodata.kernel_only = args.kernel_stacks_only
    skel.rodata.include_idle = args.include_idle
    options = {"frequency": args.frequency}
    if args.cpu is not None:
        options["cpus"] = [args.cpu]
    symbolizer = Symbolizer()
    with rt.open_tool(skel):
        counts, stacks = skel.maps.counts, skel.maps.stacks

        def remember() -> None:
            for pid, *_rest in read_counts(counts):
                symbolizer.user_symbols.remember(pid)

        def report() -> None:
            samples = []
            for pid, ustack, kstack, comm, n in read_counts(counts):
                user = symbolizer.user_frames(stacks, ustack, pid,
                                              kernel_only=args.kernel_stacks_only)
                kernel = symbolizer.kernel_frames(stacks, kstack,
                                                  user_only=args.user_stacks_only)
                samples.append(StackSample(pid, comm, user, kernel, n))
            print_samples(samples, folded=args.folded, json_lines=args.json,
                          delimiter=args.delimited)
            if args.svg:
                write_svg(args.svg, flame_stacks(samples), title=args.title)

        header = "" if args.json or args.folded else (
            f"Sampling at {args.frequency} Hertz of "
            f"{'PID ' + str(args.pid) if args.pid else 'TID ' + str(args.tid) if args.tid else 'all threads'}"
            f" by {'user' if args.user_stacks_only else 'kernel' if args.kernel_stacks_only else 'user + kernel'}"
            f" stack... Hit Ctrl-C to end.")
        status = rt.run(skel, [], args.duration, header=header, options=options,
                        every=REMEMBER_EVERY, tick=remember, at_end=report,
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
