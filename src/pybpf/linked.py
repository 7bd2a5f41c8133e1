"""The linked form of an object: what :func:`pybpf.linker.link` returns and
the backends load.

* :class:`LinkedProgram` — a program's final instruction slots (an
  immutable tuple, or the bytecode they encode to), its map loads as
  :class:`MapRef`\\ s keyed by pc, func_info and line_info keyed by pc,
  and what loading needs (type, attach target and its BTF id, license...).
  :meth:`LinkedProgram.splice` is the one way to insert or remove
  instructions: it moves references, debug info and every pc-relative
  offset together (why a table rather than metadata on each instruction:
  see :mod:`pybpf.linker`).
* :class:`LinkedMap` — a map to create and its initial contents.
* :class:`LinkedObject` — programs and maps by name, the order to fill
  maps in, the raw BTF, global variables; :meth:`LinkedObject.to_data`
  and :meth:`~LinkedObject.from_data` turn it into plain data and back
  (what the kernel's prepared cache stores with :mod:`marshal`).

Loading from that plain data needs only this module, :mod:`pybpf.isa`
and :mod:`pybpf.errors`.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import BPFError, LoadError
from .isa import FORMS, INSN_SIZE, Insn, decode, encode, s32
from .isa.insn import LDDW_OPCODE
from .isa.opcodes import PSEUDO_FUNC, Kind

if TYPE_CHECKING:
    from .objects import MapSpec, ObjectSpec

DATA_FORMAT = 1
"""Version of :meth:`LinkedObject.to_data`'s layout."""

PROG_ARRAY = "prog_array"
"""The map type whose initial contents name programs."""
MAP_OF_MAPS = frozenset({"array_of_maps", "hash_of_maps"})
"""Map types whose initial contents name other maps."""

_I16 = (-(1 << 15), (1 << 15) - 1)


class MapRef(NamedTuple):
    """A symbolic map load: map ``map`` itself (``value`` False) or the
    address of byte ``offset`` of its value (global data)."""

    map: str
    value: bool = False
    offset: int = 0


class CorePoison(NamedTuple):
    """A CO-RE relocation the link step could not resolve against the
    target's BTF, whose instruction it replaced by the poison call
    (``call 195896080``), as libbpf does: harmless where the program never
    reaches it (a guarded access), named when the kernel's verifier (or the
    VM) does.  ``kind`` is the relocation kind (``byte_off``...),
    ``type_name`` the local root type, ``access`` the access string
    (``0:1``), ``spelled`` the access spelled out (``[5] struct
    task_struct___old.state (0:1)``) and ``reason`` why it found no match."""

    kind: str
    type_name: str
    access: str
    spelled: str
    reason: str


Edit = tuple[int, int, Sequence[Insn]] | tuple[int, int, Sequence[Insn], Mapping[int, MapRef]]
"""One edit of :meth:`LinkedProgram.splice`: ``(pc, slots removed, slots
inserted[, map references of the inserted slots by index in them])``."""


