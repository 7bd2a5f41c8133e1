"""What a program file declares, as Python objects: integer types, records,
maps, globals and knobs, and the decorators that make functions programs.

These objects live in the user's module when it runs in CPython (the
user-space half uses them to read maps and events back), and the compiler
(:mod:`pybpf.lang.compiler`) reads the same objects to generate code::

    from pybpf.lang import Struct, HashMap, RingBuf, Knob, u32, u64, char, tracepoint

    class Event(Struct):
        pid: u32
        comm: char[16]

    counts = HashMap[u32, u64](max_entries=10240)
    events = RingBuf(max_entries=1 << 16)
    target_pid = Knob(u32, 0)            # const volatile: set before loading

    @tracepoint("sched/sched_process_exit")
    def on_exit(ctx) -> int: ...
"""

from __future__ import annotations

import functools
from typing import Any

from . import types as t
from .cint import CInt
from .errors import CompileError


class LangType:
    """A type as a program file spells it (``u32``, ``char[16]``,
    ``ptr[Event]``, an Event class): ``ctype`` is the code generator's."""

    def __init__(self, ctype: t.CType):
        self.ctype = ctype

    def __getitem__(self, count: int) -> LangType:
        if not isinstance(count, int) or count < 0:
            raise CompileError(f"{self.ctype.name}[{count!r}]: an array needs a constant size")
        return LangType(t.ArrayType(self.ctype, count))

    def __repr__(self) -> str:
        return self.ctype.name


class IntLangType(LangType):
    """An integer type: ``u32(x)`` converts as C does, in CPython too
    (a :class:`~pybpf.lang.cint.CInt`)."""

    ctype: t.IntType

    def __call__(self, value: Any = 0) -> CInt:
        return CInt(int(value), self.ctype)


u8 = IntLangType(t.U8)
u16 = IntLangType(t.U16)
u32 = IntLangType(t.U32)
u64 = IntLangType(t.U64)
s8 = IntLangType(t.S8)
s16 = IntLangType(t.S16)
s32 = IntLangType(t.S32)
s64 = IntLangType(t.S64)
char = IntLangType(t.CHAR)
bool_ = IntLangType(t.BOOL)


class _PtrFactory:
    """``ptr[T]``: the type of a pointer to T; ``ptr[T](x)`` in a program
    converts ``x`` (a packet or kernel address) to one."""

    def __getitem__(self, target: Any) -> LangType:
        return LangType(t.PointerType(ctype_of(target)))


ptr = _PtrFactory()


class _Kernel:
    """``kernel.task_struct``: a struct of the running kernel (vmlinux BTF),
    read through CO-RE."""

    def __getattr__(self, name: str) -> LangType:
        if name.startswith("__"):
            raise AttributeError(name)
        return _KernelLangType(name)


class _KernelLangType(LangType):
    def __init__(self, name: str):
        self.name = name

    @property
    def ctype(self) -> t.CType:  # type: ignore[override]
        return t.kernel_struct(self.name)

    def __repr__(self) -> str:
        return f"kernel.{self.name}"


kernel = _Kernel()


def _context(name: str) -> LangType:
    from .backend import context_record

    return LangType(context_record(name))


class _Contexts:
    """The uapi's program contexts as records (``SkBuff``, ``XdpMd``,
    ``PtRegs``), for typing a subprogram's ``ctx`` parameter:
    ``def parse(skb: ptr[SkBuff])``."""

    NAMES = {"SkBuff": "__sk_buff", "XdpMd": "xdp_md", "PtRegs": "pt_regs",
             "BpfSockAddr": "bpf_sock_addr", "BpfSockOps": "bpf_sock_ops"}


