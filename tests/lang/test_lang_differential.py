"""Generated programs over typed integers (arithmetic, comparisons,
branches, loops, a subprogram) compute in the VM — and in the kernel —
what the same Python file computes when CPython runs it, where the type
constructors (u32(x)...) give C's integer semantics (pybpf.lang.cint)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf import vm
from pybpf.lang import compile_file
from pybpf.lang.cint import literal_type
from pybpf.lang.compiler import load_module

TYPES = ["u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64"]
BITS = {"8": 8, "16": 16, "32": 32, "64": 64}
OPS = ["+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>"]
CMPS = ["==", "!=", "<", "<=", ">", ">="]
NVARS = 4


def literal(draw) -> str:
    """A constant, typed as C types its literal (so CPython computes in C's types
    even where a plain Python int would not: two literals, negative shifts)."""
    value = draw(st.one_of(st.integers(-3, 300), st.integers(-(1 << 63), (1 << 64) - 1),
                           st.sampled_from([0, 1, -1, 255, 65535, (1 << 31) - 1, 1 << 31,
                                            (1 << 32) - 1, (1 << 63) - 1])))
    return f"{literal_type(value).name}({value})"


@st.composite
def expression(draw, depth: int = 0) -> str:
    if depth >= 2 or draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            return f"v{draw(st.integers(0, NVARS - 1))}"
        return literal(draw)
    kind = draw(st.integers(0, 5))
    a = draw(expression(depth + 1))
    b = draw(expression(depth + 1))
    if kind == 0:
        return f"({a} {draw(st.sampled_from(CMPS))} {b})"
    if kind == 1:
        return f"(-{a})" if draw(st.booleans()) else f"(~{a})"
    if kind == 2:
        t = draw(st.sampled_from(TYPES))
        return f"{t}({a})"
    if kind == 3:               # both branches of one type, as the subset requires
        t = draw(st.sampled_from(TYPES))
        return f"({t}({a}) if {draw(expression(depth + 1))} else {t}({b}))"
    return f"({a} {draw(st.sampled_from(OPS))} {b})"


@st.composite
def statements(draw, types: list[str], depth: int = 0, loop_vars: int = 0) -> list[str]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 6 if depth < 2 else 2))
        target = draw(st.integers(0, NVARS - 1))
        if kind <= 2:
            out.append(f"v{target} = {types[target]}({draw(expression())})")
        elif kind == 3:
            out.append(f"v{target} = {types[target]}(mix(v{target}, {draw(expression())}))")
        elif kind == 4:
            out.append(f"if {draw(expression())}:")
            out += ["    " + s for s in draw(statements(types, depth + 1, loop_vars))]
            if draw(st.booleans()):
                out.append("else:")
                out += ["    " + s for s in draw(statements(types, depth + 1, loop_vars))]
        else:
            var = f"i{depth}_{len(out)}"
            out.append(f"for {var} in range({draw(st.integers(0, 4))}):")
            body = draw(statements(types, depth + 1, loop_vars + 1))
            body.append(f"v{target} = {types[target]}(v{target} + {var})")
            if draw(st.booleans()):
                body.insert(0, f"if v{target} > {draw(st.integers(0, 200))}:")
                body.insert(1, "    break")
            out += ["    " + s for s in body]
    return out


@st.composite
def program_source(draw) -> str:
    types = [draw(st.sampled_from(TYPES)) for _ in range(NVARS)]
    inits = [literal(draw) for _ in range(NVARS)]
    body = draw(statements(types))
    lines = [
        "from pybpf.lang import Global, function, socket_filter, " + ", ".join(TYPES),
        *(f"r{i} = Global({t})" for i, t in enumerate(types)),
        "",
        "@function",
        "def mix(a: u64, b: s32) -> u64:",
        "    return a * 31 + u64(b)",
        "",
        "@socket_filter",
        "def prog(ctx) -> int:",
        "    global " + ", ".join(f"r{i}" for i in range(NVARS)),
        *(f"    v{i} = {t}({init})" for i, (t, init) in enumerate(zip(types, inits))),
        *("    " + s for s in body),
        *(f"    r{i} = v{i}" for i in range(NVARS)),
        "    return 0",
        "",
    ]
    return "\n".join(lines)


def expected_results(path: Path) -> dict[str, int]:
    module = load_module(path)
    module.prog(None)
    return {f"r{i}": int(getattr(module, f"r{i}")) for i in range(NVARS)}


def check(source: str, run) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "generated.py"
        path.write_text(source)
        compiled = compile_file(path)
        want = expected_results(path)
        got = run(compiled.object_spec())
    assert got == want, source


def run_in_vm(spec) -> dict[str, int]:
    with vm.load(spec) as coll:
        assert coll.programs["prog"].test_run(b"\0" * 64).retval == 0
        return dict(coll.maps[".bss"][0])


def run_in_kernel(spec) -> dict[str, int]:
    from pybpf import kernel

    with kernel.load(spec) as coll:
        assert coll.programs["prog"].test_run(b"\0" * 64).retval == 0
        return dict(coll.maps[".bss"][0])


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


@settings(max_examples=50, **SETTINGS)
@given(program_source())
def test_generated_programs_compute_what_cpython_computes_in_the_vm(source):
    check(source, run_in_vm)


@pytest.mark.kernel("test_run")
@settings(max_examples=25, **SETTINGS)
@given(program_source())
def test_generated_programs_compute_what_cpython_computes_in_the_kernel(source):
    check(source, run_in_kernel)


@pytest.mark.slow
@settings(max_examples=500, **SETTINGS)
@given(program_source())
def test_many_generated_programs_in_the_vm(source):
    check(source, run_in_vm)


def test_a_known_program_with_every_rule():
    source = "\n".join([
        "from pybpf.lang import Global, socket_filter, u8, u16, u32, u64, s8, s16, s32, s64",
        "r0 = Global(u32)", "r1 = Global(s64)", "r2 = Global(u8)", "r3 = Global(s16)",
        "@socket_filter",
        "def prog(ctx) -> int:",
        "    global r0, r1, r2, r3",
        "    r0 = u32(u32(1) - 2)",                 # wraps
        "    r1 = s64(s32(-7) // 2) * 10 + s64(s32(-7) % 2)",   # truncating: -3*10 + -1
        "    r2 = u8(u32(5) > -1)",                 # -1 becomes u32 max: false
        "    r3 = s16(s8(-128) // s8(-1)) + s16(u64(9) // 0) + s16(u8(7) % 0)",
        "    return 0",
    ])
    check(source, run_in_vm)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "known.py"
        path.write_text(source)
        assert expected_results(path) == {"r0": (1 << 32) - 1, "r1": -31, "r2": 0,
                                          "r3": 128 + 0 + 7}


DEAD_BRANCH = """from pybpf.lang import Global, function, socket_filter, u8, u16, u32, u64, s8, s16, s32, s64
r0 = Global(u8)
r1 = Global(u8)
r2 = Global(u8)
r3 = Global(u8)

