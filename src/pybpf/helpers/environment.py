"""The outside world as helpers see it: process ids, names, clocks, CPUs.

Helpers such as ``bpf_get_current_pid_tgid`` or ``bpf_ktime_get_ns`` ask the
environment instead of the host, so a test can fix every value and get the
same answers on every run.  The defaults describe the calling Python process
and read the host's clocks.
"""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def prandom_u32(self) -> int:
        """The next pseudo-random 32-bit number (seeded by ``seed``)."""
        return self._random.getrandbits(32)

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
