"""General helpers: time, identity, randomness, memory reads, strings,
printing, loops, stacks and spin locks.

Every helper takes the running program (the helper context) and the five
argument registers, and returns r0 with the kernel's semantics.  Buffers
and sizes are checked first, as the verifier checks them
(:mod:`pybpf.helpers.args`): a helper never allocates more than the
program's memory could hold, and output is cut where the kernel cuts it.
"""

from __future__ import annotations

import errno as E

from ..errors import BPFError, HelperError
from ..isa.insn import s32
from ..spec import constant
from ..spec.defines import (
    MAX_BPRINTF_BIN_ARGS,
    MAX_BPRINTF_BUF,
    MAX_BPRINTF_VARARGS,
    MAX_TRACE_PRINTK_VARARGS,
    TASK_COMM_LEN,
)
from .args import check_fixed_mem, check_mem
from .printf import FormatError, Formatted, format_bpf
from .registry import HelperContext

BUILTINS: dict[str, object] = {}

MAX_LOOPS = constant("BPF_MAX_LOOPS")
BPF_F_SKIP_FIELD_MASK = constant("BPF_F_SKIP_FIELD_MASK")
BPF_F_USER_STACK = constant("BPF_F_USER_STACK")
BPF_F_USER_BUILD_ID = constant("BPF_F_USER_BUILD_ID")
BPF_STRTOX_BASE_MASK = 0x1F          # kernel/bpf/helpers.c
STRTOX_DIGITS_MAX = 63               # __bpf_strtoull parses a copy of at most 63 bytes


def builtin(name: str):
    """Register a function as the built-in helper ``bpf_<name>``."""
    def decorate(fn):
        BUILTINS[name] = fn
        return fn
    return decorate


def s64(v: int) -> int:
    """A register's value as a signed 64-bit integer."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


# --- time, identity, randomness ---------------------------------------------------

@builtin("ktime_get_ns")
def ktime_get_ns(ctx: HelperContext, *_: int) -> int:
    """Monotonic time in nanoseconds."""
    return ctx.env.monotonic_ns()


@builtin("ktime_get_coarse_ns")
def ktime_get_coarse_ns(ctx: HelperContext, *_: int) -> int:
    """Coarse monotonic time in nanoseconds."""
    return ctx.env.monotonic_ns()


@builtin("ktime_get_boot_ns")
def ktime_get_boot_ns(ctx: HelperContext, *_: int) -> int:
    """Time since boot including suspend, in nanoseconds."""
    return ctx.env.boottime_ns()


@builtin("ktime_get_tai_ns")
def ktime_get_tai_ns(ctx: HelperContext, *_: int) -> int:
    """TAI time in nanoseconds (the boot clock stands in for it)."""
    return ctx.env.boottime_ns()


@builtin("jiffies64")
def jiffies64(ctx: HelperContext, *_: int) -> int:
    """The jiffies counter."""
    return ctx.env.jiffies()


@builtin("get_prandom_u32")
def get_prandom_u32(ctx: HelperContext, *_: int) -> int:
    """A pseudo-random 32-bit number."""
    return ctx.env.prandom_u32()


@builtin("get_smp_processor_id")
def get_smp_processor_id(ctx: HelperContext, *_: int) -> int:
    """The CPU the program runs on."""
    return ctx.env.cpu


@builtin("get_numa_node_id")
def get_numa_node_id(ctx: HelperContext, *_: int) -> int:
    """The NUMA node of the CPU."""
    return ctx.env.numa_node


@builtin("get_current_pid_tgid")
def get_current_pid_tgid(ctx: HelperContext, *_: int) -> int:
    """``tgid << 32 | pid`` of the current task."""
    return (ctx.env.tgid << 32) | (ctx.env.pid & 0xFFFFFFFF)


@builtin("get_current_uid_gid")
def get_current_uid_gid(ctx: HelperContext, *_: int) -> int:
    """``gid << 32 | uid`` of the current task."""
    return (ctx.env.gid << 32) | (ctx.env.uid & 0xFFFFFFFF)


@builtin("get_current_comm")
def get_current_comm(ctx: HelperContext, buf: int, size: int, *_: int) -> int:
    """Copy the task's name, NUL-padded, into ``buf``."""
    check_mem(ctx, "get_current_comm", 1, buf, 2, size, write=True)
    size = s32(size)
    if size <= 0:
        return -E.EINVAL
    name = ctx.env.comm[:min(size, TASK_COMM_LEN) - 1]
    ctx.memory.write(buf, name.ljust(size, b"\0"))
    return 0


