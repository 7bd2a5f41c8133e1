"""Names for stack addresses (pybpf.kernel.stack_symbols), shared by the
profiling tools and pybpf trace's ustack/usym."""

from __future__ import annotations

import ctypes
import os

from pybpf.kernel.stack_symbols import UNKNOWN, SymbolTable, UserSymbols


def test_a_strong_name_is_preferred_over_a_weak_alias():
    table = SymbolTable([(0x100, 0x20, "getpid", True), (0x100, 0x20, "__getpid", False),
                         (0x200, 0x10, "other", False)])
    assert table.symbol_of(0x104) == ("__getpid", 4)
    assert table.name_of(0x100) == "__getpid"
    assert table.symbol_of(0x130) is None                 # past the sized symbol
    assert table.symbol_of(0x130, sized=False) == ("__getpid", 0x30)
    assert table.symbol_of(0x50) is None
    plain = SymbolTable([(0x100, 0, "b"), (0x100, 0, "a")])   # no binding given: by name
    assert plain.name_of(0x100) == "b"


def test_user_symbols_name_a_libc_function_with_its_offset():
    libc = ctypes.CDLL("libc.so.6")
    malloc = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    user = UserSymbols()
    assert user.symbol(os.getpid(), malloc + 3) == ("malloc", 3)
    assert user.name(os.getpid(), malloc) == "malloc"
    assert user.symbol(os.getpid(), 8) is None
    assert user.name(os.getpid(), 8) == UNKNOWN
