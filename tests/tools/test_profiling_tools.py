"""profile, offcputime, funclatency, bashreadline and cachestat: their
option parsing, symbolizing, folded stacks and flame graphs without root;
and, in the kernel, each one seeing a workload the test runs (a Python
loop calling getppid(2), a sleep, malloc calls, a line typed into bash on a
pseudo-terminal, a file read cold and warm)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
import uuid
import xml.etree.ElementTree as ET

import pytest
from tool_process import ToolProcess, run_tool

from pybpf.tools import _flamegraph as fg
from pybpf.tools import _stacks as st

NEW_TOOLS = ("profile", "offcputime", "funclatency", "bashreadline", "cachestat")


# --- without root ----------------------------------------------------------------------------

def test_profile_options():
    from pybpf.tools import profile

    p = profile.build_parser()
    args = p.parse_args(["-F", "99", "-p", "42", "-U", "-f", "--svg", "out.svg"])
    assert (args.frequency, args.pid, args.user_stacks_only, args.folded, args.svg) == \
        (99, 42, True, True, "out.svg")
    assert p.parse_args([]).frequency == profile.DEFAULT_FREQUENCY
    for bad in (["-U", "-K"], ["-p", "1", "-L", "2"], ["-F", "x"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_offcputime_options():
    from pybpf.tools import offcputime

    p = offcputime.build_parser()
    args = p.parse_args(["-p", "7", "-u", "-K", "-m", "1000", "-M", "5000", "--state", "2",
                         "-f"])
    assert (args.pid, args.user_threads_only, args.kernel_stacks_only, args.min_block_time,
            args.max_block_time, args.state, args.folded) == (7, True, True, 1000, 5000, 2, True)
    for bad in (["-u", "-k"], ["-U", "-K"], ["-p", "1", "-t", "2"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_funclatency_targets_and_options():
    from pybpf.tools import _runtime as rt
    from pybpf.tools import funclatency

    p = funclatency.build_parser()
    args = rt.parse_args(p, ["-u", "-p", "9", "c:malloc", "--", "ls", "-l"])
    assert args.function == ("c", "malloc") and args.microseconds and args.pid == 9
    assert args.command == ["ls", "-l"]
    assert p.parse_args(["/lib/x86_64-linux-gnu/libc.so.6:malloc"]).function == \
        ("/lib/x86_64-linux-gnu/libc.so.6", "malloc")
    assert p.parse_args(["vfs_read"]).function == (None, "vfs_read")
    assert p.parse_args(["--bars", "c:malloc"]).bars
    assert p.parse_args(["--heatmap", "c:malloc"]).heatmap
    for bad in (["-m", "-u", "c:malloc"], [], [":malloc"], ["c:"],
                ["--bars", "--heatmap", "c:malloc"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_bashreadline_finds_readline_and_the_return_register():
    from pybpf.spec.layout import struct_layout
    from pybpf.tools import bashreadline

    path = bashreadline.readline_binary()
    from pybpf.kernel.symbols import ElfBinary

    with ElfBinary(path) as elf:
        assert "readline" in elf.symbols()
    assert bashreadline.return_register_offset("aarch64") == 0          # x0: regs[0]
    ax = {f.name: f.offset for f in struct_layout("pt_regs").fields}["ax"]
    assert bashreadline.return_register_offset("x86_64") == ax
    args = bashreadline.build_parser().parse_args(["-s", "/lib/libreadline.so.8", "-p", "3"])
    assert args.shared == "/lib/libreadline.so.8" and args.pid == 3


def test_cachestat_arithmetic_and_options():
    from pybpf.tools import cachestat

    assert cachestat.cache_stats(100, 10, 0) == (90, 10, 0.9)
    assert cachestat.cache_stats(100, 10, 30) == (100, 0, 1.0)    # dirtied > added
    assert cachestat.cache_stats(5, 10, 0) == (0, 5, 0.0)          # misses > accesses
    assert cachestat.cache_stats(0, 0, 0) == (0, 0, 0.0)
    args = cachestat.build_parser().parse_args(["-T", "-i", "2", "-c", "3"])
    assert (args.timestamp, args.interval, args.count) == (True, 2.0, 3)
    buffers, cached = cachestat.meminfo_mb()
    assert buffers >= 0 and cached > 0


@pytest.mark.skipif(not os.path.exists("/proc/kallsyms"), reason="no /proc/kallsyms")
def test_user_and_kernel_symbols():
    libc = ctypes.CDLL("libc.so.6")      # not CDLL(None): a non-PIE Python gives its PLT stub
    malloc = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    user = st.UserSymbols()
    assert user.name(os.getpid(), malloc + 1) == "malloc"
    assert user.name(os.getpid(), 8) == st.UNKNOWN
    table = st.SymbolTable([(0x1000, 0x10, "a"), (0x2000, 0, "b")])
    assert table.name_of(0x1008) == "a" and table.name_of(0x1010) is None
    assert table.name_of(0x2345) == "b" and table.name_of(0xfff) is None


def test_folded_lines_and_blocks():
    s = st.StackSample(5, "my prog", ["inner", "outer"], ["kinner", "kouter"], 7)
    assert st.folded_line(s.comm, s.user, s.kernel, s.count) == \
        "my_prog;outer;inner;kouter;kinner 7"
    assert st.folded_line("x", ["u"], ["k"], 1, delimiter=True) == "x;u;-;k 1"
    block = st.format_sample(s, delimiter=True).splitlines()
    assert [ln.strip() for ln in block] == ["kinner", "kouter", "--", "inner", "outer",
                                            "-                my prog (5)", "7", ""][:len(block)]
    merged = st.merge_samples([s, st.StackSample(5, "my prog", ["inner", "outer"],
                                                 ["kinner", "kouter"], 3)])
    assert len(merged) == 1 and merged[0].count == 10
    assert st.sample_json(s, "us")["us"] == 7
    assert st.flame_stacks([s]) == [(["my prog", "outer", "inner", "kouter_[k]",
                                      "kinner_[k]"], 7)]


def test_flame_graph_svg():
    stacks = fg.parse_folded(["main;work;spin 30", "main;work;wait 10", "main;idle 60",
                              "not a stack line", ""])
    assert stacks[0] == (["main", "work", "spin"], 30) and len(stacks) == 3
    svg = fg.render_svg(stacks, title="Test <graph>")
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "all (100 samples, 100.00%)" in titles
    assert "spin (30 samples, 30.00%)" in titles and "work (40 samples, 40.00%)" in titles
    rects = {t.text.split()[0]: r for g in root.iter("{http://www.w3.org/2000/svg}g")
             for t in g.iter("{http://www.w3.org/2000/svg}title")
             for r in g.iter("{http://www.w3.org/2000/svg}rect")}
    # widths follow the counts, callees sit above their callers
    width = lambda name: float(rects[name].get("width"))  # noqa: E731
    assert abs(width("idle") / width("work") - 1.5) < 0.01
    assert float(rects["spin"].get("y")) < float(rects["work"].get("y")) < \
        float(rects["main"].get("y"))
    assert fg.frame_color("x") == fg.frame_color("x")
    assert "(no samples)" in fg.render_svg([])


def test_kernel_functions_are_refused_in_one_line_without_kprobes():
    from pybpf.kernel import attach

    if attach.no_kprobes_reason() is None:
        pytest.skip("this kernel has kprobes")
    out = run_tool("funclatency", "vfs_read", "-d", "1")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pybpf: error: cannot time kernel "
                                                   "function 'vfs_read'") and "kprobe" in lines[0]


# --- in the kernel ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def built():
    """The new tools' objects (shipped, or compiled here once if their C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return {name: object_path(name, quiet=True) for name in NEW_TOOLS}
    except CompilerNotFound as e:
        pytest.skip(str(e))


