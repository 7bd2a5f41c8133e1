"""perf_event and tracing ABI facts the kernel's BTF does not carry.

The enums (``perf_type_id``, ``perf_sw_ids``, ``perf_event_type``,
``perf_event_sample_format``) and the layouts of ``perf_event_attr`` and
``perf_event_mmap_page`` are generated into :mod:`pybpf.spec.linux`; what
lives here are ``#define``\\ s, ioctl numbers, system call numbers and
filesystem paths.  Each group names where it comes from.
"""

from __future__ import annotations

import os as _os

# --- arch/*/include/uapi/asm/unistd*.h: perf_event_open(2) --------------------
PERF_EVENT_OPEN_NR = {
    "x86_64": 298,
    "aarch64": 241,
    "arm64": 241,
    "riscv64": 241,
    "loongarch64": 241,
    "i386": 336,
    "i686": 336,
    "armv7l": 364,
    "ppc64le": 319,
    "ppc64": 319,
    "s390x": 331,
}
"""``__NR_perf_event_open`` by ``platform.machine()``."""

# --- include/uapi/linux/perf_event.h: perf_event_open flags -------------------
PERF_FLAG_FD_NO_GROUP = 1 << 0
PERF_FLAG_FD_OUTPUT = 1 << 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

PERF_ATTR_SIZE_VER5 = 112
"""``sizeof(struct perf_event_attr)`` as of Linux 4.1: enough for every field
pybpf sets (the kernel accepts any published size)."""


# --- include/uapi/asm-generic/ioctl.h (and powerpc's variant) -----------------
def _ioc(direction: str, kind: int, nr: int, size: int) -> int:
    """``_IOC(dir, type, nr, size)`` for this machine's encoding: the
    generic one (2 direction bits at 30, 14 size bits) or powerpc/mips/sparc's
    (3 direction bits at 29, 13 size bits)."""
    machine = _os.uname().machine
    if machine.startswith(("ppc", "mips", "sparc")):
        bits = {"none": 1, "read": 2, "write": 4, "rw": 6}[direction]
        return (bits << 29) | ((size & 0x1FFF) << 16) | (kind << 8) | nr
    bits = {"none": 0, "write": 1, "read": 2, "rw": 3}[direction]
    return (bits << 30) | ((size & 0x3FFF) << 16) | (kind << 8) | nr


_PERF = ord("$")
PERF_EVENT_IOC_ENABLE = _ioc("none", _PERF, 0, 0)
PERF_EVENT_IOC_DISABLE = _ioc("none", _PERF, 1, 0)
PERF_EVENT_IOC_REFRESH = _ioc("none", _PERF, 2, 0)
PERF_EVENT_IOC_RESET = _ioc("none", _PERF, 3, 0)
PERF_EVENT_IOC_PERIOD = _ioc("write", _PERF, 4, 8)
PERF_EVENT_IOC_SET_OUTPUT = _ioc("none", _PERF, 5, 0)
PERF_EVENT_IOC_SET_FILTER = _ioc("write", _PERF, 6, 8)
PERF_EVENT_IOC_ID = _ioc("read", _PERF, 7, 8)
PERF_EVENT_IOC_SET_BPF = _ioc("write", _PERF, 8, 4)
PERF_EVENT_IOC_PAUSE_OUTPUT = _ioc("write", _PERF, 9, 4)

# --- include/uapi/linux/perf_event.h: sizes of records ------------------------
PERF_EVENT_HEADER_SIZE = 8
"""``struct perf_event_header``: u32 type, u16 misc, u16 size."""

# --- tracefs, debugfs and the PMU directory -----------------------------------
TRACEFS_MOUNTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
"""Where tracefs is found: its own mount point, then the debugfs one."""
DEBUGFS_MOUNT = "/sys/kernel/debug"
TRACEFS_MAGIC = 0x74726163
"""``statfs(2)`` f_type of tracefs (include/uapi/linux/magic.h)."""
DEBUGFS_MAGIC = 0x64626720
"""``statfs(2)`` f_type of debugfs."""
PMU_DIR = "/sys/bus/event_source/devices"
"""One directory per PMU, with its ``type`` number and ``format/`` bits."""

# --- include/linux/trace_events.h: uprobe/kprobe events written to tracefs ----
KPROBE_EVENTS = "kprobe_events"
UPROBE_EVENTS = "uprobe_events"

# --- include/uapi/linux/bpf.h: union bpf_iter_link_info (BPF_LINK_CREATE of
# an iterator points iter_info at it; not in the generated tables) -------------
BPF_ITER_LINK_INFO_SIZE = 16
BPF_ITER_LINK_INFO = (
    ("map_fd", 0, "u32"),
    ("cgroup.order", 0, "u32"),
    ("cgroup.cgroup_fd", 4, "u32"),
    ("cgroup.cgroup_id", 8, "u64"),
    ("task.tid", 0, "u32"),
    ("task.pid", 4, "u32"),
    ("task.pid_fd", 8, "u32"),
)
"""``(field, offset, type)`` rows of ``union bpf_iter_link_info``."""
