"""The Python front end: a program file's declarations and function bodies
(a statically typed subset of Python) to the shared code generator
(:mod:`pybpf.lang.backend`).

The file runs in CPython first (so its records, maps and knobs are the
objects of :mod:`pybpf.lang.declare` the user-space half also uses); then
each program's body is read from the file's syntax tree and compiled.  What
the subset allows, and what each construct becomes:

- integers of fixed width (``u8``...``s64``, literals typed as C types
  them), C's conversions and wrap-around (:mod:`pybpf.lang.cint` gives
  CPython the same semantics); ``//`` and ``%`` truncate; ``/`` is refused;
  comparisons give C's ``int`` 0 or 1; ``a if c else b`` needs branches of
  one type (a plain constant takes the other's), since C and CPython would
  otherwise disagree on its value;
- ``x: u32 = ...`` declares a local; ``x = ...`` declares one with the
  value's type; later assignments convert to the variable's type;
- ``if``/``elif``/``else``, ``while`` (``while True`` needs a ``break``),
  ``for i in range(...)``, ``break``, ``continue``, ``return``, ``pass``;
- calls of other functions of the file (bpf-to-bpf calls; ``@inline``
  ones are inlined by LLVM; recursion is refused; a function named as a
  helper's argument is a callback: ``bpf_loop(n, step, ctx, 0)``), helpers by name
  (``bpf_ktime_get_ns()``), casts (``u32(x)``, ``ptr[T](x)``),
  ``sizeof(T)``, ``len(array)``, ``ntohs``/``htons``/``ntohl``/``htonl``,
  ``current_task()`` (the current ``task_struct`` for CO-RE reads);
- ``comm == b"bash"`` (or ``!=``): a char array against a string constant,
  as ``strcmp`` compares them (unrolled, one byte at a time);
- records: ``e = Event()`` (zeroed, on the stack; keyword arguments set
  fields), ``e.pid = ...``; kernel structs: ``task.real_parent.tgid``
  reads each hop with ``bpf_probe_read_kernel`` at CO-RE offsets; a
  bitfield (``task.sched_reset_on_fork``) is read as libbpf's
  ``BPF_CORE_READ_BITFIELD_PROBED`` reads it (relocated byte offset, size
  and shifts); it has no address;
- maps: ``counts[k]`` (0 when absent), ``counts[k] = v``, ``counts[k] += v``
  (lookup or insert, then an atomic add), ``del counts[k]``, ``k in counts``,
  ``counts.get(k)`` (a pointer or ``None``; from a map of maps, the inner
  map, used like a declared one; ``ArrayOfMaps(u32, max_entries=4,
  inner=a, values={0: a, 1: b})`` fills slots at load, as
  ``ProgArray(max_entries=4, values={0: prog})`` does for tail calls),
  ``events.output(e)``,
  ``e = events.reserve(Event)`` (the function returns 0 when the ring is
  full: the null check the verifier needs; ``events.try_reserve(Event)``
  gives ``None`` instead), ``events.submit(e)``, ``events.discard(e)``;
- the context: ``ctx.data``/``ctx.data_end`` are packet pointers (``u8*``)
  in XDP and tc programs, other ``__sk_buff``/``xdp_md`` fields by name,
  tracepoint fields by name (from tracefs), ``ctx.arg(n)``/``ctx.ret()`` in
  kprobes and uprobes.
"""

from __future__ import annotations

import ast
import importlib.util
import itertools
import sys
import time
from pathlib import Path
from typing import Any

from ..spec.sections import lookup as lookup_section
from . import backend as bk
from . import declare as d
from . import types as t
from .backend import FunctionBuilder, Value
from .cint import CInt, literal_type
from .errors import CompileError
from .helpers import Helper

_modules = itertools.count(1)

NUMERIC_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "/", ast.Mod: "%",
               ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
               ast.RShift: ">>"}
COMPARE_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
               ast.GtE: ">="}
PACKET_CONTEXTS = {"xdp": "xdp_md", "sched_cls": "__sk_buff", "sched_act": "__sk_buff",
                   "socket_filter": "__sk_buff", "cgroup_skb": "__sk_buff",
                   "sk_skb": "__sk_buff", "lwt_in": "__sk_buff", "lwt_out": "__sk_buff",
                   "lwt_xmit": "__sk_buff", "flow_dissector": "__sk_buff"}
PT_REGS_ARGS = ("di", "si", "dx", "cx", "r8", "r9")
"""x86-64's argument registers, as ``struct pt_regs`` names them."""


class Compilation:
    """A compiled program file: ``module`` (the Python module, run),
    ``backend`` (the :class:`~pybpf.lang.backend.Module`), the declarations
    by name, ``elf`` (bytes) and timings."""

    def __init__(self, pymodule: Any, backend: bk.Module, maps: dict[str, d.MapDef],
                 globals_: dict[str, d.Global], programs: dict[str, d.ProgramDef],
                 elf: bytes, frontend_seconds: float,
                 record_types: dict[str, t.CType] | None = None):
        self.module = pymodule
        self.record_types = record_types or {}
        """The record type each ring or perf buffer carries, by map name."""
        self.backend = backend
        self.maps = maps
        self.globals = globals_
        self.programs = programs
        self.elf = elf
        self.frontend_seconds = frontend_seconds
        self.llvm_seconds = backend.compile_seconds

    @property
    def seconds(self) -> float:
        """Front end plus LLVM."""
        return self.frontend_seconds + self.llvm_seconds

    def object_spec(self) -> Any:
        """The object as an :class:`~pybpf.objects.ObjectSpec` (fresh each call)."""
        from ..elf import load_object

        return load_object(self.elf, path=f"{self.backend.path} (compiled)")

    def write(self, path: str | Path) -> Path:
        """Write the ELF object to ``path``."""
        path = Path(path)
        path.write_bytes(self.elf)
        return path


def load_module(path: str | Path) -> Any:
    """Run a program file in CPython as a fresh module (``__name__`` is not
    ``"__main__"``, so its user-space half does not start)."""
    path = Path(path)
    name = f"pybpf_lang_{path.stem}_{next(_modules)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CompileError(f"cannot read {path}", path=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise CompileError(f"Python syntax error: {e.msg}", path=str(path), line=e.lineno,
                           column=e.offset) from None
    except CompileError as e:          # a declaration refused (HashMap[u32, list]...)
        raise e.at(str(path), _line_in(path, e), None) from None
    except Exception as e:             # the file's own top-level code failed
        raise CompileError(f"running the file failed: {type(e).__name__}: {e}",
                           path=str(path), line=_line_in(path, e)) from None
    return module


def _line_in(path: Path, error: BaseException) -> int | None:
    """The line of ``path`` the traceback of ``error`` last passed through."""
    import traceback

    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    return frames[-1].lineno if frames else None


def compile_file(path: str | Path, *, optimize: int = 2) -> Compilation:
    """Compile a program file (see the module docstring)."""
    return compile_module(load_module(path), optimize=optimize)


def compile_module(pymodule: Any, *, optimize: int = 2, source: str | None = None,
                   path: str | None = None) -> Compilation:
    """Compile an already imported program module."""
    start = time.perf_counter()
    path = path or getattr(pymodule, "__file__", None) or "<module>"
    if source is None:
        try:
            source = Path(path).read_text()
        except OSError as e:
            raise CompileError(f"cannot read the source: {e.strerror or e}", path=path) from None
    front = _ModuleCompiler(pymodule, source, path)
    backend = front.run()
    frontend_seconds = time.perf_counter() - start
    elf = backend.compile(optimize=optimize)
    return Compilation(pymodule, backend, front.maps, front.globals, front.programs, elf,
                       frontend_seconds, front.record_types)


