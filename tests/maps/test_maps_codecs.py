"""The shared codecs and map errors of :mod:`pybpf.codecs` (no kernel
needed): encoding rules, BTF values, the default choice both backends make,
per-CPU layouts, the error family and the raw view."""

from __future__ import annotations

import errno

import pytest

from pybpf import codecs
from pybpf.btf import BTFBuilder, Member
from pybpf.codecs import (
    BTFCodec,
    BytesCodec,
    IntCodec,
    default_codecs,
    join_percpu,
    make_codec,
    percpu_values,
    split_percpu,
)
from pybpf.errors import BPFError, KernelError, MapError, MapKeyError
from pybpf.kernel.maps import KernelMapError, KernelMapKeyError
from pybpf.maps import create_map
from pybpf.objects import MapSpec


def test_plain_codecs_take_bytes_and_ints():
    assert BytesCodec(4).encode(1) == b"\1\0\0\0"
    assert BytesCodec(4).encode(-1) == b"\xff" * 4
    assert BytesCodec(2).encode(bytearray(b"ab")) == b"ab"
    assert IntCodec(4).encode(b"\2\0\0\0") == b"\2\0\0\0"
    assert IntCodec(2, signed=True).decode(b"\xfe\xff") == -2
    assert IntCodec(8).decode(IntCodec(8).encode(1 << 63)) == 1 << 63
    assert BytesCodec(3).decode(bytearray(b"xyz")) == b"xyz"


@pytest.mark.parametrize("codec,value,exc,match", [
    (BytesCodec(4), b"abc", ValueError, "3 bytes given where 4"),
    (IntCodec(1), 256, ValueError, "does not fit"),
    (IntCodec(1), -129, ValueError, "does not fit"),
    (BytesCodec(0), 0, ValueError, "does not fit in 0 bytes"),
    (BytesCodec(4), "text", TypeError, "expected bytes or an int"),
    (IntCodec(4), 1.5, TypeError, "expected an int"),
])
def test_plain_codecs_refuse(codec, value, exc, match):
    with pytest.raises(exc, match=match):
        codec.encode(value)


def test_make_codec_names_and_sizes():
    assert isinstance(make_codec(None, 4), BytesCodec)
    assert make_codec("sint", 2).signed and not make_codec("int", 2).signed
    given = IntCodec(8)
    assert make_codec(given, 8) is given
    with pytest.raises(ValueError, match="unknown codec"):
        make_codec("float", 4)
    with pytest.raises(ValueError, match="encodes 8 bytes"):
        make_codec(IntCodec(8), 4)


def btf_pair():
    b = BTFBuilder()
    u32 = b.add_int("u32", 4)
    char = b.add_int("char", 1, signed=True, char=True)
    name = b.add_array(char, 8, u32)
    pair = b.add_struct("pair", 16, [Member("a", u32, 0), Member("name", name, 32),
                                     Member("b", u32, 96)])
    return b.build(), u32, pair


def test_btf_codec_decodes_and_encodes_through_btf():
    btf, u32, pair = btf_pair()
    codec = BTFCodec(btf, pair)
    assert codec.size == 16
    raw = (1).to_bytes(4, "little") + b"ab" + bytes(6) + (2).to_bytes(4, "little")
    decoded = codec.decode(raw)
    assert decoded == {"a": 1, "name": "ab", "b": 2}
    assert codec.encode(decoded) == raw                   # through btf.encode
    assert codec.encode(raw) == raw and codec.encode(5) == (5).to_bytes(16, "little")
    with pytest.raises(BPFError):
        codec.encode({"a": 1 << 40})                      # btf.encode refuses
    with pytest.raises(ValueError, match="is 16 bytes, not 8"):
        BTFCodec(btf, pair, 8)
    assert BTFCodec(btf, u32).decode(b"\7\0\0\0") == 7