class LinkedProgram:
    """A program's final instructions, with its map loads left symbolic.

    ``insns`` is an immutable tuple of slots; ``map_refs`` maps the pc of
    every map-loading ``lddw`` to its :class:`MapRef`; ``func_info`` holds
    ``(insn, btf type id)`` rows and ``line_info`` ``(insn, file name
    offset, line offset, line_col)`` rows as ``BPF_PROG_LOAD`` takes them,
    the offsets into :attr:`LinkedObject.btf`.  :meth:`splice` is the one way to change the
    instructions.  The other fields are what loading needs: program type,
    section, attach type and target (and its kernel BTF id), license,
    kernel version, load flags.
    """

    __slots__ = ("_code", "_core_poisons", "_insns", "_map_refs", "attach_btf_id",
                 "attach_to", "attach_type", "flags", "func_info", "kernel_version", "license",
                 "line_info", "name", "section", "sleepable", "type")

    def __init__(self, name: str, insns: Iterable[Insn] | bytes,
                 map_refs: Mapping[int, MapRef] | None = None, *, type: str = "socket_filter",
                 section: str = "", attach_type: str | None = None, attach_to: str | None = None,
                 attach_btf_id: int = 0, license: str = "GPL", kernel_version: int = 0,
                 flags: int = 0, sleepable: bool = False,
                 func_info: Iterable[tuple[int, int]] = (),
                 line_info: Iterable[tuple[int, int, int, int]] = (),
                 core_poisons: Mapping[int, CorePoison] | None = None):
        self.name = name
        # slots as Insn tuples, bytecode, or both: each made from the other on demand
        self._insns: tuple[Insn, ...] | None = None
        self._code: bytes | None = None
        if isinstance(insns, bytes | bytearray):
            self._code = bytes(insns)
        else:
            self._insns = tuple(insns)
        self._map_refs = dict(map_refs or {})
        self.type = type
        self.section = section
        self.attach_type = attach_type
        self.attach_to = attach_to
        self.attach_btf_id = attach_btf_id
        self.license = license
        self.kernel_version = kernel_version
        self.flags = flags
        self.sleepable = sleepable
        self.func_info = tuple(tuple(r) for r in func_info)
        self.line_info = tuple(tuple(r) for r in line_info)
        self._core_poisons = {pc: CorePoison(*p) for pc, p in (core_poisons or {}).items()}

    @property
    def insns(self) -> tuple[Insn, ...]:
        """The instruction slots (map loads with ``imm`` 0)."""
        if self._insns is None:
            self._insns = tuple(decode(self._code or b""))
        return self._insns

    @property
    def code(self) -> bytes:
        """The instruction slots encoded (map loads with ``imm`` 0)."""
        if self._code is None:
            self._code = encode(self.insns)
        return self._code

    @property
    def map_refs(self) -> Mapping[int, MapRef]:
        """Map references by the pc of their ``lddw`` (read-only)."""
        return MappingProxyType(self._map_refs)

    @property
    def core_poisons(self) -> Mapping[int, CorePoison]:
        """The CO-RE relocations the link step poisoned, by the pc of the
        poisoned instruction (read-only)."""
        return MappingProxyType(self._core_poisons)

    def __len__(self) -> int:
        return len(self.insns) if self._code is None else len(self._code) // INSN_SIZE

    def __repr__(self) -> str:
        return (f"<LinkedProgram {self.name} {self.type} {len(self)} slots "
                f"{len(self._map_refs)} map refs>")

    # --- for the backends ------------------------------------------------------------

    def with_map_values(self, value_of: Callable[[MapRef], int]) -> list[Insn]:
        """The slots with each map load's ``imm`` set to ``value_of(ref)``
        (a kernel map fd): what a backend that patches instructions loads."""
        out = list(self.insns)
        for pc, ref in self._map_refs.items():
            out[pc] = out[pc]._replace(imm=s32(value_of(ref)))
        return out

    def bytecode(self, value_of: Callable[[MapRef], int]) -> bytes:
        """:meth:`with_map_values`, encoded (without decoding a program
        that came as bytecode)."""
        if not self._map_refs:
            return self.code
        code = bytearray(self.code)
        insns = self._insns
        for pc, ref in self._map_refs.items():
            slot = slice(pc * INSN_SIZE, (pc + 1) * INSN_SIZE)
            insn = insns[pc] if insns is not None else decode(code[slot])[0]
            code[slot] = insn._replace(imm=s32(value_of(ref))).encode()
        return bytes(code)

    # --- rewriting -------------------------------------------------------------------

    def splice(self, edits: Iterable[Edit]) -> None:
        """Apply a batch of edits in one pass: each ``(pc, remove, insert[,
        refs])`` replaces slots ``pc .. pc+remove-1`` (none: inserts before
        ``pc``) by ``insert``, whose map loads ``refs`` names by index.

        Pcs are those before any edit; edits may not overlap nor cut an
        ``lddw`` in half.  Every jump, ``gotol``, bpf-to-bpf call and
        subprogram ``lddw`` outside the inserted slots keeps its target; a
        target at ``pc`` lands on the first inserted slot (so inserted code
        runs on every path that reached ``pc``), a target inside the removed
        slots is an error.  Inserted slots are taken as given (their own
        offsets count in the new program).  Map references, func_info,
        line_info and CO-RE poison records of removed slots go; the others
        move with their slots.
        """
        plan = sorted((self._edit(e) for e in edits), key=lambda e: e[0])
        if not plan:
            return
        old = self.insns
        n = len(old)
        prev: tuple[int, int] | None = None
        for pc, remove, _insert, _refs in plan:
            if not 0 <= pc <= n or pc + remove > n:
                raise LoadError(f"an edit at {pc} removing {remove} slots is outside the "
                                f"program ({n} slots)", program=self.name, pc=pc)
            if prev is not None and (pc == prev[0] or pc < prev[0] + prev[1]):
                raise LoadError(f"edits at {prev[0]} and {pc} overlap", program=self.name,
                                pc=pc)
            if _second_lddw_slot(old, pc) or (remove and _second_lddw_slot(old, pc + remove)):
                raise LoadError("an edit cuts an lddw in half", program=self.name, pc=pc)
            prev = (pc, remove)
        starts = [e[0] for e in plan]
        before = []  # slots added by the edits before each one
        delta = 0
        for _pc, remove, insert, _refs in plan:
            before.append(delta)
            delta += len(insert) - remove

        def slot_pos(p: int) -> int:
            i = bisect.bisect_right(starts, p) - 1
            if i < 0:
                return p
            _pc, remove, insert, _ = plan[i]
            return p + before[i] + len(insert) - remove

        def target_pos(t: int, at: int) -> int:
            i = bisect.bisect_right(starts, t) - 1
            if i < 0:
                return t
            pc, remove, insert, _ = plan[i]
            if t == pc:
                return t + before[i]
            if t < pc + remove:
                raise LoadError(f"a branch targets slot {t}, which an edit removes",
                                program=self.name, pc=at, insn=old[at] if at < n else None)
            return t + before[i] + len(insert) - remove

        removed = _Removed(plan)
        # new offsets of the branches that stay, computed before anything changes
        moved: list[tuple[int, Insn]] = []
        relative = _relative_fields()
        for p, insn in enumerate(old):
            which = relative.get(insn[0])
            if which is None:
                continue
            if type(which) is not str:
                which = which.get(insn[2])
                if which is None:
                    continue
            if removed.ranges and removed.contains(p):
                continue
            op, dst, src, off, imm = insn
            target = target_pos(p + 1 + (off if which == "off" else imm), p)
            new_pos = slot_pos(p)
            rel = target - new_pos - 1
            if which == "off":
                if not _I16[0] <= rel <= _I16[1]:
                    raise LoadError(f"the branch offset becomes {rel}, which does not fit in "
                                    f"16 bits", program=self.name, pc=p, insn=insn)
                moved.append((new_pos, Insn(op, dst, src, rel, imm)))
            else:
                moved.append((new_pos, Insn(op, dst, src, off, rel)))
        func_info = tuple((target_pos(r[0], r[0]), *r[1:]) for r in self.func_info
                          if not removed.inside(r[0]))
        line_info = tuple((target_pos(r[0], r[0]), *r[1:]) for r in self.line_info
                          if not removed.inside(r[0]))
        out: list[Insn] = []
        refs: dict[int, MapRef] = {}
        cursor = 0
        for pc, remove, insert, new_refs in plan:
            out.extend(old[cursor:pc])
            start = len(out)
            out.extend(i if type(i) is Insn else Insn(*i) for i in insert)
            for k, ref in new_refs.items():
                refs[start + k] = ref
            cursor = pc + remove
        out.extend(old[cursor:])
        for new_pos, insn in moved:
            out[new_pos] = insn
        for pc, ref in self._map_refs.items():
            if not removed.contains(pc):
                refs[slot_pos(pc)] = ref
        self._core_poisons = {slot_pos(pc): p for pc, p in self._core_poisons.items()
                              if not removed.contains(pc)}
        self.func_info, self.line_info = func_info, line_info
        self._insns, self._code = tuple(out), None
        self._map_refs = dict(sorted(refs.items()))

    @staticmethod
    def _edit(e: Edit) -> tuple[int, int, tuple[Insn, ...], Mapping[int, MapRef]]:
        pc, remove, insert, *rest = e
        refs = rest[0] if rest else {}
        if remove < 0:
            raise LoadError(f"edit at {pc} removes {remove} slots")
        return pc, remove, tuple(insert), refs

    # --- plain data ------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """This program as plain data (see :meth:`LinkedObject.to_data`)."""
        return {"name": self.name, "type": self.type, "section": self.section,
                "attach_type": self.attach_type, "attach_to": self.attach_to,
                "attach_btf_id": self.attach_btf_id, "license": self.license,
                "kernel_version": self.kernel_version, "flags": self.flags,
                "sleepable": self.sleepable, "code": self.code,
                "map_refs": [(pc, r.map, r.value, r.offset) for pc, r in self._map_refs.items()],
                "func_info": [list(r) for r in self.func_info],
                "line_info": [list(r) for r in self.line_info],
                "core_poisons": [(pc, *p) for pc, p in self._core_poisons.items()]}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LinkedProgram:
        """The program :meth:`to_data` described."""
        return cls(data["name"], data["code"],
                   {pc: MapRef(name, value, offset)
                    for pc, name, value, offset in data["map_refs"]},
                   type=data["type"], section=data["section"],
                   attach_type=data["attach_type"], attach_to=data["attach_to"],
                   attach_btf_id=data["attach_btf_id"], license=data["license"],
                   kernel_version=data["kernel_version"], flags=data["flags"],
                   sleepable=data["sleepable"], func_info=data["func_info"],
                   line_info=data["line_info"],
                   core_poisons={p[0]: CorePoison(*p[1:])
                                 for p in data.get("core_poisons", ())})


