"""Events programs send to user space, decoded: record types from BTF.

* :class:`RecordType` — how to decode one kind of event: built from BTF
  (``RecordType.from_btf(btf, "struct exit_event")``), compiled into a
  ``struct.Struct`` and a small record class with attribute access
  (``event.pid``, ``event.comm``), serializable as plain data so a cached
  object needs no BTF parsing to decode its events.
* :func:`choose_record` — which type a ring buffer's or perf buffer's
  records are, and by which rule (:class:`RecordChoice`): the type the
  caller names, else the map definition's value type, else the one
  ``BPF_RECORD(map, T)`` declares in the object (bpf/bpf_helpers.h), else
  — a reported guess — the only named struct of the size the programs
  reserve.  When none answers (or several structs fit) records stay bytes
  and the choice says why.
* :func:`record_decoder` and :func:`infer_record_type` — the decoder and
  the type alone.

Both backends use them: the kernel's ring and perf buffer readers and the
userspace VM's ``Collection.ringbuf()``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Iterable
from typing import Any

from .errors import BPFError

RECORD_VAR_PREFIX = "__bpf_record__"
"""``BPF_RECORD(map, T)`` (bpf/bpf_helpers.h) declares a static pointer to
``T`` named this prefix and the map's name: it keeps ``T`` in the object's
BTF, and tells user space the type of the map's records."""

BUFFER_MAP_TYPES = ("ringbuf", "perf_event_array")
"""Map types whose records a program sends to user space."""

EXPLICIT, MAP_VALUE, DECLARED, RESERVE_SIZE, UNKNOWN = (
    "explicit", "map value", "BPF_RECORD", "reserve size", "unknown")
"""The rules :func:`choose_record` applies, in order, to pick a record type."""

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

    def __call__(self, data: Any) -> Any:
        """One record from ``data`` (bytes when too short for the type)."""
        if len(data) < self.size:
            return bytes(data)
        return self.from_tuple(self.struct.unpack_from(data))

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
        if hasattr(ref, "kind") and hasattr(ref, "id"):  # a BTF type object
            return ref
        return btf.type(ref) if hasattr(btf, "type") else btf[ref]
    from .btf import Composite, Struct, Typedef, Union

    text = " ".join(ref.split())
    kind, _, name = text.partition(" ")
    if kind not in ("struct", "union") or not name:
        kind, name = "", text
    want = {"struct": Struct, "union": Union}.get(kind, Composite | Typedef)
    found = [t for t in btf.find_all(name) if isinstance(t, want)]
    if not found:
        known = sorted({f"struct {t.name}" for t in btf if isinstance(t, Struct) and t.name})
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise BPFError(f"the object's BTF has no type {ref!r} (its structs: {shown or 'none'}; "
                       f"a type only used inside functions is not in BTF: keep it with "
                       f"BPF_RECORD(map, struct NAME) from bpf/bpf_helpers.h)")
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


def _size_candidates(btf: Any, size: int) -> list[Any]:
    from .btf import Struct

    return [t for t in btf if isinstance(t, Struct) and t.name and btf.size_of(t) == size]


def _declared_type(btf: Any, map_name: str) -> Any:
    """The type ``BPF_RECORD(map_name, T)`` declared: the pointee of the
    variable ``__bpf_record__<map_name>``, or None."""
    from .btf import Ptr, Var

    for t in btf.find_all(RECORD_VAR_PREFIX + map_name):
        if isinstance(t, Var):
            pointer = btf.resolve(t.type_id)
            if isinstance(pointer, Ptr):
                return btf.resolve(pointer.type_id)
    return None


def _map_value_type(spec: Any, btf: Any, map_name: str) -> Any:
    """The struct or union a ring or perf buffer map's definition names as
    its value (``__type(value, struct event)``), or None (no type, or a
    perf event array's ordinary ``int`` value: the fd slot)."""
    from .btf import Composite

    ms = getattr(spec, "maps", {}).get(map_name)
    if ms is None or ms.value_type is None or ms.type not in BUFFER_MAP_TYPES:
        return None
    t = ms.value_type
    t = btf.resolve(t.id) if not isinstance(t, Composite) and getattr(t, "id", 0) else t
    return t if isinstance(t, Composite) and t.name else None


