"""ksym and kfunc externs resolved against the running kernel's BTF and kallsyms."""

from __future__ import annotations

import pytest

from btf_samples import vmlinux as kernel_btf  # skips where the kernel has no BTF
from pybpf.errors import BPFError
from pybpf.isa import Insn, assemble
from pybpf.objects import Extern, ExternReference, ObjectSpec, ProgramSpec


def _resolve(spec: ObjectSpec, name: str) -> tuple[Insn, ...]:
    from pybpf.kernel.collection import KernelResolver
    from pybpf.linker import link

    return link(spec, KernelResolver()).programs[name].insns


def test_kfunc_calls_get_the_kernel_btf_id():
    vmlinux = kernel_btf()
    func = "bpf_task_acquire"
    ids = [i for i in vmlinux.find_ids(func) if vmlinux.kind_of(i).name == "FUNC"]
    if not ids:
        pytest.skip(f"this kernel has no {func}")
    prog = ProgramSpec("p", assemble("call kfunc[id:0]\nexit", "llvm"), type="tracing",
                       extern_references=[ExternReference(0, func, "kfunc")])
    spec = ObjectSpec(programs={"p": prog}, externs={func: Extern(func, "kfunc")})
    out = _resolve(spec, "p")
    assert out[0] == Insn(0x85, 0, 2, 0, ids[0])


def test_missing_externs_fail_clearly_unless_weak():
    kernel_btf()
    prog = ProgramSpec("p", assemble("call kfunc[id:0]\nexit", "llvm"), type="tracing",
                       extern_references=[ExternReference(0, "no_such_kfunc_here", "kfunc")])
    spec = ObjectSpec(programs={"p": prog},
                      externs={"no_such_kfunc_here": Extern("no_such_kfunc_here", "kfunc")})
    with pytest.raises(BPFError, match="calls kfunc 'no_such_kfunc_here', which this kernel"):
        _resolve(spec, "p")
    spec.externs["no_such_kfunc_here"].weak = True
    assert _resolve(spec, "p")[0] == Insn(0xB7, 0, 0, 0, 0)


def test_typeless_ksym_loads_the_kallsyms_address():
    kernel_btf()
    symbol = None
    with open("/proc/kallsyms") as f:
        for line in f:
            address, _kind, name = line.split()[:3]
            if name == "bpf_prog_put" and int(address, 16):
                symbol = (name, int(address, 16))
                break
    if symbol is None:
        pytest.skip("kallsyms hides addresses here")
    prog = ProgramSpec("p", assemble("r1 = 0 ll\nexit"), type="socket_filter",
                       extern_references=[ExternReference(0, symbol[0], "ksym")])
    spec = ObjectSpec(programs={"p": prog}, externs={symbol[0]: Extern(symbol[0], "ksym")})
    out = _resolve(spec, "p")
    value = (out[0].imm & 0xFFFFFFFF) | ((out[1].imm & 0xFFFFFFFF) << 32)
    assert out[0].src == 0 and value == symbol[1]


def test_kconfig_externs_come_from_the_running_kernel():
    from pybpf.btf import BTFBuilder
    from pybpf.elf.kconfig import kernel_version_code
    from pybpf.errors import LoadError
    from pybpf.kernel.collection import KernelResolver
    from pybpf.linker import link
    from pybpf.objects import MapSpec

    b = BTFBuilder()
    uint_id = b.add_int("unsigned int", 4)
    btf = b.build()
    spec = ObjectSpec(btf=btf, maps={".kconfig": MapSpec(".kconfig", "array", 4, 8, 1,
                                                         contents=[(0, bytes(8))])})
    spec.externs = {
        "LINUX_KERNEL_VERSION": Extern("LINUX_KERNEL_VERSION", "kconfig", False, btf[uint_id],
                                       uint_id, 0, 4),
        "CONFIG_PYBPF_NOT_A_THING": Extern("CONFIG_PYBPF_NOT_A_THING", "kconfig", True,
                                           btf[uint_id], uint_id, 4, 4)}
    spec.variables = {name: (".kconfig", ext.offset, ext.size, ext.type)
                      for name, ext in spec.externs.items()}
    contents = link(spec, KernelResolver()).maps[".kconfig"].contents
    assert contents == [(0, kernel_version_code().to_bytes(4, "little") + bytes(4))]
    spec.externs["CONFIG_PYBPF_NOT_A_THING"].weak = False
    with pytest.raises(LoadError, match="kconfig extern CONFIG_PYBPF_NOT_A_THING has no value "
                                        "in this kernel"):
        link(spec, KernelResolver())
