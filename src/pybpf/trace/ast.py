"""The syntax tree of a bpftrace program.

Every node has ``span``: the character offsets ``(start, end)`` of its text
in the program, so errors point at it.  Expression nodes get a ``type``
(:mod:`pybpf.trace.types`) from semantic analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Span = tuple[int, int]


@dataclass(eq=False)
class Node:
    """Base of every node: where it is in the program."""

    span: Span


# --- expressions -------------------------------------------------------------------

@dataclass(eq=False)
class Expr(Node):
    """Base of expressions; ``type`` is filled by semantic analysis."""

    def __post_init__(self) -> None:
        self.type: Any = None


@dataclass(eq=False)
class Int(Expr):
    """An integer constant (decimal, octal, hex, ``2e3``, ``'c'``)."""

    value: int


@dataclass(eq=False)
class Str(Expr):
    """A string constant."""

    value: str


@dataclass(eq=False)
class Builtin(Expr):
    """A builtin variable: ``pid``, ``comm``, ``nsecs``, ``arg0``, ``args``..."""

    name: str


@dataclass(eq=False)
class Identifier(Expr):
    """A bare name that is not a builtin (an enum constant, a type name)."""

    name: str


@dataclass(eq=False)
class Var(Expr):
    """A scratch variable ``$name``."""

    name: str


@dataclass(eq=False)
class Param(Expr):
    """A positional parameter ``$1`` (``index`` 1...) or ``$#`` (index 0)."""

    index: int


@dataclass(eq=False)
class MapRef(Expr):
    """``@name`` or ``@name[k1, k2]`` (``keys`` None without brackets)."""

    name: str
    keys: list[Expr] | None = None


@dataclass(eq=False)
class Call(Expr):
    """A function call: ``count()``, ``printf("%d\\n", pid)``, ``str(arg0)``."""

    name: str
    args: list[Expr] = field(default_factory=list)
    name_span: Span = (0, 0)


@dataclass(eq=False)
class Binary(Expr):
    """``left op right`` for arithmetic, comparison, logic and bits."""

    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class Unary(Expr):
    """``op operand`` for ``!``, ``~``, ``-``, ``*`` (dereference), ``&``."""

    op: str
    operand: Expr


@dataclass(eq=False)
class IncDec(Expr):
    """``x++``, ``++x``, ``x--``, ``--x`` on a variable or map entry."""

    op: str
    prefix: bool
    target: Expr


@dataclass(eq=False)
class Ternary(Expr):
    """``cond ? then : other``."""

    cond: Expr
    then: Expr
    other: Expr


@dataclass(eq=False)
class FieldAccess(Expr):
    """``e.field`` or ``e->field`` (``arrow``), also ``tuple.0``."""

    base: Expr
    name: str
    arrow: bool = False


@dataclass(eq=False)
class Index(Expr):
    """``e[i]`` on an array or pointer."""

    base: Expr
    index: Expr


@dataclass(eq=False)
class TypeName(Node):
    """A type written in a cast or ``sizeof``: ``uint32``, ``struct task_struct *``."""

    name: str
    pointer: int = 0

    def __str__(self) -> str:
        return self.name + (" " + "*" * self.pointer if self.pointer else "")


@dataclass(eq=False)
class Cast(Expr):
    """``(type) e``."""

    to: TypeName
    operand: Expr


@dataclass(eq=False)
class Tuple(Expr):
    """``(a, b, ...)``."""

    items: list[Expr]


@dataclass(eq=False)
class Sizeof(Expr):
    """``sizeof(type)`` or ``sizeof(expression)``."""

    of: TypeName | Expr


# --- statements --------------------------------------------------------------------

@dataclass(eq=False)
class Stmt(Node):
    """Base of statements."""


@dataclass(eq=False)
class ExprStmt(Stmt):
    """An expression evaluated for its effect (a call, ``@x++``)."""

    expr: Expr


@dataclass(eq=False)
class Assign(Stmt):
    """``target = value`` or ``target op= value`` (``op`` the operator
    without ``=``, None for plain assignment); target a map or variable."""

    target: Expr
    value: Expr
    op: str | None = None


@dataclass(eq=False)
class If(Stmt):
    """``if (cond) {then} else {other}``."""

    cond: Expr
    then: list[Stmt]
    other: list[Stmt] | None = None


@dataclass(eq=False)
class While(Stmt):
    """``while (cond) {body}`` (the verifier bounds it)."""

    cond: Expr
    body: list[Stmt]


@dataclass(eq=False)
class Unroll(Stmt):
    """``unroll(count) {body}``: body repeated ``count`` times at compile time."""

    count: int
    body: list[Stmt]


@dataclass(eq=False)
class Jump(Stmt):
    """``break``, ``continue`` or ``return``."""

    kind: str


# --- program -----------------------------------------------------------------------

@dataclass(eq=False)
class Probe(Node):
    """One attach point as written (``text``) and split: ``provider`` (the
    long name: ``tracepoint``, ``uprobe``...) and the rest of its parts."""

    text: str
    provider: str
    parts: list[str]

    @property
    def name(self) -> str:
        """The probe's full name with the provider's long name
        (``tracepoint:syscalls:sys_enter_openat``)."""
        return ":".join([self.provider, *self.parts]) if self.parts else self.provider


@dataclass(eq=False)
class ProbeBlock(Node):
    """``probe[, probe...] /predicate/ { statements }``."""

    probes: list[Probe]
    predicate: Expr | None
    body: list[Stmt]


@dataclass(eq=False)
class Program(Node):
    """A whole program: its probe blocks in order, and the ``#include``
    lines of its preamble (kept, not interpreted)."""

    blocks: list[ProbeBlock]
    includes: list[str] = field(default_factory=list)
    source: Any = None


def walk(node: Any):
    """Every node under ``node`` (itself first), depth first."""
    yield node
    for name in getattr(node, "__dataclass_fields__", {}):
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, Node):
            yield from walk(value)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, Node):
                    yield from walk(v)
