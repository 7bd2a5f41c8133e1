"""Differential fuzzing of pybpf's verifier against the kernel's.

Programs come from ``tests/proggen.py`` (random programs the kernel
accepts: packet, stack, map value and context accesses, helper calls,
subprograms, loops over bounds checks) and are then mutated: immediates,
offsets and registers changed, instructions replaced or swapped, branch
conditions flipped, so that many of them become unsafe in the ways the
verifier exists to catch.  Each program goes to both verifiers:

* pybpf must never accept what the kernel rejects (an *unsafe accept*);
* the verdicts must agree on almost every program;
* every program pybpf accepts must run in the VM (unverified, on random
  input) without a ``MemoryFault``: what the verifier proves, the VM's
  run-time checks confirm.

The default run checks a few hundred programs; ``-m slow`` runs
``PYBPF_FUZZ_EXAMPLES`` (10,000 by default).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proggen import GeneratedProgram, programs
from pybpf import assemble
from pybpf.errors import BPFError, MemoryFault, VerifierError
from pybpf.isa import Insn
from pybpf.isa.insn import LDDW_OPCODE
from pybpf.verifier import MapDescription, verify

FAKE_FD = 1000
STATS: Counter = Counter()
DISAGREEMENTS: list[tuple] = []
"""(instructions, kernel message, pybpf message, program type, maps) of each
program the two verifiers disagree on."""


def _assemble(gp: GeneratedProgram) -> list[Insn]:
    return list(assemble(gp.assembly({m.name: FAKE_FD + i for i, m in enumerate(gp.maps)})))


def mutate(insns: list[Insn], data: st.DataObject) -> list[Insn]:
    """Up to three random edits that keep the program decodable."""
    out = list(insns)
    starts = [i for i in range(len(out)) if i == 0 or out[i - 1].opcode != LDDW_OPCODE]
    for _ in range(data.draw(st.integers(0, 3), label="edits")):
        i = data.draw(st.sampled_from(starts), label="at")
        insn = out[i]
        if insn.opcode == LDDW_OPCODE:
            continue
        kind = data.draw(st.sampled_from(["imm", "off", "dst", "src", "nop", "swap", "cond"]),
                         label="kind")
        if kind == "imm":
            out[i] = insn._replace(imm=data.draw(st.sampled_from(
                [0, 1, -1, 2, 4, 7, 8, 15, 16, 64, 255, 4096, -8, -512, 1 << 31 - 1]),
                label="imm"))
        elif kind == "off":
            out[i] = insn._replace(off=insn.off + data.draw(st.sampled_from(
                [-16, -8, -4, -1, 1, 4, 8, 16]), label="delta"))
        elif kind == "dst":
            out[i] = insn._replace(dst=data.draw(st.integers(0, 10), label="dst"))
        elif kind == "src":
            out[i] = insn._replace(src=data.draw(st.integers(0, 10), label="src"))
        elif kind == "nop":
            out[i] = Insn(0xB7, data.draw(st.integers(0, 9), label="reg"), 0, 0, 0)
        elif kind == "swap":
            j = i + 1
            if j < len(out) and out[j].opcode != LDDW_OPCODE and out[i].opcode & 7 not in (5, 6) \
                    and out[j].opcode & 7 not in (5, 6):
                out[i], out[j] = out[j], out[i]
        elif kind == "cond" and insn.opcode & 7 in (5, 6) and insn.opcode & 0xF0 in (
                0x10, 0x20, 0x30, 0x50, 0xA0, 0xB0):
            flipped = {0x10: 0x50, 0x50: 0x10, 0x20: 0xB0, 0xB0: 0x20, 0x30: 0xA0, 0xA0: 0x30}
            out[i] = insn._replace(opcode=(insn.opcode & ~0xF0) | flipped[insn.opcode & 0xF0])
    return out


def _maps_by_pc(insns: list[Insn], gp: GeneratedProgram) -> dict[int, MapDescription]:
    out = {}
    for pc, insn in enumerate(insns):
        if insn.opcode == LDDW_OPCODE and insn.src == 1 and insn.imm >= FAKE_FD:
            i = insn.imm - FAKE_FD
            if i < len(gp.maps):
                m = gp.maps[i]
                out[pc] = MapDescription(m.type, m.key_size, m.value_size, m.max_entries)
    return out


def _kernel_verdict(insns: list[Insn], gp: GeneratedProgram) -> tuple[str | None, str | None]:
    from pybpf.kernel import KernelMap, KernelProgram

    kmaps = []
    try:
        fds = {}
        for i, m in enumerate(gp.maps):
            km = KernelMap.create(m.type, m.key_size, m.value_size, m.max_entries)
            kmaps.append(km)
            fds[FAKE_FD + i] = km.fd
        patched = [x._replace(imm=fds.get(x.imm, x.imm)) if x.opcode == LDDW_OPCODE
                   and x.src == 1 else x for x in insns]
        try:
            KernelProgram.load(patched, gp.prog_type, name="fuzz").close()
        except VerifierError as e:
            return "reject", e.log.strip().splitlines()[-2] if e.log.strip() else str(e)
        except BPFError as e:
            return None, str(e)
        return "accept", None
    finally:
        for km in kmaps:
            km.close()


def _vm_runs_clean(insns: list[Insn], gp: GeneratedProgram) -> str | None:
    """Run an accepted program in the VM; a MemoryFault's text, else None."""
    from pybpf.objects import MapSpec
    from pybpf.vm import VM

    vm = VM(max_insns=1_000_000)
    fds = {}
    for i, m in enumerate(gp.maps):
        vmap = vm.create_map(MapSpec(m.name, m.type, m.key_size, m.value_size, m.max_entries))
        for key, value in m.initial:
            vmap.update(key, value)
        fds[FAKE_FD + i] = vm.fd_of(vmap)
    patched = [x._replace(imm=fds.get(x.imm, x.imm)) if x.opcode == LDDW_OPCODE
               and x.src == 1 else x for x in insns]
    try:
        prog = vm.load(patched, prog_type=gp.prog_type, name="fuzz")
        prog.test_run(gp.packet, gp.ctx_in)
    except MemoryFault as e:
        return str(e)
    except BPFError:
        return None
    return None