@function
def mix(a: u64, b: s32) -> u64:
    return a * 31 + u64(b)

@socket_filter
def prog(ctx) -> int:
    global r0, r1, r2, r3
    v0 = u8(s32(0))
    v1 = u8(s32(0))
    v2 = u8(s32(0))
    v3 = u8(s32(2))
    for i0_0 in range(3):
        for i1_0 in range(2):
            v2 = u8(((s32(54) + s64(13074873598)) // (s32(0) - v3)))
            v0 = u8(v0)
            v3 = u8((~(v3 | s32(39))))
            v1 = u8(v1 + i1_0)
        v0 = u8(mix(v0, v3))
        v3 = u8((v2 % (v0 == s32(8))))
        v0 = u8(s32(-2))
        v3 = u8(v3 + i0_0)
    r0 = v0
    r1 = v1
    r2 = v2
    r3 = v3
    return 0
"""


@pytest.mark.parametrize("run", [run_in_vm, pytest.param(run_in_kernel, marks=pytest.mark.kernel(
    "test_run"))], ids=["vm", "kernel"])
def test_a_generated_program_with_a_branch_only_the_tnum_shows_dead(run):
    """Found by the slow run: ``v0 == 8`` where v0 has bit 1 known set.  The
    kernel skips the branch; pybpf's verifier walked it into a REG
    INVARIANTS VIOLATION until it compared tnums too."""
    check(DEAD_BRANCH, run)
