"""pybpf gen bindings: generated modules for example and tool objects are
deterministic, pass ruff, import, and drive the object in the VM (and the
kernel, kernel-marked): typed maps read and written, records as
dataclasses, a const volatile knob set before load, ring buffer records."""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, EXAMPLES, SRC
from pybpf.bindings.generate import camel, generate, identifier
from pybpf.elf import load_object
from pybpf.errors import BPFError
from pybpf.tools.prebuilt import OBJECTS

HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
HAVE_VMLINUX = Path("/sys/kernel/btf/vmlinux").exists()
RUFF_RULES = "E,F,W,I,B,UP,SIM,RUF"


def write_bindings(obj: Path, out_dir: Path, module: str, **options) -> Path:
    data = obj.read_bytes()
    text = generate(load_object(data), data, object_name=obj.name, **options)
    path = out_dir / f"{module}.py"
    path.write_text(text)
    return path


def import_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def xdp_count(tmp_path_factory):
    if not HAVE_ZIG:
        pytest.skip("no ziglang to compile examples/xdp_count.bpf.c")
    from pybpf.toolchain import compile

    out = tmp_path_factory.mktemp("xdp")
    obj = compile(EXAMPLES / "xdp_count.bpf.c", out / "xdp_count.bpf.o", compiler="zig")
    return import_module(write_bindings(Path(obj), out, "xdp_count_bpf"))


@pytest.fixture(scope="module")
def syscount(tmp_path_factory):
    out = tmp_path_factory.mktemp("syscount")
    return import_module(write_bindings(OBJECTS / "syscount.bpf.o", out, "syscount_bpf"))