@builtin("get_current_task")
def get_current_task(ctx: HelperContext, *_: int) -> int:
    """The current task pointer (an opaque value in the VM)."""
    return ctx.env.task


@builtin("get_current_task_btf")
def get_current_task_btf(ctx: HelperContext, *_: int) -> int:
    """The current task pointer (an opaque value in the VM)."""
    return ctx.env.task


@builtin("get_current_cgroup_id")
def get_current_cgroup_id(ctx: HelperContext, *_: int) -> int:
    """The cgroup v2 id of the current task."""
    return ctx.env.cgroup_id


# --- reading memory -------------------------------------------------------------------

def _read_or_none(ctx: HelperContext, address: int, size: int) -> bytes | None:
    try:
        return ctx.memory.read(address, size)
    except BPFError:
        return None


def _probe_read(ctx: HelperContext, dst: int, size: int, src: int, *_: int,
                helper: str = "probe_read") -> int:
    check_mem(ctx, helper, 1, dst, 2, size, write=True)
    data = _read_or_none(ctx, src, size)
    if data is None:
        ctx.memory.write(dst, bytes(size))
        return -E.EFAULT
    ctx.memory.write(dst, data)
    return 0


def _probe_read_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int,
                    helper: str = "probe_read_str") -> int:
    check_mem(ctx, helper, 1, dst, 2, size, write=True)
    if size == 0:
        return 0
    try:
        text = ctx.memory.read_cstring(src, size - 1)
    except BPFError:
        ctx.memory.write(dst, bytes(size))
        return -E.EFAULT
    ctx.memory.write(dst, text + b"\0")
    return len(text) + 1


def _named(fn, name: str):
    def helper(ctx: HelperContext, *regs: int) -> int:
        return fn(ctx, *regs, helper=name)

    helper.__name__ = helper.__qualname__ = name
    helper.__doc__ = fn.__doc__
    return helper


for _name in ("probe_read", "probe_read_kernel", "probe_read_user"):
    BUILTINS[_name] = _named(_probe_read, _name)
for _name in ("probe_read_str", "probe_read_kernel_str", "probe_read_user_str"):
    BUILTINS[_name] = _named(_probe_read_str, _name)


