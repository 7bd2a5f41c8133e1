"""What generated bindings import: typed maps, ring buffers, variables and
the base class of a generated object class.

A module written by ``pybpf gen bindings OBJECT.o`` (see
:mod:`pybpf.bindings.generate`) holds a dataclass per BTF record its maps,
ring buffers and globals use, and a class per object, subclassing
:class:`ObjectBindings`, whose attributes are typed::

    skel = XdpCount()                       # the object, parsed (nothing loaded)
    skel.rodata.drop_proto = 17             # a const volatile knob, before load
    with skel.load("vm"):                   # or "kernel"
        skel.progs.count_packets.test_run(packet)
        skel.maps.counts[17]                # list[int]: one value per CPU

Records go through the object's BTF (:meth:`pybpf.btf.BTF.decode` and
``encode``): a record class has ``from_value`` (from the decoded dict) and
``to_value`` (back to one).  Maps take and return the record classes
(``bytes`` and ``int`` are taken too, as every codec takes them).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar, overload

from ..errors import BPFError

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")
E = TypeVar("E", bound=enum.IntEnum)
B = TypeVar("B", bound="ObjectBindings")

BACKENDS = ("vm", "kernel")
"""Where :meth:`ObjectBindings.load` loads an object."""


def enum_or_int(cls: type[E], value: int) -> E | int:
    """``cls(value)`` when ``value`` names an enumerator, else the int."""
    try:
        return cls(value)
    except ValueError:
        return value


def plain(value: Any) -> Any:
    """A record (anything with ``to_value``) as the plain value BTF
    encodes; other values as they are."""
    to_value = getattr(value, "to_value", None)
    return to_value() if to_value is not None else value


class RecordCodec:
    """A map codec (:class:`pybpf.codecs.Codec`) for one BTF type, whose
    values are ``convert(decoded)``: a record class's ``from_value``, or
    an enum's constructor."""

    def __init__(self, btf: Any, type_ref: Any, convert: Callable[[Any], Any]):
        self.btf = btf
        self.type = btf.type(type_ref)
        self.size = btf.size_of(self.type)
        self.convert = convert

    def encode(self, value: Any) -> bytes:
        """A record, a plain value, an int or bytes of the right size."""
        if isinstance(value, bytes | bytearray | memoryview) and len(value) == self.size:
            return bytes(value)
        data = bytes(self.btf.encode(self.type, plain(value)))
        if len(data) != self.size:
            raise ValueError(f"encoded {len(data)} bytes where {self.size} are wanted")
        return data

    def decode(self, data: bytes) -> Any:
        """The record ``data`` holds."""
        return self.convert(self.btf.decode(self.type, data))