def __getattr__(name: str) -> Any:
    if name in _Contexts.NAMES:
        return _context(_Contexts.NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Struct:
    """Base of record types: ``class Event(Struct): pid: u32; comm: char[16]``.

    Fields are laid out as C lays them out.  In CPython, ``Event.decode(data)``
    reads one from bytes (the user-space half) and instances have the fields
    as attributes (``bytes`` for char arrays, stopped at the first NUL)."""

    __ctype__: t.StructType

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        import inspect
        import sys

        fields = []
        module = sys.modules.get(cls.__module__)
        annotations = inspect.get_annotations(
            cls, eval_str=True, globals=vars(module) if module else None)
        for name, ann in annotations.items():
            fields.append((name, ctype_of(ann)))
        cls.__ctype__ = t.StructType(cls.__name__, fields)

    def __init__(self, **values: Any):
        for name in self.__ctype__.fields:
            setattr(self, name, values.get(name, 0))

    @classmethod
    def size(cls) -> int:
        """``sizeof`` the record."""
        return cls.__ctype__.size

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Any:
        """A record from its bytes (little-endian, as the program wrote it)."""
        obj = cls.__new__(cls)
        data = bytes(data)
        for f in cls.__ctype__.fields.values():
            setattr(obj, f.name, decode_value(f.ctype, data[f.offset:f.offset + f.ctype.size]))
        return obj

    def encode(self) -> bytes:
        """The record's bytes."""
        out = bytearray(self.__ctype__.size)
        for f in self.__ctype__.fields.values():
            out[f.offset:f.offset + f.ctype.size] = encode_value(f.ctype, getattr(self, f.name))
        return bytes(out)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n, None)!r}" for n in self.__ctype__.fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n in self.__ctype__.fields)

    __hash__ = None  # type: ignore[assignment]


def decode_value(ctype: t.CType, data: bytes) -> Any:
    """A Python value from the bytes of a ``ctype``."""
    if isinstance(ctype, t.IntType):
        return int.from_bytes(data, "little", signed=ctype.signed)
    if isinstance(ctype, t.PointerType):
        return int.from_bytes(data, "little")
    if isinstance(ctype, t.ArrayType):
        if ctype.elem in (t.CHAR, t.U8) and ctype.elem.name == "char":
            return data.split(b"\0", 1)[0]
        n = ctype.elem.size
        return [decode_value(ctype.elem, data[i * n:(i + 1) * n]) for i in range(ctype.count)]
    if isinstance(ctype, t.StructType):
        cls = _RECORD_CLASSES.get(id(ctype))
        if cls is not None:
            return cls.decode(data)
        return {f.name: decode_value(f.ctype, data[f.offset:f.offset + f.ctype.size])
                for f in ctype.fields.values()}
    return data


def encode_value(ctype: t.CType, value: Any) -> bytes:
    """The bytes of ``value`` as a ``ctype``."""
    if isinstance(ctype, t.IntType):
        return (int(value) & ((1 << ctype.bits) - 1)).to_bytes(ctype.size, "little")
    if isinstance(ctype, t.PointerType):
        return int(value).to_bytes(8, "little")
    if isinstance(ctype, t.ArrayType):
        if isinstance(value, (bytes, bytearray, str)):
            data = value.encode() if isinstance(value, str) else bytes(value)
            return data[:ctype.size].ljust(ctype.size, b"\0")
        return b"".join(encode_value(ctype.elem, v) for v in value).ljust(ctype.size, b"\0")
    if isinstance(ctype, t.StructType):
        if isinstance(value, Struct):
            return value.encode()
        out = bytearray(ctype.size)
        for f in ctype.fields.values():
            out[f.offset:f.offset + f.ctype.size] = encode_value(f.ctype, value.get(f.name, 0))
        return bytes(out)
    raise CompileError(f"cannot encode a {ctype!r}")


_RECORD_CLASSES: dict[int, type] = {}


def ctype_of(ann: Any) -> t.CType:
    """The code generator's type for what a program file writes as a type."""
    if isinstance(ann, LangType):
        return ann.ctype
    if isinstance(ann, type) and issubclass(ann, Struct) and ann is not Struct:
        _RECORD_CLASSES[id(ann.__ctype__)] = ann
        return ann.__ctype__
    if ann is bool:
        return t.BOOL
    if ann is int:
        return t.S64
    if isinstance(ann, t.CType):
        return ann
    if isinstance(ann, type) and ann.__name__ in ("list", "dict", "set", "tuple"):
        raise CompileError(f"a Python {ann.__name__} cannot live in an eBPF program; "
                           "use a map (Array, HashMap) or a Struct")
    raise CompileError(f"{ann!r} is not a type a program can use "
                       "(u8..u64, s8..s64, char[N], a Struct, ptr[T], kernel.NAME)")


