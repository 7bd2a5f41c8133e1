"""General helpers: time, identity, randomness, memory reads, strings,
printing, loops, stacks and spin locks.

Every helper takes the running program (the helper context) and the five
argument registers, and returns r0 with the kernel's semantics.
"""

from __future__ import annotations

import errno as E

from ..errors import BPFError, HelperError
from ..spec import constant
from .printf import format_bpf
from .registry import HelperContext

BUILTINS: dict[str, object] = {}

MAX_LOOPS = constant("BPF_MAX_LOOPS")
BPF_F_SKIP_FIELD_MASK = constant("BPF_F_SKIP_FIELD_MASK")
BPF_F_USER_STACK = constant("BPF_F_USER_STACK")
BPF_F_USER_BUILD_ID = constant("BPF_F_USER_BUILD_ID")
TASK_COMM_LEN = 16           # include/linux/sched.h
MAX_TRACE_PRINTK_ARGS = 3    # bpf_trace_printk takes three arguments
MAX_BPRINTF_VARARGS = 12     # include/linux/bpf.h
MAX_STRING = 1024


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


def s32(v: int) -> int:
    """The low 32 bits of a register as a signed integer."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


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


def _probe_read(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    size = size & 0xFFFFFFFF
    data = _read_or_none(ctx, src, size)
    if data is None:
        ctx.memory.write(dst, bytes(size))
        return -E.EFAULT
    ctx.memory.write(dst, data)
    return 0


def _probe_read_str(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    size = size & 0xFFFFFFFF
    if size == 0:
        return 0
    try:
        text = ctx.memory.read_cstring(src, size - 1)
    except BPFError:
        ctx.memory.write(dst, bytes(size))
        return -E.EFAULT
    ctx.memory.write(dst, text + b"\0")
    return len(text) + 1


for _name in ("probe_read", "probe_read_kernel", "probe_read_user"):
    BUILTINS[_name] = _probe_read
for _name in ("probe_read_str", "probe_read_kernel_str", "probe_read_user_str"):
    BUILTINS[_name] = _probe_read_str


@builtin("copy_from_user")
def copy_from_user(ctx: HelperContext, dst: int, size: int, src: int, *_: int) -> int:
    """Copy from user memory (the VM has one memory)."""
    return _probe_read(ctx, dst, size, src)


# --- strings and printing -----------------------------------------------------------------

def _reader(ctx: HelperContext):
    def read_string(address: int) -> bytes:
        try:
            return ctx.memory.read_cstring(address, MAX_STRING)
        except BPFError:
            return b"(fault)"

    def read_bytes(address: int, size: int) -> bytes:
        data = _read_or_none(ctx, address, size)
        return data if data is not None else bytes(size)

    return read_string, read_bytes


@builtin("trace_printk")
def trace_printk(ctx: HelperContext, fmt: int, fmt_size: int, a1: int, a2: int, a3: int) -> int:
    """Format up to three arguments into the VM's trace pipe."""
    fmt_bytes = ctx.memory.read(fmt, fmt_size & 0xFFFFFFFF)
    if b"\0" not in fmt_bytes:
        return -E.EINVAL
    text = format_bpf(fmt_bytes, (a1, a2, a3), *_reader(ctx), max_args=MAX_TRACE_PRINTK_ARGS)
    ctx.trace_pipe.append(text)
    return len(text)


def _varargs(ctx: HelperContext, data: int, data_len: int) -> list[int] | None:
    data_len &= 0xFFFFFFFF
    if data_len % 8 or data_len > 8 * MAX_BPRINTF_VARARGS:
        return None
    raw = ctx.memory.read(data, data_len) if data_len else b""
    return [int.from_bytes(raw[i:i + 8], "little") for i in range(0, data_len, 8)]


@builtin("trace_vprintk")
def trace_vprintk(ctx: HelperContext, fmt: int, fmt_size: int, data: int, data_len: int,
                  *_: int) -> int:
    """Format an array of arguments into the VM's trace pipe."""
    args = _varargs(ctx, data, data_len)
    if args is None:
        return -E.EINVAL
    fmt_bytes = ctx.memory.read(fmt, fmt_size & 0xFFFFFFFF)
    text = format_bpf(fmt_bytes, args, *_reader(ctx), max_args=MAX_BPRINTF_VARARGS)
    ctx.trace_pipe.append(text)
    return len(text)


@builtin("snprintf")
def snprintf(ctx: HelperContext, out: int, out_size: int, fmt: int, data: int,
             data_len: int) -> int:
    """Format into ``out`` (NUL-terminated, truncated); returns the full
    length including the NUL."""
    args = _varargs(ctx, data, data_len)
    if args is None:
        return -E.EINVAL
    fmt_bytes = ctx.memory.read_cstring(fmt, 4096) + b"\0"
    text = format_bpf(fmt_bytes, args, *_reader(ctx), max_args=MAX_BPRINTF_VARARGS)
    size = out_size & 0xFFFFFFFF
    if size:
        ctx.memory.write(out, text[:size - 1] + b"\0")
    return len(text) + 1


@builtin("strncmp")
def strncmp(ctx: HelperContext, s1: int, s1_size: int, s2: int, *_: int) -> int:
    """Compare at most ``s1_size`` bytes of two strings: -1, 0 or 1."""
    n = s1_size & 0xFFFFFFFF
    a = ctx.memory.read_cstring(s1, n)
    b = ctx.memory.read_cstring(s2, n)
    if a == b:
        return 0
    return -1 if a < b else 1


def _strto(ctx: HelperContext, buf: int, size: int, flags: int, res: int, signed: bool) -> int:
    text = ctx.memory.read_cstring(buf, size & 0xFFFFFFFF)
    base = flags & 0x1F
    if flags & ~0x1F or base not in (0, 8, 10, 16):
        return -E.EINVAL
    i = 0
    while i < len(text) and text[i:i + 1].isspace():
        i += 1
    negative = False
    if signed and text[i:i + 1] in (b"-", b"+"):
        negative = text[i:i + 1] == b"-"
        i += 1
    digits_start = i
    if base in (0, 16) and text[i:i + 2].lower() == b"0x":
        base, i = 16, i + 2
    elif base == 0 and text[i:i + 1] == b"0":
        base = 8
    elif base == 0:
        base = 10
    start = i
    value = 0
    while i < len(text):
        digit = int(chr(text[i]), 36) if chr(text[i]).isalnum() else 99
        if digit >= base:
            break
        value = value * base + digit
        i += 1
    if i == start and not (base == 8 and i > digits_start):
        return -E.EINVAL
    if value >= (1 << 63 if signed else 1 << 64):
        return -E.ERANGE
    ctx.memory.store(res, 8, -value if negative else value)
    return i


@builtin("strtol")
def strtol(ctx: HelperContext, buf: int, size: int, flags: int, res: int, *_: int) -> int:
    """Parse a signed integer; returns the characters consumed."""
    return _strto(ctx, buf, size, flags, res, True)


@builtin("strtoul")
def strtoul(ctx: HelperContext, buf: int, size: int, flags: int, res: int, *_: int) -> int:
    """Parse an unsigned integer; returns the characters consumed."""
    return _strto(ctx, buf, size, flags, res, False)


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
    size = size & 0xFFFFFFFF
    if flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID):
        return -E.EINVAL
    if flags & BPF_F_USER_BUILD_ID:
        return -E.EINVAL  # build ids need a real ELF of the task
    if size % 8:
        ctx.memory.write(buf, bytes(size))
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
