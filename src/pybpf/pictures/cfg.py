"""A program's control-flow graph: basic blocks and the edges between them.

::

    from pybpf.pictures.cfg import control_flow_graph
    from pybpf.pictures.graph import to_dot, to_svg

    cfg = control_flow_graph(insns, name="xdp_prog")
    cfg.add_states(verifier_result.states_at)     # optional
    open("prog.dot", "w").write(to_dot([cfg]))

A block starts at the program's first instruction, at every jump target,
after every jump or exit, and at every subprogram (the target of a
bpf-to-bpf call or of a ``lddw`` of a function's address).  Edges are
``taken`` and ``fallthrough`` for conditional jumps, ``goto`` for
unconditional ones, ``fallthrough`` between consecutive blocks, and
``call`` from a block calling a subprogram to the subprogram's entry.
Helper and kernel-function calls do not end a block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import BPFError
from ..isa import Insn
from ..isa.disasm import format_insn
from ..isa.opcodes import PSEUDO_FUNC, Kind

MAX_GRAPH_SLOTS = 100_000
"""The largest program a graph is drawn for: past it no picture is readable,
and a hostile file of a million slots would take minutes to lay out."""

TAKEN = "taken"
FALLTHROUGH = "fallthrough"
GOTO = "goto"
CALL = "call"
EDGE_KINDS = (TAKEN, FALLTHROUGH, GOTO, CALL)
"""Every kind of edge a graph holds."""


@dataclass
class Block:
    """A basic block: instructions ``start`` up to (not including) slot
    ``end``, each as ``(pc, text)``; the entry pc of the function it belongs
    to; the verifier's states on entry (one per distinct state a path
    brought) and a ``note`` (the verifier's refusal, when it stopped here)."""

    id: int
    start: int
    end: int
    lines: list[tuple[int, str]]
    function: int = 0
    states: list[str] = field(default_factory=list)
    reached: bool | None = None
    """Whether the verifier reached the block (None: not verified)."""
    note: str = ""


@dataclass(frozen=True)
class Edge:
    """From block ``source`` to block ``target`` (block ids), of ``kind``
    (one of :data:`EDGE_KINDS`)."""

    source: int
    target: int
    kind: str


@dataclass
class ControlFlowGraph:
    """One program's blocks and edges, and its functions by entry pc."""

    name: str
    blocks: list[Block]
    edges: list[Edge]
    functions: dict[int, str]

    def block_at(self, pc: int) -> Block | None:
        """The block holding instruction slot ``pc``."""
        for b in self.blocks:
            if b.start <= pc < b.end:
                return b
        return None

    @property
    def leaders(self) -> list[int]:
        """Each block's first instruction."""
        return [b.start for b in self.blocks]

    def add_states(self, states_at: Mapping[int, Sequence[str]]) -> None:
        """Record the verifier's entry states (``VerifierResult.states_at``,
        keyed by instruction) on the blocks they start; a block whose start
        is in ``states_at`` with no state was not reached."""
        for b in self.blocks:
            if b.start in states_at:
                b.states = list(states_at[b.start])
                b.reached = bool(b.states)

    def mark(self, pc: int, note: str) -> None:
        """Attach ``note`` (a refusal) to the block holding ``pc``."""
        b = self.block_at(pc)
        if b is not None:
            b.note = note


def _jump_kind(insn: Insn) -> str | None:
    """``goto``, ``cond`` (two ways out), ``exit`` or None (straight on:
    everything else, calls included, and slots the opcode table does not
    know)."""
    form = insn.form
    kind = form.kind if form is not None else None
    if kind in (Kind.JA, Kind.GOTOL):
        return GOTO
    if kind in (Kind.JCOND, Kind.MAY_GOTO):
        return "cond"
    if kind is Kind.EXIT:
        return "exit"
    return None


def jump_target(pc: int, insn: Insn) -> int:
    """Where the jump at ``pc`` goes when taken (``gotol`` counts its
    immediate)."""
    form = insn.form
    if form is not None and form.kind is Kind.GOTOL:
        return pc + insn.imm + 1
    return pc + insn.off + 1


def _call_target(pc: int, insn: Insn) -> int | None:
    form = insn.form
    if form is not None and form.kind is Kind.CALL_LOCAL:
        return pc + insn.imm + 1
    if insn.is_lddw and insn.src == PSEUDO_FUNC:
        return pc + insn.imm + 1
    return None


def _starts(insns: Sequence[Insn]) -> list[int]:
    """The pc of each instruction (an ``lddw`` takes two slots)."""
    out, pc = [], 0
    while pc < len(insns):
        out.append(pc)
        pc += 2 if insns[pc].is_lddw and pc + 1 < len(insns) else 1
    return out


def control_flow_graph(insns: Sequence[Insn], text: Callable[[int], str] | None = None, *,
                       name: str = "prog", functions: Mapping[int, str] | None = None
                       ) -> ControlFlowGraph:
    """The control-flow graph of ``insns`` (instruction slots).  ``text(pc)``
    spells each instruction (LLVM-syntax disassembly by default);
    ``functions`` names subprograms by entry pc (``subprog_N`` by default,
    the program's ``name`` at pc 0).  Targets outside the program are left
    without an edge."""
    if len(insns) > MAX_GRAPH_SLOTS:
        raise BPFError(f"{name}: {len(insns)} instruction slots: control-flow graphs are "
                       f"drawn for programs of at most {MAX_GRAPH_SLOTS}")
    insns = [i if isinstance(i, Insn) else Insn(*i) for i in insns]
    n = len(insns)
    if text is None:
        def text(pc: int) -> str:
            nxt = insns[pc + 1] if insns[pc].is_lddw and pc + 1 < n else None
            return format_insn(insns[pc], nxt, syntax="llvm")
    starts = _starts(insns)
    valid = set(starts)
    leaders = {0} if n else set()
    entries = {0} if n else set()
    for i, pc in enumerate(starts):
        insn = insns[pc]
        kind = _jump_kind(insn)
        nxt = starts[i + 1] if i + 1 < len(starts) else n
        if kind is not None:
            if nxt < n:
                leaders.add(nxt)
            if kind != "exit" and jump_target(pc, insn) in valid:
                leaders.add(jump_target(pc, insn))
        target = _call_target(pc, insn)
        if target is not None and target in valid:
            leaders.add(target)
            entries.add(target)
    ordered = sorted(leaders)
    names = {0: name}
    names.update({pc: f"subprog_{pc}" for pc in entries if pc})
    names.update(functions or {})
    names = {pc: nm for pc, nm in names.items() if pc in entries}
    blocks: list[Block] = []
    function = 0
    first = 0                       # index into starts of the block's first instruction
    for bi, start in enumerate(ordered):
        end = ordered[bi + 1] if bi + 1 < len(ordered) else n
        if start in entries:
            function = start
        while first < len(starts) and starts[first] < start:
            first += 1
        last = first
        while last < len(starts) and starts[last] < end:
            last += 1
        blocks.append(Block(bi, start, end, [(pc, text(pc)) for pc in starts[first:last]],
                            function))
        first = last
    by_start = {b.start: b.id for b in blocks}
    edges: list[Edge] = []
    for b in blocks:
        if not b.lines:
            continue
        last_pc = b.lines[-1][0]
        last = insns[last_pc]
        kind = _jump_kind(last)
        if kind in (GOTO, "cond"):
            target = jump_target(last_pc, last)
            if target in by_start:
                edges.append(Edge(b.id, by_start[target], GOTO if kind == GOTO else TAKEN))
        if kind not in (GOTO, "exit") and b.end in by_start and b.end not in entries:
            edges.append(Edge(b.id, by_start[b.end], FALLTHROUGH))
        for pc, _ in b.lines:
            target = _call_target(pc, insns[pc])
            if target is not None and target in by_start:
                edges.append(Edge(b.id, by_start[target], CALL))
    return ControlFlowGraph(name, blocks, edges, names)


__all__ = ["CALL", "EDGE_KINDS", "FALLTHROUGH", "GOTO", "MAX_GRAPH_SLOTS", "TAKEN", "Block", "ControlFlowGraph",
           "Edge", "control_flow_graph", "jump_target"]
