"""Map kinds used from programs: queues and stacks (push, pop, peek), an
LPM trie (lookup, ``in``), a program array (tail calls), perf event arrays
declared, on both backends with the same results."""

from __future__ import annotations

import pytest

from pybpf.lang import htonl
from pybpf.lang.compiler import compile_module, load_module

SOURCE = '''
from pybpf.lang import (Array, Global, LpmTrie, PerfEventArray, ProgArray, Queue, Stack, Struct,
                        htonl, program, socket_filter, u32, u64)


class Prefix(Struct):
    prefixlen: u32
    addr: u32           # network order


q = Queue[u64](max_entries=8)
st = Stack[u64](max_entries=8)
routes = LpmTrie[Prefix, u32](max_entries=16)
perf = PerfEventArray()
jumps = ProgArray(max_entries=4)
out = Array[u32, u64](max_entries=8)
hops = Global(u32)


@socket_filter
def main_prog(skb) -> int:
    q.push(11)
    q.push(22)
    st.push(11)
    st.push(22)
    out[0] = q.pop()
    out[1] = st.pop()
    out[2] = q.peek()
    k = Prefix(prefixlen=32, addr=htonl(0x0A000001))
    hit = routes.get(k)
    if hit is not None:
        out[3] = hit[0]
    out[4] = 1 if k in routes else 0
    jumps.tail_call(skb, 0)
    return 1                    # only when the tail call fails


@program("socket")
def second(skb) -> int:
    global hops
    hops += 1
    return 2
'''


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "maps.py"
    path.write_text(SOURCE)
    module = load_module(path)
    return module, compile_module(module)


def check(module, compiled, backend):
    from pybpf.lang.run import load

    with load(compiled, backend=backend) as f:
        module.routes[module.Prefix(prefixlen=8, addr=htonl(0x0A000000))] = 7
        progs = f.collection.programs
        assert progs["main_prog"].test_run(bytes(40)).retval == 1       # no program at 0
        assert [v for _, v in module.out.items()[:5]] == [11, 22, 22, 7, 1]
        f.collection.maps["jumps"][0] = progs["second"]
        assert progs["main_prog"].test_run(bytes(40)).retval == 2       # the tail call
        assert module.hops.value == 1
        # the queue kept 22 from the first run: FIFO gives it back first
        assert [v for _, v in module.out.items()[:3]] == [22, 22, 11]


def test_map_kinds_from_programs_in_the_vm(program):
    check(*program, "vm")


@pytest.mark.kernel("test_run")
def test_map_kinds_from_programs_in_the_kernel(program):
    check(*program, "kernel")
