"""offcputime: where threads block — the time spent off CPU, by stack.

::

    pybpf tools offcputime -d 5              # every thread, for 5 seconds
    pybpf tools offcputime -p 1234 -f        # one process, folded stacks
    pybpf tools offcputime -m 1000 --svg off.svg -- make -j2

At every context switch (the ``sched_switch`` BTF tracepoint: fentry and
kprobes are not needed) the thread leaving the CPU has its user and kernel
stacks recorded and the time noted; when it comes back, the time away is
added to its stacks' total.  Totals are in microseconds; stacks print as
libbpf-tools' offcputime prints them, folded (``-f``), as JSON lines
(``-j``) or as a flame graph (``--svg``).
"""

from __future__ import annotations

import argparse

from ..bindings.runtime import TypedMap
from . import _runtime as rt
from ._flamegraph import write_svg
from ._stacks import StackSample, Symbolizer, flame_stacks, print_samples
from .bindings.offcputime_bpf import OffcpuKey, Offcputime

NAME = "offcputime"
DESCRIPTION = "Summarize off-CPU time by stack trace."
REMEMBER_EVERY = 0.5


def read_totals(info: TypedMap[OffcpuKey, int]) -> list[tuple[int, int, int, int, str, int]]:
    """``(tid, pid, user stack id, kernel stack id, comm, microseconds)``
    of each key."""
    return [(key.pid, key.tgid, key.user_stack_id, key.kernel_stack_id, key.comm, us)
            for key, us in info.items()]


def build_parser() -> argparse.ArgumentParser:
    """offcputime's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    who = p.add_mutually_exclusive_group()
    who.add_argument("-p", "--pid", type=int, help="trace this PID only")
    who.add_argument("-t", "--tid", type=int, help="trace this TID only")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("-u", "--user-threads-only", action="store_true",
                      help="user threads only (no kernel threads)")
    kind.add_argument("-k", "--kernel-threads-only", action="store_true",
                      help="kernel threads only (no user threads)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("-U", "--user-stacks-only", action="store_true",
                       help="show stacks from user space only (no kernel space stacks)")
    which.add_argument("-K", "--kernel-stacks-only", action="store_true",
                       help="show stacks from kernel space only (no user space stacks)")
    p.add_argument("-m", "--min-block-time", type=int, default=1, metavar="US",
                   help="the amount of time in microseconds over which we store traces "
                        "(default 1)")
    p.add_argument("-M", "--max-block-time", type=int, metavar="US",
                   help="the amount of time in microseconds under which we store traces")
    p.add_argument("--state", type=int, help="filter on this thread state bitmask (eg, "
                   "2 == TASK_UNINTERRUPTIBLE), see include/linux/sched.h")
    p.add_argument("-f", "--folded", action="store_true",
                   help="output folded format, one line per stack (for flame graphs)")
    p.add_argument("--delimited", action="store_true",
                   help="insert delimiter between kernel/user stacks")
    p.add_argument("--svg", metavar="FILE", help="also write a flame graph of the off-CPU "
                   "time to FILE (SVG)")
    p.add_argument("--title", default="Off-CPU Time Flame Graph",
                   help="the flame graph's title")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run offcputime with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    skel = Offcputime(rt.object_path(NAME))
    skel.rodata.target_tgid = args.pid or 0
    skel.rodata.target_pid = args.tid or 0
    skel.rodata.user_threads_only = args.user_threads_only
    skel.rodata.kernel_threads_only = args.kernel_threads_only
    skel.rodata.user_stacks_only = args.user_stacks_only
    skel.rodata.kernel_stacks_only = args.kernel_stacks_only
    if args.state is not None:
        skel.rodata.state = args.state
    skel.rodata.min_block_ns = max(1, args.min_block_time * 1000)
    if args.max_block_time:
        skel.rodata.max_block_ns = args.max_block_time * 1000
    symbolizer = Symbolizer()
    with rt.open_tool(skel):
        totals, stacks = skel.maps.info, skel.maps.stacks

        def remember() -> None:
            for _tid, pid, *_rest in read_totals(totals):
                symbolizer.user_symbols.remember(pid)

        def report() -> None:
            samples = []
            for tid, pid, ustack, kstack, comm, us in read_totals(totals):
                user = symbolizer.user_frames(stacks, ustack, pid,
                                              kernel_only=args.kernel_stacks_only)
                kernel = symbolizer.kernel_frames(stacks, kstack,
                                                  user_only=args.user_stacks_only)
                samples.append(StackSample(pid, comm, user, kernel, us, tid=tid))
            print_samples(samples, folded=args.folded, json_lines=args.json,
                          delimiter=args.delimited, count_name="us")
            if args.svg:
                write_svg(args.svg, flame_stacks(samples), title=args.title, unit="us")

        header = "" if args.json or args.folded else \
            "Tracing off-CPU time (us) of all threads by user + kernel stack... Hit Ctrl-C to end."
        status = rt.run(skel, [], args.duration, header=header, every=REMEMBER_EVERY,
                        tick=remember, at_end=report, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