def check_one(gp: GeneratedProgram, data: st.DataObject) -> None:
    insns = mutate(_assemble(gp), data)
    ours = verify(insns, {str(pc): m for pc, m in _maps_by_pc(insns, gp).items()},
                  prog_type=gp.prog_type)
    kernel, kmsg = _kernel_verdict(insns, gp)
    STATS["programs"] += 1
    if kernel is None:
        STATS["kernel refused to load"] += 1
        return
    STATS[f"kernel {kernel}"] += 1
    if ours.verdict == kernel:
        STATS["agree"] += 1
    else:
        DISAGREEMENTS.append(([tuple(i) for i in insns], kmsg, ours.message, gp.prog_type,
                              [(m.name, m.type, m.key_size, m.value_size, m.max_entries)
                               for m in gp.maps]))
    assert not (ours.verdict == "accept" and kernel == "reject"), \
        f"unsafe accept: the kernel says {kmsg!r}\n{gp.text}\n{insns}"
    if ours.verdict == "accept":
        fault = _vm_runs_clean(insns, gp)
        assert fault is None, f"accepted program faults in the VM: {fault}\n{insns}"


def _fuzz(n: int):
    @settings(max_examples=n, deadline=None, derandomize=False, database=None,
              suppress_health_check=list(HealthCheck))
    @given(gp=programs(max_statements=16), data=st.data())
    def run(gp, data):
        check_one(gp, data)

    return run


@pytest.mark.kernel
def test_fuzz_quick():
    STATS.clear()
    DISAGREEMENTS.clear()
    _fuzz(80)()  # the default run stays short: test_fuzz_many is the real one
    compared = STATS["kernel accept"] + STATS["kernel reject"]
    assert compared > 30
    assert STATS["agree"] / compared >= 0.95, (STATS, DISAGREEMENTS[:5])


@pytest.mark.kernel
@pytest.mark.slow
def test_fuzz_many():
    STATS.clear()
    DISAGREEMENTS.clear()
    _fuzz(int(os.environ.get("PYBPF_FUZZ_EXAMPLES", "10000")))()
    compared = STATS["kernel accept"] + STATS["kernel reject"]
    print(dict(STATS))
    assert compared >= 0.9 * int(os.environ.get("PYBPF_FUZZ_EXAMPLES", "10000"))
    assert STATS["agree"] / compared >= 0.95, (STATS, DISAGREEMENTS[:5])
