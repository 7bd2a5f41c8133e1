"""seccomp: the system call table, actions, conditions, policies compiled
to classic BPF, evaluated four ways (the rules themselves, the classic
interpreter, the eBPF translation in the VM and in the kernel), and real
filters installed in child processes."""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import platform
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.cbpf.check import first_problem
from pybpf.cbpf.interp import Machine
from pybpf.cbpf.seccomp import (
    Action,
    Arg,
    FilterRunner,
    Policy,
    PolicyError,
    install,
    run,
    run_filter,
    seccomp_data,
    syscall_number,
    syscall_table,
)
from pybpf.spec import seccomp as S

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
U64 = (1 << 64) - 1
x86_64 = pytest.mark.skipif(platform.machine() != "x86_64",
                            reason="the policies name x86-64 system calls")


# --- the table ------------------------------------------------------------------------------

@x86_64
def test_the_table_matches_the_installed_header():
    header = next((p for p in (Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
                               Path("/usr/include/asm/unistd_64.h")) if p.exists()), None)
    if header is None:
        pytest.skip("asm/unistd_64.h is not installed (linux-libc-dev)")
    defined = {}
    for line in header.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
            defined[parts[1][5:]] = int(parts[2])
    table = syscall_table("x86_64")
    assert defined and all(table[name] == nr for name, nr in defined.items())
    assert len(set(table.values())) == len(table)  # no number twice


@x86_64
def test_the_table_is_what_the_generator_writes():
    out = subprocess.run([sys.executable, str(ROOT / "generators" / "gen_syscalls.py"),
                          "--check"], capture_output=True, text=True)
    if out.returncode == 2:
        pytest.skip(out.stderr.strip())
    assert out.returncode == 0, out.stderr


@x86_64
def test_numbers_and_errors():
    assert syscall_number("openat") == 257
    assert syscall_number("read") == 0
    assert syscall_number("42") == 42
    with pytest.raises(PolicyError, match="unknown system call 'opnat'"):
        syscall_number("opnat")


# --- actions and conditions ------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, data, value", [
    ("allow", "allow", 0, S.SECCOMP_RET_ALLOW),
    ("deny", "errno", errno.EPERM, S.SECCOMP_RET_ERRNO | errno.EPERM),
    ("errno EACCES", "errno", errno.EACCES, S.SECCOMP_RET_ERRNO | errno.EACCES),
    ("errno 0x10", "errno", 16, S.SECCOMP_RET_ERRNO | 16),
    ("kill", "kill_process", 0, S.SECCOMP_RET_KILL_PROCESS),
    ("kill-thread", "kill_thread", 0, S.SECCOMP_RET_KILL_THREAD),
    ("trap", "trap", 0, S.SECCOMP_RET_TRAP),
    ("log", "log", 0, S.SECCOMP_RET_LOG),
    ("user_notif", "user_notif", 0, S.SECCOMP_RET_USER_NOTIF),
    ("trace 7", "trace", 7, S.SECCOMP_RET_TRACE | 7),
])
def test_actions(text, kind, data, value):
    action = Action.parse(text)
    assert (action.kind, action.data, action.value) == (kind, data, value)
    assert Action.of(value) == action


@pytest.mark.parametrize("text, message", [
    ("permit", "unknown action"), ("allow 3", "only errno and trace"),
    ("errno EWHAT", "neither a number"), ("errno 70000", "16 bits"), ("", "empty"),
])
def test_bad_actions(text, message):
    with pytest.raises(PolicyError, match=message):
        Action.parse(text)


def test_an_unknown_return_value_kills():
    assert Action.of(0x12340000).kind == "kill_process"


def test_conditions():
    assert Arg.parse("arg1 & 0x3 != 0") == Arg(1, "!=", 0, 3)
    assert Arg.parse("arg0 == -1").value == U64
    assert Arg.parse(f"arg2 & O_ACCMODE == {os.O_WRONLY}") == Arg(2, "==", os.O_WRONLY,
                                                                  os.O_ACCMODE)
    assert Arg.parse("arg5>=4096") == Arg(5, ">=", 4096)
    assert Arg(0, "<", 1 << 32).holds([0xFFFFFFFF])
    assert not Arg(0, "<", 1 << 32).holds([1 << 32])
    for bad, message in [("arg6 == 1", "cannot read"), ("arg1 & 3 < 2", "== or !="),
                         ("arg1 == BANANA", "known constant"), ("x == 1", "cannot read")]:
        with pytest.raises(PolicyError, match=message):
            Arg.parse(bad)


def test_seccomp_data_layout():
    data = seccomp_data(257, [1, 2, U64], arch="x86_64", instruction_pointer=0x1000)
    assert len(data) == S.SECCOMP_DATA_SIZE
    nr, arch, ip, *args = struct.unpack("=iIQ6Q", data)
    assert (nr, arch, ip, args) == (257, S.AUDIT_ARCH_X86_64, 0x1000, [1, 2, U64, 0, 0, 0])


# --- policies, four ways ---------------------------------------------------------------------

