"""Linux ABI constants that the kernel's BTF does not carry.

BTF records enums and types, not ``#define``\\ s, so these are written by
hand.  Each group names the uapi header it comes from; the values are fixed
ABI and never change once released.
"""

from __future__ import annotations

from ..isa import opcodes as _isa

# --- include/uapi/linux/bpf.h: lddw and call pseudo sources ------------------
# They belong to the instruction encoding, which pybpf.isa (the layer below)
# defines; the uapi names are kept here for the rest of the code.
BPF_PSEUDO_MAP_FD = _isa.PSEUDO_MAP_FD
BPF_PSEUDO_MAP_VALUE = _isa.PSEUDO_MAP_VALUE
BPF_PSEUDO_BTF_ID = _isa.PSEUDO_BTF_ID
BPF_PSEUDO_FUNC = _isa.PSEUDO_FUNC
BPF_PSEUDO_MAP_IDX = _isa.PSEUDO_MAP_IDX
BPF_PSEUDO_MAP_IDX_VALUE = _isa.PSEUDO_MAP_IDX_VALUE
BPF_PSEUDO_CALL = _isa.PSEUDO_CALL_LOCAL
BPF_PSEUDO_KFUNC_CALL = _isa.PSEUDO_CALL_KFUNC

# --- include/linux/filter.h: an instruction only the verifier writes ---------
BPF_ADDR_PERCPU = -1
"""Offset of an ALU64 ``mov`` register form that turns a per-CPU pointer into
this CPU's address (``r0 = &(void __percpu *)(r0)`` in translated programs)."""

# --- include/uapi/linux/bpf.h: sizes -----------------------------------------
BPF_OBJ_NAME_LEN = 16
"""Bytes of a program or map name, including the terminating NUL."""
BPF_TAG_SIZE = 8
"""Bytes of a program tag (truncated SHA-1 of the instructions)."""

# --- include/uapi/linux/bpf.h: struct bpf_line_info.line_col ------------------
BPF_LINE_INFO_COL_BITS = 10
"""``line_col`` is ``line << 10 | column`` (BPF_LINE_INFO_LINE_NUM/LINE_COL)."""

# --- include/uapi/linux/bpf.h: BPF_PROG_ATTACH / BPF_LINK_CREATE flags --------
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5

# --- include/uapi/linux/bpf.h: BPF_PROG_LOAD prog_flags ----------------------
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_TEST_RND_HI32 = 1 << 2
BPF_F_TEST_STATE_FREQ = 1 << 3
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
BPF_F_XDP_DEV_BOUND_ONLY = 1 << 6
BPF_F_TEST_REG_INVARIANTS = 1 << 7

# --- include/uapi/linux/bpf.h: BPF_PROG_QUERY query_flags --------------------
BPF_F_QUERY_EFFECTIVE = 1 << 0

# --- include/uapi/linux/bpf.h: BPF_PROG_TEST_RUN flags -----------------------
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2

# --- include/linux/bpf.h: kernel limits --------------------------------------
MAX_TAIL_CALLS = 33
"""The most tail calls one run may chain (MAX_TAIL_CALL_CNT)."""
BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000
"""The most instructions the verifier processes for one program."""

# --- arch/x86/include/asm/pgtable_64_types.h (4-level paging) -----------------
VMALLOC_START = 0xFFFF_C900_0000_0000
"""Where the kernel's vmalloc area (BPF stacks, map values) begins on x86-64."""

# --- include/linux/bpf_verifier.h (values fixed by the uapi log_level field) --
BPF_LOG_LEVEL1 = 1
"""Verifier log: the instructions of each path and the error."""
BPF_LOG_LEVEL2 = 2
"""Verifier log: also the register state after every instruction."""
BPF_LOG_STATS = 4
"""Verifier log: statistics (instructions processed, states, time)."""

BPF_LOG_SIZE_MAX = 0xFFFFFFFF >> 2
"""Largest ``log_size`` the kernel accepts (kernel/bpf/log.c checks ``UINT_MAX >> 2``)."""

# --- include/linux/errno.h (kernel-internal, but bpf() lets it escape) -------
ENOTSUPP = 524
""""Operation is not supported": what bpf() returns for many unsupported
operations, a number libc has no name for."""

# --- include/uapi/linux/magic.h ----------------------------------------------
BPF_FS_MAGIC = 0xCAFE4A11
"""``statfs(2)`` f_type of a bpffs mount."""

# --- arch/*/include/uapi/asm/unistd*.h: the bpf() system call number ---------
BPF_SYSCALL_NR = {
    "x86_64": 321,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "loongarch64": 280,
    "i386": 357,
    "i686": 357,
    "armv7l": 386,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
}
"""``__NR_bpf`` by ``platform.machine()``."""


