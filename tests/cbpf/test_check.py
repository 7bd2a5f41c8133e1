"""The classic checker: each rule of bpf_check_classic and seccomp's, and
agreement with the kernel itself on random programs, valid or not."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from programs import any_programs

from pybpf.cbpf import FilterError, assemble, check, first_problem
from pybpf.cbpf import insn as c
from pybpf.cbpf.sockets import kernel_accepts
from pybpf.spec import cbpf as C

AD = C.SKF_AD_OFF & 0xFFFFFFFF


@pytest.mark.parametrize("text, pc, reason", [
    ("", None, "1 to 4096"),
    (".insn 0xe, 0, 0, 0", 0, "not a classic instruction"),  # ret x
    (".insn 0x81, 1, 0, 0\nret #0", None, None),  # jt of a non-jump is ignored
    ("ld #1\ndiv #0\nret a", 1, "div by the constant 0"),
    ("ld #1\nmod #0\nret a", 1, "mod by the constant 0"),
    ("ld #1\nlsh #32\nret a", 1, "shift by 32"),
    ("ld #1\nrsh #31\nret a", None, None),
    ("st M[16]\nret #0", 0, "M[16]"),
    (".insn 0x05, 0, 0, 1\nret #0", 0, "past the end"),
    (".insn 0x15, 0, 1, 0\nret #0", 0, "past the end"),
    (f".insn 0x20, 0, 0, {AD + C.SKF_AD_MAX:#x}\nret a", 0, "no such ancillary"),
    (f".insn 0x28, 0, 0, {AD + 2:#x}\nret a", 0, "no such ancillary"),
    (f".insn 0x40, 0, 0, {AD + 2:#x}\nret a", None, None),  # indirect: not ancillary
    ("ld #1", 0, "must be a return"),
    ("ld M[3]\nret a", 0, "M[3] is loaded before"),
    ("jeq #1, a, b\na: st M[1]\nb: ld M[1]\nret a", 2, "M[1]"),
    ("st M[1]\njeq #1, a, b\na: ld #2\nb: ld M[1]\nret a", None, None),
    # the kernel's quirk: a return does not reset the stored set for what follows
    ("st M[0]\nret #0\nld M[0]\nret a", None, None),
])
def test_rules(text, pc, reason):
    program = assemble(text) if text else []
    problem = first_problem(program)
    if reason is None:
        assert problem is None
        check(program)
        return
    assert problem is not None and reason in problem.reason and problem.pc == pc
    with pytest.raises(FilterError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        check(program)


def test_the_size_limit():
    assert first_problem([c.ret(0)] * C.BPF_MAXINSNS) is None
    assert "1 to 4096" in first_problem([c.ret(0)] * (C.BPF_MAXINSNS + 1)).reason


@pytest.mark.parametrize("text, reason", [
    ("ld [4]\nret a", None),
    ("ld [60]\nret a", None),
    ("ld [64]\nret a", "no aligned word"),
    ("ld [2]\nret a", "no aligned word"),
    ("ldh [0]\nret a", "32-bit words"),
    ("ld [x + 0]\nret a", "not allowed"),
    ("ldx 4*([0]&0xf)\nret a", "not allowed"),
    ("ld #len\nldx #len\nret a", None),
    ("ld #proto\nret a", "no aligned word"),
])
def test_seccomp_rules(text, reason):
    problem = first_problem(assemble(text), seccomp=True)
    assert (problem is None) if reason is None else (reason in problem.reason)


@pytest.mark.kernel
@given(program=any_programs())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_checker_agrees_with_the_kernel(program):
    expected = kernel_accepts(program)
    problem = first_problem(program)
    assert (problem is None) == (expected == 0), f"kernel errno {expected}, ours {problem}: " \
        f"{[tuple(i) for i in program]}"
