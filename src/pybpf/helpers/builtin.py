"""Built-in helper functions of the userspace VM, by their kernel names.

Each function takes the helper context and the five argument registers and
returns r0, with the kernel's semantics and return codes.  Their ids come
from the kernel's ``enum bpf_func_id`` in :mod:`pybpf.spec`.
"""

from __future__ import annotations

from .registry import HelperContext

BUILTINS: dict[str, object] = {}


def _builtin(name: str):
    def decorate(fn):
        BUILTINS[name] = fn
        return fn
    return decorate


@_builtin("ktime_get_ns")
def ktime_get_ns(ctx: HelperContext, *_: int) -> int:
    """Monotonic time in nanoseconds (from the environment)."""
    return ctx.env.monotonic_ns()


@_builtin("ktime_get_boot_ns")
def ktime_get_boot_ns(ctx: HelperContext, *_: int) -> int:
    """Time since boot including suspend, in nanoseconds (from the environment)."""
    return ctx.env.boottime_ns()


@_builtin("jiffies64")
def jiffies64(ctx: HelperContext, *_: int) -> int:
    """The jiffies counter."""
    return ctx.env.jiffies()


@_builtin("get_prandom_u32")
def get_prandom_u32(ctx: HelperContext, *_: int) -> int:
    """A pseudo-random 32-bit number."""
    return ctx.env.prandom_u32()


@_builtin("get_smp_processor_id")
def get_smp_processor_id(ctx: HelperContext, *_: int) -> int:
    """The CPU the program runs on."""
    return ctx.env.cpu


@_builtin("get_current_pid_tgid")
def get_current_pid_tgid(ctx: HelperContext, *_: int) -> int:
    """``tgid << 32 | pid`` of the current task."""
    return (ctx.env.tgid << 32) | (ctx.env.pid & 0xFFFFFFFF)


@_builtin("get_current_uid_gid")
def get_current_uid_gid(ctx: HelperContext, *_: int) -> int:
    """``gid << 32 | uid`` of the current task."""
    return (ctx.env.gid << 32) | (ctx.env.uid & 0xFFFFFFFF)
