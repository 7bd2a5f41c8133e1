"""Random classic programs for the property and differential tests.

:func:`classic_programs` draws programs the kernel accepts (repaired until
``first_problem`` finds nothing), using the ancillary loads given;
:func:`any_programs` draws anything, valid or not, to compare the checker
with the kernel's."""

from __future__ import annotations

from hypothesis import strategies as st

from pybpf.cbpf import SockFilter, first_problem
from pybpf.cbpf import insn as c
from pybpf.spec import cbpf as C

U32 = 0xFFFFFFFF
TRANSLATABLE_ANCILLARY = ("protocol", "pkttype", "ifindex", "mark", "queue", "rxhash",
                          "vlan_tag", "vlan_tag_present", "vlan_tpid", "alu_xor_x")
"""Ancillary loads whose translation gives the same value in every backend
(cpu and random do not repeat; hatype, nlattr, nlattr_nest and pay_offset
do not translate)."""

INTERESTING = [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 20, 23, 26, 30, 34, 36, 40, 54, 60, 64,
               100, 255, 256, 0x800, 0x86DD, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, U32]
OFFSETS = [0, 1, 2, 6, 12, 13, 14, 16, 20, 22, 23, 24, 26, 30, 34, 36, 38, 40, 46, 54, 60, 80,
           200, 0x7FFFFFFF, 0xFFFFFFFF]


def _negative(base: int, extra: int) -> int:
    return (base + extra) & U32


_OFFSET_KINDS = st.integers(0, 99)


@st.composite
def offsets(draw) -> int:
    """A packet offset: mostly inside ordinary frames, sometimes at the
    edges, in the negative areas, or anywhere."""
    kind = draw(_OFFSET_KINDS)
    if kind < 70:
        return draw(st.integers(0, 60))
    if kind < 80:
        return draw(st.sampled_from(OFFSETS))
    if kind < 87:
        return _negative(C.SKF_NET_OFF, draw(st.integers(0, 40)))
    if kind < 94:
        return _negative(C.SKF_LL_OFF, draw(st.integers(0, 40)))
    if kind < 96:
        return _negative(C.SKF_LL_OFF, -draw(st.integers(1, 8)))
    return draw(st.integers(0, U32))


constants = st.one_of(st.sampled_from(INTERESTING), st.integers(0, U32), st.integers(0, 70))


@st.composite
def _instruction(draw, remaining: int, ancillary: tuple[str, ...]) -> SockFilter:
    """One non-final instruction with ``remaining`` instructions after it."""
    choice = draw(st.integers(0, 20))
    if choice <= 2:
        return c.ld_abs(draw(st.sampled_from("wbh")), draw(offsets()))
    if choice == 3:
        return c.ld_ind(draw(st.sampled_from("wbh")), draw(offsets()))
    if choice == 4:
        return c.ldx_msh(draw(offsets()))
    if choice == 5:
        return draw(st.sampled_from([c.ld_imm, c.ldx_imm]))(draw(constants))
    if choice == 6:
        return draw(st.sampled_from([c.ld_len(), c.ldx_len(), c.tax(), c.txa(), c.neg()]))
    if choice == 7:
        k = draw(st.integers(0, C.BPF_MEMWORDS - 1))
        return draw(st.sampled_from([c.st, c.stx, c.ld_mem, c.ldx_mem]))(k)
    if choice in (8, 9, 10):
        op = draw(st.sampled_from(["add", "sub", "mul", "div", "mod", "and", "or", "xor", "lsh",
                                   "rsh"]))
        if draw(st.booleans()):
            return c.alu(op, c.X)
        k = draw(constants)
        if op in ("div", "mod") and k == 0:
            k = draw(st.integers(1, 9))
        if op in ("lsh", "rsh"):
            k %= 32
        return c.alu(op, k)
    if choice in (11, 12, 13, 14):
        reach = min(255, remaining - 1)
        op = draw(st.sampled_from(["jeq", "jgt", "jge", "jset"]))
        operand = c.X if draw(st.integers(0, 3)) == 0 else draw(constants)
        return c.cond(op, operand, draw(st.integers(0, reach)), draw(st.integers(0, reach)))
    if choice == 15:
        return c.ja(draw(st.integers(0, remaining - 1)))
    if choice == 16 and draw(st.integers(0, 3)) == 0:
        return draw(_ret())
    if choice in (17, 18) and ancillary:
        return c.ld_ancillary(draw(st.sampled_from(ancillary)), draw(st.sampled_from("wbh")))
    return c.ld_imm(draw(constants))


def _ret():
    return st.one_of(st.just(c.ret(c.A)),
                     st.sampled_from([0, 1, 13, 14, 20, 34, 60, 0xFFFF, U32]).map(c.ret),
                     st.integers(0, U32).map(c.ret))


def repair(program: list[SockFilter]) -> list[SockFilter]:
    """Replace what the checker refuses (loads of unstored scratch words,
    out-of-range jumps) until the kernel would accept the program."""
    program = list(program)
    for _ in range(4 * len(program) + 4):
        problem = first_problem(program)
        if problem is None:
            return program
        pc = problem.pc if problem.pc is not None else len(program) - 1
        insn = program[pc]
        if insn.form is not None and insn.form.kind.name == "LOAD_MEM":
            program[pc] = c.st(insn.k) if insn.form.mnemonic == "ld" else c.stx(insn.k)
        elif pc == len(program) - 1:
            program[pc] = c.ret(c.A)
        else:
            program[pc] = c.ld_imm(insn.k)
    raise AssertionError(f"could not repair {program}")


@st.composite
def classic_programs(draw, max_size: int = 24,
                     ancillary: tuple[str, ...] = TRANSLATABLE_ANCILLARY) -> list[SockFilter]:
    """A classic program the kernel accepts."""
    n = draw(st.integers(1, max_size))
    body = [draw(_instruction(n - pc - 1, ancillary)) for pc in range(n - 1)]
    return repair([*body, draw(_ret())])


@st.composite
def any_programs(draw, max_size: int = 12) -> list[SockFilter]:
    """Any classic program: valid ones, near misses and garbage."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.lists(st.builds(SockFilter, st.integers(0, 0xFF), st.integers(0, 4),
                                       st.integers(0, 4), st.sampled_from(INTERESTING)),
                             min_size=0, max_size=max_size))
    program = draw(classic_programs(max_size, tuple(C.ANCILLARY)))
    if choice == 1 or not program:
        return program
    # break one instruction's field
    at = draw(st.integers(0, len(program) - 1))
    insn = program[at]
    field = draw(st.sampled_from(["code", "jt", "jf", "k"]))
    value = draw(st.integers(0, 0xFF) if field != "k" else st.one_of(
        st.sampled_from([0, 16, 32, 33, (C.SKF_AD_OFF + C.SKF_AD_MAX) & U32,
                         (C.SKF_AD_OFF + 2) & U32, U32]), st.integers(0, U32)))
    program[at] = insn._replace(**{field: value})
    return program
