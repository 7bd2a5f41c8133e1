"""The syntax tree of a bpftrace program.

Every node has ``span``: the character offsets ``(start, end)`` of its text
in the program, so errors point at it.  Expression nodes get a ``type``
(:mod:`pybpf.trace.types`) from semantic analysis.
"""

from __future__ import annotations

import inspect
from typing import Any

Span = tuple[int, int]

_REQUIRED = object()
_LIST = object()
"""A field default meaning "a new empty list"."""


def node(cls: type) -> type:
    """Make ``cls`` a syntax node class: its annotated names, after those of
    its bases, are its fields in order (what :func:`walk` visits); class
    attributes give defaults.  Plain classes rather than dataclasses: a
    one-liner's start-up pays for every class created at import."""
    fields: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in inspect.get_annotations(klass):
            if name not in fields and not name.startswith("_"):
                fields.append(name)
    cls._fields = tuple(fields)  # type: ignore[attr-defined]
    return cls


class Node:
    """Base of every node: where it is in the program."""

    _fields: tuple[str, ...] = ()
    span: Span

    def __init__(self, *args: Any, **kwargs: Any):
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields")
        for name, value in zip(fields, args):
            setattr(self, name, value)
        for name in fields[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            else:
                value = getattr(type(self), name, _REQUIRED)
                if value is _REQUIRED:
                    raise TypeError(f"{type(self).__name__}: {name} is missing")
                if value is _LIST:
                    value = []
            setattr(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: no field {', '.join(kwargs)}")
        self.__post_init__()

    def __post_init__(self) -> None:
        pass

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__name__}({inner})"


node(Node)


# --- expressions -------------------------------------------------------------------

@node
class Expr(Node):
    """Base of expressions; ``type`` is filled by semantic analysis."""

    def __post_init__(self) -> None:
        self.type: Any = None


@node
class Int(Expr):
    """An integer constant (decimal, octal, hex, ``2e3``, ``'c'``)."""

    value: int


@node
class Str(Expr):
    """A string constant."""

    value: str


@node
class Builtin(Expr):
    """A builtin variable: ``pid``, ``comm``, ``nsecs``, ``arg0``, ``args``..."""

    name: str


@node
class Identifier(Expr):
    """A bare name that is not a builtin (an enum constant, a type name)."""

    name: str


@node
class Var(Expr):
    """A scratch variable ``$name``."""

    name: str


@node
class Param(Expr):
    """A positional parameter ``$1`` (``index`` 1...) or ``$#`` (index 0)."""

    index: int


@node
class MapRef(Expr):
    """``@name`` or ``@name[k1, k2]`` (``keys`` None without brackets)."""

    name: str
    keys: list[Expr] | None = None


@node
class Call(Expr):
    """A function call: ``count()``, ``printf("%d\\n", pid)``, ``str(arg0)``."""

    name: str
    args: list[Expr] = _LIST  # type: ignore[assignment]
    name_span: Span = (0, 0)


@node
class Binary(Expr):
    """``left op right`` for arithmetic, comparison, logic and bits."""

    op: str
    left: Expr
    right: Expr


@node
class Unary(Expr):
    """``op operand`` for ``!``, ``~``, ``-``, ``*`` (dereference), ``&``."""

    op: str
    operand: Expr


@node
class IncDec(Expr):
    """``x++``, ``++x``, ``x--``, ``--x`` on a variable or map entry."""

    op: str
    prefix: bool
    target: Expr


@node
class Ternary(Expr):
    """``cond ? then : other``."""

    cond: Expr
    then: Expr
    other: Expr


@node
class FieldAccess(Expr):
    """``e.field`` or ``e->field`` (``arrow``), also ``tuple.0``."""

    base: Expr
    name: str
    arrow: bool = False


@node
class Index(Expr):
    """``e[i]`` on an array or pointer."""

    base: Expr
    index: Expr


@node
class TypeName(Node):
    """A type written in a cast or ``sizeof``: ``uint32``, ``struct task_struct *``."""

    name: str
    pointer: int = 0

    def __str__(self) -> str:
        return self.name + (" " + "*" * self.pointer if self.pointer else "")


@node
class Cast(Expr):
    """``(type) e``."""

    to: TypeName
    operand: Expr


@node
class Tuple(Expr):
    """``(a, b, ...)``."""

    items: list[Expr]


@node
class Sizeof(Expr):
    """``sizeof(type)`` or ``sizeof(expression)``."""

    of: TypeName | Expr


# --- statements --------------------------------------------------------------------

@node
class Stmt(Node):
    """Base of statements."""


@node
class ExprStmt(Stmt):
    """An expression evaluated for its effect (a call, ``@x++``)."""

    expr: Expr


@node
class Assign(Stmt):
    """``target = value`` or ``target op= value`` (``op`` the operator
    without ``=``, None for plain assignment); target a map or variable."""

    target: Expr
    value: Expr
    op: str | None = None


@node
class If(Stmt):
    """``if (cond) {then} else {other}``."""

    cond: Expr
    then: list[Stmt]
    other: list[Stmt] | None = None


@node
class While(Stmt):
    """``while (cond) {body}`` (the verifier bounds it)."""

    cond: Expr
    body: list[Stmt]


@node
class Unroll(Stmt):
    """``unroll(count) {body}``: body repeated ``count`` times at compile time."""

    count: int
    body: list[Stmt]


@node
class Jump(Stmt):
    """``break``, ``continue`` or ``return``."""

    kind: str


# --- program -----------------------------------------------------------------------

@node
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


@node
class ProbeBlock(Node):
    """``probe[, probe...] /predicate/ { statements }``."""

    probes: list[Probe]
    predicate: Expr | None
    body: list[Stmt]


@node
class Program(Node):
    """A whole program: its probe blocks in order, and the ``#include``
    lines of its preamble (kept, not interpreted)."""

    blocks: list[ProbeBlock]
    includes: list[str] = _LIST  # type: ignore[assignment]
    source: Any = None


def walk(node: Any):
    """Every node under ``node`` (itself first), depth first."""
    yield node
    for name in getattr(node, "_fields", ()):
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, Node):
            yield from walk(value)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, Node):
                    yield from walk(v)