def infer_record_type(spec: Any, map_name: str) -> Any:
    """The BTF type of the records ``spec`` sends through ``map_name`` when
    the object says it (the map's value type, ``BPF_RECORD(map, T)``), else the one named struct of the size the programs reserve; None when
    it cannot be told (no BTF, a size that is not constant, no struct or
    several of that size).  :func:`choose_record` says which rule applied."""
    return choose_record(spec, map_name).type


class RecordChoice:
    """How one buffer's records decode, and why.

    ``rule`` is the rule that chose the type: :data:`EXPLICIT` (the caller
    named it), :data:`MAP_VALUE` (the map definition's ``__type(value,
    T)``), :data:`DECLARED` (``BPF_RECORD(map, T)`` in the object),
    :data:`RESERVE_SIZE` (the only named struct of the size the programs
    reserve: a guess, said so in ``note``) or :data:`UNKNOWN` (records stay
    bytes; ``note`` says why).  ``type`` is the BTF type (None for a
    decoder given as a function or :class:`RecordType`), ``decode`` a
    :class:`RecordType` (flat structs, fast in batches; also callable), a
    function, or None for bytes.
    """

    __slots__ = ("decode", "map_name", "name", "note", "rule", "type")

    def __init__(self, map_name: str, rule: str, *, type: Any = None, decode: Any = None,
                 name: str = "", note: str = ""):
        self.map_name = map_name
        self.rule = rule
        self.type = type
        self.decode = decode
        self.name = name
        self.note = note

    @property
    def known(self) -> bool:
        """Whether records decode (else they stay bytes)."""
        return self.decode is not None

    @property
    def certain(self) -> bool:
        """Whether the type was named rather than guessed from a size."""
        return self.rule in (EXPLICIT, MAP_VALUE, DECLARED)

    def describe(self) -> str:
        """One line for the user: the type and the rule, or why records
        stay bytes."""
        if self.decode is None:
            return f"{self.map_name}: records shown as hex: {self.note}"
        if self.rule == RESERVE_SIZE:
            return f"{self.map_name}: records decoded as {self.name}, {self.note}"
        how = {EXPLICIT: "as asked", MAP_VALUE: "the map's value type",
               DECLARED: "declared with BPF_RECORD"}.get(self.rule, self.rule)
        text = f"{self.map_name}: records decoded as {self.name} ({how})"
        return f"{text}; {self.note}" if self.note else text

    def __repr__(self) -> str:
        return f"<RecordChoice {self.map_name}: {self.name or 'bytes'} by {self.rule}>"


def _type_label(btf: Any, t: Any) -> str:
    from .btf import Struct, Union

    if isinstance(t, Struct | Union) and t.name:
        return f"{'struct' if isinstance(t, Struct) else 'union'} {t.name}"
    return btf.type_name(t.id) if hasattr(btf, "type_name") and getattr(t, "id", 0) else str(t)


def _decoder_of(btf: Any, t: Any) -> Any:
    rt = RecordType.from_btf(btf, t)
    return rt if rt is not None else make_decoder(btf, t)


def _size_note(btf: Any, t: Any, reserved: int | None) -> str:
    if reserved is None:
        return ""
    size = btf.size_of(t)
    if reserved < size:
        return (f"the programs send {reserved}-byte records, shorter than its {size} bytes: "
                f"they stay bytes")
    if reserved > size:
        return f"the programs send {reserved}-byte records; the last {reserved - size} bytes are left out"
    return ""


