"""The object-file subcommands (pybpf object / disasm FILE.o / btf / cc),
driven through their own parser so they are tested before main wires them."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from conftest import DATA
from pybpf.cli import object_cmds
from pybpf.errors import BPFError

RICH = DATA / "rich.bpf.zig.o"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pybpf")
    sub = parser.add_subparsers(dest="command")
    object_cmds.add_parsers(sub)
    d = sub.add_parser("disasm")
    d.add_argument("file")
    d.add_argument("--section")
    d.add_argument("--syntax", default="auto")
    d.set_defaults(func=object_cmds.cmd_disasm_object)
    args = parser.parse_args(argv)
    return args.func(args)


def test_object_text(capsys):
    assert run(["object", str(RICH)]) == 0
    out = capsys.readouterr().out
    assert "probe_one    kprobe/do_unlinkat    kprobe" in out
    assert "outer         array_of_maps" in out
    assert "knob" in out and "CONFIG_BPF_JIT" in out


def test_object_json(capsys):
    assert run(["object", str(RICH), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    progs = {p["name"]: p for p in info["programs"]}
    assert progs["sleepy"]["sleepable"] and progs["frags"]["flags"] == 32
    maps = {m["name"]: m for m in info["maps"]}
    assert maps["outer"]["inner"]["type"] == "array"
    assert maps["jumps"]["initial"] == {"1": "tail_target"}
    assert maps["events"]["value_type"] == "struct event"
    assert {v["name"] for v in info["variables"]} >= {"knob", "counter", "zeroed"}


def test_disasm_with_source_lines(capsys):
    assert run(["disasm", str(RICH), "--section", "probe_two"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("probe_two: section kprobe/do_unlinkat")
    assert "; rich.bpf.c:112: zeroed++;" in out
    assert "; map .bss + 0" in out
    assert "call pc+1" in out


def test_disasm_unknown_section():
    with pytest.raises(BPFError, match="no program in section"):
        run(["disasm", str(RICH), "--section", "nope"])


def test_btf_dump(capsys):
    assert run(["btf", "dump", str(RICH)]) == 0
    assert "STRUCT 'task_struct'" in capsys.readouterr().out
    assert run(["btf", "dump", str(RICH), "--format", "c"]) == 0
    assert "struct task_struct {" in capsys.readouterr().out
    with pytest.raises(BPFError):
        run(["btf", "dump", "/nonexistent"])


def test_btf_vmlinux(tmp_path):
    if not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.skip("no kernel BTF")
    out = tmp_path / "vmlinux.h"
    assert run(["btf", "vmlinux", "-o", str(out)]) == 0
    assert "struct task_struct {" in out.read_text()


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="no ziglang")
def test_cc(tmp_path):
    src = tmp_path / "p.bpf.c"
    src.write_text('#include <bpf/bpf_helpers.h>\nSEC("socket") int p(void *c) '
                   "{ return VALUE; }\nchar L[] SEC(\"license\") = \"GPL\";\n")
    assert run(["cc", str(src), "-o", str(tmp_path / "p.o"), "-D", "VALUE=5"]) == 0
    assert object_cmds.is_object_file(str(tmp_path / "p.o"))
    src.write_text("int broken(\n")
    with pytest.raises(BPFError, match="compilation failed"):
        run(["cc", str(src), "-o", str(tmp_path / "q.o")])