class TypedMap(Generic[K, V]):
    """A loaded map with typed keys and values: ``K`` keys, ``V`` values
    (per-CPU maps: ``list`` of one value per CPU).  ``map`` is the
    backend's map (:class:`pybpf.codecs.MapProtocol`) for everything
    else; ``raw`` its bytes view."""

    def __init__(self, m: Any):
        self.map = m

    def __getitem__(self, key: K) -> V:
        return self.map[key]  # type: ignore[no-any-return]

    def __setitem__(self, key: K, value: V) -> None:
        self.map[key] = value

    def __delitem__(self, key: K) -> None:
        del self.map[key]

    def __contains__(self, key: object) -> bool:
        return key in self.map

    def __len__(self) -> int:
        return len(self.map)

    def __iter__(self) -> Iterator[K]:
        return iter(self.map.keys())

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key``, or ``default``."""
        return self.map.get(key, default)  # type: ignore[no-any-return]

    def update(self, key: K, value: V, flags: int = 0) -> None:
        """Store ``value`` (``flags``: BPF_ANY, BPF_NOEXIST, BPF_EXIST)."""
        self.map.update(key, value, flags)

    def delete(self, key: K) -> None:
        """Remove ``key``."""
        self.map.delete(key)

    def keys(self) -> list[K]:
        """Every key (a snapshot)."""
        return list(self.map.keys())

    def values(self) -> list[V]:
        """Every value (a snapshot)."""
        return list(self.map.values())

    def items(self) -> list[tuple[K, V]]:
        """Every ``(key, value)`` (a snapshot)."""
        return list(self.map.items())

    def clear(self) -> None:
        """Delete every key (arrays: zero every value)."""
        self.map.clear()

    @property
    def raw(self) -> Any:
        """The map with bytes keys and values."""
        return self.map.raw

    def __repr__(self) -> str:
        return f"<TypedMap {self.map!r}>"


class RingBuffer(Generic[T]):
    """A ring buffer whose records are ``T``: :meth:`drain` takes what is
    waiting (both backends); :meth:`reader` gives the kernel's reader with
    a callback (``poll()`` it)."""

    def __init__(self, skel: ObjectBindings, name: str, decode: Callable[[bytes], T]):
        self.skel = skel
        self.name = name
        self.decode = decode
        self._reader: Any = None

    def drain(self) -> list[T]:
        """The records waiting now, decoded (the buffer is consumed)."""
        coll = self.skel.collection
        if self.skel.backend == "vm":
            return [self.decode(r) for r in coll.ringbuf(self.name, raw=True)]
        if self._reader is None:
            self._reader = coll.ringbuf(self.name, raw=True)
        out: list[T] = []
        for record in self._reader.read_batch():
            out.append(self.decode(bytes(record)))
        return out

    def reader(self, callback: Callable[[T], Any]) -> Any:
        """The kernel's :class:`~pybpf.kernel.ringbuf.RingBuffer`, calling
        ``callback`` with each decoded record when polled."""
        if self.skel.backend != "kernel":
            raise BPFError(f"ring buffer {self.name}: reader() is for the kernel backend; "
                           f"drain() reads the VM's")
        return self.skel.collection.ringbuf(self.name, callback, record=self.decode)


class Variable(Generic[T]):
    """A global variable of a section (``.rodata``, ``.data``, ``.bss``...):
    set before :meth:`ObjectBindings.load` (the value the object starts
    with), read and written after it (in the loaded map; ``.rodata`` is
    frozen then)."""

    def __init__(self, name: str, convert: Callable[[Any], T] | None = None):
        self.name = name
        self.convert = convert

    @overload
    def __get__(self, obj: None, owner: type) -> Variable[T]: ...

    @overload
    def __get__(self, obj: Section, owner: type) -> T: ...

    def __get__(self, obj: Section | None, owner: type) -> Any:
        if obj is None:
            return self
        value = obj.read(self.name)
        return self.convert(value) if self.convert is not None else value

    def __set__(self, obj: Section, value: T) -> None:
        obj.write(self.name, value)


class Section:
    """The variables of one data section of an object (generated
    subclasses declare them as :class:`Variable` attributes)."""

    SECTION: ClassVar[str] = ""

    def __init__(self, skel: ObjectBindings):
        self.skel = skel

    def _where(self, name: str) -> tuple[str, int, int, Any]:
        spec = self.skel.spec
        if name not in spec.variables:
            raise BPFError(f"{self.SECTION}: no variable {name!r}")
        return spec.variables[name]  # type: ignore[no-any-return]

    def _section_bytes(self, map_name: str) -> bytes:
        skel = self.skel
        if skel.collection is None:
            mspec = skel.spec.maps[map_name]
            data = mspec.contents[0][1] if mspec.contents else b""
            return bytes(data).ljust(mspec.value_size, b"\0")
        return bytes(skel.collection.maps[map_name].raw[0])

    def read(self, name: str) -> Any:
        """Variable ``name``'s value, decoded through BTF (bytes without)."""
        map_name, offset, size, vtype = self._where(name)
        data = self._section_bytes(map_name)[offset:offset + size]
        if vtype is None or self.skel.spec.btf is None:
            return data
        return self.skel.spec.btf.decode(vtype, data)

    def write(self, name: str, value: Any) -> None:
        """Set variable ``name``: in the object before loading, in the map
        after (``.rodata`` cannot change after loading).  An ``int`` set
        before the object is parsed waits for the load (or the parse): a
        load through the prepared cache parses nothing."""
        skel = self.skel
        if skel.collection is None and not skel.parsed and isinstance(value, int):
            skel.set_initial(name, int(value))
            return
        map_name, offset, size, vtype = self._where(name)
        btf = self.skel.spec.btf
        if isinstance(value, bytes | bytearray):
            data = bytes(value).ljust(size, b"\0")
        elif vtype is not None and btf is not None:
            data = bytes(btf.encode(vtype, plain(value)))
        else:
            data = int(value).to_bytes(size, "little", signed=int(value) < 0)
        if len(data) != size:
            raise BPFError(f"{self.SECTION}: {name} holds {size} bytes, not {len(data)}")
        if skel.collection is None:
            skel.set_initial(name, data)
            return
        if map_name.startswith(".rodata"):
            raise BPFError(f"{name} is in {map_name}, read-only once loaded: set it before "
                           f"load()")
        m = skel.collection.maps[map_name]
        old = bytes(m.raw[0])
        m.raw[0] = old[:offset] + data + old[offset + size:]


