"""Hostile assembly text against the assembler (both syntaxes).

Cases are disassembled random programs (so most lines are valid) with
lines mutated, plus generated pathologies: numerals of thousands of digits,
thousands of labels, long lines, deep parentheses, control and non-ASCII
characters, undecodable bytes as the CLI reads them.  Only
:class:`~pybpf.errors.AssemblerError` may escape (``unexpected`` for any
other type, ``budget`` when a case takes longer than :data:`CASE_SECONDS`:
the assembler is linear, so that means a quadratic corner); every error
names line and column.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from fuzz.harness import Result, exception_result

CASE_SECONDS = 5.0
CASE_TIMEOUT = 60.0
SETUP_TIMEOUT = 60.0

PIECES = ("r0", "r10", "w3", "%r1", "r11", "r" + "9" * 30, "=", "+=", "-", "*", "(", ")",
          "[", "]", ",", ":", "ll", "goto", "+1", "-1", "call", "exit", "lock", "0x",
          "0x" + "f" * 17, "9" * 21, "0" * 50 + "1", "s>>=", "//", ";", "#", "\t", "\x00",
          "\x1b[2J", "\u00e9", "\ufffd", "map[idx:0]", "map[fd:1]", "func[+1]", "u32",
          "*(u64 *)(r10 - 8)", "be16", "le64", ".insn", "may_goto", "atomic_fetch_add",
          "l1:", "l1", "pc+0", "<l1>", "  3: (b7) ", " 0: b7 00 00 00 00 00 00 00 ")


@dataclass
class Case:
    """The text and the syntax it is assembled as."""

    text: str
    syntax: str
    how: str


def setup(seed: int) -> None:
    """Nothing to prepare."""
    return None


def generate(state: None, rng: random.Random) -> Case:
    """Mutated disassembly or a pathology."""
    from pybpf.isa import FORMS, Insn, disassemble

    syntax = rng.choice(("ubpf", "llvm", "auto"))
    pick = rng.random()
    if pick < 0.6:
        slots = []
        for _ in range(rng.choice((1, 5, 20, 100))):
            form = rng.choice(FORMS)
            fields = {"dst": rng.randrange(11), "src": rng.randrange(11),
                      "off": rng.randrange(-(1 << 15), 1 << 15),
                      "imm": rng.randrange(-(1 << 31), 1 << 31)}
            fields = {k: (v if k in form.uses else 0) for k, v in fields.items()}
            fields.update(dict(form.fixed))
            slots.append(Insn(form.opcode, **fields))
            if form.slots == 2:
                slots.append(Insn(0, imm=rng.randrange(-(1 << 31), 1 << 31)))
        text = disassemble(slots, syntax="llvm" if syntax == "llvm" else "ubpf",
                           labels=rng.random() < 0.5, pcs=rng.random() < 0.2)
        lines = text.splitlines()
        for _ in range(rng.choice((0, 1, 3, 10))):
            if not lines:
                break
            i = rng.randrange(len(lines))
            line = lines[i]
            op = rng.randrange(4)
            p = rng.randrange(len(line) + 1)
            if op == 0:
                lines[i] = line[:p] + rng.choice(PIECES) + line[p:]
            elif op == 1:
                lines[i] = line[:p] + line[p + rng.randint(1, 5):]
            elif op == 2:
                lines.insert(i, rng.choice(lines))
            else:
                lines[i] = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8)))
        return Case("\n".join(lines), syntax, "mutated")
    n = rng.choice((1000, 10_000, 100_000))
    kind = rng.randrange(8)
    if kind == 0:
        text = f"mov r0, {'9' * n}\nexit"
    elif kind == 1:
        text = " ".join(f"l{i}:" for i in range(n)) + " exit"
    elif kind == 2:
        text = "\n".join(f"l{i}: ja l{rng.randrange(n)}" for i in range(min(n, 20000)))
    elif kind == 3:
        text = "r0 = *(u32 *)" + "(" * n + "r1)"
    elif kind == 4:
        text = "".join(rng.choice(PIECES) + rng.choice((" ", "", "\n")) for _ in range(n // 10))
    elif kind == 5:
        raw = bytes(rng.randrange(256) for _ in range(n // 10))
        text = raw.decode("utf-8", errors="replace")
    elif kind == 6:
        text = "r0 = " + "-" * n + "1"
    else:
        text = "\n" * n + "mov r0, 1 junk"
    return Case(text, syntax, f"pathology {kind} n={n}")


def execute(state: None, case: Case) -> Result:
    """Assemble; judge the exception and the time."""
    from pybpf.errors import AssemblerError, BPFError
    from pybpf.isa import assemble

    t0 = time.perf_counter()
    try:
        assemble(case.text, case.syntax)
        result = Result("ok")
    except AssemblerError as e:
        result = Result("rejected", "AssemblerError")
        if e.line is None:
            result = Result("unexpected", "AssemblerError without a line", str(e)[:200])
    except Exception as e:
        result = exception_result(e, (BPFError,))
    elapsed = time.perf_counter() - t0
    if elapsed > CASE_SECONDS:
        result = Result("budget", "time", f"{case.how}: {elapsed:.1f} s for "
                                          f"{len(case.text)} characters")
    return result


def show(case: Case) -> str:
    """The text (shortened)."""
    text = case.text if len(case.text) < 3000 else case.text[:3000] + "\n..."
    return f"{case.how}, syntax {case.syntax}, {len(case.text)} characters\n{text}"
