"""Classic BPF programs as text: tcpdump's three dump formats and the
syntax of the kernel's ``bpf_asm``.

- :func:`image` and ``dump(prog, "d")`` print as ``tcpdump -d`` does
  (libpcap's ``bpf_image``): ``(000) ldh      [12]``, jumps with absolute
  ``jt``/``jf`` targets.
- ``dump(prog, "dd")`` is ``tcpdump -dd``, a C array body:
  ``{ 0x28, 0, 0, 0x0000000c },``.
- ``dump(prog, "ddd")`` is ``tcpdump -ddd``: the count, then one
  ``code jt jf k`` line of decimals per instruction.
- :func:`disassemble` prints ``bpf_asm`` source with labels (``ld
  #proto``, ``jeq #0x800, L3, L7``) that :func:`pybpf.cbpf.asm.assemble`
  reads back into the same instructions; :func:`bpf_asm_output` prints
  what ``bpf_asm`` itself outputs (``4,40 0 0 12,...`` or, C-style, the
  ``-dd`` lines).

One departure from libpcap: ``ldx #len`` (code 0x81, which libpcap never
generates and prints as ``unimp``) prints as ``ldx      #pktlen``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..spec import cbpf as C
from .insn import CONDITIONAL, Kind, SockFilter, s32, set_text_formatter

# --- tcpdump -d / -dd / -ddd ---------------------------------------------------------------


def _image_operand(insn: SockFilter, pc: int) -> tuple[str, str]:
    """(mnemonic, operand) as libpcap's bpf_image prints them."""
    form = insn.form
    k = insn.k
    if form is None:
        return "unimp", f"{insn.code:#x}"
    kind = form.kind
    if kind is Kind.LOAD_ABS:
        name = C.ANCILLARY_TCPDUMP.get(s32(k) - C.SKF_AD_OFF) if s32(k) < 0 else None
        return form.mnemonic, f"[{name}]" if name else f"[{s32(k)}]"
    if kind is Kind.LOAD_IND:
        return form.mnemonic, f"[x + {s32(k)}]"
    if kind is Kind.LOAD_IMM:
        return form.mnemonic, f"#{k:#x}"
    if kind in (Kind.LOAD_MEM, Kind.STORE):
        return form.mnemonic, f"M[{s32(k)}]"
    if kind is Kind.LOAD_LEN:
        return form.mnemonic, "#pktlen"
    if kind is Kind.LOAD_MSH:
        return form.mnemonic, f"4*([{s32(k)}]&0xf)"
    if kind is Kind.ALU_K:
        if form.operation in ("and", "or", "xor"):
            return form.mnemonic, f"#{k:#x}"
        return form.mnemonic, f"#{s32(k)}"
    if kind in (Kind.ALU_X, Kind.JUMP_X):
        return form.mnemonic, "x"
    if kind is Kind.JUMP_K:
        return form.mnemonic, f"#{k:#x}"
    if kind is Kind.JA:
        return form.mnemonic, f"{s32(pc + 1 + k)}"
    if kind is Kind.RET_K:
        return form.mnemonic, f"#{s32(k)}"
    return form.mnemonic, ""  # ret a, neg, tax, txa


def image(insn: SockFilter, pc: int) -> str:
    """Instruction ``pc`` as one line of ``tcpdump -d``."""
    mnemonic, operand = _image_operand(insn, pc)
    if insn.code & C.CLASS_MASK == C.BPF_JMP and insn.code & C.OP_MASK != C.BPF_JA:
        return f"({pc:03d}) {mnemonic:<8} {operand:<16} jt {pc + 1 + insn.jt}\tjf " \
               f"{pc + 1 + insn.jf}"
    return f"({pc:03d}) {mnemonic:<8} {operand}"


FORMATS = ("d", "dd", "ddd")
"""The dump formats, named after tcpdump's options."""


def dump_lines(program: Sequence[SockFilter], fmt: str = "d") -> list[str]:
    """The lines ``tcpdump -<fmt>`` prints for ``program``."""
    if fmt == "d":
        return [image(insn, pc) for pc, insn in enumerate(program)]
    if fmt == "dd":
        return [f"{{ {i.code:#x}, {i.jt}, {i.jf}, 0x{i.k:08x} }}," for i in program]
    if fmt == "ddd":
        return [str(len(program))] + [f"{i.code} {i.jt} {i.jf} {i.k}" for i in program]
    raise ValueError(f"dump format {fmt!r}: one of {', '.join(FORMATS)}")


def dump(program: Sequence[SockFilter], fmt: str = "d") -> str:
    """``program`` as ``tcpdump -d``, ``-dd`` or ``-ddd`` prints it (with
    the final newline)."""
    return "".join(line + "\n" for line in dump_lines(program, fmt))


# --- bpf_asm syntax ----------------------------------------------------------------------------

def _number(k: int) -> str:
    return f"{k:#x}" if k > 9 else str(k)


def _offset(k: int) -> str:
    return str(s32(k))


