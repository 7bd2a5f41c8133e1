"""The grammar of pcap filter expressions, parsed by recursive descent into
code as it goes (each primitive is generated when its last token is read,
in the order of the text — which is what makes ``vlan`` move the offsets
of what follows it).

The grammar, as libpcap's documentation and behaviour describe it::

    expr  := term { ("and" | "&&" | "or" | "||") (term | id) }
    term  := ("not" | "!") term | rterm
    rterm := head id | "(" expr ")" | pname | arith relop arith | other
    head  := [pname] dir [addr] | [pname] addr | [pname] "proto"
             | [pname] "protochain" | [pname] "gateway"
    dir   := "src" | "dst" | "src or dst" | "src and dst" | "dst or src" | "dst and src"
    addr  := "host" | "net" | "port" | "portrange"
    id    := name | number | a.b.c.d ["/" len | "mask" a.b.c.d] | ipv6 ["/" len]
             | mac | ("not" | "!") id | "(" id { ("and" | "or") id } ")"
    other := [pname] "broadcast" | [pname] "multicast" | "less" N | "greater" N
             | "vlan" [N] | "mpls" [N]
    arith := N | "len" | pname "[" arith [":" size] "]" | arith op arith
             | "-" arith | "(" arith ")"

``and`` and ``or`` have the same precedence and group to the left; ``not``
binds tightest.  A bare id after ``and``/``or`` inherits the qualifiers of
the primitive before it (``host a and b`` is ``host a and host b``);
after a primitive that has none to give (a relation, ``tcp`` alone...) it
is an error.  In arithmetic, ``|`` binds loosest, then ``&``, the shifts,
``+ -``, ``* /``; ``^`` and ``%`` take everything to their right, as in
libpcap's grammar (they have no precedence of their own).
"""

from __future__ import annotations

from collections.abc import Callable

from .pcap_codegen import (
    ERR,
    PROTO_QUALIFIERS,
    SIZES,
    Arith,
    Binary,
    Generator,
    Length,
    Load,
    Meanings,
    Num,
    Qual,
    Unary,
    first_load,
)
from .pcap_errors import ARITHMETIC, SLICE_SIZE, SYNTAX, UNSUPPORTED, FilterExpressionError
from .pcap_ir import TRUE, Fragment, and_, not_, or_
from .pcap_lexer import Token, TokenStream

