"""Reading classic BPF programs from text.

:func:`assemble` reads the source language of the kernel's ``bpf_asm``
(``tools/bpf/bpf_exp.y``, documented in ``Documentation/networking/
filter.rst``)::

    ldh [12]                 ; comments run from ';' to the end of the line
    jne #0x800, drop         ; one label: jump when true (jeq...) / false (jne, jlt, jle)
    ldb [23]
    jeq #6, tcp, drop        ; two labels: when true, when false
    tcp: ret #-1
    drop: ret #0

Operands: ``#k`` (a constant), ``[k]``, ``[x + k]``, ``M[k]``,
``4*([k]&0xf)``, ``x``/``%x``, ``a``/``%a``, and the extensions ``#len``,
``#proto``, ``#type``, ``#ifidx``, ``#nla``, ``#nlan``, ``#mark``,
``#queue``, ``#hatype``, ``#rxhash``, ``#cpu``, ``#vlan_tci``,
``#vlan_avail``, ``#poff``, ``#rand``, ``#vlan_tpid`` (the ``#`` is
optional).  Numbers are decimal (signed), ``0x`` hex, ``0b`` binary or
``0``-prefixed octal.  Beyond ``bpf_asm``: jump targets may be relative
counts (``+2``), ``jne``/``jlt``/``jle`` take a second label, comments may
also be ``//`` or ``/* */``, a label may stand on its own line, tcpdump's
operand spellings (``[proto]``, ``#pktlen``) are accepted, and ``.insn
code, jt, jf, k`` gives a raw instruction.

:func:`parse_tcpdump` reads ``tcpdump -d``, ``-dd`` or ``-ddd`` output and
``bpf_asm``'s own output (``4,40 0 0 12,...``); :func:`parse_program`
picks the right reader for a text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import AssemblerError
from ..spec import cbpf as C
from .insn import ALU_OPS, JUMP_OPS, U32, SockFilter

_NUMBER = r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO]?[0-7]+|[0-9]+)"
_NUMBER_RE = re.compile(_NUMBER + r"$")

_EXTENSIONS = {
    "len": None, "pktlen": None,  # BPF_LEN, not a packet load
    "proto": C.SKF_AD_PROTOCOL, "type": C.SKF_AD_PKTTYPE, "ifidx": C.SKF_AD_IFINDEX,
    "nla": C.SKF_AD_NLATTR, "nlan": C.SKF_AD_NLATTR_NEST, "mark": C.SKF_AD_MARK,
    "queue": C.SKF_AD_QUEUE, "hatype": C.SKF_AD_HATYPE, "rxhash": C.SKF_AD_RXHASH,
    "cpu": C.SKF_AD_CPU, "vlan_tci": C.SKF_AD_VLAN_TAG,
    "vlan_avail": C.SKF_AD_VLAN_TAG_PRESENT, "vlan_pr": C.SKF_AD_VLAN_TAG_PRESENT,
    "vlanp": C.SKF_AD_VLAN_TAG_PRESENT, "poff": C.SKF_AD_PAY_OFFSET,
    "rand": C.SKF_AD_RANDOM, "random": C.SKF_AD_RANDOM, "vlan_tpid": C.SKF_AD_VLAN_TPID,
    "xor_x": C.SKF_AD_ALU_XOR_X,
}
"""Extension keywords -> ancillary offset (bpf_asm's, plus tcpdump's names)."""

_LOAD_SIZES = {"ld": C.BPF_W, "ldh": C.BPF_H, "ldb": C.BPF_B}
_NEGATED = {"jne": "jeq", "jneq": "jeq", "jlt": "jge", "jle": "jgt"}


def parse_number(text: str) -> int:
    """A ``bpf_asm`` number as an unsigned 32-bit value (negative numbers
    wrap); raises ValueError for anything else."""
    t = text.strip()
    if not _NUMBER_RE.match(t):
        raise ValueError(f"not a number: {text!r}")
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    low = t.lower()
    if low.startswith("0x"):
        value = int(t[2:], 16)
    elif low.startswith("0b"):
        value = int(t[2:], 2)
    elif low.startswith("0o"):
        value = int(t[2:], 8)
    elif len(t) > 1 and t.startswith("0"):
        value = int(t, 8)
    else:
        value = int(t, 10)
    value *= sign
    if not -(1 << 31) <= value <= U32:
        raise ValueError(f"{text!r} does not fit in 32 bits")
    return value & U32


@dataclass
class _Line:
    number: int
    text: str
    labels: list[str]
    source: str | None


@dataclass
class _Pending:
    """An instruction whose jump targets are still names."""

    insn: SockFilter
    line: _Line
    jt: str | None = None
    jf: str | None = None
    k: str | None = None


def _strip_comments(text: str) -> str:
    # /* */ comments may span lines: keep their newlines so line numbers hold.
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    out = []
    for line in text.split("\n"):
        for marker in (";", "//"):
            cut = line.find(marker)
            if cut >= 0:
                line = line[:cut]
        out.append(line)
    return "\n".join(out)


_LABEL_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*:(?!:)")


def assemble(text: str, *, source: str | None = None) -> list[SockFilter]:
    """Assemble ``bpf_asm`` source into instructions.  Raises
    :class:`~pybpf.errors.AssemblerError` naming the line and the token."""
    pending: list[_Pending] = []
    labels: dict[str, int] = {}
    waiting: list[str] = []
    for number, raw in enumerate(_strip_comments(text).split("\n"), 1):
        rest = raw
        line = _Line(number, raw.strip(), [], source)
        while True:
            m = _LABEL_RE.match(rest)
            if not m:
                break
            name = m.group(1)
            if name in labels or name in waiting:
                raise AssemblerError(f"label {name!r} defined twice", line=number, token=name,
                                     source=source)
            waiting.append(name)
            rest = rest[m.end():]
        if not rest.strip():
            continue
        for name in waiting:
            labels[name] = len(pending)
        waiting = []
        pending.append(_parse_instruction(rest.strip(), line))
    for name in waiting:
        labels[name] = len(pending)  # a label after the last instruction
    return _resolve(pending, labels)


def _resolve(pending: list[_Pending], labels: dict[str, int]) -> list[SockFilter]:
    out = []
    for pc, p in enumerate(pending):
        insn = p.insn
        fields = {}
        for field in ("jt", "jf", "k"):
            name = getattr(p, field)
            if name is None:
                continue
            if name.startswith("+"):
                distance = parse_number(name)
            else:
                if name not in labels:
                    raise AssemblerError(f"no such label {name!r}", line=p.line.number,
                                         token=name, source=p.line.source)
                distance = labels[name] - pc - 1
                if distance < 0:
                    raise AssemblerError(f"jump backwards to label {name!r}: classic BPF "
                                         f"jumps only forward", line=p.line.number, token=name,
                                         source=p.line.source)
            if field != "k" and distance > 0xFF:
                raise AssemblerError(f"label {name!r} is {distance} instructions away: a "
                                     f"conditional jump reaches at most 255 (use ja)",
                                     line=p.line.number, token=name, source=p.line.source)
            fields[field] = distance
        out.append(insn._replace(**fields))
    if len(out) > C.BPF_MAXINSNS:
        raise AssemblerError(f"{len(out)} instructions: a classic program has at most "
                             f"{C.BPF_MAXINSNS}")
    return out


def _error(line: _Line, message: str, token: str | None = None) -> AssemblerError:
    return AssemblerError(message, line=line.number, token=token or line.text or None,
                          source=line.source)


def _parse_instruction(text: str, line: _Line) -> _Pending:
    parts = text.split(None, 1)
    mnemonic = parts[0].lower()
    operand = parts[1].strip() if len(parts) > 1 else ""
    handler = _HANDLERS.get(mnemonic)
    if handler is None:
        raise _error(line, f"unknown instruction {parts[0]!r}", parts[0])
    try:
        return handler(mnemonic, operand, line)
    except ValueError as e:
        raise _error(line, f"{mnemonic}: {e}", operand or mnemonic) from None


def _number(text: str) -> int:
    return parse_number(text.lstrip("#") if text.startswith("#") else text)


_IND_RE = re.compile(r"\[\s*%?x\s*\+\s*(" + _NUMBER + r")\s*\]$", re.I)
_ABS_RE = re.compile(r"\[\s*(" + _NUMBER + r")\s*\]$")
_MEM_RE = re.compile(r"M\s*\[\s*(" + _NUMBER + r")\s*\]$")
_MSH_RE = re.compile(r"(" + _NUMBER + r")\s*\*\s*\(\s*\[\s*(" + _NUMBER + r")\s*\]\s*&\s*("
                     + _NUMBER + r")\s*\)$")
_EXT_RE = re.compile(r"(?:#\s*|\[\s*)?([a-z_]+)\s*\]?$", re.I)


def _extension(operand: str) -> str | None:
    m = _EXT_RE.match(operand)
    if not m:
        return None
    if operand.startswith("[") != operand.endswith("]"):
        return None
    name = m.group(1).lower()
    return name if name in _EXTENSIONS else None


def _load(mnemonic: str, operand: str, line: _Line) -> _Pending:
    size = _LOAD_SIZES[mnemonic]
    ext = _extension(operand)
    if ext is not None:
        offset = _EXTENSIONS[ext]
        if offset is None:
            if mnemonic != "ld":
                raise ValueError("#len loads a word: use ld")
            return _Pending(SockFilter(C.BPF_LD | C.BPF_W | C.BPF_LEN), line)
        return _Pending(SockFilter(C.BPF_LD | size | C.BPF_ABS, 0, 0,
                                   (C.SKF_AD_OFF + offset) & U32), line)
    if m := _IND_RE.match(operand):
        return _Pending(SockFilter(C.BPF_LD | size | C.BPF_IND, 0, 0, parse_number(m[1])), line)
    if m := _ABS_RE.match(operand):
        return _Pending(SockFilter(C.BPF_LD | size | C.BPF_ABS, 0, 0, parse_number(m[1])), line)
    if mnemonic == "ld":
        if m := _MEM_RE.match(operand):
            return _Pending(SockFilter(C.BPF_LD | C.BPF_W | C.BPF_MEM, 0, 0,
                                       parse_number(m[1])), line)
        if operand.startswith("#"):
            return _Pending(SockFilter(C.BPF_LD | C.BPF_W | C.BPF_IMM, 0, 0,
                                       _number(operand)), line)
    raise ValueError(f"cannot read operand {operand!r}")


def _load_imm(mnemonic: str, operand: str, line: _Line) -> _Pending:
    cls = C.BPF_LD if mnemonic == "ldi" else C.BPF_LDX
    return _Pending(SockFilter(cls | C.BPF_W | C.BPF_IMM, 0, 0, _number(operand)), line)


def _loadx(mnemonic: str, operand: str, line: _Line) -> _Pending:
    if m := _MSH_RE.match(operand):
        if parse_number(m[1]) != 4 or parse_number(m[3]) != 0xF:
            raise ValueError("only 4*([k]&0xf) can be loaded into x")
        return _Pending(SockFilter(C.BPF_LDX | C.BPF_B | C.BPF_MSH, 0, 0, parse_number(m[2])),
                        line)
    if mnemonic == "ldxb":
        raise ValueError("ldxb takes 4*([k]&0xf)")
    if _extension(operand) in ("len", "pktlen"):
        return _Pending(SockFilter(C.BPF_LDX | C.BPF_W | C.BPF_LEN), line)
    if m := _MEM_RE.match(operand):
        return _Pending(SockFilter(C.BPF_LDX | C.BPF_W | C.BPF_MEM, 0, 0, parse_number(m[1])),
                        line)
    if operand.startswith("#"):
        return _Pending(SockFilter(C.BPF_LDX | C.BPF_W | C.BPF_IMM, 0, 0, _number(operand)),
                        line)
    raise ValueError(f"cannot read operand {operand!r}")


def _store(mnemonic: str, operand: str, line: _Line) -> _Pending:
    m = _MEM_RE.match(operand)
    if not m:
        raise ValueError("a store takes M[k]")
    return _Pending(SockFilter(C.BPF_ST if mnemonic == "st" else C.BPF_STX, 0, 0,
                               parse_number(m[1])), line)


def _is_x(operand: str) -> bool:
    return operand.lower() in ("x", "%x")


def _alu(mnemonic: str, operand: str, line: _Line) -> _Pending:
    op = next(o for o, n in ALU_OPS.items() if n == mnemonic)
    if _is_x(operand):
        return _Pending(SockFilter(C.BPF_ALU | op | C.BPF_X), line)
    if not operand.startswith("#"):
        raise ValueError(f"the operand is #k or x, not {operand!r}")
    return _Pending(SockFilter(C.BPF_ALU | op | C.BPF_K, 0, 0, _number(operand)), line)


def _bare(code: int) -> Callable[[str, str, _Line], _Pending]:
    def handler(mnemonic: str, operand: str, line: _Line) -> _Pending:
        if operand:
            raise ValueError(f"{mnemonic} takes no operand")
        return _Pending(SockFilter(code), line)
    return handler


def _target_text(text: str) -> str:
    t = text.strip()
    if re.match(r"[A-Za-z_][A-Za-z0-9_.]*$", t) or re.match(r"\+\d+$", t):
        return t
    raise ValueError(f"{text.strip()!r} is not a label")


def _ja(mnemonic: str, operand: str, line: _Line) -> _Pending:
    return _Pending(SockFilter(C.BPF_JMP | C.BPF_JA), line, k=_target_text(operand))


def _cond(mnemonic: str, operand: str, line: _Line) -> _Pending:
    parts = [p.strip() for p in operand.split(",")]
    if len(parts) not in (2, 3):
        raise ValueError("a conditional jump takes an operand and one or two labels")
    base = _NEGATED.get(mnemonic, mnemonic)
    op = next(o for o, n in JUMP_OPS.items() if n == base)
    if _is_x(parts[0]):
        insn = SockFilter(C.BPF_JMP | op | C.BPF_X)
    elif parts[0].startswith("#"):
        insn = SockFilter(C.BPF_JMP | op | C.BPF_K, 0, 0, _number(parts[0]))
    else:
        raise ValueError(f"the operand is #k or x, not {parts[0]!r}")
    targets = [_target_text(p) for p in parts[1:]]
    if mnemonic in _NEGATED:
        # jne/jlt/jle: the condition is jeq/jge/jgt's negation, so the
        # label taken when it holds is the base jump's false branch
        targets = targets[::-1] if len(targets) == 2 else ["", targets[0]]
    else:
        targets.append("")
    jt, jf = (t or None for t in targets[:2])
    return _Pending(insn, line, jt=jt, jf=jf)


def _ret(mnemonic: str, operand: str, line: _Line) -> _Pending:
    low = operand.lower()
    if low in ("a", "%a", ""):
        return _Pending(SockFilter(C.BPF_RET | C.BPF_A), line)
    if low in ("x", "%x"):
        return _Pending(SockFilter(C.BPF_RET | C.BPF_X), line)
    if not operand.startswith("#"):
        raise ValueError(f"ret takes #k, a or x, not {operand!r}")
    return _Pending(SockFilter(C.BPF_RET | C.BPF_K, 0, 0, _number(operand)), line)


def _raw(mnemonic: str, operand: str, line: _Line) -> _Pending:
    parts = [p.strip() for p in operand.split(",")]
    if len(parts) != 4:
        raise ValueError(".insn takes code, jt, jf, k")
    code, jt, jf, k = (parse_number(p) for p in parts)
    if code > 0xFFFF or jt > 0xFF or jf > 0xFF:
        raise ValueError("code is 16 bits, jt and jf 8 bits")
    return _Pending(SockFilter(code, jt, jf, k), line)


_HANDLERS: dict[str, Callable[[str, str, _Line], _Pending]] = {
    "ld": _load, "ldh": _load, "ldb": _load,
    "ldi": _load_imm, "ldxi": _load_imm,
    "ldx": _loadx, "ldxb": _loadx,
    "st": _store, "stx": _store,
    "jmp": _ja, "ja": _ja,
    "neg": _bare(C.BPF_ALU | C.BPF_NEG),
    "tax": _bare(C.BPF_MISC | C.BPF_TAX),
    "txa": _bare(C.BPF_MISC | C.BPF_TXA),
    "ret": _ret,
    ".insn": _raw,
}
_HANDLERS.update({name: _alu for name in ALU_OPS.values()})
_HANDLERS.update({name: _cond for name in (*JUMP_OPS.values(), *_NEGATED)})


# --- tcpdump's dumps and bpf_asm's output -----------------------------------------------

_D_LINE = re.compile(r"\((\d+)\)\s+(\S+)\s*(.*?)\s*$")
_D_JUMP = re.compile(r"(.*?)\s*jt\s+(\d+)\s+jf\s+(\d+)$")
_DD_LINE = re.compile(r"\{\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER
                      + r")\s*,\s*(" + _NUMBER + r")\s*\}\s*,?\s*$")


def parse_tcpdump(text: str, fmt: str | None = None) -> list[SockFilter]:
    """Read the output of ``tcpdump -d``, ``-dd`` or ``-ddd`` (``fmt``
    ``d``, ``dd``, ``ddd``; None: recognise it), or ``bpf_asm``'s
    ``N,code jt jf k,...`` line."""
    fmt = fmt or detect_format(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if fmt == "d":
        return _parse_d(lines)
    if fmt == "dd":
        out = []
        for n, ln in enumerate(lines, 1):
            m = _DD_LINE.match(ln)
            if not m:
                raise AssemblerError("not a tcpdump -dd line ({ code, jt, jf, k },)", line=n,
                                     token=ln)
            out.append(_checked(n, ln, *(parse_number(g) for g in m.groups())))
        return out
    if fmt == "ddd":
        return _parse_counted([ln for ln in lines], "tcpdump -ddd")
    if fmt == "bpf_asm":
        items = [p.strip() for p in " ".join(lines).split(",")]
        return _parse_counted([p for p in items if p], "bpf_asm output")
    raise ValueError(f"unknown dump format {fmt!r}")


def _checked(n: int, text: str, code: int, jt: int, jf: int, k: int) -> SockFilter:
    if code > 0xFFFF or jt > 0xFF or jf > 0xFF:
        raise AssemblerError("field out of range (code 16 bits, jt and jf 8 bits)", line=n,
                             token=text)
    return SockFilter(code, jt, jf, k)


def _parse_counted(items: list[str], what: str) -> list[SockFilter]:
    if not items:
        raise AssemblerError(f"empty {what}")
    try:
        count = int(items[0])
    except ValueError:
        raise AssemblerError(f"{what} starts with the instruction count", line=1,
                             token=items[0]) from None
    body = items[1:]
    if count != len(body):
        raise AssemblerError(f"{what} announces {count} instructions but has {len(body)}",
                             line=1, token=items[0])
    out = []
    for n, item in enumerate(body, 2):
        fields = item.split()
        if len(fields) != 4:
            raise AssemblerError(f"{what}: an instruction is four numbers (code jt jf k)",
                                 line=n, token=item)
        try:
            values = [parse_number(f) for f in fields]
        except ValueError as e:
            raise AssemblerError(f"{what}: {e}", line=n, token=item) from None
        out.append(_checked(n, item, *values))
    return out


def _parse_d(lines: list[str]) -> list[SockFilter]:
    pending: list[_Pending] = []
    for n, text in enumerate(lines, 1):
        m = _D_LINE.match(text)
        if not m or int(m[1]) != len(pending):
            raise AssemblerError("not the next tcpdump -d line ((NNN) op operand)", line=n,
                                 token=text)
        pc, mnemonic, operand = len(pending), m[2].lower(), m[3]
        line = _Line(n, text, [], None)
        if mnemonic == "unimp":
            raise AssemblerError("tcpdump -d prints invalid instructions as 'unimp' without "
                                 "their fields: read -dd or -ddd output instead", line=n,
                                 token=text)
        jm = _D_JUMP.match(operand)
        if mnemonic == "ja":
            target = int(operand) - pc - 1
            pending.append(_Pending(SockFilter(C.BPF_JMP | C.BPF_JA, 0, 0, target & U32), line))
            continue
        if jm:
            jt, jf = int(jm[2]) - pc - 1, int(jm[3]) - pc - 1
            p = _parse_instruction(f"{mnemonic} {jm[1]}, +0", line)
            if not 0 <= jt <= 0xFF or not 0 <= jf <= 0xFF:
                raise AssemblerError("jump target out of reach", line=n, token=text)
            pending.append(_Pending(p.insn._replace(jt=jt, jf=jf), line))
            continue
        pending.append(_parse_instruction(f"{mnemonic} {operand}".strip(), line))
    return [p.insn for p in pending]


def detect_format(text: str) -> str:
    """Which text form ``text`` is: ``d``, ``dd``, ``ddd`` (tcpdump's),
    ``bpf_asm`` (``bpf_asm``'s ``N,code jt jf k,...`` output) or ``asm``
    (``bpf_asm`` source)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "asm"
    first = lines[0]
    if _D_LINE.match(first) and first.startswith("(") and re.match(r"\(\d+\)", first):
        return "d"
    if first.startswith("{"):
        return "dd"
    if re.match(r"\d+\s*,", first):
        return "bpf_asm"
    if re.match(r"\d+$", first) and all(re.match(r"\d+\s+\d+\s+\d+\s+\d+$", ln)
                                        for ln in lines[1:]):
        return "ddd"
    return "asm"


def parse_program(text: str, *, source: str | None = None) -> list[SockFilter]:
    """A classic program from any of its text forms: ``bpf_asm`` source,
    ``tcpdump -d``/``-dd``/``-ddd`` output or ``bpf_asm`` output."""
    fmt = detect_format(text)
    if fmt == "asm":
        return assemble(text, source=source)
    return parse_tcpdump(text, fmt)