SYSCALLS = ["read", "write", "openat", "close", "getppid", "mmap", "ptrace", "kill"]
VALUES = [0, 1, 2, 3, 0xFF, 0x1000, 0xFFFFFFFF, 1 << 32, (1 << 32) + 1, 0x7FFFFFFF_FFFFFFFF,
          U64, U64 - 1]
values = st.one_of(st.sampled_from(VALUES), st.integers(0, U64), st.integers(0, 8))


@st.composite
def conditions(draw) -> Arg:
    index = draw(st.integers(0, 5))
    if draw(st.integers(0, 3)) == 0:
        return Arg(index, draw(st.sampled_from(["==", "!="])), draw(values), draw(values))
    return Arg(index, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), draw(values))


actions = st.one_of(
    st.sampled_from(["allow", "log", "trap", "kill_thread", "kill_process", "user_notif"]),
    st.integers(0, 4095).map(lambda n: f"errno {n}"),
    st.integers(0, 9).map(lambda n: f"trace {n}"))


@st.composite
def policies(draw, syscalls: list[str] = SYSCALLS, acts=actions) -> Policy:
    policy = Policy(default=draw(acts), bad_arch=draw(acts), arch="x86_64")
    for _ in range(draw(st.integers(0, 8))):
        policy.add(draw(st.sampled_from(syscalls)), draw(acts),
                   *draw(st.lists(conditions(), max_size=3)))
    return policy


calls = st.tuples(st.sampled_from(SYSCALLS), st.lists(values, min_size=6, max_size=6))


@x86_64
@given(policy=policies(), call_list=st.lists(calls, min_size=1, max_size=8))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_policies_decide_as_their_rules_say(policy, call_list):
    program = policy.compile()
    assert first_problem(program, seccomp=True) is None
    machine = Machine(program, seccomp=True)
    vm = FilterRunner(program, "vm")
    for name, args in call_list:
        want = policy.decide(name, args)
        data = seccomp_data(name, args, arch="x86_64")
        assert Action.of(machine.run(data).value) == want
        assert Action.of(vm(data)) == want


@x86_64
def test_other_architectures_and_x32_get_bad_arch():
    policy = Policy(default="allow", bad_arch="errno 99").allow("read")
    assert policy.evaluate("read", arch="aarch64").data == 99
    assert policy.evaluate(S.X32_SYSCALL_BIT | 0).data == 99
    assert policy.evaluate("read").kind == "allow"


