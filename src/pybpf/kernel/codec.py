"""How map keys and values turn into bytes and back.

A codec is any object with ``size`` (bytes), ``encode(value) -> bytes`` and
``decode(data) -> value``.  :class:`BytesCodec` (the default) hands out
bytes, :class:`IntCodec` integers, :class:`BTFCodec` Python values decoded
with a BTF type.  Every codec accepts bytes of the right size and integers
on input, so ``m[1] = 5`` works whatever the codec.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import BPFError


class Codec(Protocol):
    """Turns one key or value into ``size`` bytes and back."""

    size: int

    def encode(self, value: Any) -> bytes:
        """The bytes of ``value``."""

    def decode(self, data: bytes) -> Any:
        """The value of ``data``."""


def encode_plain(value: Any, size: int, what: str = "value") -> bytes:
    """Bytes (exactly ``size`` long) or an integer (little-endian; negative
    numbers in two's complement) as ``size`` bytes."""
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        if len(data) != size:
            raise BPFError(f"{what} must be {size} bytes, got {len(data)}")
        return data
    if isinstance(value, int) or hasattr(value, "__index__"):
        v = int(value)
        if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
            raise BPFError(f"{what} {v} does not fit in {size} bytes")
        return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    fd = getattr(value, "fd", None)  # a program or map stored in a prog array / map of maps
    if fd is not None and size == 4:
        return int(fd).to_bytes(4, "little")
    raise BPFError(f"{what} must be bytes or an int, not {type(value).__name__}")


class BytesCodec:
    """Keys or values as ``bytes`` (the default)."""

    def __init__(self, size: int):
        self.size = size

    def encode(self, value: Any) -> bytes:
        """Bytes of the right size, or an integer."""
        return encode_plain(value, self.size)

    def decode(self, data: bytes) -> bytes:
        """The bytes themselves."""
        return bytes(data)

    def __repr__(self) -> str:
        return f"BytesCodec({self.size})"


class IntCodec:
    """Keys or values as little-endian integers (``signed`` for two's
    complement)."""

    def __init__(self, size: int, signed: bool = False):
        self.size = size
        self.signed = signed

    def encode(self, value: Any) -> bytes:
        """An integer (or bytes of the right size)."""
        return encode_plain(value, self.size)

    def decode(self, data: bytes) -> int:
        """The integer."""
        return int.from_bytes(data, "little", signed=self.signed)

    def __repr__(self) -> str:
        return f"IntCodec({self.size}{', signed' if self.signed else ''})"


class BTFCodec:
    """Values decoded with a BTF type (``btf.decode(type, data)``: dicts for
    structs, ints, strings...).  Encoding takes bytes or an integer, or
    whatever ``pybpf.btf`` can encode once it offers ``encode``."""

    def __init__(self, btf: Any, type_ref: Any, size: int | None = None):
        self.btf = btf
        self.type = type_ref
        self.size = size if size is not None else btf.size_of(type_ref)

    def encode(self, value: Any) -> bytes:
        """Bytes, an integer, or a structured value if the BTF package can
        encode it."""
        if isinstance(value, bytes | bytearray | memoryview | int):
            return encode_plain(value, self.size)
        encoder = getattr(self.btf, "encode", None)
        if encoder is None:
            raise BPFError(f"cannot encode {type(value).__name__} as "
                           f"{self.btf.type_name(self.type)}: pass bytes")
        return encode_plain(encoder(self.type, value), self.size)

    def decode(self, data: bytes) -> Any:
        """The value as plain Python."""
        return self.btf.decode(self.type, data)

    def __repr__(self) -> str:
        return f"BTFCodec({self.btf.type_name(self.type)})"


def make_codec(codec: Codec | str | None, size: int) -> Codec:
    """A codec from a codec, ``"bytes"`` (or None), ``"int"`` or ``"sint"``."""
    if codec is None or codec == "bytes":
        return BytesCodec(size)
    if codec == "int":
        return IntCodec(size)
    if codec == "sint":
        return IntCodec(size, signed=True)
    if isinstance(codec, str):
        raise BPFError(f"unknown codec {codec!r}: use 'bytes', 'int', 'sint' or a codec object")
    if getattr(codec, "size", size) != size:
        raise BPFError(f"codec {codec!r} encodes {codec.size} bytes, the map needs {size}")
    return codec
