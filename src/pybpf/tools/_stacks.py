"""Stack traces for profile and offcputime: reading a stack trace map and
turning its addresses into function names.

Addresses are named by :mod:`pybpf.kernel.stack_symbols` (kallsyms for
the kernel; process mappings, ELF symbol tables, MiniDebugInfo and debug
files for user space), which ``pybpf trace`` shares; an address that
nothing names prints as ``[unknown]``, as libbpf-tools print it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from ..bindings.runtime import TypedMap
from ..kernel.stack_symbols import (
    UNKNOWN,
    FileSymbols,
    KernelSymbols,
    Mapping,
    SymbolTable,
    UserSymbols,
    build_id,
    debug_file_symbols,
    minidebuginfo_symbols,
    read_maps,
)

MAX_DEPTH = 127
"""Frames a stack trace map value holds (the kernel's PERF_MAX_STACK_DEPTH)."""


def read_stack(stacks: TypedMap[int, bytes], stack_id: int) -> list[int]:
    """The addresses of stack ``stack_id`` in stack trace map ``stacks``,
    innermost first (empty for a negative id — the program's error — or one
    gone from the map)."""
    if stack_id < 0:
        return []
    try:
        raw = stacks.get(stack_id)
    except OSError:
        return []
    if raw is None:
        return []
    out = []
    for (ip,) in struct.iter_unpack("<Q", raw[:len(raw) - len(raw) % 8]):
        if not ip:
            break
        out.append(ip)
    return out


def folded_line(comm: str, user: list[str], kernel: list[str], count: int, *,
                delimiter: bool = False) -> str:
    """One line of folded stacks (Brendan Gregg's format, what flame graph
    generators read): ``comm;outer;...;inner count`` — user frames, then
    kernel frames, each from the outermost call; ``-`` between them with
    ``delimiter``."""
    frames = [comm.replace(";", "_") or "?", *reversed(user)]
    if delimiter and user and kernel:
        frames.append("-")
    frames.extend(reversed(kernel))
    return ";".join(f.replace(";", "_").replace(" ", "_") for f in frames) + f" {count}"




# --- what profile and offcputime print ----------------------------------------------------

EFAULT = 14
"""``bpf_get_stackid`` returns ``-EFAULT`` where there is no stack of that
kind (a kernel thread has no user stack): printed as nothing."""


TRACING_FRAMES = ("bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_")
"""Innermost kernel frames that are the tracing itself (a tracepoint
calling the BPF program that took the stack): dropped."""


class StackSample:
    """One counted stack pair: process, command, frames (innermost first,
    symbolized) and the count (samples, or microseconds off CPU)."""

    __slots__ = ("comm", "count", "kernel", "pid", "tid", "user")

    def __init__(self, pid: int, comm: str, user: list[str], kernel: list[str], count: int,
                 tid: int | None = None):
        self.pid, self.comm, self.user, self.kernel, self.count = pid, comm, user, kernel, count
        self.tid = tid


class Symbolizer:
    """Names for the frames of a stack trace map: kernel and user."""

    def __init__(self) -> None:
        self.kernel_symbols = KernelSymbols()
        self.user_symbols = UserSymbols()

    def kernel_frames(self, stacks: TypedMap[int, bytes], stack_id: int, *, user_only: bool = False) -> list[str]:
        """Kernel stack ``stack_id``, symbolized (innermost first)."""
        if user_only or stack_id == -EFAULT or stack_id == -1:
            return []
        if stack_id < 0:
            return ["[Missed Kernel Stack]"]
        frames = [self.kernel_symbols.name(ip) for ip in read_stack(stacks, stack_id)]
        while frames and frames[0].startswith(TRACING_FRAMES):
            del frames[0]
        return frames

    def user_frames(self, stacks: TypedMap[int, bytes], stack_id: int, pid: int, *,
                    kernel_only: bool = False) -> list[str]:
        """User stack ``stack_id`` of process ``pid``, symbolized (innermost first)."""
        if kernel_only or stack_id == -EFAULT or stack_id == -1:
            return []
        if stack_id < 0:
            return ["[Missed User Stack]"]
        return [self.user_symbols.name(pid, ip) for ip in read_stack(stacks, stack_id)]


def merge_samples(samples: Iterable[StackSample]) -> list[StackSample]:
    """``samples`` with those of the same process, thread and symbolized
    frames added up (different addresses in the same functions)."""
    merged: dict[tuple, StackSample] = {}
    for s in samples:
        key = (s.pid, s.tid, s.comm, tuple(s.user), tuple(s.kernel))
        have = merged.get(key)
        if have is None:
            merged[key] = StackSample(s.pid, s.comm, s.user, s.kernel, s.count, s.tid)
        else:
            have.count += s.count
    return list(merged.values())


def format_sample(s: StackSample, *, delimiter: bool = False) -> str:
    """A stack as libbpf-tools' profile and offcputime print it: kernel
    frames, then user frames, innermost first, one per line; then the
    command and process; then the count."""
    lines = [f"    {f}" for f in s.kernel]
    if delimiter and s.kernel and s.user:
        lines.append("    --")
    lines.extend(f"    {f}" for f in s.user)
    lines.append(f"    {'-':<16} {s.comm} ({s.pid})")
    lines.append(f"        {s.count}\n")
    return "\n".join(lines)


def sample_json(s: StackSample, count_name: str = "count") -> dict[str, Any]:
    """A stack as a JSON object (frames innermost first)."""
    out: dict[str, Any] = {"pid": s.pid, "comm": s.comm}
    if s.tid is not None:
        out["tid"] = s.tid
    out.update({count_name: s.count, "kernel_stack": s.kernel, "user_stack": s.user})
    return out


def flame_stacks(samples: Iterable[StackSample]) -> list[tuple[list[str], int]]:
    """Samples as flame graph input (frames from the outermost; kernel
    frames marked ``_[k]``)."""
    return [([s.comm or "?", *reversed(s.user), *(f"{k}_[k]" for k in reversed(s.kernel))],
             s.count) for s in samples]


def print_samples(samples: list[StackSample], *, folded: bool, json_lines: bool,
                  delimiter: bool, count_name: str = "count") -> None:
    """Print ``samples`` in the chosen form: folded lines (largest first),
    JSON lines, or libbpf-tools' blocks (smallest first, so the largest end
    up nearest the prompt); stacks that symbolize alike are merged."""
    from ._runtime import print_json

    samples = merge_samples(samples)
    if folded:
        for s in sorted(samples, key=lambda s: -s.count):
            print(folded_line(s.comm, s.user, s.kernel, s.count, delimiter=delimiter))
    elif json_lines:
        for s in sorted(samples, key=lambda s: -s.count):
            print_json(sample_json(s, count_name))
    else:
        for s in sorted(samples, key=lambda s: s.count):
            print(format_sample(s, delimiter=delimiter))


__all__ = ["EFAULT", "MAX_DEPTH", "TRACING_FRAMES", "UNKNOWN", "FileSymbols", "KernelSymbols",
           "Mapping", "StackSample", "SymbolTable", "Symbolizer", "UserSymbols", "build_id", "debug_file_symbols",
           "flame_stacks", "folded_line", "format_sample", "merge_samples",
           "minidebuginfo_symbols", "print_samples", "read_maps", "read_stack", "sample_json"]
