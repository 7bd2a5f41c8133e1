"""Classic BPF to eBPF, the way the kernel's ``bpf_convert_filter`` does
it, in a form the kernel's verifier accepts.

The kernel translates every classic filter before running it; its
translation may use kernel-internal helpers and ``struct sk_buff``
offsets because it never meets the verifier.  This one keeps the
kernel's register mapping and instruction shapes and replaces the
internals with what a loadable ``socket_filter`` may use:

============================  ==========================================
classic                       eBPF
============================  ==========================================
A, X                          ``w0``, ``w7`` (set to 0 first); ctx in ``r6``
M[k]                          the stack word at ``r10 - 4*(k+1)``
``ld [k]``, ``ld [x + k]``    the legacy ``LD_ABS``/``LD_IND`` (the
                              verifier expands them to the same helper
                              calls the kernel uses: out of bounds ends
                              the program returning 0)
``ldxb 4*([k]&0xf)``          ``LD_ABS`` byte, ``&= 0xf``, ``<<= 2``,
                              swapping A through X as the kernel does
``ld #len``                   ``__sk_buff.len``
protocol, vlan_tpid           ``__sk_buff`` field, then ``be16``
pkttype, ifindex, mark,       the ``__sk_buff`` field
queue, rxhash, vlan_tag,
vlan_tag_present
cpu, random                   ``bpf_get_smp_processor_id``,
                              ``bpf_get_prandom_u32``
alu_xor_x                     ``w0 ^= w7``
div/mod by X                  a test of X first: 0 returns 0
jumps                         the kernel's shapes: one conditional
                              when a branch falls through (jeq with jt
                              0 becomes jne), otherwise a conditional
                              and a ``ja``; a negative constant goes
                              through ``w2``
============================  ==========================================

Three ancillary loads have no equivalent a socket filter may use —
``hatype`` (skb->dev->type), ``nlattr``/``nlattr_nest`` and
``pay_offset`` (kernel functions with no helper) — and raise
:class:`TranslationError`.  Unreachable classic instructions (which the
classic checker allows) are left out: the verifier refuses dead code.

Seccomp filters (``seccomp=True``) read ``struct seccomp_data`` through
``r6``: ``ld [k]`` becomes a 32-bit context load, ``ld #len`` the
constant 64.  The kernel has no program type for them; the result is a
``syscall`` program (whose context is plain memory) that both backends
test-run with the seccomp_data bytes as the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InstructionError
from ..isa import Insn
from ..isa import opcodes as E
from ..objects import ProgramSpec
from ..spec import cbpf as C
from ..spec import helper_id, struct_layout
from ..spec import seccomp as S
from .check import check
from .insn import CONDITIONAL, Kind, SockFilter, s32

REG_A = 0
REG_X = 7
REG_TMP = 2
REG_CTX = 6
REG_ARG1 = 1
REG_FP = 10

_SKB_FIELDS = {
    C.SKF_AD_PROTOCOL: ("protocol", True),
    C.SKF_AD_PKTTYPE: ("pkt_type", False),
    C.SKF_AD_IFINDEX: ("ifindex", False),
    C.SKF_AD_MARK: ("mark", False),
    C.SKF_AD_QUEUE: ("queue_mapping", False),
    C.SKF_AD_RXHASH: ("hash", False),
    C.SKF_AD_VLAN_TAG: ("vlan_tci", False),
    C.SKF_AD_VLAN_TAG_PRESENT: ("vlan_present", False),
    C.SKF_AD_VLAN_TPID: ("vlan_proto", True),
}
"""Ancillary offset -> (__sk_buff field, network byte order?)."""
_HELPERS = {C.SKF_AD_CPU: "get_smp_processor_id", C.SKF_AD_RANDOM: "get_prandom_u32"}
UNTRANSLATABLE = {C.SKF_AD_HATYPE: "hatype (skb->dev->type) is not in __sk_buff",
                  C.SKF_AD_NLATTR: "nlattr is a kernel function with no BPF helper",
                  C.SKF_AD_NLATTR_NEST: "nlattr_nest is a kernel function with no BPF helper",
                  C.SKF_AD_PAY_OFFSET: "pay_offset is a kernel function with no BPF helper"}
"""The ancillary loads a verifier-checked program cannot express, and why."""

_JUMP_NEGATION = {E.BPF_JEQ: E.BPF_JNE, E.BPF_JGT: E.BPF_JLE, E.BPF_JGE: E.BPF_JLT}
_LD_SIZES = {1: E.BPF_B, 2: E.BPF_H, 4: E.BPF_W}


class TranslationError(InstructionError):
    """A classic instruction with no loadable eBPF equivalent."""


@dataclass
class _Emitted:
    insn: Insn
    target: int | None = None  # classic pc this jump goes to


@dataclass
class Translation:
    """The eBPF of a classic program: ``instructions``, and ``pc_map``
    from each reachable classic pc to the eBPF pc of its first
    instruction."""

    instructions: list[Insn]
    pc_map: dict[int, int] = field(default_factory=dict)
    seccomp: bool = False

    @property
    def prog_type(self) -> str:
        """The program type to load it as."""
        return "syscall" if self.seccomp else "socket_filter"

    def program_spec(self, name: str = "cbpf") -> ProgramSpec:
        """A :class:`~pybpf.objects.ProgramSpec` to load in either backend."""
        return ProgramSpec(name, list(self.instructions), type=self.prog_type,
                           section="syscall" if self.seccomp else "socket",
                           sleepable=self.seccomp)


def reachable(program: Sequence[SockFilter]) -> list[bool]:
    """Which instructions some path from the first one reaches."""
    seen = [False] * len(program)
    if program:
        seen[0] = True
    for pc, insn in enumerate(program):
        if not seen[pc]:
            continue
        form = insn.form
        kind = form.kind if form else None
        if kind in (Kind.RET_K, Kind.RET_A):
            continue
        if kind is Kind.JA:
            nexts = [pc + 1 + insn.k]
        elif kind in CONDITIONAL:
            nexts = [pc + 1 + insn.jt, pc + 1 + insn.jf]
        else:
            nexts = [pc + 1]
        for n in nexts:
            if n < len(program):
                seen[n] = True
    return seen


def translate(program: Sequence[SockFilter], *, seccomp: bool = False) -> Translation:
    """The eBPF translation of a classic ``program`` (checked first with
    the kernel's rules)."""
    program = list(program)
    check(program, seccomp=seccomp)
    live = reachable(program)
    # The kernel zeroes A and X with xor; the verifier refuses reading an
    # unset register, so a loadable program moves 0 into them.
    out: list[_Emitted] = [
        _Emitted(_mov32_imm(REG_A, 0)),
        _Emitted(_mov32_imm(REG_X, 0)),
        _Emitted(Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_CTX, REG_ARG1)),
    ]
    starts: dict[int, int] = {}
    for pc, insn in enumerate(program):
        if not live[pc]:
            continue
        starts[pc] = len(out)
        out.extend(_translate_one(pc, insn, seccomp))
    insns = []
    for epc, emitted in enumerate(out):
        insn = emitted.insn
        if emitted.target is not None:
            insn = insn._replace(off=starts[emitted.target] - epc - 1)
        insns.append(insn)
    return Translation(insns, starts, seccomp)


