"""``stack_trace``: stack ids for ``bpf_get_stackid``.

A stack (a list of instruction addresses, innermost first) hashes with the
kernel's ``jhash2`` to a bucket; the bucket number is the stack id, so ids
match the kernel's for the same addresses.  Storing a different stack in an
occupied bucket fails with -EEXIST unless ``BPF_F_REUSE_STACKID`` replaces
it; ``BPF_F_FAST_STACK_CMP`` trusts the hash alone.  At most
``max_entries`` stacks are kept at once (then -ENOMEM); the bucket count is
``max_entries`` rounded up to a power of two.  Userspace looks ids up (the
value is ``value_size / 8`` addresses, zero-padded) and deletes them; it
cannot update.
"""

from __future__ import annotations

import errno as E
import struct
from collections.abc import Sequence
from typing import Any

from ..objects import MapSpec
from ._abi import (
    BPF_F_FAST_STACK_CMP,
    BPF_F_NUMA_NODE,
    BPF_F_RDONLY,
    BPF_F_REUSE_STACKID,
    BPF_F_SKIP_FIELD_MASK,
    BPF_F_STACK_BUILD_ID,
    BPF_F_USER_STACK,
    BPF_F_WRONLY,
    BPF_STACK_BUILD_ID_IP,
    PERF_MAX_STACK_DEPTH,
    STACK_BUILD_ID_ENTRY_SIZE,
    STACK_MAP_BUCKET_SIZE,
    STACK_MAP_MAX_ENTRIES,
)
from .base import Map
from .jhash import jhash

_BUILD_ID_ENTRY = struct.Struct("<i20sxxxxQ")


class StackTraceMap(Map):
    """``BPF_MAP_TYPE_STACK_TRACE``: stack id -> addresses."""

    type = "stack_trace"

    @classmethod
    def check_spec(cls, spec: MapSpec, num_cpus: int) -> None:
        """key 4 bytes; value a whole number of entries, at most the perf stack depth."""
        cls._check_sizes(spec, key_size=4, allowed_flags=BPF_F_NUMA_NODE | BPF_F_RDONLY |
                         BPF_F_WRONLY | BPF_F_STACK_BUILD_ID)
        entry = STACK_BUILD_ID_ENTRY_SIZE if spec.flags & BPF_F_STACK_BUILD_ID else 8
        if spec.value_size % entry or spec.value_size // entry > PERF_MAX_STACK_DEPTH:
            raise cls._create_error(spec, E.EINVAL,
                                    f"stack_trace value_size must be a multiple of {entry} "
                                    f"and hold at most {PERF_MAX_STACK_DEPTH} frames")
        if spec.max_entries > STACK_MAP_MAX_ENTRIES:
            raise cls._create_error(spec, E.E2BIG, "too many entries")

    @classmethod
    def largest_allocation(cls, spec: MapSpec, num_cpus: int) -> int:
        """The kernel's preallocated buckets (held here as they fill)."""
        return spec.max_entries * (STACK_MAP_BUCKET_SIZE + spec.value_size)

    def __init__(self, spec: MapSpec, **kw: Any):
        super().__init__(spec, **kw)
        self.build_id = bool(self.flags & BPF_F_STACK_BUILD_ID)
        self.entry_size = STACK_BUILD_ID_ENTRY_SIZE if self.build_id else 8
        self.max_depth = self.value_size // self.entry_size
        self.n_buckets = 1 << (self.max_entries - 1).bit_length()
        self._buckets: dict[int, tuple[int, tuple[int, ...]]] = {}   # id -> (hash, frames)
        self._used = 0

    # ------------------------------------------------------------ BPF side

    def bpf_get_stackid(self, ips: Sequence[int], flags: int = 0) -> int:
        """``bpf_get_stackid`` for the stack ``ips`` (innermost first; the VM
        passes the user or kernel stack as ``BPF_F_USER_STACK`` asks).
        Returns the id, or -EINVAL, -EFAULT (skipped everything), -EEXIST
        (hash collision) or -ENOMEM (map full)."""
        if flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP |
                     BPF_F_REUSE_STACKID):
            return -E.EINVAL
        skip = flags & BPF_F_SKIP_FIELD_MASK
        if len(ips) <= skip:
            return -E.EFAULT
        frames = tuple(ip & 0xFFFFFFFFFFFFFFFF for ip in ips[skip:skip + self.max_depth])
        digest = jhash(struct.pack(f"<{len(frames)}Q", *frames), 0)
        with self.lock:
            return self._store(frames, digest, flags)

    def _store(self, frames: tuple[int, ...], digest: int, flags: int) -> int:
        stack_id = digest & (self.n_buckets - 1)
        bucket = self._buckets.get(stack_id)
        hash_matches = bucket is not None and bucket[0] == digest
        if hash_matches and flags & BPF_F_FAST_STACK_CMP:
            return stack_id
        if hash_matches and bucket is not None and bucket[1] == frames:
            return stack_id
        if bucket is not None and not flags & BPF_F_REUSE_STACKID:
            return -E.EEXIST
        if self._used >= self.max_entries:
            return -E.ENOMEM
        self._buckets[stack_id] = (digest, frames)
        if bucket is None:
            self._used += 1
        return stack_id

    # ------------------------------------------------------------ userspace

    def _encode(self, frames: tuple[int, ...]) -> bytes:
        if self.build_id:
            raw = b"".join(_BUILD_ID_ENTRY.pack(BPF_STACK_BUILD_ID_IP, bytes(20), ip)
                           for ip in frames)
        else:
            raw = struct.pack(f"<{len(frames)}Q", *frames)
        return raw + bytes(self.value_size - len(raw))

    def _sys_lookup(self, key: bytes, flags: int) -> bytes:
        bucket = self._buckets.get(int.from_bytes(key, "little"))
        if bucket is None:
            raise self._error(E.ENOENT, "lookup", key, "no stack with this id")
        return self._encode(bucket[1])

    def stack(self, stack_id: int) -> list[int]:
        """The addresses of stack ``stack_id`` (without padding)."""
        bucket = self._buckets.get(stack_id)
        if bucket is None:
            raise self._error(E.ENOENT, "lookup", stack_id, "no stack with this id")
        return list(bucket[1])

    def _sys_update(self, key: bytes, value: Any, flags: int) -> int:
        return -E.EINVAL

    def _update_message(self, code: int, flags: int) -> str:
        return "stack trace maps are filled by bpf_get_stackid, not by updates"

    def _sys_delete(self, key: bytes) -> int:
        stack_id = int.from_bytes(key, "little")
        if stack_id >= self.n_buckets:
            return -E.E2BIG
        if self._buckets.pop(stack_id, None) is None:
            return -E.ENOENT
        self._used -= 1
        return 0

    def _next_key(self, key: bytes | None) -> bytes | None:
        buckets = self._buckets
        start = 0
        if key is not None:
            stack_id = int.from_bytes(key, "little")
            if stack_id in buckets:
                start = stack_id + 1
        later = [stack_id for stack_id in buckets if stack_id >= start]
        return min(later).to_bytes(4, "little") if later else None

    def _raw_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in sorted(self._buckets)]

    def _count(self) -> int:
        return self._used
