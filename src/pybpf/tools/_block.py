"""What the block I/O tools share: disk names from the kernel's ``dev_t``
numbers and the names of request operations."""

from __future__ import annotations

import os
from functools import cache

from ..spec.tracing import MINORBITS, REQ_OP_MASK, REQ_OPS


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
