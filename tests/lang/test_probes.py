"""uprobes and uretprobes written in Python read their arguments and
return values from pt_regs (ctx.arg(n), ctx.ret()); trace_printk formats
live in .rodata."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from pybpf.lang.compiler import compile_module, load_module

LIBC = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")

SOURCE = '''
from pybpf.lang import HashMap, s64, u32, u64, uprobe, uretprobe
from pybpf.lang.helpers import bpf_get_current_pid_tgid

calls = HashMap[u32, u64](max_entries=64)
args = HashMap[u32, s64](max_entries=64)
rets = HashMap[u32, s64](max_entries=64)


@uprobe("LIBC:abs")
def on_abs(ctx) -> int:
    pid = u32(bpf_get_current_pid_tgid() >> 32)
    calls[pid] += 1
    args[pid] = s64(ctx.arg(0))
    return 0


@uretprobe("LIBC:abs")
def on_abs_ret(ctx) -> int:
    rets[u32(bpf_get_current_pid_tgid() >> 32)] = s64(ctx.ret())
    return 0
'''


def probe_module(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(SOURCE.replace("LIBC", str(LIBC)))
    return load_module(path)


@pytest.mark.skipif(not LIBC.exists(), reason="no x86-64 glibc at the usual path")
def test_uprobe_sections_and_types(tmp_path):
    spec = compile_module(probe_module(tmp_path)).object_spec()
    assert spec.programs["on_abs"].section == f"uprobe/{LIBC}:abs"
    assert spec.programs["on_abs_ret"].section == f"uretprobe/{LIBC}:abs"
    assert {p.type for p in spec.programs.values()} == {"kprobe"}


@pytest.mark.kernel
@pytest.mark.skipif(not LIBC.exists(), reason="no x86-64 glibc at the usual path")
def test_uprobe_reads_arguments_and_uretprobe_the_result(tmp_path):
    from pybpf.lang.run import load

    module = probe_module(tmp_path)
    with load(compile_module(module)) as f:
        f.attach()
        libc = ctypes.CDLL(str(LIBC))
        for _ in range(3):
            assert libc.abs(-41) == 41
        me = os.getpid()
        assert module.calls[me] == 3
        assert module.args[me] == -41
        assert module.rets[me] == 41


def test_trace_printk_format_is_a_rodata_string(tmp_path):
    from pybpf import vm

    path = tmp_path / "pk.py"
    path.write_text("from pybpf.lang import socket_filter, trace_printk\n\n"
                    "@socket_filter\ndef prog(skb) -> int:\n"
                    "    trace_printk('len %d\\n', skb.len)\n    return 1\n")
    spec = compile_module(load_module(path)).object_spec()
    assert b"len %d\n\0" in spec.maps[".rodata"].contents[0][1]
    with vm.load(spec) as coll:
        assert coll.programs["prog"].test_run(bytes(40)).retval == 1
