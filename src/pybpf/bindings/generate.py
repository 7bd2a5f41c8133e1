"""Typed Python bindings for a BPF object, written as a module.

``generate(spec, object_bytes)`` returns the text of a module holding:

* an ``IntEnum`` per BTF enum and a ``dataclass`` per struct or union that
  the object's maps (keys and values), ring buffers (the type
  ``BPF_RECORD`` or the map names) and global variables use, with the
  structs they contain, each with ``from_value``/``to_value`` (the dicts
  :meth:`pybpf.btf.BTF.decode` gives and ``encode`` takes);
* per data section (``.rodata``, ``.data``, ``.bss``, ``.data.NAME``...) a
  class of typed :class:`~pybpf.bindings.runtime.Variable`\\ s, settable
  before loading;
* a class of typed maps, one of programs, and the object class (a
  :class:`~pybpf.bindings.runtime.ObjectBindings`) tying them together,
  with the object's bytes embedded (base64) unless ``embed`` is False —
  or, with ``object_file``, the path of the object file relative to the
  module (for objects shipped beside their bindings, as pybpf's tools are).

The text depends only on the object: the same object gives the same
module, byte for byte.  It passes ruff's default rules and pybpf's own
(imports sorted, lines under 100 columns).
"""

from __future__ import annotations

import base64
import hashlib
import json
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from ..btf.types import Array, Composite, EnumBase, Float, Int, Ptr, Union, Var
from ..codecs import INDEX_KEY_TYPES
from ..records import RECORD_VAR_PREFIX

_IDENT = re.compile(r"[^0-9a-zA-Z_]")
_RESERVED = {"Any", "ClassVar", "IntEnum", "ObjectBindings", "Path", "Program", "RingBuffer",
             "Section", "TypedMap", "Variable", "dataclass", "enum_or_int", "field",
             "base64", "annotations"}
_SKIPPED_SECTIONS = (".kconfig", ".ksyms")
_LINE = 72
"""Base64 characters per line of the embedded object."""


def camel(name: str) -> str:
    """``sys_stat`` -> ``SysStat`` (a Python class name)."""
    parts = [p for p in _IDENT.sub("_", name).split("_") if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Anon"
    return "_" + text if text[0].isdigit() else text


_ANNOTATION_NAMES = frozenset({"bool", "bytes", "dict", "float", "int", "list", "str"})
"""Builtins the generated annotations use: an attribute of one of these names
would hide the type from the annotations after it in its class."""


def identifier(name: str) -> str:
    """A C name as a Python attribute name (``class`` -> ``class_``,
    ``str`` -> ``str_``)."""
    text = _IDENT.sub("_", name) or "_"
    if text[0].isdigit():
        text = "_" + text
    if keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in _ANNOTATION_NAMES:
        return text + "_"
    return text


@dataclass
class PyType:
    """How one BTF type looks in the generated code: its annotation, how a
    decoded value becomes it (``inp % x``) and goes back (``out % x``),
    and ``default``, an expression making the zero value (``factory``: a
    mutable one, given through ``default_factory``)."""

    ann: str
    inp: str = "%s"
    out: str = "%s"
    default: str = "0"
    factory: bool = False

    def field_default(self) -> str:
        """The dataclass field's default."""
        if not self.factory:
            return self.default
        if re.fullmatch(r"[A-Za-z_]\w*", self.default):
            return f"field(default_factory={self.default})"
        return f"field(default_factory=lambda: {self.default})"

    def fresh(self) -> str:
        """An expression making a new zero value."""
        if self.factory and re.fullmatch(r"[A-Za-z_]\w*", self.default):
            return f"{self.default}()"
        return self.default


@dataclass
class Record:
    """A struct or union to generate: its class name, C name, and fields
    ``(python name, C name, PyType)``."""

    cls: str
    c_name: str
    size: int
    union: bool
    fields: list[tuple[str, str, PyType]] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)
    """Fields of an anonymous union member, by python name -> the union's
    number: only one of each is written back (the first not zero)."""