class ObjectBindings:
    """The base of a generated object class: the object parsed into a spec
    at construction (from the bytes embedded in the module, or a path),
    loaded by :meth:`load` into the VM or the kernel, closed by
    :meth:`close` or a ``with`` block."""

    OBJECT_NAME: ClassVar[str] = ""

    def __init__(self, obj: bytes | str | os.PathLike[str]):
        self.source: bytes | str = obj if isinstance(obj, bytes) else os.fspath(obj)
        """The object: its bytes, or its path."""
        self.initial: dict[str, int | bytes] = {}
        """Global variables set before load, by name (ints, or encoded bytes)."""
        self.collection: Any = None
        self.backend: str | None = None
        self._spec: Any = None
        self._btf: Any = None
        self._maps: dict[str, Any] = {}

    @property
    def spec(self) -> Any:
        """The object parsed (:func:`pybpf.elf.load_object`), on first use,
        with the variables set so far: a load through the prepared cache
        (``load("kernel", cache=True)``) needs no parse."""
        if self._spec is None:
            from ..elf import load_object

            spec = load_object(self.source)
            for name, value in self.initial.items():
                spec.set_variable(name, value)
            self._spec = spec
        return self._spec

    @property
    def parsed(self) -> bool:
        """Whether :attr:`spec` was parsed already."""
        return self._spec is not None

    def set_initial(self, name: str, value: int | bytes) -> None:
        """Set global variable ``name``'s value before load (an int, or its
        encoded bytes): in the spec when parsed, and for a cached load."""
        if self._spec is not None:
            self._spec.set_variable(name, value)
        self.initial[name] = value

    def load(self: B, backend: str = "vm", *, cache: bool = False, **options: Any) -> B:
        """Load the object: ``backend`` ``"vm"`` (:func:`pybpf.vm.load`) or
        ``"kernel"`` (:func:`pybpf.kernel.load`), ``options`` passed on.
        With ``cache`` (the kernel, an object file), load through the
        prepared-object cache (:func:`pybpf.kernel.load_cache.load_cached`):
        the first load for this object and kernel prepares it, later ones
        parse no ELF, BTF or CO-RE relocation (fast start, as the tools
        need).  Returns the bindings themselves, now loaded."""
        if self.collection is not None:
            raise BPFError(f"{self.OBJECT_NAME} is loaded already")
        if cache:
            self.collection = self._load_cached(backend, options)
        elif backend == "vm":
            from .. import vm

            self.collection = vm.load(self.spec, **options)
        elif backend == "kernel":
            from .. import kernel

            self.collection = kernel.load(self.spec, **options)
        else:
            raise BPFError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        self.backend = backend
        return self

    def _load_cached(self, backend: str, options: dict[str, Any]) -> Any:
        if backend != "kernel":
            raise BPFError(f"{self.OBJECT_NAME}: the prepared cache is for the kernel backend")
        if isinstance(self.source, bytes):
            raise BPFError(f"{self.OBJECT_NAME}: the prepared cache loads object files: give "
                           f"the bindings the object's path")
        from ..kernel.load_cache import load_cached

        def parse(data: bytes) -> Any:   # only when the cache has no entry yet
            from ..elf import load_object

            return load_object(data)

        return load_cached(self.source, parse, set_variables=dict(self.initial), **options)

    def _loaded(self) -> Any:
        if self.collection is None:
            raise BPFError(f"{self.OBJECT_NAME} is not loaded: call load() first")
        return self.collection

    def typed_map(self, name: str, key: Callable[[Any], Any] | str | None = None,
                  value: Callable[[Any], Any] | str | None = None, *,
                  key_type: str | None = None, value_type: str | None = None
                  ) -> TypedMap[Any, Any]:
        """Loaded map ``name``; ``key``/``value`` turn decoded BTF values
        into the generated types (records, enums), or are ``"int"`` or
        ``"sint"`` for integers (which need no BTF).  ``key_type`` and
        ``value_type`` name the BTF types converted (``"struct hist_key"``):
        with them a map of a kernel load from the prepared cache decodes
        through the loaded object's BTF, and nothing is parsed."""
        if name not in self._maps:
            m = self._loaded().maps[name]
            if isinstance(key, str):
                from ..codecs import make_codec

                m.key_codec, key = make_codec(key, m.key_size), None
            if isinstance(value, str):
                from ..codecs import make_codec

                m.value_codec, value = make_codec(value, m.value_size), None
            if key is not None or value is not None:   # records or enums: BTF codecs
                named = (key is None or key_type is not None) and \
                    (value is None or value_type is not None)
                btf, key_ref, value_ref = self._map_types(name, key_type, value_type, named)
                if key is not None and key_ref is not None and btf is not None:
                    m.key_codec = RecordCodec(btf, key_ref, key)
                if value is not None and value_ref is not None and btf is not None:
                    m.value_codec = RecordCodec(btf, value_ref, value)
            self._maps[name] = TypedMap(m)
        return self._maps[name]  # type: ignore[no-any-return]

    def _map_types(self, name: str, key_type: str | None, value_type: str | None,
                   named: bool) -> tuple[Any, Any, Any]:
        """The BTF and the key and value types of map ``name`` to decode
        with: the loaded object's BTF and the names given when the object
        is not parsed and every side converted is ``named`` (a kernel
        load), else the spec's (parsing the object)."""
        if named and not self.parsed:
            btf = self._loaded_btf()
            if btf is not None:
                return btf, key_type, value_type
        mspec = self.spec.maps[name]
        return mspec.btf or self.spec.btf, mspec.key_type, mspec.value_type

    def _loaded_btf(self) -> Any:
        """The object's BTF as the kernel holds it (None in the VM, or
        without BTF), parsed once."""
        if self._btf is None:
            kbtf = getattr(self.collection, "btf", None)
            if kbtf is None or not hasattr(kbtf, "raw"):
                return None
            from ..btf import BTF

            self._btf = BTF.from_bytes(kbtf.raw())
        return self._btf

    def ring_buffer(self, name: str, record: str | None = None,
                    convert: Callable[[Any], T] | None = None) -> RingBuffer[T]:
        """Ring buffer ``name`` with records of BTF type ``record`` made
        into ``convert(decoded)`` (raw bytes without a type)."""
        if name not in self._maps:
            self._loaded()
            decode = self._prepared_decoder(name, record, convert)
            if decode is None:
                btf = self.spec.btf
                if record is not None and btf is not None:
                    decode = RecordCodec(btf, record, convert or (lambda v: v)).decode
                else:
                    decode = bytes
            self._maps[name] = RingBuffer(self, name, decode)
        return self._maps[name]  # type: ignore[no-any-return]

    def _prepared_decoder(self, name: str, record: str | None,
                          convert: Callable[[Any], Any] | None) -> Callable[[bytes], Any] | None:
        """A decoder of ``name``'s records that needs no BTF: the flat record
        type a collection loaded from the prepared cache carries, when it is
        ``record``; its fields make the dict ``convert`` takes."""
        from ..records import RecordType

        rtype = (getattr(self.collection, "record_types", None) or {}).get(name)
        if not isinstance(rtype, RecordType) or record is None or \
                record.split()[-1] != rtype.name:
            return None
        unpack = rtype.decoder()
        names = [f[0] for f in rtype.fields]
        make = convert or (lambda v: v)

        def decode(data: bytes) -> Any:
            got = unpack(data)
            if isinstance(got, bytes):   # shorter than the type
                return got
            return make(dict(zip(names, got, strict=True)))
        return decode

    def program(self, name: str) -> Any:
        """Loaded program ``name``."""
        programs = self._loaded().programs
        if name not in programs:
            raise BPFError(f"{self.OBJECT_NAME}: program {name} was not loaded (autoload "
                           f"off, or refused)")
        return programs[name]

    def attach(self, **options: Any) -> dict[str, Any]:
        """Attach every program where its section says (the kernel);
        returns the attachments by program name."""
        if self.backend != "kernel":
            raise BPFError("attach() is for the kernel backend")
        from ..kernel.runner import attach_all

        attached, _ = attach_all(self._loaded(), options)
        return attached

    def close(self) -> None:
        """Release everything loaded (the bindings can be loaded again)."""
        if self.collection is not None:
            self.collection.close()
        self.collection = None
        self.backend = None
        self._btf = None
        self._maps.clear()

    def __enter__(self: B) -> B:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BACKENDS", "ObjectBindings", "RecordCodec", "RingBuffer", "Section", "TypedMap",
           "Variable", "enum_or_int", "plain"]