def format_bpf_asm(insn: SockFilter, pc: int | None = None,
                   labels: dict[int, str] | None = None) -> str:
    """One instruction in ``bpf_asm`` syntax.  Jump targets print as the
    ``labels`` of their absolute pcs when given (and ``pc`` is known),
    otherwise as relative counts (``+2``, an extension ``bpf_asm`` lacks)."""
    form = insn.form
    k = insn.k
    if form is None or not is_canonical(insn):
        return f".insn {insn.code:#x}, {insn.jt}, {insn.jf}, {k:#x}"
    kind, m = form.kind, form.mnemonic

    def target(skip: int) -> str:
        if pc is not None and labels is not None:
            return labels[pc + 1 + skip]
        return f"+{skip}"

    if kind is Kind.LOAD_ABS:
        name = C.ANCILLARY_BPF_ASM.get(s32(k) - C.SKF_AD_OFF) if s32(k) < 0 else None
        return f"{m} #{name}" if name else f"{m} [{_offset(k)}]"
    if kind is Kind.LOAD_IND:
        return f"{m} [x + {_offset(k)}]"
    if kind is Kind.LOAD_IMM:
        return f"{m} #{_number(k)}"
    if kind in (Kind.LOAD_MEM, Kind.STORE):
        return f"{m} M[{k}]"
    if kind is Kind.LOAD_LEN:
        return f"{m} #len"
    if kind is Kind.LOAD_MSH:
        return f"{m} 4*([{_offset(k)}]&0xf)"
    if kind is Kind.ALU_K:
        return f"{m} #{_number(k)}"
    if kind is Kind.ALU_X:
        return f"{m} x"
    if kind is Kind.JA:
        return f"ja {target(k)}"
    if kind in CONDITIONAL:
        operand = "x" if kind is Kind.JUMP_X else f"#{_number(k)}"
        return f"{m} {operand}, {target(insn.jt)}, {target(insn.jf)}"
    if kind is Kind.RET_K:
        return f"ret #{_number(k)}"
    if kind is Kind.RET_A:
        return "ret a"
    return m  # neg, tax, txa


_K_UNUSED = (Kind.LOAD_LEN, Kind.ALU_X, Kind.NEG, Kind.RET_A, Kind.TAX, Kind.TXA, Kind.JUMP_X)


def is_canonical(insn: SockFilter) -> bool:
    """Whether the fields ``insn``'s code ignores are 0 (jt and jf outside
    conditional jumps, k where the operand is not a constant), so that its
    text names every bit of it."""
    form = insn.form
    if form is None:
        return False
    if form.kind not in CONDITIONAL and (insn.jt or insn.jf):
        return False
    return not (form.kind in _K_UNUSED and insn.k)


def jump_targets(program: Sequence[SockFilter]) -> set[int]:
    """The absolute pcs some jump of ``program`` lands on."""
    targets: set[int] = set()
    for pc, insn in enumerate(program):
        form = insn.form
        if form is None:
            continue
        if form.kind is Kind.JA:
            targets.add(pc + 1 + insn.k)
        elif form.kind in CONDITIONAL:
            targets.update((pc + 1 + insn.jt, pc + 1 + insn.jf))
    return targets


def disassemble(program: Sequence[SockFilter]) -> str:
    """``program`` as ``bpf_asm`` source: one instruction a line, a label
    ``L<pc>:`` before every jump target.  Assembles back to ``program``."""
    targets = jump_targets(program)
    labels = {t: f"L{t}" for t in targets}
    lines = []
    for pc, insn in enumerate(program):
        text = format_bpf_asm(insn, pc, labels)
        prefix = f"{labels[pc]}:" if pc in labels else ""
        lines.append(f"{prefix:<8}{text}")
    lines += [f"{labels[t]}:" for t in sorted(targets) if t >= len(program)]
    return "\n".join(lines) + "\n"


def _c_alt_hex(value: int, width: int) -> str:
    """C's ``%#0<width>x``: ``0x`` and zero padding, but a bare ``0...0``
    for zero (the ``#`` flag adds no prefix to zero)."""
    return "0" * width if value == 0 else f"{value:#0{width}x}"


def bpf_asm_output(program: Iterable[SockFilter], c_style: bool = False) -> str:
    """What the kernel's ``bpf_asm`` prints: ``N,code jt jf k,...,`` (the
    form ``xt_bpf`` and ``tc`` take), or with ``c_style`` (``bpf_asm -c``)
    one ``{ 0x28,  0,  0, 0x0000000c },`` line per instruction."""
    insns = list(program)
    if c_style:
        return "".join(f"{{ {_c_alt_hex(i.code, 4)}, {i.jt:2}, {i.jf:2}, "
                       f"{_c_alt_hex(i.k, 10)} }},\n" for i in insns)
    return f"{len(insns)}," + "".join(f"{i.code} {i.jt} {i.jf} {i.k}," for i in insns) + "\n"


set_text_formatter(format_bpf_asm)