@builtin("copy_from_user")
def copy_from_user(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """Copy from user memory (the VM has one memory)."""
    return _probe_read(ctx, dst, size, src, helper="copy_from_user")


# --- strings and printing -----------------------------------------------------------------

def _reader(ctx: HelperContext):
    def read_string(address: int) -> bytes:
        try:   # the kernel copies %s strings into a buffer of MAX_BPRINTF_BIN_ARGS bytes
            return ctx.memory.read_cstring(address, MAX_BPRINTF_BIN_ARGS - 1)
        except BPFError:
            return b""          # as the kernel prints a string it cannot read

    def read_bytes(address: int, size: int) -> bytes:
        data = _read_or_none(ctx, address, size)
        return data if data is not None else bytes(size)

    return read_string, read_bytes


def _format(ctx: HelperContext, fmt: bytes, args, max_args: int, limit: int) -> Formatted | int:
    """The formatted output, or -EINVAL for a format the kernel's
    bpf_bprintf_prepare refuses at run time."""
    try:
        return format_bpf(fmt, args, *_reader(ctx), max_args=max_args, limit=limit)
    except FormatError:
        return -E.EINVAL


def _trace(ctx: HelperContext, helper: str, fmt: int, fmt_size: int, args, max_args: int) -> int:
    check_mem(ctx, helper, 1, fmt, 2, fmt_size, write=False)
    fmt_bytes = ctx.memory.read(fmt, fmt_size)
    if b"\0" not in fmt_bytes:
        return -E.EINVAL
    out = _format(ctx, fmt_bytes, args, max_args, MAX_BPRINTF_BUF - 1)
    if isinstance(out, int):
        return out
    ctx.trace_pipe.append(out.text)
    return out.length           # bstr_printf's answer: the length before the cut


@builtin("trace_printk")
def trace_printk(ctx: HelperContext, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    """Format up to three arguments into the VM's trace pipe (a line holds
    at most 1023 bytes, as in the kernel); returns the full length."""
    return _trace(ctx, "trace_printk", fmt, fmt_size, (a1, a2, a3), MAX_TRACE_PRINTK_VARARGS)


def _varargs(ctx: HelperContext, helper: str, data: int, data_len: int, arg: int
             ) -> list[int] | None:
    if data_len % 8 or data_len > 8 * MAX_BPRINTF_VARARGS:
        return None
    check_mem(ctx, helper, arg, data, arg + 1, data_len, write=False)
    raw = ctx.memory.read(data, data_len) if data_len else b""
    return [int.from_bytes(raw[i:i + 8], "little") for i in range(0, data_len, 8)]


@builtin("trace_vprintk")
def trace_vprintk(ctx: HelperContext, fmt: int, fmt_size: int, data: int, data_len: int,
                  *_: int) -> int:
    """Format an array of arguments into the VM's trace pipe."""
    args = _varargs(ctx, "trace_vprintk", data, data_len, 3)
    if args is None:
        return -E.EINVAL
    return _trace(ctx, "trace_vprintk", fmt, fmt_size, args, MAX_BPRINTF_VARARGS)


@builtin("snprintf")
def snprintf(ctx: HelperContext, out: int, out_size: int, fmt: int, data: int,
             data_len: int) -> int:
    """Format into ``out`` (NUL-terminated, truncated); returns the full
    length including the NUL."""
    check_mem(ctx, "snprintf", 1, out, 2, out_size, write=True)
    args = _varargs(ctx, "snprintf", data, data_len, 4)
    if args is None:
        return -E.EINVAL
    try:
        fmt_bytes = ctx.memory.read_cstring(fmt, 4096) + b"\0"
    except BPFError:
        raise HelperError(f"bpf_snprintf: r3 ({fmt:#x}) is not a constant string; the "
                          f"verifier would refuse the call") from None
    text = format_bpf(fmt_bytes, args, *_reader(ctx), max_args=MAX_BPRINTF_VARARGS,
                      limit=max(out_size - 1, 0))
    if out_size:
        ctx.memory.write(out, text.text + b"\0")
    return text.length + 1


@builtin("strncmp")
def strncmp(ctx: HelperContext, s1: int, s1_size: int, s2: int, *_: int) -> int:
    """Compare at most ``s1_size`` bytes of two strings: -1, 0 or 1."""
    check_mem(ctx, "strncmp", 1, s1, 2, s1_size, write=False)
    try:
        a = ctx.memory.read_cstring(s1, s1_size)
        b = ctx.memory.read_cstring(s2, s1_size)
    except BPFError:
        raise HelperError(f"bpf_strncmp: r3 ({s2:#x}) is not a constant string; the verifier "
                          f"would refuse the call") from None
    if a == b:
        return 0
    return -1 if a < b else 1


def _digit(byte: int) -> int:
    """The value of an ASCII digit or hex letter, 99 for anything else."""
    if ord("0") <= byte <= ord("9"):
        return byte - ord("0")
    lower = byte | 0x20  # ASCII upper to lower case
    if ord("a") <= lower <= ord("f"):
        return lower - ord("a") + 10
    return 99


def _strtoull(ctx: HelperContext, helper: str, buf: int, size: int, flags: int
              ) -> tuple[int, int, bool] | int:
    """The kernel's __bpf_strtoull: ``(characters consumed, value, negative)``
    or a negative errno.  Only ASCII digits count; a leading ``-`` is
    parsed here and judged by the caller."""
    check_mem(ctx, helper, 1, buf, 2, size, write=False)
    base = flags & BPF_STRTOX_BASE_MASK
    if not size or flags & ~BPF_STRTOX_BASE_MASK or base not in (0, 8, 10, 16):
        return -E.EINVAL
    text = ctx.memory.read(buf, size)
    i = 0
    while i < size and text[i] in b" \t\n\v\f\r":
        i += 1
    negative = i < size and text[i] == ord("-")
    if negative:
        i += 1
    consumed = i
    if consumed == size:
        return -E.EINVAL
    digits = text[i:i + STRTOX_DIGITS_MAX]
    nul = digits.find(0)
    if nul >= 0:
        digits = digits[:nul]
    j = 0
    hex_prefix = digits[:1] == b"0" and digits[1:2] in (b"x", b"X")
    if hex_prefix and (base == 16 or (base == 0 and len(digits) > 2 and _digit(digits[2]) < 16)):
        base, j = 16, 2
    if base == 0:
        base = 8 if digits[:1] == b"0" else 10
    start = j
    value = 0
    while j < len(digits):
        digit = _digit(digits[j])
        if digit >= base:
            break
        value = value * base + digit
        j += 1
    if j == start:
        return -E.EINVAL
    if value >> 64:
        return -E.ERANGE
    return consumed + j, value, negative


def _strto(ctx: HelperContext, helper: str, buf: int, size: int, flags: int, res: int,
           signed: bool) -> int:
    check_fixed_mem(ctx, helper, 4, res, 8, write=True)
    parsed = _strtoull(ctx, helper, buf, size, flags)
    if isinstance(parsed, int):
        return parsed
    consumed, value, negative = parsed
    if negative and not signed:
        return -E.EINVAL
    if signed and value >> 63 and not (negative and value == 1 << 63):
        return -E.ERANGE
    ctx.memory.store(res, 8, -value if negative else value)
    return consumed


@builtin("strtol")
def strtol(ctx: HelperContext, buf: int, size: int, flags: int, res: int, *_: int) -> int:
    """Parse a signed integer; returns the characters consumed."""
    return _strto(ctx, "strtol", buf, size, flags, res, True)


@builtin("strtoul")
def strtoul(ctx: HelperContext, buf: int, size: int, flags: int, res: int, *_: int) -> int:
    """Parse an unsigned integer; returns the characters consumed."""
    return _strto(ctx, "strtoul", buf, size, flags, res, False)


# --- control -----------------------------------------------------------------------------

@builtin("loop")
def loop(ctx: HelperContext, nr_loops: int, callback: int, callback_ctx: int, flags: int,
         *_: int) -> int:
    """Call ``callback(i, callback_ctx)`` up to ``nr_loops`` times, stopping
    early when it returns non-zero; returns the number of calls."""
    if flags:
        return -E.EINVAL
    n = nr_loops & 0xFFFFFFFF
    if n > MAX_LOOPS:
        return -E.E2BIG
    for i in range(n):
        if ctx.invoke(callback, i, callback_ctx):
            return i + 1
    return n


# --- stacks --------------------------------------------------------------------------------

def stack_for(ctx: HelperContext, flags: int) -> tuple[int, ...]:
    """The instruction pointers ``flags`` asks for (user or kernel stack)."""
    return tuple(ctx.env.user_stack if flags & BPF_F_USER_STACK else ctx.env.kernel_stack)


@builtin("get_stack")
def get_stack(ctx: HelperContext, _regs: int, buf: int, size: int, flags: int, *_: int) -> int:
    """Copy the stack's instruction pointers into ``buf``; returns bytes written."""
    check_mem(ctx, "get_stack", 2, buf, 3, size, write=True)
    if flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID) or \
            flags & BPF_F_USER_BUILD_ID or size % 8:   # build ids need a real ELF of the task
        ctx.memory.write(buf, bytes(size))              # the kernel clears the buffer
        return -E.EINVAL
    ips = stack_for(ctx, flags)[flags & BPF_F_SKIP_FIELD_MASK:]
    data = b"".join(ip.to_bytes(8, "little") for ip in ips)[:size]
    ctx.memory.write(buf, data.ljust(size, b"\0"))
    return len(data)


# --- spin locks --------------------------------------------------------------------------

def _lock_word(ctx: HelperContext, lock: int, helper: str):
    """The map and ``(arena, offset)`` of the ``struct bpf_spin_lock`` at
    ``lock``; anything else is a program the verifier would refuse."""
    region = ctx.memory.find(lock, 4)
    owner = getattr(region, "owner", None)
    find = getattr(owner, "spin_lock_word", None)
    where = find(region.view.obj, lock - region.start) if find is not None else None
    if where is None:
        raise HelperError(f"bpf_{helper}: r1 ({lock:#x}) is not the struct bpf_spin_lock of "
                          f"a hash or array map value")
    return owner, where


@builtin("spin_lock")
def spin_lock(ctx: HelperContext, lock: int, *_: int) -> int:
    """Take a ``struct bpf_spin_lock`` in a map value, waiting while a
    program in another thread (or a ``BPF_F_LOCK`` copy) holds it."""
    m, (arena, offset) = _lock_word(ctx, lock, "spin_lock")
    try:
        m.bpf_spin_lock(arena, offset)
    except BPFError as exc:
        raise HelperError(f"bpf_spin_lock: r1 ({lock:#x}): {exc}") from None
    return 0


@builtin("spin_unlock")
def spin_unlock(ctx: HelperContext, lock: int, *_: int) -> int:
    """Release a ``struct bpf_spin_lock``."""
    m, (arena, offset) = _lock_word(ctx, lock, "spin_unlock")
    m.bpf_spin_unlock(arena, offset)
    return 0
