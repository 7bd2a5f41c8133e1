"""Assembler: text in the uBPF or the kernel/LLVM syntax to instruction slots.

Both syntaxes accept labels (``name:`` at the start of a line), jump targets
written as labels or as signed offsets, decimal and hex immediates, and the
``.insn opcode, dst, src, off, imm`` directive for an arbitrary slot.  Lines
copied from ``llvm-objdump -d`` (``  3:  b7 01 00 00 01 00 00 00  r1 = 1``),
from the kernel verifier log (``3: (b7) r1 = 1``) or from ``pybpf disasm
--pcs`` assemble as they are.

Errors are :class:`~pybpf.errors.AssemblerError` naming the line, the column
and the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import AssemblerError
from .insn import LDDW_OPCODE, Insn, s32
from .lexer import Cursor, Token, check_range, shown, strip_comment, tokenize
from .opcodes import (
    ATOMIC_OPS,
    FORMS_BY_NAME,
    LDDW_PSEUDO_NAMES,
    PSEUDO_BTF_ID,
    PSEUDO_FUNC,
    PSEUDO_IMM,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
    Kind,
    OpForm,
)

HelperLookup = Mapping[str, int] | Callable[[str], int | None] | None

_PREFIX = re.compile(r"""^\s*\d+:\s*
    (?:\((?P<opcode>[0-9a-fA-F]{2})\)\s*)?            # kernel log: (b7)
    (?:(?:[0-9a-fA-F]{2}[ \t]){7,15}[0-9a-fA-F]{2}(?:\s+|$))?  # objdump: raw bytes