# -- maps ---------------------------------------------------------------------


class MapDef:
    """A map declared in a program file.  ``name`` is filled from the
    module global it is assigned to.  Once the file is loaded
    (:func:`pybpf.lang.load`), ``bound`` is the backend's map and the
    declaration reads it with typed keys and values."""

    kind = "hash"
    has_key = True
    has_value = True

    def __init__(self, key: Any = None, value: Any = None, *, max_entries: int = 1,
                 flags: int = 0, inner: MapDef | None = None, pinned: bool = False,
                 values: Any = None):
        self.key = ctype_of(key) if key is not None else None
        self.value = ctype_of(value) if value is not None else None
        self.max_entries = max_entries
        self.flags = flags
        self.inner = inner
        self.pinned = pinned
        self.values = self._initial_values(values)
        self.name: str | None = None
        self.bound: Any = None

    def _initial_values(self, values: Any) -> dict[int, Any]:
        """``values=`` as ``{slot: map}`` (maps of maps) or ``{slot: program}``
        (program arrays); a list gives slots 0, 1, ..."""
        if values is None:
            return {}
        wanted: Any = {"array_of_maps": MapDef, "hash_of_maps": MapDef,
                       "prog_array": ProgramDef}.get(self.kind)
        if wanted is None:
            raise CompileError(f"a {type(self).__name__} takes no values= (maps of maps "
                               "and program arrays do)")
        items = values.items() if isinstance(values, dict) else enumerate(values)
        out: dict[int, Any] = {}
        for index, m in items:
            if not isinstance(index, int) or isinstance(index, bool) or \
                    not 0 <= index < self.max_entries:
                raise CompileError(f"values: key {index!r} is not an index below "
                                   f"max_entries ({self.max_entries})")
            if not isinstance(m, wanted):
                what = "map" if wanted is MapDef else "program"
                raise CompileError(f"values[{index}] is a {type(m).__name__}, not a {what} "
                                   "declared in the file")
            out[index] = m
        return out

    def __class_getitem__(cls, params: Any) -> Any:
        if not isinstance(params, tuple):
            params = (params,)
        return functools.partial(cls, *params)

    # -- the user-space side ---------------------------------------------------
    def _map(self) -> Any:
        if self.bound is None:
            raise RuntimeError(f"map {self.name!r} is not loaded: use pybpf.lang.load() first")
        return self.bound

    def _key(self, key: Any) -> bytes:
        assert self.key is not None
        return encode_value(self.key, key)

    def _value(self, data: Any) -> Any:
        if isinstance(data, list):      # per-CPU values
            return [self._value(d) for d in data]
        if isinstance(data, (bytes, bytearray, memoryview)) and self.value is not None:
            return decode_value(self.value, bytes(data))
        return data

    def __getitem__(self, key: Any) -> Any:
        return self._value(self._map().raw[self._key(key)])

    def get(self, key: Any, default: Any = None) -> Any:
        """The value at ``key`` (per-CPU maps: one per CPU), or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        assert self.value is not None
        self._map().raw[self._key(key)] = encode_value(self.value, value)

    def __delitem__(self, key: Any) -> None:
        del self._map().raw[self._key(key)]

    def items(self) -> list[tuple[Any, Any]]:
        """Every ``(key, value)``, decoded."""
        assert self.key is not None
        return [(decode_value(self.key, bytes(k)), self._value(v))
                for k, v in self._map().raw.items()]

    def keys(self) -> list[Any]:
        """Every key, decoded."""
        return [k for k, _ in self.items()]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, key={self.key}, value={self.value})"


class HashMap(MapDef):
    """``HashMap[K, V](max_entries=N)``."""

    kind = "hash"


class Array(MapDef):
    """``Array[u32, V](max_entries=N)`` (the key type may be left out)."""

    kind = "array"

    def __init__(self, key: Any = None, value: Any = None, **kw: Any):
        if value is None:
            key, value = u32, key
        super().__init__(key, value, **kw)


class PerCPUHash(HashMap):
    """A hash map with one value per CPU."""

    kind = "percpu_hash"


class PerCPUArray(Array):
    """An array with one value per CPU."""

    kind = "percpu_array"


class LruHash(HashMap):
    """A hash map that evicts the least recently used entry when full."""

    kind = "lru_hash"


class LruPerCPUHash(HashMap):
    """An LRU hash map with one value per CPU."""

    kind = "lru_percpu_hash"


class LpmTrie(HashMap):
    """A longest-prefix-match trie (the key starts with a ``u32`` prefix length)."""

    kind = "lpm_trie"


class RingBuf(MapDef):
    """``RingBuf(max_entries=BYTES)``: ``events.output(e)``,
    ``e = events.reserve(Event)`` in programs."""

    kind = "ringbuf"
    has_key = has_value = False


class PerfEventArray(MapDef):
    """A perf buffer per CPU: ``events.output(ctx, e)`` in programs."""

    kind = "perf_event_array"
    has_key = has_value = False


class StackTrace(MapDef):
    """Stack ids to arrays of addresses (``value``: ``u64[PERF_MAX_STACK_DEPTH]``
    by default)."""

    kind = "stack_trace"
    has_key = False

    def __init__(self, value: Any = None, **kw: Any):
        from ..spec.defines import PERF_MAX_STACK_DEPTH

        super().__init__(None, value if value is not None else u64[PERF_MAX_STACK_DEPTH], **kw)


class ProgArray(MapDef):
    """Programs for tail calls: ``progs.tail_call(ctx, index)``.
    ``ProgArray(max_entries=4, values={0: parse_ipv4})`` (programs of the
    file, declared above it) fills slots when the file is loaded."""

    kind = "prog_array"
    has_key = has_value = False


class Queue(MapDef):
    """A FIFO of values: ``q.push(v)``, ``v = q.pop()``."""

    kind = "queue"
    has_key = False

    def __init__(self, value: Any = None, **kw: Any):
        super().__init__(None, value, **kw)


class Stack(Queue):
    """A LIFO of values."""

    kind = "stack"


class ArrayOfMaps(MapDef):
    """An array whose values are maps like ``inner``:
    ``ArrayOfMaps(u32, max_entries=4, inner=a, values={0: a, 1: b})`` (or
    ``values=[a, b]``) puts maps ``a`` and ``b`` of the file in slots 0 and
    1 when the file is loaded."""

    kind = "array_of_maps"


class HashOfMaps(MapDef):
    """A hash whose values are maps like ``inner`` (``values={key: map}``
    fills it at load, as for :class:`ArrayOfMaps`)."""

    kind = "hash_of_maps"


MAP_CLASSES = (HashMap, Array, PerCPUHash, PerCPUArray, LruHash, LruPerCPUHash, LpmTrie,
               RingBuf, PerfEventArray, StackTrace, ProgArray, Queue, Stack, ArrayOfMaps,
               HashOfMaps)


# -- globals ------------------------------------------------------------------------


class Global:
    """A global variable (``.bss``, or ``.data`` when ``init`` is not zero).
    Programs read and assign it by name; user space reads it after loading
    with ``value`` (on the loaded collection)."""

    const = False

    def __init__(self, ctype: Any, init: Any = 0):
        self.ctype = ctype_of(ctype)
        self.init = init
        self.name: str | None = None
        self.bound: Any = None

    @property
    def value(self) -> Any:
        """The loaded global's current value (after :func:`pybpf.lang.load`)."""
        if self.bound is None:
            raise RuntimeError(f"global {self.name!r} is not loaded")
        return self.bound()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.ctype})"


