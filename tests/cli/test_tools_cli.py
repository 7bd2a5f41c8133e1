"""The kernel commands of the CLI (``prog list|show``, ``map list|dump``,
``load``, ``tools``), driven through the argparse wiring in
:mod:`pybpf.cli.kernel_cmds`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import SRC as SRC_DIR
from pybpf import kernel
from pybpf.cli import kernel_cmds
from pybpf.errors import BPFError
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec

pytestmark = pytest.mark.kernel
SRC = str(SRC_DIR)



def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pybpf")
    kernel_cmds.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def _spec() -> ObjectSpec:
    prog = ProgramSpec.from_assembly("pybpf_cli_t", "r0 = 0\nexit", type="socket_filter")
    return ObjectSpec.build([prog], [MapSpec("pybpf_cli_m", "hash", 4, 8, 8)])


def test_prog_list_and_show(capsys):
    with kernel.load(_spec()) as coll:
        pid = coll.programs["pybpf_cli_t"].info().id
        assert cli("prog", "list", "--json") == 0
        records = json.loads(capsys.readouterr().out)
        mine = [r for r in records if r["id"] == pid]
        assert mine and mine[0]["name"] == "pybpf_cli_t" and mine[0]["type"] == "socket_filter"
        assert cli("prog", "list") == 0
        assert f"{pid}: socket_filter  name pybpf_cli_t" in capsys.readouterr().out
        assert cli("prog", "show", str(pid), "--json") == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["id"] == pid and shown["links"] == []
    with pytest.raises(BPFError, match=f"no program with id {pid}"):
        cli("prog", "show", str(pid))


def test_map_list_and_dump_raw(capsys):
    with kernel.load(_spec()) as coll:
        m = coll.maps["pybpf_cli_m"]
        m[(1).to_bytes(4, "little")] = (0x1122).to_bytes(8, "little")
        assert cli("map", "list", "--json") == 0
        maps = json.loads(capsys.readouterr().out)
        assert any(r["name"] == "pybpf_cli_m" and r["type"] == "hash" for r in maps)
        assert cli("map", "dump", "pybpf_cli_m") == 0
        out = capsys.readouterr().out
        assert "key: 01 00 00 00  value: 22 11 00 00 00 00 00 00" in out
        assert "Found 1 element" in out
    with pytest.raises(BPFError, match="no map named"):
        cli("map", "dump", "pybpf_cli_m")


def test_map_dump_through_btf(capsys, tmp_path):
    from pybpf.elf import load_object
    from pybpf.toolchain import CompilerNotFound, compile_source

    src = textwrap.dedent("""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct point { int x; int y; char tag[8]; };
        struct {
            __uint(type, BPF_MAP_TYPE_HASH);
            __uint(max_entries, 4);
            __type(key, unsigned int);
            __type(value, struct point);
        } pybpf_points SEC(".maps");
        SEC("socket")
        int prog(struct __sk_buff *skb) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
    """)
    try:
        obj = compile_source(src, tmp_path / "points.o", name="points.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))
    with kernel.load(load_object(obj)) as coll:
        value = (3).to_bytes(4, "little", signed=True) + (-4).to_bytes(4, "little", signed=True)
        coll.maps["pybpf_points"].update((7).to_bytes(4, "little"), value + b"abc".ljust(8, b"\0"))
        # as bpftool prints maps with BTF: the values, formatted, as JSON
        assert cli("map", "dump", "pybpf_points") == 0
        out = capsys.readouterr().out
        assert json.loads(out) == [{"key": 7, "value": {"x": 3, "y": -4, "tag": "abc"}}]
        assert cli("map", "dump", "pybpf_points", "--json") == 0
        (entry,) = json.loads(capsys.readouterr().out)
        assert entry["formatted"] == {"key": 7, "value": {"x": 3, "y": -4, "tag": "abc"}}
        assert entry["key"] == ["0x07", "0x00", "0x00", "0x00"]


def test_parse_assignment():
    assert kernel_cmds.parse_assignment("n=10") == ("n", 10)
    assert kernel_cmds.parse_assignment("n=0x1f") == ("n", 31)
    assert kernel_cmds.parse_assignment("s=eth0") == ("s", b"eth0")
    with pytest.raises(BPFError):
        kernel_cmds.parse_assignment("novalue")


def test_load_attaches_prints_events_and_closes(tmp_path):
    from pybpf.toolchain import CompilerNotFound, compile_source

    src = textwrap.dedent("""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        const volatile int wanted = 0;
        struct hit { int value; int pad; };
        const struct hit *unused_hit __attribute__((unused));
        struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } hits SEC(".maps");
        SEC("tracepoint/syscalls/sys_enter_getppid")
        int on_getppid(void *ctx)
        {
            struct hit *h = bpf_ringbuf_reserve(&hits, sizeof(*h), 0);
            if (!h)
                return 0;
            h->value = wanted;
            h->pad = 0;
            bpf_ringbuf_submit(h, 0);
            bpf_printk("getppid %d", wanted);
            return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
    """)
    try:
        obj = compile_source(src, tmp_path / "hits.o", name="hits.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))
    runner = ("import argparse, sys\n"
              "from pybpf.cli import kernel_cmds\n"
              "p = argparse.ArgumentParser(); kernel_cmds.register(p.add_subparsers())\n"
              "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n")
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-c", runner, "load", str(obj), "--attach",
                             "--set", "wanted=4242"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()
    while line and "running" not in line:
        line = proc.stderr.readline()
    assert "running" in line
    subprocess.run([sys.executable, "-c", "import os; os.getppid()"], check=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "attached on_getppid to tracepoint syscalls/sys_enter_getppid" in out
    assert "hits: value=4242 pad=0" in out
    assert "printk:" in out and "getppid 4242" in out
    assert "closed" in err


def test_load_pins_under_a_bpffs_directory(tmp_path):
    import uuid

    from pybpf.kernel.pins import DEFAULT_BPFFS, mount_bpffs, open_pinned
    from pybpf.toolchain import CompilerNotFound, compile_source

    src = textwrap.dedent("""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
                 __type(key, int); __type(value, long); } pin_counts SEC(".maps");
        SEC("tracepoint/syscalls/sys_enter_getppid")
        int pin_prog(void *ctx)
        {
            int k = 0;
            long *v = bpf_map_lookup_elem(&pin_counts, &k);
            if (v)
                __sync_fetch_and_add(v, 1);
            return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
    """)
    try:
        obj = compile_source(src, tmp_path / "pin.o", name="pin.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))
    mount_bpffs(DEFAULT_BPFFS)
    pin_dir = f"{DEFAULT_BPFFS}/pybpf-test-{uuid.uuid4().hex[:8]}"
    try:
        assert cli("load", str(obj), "--attach", "--pin", pin_dir, "-d", "0.1") == 0
        assert sorted(os.listdir(pin_dir)) == ["link_pin_prog", "pin_counts", "pin_prog"]
        # the pinned link keeps the program attached after the command ended
        with open_pinned(os.path.join(pin_dir, "pin_counts")) as m:
            before = _raw_u64(m)
            os.getppid()
            assert _raw_u64(m) > before
        with open_pinned(os.path.join(pin_dir, "pin_prog")) as again:
            assert again.type == "tracepoint"
    finally:
        if os.path.isdir(pin_dir):
            for name in os.listdir(pin_dir):
                os.unlink(os.path.join(pin_dir, name))
            os.rmdir(pin_dir)


def test_load_attach_exits_non_zero_when_a_program_cannot_be_attached(tmp_path, capsys):
    from pybpf.toolchain import CompilerNotFound, compile_source

    src = textwrap.dedent("""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("xdp") int pass_all(struct xdp_md *ctx) { return XDP_PASS; }
        SEC("tracepoint/syscalls/sys_enter_getppid") int seen(void *ctx) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
    """)
    try:
        obj = compile_source(src, tmp_path / "two.o", name="two.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))
    # the XDP program needs --interface; the tracepoint one attaches and runs
    assert cli("load", str(obj), "--attach", "-d", "0.1") == 1
    out, err = capsys.readouterr()
    assert "attached seen to tracepoint syscalls/sys_enter_getppid" in out
    assert "cannot attach pass_all" in err and "interface=" in err
    assert "1 program not attached: pass_all" in err
    # with the interface the table says XDP programs take, both attach
    assert cli("load", str(obj), "--attach", "--interface", "lo", "-d", "0.1") == 0
    out, err = capsys.readouterr()
    assert "attached pass_all to xdp lo" in out and "cannot attach" not in err


def _raw_u64(m) -> int:
    import ctypes

    key, value = ctypes.c_uint32(0), ctypes.c_uint64(0)
    kernel.sys.map_lookup_elem(m.fd, ctypes.addressof(key), ctypes.addressof(value))
    return value.value
