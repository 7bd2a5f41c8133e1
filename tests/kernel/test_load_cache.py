"""The prepared cache stores the linked object and loads it through the
same last step as kernel.load."""

from __future__ import annotations

import errno
import marshal

import pytest

from pybpf.cache import read_sealed, write_sealed
from pybpf.errors import MapError
from pybpf.kernel import load_cache
from pybpf.kernel.load_cache import load_cached, load_prepared, prepare, set_prepared_variables
from pybpf.linker import LinkedObject
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec

pytestmark = pytest.mark.kernel

PACKET = bytes(64)

# r0 = the knob in .rodata (frozen before the program loads, so the
# verifier may treat it as a constant), after a tail call that does not
# return when the prog array holds "two"
MAIN = """
    r6 = r1
    r1 = map[idx:0][0]+4 ll
    r7 = *(u32 *)(r1 + 0)
    r1 = r6
    r2 = map[idx:1] ll
    r3 = 0
    call 12
    r0 = r7
    exit
"""


def _spec(with_tail_call: bool = False) -> ObjectSpec:
    main = ProgramSpec.from_assembly("main", MAIN, type="xdp")
    two = ProgramSpec.from_assembly("two", "r0 = 2\nexit", type="xdp")
    rodata = MapSpec(".rodata", "array", 4, 8, 1,
                     contents=[(0, bytes(4) + (1).to_bytes(4, "little"))], freeze=True)
    jumps = MapSpec("jumps", "prog_array", 4, 4, 1,
                    contents=[(0, "two")] if with_tail_call else [])
    spec = ObjectSpec.build([main, two], [rodata, jumps])
    spec.variables = {"knob": (".rodata", 4, 4, None)}
    return spec


def test_prepared_objects_load_after_a_marshal_round_trip():
    prepared = marshal.loads(marshal.dumps(prepare(_spec())))
    assert prepared["format"] == load_cache.FORMAT == 3
    assert LinkedObject.from_data(prepared["linked"]).fill_after == ["jumps"]
    with load_prepared(prepared) as coll:
        assert coll.spec is None
        assert coll.programs["main"].test_run(PACKET).retval == 1
        with pytest.raises(MapError) as frozen:
            coll.maps[".rodata"].update(0, bytes(8))
        assert frozen.value.errno == errno.EPERM
    with load_prepared(set_prepared_variables(prepared, {"knob": 7})) as coll:
        assert coll.programs["main"].test_run(PACKET).retval == 7
    with load_prepared(prepare(_spec(with_tail_call=True))) as coll:
        assert coll.programs["main"].test_run(PACKET).retval == 2  # program array filled


def test_load_cached_prepares_once(tmp_path):
    obj = tmp_path / "fake.bpf.o"
    obj.write_bytes(b"not really an object: parse ignores it")
    parsed = []

    def parse(data: bytes) -> ObjectSpec:
        parsed.append(data)
        return _spec()

    cache = tmp_path / "cache"
    for value in (3, 4):
        with load_cached(obj, parse, set_variables={"knob": value}, directory=str(cache)) as coll:
            assert coll.programs["main"].test_run(PACKET).retval == value
    assert len(parsed) == 1 and len(list(cache.iterdir())) == 1
    stale = next(cache.iterdir())
    data = marshal.loads(read_sealed(stale))
    write_sealed(stale, marshal.dumps({**data, "format": 1}))  # an older format: re-prepared
    with load_cached(obj, parse, directory=str(cache)) as coll:
        assert coll.programs["main"].test_run(PACKET).retval == 1
    assert len(parsed) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "unsealed", "shape",
                                    "foreign", "symlink", "empty"])
def test_a_bad_cache_entry_is_prepared_again(tmp_path, damage):
    import os

    obj = tmp_path / "fake.bpf.o"
    obj.write_bytes(b"an object")
    parsed = []

    def parse(data: bytes) -> ObjectSpec:
        parsed.append(data)
        return _spec()

    cache = tmp_path / "cache"
    with load_cached(obj, parse, directory=str(cache)):
        pass
    entry = next(cache.iterdir())
    good = entry.read_bytes()
    if damage == "garbage":
        entry.write_bytes(os.urandom(len(good)))
    elif damage == "truncated":
        entry.write_bytes(good[:len(good) // 2])
    elif damage == "flipped":
        entry.write_bytes(good[:-5] + bytes([good[-5] ^ 1]) + good[-4:])
    elif damage == "unsealed":  # what pybpf wrote before entries were sealed
        entry.write_bytes(marshal.dumps(marshal.loads(read_sealed(entry))))
    elif damage == "shape":  # sealed, right format number, wrong contents
        write_sealed(entry, marshal.dumps({"format": load_cache.FORMAT, "linked": 5,
                                           "record_types": {}}))
    elif damage == "foreign":
        os.chown(entry, 65534, 65534)
    elif damage == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(good)
        entry.unlink()
        entry.symlink_to(target)
    else:
        entry.write_bytes(b"")
    with load_cached(obj, parse, directory=str(cache)) as coll:
        assert coll.programs["main"].test_run(PACKET).retval == 1  # the knob's default
    assert len(parsed) == 2, "the bad entry was used instead of prepared again"
    assert read_sealed(entry) is not None  # and replaced by a good one