class Generator:
    """Walks the object's BTF for the types to generate and writes them."""

    def __init__(self, spec: Any):
        self.spec = spec
        self.btf = spec.btf
        self.names: set[str] = set(_RESERVED)
        self.records: dict[int, Record] = {}
        self.order: list[Record] = []
        self.enums: dict[int, tuple[str, Any]] = {}
        self.in_progress: set[int] = set()

    # --- names -------------------------------------------------------------------------

    def _class_name(self, wanted: str, suffix: str) -> str:
        name = camel(wanted)
        if name in self.names:
            name += suffix
        base, n = name, 2
        while name in self.names:
            name, n = f"{base}{n}", n + 1
        self.names.add(name)
        return name

    # --- types -------------------------------------------------------------------------

    def pytype(self, type_ref: Any, hint: str) -> PyType:
        """The generated form of BTF type ``type_ref`` (``hint`` names an
        anonymous record)."""
        btf = self.btf
        t = btf.resolve(type_ref)
        if isinstance(t, Int):
            if t.is_bool:
                return PyType("bool", default="False")
            return PyType("int")
        if isinstance(t, Ptr):
            return PyType("int")
        if isinstance(t, Float):
            return PyType("float", default="0.0")
        if isinstance(t, EnumBase):
            cls = self._enum(t, hint)
            return PyType(f"{cls} | int", inp=f"enum_or_int({cls}, %s)", out="int(%s)")
        if isinstance(t, Array):
            elem = btf.resolve(t.elem_type_id)
            if isinstance(elem, Int) and elem.size == 1 and (elem.is_char or
                                                             elem.name == "char"):
                return PyType("str", default='""')
            if isinstance(elem, Int) and elem.size == 1 and not elem.is_bool:
                return PyType("bytes", default=f"bytes({t.nelems})", factory=True)
            inner = self.pytype(t.elem_type_id, hint)
            fresh = f"[{inner.default}] * {t.nelems}" if not inner.factory else \
                f"[{inner.fresh()} for _ in range({t.nelems})]"
            if inner.inp == "%s" and inner.out == "%s":
                return PyType(f"list[{inner.ann}]", inp="list(%s)", out="list(%s)",
                              default=fresh, factory=True)
            return PyType(f"list[{inner.ann}]",
                          inp=f"[{inner.inp % 'v'} for v in %s]",
                          out=f"[{inner.out % 'v'} for v in %s]", default=fresh,
                          factory=True)
        if isinstance(t, Composite):
            record = self._record(t, hint)
            return PyType(record.cls, inp=f"{record.cls}.from_value(%s)", out="%s.to_value()",
                          default=record.cls, factory=True)
        return PyType("Any", default="None")

    def _enum(self, t: Any, hint: str) -> str:
        if t.id not in self.enums:
            self.enums[t.id] = (self._class_name(t.name or hint, "Enum"), t)
        return self.enums[t.id][0]

    def _record(self, t: Any, hint: str) -> Record:
        if t.id in self.records:
            return self.records[t.id]
        record = Record(self._class_name(t.name or hint, "Struct"),
                        f"{'union' if isinstance(t, Union) else 'struct'} {t.name}".strip(),
                        t.size, isinstance(t, Union))
        self.records[t.id] = record
        used: set[str] = set()
        self._members(t, record, used, None)
        self.order.append(record)   # after the records its fields use
        return record

    def _members(self, t: Any, record: Record, used: set[str], group: int | None) -> None:
        for m in t.members:
            mt = self.btf.resolve(m.type_id)
            if not m.name:
                if isinstance(mt, Composite):   # decoded into the enclosing dict
                    inner = group if group is not None or not isinstance(mt, Union) \
                        else len(set(record.groups.values())) + 1
                    self._members(mt, record, used, inner)
                continue
            py = identifier(m.name)
            while py in used or py in ("from_value", "to_value"):
                py += "_"
            used.add(py)
            if m.bitfield_size:
                ptype = PyType("bool", default="False") if isinstance(mt, Int) and \
                    mt.is_bool else self.pytype(m.type_id, f"{record.cls}_{m.name}") \
                    if isinstance(mt, EnumBase) else PyType("int")
            else:
                ptype = self.pytype(m.type_id, f"{record.cls}_{m.name}")
            record.fields.append((py, m.name, ptype))
            if group is not None:
                record.groups[py] = group

    # --- the object's parts ----------------------------------------------------------------

    def record_types(self) -> dict[str, Any]:
        """Ring buffer map name -> the BTF type of its records
        (``BPF_RECORD``, or the map's value type)."""
        out: dict[str, Any] = {}
        if self.btf is None:
            return out
        for name, mspec in self.spec.maps.items():
            if mspec.type not in ("ringbuf", "perf_event_array"):
                continue
            if mspec.value_type is not None and mspec.type == "ringbuf":
                out[name] = mspec.value_type
            for var in self.btf.find_all(RECORD_VAR_PREFIX + name):
                if isinstance(var, Var):
                    target = self.btf.resolve(var.type_id)
                    if isinstance(target, Ptr):
                        out[name] = self.btf.type(target.type_id)
        return out


