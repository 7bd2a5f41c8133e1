"""Semantic analysis: the type of every expression, map and variable, and
the events a program sends to user space (printf, print, exit...).

:func:`analyze` checks a whole program against this system's probes
(tracepoint records from tracefs, USDT arguments from the binary's notes,
kernel structs from vmlinux BTF) and returns an :class:`Analysis`: the
concrete probes, the maps with their key and value types, and the
*actions* (each printf and other user-space operation gets an id).
Errors name the probe and the field::

    stdin:1:40-55: ERROR: tracepoint:syscalls:sys_enter_openat: args has no field
    'nofield' (fields: __syscall_nr, dfd, filename, flags, mode)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from . import ast as A
from . import types as T
from .errors import Source, TraceSemanticError
from .layout import Action, MapInfo
from .output import format_conversions
from .probes import Target, expand

__all__ = [
    "BUILTINS",
    "FUNCTIONS",
    "Action",
    "Analysis",
    "MapInfo",
    "ProbeProgram",
    "analyze",
]

BUILTINS = {
    "pid": T.UINT64, "tid": T.UINT64, "uid": T.UINT64, "gid": T.UINT64,
    "nsecs": T.UINT64, "elapsed": T.UINT64, "cpu": T.UINT64, "numaid": T.UINT64,
    "comm": T.String(16), "cgroup": T.UINT64, "rand": T.UINT64, "cpid": T.UINT64,
    "curtask": None, "retval": T.INT64, "func": None, "probe": None, "kstack": T.Stack(False),
    "ustack": T.Stack(True), "args": None, "ctx": T.Pointer(None), "username": T.String(16),
    "jiffies": T.UINT64,
}
"""Builtin variables -> their type (None: depends on the probe)."""

FUNCTIONS = {"printf", "print", "time", "str", "buf", "ntop", "ksym", "usym", "exit", "clear",
             "delete", "zero", "join", "system", "cat", "kaddr", "strncmp", "bswap",
             "signal", "sizeof", "reg", "strftime", "kptr", "uptr", "cgroupid",
             *T.AGGREGATE_KINDS}
"""Functions the language knows."""

UNSAFE = {"system", "signal"}
_MAX_PRINTF_ARGS = 12


@dataclass
class ProbeProgram:
    """One program to generate: a probe block for one concrete target."""

    block: A.ProbeBlock
    target: Target
    index: int
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """What :func:`analyze` found: the programs, maps and actions."""

    program: A.Program
    programs: list[ProbeProgram]
    maps: dict[str, MapInfo]
    actions: list[Action]
    params: list[str]
    unsafe: bool = False
    checker: Any = None


@functools.lru_cache(maxsize=1)
def vmlinux_btf():
    """The running kernel's BTF (read once)."""
    from ..btf import BTF

    return BTF.load_vmlinux()


def _unify(a: Any, b: Any) -> Any | None:
    """The type that holds both ``a`` and ``b`` (strings widen), None if none."""
    if a == b:
        return a
    if isinstance(a, T.Int) and isinstance(b, T.Int):
        return T.Int(64, a.signed and b.signed)
    if isinstance(a, T.String) and isinstance(b, T.String):
        return T.String(max(a.length, b.length))
    if isinstance(a, T.Tuple) and isinstance(b, T.Tuple) and len(a.items) == len(b.items):
        items = [_unify(x, y) for x, y in zip(a.items, b.items)]
        if None in items:
            return None
        return T.Tuple(tuple(items))
    return None


def _store_type(t: Any) -> Any:
    """The type a value takes when stored (ints widen to 64 bits)."""
    if isinstance(t, T.Int):
        return T.Int(64, t.signed)
    if isinstance(t, T.Tuple):
        return T.Tuple(tuple(_store_type(i) for i in t.items))
    return t


