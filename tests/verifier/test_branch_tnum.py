"""``if r0 == K`` where a bit the verifier knows in ``r0`` differs from K's
can never be taken: the kernel (6.18) sees it from the tnums and explores
only the other way.  Without that check the verifier walked the dead branch,
narrowed ``r0`` to a range its tnum excludes and stopped on a REG INVARIANTS
VIOLATION (found by the pybpf.lang differential test: ``v2 % (v0 == 8)``
after ``v0`` had bit 1 known set)."""

from __future__ import annotations

import pytest

from pybpf.isa import assemble
from pybpf.verifier import verify


def _program():
    # xdp_md.ingress_ifindex masked: r0 has bit 1 set, is in [2, 218]; 8 has it clear
    return list(assemble("""
        r0 = *(u32 *)(r1 + 12)
        r0 &= 0xd8
        r0 |= 2
        if r0 == 8 goto bad
        r0 = 0
        exit
    bad:
        r0 = *(u8 *)(r0 + 0)
        exit
    """))


def test_a_comparison_the_tnum_rules_out_is_a_dead_branch():
    result = verify(_program(), prog_type="xdp")
    assert result.verdict == "accept", result.message


def test_a_comparison_the_tnum_allows_is_explored():
    insns = list(assemble("""
        r0 = *(u32 *)(r1 + 12)
        r0 &= 0xd8
        r0 |= 2
        if r0 == 10 goto bad
        r0 = 0
        exit
    bad:
        r0 = *(u8 *)(r0 + 0)
        exit
    """))
    result = verify(insns, prog_type="xdp")
    assert result.verdict == "reject"
    assert "invalid mem access 'scalar'" in result.message


@pytest.mark.kernel
def test_the_kernel_agrees():
    from pybpf.kernel import KernelProgram

    KernelProgram.load(_program(), "xdp", name="branch_tnum").close()
