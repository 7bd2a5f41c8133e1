"""The filter compiler's optimizer: it shrinks the block graph the code
generator builds without changing which packets it accepts.

It repeats these passes until none changes anything:

- **value numbering**: every value a block computes is named by how it is
  computed (packet loads are pure: ``ldh [12]`` names the same value
  wherever it is), so a statement whose register already holds its value
  is dropped, constants fold, ``ld [x + k]`` with a known X becomes
  ``ld [c + k]``, ``ldx M[i]`` holding A's value becomes ``tax``, and a
  jump whose outcome the values decide becomes unconditional;
- **jump threading**: an edge into a block whose test is decided by the
  tests on every path to that edge (``A == 0x800`` taken decides ``A ==
  0x86dd``; ``A > 5`` taken decides ``A > 3``) goes straight to the
  block's true or false side, when the registers the new target reads
  hold the same values either way;
- **dead code**: statements whose results nothing reads are dropped
  (loads too: an unused load cannot change the verdict except on a
  truncated packet, and libpcap drops them as well), blocks whose two
  sides agree vanish, blocks nothing reaches are gone;
- **merging**: identical blocks (same code, same successors) become one,
  and an unconditional block is joined to a successor only it reaches;
- **peepholes**: ``sub #k; jeq #0`` is ``jeq #k``, ``and #k; jeq #0`` is
  ``jset #k`` with the sides swapped, ``and #b; jeq #b`` for one bit b is
  ``jset #b`` (when A is not read afterwards);
- **reordering**: two tests in a row on the same side of each other are
  swapped when the second tests the value the block before them left in
  A, which saves its load.

Blocks holding a :class:`~.pcap_ir.Chunk` (``protochain``'s loop) are
opaque: what the chunk leaves in A, X and its scratch word is unknown.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from ..spec import cbpf as C
from .insn import SockFilter
from .pcap_ir import Block, Chunk, Stmt, blocks

U32 = 0xFFFFFFFF
A, X = 0, 1
MEM0 = 2
NREGS = 2 + C.BPF_MEMWORDS

LD, LDX, ST, STX, ALU, JMP, RET, MISC = (C.BPF_LD, C.BPF_LDX, C.BPF_ST, C.BPF_STX, C.BPF_ALU,
                                         C.BPF_JMP, C.BPF_RET, C.BPF_MISC)
JEQ, JGT, JGE, JSET = C.BPF_JEQ, C.BPF_JGT, C.BPF_JGE, C.BPF_JSET
MAX_ROUNDS = 100


# --- values ----------------------------------------------------------------------------------

class Values:
    """Value numbers: each distinct computation gets one number; constants
    are numbered by value (:meth:`const`, :meth:`constant_of`)."""

    def __init__(self) -> None:
        self._table: dict[tuple, int] = {}
        self._consts: dict[int, int] = {}
        self._counter = itertools.count(1)

    def of(self, key: tuple) -> int:
        """The number of computation ``key``."""
        vn = self._table.get(key)
        if vn is None:
            vn = self._table[key] = next(self._counter)
            if key[0] == "const":
                self._consts[vn] = key[1]
        return vn

    def const(self, value: int) -> int:
        """The number of constant ``value``."""
        return self.of(("const", value & U32))

    def constant_of(self, vn: int | None) -> int | None:
        """The constant a value number stands for, or None."""
        return None if vn is None else self._consts.get(vn)


def alu_fold(op: int, a: int, b: int) -> int | None:
    """``a op b`` (BPF_ALU op bits), or None for a division by zero."""
    if op == C.BPF_ADD:
        return (a + b) & U32
    if op == C.BPF_SUB:
        return (a - b) & U32
    if op == C.BPF_MUL:
        return (a * b) & U32
    if op == C.BPF_DIV:
        return a // b if b else None
    if op == C.BPF_MOD:
        return a % b if b else None
    if op == C.BPF_AND:
        return a & b
    if op == C.BPF_OR:
        return a | b
    if op == C.BPF_XOR:
        return a ^ b
    if op == C.BPF_LSH:
        return (a << b) & U32 if b < 32 else 0
    if op == C.BPF_RSH:
        return a >> b if b < 32 else 0
    return None


def jump_holds(op: int, a: int, b: int) -> bool:
    """Whether ``a op b`` holds for a jump op (jeq, jgt, jge, jset)."""
    if op == JEQ:
        return a == b
    if op == JGT:
        return a > b
    if op == JGE:
        return a >= b
    return a & b != 0


# --- statement effects ------------------------------------------------------------------------

def uses_defs(s: Stmt) -> tuple[set[int], set[int]]:
    """(registers read, registers written) by a statement (A=0, X=1, M[i]=2+i)."""
    if isinstance(s, Chunk):
        written = {A, X}
        for insn in s.insns:
            if insn.code in (ST, STX):
                written.add(MEM0 + insn.k)
        return set(), written
    cls, mode = s.code & C.CLASS_MASK, s.code & C.MODE_MASK
    if cls == LD:
        if mode == C.BPF_IND:
            return {X}, {A}
        if mode == C.BPF_MEM:
            return {MEM0 + s.k}, {A}
        return set(), {A}
    if cls == LDX:
        if mode == C.BPF_MEM:
            return {MEM0 + s.k}, {X}
        return set(), {X}
    if cls == ST:
        return {A}, {MEM0 + s.k}
    if cls == STX:
        return {X}, {MEM0 + s.k}
    if cls == ALU:
        if s.code & C.OP_MASK == C.BPF_NEG or s.code & C.BPF_X == 0:
            return {A}, {A}
        return {A, X}, {A}
    if cls == MISC:
        return ({A}, {X}) if s.code & C.MISCOP_MASK == C.BPF_TAX else ({X}, {A})
    return set(), set()


def branch_uses(b: Block) -> set[int]:
    """The registers a block's jump reads (none when both sides agree)."""
    if b.is_leaf or b.jt is b.jf:
        return set()
    return {A, X} if b.code & C.BPF_X else {A}


