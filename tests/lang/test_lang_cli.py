"""``pybpf compile FILE.py`` and ``pybpf run-py FILE.py``."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import ROOT
from pybpf.cli.main import main
from pybpf.elf import load_object

EXAMPLES = ROOT / "examples" / "lang"


def test_compile_writes_an_object_with_python_line_info(tmp_path, capsys):
    out = tmp_path / "xdp.o"
    assert main(["compile", str(EXAMPLES / "xdp_count.py"), "-o", str(out), "--time"]) == 0
    assert "ms LLVM" in capsys.readouterr().err
    spec = load_object(out)
    assert list(spec.programs) == ["count_packets"]
    assert spec.programs["count_packets"].line_info[0].file_name.endswith("xdp_count.py")
    assert main(["disasm", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "; xdp_count.py:" in listing and "proto = data[23]" in listing


def test_compile_emits_llvm_ir(capsys):
    assert main(["compile", str(EXAMPLES / "xdp_count.py"), "--emit-llvm"]) == 0
    text = capsys.readouterr().out
    assert 'section "xdp"' in text and "!DILocation" in text


def test_compile_error_names_file_line_and_column(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("from pybpf.lang import xdp\n\n@xdp\ndef f(ctx) -> int:\n"
                   "    x = [1, 2]\n    return 0\n")
    assert main(["compile", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:5:9: a Python list cannot live in an eBPF program" in err


@pytest.mark.kernel
def test_run_py_prints_records_and_maps():
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "run-py",
                             str(EXAMPLES / "exitsnoop.py"), "-d", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    deadline = time.monotonic() + 60
    line = proc.stdout.readline()
    assert line.startswith("running handle_exit"), line + proc.stderr.read()
    while time.monotonic() < deadline:
        subprocess.run(["sh", "-c", "exit 5"])
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    rest, err = proc.communicate(timeout=60)
    out = line + rest
    assert proc.returncode == 0, err
    assert "events: pid=" in out and "exit_code=5" in out and "comm=sh" in out


@pytest.mark.parametrize("command", ["run-py", "compile"])
def test_a_symlink_loop_is_a_one_line_error(tmp_path, capsys, command):
    # cli fuzz seed 20261209 case 50021: run-py on a symlink loop raised
    # RuntimeError from pathlib (Python 3.11 reports loops that way)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert main([command, str(loop)]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(loop) in err
    assert "Traceback" not in err
