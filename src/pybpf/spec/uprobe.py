"""Facts for probing user space: the SystemTap SDT note format that USDT
probes use, and where the kernel's ``struct pt_regs`` keeps each register a
USDT argument names.  (ELF's own numbers are in :mod:`pybpf.elf.reader`.)
"""

from __future__ import annotations

# --- the SystemTap SDT convention (sys/sdt.h) ---------------------------------------
STAPSDT_NOTE_SECTION = ".note.stapsdt"
STAPSDT_NOTE_OWNER = "stapsdt"
STAPSDT_NOTE_TYPE = 3
STAPSDT_BASE_SECTION = ".stapsdt.base"
"""Its address at link time lets probe addresses be corrected for prelinking."""

# --- arch/x86/include/asm/ptrace.h: struct pt_regs members by register name ---------
X86_64_REGS = {
    "rax": "ax", "eax": "ax", "ax": "ax", "al": "ax",
    "rbx": "bx", "ebx": "bx", "bx": "bx", "bl": "bx",
    "rcx": "cx", "ecx": "cx", "cx": "cx", "cl": "cx",
    "rdx": "dx", "edx": "dx", "dx": "dx", "dl": "dx",
    "rsi": "si", "esi": "si", "si": "si", "sil": "si",
    "rdi": "di", "edi": "di", "di": "di", "dil": "di",
    "rbp": "bp", "ebp": "bp", "bp": "bp", "bpl": "bp",
    "rsp": "sp", "esp": "sp", "sp": "sp", "spl": "sp",
    "rip": "ip",
    **{f"r{n}{s}": f"r{n}" for n in range(8, 16) for s in ("", "d", "w", "b")},
}
"""x86-64 register names (any width) -> ``struct pt_regs`` member."""

AARCH64_REGS = {**{f"x{n}": f"regs[{n}]" for n in range(31)},
                **{f"w{n}": f"regs[{n}]" for n in range(31)},
                "sp": "sp", "pc": "pc"}
"""arm64 register names -> ``struct user_pt_regs`` member (``regs[N]``)."""

AARCH64_PT_REGS_OFFSETS = {**{f"regs[{n}]": 8 * n for n in range(31)}, "sp": 248, "pc": 256}
"""arm64 ``struct user_pt_regs`` member -> byte offset (31 registers, sp, pc)."""

REGISTERS = {"x86_64": X86_64_REGS, "aarch64": AARCH64_REGS, "arm64": AARCH64_REGS}

RETURN_REGISTERS = {"x86_64": "rax", "aarch64": "x0", "arm64": "x0"}
"""The register a function returns its (integer or pointer) value in, by
machine (the SysV x86-64 and AAPCS64 calling conventions)."""
