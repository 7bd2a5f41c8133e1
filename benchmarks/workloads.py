"""Fixed workloads for the instruction-speed benchmarks.

Each workload is a self-contained program (uBPF syntax) that needs no input
memory and no helpers, so the same bytes run in the userspace VM, in the C
reference interpreter and in the kernel under BPF_PROG_TEST_RUN (written so
the kernel's verifier accepts them: bounded counters, no pointer compares).
"""

from __future__ import annotations

LOOP = """
# A counting loop of 100000 iterations.
    mov %r0, 0
    mov %r1, 100000
loop:
    add %r0, 1
    sub %r1, 1
    jne %r1, 0, loop
    exit
"""

FNV1A = """
# FNV-1a-64 over a 512-byte stack buffer filled with a pattern.
    mov %r1, 0
    mov %r2, %r10
    add %r2, -512
fill:
    mov %r3, %r1
    mul %r3, 7
    add %r3, 3
    stxb [%r2+0], %r3
    add %r2, 1
    add %r1, 1
    jne %r1, 512, fill
    lddw %r0, 0xcbf29ce484222325
    lddw %r4, 0x100000001b3
    mov %r2, %r10
    add %r2, -512
    mov %r1, 0
hash:
    ldxb %r3, [%r2+0]
    xor %r0, %r3
    mul %r0, %r4
    add %r2, 1
    add %r1, 1
    jne %r1, 512, hash
    exit
"""

XORSHIFT = """
# xorshift64 iterated 50000 times (the kernel's verifier walks every iteration).
    lddw %r0, 0x2545f4914f6cdd1d
    mov %r1, 50000
loop:
    mov %r2, %r0
    lsh %r2, 13
    xor %r0, %r2
    mov %r2, %r0
    rsh %r2, 7
    xor %r0, %r2
    mov %r2, %r0
    lsh %r2, 17
    xor %r0, %r2
    sub %r1, 1
    jne %r1, 0, loop
    exit
"""

WORKLOADS = {"loop": LOOP, "fnv1a": FNV1A, "xorshift": XORSHIFT}


def expected_results() -> dict[str, int]:
    """What each workload returns, computed in plain Python."""
    m = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for i in range(512):
        h = ((h ^ ((i * 7 + 3) & 0xFF)) * 0x100000001B3) & m
    x = 0x2545F4914F6CDD1D
    for _ in range(50000):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
    return {"loop": 100000, "fnv1a": h, "xorshift": x}
