"""A recursive-descent parser for bpftrace's language::

    program = parse('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    program.blocks[0].probes[0].name     # 'tracepoint:syscalls:sys_enter_openat'

Operator precedence is C's (ternary, ``||``, ``&&``, ``|``, ``^``, ``&``,
equality, relations, shifts, additive, multiplicative, unary, postfix).
Inside a predicate ``/.../`` a division needs parentheses, as in bpftrace.
Errors are :class:`~pybpf.trace.errors.TraceSyntaxError` in bpftrace's form.
"""

from __future__ import annotations

from . import ast as A
from .errors import Source, TraceSyntaxError
from .lexer import Token, next_token, scan_probe, skip_space

__all__ = ["PROVIDERS", "parse", "parse_probe"]

PROVIDERS = {
    "BEGIN": "BEGIN", "END": "END",
    "tracepoint": "tracepoint", "t": "tracepoint",
    "rawtracepoint": "rawtracepoint", "rt": "rawtracepoint",
    "uprobe": "uprobe", "u": "uprobe", "uretprobe": "uretprobe", "ur": "uretprobe",
    "usdt": "usdt", "U": "usdt",
    "kprobe": "kprobe", "k": "kprobe", "kretprobe": "kretprobe", "kr": "kretprobe",
    "kfunc": "kfunc", "f": "kfunc", "fentry": "kfunc",
    "kretfunc": "kretfunc", "fr": "kretfunc", "fexit": "kretfunc",
    "interval": "interval", "i": "interval", "profile": "profile", "p": "profile",
    "software": "software", "s": "software", "hardware": "hardware", "h": "hardware",
    "watchpoint": "watchpoint", "w": "watchpoint", "asyncwatchpoint": "asyncwatchpoint",
    "aw": "asyncwatchpoint", "iter": "iter", "it": "iter",
}
"""Probe providers by every name bpftrace accepts -> their long name."""

_INT_TYPES = {f"{s}int{n}" for s in ("", "u") for n in (8, 16, 32, 64)} | {
    f"{p}{n}" for p in ("u", "s", "__u", "__s") for n in (8, 16, 32, 64)} | {
    "char", "short", "int", "long", "unsigned", "signed", "void", "bool", "_Bool",
    "size_t", "ssize_t", "pid_t", "uid_t", "gid_t", "loff_t", "umode_t", "dev_t"}
_TAGS = ("struct", "union", "enum")
_ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
_BINARY_LEVELS = [["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="],
                  ["<", "<=", ">", ">="], ["<<", ">>"], ["+", "-"], ["*", "/", "%"]]
_KEYWORDS = {"if", "else", "while", "unroll", "break", "continue", "return", "sizeof",
             "offsetof", "for", "config", "import", "let", "macro"}


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of file"
    if tok.kind == "ident":
        return "identifier" if tok.text not in _KEYWORDS else tok.text
    if tok.kind == "int":
        return "integer"
    if tok.kind == "str":
        return "string"
    if tok.kind == "map":
        return "map"
    if tok.kind == "var":
        return "variable"
    if tok.kind == "param":
        return "positional parameter"
    return tok.text