SPINNER = textwrap.dedent("""
    import os, sys, time
    sys.stdin.readline()
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:
        os.getppid()
""")


@pytest.mark.kernel
def test_profile_samples_a_process_into_folded_stacks_and_a_flame_graph(built, tmp_path):
    svg = tmp_path / "profile.svg"
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER, "0.8"], stdin=subprocess.PIPE,
                               text=True)
    try:
        t = ToolProcess("profile", "-F", "199", "-p", str(spinner.pid), "-f", "--svg",
                        str(svg), "-d", "1.2")
        spinner.stdin.write("go\n")
        spinner.stdin.flush()
        code, out, err = t.finish()
    finally:
        spinner.kill()
        spinner.wait()
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines and all(ln.rsplit(" ", 1)[1].isdigit() for ln in lines), out
    assert sum(int(ln.rsplit(" ", 1)[1]) for ln in lines) >= 20, out
    frames = {f for ln in lines for f in ln.rsplit(" ", 1)[0].split(";")[1:]}
    # user frames of the interpreter (libpython's symbols) and the system call it makes
    assert any(f.startswith(("_Py", "Py")) for f in frames), out
    assert any("getppid" in f for f in frames), out
    titles = [t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith(("_Py", "Py")) for t in titles), titles
    assert any("getppid" in t and "_[k]" in t for t in titles), titles


@pytest.mark.kernel
def test_offcputime_sees_a_sleep_by_its_stack(built):
    out = run_tool("offcputime", "-j", "-u", "-m", "100000", "--", "sleep", "0.3")
    assert out.returncode == 0, out.stderr
    stacks = [ln for ln in map(__import__("json").loads, out.stdout.splitlines())
              if ln["comm"] == "sleep"]
    assert stacks, out.stdout
    nap = [s for s in stacks if any("nanosleep" in f for f in s["kernel_stack"])]
    assert nap and 250_000 <= max(s["us"] for s in nap) < 5_000_000, stacks
    assert not any(f.startswith(st.TRACING_FRAMES) for s in stacks for f in s["kernel_stack"])


