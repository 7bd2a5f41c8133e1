"""Lowering an analysed bpftrace program through the shared code generator
(:mod:`pybpf.lang.backend`): one BPF program per concrete probe, one
BPF map per bpftrace map (per-CPU hashes for aggregations), a ring buffer
for everything user space prints, a stack trace map for ``kstack``/``ustack``.

:func:`generate` returns a :class:`Generated`: the backend module (its
``object_spec()`` loads into the kernel or the VM), each program's probe,
the map layouts and the actions, which :mod:`pybpf.trace.runtime` needs to
attach, read and print.
"""

from __future__ import annotations

from typing import Any

import llvmlite.ir as ir

from ..lang import backend as bk
from ..lang.types import (
    CHAR,
    I8,
    I64,
    PTR,
    S32,
    S64,
    U8,
    U32,
    U64,
    ArrayType,
    CType,
    IntType,
    KernelStruct,
    PointerType,
    StructType,
    int_type,
    kernel_struct,
)
from ..spec import constant, struct_layout
from . import ast as A
from . import types as T
from .errors import TraceSemanticError
from .layout import CONFIG_MAP, EVENTS_MAP, STACKS_MAP, Layout, MapLayout, Plan, plan, tuple_layout
from .semantic import Analysis, ProbeProgram, recheck

__all__ = ["CONFIG_MAP", "EVENTS_MAP", "STACKS_MAP", "Generated", "generate"]

RINGBUF_SIZE = 1 << 20
STACK_ENTRIES = 4096
MAP_ENTRIES = 4096
_ARG_REGS = ("di", "si", "dx", "cx", "r8", "r9")


Generated = Plan
"""A generated program: its :class:`~pybpf.trace.layout.Plan` with ``module`` set."""


def to_struct(layout: Layout) -> StructType:
    """The C struct of a :class:`~pybpf.trace.layout.Layout` (same offsets)."""
    fields = list(layout.fields.values())
    return StructType(layout.name, [(f.name, ctype(f.type)) for f in fields],
                      offsets=[f.offset for f in fields], size=layout.size)


def ctype(t: Any) -> CType:
    """The C type a value of bpftrace type ``t`` is stored as."""
    if isinstance(t, Layout):
        return to_struct(t)
    if isinstance(t, T.Int):
        return S64 if t.signed else U64
    if isinstance(t, T.String):
        return ArrayType(CHAR, t.length)
    if isinstance(t, T.Tuple):
        return to_struct(tuple_layout(t))
    if isinstance(t, (T.Symbol, T.Stack)) and t.user:
        return ArrayType(U64, 2)  # the address or stack id, then the pid
    if isinstance(t, (T.Symbol, T.Pointer)):
        return U64
    if isinstance(t, T.Stack):
        return S64
    if isinstance(t, T.Inet):
        return ArrayType(U8, 24)
    if isinstance(t, T.Buf):
        return ArrayType(U8, t.length + 8)
    raise TypeError(f"no storage for {T.type_name(t)}")


class TV:
    """A lowered value: ``v`` (a backend Value) and its bpftrace type ``t``.
    Strings, tuples and other records are pointers to stack copies."""

    __slots__ = ("t", "v")

    def __init__(self, v: Any, t: Any):
        self.v = v
        self.t = t


def _is_memory(t: Any) -> bool:
    return isinstance(t, (T.String, T.Tuple, T.Inet, T.Buf)) or \
        (isinstance(t, (T.Symbol, T.Stack)) and t.user)


def _section(pp: ProbeProgram) -> str:
    tgt = pp.target
    kind = tgt.kind
    if kind == "tracepoint":
        return f"tracepoint/{tgt.params['category']}/{tgt.params['event']}"
    if kind == "rawtracepoint":
        return f"raw_tracepoint/{tgt.params['event']}"
    if kind in ("uprobe", "usdt"):
        return "uprobe"
    if kind == "uretprobe":
        return "uretprobe"
    if kind in ("interval", "profile", "software", "hardware"):
        return "perf_event"
    if kind in ("BEGIN", "END"):
        return "raw_tp"
    raise TraceSemanticError(f"{kind} probes cannot be generated here")


class Lowering:
    """Builds the module for one analysis."""

    def __init__(self, analysis: Analysis):
        self.a = analysis
        src = analysis.program.source
        self.m = bk.Module("bpftrace", path=src.name if src else "stdin",
                           source=src.text if src else None, license="GPL",
                           producer="pybpf.trace")
        self.plan = plan(analysis)
        self.layouts: dict[str, MapLayout] = self.plan.layouts
        for lay in self.layouts.values():
            lay.key_ct = to_struct(lay.key)
            lay.value_ct = ctype(lay.value)
            lay.decl = self.m.map(lay.name, lay.kind, key=lay.key_ct, value=lay.value_ct,
                                  max_entries=MAP_ENTRIES)
        self.events = self.m.map(EVENTS_MAP, "ringbuf", max_entries=RINGBUF_SIZE) \
            if analysis.actions else None
        self.config = self.m.map(CONFIG_MAP, "array", key=U32, value=U64, max_entries=4)
        self.uses_stacks = self.plan.uses_stacks
        self.stacks = self.m.map(STACKS_MAP, "stack_trace", key=U32,
                                 value=ArrayType(U64, 127), max_entries=STACK_ENTRIES) \
            if self.uses_stacks else None
        self.records = {i: to_struct(r) for i, r in self.plan.records.items()}

    def generate(self) -> Plan:
        for info in self.plan.programs:
            pp = info.program
            recheck(self.a, pp)
            f = self.m.function(info.name, section=_section(pp),
                                line=self.line_of(pp.block.span[0]))
            ProbeBuilder(self, pp, f.builder).build()
        self.plan.module = self.m
        return self.plan

    def line_of(self, offset: int) -> int:
        src = self.a.program.source
        return src.position(offset)[0] if src else 0