class _Removed:
    """Which old slots a splice removes."""

    def __init__(self, plan: Sequence[tuple[int, int, Any, Any]]):
        self.ranges = [(pc, pc + remove) for pc, remove, _i, _r in plan if remove]
        self.starts = [r[0] for r in self.ranges]

    def contains(self, p: int) -> bool:
        """Whether slot ``p`` is removed (the first slot of an edit too)."""
        i = bisect.bisect_right(self.starts, p) - 1
        return i >= 0 and p < self.ranges[i][1]

    def inside(self, p: int) -> bool:
        """Whether slot ``p`` is removed and not the first of its edit
        (records there have nowhere to go)."""
        i = bisect.bisect_right(self.starts, p) - 1
        return i >= 0 and self.ranges[i][0] < p < self.ranges[i][1]


@functools.cache
def _relative_fields() -> dict[int, str | dict[int | None, str | None]]:
    """For every opcode with a pc-relative form, which field holds the
    offset (``off`` or ``imm``) — or, where the source register picks the
    form (``call``, ``lddw``), that field by ``src``.  Read off the opcode
    table."""
    by_opcode: dict[int, dict[int | None, str | None]] = {}
    for f in FORMS:
        if f.kind in (Kind.JA, Kind.JCOND, Kind.MAY_GOTO):
            which: str | None = "off"
        elif f.kind in (Kind.GOTOL, Kind.CALL_LOCAL) or \
                (f.kind is Kind.LDDW and f.pseudo == PSEUDO_FUNC):
            which = "imm"
        else:
            which = None
        by_opcode.setdefault(f.opcode, {})[dict(f.fixed).get("src")] = which
    table: dict[int, str | dict[int | None, str | None]] = {}
    for opcode, by_src in by_opcode.items():
        fields = set(by_src.values())
        if fields == {None}:
            continue
        table[opcode] = fields.pop() if len(fields) == 1 else by_src
    return table