def to_program_spec(program: Sequence[SockFilter], name: str = "cbpf", *,
                    seccomp: bool = False) -> ProgramSpec:
    """``translate(program).program_spec(name)``."""
    return translate(program, seccomp=seccomp).program_spec(name)


def _mov32_imm(dst: int, k: int) -> Insn:
    return Insn(E.BPF_ALU | E.BPF_MOV | E.BPF_K, dst, 0, 0, s32(k))


def _exit() -> Insn:
    return Insn(E.BPF_JMP | E.BPF_EXIT)


def _ctx_load(dst: int, offset: int, size: int = 4) -> Insn:
    return Insn(E.BPF_LDX | E.BPF_MEM | _LD_SIZES[size], dst, REG_CTX, offset)


def _translate_one(pc: int, insn: SockFilter, seccomp: bool) -> list[_Emitted]:
    form = insn.form
    assert form is not None  # checked
    kind, k = form.kind, insn.k
    dst = REG_A if form.target == "a" else REG_X
    if kind is Kind.LOAD_ABS:
        if seccomp:
            return [_Emitted(_ctx_load(REG_A, k))]
        if s32(k) >= C.SKF_AD_OFF and s32(k) < 0:
            return _ancillary(pc, insn, s32(k) - C.SKF_AD_OFF)
        return [_Emitted(Insn(E.BPF_LD | E.BPF_ABS | _LD_SIZES[form.size], 0, 0, 0, s32(k)))]
    if kind is Kind.LOAD_IND:
        return [_Emitted(Insn(E.BPF_LD | E.BPF_IND | _LD_SIZES[form.size], 0, REG_X, 0,
                              s32(k)))]
    if kind is Kind.LOAD_MSH:
        return [_Emitted(i) for i in (
            Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_X, REG_A),
            Insn(E.BPF_LD | E.BPF_ABS | E.BPF_B, 0, 0, 0, s32(k)),
            Insn(E.BPF_ALU | E.BPF_AND | E.BPF_K, REG_A, 0, 0, 0xF),
            Insn(E.BPF_ALU | E.BPF_LSH | E.BPF_K, REG_A, 0, 0, 2),
            Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_TMP, REG_X),
            Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_X, REG_A),
            Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_A, REG_TMP),
        )]
    if kind is Kind.LOAD_IMM:
        return [_Emitted(_mov32_imm(dst, k))]
    if kind is Kind.LOAD_LEN:
        if seccomp:
            return [_Emitted(_mov32_imm(dst, S.SECCOMP_DATA_SIZE))]
        return [_Emitted(_ctx_load(dst, struct_layout("__sk_buff").field("len").offset))]
    if kind is Kind.LOAD_MEM:
        return [_Emitted(Insn(E.BPF_LDX | E.BPF_MEM | E.BPF_W, dst, REG_FP, -4 * (k + 1)))]
    if kind is Kind.STORE:
        src = REG_A if form.mnemonic == "st" else REG_X
        return [_Emitted(Insn(E.BPF_STX | E.BPF_MEM | E.BPF_W, REG_FP, src, -4 * (k + 1)))]
    if kind is Kind.NEG:
        return [_Emitted(Insn(E.BPF_ALU | E.BPF_NEG, REG_A))]
    if kind in (Kind.ALU_K, Kind.ALU_X):
        op = insn.code & C.OP_MASK  # the classic and eBPF ALU operation fields agree
        out = []
        if kind is Kind.ALU_X and form.operation in ("div", "mod"):
            out += [_Emitted(Insn(E.BPF_JMP | E.BPF_JNE | E.BPF_K, REG_X, 0, 2, 0)),
                    _Emitted(Insn(E.BPF_ALU | E.BPF_XOR | E.BPF_X, REG_A, REG_A)),
                    _Emitted(_exit())]
        if kind is Kind.ALU_X:
            out.append(_Emitted(Insn(E.BPF_ALU | op | E.BPF_X, REG_A, REG_X)))
        else:
            out.append(_Emitted(Insn(E.BPF_ALU | op | E.BPF_K, REG_A, 0, 0, s32(k))))
        return out
    if kind is Kind.JA:
        return [_Emitted(Insn(E.BPF_JMP | E.BPF_JA), pc + 1 + k)]
    if kind in CONDITIONAL:
        return _conditional(pc, insn)
    if kind is Kind.RET_K:
        return [_Emitted(_mov32_imm(REG_A, k)), _Emitted(_exit())]
    if kind is Kind.RET_A:
        return [_Emitted(_exit())]
    if kind is Kind.TAX:
        return [_Emitted(Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_X, REG_A))]
    return [_Emitted(Insn(E.BPF_ALU64 | E.BPF_MOV | E.BPF_X, REG_A, REG_X))]  # txa