def _module_doc(object_name: str, digest: str) -> list[str]:
    return [f'"""Typed bindings for {object_name} (sha256 {digest[:16]}...).',
            "",
            "Generated by ``pybpf gen bindings``: do not edit; generate it again when",
            'the object changes."""', ""]


def generate(spec: Any, object_bytes: bytes, *, object_name: str = "object.bpf.o",
             class_name: str | None = None, embed: bool = True,
             object_file: str | None = None) -> str:
    """The bindings module for ``spec`` (parsed from ``object_bytes``).

    The object class loads the embedded object by default; with ``embed``
    False it takes the object's path; with ``object_file`` (a path relative
    to the generated module, ``/``-separated: ``../objects/x.bpf.o``) the
    object is not embedded and the class loads that file by default."""
    if object_file is not None:
        embed = False
    gen = Generator(spec)
    stem = object_name.rsplit("/", 1)[-1].removesuffix(".o").removesuffix(".bpf")
    cls = class_name or camel(stem)
    gen.names.update({cls, f"{cls}Maps", f"{cls}Programs"})
    digest = hashlib.sha256(object_bytes).hexdigest()

    # maps: typed key/value or record types
    map_lines: list[str] = []
    records = gen.record_types()
    for name, mspec in spec.maps.items():
        if name.startswith("."):
            continue
        attr = identifier(name)
        if mspec.type in ("ringbuf", "perf_event_array"):
            if mspec.type == "perf_event_array":
                continue
            rtype = records.get(name)
            if rtype is not None and gen.btf is not None:
                py = gen.pytype(rtype, f"{camel(name)}Record")
                conv = _callable(py) if py.inp != "%s" else "None"
                c_name = _type_text(gen.btf, rtype)
                map_lines += [
                    "    @property",
                    f"    def {attr}(self) -> RingBuffer[{py.ann}]:",
                    f'        """Ring buffer {name}: {c_name} records."""',
                    *_fit(f'        return self._skel.ring_buffer("{name}", "{c_name}", {conv})'),
                    ""]
            else:
                map_lines += [
                    "    @property",
                    f"    def {attr}(self) -> RingBuffer[bytes]:",
                    f'        """Ring buffer {name}: records as bytes (no type known)."""',
                    f'        return self._skel.ring_buffer("{name}")', ""]
            continue
        key = _side(gen, mspec, mspec.key_type, mspec.key_size, f"{camel(name)}Key",
                    index=mspec.type in _INDEX_TYPES)
        value = _side(gen, mspec, mspec.value_type, mspec.value_size, f"{camel(name)}Value")
        if mspec.type in _OBJECT_VALUE_TYPES:
            value = PyType("Any")
        value_ann = f"list[{value.ann}]" if mspec.type in _PERCPU_TYPES else value.ann
        key_conv = _callable(key) if key.inp != "%s" else _int_codec(gen, mspec.key_type, key)
        value_conv = _callable(value) if value.inp != "%s" else _int_codec(gen,
                                                                            mspec.value_type,
                                                                            value)
        named = [f"{side}_type={json.dumps(text)}" for side, py, ref in
                 (("key", key, mspec.key_type), ("value", value, mspec.value_type))
                 if py.inp != "%s" and (text := _named_type(gen, ref)) is not None]
        call = f'"{name}", {key_conv}, {value_conv}'
        map_lines += [
            "    @property",
            f"    def {attr}(self) -> TypedMap[{key.ann}, {value_ann}]:",
            f'        """Map {name} ({mspec.type}, {mspec.max_entries} entries)."""',
            *(_fit(f"        return self._skel.typed_map({call})") if not named else
              ["        return self._skel.typed_map(", f"            {call},",
               f"            {', '.join(named)})"]),
            ""]

    # data sections
    sections: dict[str, list[tuple[str, str, PyType]]] = {}
    for var_name, (map_name, _off, _size, vtype) in spec.variables.items():
        if map_name in _SKIPPED_SECTIONS or "." in var_name or var_name.startswith("__"):
            continue   # kconfig, statics of functions (bpf_printk's formats), hidden names
        if map_name not in spec.maps:
            continue
        if vtype is None or gen.btf is None:
            py = PyType("bytes")
        else:
            py = gen.pytype(vtype, f"{camel(var_name)}Var")
        sections.setdefault(map_name, []).append((identifier(var_name), var_name, py))
    section_classes: list[tuple[str, str, str]] = []   # (attribute, class, section)
    for map_name in sections:
        attr = identifier(map_name.lstrip(".").replace(".", "_")) or "data"
        section_classes.append((attr, gen._class_name(f"{cls}_{attr}", "Section"), map_name))

    out: list[str] = [f'OBJECT_NAME = "{object_name}"', f'OBJECT_SHA256 = "{digest}"']
    if embed:
        text = base64.b64encode(object_bytes).decode()
        out += ["OBJECT = base64.b64decode("]
        out += [f'    "{text[i:i + _LINE]}"' for i in range(0, len(text), _LINE)]
        out += [")"]
    if object_file is not None:
        out += _fit(f"OBJECT_FILE = Path(__file__).resolve().parent.joinpath({json.dumps(object_file)})")
    out += ["", ""]

    # enums and records, in dependency order
    enum_lines: list[str] = []
    for cls_name, t in sorted(gen.enums.values(), key=lambda e: e[1].id):
        enum_lines += [f"class {cls_name}(IntEnum):",
                       f'    """enum {t.name or "(anonymous)"}."""', ""]
        used: set[str] = set()
        for v in t.values:
            member = identifier(v.name)
            if member in used or member.startswith("_"):
                continue
            used.add(member)
            enum_lines.append(f"    {member} = {v.value}")
        if not used:
            enum_lines.append("    pass")
        enum_lines += ["", ""]
    record_lines: list[str] = []
    for record in gen.order:
        record_lines += _record_text(record)
    out += enum_lines + record_lines

    for _attr, sec_cls, map_name in section_classes:
        out += [f"class {sec_cls}(Section):",
                f'    """The {map_name} variables of {object_name}'
                + (" (const volatile: set them before load)." if map_name.startswith(".rodata")
                   else ".") + '"""', "",
                f'    SECTION = "{map_name}"']
        for py_name, c_name, py in sections[map_name]:
            conv = f", {_callable(py)}" if py.inp != "%s" else ""
            out += _fit(f'    {py_name}: Variable[{py.ann}] = Variable("{c_name}"{conv})')
        out += ["", ""]

    out += [f"class {cls}Maps:", f'    """The maps of {object_name}, typed (after load)."""',
            "", f"    def __init__(self, skel: {cls}) -> None:",
            "        self._skel = skel", ""]
    out += map_lines
    out += ["", f"class {cls}Programs:",
            f'    """The programs of {object_name} (after load)."""', "",
            f"    def __init__(self, skel: {cls}) -> None:", "        self._skel = skel", ""]
    for name, pspec in spec.programs.items():
        out += ["    @property", f"    def {identifier(name)}(self) -> Program:",
                *_docstring(f"Program {name} ({pspec.type}, section {pspec.section}).", 8),
                f'        result: Program = self._skel.program("{name}")',
                "        return result", ""]
    out += ["", f"class {cls}(ObjectBindings):",
            f'    """{object_name}: load it with load("vm") or load("kernel").',
            "",
            "    ``maps`` and ``progs`` are typed; the data sections' variables are",
            "    attributes of their own (set ``.rodata`` knobs before load).",
            '    """', "", '    OBJECT_NAME: ClassVar[str] = OBJECT_NAME', ""]
    if embed:
        out += ["    def __init__(self, path: str | None = None) -> None:",
                '        """The embedded object, or the object file at ``path``."""',
                "        super().__init__(OBJECT if path is None else path)"]
    elif object_file is not None:
        out += ["    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:",
                '        """The object file beside this module, or the one at ``path``."""',
                "        super().__init__(OBJECT_FILE if path is None else path)"]
    else:
        out += ["    def __init__(self, path: str) -> None:",
                '        """The object file at ``path``."""',
                "        super().__init__(path)"]
    out += [f"        self.maps = {cls}Maps(self)", f"        self.progs = {cls}Programs(self)"]
    for attr, sec_cls, _ in section_classes:
        out.append(f"        self.{attr} = {sec_cls}(self)")
    out += ["", ""]
    referenced = object_file is not None
    names = _exported(gen, cls, section_classes, referenced)
    exported = ", ".join(f'"{n}"' for n in sorted(names, key=_isort_key))
    out.append(f"__all__ = [{exported}]")
    head = _imports(out, object_name, digest, embed, referenced)
    return "\n".join(head + _wrap_all(out)) + "\n"


