"""The x86-64 encoder of the baseline JIT tier against known encodings.

The expected bytes are an assembler's (``llvm-mc -show-encoding``, Intel
syntax); where ``llvm-mc`` is installed, a second test asks it again, so a
new form added to the table is checked the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from pybpf.jit.x86 import (
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RSI,
    RSP,
    Assembler,
    Label,
)

#: (Intel syntax, its encoding, the encoder's call).
ENCODINGS = [
    ("mov rax, rbx", "4889d8", lambda a: a.mov(RAX, RBX)),
    ("mov r11d, edi", "4189fb", lambda a: a.mov(R11, RDI, wide=False)),
    ("mov eax, 305419896", "b878563412", lambda a: a.mov_imm(RAX, 0x12345678)),
    ("mov r9, -2", "49c7c1feffffff", lambda a: a.mov_imm(R9, -2)),
    ("movabs r10, 0x1122334455667788", "49ba8877665544332211", lambda a: a.mov_imm(R10, 0x1122334455667788)),
    ("xor r15d, r15d", "4531ff", lambda a: a.mov_imm(R15, 0)),
    ("mov rcx, qword ptr [rsp+96]", "488b4c2460", lambda a: a.load(RCX, RSP, 96)),
    ("mov r13, qword ptr [r12+1000]", "4d8bac24e8030000", lambda a: a.load(R13, R12, 1000)),
    ("movzx esi, byte ptr [rbp-8]", "0fb675f8", lambda a: a.load(RSI, RBP, -8, 1)),
    ("movsx rdi, word ptr [r13]", "490fbf7d00", lambda a: a.load(RDI, R13, 0, 2, True)),
    ("movsxd r8, dword ptr [rax+4]", "4c634004", lambda a: a.load(R8, RAX, 4, 4, True)),
    ("mov r8d, dword ptr [rax+4]", "448b4004", lambda a: a.load(R8, RAX, 4, 4)),
    ("mov byte ptr [rax], sil", "408830", lambda a: a.store(RAX, 0, RSI, 1)),
    ("mov word ptr [rbp-2], r10w", "66448955fe", lambda a: a.store(RBP, -2, R10, 2)),
    ("mov qword ptr [rsp+8], r11", "4c895c2408", lambda a: a.store(RSP, 8, R11, 8)),
    ("mov dword ptr [r12-4], -1", "41c74424fcffffffff", lambda a: a.store_imm(R12, -4, -1, 4)),
    ("mov qword ptr [rax+40], -7", "48c74028f9ffffff", lambda a: a.store_imm(RAX, 40, -7, 8)),
    ("mov byte ptr [rdx+1], 200", "c64201c8", lambda a: a.store_imm(RDX, 1, 200, 1)),
    ("lea rax, [r8-16]", "498d40f0", lambda a: a.lea(RAX, R8, -16)),
    ("movsx r11, dil", "4c0fbedf", lambda a: a.movsx(R11, RDI, 1)),
    ("movsx eax, r9w", "410fbfc1", lambda a: a.movsx(RAX, R9, 2, wide=False)),
    ("movsxd rsi, r14d", "4963f6", lambda a: a.movsx(RSI, R14, 4)),
    ("movzx edi, di", "0fb7ff", lambda a: a.movzx(RDI, RDI, 2)),
    ("add r11, rdi", "4901fb", lambda a: a.alu("add", R11, RDI)),
    ("sub esi, r15d", "4429fe", lambda a: a.alu("sub", RSI, R15, wide=False)),
    ("cmp r8, 5", "4983f805", lambda a: a.alu_imm("cmp", R8, 5)),
    ("and r12d, 65535", "4181e4ffff0000", lambda a: a.alu_imm("and", R12, 65535, wide=False)),
    ("xor rdi, -1000", "4881f718fcffff", lambda a: a.alu_imm("xor", RDI, -1000)),
    ("cmp rbx, qword ptr [rax+88]", "483b5858", lambda a: a.alu_load("cmp", RBX, RAX, 88)),
    ("or rax, qword ptr [rdx+48]", "480b4230", lambda a: a.alu_load("or", RAX, RDX, 48)),
    ("sub qword ptr [rdx+8], 1", "48836a0801", lambda a: a.alu_mem_imm("sub", RDX, 8, 1)),
    ("test r9, r10", "4d85d1", lambda a: a.test(R9, R10)),
    ("test esi, 256", "f7c600010000", lambda a: a.test_imm(RSI, 256, wide=False)),
    ("imul r13, r14", "4d0fafee", lambda a: a.imul(R13, R14)),
    ("imul r9, r9, 100000", "4d69c9a0860100", lambda a: a.imul_imm(R9, R9, 100000)),
    ("shl rdi, 3", "48c1e703", lambda a: a.shift("shl", RDI, 3)),
    ("sar r15d, cl", "41d3ff", lambda a: a.shift("sar", R15, None, wide=False)),
    ("neg r11", "49f7db", lambda a: a.neg(R11)),
    ("div rcx", "48f7f1", lambda a: a.div(RCX, False)),
    ("idiv ecx", "f7f9", lambda a: a.div(RCX, True, wide=False)),
    ("cqo", "4899", lambda a: a.sign_extend_rax()),
    ("cdq", "99", lambda a: a.sign_extend_rax(False)),
    ("bswap r12", "490fcc", lambda a: a.bswap(R12)),
    ("bswap esi", "0fce", lambda a: a.bswap(RSI, wide=False)),
    ("call qword ptr [rax+200]", "ff90c8000000", lambda a: a.call_mem(RAX, 200)),
    ("call rax", "ffd0", lambda a: a.call_reg(RAX)),
    ("call r11", "41ffd3", lambda a: a.call_reg(R11)),
    ("push r13", "4155", lambda a: a.push(R13)),
    ("pop rbx", "5b", lambda a: a.pop(RBX)),
    ("ret", "c3", lambda a: a.ret()),
]


def encoded(emit) -> str:
    a = Assembler()
    emit(a)
    return a.finish().hex()


@pytest.mark.parametrize("text,expected,emit", ENCODINGS, ids=[e[0] for e in ENCODINGS])
def test_encodings_match_an_assembler(text, expected, emit):
    assert encoded(emit) == expected


@pytest.mark.skipif(shutil.which("llvm-mc") is None, reason="llvm-mc is not installed")
def test_the_table_agrees_with_llvm_mc():
    source = ".intel_syntax noprefix\n" + "\n".join(text for text, _, _ in ENCODINGS) + "\n"
    out = subprocess.run(["llvm-mc", "--x86-asm-syntax=intel", "-show-encoding"], input=source,
                         capture_output=True, text=True, check=True).stdout
    found = [bytes(int(x, 16) for x in m.split(",")).hex()
             for m in re.findall(r"encoding: \[(.*?)\]", out)]
    assert found == [expected for _, expected, _ in ENCODINGS]


def test_immediates_pick_the_shortest_form_that_keeps_the_value():
    assert encoded(lambda a: a.mov_imm(RAX, -1)) == "48c7c0ffffffff"       # sign-extended
    assert encoded(lambda a: a.mov_imm(RAX, 0xFFFFFFFF)) == "b8ffffffff"   # zero-extended
    assert encoded(lambda a: a.mov_imm(RAX, 1 << 63)) == "48b80000000000000080"
    assert encoded(lambda a: a.mov_imm(RAX, -1, wide=False)) == "b8ffffffff"
    assert encoded(lambda a: a.alu_imm("add", RBX, 1000)) == "4881c3e8030000"
    with pytest.raises(ValueError):
        encoded(lambda a: a.alu_imm("add", RBX, 1 << 31))
    with pytest.raises(ValueError):
        encoded(lambda a: a.store_imm(RAX, 0, 1 << 40, 8))


def test_jumps_reach_labels_before_and_after_them():
    a = Assembler()
    back, ahead = Label(), Label()
    a.bind(back)
    a.jcc("ne", ahead)          # 0f 85 rel32
    a.jmp(back)                 # e9 rel32
    a.call(ahead)               # e8 rel32
    a.bind(ahead)
    a.ret()
    code = a.finish()
    assert code.hex() == "0f850a000000" "e9f5ffffff" "e800000000" "c3"


def test_a_label_never_bound_or_bound_twice_is_refused():
    a = Assembler()
    a.jmp(Label())
    with pytest.raises(ValueError):
        a.finish()
    label = Label()
    a.bind(label)
    with pytest.raises(ValueError):
        a.bind(label)
