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


MAPS_OF_MAPS = '''
from pybpf.lang import Array, ArrayOfMaps, socket_filter, u32, u64

inner = Array[u32, u64](max_entries=4)
outer = ArrayOfMaps(u32, max_entries=2, inner=inner)


@socket_filter
def prog(skb) -> int:
    m = outer.get(0)            # the map at outer[0], or None
    if m is None:
        return 1
    m[1] += 5
    return 2
'''


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_a_map_of_maps_gives_a_map_the_program_uses(tmp_path, backend):
    from pybpf.lang.run import load

    path = tmp_path / "mom.py"
    path.write_text(MAPS_OF_MAPS)
    module = load_module(path)
    with load(compile_module(module), backend=backend) as f:
        prog = f.collection.programs["prog"]
        assert prog.test_run(bytes(40)).retval == 1
        f.collection.maps["outer"][0] = f.collection.maps["inner"]
        assert prog.test_run(bytes(40)).retval == 2
        assert module.inner[1] == 5


BPF_LOOP = '''
from pybpf.lang import Global, function, ptr, socket_filter, u32, u64
from pybpf.lang.helpers import bpf_loop

total = Global(u64)


@function
def step(index: u32, acc: ptr[u64]) -> int:
    acc[0] += index * index
    return 0                    # 1 would stop the loop


@socket_filter
def prog(skb) -> int:
    global total
    acc = u64[1]()
    bpf_loop(100, step, acc, 0)
    total = acc[0]
    return 0
'''


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_bpf_loop_calls_a_function_of_the_file(tmp_path, backend):
    from pybpf.lang.run import load

    path = tmp_path / "loop.py"
    path.write_text(BPF_LOOP)
    module = load_module(path)
    with load(compile_module(module), backend=backend) as f:
        f.collection.programs["prog"].test_run(bytes(40))
        assert module.total.value == sum(i * i for i in range(100))


FILLED_MAPS_OF_MAPS = '''
from pybpf.lang import Array, ArrayOfMaps, HashOfMaps, socket_filter, u32, u64

a = Array[u32, u64](max_entries=4)
b = Array[u32, u64](max_entries=4)
outer = ArrayOfMaps(u32, max_entries=4, inner=a, values={0: a, 2: b})
by_key = HashOfMaps(u32, max_entries=8, inner=a, values={7: b})


@socket_filter
def prog(skb) -> int:
    found: u32 = 0
    for i in range(4):
        m = outer.get(i)
        if m is not None:
            m[1] += i + 1
            found += 1
    h = by_key.get(7)
    if h is not None:
        h[3] = 99
    return found
'''


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_maps_of_maps_are_filled_from_the_declaration(tmp_path, backend):
    from lang_util import bpftool_loadall

    from pybpf.lang.run import load

    path = tmp_path / "filled.py"
    path.write_text(FILLED_MAPS_OF_MAPS)
    module = load_module(path)
    compiled = compile_module(module)
    spec = compiled.object_spec()
    assert spec.maps["outer"].contents == [(0, "a"), (2, "b")]
    assert spec.maps["by_key"].contents == [(7, "b")]
    with load(compiled, backend=backend) as f:
        assert f.collection.programs["prog"].test_run(bytes(40)).retval == 2   # slots 0, 2
        assert (module.a[1], module.b[1], module.b[3]) == (1, 3, 99)
    if backend == "kernel":
        result = bpftool_loadall(compiled.elf, tmp_path)       # libbpf fills them too
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("declaration, message", [
    ("outer = ArrayOfMaps(u32, max_entries=2, inner=a, values={2: a})",
     "not an index below max_entries"),
    ("outer = ArrayOfMaps(u32, max_entries=2, inner=a, values={0: c})",
     "is not a map like the inner one"),
    ("outer = ArrayOfMaps(u32, max_entries=2, inner=a, values=[Array[u32, u64](max_entries=4)])",
     "not a map declared"),
    ("outer = Array[u32, u64](max_entries=2, values={0: a})", "takes no values="),
])
def test_initial_maps_that_cannot_be_are_refused_at_their_line(tmp_path, declaration, message):
    from pybpf.lang import CompileError

    path = tmp_path / "bad.py"
    path.write_text(f'''
from pybpf.lang import Array, ArrayOfMaps, HashMap, socket_filter, u32, u64

a = Array[u32, u64](max_entries=4)
c = HashMap[u32, u64](max_entries=4)
{declaration}


@socket_filter
def prog(skb) -> int:
    return 0
''')
    with pytest.raises(CompileError, match=message) as e:
        compile_module(load_module(path))
    assert e.value.line == 6


FILLED_PROG_ARRAY = '''
from pybpf.lang import Global, ProgArray, program, socket_filter, u32

hops = Global(u32)


@program("socket")
def second(skb) -> int:
    global hops
    hops += 1
    return 2


@program("socket")
def third(skb) -> int:
    return 3


jumps = ProgArray(max_entries=4, values={0: second, 2: third})


@socket_filter
def first(skb) -> int:
    jumps.tail_call(skb, skb.len % 4)       # slot = packet length mod 4
    return 1                                # an empty slot: no tail call
'''


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_a_program_array_is_filled_from_the_declaration(tmp_path, backend):
    from lang_util import bpftool_loadall

    from pybpf.lang.run import load

    path = tmp_path / "jumps.py"
    path.write_text(FILLED_PROG_ARRAY)
    module = load_module(path)
    compiled = compile_module(module)
    assert compiled.object_spec().maps["jumps"].contents == [(0, "second"), (2, "third")]
    with load(compiled, backend=backend) as f:
        first = f.collection.programs["first"]
        # a socket filter's skb.len leaves out the 14-byte Ethernet header
        assert [first.test_run(bytes(14 + n)).retval for n in (40, 41, 42, 43)] == [2, 1, 3, 1]
        assert module.hops.value == 1
    if backend == "kernel":
        result = bpftool_loadall(compiled.elf, tmp_path)
        assert result.returncode == 0, result.stderr


def test_a_program_array_takes_programs_only(tmp_path):
    from pybpf.lang import CompileError

    path = tmp_path / "bad.py"
    path.write_text('''
from pybpf.lang import Array, ProgArray, socket_filter, u32, u64

a = Array[u32, u64](max_entries=4)
jumps = ProgArray(max_entries=2, values=[a])


@socket_filter
def prog(skb) -> int:
    return 0
''')
    with pytest.raises(CompileError, match="not a program") as e:
        compile_module(load_module(path))
    assert e.value.line == 5


GLOBAL_ARRAY = '''
from pybpf.lang import Array, Global, socket_filter, u32, u64

out = Array[u32, u64](max_entries=1)
counts = Global(u64[4])


@socket_filter
def prog(skb) -> int:
    for i in range(0, 4, 2):
        counts[i] += 1
    out[0] = counts[2]              # a constant index of a global array
    return 0
'''


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_a_global_array_is_read_at_a_constant_index(tmp_path, backend):
    from pybpf.lang.run import load

    path = tmp_path / "garray.py"
    path.write_text(GLOBAL_ARRAY)
    module = load_module(path)
    with load(compile_module(module), backend=backend) as f:
        for _ in range(2):
            f.collection.programs["prog"].test_run(bytes(40))
        assert module.counts.value == [2, 0, 2, 0]
        assert module.out[0] == 2
