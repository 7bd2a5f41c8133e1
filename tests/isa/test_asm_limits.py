"""Hostile assembly text: oversize numerals, long lines, many labels, deep
nesting.  Each gives an AssemblerError naming line and column (never another
exception), in time linear in the text."""

from __future__ import annotations

import contextlib
import time

import pytest

from pybpf.errors import AssemblerError
from pybpf.isa import assemble

SYNTAXES = ["ubpf", "llvm"]


def _error(text: str, syntax: str = "auto") -> AssemblerError:
    with pytest.raises(AssemblerError) as info:
        assemble(text, syntax)
    assert info.value.line is not None and info.value.column is not None
    return info.value


@pytest.mark.parametrize("text", [
    "mov r0, " + "9" * 5000,
    "mov r0, -" + "9" * 5000,
    "mov32 r0, 0x" + "f" * 5000,
    "lddw r1, " + "1" * 5000,
    "jeq r1, " + "7" * 5000 + ", +1",
    "ja +" + "3" * 5000,
    ".insn " + "1" * 5000 + ", 0, 0, 0, 0",
    "ldxw r0, [r1+" + "4" * 5000 + "]",
], ids=["mov", "neg", "hex", "lddw", "jeq", "ja", "insn", "ldxw"])
def test_a_5000_digit_numeral_is_an_assembler_error(text):
    err = _error(text + "\nexit", "ubpf")
    assert err.line == 1
    assert "too large" in str(err)
    assert len(str(err)) < 200  # the numeral is shortened in the message


@pytest.mark.parametrize("text", [
    "r0 = " + "9" * 5000,
    "r0 = 0x" + "f" * 5000 + " ll",
    "r0 = *(u32 *)(r1 + " + "8" * 5000 + ")",
    "if r1 > " + "5" * 5000 + " goto +1",
    "r" + "1" * 5000 + " = 1",
], ids=["mov", "lddw", "load", "jump", "register"])
def test_oversize_numerals_in_llvm_syntax(text):
    err = _error(text, "llvm")
    assert err.column is not None and err.column >= 1


def test_leading_zeros_do_not_count():
    assert assemble("mov r0, " + "0" * 6000 + "7\nexit", "ubpf")[0].imm == 7
    assert assemble("mov r0, 0x" + "0" * 6000 + "ff\nexit", "ubpf")[0].imm == 255
    assert assemble("mov r" + "0" * 6000 + "3, 1\nexit", "ubpf")[0].dst == 3


def test_numbers_at_the_edge_of_64_bits():
    lo, hi = assemble("lddw r0, 18446744073709551615\nexit", "ubpf")[:2]
    assert (lo.imm, hi.imm) == (-1, -1)
    assert "out of range" in str(_error("lddw r0, 18446744073709551616\nexit", "ubpf"))
    assert "out of range" in str(_error("lddw r0, 99999999999999999999\nexit", "ubpf"))
    assert "too large" in str(_error("lddw r0, 0x1" + "0" * 16 + "\nexit", "ubpf"))


@pytest.mark.parametrize("syntax", SYNTAXES)
def test_deep_nesting_is_an_error_not_a_recursion(syntax):
    text = ("r0 = *(u32 *)" if syntax == "llvm" else "ldxw r0, ") + "(" * 100_000 + "r1)"
    _error(text, syntax)


def test_long_names_are_shortened_in_messages():
    err = _error("ja " + "a" * 100_000 + "\nexit", "ubpf")
    assert "undefined label" in str(err)
    assert len(str(err)) < 200


def _timed(text: str, syntax: str = "ubpf") -> float:
    start = time.perf_counter()
    with contextlib.suppress(AssemblerError):
        assemble(text, syntax)
    return time.perf_counter() - start


def test_many_labels_on_one_line_cost_linear_time():
    # Each label used to copy the rest of the line: 200,000 labels on one
    # line took minutes (quadratic); now well under a second.
    n = 200_000
    text = " ".join(f"l{i}:" for i in range(n)) + " exit"
    assert _timed(text) < 10
    program = assemble(text, "ubpf")
    assert len(program) == 1


def test_huge_label_counts():
    n = 20_000
    text = "\n".join(f"l{i}: ja l{(i * 7) % n}" for i in range(n)) + "\nexit"
    program = assemble(text, "ubpf")
    assert len(program) == n + 1
    assert program[1].off == (7 % n) - 2


@pytest.mark.parametrize("text", [
    "1 " * 200_000,
    " " * 1_000_000 + "x",
    "a" * 1_000_000,
    "1" * 1_000_000 + "x",
    "r0 = " + "-" * 500_000 + "1",
], ids=["numbers", "spaces", "ident", "digits", "signs"])
def test_megabyte_lines_are_refused_quickly(text):
    assert _timed(text, "auto") < 10
