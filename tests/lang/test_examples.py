"""The network examples written in Python (examples/lang/) pass the tests
their C versions pass (tests/toolchain/test_examples.py) in the VM, and the
kernel's verifier and libbpf accept them."""

from __future__ import annotations

import pytest
from lang_util import bpftool_loadall, packet

from conftest import ROOT
from pybpf import vm
from pybpf.lang import compile_file

EXAMPLES = ROOT / "examples" / "lang"
EXPECTED = {
    # name: (program, section, type, maps, knobs)
    "xdp_count": ("count_packets", "xdp", "xdp", {"counts": "percpu_array"}, {"drop_proto": 1}),
    "tc_classify": ("classify", "tc", "sched_cls", {},
                    {"blocked_port": 2, "mark": 4, "passed": 8, "blocked": 8}),
    "sockfilter": ("keep_dns", "socket", "socket_filter", {}, {"port": 2}),
}


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = compile_file(EXAMPLES / f"{name}.py")
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_compiles_to_what_the_c_version_declares(compiled, name):
    program, section, ptype, maps, knobs = EXPECTED[name]
    spec = compiled(name).object_spec()
    assert list(spec.programs) == [program]
    prog = spec.programs[program]
    assert (prog.section, prog.type, prog.license) == (section, ptype, "GPL")
    assert 10 < len(prog.instructions) < 200
    calls = [pc for pc, i in enumerate(prog.instructions) if i.opcode == 0x85 and i.src == 1]
    assert calls and len(prog.func_info) == 2          # a bpf-to-bpf call, as in C
    for map_name, map_type in maps.items():
        assert spec.maps[map_name].type == map_type
    for knob, size in knobs.items():
        assert spec.variables[knob][2] == size, knob
    assert all(li.file_name.endswith(f"{name}.py") for li in prog.line_info)


def test_xdp_count_in_the_vm(compiled):
    spec = compiled("xdp_count").object_spec()
    spec.set_variable("drop_proto", 17)
    with vm.load(spec) as coll:
        prog = coll.programs["count_packets"]
        assert prog.test_run(packet(17, 53)).retval == 1       # XDP_DROP
        assert prog.test_run(packet(6, 80)).retval == 2        # XDP_PASS
        assert prog.test_run(b"\x02" * 12 + b"\x86\xdd" + b"\x00" * 40).retval == 2  # IPv6
        assert sum(coll.maps["counts"][17]) == 1
        assert sum(coll.maps["counts"][6]) == 1
        assert sum(coll.maps["counts"][0]) == 1


def test_tc_classify_in_the_vm(compiled):
    spec = compiled("tc_classify").object_spec()
    spec.set_variable("blocked_port", 53)
    with vm.load(spec) as coll:
        prog = coll.programs["classify"]
        assert prog.test_run(packet(17, 53)).retval == 2       # TC_ACT_SHOT
        assert prog.test_run(packet(6, 53)).retval == 2
        assert prog.test_run(packet(17, 123)).retval == 0      # TC_ACT_OK
        assert coll.maps[".bss"][0] == {"passed": 1, "blocked": 2}


def test_sockfilter_in_the_vm(compiled):
    spec = compiled("sockfilter").object_spec()
    with vm.load(spec) as coll:
        prog = coll.programs["keep_dns"]
        dns = packet(17, 53)
        assert prog.test_run(dns).retval == len(dns) - 14       # kept whole (from the IP header)
        assert prog.test_run(packet(17, 123)).retval == 0
        assert prog.test_run(packet(6, 53)).retval == 0
    spec.set_variable("port", 123)
    with vm.load(spec) as coll:
        assert coll.programs["keep_dns"].test_run(packet(17, 123)).retval > 0


@pytest.mark.kernel("test_run")
def test_the_kernel_runs_them_as_the_vm_does(compiled):
    from pybpf import kernel

    spec = compiled("xdp_count").object_spec()
    spec.set_variable("drop_proto", 17)
    with kernel.load(spec) as coll:
        prog = coll.programs["count_packets"]
        assert prog.test_run(packet(17, 53)).retval == 1
        assert prog.test_run(packet(6, 80)).retval == 2
        assert sum(coll.maps["counts"][17]) == 1
    spec = compiled("tc_classify").object_spec()
    spec.set_variable("blocked_port", 53)
    with kernel.load(spec) as coll:
        prog = coll.programs["classify"]
        assert prog.test_run(packet(17, 53)).retval == 2
        assert prog.test_run(packet(17, 123)).retval == 0
        assert coll.maps[".bss"][0] == {"passed": 1, "blocked": 1}
    spec = compiled("sockfilter").object_spec()
    with kernel.load(spec) as coll:
        prog = coll.programs["keep_dns"]
        assert prog.test_run(packet(17, 53)).retval > 0
        assert prog.test_run(packet(17, 123)).retval == 0


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_libbpf_loads_the_objects(compiled, name, tmp_path):
    result = bpftool_loadall(compiled(name).elf, tmp_path)
    assert result.returncode == 0, result.stderr
