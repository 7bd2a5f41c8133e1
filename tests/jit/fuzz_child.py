"""Run random programs under the JIT, unverified, in this process.

    python fuzz_child.py SEED START COUNT

Program ``i`` (``START <= i < START + COUNT``) is drawn from
``random.Random(SEED * 1_000_003 + i)``: mostly structurally valid
programs (random forms, registers, offsets and immediates; jumps and calls
to instruction starts) loaded without validation, some with random slots
mixed in.  Each runs on a small buffer with an instruction limit.  After
each program the child prints ``done I OUTCOME`` (flushed), so a parent
that sees the child die knows which program killed it.  Every exception is
an outcome here; only the process dying is a crash.
"""

from __future__ import annotations

import random
import sys

from pybpf.isa import FORMS, Insn, Kind, encode
from pybpf.isa.opcodes import PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_IDX
from pybpf.vm import VM

_NO_SECOND_IMM = (PSEUDO_MAP_FD, PSEUDO_MAP_IDX, PSEUDO_FUNC)
_OFFSETS = (0, 1, -1, 4, -4, 8, -8, -16, -256, -512, -513, 511, 512, 4096, -(1 << 15),
            (1 << 15) - 1)
_IMMEDIATES = (0, 1, -1, 2, 7, 8, 31, 32, 63, 64, 255, 256, 4096, 65535, (1 << 31) - 1,
               -(1 << 31))


def _field(rng: random.Random, name: str) -> int:
    if name in ("dst", "src"):
        return rng.choice((0, 1, 2, 3, 10, 10, rng.randrange(11)))
    if name == "off":
        return rng.choice(_OFFSETS) if rng.random() < 0.7 else \
            rng.randrange(-(1 << 15), 1 << 15)
    return rng.choice(_IMMEDIATES) if rng.random() < 0.7 else \
        rng.randrange(-(1 << 31), 1 << 31)


def program(rng: random.Random) -> bytes:
    """One random program's bytecode."""
    parts: list[list[Insn]] = []
    for _ in range(rng.randrange(1, 30)):
        if rng.random() < 0.03:
            parts.append([Insn(rng.randrange(256), rng.randrange(16), rng.randrange(16),
                               _field(rng, "off"), _field(rng, "imm"))])
            continue
        form = rng.choice(FORMS)
        fields = {"dst": 0, "src": 0, "off": 0, "imm": 0}
        for name in form.uses:
            fields[name] = _field(rng, name)
        fields.update(dict(form.fixed))
        first = Insn(form.opcode, fields["dst"], fields["src"], fields["off"], fields["imm"])
        if form.kind is Kind.LDDW:
            hi = 0 if form.pseudo in _NO_SECOND_IMM else _field(rng, "imm")
            parts.append([first, Insn(0, 0, 0, 0, hi)])
        else:
            parts.append([first])
    if rng.random() < 0.8:
        parts.append([Insn(0x95, 0, 0, 0, 0)])      # exit
    starts, pc = [], 0
    for part in parts:
        starts.append(pc)
        pc += len(part)
    slots: list[Insn] = []
    for index, part in enumerate(parts):
        first = part[0]
        form = first.form
        if form is not None and rng.random() < 0.9:
            rel = rng.choice(starts) - (starts[index] + 1)
            if form.kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO) and \
                    -(1 << 15) <= rel < (1 << 15):
                first = first._replace(off=rel)
            elif form.kind in (Kind.GOTOL, Kind.CALL_LOCAL) or (
                    form.kind is Kind.LDDW and form.pseudo == PSEUDO_FUNC):
                first = first._replace(imm=rel)
        slots.append(first)
        slots.extend(part[1:])
    return encode(slots)


def main(argv: list[str]) -> int:
    seed, start, count = (int(a) for a in argv[1:4])
    for i in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + i)
        code = program(rng)
        mem = bytearray(rng.randbytes(rng.choice((0, 8, 16, 64))))
        try:
            prog = VM(jit=True, max_insns=20_000).load(code, check=False)
            engine = getattr(prog._active, "engine", "interpreter")
            result = prog.run(mem)
            outcome = f"{engine} r0={result.r0:#x}"
        except BaseException as e:  # every exception is an outcome; only dying is a crash
            if isinstance(e, KeyboardInterrupt):
                raise
            outcome = type(e).__name__
        print(f"done {i} {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
