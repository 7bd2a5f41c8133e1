"""What to load: programs, maps and their relations, with no side effects.

An :class:`ObjectSpec` is what ``pybpf.load_object("prog.bpf.o")`` returns
and what both backends load — ``pybpf.vm.load(spec)`` into the userspace VM,
``pybpf.kernel.load(spec)`` into Linux.  It holds :class:`ProgramSpec`\\ s
(instructions, program type, attach target, references to maps) and
:class:`MapSpec`\\ s (type, sizes, flags, BTF types, initial contents).
Nothing here opens a file descriptor or allocates a map: a spec can be
inspected, edited (set a global variable, resize a map) and loaded many
times.

Map references inside instructions are kept symbolic: a ``lddw`` that loads a
map is recorded as a :class:`MapReference` (pc, map name, offset into the
value).  Specs built by hand from assembly may instead use ``lddw rN,
map[idx:I]`` (pseudo source 5, or 6 with an offset) where ``I`` indexes
:attr:`ObjectSpec.maps` in insertion order.  :func:`pybpf.linker.link`
turns a spec into the instructions both backends load (externs, CO-RE and
those references resolved); the backend then fills in what it uses for a
map (a file descriptor for the kernel, an address for the VM).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .isa import Insn, assemble


@dataclass
class MapReference:
    """A ``lddw`` at ``pc`` that loads map ``map_name``: its address (or fd)
    when ``value`` is False, else the address of byte ``offset`` of its value
    (global data, ``.rodata`` strings and the like)."""

    pc: int
    map_name: str
    value: bool = False
    offset: int = 0


@dataclass
class Extern:
    """An extern an object declares: a kconfig value, a kernel symbol (ksym)
    or a kernel function (kfunc).

    ``weak`` externs may be missing from the kernel (they read as zero, or
    as a NULL kfunc).  ``type`` is the BTF type (the variable's type, or the
    FUNC for a kfunc); for kconfig externs ``offset`` and ``size`` place the
    value in the ``.kconfig`` map, and ``value`` holds the bytes given with
    :meth:`ObjectSpec.set_variable` (None: the link step asks the target).
    """

    name: str
    kind: str
    weak: bool = False
    type: Any = None
    type_id: int = 0
    offset: int = 0
    size: int = 0
    value: bytes | None = None


@dataclass
class ExternReference:
    """Instruction ``pc`` of a program uses extern ``name``: a ``lddw`` of a
    ksym's address (kind ``ksym``: the loader sets src BPF_PSEUDO_BTF_ID and
    the kernel BTF id) or a call of a kfunc (kind ``kfunc``: src
    BPF_PSEUDO_KFUNC_CALL and the BTF id)."""

    pc: int
    name: str
    kind: str


@dataclass
class MapSpec:
    """A map to create.

    ``type`` is the kernel's map type name without its prefix (``hash``,
    ``array``, ``percpu_array``, ``ringbuf``, ``prog_array``,
    ``array_of_maps``...).  ``key_type``/``value_type`` are BTF types when the
    object carries them.  ``contents`` are initial ``(key, value)`` pairs;
    for global data sections (``section`` is ``.data``, ``.rodata``,
    ``.bss``...) the single value is the section's bytes.  ``inner`` describes
    the maps an array or hash of maps holds.  ``initial_data`` is what an
    ``arena`` map's memory starts with: the object's ``__arena`` globals
    (section ``.addr_space.1``), at offset 0.
    """

    name: str
    type: str
    key_size: int = 4
    value_size: int = 4
    max_entries: int = 1
    flags: int = 0
    key_type: Any = None
    value_type: Any = None
    btf: Any = None
    inner: MapSpec | None = None
    pinning: str | None = None
    contents: list[tuple[Any, Any]] = field(default_factory=list)
    section: str | None = None
    freeze: bool = False
    numa_node: int | None = None
    map_extra: int = 0
    initial_data: bytes = b""

    def copy(self) -> MapSpec:
        """A deep copy that can be edited independently."""
        return copy.deepcopy(self)


@dataclass
class ProgramSpec:
    """A program to load.

    ``type`` is the kernel's program type name without its prefix
    (``socket_filter``, ``xdp``, ``sched_cls``, ``tracepoint``, ``kprobe``...)
    and ``attach_type`` the expected attach type where one is needed;
    ``attach_to`` names the hook the section implies (a tracepoint
    ``sched/sched_process_exit``, a kernel function, a binary and symbol).
    ``instructions`` are slots with map loads left symbolic
    (:attr:`map_references`).  ``autoload`` False leaves the program out
    of a load (libbpf's ``bpf_program__set_autoload``; a ``SEC("?xdp")``
    section starts that way): it is neither linked nor loaded.
    """

    name: str
    instructions: list[Insn]
    type: str = "socket_filter"
    section: str = ""
    attach_type: str | None = None
    attach_to: str | None = None
    license: str = "GPL"
    kernel_version: int = 0
    flags: int = 0
    map_references: list[MapReference] = field(default_factory=list)
    btf: Any = None
    func_info: list[Any] = field(default_factory=list)
    line_info: list[Any] = field(default_factory=list)
    core_relocations: list[Any] = field(default_factory=list)
    extern_references: list[ExternReference] = field(default_factory=list)
    sleepable: bool = False
    autoload: bool = True

    @classmethod
    def from_assembly(cls, name: str, text: str, **fields: Any) -> ProgramSpec:
        """A program from assembly text (either syntax)."""
        return cls(name, assemble(text, source=name), **fields)

    def copy(self) -> ProgramSpec:
        """A deep copy that can be edited independently."""
        return copy.deepcopy(self)


@dataclass
class ObjectSpec:
    """Programs and maps to load together, as an object file describes them.

    ``programs`` and ``maps`` are keyed by name, in the object's order.
    ``btf`` is the object's BTF (None for hand-built specs); ``variables``
    maps global variable names to ``(map name, offset, size, BTF type)`` so
    that :meth:`set_variable` can change ``const volatile`` knobs before
    loading; ``externs`` are the kconfig, ksym and kfunc externs the object
    declares.
    """

    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    maps: dict[str, MapSpec] = field(default_factory=dict)
    btf: Any = None
    license: str = "GPL"
    kernel_version: int = 0
    variables: dict[str, tuple[str, int, int, Any]] = field(default_factory=dict)
    externs: dict[str, Extern] = field(default_factory=dict)
    path: str | None = None

    @classmethod
    def build(cls, programs: Iterable[ProgramSpec] = (),
              maps: Iterable[MapSpec] = ()) -> ObjectSpec:
        """A spec from programs and maps built by hand."""
        return cls(programs={p.name: p for p in programs}, maps={m.name: m for m in maps})

    def map_by_index(self, index: int) -> MapSpec:
        """The map a ``map[idx:I]`` pseudo load refers to."""
        names = list(self.maps)
        if not 0 <= index < len(names):
            from .errors import BPFError

            raise BPFError(f"map index {index} is out of range: the object has "
                           f"{len(names)} maps")
        return self.maps[names[index]]

    def set_variable(self, name: str, value: int | bytes) -> None:
        """Set the initial value of a global variable (for example a ``const
        volatile`` knob in ``.rodata``) before loading."""
        from .errors import BPFError

        if name not in self.variables:
            known = ", ".join(sorted(self.variables)) or "none"
            raise BPFError(f"no global variable {name!r} (variables: {known})")
        map_name, offset, size, _type = self.variables[name]
        spec = self.maps[map_name]
        if spec.type == ARENA:
            spec.initial_data = patch_bytes(spec.initial_data, name, offset, size, value)
            return
        element = patch_value(spec.contents, spec.value_size, name, offset, size, value)
        spec.contents[:1] = [element]
        ext = self.externs.get(name)
        if ext is not None and ext.kind == "kconfig":
            ext.value = element[1][offset:offset + size]

    def copy(self) -> ObjectSpec:
        """A deep copy that can be edited independently."""
        return copy.deepcopy(self)


ARENA = "arena"
"""The map type whose memory holds an object's ``__arena`` globals."""


def patch_value(contents: list[tuple[Any, Any]], value_size: int, name: str, offset: int,
                size: int, value: int | bytes) -> tuple[Any, bytes]:
    """The first element of a global-data map (``contents[0]``, or key 0
    and zeros) with variable ``name`` — ``size`` bytes at ``offset`` — set
    to ``value`` (bytes, or an int stored little-endian)."""
    key, old = contents[0] if contents else (0, bytes(value_size))
    return key, patch_bytes(old, name, offset, size, value)


def patch_bytes(data: bytes, name: str, offset: int, size: int, value: int | bytes) -> bytes:
    """``data`` (zero-extended to reach it) with variable ``name`` —
    ``size`` bytes at ``offset`` — set to ``value`` (bytes, or an int
    stored little-endian)."""
    from .errors import BPFError

    raw = value if isinstance(value, bytes) else int(value).to_bytes(
        size, "little", signed=int(value) < 0)
    if len(raw) != size:
        raise BPFError(f"variable {name} has {size} bytes, not {len(raw)}")
    buf = bytearray(data)
    if len(buf) < offset + size:
        buf.extend(bytes(offset + size - len(buf)))
    buf[offset:offset + size] = raw
    return bytes(buf)
