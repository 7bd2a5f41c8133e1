"""The one-liners of bpftrace's tutorial this kernel can run, in the kernel,
compared with bpftrace 0.17 on the same scripted workload (``-c CMD``,
predicates on ``cpid``): the same map names, keys and counts where the
workload fixes them, the same histogram format.  Kprobe ones give the
clear refusal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from trace_util import ROOT, needs_tracefs

pytestmark = [pytest.mark.kernel, needs_tracefs]

BPFTRACE = shutil.which("bpftrace")
need_bpftrace = pytest.mark.skipif(
    BPFTRACE is None, reason="bpftrace is not installed (Debian 12: apt-get install bpftrace, "
                             "0.17) so there is nothing to compare with")
PYTHON = "/usr/bin/python3.11"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def ours(program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    return subprocess.run([sys.executable, "-m", "pybpf", "trace", *args, "-e", program],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def theirs(program: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([BPFTRACE, *args, "-e", program], capture_output=True, text=True,
                          timeout=timeout, check=False)


def both(program: str, *args: str) -> tuple[str, str]:
    a = ours(program, *args)
    assert a.returncode == 0, a.stderr
    b = theirs(program, *args)
    if b.returncode != 0 and "Attaching" not in b.stdout:
        pytest.skip(f"bpftrace could not run it here: {b.stderr.strip()[-300:]}")
    return a.stdout, b.stdout


def script(tmp_path, text: str) -> str:
    """A command running Python ``text`` (bpftrace's -c splits on spaces: no quoting)."""
    path = tmp_path / "work.py"
    path.write_text(text)
    return f"{PYTHON} {path}"


def entries(text: str) -> dict[str, str]:
    """Map entries printed at exit: ``@name[key]`` -> value (a histogram's rows)."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(@\w*(?:\[.*\])?): (.*)$", line)
        if m and m.group(2) == "":
            rows = []
            i += 1
            while i < len(lines) and lines[i]:
                rows.append(lines[i])
                i += 1
            out[m.group(1)] = "\n".join(rows)
        elif m:
            out[m.group(1)] = m.group(2)
        i += 1
    return out


def printed(text: str) -> list[str]:
    """Lines before the maps (printf output), without 'Attaching...'."""
    body = text.split("\n\n\n", 1)[0]
    return [x for x in body.splitlines() if x and not x.startswith("Attaching")]


@need_bpftrace
def test_hello_world():
    a, b = both('BEGIN { printf("hello world\\n"); exit(); }')
    assert a == b == "Attaching 1 probe...\nhello world\n\n\n"


@need_bpftrace
def test_files_opened():
    prog = ('tracepoint:syscalls:sys_enter_openat /pid == cpid/ '
            '{ printf("%s %s\\n", comm, str(args->filename)); }')
    a, b = both(prog, "-c", "/bin/cat /etc/hostname /etc/os-release")
    mine = [x for x in printed(a) if x.startswith("cat ")]
    their = [x for x in printed(b) if x.startswith("cat ")]
    # a filename whose page is not in memory yet reads as "" in both, not always
    # the same one: the same opens, in the same order
    assert len(mine) == len(their)
    for name in ("cat /etc/hostname", "cat /etc/os-release", "cat /etc/ld.so.cache"):
        assert mine.index(name) == their.index(name)


@need_bpftrace
def test_syscall_counts_by_process():
    a, b = both("tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @[comm] = count(); }",
                "-c", "/bin/true")
    assert entries(a)["@[true]"] == entries(b)["@[true]"]


@need_bpftrace
def test_distribution_of_read_bytes():
    # bpftrace's forked child reads its go-ahead (8 bytes) before execve: comm selects cat
    prog = ('tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "cat"/ '
            '{ @bytes = hist(args->ret); }')
    a, b = both(prog, "-c", "/bin/cat /etc/services")
    assert entries(a)["@bytes"] == entries(b)["@bytes"]
    assert re.search(r"^\[\d+[KM]?, \d+[KM]?\)\s+\d+ \|@+ *\|$", entries(a)["@bytes"], re.M)


@need_bpftrace
def test_read_sizes_linear_histogram_and_sum():
    # the tutorial's kretprobe:vfs_read lhist, on the read tracepoint
    prog = ('tracepoint:syscalls:sys_exit_read /pid == cpid && comm == "cat"/ '

            "{ @ = lhist(args->ret, 0, 2000, 200); @s[comm] = sum(args->ret); }")
    a, b = both(prog, "-c", "/bin/cat /etc/services /etc/hostname")
    ea, eb = entries(a), entries(b)
    assert ea["@"] == eb["@"]
    assert ea["@s[cat]"] == eb["@s[cat]"]


@need_bpftrace
def test_process_level_events():
    prog = "tracepoint:sched:sched_process_* /pid == cpid/ { @[probe] = count(); }"
    a, b = both(prog, "-c", "/bin/true")
    ea, eb = entries(a), entries(b)
    for key in ("@[tracepoint:sched:sched_process_exit]",):
        assert ea[key] == eb[key] == "1"
    assert set(ea) <= set(eb) | {"@[tracepoint:sched:sched_process_exec]"}


@need_bpftrace
def test_kernel_struct_fields_through_btf():
    prog = ("tracepoint:syscalls:sys_enter_openat /pid == cpid/ "
            "{ @[curtask->tgid == pid, curtask->comm] = count(); }")
    a, b = both(prog, "-c", "/bin/cat /etc/hostname")
    assert entries(a)["@[1, cat]"] == entries(b)["@[1, cat]"]


@need_bpftrace
def test_profile_kernel_stacks():
    prog = "profile:hz:99 { @[kstack] = count(); } interval:s:1 { exit(); }"
    a, b = both(prog)
    frame = re.compile(r"^@\[\n(    \S+\n)+\]: \d+$", re.M)
    assert frame.search(a), a[:500]
    assert frame.search(b), b[:500]


@need_bpftrace
def test_interval_counts():
    prog = "interval:ms:100 { @ = count(); } interval:s:1 { exit(); }"
    a, b = both(prog)
    assert 8 <= int(entries(a)["@"]) <= 10
    assert 8 <= int(entries(b)["@"]) <= 10
    assert a.startswith("Attaching 2 probes...\n\n\n@: ")


@need_bpftrace
def test_uprobe_on_libc(tmp_path):
    prog = f"uprobe:{LIBC}:getpid /pid == cpid/ {{ @calls = count(); }}"
    work = script(tmp_path, "import os\nfor _ in range(25):\n    os.getpid()\n")
    a, b = both(prog, "-c", work)
    assert entries(a)["@calls"] == entries(b)["@calls"]
    assert int(entries(a)["@calls"]) >= 25


@need_bpftrace
def test_uretprobe_return_values(tmp_path):
    prog = f"uretprobe:{LIBC}:getpid /pid == cpid/ {{ @[retval == cpid] = count(); }}"
    work = script(tmp_path, "import os\nfor _ in range(10):\n    os.getpid()\n")
    a, b = both(prog, "-c", work)
    assert entries(a)["@[1]"] == entries(b)["@[1]"] == "10"


@need_bpftrace
def test_usdt_probe(tmp_path):
    prog = f"usdt:{PYTHON}:python:gc__start /pid == cpid/ {{ @[arg0] = count(); }}"
    work = script(tmp_path, "import gc\nfor _ in range(5):\n    gc.collect()\n")
    a, b = both(prog, "-c", work)
    ea, eb = entries(a), entries(b)
    assert ea.get("@[2]") == eb.get("@[2]")
    assert int(ea["@[2]"]) >= 5


@need_bpftrace
def test_json_output_matches():
    a, b = both('BEGIN { @h = hist(5); @c["x"] = count(); printf("hi\\n"); exit(); }',
                "-f", "json")
    assert a == b


@pytest.mark.parametrize("program", [
    "kprobe:do_nanosleep { printf(\"PID %d sleeping...\\n\", pid); }",
    "kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }",
    "kprobe:do_nanosleep { @start[tid] = nsecs; } kretprobe:do_nanosleep /@start[tid]/ "
    "{ @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }",
    "kprobe:vfs_open { printf(\"open path: %s\\n\", "
    "str(((struct path *)arg0)->dentry->d_name.name)); }",
])
def test_kprobe_one_liners_are_refused_clearly(program):
    from pybpf.trace.probes import kernel_refusal

    if kernel_refusal("kprobe") is None:
        pytest.skip("this kernel has kprobes")
    r = ours(program)
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert re.match(r"stdin:1:\d+-\d+: ERROR: k(ret)?probe probes cannot be used here: "
                    r"this kernel has no kprobe support", first), r.stderr


@need_bpftrace
def test_join_of_execve_arguments(tmp_path):
    # the workload's own execs, told apart by a marker argument: at most 16
    # elements of at most 1023 bytes, an empty element ends the list
    prog = ('tracepoint:syscalls:sys_enter_execve { join(args->argv); '
            'join(args->argv, ","); }')
    work = script(tmp_path, "import subprocess\n"
                            "many = [f'a{i}' for i in range(20)]\n"
                            "subprocess.run(['/bin/true', 'joinmark', *many])\n"
                            "subprocess.run(['/bin/true', 'joinmark', 'x' * 1500, 'end'])\n"
                            "subprocess.run(['/bin/true', 'joinmark', '', 'after'])\n")
    a, b = both(prog, "-c", work)

    def marked(text: str) -> list[str]:
        return [x for x in text.splitlines() if x.startswith("/bin/true") and "joinmark" in x]

    mine, theirs_ = marked(a), marked(b)
    assert mine == theirs_
    assert len(mine) == 6
    assert mine[0].split() == ["/bin/true", "joinmark", *(f"a{i}" for i in range(14))]
    assert mine[3] == f"/bin/true,joinmark,{'x' * 1023},end"
    assert mine[4] == "/bin/true joinmark"


@need_bpftrace
def test_usym_and_ustack_are_symbolized(tmp_path):
    # the workload stays alive a moment: both tools name frames from its mappings
    prog = (f'uprobe:{LIBC}:getpid /pid == cpid/ {{ printf("%s\\n", usym(reg("ip"))); '
            f'printf("%s\\n", ustack); }}')
    work = script(tmp_path, "import os, time\nfor _ in range(3):\n    os.getpid()\n"
                            "time.sleep(1)\n")
    a, b = both(prog, "-c", work)
    assert printed(a) == printed(b)
    lines = printed(a)
    # the strong name of glibc's getpid (its weak alias is 'getpid'), with an
    # offset in stacks (8 spaces in printf, as bpftrace indents them)
    assert lines[0] == "__getpid"
    assert lines[1] == "        __getpid+0"
    assert len(lines) >= 6 and lines.count("__getpid") == 3
