"""Programs outside the subset are refused at compile time with the Python
file, line and column and what is not allowed; verifier rejections name the
Python line."""

from __future__ import annotations

import textwrap

import pytest

from pybpf.errors import BPFError
from pybpf.lang import compile_file
from pybpf.lang.errors import CompileError

HEADER = ("from pybpf.lang import HashMap, Knob, Global, function, socket_filter, "
          "u32, u64\n\n"
          "counts = HashMap[u32, u64](max_entries=16)\nknob = Knob(u32, 0)\n\n\n")
HEADER_LINES = HEADER.count("\n")


def refused(tmp_path, body: str) -> CompileError:
    path = tmp_path / "prog.py"
    path.write_text(HEADER + textwrap.dedent(body))
    with pytest.raises(CompileError) as info:
        compile_file(path)
    assert isinstance(info.value, BPFError)
    assert info.value.path == str(path)
    return info.value


CASES = [
    # (body, line within the body, column, message)
    ("""
     @socket_filter
     def prog(ctx) -> int:
         while True:
             pass
         return 0
     """, 4, 5, "unbounded loop"),
    ("""
     @function
     def f(n: u32) -> u32:
         return g(n)

     @function
     def g(n: u32) -> u32:
         return f(n)

     @socket_filter
     def prog(ctx) -> int:
         return f(1)
     """, 8, 12, "recursion is not allowed"),     # the call that closes the cycle
    ("""
     @socket_filter
     def prog(ctx) -> int:
         xs = [1, 2, 3]
         return 0
     """, 4, 10, "a Python list cannot live in an eBPF program; use an Array map"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         d = {}
         return 0
     """, 4, 9, "a Python dict cannot live in an eBPF program; use a HashMap"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         x = u32(7) / 2
         return 0
     """, 4, 9, "use '//' for integer division"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         try:
             pass
         except Exception:
             pass
         return 0
     """, 4, 5, "a try statement is not allowed in an eBPF program"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         knob = 3
         return 0
     """, 4, 5, "'knob' is a Knob (const volatile): programs cannot assign it"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         return nowhere + 1
     """, 4, 12, "name 'nowhere' is not defined"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         return bpf_map_lookup_elem(1)
     """, 4, 12, "takes 2 arguments"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         f = lambda x: x
         return 0
     """, 4, 9, "lambda is not allowed"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         s = "text"
         return 0
     """, 4, 9, "a string cannot be a value here"),
    ("""
     @function
     def helper(x) -> u32:
         return x

     @socket_filter
     def prog(ctx) -> int:
         return helper(1)
     """, 3, 12, "parameter 'x' of helper() needs a type annotation"),
    ("""
     @socket_filter
     def prog(ctx) -> int:
         for i in [1, 2]:
             pass
         return 0
     """, 4, 5, "only 'for NAME in range(...)' loops are allowed"),
]


@pytest.mark.parametrize("body, line, column, message", CASES,
                         ids=[c[3].split(":")[0][:30] for c in CASES])
def test_refusal_names_the_place_and_the_reason(tmp_path, body, line, column, message):
    e = refused(tmp_path, body)
    assert message in e.reason
    assert (e.line, e.column) == (HEADER_LINES + line, column), str(e)
    assert str(e).startswith(f"{e.path}:{e.line}:{e.column}: ")


def test_a_file_without_programs_is_refused(tmp_path):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    with pytest.raises(CompileError, match="declares no program"):
        compile_file(path)


NULL_DEREF = """
@socket_filter
def prog(ctx) -> int:
    v = counts.get(1)
    return v[0]
"""


def test_a_verifier_refusal_in_the_vm_names_the_python_line(tmp_path):
    from pybpf.lang.run import load

    path = tmp_path / "nullderef.py"
    path.write_text(HEADER + NULL_DEREF)
    with pytest.raises(BPFError) as info:
        load(path, backend="vm")
    assert "map_value_or_null" in str(info.value)
    assert f"return v[0] @ nullderef.py:{HEADER_LINES + 5}" in str(info.value)


@pytest.mark.kernel
def test_a_kernel_verifier_refusal_names_the_python_line(tmp_path):
    from pybpf.errors import VerifierError
    from pybpf.lang.run import load

    path = tmp_path / "nullderef.py"
    path.write_text(HEADER + NULL_DEREF)
    with pytest.raises(VerifierError) as info:
        load(path, backend="kernel")
    assert "map_value_or_null" in str(info.value)
    assert f"nullderef.py:{HEADER_LINES + 5}: return v[0]" in str(info.value)
