"""Corrupt objects: real objects with bytes flipped, overwritten and cut must
raise ObjectError (or load), never IndexError, struct.error, KeyError,
UnicodeDecodeError, RecursionError, MemoryError, or hang."""

from __future__ import annotations

import contextlib
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA
from pybpf.elf import load_object
from pybpf.errors import ObjectError

OBJECTS = [p.read_bytes() for p in sorted(DATA.glob("*.o"))]
SLOW_PARSE = 20.0   # a hang guard, not a speed figure (CI machines are busy)


def _parse(data: bytes) -> None:
    t0 = time.perf_counter()
    with contextlib.suppress(ObjectError):
        load_object(data)
    assert time.perf_counter() - t0 < SLOW_PARSE, "a corrupt object took too long"


def _mutate(rng: random.Random, data: bytes) -> bytes:
    d = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:                                   # flip bits anywhere
        for _ in range(rng.randint(1, 8)):
            p = rng.randrange(len(d))
            d[p] ^= 1 << rng.randrange(8)
    elif kind == 1:                                 # cut
        d = d[:rng.randrange(len(d))]
    elif kind == 2:                                 # interesting bytes
        for _ in range(rng.randint(1, 4)):
            d[rng.randrange(len(d))] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    elif kind == 3:                                 # a random 32-bit word
        p = rng.randrange(len(d) - 4)
        d[p:p + 4] = rng.randrange(1 << 32).to_bytes(4, "little")
    else:                                           # headers: section table and ELF header
        shoff = int.from_bytes(d[0x28:0x30], "little")
        lo = shoff if shoff < len(d) and rng.random() < 0.7 else 0
        p = rng.randrange(lo, min(len(d), lo + 64 * 40))
        d[p] = rng.randrange(256)
    return bytes(d)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(OBJECTS))), st.data())
def test_flipped_bytes(index, data):
    obj = OBJECTS[index]
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(obj) - 1), st.integers(0, 255)),
                               min_size=1, max_size=6))
    buf = bytearray(obj)
    for pos, value in flips:
        buf[pos] = value
    _parse(bytes(buf))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(range(len(OBJECTS))), st.data())
def test_truncated(index, data):
    obj = OBJECTS[index]
    cut = data.draw(st.integers(0, len(obj) - 1))
    with pytest.raises(ObjectError):
        load_object(obj[:cut])


def test_seeded_mutations():
    rng = random.Random(1234)
    for _ in range(1000):
        _parse(_mutate(rng, rng.choice(OBJECTS)))


@pytest.mark.slow
def test_hundred_thousand_mutations():
    rng = random.Random(20240601)
    t0 = time.perf_counter()
    count = 100_000
    for _ in range(count):
        _parse(_mutate(rng, rng.choice(OBJECTS)))
    elapsed = time.perf_counter() - t0
    print(f"\n{count} mutated objects parsed in {elapsed:.1f} s")