def _docstring(text: str, indent: int) -> list[str]:
    """A one-line docstring, or two lines when one would pass 99 columns."""
    pad = " " * indent
    if len(pad) + len(text) + 6 <= 99:
        return [f'{pad}"""{text}"""']
    head, _, tail = text.rpartition(" (")
    return [f'{pad}"""{head}', "", f'{pad}({tail}', f'{pad}"""']


def _isort_key(name: str) -> tuple[int, str]:
    """``__all__`` order as isort (and ruff) sort it: constants, classes, others."""
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def _callable(py: PyType) -> str:
    """The function turning a decoded value into ``py``'s type, as code."""
    head = py.inp.removesuffix("(%s)")
    if head != py.inp and re.fullmatch(r"[A-Za-z_][\w.]*", head):
        return head
    return f"lambda v: {py.inp % 'v'}"


_RUNTIME_NAMES = ("ObjectBindings", "RingBuffer", "Section", "TypedMap", "Variable",
                  "enum_or_int")


def _imports(body: list[str], object_name: str, digest: str, embed: bool,
             referenced: bool = False) -> list[str]:
    """The module's docstring and the imports ``body`` uses (and no more)."""
    code = "\n".join(line for line in body if not line.startswith('    "'))

    def used(name: str) -> bool:
        return re.search(rf"\b{name}\b", code) is not None

    out = [*_module_doc(object_name, digest), "from __future__ import annotations", ""]
    if embed:
        out.append("import base64")
    if referenced:
        out.append("import os")
    if used("dataclass"):
        out.append("from dataclasses " + ("import dataclass, field" if used("field")
                                          else "import dataclass"))
    if used("IntEnum"):
        out.append("from enum import IntEnum")
    if referenced:
        out.append("from pathlib import Path")
    typing_names = [n for n in ("Any", "ClassVar") if used(n)]
    if typing_names:
        out.append(f"from typing import {', '.join(typing_names)}")
    out.append("")
    if used("Program"):
        out.append("from pybpf.backend import Program")
    names = [n for n in _RUNTIME_NAMES if used(n)]
    out.append("from pybpf.bindings.runtime import (")
    out += [f"    {n}," for n in names]
    out += [")", ""]
    return out