""", re.VERBOSE)
_LABEL = re.compile(r"\s*([A-Za-z_.$][A-Za-z0-9_.$]*)\s*:(?!=)")  # matched at a position

_ALIASES = {"swap16": "bswap16", "swap32": "bswap32", "swap64": "bswap64", "gotol": "ja32",
            "jmp": "ja", "mov64": "mov", "add64": "add", "sub64": "sub", "mul64": "mul",
            "div64": "div", "or64": "or", "and64": "and", "lsh64": "lsh", "rsh64": "rsh",
            "neg64": "neg", "mod64": "mod", "xor64": "xor", "arsh64": "arsh",
            "sdiv64": "sdiv", "smod64": "smod"}
_REGISTER_NAME = re.compile(r"^%?[rw]\d+$")


@dataclass
class _Stmt:
    """One parsed instruction before its labels are resolved."""

    form: OpForm | None
    line: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    hi: int = 0                       # the second slot's imm, for lddw
    target: Token | None = None       # a label to resolve
    target_field: str = "off"         # which field the resolved offset goes to
    raw: Insn | None = None           # a .insn directive

    @property
    def slots(self) -> int:
        return self.form.slots if self.form is not None else 1


def detect_syntax(text: str) -> str:
    """``"llvm"`` if the text looks like kernel/LLVM syntax, else ``"ubpf"``."""
    for raw in text.splitlines():
        line = _PREFIX.sub("", strip_comment(raw, ("#", ";", "//")), count=1)
        if "%r" in line:
            return "ubpf"
        if "=" in line or re.search(r"\b(goto|gotol|may_goto)\b", line):
            return "llvm"
    return "ubpf"


def assemble(text: str, syntax: str = "auto", *, helper_ids: HelperLookup = None,
             source: str | None = None) -> list[Insn]:
    """Assemble ``text`` into instruction slots.

    ``syntax`` is ``"ubpf"``, ``"llvm"`` or ``"auto"`` (decided from the
    text).  ``helper_ids`` maps helper names to ids so that ``call
    bpf_map_lookup_elem`` works; ``source`` names the text in errors.
    """
    if syntax == "auto":
        syntax = detect_syntax(text)
    if syntax == "ubpf":
        parse = _parse_ubpf
        comments: tuple[str, ...] = ("#", ";", "//")
    elif syntax == "llvm":
        parse = _parse_llvm
        comments = (";", "//")
    else:
        raise ValueError(f"unknown syntax {syntax!r}; choose 'ubpf', 'llvm' or 'auto'")

    stmts: list[_Stmt] = []
    labels: dict[str, int] = {}
    pc = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw, comments)
        if syntax == "llvm":
            line = re.sub(r"(^|\s)#.*$", "", line)
        hint = None
        m = _PREFIX.match(line)
        if m:
            hint = int(m.group("opcode"), 16) if m.group("opcode") else None
            line = " " * m.end() + line[m.end():]
        pos = 0
        while lm := _LABEL.match(line, pos):
            name = lm.group(1)
            if _REGISTER_NAME.match(name):
                raise AssemblerError("a register name cannot be a label", line=lineno,
                                     column=lm.start(1) + 1, token=shown(name), source=source)
            if name in labels:
                raise AssemblerError("label defined twice", line=lineno, column=lm.start(1) + 1,
                                     token=shown(name), source=source)
            labels[name] = pc
            pos = lm.end()
        if pos:
            line = " " * pos + line[pos:]  # columns keep counting from the line's start
        if not line.strip():
            continue
        cur = Cursor(tokenize(line, lineno, source), lineno, source)
        stmt = _parse_raw(cur) if cur.at(".insn") else parse(cur, helper_ids, hint)
        stmt.line = lineno
        stmts.append(stmt)
        pc += stmt.slots
    return _resolve(stmts, labels, source)


def _resolve(stmts: list[_Stmt], labels: dict[str, int], source: str | None) -> list[Insn]:
    out: list[Insn] = []
    pc = 0
    first_exit = None
    for st in stmts:
        if st.form is not None and st.form.kind is Kind.EXIT:
            first_exit = pc
            break
        pc += st.slots
    pc = 0
    for st in stmts:
        if st.raw is not None:
            out.append(st.raw)
            pc += 1
            continue
        assert st.form is not None
        if st.target is not None:
            name = st.target.text
            target = labels.get(name)
            if target is None and name == "exit":
                target = first_exit  # uBPF convention: "exit" names the first exit
            if target is None:
                raise AssemblerError("undefined label", line=st.line, column=st.target.col,
                                     token=shown(name), source=source)
            offset = target - (pc + 1)
            bits = 16 if st.target_field == "off" else 32
            if not -(1 << (bits - 1)) <= offset < (1 << (bits - 1)):
                raise AssemblerError(f"label is {offset} slots away, too far for a "
                                     f"{bits}-bit offset", line=st.line, column=st.target.col,
                                     token=shown(name), source=source)
            setattr(st, st.target_field, offset)
        out.append(Insn(st.form.opcode, st.dst, st.src, st.off, st.imm))
        if st.form.slots == 2:
            out.append(Insn(0, 0, 0, 0, st.hi))
        pc += st.slots
    return out


# --- pieces shared by both syntaxes ------------------------------------------

def _parse_raw(cur: Cursor) -> _Stmt:
    cur.expect(".insn")
    fields = []
    for i, (what, bits, lo, hi) in enumerate((("opcode", 8, 0, 255), ("dst", 4, 0, 15),
                                              ("src", 4, 0, 15), ("off", 16, None, None),
                                              ("imm", 32, None, None))):
        if i:
            cur.expect(",", "',' between .insn fields")
        value, tok, hexed = cur.signed_number(what)
        if lo is not None:
            if not lo <= value <= hi:
                raise cur.error(f"{what} {value} is out of range {lo}..{hi}", tok)
        else:
            value = check_range(value, hexed, bits, what, cur, tok)
        fields.append(value)
    cur.expect_end()
    return _Stmt(None, cur.line, raw=Insn(*fields))


def _register(cur: Cursor, what: str = "a register", widths: str = "r") -> tuple[int, str]:
    tok = cur.peek()
    if tok.kind != "reg":
        raise cur.error(f"expected {what}", tok)
    letter = tok.text.lstrip("%")[0]
    if letter not in widths:
        raise cur.error(f"expected {what} (r0-r10" + (" or w0-w10)" if "w" in widths else ")"),
                        tok)
    reg = tok.reg
    if reg > 10:
        raise cur.error("invalid register: there are r0 to r10", tok)
    cur.next()
    return reg, letter


def _imm32(cur: Cursor, what: str = "an immediate") -> int:
    value, tok, hexed = cur.signed_number(what)
    return check_range(value, hexed, 32, "immediate", cur, tok)


def _offset16(cur: Cursor, what: str = "an offset") -> int:
    value, tok, _hexed = cur.signed_number(what)
    if not -0x8000 <= value <= 0x7FFF:
        raise cur.error(f"offset {value} is out of range for 16 bits", tok)
    return value


def _target(cur: Cursor, st: _Stmt, field: str) -> None:
    """A jump or call target: a label, ``+N``/``-N``, ``N`` or ``pc+N``."""
    st.target_field = field
    tok = cur.peek()
    if tok.kind == "ident" and tok.text == "pc" and cur.peek(1).text in "+-":
        cur.next()
    tok = cur.peek()
    if tok.kind == "ident":
        st.target = cur.next()
    else:
        value, first, hexed = cur.signed_number("a jump target (label or offset)")
        bits = 16 if field == "off" else 32
        setattr(st, field, check_range(value, hexed, bits, "offset", cur, first))
    if cur.at("<"):  # llvm-objdump appends the target label: goto +3 <LBB0_2>
        cur.next()
        cur.expect_kind("ident", "a label name")
        cur.expect(">")


def _pseudo(cur: Cursor, st: _Stmt) -> bool:
    """Parse a pseudo ``lddw`` operand (``map[fd:5]``, ``map[idx:1][0]+8``,
    ``btf_var[id:N]``, ``func[+3]``) into ``st``; False if none is here."""
    tok = cur.peek()
    if tok.kind != "ident" or tok.text not in ("map", "btf_var", "func") or \
            cur.peek(1).text != "[":
        return False
    cur.next()
    cur.expect("[")
    if tok.text == "func":
        st.form = _lddw(PSEUDO_FUNC)
        _target(cur, st, "imm")
        cur.expect("]")
        return True
    key = cur.expect_kind("ident", "'fd', 'idx' or 'id'")
    cur.expect(":")
    value = _imm32(cur, "a number")
    if tok.text == "btf_var":
        if key.text != "id":
            raise cur.error("expected 'id'", key)
        st.form, st.imm = _lddw(PSEUDO_BTF_ID), value
        if cur.accept(","):
            k2 = cur.expect_kind("ident", "'btf'")
            if k2.text != "btf":
                raise cur.error("expected 'btf'", k2)
            cur.expect(":")
            st.hi = _imm32(cur, "a BTF object index")
        cur.expect("]")
        return True
    if key.text not in ("fd", "idx"):
        raise cur.error("expected 'fd' or 'idx'", key)
    cur.expect("]")
    st.imm = value
    if cur.accept("["):
        index = cur.peek()
        if cur.signed_number("0")[0] != 0:
            raise cur.error("only element 0 of a map value can be addressed", index)
        cur.expect("]")
        cur.expect("+", "'+' and a value offset")
        st.hi = _imm32(cur, "a value offset")
        st.form = _lddw(PSEUDO_MAP_VALUE if key.text == "fd" else PSEUDO_MAP_IDX_VALUE)
    else:
        st.form = _lddw(PSEUDO_MAP_FD if key.text == "fd" else PSEUDO_MAP_IDX)
    return True


def _lddw(pseudo: int) -> OpForm:
    return _one("lddw" if pseudo == PSEUDO_IMM else f"lddw {LDDW_PSEUDO_NAMES[pseudo]}")


def _lddw_value(st: _Stmt, cur: Cursor) -> None:
    value, tok, _ = cur.signed_number("a 64-bit immediate")
    if not -(1 << 63) <= value < (1 << 64):
        raise cur.error(f"immediate {value} is out of range for 64 bits", tok)
    value &= (1 << 64) - 1
    st.form = _lddw(PSEUDO_IMM)
    st.imm, st.hi = s32(value), s32(value >> 32)


def _helper_id(name: Token, cur: Cursor, helper_ids: HelperLookup) -> int | None:
    if helper_ids is None:
        return None
    if callable(helper_ids):
        return helper_ids(name.text)
    return helper_ids.get(name.text)


def _one(name: str, source: str | None = None) -> OpForm:
    forms = FORMS_BY_NAME[name]
    if source is None:
        return forms[0]
    for form in forms:
        if form.source == source:
            return form
    raise AssertionError((name, source))


# --- uBPF syntax ---------------------------------------------------------------

def _ubpf_mem(cur: Cursor) -> tuple[int, int]:
    cur.expect("[", "a memory operand like [%r1+8]")
    reg, _ = _register(cur, "a base register")
    off = 0
    if cur.at("+", "-"):
        off = _offset16(cur)
    cur.expect("]", "']' closing the memory operand")
    return reg, off


def _parse_ubpf(cur: Cursor, helper_ids: HelperLookup, hint: int | None) -> _Stmt:
    head = cur.expect_kind("ident", "an instruction mnemonic")
    name = _ALIASES.get(head.text.lower(), head.text.lower())
    st = _Stmt(None, cur.line)

    if name == "lock":
        fetch = bool(cur.accept("fetch"))
        op_tok = cur.peek()
        if op_tok.kind != "ident":
            raise cur.error("Invalid number of operands for lock: expected "
                            "'lock [fetch] OP [%rD+off], %rS'", op_tok)
        cur.next()
        full = f"lock {'fetch ' if fetch else ''}{op_tok.text.lower()}"
        if full not in FORMS_BY_NAME:
            raise cur.error("unknown atomic operation", op_tok)
        st.form = _one(full)
        if not cur.at("["):
            raise cur.error(f"Invalid number of operands for lock: '{full}' takes "
                            "[%rD+off], %rS")
        st.dst, st.off = _ubpf_mem(cur)
        if not cur.accept(","):
            raise cur.error(f"Invalid number of operands for lock: '{full}' takes "
                            "[%rD+off], %rS")
        st.src, _ = _register(cur, "the source register")
        st.imm = dict(st.form.fixed)["imm"]
        cur.expect_end()
        return st

    if name == "call":
        if cur.accept("local"):
            st.form = _one("call local")
            st.src = 1
            _target(cur, st, "imm")
        elif cur.accept("kfunc"):
            st.form = _one("call kfunc")
            st.src = 2
            st.imm = _imm32(cur, "a kfunc BTF id")
            if cur.accept(","):
                st.off = _offset16(cur, "a BTF object index")
        elif cur.peek().kind == "reg":
            st.form = _one("callx")
            st.dst, _ = _register(cur)
        elif cur.peek().kind == "ident":
            tok = cur.next()
            helper = _helper_id(tok, cur, helper_ids)
            if helper is None:
                raise cur.error("unknown helper name (use 'call local LABEL' for a function)",
                                tok)
            st.form, st.imm = _one("call"), helper
        else:
            st.form, st.imm = _one("call"), _imm32(cur, "a helper id")
        cur.expect_end()
        return st

    forms = FORMS_BY_NAME.get(name)
    if forms is None or name in ("call local", "call kfunc") or name.startswith("lock") or \
            name.startswith("lddw "):
        raise cur.error("unknown instruction mnemonic", head)
    form = forms[0]
    k = form.kind
    count = _operand_count(k)

    def sep():
        if not cur.accept(","):
            got = cur.peek()
            raise cur.error(f"'{name}' takes {count} operands separated by ','"
                            + ("" if got.kind == "end" else f", not {got.text!r}"), got)

    fixed = dict(form.fixed)
    st.form = form
    if k in (Kind.ALU, Kind.MOV):
        st.dst, _ = _register(cur, "the destination register")
        sep()
        if cur.peek().kind == "reg":
            st.form = _one(name, "reg")
            st.src, _ = _register(cur)
        else:
            st.form = _one(name, "imm")
            st.imm = _imm32(cur, "a register or an immediate")
        st.off = dict(st.form.fixed).get("off", 0)
    elif k in (Kind.NEG, Kind.END, Kind.BSWAP):
        st.dst, _ = _register(cur, "the register")
        st.imm = fixed.get("imm", 0)
    elif k is Kind.MOVSX:
        st.dst, _ = _register(cur, "the destination register")
        sep()
        st.src, _ = _register(cur, "the source register")
        st.off = fixed["off"]
    elif k is Kind.ADDR_SPACE_CAST:
        st.dst, _ = _register(cur, "the destination register")
        sep()
        st.src, _ = _register(cur, "the source register")
        sep()
        dst_as = _imm32(cur, "the destination address space")
        sep()
        src_as = _imm32(cur, "the source address space")
        st.imm, st.off = s32((dst_as << 16) | (src_as & 0xFFFF)), fixed["off"]
    elif k is Kind.JCOND:
        st.dst, _ = _register(cur, "the register to compare")
        sep()
        if cur.peek().kind == "reg":
            st.form = _one(name, "reg")
            st.src, _ = _register(cur)
        else:
            st.form = _one(name, "imm")
            st.imm = _imm32(cur, "a register or an immediate")
        sep()
        _target(cur, st, "off")
    elif k in (Kind.JA, Kind.MAY_GOTO):
        _target(cur, st, "off")
    elif k is Kind.GOTOL:
        _target(cur, st, "imm")
    elif k is Kind.EXIT:
        pass
    elif k is Kind.CALLX:
        st.dst, _ = _register(cur, "the register holding the call target")
    elif k in (Kind.LOAD, Kind.LOAD_SX, Kind.LOAD_ACQUIRE):
        st.dst, _ = _register(cur, "the destination register")
        sep()
        st.src, st.off = _ubpf_mem(cur)
        st.imm = fixed.get("imm", 0)
    elif k is Kind.STORE_IMM:
        st.dst, st.off = _ubpf_mem(cur)
        sep()
        st.imm = _imm32(cur)
    elif k in (Kind.STORE_REG, Kind.STORE_RELEASE):
        st.dst, st.off = _ubpf_mem(cur)
        sep()
        st.src, _ = _register(cur, "the source register")
        st.imm = fixed.get("imm", 0)
    elif k is Kind.LDDW:
        st.dst, _ = _register(cur, "the destination register")
        sep()
        if not _pseudo(cur, st):
            _lddw_value(st, cur)
        assert st.form is not None
        st.src = st.form.pseudo
    elif k is Kind.LD_ABS:
        st.imm = _imm32(cur)
    elif k is Kind.LD_IND:
        st.src, _ = _register(cur, "the index register")
        sep()
        st.imm = _imm32(cur)
    else:
        raise cur.error("unknown instruction mnemonic", head)
    if cur.peek().kind != "end":
        tok = cur.peek()
        raise cur.error(f"too many operands: '{name}' takes {count}", tok)
    return st


def _operand_count(kind: Kind) -> int:
    return {Kind.ALU: 2, Kind.MOV: 2, Kind.NEG: 1, Kind.END: 1, Kind.BSWAP: 1, Kind.MOVSX: 2,
            Kind.ADDR_SPACE_CAST: 4, Kind.JCOND: 3, Kind.JA: 1, Kind.MAY_GOTO: 1,
            Kind.GOTOL: 1, Kind.EXIT: 0, Kind.CALLX: 1, Kind.LOAD: 2, Kind.LOAD_SX: 2, Kind.LOAD_ACQUIRE: 2,
            Kind.STORE_IMM: 2, Kind.STORE_REG: 2, Kind.STORE_RELEASE: 2, Kind.LDDW: 2,
            Kind.LD_ABS: 1, Kind.LD_IND: 2}.get(kind, 0)


# --- kernel / LLVM syntax ------------------------------------------------------

_LLVM_ALU = {"+=": "add", "-=": "sub", "*=": "mul", "/=": "div", "|=": "or", "&=": "and",
             "<<=": "lsh", ">>=": "rsh", "%=": "mod", "^=": "xor", "s>>=": "arsh",
             "s/=": "sdiv", "s%=": "smod"}
_LLVM_JMP = {"==": "jeq", "!=": "jne", ">": "jgt", ">=": "jge", "<": "jlt", "<=": "jle",
             "s>": "jsgt", "s>=": "jsge", "s<": "jslt", "s<=": "jsle", "&": "jset"}
_LLVM_ATOMIC = {"+=": "add", "|=": "or", "&=": "and", "^=": "xor"}
_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "s8": 1, "s16": 2, "s32": 4, "s64": 8}


def _llvm_type(cur: Cursor) -> tuple[int, bool]:
    """``(u32 *)`` -> (4, False); ``(s8 *)`` -> (1, True)."""
    cur.expect("(", "'(' and a type like u32")
    tok = cur.peek()
    if tok.text not in _SIZES:
        raise cur.error("expected a type: u8, u16, u32, u64, s8, s16 or s32", tok)
    cur.next()
    cur.expect("*")
    cur.expect(")")
    return _SIZES[tok.text], tok.text.startswith("s")


def _llvm_mem(cur: Cursor) -> tuple[int, int]:
    """``(r1 + 8)`` -> (1, 8)."""
    cur.expect("(", "'(' and a register like (r1 + 8)")
    reg, _ = _register(cur, "a base register", "rw")
    off = 0
    if cur.at("+", "-"):
        off = _offset16(cur)
    cur.expect(")")
    return reg, off


def _llvm_pointer(cur: Cursor) -> tuple[int, int, int]:
    """``(u64 *)(r10 - 8)`` -> (size, reg, off)."""
    size, _ = _llvm_type(cur)
    reg, off = _llvm_mem(cur)
    return size, reg, off


def _sized(prefix: str, size: int, cur: Cursor, tok: Token) -> OpForm:
    name = prefix + {1: "b", 2: "h", 4: "w", 8: "dw"}[size]
    if name not in FORMS_BY_NAME:
        raise cur.error(f"no {prefix} instruction of {size} bytes", tok)
    return FORMS_BY_NAME[name][0]


def _parse_llvm(cur: Cursor, helper_ids: HelperLookup, hint: int | None) -> _Stmt:
    st = _Stmt(None, cur.line)
    tok = cur.peek()
    if tok.kind == "reg":
        _llvm_assign(cur, st, hint)
    elif tok.text == "if":
        cur.next()
        st.dst, width = _register(cur, "the register to compare", "rw")
        op = cur.next()
        if op.text not in _LLVM_JMP:
            raise cur.error("expected a comparison (==, !=, >, s<, & ...)", op)
        name = _LLVM_JMP[op.text] + ("32" if width == "w" else "")
        if cur.peek().kind == "reg":
            other = cur.peek()
            st.src, w2 = _register(cur, "a register", "rw")
            if w2 != width:
                raise cur.error("both sides of a comparison must be r or both w", other)
            st.form = _one(name, "reg")
        else:
            st.form = _one(name, "imm")
            st.imm = _imm32(cur, "a register or an immediate")
        cur.expect("goto")
        _target(cur, st, "off")
    elif tok.text in ("goto", "gotol", "may_goto"):
        cur.next()
        st.form = _one({"goto": "ja", "gotol": "ja32", "may_goto": "may_goto"}[tok.text])
        _target(cur, st, "imm" if tok.text == "gotol" else "off")
    elif tok.text == "exit":
        cur.next()
        st.form = _one("exit")
    elif tok.text == "callx":
        cur.next()
        st.form = _one("callx")
        st.dst, _ = _register(cur)
    elif tok.text == "call":
        cur.next()
        _llvm_call(cur, st, helper_ids)
    elif tok.text == "lock":
        cur.next()
        cur.expect("*")
        size, st.dst, st.off = _llvm_pointer(cur)
        op = cur.next()
        if op.text not in _LLVM_ATOMIC or size not in (4, 8):
            raise cur.error("expected +=, |=, &= or ^= on a u32 or u64", op)
        st.form = _one(f"lock {_LLVM_ATOMIC[op.text]}{'32' if size == 4 else ''}")
        st.src, _ = _register(cur, "the source register", "rw")
        st.imm = dict(st.form.fixed)["imm"]
    elif tok.text == "*":
        cur.next()
        size, st.dst, st.off = _llvm_pointer(cur)
        cur.expect("=")
        if cur.peek().kind == "reg":
            st.form = _sized("stx", size, cur, tok)
            st.src, _ = _register(cur, "the value register", "rw")
        else:
            st.form = _sized("st", size, cur, tok)
            st.imm = _imm32(cur, "a register or an immediate")
    elif tok.text == "store_release":
        cur.next()
        cur.expect("(")
        size, st.dst, st.off = _llvm_pointer(cur)
        cur.expect(",")
        st.src, _ = _register(cur, "the value register", "rw")
        cur.expect(")")
        st.form = _sized("strel", size, cur, tok)
        st.imm = dict(st.form.fixed)["imm"]
    else:
        raise cur.error("unknown instruction", tok)
    if st.form is not None and st.form.kind is Kind.LDDW:
        st.src = st.form.pseudo
    cur.expect_end()
    return st


def _llvm_call(cur: Cursor, st: _Stmt, helper_ids: HelperLookup) -> None:
    tok = cur.peek()
    if tok.text == "kfunc" and cur.peek(1).text == "[":
        cur.next()
        cur.next()
        key = cur.expect_kind("ident", "'id'")
        if key.text != "id":
            raise cur.error("expected 'id'", key)
        cur.expect(":")
        st.form, st.src = _one("call kfunc"), 2
        st.imm = _imm32(cur, "a kfunc BTF id")
        if cur.accept(","):
            k2 = cur.expect_kind("ident", "'btf'")
            if k2.text != "btf":
                raise cur.error("expected 'btf'", k2)
            cur.expect(":")
            st.off = _offset16(cur, "a BTF object index")
        cur.expect("]")
        return
    if tok.text in ("+", "-") or (tok.text == "pc" and cur.peek(1).text in ("+", "-")):
        st.form, st.src = _one("call local"), 1
        _target(cur, st, "imm")
        return
    if tok.kind == "num":
        st.form, st.imm = _one("call"), _imm32(cur, "a helper id")
        return
    if tok.kind == "ident":
        cur.next()
        if cur.accept("#"):
            st.form, st.imm = _one("call"), _imm32(cur, "a helper id after '#'")
            return
        helper = _helper_id(tok, cur, helper_ids)
        if helper is not None:
            st.form, st.imm = _one("call"), helper
            return
        st.form, st.src, st.target, st.target_field = _one("call local"), 1, tok, "imm"
        return
    raise cur.error("expected a helper id, name#id, pc+N or a label", tok)


def _llvm_assign(cur: Cursor, st: _Stmt, hint: int | None) -> None:
    dst_tok = cur.peek()
    st.dst, width = _register(cur, "a register", "rw")
    sfx = "32" if width == "w" else ""
    op = cur.next()
    if op.text in _LLVM_ALU:
        name = _LLVM_ALU[op.text] + sfx
        if cur.peek().kind == "reg":
            other = cur.peek()
            st.src, w2 = _register(cur, "a register", "rw")
            if w2 != width:
                raise cur.error("operands must both be r or both w registers", other)
            st.form = _one(name, "reg")
        else:
            st.form = _one(name, "imm")
            st.imm = _imm32(cur, "a register or an immediate")
        st.off = dict(st.form.fixed).get("off", 0)
        return
    if op.text != "=":
        raise cur.error("expected '=' or an operator like '+='", op)
    tok = cur.peek()
    if tok.text == "-" and cur.peek(1).kind == "reg":
        cur.next()
        reg_tok = cur.peek()
        reg, w2 = _register(cur, "a register", "rw")
        if reg != st.dst or w2 != width:
            raise cur.error("negation must be of the destination register: rN = -rN", reg_tok)
        st.form = _one("neg" + sfx)
        return
    if tok.text == "(" and cur.peek(1).text in ("s8", "s16", "s32"):
        cur.next()
        bits = int(cur.next().text[1:])
        cur.expect(")")
        src_tok = cur.peek()
        st.src, w2 = _register(cur, "the source register", "rw")
        if w2 != width:
            raise cur.error("sign extension keeps the register width", src_tok)
        name = f"movsx{bits}{64 if width == 'r' else 32}"
        if name not in FORMS_BY_NAME:
            raise cur.error(f"no {bits}-bit sign extension into a {width} register", tok)
        st.form = _one(name)
        st.off = bits
        return
    if tok.text == "*":
        cur.next()
        size, signed = _llvm_type(cur)
        if cur.accept("skb"):
            return _llvm_skb(cur, st, size, dst_tok)
        st.src, st.off = _llvm_mem(cur)
        if signed:
            if size == 8:
                raise cur.error("s64 loads are plain u64 loads", tok)
            st.form = _sized("ldxs", size, cur, tok)
        else:
            st.form = _sized("ldx", size, cur, tok)
        return
    if tok.kind == "reg":
        st.src, w2 = _register(cur, "a register", "rw")
        if w2 != width:
            raise cur.error("operands must both be r or both w registers", tok)
        st.form = _one("mov" + sfx, "reg")
        return
    if tok.kind == "ident":
        return _llvm_named(cur, st, width, dst_tok)
    # A number: mov, or lddw when marked "ll", too wide, or the kernel log says (18).
    value, first, hexed = cur.signed_number("a value")
    wide = cur.accept("ll") is not None or hint == LDDW_OPCODE
    if not wide and width == "r":
        limit = (1 << 32) - 1 if hexed else (1 << 31) - 1
        wide = not -(1 << 31) <= value <= limit
    if wide:
        if width == "w":
            raise cur.error("a 64-bit immediate needs an r register", first)
        if not -(1 << 63) <= value < (1 << 64):
            raise cur.error(f"immediate {value} is out of range for 64 bits", first)
        value &= (1 << 64) - 1
        st.form = _lddw(PSEUDO_IMM)
        st.imm, st.hi = s32(value), s32(value >> 32)
        return
    st.form = _one("mov" + sfx, "imm")
    st.imm = check_range(value, hexed, 32, "immediate", cur, first)


def _llvm_skb(cur: Cursor, st: _Stmt, size: int, dst_tok: Token) -> None:
    if st.dst != 0:
        raise cur.error("legacy packet loads always write r0", dst_tok)
    cur.expect("[")
    if cur.peek().kind == "reg":
        st.src, _ = _register(cur, "the index register")
        st.imm = _imm32(cur, "an offset") if cur.at("+", "-") else 0
        st.form = _sized("ldind", size, cur, dst_tok)
    else:
        st.imm = _imm32(cur, "an offset")
        st.form = _sized("ldabs", size, cur, dst_tok)
    st.dst = 0
    cur.expect("]")


def _llvm_named(cur: Cursor, st: _Stmt, width: str, dst_tok: Token) -> None:
    tok = cur.peek()
    name = tok.text
    m = re.fullmatch(r"(le|be|bswap)(16|32|64)", name)
    if m:
        cur.next()
        reg_tok = cur.peek()
        reg, _ = _register(cur, "the register", "rw")
        if reg != st.dst:
            raise cur.error("byte swaps work in place: rN = be16 rN", reg_tok)
        st.form = _one(name)
        st.imm = int(m.group(2))
        return
    if _pseudo(cur, st):
        cur.accept("ll")
        return
    cur.next()
    if name == "addr_space_cast":
        cur.expect("(")
        st.src, _ = _register(cur, "the source register")
        cur.expect(",")
        dst_as = _imm32(cur, "the destination address space")
        cur.expect(",")
        src_as = _imm32(cur, "the source address space")
        cur.expect(")")
        st.form = _one("addr_space_cast")
        st.imm, st.off = s32((dst_as << 16) | (src_as & 0xFFFF)), 1
        return
    if name == "load_acquire":
        cur.expect("(")
        size, st.src, st.off = _llvm_pointer(cur)
        cur.expect(")")
        st.form = _sized("ldacq", size, cur, tok)
        st.imm = dict(st.form.fixed)["imm"]
        return
    m = re.fullmatch(r"atomic(64)?_(fetch_(add|or|and|xor)|xchg|cmpxchg)", name)
    if m:
        cur.expect("(")
        size, base, off = _llvm_pointer(cur)
        return _llvm_atomic(cur, st, m.group(3) or m.group(2), size, base, off, dst_tok)
    m = re.fullmatch(r"(xchg|cmpxchg)(32_32|_64)", name)
    if m:
        cur.expect("(")
        base, _ = _register(cur, "the address register")
        off = _offset16(cur) if cur.at("+", "-") else 0
        size = 4 if m.group(2) == "32_32" else 8
        return _llvm_atomic(cur, st, m.group(1), size, base, off, dst_tok)
    raise cur.error("unknown expression", tok)


def _llvm_atomic(cur: Cursor, st: _Stmt, op: str, size: int, base: int, off: int,
                 dst_tok: Token) -> None:
    if size not in (4, 8):
        raise cur.error("atomic operations are on u32 or u64", dst_tok)
    sfx = "32" if size == 4 else ""
    result = st.dst
    if op == "cmpxchg":
        cur.expect(",")
        old_tok = cur.peek()
        old, _ = _register(cur, "r0 (the expected value)", "rw")
        if old != 0 or result != 0:
            raise cur.error("cmpxchg compares with r0 and returns in r0", old_tok)
        cur.expect(",")
        st.src, _ = _register(cur, "the new value register", "rw")
        st.form = _one(f"lock cmpxchg{sfx}")
    else:
        cur.expect(",")
        src_tok = cur.peek()
        st.src, _ = _register(cur, "the operand register", "rw")
        if st.src != result:
            raise cur.error("a fetching atomic returns the old value in its operand register",
                            src_tok)
        name = f"lock xchg{sfx}" if op == "xchg" else f"lock fetch {op}{sfx}"
        if op not in ATOMIC_OPS and op != "xchg":
            raise cur.error("unknown atomic operation", dst_tok)
        st.form = _one(name)
    cur.expect(")")
    st.dst, st.off = base, off
    st.imm = dict(st.form.fixed)["imm"]