# --- kernel geometry and limits that maps' behaviour shows (x86-64, 4 KiB pages) --
# Not ABI in the uapi sense, but bpf() answers depend on them (E2BIG limits,
# record header page offsets), so they are facts the maps must agree with.
BPF_BUILD_ID_SIZE = 20               # uapi bpf.h
STACK_BUILD_ID_ENTRY_SIZE = 32       # sizeof(struct bpf_stack_build_id)
PERF_RECORD_MISC_KERNEL = 1          # uapi perf_event.h
# struct bpf_ringbuf puts one page of bookkeeping, then the consumer page and
# the producer page, before the data pages: a record header's pg_off counts
# pages from the start of that structure.
RINGBUF_META_PAGES = 3
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4
PAGE_SIZE = 4096
KMALLOC_MAX_SIZE = 1 << 22          # 4 MiB: MAX_PAGE_ORDER 10 with 4 KiB pages
PCPU_MIN_UNIT_SIZE = 32 << 10       # the largest per-CPU value
MAX_BPF_STACK = 512
PERF_MAX_STACK_DEPTH = 127          # default kernel.perf_event_max_stack
LPM_DATA_SIZE_MAX = 256
LPM_KEY_HEADER = 4                  # u32 prefixlen before the data
HTAB_ELEM_OVERHEAD = 48             # sizeof(struct htab_elem) on x86-64
BLOOM_NR_HASH_FUNCS_MASK = 0xF
BLOOM_DEFAULT_HASH_FUNCS = 5

# --- BTF and CO-RE ------------------------------------------------------------------------

BTF_MAGIC = 0xEB9F
"""The first two bytes of raw BTF (in the writer's byte order)."""
BTF_VERSION = 1
"""The BTF format version the kernel accepts."""
BTF_INT_MAX_BYTES = 16
"""The widest BTF integer the kernel accepts (128 bits)."""
BTF_ENUM_MAX_BYTES = 8
"""The widest BTF enum (and enum64) the kernel accepts."""
BTF_HEADER_SIZE = 24
"""Size of ``struct btf_header``."""
MAP_TYPES_WITH_BTF_KEY_VALUE = frozenset({"hash", "array", "percpu_hash", "percpu_array",
                                          "lru_hash", "lru_percpu_hash"})
"""Map types that take BTF key and value type ids on every kernel that
loads BTF at all (map BTF came with them, Linux 4.18): nothing to probe."""
CORE_POISON_HELPER_ID = 0xBAD2310
"""The helper id libbpf writes into an instruction whose CO-RE relocation
could not be resolved ("bad relo", 195896080): no such helper exists, so the
kernel refuses the program if that instruction is reachable."""

# --- map creation limits the kernel checks (kernel/bpf/*.c, x86-64, 6.18) -----
# bpf_attr carries key_size, value_size, max_entries and map_flags as __u32
# and map_extra as __u64.
BPF_ATTR_U32_LIMIT = 1 << 32
BPF_ATTR_U64_LIMIT = 1 << 64
HTAB_BUCKET_SIZE = 16               # sizeof(struct bucket): n_buckets * 16 must fit a u32
HTAB_MAX_ENTRIES = 1 << 31          # htab_map_alloc: more is E2BIG
ARRAY_VALUE_SIZE_MAX = 0x7FFFFFFF   # INT_MAX: array_map_alloc_check's E2BIG
LPM_TRIE_NODE_SIZE = 24             # sizeof(struct lpm_trie_node), part of LPM_VAL_SIZE_MAX
STACK_MAP_MAX_ENTRIES = 1 << 31     # stack_map_alloc: more is E2BIG
STACK_MAP_BUCKET_SIZE = 16          # sizeof(struct stack_map_bucket) before its frames
FD_ARRAY_SLOT_SIZE = 8              # a pointer per slot of prog, perf-event and map arrays

# --- include/uapi/asm-generic/mman.h (x86, arm64, riscv...) -------------------
MAP_NORESERVE = 0x4000
"""mmap flag: reserve address space without committing memory (Python's
mmap module names it only from 3.13)."""

# --- helper limits (include/linux/bpf.h, kernel/trace/bpf_trace.c, lib/vsprintf.c) --
MAX_BPRINTF_BUF = 1024              # bytes a trace_printk line holds, NUL included
MAX_BPRINTF_BIN_ARGS = 512          # bytes of copied string arguments per printf call
MAX_BPRINTF_VARARGS = 12            # arguments of bpf_snprintf and bpf_trace_vprintk
MAX_TRACE_PRINTK_VARARGS = 3        # arguments of bpf_trace_printk
FIELD_WIDTH_MAX = (1 << 23) - 1     # printf field widths are clamped to this
TASK_COMM_LEN = 16                  # include/linux/sched.h

# --- include/uapi/linux/ptrace.h: starting a traced command stopped at exec ----
PTRACE_TRACEME = 0
"""The calling process asks to be traced: it stops with SIGTRAP after execve."""
PTRACE_DETACH = 17
"""Stop tracing a process and let it run."""