class Checker:
    """Checks probe blocks for concrete targets, collecting maps and actions."""

    def __init__(self, program: A.Program, params: list[str], unsafe: bool):
        self.program = program
        self.source: Source = program.source or Source("")
        self.params = params
        self.unsafe = unsafe
        self.maps: dict[str, MapInfo] = {}
        self.actions: list[Action] = []
        self._action_ids: dict[tuple, int] = {}
        self.target: Target | None = None
        self.vars: dict[str, Any] = {}
        self.loop_depth = 0

    # --- errors ----------------------------------------------------------------
    def error(self, message: str, node: A.Node) -> TraceSemanticError:
        probe = self.target.name if self.target else None
        return TraceSemanticError(message, self.source, node.span, probe=probe)

    def probe_error(self, message: str, node: A.Node) -> TraceSemanticError:
        where = self.target.name if self.target else "?"
        return self.error(f"{where}: {message}", node)

    def action(self, kind: str, node: A.Node, fmt: str = "", args: tuple = (),
               extra: tuple = ()) -> Action:
        key = (kind, id(node), fmt, args, extra)
        if key not in self._action_ids:
            self._action_ids[key] = len(self.actions)
            self.actions.append(Action(len(self.actions), kind, fmt, args, extra))
        act = self.actions[self._action_ids[key]]
        node.action = act  # type: ignore[attr-defined]
        return act

    # --- blocks ------------------------------------------------------------------
    def check(self, pp: ProbeProgram) -> None:
        self.target = pp.target
        self.vars = {}
        block = pp.block
        if block.predicate is not None:
            t = self.expr(block.predicate)
            if not isinstance(t, (T.Int, T.Pointer)):
                raise self.error(f"Invalid type for predicate: {T.type_name(t)}",
                                 block.predicate)
        self.stmts(block.body)
        pp.variables = dict(self.vars)

    def stmts(self, stmts: list[A.Stmt]) -> None:
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: A.Stmt) -> None:
        if isinstance(s, A.ExprStmt):
            self.expr(s.expr, statement=True)
        elif isinstance(s, A.Assign):
            self.assign(s)
        elif isinstance(s, A.If):
            self.condition(s.cond)
            self.stmts(s.then)
            if s.other:
                self.stmts(s.other)
        elif isinstance(s, A.While):
            self.condition(s.cond)
            self.loop_depth += 1
            self.stmts(s.body)
            self.loop_depth -= 1
        elif isinstance(s, A.Unroll):
            self.stmts(s.body)
        elif isinstance(s, A.Jump) and s.kind in ("break", "continue") and not self.loop_depth:
            raise self.error(f"{s.kind} used outside of a loop", s)

    def condition(self, e: A.Expr) -> None:
        t = self.expr(e)
        if not isinstance(t, (T.Int, T.Pointer)):
            raise self.error(f"Invalid condition type: {T.type_name(t)}", e)

    def assign(self, s: A.Assign) -> None:
        target = s.target
        if isinstance(s.value, A.Call) and s.value.name in T.AGGREGATE_KINDS:
            if not isinstance(target, A.MapRef):
                raise self.error(f"{s.value.name}() must be assigned to a map", s.value)
            if s.op is not None:
                raise self.error(f"{s.value.name}() cannot be used with '{s.op}='", s)
            keys = self.map_keys(target)
            agg = self.aggregate(s.value)
            self.declare_map(target, keys, agg.kind, agg, agg.lhist)
            target.type = agg
            return
        value_t = self.expr(s.value)
        if isinstance(value_t, (T.Void, T.Aggregate)) or value_t is None:
            raise self.error(f"Invalid expression for assignment: {T.type_name(value_t)}",
                             s.value)
        if s.op is not None:
            if not isinstance(value_t, T.Int):
                raise self.error(f"Operator '{s.op}=' needs an integer", s.value)
            if isinstance(target, A.Var) and target.name not in self.vars:
                raise self.error(f"Undefined or undeclared variable: ${target.name}", target)
        if isinstance(target, A.Var):
            old = self.vars.get(target.name)
            new = value_t if old is None else _unify(old, value_t)
            if new is None:
                raise self.error(f"Type mismatch for ${target.name}: trying to assign value "
                                 f"of type '{T.type_name(value_t)}' when variable already "
                                 f"contains a value of type '{T.type_name(old)}'", s)
            self.vars[target.name] = _store_type(new) if isinstance(new, T.Int) else new
            target.type = self.vars[target.name]
        else:
            assert isinstance(target, A.MapRef)
            keys = self.map_keys(target)
            self.declare_map(target, keys, "value", _store_type(value_t))
            target.type = self.maps[target.name].value

    def declare_map(self, ref: A.MapRef, keys: list[Any] | None, kind: str, value: Any,
                    lhist: tuple[int, int, int] | None = None) -> MapInfo:
        name = ref.name
        info = self.maps.get(name)
        label = "@" + name
        if info is None:
            info = MapInfo(name, kind, keys, value, lhist, ref.span)
            self.maps[name] = info
            return info
        if info.kind != kind:
            raise self.error(f"Type mismatch for {label}: trying to assign value of type "
                             f"'{kind if kind != 'value' else T.type_name(value)}' when map "
                             f"already contains a value of type '{info.kind if info.kind != 'value' else T.type_name(info.value)}'",
                             ref)
        if kind == "lhist" and info.lhist != lhist:
            raise self.error(f"{label}: lhist() called with different parameters "
                             f"({info.lhist} before, {lhist} here)", ref)
        if kind == "value":
            v = _unify(info.value, value)
            if v is None:
                raise self.error(f"Type mismatch for {label}: trying to assign value of type "
                                 f"'{T.type_name(value)}' when map already contains a value "
                                 f"of type '{T.type_name(info.value)}'", ref)
            info.value = v
        if (info.keys is None) != (keys is None) or (keys and len(keys) != len(info.keys)):  # type: ignore[arg-type]
            raise self.error(f"Argument mismatch for {label}: trying to access with "
                             f"{len(keys or [])} arguments when map expects "
                             f"{len(info.keys or [])} arguments", ref)
        if keys:
            merged = [_unify(a, b) for a, b in zip(info.keys, keys)]  # type: ignore[arg-type]
            if None in merged:
                raise self.error(f"Argument mismatch for {label}: key types differ "
                                 f"({', '.join(T.type_name(k) for k in info.keys)} before, "  # type: ignore[union-attr]
                                 f"{', '.join(T.type_name(k) for k in keys)} here)", ref)
            info.keys = merged
        return info

    def map_keys(self, ref: A.MapRef) -> list[Any] | None:
        if ref.keys is None:
            return None
        out = []
        for k in ref.keys:
            t = self.expr(k)
            if isinstance(t, T.Tuple):
                raise self.error("tuples cannot be map keys (use @m[a, b])", k)
            if not isinstance(t, (T.Int, T.String, T.Stack, T.Symbol, T.Inet, T.Pointer,
                                  T.Buf)):
                raise self.error(f"Invalid map key type: {T.type_name(t)}", k)
            if isinstance(t, T.Pointer):
                t = T.UINT64
            out.append(_store_type(t))
        return out

    def aggregate(self, call: A.Call) -> T.Aggregate:
        name, args = call.name, call.args
        want = {"count": 0, "lhist": 4}.get(name, 1)
        if len(args) != want:
            raise self.error(f"{name}() should take {want} argument"
                             f"{'s' if want != 1 else ''} ({len(args)} provided)", call)
        for a in args:
            t = self.expr(a)
            if not isinstance(t, T.Int):
                raise self.error(f"{name}() expects an integer ({T.type_name(t)} provided)",
                                 a)
        call.type = T.Aggregate(name)
        if name != "lhist":
            return call.type
        consts = []
        for label, a in zip(("min", "max", "step"), args[1:]):
            if not isinstance(a, A.Int):
                raise self.error(f"lhist() {label} must be an integer constant", a)
            consts.append(a.value)
        lo, hi, step = consts
        if lo < 0 or hi <= lo or step <= 0:
            raise self.error("lhist() needs 0 <= min < max and step > 0", call)
        if (hi - lo) // step > 1000:
            raise self.error("lhist() has too many buckets ((max - min) / step > 1000)", call)
        call.type = T.Aggregate("lhist", (lo, hi, step))
        return call.type

    # --- expressions ---------------------------------------------------------------
    def expr(self, e: A.Expr, statement: bool = False) -> Any:
        t = self._expr(e, statement)
        e.type = t
        return t

    def _expr(self, e: A.Expr, statement: bool) -> Any:
        if isinstance(e, A.Int):
            return T.UINT64 if e.value >= 1 << 63 else T.INT64
        if isinstance(e, A.Str):
            return T.String(len(e.value.encode()) + 1)
        if isinstance(e, A.Var):
            if e.name not in self.vars:
                raise self.error(f"Undefined or undeclared variable: ${e.name}", e)
            return self.vars[e.name]
        if isinstance(e, A.Param):
            if e.index == 0:
                return T.INT64
            value = self.params[e.index - 1] if e.index <= len(self.params) else ""
            try:
                int(value, 0)
                return T.INT64
            except ValueError:
                return T.String(len(value.encode()) + 1) if e.index <= len(self.params) \
                    else T.INT64
        if isinstance(e, A.Builtin):
            return self.builtin(e)
        if isinstance(e, A.Identifier):
            raise self.error(f"Unknown identifier: '{e.name}'", e)
        if isinstance(e, A.MapRef):
            info = self.maps.get(e.name)
            keys = self.map_keys(e)
            if info is None:
                raise self.error(f"Undefined map: @{e.name}", e)
            if (info.keys is None) != (keys is None):
                raise self.error(f"@{e.name} is used {'with' if info.keys else 'without'} "
                                 f"a key elsewhere", e)
            if info.kind != "value":
                raise self.error(f"@{e.name} holds {info.kind}() values: it can be printed "
                                 f"but not read in an expression", e)
            return info.value
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Unary):
            return self.unary(e)
        if isinstance(e, A.IncDec):
            tgt = e.target
            if isinstance(tgt, A.Var):
                t = self.vars.get(tgt.name)
                if t is None:
                    raise self.error(f"Undefined or undeclared variable: ${tgt.name}", tgt)
            elif isinstance(tgt, A.MapRef):
                keys = self.map_keys(tgt)
                info = self.declare_map(tgt, keys, "value", T.INT64) if tgt.name not in \
                    self.maps or self.maps[tgt.name].kind == "value" else None
                if info is None:
                    raise self.error(f"@{tgt.name} holds {self.maps[tgt.name].kind}() values: "
                                     f"'{e.op}' needs a plain integer map", tgt)
                t = info.value
            else:
                raise self.error(f"'{e.op}' needs a variable or a map entry", e)
            if not isinstance(t, (T.Int, T.Pointer)):
                raise self.error(f"'{e.op}' needs an integer ({T.type_name(t)} given)", e)
            tgt.type = t
            return t
        if isinstance(e, A.Ternary):
            self.condition(e.cond)
            a = self.expr(e.then)
            b = self.expr(e.other)
            if isinstance(a, T.Void) and isinstance(b, T.Void):
                return T.Void()
            u = _unify(a, b)
            if u is None:
                raise self.error(f"Ternary operator must return the same type: have "
                                 f"'{T.type_name(a)}' and '{T.type_name(b)}'", e)
            return u
        if isinstance(e, A.FieldAccess):
            return self.field_access(e)
        if isinstance(e, A.Index):
            base = self.expr(e.base)
            it = self.expr(e.index)
            if not isinstance(it, T.Int):
                raise self.error("The array index must be an integer", e.index)
            if isinstance(base, T.Pointer):
                return base.target if base.target is not None else T.Int(8, False)
            if isinstance(base, T.String):
                return T.Int(8, True)
            raise self.error(f"The array index operator [] cannot be used on "
                             f"{T.type_name(base)}", e)
        if isinstance(e, A.Cast):
            self.expr(e.operand)
            return self.cast_type(e.to)
        if isinstance(e, A.Tuple):
            items = tuple(self.expr(i) for i in e.items)
            for i, t in zip(e.items, items):
                if isinstance(t, (T.Void, T.Aggregate)) or t is None:
                    raise self.error(f"Invalid tuple element: {T.type_name(t)}", i)
            return T.Tuple(tuple(_store_type(t) for t in items))
        if isinstance(e, A.Sizeof):
            if isinstance(e.of, A.TypeName):
                e.value = self.sizeof_type(e.of)  # type: ignore[attr-defined]
            else:
                e.value = self.expr(e.of).size  # type: ignore[attr-defined]
            return T.UINT64
        if isinstance(e, A.Call):
            return self.call(e, statement)
        raise self.error("unsupported expression", e)

    def builtin(self, e: A.Builtin) -> Any:
        name = e.name
        kind = self.target.kind if self.target else ""
        if name.startswith("arg") and name[3:].isdigit():
            n = int(name[3:])
            if kind == "usdt":
                sites = self.target.params["sites"]  # type: ignore[union-attr]
                if n >= len(sites[0].args):
                    raise self.probe_error(f"{name}: the probe has {len(sites[0].args)} "
                                           f"arguments", e)
                a = sites[0].args[n]
                return T.Int(a.size * 8, a.signed)
            if kind not in ("uprobe", "kprobe"):
                raise self.probe_error(f"The {name} builtin can only be used with "
                                       f"uprobe, kprobe and usdt probes", e)
            if n > 5:
                raise self.probe_error(f"{name}: only arg0 to arg5 are in registers", e)
            return T.UINT64
        if name == "retval":
            if kind not in ("uretprobe", "kretprobe"):
                raise self.probe_error("The retval builtin can only be used with "
                                       "uretprobe and kretprobe probes", e)
            return T.INT64
        if name == "args":
            if kind != "tracepoint":
                raise self.probe_error("The args builtin can only be used with tracepoint "
                                       "probes here", e)
            return T.Args(self.target.name)  # type: ignore[union-attr]
        if name == "probe":
            return T.String(len(self.target.name) + 1)  # type: ignore[union-attr]
        if name == "func":
            if kind in ("uprobe", "uretprobe"):
                sym = self.target.params.get("symbol") or hex(self.target.params["offset"])  # type: ignore[union-attr]
                return T.String(len(sym) + 1)
            raise self.probe_error("The func builtin can only be used with uprobes here", e)
        if name == "curtask":
            return T.Pointer(self.record("task_struct", e))
        if name in ("kstack", "ustack") and kind in ("BEGIN", "END"):
            raise self.probe_error(f"{name} cannot be used in BEGIN/END", e)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in self.maps_enum_like():
            return T.INT64
        raise self.error(f"Unknown identifier: '{name}'", e)

    def maps_enum_like(self) -> set[str]:
        return set()

    def record(self, name: str, node: A.Node, tag: str = "struct") -> T.Record:
        btf = vmlinux_btf()
        t = btf.get_named(name, "union" if tag == "union" else "struct")
        if t is None:
            raise self.error(f"Unknown struct/union: '{tag} {name}' (not in vmlinux BTF)",
                             node)
        return T.Record(f"{tag} {name}", t.id)

    def cast_type(self, tn: A.TypeName) -> Any:
        words = tn.name.split()
        if words[0] in ("struct", "union"):
            rec = self.record(words[1], tn, words[0])
            base: Any = rec
        else:
            base = T.int_named(tn.name)
            if base is None and tn.name == "void":
                base = None
            elif base is None:
                raise self.error(f"Unknown type: '{tn.name}'", tn)
        if tn.pointer:
            t = base
            for _ in range(tn.pointer):
                t = T.Pointer(t)
            return t
        if isinstance(base, T.Record):
            raise self.error("Cannot cast to a struct (cast to a pointer to it)", tn)
        return base

    def sizeof_type(self, tn: A.TypeName) -> int:
        if tn.pointer:
            return 8
        words = tn.name.split()
        if words[0] in ("struct", "union"):
            rec = self.record(words[1], tn, words[0])
            return vmlinux_btf().size_of(rec.type_id)
        t = T.int_named(tn.name)
        if t is None:
            raise self.error(f"Unknown type: '{tn.name}'", tn)
        return t.bits // 8

    def binary(self, e: A.Binary) -> Any:
        a = self.expr(e.left)
        b = self.expr(e.right)
        op = e.op
        if isinstance(a, T.String) and isinstance(b, T.String):
            if op in ("==", "!="):
                return T.INT64
            raise self.error(f"Invalid operator '{op}' on strings", e)
        if isinstance(a, T.Pointer) and isinstance(b, T.Int) and op in ("+", "-"):
            return a
        ok = (T.Int, T.Pointer)
        if not isinstance(a, ok) or not isinstance(b, ok):
            bad = e.left if not isinstance(a, ok) else e.right
            raise self.error(f"Type mismatch for '{op}': comparing '{T.type_name(a)}' with "
                             f"'{T.type_name(b)}'" if op in ("==", "!=", "<", ">", "<=", ">=")
                             else f"Invalid operand for '{op}': {T.type_name(self_t(bad))}",
                             bad)
        if op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            return T.INT64
        signed = (not isinstance(a, T.Int) or a.signed) and (not isinstance(b, T.Int)
                                                             or b.signed)
        return T.Int(64, signed)

    def unary(self, e: A.Unary) -> Any:
        t = self.expr(e.operand)
        if e.op == "*":
            if not isinstance(t, T.Pointer):
                raise self.error(f"Can not dereference type '{T.type_name(t)}'", e)
            if t.target is None:
                return T.UINT64
            return t.target
        if e.op == "&":
            raise self.error("The address-of operator is not supported", e)
        if not isinstance(t, (T.Int, T.Pointer)):
            raise self.error(f"Invalid type for unary operator '{e.op}': {T.type_name(t)}", e)
        return T.INT64 if e.op == "!" else T.Int(64, True if e.op == "-" else
                                                 getattr(t, "signed", False))

    def field_access(self, e: A.FieldAccess) -> Any:
        base = self.expr(e.base)
        if isinstance(base, T.Tuple):
            if not e.name.isdigit() or int(e.name) >= len(base.items):
                raise self.error(f"Invalid tuple index: {e.name} (the tuple has "
                                 f"{len(base.items)} elements)", e)
            return base.items[int(e.name)]
        if isinstance(base, T.Args):
            fmt = self.target.format  # type: ignore[union-attr]
            f = fmt.field(e.name) if fmt else None
            if f is None:
                names = ", ".join(x.name for x in fmt.fields) if fmt else ""
                raise self.probe_error(f"args has no field '{e.name}' (fields: {names})", e)
            e.event_field = f  # type: ignore[attr-defined]
            return f.type
        rec = None
        if isinstance(base, T.Pointer) and isinstance(base.target, T.Record):
            rec = base.target
            if not e.arrow:
                raise self.error(f"Can not access field '{e.name}' on a pointer: use '->'", e)
        elif isinstance(base, T.Record):
            rec = base
            if e.arrow:
                raise self.error("Can not use '->' on a struct value: use '.'", e)
        if rec is None:
            raise self.error(f"Can not access field '{e.name}' on type "
                             f"'{T.type_name(base)}'", e)
        btf = vmlinux_btf()
        found = btf.find_member(rec.type_id, e.name)
        if found is None:
            raise self.error(f"Struct/union of type '{rec.name}' does not contain a field "
                             f"named '{e.name}'", e)
        member, bit_offset = found
        e.member = (member, bit_offset)  # type: ignore[attr-defined]
        return btf_value_type(btf, member.type_id)

    # --- calls ------------------------------------------------------------------------
    def call(self, e: A.Call, statement: bool) -> Any:
        name, args = e.name, e.args
        if name not in FUNCTIONS:
            raise self.error(f"Unknown function: '{name}'", e)
        if name in UNSAFE and not self.unsafe:
            raise self.error(f"{name}() is an unsafe function being used in safe mode "
                             f"(use --unsafe)", e)
        if name in T.AGGREGATE_KINDS:
            raise self.error(f"{name}() should be directly assigned to a map", e)

        def nargs(lo: int, hi: int | None = None) -> None:
            hi = lo if hi is None else hi
            if not lo <= len(args) <= hi:
                want = f"{lo}" if lo == hi else f"{lo} to {hi}"
                raise self.error(f"{name}() takes {want} argument"
                                 f"{'s' if hi != 1 else ''} ({len(args)} provided)", e)

        def const_str(i: int) -> str:
            a = args[i]
            if not isinstance(a, A.Str):
                raise self.error(f"{name}() expects a string literal", a)
            a.type = T.String(len(a.value.encode()) + 1)
            return a.value

        if name in ("printf", "system", "cat"):
            if not args:
                raise self.error(f"{name}() takes at least 1 argument (0 provided)", e)
            fmt = const_str(0)
            types = tuple(_store_type(self.expr(a)) for a in args[1:])
            for a, t in zip(args[1:], types):
                if isinstance(t, (T.Void, T.Aggregate, T.Args)) or t is None:
                    raise self.error(f"{name}(): invalid argument type {T.type_name(t)}", a)
            want = len(format_conversions(fmt))
            if len(types) > want:
                raise self.error(f"{name}: Too many arguments for format string "
                                 f"({len(types)} supplied, {want} expected)", e)
            if len(types) < want:
                raise self.error(f"{name}: Not enough arguments for format string "
                                 f"({len(types)} supplied, {want} expected)", e)
            if len(types) > _MAX_PRINTF_ARGS:
                raise self.error(f"{name}: at most {_MAX_PRINTF_ARGS} arguments", e)
            self.action(name, e, fmt, types)
            return T.Void()
        if name == "time":
            nargs(0, 1)
            fmt = const_str(0) if args else "%H:%M:%S\n"
            self.action("time", e, fmt)
            return T.Void()
        if name == "exit":
            nargs(0)
            self.action("exit", e)
            return T.Void()
        if name == "print":
            nargs(1, 3)
            first = args[0]
            if isinstance(first, A.MapRef) and first.keys is None and first.name in self.maps:
                extra = []
                for a in args[1:]:
                    if not isinstance(a, A.Int):
                        raise self.error("print(): top and div must be integer constants", a)
                    extra.append(a.value)
                self.action("print_map", e, first.name, (), tuple(extra))
                return T.Void()
            if len(args) > 1:
                raise self.error("print() of a value takes 1 argument", e)
            t = _store_type(self.expr(first))
            if isinstance(t, (T.Void, T.Aggregate)):
                raise self.error(f"print(): invalid argument type {T.type_name(t)}", first)
            self.action("print", e, "", (t,))
            return T.Void()
        if name in ("clear", "zero"):
            nargs(1)
            m = args[0]
            if not isinstance(m, A.MapRef) or m.keys is not None:
                raise self.error(f"{name}() expects a map without a key (@name)", m)
            if m.name not in self.maps:
                raise self.error(f"Undefined map: @{m.name}", m)
            self.action(name, e, m.name)
            return T.Void()
        if name == "delete":
            nargs(1)
            m = args[0]
            if not isinstance(m, A.MapRef):
                raise self.error("delete() expects a map entry (@name[key])", m)
            info = self.maps.get(m.name)
            if info is None:
                raise self.error(f"Undefined map: @{m.name}", m)
            keys = self.map_keys(m)
            if (info.keys is None) != (keys is None):
                raise self.error(f"delete(): @{m.name} "
                                 f"{'needs a key' if info.keys else 'has no key'}", m)
            return T.Void()
        if name == "str":
            nargs(1, 2)
            t = self.expr(args[0])
            length = T.STRLEN
            if len(args) == 2:
                lt = self.expr(args[1])
                if not isinstance(lt, T.Int):
                    raise self.error("str(): the length must be an integer", args[1])
                if isinstance(args[1], A.Int):
                    length = max(1, min(T.STRLEN, args[1].value))
            if isinstance(t, T.String):
                return t
            if not isinstance(t, (T.Int, T.Pointer)):
                raise self.error(f"str() expects a pointer or an integer address "
                                 f"({T.type_name(t)} provided)", args[0])
            return T.String(length)
        if name == "buf":
            nargs(1, 2)
            t = self.expr(args[0])
            length = T.STRLEN
            if len(args) == 2:
                self.expr(args[1])
                if not isinstance(args[1], A.Int):
                    raise self.error("buf(): the length must be an integer constant", args[1])
                length = max(1, min(T.STRLEN, args[1].value))
            elif isinstance(t, T.String):
                length = t.length
            else:
                raise self.error("buf() of a pointer needs a length", e)
            return T.Buf(length)
        if name == "ntop":
            nargs(1, 2)
            for a in args:
                t = self.expr(a)
            if not isinstance(t, (T.Int, T.String)):
                raise self.error(f"ntop() expects an integer or char[4]/char[16] "
                                 f"({T.type_name(t)} provided)", args[-1])
            return T.Inet()
        if name in ("ksym", "usym"):
            nargs(1)
            t = self.expr(args[0])
            if not isinstance(t, (T.Int, T.Pointer)):
                raise self.error(f"{name}() expects an address", args[0])
            return T.Symbol(name == "usym")
        if name == "kaddr":
            nargs(1)
            sym = const_str(0)
            from ..kernel import kallsyms

            addr = kallsyms.address(sym)
            if addr is None:
                raise self.error(f"kaddr(): no kernel symbol '{sym}'", args[0])
            e.value = addr  # type: ignore[attr-defined]
            return T.UINT64
        if name == "cgroupid":
            nargs(1)
            path = const_str(0)
            import os

            try:
                e.value = os.stat(path).st_ino  # type: ignore[attr-defined]
            except OSError as err:
                raise self.error(f"cgroupid(): {path}: {err.strerror}", args[0]) from None
            return T.UINT64
        if name == "strncmp":
            nargs(3)
            for a in args[:2]:
                if not isinstance(self.expr(a), T.String):
                    raise self.error("strncmp() compares strings", a)
            self.expr(args[2])
            if not isinstance(args[2], A.Int):
                raise self.error("strncmp(): the length must be an integer constant", args[2])
            return T.INT64
        if name == "bswap":
            nargs(1)
            t = self.expr(args[0])
            if not isinstance(t, T.Int):
                raise self.error("bswap() expects an integer", args[0])
            return T.Int(t.bits, False)
        if name == "reg":
            nargs(1)
            const_str(0)
            if self.target.kind not in ("uprobe", "uretprobe", "usdt", "kprobe"):  # type: ignore[union-attr]
                raise self.probe_error("reg() can only be used with uprobes and kprobes", e)
            return T.UINT64
        if name in ("kptr", "uptr"):
            nargs(1)
            t = self.expr(args[0])
            if isinstance(t, T.Pointer):
                return T.Pointer(t.target, name == "uptr")
            return t
        if name == "signal":
            nargs(1)
            t = self.expr(args[0])
            if isinstance(args[0], A.Str):
                import signal as _signal

                sig = getattr(_signal, args[0].value, None)
                if sig is None:
                    raise self.error(f"signal(): unknown signal '{args[0].value}'", args[0])
                args[0].signum = int(sig)  # type: ignore[attr-defined]
            elif not isinstance(t, T.Int):
                raise self.error("signal() expects a signal name or number", args[0])
            return T.Void()
        if name == "strftime":
            nargs(2)
            fmt = const_str(0)
            self.expr(args[1])
            e.fmt = fmt  # type: ignore[attr-defined]
            return T.UINT64
        if name == "join":
            nargs(1, 2)
            t = self.expr(args[0])
            if not isinstance(t, (T.Int, T.Pointer)):
                raise self.error(f"join() expects an array of strings (a pointer), not "
                                 f"{T.type_name(t)}", args[0])
            delim = const_str(1) if len(args) == 2 else " "
            self.action("join", e, delim, (T.String(T.JOIN_ARG_SIZE),) * T.JOIN_ARGS)
            return T.Void()
        if name == "sizeof":
            raise self.error("sizeof needs a type or an expression", e)
        raise self.error(f"{name}() is not supported", e)


