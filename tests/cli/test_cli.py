"""The command line: asm, disasm, run, test-run, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES
from pybpf.cli.main import main

PACKET = "00" * 12 + "0800" + "00" * 40


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_help_lists_the_commands():
    done = subprocess.run([sys.executable, "-m", "pybpf", "--help"], capture_output=True,
                          text=True, check=True)
    for command in ("asm", "disasm", "run", "test-run", "conformance-plugin", "conformance"):
        assert command in done.stdout


def test_run_the_readme_example(capsys):
    status, out, _ = run_cli(capsys, "run", str(EXAMPLES / "sum.s"), "--mem", "01 02 03 04")
    assert (status, out.strip()) == (0, "0xa")
    status, out, err = run_cli(capsys, "run", str(EXAMPLES / "fib.bpf.s"), "--stats")
    assert out.strip() == "0x1a6d" and "instructions executed" in err


def test_asm_then_disasm_round_trip(tmp_path, capsys):
    source = tmp_path / "p.s"
    source.write_text("mov %r0, 1\nlddw %r1, 0x1122334455667788\njne %r0, 2, +1\nexit\nexit\n")
    binary = tmp_path / "p.bin"
    assert run_cli(capsys, "asm", str(source), "-o", str(binary))[0] == 0
    assert binary.stat().st_size == 6 * 8
    status, out, _ = run_cli(capsys, "disasm", str(binary))
    assert status == 0 and out == source.read_text()
    status, out, _ = run_cli(capsys, "disasm", str(binary), "--syntax", "llvm", "--labels")
    assert "if r0 != 2 goto L5" in out and "L5:" in out
    status, hexed, _ = run_cli(capsys, "asm", str(source))
    assert hexed.splitlines()[0] == "b700000001000000"


def test_trace_prints_each_instruction(capsys):
    status, out, _ = run_cli(capsys, "run", str(EXAMPLES / "sum.s"), "--mem", "05", "--trace")
    lines = out.splitlines()
    assert status == 0 and lines[-1] == "0x5"
    assert lines[0].split()[:3] == ["0:", "mov", "%r0,"]
    assert any("ldxb" in line and "r3=0x5" in line for line in lines)


def test_tracing_a_loop_stops_at_a_budget_meant_for_reading(tmp_path, capsys):
    # cli fuzz seed 20261206 case 65123: a traced endless loop printed 100
    # million lines (the run budget) before it stopped
    from pybpf.vm import TRACED_MAX_INSNS

    loop = tmp_path / "loop.s"
    loop.write_text("l: ja l\n")
    status, out, err = run_cli(capsys, "run", str(loop), "--trace", "--no-verify")
    assert status == 1 and f"limit max_insns={TRACED_MAX_INSNS}" in err
    assert len(out.splitlines()) == TRACED_MAX_INSNS + 1
    status, out, err = run_cli(capsys, "run", str(loop), "--trace", "--no-verify",
                               "--max-insns", "10")
    assert status == 1 and len(out.splitlines()) == 11


def test_test_run_with_a_map(tmp_path, capsys):
    prog = tmp_path / "count.s"
    prog.write_text("""
        r1 = 0
        *(u32 *)(r10 - 4) = r1
        r2 = r10
        r2 += -4
        r1 = map[idx:0] ll
        call bpf_map_lookup_elem#1
        if r0 == 0 goto out
        r1 = 1
        lock *(u64 *)(r0 + 0) += r1
    out:
        r0 = 2
        exit
    """)
    status, out, _ = run_cli(capsys, "test-run", str(prog), "--prog-type", "xdp", "--data",
                             PACKET, "--map", "counts=array:4:8:1", "--repeat", "4", "--json")
    result = json.loads(out)
    assert status == 0 and result["retval"] == 2 and result["verdict"] == "XDP_PASS"
    assert result["data_out"] == PACKET
    assert result["maps"]["counts"] == {"00000000": (4).to_bytes(8, "little").hex()}


@pytest.mark.parametrize("argv, message", [
    (["run", "/nonexistent.s"], "No such file"),
    (["test-run", "x", "--map", "bad"], "NAME=TYPE:KEY_SIZE"),
    (["run", "-", "--mem", "zz"], "--mem must be hex"),
])
def test_errors_are_one_or_two_lines(capsys, monkeypatch, tmp_path, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("exit\n")
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"exit\n")))
    status, _, err = run_cli(capsys, *argv)
    assert status == 1
    assert message in err and err.startswith("pybpf: error:")
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err


def test_assembler_errors_show_the_line(tmp_path, capsys):
    source = tmp_path / "bad.s"
    source.write_text("mov %r0, 1\nldxq %r0, [%r1+0]\n")
    status, _, err = run_cli(capsys, "run", str(source))
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 2
    assert "line 2, column 1: unknown instruction mnemonic" in lines[0]
    assert lines[1].strip() == "ldxq %r0, [%r1+0]"


def test_conformance_directories(capsys):
    from conftest import shared_path

    tests = shared_path("conformance", "tests")
    status, out, _ = run_cli(capsys, "conformance", str(tests))
    assert status == 0 and out.strip().endswith("313/313 passed")
    status, out, _ = run_cli(capsys, "conformance", str(tests.parent / "negative"), "--negative")
    assert status == 0 and out.strip().endswith("60/60 refused")


def test_an_option_given_double_dash_as_its_value_is_refused(capsys):
    # Python 3.11's argparse reads "--syntax=--" as [] past its choices (cli fuzz
    # seed 20261206 case 33983 printed a ValueError traceback)
    status, _, err = run_cli(capsys, "run", str(EXAMPLES / "sum.s"), "--syntax=--")
    assert status == 2 and "'--' is not a value for --syntax" in err
    status, out, _ = run_cli(capsys, "run", str(EXAMPLES / "sum.s"), "--mem", "01 02 03 04")
    assert status == 0 and out


def test_test_run_refuses_a_repeat_beyond_32_bits(capsys):
    # cli fuzz seed 20261206 case 29025 ran 2**64 repeats
    status, _, err = run_cli(capsys, "test-run", str(EXAMPLES / "sum.s"), "--data", "01 02",
                             "--repeat", str(1 << 64))
    assert status == 1 and "repeat 18446744073709551616 is out of range" in err
    status, out, _ = run_cli(capsys, "test-run", str(EXAMPLES / "sum.s"), "--data", "01 02",
                             "--repeat", "3")
    assert status == 0 and "retval" in out
