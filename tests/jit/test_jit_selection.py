"""Choosing the JIT: the command line's ``--jit``, and what happens where
llvmlite is missing (the interpreter runs, with one clear warning)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings

import pytest

from conftest import SHARED, SRC
from pybpf.cli.main import main
from pybpf.conformance import plugin_main
from pybpf.vm import VM, EngineUnavailable, engines
from pybpf.vm.interpreter import CompiledProgram

PROGRAM = "mov %r0, 5\nldxb %r1, [%r1+1]\nadd %r0, %r1\nexit\n"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "p.s"
    path.write_text(PROGRAM)
    return str(path)


def test_run_and_test_run_take_jit(source, capsys):
    pytest.importorskip("llvmlite")
    assert run_cli(capsys, "run", "--jit", source, "--mem", "00 07") == (0, "0xc\n", "")
    status, out, _ = run_cli(capsys, "test-run", "--jit", source, "--data", "0007",
                             "--repeat", "100")
    assert status == 0 and out.startswith("retval: 12 0xc")


def test_conformance_commands_take_jit(capsys):
    pytest.importorskip("llvmlite")
    data = SHARED / "conformance" / "tests" / "add.data"
    if not data.exists():
        pytest.skip(f"{data} is absent (the shared material)")
    status, out, _ = run_cli(capsys, "conformance", "--jit", str(data))
    assert status == 0 and out.strip().endswith("1/1 passed")
    out = io.StringIO()
    program = io.StringIO("b700000007000000" "9500000000000000")
    assert plugin_main(["--jit", "0102"], stdin=program, stdout=out) == 0
    assert out.getvalue() == "7\n"


def test_jit_asked_where_the_engine_cannot_load_runs_the_interpreter(monkeypatch):
    monkeypatch.setattr(engines, "ENGINES", {})
    monkeypatch.setattr(engines, "ENGINE_PACKAGES", {"jit": "pybpf_no_such_package"})
    monkeypatch.setattr(engines, "_WARNED", set())
    with pytest.warns(EngineUnavailable, match="running programs in the interpreter"):
        vm = VM(jit=True)
    prog = vm.load("mov %r0, 3\nexit")
    assert isinstance(prog._compiled, CompiledProgram) and prog.run().r0 == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # said once per process
        VM(jit=True)


def test_without_llvmlite_the_jit_falls_back_with_a_message(tmp_path):
    # llvmlite made unimportable in a child; the disk cache off, so that
    # nothing compiled earlier can be loaded without LLVM.
    code = ("import sys; sys.modules['llvmlite'] = None; sys.modules['llvmlite.binding'] = None\n"
            "from pybpf.vm import VM\n"
            "p = VM(jit=True).load('mov %r0, 41\\nadd %r0, 1\\nexit')\n"
            "print(type(p._compiled).__name__, p.run().r0)\n")
    env = dict(os.environ, PYTHONPATH=str(SRC), PYBPF_JIT_CACHE="0")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["CompiledProgram", "42"]
    assert "interpreter" in done.stderr and "llvmlite" in done.stderr
