"""Real-world style programs (tests/verifier/data/realworld/*.bpf.c, written
for this test in the manner of libbpf-bootstrap and libbpf-tools: tracing
with ring buffers and CO-RE, XDP/tc parsers, cgroup and sock_ops programs,
loops, bpf-to-bpf and global functions, spin locks, tail calls, and the
mistakes users make) compiled with pybpf's toolchain, then verified by
pybpf and, where bpf() works, by the kernel: the verdicts must be the same,
and for a rejection the kernel's error line must be in pybpf's message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.errors import BPFError, VerifierError

DATA = Path(__file__).parent / "data" / "realworld"
SOURCES = sorted(DATA.glob("*.bpf.c"))
HAVE_BTF = Path("/sys/kernel/btf/vmlinux").exists()

pytestmark = pytest.mark.skipif(not HAVE_BTF, reason="the kernel exposes no BTF (CO-RE and "
                                                     "vmlinux.h need it)")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    from pybpf.toolchain import compile

    out = tmp_path_factory.mktemp("realworld")
    built = {}
    for src in SOURCES:
        try:
            built[src.name.removesuffix(".bpf.c")] = compile(src, out / f"{src.stem}.o")
        except BPFError as e:  # no compiler here: say so rather than fail
            pytest.skip(f"cannot compile {src.name}: {e}")
    return built


def _linked(path):
    from pybpf.elf import load_object
    from pybpf.kernel import KernelResolver
    from pybpf.linker import link

    return link(load_object(path.read_bytes(), path=str(path)), KernelResolver())


def test_there_are_a_few_dozen_programs(objects):
    total = sum(len(_linked(p).programs) for p in objects.values())
    assert total >= 28


def test_pybpf_accepts_the_good_ones_and_refuses_the_mistakes(objects):
    from pybpf.verifier import verify_object

    for name, path in objects.items():
        for prog, res in verify_object(_linked(path)).items():
            expected = "reject" if name == "mistakes" else "accept"
            assert res.verdict == expected, f"{name}:{prog}: {res.message}"
            if res.error is not None:
                assert res.error.pc is not None and res.error.insn


@pytest.mark.kernel
def test_same_verdicts_as_the_kernel(objects):
    from pybpf.kernel.collection import load_linked
    from pybpf.verifier import verify_object

    compared = 0
    for name, path in objects.items():
        ours = verify_object(_linked(path))
        for prog, res in ours.items():
            one = _linked(path)
            one.programs = {prog: one.programs[prog]}
            try:
                load_linked(one, log_level=1).close()
                kernel, line = "accept", None
            except VerifierError as e:
                kernel = "reject"
                lines = [ln for ln in e.log.splitlines()
                         if ln and not ln.startswith("processed ")]
                line = lines[-1] if lines else ""
            except BPFError:
                continue  # a hook this machine refuses (lockdown, missing map type)
            compared += 1
            assert res.verdict == kernel, f"{name}:{prog}: kernel {kernel} {line!r}, " \
                                          f"pybpf {res.message!r}"
            if kernel == "reject":
                assert line in (res.message or ""), f"{name}:{prog}"
    assert compared >= 28
