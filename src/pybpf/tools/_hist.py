"""Log2 histograms printed the way bpftrace's ``hist()`` prints them."""

from __future__ import annotations

from collections.abc import Sequence

WIDTH = 52


def _human(n: int) -> str:
    for suffix, scale in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20),
                          ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def bucket_label(slot: int) -> str:
    """The range slot ``slot`` counts: ``[0]``, ``[1]``, ``[2, 4)``, ``[1K, 2K)``..."""
    if slot == 0:
        return "[0]"
    if slot == 1:
        return "[1]"
    lo, hi = 1 << (slot - 1), 1 << slot
    return f"[{_human(lo)}, {_human(hi)})"


def format_log2(counts: Sequence[int], title: str = "") -> str:
    """Slot counts (slot 0 counts zeros, slot i values in [2^(i-1), 2^i)) as
    lines of ``[lo, hi)  count |@@@@   |``, from the first to the last
    non-empty slot."""
    used = [i for i, c in enumerate(counts) if c]
    lines = [title] if title else []
    if not used:
        return "\n".join([*lines, "(no samples)"])
    top = max(counts)
    for slot in range(used[0], used[-1] + 1):
        c = counts[slot]
        bar = "@" * (c * WIDTH // top if top else 0)
        lines.append(f"{bucket_label(slot):<16}{c:>8} |{bar:<{WIDTH}}|")
    return "\n".join(lines)


def hist_json(counts: list[int], unit: str, **labels) -> dict:
    """One histogram as a JSON object: its labels and non-empty buckets."""
    buckets = [{"bucket": bucket_label(i), "low": 0 if i == 0 else 1 << (i - 1),
                "high": 1 if i == 0 else (1 << i), "count": c} for i, c in enumerate(counts) if c]
    return {**labels, "unit": unit, "buckets": buckets}


def read_u64_array(m, count: int, *, clear: bool = False) -> list[int]:
    """The first ``count`` values of an array map of 64-bit counters
    (zeroed afterwards with ``clear``)."""
    import ctypes

    from ..kernel import sys as _sys

    out = []
    key = ctypes.c_uint32(0)
    value = ctypes.c_uint64(0)
    zero = ctypes.c_uint64(0)
    for i in range(count):
        key.value = i
        _sys.map_lookup_elem(m.fd, ctypes.addressof(key), ctypes.addressof(value))
        out.append(value.value)
        if clear and value.value:
            _sys.map_update_elem(m.fd, ctypes.addressof(key), ctypes.addressof(zero))
    return out
