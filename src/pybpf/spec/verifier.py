"""The kernel verifier's limits and constants (Linux 6.18), as its
``include/linux/bpf_verifier.h``, ``include/linux/bpf.h`` and
``kernel/bpf/verifier.c`` define them.  :mod:`pybpf.verifier` reads them
here; nothing else spells these numbers."""

from __future__ import annotations

BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000
"""Instructions a privileged program's verification may process."""
BPF_MAXINSNS = 4096
"""Instructions an unprivileged program may have."""
BPF_COMPLEXITY_LIMIT_JMP_SEQ = 8192
"""Branches waiting to be explored at once."""
BPF_COMPLEXITY_LIMIT_STATES = 64
"""States kept per instruction for pruning before older ones go (unused by
the kernel's own heuristics today, kept for reference)."""
MAX_CALL_FRAMES = 8
"""Nested bpf-to-bpf calls (the main program counts)."""
MAX_BPF_STACK = 512
"""Stack bytes per frame, and in total along a call chain."""
MAX_BPF_REG = 11
MAX_BPF_FUNC_ARGS = 5
MAX_BPF_FUNC_REG_ARGS = 5
BPF_MAX_SUBPROGS = 256
BPF_MAX_VAR_OFF = 1 << 29
"""Largest offset a pointer may be moved by (variable or fixed)."""
BPF_MAX_VAR_SIZ = 1 << 29
MAX_PACKET_OFF = (1 << 16) - 1
BPF_REG_SIZE = 8
LINKED_REGS_MAX = 6
MAX_BPF_LINKED_REGS = 6
BPF_GLOBAL_PERCPU_MA_MAX_SIZE = 512
MAX_TAIL_CALL_CNT = 33
BPF_MAX_LOOPS = 1 << 23
BPF_MAX_INLINE_LOOPS = 1 << 23
CALLBACK_UNROLL_DEPTH_LIMIT = 1 << 13
BPF_MAX_TIMED_LOOPS = (1 << 16) - 1
BPF_LOG_MIN_ALIGNMENT = 8
BPF_LOG_ALIGNMENT = 40
STATES_PER_INSN_MISS_FACTOR = 3
"""A kept state that misses more than this times its hits (plus this) goes."""
STATE_NEW_AFTER_JMPS = 20
STATE_NEW_AFTER_INSNS = 100
"""Inside a loop, a new state is kept only after this many branches or
instructions since the last one."""
LOOP_CHECKPOINT_MISS_FACTOR = 64

TRACING_RETVAL_ARG = "retval"

# fields of the opcode byte, as the verifier splits it
CLASS_MASK = 0x07
"""``BPF_CLASS(code)``."""
SRC_MASK = 0x08
"""``BPF_SRC(code)``: immediate (K) or register (X) operand."""
SIZE_MASK = 0x18
"""``BPF_SIZE(code)`` of loads and stores."""
MODE_MASK = 0xE0
"""``BPF_MODE(code)`` of loads and stores."""
OP_MASK = 0xF0
"""``BPF_OP(code)`` of ALU and jump instructions."""