def self_t(node: A.Expr) -> Any:
    return node.type


def btf_value_type(btf: Any, type_id: int) -> Any:
    """The bpftrace type of a kernel value of BTF type ``type_id``."""
    from ..btf import types as B

    t = btf.resolve(type_id)
    rid = btf.resolve_id(type_id)
    if isinstance(t, B.Int):
        return T.Int(t.size * 8, t.is_signed)
    if isinstance(t, B.EnumBase):
        return T.Int(t.size * 8, False)
    if isinstance(t, B.Ptr):
        inner = btf.resolve(t.type_id)
        if isinstance(inner, B.Composite) and inner.name:
            tag = "union" if isinstance(inner, B.Union) else "struct"
            return T.Pointer(T.Record(f"{tag} {inner.name}", btf.resolve_id(t.type_id)))
        if isinstance(inner, B.Int):
            return T.Pointer(T.Int(inner.size * 8, inner.is_signed))
        return T.Pointer(None)
    if isinstance(t, B.Array):
        elem = btf.resolve(t.elem_type_id)
        if isinstance(elem, B.Int) and elem.size == 1:
            return T.String(t.nelems)
        return T.Pointer(btf_value_type(btf, t.elem_type_id))
    if isinstance(t, B.Composite):
        tag = "union" if isinstance(t, B.Union) else "struct"
        return T.Record(f"{tag} {t.name or '(anon)'}", rid)
    return T.UINT64


