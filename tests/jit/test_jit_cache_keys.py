"""What the JIT's disk cache keys a program by: its slots packed exactly
(compact when every field fits its encoding, wide otherwise), and the
object kept ready to place."""

from __future__ import annotations

import marshal

import pytest

pytest.importorskip("llvmlite")

from pybpf.isa import Insn, assemble
from pybpf.jit.codegen import Unsupported
from pybpf.jit.loader import NativeCode, link_plan
from pybpf.jit.program import decisive_pcs, packed_program, runtime_code


def test_packed_programs_name_their_slots_exactly():
    a = [Insn(0xB7, 0, 0, 0, 1), Insn(0x95)]
    b = [Insn(0xB7, 0, 0, 0, 2), Insn(0x95)]
    wide = [Insn(0xB7, 0, 0, 0, 1 << 40), Insn(0x95)]
    pa, pb, pw = (packed_program(p) for p in (a, b, wide))
    assert (pa.stride, pw.stride) == (9, 40)
    assert len({pa.digest, pb.digest, pw.digest}) == 3
    assert packed_program(list(a)) == pa                 # the same slots, the same key
    with pytest.raises(Unsupported):
        packed_program([Insn(0x95, 0, 0, 0, 1 << 70)])   # beyond 64 bits: no key


@pytest.mark.parametrize("imm", [0, 1 << 40])
def test_calls_and_lddw_are_found_in_either_packing(imm):
    insns = assemble("lddw %r1, 5\ncall 1\nmov %r0, 0\ncall 5\nexit")
    insns[2] = insns[2]._replace(imm=imm)
    packed = packed_program(insns)
    assert decisive_pcs(insns, packed) == decisive_pcs(insns) == [0, 2, 4]


def test_a_link_plan_survives_the_disk_and_places_the_same_code():
    """The cache keeps loader.link_plan's plain data (marshal), and code
    placed from it has the functions an object file gives."""
    from pybpf.jit.codegen import runtime_module
    from pybpf.jit.llvm import compile_module

    obj = compile_module(runtime_module())
    plan = marshal.loads(marshal.dumps(link_plan(obj)))
    placed, direct = NativeCode.from_plan(plan), NativeCode(obj)
    assert set(placed.symbols) == set(direct.symbols) == set(runtime_code().symbols)
    for name, address in placed.symbols.items():
        offset = address - placed.base
        assert 0 <= offset < placed.size
        assert offset == direct.symbols[name] - direct.base


def test_an_empty_program_packs_to_its_own_key():
    # cli fuzz seed 20261209 case 115: conformance-plugin with no program
    # under --jit met the "last packed" sentinel and got None
    empty = packed_program([])
    assert empty is not None and len(empty.digest) == 32 and empty.data == b""
    assert packed_program([]).digest == empty.digest


@pytest.mark.parametrize("imm", [0, 1 << 40])
def test_packing_a_long_program_keeps_only_its_bytes(imm):
    # PYBPF_JIT=1 tests/vm/test_load_scale.py: a long program's packing kept
    # a struct.Struct made for its length (about 32 bytes a field) in a cache:
    # 550 bytes per instruction to load with the JIT, 145 with the interpreter
    import tracemalloc

    n = 50_000
    insns = [Insn(0xB7, i % 10, 0, 0, imm + i) for i in range(n)] + [Insn(0x95)]
    small = [Insn(0xB7, 0, 0, 0, imm + i) for i in range(3)] + [Insn(0x95)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        packed = packed_program(insns)
        packed_program(small)                       # lets go of the long program's slots
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert packed.data == b"".join(_pack(packed.stride, insn) for insn in insns)
    assert kept - len(packed.data) < 8 * n, f"{kept} bytes kept for {len(packed.data)}"


def _pack(stride: int, insn: Insn) -> bytes:
    import struct

    return struct.pack("<BBBhi" if stride == 9 else "<5q", *insn)