def test_default_codecs_are_the_same_choice_for_both_backends():
    btf, u32, pair = btf_pair()
    key, value = default_codecs("hash", 4, 16, btf=btf, key_type=u32, value_type=pair)
    assert isinstance(key, BTFCodec) and isinstance(value, BTFCodec)
    key, value = default_codecs("array", 4, 8, btf=btf, key_type=None, value_type=pair)
    assert isinstance(key, IntCodec) and isinstance(value, BytesCodec)  # 16-byte type, 8-byte map
    key, value = default_codecs("hash", 4, 8)
    assert isinstance(key, BytesCodec) and isinstance(value, BytesCodec)
    for type_ in ("array", "percpu_array", "prog_array", "stack_trace", "array_of_maps"):
        assert isinstance(default_codecs(type_, 4, 4)[0], IntCodec), type_
    m = create_map(MapSpec("m", "hash", 4, 16, 4, btf=btf, key_type=u32, value_type=pair),
                   num_cpus=1)
    assert isinstance(m.key_codec, BTFCodec) and isinstance(m.value_codec, BTFCodec)


def test_percpu_layouts():
    enc = IntCodec(4).encode
    assert percpu_values(enc, [1, 2], 2, 4) == [b"\1\0\0\0", b"\2\0\0\0"]
    assert percpu_values(enc, 7, 3, 4) == [b"\7\0\0\0"] * 3         # one value for all
    layout = b"\1\0\0\0" + bytes(4) + b"\2\0\0\0" + bytes(4)
    assert percpu_values(enc, layout, 2, 4) == [b"\1\0\0\0", b"\2\0\0\0"]
    assert join_percpu([b"\1\0\0\0", b"\2\0\0\0"], 4) == layout
    assert split_percpu(layout, 2, 4) == [b"\1\0\0\0", b"\2\0\0\0"]
    with pytest.raises(ValueError, match="3 per-CPU values given for 2 CPUs"):
        percpu_values(enc, [1, 2, 3], 2, 4)


def test_one_error_family():
    assert issubclass(MapKeyError, MapError) and issubclass(MapKeyError, KeyError)
    assert issubclass(KernelMapError, MapError) and issubclass(KernelMapError, KernelError)
    assert issubclass(KernelMapKeyError, MapKeyError)
    assert issubclass(KernelMapKeyError, KernelMapError)
    e = codecs.map_error(errno.ENOENT, op="lookup", map_name="m", key=5)
    assert type(e) is MapKeyError and str(e) == "lookup on map 'm' key 5: No such file or " \
                                                "directory (ENOENT)"
    e = codecs.map_error(errno.ENOENT, "no next key", op="get_next_key", map_name="m")
    assert type(e) is MapError
    e = codecs.map_error(codecs.ENOTSUPP, op="lookup_and_delete", key=b"\1\2")
    assert e.errno_name == "ENOTSUPP" and str(e).startswith("lookup_and_delete key 0102: ")
    k = codecs.map_error(errno.ENOENT, "no such key", op="delete", map_name="k", key=1,
                         classes=(KernelMapError, KernelMapKeyError),
                         operation="BPF_MAP_DELETE_ELEM")
    assert isinstance(k, KeyError) and isinstance(k, KernelError)
    assert k.errno == errno.ENOENT and k.operation == "BPF_MAP_DELETE_ELEM" and k.op == "delete"
    assert str(k) == "delete on map 'k' key 1: no such key (ENOENT)"


def test_raw_view_is_the_map_without_codecs():
    m = create_map(MapSpec("r", "percpu_hash", 4, 4, 4), num_cpus=2, key_codec="int",
                   value_codec="int")
    m[1] = [5, 6]
    raw = m.raw
    assert raw.raw is raw and raw.type == "percpu_hash" and raw.id == m.id
    assert raw[1] == [b"\5\0\0\0", b"\6\0\0\0"] and m[1] == [5, 6]
    assert raw.items() == [(b"\1\0\0\0", [b"\5\0\0\0", b"\6\0\0\0"])]
    raw[b"\2\0\0\0"] = [b"\7\0\0\0", b"\0\0\0\0"]
    assert m[2] == [7, 0] and sorted(m) == [1, 2] and sorted(raw) == [b"\1\0\0\0", b"\2\0\0\0"]
    with pytest.raises(MapKeyError):
        raw.delete(9)