def _second_lddw_slot(insns: Sequence[Insn], pc: int) -> bool:
    """Whether slot ``pc`` is the second half of an ``lddw``."""
    return 0 < pc < len(insns) and insns[pc - 1][0] == LDDW_OPCODE


class LinkedMap:
    """A map to create, as plain data: the :class:`~pybpf.objects.MapSpec`
    fields with the BTF key and value types as ids into
    :attr:`LinkedObject.btf` (0: none) and the inner map's template as a
    LinkedMap.  ``contents`` are the initial elements; a value that is a
    string names a program (``prog_array``) or a map (maps of maps).
    ``initial_data`` is what an arena's memory starts with (its ``__arena``
    globals)."""

    # A plain class rather than a dataclass: it is built on the prepared
    # cache's start-up path, where each dataclass costs a millisecond to define.
    FIELDS = ("name", "type", "key_size", "value_size", "max_entries", "flags",
              "btf_key_type_id", "btf_value_type_id", "inner", "pinning", "freeze",
              "numa_node", "map_extra", "contents", "initial_data")
    __slots__ = FIELDS

    def __init__(self, name: str, type: str, key_size: int = 4, value_size: int = 4,
                 max_entries: int = 1, flags: int = 0, btf_key_type_id: int = 0,
                 btf_value_type_id: int = 0, inner: LinkedMap | None = None,
                 pinning: str | None = None, freeze: bool = False,
                 numa_node: int | None = None, map_extra: int = 0,
                 contents: list[tuple[Any, Any]] | None = None, initial_data: bytes = b""):
        self.name = name
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.btf_key_type_id = btf_key_type_id
        self.btf_value_type_id = btf_value_type_id
        self.inner = inner
        self.pinning = pinning
        self.freeze = freeze
        self.numa_node = numa_node
        self.map_extra = map_extra
        self.contents = contents if contents is not None else []
        self.initial_data = initial_data

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self.FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinkedMap) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        return (f"LinkedMap({self.name!r}, {self.type!r}, key {self.key_size}, value "
                f"{self.value_size}, {self.max_entries} entries, {len(self.contents)} "
                f"initial elements)")

    @classmethod
    def from_spec(cls, ms: MapSpec) -> LinkedMap:
        """The linked form of ``ms`` (its contents copied, not shared)."""
        return cls(ms.name, ms.type, ms.key_size, ms.value_size, ms.max_entries, ms.flags,
                   _type_id(ms.key_type), _type_id(ms.value_type),
                   cls.from_spec(ms.inner) if ms.inner is not None else None,
                   ms.pinning, ms.freeze, ms.numa_node, ms.map_extra, list(ms.contents),
                   bytes(getattr(ms, "initial_data", b"")))

    def to_data(self) -> dict[str, Any]:
        """This map as plain data; contents must be ints, strings, bytes or
        None (LoadError otherwise)."""
        data = {f: getattr(self, f) for f in self.FIELDS}
        data["inner"] = self.inner.to_data() if self.inner is not None else None
        data["contents"] = [(_plain(self.name, k), _plain(self.name, v))
                            for k, v in self.contents]
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LinkedMap:
        """The map :meth:`to_data` described."""
        fields = dict(data)
        inner = fields.pop("inner")
        fields["contents"] = [tuple(kv) for kv in fields["contents"]]
        return cls(inner=cls.from_data(inner) if inner is not None else None, **fields)