class Parser:
    """One parse of one program (see :func:`parse`)."""

    def __init__(self, source: Source):
        self.source = source
        self.pos = 0
        self.tok = Token("eof", "", None, 0, 0)  # read once the preamble is skipped
        self._ahead: list[Token] = []

    # --- tokens -------------------------------------------------------------------
    def advance(self) -> Token:
        tok = self.tok
        self.pos = tok.end
        self.tok = self._ahead.pop(0) if self._ahead else next_token(self.source, tok.end)
        return tok

    def peek(self, n: int = 1) -> Token:
        """The token ``n`` after the current one."""
        while len(self._ahead) < n:
            last = self._ahead[-1] if self._ahead else self.tok
            self._ahead.append(next_token(self.source, last.end))
        return self._ahead[n - 1]

    def error(self, expecting: str | None = None, tok: Token | None = None) -> TraceSyntaxError:
        tok = tok or self.tok
        msg = f"syntax error, unexpected {_describe(tok)}"
        if expecting:
            msg += f", expecting {expecting}"
        end = tok.end if tok.end > tok.start else tok.start
        return TraceSyntaxError(msg, self.source, (tok.start, max(end, tok.start)))

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.error(kind)
        return self.advance()

    def accept(self, kind: str) -> Token | None:
        if self.tok.kind == kind:
            return self.advance()
        return None

    def reset_to(self, offset: int) -> None:
        """Forget tokens read ahead and read again from ``offset``."""
        self._ahead.clear()
        self.tok = next_token(self.source, offset)

    # --- program ------------------------------------------------------------------
    def program(self) -> A.Program:
        text = self.source.text
        includes: list[str] = []
        offset = 0
        while True:
            offset = skip_space(text, offset, self.source)
            if text.startswith("#", offset):
                end = text.find("\n", offset)
                end = len(text) if end < 0 else end
                line = text[offset:end].strip()
                if not line.startswith("#include") and not line.startswith("#!"):
                    raise TraceSyntaxError("only #include lines are supported in the "
                                           "preamble (no preprocessor)", self.source,
                                           (offset, end))
                if line.startswith("#include"):
                    includes.append(line)
                offset = end
                continue
            if text.startswith("struct", offset) or text.startswith("union", offset):
                raise TraceSyntaxError("struct definitions in the preamble are not "
                                       "supported; kernel types come from BTF", self.source,
                                       (offset, offset + 6))
            break
        blocks: list[A.ProbeBlock] = []
        while True:
            offset = skip_space(text, offset, self.source)
            if offset >= len(text):
                break
            block = self.probe_block(offset)
            blocks.append(block)
            offset = block.span[1]
        if not blocks:
            raise TraceSyntaxError("syntax error, unexpected end of file, expecting probe",
                                   self.source, (len(text), len(text)))
        return A.Program((0, len(text)), blocks, includes, self.source)

    def probe_block(self, offset: int) -> A.ProbeBlock:
        probes = []
        start = offset
        while True:
            tok = scan_probe(self.source, offset)
            if not tok.text:
                self.reset_to(tok.start)
                raise self.error("probe")
            probes.append(parse_probe(tok.text, self.source, (tok.start, tok.end)))
            self.reset_to(tok.end)
            if self.tok.kind == ",":
                offset = self.tok.end
                continue
            break
        predicate = None
        if self.tok.kind == "/":
            self.advance()
            predicate = self.expression(no_div=True)
            self.expect("/")
        if self.tok.kind != "{":
            raise self.error("{")
        body = self.block()
        return A.ProbeBlock((start, self.pos), probes, predicate, body)

    # --- statements ---------------------------------------------------------------
    def block(self) -> list[A.Stmt]:
        self.expect("{")
        stmts: list[A.Stmt] = []
        while self.tok.kind != "}":
            if self.tok.kind == "eof":
                raise self.error("}")
            if self.accept(";"):
                continue
            stmt, needs_end = self.statement()
            stmts.append(stmt)
            if needs_end and self.tok.kind != "}":
                if self.tok.kind != ";":
                    raise self.error("}" if self.tok.kind == "eof" else ";")
                self.advance()
        self.advance()
        return stmts

    def statement(self) -> tuple[A.Stmt, bool]:
        """A statement, and whether a ``;`` (or ``}``) must follow it."""
        tok = self.tok
        if tok.kind == "ident":
            if tok.text == "if":
                return self.if_statement(), False
            if tok.text == "while":
                self.advance()
                self.expect("(")
                cond = self.expression()
                self.expect(")")
                body = self.block()
                return A.While((tok.start, self.pos), cond, body), False
            if tok.text == "unroll":
                self.advance()
                self.expect("(")
                count_tok = self.tok
                count = self.expression()
                if not isinstance(count, A.Int):
                    raise TraceSyntaxError("unroll count must be an integer constant",
                                           self.source, count.span)
                if not 1 <= count.value <= 100:
                    raise TraceSyntaxError("unroll count must be between 1 and 100",
                                           self.source, (count_tok.start, self.pos))
                self.expect(")")
                body = self.block()
                return A.Unroll((tok.start, self.pos), count.value, body), False
            if tok.text in ("break", "continue", "return"):
                self.advance()
                return A.Jump((tok.start, tok.end), tok.text), True
        if tok.kind == "{":
            raise self.error()
        expr = self.expression()
        if self.tok.kind in _ASSIGN_OPS:
            op_tok = self.advance()
            if not isinstance(expr, (A.MapRef, A.Var)):
                raise TraceSyntaxError("only maps and scratch variables ($x) can be "
                                       "assigned", self.source, expr.span)
            value = self.expression()
            op = None if op_tok.kind == "=" else op_tok.kind[:-1]
            return A.Assign((expr.span[0], value.span[1]), expr, value, op), True
        return A.ExprStmt(expr.span, expr), True

    def if_statement(self) -> A.If:
        start = self.advance().start
        self.expect("(")
        cond = self.expression()
        self.expect(")")
        then = self.block()
        other = None
        if self.tok.kind == "ident" and self.tok.text == "else":
            self.advance()
            if self.tok.kind == "ident" and self.tok.text == "if":
                other = [self.if_statement()]
            else:
                other = self.block()
        return A.If((start, self.pos), cond, then, other)

    # --- expressions --------------------------------------------------------------
    def expression(self, no_div: bool = False) -> A.Expr:
        cond = self.binary(0, no_div)
        if self.tok.kind != "?":
            return cond
        self.advance()
        then = self.expression()
        self.expect(":")
        other = self.expression(no_div)
        return A.Ternary((cond.span[0], other.span[1]), cond, then, other)

    def binary(self, level: int, no_div: bool) -> A.Expr:
        if level == len(_BINARY_LEVELS):
            return self.unary(no_div)
        left = self.binary(level + 1, no_div)
        ops = _BINARY_LEVELS[level]
        while self.tok.kind in ops and not (no_div and self.tok.kind == "/"):
            op = self.advance().kind
            right = self.binary(level + 1, no_div)
            left = A.Binary((left.span[0], right.span[1]), op, left, right)
        return left

    def unary(self, no_div: bool) -> A.Expr:
        tok = self.tok
        if tok.kind in ("!", "~", "-", "*", "&", "+"):
            self.advance()
            operand = self.unary(no_div)
            if tok.kind == "+":
                return operand
            if tok.kind == "-" and isinstance(operand, A.Int):
                return A.Int((tok.start, operand.span[1]), -operand.value)
            return A.Unary((tok.start, operand.span[1]), tok.kind, operand)
        if tok.kind in ("++", "--"):
            self.advance()
            target = self.unary(no_div)
            return A.IncDec((tok.start, target.span[1]), tok.kind, True, target)
        if tok.kind == "(" and self.is_cast():
            self.advance()
            to = self.type_name()
            self.expect(")")
            operand = self.unary(no_div)
            return A.Cast((tok.start, operand.span[1]), to, operand)
        return self.postfix(self.primary(), no_div)

    def is_cast(self) -> bool:
        nxt = self.peek()
        if nxt.kind != "ident":
            return False
        if nxt.text in _TAGS or nxt.text in _INT_TYPES:
            return True
        after = self.peek(2)
        return after.kind == "*" and self.peek(3).kind in ("*", ")")

    def type_name(self) -> A.TypeName:
        start = self.tok.start
        words = []
        tok = self.expect("ident")
        words.append(tok.text)
        if tok.text in _TAGS:
            words.append(self.expect("ident").text)
        else:
            while self.tok.kind == "ident" and self.tok.text in _INT_TYPES:
                words.append(self.advance().text)
        pointer = 0
        while self.accept("*"):
            pointer += 1
        return A.TypeName((start, self.pos), " ".join(words), pointer)

    def postfix(self, expr: A.Expr, no_div: bool) -> A.Expr:
        while True:
            tok = self.tok
            if tok.kind in (".", "->"):
                self.advance()
                if self.tok.kind == "int":
                    name = self.advance().text
                else:
                    name = self.expect("ident").text
                expr = A.FieldAccess((expr.span[0], self.pos), expr, name, tok.kind == "->")
            elif tok.kind == "[":
                self.advance()
                index = self.expression()
                self.expect("]")
                expr = A.Index((expr.span[0], self.pos), expr, index)
            elif tok.kind in ("++", "--"):
                self.advance()
                expr = A.IncDec((expr.span[0], tok.end), tok.kind, False, expr)
            else:
                return expr

    def primary(self) -> A.Expr:
        tok = self.tok
        if tok.kind == "int":
            self.advance()
            return A.Int((tok.start, tok.end), tok.value)  # type: ignore[arg-type]
        if tok.kind == "str":
            self.advance()
            return A.Str((tok.start, tok.end), tok.value)  # type: ignore[arg-type]
        if tok.kind == "var":
            self.advance()
            return A.Var((tok.start, tok.end), tok.value)  # type: ignore[arg-type]
        if tok.kind == "param":
            self.advance()
            return A.Param((tok.start, tok.end), 0 if tok.value == "#" else tok.value)  # type: ignore[arg-type]
        if tok.kind == "map":
            self.advance()
            keys = None
            if self.tok.kind == "[":
                self.advance()
                keys = [self.expression()]
                while self.accept(","):
                    keys.append(self.expression())
                self.expect("]")
            return A.MapRef((tok.start, self.pos), tok.value, keys)  # type: ignore[arg-type]
        if tok.kind == "(":
            self.advance()
            first = self.expression()
            if self.tok.kind == ",":
                items = [first]
                while self.accept(","):
                    items.append(self.expression())
                self.expect(")")
                return A.Tuple((tok.start, self.pos), items)
            self.expect(")")
            return first
        if tok.kind == "ident":
            if tok.text in _KEYWORDS and tok.text != "sizeof":
                raise self.error()
            self.advance()
            if tok.text == "sizeof":
                self.expect("(")
                of: A.TypeName | A.Expr
                if self.tok.kind == "ident" and (self.tok.text in _TAGS
                                                 or self.tok.text in _INT_TYPES):
                    of = self.type_name()
                else:
                    of = self.expression()
                self.expect(")")
                return A.Sizeof((tok.start, self.pos), of)
            if self.tok.kind == "(":
                self.advance()
                args: list[A.Expr] = []
                if self.tok.kind != ")":
                    args.append(self.call_argument())
                    while self.accept(","):
                        args.append(self.call_argument())
                self.expect(")")
                return A.Call((tok.start, self.pos), tok.text, args, (tok.start, tok.end))
            return A.Builtin((tok.start, tok.end), tok.text)
        raise self.error()

    def call_argument(self) -> A.Expr:
        return self.expression()


def parse_probe(text: str, source: Source | None = None,
                span: A.Span = (0, 0)) -> A.Probe:
    """One attach point: ``t:syscalls:sys_enter_openat`` -> provider
    ``tracepoint``, parts ``['syscalls', 'sys_enter_openat']``."""
    source = source or Source(text)
    head, sep, rest = text.partition(":")
    provider = PROVIDERS.get(head)
    if provider is None:
        raise TraceSyntaxError(f"Invalid probe type: {head}" if sep else
                               f"syntax error, unexpected identifier '{head}', expecting "
                               f"probe (e.g. tracepoint:category:name, BEGIN)",
                               source, span)
    parts = _split_parts(rest) if sep else []
    if provider in ("BEGIN", "END") and parts:
        raise TraceSyntaxError(f"{provider} takes no arguments", source, span)
    return A.Probe(span, text, provider, parts)


def _split_parts(rest: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in rest:
        if ch == '"':
            quoted = not quoted
            continue
        if ch == ":" and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse(text: str, name: str = "stdin") -> A.Program:
    """The syntax tree of program ``text`` (``name`` is what errors call it:
    ``stdin`` for ``-e``, the file name otherwise)."""
    return Parser(Source(text, name)).program()