class _ModuleCompiler:
    def __init__(self, pymodule: Any, source: str, path: str):
        self.pymodule = pymodule
        self.source = source
        self.path = path
        self.namespace = vars(pymodule)
        try:
            self.tree = ast.parse(source, filename=path)
        except SyntaxError as e:
            raise CompileError(f"Python syntax error: {e.msg}", path=path, line=e.lineno,
                               column=e.offset) from None
        self.defs = {n.name: n for n in self.tree.body if isinstance(n, ast.FunctionDef)}
        self.maps: dict[str, d.MapDef] = {}
        self.globals: dict[str, d.Global] = {}
        self.programs: dict[str, d.ProgramDef] = {}
        self.functions: dict[str, bk.Function] = {}
        self.pending: list[tuple[bk.Function, ast.FunctionDef, Any]] = []
        self.calls: dict[str, list[tuple[str, ast.AST]]] = {}
        self.map_decls: dict[str, bk.MapDecl] = {}
        self.global_decls: dict[str, bk.GlobalDecl] = {}
        self.record_types: dict[str, t.CType] = {}

    def error(self, reason: str, node: ast.AST | None) -> CompileError:
        return CompileError(reason, path=self.path, line=getattr(node, "lineno", None),
                            column=getattr(node, "col_offset", -1) + 1 if node is not None
                            else None)

    def line_of(self, name: str) -> int:
        for node in self.tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(x, ast.Name) and x.id == name for x in targets):
                return node.lineno
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                return node.lineno
        return 0

    def run(self) -> bk.Module:
        license_ = self.namespace.get("LICENSE", "GPL")
        if not isinstance(license_, str):
            raise self.error("LICENSE must be a string", None)
        self.module = bk.Module(getattr(self.pymodule, "__name__", "prog"), path=self.path,
                                source=self.source, license=license_)
        for name, value in self.namespace.items():
            if isinstance(value, d.MapDef):
                value.name = name
                self.maps[name] = value
            elif isinstance(value, d.Global):
                value.name = name
                self.globals[name] = value
            elif isinstance(value, d.ProgramDef):
                self.programs[name] = value
        for name, m in self.maps.items():
            self._declare_map(name, m)
        for name, g in self.globals.items():
            try:
                init = g.init if isinstance(g.init, (int, bytes)) else \
                    d.encode_value(g.ctype, g.init)
                self.global_decls[name] = self.module.global_var(
                    name, g.ctype, init, const=g.const, line=self.line_of(name))
            except CompileError as e:
                raise e.at(self.path, self.line_of(name), 1) from None
        if not self.programs:
            raise CompileError("the file declares no program (decorate a function with "
                               "@program(...), @xdp, @tracepoint(...)...)", path=self.path)
        for name, p in self.programs.items():
            node = self.defs.get(name)
            if node is None:
                raise CompileError(f"program {name!r} is not a top-level function of the file",
                                   path=self.path)
            try:
                fn = self.module.function(name, section=p.section, line=node.lineno)
            except CompileError as e:
                raise e.at(self.path, node.lineno, node.col_offset + 1) from None
            self.functions[name] = fn
            self.pending.append((fn, node, p))
        while self.pending:
            fn, node, decl = self.pending.pop(0)
            _FunctionCompiler(self, fn, node, decl).compile()
        self._check_recursion()
        return self.module

    def _declare_map(self, name: str, m: d.MapDef) -> bk.MapDecl:
        if name in self.map_decls:
            return self.map_decls[name]
        inner = None
        if m.inner is not None:
            inner_name = m.inner.name or f"{name}_inner"
            m.inner.name = inner_name
            inner = self._declare_map(inner_name, m.inner)
        values: dict[int, bk.MapDecl | str] = {}
        for index, v in m.values.items():
            if isinstance(v, d.ProgramDef):
                if self.programs.get(v.name) is not v:
                    raise CompileError(f"{name}: values[{index}] is not a program of this "
                                       "file", path=self.path, line=self.line_of(name), column=1)
                values[index] = v.name
                continue
            if v.name is None or self.maps.get(v.name) is not v:
                raise CompileError(f"{name}: values[{index}] is not a map declared (assigned "
                                   "to a name) in this file", path=self.path,
                                   line=self.line_of(name), column=1)
            values[index] = self._declare_map(v.name, v)
        try:
            decl = self.module.map(name, m.kind, key=m.key, value=m.value,
                                   max_entries=m.max_entries, flags=m.flags, inner=inner,
                                   pinned=m.pinned, line=self.line_of(name), values=values)
        except CompileError as e:
            raise e.at(self.path, self.line_of(name), 1) from None
        self.map_decls[name] = decl
        return decl

    def function_for(self, name: str, node: ast.AST) -> bk.Function:
        """The backend function for the file's function ``name`` (declared on
        first call; its body compiled later)."""
        if name in self.functions:
            return self.functions[name]
        fdef = self.defs.get(name)
        if fdef is None:
            raise self.error(f"{name}() is not a function of this file", node)
        value = self.namespace.get(name)
        inline = isinstance(value, d.FunctionDef) and value.inline
        params = []
        for a in fdef.args.args:
            if a.annotation is None:
                raise self.error(f"parameter {a.arg!r} of {name}() needs a type annotation "
                                 "(u32, ptr[Event]...)", a)
            params.append((a.arg, self.resolve_type(a.annotation)))
        if fdef.args.vararg or fdef.args.kwarg or fdef.args.kwonlyargs or fdef.args.defaults:
            raise self.error(f"{name}(): only plain positional parameters are allowed", fdef)
        if len(params) > 5:
            raise self.error(f"{name}() has {len(params)} parameters; BPF functions take "
                             "at most 5", fdef)
        ret: t.CType = t.S64
        if fdef.returns is not None:
            if isinstance(fdef.returns, ast.Constant) and fdef.returns.value is None:
                ret = t.VOID
            else:
                ret = self.resolve_type(fdef.returns)
        if isinstance(ret, (t.StructType, t.ArrayType)):
            raise self.error(f"{name}() cannot return a {ret.c_name()}: return a pointer", fdef)
        fn = self.module.function(name, params=params, ret=ret, line=fdef.lineno, inline=inline)
        self.functions[name] = fn
        self.pending.append((fn, fdef, value))
        return fn

    def resolve_type(self, node: ast.AST) -> t.CType:
        """The type an annotation names, evaluated in the file's namespace."""
        try:
            value = eval(compile(ast.Expression(node), self.path, "eval"), self.namespace)
        except CompileError as e:
            raise e.at(self.path, getattr(node, "lineno", None),
                       getattr(node, "col_offset", 0) + 1) from None
        except Exception as e:
            raise self.error(f"cannot evaluate the type {ast.unparse(node)!r}: {e}", node) \
                from None
        try:
            return d.ctype_of(value)
        except CompileError as e:
            raise e.at(self.path, getattr(node, "lineno", None),
                       getattr(node, "col_offset", 0) + 1) from None

    def _check_recursion(self) -> None:
        def visit(name: str, stack: list[str]) -> None:
            for callee, node in self.calls.get(name, []):
                if callee in stack:
                    cycle = " -> ".join([*stack[stack.index(callee):], callee])
                    raise self.error(f"recursion is not allowed in an eBPF program ({cycle})",
                                     node)
                visit(callee, [*stack, callee])

        for name in self.functions:
            visit(name, [name])


class _Var:
    """A local: a stack slot holding a scalar (``kind == "slot"``) or a
    reference to an aggregate on the stack (``kind == "ref"``)."""

    def __init__(self, kind: str, value: Value):
        self.kind = kind
        self.value = value

    @property
    def ctype(self) -> t.CType:
        assert isinstance(self.value.ctype, t.PointerType)
        target = self.value.ctype.target
        assert target is not None
        return target


class _MapHandle(t.PointerType):
    """What a map of maps holds: a pointer to a map like ``decl``."""

    def __init__(self, decl: bk.MapDecl):
        super().__init__(None)
        self.decl = decl
        self.name = f"map {decl.name}*"


class _InnerMap:
    """A map reached through a map of maps at run time: the declaration of
    the maps it holds, and the pointer the lookup gave in place of ``glob``."""

    def __init__(self, decl: bk.MapDecl, pointer: Any):
        self.name = decl.name
        self.kind = decl.kind
        self.key = decl.key
        self.value = decl.value
        self.glob = pointer


class _Context:
    """What ``ctx`` is in a program: a record laid out by the kernel, or
    ``pt_regs``."""

    def __init__(self, value: Value, record: t.StructType | None, kind: str):
        self.value = value
        self.record = record
        self.kind = kind


