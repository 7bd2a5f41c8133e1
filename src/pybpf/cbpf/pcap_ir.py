"""The filter compiler's intermediate form: a graph of basic blocks, the
true/false fragments the code generator combines with ``and``, ``or`` and
``not``, and the layout of a finished graph as classic instructions.

A :class:`Block` is straight-line code (loads, arithmetic, stores) ending
in one conditional jump on A — ``jeq``, ``jgt``, ``jge`` or ``jset``
against ``k`` or X — whose two successors are blocks; or a leaf, which
returns a constant.  A program is a directed acyclic graph of blocks from
one root to the two leaves, accept and reject.

A :class:`Fragment` is a predicate under construction: its head block and
the loose ends still to be tied — the branch exits taken when the
predicate is true and those taken when it is false.  ``and`` ties the
first fragment's true ends to the second's head, ``or`` its false ends,
``not`` swaps the two lists.  :data:`TRUE` and :data:`FALSE` are the
constant predicates; combining with them folds at once.

:func:`layout` places the blocks so every jump goes forward, in the order
libpcap prints them (a block, then its true side, then its false side),
and adds ``ja`` instructions where a conditional jump would reach further
than 255 instructions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..spec import cbpf as C
from .insn import SockFilter

MAX_COND_JUMP = 0xFF
"""How far a conditional jump reaches (jt and jf are 8 bits)."""

_ids = itertools.count()


class Chunk:
    """Fixed code with jumps of its own — the loop of ``protochain`` — kept
    whole inside a block: its jumps stay within it or land on the
    instruction that follows it (the block's branch)."""

    def __init__(self, insns: Sequence[SockFilter]):
        self.insns = list(insns)

    def __len__(self) -> int:
        return len(self.insns)

    def __repr__(self) -> str:
        return f"Chunk({len(self.insns)} insns)"


Stmt = SockFilter | Chunk


class Block:
    """A basic block: ``stmts``, then a conditional jump ``code``/``k`` to
    ``jt`` or ``jf``; or a leaf (``jt`` None) returning ``k``."""

    __slots__ = ("code", "id", "jf", "jt", "k", "stmts")

    def __init__(self, stmts: list[Stmt], code: int, k: int = 0,
                 jt: Block | None = None, jf: Block | None = None):
        self.stmts = stmts
        self.code = code
        self.k = k
        self.jt = jt
        self.jf = jf
        self.id = next(_ids)

    @property
    def is_leaf(self) -> bool:
        """Whether this block returns (it has no successors)."""
        return self.jt is None

    @property
    def branch(self) -> SockFilter:
        """The block's last instruction: its jump or its return."""
        return SockFilter(self.code, 0, 0, self.k)

    def successors(self) -> tuple[Block, ...]:
        """The blocks this one jumps to (none for a leaf; once if both sides agree)."""
        if self.jt is None:
            return ()
        assert self.jf is not None
        return (self.jt,) if self.jt is self.jf else (self.jt, self.jf)

    def __repr__(self) -> str:
        if self.is_leaf:
            return f"<B{self.id} ret {self.k}>"
        assert self.jt is not None and self.jf is not None
        return f"<B{self.id} {len(self.stmts)} stmts, {self.code:#x} {self.k:#x} " \
               f"-> B{self.jt.id}/B{self.jf.id}>"


def leaf(value: int) -> Block:
    """A block returning ``value``."""
    return Block([], C.BPF_RET | C.BPF_K, value)


# --- fragments --------------------------------------------------------------------------

Exit = tuple[Block, bool]
"""A loose end: a block and which of its exits (True: jt, False: jf)."""


@dataclass
class Fragment:
    """A predicate under construction (see the module documentation);
    ``const`` is True or False for the constant predicates, None otherwise."""

    head: Block | None
    trues: list[Exit] = field(default_factory=list)
    falses: list[Exit] = field(default_factory=list)
    const: bool | None = None


TRUE = Fragment(None, const=True)
"""The predicate every packet satisfies."""
FALSE = Fragment(None, const=False)
"""The predicate no packet satisfies."""


def test(stmts: list[Stmt], code: int, k: int = 0) -> Fragment:
    """A one-block predicate: ``stmts`` then the jump ``code``/``k``,
    true when the jump is taken."""
    block = Block(stmts, code, k)
    return Fragment(block, [(block, True)], [(block, False)])


def _patch(exits: list[Exit], target: Block) -> None:
    for block, side in exits:
        if side:
            block.jt = target
        else:
            block.jf = target


def and_(a: Fragment, b: Fragment) -> Fragment:
    """``a and b``: b is tested where a holds."""
    if a.const is False or b.const is True:
        return a
    if a.const is True or b.const is False:
        return b
    assert b.head is not None
    _patch(a.trues, b.head)
    return Fragment(a.head, list(b.trues), a.falses + b.falses)


def or_(a: Fragment, b: Fragment) -> Fragment:
    """``a or b``: b is tested where a fails."""
    if a.const is True or b.const is False:
        return a
    if a.const is False or b.const is True:
        return b
    assert b.head is not None
    _patch(a.falses, b.head)
    return Fragment(a.head, a.trues + b.trues, list(b.falses))


def not_(a: Fragment) -> Fragment:
    """``not a``."""
    if a.const is not None:
        return TRUE if a.const is False else FALSE
    return Fragment(a.head, list(a.falses), list(a.trues), None)


def finish(fragment: Fragment, accept: int) -> Block:
    """The program of a predicate: its true ends return ``accept``, its
    false ends 0; the root block (a leaf for a constant predicate)."""
    yes, no = leaf(accept), leaf(0)
    if fragment.const is not None:
        return yes if fragment.const else no
    _patch(fragment.trues, yes)
    _patch(fragment.falses, no)
    assert fragment.head is not None
    return fragment.head


# --- walking a graph ------------------------------------------------------------------------

def blocks(root: Block) -> list[Block]:
    """Every block reachable from ``root``, in topological order (each
    before its successors), the order :func:`layout` places them in."""
    order: list[Block] = []
    seen: set[int] = set()
    stack: list[tuple[Block, Iterator[Block]]] = []

    def enter(b: Block) -> None:
        seen.add(b.id)
        # visit jf first, then jt: placed in reverse, jt's side comes first
        succ = [] if b.jt is None else ([b.jf, b.jt] if b.jf is not b.jt else [b.jt])
        stack.append((b, iter(succ)))  # type: ignore[arg-type]

    enter(root)
    while stack:
        b, it = stack[-1]
        for s in it:
            if s.id not in seen:
                enter(s)
                break
        else:
            stack.pop()
            order.append(b)
    order.reverse()
    return order


def insn_count(root: Block) -> int:
    """How many instructions :func:`layout` will produce (without the
    ``ja`` instructions of far jumps)."""
    order = blocks(root)
    total = 0
    for i, b in enumerate(order):
        total += sum(len(s) if isinstance(s, Chunk) else 1 for s in b.stmts)
        if b.is_leaf or b.jt is not b.jf:
            total += 1
        elif i + 1 >= len(order) or order[i + 1] is not b.jt:
            total += 1  # an unconditional block whose target does not follow it
    return total


def layout(root: Block) -> list[SockFilter]:
    """The classic program of the graph at ``root``."""
    order = blocks(root)
    # Far targets: (block id, True/False) -> needs a ja trampoline after the jump.
    far: set[tuple[int, bool]] = set()
    while True:
        start: dict[int, int] = {}
        branch_at: dict[int, int] = {}
        pc = 0
        for i, b in enumerate(order):
            start[b.id] = pc
            pc += sum(len(s) if isinstance(s, Chunk) else 1 for s in b.stmts)
            branch_at[b.id] = pc
            if b.is_leaf or b.jt is not b.jf:
                pc += 1
                pc += ((b.id, True) in far) + ((b.id, False) in far)
            elif i + 1 >= len(order) or order[i + 1] is not b.jt:
                pc += 1
        grown = False
        for b in order:
            if b.is_leaf or b.jt is b.jf:
                continue
            assert b.jt is not None and b.jf is not None
            base = branch_at[b.id] + 1
            for side, target in ((True, b.jt), (False, b.jf)):
                if (b.id, side) in far:
                    continue
                if start[target.id] - base > MAX_COND_JUMP:
                    far.add((b.id, side))
                    grown = True
        if not grown:
            break
    out: list[SockFilter] = []
    for i, b in enumerate(order):
        for s in b.stmts:
            if isinstance(s, Chunk):
                out.extend(s.insns)
            else:
                out.append(s)
        if b.is_leaf:
            out.append(b.branch)
            continue
        assert b.jt is not None and b.jf is not None
        pc = len(out)
        if b.jt is b.jf:
            if i + 1 >= len(order) or order[i + 1] is not b.jt:
                out.append(SockFilter(C.BPF_JMP | C.BPF_JA, 0, 0, start[b.jt.id] - pc - 1))
            continue
        trampolines = [side for side in (True, False) if (b.id, side) in far]
        after = pc + 1 + len(trampolines)
        offsets = {}
        for n, side in enumerate(trampolines):
            offsets[side] = n
        for side, target in ((True, b.jt), (False, b.jf)):
            if side not in offsets:
                offsets[side] = start[target.id] - (pc + 1)
        out.append(SockFilter(b.code, offsets[True], offsets[False], b.k))
        for side in trampolines:
            target = b.jt if side else b.jf
            here = len(out)
            out.append(SockFilter(C.BPF_JMP | C.BPF_JA, 0, 0, start[target.id] - here - 1))
        assert len(out) == after
    return out
