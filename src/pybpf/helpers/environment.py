"""The outside world as helpers see it: process ids, names, clocks, CPUs.

Helpers such as ``bpf_get_current_pid_tgid`` or ``bpf_ktime_get_ns`` ask the
environment instead of the host, so a test can fix every value and get the
same answers on every run.  The defaults describe the calling Python process
and read the host's clocks.
"""

from __future__ import annotations

import ctypes
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def _own_comm() -> bytes:
    try:
        with open("/proc/self/comm", "rb") as f:
            return f.read().strip()[:15]
    except OSError:
        return b"python"


RANDOM_POOL = 64
"""How many numbers of the random sequence :class:`NativeEnvironment` holds drawn ahead."""
NO_CPU = (1 << 64) - 1
""":attr:`NativeEnvironment.cpu` when ``Environment.cpu`` is not a u32 (native code asks Python)."""


class NativeEnvironment(ctypes.Structure):
    """What native code (the JIT) reads of an :class:`Environment` without
    calling Python, kept in step with it: the CPU, whether the monotonic
    clock is the host's, and the random sequence's next numbers.

    ``random[random_next:random_count]`` are the next numbers of the
    environment's random sequence, drawn ahead from its generator in order:
    whoever takes one (Python's :meth:`Environment.prandom_u32` or native
    code) moves ``random_next`` on, so the sequence is the same whichever
    engine runs the program.  Native code only reads and takes while
    holding the GIL, as Python does.
    """

    _fields_ = [("cpu", ctypes.c_uint64), ("host_clock", ctypes.c_uint64),
                ("random_next", ctypes.c_uint64), ("random_count", ctypes.c_uint64),
                ("random", ctypes.c_uint32 * RANDOM_POOL)]


#: The fields whose change the native mirror follows.
_MIRRORED = frozenset({"cpu", "monotonic_ns"})


@dataclass
class Environment:
    """Values the VM's helpers report.  Set any field to make runs deterministic.

    ``monotonic_ns`` and ``boottime_ns`` are callables so that time can be
    frozen (``lambda: 1000``) or advanced by a test.  ``kernel_stack`` and
    ``user_stack`` are the instruction pointers (innermost first) that
    ``bpf_get_stack`` and ``bpf_get_stackid`` report.
    """

    pid: int = field(default_factory=os.getpid)
    tgid: int = field(default_factory=os.getpid)
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    comm: bytes = field(default_factory=_own_comm)
    cpu: int = 0
    num_cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    task: int = 0xFFFF_8880_0000_0000  # the value bpf_get_current_task returns
    monotonic_ns: Callable[[], int] = time.monotonic_ns
    boottime_ns: Callable[[], int] = field(
        default_factory=lambda: (lambda: time.clock_gettime_ns(time.CLOCK_BOOTTIME)))
    hz: int = 250
    cgroup_id: int = 1
    socket_cookie: int = 1
    netns_cookie: int = 1
    numa_node: int = 0
    kernel_stack: tuple[int, ...] = (0xFFFF_FFFF_8100_1000, 0xFFFF_FFFF_8100_2000)
    user_stack: tuple[int, ...] = (0x5555_5555_1000, 0x5555_5555_2000)
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)
    native: NativeEnvironment = field(init=False, repr=False, compare=False)
    """The values native code reads (:class:`NativeEnvironment`), kept in step."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self.native = NativeEnvironment()
        self._mirror()

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name in _MIRRORED and "native" in self.__dict__:
            self._mirror()

    def _mirror(self) -> None:
        native = self.native
        cpu = self.cpu
        native.cpu = cpu if type(cpu) is int and 0 <= cpu < (1 << 32) else NO_CPU
        native.host_clock = self.monotonic_ns is time.monotonic_ns

    def prandom_u32(self) -> int:
        """The next pseudo-random 32-bit number (seeded by ``seed``)."""
        native = self.native
        i = native.random_next
        if i >= native.random_count:
            bits = self._random.getrandbits
            native.random[:] = [bits(32) for _ in range(RANDOM_POOL)]
            native.random_count = RANDOM_POOL
            i = 0
        native.random_next = i + 1
        return native.random[i]

    def jiffies(self) -> int:
        """The jiffies counter derived from the monotonic clock and ``hz``."""
        return self.monotonic_ns() * self.hz // 1_000_000_000

    @classmethod
    def fixed(cls, **overrides) -> Environment:
        """A fully deterministic environment: fixed ids, frozen clocks, seeded
        randomness; ``overrides`` replace any field."""
        values = dict(pid=1000, tgid=1000, uid=0, gid=0, comm=b"pybpf-test", cpu=0, num_cpus=2,
                      monotonic_ns=lambda: 1_000_000_000, boottime_ns=lambda: 1_000_000_000,
                      seed=0)
        values.update(overrides)
        return cls(**values)
