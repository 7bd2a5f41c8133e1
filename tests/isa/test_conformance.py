"""The bpf_conformance suite (../shared/conformance) through the VM and the plugin."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import SHARED, shared_params, shared_path
from pybpf.conformance import (
    ConformanceFileError,
    load_data_file,
    parse_data,
    plugin_main,
    run_test,
)
from pybpf.errors import BPFError

TESTS = sorted((SHARED / "conformance" / "tests").glob("*.data"))
NEGATIVE = sorted((SHARED / "conformance" / "negative").glob("*.data"))


def _stem(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("path", shared_params(TESTS, _stem, "conformance", "tests"))
def test_conformance_in_process(path):
    outcome = run_test(load_data_file(path))
    assert outcome.passed, outcome.error


def _plugin(mem: bytes, program: bytes) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pybpf", "conformance-plugin"]
    if mem:
        args.append("  ".join(f"{b:02x}" for b in mem) + "  ")
    return subprocess.run(args, input=program.hex() + "\n", capture_output=True, text=True,
                          timeout=60)


def _through_the_plugin(paths: list[Path]) -> list[tuple[str, str]]:
    from pybpf.isa import encode

    def one(path: Path):
        test = load_data_file(path)
        done = _plugin(test.mem, encode(test.program()))
        if done.returncode != 0:
            return path.stem, f"exit {done.returncode}: {done.stderr.strip()}"
        r0 = int(done.stdout.strip(), 16)
        return path.stem, None if r0 == test.result else f"r0 {r0:#x} != {test.result:#x}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [(name, why) for name, why in pool.map(one, paths) if why]


def test_conformance_sample_through_the_plugin_command():
    # One test in sixteen (every group is represented): the whole suite goes
    # through the plugin process in the slow test below.
    shared_path("conformance", "tests")
    sample = TESTS[::16]
    assert len(sample) >= 16
    assert _through_the_plugin(sample) == []


@pytest.mark.slow
def test_conformance_through_the_plugin_command():
    shared_path("conformance", "tests")
    assert len(TESTS) == 313
    assert _through_the_plugin(TESTS) == []


@pytest.mark.parametrize("path", shared_params(NEGATIVE, _stem, "conformance", "negative"))
def test_negative_cases_are_refused(path):
    # A negative case is refused when it does not run to an expected result:
    # the file, the assembler or the loader rejects it, or r0 differs.
    try:
        test = load_data_file(path)
    except BPFError:
        return
    outcome = run_test(test)
    ran_to_result = outcome.r0 is not None and outcome.r0 == test.result
    assert not ran_to_result, f"{path.stem} was accepted: r0={outcome.r0}"
    assert outcome.error


def test_negative_suite_size():
    shared_path("conformance", "negative")
    assert len(NEGATIVE) == 60


def test_data_file_format():
    test = parse_data("# header\n-- asm\nmov %r0, 1 # one\nexit\n-- mem\n01 02\n03\n"
                      "-- result\n0x1\n-- c\n#include <x.h>\n")
    assert test.mem == b"\x01\x02\x03" and test.result == 1
    assert run_test(test).passed
    raw = parse_data("-- raw\n0x0000000100000007\nb7 00 00 00 02 00 00 00\n"
                     "0x0000000000000095\n-- result\n1")
    assert [i.opcode for i in raw.program()] == [0x07, 0xB7, 0x95]
    with pytest.raises(ConformanceFileError, match="no program"):
        parse_data("-- result\n0x0").program()
    with pytest.raises(ConformanceFileError, match="not hex"):
        parse_data("-- mem\nzz")


def test_plugin_protocol_in_process():
    import io

    out, err = io.StringIO(), io.StringIO()
    status = plugin_main(["01  02  03  "], io.StringIO("bf200000000000009500000000000000\n"),
                         out, err)
    assert (status, out.getvalue().strip()) == (0, "3")
    out, err = io.StringIO(), io.StringIO()
    status = plugin_main([], io.StringIO("0700010001000000\n"), out, err)
    assert status == 1 and "reserved field off" in err.getvalue()
    out, err = io.StringIO(), io.StringIO()           # ja -1: a traced endless loop
    status = plugin_main(["--trace"], io.StringIO("05 00 ff ff 00 00 00 00\n"), out, err)
    assert status == 1 and "max_insns=100000 " in err.getvalue()
