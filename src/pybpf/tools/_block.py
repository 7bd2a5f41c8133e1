"""What the block I/O tools share: disk names from the kernel's ``dev_t``
numbers and the names of request operations."""

from __future__ import annotations

import os
from functools import cache

MINORBITS = 20
"""The kernel's internal ``dev_t``: ``major << 20 | minor`` (include/linux/kdev_t.h)."""

REQ_OPS = {0: "Read", 1: "Write", 2: "Flush", 3: "Discard", 5: "SecureErase",
           7: "ZoneAppend", 9: "WriteZeroes", 10: "ZoneOpen", 11: "ZoneClose",
           12: "ZoneFinish", 13: "ZoneReset", 15: "ZoneResetAll", 34: "DrvIn", 35: "DrvOut"}
"""Request operations by number (``REQ_OP_*``, include/linux/blk_types.h)."""

REQ_OP_MASK = 0xFF
"""The bits of ``cmd_flags`` that hold the operation."""


def op_name(op: int) -> str:
    """``Read`` for 0; the number for unknown operations."""
    return REQ_OPS.get(op & REQ_OP_MASK, str(op & REQ_OP_MASK))


def split_dev(dev: int) -> tuple[int, int]:
    """A kernel ``dev_t`` as ``(major, minor)``."""
    return dev >> MINORBITS, dev & ((1 << MINORBITS) - 1)


@cache
def disk_name(dev: int) -> str:
    """The name of the disk with kernel ``dev_t`` ``dev`` (``vda``), from
    /sys/dev/block; ``MAJOR:MINOR`` when it has none."""
    major, minor = split_dev(dev)
    try:
        with open(f"/sys/dev/block/{major}:{minor}/uevent") as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    return line.strip().split("=", 1)[1]
    except OSError:
        pass
    return f"{major}:{minor}"


def disk_dev(name: str) -> int:
    """The kernel ``dev_t`` of disk ``name`` (``vda`` or ``/dev/vda``), from
    /sys/class/block; raises ValueError for an unknown disk."""
    base = os.path.basename(name)
    try:
        with open(f"/sys/class/block/{base}/dev") as f:
            major, minor = (int(x) for x in f.read().split(":"))
    except OSError:
        raise ValueError(f"no disk {name!r} in /sys/class/block") from None
    return major << MINORBITS | minor
