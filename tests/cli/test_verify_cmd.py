"""``pybpf verify`` (verdicts, JSON, exit status, the shared log options)
and the verification ``run``/``test-run`` do first unless ``--no-verify``."""

from __future__ import annotations

import json

from pybpf.cli.main import main

SAFE = "ldxb r0, [r1+2]\nexit\n"
OUT_OF_BOUNDS = "ldxb r0, [r1+8]\nexit\n"
SOCKET_FILTER_OK = "mov r0, 0\nexit\n"
UNINIT = "mov r0, r5\nexit\n"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_verify_accepts_and_rejects_with_the_kernels_words(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "verify", write(tmp_path, "ok.s", SOCKET_FILTER_OK))
    assert status == 0 and "accepted" in out
    status, out, _ = run_cli(capsys, "verify", write(tmp_path, "bad.s", UNINIT))
    assert status == 1
    assert "R5 !read_ok" in out and "at insn 0" in out


def test_verify_json_rows(tmp_path, capsys):
    status, out, _ = run_cli(capsys, "verify", "--json", write(tmp_path, "bad.s", UNINIT))
    assert status == 1
    (row,) = json.loads(out)
    assert row["verdict"] == "reject" and row["error"] == "R5 !read_ok"
    assert row["insn"] == 0 and row["insns_processed"] >= 1 and "states" in row


def test_verify_log_goes_to_the_log_file(tmp_path, capsys):
    log = tmp_path / "v.log"
    status, _out, err = run_cli(capsys, "verify", "--log-level", "2", "--log-file", str(log),
                               write(tmp_path, "ok.s", SOCKET_FILTER_OK))
    assert status == 0 and "R1=ctx() R10=fp0" in log.read_text()
    assert "processed 2 insns" in log.read_text() and "fp0" not in err


def test_a_log_file_keeps_an_undecodable_program_name(tmp_path, capsys):
    # cli fuzz seed 20261206 case 89835: the name '\xff\xfe' given on the
    # command line (surrogates in Python) made writing the log a traceback
    log = tmp_path / "v.log"
    status, _out, _err = run_cli(capsys, "verify", "--log-level", "2", "--log-file", str(log),
                                 "--program", "\udcff\udcfe", "--prog-type", "lo",
                                 write(tmp_path, "ok.s", SOCKET_FILTER_OK))
    assert status == 1
    assert b"--- verifier log of \xff\xfe ---" in log.read_bytes()


def test_run_verifies_for_the_memory_given(tmp_path, capsys):
    prog = write(tmp_path, "m.s", SAFE)
    status, out, _ = run_cli(capsys, "run", prog, "--mem", "01 02 03")
    assert status == 0 and out.strip() == "0x3"
    status, _, err = run_cli(capsys, "run", prog, "--mem", "01 02")
    assert status == 1 and "invalid access to memory, mem_size=2 off=2 size=1" in err


def test_no_verify_leaves_the_run_time_checks(tmp_path, capsys):
    prog = write(tmp_path, "m.s", OUT_OF_BOUNDS)
    status, _, err = run_cli(capsys, "run", prog, "--mem", "01 02", "--no-verify")
    assert status == 1 and "invalid memory access" in err and "mem_size" not in err


def test_test_run_verifies_unless_told_not_to(tmp_path, capsys):
    prog = write(tmp_path, "x.s", "ldxw r0, [r1+64]\nexit\n")
    status, _, err = run_cli(capsys, "test-run", prog, "--prog-type", "xdp", "--data", "00" * 64)
    assert status == 1 and "invalid bpf_context access off=64 size=4" in err
    status, _, err = run_cli(capsys, "test-run", prog, "--prog-type", "xdp", "--data", "00" * 64,
                             "--no-verify")
    assert status == 1 and "bpf_context" not in err
