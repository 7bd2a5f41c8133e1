"""The C examples in examples/: they compile with the ziglang wheel (and
clang when installed), load into an ObjectSpec with the programs, maps and
knobs they declare, and their CO-RE relocations resolve against this
machine's kernel to the offsets its BTF gives."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from pybpf import vm
from pybpf.btf import BTF
from pybpf.btf.core import CoreResolver, RelocKind
from pybpf.elf import load_object
from pybpf.toolchain import compile

EXAMPLES = ROOT / "examples"
HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
HAVE_CLANG = shutil.which("clang") is not None
HAVE_VMLINUX = Path("/sys/kernel/btf/vmlinux").exists()

COMPILERS = [pytest.param("zig", marks=pytest.mark.skipif(not HAVE_ZIG, reason="no ziglang")),
             pytest.param("clang", marks=pytest.mark.skipif(not HAVE_CLANG, reason="no clang"))]

EXPECTED = {
    # name: (program, section, type, attach_to, maps, knobs)
    "exitsnoop": ("handle_exit", "tracepoint/sched/sched_process_exit", "tracepoint",
                  "sched/sched_process_exit", {"events": "ringbuf"},
                  {"min_duration_ns": 8, "target_ppid": 4, "dropped": 8}),
    "syscount": ("sys_enter", "tracepoint/raw_syscalls/sys_enter", "tracepoint",
                 "raw_syscalls/sys_enter", {"counts": "hash"},
                 {"target_syscall": 8, "target_tgid": 4}),
    "xdp_count": ("count_packets", "xdp", "xdp", None, {"counts": "percpu_array"},
                  {"drop_proto": 1}),
    "tc_classify": ("classify", "tc", "sched_cls", None, {},
                    {"blocked_port": 2, "mark": 4, "passed": 8, "blocked": 8}),
    "sockfilter": ("keep_dns", "socket", "socket_filter", None, {}, {"port": 2}),
}
NEEDS_VMLINUX = {"exitsnoop", "syscount"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Compile each example once per compiler, on demand."""
    out_dir = tmp_path_factory.mktemp("examples")
    cache: dict[tuple[str, str], Path] = {}

    def build(name: str, compiler: str) -> Path:
        if name in NEEDS_VMLINUX and not HAVE_VMLINUX:
            pytest.skip("the kernel exposes no BTF for vmlinux.h")
        key = (name, compiler)
        if key not in cache:
            cache[key] = compile(EXAMPLES / f"{name}.bpf.c",
                                 out_dir / f"{name}.{compiler}.o", compiler=compiler)
        return cache[key]

    return build


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_loads(built, name, compiler):
    program, section, ptype, attach_to, maps, knobs = EXPECTED[name]
    spec = load_object(built(name, compiler))
    assert list(spec.programs) == [program]
    prog = spec.programs[program]
    assert (prog.section, prog.type, prog.attach_to) == (section, ptype, attach_to)
    assert 10 < len(prog.instructions) < 200
    # each example calls a subprogram: a bpf-to-bpf call with a func_info entry for it
    calls = [pc for pc, i in enumerate(prog.instructions) if i.opcode == 0x85 and i.src == 1]
    assert calls and len(prog.func_info) == 2
    assert prog.license in ("GPL", "Dual MIT/GPL")
    for map_name, map_type in maps.items():
        assert spec.maps[map_name].type == map_type
    for knob, size in knobs.items():
        assert spec.variables[knob][2] == size, knob
    # knobs in .rodata can be set before loading
    ro_knobs = [k for k in knobs if spec.variables[k][0] == ".rodata"]
    assert ro_knobs and spec.maps[".rodata"].freeze
    spec.set_variable(ro_knobs[0], 1)
    _, off, size, _ = spec.variables[ro_knobs[0]]
    assert spec.maps[".rodata"].contents[0][1][off:off + size] == (1).to_bytes(size, "little")


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
@pytest.mark.parametrize("compiler", COMPILERS)
def test_exitsnoop_core_relocations_match_this_kernel(built, compiler):
    spec = load_object(built("exitsnoop", compiler))
    prog = spec.programs["handle_exit"]
    vmlinux = BTF.load_vmlinux()
    resolver = CoreResolver(spec.btf, vmlinux)
    task = vmlinux.find("task_struct")
    want = {"start_time": vmlinux.member_offset(task, "start_time"),
            "exit_code": vmlinux.member_offset(task, "exit_code"),
            "real_parent": vmlinux.member_offset(task, "real_parent"),
            "tgid": vmlinux.member_offset(task, "tgid")}
    got = {}
    for relo in prog.core_relocations:
        res = resolver.resolve(relo)
        assert not res.poisoned, str(res)
        assert RelocKind(relo.kind) == RelocKind.FIELD_BYTE_OFFSET
        field = res.description.split("(")[0].strip().rsplit(".", 1)[-1]
        got[field] = res.target_value
    assert got == want


