"""``pybpf cbpf`` and ``pybpf seccomp``: classic programs assembled,
dumped, checked, run on every backend and translated; seccomp policies
compiled, evaluated and applied to a command; one-line errors."""

from __future__ import annotations

import errno
import json
import os
import platform
import signal
import subprocess
import sys

import pytest

from conftest import SRC
from pybpf.cbpf import assemble, decode, parse_program
from pybpf.cli.main import main

x86_64 = pytest.mark.skipif(platform.machine() != "x86_64",
                            reason="the policies name x86-64 system calls")

IPV4_TCP = """\
; accept IPv4 TCP frames, whole
        ldh [12]
        jne #0x800, drop
        ldb [23]
        jneq #6, drop
        ret #-1
drop:   ret #0
"""

L3_TCP = """\
        ldb [9]
        jeq #6, keep, drop
keep:   ret #96
drop:   ret #0
"""

TCP_PACKET = "4500002800000000400600000a0000010a000002" + "00" * 20
UDP_PACKET = "4500001c00000000401100000a0000010a000002" + "00" * 8

POLICY = """\
default = "allow"
deny = ["ptrace"]

[[rule]]
syscall = "openat"
action = "errno EACCES"
args = ["arg2 & O_ACCMODE != O_RDONLY"]
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ip.asm").write_text(IPV4_TCP)
    (tmp_path / "l3.asm").write_text(L3_TCP)
    (tmp_path / "policy.toml").write_text(POLICY)
    (tmp_path / "hatype.asm").write_text("ld hatype\nret a\n")
    return tmp_path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# --- pybpf cbpf ---------------------------------------------------------------------------------

def test_asm_prints_every_form(files, capsys):
    want = assemble(IPV4_TCP)
    code, out, _ = run_cli(capsys, "cbpf", "asm", files / "ip.asm")
    assert code == 0 and out.startswith("6,40 0 0 12,")
    assert parse_program(out) == want
    for fmt in ("-d", "-dd", "-ddd"):
        code, out, _ = run_cli(capsys, "cbpf", "asm", files / "ip.asm", fmt)
        assert code == 0 and parse_program(out) == want, fmt
    code, out, _ = run_cli(capsys, "cbpf", "asm", files / "ip.asm", "-d")
    assert out.splitlines()[1] == "(001) jeq      #0x800           jt 2\tjf 5"
    code, out, _ = run_cli(capsys, "cbpf", "asm", files / "ip.asm", "-c")
    assert out.splitlines()[0] == "{ 0x28,  0,  0, 0x0000000c },"


def test_asm_writes_raw_bytes_that_disasm_reads(files, capsys):
    raw = files / "ip.bin"
    assert run_cli(capsys, "cbpf", "asm", files / "ip.asm", "-o", raw)[0] == 0
    assert decode(raw.read_bytes()) == assemble(IPV4_TCP)
    code, out, _ = run_cli(capsys, "cbpf", "disasm", raw)
    assert code == 0 and assemble(out) == assemble(IPV4_TCP)
    assert "jeq #0x800, L2, L5" in out


def test_binary_input_longer_than_a_classic_program_is_refused_before_decoding(files, capsys):
    raw = files / "big.bin"
    raw.write_bytes(bytes(range(8)) * 5000)
    code, out, err = run_cli(capsys, "cbpf", "disasm", raw)
    assert code == 1 and out == ""
    assert "5000 sock_filter instructions" in err and "at most 4096" in err


def test_disasm_reads_tcpdump_output(files, capsys):
    dump = files / "dump.txt"
    dump.write_text(_dump(capsys, files, "-ddd"))
    code, out, _ = run_cli(capsys, "cbpf", "disasm", dump, "-d")
    assert code == 0 and out.startswith("(000) ldh      [12]")


def _dump(capsys, files, fmt: str) -> str:
    return run_cli(capsys, "cbpf", "asm", files / "ip.asm", fmt)[1]


def test_check(files, capsys):
    code, out, _ = run_cli(capsys, "cbpf", "check", files / "ip.asm")
    assert code == 0 and "6 instructions, a valid socket filter" in out
    bad = files / "bad.asm"
    bad.write_text("ldx #0\ndiv #0\nret a\n")
    code, out, err = run_cli(capsys, "cbpf", "check", bad)
    assert code == 1 and out == ""
    assert err.startswith(f"pybpf: error: {bad}: insn 1: div by the constant 0")
    code, _, err = run_cli(capsys, "cbpf", "check", files / "ip.asm", "--seccomp")
    assert code == 1 and "seccomp" in err.lower()


@pytest.mark.kernel
def test_check_in_the_kernel(files, capsys):
    code, out, _ = run_cli(capsys, "cbpf", "check", files / "ip.asm", "--kernel")
    assert code == 0 and "and the kernel" in out


def test_run_in_two_backends(files, capsys):
    code, out, _ = run_cli(capsys, "cbpf", "run", files / "l3.asm", "--packet", TCP_PACKET)
    assert code == 0
    assert out.splitlines() == ["classic interpreter: 96", "eBPF in the VM: 96",
                                "accept, keep 40 of 40 bytes"]
    code, out, _ = run_cli(capsys, "-j", "cbpf", "run", files / "l3.asm", "--packet",
                           UDP_PACKET)
    assert code == 0
    assert json.loads(out) == {"values": {"interp": 0, "vm": 0}, "agree": True, "value": 0,
                               "accepted": False, "protocol": 0x0800}


def test_run_the_protocol_ancillary(files, capsys):
    prog = files / "proto.asm"
    prog.write_text("ld proto\nret a\n")
    code, out, _ = run_cli(capsys, "cbpf", "run", prog, "--packet", "00", "--protocol", "0x88cc")
    assert code == 0 and "eBPF in the VM: 35020" in out
    # a test run (the kernel's, and the VM's likewise) refuses a short IPv6 packet
    code, _, err = run_cli(capsys, "cbpf", "run", prog, "--packet", "00", "--protocol",
                           "0x86dd")
    assert code == 1 and "shorter than an IPv6 header" in err


@pytest.mark.kernel("test_run")
def test_run_in_the_kernel_too(files, capsys):
    code, out, _ = run_cli(capsys, "cbpf", "run", files / "l3.asm", "--packet", TCP_PACKET,
                           "--kernel")
    assert code == 0 and "eBPF in the kernel (test run): 96" in out


def test_translate(files, capsys):
    code, out, _ = run_cli(capsys, "cbpf", "translate", files / "l3.asm")
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == ["w0 = 0", "w7 = 0", "r6 = r1"] and lines[-1] == "exit"
    code, out, _ = run_cli(capsys, "cbpf", "translate", files / "l3.asm", "--syntax", "ubpf")
    assert code == 0 and "exit" in out


@pytest.mark.parametrize("argv, message", [
    (["cbpf", "run", "{d}/l3.asm", "--packet", "zz"], "--packet must be hex"),
    (["cbpf", "run", "{d}/l3.asm", "--packet", "00", "--protocol", "ip"], "not a number"),
    (["cbpf", "asm", "{d}/missing.asm"], "No such file"),
    (["cbpf", "run", "{d}/l3.asm", "--packet", "00", "--protocol", "0x10000"], "16 bits"),
    (["cbpf", "translate", "{d}/hatype.asm"], "hatype.asm: insn 0: cannot translate"),
    (["cbpf", "check", "{d}/hatype.asm", "--seccomp"], "hatype.asm: insn 0"),
    (["seccomp", "eval", "{d}/policy.toml", "--syscall", "read", "--arg", str(1 << 64)],
     "64 bits"),
    (["cbpf", "translate", "{d}/policy.toml"], "policy.toml"),
    (["seccomp", "eval", "{d}/policy.toml", "--syscall", "opnat"], "unknown system call"),
    (["seccomp", "eval", "{d}/policy.toml", "--syscall", "read", "--arch", "vax"], "--arch"),
    (["seccomp", "compile", "{d}/missing.toml"], "cannot read"),
    (["seccomp", "run", "{d}/policy.toml"], "give the command"),
])
def test_one_line_errors(files, capsys, argv, message):
    code, out, err = run_cli(capsys, *[a.format(d=files) for a in argv])
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("pybpf: error:") and message in lines[0]
    assert len(lines) <= 2 and "Traceback" not in err


def test_verbs_without_a_verb_print_help(capsys):
    for command in ("cbpf", "seccomp"):
        code, out, _ = run_cli(capsys, command)
        assert code == 2 and f"usage: pybpf {command}" in out


# --- pybpf seccomp ------------------------------------------------------------------------------

@x86_64
def test_seccomp_compile(files, capsys):
    from pybpf.cbpf.seccomp import Policy

    want = Policy.load(files / "policy.toml").compile()
    code, out, _ = run_cli(capsys, "seccomp", "compile", files / "policy.toml")
    assert code == 0 and assemble(out) == want
    code, out, _ = run_cli(capsys, "seccomp", "compile", files / "policy.toml", "-d")
    assert code == 0 and out.startswith("(000) ld       [4]") and parse_program(out) == want
    code, out, _ = run_cli(capsys, "seccomp", "compile", files / "policy.toml", "--ebpf")
    assert code == 0 and out.rstrip().endswith("exit")


@x86_64
def test_seccomp_eval(files, capsys):
    code, out, _ = run_cli(capsys, "seccomp", "eval", files / "policy.toml", "--syscall",
                           "openat", "--arg", "-100", "--arg", "0", "--arg", "O_WRONLY", "-v")
    assert code == 0
    assert out.splitlines() == ["classic interpreter: errno 13 (EACCES)",
                                "eBPF in the VM: errno 13 (EACCES)",
                                "openat(-0x64, 0x0, 0x1): errno 13 (EACCES)"]
    code, out, _ = run_cli(capsys, "-j", "seccomp", "eval", files / "policy.toml", "--syscall",
                           "ptrace")
    assert code == 0
    doc = json.loads(out)
    assert (doc["action"], doc["data"], doc["nr"]) == ("errno", errno.EPERM, 101)
    code, out, _ = run_cli(capsys, "seccomp", "eval", files / "policy.toml", "--syscall",
                           "read", "--arch", "aarch64")
    assert code == 0 and out.strip() == "read(): kill_process"


@x86_64
@pytest.mark.kernel("test_run")
def test_seccomp_eval_in_the_kernel(files, capsys):
    code, out, _ = run_cli(capsys, "seccomp", "eval", files / "policy.toml", "--syscall",
                           "openat", "--arg", "0", "--arg", "0", "--arg", "O_RDWR", "-v",
                           "--kernel")
    assert code == 0 and "eBPF in the kernel (test run): errno 13 (EACCES)" in out


def _pybpf(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-m", "pybpf", *argv], capture_output=True,
                          text=True, env=env, timeout=120)


@x86_64
def test_seccomp_run(files):
    target = files / "written"
    done = _pybpf("seccomp", "run", str(files / "policy.toml"), "--", "sh", "-c",
                  f"echo hi > {target}")
    assert done.returncode != 0 and not target.exists()
    assert "Permission denied" in done.stderr
    done = _pybpf("seccomp", "run", str(files / "policy.toml"), "--", "cat",
                  str(files / "policy.toml"))
    assert done.returncode == 0 and done.stdout == POLICY
    done = _pybpf("seccomp", "run", str(files / "policy.toml"), "--", "sh", "-c", "exit 7")
    assert done.returncode == 7


@x86_64
def test_seccomp_run_killed_by_a_trap(files):
    policy = files / "trap.json"
    policy.write_text(json.dumps({"default": "allow", "trap": ["getppid"]}))
    done = _pybpf("seccomp", "run", str(policy), "--", sys.executable, "-c",
                  "import os; os.getppid(); print('survived')")
    assert done.returncode == 128 + signal.SIGSYS and "survived" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == \
        f"pybpf: {sys.executable} was killed by SIGSYS"


@x86_64
def test_seccomp_run_when_the_command_cannot_start(files):
    done = _pybpf("seccomp", "run", str(files / "policy.toml"), "--", str(files / "nothing"))
    assert done.returncode == 1
    assert done.stderr.strip().startswith("pybpf: error:") and "cannot run it" in done.stderr
    refuse_exec = files / "noexec.toml"
    refuse_exec.write_text('default = "allow"\ndeny = ["execve"]\n')
    done = _pybpf("seccomp", "run", str(refuse_exec), "--", "true")
    assert done.returncode == 1 and "cannot run it" in done.stderr
