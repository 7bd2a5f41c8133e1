"""Codecs: how map keys and values turn into Python objects and back.

A map stores bytes.  The Python mapping protocol (``m[key]``, ``items()``)
goes through two codecs, one for keys and one for values.  A codec has
``size`` (bytes), ``encode(obj) -> bytes`` and ``decode(bytes) -> obj``.
:class:`BytesCodec` keeps bytes (and accepts ints, little-endian),
:class:`IntCodec` speaks integers, :class:`BTFCodec` decodes with the map's
BTF type.  Any object with the same three members can be plugged in::

    m.value_codec = IntCodec(8)
    m[1] += 1
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Codec(Protocol):
    """Turns objects into ``size`` bytes and back."""

    size: int

    def encode(self, obj: Any) -> bytes:
        """The bytes for ``obj``; raises TypeError or ValueError when it cannot."""
        ...

    def decode(self, data: bytes) -> Any:
        """The object ``data`` stands for."""
        ...


def encode_plain(obj: Any, size: int) -> bytes | None:
    """``obj`` as ``size`` bytes when it is bytes-like or an int (little-endian,
    two's complement when negative); None for anything else.  Raises
    ValueError when it does not fit."""
    if isinstance(obj, bytes):
        data = obj
    elif isinstance(obj, (bytearray, memoryview)):
        data = bytes(obj)
    elif isinstance(obj, int):
        try:
            return obj.to_bytes(size, "little", signed=obj < 0)
        except OverflowError:
            raise ValueError(f"{obj} does not fit in {size} bytes") from None
    else:
        return None
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes given where the map wants {size}")
    return data


class BytesCodec:
    """Raw bytes; ints are accepted and encoded little-endian."""

    def __init__(self, size: int):
        self.size = size

    def encode(self, obj: Any) -> bytes:
        """``obj`` (bytes-like or int) as ``size`` bytes."""
        data = encode_plain(obj, self.size)
        if data is None:
            raise TypeError(f"expected bytes or int, not {type(obj).__name__}")
        return data

    def decode(self, data: bytes) -> bytes:
        """``data`` itself."""
        return bytes(data)

    def __repr__(self) -> str:
        return f"BytesCodec({self.size})"


class IntCodec:
    """Little-endian integers of ``size`` bytes (signed if asked)."""

    def __init__(self, size: int, *, signed: bool = False):
        self.size = size
        self.signed = signed

    def encode(self, obj: Any) -> bytes:
        """``obj`` (int or bytes-like) as ``size`` bytes."""
        data = encode_plain(obj, self.size)
        if data is None:
            raise TypeError(f"expected an int, not {type(obj).__name__}")
        return data

    def decode(self, data: bytes) -> int:
        """The integer in ``data``."""
        return int.from_bytes(data, "little", signed=self.signed)

    def __repr__(self) -> str:
        return f"IntCodec({self.size}{', signed=True' if self.signed else ''})"


class BTFCodec:
    """Values of a BTF type: decoded with :func:`pybpf.btf.values.decode`
    (dicts for structs, ints, strings for ``char`` arrays...).  Encoding takes
    bytes or ints, and whatever the BTF package can encode."""

    def __init__(self, btf: Any, type_ref: Any, size: int):
        self.btf = btf
        self.type = btf.type(type_ref)
        self.size = size
        from ..btf import values

        self._decoder = values.decoder(btf, self.type.id)
        btf_encode = getattr(btf, "encode", None)
        module_encode = getattr(values, "encode", None)
        if btf_encode is not None:
            self._encoder = lambda _btf, type_, obj: btf_encode(type_, obj)
        else:
            self._encoder = module_encode

    def encode(self, obj: Any) -> bytes:
        """``obj`` as bytes: bytes and ints directly, other objects through the
        BTF package's encoder when it has one."""
        data = encode_plain(obj, self.size)
        if data is not None:
            return data
        if self._encoder is None:
            raise TypeError(f"cannot encode {type(obj).__name__} as BTF type "
                            f"{self.type.name or self.type.id}: pass bytes or an int")
        data = bytes(self._encoder(self.btf, self.type, obj))
        if len(data) != self.size:
            raise ValueError(f"encoded {len(data)} bytes where the map wants {self.size}")
        return data

    def decode(self, data: bytes) -> Any:
        """``data`` decoded as the BTF type."""
        return self._decoder(bytes(data), 0)

    def __repr__(self) -> str:
        return f"BTFCodec({self.type.name or self.type.id!r}, {self.size})"


def default_codec(btf: Any, type_ref: Any, size: int, *, integer: bool = False) -> Codec:
    """The codec a map uses when none is given: BTF when the spec has a type,
    else integers for index-like keys (``integer``), else bytes."""
    if btf is not None and type_ref is not None:
        try:
            return BTFCodec(btf, type_ref, size)
        except Exception:  # a type the BTF package cannot decode: fall back to bytes
            pass
    if integer:
        return IntCodec(size)
    return BytesCodec(size)