class Optimizer:
    """One optimization of a graph (see the module documentation)."""

    def __init__(self, root: Block):
        self.root = root
        self.values = Values()
        self.changed = False

    # --- the driver ------------------------------------------------------------------------

    def run(self) -> Block:
        """The optimized graph's root."""
        for _ in range(MAX_ROUNDS):
            self.changed = False
            self.number_values()
            self.eliminate_dead_code()
            self.simplify_branches()
            self.thread_jumps()
            self.merge_blocks()
            self.intern_blocks()
            self.peephole()
            if not self.changed:
                self.reorder_tests()
            if not self.changed:
                break
        self.finish_root()
        return self.root

    def finish_root(self) -> None:
        """Step past an unconditional root, as libpcap does at the end:
        the root's statements stay, prepended to the new root (a load there
        still refuses a packet too short for it)."""
        root = self.root
        if root.is_leaf or root.jt is not root.jf:
            return
        stmts = root.stmts
        while not root.is_leaf and root.jt is root.jf:
            assert root.jt is not None
            root = root.jt
        if not root.is_leaf:
            entry = [self.values.of(("entry", r)) for r in range(NREGS)]
            root.stmts = self.simulate(stmts + root.stmts, entry, root.id)[1]
        self.root = root

    # --- value numbering ---------------------------------------------------------------------

    def simulate(self, stmts: list[Stmt], state: list[int],
                 block_id: int) -> tuple[list[int], list[Stmt]]:
        """Run ``stmts`` over the value numbers ``state``: the state after
        them, and the statements with the redundant ones dropped and the
        rest simplified."""
        v = self.values
        state = list(state)
        out: list[Stmt] = []
        for i, s in enumerate(stmts):
            if isinstance(s, Chunk):
                for reg in uses_defs(s)[1]:
                    state[reg] = v.of(("opaque", block_id, i, reg))
                out.append(s)
                continue
            new = self._simplify(s, state)
            if new is None:
                continue
            target, vn = self._effect(new, state, block_id, i)
            if target is not None and state[target] == vn:
                continue  # the register already holds this value
            if target is not None:
                state[target] = vn
            out.append(new)
        return state, out

    def _simplify(self, s: SockFilter, state: list[int]) -> SockFilter | None:
        """An equivalent, simpler statement (None: it does nothing)."""
        v = self.values
        cls, mode = s.code & C.CLASS_MASK, s.code & C.MODE_MASK
        xc = v.constant_of(state[X])
        if cls == LD and mode == C.BPF_IND and xc is not None:
            return SockFilter(LD | (s.code & C.SIZE_MASK) | C.BPF_ABS, 0, 0, (xc + s.k) & U32)
        if cls == LD and mode == C.BPF_MEM:
            vn = state[MEM0 + s.k]
            c = v.constant_of(vn)
            if c is not None:
                return SockFilter(LD | C.BPF_IMM, 0, 0, c)
            if vn == state[X]:
                return SockFilter(MISC | C.BPF_TXA)
        if cls == LDX and mode == C.BPF_MEM:
            vn = state[MEM0 + s.k]
            c = v.constant_of(vn)
            if c is not None:
                return SockFilter(LDX | C.BPF_IMM, 0, 0, c)
            if vn == state[A]:
                return SockFilter(MISC | C.BPF_TAX)
        if cls == ALU and s.code & C.OP_MASK != C.BPF_NEG:
            op = s.code & C.OP_MASK
            k = s.k if s.code & C.BPF_X == 0 else xc
            if k is None:
                return s
            if s.code & C.BPF_X and ((op in (C.BPF_DIV, C.BPF_MOD) and k == 0)
                                     or (op in (C.BPF_LSH, C.BPF_RSH) and k > 31)):
                return s
            ac = v.constant_of(state[A])
            if ac is not None:
                folded = alu_fold(op, ac, k)
                if folded is not None:
                    return SockFilter(LD | C.BPF_IMM, 0, 0, folded)
            if k == 0 and op in (C.BPF_ADD, C.BPF_SUB, C.BPF_OR, C.BPF_XOR, C.BPF_LSH,
                                 C.BPF_RSH):
                return None
            if k == 1 and op in (C.BPF_MUL, C.BPF_DIV):
                return None
            if k == 0 and op in (C.BPF_MUL, C.BPF_AND):
                return SockFilter(LD | C.BPF_IMM, 0, 0, 0)
            return SockFilter(ALU | op | C.BPF_K, 0, 0, k)
        if cls == ALU:
            ac = v.constant_of(state[A])
            if ac is not None:
                return SockFilter(LD | C.BPF_IMM, 0, 0, -ac & U32)
        return s

    def _effect(self, s: SockFilter, state: list[int], block_id: int,
                index: int) -> tuple[int | None, int]:
        """(register written, its new value number) of a plain statement."""
        v = self.values
        cls, mode, size = s.code & C.CLASS_MASK, s.code & C.MODE_MASK, s.code & C.SIZE_MASK
        if cls in (LD, LDX):
            target = A if cls == LD else X
            if mode == C.BPF_IMM:
                return target, v.const(s.k)
            if mode == C.BPF_LEN:
                return target, v.of(("len",))
            if mode == C.BPF_MEM:
                return target, state[MEM0 + s.k]
            if mode == C.BPF_ABS:
                return target, v.of(("ld", size, s.k))
            if mode == C.BPF_IND:
                return target, v.of(("ldi", size, state[X], s.k))
            return target, v.of(("msh", s.k))
        if cls == ST:
            return MEM0 + s.k, state[A]
        if cls == STX:
            return MEM0 + s.k, state[X]
        if cls == ALU:
            op = s.code & C.OP_MASK
            if op == C.BPF_NEG:
                return A, v.of(("neg", state[A]))
            operand = v.const(s.k) if s.code & C.BPF_X == 0 else state[X]
            return A, v.of(("alu", op, state[A], operand))
        if cls == MISC:
            if s.code & C.MISCOP_MASK == C.BPF_TAX:
                return X, state[A]
            return A, state[X]
        return None, 0

    def number_values(self) -> None:
        """Value numbering over the whole graph (see the module documentation)."""
        order = blocks(self.root)
        preds = self.predecessors(order)
        self.exit_state: dict[int, list[int]] = {}
        self.entry_state: dict[int, list[int]] = {}
        v = self.values
        for b in order:
            incoming = [self.exit_state[p.id] for p in preds[b.id]]
            if not incoming:
                entry = [v.of(("entry", r)) for r in range(NREGS)]
            else:
                entry = [incoming[0][r] if all(s[r] == incoming[0][r] for s in incoming)
                         else v.of(("phi", b.id, r)) for r in range(NREGS)]
            self.entry_state[b.id] = entry
            state, stmts = self.simulate(b.stmts, entry, b.id)
            if stmts != b.stmts:
                b.stmts = stmts
                self.changed = True
            self.exit_state[b.id] = state
            if not b.is_leaf and b.jt is not b.jf:
                decided = self.decide_constant(b, state)
                if decided is not None:
                    b.jt = b.jf = b.jt if decided else b.jf
                    self.changed = True
                elif b.code & C.BPF_X and v.constant_of(state[X]) is not None:
                    b.code = b.code & ~C.BPF_X
                    b.k = v.constant_of(state[X]) or 0
                    self.changed = True

    def operand(self, b: Block, state: list[int]) -> int:
        """The value number a block's jump compares A with."""
        return state[X] if b.code & C.BPF_X else self.values.const(b.k)

    def decide_constant(self, b: Block, state: list[int]) -> bool | None:
        """The outcome of ``b``'s jump if its values decide it."""
        v = self.values
        op = b.code & C.OP_MASK
        a, other = state[A], self.operand(b, state)
        ac, oc = v.constant_of(a), v.constant_of(other)
        if ac is not None and oc is not None:
            return jump_holds(op, ac, oc)
        # (A and the operand holding one value does not decide it: the loads
        # behind them may still refuse a short packet, and libpcap keeps them.)
        if op == JSET and oc == 0:
            return False
        return None

    # --- the graph ----------------------------------------------------------------------------

    @staticmethod
    def predecessors(order: Iterable[Block]) -> dict[int, list[Block]]:
        """Each block's predecessors (a block whose two sides agree counts once)."""
        preds: dict[int, list[Block]] = {}
        for b in order:
            preds.setdefault(b.id, [])
            for s in b.successors():
                preds.setdefault(s.id, []).append(b)
        return preds

    def branch_uses(self, b: Block) -> set[int]:
        """The registers a block's jump reads; the root's jump counts even
        when its sides agree (libpcap keeps the root's statements)."""
        if b is self.root and not b.is_leaf:
            return {A, X} if b.code & C.BPF_X else {A}
        return branch_uses(b)

    def liveness(self, order: list[Block]) -> dict[int, set[int]]:
        """The registers live on entry to each block."""
        live_in: dict[int, set[int]] = {}
        for b in reversed(order):
            live = set(self.branch_uses(b))
            for s in b.successors():
                live |= live_in[s.id]
            for s in reversed(b.stmts):
                uses, defs = uses_defs(s)
                live = (live - defs) | uses
            live_in[b.id] = live
        return live_in

    def live_out(self, b: Block, live_in: dict[int, set[int]]) -> set[int]:
        """The registers live after a block's statements (its jump included)."""
        live = set(self.branch_uses(b))
        for s in b.successors():
            live |= live_in[s.id]
        return live

    # --- dead code ----------------------------------------------------------------------------

    def eliminate_dead_code(self) -> None:
        """Drop statements whose results nothing reads."""
        order = blocks(self.root)
        live_in: dict[int, set[int]] = {}
        for b in reversed(order):
            live = self.live_out(b, live_in)
            kept: list[Stmt] = []
            for s in reversed(b.stmts):
                uses, defs = uses_defs(s)
                if not isinstance(s, Chunk) and defs and not defs & live:
                    self.changed = True
                    continue
                live = (live - defs) | uses
                kept.append(s)
            kept.reverse()
            b.stmts = kept
            live_in[b.id] = live

    def simplify_branches(self) -> None:
        """Jumps whose sides agree become unconditional; empty
        unconditional blocks are bypassed."""
        order = blocks(self.root)

        def skip(b: Block | None) -> Block | None:
            while b is not None and not b.is_leaf and b.jt is b.jf and not b.stmts:
                b = b.jt
            return b

        for b in order:
            if b.is_leaf:
                continue
            jt, jf = skip(b.jt), skip(b.jf)
            if jt is not b.jt or jf is not b.jf:
                b.jt, b.jf = jt, jf
                self.changed = True

    def merge_blocks(self) -> None:
        """Join an unconditional block with a successor only it reaches."""
        order = blocks(self.root)
        preds = self.predecessors(order)
        for b in order:
            while not b.is_leaf and b.jt is b.jf and b is not self.root:
                s = b.jt
                assert s is not None
                if len(preds[s.id]) != 1 or s.is_leaf:
                    break
                b.stmts = b.stmts + s.stmts
                b.code, b.k, b.jt, b.jf = s.code, s.k, s.jt, s.jf
                for t in s.successors():
                    preds[t.id] = [b if p is s else p for p in preds[t.id]]
                self.changed = True

    def intern_blocks(self) -> None:
        """Make identical blocks (same code, same successors) one."""
        order = blocks(self.root)
        canon: dict[tuple, Block] = {}
        replace: dict[int, Block] = {}
        for b in reversed(order):
            if not b.is_leaf:
                assert b.jt is not None and b.jf is not None
                jt = replace.get(b.jt.id, b.jt)
                jf = replace.get(b.jf.id, b.jf)
                if jt is not b.jt or jf is not b.jf:
                    b.jt, b.jf = jt, jf
                    self.changed = True
            key = (tuple(s if isinstance(s, SockFilter) else id(s) for s in b.stmts), b.code,
                   b.k, b.jt.id if b.jt else None, b.jf.id if b.jf else None)
            first = canon.get(key)
            if first is None:
                canon[key] = b
            elif first is not b:
                replace[b.id] = first
                self.changed = True
        if self.root.id in replace:
            self.root = replace[self.root.id]

    # --- jump threading -----------------------------------------------------------------------

    def thread_jumps(self) -> None:
        """Send edges past tests that the tests dominating them decide."""
        order = blocks(self.root)
        preds = self.predecessors(order)
        live_in = self.liveness(order)
        facts_in: dict[int, frozenset] = {}
        edge_facts: dict[tuple[int, bool], frozenset] = {}
        for b in order:
            incoming = []
            for p in preds[b.id]:
                for side in (True, False):
                    if (p.jt if side else p.jf) is b:
                        incoming.append(edge_facts[(p.id, side)])
            facts = frozenset.intersection(*incoming) if incoming else frozenset()
            facts_in[b.id] = facts
            if b.is_leaf:
                continue
            exit_state = self.exit_state.get(b.id)
            if exit_state is None:
                continue
            if b.jt is b.jf:
                edge_facts[(b.id, True)] = edge_facts[(b.id, False)] = facts
                continue
            test = (exit_state[A], b.code & C.OP_MASK, self.operand(b, exit_state))
            outcomes = {self.decide(f, test) for f in incoming} if incoming else {None}
            decided = outcomes.pop() if len(outcomes) == 1 else None
            if decided is not None:
                # every edge here decides this block's own test the same way
                # (libpcap's opt_j on the block itself): its statements stay,
                # its jump goes
                b.jt = b.jf = b.jt if decided else b.jf
                self.changed = True
                edge_facts[(b.id, True)] = edge_facts[(b.id, False)] = facts
                continue
            edge_facts[(b.id, True)] = facts | {(*test, True)}
            edge_facts[(b.id, False)] = facts | {(*test, False)}
        for p in order:
            if p.is_leaf or p.id not in self.exit_state:
                continue
            for side in (True, False):
                if p.jt is p.jf and not side:
                    continue
                target = p.jt if side else p.jf
                assert target is not None
                facts = edge_facts.get((p.id, side))
                if facts is None:
                    continue
                state = self.exit_state[p.id]
                new = self._thread(target, facts, state, live_in)
                if new is not target:
                    if p.jt is p.jf:
                        p.jt = p.jf = new
                    elif side:
                        p.jt = new
                    else:
                        p.jf = new
                    self.changed = True

    def _thread(self, target: Block, facts: frozenset, state: list[int],
                live_in: dict[int, set[int]]) -> Block:
        """Where an edge carrying ``facts`` and values ``state`` into
        ``target`` can go instead."""
        # Follow the path while the tests on it are decided; the edge may go
        # to the furthest block on it whose inputs it delivers unchanged.
        best = target
        current, cur = target, state
        for _ in range(1000):
            if current.is_leaf:
                break
            after, _ = self.simulate(current.stmts, cur, current.id)
            if current.jt is current.jf:
                outcome: bool | None = True
            else:
                test = (after[A], current.code & C.OP_MASK, self.operand(current, after))
                outcome = self.decide(facts, test)
            if outcome is None:
                break
            nxt = current.jt if outcome else current.jf
            assert nxt is not None
            if current.jt is not current.jf:
                facts = facts | {(*test, outcome)}
            current, cur = nxt, after
            if all(cur[r] == state[r] for r in live_in[current.id]):
                best = current
        return best

    def decide(self, facts: frozenset, test: tuple[int, int, int]) -> bool | None:
        """The outcome of ``test`` (A's value, jump op, operand value) given
        the outcomes ``facts`` of earlier tests, or None."""
        v = self.values
        a, op, operand = test
        ac, oc = v.constant_of(a), v.constant_of(operand)
        if ac is not None and oc is not None:
            return jump_holds(op, ac, oc)
        for fa, fop, foperand, outcome in facts:
            if fa != a:
                continue
            if fop == op and foperand == operand:
                return outcome
            fc = v.constant_of(foperand)
            if fc is None or oc is None:
                continue
            decided = implied(fop, fc, outcome, op, oc)
            if decided is not None:
                return decided
        return None

    # --- peepholes ----------------------------------------------------------------------------

    def peephole(self) -> None:
        """Fold the last statement of a block into its jump where A is not
        read afterwards."""
        order = blocks(self.root)
        live_in = self.liveness(order)
        for b in order:
            if b.is_leaf or b.jt is b.jf or not b.stmts:
                continue
            last = b.stmts[-1]
            if isinstance(last, Chunk):
                continue
            after = set()
            for s in b.successors():
                after |= live_in[s.id]
            if A in after:
                continue
            op = b.code & C.OP_MASK
            kind = b.code & C.BPF_X
            if op == JEQ and kind == 0 and b.k == 0 and last.code in (
                    ALU | C.BPF_SUB | C.BPF_K, ALU | C.BPF_SUB | C.BPF_X):
                b.stmts = b.stmts[:-1]
                b.code = JMP | JEQ | (last.code & C.BPF_X)
                b.k = last.k
                self.changed = True
            elif op == JEQ and kind == 0 and last.code == ALU | C.BPF_AND | C.BPF_K and (
                    b.k == 0 or (b.k == last.k and last.k and last.k & (last.k - 1) == 0)):
                b.stmts = b.stmts[:-1]
                if b.k == 0:
                    b.jt, b.jf = b.jf, b.jt
                b.code, b.k = JMP | JSET, last.k
                self.changed = True

    # --- reordering ---------------------------------------------------------------------------

    def reorder_tests(self) -> None:
        """In a chain of tests that all lead to one place when true (an
        "or" chain) or when false (an "and" chain), move a test of the
        value A holds on entry to the chain up, before the first test that
        loads something else: its load then disappears."""
        self.number_values()
        order = blocks(self.root)
        preds = self.predecessors(order)
        for b in order:
            for link_true in (False, True):
                if self._pull(b, link_true, preds):
                    self.changed = True
                    return

    def _pull(self, b: Block, link_true: bool, preds: dict[int, list[Block]]) -> bool:
        """One pull in the chain headed by ``b`` whose tests are linked by
        their false sides (``link_true`` False: an "or" chain) or true sides."""
        if b.is_leaf or b.jt is b.jf:
            return False

        def link(c: Block) -> Block | None:
            return c.jt if link_true else c.jf

        def common(c: Block) -> Block | None:
            return c.jf if link_true else c.jt

        target = common(b)
        val = self.entry_state[b.id][A]
        prev: Block | None = None
        c: Block | None = b
        diff = diff_prev = None
        while True:
            if c is None or c.is_leaf or c.jt is c.jf or common(c) is not target:
                return False
            if c is not b and preds[c.id] != [prev]:
                return False
            if self.exit_state[c.id][A] != val:
                diff, diff_prev = c, prev
                break
            prev, c = c, link(c)
        prev, c = diff, link(diff)
        while True:
            if c is None or c.is_leaf or c.jt is c.jf or common(c) is not target:
                return False
            if preds[c.id] != [prev]:
                return False
            if self.exit_state[c.id][A] == val:
                same, same_prev = c, prev
                break
            prev, c = c, link(c)
        # The pulled test must compute nothing new where it lands.
        entry = self.entry_state[diff.id]
        after, stmts = self.simulate(same.stmts, entry, same.id)
        if stmts or after != entry:
            return False
        if self.operand(same, after) != self.operand(same, self.exit_state[same.id]):
            return False
        rest = link(same)
        if link_true:
            same_prev.jt, same.jt = rest, diff
        else:
            same_prev.jf, same.jf = rest, diff
        if diff_prev is None:
            for p in preds[b.id]:
                if p.jt is b:
                    p.jt = same
                if p.jf is b:
                    p.jf = same
            if self.root is b:
                self.root = same
        elif link_true:
            diff_prev.jt = same
        else:
            diff_prev.jf = same
        return True


def implied(fop: int, fc: int, outcome: bool, op: int, c: int) -> bool | None:
    """What a known outcome of ``v fop fc`` says about ``v op c``: as in
    libpcap, only an equality known to hold decides another equality (with
    another constant: false).  Deciding more — ranges, bits — makes paths
    that libpcap lets meet stay apart, the program longer, and refuses as
    rejecting all packets expressions libpcap accepts."""
    if fop == JEQ and outcome and op == JEQ:
        return jump_holds(op, fc, c)
    return None


def optimize(root: Block) -> Block:
    """The optimized graph of ``root`` (the blocks are changed in place)."""
    return Optimizer(root).run()
