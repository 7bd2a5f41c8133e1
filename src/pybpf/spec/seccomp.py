"""seccomp's ABI: filter return actions, ``struct seccomp_data``, the
``seccomp()`` and ``prctl()`` operations, and the audit architecture
numbers a filter compares ``seccomp_data.arch`` with.

From ``include/uapi/linux/seccomp.h``, ``include/uapi/linux/prctl.h``,
``include/uapi/linux/audit.h`` and ``include/uapi/linux/elf-em.h``.
"""

from __future__ import annotations

# --- filter return values: action in the high 16 bits, data in the low ----------------
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_KILL = SECCOMP_RET_KILL_THREAD
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_ACTION = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

ACTIONS = {
    "kill_process": SECCOMP_RET_KILL_PROCESS,
    "kill_thread": SECCOMP_RET_KILL_THREAD,
    "trap": SECCOMP_RET_TRAP,
    "errno": SECCOMP_RET_ERRNO,
    "user_notif": SECCOMP_RET_USER_NOTIF,
    "trace": SECCOMP_RET_TRACE,
    "log": SECCOMP_RET_LOG,
    "allow": SECCOMP_RET_ALLOW,
}
"""Each action by name -> its value (the high 16 bits of a return)."""

ACTION_PRECEDENCE = ("kill_process", "kill_thread", "trap", "errno", "user_notif", "trace",
                     "log", "allow")
"""The actions from the one that wins when stacked filters disagree to the
one that loses (seccomp(2): the kernel runs every filter and keeps the
highest-precedence result)."""

# --- struct seccomp_data --------------------------------------------------------------
SECCOMP_DATA_SIZE = 64
SECCOMP_DATA_NR = 0
"""int nr: the system call number."""
SECCOMP_DATA_ARCH = 4
"""__u32 arch: an AUDIT_ARCH_* value."""
SECCOMP_DATA_IP = 8
"""__u64 instruction_pointer."""
SECCOMP_DATA_ARGS = 16
"""__u64 args[6]."""
SECCOMP_DATA_NARGS = 6

# --- seccomp(2) ------------------------------------------------------------------------
SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3

SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5

SECCOMP_MODE_DISABLED = 0
SECCOMP_MODE_STRICT = 1
SECCOMP_MODE_FILTER = 2

# --- prctl(2) ----------------------------------------------------------------------------
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# --- audit.h / elf-em.h: seccomp_data.arch ------------------------------------------------
EM_386 = 3
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
AUDIT_ARCH_64BIT = 0x80000000
AUDIT_ARCH_LE = 0x40000000

AUDIT_ARCH_I386 = EM_386 | AUDIT_ARCH_LE
AUDIT_ARCH_ARM = EM_ARM | AUDIT_ARCH_LE
AUDIT_ARCH_X86_64 = EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE
AUDIT_ARCH_AARCH64 = EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE
AUDIT_ARCH_RISCV64 = EM_RISCV | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE

AUDIT_ARCHES = {
    "x86_64": AUDIT_ARCH_X86_64,
    "i386": AUDIT_ARCH_I386,
    "aarch64": AUDIT_ARCH_AARCH64,
    "arm": AUDIT_ARCH_ARM,
    "riscv64": AUDIT_ARCH_RISCV64,
}
"""``platform.machine()`` names -> AUDIT_ARCH_* values."""

X32_SYSCALL_BIT = 0x40000000
"""x86-64: system call numbers with this bit set are the x32 ABI's."""

# --- the seccomp() system call number, per architecture --------------------------------------
NR_SECCOMP = {"x86_64": 317, "aarch64": 277, "riscv64": 277, "i386": 354, "arm": 383}