DIRECTIONS = frozenset({"src", "dst", "addr1", "addr2", "addr3", "addr4", "ra", "ta"})
ADDRESS_KINDS = frozenset({"host", "net", "port", "portrange"})
HEAD_KEYWORDS = DIRECTIONS | ADDRESS_KINDS | {"proto", "protochain", "gateway"}
VALUE_TOKENS = frozenset({"ID", "HID", "HID6", "EID", "AID"})
RELOPS = frozenset({">", ">=", "=", "<", "<=", "!="})
ARITH_OPS = frozenset({"+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"})
PRECEDENCE = {"|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5}
UNARY_MINUS = 6
OTHERS = frozenset({"broadcast", "multicast", "less", "greater", "vlan", "mpls", "byte",
                    "inbound", "outbound", "ifindex", "pppoed", "pppoes", "geneve", "llc",
                    "ifname", "rset", "rnr", "srnr", "reason", "action", "type", "subtype",
                    "dir", "lane", "metac", "bcc", "oam", "oamf4", "oamf4ec", "oamf4sc", "sc",
                    "ilmic", "vpi", "vci", "connectmsg", "metaconnect", "fisu", "lssu", "msu",
                    "hfisu", "hlssu", "hmsu", "sio", "opc", "dpc", "sls", "hsio", "hopc", "hdpc",
                    "hsls"})
"""Keywords starting primitives of libpcap's ``other`` rule."""


class _Speculation(Exception):
    """A trial parse failed (control flow, not an error)."""


class Parser:
    """Parses one expression, generating its code through ``gen``."""

    def __init__(self, text: str, gen: Generator):
        self.text = text
        self.tokens = TokenStream(text)
        self.pos = 0
        self.gen = gen
        self.meanings = Meanings(gen)
        self.dry = False

    # --- tokens ---------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        """The token ``ahead`` positions on."""
        return self.tokens[self.pos + ahead]

    def next(self) -> Token:
        """Consume and return the next token."""
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def fail(self, token: Token, reason: str = "") -> FilterExpressionError:
        """A syntax error at ``token``."""
        if self.dry:
            raise _Speculation
        if not reason:
            reason = "unexpected end of expression" if token.kind == "EOF" else \
                f"unexpected {token.text!r}"
        return FilterExpressionError(SYNTAX, f"syntax error: {reason}", token=token.text,
                                     position=token.pos, expression=self.text)

    def expect(self, kind: str, what: str) -> Token:
        """Consume a token of ``kind`` or fail saying ``what`` was expected."""
        token = self.peek()
        if token.kind != kind:
            raise self.fail(token, f"{what} expected")
        return self.next()

    def act(self, token: Token, build: Callable[..., Fragment], *args: object) -> Fragment:
        """Generate code (not while speculating); errors name ``token``."""
        if self.dry:
            return TRUE
        try:
            return build(*args)
        except FilterExpressionError as e:
            located = e.located(token.text, token.pos)
            located.expression = self.text
            raise located from None

    def check(self, token: Token, problem: FilterExpressionError | None) -> None:
        """Raise ``problem`` (a semantic error found while parsing) at ``token``."""
        if problem is not None and not self.dry:
            raise problem.located(token.text, token.pos)

    def attempt(self, parse: Callable[[], object]) -> bool:
        """Whether ``parse`` succeeds from here (a dry run; nothing consumed)."""
        saved, was_dry = self.pos, self.dry
        self.dry = True
        try:
            parse()
            return True
        except (_Speculation, FilterExpressionError):
            return False
        finally:
            self.pos, self.dry = saved, was_dry

    @staticmethod
    def combine(op: str, a: Fragment, b: Fragment) -> Fragment:
        """``a and b`` or ``a or b``."""
        return and_(a, b) if op == "and" else or_(a, b)

    # --- expressions ------------------------------------------------------------------------

    def parse(self) -> Fragment:
        """The whole expression (empty: every packet)."""
        if self.peek().kind == "EOF":
            return TRUE
        frag, _ = self.expr(ERR)
        if self.peek().kind != "EOF":
            raise self.fail(self.peek())
        if self.gen.deferred:
            problem = self.gen.deferred[0]
            problem.expression = self.text
            raise problem
        return frag

    def expr(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """``term {and|or (term | id)}``."""
        frag, q = self.term(ctx)
        while self.peek().kind in ("and", "or"):
            op = self.next().kind
            if self.id_follows():
                right, q = self.id(q)
            else:
                right, q = self.term(q)
            frag = self.combine(op, frag, right) if not self.dry else TRUE
        return frag, q

    def id_follows(self) -> bool:
        """Whether a bare id (rather than a term) follows ``and``/``or``."""
        ahead = 0
        while self.peek(ahead).kind == "not":
            ahead += 1
        token = self.peek(ahead)
        if token.kind in VALUE_TOKENS:
            return True
        if token.kind == "NUM":
            return self.peek(ahead + 1).kind not in ARITH_OPS | RELOPS
        if token.kind == "(":
            def an_id() -> None:
                self.id(ERR)
                if self.peek().kind in ARITH_OPS | RELOPS:
                    raise _Speculation
            return self.attempt(an_id)
        return False

    def term(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """``not term | rterm``."""
        if self.peek().kind == "not":
            self.next()
            frag, q = self.term(ctx)
            return (not_(frag) if not self.dry else TRUE), q
        return self.rterm(ctx)

    def rterm(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """A primitive or a parenthesized expression."""
        token = self.peek()
        kind = token.kind
        if kind == "(":
            if self.attempt(self.relation):
                return self.relation()
            self.next()
            frag, _ = self.expr(ctx)
            self.expect(")", "')'")
            return frag, ctx
        if kind in PROTO_QUALIFIERS:
            after = self.peek(1).kind
            if after == "[":
                return self.relation()
            if after in HEAD_KEYWORDS:
                return self.head_id()
            if after in ("broadcast", "multicast"):
                return self.other()
            self.next()
            return self.act(token, self.gen.abbrev, kind), ERR
        if kind in HEAD_KEYWORDS:
            return self.head_id()
        if kind in OTHERS:
            return self.other()
        if kind in ("NUM", "len", "-"):
            return self.relation()
        if kind in VALUE_TOKENS:
            raise self.fail(token, f"unexpected {token.text!r}: a value needs a qualifier "
                                   f"such as 'host' or 'port' before it")
        raise self.fail(token, f"unexpected {token.text!r}: a primitive expected"
                        if kind != "EOF" else "unexpected end of expression: a primitive "
                                              "expected")

    def head_id(self) -> tuple[Fragment, Qual]:
        """``[proto] [dir] [addr] id``."""
        proto = self.next().kind if self.peek().kind in PROTO_QUALIFIERS else None
        token = self.peek()
        direction = addr = None
        if token.kind in ("src", "dst"):
            direction = self.next().kind
            if self.peek().kind in ("and", "or"):
                conj = self.next().kind
                other = "dst" if direction == "src" else "src"
                self.expect(other, f"'{other}'")
                direction = conj
            if self.peek().kind in ADDRESS_KINDS:
                addr = self.next().kind
        elif token.kind in DIRECTIONS:
            direction = self.next().kind
            if self.peek().kind in ADDRESS_KINDS:
                addr = self.next().kind
        elif token.kind in ADDRESS_KINDS or token.kind in ("proto", "protochain", "gateway"):
            addr = self.next().kind
        else:
            raise self.fail(token)
        return self.id(Qual(proto, direction, addr))

    # --- ids ---------------------------------------------------------------------------------

    def id(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """A value under the qualifiers ``ctx``."""
        token = self.peek()
        if token.kind in VALUE_TOKENS or token.kind == "not":
            return self.nid(ctx)
        if token.kind == "NUM":
            self.next()
            return self.act(token, self.meanings.number, token.value, ctx), ctx
        if token.kind == "(":
            self.next()
            frag, q = self.pid(ctx)
            self.expect(")", "')'")
            return frag, q
        raise self.fail(token, "a host, network, port or protocol expected"
                        if token.kind != "EOF" else "unexpected end of expression: a value "
                                                    "expected")

    def nid(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """A name or address (or ``not`` id)."""
        token = self.next()
        m = self.meanings
        if token.kind == "not":
            frag, q = self.id(ctx)
            return (not_(frag) if not self.dry else TRUE), q
        if token.kind == "ID":
            return self.act(token, m.name, token.text, ctx), ctx
        if token.kind == "HID":
            if self.peek().kind == "/":
                self.next()
                n = self.expect("NUM", "a prefix length")
                return self.act(token, lambda: m.network(token.text, ctx, length=n.value)), ctx
            if self.peek().kind == "mask":
                self.next()
                mask = self.expect("HID", "a dotted netmask")
                return self.act(token, lambda: m.network(token.text, ctx,
                                                         mask_text=mask.text)), ctx
            return self.act(token, m.number, 0, ctx, token.text), ctx
        if token.kind == "HID6":
            if self.peek().kind == "/":
                self.next()
                n = self.expect("NUM", "a prefix length")
                return self.act(token, m.address6, token.text, ctx, n.value), ctx
            return self.act(token, m.address6, token.text, ctx), ctx
        if token.kind == "EID":
            return self.act(token, m.mac, token.text, ctx), ctx
        if token.kind == "AID":
            return self.act(token, m.arcnet, token.text, ctx), ctx
        raise self.fail(token)

    def pid(self, ctx: Qual) -> tuple[Fragment, Qual]:
        """Ids joined by ``and``/``or`` inside parentheses."""
        token = self.peek()
        if token.kind in ("NUM", "("):
            value = self.pnum()
            frag, q = self.act(token, self.meanings.number, value, ctx), ctx
        else:
            frag, q = self.nid(ctx)
        while self.peek().kind in ("and", "or"):
            op = self.next().kind
            right, q = self.id(q)
            frag = self.combine(op, frag, right) if not self.dry else TRUE
        return frag, q

    def pnum(self) -> int:
        """``NUM | ( pnum )``."""
        token = self.next()
        if token.kind == "NUM":
            assert token.value is not None
            return token.value
        if token.kind == "(":
            value = self.pnum()
            self.expect(")", "')'")
            return value
        raise self.fail(token, "a number expected")

    # --- other primitives ---------------------------------------------------------------------

    def other(self) -> tuple[Fragment, Qual]:
        """broadcast, multicast, less, greater, vlan, mpls (and the
        primitives this compiler does not implement)."""
        proto = self.next().kind if self.peek().kind in PROTO_QUALIFIERS else None
        token = self.next()
        gen = self.gen
        kind = token.kind
        if kind == "broadcast":
            return self.act(token, gen.broadcast, proto), ERR
        if kind == "multicast":
            return self.act(token, gen.multicast, proto), ERR
        if kind in ("less", "greater"):
            n = self.expect("NUM", "a length")
            return self.act(n, gen.length, "<=" if kind == "less" else ">=", n.value), ERR
        if kind in ("inbound", "outbound"):
            return self.act(token, gen.direction, kind == "outbound"), ERR
        if kind in ("vlan", "mpls"):
            value = self.pnum() if self.peek().kind in ("NUM", "(") else None
            build = gen.vlan if kind == "vlan" else gen.mpls
            return self.act(token, build, value), ERR
        if not self.dry:
            raise FilterExpressionError(UNSUPPORTED, f"'{token.text}' is not supported by "
                                        f"pybpf's filter compiler", token=token.text,
                                        position=token.pos, expression=self.text)
        raise _Speculation

    # --- relations and arithmetic -------------------------------------------------------------

    def relation(self) -> tuple[Fragment, Qual]:
        """``arith relop arith``."""
        start = self.peek()
        left = self.arith()
        op = self.peek()
        if op.kind not in RELOPS:
            raise self.fail(op, f"unexpected {op.text!r}: a comparison (=, !=, <, <=, >, >=) "
                                f"expected" if op.kind != "EOF" else
                            "unexpected end of expression: a comparison expected")
        self.next()
        right = self.arith()
        return self.act(start, self.gen.relation, op.kind, left, right), ERR

    def arith(self, min_bp: int = 0) -> Arith:
        """An arithmetic expression whose operators bind tighter than ``min_bp``."""
        left = self.arith_primary()
        while True:
            token = self.peek()
            if token.kind in ("^", "%"):
                self.next()
                left = self.binary(token, left, self.arith(0))
                continue
            bp = PRECEDENCE.get(token.kind)
            if bp is None or bp <= min_bp:
                return left
            self.next()
            left = self.binary(token, left, self.arith(bp))

    def binary(self, token: Token, left: Arith, right: Arith) -> Arith:
        """``left op right``, refusing what libpcap refuses when it builds it."""
        first = first_load(right)
        if first is not None:
            if token.kind in ("/", "%") and first == 0:
                self.check(token, FilterExpressionError(
                    ARITHMETIC, "division by zero" if token.kind == "/" else "modulus by zero"))
            if token.kind in ("<<", ">>") and first > 31:
                self.check(token, FilterExpressionError(ARITHMETIC,
                                                        "shift by more than 31 bits"))
        return Binary(token.kind, left, right)

    def arith_primary(self) -> Arith:
        """A number, ``len``, a byte slice, ``-x`` or ``(x)``."""
        token = self.next()
        kind = token.kind
        if kind == "NUM":
            assert token.value is not None
            return Num(token.value)
        if kind == "len":
            return Length()
        if kind == "-":
            return Unary(self.arith(UNARY_MINUS))
        if kind == "(":
            inner = self.arith()
            self.expect(")", "')'")
            return inner
        if kind in PROTO_QUALIFIERS:
            self.expect("[", "'['")
            index = self.arith()
            size = 1
            if self.peek().kind == ":":
                self.next()
                n = self.expect("NUM", "a size (1, 2 or 4)")
                assert n.value is not None
                size = n.value
                if size not in SIZES:
                    self.check(n, FilterExpressionError(SLICE_SIZE,
                                                        "data size must be 1, 2, or 4"))
            self.expect("]", "']'")
            if not self.dry:
                try:
                    self.gen.check_slice(kind)
                except FilterExpressionError as e:
                    raise e.located(token.text, token.pos) from None
            return Load(kind, index, size)
        raise self.fail(token, "a number, 'len' or a byte slice expected"
                        if kind != "EOF" else "unexpected end of expression: a value expected")