class Knob(Global):
    """A ``const volatile`` global in ``.rodata``: programs only read it; set
    it before loading (``pybpf.lang.load(module, knobs={...})``)."""

    const = True


# -- programs ------------------------------------------------------------------------


class ProgramDef:
    """A function that is a program: its section and the Python function."""

    def __init__(self, func: Any, section: str):
        self.func = func
        self.section = section
        self.name = func.__name__
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<program {self.name} SEC({self.section!r})>"


class FunctionDef:
    """A bpf-to-bpf function (``@function``) or one inlined (``@inline``)."""

    def __init__(self, func: Any, inline: bool):
        self.func = func
        self.inline = inline
        self.name = func.__name__
        functools.update_wrapper(self, func)
        self._conversions: tuple[list[Any], Any] | None = None

    def __call__(self, *args: Any) -> Any:
        """Run in CPython as the program would: integer arguments and the
        result converted to the annotated types (C's conversions)."""
        if self._conversions is None:
            import inspect

            ann = inspect.get_annotations(self.func, eval_str=True)
            params = [ann.get(p) for p in inspect.signature(self.func).parameters]
            self._conversions = (params, ann.get("return"))
        params, ret = self._conversions
        args = tuple(p(a) if isinstance(p, IntLangType) else a for p, a in zip(params, args))
        result = self.func(*args)
        return ret(result) if isinstance(ret, IntLangType) else result


