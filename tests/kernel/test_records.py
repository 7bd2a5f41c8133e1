"""Record types of ring and perf buffers chosen without guesswork: the type
named by the caller, the map definition's value type, ``BPF_RECORD(map, T)``
from the bundled headers, and only then — reported as a guess — the one
struct of the size the programs reserve; several structs of that size mean
no guess (bytes, and a note saying why).  Both backends decode alike,
batches decode, the prepared cache keeps the rule, and ``pybpf load`` says
how each buffer's records print (``--record-type`` names a type)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from conftest import DATA, SRC
from pybpf import kernel
from pybpf.elf import load_object
from pybpf.errors import BPFError
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec
from pybpf.records import (
    DECLARED,
    EXPLICIT,
    MAP_VALUE,
    RESERVE_SIZE,
    UNKNOWN,
    RecordType,
    choose_record,
)

SOURCE = DATA / "headers" / "records.bpf.c"


@pytest.fixture(scope="module")
def records_object(tmp_path_factory):
    from pybpf.toolchain import CompilerNotFound, compile

    out = tmp_path_factory.mktemp("records") / "records.bpf.o"
    try:
        return compile(SOURCE, out, vmlinux=False)
    except CompilerNotFound as e:
        pytest.skip(str(e))


@pytest.fixture()
def spec(records_object):
    return load_object(records_object)


# --- the rules ---------------------------------------------------------------------------

def test_each_rule_and_what_it_says(spec):
    rb, typed, guess, twins, pb = (choose_record(spec, m) for m in
                                   ("rb", "typed", "guess", "twins", "pb"))
    # BPF_RECORD wins over struct twin, which has the same size
    assert (rb.rule, rb.name, rb.certain) == (DECLARED, "struct ev", True)
    assert rb.describe() == "rb: records decoded as struct ev (declared with BPF_RECORD)"
    assert (typed.rule, typed.name) == (MAP_VALUE, "struct big")
    assert "the map's value type" in typed.describe()
    assert (pb.rule, pb.name) == (DECLARED, "struct ev")
    pbt = choose_record(spec, "pbt")
    assert (pbt.rule, pbt.name) == (MAP_VALUE, "struct lone")
    # the map itself is what the kernel wants: no ring buffer value, 4-byte fd slots
    assert (spec.maps["typed"].key_size, spec.maps["typed"].value_size) == (0, 0)
    assert (spec.maps["pbt"].key_size, spec.maps["pbt"].value_size) == (4, 4)
    # a guess is said to be one
    assert (guess.rule, guess.name, guess.certain) == (RESERVE_SIZE, "struct lone", False)
    assert "a guess" in guess.describe() and "BPF_RECORD(guess, struct lone)" in guess.describe()
    # three structs of 24 bytes: no pick at all
    assert twins.rule == UNKNOWN and twins.decode is None and twins.type is None
    text = twins.describe()
    assert text.startswith("twins: records shown as hex: 3 structs have the 24 bytes")
    assert "struct big" in text and "struct twin" in text and "struct ev" in text


def test_the_caller_names_the_type(spec):
    c = choose_record(spec, "twins", "struct twin")
    assert (c.rule, c.name) == (EXPLICIT, "struct twin")
    assert c.decode((1).to_bytes(8, "little") * 3) == (1, 1, 1)
    assert choose_record(spec, "rb", "twin").name == "struct twin"  # without the keyword
    # a size that disagrees with what the programs send is said
    c = choose_record(spec, "rb", "struct __sk_buff")
    assert c.rule == EXPLICIT and c.note == ("the programs send 24-byte records, shorter than "
                                             "its 192 bytes: they stay bytes")
    c = choose_record(spec, "rb", "struct lone")
    assert "the last 12 bytes are left out" in c.note
    with pytest.raises(BPFError, match=r"no type 'struct nope' \(its structs: .*struct ev.*"
                                       r"BPF_RECORD"):
        choose_record(spec, "rb", "struct nope")
    rt = RecordType("mine", 4, [("x", "int", 0, "I", 1)])
    assert choose_record(spec, "rb", rt).decode is rt
    assert choose_record(spec, "rb", bytes.hex).decode is bytes.hex


def test_the_macro_is_an_ordinary_rodata_variable(spec):
    assert "__bpf_record__rb" in spec.variables
    ro = spec.maps[".rodata"]
    assert ro.freeze  # read-only: libbpf and the kernel see plain rodata


def test_without_btf_records_stay_bytes_and_say_why():
    prog = ProgramSpec.from_assembly("p", "r0 = 0\nexit", type="socket_filter")
    spec = ObjectSpec.build([prog], [MapSpec("rb", "ringbuf", 0, 0, 4096)])
    c = choose_record(spec, "rb")
    assert c.rule == UNKNOWN and c.decode is None and "no BTF" in c.describe()
    with pytest.raises(BPFError, match="no BTF"):
        choose_record(spec, "rb", "struct ev")


def test_a_record_type_is_a_decoder():
    rt = RecordType("ev", 8, [("a", "int", 0, "I", 1), ("b", "int", 4, "i", 1)])
    assert rt(b"\x01\0\0\0\xff\xff\xff\xff") == (1, -1)
    assert rt(b"abc") == b"abc"  # too short: the bytes


# --- both backends -----------------------------------------------------------------------

EXPECTED = {
    "rb": [("ev", 42, 1, "pybpf")],
    "typed": [("big", 9, "big", (1, 2, 3, 4))],
    "guess": [("lone", 1, 2, 3)],
}


def _rows(records):
    return [(type(r).__name__, *r) if not isinstance(r, bytes) else r for r in records]


def test_the_vm_decodes_by_the_same_rules(spec):
    import pybpf.vm

    with pybpf.vm.load(spec) as coll:
        coll.programs["produce"].test_run(bytes(64))
        for name, want in EXPECTED.items():
            assert _rows(coll.ringbuf(name)) == want, name
        assert list(coll.ringbuf("twins")) == [bytes.fromhex("01" + "00" * 7 + "02" + "00" * 7 +
                                                             "03" + "00" * 7)]
        coll.programs["produce"].test_run(bytes(64))
        assert [r.c for r in coll.ringbuf("twins", record="struct twin")] == [3]


@pytest.mark.kernel
def test_the_kernel_decodes_by_each_rule(spec):
    with kernel.load(spec) as coll:
        readers = {n: coll.ringbuf(n) for n in ("rb", "typed", "guess", "twins")}
        samples = []
        pb = coll.perfbuf("pb", samples.append)
        coll.programs["produce"].test_run(bytes(64))
        for name, want in EXPECTED.items():
            assert _rows(readers[name].read()) == want, name
        assert readers["rb"].record.rule == DECLARED
        assert readers["typed"].record.rule == MAP_VALUE
        assert readers["guess"].record.rule == RESERVE_SIZE
        assert readers["twins"].record.rule == UNKNOWN
        assert [len(r) for r in readers["twins"].read()] == [24]
        assert pb.poll(1.0) == 1 and _rows(samples) == [("ev", 7, 3, "perf")]
        assert pb.record.rule == DECLARED
        typed = []
        pbt = coll.perfbuf("pbt", typed.append)
        coll.programs["produce"].test_run(bytes(64))
        assert pbt.poll(1.0) == 1 and _rows(typed) == [("lone", 4, 5, 6)]
        assert pbt.record.rule == MAP_VALUE


@pytest.mark.kernel
def test_batches_decode_as_their_reader(spec):
    from pybpf.kernel.ringbuf import RingBuffer

    with kernel.load(spec) as coll:
        rb = coll.ringbuf("rb")
        explicit = coll.ringbuf("twins", record="struct twin")
        for _ in range(3):
            coll.programs["produce"].test_run(bytes(64))
        batch = rb.read_batch()
        assert len(batch) == 3 and [e.pid for e in batch.decode()] == [42] * 3
        assert [bytes(b)[:4] for b in batch] == [(42).to_bytes(4, "little")] * 3
        assert [t.b for t in explicit.read_batch().decode()] == [2] * 3
        # a reader made by hand: the type is found in the BTF it is given
        direct = RingBuffer(coll.maps["guess"], record="struct lone", btf=spec.btf)
        coll.readers.append(direct)
        assert direct.record.rule == EXPLICIT
        coll.programs["produce"].test_run(bytes(64))
        assert [tuple(r) for r in direct.read_batch().decode()] == [(1, 2, 3)] * 4
        with pytest.raises(BPFError, match="needs the object's BTF"):
            RingBuffer(coll.maps["guess"], record="struct lone")
        raw = RingBuffer(coll.maps["guess"])
        coll.readers.append(raw)
        assert raw.record.rule == UNKNOWN and raw.read_batch().decode() == []


@pytest.mark.kernel
def test_the_prepared_cache_keeps_type_and_rule(records_object, tmp_path):
    from pybpf.kernel.load_cache import load_cached

    for _ in range(2):  # prepared, then from the cache
        with load_cached(records_object, load_object, directory=str(tmp_path),
                         record_types={"twins": "struct twin"}) as coll:
            assert coll.spec is None
            readers = {n: coll.ringbuf(n) for n in ("rb", "typed", "guess", "twins")}
            assert {n: r.record.rule for n, r in readers.items()} == {
                "rb": DECLARED, "typed": MAP_VALUE, "guess": RESERVE_SIZE, "twins": EXPLICIT}
            coll.programs["produce"].test_run(bytes(64))
            assert _rows(readers["rb"].read()) == EXPECTED["rb"]
            assert [t.c for t in readers["twins"].read()] == [3]
            # a type named later is found in the object's BTF, read back from the kernel
            again = coll.ringbuf("guess", record="struct twin")
            assert again.record.name == "struct twin"


# --- pybpf load ---------------------------------------------------------------------------

TRACED = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile int target_pid = 0;

struct hit { int pid; int magic; };
struct odd { char b[20]; };	/* 20 bytes: no struct of that size is in BTF */

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } hits SEC(".maps");
BPF_RECORD(hits, struct hit);
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } odds SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct hit *h;
	struct odd *o;

	if ((int)(bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	h = bpf_ringbuf_reserve(&hits, sizeof(*h), 0);
	if (h) {
		h->pid = target_pid;
		h->magic = 0x5eed;
		bpf_ringbuf_submit(h, 0);
	}
	o = bpf_ringbuf_reserve(&odds, sizeof(*o), 0);
	if (o) {
		__builtin_memset(o->b, 0xab, sizeof(o->b));
		bpf_ringbuf_submit(o, 0);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def traced_object(tmp_path_factory):
    from pybpf.toolchain import CompilerNotFound, compile_source

    out = tmp_path_factory.mktemp("traced") / "traced.bpf.o"
    try:
        return compile_source(TRACED, out, name="traced.bpf.c", vmlinux=False)
    except CompilerNotFound as e:
        pytest.skip(str(e))


def _load_cli(obj, *extra: str) -> tuple[str, str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "load", str(obj), "--attach",
                             "--set", f"target_pid={os.getpid()}", "-d", "3", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 2.5
    while proc.poll() is None and time.monotonic() < deadline:
        os.getppid()  # fires the program once attached
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out, err


@pytest.mark.kernel
def test_load_says_once_how_records_print(traced_object):
    out, err = _load_cli(traced_object)
    assert "hits: records decoded as struct hit (declared with BPF_RECORD)" in err
    assert err.count("odds: records shown as hex: the object's BTF has no struct of the 20 "
                     "bytes") == 1
    hits = [ln for ln in out.splitlines() if ln.startswith("hits: ")]
    odds = [ln for ln in out.splitlines() if ln.startswith("odds: ")]
    assert hits and hits[0] == f"hits: pid={os.getpid()} magic={0x5eed}"
    assert odds and odds[0] == "odds: " + "ab" * 20


@pytest.mark.kernel
def test_load_record_type_option(traced_object):
    out, err = _load_cli(traced_object, "--record-type", "odds=struct hit")
    assert "odds: records decoded as struct hit (as asked); the programs send 20-byte " \
           "records; the last 12 bytes are left out" in err
    odds = [ln for ln in out.splitlines() if ln.startswith("odds: ")]
    assert odds and odds[0] == f"odds: pid={0xabababab - (1 << 32)} magic={0xabababab - (1 << 32)}"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    bad = subprocess.run([sys.executable, "-m", "pybpf", "load", str(traced_object),
                          "--record-type", "nope=struct hit", "-d", "0"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode != 0 and "no ring or perf buffer 'nope' (buffers: hits, odds)" in \
        bad.stderr