_INDEX_TYPES = INDEX_KEY_TYPES
_OBJECT_VALUE_TYPES = frozenset({"prog_array", "array_of_maps", "hash_of_maps"})
_PERCPU_TYPES = frozenset({"percpu_hash", "percpu_array", "lru_percpu_hash",
                           "percpu_cgroup_storage"})


def _side(gen: Generator, mspec: Any, type_ref: Any, size: int, hint: str, *,
          index: bool = False) -> PyType:
    if type_ref is not None and (mspec.btf or gen.btf) is not None:
        if mspec.btf is not None and mspec.btf is not gen.btf:
            return PyType("Any")
        return gen.pytype(type_ref, hint)
    return PyType("int" if index or size == 0 else "bytes")


def _int_codec(gen: Generator, type_ref: Any, py: PyType) -> str:
    """``"int"`` or ``"sint"`` (quoted) for a map side typed ``int``: a BTF
    integer or pointer, or an index without a type — the codec the typed
    map gives it whatever the backend's default (a map loaded from a
    prepared form has bytes keys); else None."""
    if py.ann != "int":
        return "None"
    t = gen.btf.resolve(type_ref) if type_ref is not None and gen.btf is not None else None
    return '"sint"' if isinstance(t, Int) and t.is_signed else '"int"'