@pytest.mark.kernel
def test_funclatency_times_malloc_calls_of_this_process(built):
    t = ToolProcess("funclatency", "-j", "-p", str(os.getpid()), "c:malloc", "-d", "1")
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    for _ in range(500):
        libc.free(libc.malloc(64))
    hists = t.finish_json()
    assert len(hists) == 1 and hists[0]["function"] == "c:malloc", hists
    h = hists[0]
    assert h["unit"] == "nsecs" and h["count"] >= 500, h
    assert sum(b["count"] for b in h["buckets"]) == h["count"] and h["total"] > 0, h


BASH_ON_A_TERMINAL = textwrap.dedent("""
    import os, pty, sys, time
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
    time.sleep(0.3)
    os.write(fd, b"echo " + sys.argv[1].encode() + b" >/dev/null\\n")
    time.sleep(0.2)
    os.write(fd, b"exit\\n")
    try:
        while os.read(fd, 1024):
            pass
    except OSError:
        pass
    os.waitpid(pid, 0)
""")


@pytest.mark.kernel
def test_bashreadline_shows_a_line_typed_into_bash(built):
    tag = f"pybpf-{uuid.uuid4().hex[:8]}"
    out = run_tool("bashreadline", "-j", "--", sys.executable, "-c", BASH_ON_A_TERMINAL, tag)
    assert out.returncode == 0, out.stderr
    lines = [__import__("json").loads(ln) for ln in out.stdout.splitlines()]
    assert any(e["line"] == f"echo {tag} >/dev/null" and e["comm"] == "bash" for e in lines), \
        out.stdout


CACHE_WORKLOAD = textwrap.dedent("""
    import os, sys
    path = sys.argv[1]
    with open(path, "wb") as f:
        f.write(os.urandom(4 << 20))
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # cold: 1024 misses
    for _ in range(3):                                   # then warm: 2048 hits
        os.lseek(fd, 0, 0)
        while os.read(fd, 1 << 16):
            pass
    os.close(fd)
    os.unlink(path)
""")


@pytest.mark.kernel
def test_cachestat_counts_a_cold_and_warm_read(built, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    for candidate in (base, "/var/tmp"):
        if os.major(os.stat(candidate).st_dev):
            break
    else:
        pytest.skip("no block-device-backed file system here (tmpfs reads bypass the "
                    "page cache tracepoints)")
    path = os.path.join(candidate, f"pybpf-cachestat-{os.getpid()}")
    out = run_tool("cachestat", "-j", "-i", "0.5", "--", sys.executable, "-c",
                   CACHE_WORKLOAD, path)
    assert out.returncode == 0, out.stderr
    rows = [__import__("json").loads(ln) for ln in out.stdout.splitlines()]
    total = {k: sum(r[k] for r in rows) for k in ("hits", "misses", "accesses", "added")}
    assert total["accesses"] >= 3 * 1024 and total["added"] >= 1024, rows
    assert total["misses"] >= 512 and total["hits"] >= 1536, rows
    assert all(0 <= r["ratio"] <= 1 and r["cached_mb"] > 0 for r in rows), rows


def test_the_tools_decode_with_the_spec_tables():
    from pybpf.spec import tracing
    from pybpf.tools import _block, _net, mountsnoop, softirqs

    assert _net.tcp_state(1) == "ESTABLISHED" and _net.tcp_state(10) == "LISTEN"
    assert _net.tcp_state(99) == "99"
    assert _block.op_name(0) == "Read" and _block.op_name(9) == "WriteZeroes"
    assert _block.op_name(3 | 1 << 11) == "Discard"
    assert softirqs.vector_name(3) == "net_rx" and softirqs.VECTORS[-1] == "rcu"
    assert mountsnoop.flag_names(2 | 4, tracing.MOUNT_FLAGS) == "MS_NOSUID|MS_NODEV"
    assert mountsnoop.flag_names(2, tracing.UMOUNT_FLAGS) == "MNT_DETACH"
    assert tracing.O_CREAT == os.O_CREAT
    # each table is sorted by bit and has no duplicate bits
    for table in (tracing.MOUNT_FLAGS, tracing.UMOUNT_FLAGS):
        bits = [b for _n, b in table]
        assert bits == sorted(set(bits)) and all(b & (b - 1) == 0 for b in bits)


def test_symbols_from_a_debug_file_found_by_build_id(tmp_path):
    import shutil

    (tmp_path / "ab").mkdir()
    shutil.copy("/bin/bash", tmp_path / "ab" / "cdef.debug")
    found = st.debug_file_symbols("abcdef", str(tmp_path))
    assert any(name == "readline" for _start, _size, name, _weak in found)
    assert st.debug_file_symbols("abcd99", str(tmp_path)) == []
    assert st.debug_file_symbols(None, str(tmp_path)) == []
    from pybpf.kernel.symbols import ElfBinary

    with ElfBinary("/bin/bash") as elf:
        assert st.build_id(elf) is None or len(st.build_id(elf)) >= 16
