"""Differential tests: userspace maps against real kernel maps.

A tiny ctypes ``bpf()`` wrapper (this file only; the library's kernel
backend is a separate package) creates the same maps in the running kernel,
runs the same operations on both, and compares errnos, iteration orders,
batch results, bloom-filter answers and ring-buffer bytes.  Skipped, with
the reason, where ``bpf()`` is refused.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import random
import struct

import pytest

from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_NO_PREALLOC,
    BPF_F_ZERO_SEED,
    BPF_NOEXIST,
    MapError,
    create_map,
)
from pybpf.maps._abi import MAP_TYPE_IDS
from pybpf.maps.jhash import jhash
from pybpf.objects import MapSpec

pytestmark = pytest.mark.kernel

_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(platform.machine(), -1)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
ATTR_SIZE = 128

MAP_CREATE, LOOKUP, UPDATE, DELETE, NEXT_KEY, PROG_LOAD, TEST_RUN = 0, 1, 2, 3, 4, 5, 10
LOOKUP_AND_DELETE, FREEZE = 21, 22
LOOKUP_BATCH, LOOKUP_AND_DELETE_BATCH, UPDATE_BATCH, DELETE_BATCH = 24, 25, 26, 27


def bpf(cmd: int, attr: bytes) -> tuple[int, int, bytes]:
    """(result, errno, attr as the kernel left it)."""
    buf = ctypes.create_string_buffer(attr, ATTR_SIZE)
    res = _libc.syscall(_NR_BPF, cmd, buf, ATTR_SIZE)
    return res, (ctypes.get_errno() if res < 0 else 0), buf.raw


def possible_cpus() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    return sum(int(b) - int(a) + 1 if "-" in part else 1
               for part in text.split(",")
               for a, _, b in [part.partition("-")] if part)


class KernelMap:
    """A kernel map through raw bpf() calls; every call returns its errno."""

    def __init__(self, spec: MapSpec, inner_fd: int = 0):
        attr = struct.pack("<7I16s5IQ", MAP_TYPE_IDS[spec.type], spec.key_size,
                           spec.value_size, spec.max_entries, spec.flags, inner_fd, 0,
                           spec.name.encode()[:15], 0, 0, 0, 0, 0, spec.map_extra)
        fd, err, _ = bpf(MAP_CREATE, attr)
        if fd < 0:
            raise OSError(err, os.strerror(err))
        self.fd = fd
        self.key_size, self.value_size = spec.key_size, spec.value_size

    def close(self) -> None:
        os.close(self.fd)

    def _elem(self, cmd: int, key: bytes | None, value: bytes | None, flags: int = 0,
              out: int = 0) -> tuple[int, bytes]:
        kbuf = ctypes.create_string_buffer(key, max(len(key), 1)) if key is not None else None
        vbuf = ctypes.create_string_buffer(value, max(len(value), 1)) if value is not None \
            else ctypes.create_string_buffer(max(out, 1))
        vaddr = 0 if cmd == DELETE else ctypes.addressof(vbuf)
        attr = struct.pack("<IIQQQ", self.fd, 0, ctypes.addressof(kbuf) if kbuf else 0, vaddr,
                           flags)
        _, err, _ = bpf(cmd, attr)
        return err, vbuf.raw[:out]

    def lookup(self, key, flags=0, size=None):
        return self._elem(LOOKUP, key, None, flags, size or self.value_size)

    def update(self, key, value, flags=0):
        return self._elem(UPDATE, key, value, flags)[0]

    def delete(self, key):
        return self._elem(DELETE, key, None)[0]

    def lookup_and_delete(self, key, flags=0, size=None):
        return self._elem(LOOKUP_AND_DELETE, key, None, flags, size or self.value_size)

    def next_key(self, key):
        return self._elem(NEXT_KEY, key, None, 0, self.key_size)

    def freeze(self):
        return bpf(FREEZE, struct.pack("<I", self.fd))[1]

    def batch(self, cmd, cursor, count, keys=b"", values=b"", elem_flags=0, flags=0,
              value_size=None):
        """(errno, count, out cursor, keys, values)."""
        vs = value_size or self.value_size
        csize = max(self.key_size, 4)
        inb = ctypes.create_string_buffer(cursor, csize) if cursor is not None else None
        outb = ctypes.create_string_buffer(csize)
        kb = ctypes.create_string_buffer(keys, max(len(keys), count * self.key_size, 1))
        vb = ctypes.create_string_buffer(values, max(len(values), count * vs, 1))
        attr = struct.pack("<QQQQIIQQ", ctypes.addressof(inb) if inb else 0,
                           ctypes.addressof(outb), ctypes.addressof(kb), ctypes.addressof(vb),
                           count, self.fd, elem_flags, flags)
        _, err, raw = bpf(cmd, attr)
        n = struct.unpack_from("<I", raw, 32)[0]
        return err, n, outb.raw, kb.raw[:n * self.key_size], vb.raw[:n * vs]


@pytest.fixture(scope="module")
def ncpus():
    return possible_cpus()


def pair(s: MapSpec, ncpus: int):
    """The kernel map and our map seen raw (bytes in and out, as bpf())."""
    return KernelMap(s), create_map(s, num_cpus=ncpus).raw


def ours(fn, *args, **kw):
    """(errno, result) of a userspace call."""
    try:
        return 0, fn(*args, **kw)
    except MapError as exc:
        return exc.errno, None


def our_next(m, key):
    """(errno, next key) of get_next_key, with the end as the kernel says it
    (ENOENT; the map protocol returns None)."""
    err, nxt = ours(m.get_next_key, key)
    return (errno.ENOENT, None) if err == 0 and nxt is None else (err, nxt)


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


# --------------------------------------------------------------------- creation errnos

CREATE_CASES = [
    ("hash", 0, 8, 4, 0, 0), ("hash", 4, 0, 4, 0, 0), ("hash", 4, 8, 0, 0, 0),
    ("hash", 4, 8, 4, 2, 0), ("hash", 4, 8, 4, 1 << 20, 0), ("hash", 4, 8, 4, 0x400, 0),
    ("hash", 4, 8, 4, 0, 1), ("hash", 4, 1 << 30, 4, 0, 0), ("hash", 4, 8, 4, 0x18, 0),
    ("lru_hash", 4, 8, 4, BPF_F_NO_PREALLOC, 0), ("percpu_hash", 4, 32769, 4, 0, 0),
    ("array", 8, 8, 4, 0, 0), ("array", 4, 8, 4, 1, 0), ("array", 4, 8, 4, 0x40, 0),
    ("array", 4, 8, 4, 0x800, 0), ("array", 4, 8, 4, 0x1000, 0),
    ("percpu_array", 4, 32769, 4, 0, 0), ("percpu_array", 4, 32768, 4, 0, 0),
    ("percpu_array", 4, 8, 4, 0x400, 0),
    ("lpm_trie", 8, 8, 4, 0, 0), ("lpm_trie", 4, 8, 4, 1, 0), ("lpm_trie", 261, 8, 4, 1, 0),
    ("lpm_trie", 260, 8, 4, 1, 0), ("lpm_trie", 8, 0, 4, 1, 0),
    ("queue", 4, 8, 4, 0, 0), ("queue", 0, 0, 4, 0, 0), ("queue", 0, 8, 4, 1, 0),
    ("stack", 0, 8, 4, 0, 0), ("bloom_filter", 4, 8, 4, 0, 0),
    ("bloom_filter", 0, 8, 4, 0, 16), ("bloom_filter", 0, 8, 4, 0, 15),
    ("bloom_filter", 0, 8, 4, 1, 0), ("bloom_filter", 0, 8, 4, 0x40, 0),
    ("ringbuf", 0, 0, 4096, 0, 0), ("ringbuf", 4, 0, 8192, 0, 0), ("ringbuf", 0, 0, 12288, 0, 0),
    ("ringbuf", 0, 0, 2048, 0, 0), ("ringbuf", 0, 0, 4096, 1, 0),
    ("stack_trace", 4, 12, 4, 0, 0), ("stack_trace", 4, 8 * 128, 4, 0, 0),
    ("stack_trace", 4, 8 * 127, 4, 0, 0), ("stack_trace", 8, 16, 4, 0, 0),
    ("stack_trace", 4, 32, 4, 0x20, 0), ("stack_trace", 4, 24, 4, 0x20, 0),
    ("perf_event_array", 4, 8, 4, 0, 0), ("perf_event_array", 4, 4, 4, 0x800, 0),
    ("prog_array", 4, 8, 4, 0, 0), ("prog_array", 4, 4, 4, 0, 0),
]


@pytest.mark.parametrize("case", CREATE_CASES, ids=lambda c: "-".join(map(str, c)))
def test_create_errno_matches_kernel(ncpus, case):
    type_, ks, vs, me, flags, extra = case
    s = MapSpec("c", type_, ks, vs, me, flags, map_extra=extra)
    try:
        KernelMap(s).close()
        kernel = 0
    except OSError as exc:
        kernel = exc.errno
    assert ours(create_map, s, num_cpus=ncpus)[0] == kernel


# --------------------------------------------------------------------- element errnos

def run_script(k, m, script):
    """Each step on both maps; returns the list of differing steps."""
    diffs = []
    for step in script:
        op, *args = step
        if op == "update":
            key, value, flags = args
            a = k.update(key, value, flags)
            b = ours(m.update, key, value, flags)[0]
        elif op == "lookup":
            key, flags = args
            a, kv = k.lookup(key, flags)
            b, mv = ours(m.lookup, key, flags=flags)
            if a == b == 0 and not isinstance(mv, list):
                assert kv == mv, step
        elif op == "delete":
            a = k.delete(args[0])
            b = ours(m.delete, args[0])[0]
        elif op == "lookup_and_delete":
            key, flags = args
            a, kv = k.lookup_and_delete(key, flags)
            b, mv = ours(m.lookup_and_delete, key, flags=flags)
            if a == b == 0:
                assert kv == mv, step
        elif op == "next":
            a, kv = k.next_key(args[0])
            b, mv = our_next(m, args[0])
            if a == b == 0 and m.type in ("array", "percpu_array", "lpm_trie",
                                          "stack_trace", "prog_array"):
                assert kv == mv, step
        elif op == "freeze":
            a, b = k.freeze(), ours(m.freeze)[0]
        else:
            raise AssertionError(op)
        if a != b:
            diffs.append((step, errno.errorcode.get(a, a), errno.errorcode.get(b, b)))
    return diffs


def hash_script():
    s = []
    for key in range(4):
        s.append(("update", u32(key), u64(key), BPF_ANY))
    s += [("update", u32(9), u64(0), BPF_ANY), ("update", u32(1), u64(5), BPF_ANY),
          ("update", u32(1), u64(0), BPF_NOEXIST), ("update", u32(9), u64(0), BPF_EXIST),
          ("update", u32(1), u64(0), 3), ("update", u32(1), u64(0), 4),
          ("update", u32(1), u64(0), 8), ("lookup", u32(1), 0), ("lookup", u32(9), 0),
          ("lookup", u32(1), 1), ("lookup", u32(1), 4), ("delete", u32(9)),
          ("next", u32(77)), ("next", None), ("lookup_and_delete", u32(2), 0),
          ("lookup_and_delete", u32(2), 0), ("lookup_and_delete", u32(1), 1),
          ("update", u32(2), u64(22), BPF_NOEXIST), ("delete", u32(0)), ("delete", u32(0)),
          ("freeze",), ("update", u32(1), u64(1), BPF_ANY), ("delete", u32(1)),
          ("lookup", u32(1), 0), ("lookup_and_delete", u32(1), 0), ("freeze",)]
    return s


@pytest.mark.parametrize("type_", ["hash", "lru_hash"])
def test_hash_errnos_match_kernel(ncpus, type_):
    k, m = pair(MapSpec("h", type_, 4, 8, 4), ncpus)
    script = hash_script()
    if type_ == "lru_hash":
        script = [s for s in script if s[1:2] != (u32(9),) or s[0] != "update"]
    assert run_script(k, m, script) == []
    k.close()


@pytest.mark.parametrize("type_", ["percpu_hash", "lru_percpu_hash"])
def test_percpu_hash_errnos_and_layout_match_kernel(ncpus, type_):
    k, m = pair(MapSpec("p", type_, 4, 4, 2), ncpus)
    value = b"".join(u32(100 + c) + bytes(4) for c in range(ncpus))
    assert k.update(u32(1), value) == 0
    m.update(1, value)
    err, kv = k.lookup(u32(1), size=8 * ncpus)
    assert err == 0 and kv == b"".join(v + bytes(4) for v in m.lookup(1))
    assert k.update(u32(1), value, BPF_NOEXIST) == ours(m.update, 1, value, BPF_NOEXIST)[0]
    err, kv = k.lookup_and_delete(u32(1), size=8 * ncpus)
    assert err == 0 and kv == b"".join(v + bytes(4) for v in m.lookup_and_delete(1))
    k.close()


def test_array_errnos_match_kernel(ncpus):
    k, m = pair(MapSpec("a", "array", 4, 8, 4), ncpus)
    script = [("update", u32(4), u64(1), 0), ("lookup", u32(4), 0),
              ("update", u32(1), u64(1), BPF_NOEXIST), ("update", u32(1), u64(7), BPF_EXIST),
              ("update", u32(1), u64(1), 8), ("update", u32(1), u64(1), 4),
              ("lookup", u32(1), 0), ("delete", u32(1)), ("lookup_and_delete", u32(1), 0),
              ("next", None), ("next", u32(2)), ("next", u32(3)), ("next", u32(99)),
              ("freeze",), ("update", u32(0), u64(1), 0), ("lookup", u32(1), 0),
              ("freeze",)]
    assert run_script(k, m, script) == []
    k.close()


def test_queue_stack_bloom_ringbuf_errnos_match_kernel(ncpus):
    for type_ in ("queue", "stack"):
        k, m = pair(MapSpec("q", type_, 0, 4, 3), ncpus)
        script = [("update", None, u32(i), 0) for i in range(3)]
        script += [("update", None, u32(9), 0), ("update", None, u32(9), BPF_NOEXIST),
                   ("update", None, u32(9), 4), ("update", None, u32(9), BPF_EXIST),
                   ("lookup", None, 0), ("lookup", None, 4), ("lookup_and_delete", None, 0),
                   ("lookup_and_delete", None, 4), ("delete", None), ("next", None),
                   ("lookup_and_delete", None, 0), ("lookup_and_delete", None, 0),
                   ("lookup_and_delete", None, 0), ("lookup", None, 0)]
        assert run_script(k, m, script) == [], type_
        k.close()
    k, m = pair(MapSpec("b", "bloom_filter", 0, 4, 100), ncpus)
    script = [("update", None, u32(5), 0), ("update", None, u32(5), BPF_NOEXIST),
              ("update", None, u32(5), BPF_EXIST), ("delete", None), ("next", None)]
    assert run_script(k, m, script) == []
    err, _ = k._elem(LOOKUP_AND_DELETE, None, u32(5))
    assert err == ours(m.lookup_and_delete, None)[0]
    k.close()
    k, m = pair(MapSpec("r", "ringbuf", 0, 0, 4096), ncpus)
    assert k.lookup(None, size=8)[0] == ours(m.lookup, None)[0]
    assert k.update(None, b"x" * 8) == ours(m.update, None, b"")[0]
    assert k.delete(None) == ours(m.delete, None)[0]
    assert k.next_key(None)[0] == our_next(m, None)[0]
    k.close()


def test_fd_array_errnos_match_kernel(ncpus):
    for type_ in ("prog_array", "perf_event_array"):
        k, m = pair(MapSpec("f", type_, 4, 4, 4), ncpus)
        assert k.delete(u32(0)) == ours(m.delete, 0)[0]
        assert k.delete(u32(9)) == ours(m.delete, 9)[0]
        assert k.next_key(None) == (0, u32(0)) and m.get_next_key(None) == u32(0)
        if type_ == "prog_array":
            assert k.lookup(u32(0))[0] == ours(m.lookup, 0)[0]
        k.close()


def test_stack_trace_userspace_errnos_match_kernel(ncpus):
    k, m = pair(MapSpec("s", "stack_trace", 4, 16, 4), ncpus)
    script = [("lookup", u32(0), 0), ("update", u32(0), b"x" * 16, 0), ("delete", u32(0)),
              ("next", None), ("next", u32(0)), ("lookup", u32(7), 0)]
    assert run_script(k, m, script) == []
    k.close()


def test_map_in_map_compatibility_matches_kernel(ncpus):
    inner_spec = MapSpec("in", "array", 4, 8, 4)
    kinner = KernelMap(inner_spec)
    variants = [MapSpec("v1", "array", 4, 8, 4), MapSpec("v2", "array", 4, 8, 8),
                MapSpec("v3", "hash", 4, 8, 4), MapSpec("v4", "array", 4, 8, 4, 0x80),
                MapSpec("v5", "array", 4, 16, 4)]
    for outer_type in ("array_of_maps", "hash_of_maps"):
        outer_spec = MapSpec("o", outer_type, 4, 4, 8, inner=inner_spec)
        kouter = KernelMap(outer_spec, inner_fd=kinner.fd)
        mouter = create_map(outer_spec, num_cpus=ncpus)
        for i, v in enumerate(variants):
            kv = KernelMap(v)
            a = kouter.update(u32(i), u32(kv.fd))
            b = ours(mouter.update, i, create_map(v, num_cpus=ncpus))[0]
            assert a == b, (outer_type, v)
            kv.close()
        for flags in (BPF_NOEXIST, BPF_EXIST):
            kv = KernelMap(inner_spec)
            a = kouter.update(u32(0), u32(kv.fd), flags)
            b = ours(mouter.update, 0, create_map(inner_spec, num_cpus=ncpus), flags)[0]
            assert a == b, (outer_type, flags)
            kv.close()
        assert kouter.delete(u32(3)) == ours(mouter.delete, 3)[0]
        bad = create_map(variants[2], num_cpus=ncpus)
        kbad = KernelMap(variants[2])
        assert kouter.update(u32(9), u32(kbad.fd)) == ours(mouter.update, 9, bad)[0]
        kbad.close()
        kouter.close()
    kinner.close()


def test_lpm_errnos_match_kernel(ncpus):
    k, m = pair(MapSpec("t", "lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC), ncpus)

    def key(plen, *octets):
        return struct.pack("<I4B", plen, *octets)

    script = [("update", key(16, 192, 168, 0, 0), u32(1), 0),
              ("update", key(24, 192, 168, 1, 0), u32(2), 0),
              ("update", key(24, 192, 168, 1, 0), u32(3), BPF_NOEXIST),
              ("update", key(8, 10, 0, 0, 0), u32(4), BPF_EXIST),
              ("update", key(33, 10, 0, 0, 0), u32(4), 0),
              ("update", key(8, 10, 0, 0, 0), u32(4), 4),
              ("update", key(8, 10, 0, 0, 0), u32(4), 0),
              ("update", key(8, 11, 0, 0, 0), u32(4), 0),
              ("update", key(8, 12, 0, 0, 0), u32(4), 0),
              ("lookup", key(32, 192, 168, 1, 9), 0), ("lookup", key(32, 192, 168, 7, 9), 0),
              ("lookup", key(20, 192, 168, 1, 9), 0), ("lookup", key(32, 9, 9, 9, 9), 0),
              ("delete", key(8, 1, 0, 0, 0)), ("delete", key(33, 1, 0, 0, 0)),
              ("lookup_and_delete", key(8, 10, 0, 0, 0), 0), ("next", key(8, 1, 2, 3, 4)),
              ("delete", key(16, 192, 168, 0, 0)), ("lookup", key(32, 192, 168, 7, 9), 0)]
    assert run_script(k, m, script) == []
    k.close()


# --------------------------------------------------------------------- iteration orders

def walk(k) -> list[bytes]:
    out, key = [], None
    while True:
        err, nxt = k.next_key(key)
        if err:
            assert err == errno.ENOENT
            return out
        out.append(nxt)
        key = nxt


@pytest.mark.parametrize("seed", range(4))
def test_lpm_iteration_order_matches_kernel(ncpus, seed):
    rng = random.Random(seed)
    s = MapSpec("t", "lpm_trie", 7, 4, 40, BPF_F_NO_PREALLOC)
    k, m = pair(s, ncpus)
    keys = []
    for i in range(120):
        if keys and rng.random() < 0.3:
            victim = keys.pop(rng.randrange(len(keys)))
            assert k.delete(victim) == ours(m.delete, victim)[0]
            continue
        plen = rng.choice((0, 1, 4, 8, 12, 16, 17, 20, 24))
        data = rng.getrandbits(24).to_bytes(3, "big")
        key = u32(plen) + data
        a, b = k.update(key, u32(i)), ours(m.update, key, u32(i))[0]
        assert a == b
        if a == 0 and key not in keys:
            keys.append(key)
        probe = u32(24) + rng.getrandbits(24).to_bytes(3, "big")
        (kernel_err, kernel_value), (our_err, our_value) = k.lookup(probe), ours(m.lookup, probe)
        assert kernel_err == our_err and (kernel_err or kernel_value == our_value)
        assert walk(k) == list(m)
    k.close()


def test_array_iteration_and_missing_key_rules_match_kernel(ncpus):
    k, m = pair(MapSpec("a", "array", 4, 4, 5), ncpus)
    assert walk(k) == list(m) == [u32(i) for i in range(5)]
    k.close()


def test_hash_iteration_covers_same_keys_as_kernel(ncpus):
    k, m = pair(MapSpec("h", "hash", 8, 4, 64), ncpus)
    rng = random.Random(3)
    for _ in range(200):
        key = u64(rng.randrange(100))
        if rng.random() < 0.3:
            assert k.delete(key) == ours(m.delete, key)[0]
        else:
            assert k.update(key, u32(1)) == ours(m.update, key, u32(1))[0]
    assert sorted(walk(k)) == sorted(m)
    assert k.next_key(u64(12345))[0] == 0 and m.get_next_key(u64(12345)) in list(m)
    k.close()


def test_jhash_matches_kernel_bucket_order(ncpus):
    """With BPF_F_ZERO_SEED the kernel walks buckets jhash(key, 0) & (n - 1)
    in order, newest first within a bucket: our jhash must predict it."""
    for key_size in (4, 6, 16):
        s = MapSpec("z", "hash", key_size, 4, 32, BPF_F_ZERO_SEED)
        k = KernelMap(s)
        keys = [bytes(random.Random(key_size * 1000 + i).getrandbits(8)
                      for _ in range(key_size)) for i in range(20)]
        for key in keys:
            assert k.update(key, u32(0)) == 0
        order = {key: i for i, key in enumerate(keys)}
        predicted = sorted(keys, key=lambda key: (jhash(key, 0) & 31, -order[key]))
        assert walk(k) == predicted
        k.close()


def test_stack_trace_next_key_on_empty_map(ncpus):
    k, m = pair(MapSpec("s", "stack_trace", 4, 16, 4), ncpus)
    assert k.next_key(None)[0] == our_next(m, None)[0] == errno.ENOENT
    k.close()


# --------------------------------------------------------------------- batches

def test_array_batches_match_kernel(ncpus):
    k, m = pair(MapSpec("a", "array", 4, 4, 5), ncpus)
    vals = b"".join(u32(i * 3) for i in range(5))
    keys = b"".join(u32(i) for i in range(5))
    err, n, *_ = k.batch(UPDATE_BATCH, None, 5, keys, vals)
    assert (err, n) == (0, 5) and m.update_batch(range(5), [u32(i * 3) for i in range(5)]) == 5
    cursor = None
    for count in (2, 2, 2):
        err, n, out, kk, vv = k.batch(LOOKUP_BATCH, cursor, count)
        step = m.lookup_batch(cursor, count)
        assert (err == errno.ENOENT) == step.done
        assert kk == b"".join(step.keys) and vv == b"".join(step.values)
        assert out[:4] == step.cursor
        cursor = out[:4]
    assert k.batch(LOOKUP_BATCH, None, 0)[:2] == (0, 0) and m.lookup_batch(None, 0).keys == []
    err, n, *_ = k.batch(UPDATE_BATCH, None, 3, u32(0) + u32(9) + u32(1), vals[:12])
    with pytest.raises(MapError) as info:
        m.update_batch([0, 9, 1], [u32(0)] * 3)
    assert (err, n) == (info.value.errno, info.value.count)
    for cmd, fn in ((LOOKUP_AND_DELETE_BATCH, lambda: m.lookup_and_delete_batch(None, 1)),
                    (DELETE_BATCH, lambda: m.delete_batch([0]))):
        assert k.batch(cmd, None, 1, u32(0))[0] == ours(fn)[0]
    assert k.batch(LOOKUP_BATCH, None, 3, elem_flags=1)[0] == \
        ours(m.lookup_batch, None, 3, elem_flags=1)[0]
    k.close()


@pytest.mark.parametrize("type_", ["hash", "percpu_hash", "lru_hash"])
def test_hash_batches_match_kernel(ncpus, type_):
    s = MapSpec("h", type_, 4, 8, 16)
    k, m = pair(s, ncpus)
    percpu = "percpu" in type_
    vsize = 8 * ncpus if percpu else 8
    for i in range(11):
        value = u64(i) * ncpus if percpu else u64(i)
        assert k.update(u32(i), value) == 0
        m.update(i, [u64(i)] * ncpus if percpu else u64(i))

    def drain(lookup, delete):
        got, cursor = {}, None
        while True:
            res = lookup(cursor)
            for key, value in res[0]:
                assert key not in got
                got[key] = value
            if res[1]:
                return got
            cursor = res[2]

    def kernel_step(cursor, cmd):
        # A hash bucket holding more keys than the batch (the kernel seeds its
        # hash randomly) is ENOSPC: ask again with room for the whole bucket.
        count = 3
        while True:
            err, n, out, kk, vv = k.batch(cmd, cursor, count, value_size=vsize)
            if err != errno.ENOSPC:
                break
            count *= 2
        assert err in (0, errno.ENOENT) and n <= count
        items = [(kk[i * 4:i * 4 + 4], vv[i * vsize:(i + 1) * vsize]) for i in range(n)]
        return items, err == errno.ENOENT, out[:4]

    def our_step(cursor, delete):
        step = (m.lookup_and_delete_batch if delete else m.lookup_batch)(cursor, 3)
        values = [b"".join(v + bytes(8 - len(v)) for v in val) if percpu else val
                  for val in step.values]
        return list(zip(step.keys, values)), step.done, step.cursor

    kernel_all = drain(lambda c: kernel_step(c, LOOKUP_BATCH), False)
    ours_all = drain(lambda c: our_step(c, False), False)
    assert kernel_all == ours_all and len(ours_all) == 11
    assert k.batch(LOOKUP_BATCH, None, 3, flags=1)[0] == \
        ours(m.lookup_batch, None, 3, flags=1)[0] == errno.EINVAL
    assert k.batch(LOOKUP_BATCH, u32(999), 3)[0] == errno.ENOENT
    assert m.lookup_batch(u32(999), 3).done
    err, n, *_ = k.batch(UPDATE_BATCH, None, 1, u32(1), u64(0) * (ncpus if percpu else 1),
                         elem_flags=BPF_NOEXIST, value_size=vsize)
    assert err == ours(m.update_batch, [1], [[u64(0)] * ncpus if percpu else u64(0)],
                       elem_flags=BPF_NOEXIST)[0] == errno.EINVAL
    err, n, *_ = k.batch(DELETE_BATCH, None, 3, u32(0) + u32(99) + u32(1))
    with pytest.raises(MapError) as info:
        m.delete_batch([0, 99, 1])
    assert (err, n) == (info.value.errno, info.value.count)
    kernel_rest = drain(lambda c: kernel_step(c, LOOKUP_AND_DELETE_BATCH), True)
    ours_rest = drain(lambda c: our_step(c, True), True)
    assert kernel_rest == ours_rest and len(m) == 0 and walk(k) == []
    k.close()


# --------------------------------------------------------------------- bloom filter

@pytest.mark.parametrize("value_size,funcs", [(4, 0), (8, 3), (6, 1), (13, 7)])
def test_bloom_answers_exactly_like_kernel(ncpus, value_size, funcs):
    s = MapSpec("b", "bloom_filter", 0, value_size, 50, BPF_F_ZERO_SEED, map_extra=funcs)
    k, m = pair(s, ncpus)
    rng = random.Random(value_size)
    for _ in range(50):
        v = rng.getrandbits(8 * value_size).to_bytes(value_size, "little")
        assert k.update(None, v) == 0
        m.push(v)
    answers_k, answers_m = [], []
    for _ in range(400):
        v = rng.getrandbits(8 * value_size).to_bytes(value_size, "little")
        answers_k.append(k._elem(LOOKUP, None, v)[0] == 0)
        answers_m.append(v in m)
    assert answers_k == answers_m and any(answers_k)     # false positives included
    k.close()


# --------------------------------------------------------------------- ring buffer bytes

def _insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _load_output_prog(map_fd: int, size: int, fill: int, flags: int = 0) -> int:
    """A socket filter that calls bpf_ringbuf_output(map, stack, size, flags)
    with ``size`` bytes of ``fill`` and returns its result."""
    code = b""
    for off in range(0, size, 8):
        code += _insn(0x7A, 10, 0, off - size, fill * 0x01010101)   # *(u64 *)(r10 + off) = imm
    code += _insn(0x18, 1, 1, 0, map_fd) + _insn(0)                  # r1 = map
    code += _insn(0xBF, 2, 10) + _insn(0x07, 2, 0, 0, -size)         # r2 = r10 - size
    code += _insn(0xB7, 3, 0, 0, size) + _insn(0xB7, 4, 0, 0, flags)
    code += _insn(0x85, 0, 0, 0, 130) + _insn(0x95)                  # call ringbuf_output; exit
    license_ = ctypes.create_string_buffer(b"GPL")
    prog = ctypes.create_string_buffer(code, len(code))
    attr = struct.pack("<IIQQ", 1, len(code) // 8, ctypes.addressof(prog),
                       ctypes.addressof(license_))
    fd, err, _ = bpf(PROG_LOAD, attr)
    if fd < 0:
        pytest.skip(f"loading a ringbuf_output program failed: {os.strerror(err)}")
    return fd


def _run(prog_fd: int) -> int:
    data = ctypes.create_string_buffer(64)
    attr = struct.pack("<IIIIQQII", prog_fd, 0, 64, 0, ctypes.addressof(data), 0, 1, 0)
    _, err, raw = bpf(TEST_RUN, attr)
    assert err == 0
    return struct.unpack_from("<i", raw, 4)[0]


@pytest.mark.parametrize("size", [4096, 16384])
def test_ringbuf_bytes_match_kernel_through_wrap_around(ncpus, size):
    s = MapSpec("rb", "ringbuf", 0, 0, size)
    k = KernelMap(s)
    rb = create_map(s, num_cpus=ncpus)
    page = mmap.PAGESIZE
    cons = mmap.mmap(k.fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
    prod = mmap.mmap(k.fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
    sizes = [8, 16, 24, 496, 496, 496, 488, 104, 496, 496, 496, 496, 496, 496, 496, 256, 8]
    sizes += [496] * 12                              # no more consuming: runs out of room
    progs = {}
    failures = 0
    try:
        for i, n in enumerate(sizes):
            fill = (i % 90) + 1
            if (n, fill) not in progs:
                progs[(n, fill)] = _load_output_prog(k.fd, n, fill)
            r0 = _run(progs[(n, fill)])
            assert r0 == rb.bpf_ringbuf_output(struct.pack("<q", fill * 0x01010101) * (n // 8))
            failures += r0 == -errno.EAGAIN
            kernel_prod = struct.unpack_from("<Q", prod, 0)[0]
            assert kernel_prod == rb.producer_pos
            assert prod[page:page + size] == rb.ring()
            if i % 4 == 3 and i < 17:                # the consumer catches up
                struct.pack_into("<Q", cons, 0, kernel_prod)
                rb.consume()
        if size == 4096:
            assert rb.producer_pos > size and failures > 0   # wrapped, then filled up
        else:
            assert rb.producer_pos > 2 * mmap.PAGESIZE       # records on later pages
    finally:
        for fd in progs.values():
            os.close(fd)
        cons.close()
        prod.close()
        k.close()


def test_lru_keeps_the_newest_like_kernel(ncpus):
    s = MapSpec("l", "lru_hash", 4, 8, 8)
    k, m = pair(s, ncpus)
    for i in range(40):
        assert k.update(u32(i), u64(i)) == ours(m.update, i, u64(i))[0] == 0
    kernel_keys = set(walk(k))
    assert len(kernel_keys) <= 8 and len(m) == 8
    assert u32(39) in kernel_keys and u32(39) in list(m)
    assert kernel_keys <= set(map(u32, range(40)))
    k.close()


BATCH_SUPPORT_SPECS = [
    MapSpec("l", "lpm_trie", 8, 4, 4, BPF_F_NO_PREALLOC), MapSpec("s", "stack_trace", 4, 16, 4),
    MapSpec("p", "prog_array", 4, 4, 4), MapSpec("e", "perf_event_array", 4, 4, 4),
    MapSpec("a", "array_of_maps", 4, 4, 4, inner=MapSpec("in", "array", 4, 8, 4)),
    MapSpec("h", "hash_of_maps", 4, 4, 4, inner=MapSpec("in", "array", 4, 8, 4)),
    MapSpec("q", "queue", 0, 4, 4), MapSpec("b", "bloom_filter", 0, 4, 4),
    MapSpec("r", "ringbuf", 0, 0, 4096), MapSpec("pa", "percpu_array", 4, 4, 4),
]


@pytest.mark.parametrize("s", BATCH_SUPPORT_SPECS, ids=lambda s: s.type)
def test_which_batch_operations_exist_matches_kernel(ncpus, s):
    inner = KernelMap(s.inner) if s.inner else None
    k = KernelMap(s, inner_fd=inner.fd if inner else 0)
    m = create_map(s, num_cpus=ncpus)
    calls = ((LOOKUP_BATCH, 2, lambda: m.lookup_batch(None, 2)),
             (LOOKUP_AND_DELETE_BATCH, 2, lambda: m.lookup_and_delete_batch(None, 2)),
             (UPDATE_BATCH, 0, lambda: m.update_batch([], [])),
             (DELETE_BATCH, 0, lambda: m.delete_batch([])))
    for cmd, count, call in calls:
        kernel_err = k.batch(cmd, None, count, value_size=64)[0]
        our_err, result = ours(call)
        if kernel_err == errno.ENOENT and our_err == 0:
            assert result.done                       # ENOENT is how the kernel says "done"
        else:
            assert kernel_err == our_err, cmd
    k.close()
    if inner:
        inner.close()


def test_generic_batch_skips_empty_slots_like_kernel(ncpus):
    inner_spec = MapSpec("in", "array", 4, 8, 4)
    kinner = KernelMap(inner_spec)
    s = MapSpec("a", "array_of_maps", 4, 4, 6, inner=inner_spec)
    k, m = KernelMap(s, inner_fd=kinner.fd), create_map(s, num_cpus=ncpus).raw
    for index in (2, 4):
        assert k.update(u32(index), u32(kinner.fd)) == 0
        m.update(index, create_map(inner_spec, num_cpus=ncpus))
    for count in (1, 2, 3, 10):
        err, _count, out, keys, _ = k.batch(LOOKUP_BATCH, None, count, value_size=4)
        step = m.lookup_batch(None, count)
        assert (err == errno.ENOENT, keys, out[:4]) == (step.done, b"".join(step.keys),
                                                         step.cursor)
    k.close()
    kinner.close()


@pytest.mark.parametrize("flags", [0x8, 0x10, 0x80, 0x100])
def test_access_flags_match_kernel(ncpus, flags):
    s = MapSpec("x", "hash", 4, 8, 4, flags)
    k, m = pair(s, ncpus)
    script = [("update", u32(1), u64(1), 0), ("lookup", u32(1), 0), ("next", None),
              ("lookup_and_delete", u32(1), 0), ("delete", u32(1)), ("freeze",),
              ("freeze",)]
    assert run_script(k, m, script) == []
    k.close()
