"""Events programs send to user space, decoded: record types from BTF.

* :class:`RecordType` — how to decode one kind of event: built from BTF
  (``RecordType.from_btf(btf, "struct exit_event")``), compiled into a
  ``struct.Struct`` and a small record class with attribute access
  (``event.pid``, ``event.comm``), serializable as plain data so a cached
  object needs no BTF parsing to decode its events.
* :func:`infer_record_type` — which struct a ring buffer or perf buffer
  carries, from the sizes the programs reserve.
* :func:`record_decoder` — the decoder of a map's records, given or inferred.

Both backends use them: the kernel's ring and perf buffer readers and the
userspace VM's ``Collection.ringbuf()``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable
from typing import Any

from .errors import BPFError

# --- record types --------------------------------------------------------------------

_INT_CODES = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
              (4, False): "I", (4, True): "i", (8, False): "Q", (8, True): "q"}

# field kinds: how the unpacked items become the attribute
K_INT, K_STR, K_BYTES, K_ARRAY, K_BOOL, K_FLOAT = "int", "str", "bytes", "array", "bool", "float"
K_STRS = "strs"


class RecordType:
    """A flat C struct as a decoder: ``fields`` are ``(name, kind, offset,
    code, count)`` rows where ``code`` is a ``struct`` format character and
    ``kind`` one of ``int``, ``bool``, ``float``, ``str`` (a char array,
    cut at the first NUL), ``bytes`` (an unsigned char array), ``array``
    (``count`` numbers, as a tuple) or ``strs`` (``count`` char arrays of
    ``code`` bytes each — ``char argv[8][64]`` — as a tuple of strings).

    ``decode(data)`` returns an instance of :attr:`cls`, a named tuple with
    one attribute per field; data longer than :attr:`size` is fine.
    """

    def __init__(self, name: str, size: int, fields: Iterable[tuple[str, str, int, str, int]]):
        self.name = name
        self.size = size
        self.fields = tuple(tuple(f) for f in fields)
        fmt, pos, self._items = "<", 0, []
        for fname, kind, offset, code, count in self.fields:
            if offset < pos:
                raise BPFError(f"{name}.{fname}: overlapping fields cannot be decoded flat")
            fmt += "x" * (offset - pos)
            if kind in (K_STR, K_BYTES):
                fmt += f"{count}s"
                pos = offset + count
            elif kind == K_STRS:
                fmt += f"{code}s" * count
                pos = offset + int(code) * count
            else:
                n = count if kind == K_ARRAY else 1
                fmt += f"{n}{code}" if n != 1 else code
                pos = offset + n * struct.calcsize("<" + code)
            self._items.append((fname, kind, count))
        if pos > size:
            raise BPFError(f"{name}: fields end at {pos}, past its size {size}")
        self.format = fmt + "x" * (size - pos)
        self.struct = struct.Struct(self.format)
        self._cls: type | None = None
        self._from_tuple: Callable[[tuple], Any] | None = None

    # --- construction ----------------------------------------------------------

    @classmethod
    def from_btf(cls, btf: Any, ref: Any) -> RecordType | None:
        """The record type of BTF type ``ref`` (a name such as ``"exit_event"``
        or ``"struct exit_event"``, an id or a type), or None when it is not
        a flat struct (nested structs, unions, bitfields)."""
        from .btf import Array, Composite, EnumBase, Float, Int, Ptr, Struct

        t = _find_type(btf, ref)
        t = btf.resolve(t) if not isinstance(t, Composite) else t
        if not isinstance(t, Struct):
            return None
        rows = []
        for m in t.members:
            if not m.name or m.bitfield_size or m.bit_offset % 8:
                return None
            mt = btf.resolve(m.type_id)
            off = m.offset
            if isinstance(mt, Int):
                if mt.is_bool and mt.size == 1:
                    rows.append((m.name, K_BOOL, off, "?", 1))
                    continue
                code = _INT_CODES.get((mt.size, bool(mt.is_signed)))
                if code is None:
                    return None
                rows.append((m.name, K_INT, off, code, 1))
            elif isinstance(mt, EnumBase):
                code = _INT_CODES.get((mt.size, bool(getattr(mt, "signed", False))))
                if code is None:
                    return None
                rows.append((m.name, K_INT, off, code, 1))
            elif isinstance(mt, Ptr):
                rows.append((m.name, K_INT, off, "Q", 1))
            elif isinstance(mt, Float):
                rows.append((m.name, K_FLOAT, off, {4: "f", 8: "d"}[mt.size], 1))
            elif isinstance(mt, Array):
                et = btf.resolve(mt.elem_type_id)
                n = mt.nelems
                if isinstance(et, Int) and et.size == 1 and (et.is_char or et.name == "char"):
                    rows.append((m.name, K_STR, off, "s", n))
                elif isinstance(et, Int) and et.size == 1 and not et.is_signed:
                    rows.append((m.name, K_BYTES, off, "s", n))
                elif isinstance(et, Array) and _is_char(btf.resolve(et.elem_type_id)):
                    rows.append((m.name, K_STRS, off, str(et.nelems), n))
                elif isinstance(et, Int | EnumBase):
                    code = _INT_CODES.get((et.size, bool(getattr(et, "is_signed", False) or
                                                         getattr(et, "signed", False))))
                    if code is None:
                        return None
                    rows.append((m.name, K_ARRAY, off, code, n))
                else:
                    return None
            else:
                return None
        return cls(t.name or "anon", btf.size_of(t), rows)

    def to_data(self) -> tuple:
        """Plain data (for caches): ``RecordType.from_data(rt.to_data())``."""
        return (self.name, self.size, self.fields)

    @classmethod
    def from_data(cls, data: tuple) -> RecordType:
        """The inverse of :meth:`to_data`."""
        name, size, fields = data
        return cls(name, size, fields)

    # --- decoding ----------------------------------------------------------------

    @property
    def cls(self) -> type:
        """The record class: a named tuple with one attribute per field."""
        if self._cls is None:
            self._build()
        return self._cls  # type: ignore[return-value]

    @property
    def from_tuple(self) -> Callable[[tuple], Any]:
        """Turn the tuple :attr:`struct` unpacks into a record."""
        if self._from_tuple is None:
            self._build()
        return self._from_tuple  # type: ignore[return-value]

    def _build(self) -> None:
        from collections import namedtuple

        names = [n for n, _, _ in self._items]
        base = namedtuple(_identifier(self.name), names, rename=True)
        cls = type(base.__name__, (base,), {"__slots__": (), "__module__": __name__,
                                            "__doc__": f"One struct {self.name} record."})
        exprs, i, plain = [], 0, True
        for _, kind, count in self._items:
            if kind == K_STR:
                exprs.append(f"t[{i}].split(b'\\0', 1)[0].decode('utf-8', 'replace')")
                plain = False
                i += 1
            elif kind == K_ARRAY:
                exprs.append(f"t[{i}:{i + count}]")
                plain = False
                i += count
            elif kind == K_STRS:
                exprs.append(f"tuple(x.split(b'\\0', 1)[0].decode('utf-8', 'replace') "
                             f"for x in t[{i}:{i + count}])")
                plain = False
                i += count
            else:
                exprs.append(f"t[{i}]")
                i += 1
        if plain:
            self._from_tuple = functools.partial(tuple.__new__, cls)
        else:
            src = (f"def from_tuple(t, _new=tuple.__new__, _cls=cls):\n"
                   f"    return _new(_cls, ({', '.join(exprs)},))\n")
            scope: dict[str, Any] = {"cls": cls}
            exec(src, scope)  # a generated decoder, as namedtuple itself does
            self._from_tuple = scope["from_tuple"]
        self._cls = cls

    def decode(self, data: bytes | bytearray | memoryview, offset: int = 0) -> Any:
        """One record from ``data`` at ``offset``."""
        return self.from_tuple(self.struct.unpack_from(data, offset))

    def decoder(self) -> Callable[[Any], Any]:
        """``decode`` as a function of the data alone (for readers)."""
        unpack, make = self.struct.unpack_from, self.from_tuple
        size = self.size

        def decode(data: Any, _u=unpack, _m=make) -> Any:
            if len(data) < size:
                return bytes(data)  # too short for the type: raw bytes
            return _m(_u(data))
        return decode

    def __repr__(self) -> str:
        return f"<RecordType struct {self.name} ({self.size} bytes, {len(self.fields)} fields)>"


def _is_char(t: Any) -> bool:
    from .btf import Int

    return isinstance(t, Int) and t.size == 1 and (t.is_char or t.name == "char")


def _identifier(name: str) -> str:
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "record"
    return clean if not clean[0].isdigit() else "r_" + clean


def _find_type(btf: Any, ref: Any) -> Any:
    if not isinstance(ref, str):
        return btf.type(ref) if hasattr(btf, "type") else btf[ref]
    name = ref.split(None, 1)[1] if ref.startswith(("struct ", "union ")) else ref
    from .btf import Composite, Typedef

    found = [t for t in btf.find_all(name) if isinstance(t, Composite | Typedef)]
    if not found:
        raise BPFError(f"the object's BTF has no type {ref!r}")
    return found[0]


class AttrDict(dict):
    """A decoded value with attribute access to its keys (nested structs
    decoded through BTF when they are not flat)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return AttrDict({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def make_decoder(btf: Any, ref: Any) -> Callable[[Any], Any]:
    """A function decoding one record of BTF type ``ref``: a fast
    :class:`RecordType` for flat structs, else BTF's general decoder with
    attribute access.  Data shorter than the type stays bytes."""
    rt = RecordType.from_btf(btf, ref)
    if rt is not None:
        return rt.decoder()
    t = _find_type(btf, ref)
    size = btf.size_of(t)

    def decode(data: Any) -> Any:
        if len(data) < size:
            return bytes(data)
        return _wrap(btf.decode(t, bytes(data)))
    return decode


# --- finding the type of a ring buffer's records ----------------------------------------

_RESERVE_HELPERS = {"ringbuf_reserve": 2, "ringbuf_output": 3, "perf_event_output": 5}
"""Helpers that size a record, and the argument register holding the size."""


def infer_record_size(spec: Any, map_name: str) -> int | None:
    """The constant size programs of ``spec`` reserve or output into map
    ``map_name`` (``bpf_ringbuf_reserve(&map, SIZE, 0)``,
    ``bpf_ringbuf_output``, ``bpf_perf_event_output``), when every call
    agrees; None otherwise."""
    from .isa.opcodes import (
        BPF_ALU,
        BPF_ALU64,
        BPF_CALL,
        BPF_EXIT,
        BPF_JMP,
        BPF_K,
        BPF_MOV,
        PSEUDO_CALL_HELPER,
    )
    from .spec.layout import helper_id

    call, exit_ = BPF_JMP | BPF_CALL, BPF_JMP | BPF_EXIT
    mov_imm = (BPF_ALU64 | BPF_MOV | BPF_K, BPF_ALU | BPF_MOV | BPF_K)
    helpers = {helper_id(n): reg for n, reg in _RESERVE_HELPERS.items()}
    sizes = set()
    for ps in spec.programs.values():
        insns = ps.instructions
        loads = {r.pc for r in ps.map_references if r.map_name == map_name and not r.value}
        if not loads:
            continue
        for pc, insn in enumerate(insns):
            if insn.opcode != call or insn.src != PSEUDO_CALL_HELPER or insn.imm not in helpers:
                continue
            size_reg = helpers[insn.imm]
            map_reg = 2 if insn.imm == helper_id("perf_event_output") else 1
            found_map = found_size = None
            for back in range(pc - 1, max(-1, pc - 32), -1):
                i = insns[back]
                if i.opcode in (call, exit_) or i.cls == BPF_JMP:  # calls, jumps
                    break
                if found_map is None and back in loads and i.dst == map_reg:
                    found_map = True
                if found_size is None and i.dst == size_reg and i.opcode in mov_imm:
                    found_size = i.imm  # rN = imm
                if found_map is not None and found_size is not None:
                    break
            if found_map and found_size is not None:
                sizes.add(found_size)
    return sizes.pop() if len(sizes) == 1 else None


def infer_record_type(spec: Any, map_name: str) -> Any:
    """The BTF type of the records ``spec`` sends through ``map_name``: the
    one struct of the object's BTF whose size the programs reserve (global
    variables break ties).  None when it cannot be told."""
    btf = getattr(spec, "btf", None)
    if btf is None:
        return None
    size = infer_record_size(spec, map_name)
    if size is None:
        return None
    from .btf import Ptr, Struct, Var

    candidates = [t for t in btf if isinstance(t, Struct) and t.name and
                  btf.size_of(t) == size]
    if len(candidates) > 1:  # prefer types a global variable (or pointer) names
        named = set()
        for t in btf:
            if isinstance(t, Var):
                vt = btf.resolve(t.type_id)
                if isinstance(vt, Ptr):
                    vt = btf.resolve(vt.type_id)
                named.add(vt.id)
        candidates = [t for t in candidates if t.id in named] or candidates
    return candidates[0] if len(candidates) == 1 else None



def record_decoder(spec: Any, map_name: str, type: Any = None) -> Callable[[Any], Any] | None:
    """The decoder of ``map_name``'s records: of ``type`` (a BTF type name,
    id or type, a :class:`RecordType` or a function) when given, else
    inferred from ``spec``'s programs (None: the records stay bytes)."""
    if callable(type) and not isinstance(type, RecordType):
        return type
    if isinstance(type, RecordType):
        return type.decoder()
    btf = getattr(spec, "btf", None)
    if btf is None:
        if type is not None:
            raise BPFError(f"map {map_name!r}: no BTF to decode records as {type!r}")
        return None
    if type is None:
        type = infer_record_type(spec, map_name)
        if type is None:
            return None
    return make_decoder(btf, type)