def _named_type(gen: Generator, type_ref: Any) -> str | None:
    """``struct name``/``union name``/``enum name`` for a map side's BTF
    type when it has a name (the typed map then finds it in the loaded
    object's BTF, parsing no ELF); None otherwise."""
    if type_ref is None or gen.btf is None:
        return None
    t = gen.btf.resolve(type_ref)
    if isinstance(t, Composite | EnumBase) and t.name:
        kind = "union" if isinstance(t, Union) else "struct" if isinstance(t, Composite) \
            else "enum"
        return f"{kind} {t.name}"
    return None


def _type_text(btf: Any, t: Any) -> str:
    t = btf.type(t)
    if isinstance(t, Composite):
        return f"{'union' if isinstance(t, Union) else 'struct'} {t.name}"
    return t.name or str(t.id)


def _record_text(record: Record) -> list[str]:
    lines = ["@dataclass", f"class {record.cls}:",
             f'    """{record.c_name or "anonymous " + ("union" if record.union else "struct")}'
             f' ({record.size} bytes)."""', ""]
    for py, _c, t in record.fields:
        lines += _fit(f"    {py}: {t.ann} = {t.field_default()}")
    if record.fields:
        lines.append("")
    lines += ["    @classmethod", f"    def from_value(cls, value: dict[str, Any]) -> {record.cls}:",
              '        """From the dict BTF decodes."""']
    if record.fields:
        lines.append("        return cls(")
        for py, c, t in record.fields:
            lines += _fit(f"            {py}={t.inp % f'value[{json.dumps(c)}]'},")
        lines.append("        )")
    else:
        lines.append("        return cls()")
    lines += ["", "    def to_value(self) -> dict[str, Any]:",
              '        """To the dict BTF encodes."""']
    groups = {py: 0 for py, _, _ in record.fields} if record.union else record.groups
    plain_fields = [f for f in record.fields if f[0] not in groups]
    if not groups:
        if plain_fields:
            lines.append("        return {")
            for py, c, t in plain_fields:
                lines += _fit(f"            {json.dumps(c)}: {t.out % f'self.{py}'},")
            lines.append("        }")
        else:
            lines.append("        return {}")
        return [*lines, "", ""]
    # union members overlap: write back the first that is not zero, per union
    if plain_fields:
        lines.append("        out: dict[str, Any] = {")
        for py, c, t in plain_fields:
            lines += _fit(f"            {json.dumps(c)}: {t.out % f'self.{py}'},")
        lines.append("        }")
    else:
        lines.append("        out: dict[str, Any] = {}")
    lines.append("        fresh = type(self)()")
    previous = None
    for py, c, t in record.fields:
        if py not in groups:
            continue
        word = "elif" if groups[py] == previous else "if"
        previous = groups[py]
        lines += [f"        {word} self.{py} != fresh.{py}:",
                  *_fit(f"            out[{json.dumps(c)}] = {t.out % f'self.{py}'}")]
    lines.append("        return out")
    return [*lines, "", ""]


def _fit(line: str) -> list[str]:
    """``line``, broken after its first ``(`` or ``=`` when it passes 99 columns."""
    if len(line) <= 99:
        return [line]
    indent = len(line) - len(line.lstrip())
    cut = line.find("(")
    if cut < 0 or cut > 90:
        return [line]
    return [line[:cut + 1], " " * (indent + 4) + line[cut + 1:].lstrip()]


def _exported(gen: Generator, cls: str, sections: list[tuple[str, str, str]],
              referenced: bool) -> list[str]:
    names = [cls, f"{cls}Maps", f"{cls}Programs", "OBJECT_NAME", "OBJECT_SHA256"]
    if referenced:
        names.append("OBJECT_FILE")
    names += [c for c, _ in gen.enums.values()] + [r.cls for r in gen.order]
    names += [c for _, c, _ in sections]
    return names


def _wrap_all(lines: list[str]) -> list[str]:
    """Lines over 99 columns, which only ``__all__`` can be, broken."""
    out = []
    for line in lines:
        if line.startswith("__all__ = [") and len(line) > 99:
            items = line[len("__all__ = ["):-1].split(", ")
            out.append("__all__ = [")
            out += [f"    {item}," for item in items]
            out.append("]")
        else:
            out.append(line)
    return out


__all__ = ["Generator", "PyType", "Record", "camel", "generate", "identifier"]