def udp_packet(proto: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, proto, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + bytes(8)


def test_names():
    assert camel("sys_stat") == "SysStat" and camel("9x") == "_9x"
    assert identifier("class") == "class_" and identifier("a.b") == "a_b"


OBJECTS_GENERATED = [OBJECTS / f"{n}.bpf.o" for n in ("syscount", "exitsnoop", "biolatency",
                                                      "tcplife", "hardirqs")] + \
    [DATA / "rich.bpf.zig.o", DATA / "legacy.bpf.zig.o"]


@pytest.mark.parametrize("obj", OBJECTS_GENERATED, ids=lambda p: p.name)
def test_generated_modules_are_deterministic_clean_and_import(obj, tmp_path):
    first = write_bindings(obj, tmp_path, "first")
    second = write_bindings(obj, tmp_path, "second")
    assert first.read_text() == second.read_text()
    ruff = shutil.which("ruff") or [sys.executable, "-m", "ruff"]
    cmd = [ruff] if isinstance(ruff, str) else ruff
    out = subprocess.run([*cmd, "check", "--isolated", "--select", RUFF_RULES,
                          "--line-length", "100", str(first)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    module = import_module(first)
    cls = getattr(module, camel(obj.name.removesuffix(".o").removesuffix(".bpf")))
    skel = cls()
    assert skel.spec.programs and module.OBJECT_SHA256
    with pytest.raises(BPFError, match="not loaded"):
        getattr(skel.progs, identifier(next(iter(skel.spec.programs))))


def test_records_and_knobs_of_a_tool_object(syscount):
    skel = syscount.Syscount()
    assert skel.rodata.target_pid == 0
    skel.rodata.target_pid = 4242
    assert skel.rodata.target_pid == 4242       # set in the object before load
    stat = syscount.SysStat(count=3, total_ns=9, comm="bash")
    assert syscount.SysStat.from_value(stat.to_value()) == stat


@pytest.mark.skipif(not HAVE_VMLINUX, reason="CO-RE needs the kernel's BTF")
def test_a_tool_object_in_the_vm_through_typed_maps(syscount):
    skel = syscount.Syscount()
    skel.rodata.by_process = 1
    with skel.load("vm"):
        stats = skel.maps.stats
        stats[5] = syscount.SysStat(count=3, total_ns=9, comm="bash")
        got = stats[5]
        assert isinstance(got, syscount.SysStat)
        assert got == syscount.SysStat(3, 9, "bash")
        assert stats.raw[5][:8] == (3).to_bytes(8, "little")
        assert stats.items() == [(5, got)]
        assert skel.rodata.by_process == 1     # read from the loaded map
        with pytest.raises(BPFError, match="before load"):
            skel.rodata.by_process = 0
        assert skel.progs.sys_enter.type == "tracepoint"
    with pytest.raises(BPFError, match="not loaded"):
        skel.maps.stats  # noqa: B018


def test_xdp_example_in_the_vm_with_a_knob_set_before_load(xdp_count):
    skel = xdp_count.XdpCount()
    skel.rodata.drop_proto = 17
    with skel.load("vm"):
        assert skel.progs.count_packets.test_run(udp_packet(17)).verdict == "XDP_DROP"
        assert skel.progs.count_packets.test_run(udp_packet(6)).verdict == "XDP_PASS"
        counts = skel.maps.counts
        assert sum(counts[17]) == 1
        counts[3] = 5                          # every CPU
        assert set(counts[3]) == {5}


def test_the_command_writes_a_module_and_no_embed_takes_a_path(tmp_path):
    obj = OBJECTS / "syscount.bpf.o"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "pybpf", "gen", "bindings", str(obj), "-o",
                          str(tmp_path / "sc_bpf.py")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    embedded = (tmp_path / "sc_bpf.py").read_text()
    assert "OBJECT = base64.b64decode(" in embedded
    out = subprocess.run([sys.executable, "-m", "pybpf", "gen", "bindings", str(obj),
                          "--no-embed", "--name", "Counter"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "base64" not in out.stdout and "class Counter(ObjectBindings)" in out.stdout
    path = tmp_path / "sc_path_bpf.py"
    path.write_text(out.stdout)
    module = import_module(path)
    assert module.Counter(str(obj)).rodata.target_pid == 0


def test_generated_code_type_checks(tmp_path, syscount):
    pytest.importorskip("mypy")
    module = write_bindings(OBJECTS / "syscount.bpf.o", tmp_path, "syscount_typed")
    use = tmp_path / "use.py"
    use.write_text(
        "from syscount_typed import SysStat, Syscount\n\n"
        "skel = Syscount()\n"
        "skel.rodata.target_pid = 1\n"
        "pid: int = skel.rodata.target_pid\n"
        "with skel.load('vm'):\n"
        "    stat: SysStat = skel.maps.stats[0]\n"
        "    count: int = stat.count\n"
        "    skel.maps.stats[1] = SysStat(count=1)\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--follow-imports=silent", str(module), str(use)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env={**os.environ, "MYPYPATH": f"{SRC}:{tmp_path}"})
    assert out.returncode == 0, out.stdout + out.stderr


# --- the kernel ----------------------------------------------------------------------------

@pytest.mark.kernel("test_run")
def test_xdp_example_in_the_kernel(xdp_count):
    skel = xdp_count.XdpCount()
    skel.rodata.drop_proto = 17
    with skel.load("kernel"):
        assert skel.progs.count_packets.test_run(udp_packet(17)).verdict == "XDP_DROP"
        assert sum(skel.maps.counts[17]) == 1
        skel.maps.counts[3] = 7
        assert set(skel.maps.counts[3]) == {7}


@pytest.mark.kernel
def test_a_tool_object_in_the_kernel_typed_maps_and_ring_buffer(tmp_path):
    exitsnoop = import_module(write_bindings(OBJECTS / "exitsnoop.bpf.o", tmp_path,
                                             "exitsnoop_bpf"))
    skel = exitsnoop.Exitsnoop()
    skel.rodata.target_ppid = os.getpid()
    with skel.load("kernel"):
        skel.attach()
        child = subprocess.run(["sh", "-c", "exit 3"], check=False)
        assert child.returncode == 3
        events = []
        for _ in range(50):
            events += skel.maps.events.drain()
            if events:
                break
            import time

            time.sleep(0.05)
        assert events and all(isinstance(e, exitsnoop.ExitEvent) for e in events)
        assert any(e.ppid == os.getpid() and e.exit_code == 3 for e in events), events
        heard: list = []
        reader = skel.maps.events.reader(heard.append)
        subprocess.run(["sh", "-c", "exit 4"], check=False)
        for _ in range(50):
            reader.poll(0.1)
            if heard:
                break
        assert any(isinstance(e, exitsnoop.ExitEvent) and e.exit_code == 4 for e in heard)


# --- records of every shape ------------------------------------------------------------------

@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    if not HAVE_ZIG:
        pytest.skip("no ziglang to compile tests/gen/data/shapes.bpf.c")
    from pybpf.toolchain import compile

    out = tmp_path_factory.mktemp("shapes")
    obj = compile(Path(__file__).parent / "data" / "shapes.bpf.c", out / "shapes.bpf.o",
                  compiler="zig")
    return import_module(write_bindings(Path(obj), out, "shapes_bpf"))


def test_records_of_every_shape_round_trip(shapes):
    zero = shapes.Shape()
    assert zero.corners == [shapes.Point(), shapes.Point()] and zero.raw == bytes(4)
    assert zero.names == ["", ""]
    shape = shapes.Shape(color=shapes.Color.BLUE,
                         corners=[shapes.Point(1, 2), shapes.Point(3, 4)], radius=9, tag=shapes.ShapeTag(as_text="tag"), visible=1, layer=100,
                         names=["a", "bc"], raw=b"\x01\x02\x03\x04", filled=True)
    skel = shapes.Shapes()
    codec_btf = skel.spec.btf
    data = codec_btf.encode("struct shape", shape.to_value())
    back = shapes.Shape.from_value(codec_btf.decode("struct shape", data))
    assert back.radius == 9 and back.sides == [9, 0]       # the union's other view
    assert back.tag.as_text == "tag" and back.layer == 100 and back.names == ["a", "bc"]
    assert back.color is shapes.Color.BLUE and back.filled is True
    assert back.tag.as_long == int.from_bytes(b"tag", "little")
    back.sides, back.tag.as_long = [0, 0], 0                # the views the test did not set
    assert back == shape


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel(
    "test_run"))])
def test_records_maps_ring_buffer_and_globals_drive_a_program(shapes, backend):
    skel = shapes.Shapes()
    assert skel.rodata.default_color is shapes.Color.GREEN
    assert skel.rodata.origin == shapes.Point(1, 2)
    skel.rodata.default_color = shapes.Color.BLUE          # knobs, before load
    skel.rodata.origin = shapes.Point(5, 6)
    with skel.load(backend):
        prog = skel.progs.record
        prog.test_run(bytes(64))                            # no shape for BLUE: origin
        assert skel.maps.hits[shapes.Point(5, 6)] == 1
        skel.maps.shapes[shapes.Color.BLUE] = shapes.Shape(
            corners=[shapes.Point(7, 8), shapes.Point(9, 10)])
        assert skel.maps.shapes[shapes.Color.BLUE].corners[1] == shapes.Point(9, 10)
        skel.data.label = "abc"                             # .data, after load: in the map
        prog.test_run(bytes(64))
        assert sorted(skel.maps.hits.items(), key=lambda kv: kv[0].x) == [
            (shapes.Point(5, 6), 1), (shapes.Point(9, 10), 1)]
        assert skel.bss.total == 2 and skel.bss.last == shapes.Point(7, 8)
        events = skel.maps.events.drain()
        assert [(e.pid, e.color, e.comm) for e in events] == [
            (7, shapes.Color.BLUE, "none"), (7, shapes.Color.BLUE, "abc")]


def test_every_shape_type_checks(shapes, tmp_path):
    pytest.importorskip("mypy")
    module = Path(shapes.__file__)
    use = tmp_path / "use_shapes.py"
    use.write_text(
        "from shapes_bpf import Color, Point, Shape, Shapes\n\n"
        "skel = Shapes()\n"
        "skel.rodata.origin = Point(1, 2)\n"
        "color: Color | int = skel.rodata.default_color\n"
        "with skel.load('vm'):\n"
        "    shape: Shape = skel.maps.shapes[Color.RED]\n"
        "    first: Point = shape.corners[0]\n"
        "    hits: int = skel.maps.hits[first]\n"
        "    for event in skel.maps.events.drain():\n"
        "        comm: str = event.comm\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--follow-imports=silent", str(module), str(use)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600,
                         env={**os.environ, "MYPYPATH": f"{SRC}:{module.parent}"})
    assert out.returncode == 0, out.stdout + out.stderr


def test_object_file_refers_to_the_object_beside_the_module(tmp_path):
    obj = OBJECTS / "syscount.bpf.o"
    (tmp_path / "objects").mkdir()
    shutil.copy(obj, tmp_path / "objects" / "sc.bpf.o")
    (tmp_path / "mod").mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "pybpf", "gen", "bindings", str(obj),
                          "--object-file", "../objects/sc.bpf.o", "-o",
                          str(tmp_path / "mod" / "sc_ref_bpf.py")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "mod" / "sc_ref_bpf.py").read_text()
    assert "base64" not in text and '"../objects/sc.bpf.o"' in text
    module = import_module(tmp_path / "mod" / "sc_ref_bpf.py")
    skel = module.Syscount()                    # the file beside it, by default
    assert skel.rodata.target_pid == 0 and skel.spec.programs
    assert module.Syscount(str(obj)).rodata.by_process == 0


def test_a_field_named_like_a_builtin_type_does_not_hide_it():
    assert identifier("str") == "str_" and identifier("int") == "int_"
    assert identifier("strlen") == "strlen"
