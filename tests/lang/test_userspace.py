"""The user-space half in the same file: maps, globals and ring buffer
records read back typed by the file's own declarations, on both backends."""

from __future__ import annotations

import pytest

from pybpf.lang.compiler import compile_module, load_module
from pybpf.lang.run import load

SOURCE = '''
from pybpf.lang import Global, HashMap, Knob, RingBuf, Struct, char, socket_filter, u16, u32, u64


class Event(Struct):
    seq: u32
    size: u16
    tag: char[8]
    total: u64


class Stats(Struct):
    packets: u64
    bytes: u64


by_size = HashMap[u32, u64](max_entries=64)
stats = HashMap[u32, Stats](max_entries=4)
events = RingBuf(max_entries=4096)
seq = Global(u32)
tag = Knob(u32, 7)


@socket_filter
def count(skb) -> int:
    global seq
    by_size[skb.len] += 1
    s = stats.setdefault(0)
    if s is not None:
        s.packets += 1
        s.bytes += skb.len
    seq += 1
    e = events.reserve(Event)
    e.seq = seq
    e.size = u16(skb.len)
    e.tag[0] = 80
    e.tag[1] = 89
    e.total = s.bytes if s is not None else 0
    events.submit(e)
    return tag
'''


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "counter.py"
    path.write_text(SOURCE)
    module = load_module(path)
    return module, compile_module(module)


def check(module, compiled, backend):
    with load(compiled, backend=backend, knobs={"tag": 9}) as f:
        prog = f.collection.programs["count"]
        for size in (20, 20, 33):           # skb.len: the frame less its Ethernet header
            assert prog.test_run(b"\0" * (14 + size)).retval == 9
        assert dict(module.by_size.items()) == {20: 2, 33: 1}
        assert module.by_size[20] == 2
        assert module.stats[0] == module.Stats(packets=3, bytes=73)
        assert module.seq.value == 3
        records = f.records(module.events)
        assert [type(r) for r in records] == [module.Event] * 3
        assert [(r.seq, r.size, r.tag, r.total) for r in records] == \
            [(1, 20, b"PY", 20), (2, 20, b"PY", 40), (3, 33, b"PY", 73)]
        module.by_size[99] = 5             # user space writes through the declaration too
        assert module.by_size.get(99) == 5
        del module.by_size[99]
        assert module.by_size.get(99) is None
    assert module.by_size.bound is None    # unbound once closed


def test_typed_maps_globals_and_records_in_the_vm(program):
    check(*program, "vm")


@pytest.mark.kernel("test_run")
def test_typed_maps_globals_and_records_in_the_kernel(program):
    check(*program, "kernel")