class ProbeBuilder:
    """Builds one program: the predicate, then the statements."""

    def __init__(self, low: Lowering, pp: ProbeProgram, b: Any):
        self.low = low
        self.pp = pp
        self.b = b
        self.ctx = b.args[0]
        self.vars: dict[str, TV] = {}
        self.loops: list[tuple[Any, Any]] = []
        self.kind = pp.target.kind

    # --- helpers ---------------------------------------------------------------------
    def error(self, msg: str, node: A.Node) -> TraceSemanticError:
        return TraceSemanticError(f"{self.pp.target.name}: {msg}", self.low.a.program.source,
                                  node.span, probe=self.pp.target.name)

    def locate(self, node: A.Node) -> None:
        src = self.low.a.program.source
        if src is not None:
            line, col = src.position(node.span[0])
            self.b.locate(line, col)

    def local(self, ct: CType, name: str = "", zero: bool = True) -> Any:
        """A stack slot for ``ct``: 8-aligned, its size rounded up to 8 bytes
        (whole-word stores of constants stay inside it), as an opaque pointer
        (llvmlite's alloca gives a typed one, which stores of other types refuse)."""
        size = -(-max(ct.size, 1) // 8) * 8
        raw = self.b.local(ArrayType(U8, size), name, zero=False)
        raw.ir.align = 8
        raw.ir.type = PTR
        v = bk.Value(raw.ir, PointerType(ct))
        if zero:
            self.b.zero(v, size)
        return v

    def i64(self, value: int, signed: bool = True) -> Any:
        return self.b.const(S64 if signed else U64, value)

    def to64(self, tv: TV) -> Any:
        """An integer TV as a 64-bit value (sign- or zero-extended)."""
        v = tv.v
        if isinstance(v.ctype, PointerType):
            return self.b.cast(v, U64)
        want = S64 if getattr(tv.t, "signed", False) else U64
        return self.b.cast(v, want)

    def store_bytes(self, ptr: Any, data: bytes) -> None:
        data = data + bytes(-len(data) % 8)
        for i in range(0, len(data), 8):
            chunk = int.from_bytes(data[i:i + 8], "little")
            p = self.b.ir.gep(ptr.ir, [ir.Constant(I64, i)], source_etype=I8) if i else ptr.ir
            self.b.ir.store(ir.Constant(I64, chunk), p, align=8)

    def copy_into(self, dst: Any, dst_t: Any, src: TV) -> None:
        """Store ``src`` into the storage at ``dst`` of bpftrace type ``dst_t``."""
        if _is_memory(dst_t):
            if not _is_memory(src.t):
                raise TypeError("memory from a scalar")
            n = min(ctype(dst_t).size, ctype(src.t).size)
            if isinstance(dst_t, T.Tuple) and isinstance(src.t, T.Tuple) and \
                    dst_t != src.t:
                dst_struct = ctype(dst_t)
                src_struct = ctype(src.t)
                for i, (dt, st) in enumerate(zip(dst_t.items, src.t.items)):
                    dptr = self.field_ptr(dst, dst_struct, f"f{i}")
                    sptr = self.field_ptr(src.v, src_struct, f"f{i}")
                    item = TV(sptr, st) if _is_memory(st) else \
                        TV(self.b.load(bk.Value(sptr.ir, PointerType(ctype(st)))), st)
                    self.copy_into(dptr, dt, item)
                return
            if ctype(dst_t).size > n:
                self.b.zero(bk.Value(dst.ir, PointerType(ctype(dst_t))))
            self.b.copy(bk.Value(dst.ir, PointerType(ArrayType(U8, n))), src.v, n)
            return
        self.b.store(bk.Value(dst.ir, PointerType(ctype(dst_t))), self.to64(src))

    def field_ptr(self, ptr: Any, struct_t: StructType, name: str) -> Any:
        return self.b.field(bk.Value(ptr.ir, PointerType(struct_t)), name)

    # --- the program -----------------------------------------------------------------
    def build(self) -> None:
        block = self.pp.block
        if block.predicate is not None:
            self.locate(block.predicate)
            cond = self.truth(self.expr(block.predicate))
            with self.b.ir.if_then(self.b.ir.not_(cond)):
                self.b.ret(self.b.const(S32, 0))
        self.stmts(block.body)
        if not self.b.terminated():
            self.b.ret(self.b.const(S32, 0))

    def stmts(self, stmts: list[A.Stmt]) -> None:
        for s in stmts:
            if self.b.terminated():
                return
            self.locate(s)
            self.stmt(s)

    def stmt(self, s: A.Stmt) -> None:
        b = self.b
        if isinstance(s, A.ExprStmt):
            self.expr(s.expr)
        elif isinstance(s, A.Assign):
            self.assign(s)
        elif isinstance(s, A.If):
            cond = self.truth(self.expr(s.cond))
            if s.other:
                with b.ir.if_else(cond) as (then, other):
                    with then:
                        self.stmts(s.then)
                    with other:
                        self.stmts(s.other)
            else:
                with b.ir.if_then(cond):
                    self.stmts(s.then)
        elif isinstance(s, A.While):
            head, body, done = b.block("while"), b.block("body"), b.block("done")
            b.ir.branch(head)
            b.ir.position_at_end(head)
            cond = self.truth(self.expr(s.cond))
            b.ir.cbranch(cond, body, done)
            b.ir.position_at_end(body)
            self.loops.append((head, done))
            self.stmts(s.body)
            self.loops.pop()
            if not b.terminated():
                b.ir.branch(head)
            b.ir.position_at_end(done)
        elif isinstance(s, A.Unroll):
            for _ in range(s.count):
                self.stmts(s.body)
        elif isinstance(s, A.Jump):
            if s.kind == "return":
                b.ret(b.const(S32, 0))
            else:
                head, done = self.loops[-1]
                b.ir.branch(head if s.kind == "continue" else done)
            # code after a jump is unreachable: continue in a fresh block
            b.ir.position_at_end(b.block("dead"))

    def assign(self, s: A.Assign) -> None:
        target = s.target
        if isinstance(s.value, A.Call) and s.value.name in T.AGGREGATE_KINDS:
            self.aggregate(target, s.value)  # type: ignore[arg-type]
            return
        if s.op is not None:
            cur = self.expr(target)
            val = self.expr(s.value)
            new = self.arith(s.op, cur, val)
        else:
            new = self.expr(s.value)
        if isinstance(target, A.Var):
            slot = self.var_slot(target.name, self.pp.variables[target.name])
            self.copy_into(slot.v, slot.t, new)
        else:
            assert isinstance(target, A.MapRef)
            lay = self.low.layouts[target.name]
            key = self.map_key(target, lay)
            value = self.local(lay.value_ct, "value", zero=_is_memory(lay.info.value))
            self.copy_into(value, lay.info.value, new)
            self.b.map_update(lay.decl, key, value, constant("BPF_ANY"))

    def var_slot(self, name: str, t: Any) -> TV:
        if name not in self.vars:
            self.vars[name] = TV(self.local(ctype(t), f"v_{name}"), t)
        return self.vars[name]

    # --- maps ------------------------------------------------------------------------
    def map_key(self, ref: A.MapRef, lay: MapLayout, bucket: Any = None) -> Any:
        key = self.local(lay.key_ct, "key")
        for i, (kexpr, kt) in enumerate(zip(ref.keys or [], lay.info.keys or [])):
            v = self.expr(kexpr)
            self.copy_into(self.b.field(key, f"f{i}"), kt, v)
        if bucket is not None:
            self.b.store(self.b.field(key, "bucket"), bucket)
        return key

    def aggregate(self, ref: A.MapRef, call: A.Call) -> None:
        b = self.b
        lay = self.low.layouts[ref.name]
        kind = call.name
        arg = self.to64(self.expr(call.args[0])) if call.args else None
        bucket = None
        if kind == "hist":
            bucket = self.hist_index(arg)
        elif kind == "lhist":
            lo, hi, step = lay.info.lhist
            bucket = self.lhist_index(arg, lo, hi, step)
        key = self.map_key(ref, lay, bucket)
        slot = b.map_lookup_or_init(lay.decl, key)
        with b.if_then(b.is_null(slot, negate=True)):
            if kind in ("count", "hist", "lhist"):
                b.store(slot, b.binop("+", b.load(slot), b.const(U64, 1)))
            elif kind == "sum":
                b.store(slot, b.binop("+", b.load(slot), b.cast(arg, S64), S64))
            elif kind in ("avg", "stats"):
                c = b.field(slot, "count")
                t = b.field(slot, "total")
                b.store(c, b.binop("+", b.load(c), b.const(U64, 1)))
                b.store(t, b.binop("+", b.load(t), b.cast(arg, S64), S64))
            else:
                vp = b.field(slot, "value")
                sp = b.field(slot, "set")
                unset = b.ir.icmp_unsigned("==", b.load(sp).ir, ir.Constant(I64, 0))
                op = "<" if kind == "min" else ">"
                better = b.compare(op, b.cast(arg, S64), b.load(vp))
                with b.ir.if_then(b.ir.or_(unset, b.truth(better))):
                    b.store(vp, b.cast(arg, S64))
                    b.store(sp, b.const(U64, 1))

    def hist_index(self, v: Any) -> Any:
        """bpftrace's log2 bucket, without loops: 0 below zero, 1 for 0,
        floor(log2 v) + 2 above."""
        b = self.b.ir
        x = self.b.cast(v, U64).ir
        neg = b.icmp_signed("<", x, ir.Constant(I64, 0))
        zero = b.icmp_unsigned("==", x, ir.Constant(I64, 0))
        n = ir.Constant(I64, 0)
        for shift in (32, 16, 8, 4, 2, 1):
            big = b.icmp_unsigned(">=", x, ir.Constant(I64, 1 << shift))
            x = b.select(big, b.lshr(x, ir.Constant(I64, shift)), x)
            n = b.select(big, b.add(n, ir.Constant(I64, shift)), n)
        idx = b.add(n, ir.Constant(I64, 2))
        idx = b.select(zero, ir.Constant(I64, 1), idx)
        idx = b.select(neg, ir.Constant(I64, 0), idx)
        return bk.Value(idx, U64)

    def lhist_index(self, v: Any, lo: int, hi: int, step: int) -> Any:
        b = self.b.ir
        x = self.b.cast(v, S64).ir
        last = 1 + (hi - lo) // step
        below = b.icmp_signed("<", x, ir.Constant(I64, lo))
        above = b.icmp_signed(">=", x, ir.Constant(I64, hi))
        inside = b.add(b.udiv(b.sub(x, ir.Constant(I64, lo)), ir.Constant(I64, step)),
                       ir.Constant(I64, 1))
        idx = b.select(above, ir.Constant(I64, last), inside)
        idx = b.select(below, ir.Constant(I64, 0), idx)
        return bk.Value(idx, U64)

    def map_read(self, ref: A.MapRef) -> TV:
        b = self.b
        lay = self.low.layouts[ref.name]
        key = self.map_key(ref, lay)
        found = b.map_lookup(lay.decl, key)
        t = lay.info.value
        out = self.local(lay.value_ct, "read")
        with b.if_then(b.is_null(found, negate=True)):
            b.copy(out, bk.Value(found.ir, PointerType(lay.value_ct)), lay.value_ct.size)
        if _is_memory(t):
            return TV(out, t)
        return TV(b.load(out), t)

    # --- expressions -----------------------------------------------------------------
    def truth(self, tv: TV) -> Any:
        return self.b.truth(tv.v if not isinstance(tv.v.ctype, PointerType) else
                            self.b.cast(tv.v, U64))

    def arith(self, op: str, a: TV, c: TV) -> TV:
        t = T.Int(64, getattr(a.t, "signed", False) and getattr(c.t, "signed", False))
        want = S64 if t.signed else U64
        return TV(self.b.binop(op, self.to64(a), self.to64(c), want), t)

    def expr(self, e: A.Expr) -> TV:
        b = self.b
        t = e.type
        if isinstance(e, A.Int):
            return TV(b.const(S64 if getattr(t, "signed", True) else U64, e.value), t)
        if isinstance(e, A.Str):
            return self.string_const(e.value, t)
        if isinstance(e, A.Param):
            params = self.low.a.params
            if e.index == 0:
                return TV(self.i64(len(params)), t)
            value = params[e.index - 1] if e.index <= len(params) else "0"
            if isinstance(t, T.String):
                return self.string_const(value, t)
            return TV(self.i64(int(value, 0)), t)
        if isinstance(e, A.Var):
            slot = self.vars.get(e.name) or self.var_slot(e.name, self.pp.variables[e.name])
            if _is_memory(slot.t):
                return TV(slot.v, slot.t)
            return TV(b.load(bk.Value(slot.v.ir, PointerType(ctype(slot.t)))), slot.t)
        if isinstance(e, A.Builtin):
            return self.builtin(e)
        if isinstance(e, A.MapRef):
            return self.map_read(e)
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Unary):
            v = self.expr(e.operand)
            if e.op == "-":
                return TV(b.binop("-", self.i64(0), self.to64(v), S64), t)
            if e.op == "~":
                return TV(b.invert(self.to64(v)), t)
            if e.op == "!":
                return TV(b.cast(b.bool_value(b.ir.not_(self.truth(v))), S64), t)
            if e.op == "*":
                return self.read_memory(b.cast(v.v, U64), t, user=getattr(v.t, "user", False))
            raise self.error(f"operator {e.op}", e)
        if isinstance(e, A.IncDec):
            return self.incdec(e)
        if isinstance(e, A.Ternary):
            cond = self.truth(self.expr(e.cond))
            if isinstance(t, T.Void):
                with b.ir.if_else(cond) as (then, other):
                    with then:
                        self.expr(e.then)
                    with other:
                        self.expr(e.other)
                return TV(b.const(S64, 0), t)
            slot = self.local(ctype(t), "tern")
            with b.ir.if_else(cond) as (then, other):
                with then:
                    self.copy_into(slot, t, self.expr(e.then))
                with other:
                    self.copy_into(slot, t, self.expr(e.other))
            if _is_memory(t):
                return TV(slot, t)
            return TV(b.load(bk.Value(slot.ir, PointerType(ctype(t)))), t)
        if isinstance(e, A.FieldAccess):
            return self.field_access(e)
        if isinstance(e, A.Index):
            base = self.expr(e.index and e.base)
            idx = self.to64(self.expr(e.index))
            if isinstance(base.t, T.String):
                p = b.ir.gep(base.v.ir, [idx.ir], source_etype=I8)
                return TV(b.cast(b.load(bk.Value(p, PointerType(CHAR))), S64), t)
            elem = base.t.target if base.t.target is not None else T.Int(8, False)
            size = elem.bits // 8 if isinstance(elem, T.Int) else 8
            addr = b.binop("+", b.cast(base.v, U64), b.binop("*", idx, b.const(U64, size), U64),
                           U64)
            return self.read_memory(addr, t, user=base.t.user)
        if isinstance(e, A.Cast):
            v = self.expr(e.operand)
            if isinstance(t, T.Int):
                narrow = int_type(t.bits, t.signed)
                return TV(b.cast(b.cast(self.to64(v), narrow), S64 if t.signed else U64), t)
            return TV(b.cast(v.v, U64), t)
        if isinstance(e, A.Tuple):
            ct = ctype(t)
            slot = self.local(ct, "tuple")
            for i, (item, it) in enumerate(zip(e.items, t.items)):
                self.copy_into(b.field(slot, f"f{i}"), it, self.expr(item))
            return TV(slot, t)
        if isinstance(e, A.Sizeof):
            return TV(b.const(U64, e.value), t)  # type: ignore[attr-defined]
        if isinstance(e, A.Call):
            return self.call(e)
        raise self.error("unsupported expression", e)

    def string_const(self, value: str, t: T.String) -> TV:
        slot = self.local(ctype(t), "str", zero=False)
        data = value.encode()[:t.length - 1]
        self.store_bytes(slot, data.ljust(t.length + (-t.length % 8), b"\0")[:(
            t.length + 7) // 8 * 8])
        return TV(slot, t)

    def read_memory(self, addr: Any, t: Any, *, user: bool = False) -> TV:
        """The value of bpftrace type ``t`` at address ``addr`` (probe_read)."""
        b = self.b
        if isinstance(t, T.Int):
            ct = int_type(t.bits, t.signed)
            slot = self.local(ct, "mem")
            b.probe_read(slot, t.bits // 8, b.cast(addr, PointerType(None)), user=user)
            return TV(b.cast(b.load(slot), S64 if t.signed else U64), t)
        if isinstance(t, T.String):
            slot = self.local(ctype(t), "mem")
            b.probe_read(slot, t.length, b.cast(addr, PointerType(None)), user=user)
            return TV(slot, t)
        slot = self.local(U64, "mem")
        b.probe_read(slot, 8, b.cast(addr, PointerType(None)), user=user)
        return TV(b.load(slot), t)

    def binary(self, e: A.Binary) -> TV:
        b = self.b
        op = e.op
        if op in ("&&", "||"):
            slot = self.local(S64, "logic")
            left = self.truth(self.expr(e.left))
            b.store(slot, b.const(S64, 1 if op == "||" else 0))
            short = left if op == "&&" else b.ir.not_(left)
            with b.ir.if_then(short):
                right = self.truth(self.expr(e.right))
                b.store(slot, b.cast(b.bool_value(right), S64))
            return TV(b.load(slot), e.type)
        a = self.expr(e.left)
        c = self.expr(e.right)
        if isinstance(a.t, T.String) and isinstance(c.t, T.String):
            eq = self.string_equal(a, c)
            if op == "!=":
                eq = b.ir.not_(eq)
            return TV(b.cast(b.bool_value(eq), S64), e.type)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return TV(b.cast(b.compare(op, self.to64(a), self.to64(c)), S64), e.type)
        return self.arith(op, a, c)

    def string_equal(self, a: TV, c: TV) -> Any:
        """Whether two strings are equal up to their first NUL (byte by byte,
        over the shorter one's length)."""
        b = self.b
        n = min(a.t.length, c.t.length)
        result = self.local(U8, "streq")
        done = b.block("streq_done")
        for i in range(n):
            x = b.ir.load(b.ir.gep(a.v.ir, [ir.Constant(I64, i)], source_etype=I8), typ=I8)
            y = b.ir.load(b.ir.gep(c.v.ir, [ir.Constant(I64, i)], source_etype=I8), typ=I8)
            same = b.block("streq_same")
            b.ir.cbranch(b.ir.icmp_unsigned("!=", x, y), done, same)
            b.ir.position_at_end(same)
            ended = b.block("streq_end")
            more = b.block("streq_more")
            b.ir.cbranch(b.ir.icmp_unsigned("==", x, ir.Constant(I8, 0)), ended, more)
            b.ir.position_at_end(ended)
            b.store(result, b.const(U8, 1))
            b.ir.branch(done)
            b.ir.position_at_end(more)
        b.store(result, b.const(U8, 1))
        b.ir.branch(done)
        b.ir.position_at_end(done)
        return b.truth(b.load(result))

    def incdec(self, e: A.IncDec) -> TV:
        b = self.b
        tgt = e.target
        delta = 1 if e.op == "++" else -1
        if isinstance(tgt, A.Var):
            slot = self.var_slot(tgt.name, self.pp.variables[tgt.name])
            p = bk.Value(slot.v.ir, PointerType(ctype(slot.t)))
            old = b.load(p)
            new = b.binop("+", old, b.const(old.ctype, delta), old.ctype)
            b.store(p, new)
            return TV(new if e.prefix else old, slot.t)
        assert isinstance(tgt, A.MapRef)
        lay = self.low.layouts[tgt.name]
        key = self.map_key(tgt, lay)
        slot = b.map_lookup_or_init(lay.decl, key)
        out = self.local(lay.value_ct, "incdec")
        with b.if_then(b.is_null(slot, negate=True)):
            old = b.load(slot)
            new = b.binop("+", old, b.const(old.ctype, delta), old.ctype)
            b.store(slot, new)
            b.store(out, new if e.prefix else old)
        return TV(b.load(out), tgt.type)

    # --- builtins ---------------------------------------------------------------------
    def helper(self, name: str, *args: Any) -> Any:
        return self.b.call_helper(name, *args)

    def pt_reg(self, reg: str) -> Any:
        off = {f.name: f.offset for f in struct_layout("pt_regs").fields}[reg]
        p = self.b.ir.gep(self.ctx.ir, [ir.Constant(I64, off)], source_etype=I8)
        return bk.Value(self.b.ir.load(p, typ=I64, align=8), U64)

    def config(self, index: int) -> Any:
        b = self.b
        key = self.local(U32, "cfgkey")
        b.store(key, b.const(U32, index))
        found = b.map_lookup(self.low.config, key)
        out = self.local(U64, "cfg")
        with b.if_then(b.is_null(found, negate=True)):
            b.store(out, b.load(found))
        return b.load(out)

    def builtin(self, e: A.Builtin) -> TV:
        b = self.b
        name, t = e.name, e.type
        if name in ("pid", "tid"):
            v = self.helper("get_current_pid_tgid")
            if name == "pid":
                return TV(b.binop(">>", v, b.const(U64, 32)), t)
            return TV(b.binop("&", v, b.const(U64, 0xFFFFFFFF)), t)
        if name in ("uid", "gid"):
            v = self.helper("get_current_uid_gid")
            if name == "gid":
                return TV(b.binop(">>", v, b.const(U64, 32)), t)
            return TV(b.binop("&", v, b.const(U64, 0xFFFFFFFF)), t)
        if name == "nsecs":
            return TV(self.helper("ktime_get_ns"), t)
        if name == "elapsed":
            return TV(b.binop("-", self.helper("ktime_get_ns"), self.config(0), U64), t)
        if name == "cpid":
            return TV(self.config(1), t)
        if name == "cpu":
            return TV(b.cast(self.helper("get_smp_processor_id"), U64), t)
        if name == "numaid":
            return TV(b.cast(self.helper("get_numa_node_id"), U64), t)
        if name == "rand":
            return TV(b.cast(self.helper("get_prandom_u32"), U64), t)
        if name == "cgroup":
            return TV(self.helper("get_current_cgroup_id"), t)
        if name == "jiffies":
            return TV(self.helper("jiffies64"), t)
        if name in ("comm", "username"):
            slot = self.local(ctype(t), "comm")
            self.helper("get_current_comm", slot, b.const(U32, t.length))
            return TV(slot, t)
        if name == "probe":
            return self.string_const(self.pp.target.name, t)
        if name == "curtask":
            return TV(self.helper("get_current_task"), t)
        if name in ("kstack", "ustack"):
            flags = constant("BPF_F_USER_STACK") if name == "ustack" else 0
            v = self.helper("get_stackid", self.ctx, b.map_pointer(self.low.stacks),
                            b.const(U64, flags))
            if name == "ustack":
                return self.with_pid(b.cast(v, S64), t)
            return TV(b.cast(v, S64), t)
        if name == "retval":
            return TV(b.cast(self.pt_reg("ax"), S64), t)
        if name == "func":
            p = self.pp.target.params
            return self.string_const(p.get("symbol") or hex(p["offset"]), t)
        if name == "ctx":
            return TV(b.cast(self.ctx, U64), t)
        if name.startswith("arg") and name[3:].isdigit():
            n = int(name[3:])
            if self.kind == "usdt":
                return self.usdt_arg(n, t)
            return TV(self.pt_reg(_ARG_REGS[n]), t)
        if name == "args":
            return TV(self.ctx, t)
        raise self.error(f"builtin {name} is not supported here", e)

    def usdt_arg(self, n: int, t: Any) -> TV:
        from ..kernel.usdt import ARG_CONST, ARG_REG

        b = self.b
        arg = self.pp.target.params["sites"][0].args[n]
        ct = int_type(arg.size * 8, arg.signed)
        if arg.kind == ARG_CONST:
            return TV(b.const(S64 if arg.signed else U64, arg.value), t)
        p = b.ir.gep(self.ctx.ir, [ir.Constant(I64, arg.reg_offset)], source_etype=I8)
        reg = bk.Value(b.ir.load(p, typ=I64, align=8), U64)
        if arg.kind == ARG_REG:
            v = b.cast(b.cast(reg, ct), S64 if arg.signed else U64)
            return TV(v, t)
        addr = b.binop("+", reg, b.const(S64, arg.offset), U64)
        return self.read_memory(addr, T.Int(arg.size * 8, arg.signed), user=True)

    def field_access(self, e: A.FieldAccess) -> TV:
        b = self.b
        t = e.type
        base_t = e.base.type
        if isinstance(base_t, T.Tuple):
            base = self.expr(e.base)
            p = b.field(bk.Value(base.v.ir, PointerType(ctype(base_t))), f"f{e.name}")
            if _is_memory(t):
                return TV(p, t)
            return TV(b.load(bk.Value(p.ir, PointerType(ctype(t)))), t)
        if isinstance(base_t, T.Args):
            f = e.event_field  # type: ignore[attr-defined]
            p = b.ir.gep(self.ctx.ir, [ir.Constant(I64, f.offset)], source_etype=I8)
            if f.data_loc:
                loc = b.ir.load(p, typ=ir.IntType(32), align=4)
                off = b.ir.zext(b.ir.and_(loc, ir.Constant(ir.IntType(32), 0xFFFF)), I64)
                src = b.ir.gep(self.ctx.ir, [off], source_etype=I8)
                slot = self.local(ctype(t), "dl")
                b.call_helper("probe_read_kernel_str", slot, b.const(U32, t.length),
                              bk.Value(src, PointerType(None)))
                return TV(slot, t)
            if isinstance(t, T.String):
                # a helper copies it: an inlined copy may walk a moved context
                # pointer, which the verifier refuses
                slot = self.local(ctype(t), "arr")
                b.probe_read(slot, t.length, bk.Value(p, PointerType(None)))
                return TV(slot, t)
            size = f.size if f.size in (1, 2, 4, 8) else 8
            raw = b.ir.load(p, typ=ir.IntType(size * 8), align=min(size, 8))
            signed = getattr(t, "signed", False)
            if size < 8:
                raw = (b.ir.sext if signed else b.ir.zext)(raw, I64)
            return TV(bk.Value(raw, S64 if signed else U64), t)
        # kernel structs through BTF (CO-RE)
        base = self.expr(e.base)
        rec = base_t.target if isinstance(base_t, T.Pointer) else base_t
        ks = kernel_struct(rec.name.split(" ", 1)[1])
        ptr = bk.Value(b.cast(base.v, U64).ir if not isinstance(base.v.ctype, PointerType)
                       else base.v.ir, PointerType(ks))
        if not isinstance(ptr.ir.type, ir.PointerType):
            ptr = bk.Value(b.ir.inttoptr(ptr.ir, PTR), PointerType(ks))
        addr = b.field(ptr, e.name)
        ft = addr.ctype.target
        if isinstance(ft, KernelStruct):
            return TV(addr, t)
        if isinstance(t, T.String):
            slot = self.local(ctype(t), "kstr")
            b.probe_read(slot, t.length, addr)
            return TV(slot, t)
        slot = self.local(ft if isinstance(ft, (IntType, PointerType)) else U64, "kf")
        b.probe_read(slot, slot.ctype.target.size, addr)
        v = b.load(slot)
        if isinstance(v.ctype, PointerType):
            return TV(b.cast(v, U64), t)
        return TV(b.cast(v, S64 if getattr(t, "signed", False) else U64), t)

    # --- calls ------------------------------------------------------------------------
    def call(self, e: A.Call) -> TV:
        b = self.b
        name, t = e.name, e.type
        if name in ("printf", "system", "cat", "print", "time", "exit", "clear", "zero"):
            action = e.action  # type: ignore[attr-defined]
            values = e.args[1:] if name in ("printf", "system", "cat") else \
                e.args if name == "print" and action.kind == "print" else []
            self.send(action, [self.expr(v) for v in values])
            if name == "exit":
                b.ret(b.const(S32, 0))
                b.ir.position_at_end(b.block("after_exit"))
            return TV(b.const(S64, 0), t)
        if name == "join":
            self.join(e.action, self.expr(e.args[0]))  # type: ignore[attr-defined]
            return TV(b.const(S64, 0), t)
        if name == "delete":
            ref = e.args[0]
            lay = self.low.layouts[ref.name]  # type: ignore[attr-defined]
            b.map_delete(lay.decl, self.map_key(ref, lay))  # type: ignore[arg-type]
            return TV(b.const(S64, 0), t)
        if name == "str":
            v = self.expr(e.args[0])
            if isinstance(v.t, T.String):
                return v
            slot = self.local(ctype(t), "str")
            size: Any = b.const(U32, t.length)
            if len(e.args) == 2 and not isinstance(e.args[1], A.Int):
                n = self.to64(self.expr(e.args[1]))
                lim = b.const(U64, t.length)
                n = bk.Value(b.ir.select(b.ir.icmp_unsigned("<", n.ir, lim.ir), n.ir, lim.ir), U64)
                size = b.cast(n, U32)
            user = getattr(v.t, "user", False) or self.kind in ("uprobe", "uretprobe", "usdt")
            src = b.cast(v.v, PointerType(None)) if not isinstance(v.v.ctype, PointerType) \
                else v.v
            helper = "probe_read_user_str" if user else "probe_read_str" \
                if self.kind == "tracepoint" else "probe_read_kernel_str"
            b.call_helper(helper, slot, size, src)
            return TV(slot, t)
        if name == "buf":
            v = self.expr(e.args[0])
            slot = self.local(ctype(t), "buf")
            n = t.length
            b.ir.store(ir.Constant(I64, n), slot.ir, align=8)
            data = bk.Value(b.ir.gep(slot.ir, [ir.Constant(I64, 8)], source_etype=I8),
                            PointerType(ArrayType(U8, n)))
            if isinstance(v.t, T.String):
                b.copy(data, v.v, n)
            else:
                user = getattr(v.t, "user", False) or self.kind in ("uprobe", "uretprobe", "usdt")
                b.probe_read(data, n, b.cast(v.v, PointerType(None)), user=user)
            return TV(slot, t)
        if name == "ntop":
            addr = self.expr(e.args[-1])
            slot = self.local(ctype(t), "inet")
            if isinstance(addr.t, T.String) and addr.t.length >= 16:
                b.ir.store(ir.Constant(I64, 10), slot.ir, align=8)
                dst = bk.Value(b.ir.gep(slot.ir, [ir.Constant(I64, 8)], source_etype=I8),
                               PointerType(ArrayType(U8, 16)))
                b.copy(dst, addr.v, 16)
            else:
                b.ir.store(ir.Constant(I64, 2), slot.ir, align=8)
                p = b.ir.gep(slot.ir, [ir.Constant(I64, 8)], source_etype=I8)
                if isinstance(addr.t, T.String):
                    b.copy(bk.Value(p, PointerType(ArrayType(U8, 4))), addr.v, 4)
                else:
                    b.ir.store(b.ir.trunc(self.to64(addr).ir, ir.IntType(32)), p, align=4)
            return TV(slot, t)
        if name in ("ksym", "usym"):
            address = b.cast(self.to64(self.expr(e.args[0])), U64)
            return self.with_pid(address, t) if name == "usym" else TV(address, t)
        if name in ("kaddr", "cgroupid"):
            return TV(b.const(U64, e.value), t)  # type: ignore[attr-defined]
        if name in ("kptr", "uptr"):
            return self.expr(e.args[0])
        if name == "reg":
            return TV(self.pt_reg(e.args[0].value), t)  # type: ignore[attr-defined]
        if name == "bswap":
            v = self.expr(e.args[0])
            bits = v.t.bits
            it = ir.IntType(bits)
            fn = self.low.m.ir.declare_intrinsic("llvm.bswap", [it])
            x = b.ir.trunc(self.to64(v).ir, it) if bits < 64 else self.to64(v).ir
            r = b.ir.call(fn, [x]) if bits > 8 else x
            r = b.ir.zext(r, I64) if bits < 64 else r
            return TV(bk.Value(r, U64), t)
        if name == "strncmp":
            a = self.expr(e.args[0])
            c = self.expr(e.args[1])
            n = e.args[2].value  # type: ignore[attr-defined]
            la, lc = T.String(min(a.t.length, n + 1)), T.String(min(c.t.length, n + 1))
            eq = self.string_equal(TV(a.v, la), TV(c.v, lc))
            return TV(b.cast(b.bool_value(b.ir.not_(eq)), S64), t)
        if name == "signal":
            arg = e.args[0]
            sig = getattr(arg, "signum", None)
            v = b.const(U32, sig) if sig is not None else b.cast(self.to64(self.expr(arg)), U32)
            self.helper("send_signal", v)
            return TV(b.const(S64, 0), t)
        if name == "strftime":
            return TV(self.to64(self.expr(e.args[1])), t)
        raise self.error(f"{name}() cannot be generated", e)

    def with_pid(self, value: Any, t: Any) -> TV:
        """A user address or stack id stored with the current process's pid
        (``[value, pid]``), which user space needs to name it."""
        b = self.b
        slot = self.local(ArrayType(U64, 2), "user_value")
        b.ir.store(b.cast(value, U64).ir, slot.ir, align=8)
        pid = b.binop(">>", self.helper("get_current_pid_tgid"), b.const(U64, 32))
        b.ir.store(pid.ir, b.ir.gep(slot.ir, [ir.Constant(I64, 8)], source_etype=I8), align=8)
        return TV(slot, t)

    def join(self, action: Any, array: TV) -> None:
        """``join(arr, delim)``: up to :data:`~pybpf.trace.types.JOIN_ARGS`
        strings read from the pointers at ``arr`` straight into a reserved
        ring buffer record (16 KiB: more than the stack); a null pointer or
        an unreadable string reads as empty, where user space stops."""
        b = self.b
        rec = self.low.records[action.id]
        user = getattr(array.t, "user", False) or self.kind in ("uprobe", "uretprobe", "usdt")
        read, read_str = ("probe_read_user", "probe_read_user_str") if user else \
            ("probe_read", "probe_read_str") if self.kind == "tracepoint" else \
            ("probe_read_kernel", "probe_read_kernel_str")
        base = self.to64(array)
        slot = self.local(U64, "join_ptr")
        ptr = b.ringbuf_reserve(self.low.events, rec)
        with b.if_then(b.is_null(ptr, negate=True)):
            b.store(b.field(ptr, "id"), b.const(U64, action.id))
            for i in range(len(action.args)):
                b.store(slot, b.const(U64, 0))
                addr = bk.Value(b.ir.add(base.ir, ir.Constant(I64, 8 * i)), U64)
                b.call_helper(read, slot, b.const(U32, 8), b.cast(addr, PointerType(None)))
                b.call_helper(read_str, b.field(ptr, f"f{i}"), b.const(U32, T.JOIN_ARG_SIZE),
                              b.cast(b.load(slot), PointerType(None)))
            b.ringbuf_submit(ptr)

    def send(self, action: Any, values: list[TV]) -> None:
        """Put ``action``'s record in the events ring buffer."""
        b = self.b
        rec = self.low.records[action.id]
        slot = self.local(rec, "rec")
        b.store(b.field(slot, "id"), b.const(U64, action.id))
        for i, (v, at) in enumerate(zip(values, action.args)):
            self.copy_into(b.field(slot, f"f{i}"), at, v)
        b.ringbuf_output(self.low.events, slot, rec.size)



def generate(analysis: Analysis) -> Plan:
    """Lower ``analysis`` into a backend module (not compiled yet)."""
    return Lowering(analysis).generate()