@x86_64
@pytest.mark.kernel("test_run")
@given(policy=policies(), call_list=st.lists(calls, min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_translation_runs_the_same_in_the_kernel(policy, call_list):
    # the eBPF translation loaded as a syscall program and test-run in the kernel
    program = policy.compile()
    with FilterRunner(program, "kernel") as kernel:
        for name, args in call_list:
            data = seccomp_data(name, args, arch="x86_64")
            assert kernel(data) == run_filter(program, data, backend="interp")


@x86_64
def test_big_allow_lists_compile():
    policy = Policy(default="kill").allow(*sorted(syscall_table()))
    program = policy.compile()
    assert len(program) < 2 * len(syscall_table())
    assert policy.evaluate("file_setattr").kind == "allow"
    policy.add("openat", "errno EPERM", *[f"arg{i % 6} != {i}" for i in range(30)])
    assert policy.evaluate("openat").kind == "allow"  # the earlier unconditional rule wins


# --- files -------------------------------------------------------------------------------------

POLICY_TOML = """
default = "allow"
deny = ["ptrace"]

[[rule]]
syscall = "openat"
action = "errno EACCES"
args = ["arg2 & O_ACCMODE != O_RDONLY"]

[[rule]]
syscalls = ["mkdir", "mkdirat"]
action = "errno 30"
"""


@x86_64
def test_policy_files(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text(POLICY_TOML)
    policy = Policy.load(toml)
    assert policy.evaluate("openat", [0, 0, os.O_WRONLY]).data == errno.EACCES
    assert policy.evaluate("openat", [0, 0, os.O_RDONLY]).kind == "allow"
    assert policy.evaluate("mkdirat").data == 30
    assert policy.evaluate("ptrace").data == errno.EPERM
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps({"default": "allow", "deny": ["ptrace"],
                                   "rule": [{"syscall": "openat", "action": "errno EACCES",
                                             "args": ["arg2 & O_ACCMODE != O_RDONLY"]},
                                            {"syscalls": ["mkdir", "mkdirat"],
                                             "action": "errno 30"}]}))
    assert Policy.load(as_json).compile() == policy.compile()


@pytest.mark.parametrize("text, message", [
    ("default = 'allow'\ncolour = 1", "unknown keys"),
    ("[[rule]]\nsyscall = 'openat'", "rule 1: a rule needs"),
    ("[[rule]]\nsyscall = 'nosuch'\naction = 'allow'", "rule 1: unknown system call"),
    ("[[rule]]\nsyscall = 'read'\naction = 'allow'\nargs = ['arg9 == 1']", "rule 1: cannot read"),
    ("default = 'maybe'", "unknown action"),
    ("default = ", "not valid TOML"),
])
def test_policy_file_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as info:
        Policy.load(path)
    assert str(path) in str(info.value)


# --- real filters ----------------------------------------------------------------------------

def _child_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=60)


@x86_64
def test_a_child_denied_openat_gets_eperm_and_the_vm_agrees():
    # The filter goes in after Python has started (the dynamic loader opens
    # files with openat too), then the child opens a file.
    out = _child_python("""
        from pybpf.cbpf.seccomp import Policy, install
        install(Policy(default="allow").deny("openat"))
        try:
            open("/etc/hostname")
        except PermissionError as e:
            print("denied", e.errno)
        else:
            print("opened")
    """)
    assert out.stdout.split() == ["denied", str(errno.EPERM)], out.stderr
    # the same policy, the same seccomp_data: openat(AT_FDCWD, path, O_RDONLY|O_CLOEXEC)
    policy = Policy(default="allow").deny("openat")
    call = [-100 & U64, 0x7FFF0000, os.O_RDONLY | os.O_CLOEXEC, 0]
    for backend in ("vm", "interp"):
        assert policy.evaluate("openat", call, backend=backend) == \
            Action("errno", errno.EPERM)


@x86_64
def test_run_a_command_under_a_policy(tmp_path):
    # opening for writing is denied; the dynamic loader's read-only opens are not
    policy = Policy(default="allow").add("openat", "errno EACCES",
                                         "arg2 & O_ACCMODE != O_RDONLY")
    target = tmp_path / "out.txt"
    out = run([sys.executable, "-c", f"open({str(target)!r}, 'w')"], policy,
              capture_output=True, text=True)
    assert out.returncode == 1 and "PermissionError" in out.stderr
    assert not target.exists()
    ok = run([sys.executable, "-c", "print(open('/etc/hostname').read() != '')"], policy,
             capture_output=True, text=True)
    assert ok.stdout.strip() == "True", ok.stderr


def _run_in_child(program, nr: int, arg_sets: list[list[int]]) -> list[int]:
    """Install ``program`` in a forked child and make system call ``nr``
    with each argument set; the results (-errno or the return value) come
    back through shared memory (no system call needed to report them)."""
    size = 8 * (len(arg_sets) + 1)
    shared = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    pid = os.fork()
    if pid == 0:  # the child: nothing but ctypes calls and stores to shared memory
        try:
            install(program)
            for i, args in enumerate(arg_sets):
                rc = libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args))
                value = -ctypes.get_errno() if rc < 0 else rc
                shared[8 * i:8 * i + 8] = struct.pack("=q", value)
            shared[-8:] = struct.pack("=q", 1)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:  # a filter the child cannot live with
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            break
        time.sleep(0.01)
    done = struct.unpack("=q", shared[-8:])[0]
    results = [struct.unpack("=q", shared[8 * i:8 * i + 8])[0] for i in range(len(arg_sets))]
    shared.close()
    assert done == 1, "the child did not finish"
    return results


getppid_actions = st.one_of(st.just("allow"), st.integers(1, 4095).map(lambda n: f"errno {n}"))


@st.composite
def getppid_policies(draw) -> Policy:
    """Rules for getppid only, the last one unconditional (getppid's own
    default); everything else is allowed, so that the child can run and
    exit (glibc's _exit loops for ever when exit_group is refused)."""
    policy = Policy(default="allow", bad_arch="kill_process", arch="x86_64")
    for _ in range(draw(st.integers(0, 6))):
        policy.add("getppid", draw(getppid_actions), *draw(st.lists(conditions(), max_size=3)))
    policy.add("getppid", draw(getppid_actions))
    return policy


@x86_64
@given(policy=getppid_policies(),
       arg_sets=st.lists(st.lists(values, min_size=6, max_size=6), min_size=1, max_size=5))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_kernels_seccomp_decides_as_the_vm(policy, arg_sets):
    # getppid ignores its arguments: any values reach the filter, and the
    # call's result is the filter's verdict (its errno, or success).
    results = _run_in_child(policy.compile(), syscall_number("getppid"), arg_sets)
    for args, result in zip(arg_sets, results, strict=True):
        action = policy.evaluate("getppid", args)
        assert action.kind in ("allow", "errno")
        if action.kind == "errno":
            assert result == -action.data, (args, action)
        else:
            assert result == os.getpid(), (args, action)


@x86_64
def test_the_builders_shorthands():
    policy = (Policy(default="kill").allow("read").deny("openat", errno=errno.EACCES)
              .trap("ptrace").log("uname").user_notif("mount").kill("reboot"))
    want = {"read": "allow", "openat": "errno 13", "ptrace": "trap", "uname": "log",
            "mount": "user_notif", "reboot": "kill_process", "write": "kill_process"}
    for name, action in want.items():
        for backend in ("vm", "interp"):
            assert policy.evaluate(name, backend=backend).name == action, (name, backend)


@x86_64
def test_a_trapped_call_raises_sigsys_in_a_child():
    out = _child_python("""
        import os
        from pybpf.cbpf.seccomp import Policy, install
        install(Policy(default="allow").trap("getppid"))
        os.getppid()
        print("survived")
    """)
    assert out.returncode == -signal.SIGSYS and "survived" not in out.stdout