class _FunctionCompiler:
    def __init__(self, owner: _ModuleCompiler, fn: bk.Function, node: ast.FunctionDef,
                 decl: Any):
        self.owner = owner
        self.fn = fn
        self.node = node
        self.decl = decl
        self.b: FunctionBuilder = fn.builder
        self.vars: dict[str, _Var] = {}
        self.loops: list[tuple[Any, Any]] = []
        self.context: _Context | None = None
        self.is_program = isinstance(decl, d.ProgramDef)

    # -- helpers ---------------------------------------------------------------------
    def error(self, reason: str, node: ast.AST | None) -> CompileError:
        return self.owner.error(reason, node)

    def locate(self, node: ast.AST) -> None:
        self.b.locate(getattr(node, "lineno", 0), getattr(node, "col_offset", 0) + 1)

    def compile(self) -> None:
        node = self.node
        args = node.args.args
        if self.is_program:
            if len(args) > 1:
                raise self.error(f"program {node.name}() takes one parameter, the context", node)
            info = lookup_section(self.fn.section or "")
            if args:
                self.context = self._make_context(args[0], info)
        else:
            for a, v in zip(args, self.b.args):
                self._bind_param(a.arg, v)
        self.block(node.body)

    def _make_context(self, arg: ast.arg, info: Any) -> _Context:
        ctx = self.b.args[0]
        prog_type = info.prog_type if info else ""
        if prog_type in PACKET_CONTEXTS:
            return _Context(ctx, bk.context_record(PACKET_CONTEXTS[prog_type]), "packet")
        if prog_type == "tracepoint" and info.attach_to:
            category, _, event = info.attach_to.partition("/")
            try:
                return _Context(ctx, bk.tracepoint_record(category, event), "tracepoint")
            except CompileError as e:
                raise e.at(self.owner.path, arg.lineno, arg.col_offset + 1) from None
        if prog_type == "kprobe":
            return _Context(ctx, bk.context_record("pt_regs"), "pt_regs")
        if prog_type in ("tracing", "raw_tracepoint", "raw_tracepoint_writable"):
            return _Context(ctx, None, "args")
        return _Context(ctx, None, "opaque")

    def _bind_param(self, name: str, v: Value) -> None:
        slot = self.b.local(v.ctype, name)
        self.b.store(slot, v)
        self.vars[name] = _Var("slot", slot)

    # -- statements --------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if self.b.terminated():
                # code after return/break: compiled into a block nothing reaches
                self.b.ir.position_at_end(self.b.block("dead"))
            try:
                self.locate(s)
                self.stmt(s)
            except CompileError as e:
                raise e.at(self.owner.path, s.lineno, s.col_offset + 1) from None

    def stmt(self, s: ast.stmt) -> None:
        method = getattr(self, f"stmt_{type(s).__name__}", None)
        if method is None:
            raise self.error(f"a {_describe(s)} is not allowed in an eBPF program", s)
        method(s)

    def stmt_Pass(self, s: ast.Pass) -> None:
        pass

    def stmt_Global(self, s: ast.Global) -> None:
        for name in s.names:
            if name not in self.owner.globals:
                raise self.error(f"{name!r} is not a Global or Knob of this file", s)

    def stmt_Expr(self, s: ast.Expr) -> None:
        if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return                  # a docstring
        self.expr(s.value)

    def stmt_Return(self, s: ast.Return) -> None:
        if s.value is None:
            self.b.ret(None if isinstance(self.fn.ret, t.VoidType) else self.b.const(t.S32, 0))
            return
        if isinstance(self.fn.ret, t.VoidType):
            raise self.error(f"{self.fn.name}() returns nothing (-> None)", s)
        v = self.scalar(s.value)
        self.b.ret(v)

    def stmt_AnnAssign(self, s: ast.AnnAssign) -> None:
        if not isinstance(s.target, ast.Name):
            raise self.error("only a plain name can be declared with a type", s)
        name = s.target.id
        ctype = self.owner.resolve_type(s.annotation)
        if name in self.vars:
            raise self.error(f"{name!r} is already declared", s)
        self._declare(name, ctype, s.value, s)

    def _declare(self, name: str, ctype: t.CType, value_node: ast.expr | None,
                 node: ast.AST) -> None:
        if name in self.owner.globals or name in self.owner.maps:
            raise self.error(f"{name!r} is a global of the file: a local cannot shadow it", node)
        if isinstance(ctype, (t.StructType, t.ArrayType)):
            slot = self.b.local(ctype, name, zero=True)
            self.vars[name] = _Var("ref", slot)
            if value_node is not None:
                self._assign_aggregate(slot, self.expr(value_node), node)
            return
        slot = self.b.local(ctype, name)
        self.vars[name] = _Var("slot", slot)
        if value_node is not None:
            self.b.store(slot, self.convert(self.expr(value_node), ctype, node))
        else:
            self.b.store(slot, self.b.const(ctype, 0) if isinstance(ctype, t.IntType)
                         else self.b.null())

    def _assign_aggregate(self, dst: Value, v: Value, node: ast.AST) -> None:
        target = dst.ctype.target  # type: ignore[union-attr]
        source = v.ctype.target if isinstance(v.ctype, t.PointerType) else None
        # the same record, or one laid out alike (two Struct classes, a char[N] of a field)
        if source != target and not (type(source) is type(target) and
                                     source.size == target.size):  # type: ignore[union-attr]
            raise self.error(f"cannot assign a {v.ctype!r} to a {target.c_name()}", node)
        if v.ir is not dst.ir:
            self.b.copy(dst, v)

    def stmt_Assign(self, s: ast.Assign) -> None:
        if len(s.targets) != 1:
            raise self.error("chained assignment (a = b = ...) is not allowed", s)
        target = s.targets[0]
        if isinstance(target, ast.Tuple):
            raise self.error("tuple assignment is not allowed in an eBPF program", s)
        if isinstance(target, ast.Name):
            name = target.id
            if name in self.vars:
                var = self.vars[name]
                if var.kind == "ref":
                    self._assign_aggregate(var.value, self.expr(s.value), s)
                else:
                    self.b.store(var.value, self.convert(self.expr(s.value), var.ctype, s))
                return
            if name in self.owner.globals:
                self._store_global(name, self.expr(s.value), s)
                return
            if name in self.owner.maps:
                raise self.error(f"{name!r} is a map: assign its elements ({name}[key] = ...)", s)
            self._bind_new(name, s.value, s)
            return
        if isinstance(target, ast.Subscript) and self._map_of(target.value) is not None:
            m = self._map_of(target.value)
            assert m is not None
            key = self._key_pointer(m, target.slice)
            val = self._value_pointer(m, self.expr(s.value), s)
            self.b.map_update(m, key, val)
            return
        ptr = self.lvalue(target)
        self._store(ptr, self.expr(s.value), s)

    def _bind_new(self, name: str, value_node: ast.expr, node: ast.AST) -> None:
        """The first assignment of ``name``: a local of the value's type (a
        record made here is referred to, not copied)."""
        v = self.expr(value_node)
        if isinstance(v.ctype, t.VoidType):
            raise self.error(f"the call returns nothing: {name!r} would have no value", node)
        if self._is_fresh_aggregate(value_node):
            self.vars[name] = _Var("ref", v)
            return
        slot = self.b.local(v.ctype, name)
        self.b.store(slot, v)
        self.vars[name] = _Var("slot", slot)

    def _is_fresh_aggregate(self, node: ast.expr) -> bool:
        """Whether ``node`` makes a new record or array on the stack
        (``Event()``, ``char[16]()``): the name refers to it."""
        if not isinstance(node, ast.Call):
            return False
        try:
            value = self.static_value(node.func)
        except CompileError:
            return False
        if isinstance(value, type) and issubclass(value, d.Struct):
            return True
        return isinstance(value, d.LangType) and isinstance(value.ctype, t.ArrayType)

    def _store(self, ptr: Value, v: Value, node: ast.AST) -> None:
        target = ptr.ctype.target  # type: ignore[union-attr]
        if isinstance(target, (t.StructType, t.ArrayType)):
            self._assign_aggregate(ptr, v, node)
            return
        self.b.store(ptr, self.convert(v, target, node))

    def _store_global(self, name: str, v: Value, node: ast.AST) -> None:
        g = self.owner.global_decls[name]
        if g.const:
            raise self.error(f"{name!r} is a Knob (const volatile): programs cannot assign it",
                             node)
        self._store(self.b.global_pointer(g), v, node)

    def stmt_AugAssign(self, s: ast.AugAssign) -> None:
        op = NUMERIC_OPS.get(type(s.op))
        if op is None:
            raise self.error(f"the operator {_op_text(s.op)}= is not allowed on integers", s)
        target = s.target
        if isinstance(target, ast.Subscript) and self._map_of(target.value) is not None:
            m = self._map_of(target.value)
            assert m is not None
            if not isinstance(m.value, t.IntType):
                raise self.error(f"{m.name}[...] {_op_text(s.op)}= needs integer values", s)
            key = self._key_pointer(m, target.slice)
            if m.kind in ("array", "percpu_array"):
                slot = self.b.map_lookup(m, key)        # every index exists
            else:
                slot = self.b.map_lookup_or_init(m, key)
            rhs = self.scalar(s.value)
            with self.b.if_then(self.b.is_null(slot, negate=True)):
                if op == "+" and m.kind not in ("percpu_hash", "percpu_array", "lru_percpu_hash"):
                    self.b.atomic_add(slot, rhs)
                else:
                    self.b.store(slot, self.b.binop(op, self.b.load(slot), rhs))
            return
        if isinstance(target, ast.Name) and target.id in self.owner.globals:
            g = self.owner.global_decls[target.id]
            if g.const:
                raise self.error(f"{target.id!r} is a Knob: programs cannot assign it", s)
            ptr = self.b.global_pointer(g)
            rhs = self.scalar(s.value)
            if op == "+":
                self.b.atomic_add(ptr, rhs)
            else:
                self.b.store(ptr, self.b.binop(op, self.b.load(ptr), rhs))
            return
        ptr = self.lvalue(target)
        if op == "+" and self._shared_memory(target) and isinstance(ptr.ctype.target, t.IntType) \
                and ptr.ctype.target.bits in (32, 64):      # type: ignore[union-attr]
            # a map value, a ring record, a global: others may add at the same time
            self.b.atomic_add(ptr, self.scalar(s.value))
            return
        current = self.b.load(ptr)
        self.b.store(ptr, self.arith(op, current, self.scalar(s.value), s))

    def _shared_memory(self, target: ast.expr) -> bool:
        """Whether ``target`` (a field or element) lives outside this
        function's stack and its context: reached through a pointer variable."""
        base = target
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            base = base.value
        if not isinstance(base, ast.Name) or self._is_context(base):
            return False
        var = self.vars.get(base.id)
        return var is not None and var.kind == "slot" and isinstance(var.ctype, t.PointerType)

    def stmt_Delete(self, s: ast.Delete) -> None:
        for target in s.targets:
            m = self._map_of(target.value) if isinstance(target, ast.Subscript) else None
            if m is None:
                raise self.error("only map elements can be deleted (del counts[key])", s)
            assert isinstance(target, ast.Subscript)
            self.b.map_delete(m, self._key_pointer(m, target.slice))

    def stmt_If(self, s: ast.If) -> None:
        cond = self.condition(s.test)
        then_bb = self.b.block("then")
        else_bb = self.b.block("else") if s.orelse else None
        merge = self.b.block("endif")
        self.b.ir.cbranch(cond, then_bb, else_bb or merge)
        self.b.ir.position_at_end(then_bb)
        self.block(s.body)
        if not self.b.terminated():
            self.b.ir.branch(merge)
        if else_bb is not None:
            self.b.ir.position_at_end(else_bb)
            self.block(s.orelse)
            if not self.b.terminated():
                self.b.ir.branch(merge)
        self.b.ir.position_at_end(merge)

    def stmt_While(self, s: ast.While) -> None:
        if s.orelse:
            raise self.error("while ... else is not allowed", s)
        forever = isinstance(s.test, ast.Constant) and bool(s.test.value)
        if forever and not any(isinstance(n, ast.Break) for n in _walk_loop(s.body)):
            raise self.error("unbounded loop: 'while True' without a break never ends, "
                             "and the verifier refuses it (use for i in range(N))", s)
        head = self.b.block("while")
        body = self.b.block("body")
        done = self.b.block("endwhile")
        self.b.ir.branch(head)
        self.b.ir.position_at_end(head)
        if forever:
            self.b.ir.branch(body)
        else:
            self.b.ir.cbranch(self.condition(s.test), body, done)
        self.b.ir.position_at_end(body)
        self.loops.append((head, done))
        self.block(s.body)
        self.loops.pop()
        if not self.b.terminated():
            self.b.ir.branch(head)
        self.b.ir.position_at_end(done)

    def stmt_For(self, s: ast.For) -> None:
        if s.orelse:
            raise self.error("for ... else is not allowed", s)
        it = s.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                and it.func.id == "range" and 1 <= len(it.args) <= 3 and not it.keywords):
            raise self.error("only 'for NAME in range(...)' loops are allowed (a bounded loop "
                             "the verifier can follow)", s)
        if not isinstance(s.target, ast.Name):
            raise self.error("the loop variable must be a plain name", s)
        args = [self.scalar(a) for a in it.args]
        start, stop = (self.b.const(t.S32, 0), args[0]) if len(args) == 1 else (args[0], args[1])
        step = 1
        if len(args) == 3:
            step_value = self.constant_value(it.args[2])
            if step_value is None or step_value == 0:
                raise self.error("range()'s step must be a non-zero constant", it)
            step = step_value
        ctype = bk.common_type(start.ctype, stop.ctype)
        name = s.target.id
        if name in self.vars:
            var = self.vars[name]
            if var.kind != "slot":
                raise self.error(f"{name!r} is a record: it cannot count a loop", s)
            ctype = var.ctype  # type: ignore[assignment]
        else:
            self.vars[name] = _Var("slot", self.b.local(ctype, name))
        var = self.vars[name]
        counter = self.b.local(ctype, f"{name}.next")
        self.b.store(counter, start)
        limit = self.b.local(ctype, f"{name}.stop")
        self.b.store(limit, stop)
        head = self.b.block("for")
        body = self.b.block("body")
        step_bb = self.b.block("step")
        done = self.b.block("endfor")
        self.b.ir.branch(head)
        self.b.ir.position_at_end(head)
        current = self.b.load(counter)
        cond = self.b.compare("<" if step > 0 else ">", current, self.b.load(limit))
        self.b.ir.cbranch(self.b.truth(cond), body, done)
        self.b.ir.position_at_end(body)
        self.b.store(var.value, current)
        self.loops.append((step_bb, done))
        self.block(s.body)
        self.loops.pop()
        if not self.b.terminated():
            self.b.ir.branch(step_bb)
        self.b.ir.position_at_end(step_bb)
        self.b.store(counter, self.b.binop("+", self.b.load(counter), self.b.const(ctype, step),
                                           ctype))
        self.b.ir.branch(head)
        self.b.ir.position_at_end(done)

    def stmt_Break(self, s: ast.Break) -> None:
        if not self.loops:
            raise self.error("break outside a loop", s)
        self.b.ir.branch(self.loops[-1][1])

    def stmt_Continue(self, s: ast.Continue) -> None:
        if not self.loops:
            raise self.error("continue outside a loop", s)
        self.b.ir.branch(self.loops[-1][0])

    # -- expressions -------------------------------------------------------------------
    def static_value(self, node: ast.expr) -> Any:
        """The Python object a name or attribute chain of the file's
        namespace refers to (types, declarations, modules, constants)."""
        if isinstance(node, ast.Name):
            if node.id in self.vars:
                raise self.error(f"{node.id!r} is a variable", node)
            if node.id in self.owner.namespace:
                return self.owner.namespace[node.id]
            import builtins

            if hasattr(builtins, node.id):
                return getattr(builtins, node.id)
            raise self.error(f"name {node.id!r} is not defined", node)
        if isinstance(node, ast.Attribute):
            base = self.static_value(node.value)
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise self.error(f"{ast.unparse(node.value)} has no attribute "
                                 f"{node.attr!r}", node) from None
        if isinstance(node, ast.Subscript):
            base = self.static_value(node.value)
            index = self.static_value(node.slice) if not isinstance(node.slice, ast.Constant) \
                else node.slice.value
            try:
                return base[index]
            except (TypeError, KeyError, IndexError, ValueError) as e:
                raise self.error(f"{ast.unparse(node)} is not a constant ({e})", node) from None
        if isinstance(node, ast.Constant):
            return node.value
        raise self.error(f"{ast.unparse(node)} is not a constant", node)

    def constant_value(self, node: ast.expr) -> int | None:
        """The integer a constant expression has, or None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return int(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self.constant_value(node.operand)
            return -v if v is not None else None
        if isinstance(node, (ast.Name, ast.Attribute)):
            try:
                v = self.static_value(node)
            except CompileError:
                return None
            if isinstance(v, int) and not isinstance(v, bool):
                return int(v)
        return None

    def scalar(self, node: ast.expr) -> Value:
        """An expression that must be an integer or pointer."""
        v = self.expr(node)
        if isinstance(v.ctype, t.VoidType):
            raise self.error("the call returns nothing", node)
        if isinstance(v.ctype, (t.StructType, t.ArrayType)):
            raise self.error(f"a {v.ctype.c_name()} is not a number", node)
        return v

    def convert(self, v: Value, ctype: t.CType, node: ast.AST) -> Value:
        """``v`` converted to ``ctype`` as C converts on assignment."""
        try:
            return self.b.cast(v, ctype)
        except CompileError as e:
            raise e.at(self.owner.path, getattr(node, "lineno", None),
                       getattr(node, "col_offset", 0) + 1) from None

    def condition(self, node: ast.expr) -> Any:
        return self.b.truth(self.expr(node))

    def expr(self, node: ast.expr) -> Value:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            raise self.error(f"{_describe(node)} is not allowed in an eBPF program", node)
        try:
            return method(node)
        except CompileError as e:
            raise e.at(self.owner.path, getattr(node, "lineno", None),
                       getattr(node, "col_offset", 0) + 1) from None

    def expr_Constant(self, node: ast.Constant) -> Value:
        v = node.value
        if isinstance(v, bool):
            return self.b.const(t.S32, int(v))
        if isinstance(v, int):
            return self.b.const(literal_type(v), v)
        if v is None:
            return self.b.null()
        if isinstance(v, (str, bytes)):
            raise self.error("a string cannot be a value here (strings live in char arrays "
                             "of records; compare one with comm == b\"bash\")", node)
        raise self.error(f"a {type(v).__name__} constant is not allowed (integers only)", node)

    def expr_List(self, node: ast.expr) -> Value:
        raise self.error("a Python list cannot live in an eBPF program; use an Array map "
                         "or a fixed-size array (u32[8])", node)

    expr_ListComp = expr_List

    def expr_Dict(self, node: ast.expr) -> Value:
        raise self.error("a Python dict cannot live in an eBPF program; use a HashMap", node)

    expr_DictComp = expr_Dict

    def expr_Set(self, node: ast.expr) -> Value:
        raise self.error("a Python set cannot live in an eBPF program; use a HashMap", node)

    def expr_Name(self, node: ast.Name) -> Value:
        name = node.id
        var = self.vars.get(name)
        if var is not None:
            return var.value if var.kind == "ref" else self.b.load(var.value)
        if name == "ctx" and self.context is not None:
            return self.context.value
        if self.context is not None and self.node.args.args and \
                self.node.args.args[0].arg == name:
            return self.context.value
        if name in self.owner.globals:
            g = self.owner.global_decls[name]
            if isinstance(g.ctype, (t.ArrayType, t.StructType)):
                return self.b.global_pointer(g)
            return self.b.read_global(g)
        if name in self.owner.maps:
            raise self.error(f"{name!r} is a map: use {name}[key] or its methods", node)
        value = self.owner.namespace.get(name)
        if isinstance(value, CInt):
            return self.b.const(value.ctype, int(value))
        if isinstance(value, int) and not isinstance(value, bool):
            return self.b.const(literal_type(int(value)), int(value))
        if isinstance(value, bool):
            return self.b.const(t.S32, int(value))
        if name in ("True", "False"):
            return self.b.const(t.S32, int(name == "True"))
        if value is None and name in self.owner.namespace:
            return self.b.null()
        if isinstance(value, list):
            raise self.error(f"{name!r} is a Python list: it cannot live in an eBPF program; "
                             "use an Array map", node)
        if isinstance(value, dict):
            raise self.error(f"{name!r} is a Python dict: it cannot live in an eBPF program; "
                             "use a HashMap", node)
        if name in self.owner.namespace:
            raise self.error(f"{name!r} ({type(value).__name__}) cannot be used as a value "
                             "in an eBPF program", node)
        raise self.error(f"name {name!r} is not defined (a local must be assigned before use)",
                         node)

    def arith(self, op: str, a: Value, b: Value, node: ast.AST) -> Value:
        for v in (a, b):
            if isinstance(v.ctype, t.PointerType) and op not in ("+", "-"):
                raise self.error(f"pointer arithmetic allows + and - only, not {op}", node)
        if isinstance(b.ctype, t.PointerType) and not isinstance(a.ctype, t.PointerType):
            a, b = b, a
        if isinstance(a.ctype, t.PointerType) and isinstance(b.ctype, t.PointerType):
            raise self.error("two pointers cannot be added or subtracted", node)
        return self.b.binop(op, a, b)

    def expr_BinOp(self, node: ast.BinOp) -> Value:
        if isinstance(node.op, ast.Div):
            raise self.error("'/' is true division (a float): use '//' for integer division",
                             node)
        op = NUMERIC_OPS.get(type(node.op))
        if op is None:
            raise self.error(f"the operator {_op_text(node.op)} is not allowed on integers", node)
        return self.arith(op, self.scalar(node.left), self.scalar(node.right), node)

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Value:
        if isinstance(node.op, ast.Not):
            return self.b.bool_value(self.b.ir.not_(self.condition(node.operand)))
        v = self.scalar(node.operand)
        if isinstance(node.op, ast.USub):
            return self.b.neg(v)
        if isinstance(node.op, ast.Invert):
            return self.b.invert(v)
        return self.b.cast(v, bk.common_type(v.ctype, v.ctype))

    def expr_BoolOp(self, node: ast.BoolOp) -> Value:
        is_and = isinstance(node.op, ast.And)
        result = self.b.local(t.BOOL, "cond")
        done = self.b.block("bool.end")
        for i, value in enumerate(node.values):
            cond = self.condition(value)
            self.b.store(result, self.b.bool_value(cond))
            if i == len(node.values) - 1:
                self.b.ir.branch(done)
                break
            nxt = self.b.block("bool.next")
            if is_and:
                self.b.ir.cbranch(cond, nxt, done)
            else:
                self.b.ir.cbranch(cond, done, nxt)
            self.b.ir.position_at_end(nxt)
        self.b.ir.position_at_end(done)
        return self.b.load(result)

    def expr_Compare(self, node: ast.Compare) -> Value:
        left_node = node.left
        if len(node.ops) == 1:
            return self._compare_one(node.ops[0], left_node, node.comparators[0], node)
        result = self.b.local(t.S32, "cmp")
        done = self.b.block("cmp.end")
        left = self.expr(left_node)
        for i, (op, right_node) in enumerate(zip(node.ops, node.comparators)):
            right = self.scalar(right_node)
            c = self._compare_values(op, left, right, node)
            self.b.store(result, c)
            if i == len(node.ops) - 1:
                self.b.ir.branch(done)
                break
            nxt = self.b.block("cmp.next")
            self.b.ir.cbranch(self.b.truth(c), nxt, done)
            self.b.ir.position_at_end(nxt)
            left = right
        self.b.ir.position_at_end(done)
        return self.b.load(result)

    def _compare_one(self, op: ast.cmpop, left: ast.expr, right: ast.expr,
                     node: ast.AST) -> Value:
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Tuple):
            # x in (A, B): one comparison per element, or-ed (x evaluated once)
            v = self.scalar(left)
            slot = self.b.local(v.ctype, "in")
            self.b.store(slot, v)
            test = ast.BoolOp(op=ast.Or(), values=[
                ast.Compare(left=_Loaded(slot), ops=[ast.Eq()], comparators=[e])
                for e in right.elts])
            ast.copy_location(test, node)
            result = self.expr_BoolOp(test)
            if isinstance(op, ast.NotIn):
                return self.b.bool_value(self.b.ir.not_(self.b.truth(result)))
            return result
        if isinstance(op, (ast.In, ast.NotIn)):
            m = self._map_of(right)
            if m is None:
                raise self.error("'in' tests a map (key in counts)", node)
            found = self.b.map_lookup(m, self._key_pointer(m, left))
            return self.b.is_null(found, negate=isinstance(op, ast.In))
        if isinstance(op, (ast.Is, ast.IsNot)):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise self.error("'is' compares with None only (a null pointer check)", node)
            v = self.expr(left)
            if not isinstance(v.ctype, t.PointerType):
                raise self.error(f"a {v.ctype!r} is never None", node)
            return self.b.is_null(v, negate=isinstance(op, ast.IsNot))
        if isinstance(op, (ast.Eq, ast.NotEq)):
            for text_node, other in ((right, left), (left, right)):
                text = self._static_or_nothing(text_node)
                if isinstance(text, (bytes, str)):
                    return self._compare_string(op, other, text, node)
        return self._compare_values(op, self.scalar(left), self.scalar(right), node)

    def _compare_string(self, op: ast.cmpop, array_node: ast.expr, text: bytes | str,
                        node: ast.AST) -> Value:
        """``comm == b"bash"``: a char array equals a string constant when it
        holds its bytes and then a NUL (or ends there), as ``strcmp`` says;
        one byte comparison per byte of the constant, no loop."""
        data = text.encode() if isinstance(text, str) else text
        arr = self.expr(array_node)
        target = arr.ctype.target if isinstance(arr.ctype, t.PointerType) else None
        if not isinstance(target, t.ArrayType) or target.elem.size != 1:
            raise self.error(f"a string compares with a char array (comm == b\"bash\"), "
                             f"not a {arr.ctype!r}", node)
        if b"\0" in data:
            raise self.error("the string holds a NUL: compare a shorter one", node)
        if len(data) > target.count:
            equal = self.b.ir.icmp_unsigned("!=", self.b.const(t.U8, 0).ir,
                                            self.b.const(t.U8, 0).ir)     # never equal
        else:
            expected = data + b"\0" if len(data) < target.count else data
            equal = None
            for i, byte in enumerate(expected):
                got = self.b.load(self.b.index(arr, i))
                same = self.b.ir.icmp_unsigned("==", self.b.cast(got, t.U8).ir,
                                               self.b.const(t.U8, byte).ir)
                equal = same if equal is None else self.b.ir.and_(equal, same)
        if isinstance(op, ast.NotEq):
            equal = self.b.ir.not_(equal)
        return Value(self.b.ir.zext(equal, t.I32), t.S32)

    def _compare_values(self, op: ast.cmpop, a: Value, b: Value, node: ast.AST) -> Value:
        text = COMPARE_OPS.get(type(op))
        if text is None:
            raise self.error(f"the comparison {_op_text(op)} is not allowed here", node)
        return self.b.compare(text, a, b)

    def _plain_constant(self, node: ast.expr) -> bool:
        """Whether ``node`` is built of untyped integer constants only (literals,
        the file's plain ``int`` names): such a value fits whatever it meets."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, int) and not isinstance(node.value, bool)
        if isinstance(node, ast.Name) and node.id not in self.vars:
            value = self.owner.namespace.get(node.id)
            return isinstance(value, int) and not isinstance(value, (bool, CInt))
        if isinstance(node, ast.UnaryOp):
            return self._plain_constant(node.operand)
        if isinstance(node, ast.BinOp):
            return self._plain_constant(node.left) and self._plain_constant(node.right)
        return False

    def expr__Loaded(self, node: _Loaded) -> Value:
        return self.b.load(node.slot)

    def expr_IfExp(self, node: ast.IfExp) -> Value:
        cond = self.condition(node.test)
        then_bb, else_bb, done = self.b.block("ifx.then"), self.b.block("ifx.else"), \
            self.b.block("ifx.end")
        self.b.ir.cbranch(cond, then_bb, else_bb)
        self.b.ir.position_at_end(then_bb)
        a = self.scalar(node.body)
        then_end = self.b.ir.block
        self.b.ir.position_at_end(else_bb)
        b = self.scalar(node.orelse)
        else_end = self.b.ir.block
        if isinstance(a.ctype, t.PointerType) or isinstance(b.ctype, t.PointerType):
            ctype: t.CType = a.ctype if isinstance(a.ctype, t.PointerType) else b.ctype
        elif a.ctype == b.ctype or self._plain_constant(node.orelse):
            ctype = a.ctype         # a constant branch takes the other branch's type
        elif self._plain_constant(node.body):
            ctype = b.ctype
        else:
            # C would convert both to their common type, CPython keeps the chosen
            # one's: refuse rather than compute something CPython would not
            raise self.error(f"the branches of a conditional expression have different "
                             f"types ({a.ctype.name} and {b.ctype.name}): convert one "
                             f"({b.ctype.name}(...) or {a.ctype.name}(...))", node)
        self.b.ir.position_at_end(then_end)
        a = self.b.cast(a, ctype)
        self.b.ir.branch(done)
        self.b.ir.position_at_end(else_end)
        b = self.b.cast(b, ctype)
        self.b.ir.branch(done)
        self.b.ir.position_at_end(done)
        phi = self.b.ir.phi(ctype.ir_type())
        phi.add_incoming(a.ir, then_end)
        phi.add_incoming(b.ir, else_end)
        return Value(phi, ctype)

    # -- places: attributes, subscripts --------------------------------------------------------
    def lvalue(self, node: ast.expr) -> Value:
        """A pointer to where ``node`` lives (a local, a field, an element)."""
        if isinstance(node, ast.Name):
            var = self.vars.get(node.id)
            if var is not None:
                return var.value
            if node.id in self.owner.globals:
                g = self.owner.global_decls[node.id]
                if g.const:
                    raise self.error(f"{node.id!r} is a Knob: programs cannot assign it", node)
                return self.b.global_pointer(g)
            raise self.error(f"name {node.id!r} is not defined", node)
        if isinstance(node, ast.Attribute):
            if self._is_context(node.value):
                assert self.context is not None
                rec = self.context.record
                if rec is None:
                    raise self.error("this program's context has no fields to assign", node)
                return self.b.field(Value(self.context.value.ir, t.PointerType(rec)), node.attr)
            base = self.expr(node.value)
            return self._field_pointer(base, node.attr, node)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value)
            return self._element_pointer(base, node.slice, node)
        raise self.error(f"cannot assign to {_describe(node)}", node)

    def _is_context(self, node: ast.expr) -> bool:
        return (self.context is not None and isinstance(node, ast.Name)
                and node.id not in self.vars and bool(self.node.args.args)
                and node.id == self.node.args.args[0].arg)

    def _field_pointer(self, base: Value, name: str, node: ast.AST) -> Value:
        if not isinstance(base.ctype, t.PointerType) or not isinstance(
                base.ctype.target, (t.StructType, t.KernelStruct)):
            raise self.error(f"a {base.ctype!r} has no field {name!r}", node)
        if isinstance(base.ctype.target, t.KernelStruct):
            raise self.error("kernel struct fields are read, not assigned", node)
        return self.b.field(base, name)

    def _element_pointer(self, base: Value, index_node: ast.expr, node: ast.AST) -> Value:
        if not isinstance(base.ctype, t.PointerType) or base.ctype.target is None:
            raise self.error(f"a {base.ctype!r} cannot be indexed", node)
        target = base.ctype.target
        const = self.constant_value(index_node)
        if isinstance(target, t.ArrayType):
            if const is not None:
                if not 0 <= const < target.count:
                    raise self.error(f"index {const} is outside {target.c_name()}", node)
                return self.b.index(base, const)
            return self.b.index(base, self.scalar(index_node))
        # p[i] on a pointer: element i of what it points to
        index = self.b.const(t.S64, const) if const is not None else self.scalar(index_node)
        return self.b.binop("+", base, index)

    def expr_Attribute(self, node: ast.Attribute) -> Value:
        if self._is_context(node.value):
            return self._context_field(node.attr, node)
        try:
            static = self.static_value(node)
        except CompileError:
            static = _NOTHING
        if static is not _NOTHING:
            if isinstance(static, CInt):
                return self.b.const(static.ctype, int(static))
            if isinstance(static, int) and not isinstance(static, bool):
                return self.b.const(literal_type(int(static)), int(static))
        # a.b.c as one path: from a kernel struct on, core_read walks embedded
        # structs by offset (task.se.vruntime reads 8 bytes, not the whole se)
        names = [node.attr]
        inner = node.value
        while isinstance(inner, ast.Attribute) and not self._is_context(inner.value) \
                and self._static_or_nothing(inner) is _NOTHING:
            names.append(inner.attr)
            inner = inner.value
        names.reverse()
        base = self.expr(inner)
        for i, name in enumerate(names):
            if isinstance(base.ctype, t.PointerType) and isinstance(base.ctype.target,
                                                                    t.KernelStruct):
                return self.b.core_read(base, names[i:])
            base = self._read(self._field_pointer(base, name, node))
        return base

    def _static_or_nothing(self, node: ast.expr) -> Any:
        try:
            return self.static_value(node)
        except CompileError:
            return _NOTHING

    def _read(self, ptr: Value) -> Value:
        target = ptr.ctype.target  # type: ignore[union-attr]
        if isinstance(target, (t.StructType, t.ArrayType, t.KernelStruct)):
            return ptr
        return self.b.load(ptr)

    def _context_field(self, name: str, node: ast.AST) -> Value:
        ctx = self.context
        assert ctx is not None
        if ctx.record is None:
            raise self.error(f"this program's context has no field {name!r}", node)
        if ctx.kind == "packet" and name in ("data", "data_end", "data_meta"):
            return self.b.packet_pointer(ctx.value, ctx.record, name)
        if ctx.kind == "pt_regs":
            raise self.error(f"read kprobe arguments with ctx.arg(n), not ctx.{name}", node)
        if name not in ctx.record.fields:
            raise self.error(f"the context ({ctx.record.name}) has no field {name!r} "
                             f"(fields: {', '.join(ctx.record.fields)})", node)
        return self.b.context_field(ctx.value, ctx.record, name)

    def expr_Subscript(self, node: ast.Subscript) -> Value:
        m = self._map_of(node.value)
        if m is not None:
            return self._map_read(m, node.slice)
        try:
            static = self.static_value(node)
        except CompileError:
            static = _NOTHING
        if isinstance(static, d.LangType):
            raise self.error(f"{ast.unparse(node)} is a type, not a value", node)
        base = self.expr(node.value)
        return self._read(self._element_pointer(base, node.slice, node))

    # -- maps ----------------------------------------------------------------------------------
    def _map_of(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id not in self.vars and node.id in self.owner.maps:
            return self.owner.map_decls[node.id]
        if isinstance(node, ast.Name) and node.id in self.vars:
            var = self.vars[node.id]
            if var.kind == "slot" and isinstance(var.ctype, _MapHandle):
                return _InnerMap(var.ctype.decl, self.b.load(var.value).ir)
        return None

    def _key_pointer(self, m: bk.MapDecl, key_node: ast.expr) -> Value:
        if m.key is None:
            raise self.error(f"map {m.name!r} ({m.kind}) has no keys", key_node)
        v = self.expr(key_node)
        return self._in_memory(v, m.key, key_node)

    def _value_pointer(self, m: bk.MapDecl, v: Value, node: ast.AST) -> Value:
        if m.value is None:
            raise self.error(f"map {m.name!r} ({m.kind}) has no values", node)
        return self._in_memory(v, m.value, node)

    def _in_memory(self, v: Value, ctype: t.CType, node: ast.AST) -> Value:
        """``v`` as a pointer to a ``ctype`` (a stack copy for scalars)."""
        if isinstance(ctype, (t.StructType, t.ArrayType)):
            if not isinstance(v.ctype, t.PointerType) or v.ctype.target != ctype:
                raise self.error(f"expected a {ctype.c_name()}, got {v.ctype!r}", node)
            return v
        slot = self.b.local(ctype, "tmp")
        self.b.store(slot, self.convert(v, ctype, node))
        return slot

    def _map_read(self, m: bk.MapDecl, key_node: ast.expr) -> Value:
        if m.kind in ("ringbuf", "perf_event_array", "prog_array", "queue", "stack"):
            raise self.error(f"a {m.kind} map cannot be read by key", key_node)
        key = self._key_pointer(m, key_node)
        found = self.b.map_lookup(m, key)
        assert m.value is not None
        if isinstance(m.value, (t.StructType, t.ArrayType)):
            return found             # a pointer: None when absent
        result = self.b.local(m.value, "value")
        self.b.store(result, self.b.const(m.value, 0) if isinstance(m.value, t.IntType)
                     else self.b.null())
        with self.b.if_then(self.b.is_null(found, negate=True)):
            self.b.store(result, self.b.load(found))
        return self.b.load(result)

    def _map_method(self, m: bk.MapDecl, method: str, call: ast.Call) -> Value:
        args = call.args
        b = self.b

        def need(n: int) -> None:
            if len(args) != n or call.keywords:
                raise self.error(f"{m.name}.{method}() takes {n} argument(s)", call)

        if method in ("get", "lookup"):
            need(1)
            found = b.map_lookup(m, self._key_pointer(m, args[0]))
            if m.kind in ("array_of_maps", "hash_of_maps"):
                assert m.inner is not None          # a pointer to an inner map, or None
                return Value(found.ir, _MapHandle(m.inner))
            return found
        if method == "setdefault":
            need(1)
            return b.map_lookup_or_init(m, self._key_pointer(m, args[0]))
        if method == "update":
            flags = 0
            if len(args) == 3:
                flags = self.constant_value(args[2])
                if flags is None:
                    raise self.error("update()'s flags must be a constant", call)
            elif len(args) != 2:
                raise self.error(f"{m.name}.update(key, value[, flags])", call)
            return b.map_update(m, self._key_pointer(m, args[0]),
                                self._value_pointer(m, self.expr(args[1]), call), flags)
        if method == "delete":
            need(1)
            return b.map_delete(m, self._key_pointer(m, args[0]))
        if method == "output":
            if m.kind == "ringbuf":
                need(1)
                v = self.expr(args[0])
                if not isinstance(v.ctype, t.PointerType):
                    v = self._in_memory(v, v.ctype, call)
                self._record_type(m, v.ctype.target, call)  # type: ignore[union-attr]
                return b.ringbuf_output(m, v)
            if m.kind == "perf_event_array":
                need(2)
                v = self.expr(args[1])
                if not isinstance(v.ctype, t.PointerType):
                    v = self._in_memory(v, v.ctype, call)
                self._record_type(m, v.ctype.target, call)  # type: ignore[union-attr]
                return b.perf_output(self._argument(args[0]), m, v)
        if method == "reserve" and m.kind == "ringbuf":
            need(1)
            ctype = self.owner.resolve_type(args[0])
            self._record_type(m, ctype, call)
            p = b.ringbuf_reserve(m, ctype)
            with b.if_then(b.is_null(p)):
                self._return_nothing()
            return p
        if method == "try_reserve" and m.kind == "ringbuf":
            need(1)
            ctype = self.owner.resolve_type(args[0])
            self._record_type(m, ctype, call)
            return b.ringbuf_reserve(m, ctype)          # None when the ring is full
        if method in ("submit", "discard") and m.kind == "ringbuf":
            need(1)
            v = self.expr(args[0])
            (b.ringbuf_submit if method == "submit" else b.ringbuf_discard)(v)
            return b.const(t.S32, 0)
        if method == "tail_call" and m.kind == "prog_array":
            need(2)
            b.tail_call(self.expr(args[0]), m, self.b.cast(self.scalar(args[1]), t.U32))
            return b.const(t.S32, 0)
        if method == "push" and m.kind in ("queue", "stack"):
            need(1)
            return b.call_helper("map_push_elem", b.map_pointer(m),
                                 self._value_pointer(m, self.expr(args[0]), call),
                                 b.const(t.U64, 0))
        if method in ("pop", "peek") and m.kind in ("queue", "stack"):
            need(0)
            assert m.value is not None
            slot = b.local(m.value, "popped", zero=True)
            b.call_helper(f"map_{method}_elem", b.map_pointer(m), slot)
            return self._read(slot)
        if method == "get_stackid" and m.kind == "stack_trace":
            flags = 0
            if len(args) == 2:
                flags = self.constant_value(args[1])
                if flags is None:
                    raise self.error("get_stackid()'s flags must be a constant", call)
            return b.call_helper("get_stackid", self.expr(args[0]), b.map_pointer(m),
                                 b.const(t.U64, flags))
        raise self.error(f"a {m.kind} map has no method {method!r}", call)

    def _record_type(self, m: bk.MapDecl, ctype: Any, node: ast.AST) -> None:
        """Remember what records ``m`` carries (user space decodes them so)."""
        known = self.owner.record_types.setdefault(m.name, ctype)
        if known is not ctype and known != ctype:
            raise self.error(f"{m.name} carries {known!r} elsewhere, not {ctype!r}: one record "
                             "type per buffer", node)

    def _return_nothing(self) -> None:
        ret = self.fn.ret
        self.b.ret(None if isinstance(ret, t.VoidType) else self.b.const(t.S32, 0))

    # -- calls ---------------------------------------------------------------------------------
    def expr_Call(self, node: ast.Call) -> Value:
        func = node.func
        if isinstance(func, ast.Attribute):
            m = self._map_of(func.value)
            if m is not None:
                return self._map_method(m, func.attr, node)
            if self._is_context(func.value):
                return self._context_method(func.attr, node)
        if isinstance(func, ast.Name) and func.id not in self.vars:
            name = func.id
            if name.startswith("bpf_"):
                return self._helper(name, node)
            value = self.owner.namespace.get(name, _NOTHING)
            if name in self.owner.defs and (value is _NOTHING or callable(value)):
                return self._call_function(name, node)
            builtin = getattr(self, f"builtin_{name}", None)
            if builtin is not None and (value is _NOTHING or (not isinstance(value, d.LangType)
                                        and not isinstance(value, type))):
                return builtin(node)
        try:
            target = self.static_value(func)
        except CompileError:
            target = _NOTHING
        if isinstance(target, Helper):
            return self._helper(target.name, node)
        if isinstance(target, d.LangType):
            return self._construct_or_cast(target.ctype, node)
        if isinstance(target, type) and issubclass(target, d.Struct):
            return self._construct(d.ctype_of(target), node)
        if target is int:
            return self._cast_call(t.S64, node)
        if target is bool:
            if len(node.args) != 1:
                raise self.error("bool() takes one argument", node)
            return self.b.bool_value(self.condition(node.args[0]))
        raise self.error(f"{ast.unparse(func)}() cannot be called in an eBPF program "
                         "(functions of this file, bpf_* helpers, casts and records can)", node)

    def _helper(self, name: str, node: ast.Call) -> Value:
        if node.keywords:
            raise self.error("helpers take positional arguments only", node)
        args = [self._argument(a) for a in node.args]
        return self.b.call_helper(name, *args)

    def _argument(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name) and node.id in self.owner.maps:
            return self.b.map_pointer(self.owner.map_decls[node.id])
        if isinstance(node, ast.Name) and node.id not in self.vars and \
                node.id in self.owner.defs and node.id not in self.owner.programs:
            # a function of the file as a callback (bpf_loop, bpf_for_each_map_elem...)
            callee = self.owner.function_for(node.id, node)
            self.owner.calls.setdefault(self.fn.name, []).append((node.id, node))
            return Value(callee.ir, t.VOID_PTR)
        if isinstance(node, ast.Name) and self._is_context(node):
            assert self.context is not None
            return self.context.value
        return self.expr(node)

    def _call_function(self, name: str, node: ast.Call) -> Value:
        if node.keywords:
            raise self.error("keyword arguments are not allowed in calls", node)
        callee = self.owner.function_for(name, node)
        self.owner.calls.setdefault(self.fn.name, []).append((name, node))
        args = [self._argument(a) for a in node.args]
        return self.b.call(callee, *args)

    def _construct_or_cast(self, ctype: t.CType, node: ast.Call) -> Value:
        if isinstance(ctype, (t.StructType, t.ArrayType)):
            return self._construct(ctype, node)
        return self._cast_call(ctype, node)

    def _cast_call(self, ctype: t.CType, node: ast.Call) -> Value:
        if len(node.args) != 1 or node.keywords:
            raise self.error(f"{ctype.name}(x) converts one value", node)
        return self.convert(self.scalar(node.args[0]), ctype, node)

    def _construct(self, ctype: t.CType, node: ast.Call) -> Value:
        if node.args:
            raise self.error(f"{ctype.c_name()}(...) takes field values by keyword only", node)
        slot = self.b.local(ctype, ctype.name, zero=True)
        for kw in node.keywords:
            if kw.arg is None or not isinstance(ctype, t.StructType):
                raise self.error("only records take field values", node)
            self._store(self.b.field(slot, kw.arg), self.expr(kw.value), kw)
        return slot

    def _context_method(self, name: str, node: ast.Call) -> Value:
        ctx = self.context
        assert ctx is not None
        if ctx.kind == "pt_regs" and ctx.record is not None:
            if name == "arg":
                n = self.constant_value(node.args[0]) if len(node.args) == 1 else None
                if n is None or not 0 <= n < len(PT_REGS_ARGS):
                    raise self.error(f"ctx.arg(n) takes a constant n from 0 to "
                                     f"{len(PT_REGS_ARGS) - 1}", node)
                return self.b.context_field(ctx.value, ctx.record, PT_REGS_ARGS[n])
            if name == "ret":
                return self.b.context_field(ctx.value, ctx.record, "ax")
        if ctx.kind == "args" and name == "arg":
            # tp_btf, fentry, raw tracepoints: the context is an array of u64 arguments
            n = self.constant_value(node.args[0]) if len(node.args) == 1 else None
            if n is None or not 0 <= n < 12:
                raise self.error("ctx.arg(n) takes a constant n from 0 to 11", node)
            slot = self.b.binop("+", Value(ctx.value.ir, t.PointerType(t.U64)),
                                self.b.const(t.S64, n))
            return self.b.load(slot)
        raise self.error(f"the context has no method {name!r}", node)

    # builtins -------------------------------------------------------------------------
    def builtin_sizeof(self, node: ast.Call) -> Value:
        if len(node.args) != 1:
            raise self.error("sizeof() takes one type or value", node)
        arg = node.args[0]
        try:
            value = self.static_value(arg)
            ctype = d.ctype_of(value)
        except CompileError:
            v = self.expr(arg)
            ctype = v.ctype.target if isinstance(v.ctype, t.PointerType) and isinstance(
                v.ctype.target, (t.StructType, t.ArrayType)) else v.ctype  # type: ignore
        return self.b.const(t.U64, ctype.size)

    def builtin_len(self, node: ast.Call) -> Value:
        if len(node.args) != 1:
            raise self.error("len() takes one array", node)
        v = self.expr(node.args[0])
        if isinstance(v.ctype, t.PointerType) and isinstance(v.ctype.target, t.ArrayType):
            return self.b.const(t.U64, v.ctype.target.count)
        raise self.error("len() needs a fixed-size array", node)

    def _swap(self, node: ast.Call, ctype: t.IntType) -> Value:
        if len(node.args) != 1:
            raise self.error("byte-order conversions take one value", node)
        v = self.b.cast(self.scalar(node.args[0]), ctype)
        bswap = self.owner.module.ir.declare_intrinsic("llvm.bswap", [ctype.ir_type()])
        return Value(self.b.ir.call(bswap, [v.ir]), ctype)

    def builtin_ntohs(self, node: ast.Call) -> Value:
        return self._swap(node, t.U16)

    builtin_htons = builtin_ntohs

    def builtin_ntohl(self, node: ast.Call) -> Value:
        return self._swap(node, t.U32)

    builtin_htonl = builtin_ntohl

    def builtin_current_task(self, node: ast.Call) -> Value:
        if node.args:
            raise self.error("current_task() takes no arguments", node)
        task = self.b.call_helper("get_current_task")
        return self.b.cast(task, t.PointerType(t.kernel_struct("task_struct")))

    def builtin_trace_printk(self, node: ast.Call) -> Value:
        if not node.args or not isinstance(node.args[0], ast.Constant) or \
                not isinstance(node.args[0].value, (str, bytes)):
            raise self.error("trace_printk() takes a constant format string first", node)
        return self.b.trace_printk(node.args[0].value, *[self.scalar(a) for a in node.args[1:]])

    def builtin_min(self, node: ast.Call) -> Value:
        return self._minmax(node, "<")

    def builtin_max(self, node: ast.Call) -> Value:
        return self._minmax(node, ">")

    def _minmax(self, node: ast.Call, op: str) -> Value:
        if len(node.args) != 2:
            raise self.error("min()/max() take two values", node)
        a, b = self.scalar(node.args[0]), self.scalar(node.args[1])
        ctype = bk.common_type(a.ctype, b.ctype)
        a, b = self.b.cast(a, ctype), self.b.cast(b, ctype)
        pick = self.b.truth(self.b.compare(op, a, b))
        return Value(self.b.ir.select(pick, a.ir, b.ir), ctype)

    def builtin_abs(self, node: ast.Call) -> Value:
        if len(node.args) != 1:
            raise self.error("abs() takes one value", node)
        v = self.scalar(node.args[0])
        ctype = bk.common_type(v.ctype, v.ctype)
        v = self.b.cast(v, ctype)
        neg = self.b.truth(self.b.compare("<", v, self.b.const(ctype, 0)))
        return Value(self.b.ir.select(neg, self.b.neg(v).ir, v.ir), ctype)


_NOTHING = object()


class _Loaded(ast.expr):
    """An expression node standing for a value already on the stack."""

    def __init__(self, slot: Value):
        super().__init__()
        self.slot = slot


def _walk_loop(stmts: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of a loop body, not descending into nested loops."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(stmts)
    while todo:
        n = todo.pop()
        out.append(n)
        if isinstance(n, (ast.For, ast.While, ast.FunctionDef)):
            continue
        todo.extend(ast.iter_child_nodes(n))
    return out


def _describe(node: ast.AST) -> str:
    names = {"Lambda": "lambda", "Try": "try statement", "With": "with statement",
             "Raise": "raise statement", "ClassDef": "class definition",
             "FunctionDef": "nested function", "Import": "import", "ImportFrom": "import",
             "Await": "await", "Yield": "yield", "Assert": "assert statement",
             "JoinedStr": "f-string", "GeneratorExp": "generator", "Starred": "*argument",
             "Tuple": "tuple", "Slice": "slice", "NamedExpr": ":= assignment",
             "AsyncFunctionDef": "async function", "Match": "match statement",
             "Nonlocal": "nonlocal statement"}
    return names.get(type(node).__name__, type(node).__name__)


def _op_text(op: ast.AST) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@", ast.Is: "is", ast.IsNot: "is not",
            ast.In: "in", ast.NotIn: "not in"}.get(type(op), type(op).__name__)


__all__ = ["Compilation", "compile_file", "compile_module", "load_module"]