def _conditional(pc: int, insn: SockFilter) -> list[_Emitted]:
    out = []
    op = insn.code & C.OP_MASK  # jeq/jgt/jge/jset: the same fields in eBPF
    if insn.src == C.BPF_X:
        src, use_reg, imm = REG_X, True, 0
    elif s32(insn.k) < 0:
        # eBPF sign-extends immediates: compare with the zero-extended constant in w2
        out.append(_Emitted(_mov32_imm(REG_TMP, insn.k)))
        src, use_reg, imm = REG_TMP, True, 0
    else:
        src, use_reg, imm = 0, False, insn.k
    source = E.BPF_X if use_reg else E.BPF_K
    true, false = pc + 1 + insn.jt, pc + 1 + insn.jf
    if insn.jf == 0:
        out.append(_Emitted(Insn(E.BPF_JMP | op | source, REG_A, src, 0, imm), true))
    elif insn.jt == 0 and op in _JUMP_NEGATION:
        out.append(_Emitted(Insn(E.BPF_JMP | _JUMP_NEGATION[op] | source, REG_A, src, 0, imm),
                            false))
    else:
        out.append(_Emitted(Insn(E.BPF_JMP | op | source, REG_A, src, 0, imm), true))
        out.append(_Emitted(Insn(E.BPF_JMP | E.BPF_JA), false))
    return out


def _ancillary(pc: int, insn: SockFilter, which: int) -> list[_Emitted]:
    if which == C.SKF_AD_ALU_XOR_X:
        return [_Emitted(Insn(E.BPF_ALU | E.BPF_XOR | E.BPF_X, REG_A, REG_X))]
    if which in _SKB_FIELDS:
        name, network_order = _SKB_FIELDS[which]
        out = [_Emitted(_ctx_load(REG_A, struct_layout("__sk_buff").field(name).offset))]
        if network_order:
            out.append(_Emitted(Insn(E.BPF_ALU | E.BPF_END | E.BPF_TO_BE, REG_A, 0, 0, 16)))
        return out
    if which in _HELPERS:
        return [_Emitted(Insn(E.BPF_JMP | E.BPF_CALL, 0, 0, 0, helper_id(_HELPERS[which])))]
    reason = UNTRANSLATABLE.get(which, f"no ancillary field at SKF_AD_OFF + {which}")
    raise TranslationError(f"cannot translate to a loadable eBPF program: {reason}", pc=pc,
                           insn=insn)