def _plain(map_name: str, value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, int | str) or value is None:
        return value
    raise LoadError(f"map {map_name!r}: an initial element of type {type(value).__name__} "
                    f"is not plain data (give bytes or ints to store it)")


class LinkedObject:
    """An object ready to load: :class:`LinkedProgram` and :class:`LinkedMap`
    objects by name, in the object's order.

    ``fill_before`` names the maps to fill (and freeze where asked) before
    the programs load, in order; ``fill_after`` those to fill after them
    (program arrays).  ``btf`` is the object's BTF as raw bytes, with every
    string line_info needs (None: no BTF); ``variables`` maps global
    variable names to ``(map, offset, size)`` (see :meth:`set_variable`).
    ``boot_dependent`` says whether an instruction holds a kernel address
    (kallsyms), which changes with every boot.  Not part of the plain data:
    ``spec``, the spec linked, when there was one (backends read their map
    codecs' BTF types from it), and ``btf_types``, the object's BTF as a
    :class:`pybpf.btf.BTF` (``btf`` encodes it on demand), and ``failed``,
    the programs :func:`pybpf.linker.link` left out with ``skip_failed``
    (name -> the error).
    """

    def __init__(self, programs: dict[str, LinkedProgram] | None = None,
                 maps: dict[str, LinkedMap] | None = None,
                 fill_before: list[str] | None = None, fill_after: list[str] | None = None,
                 variables: dict[str, tuple[str, int, int]] | None = None,
                 boot_dependent: bool = False, path: str = "", spec: ObjectSpec | None = None,
                 btf_types: Any = None, btf: bytes | None = None):
        self.programs = programs if programs is not None else {}
        self.maps = maps if maps is not None else {}
        self.fill_before = fill_before if fill_before is not None else []
        self.fill_after = fill_after if fill_after is not None else []
        self.variables = variables if variables is not None else {}
        self.boot_dependent = boot_dependent
        self.path = path
        self.spec = spec
        self.btf_types = btf_types
        self._btf = btf
        self.failed: dict[str, BPFError] = {}

    def __repr__(self) -> str:
        return (f"<LinkedObject {self.path or '(built by hand)'} programs="
                f"{list(self.programs)} maps={list(self.maps)}>")

    @property
    def btf(self) -> bytes | None:
        """The object's BTF, raw (line_info's string offsets point into it)."""
        if self._btf is None and self.btf_types is not None:
            self._btf = bytes(self.btf_types.raw) if hasattr(self.btf_types, "raw") \
                else bytes(self.btf_types)
        return self._btf

    def set_variable(self, name: str, value: int | bytes) -> None:
        """Set the initial value of a global variable, as
        :meth:`ObjectSpec.set_variable` does before linking."""
        if name not in self.variables:
            known = ", ".join(sorted(self.variables)) or "none"
            raise BPFError(f"no global variable {name!r} (variables: {known})")
        map_name, offset, size = self.variables[name]
        from .objects import ARENA, patch_bytes, patch_value

        lm = self.maps[map_name]
        if lm.type == ARENA:
            lm.initial_data = patch_bytes(lm.initial_data, name, offset, size, value)
            return
        lm.contents[:1] = [patch_value(lm.contents, lm.value_size, name, offset, size, value)]

    def to_data(self) -> dict[str, Any]:
        """Everything needed to load this object, as ints, strings, bytes,
        lists and dicts (:mod:`marshal` stores it; :meth:`from_data` reads
        it back)."""
        return {"format": DATA_FORMAT,
                "programs": [p.to_data() for p in self.programs.values()],
                "maps": [m.to_data() for m in self.maps.values()],
                "fill_before": list(self.fill_before), "fill_after": list(self.fill_after),
                "btf": self.btf, "variables": {k: list(v) for k, v in self.variables.items()},
                "boot_dependent": self.boot_dependent, "path": self.path}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LinkedObject:
        """The object :meth:`to_data` described."""
        if data.get("format") != DATA_FORMAT:
            raise LoadError(f"linked object data of format {data.get('format')!r}, not "
                            f"{DATA_FORMAT}: link the object again")
        programs = [LinkedProgram.from_data(p) for p in data["programs"]]
        maps = [LinkedMap.from_data(m) for m in data["maps"]]
        return cls({p.name: p for p in programs}, {m.name: m for m in maps},
                   list(data["fill_before"]), list(data["fill_after"]),
                   {k: tuple(v) for k, v in data["variables"].items()},
                   data["boot_dependent"], data["path"], btf=data["btf"])


def _type_id(t: Any) -> int:
    if t is None:
        return 0
    return t if isinstance(t, int) else int(getattr(t, "id", 0) or 0)


__all__ = [
    "DATA_FORMAT",
    "MAP_OF_MAPS",
    "PROG_ARRAY",
    "CorePoison",
    "Edit",
    "LinkedMap",
    "LinkedObject",
    "LinkedProgram",
    "MapRef",
]
