"""Linux ABI numbers the userspace maps need, in one place.

Enumerators that kernel BTF carries (update and creation flags, ring-buffer
and stack-id flags, perf record types, map type ids) are read from
:mod:`pybpf.spec`; ``#define``\\ s and kernel-internal limits that BTF
cannot carry come from :mod:`pybpf.spec.defines`.  Nothing else in
:mod:`pybpf.maps` spells an ABI number.
"""

from __future__ import annotations

from ..spec import constant, enum_values
from ..spec.defines import (  # noqa: F401 - re-exported for the map modules
    ARRAY_VALUE_SIZE_MAX,
    BLOOM_DEFAULT_HASH_FUNCS,
    BLOOM_NR_HASH_FUNCS_MASK,
    BPF_ATTR_U32_LIMIT,
    BPF_ATTR_U64_LIMIT,
    BPF_BUILD_ID_SIZE,
    ENOTSUPP,
    FD_ARRAY_SLOT_SIZE,
    HTAB_BUCKET_SIZE,
    HTAB_ELEM_OVERHEAD,
    HTAB_MAX_ENTRIES,
    KMALLOC_MAX_SIZE,
    LPM_DATA_SIZE_MAX,
    LPM_KEY_HEADER,
    LPM_TRIE_NODE_SIZE,
    MAP_NORESERVE,
    MAX_BPF_STACK,
    PAGE_SIZE,
    PCPU_MIN_UNIT_SIZE,
    PERF_MAX_STACK_DEPTH,
    PERF_RECORD_MISC_KERNEL,
    RINGBUF_MAX_RECORD_SZ,
    RINGBUF_META_PAGES,
    STACK_BUILD_ID_ENTRY_SIZE,
    STACK_MAP_BUCKET_SIZE,
    STACK_MAP_MAX_ENTRIES,
)

# --- enumerators from vmlinux BTF (pybpf.spec) ---------------------------------
BPF_ANY = constant("BPF_ANY")
BPF_NOEXIST = constant("BPF_NOEXIST")
BPF_EXIST = constant("BPF_EXIST")
BPF_F_LOCK = constant("BPF_F_LOCK")
BPF_F_NO_PREALLOC = constant("BPF_F_NO_PREALLOC")
BPF_F_NO_COMMON_LRU = constant("BPF_F_NO_COMMON_LRU")
BPF_F_NUMA_NODE = constant("BPF_F_NUMA_NODE")
BPF_F_RDONLY = constant("BPF_F_RDONLY")
BPF_F_WRONLY = constant("BPF_F_WRONLY")
BPF_F_STACK_BUILD_ID = constant("BPF_F_STACK_BUILD_ID")
BPF_F_ZERO_SEED = constant("BPF_F_ZERO_SEED")
BPF_F_RDONLY_PROG = constant("BPF_F_RDONLY_PROG")
BPF_F_WRONLY_PROG = constant("BPF_F_WRONLY_PROG")
BPF_F_CLONE = constant("BPF_F_CLONE")
BPF_F_MMAPABLE = constant("BPF_F_MMAPABLE")
BPF_F_PRESERVE_ELEMS = constant("BPF_F_PRESERVE_ELEMS")
BPF_F_INNER_MAP = constant("BPF_F_INNER_MAP")
BPF_F_INDEX_MASK = constant("BPF_F_INDEX_MASK")
BPF_F_CURRENT_CPU = constant("BPF_F_CURRENT_CPU")
BPF_F_CTXLEN_MASK = constant("BPF_F_CTXLEN_MASK")
BPF_F_SKIP_FIELD_MASK = constant("BPF_F_SKIP_FIELD_MASK")
BPF_F_USER_STACK = constant("BPF_F_USER_STACK")
BPF_F_FAST_STACK_CMP = constant("BPF_F_FAST_STACK_CMP")
BPF_F_REUSE_STACKID = constant("BPF_F_REUSE_STACKID")
BPF_F_USER_BUILD_ID = constant("BPF_F_USER_BUILD_ID")
BPF_STACK_BUILD_ID_EMPTY = constant("BPF_STACK_BUILD_ID_EMPTY")
BPF_STACK_BUILD_ID_VALID = constant("BPF_STACK_BUILD_ID_VALID")
BPF_STACK_BUILD_ID_IP = constant("BPF_STACK_BUILD_ID_IP")
BPF_RB_NO_WAKEUP = constant("BPF_RB_NO_WAKEUP")
BPF_RB_FORCE_WAKEUP = constant("BPF_RB_FORCE_WAKEUP")
BPF_RB_AVAIL_DATA = constant("BPF_RB_AVAIL_DATA")
BPF_RB_RING_SIZE = constant("BPF_RB_RING_SIZE")
BPF_RB_CONS_POS = constant("BPF_RB_CONS_POS")
BPF_RB_PROD_POS = constant("BPF_RB_PROD_POS")
BPF_RINGBUF_BUSY_BIT = constant("BPF_RINGBUF_BUSY_BIT")
BPF_RINGBUF_DISCARD_BIT = constant("BPF_RINGBUF_DISCARD_BIT")
BPF_RINGBUF_HDR_SZ = constant("BPF_RINGBUF_HDR_SZ")
PERF_RECORD_LOST = constant("PERF_RECORD_LOST")
PERF_RECORD_SAMPLE = constant("PERF_RECORD_SAMPLE")
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG

MAP_TYPE_IDS = {name.removeprefix("BPF_MAP_TYPE_").lower(): value
                for name, value in enum_values("bpf_map_type").items()
                if name.startswith("BPF_MAP_TYPE_") and not name.endswith("_DEPRECATED")}