def analyze(program: A.Program, *, params: list[str] | None = None, unsafe: bool = False,
            pid: int | None = None) -> Analysis:
    """Check ``program`` against this system: expand its probes, type every
    expression, collect its maps and actions.  Raises a
    :class:`~pybpf.trace.errors.TraceError` naming where and why."""
    checker = Checker(program, list(params or []), unsafe)
    programs: list[ProbeProgram] = []
    for block in program.blocks:
        for probe in block.probes:
            for target in expand(probe, program.source, pid=pid):
                programs.append(ProbeProgram(block, target, len(programs)))
    # maps assigned anywhere may be read anywhere: check twice so that a read
    # in an earlier block sees an assignment in a later one
    order = sorted(programs, key=lambda p: p.target.kind == "END")
    for pp in order:
        try:
            checker.check(pp)
        except TraceSemanticError as e:
            if not e.reason.startswith("Undefined map"):
                raise
    for pp in order:
        checker.check(pp)
    return Analysis(program, programs, checker.maps, checker.actions, list(params or []),
                    unsafe, checker)


def recheck(analysis: Analysis, pp: ProbeProgram) -> None:
    """Type ``pp``'s block again for its own target (blocks shared by
    several targets carry the types of the last one checked)."""
    analysis.checker.check(pp)