def choose_record(spec: Any, map_name: str, record: Any = None, *,
                  btf: Any = None) -> RecordChoice:
    """How the records of buffer map ``map_name`` of ``spec`` decode.

    ``record`` names the type: a BTF type name (``"struct event"``,
    ``"event"``), id or type (looked up in ``btf``, else the object's
    BTF), a :class:`RecordType`, or a function of the record's bytes.
    Without it, the first rule that answers: the map definition's value
    type, ``BPF_RECORD(map, T)`` (bpf/bpf_helpers.h), then the one named
    struct of the constant size the programs reserve or output (a guess
    that is reported; several structs of that size mean no guess at all).
    """
    if record is not None:
        if isinstance(record, RecordType):
            return RecordChoice(map_name, EXPLICIT, decode=record, name=f"struct {record.name}")
        if callable(record):
            return RecordChoice(map_name, EXPLICIT, decode=record,
                                name=getattr(record, "__name__", repr(record)))
    btf = btf if btf is not None else getattr(spec, "btf", None)
    if record is not None:
        if btf is None:
            raise BPFError(f"map {map_name!r}: no BTF to find record type {record!r} in "
                           f"(pass a RecordType, or the object's BTF)")
        t = _find_type(btf, record)
        resolved = btf.resolve(t)
        return RecordChoice(map_name, EXPLICIT, type=resolved, decode=_decoder_of(btf, t),
                            name=_type_label(btf, resolved),
                            note=_size_note(btf, resolved, _reserved(spec, map_name)))
    if btf is None:
        return RecordChoice(map_name, UNKNOWN, note="the object has no BTF")
    for rule, t in ((MAP_VALUE, _map_value_type(spec, btf, map_name)),
                    (DECLARED, _declared_type(btf, map_name))):
        if t is not None:
            return RecordChoice(map_name, rule, type=t, decode=_decoder_of(btf, t),
                                name=_type_label(btf, t),
                                note=_size_note(btf, t, _reserved(spec, map_name)))
    size = _reserved(spec, map_name)
    hint = (f"declare the type with BPF_RECORD({map_name}, struct NAME) in the program, "
            f"or name it to the reader")
    if size is None:
        why = "the programs' record size is not one constant" if spec is not None and \
            getattr(spec, "programs", None) else "no programs to read the record size from"
        return RecordChoice(map_name, UNKNOWN, note=f"{why}; {hint}")
    candidates = _size_candidates(btf, size)
    if not candidates:
        return RecordChoice(map_name, UNKNOWN,
                            note=f"the object's BTF has no struct of the {size} bytes the "
                                 f"programs send; {hint}")
    if len(candidates) > 1:
        names = ", ".join(_type_label(btf, t) for t in candidates[:6])
        return RecordChoice(map_name, UNKNOWN,
                            note=f"{len(candidates)} structs have the {size} bytes the "
                                 f"programs send ({names}); {hint}")
    t = candidates[0]
    label = _type_label(btf, t)
    return RecordChoice(map_name, RESERVE_SIZE, type=t, decode=_decoder_of(btf, t), name=label,
                        note=f"the only struct of the {size} bytes the programs send (a "
                             f"guess: declare it with BPF_RECORD({map_name}, {label}) to be "
                             f"sure)")


def given_record(map_name: str, record: Any, btf: Any = None) -> RecordChoice:
    """The :class:`RecordChoice` of a reader opened on map ``map_name`` with
    ``record``: a choice already made, a type name or id looked up in
    ``btf``, a :class:`RecordType`, a function, or None (bytes)."""
    if isinstance(record, RecordChoice):
        return record
    if record is None:
        return RecordChoice(map_name, UNKNOWN, note="no record type given")
    if isinstance(record, str | int) and btf is None:
        raise BPFError(f"map {map_name!r}: record type {record!r} needs the object's BTF to "
                       f"be found (pass btf=spec.btf, or open the reader with "
                       f"coll.ringbuf({map_name!r}, record=...))")
    return choose_record(None, map_name, record, btf=btf)


def _reserved(spec: Any, map_name: str) -> int | None:
    if spec is None or not getattr(spec, "programs", None):
        return None
    return infer_record_size(spec, map_name)


def record_decoder(spec: Any, map_name: str, type: Any = None) -> Callable[[Any], Any] | None:
    """The decoder of ``map_name``'s records (:func:`choose_record`): a
    :class:`RecordType` (callable) or a function; None when they stay
    bytes."""
    return choose_record(spec, map_name, type).decode