def program(section: str) -> Any:
    """``@program("tp/sched/sched_process_exit")``: a program in that section."""
    def wrap(func: Any) -> ProgramDef:
        return ProgramDef(func, section)
    return wrap


def _section_decorator(prefix: str, doc: str) -> Any:
    def decorator(target: Any = None) -> Any:
        if callable(target):
            return ProgramDef(target, prefix)
        section = f"{prefix}/{target}" if target else prefix
        return program(section)
    decorator.__doc__ = doc
    decorator.__name__ = prefix.replace(".", "_")
    return decorator


xdp = _section_decorator("xdp", "``@xdp``: an XDP program (context ``xdp_md``).")
tc = _section_decorator("tc", "``@tc``: a tc classifier (context ``__sk_buff``).")
socket_filter = _section_decorator("socket", "``@socket_filter``: a socket filter.")
tracepoint = _section_decorator("tracepoint", "``@tracepoint(\"sched/sched_process_exit\")``.")
raw_tracepoint = _section_decorator("raw_tp", "``@raw_tracepoint(\"sched_switch\")``.")
kprobe = _section_decorator("kprobe", "``@kprobe(\"do_unlinkat\")``.")
kretprobe = _section_decorator("kretprobe", "``@kretprobe(\"do_unlinkat\")``.")
uprobe = _section_decorator("uprobe", "``@uprobe(\"/bin/bash:readline\")``.")
uretprobe = _section_decorator("uretprobe", "``@uretprobe(\"/bin/bash:readline\")``.")
tp_btf = _section_decorator("tp_btf", "``@tp_btf(\"sched_switch\")``.")
cgroup_skb = _section_decorator("cgroup_skb", "``@cgroup_skb(\"ingress\")``.")


def function(func: Any) -> FunctionDef:
    """``@function``: a bpf-to-bpf subprogram (not inlined)."""
    return FunctionDef(func, inline=False)


def inline(func: Any) -> FunctionDef:
    """``@inline``: a function whose body is copied into each caller."""
    return FunctionDef(func, inline=True)


__all__ = [
    "MAP_CLASSES", "Array", "ArrayOfMaps", "FunctionDef", "Global", "HashMap", "HashOfMaps",
    "IntLangType", "Knob", "LangType", "LpmTrie", "LruHash", "LruPerCPUHash", "MapDef",
    "PerCPUArray", "PerCPUHash", "PerfEventArray", "ProgArray", "ProgramDef", "Queue", "RingBuf",
    "Stack", "StackTrace", "Struct", "bool_", "cgroup_skb", "char", "ctype_of", "decode_value",
    "encode_value", "function", "inline", "kernel", "kprobe", "kretprobe", "program", "ptr",
    "raw_tracepoint", "s8", "s16", "s32", "s64", "socket_filter", "tc", "tp_btf", "tracepoint",
    "u8", "u16", "u32", "u64", "uprobe", "uretprobe", "xdp",
]