@pytest.mark.skipif(not HAVE_VMLINUX, reason="the kernel exposes no BTF")
@pytest.mark.parametrize("compiler", COMPILERS)
def test_syscount_reads_the_tracepoint_context(built, compiler):
    spec = load_object(built("syscount", compiler))
    prog = spec.programs["sys_enter"]
    vmlinux = BTF.load_vmlinux()
    ctx = vmlinux.find("trace_event_raw_sys_enter")
    id_off = vmlinux.member_offset(ctx, "id")
    assert any(i.opcode == 0x79 and i.off == id_off for i in prog.instructions)
    (relo,) = prog.core_relocations   # vmlinux.h structs are relocatable
    res = CoreResolver(spec.btf, vmlinux).resolve(relo)
    assert prog.instructions[relo.insn_index].off == res.local_value == res.target_value == id_off


def _packet(proto: int, dport: int, payload: bytes = b"x" * 8) -> bytes:
    """Ethernet + IPv4 + UDP (17) or TCP (6) to ``dport``."""
    import struct

    if proto == 17:
        l4 = struct.pack("!HHHH", 1234, dport, 8 + len(payload), 0)
    else:
        l4 = struct.pack("!HHIIBBHHH", 1234, dport, 0, 0, 0x50, 0x02, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + len(payload), 0, 0, 64, proto,
                     0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + l4 + payload


@pytest.mark.parametrize("compiler", COMPILERS)
def test_xdp_count_in_the_vm(built, compiler):
    spec = load_object(built("xdp_count", compiler))
    spec.set_variable("drop_proto", 17)
    with vm.load(spec) as coll:
        prog = coll.programs["count_packets"]
        assert prog.test_run(_packet(17, 53)).retval == 1       # XDP_DROP
        assert prog.test_run(_packet(6, 80)).retval == 2        # XDP_PASS
        assert prog.test_run(b"\x02" * 12 + b"\x86\xdd" + b"\x00" * 40).retval == 2  # IPv6
        assert sum(coll.maps["counts"][17]) == 1
        assert sum(coll.maps["counts"][6]) == 1
        assert sum(coll.maps["counts"][0]) == 1


@pytest.mark.parametrize("compiler", COMPILERS)
def test_tc_classify_in_the_vm(built, compiler):
    spec = load_object(built("tc_classify", compiler))
    spec.set_variable("blocked_port", 53)
    with vm.load(spec) as coll:
        prog = coll.programs["classify"]
        assert prog.test_run(_packet(17, 53)).retval == 2       # TC_ACT_SHOT
        assert prog.test_run(_packet(6, 53)).retval == 2
        assert prog.test_run(_packet(17, 123)).retval == 0      # TC_ACT_OK
        assert coll.maps[".bss"][0] == {"passed": 1, "blocked": 2}


@pytest.mark.parametrize("compiler", COMPILERS)
def test_sockfilter_in_the_vm(built, compiler):
    spec = load_object(built("sockfilter", compiler))
    with vm.load(spec) as coll:
        prog = coll.programs["keep_dns"]
        dns = _packet(17, 53)
        assert prog.test_run(dns).retval == len(dns) - 14       # kept whole (from the IP header)
        assert prog.test_run(_packet(17, 123)).retval == 0
        assert prog.test_run(_packet(6, 53)).retval == 0
    spec.set_variable("port", 123)
    with vm.load(spec) as coll:
        assert coll.programs["keep_dns"].test_run(_packet(17, 123)).retval > 0
