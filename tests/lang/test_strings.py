"""A char array compared with a string constant (``comm == b"bash"``): equal
when it holds the bytes and then a NUL, or ends with them, as ``strcmp``
says — the same answer in the VM, the kernel and CPython (where the array
is ``bytes`` cut at its first NUL)."""

from __future__ import annotations

import pytest

from pybpf.lang import CompileError
from pybpf.lang.compiler import compile_module, load_module

SOURCE = '''
from pybpf.lang import Array, Struct, char, socket_filter, u32, u64


class Name(Struct):
    text: char[8]


names = Array[u32, Name](max_entries=5)
out = Array[u32, u64](max_entries=10)


@socket_filter
def prog(skb) -> int:
    for i in range(5):
        n = names.get(i)
        if n is not None:
            out[i] = 1 if n.text == b"bash" else 0
            out[5 + i] = 1 if "bashbash" != n.text else 0
    return 0
'''

NAMES = [b"bash", b"bashx", b"bas", b"", b"bashbash"]


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_a_char_array_equals_a_string_as_strcmp_says(tmp_path, backend):
    from pybpf.lang.run import load

    path = tmp_path / "names.py"
    path.write_text(SOURCE)
    module = load_module(path)
    with load(compile_module(module), backend=backend) as f:
        for i, name in enumerate(NAMES):
            module.names[i] = module.Name(text=name)
        f.collection.programs["prog"].test_run(bytes(40))
        got = [module.out[i] for i in range(10)]
    cpython = [int(n == b"bash") for n in NAMES] + [int(n != b"bashbash") for n in NAMES]
    assert got == cpython == [1, 0, 0, 0, 0, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("expr, message", [
    ("n.text == b'ba\\0sh'", "holds a NUL"),
    ("skb.len == b'x'", "compares with a char array"),
])
def test_what_cannot_be_compared_is_refused(tmp_path, expr, message):
    path = tmp_path / "bad.py"
    path.write_text(SOURCE.replace('n.text == b"bash"', expr))
    with pytest.raises(CompileError, match=message):
        compile_module(load_module(path))
