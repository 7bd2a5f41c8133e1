"""Shifts by a register: the kernel computes the result only when the amount
is a known constant below the width, judged on the whole 64-bit amount even
for a 32-bit shift.  ``w1 <<= w0`` with ``r0 = 0x100000000`` shifts by 0 at
run time, yet the kernel makes ``r1`` unknown; a verifier that folded the
known operands to 0 pruned the branch below and accepted a scalar deref
(found by the differential fuzz)."""

from __future__ import annotations

import pytest

from pybpf.errors import VerifierError
from pybpf.isa import assemble
from pybpf.verifier import verify

SHIFTS = ["<<=", ">>=", "s>>="]


def _program(shift: str):
    return list(assemble(f"""
        r0 = 0x100000000 ll
        r1 = 0
        w1 {shift} w0
        if r1 == 0 goto out
        r1 = *(u8 *)(r1 + 0)
    out:
        r0 = 0
        exit
    """))


@pytest.mark.parametrize("shift", SHIFTS)
def test_a_32_bit_shift_by_a_64_bit_amount_of_32_or_more_is_unknown(shift):
    result = verify(_program(shift), prog_type="xdp")
    assert result.verdict == "reject"
    assert result.message == "R1 invalid mem access 'scalar'"


@pytest.mark.parametrize("shift", SHIFTS)
def test_an_amount_below_32_in_all_64_bits_is_still_computed(shift):
    insns = list(assemble(f"""
        r0 = 1
        r1 = 0
        w1 {shift} w0
        if r1 == 0 goto out
        r1 = *(u8 *)(r1 + 0)
    out:
        r0 = 0
        exit
    """))
    assert verify(insns, prog_type="xdp").verdict == "accept"


@pytest.mark.kernel
@pytest.mark.parametrize("shift", SHIFTS)
def test_the_kernel_agrees(shift):
    from pybpf.kernel import KernelProgram

    with pytest.raises(VerifierError) as e:
        KernelProgram.load(_program(shift), "xdp", name="shift_bounds").close()
    assert "R1 invalid mem access 'scalar'" in e.value.log
