"""The CLI's conventions without the kernel: help on every command and
option, bpftool's argument words, its hex and JSON layouts, the kernel's
instruction notation, BTF values shaped as bpftool prints them, and where
a refusal points in the source."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import DATA, SRC
from pybpf.cli.main import build_parser, main
from pybpf.cli.output import bpftool_json, hex_bytes, hex_list
from pybpf.cli.selectors import ArgumentError, Words, take_bytes, take_selector
from pybpf.isa import Insn, assemble
from pybpf.kernel.refusals import SourceRef, source_of_refusal
from pybpf.kernel.xlated import format_insn

# --- help -------------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser, path: str = "pybpf"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_and_option_has_help():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path}: {action.option_strings or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{path} {c.dest}: no help line" for c in action._choices_actions
                            if not c.help]
        if not parser.description and path != "pybpf":
            missing.append(f"{path}: no description")
    assert not missing, "\n".join(missing)


def test_the_walk_sees_the_bpftool_verbs():
    paths = {path for path, _ in _parsers(build_parser())}
    for verb in ("prog dump", "map update", "map getnext", "link detach", "net list",
                 "cgroup tree", "feature probe", "btf list", "btf dump", "perf list"):
        assert f"pybpf {verb}" in paths


def test_conformance_plugin_help():
    done = subprocess.run([sys.executable, "-m", "pybpf", "conformance-plugin", "--help"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    assert "bpf_conformance" in done.stdout and "--max-insns" in done.stdout


def test_the_plugin_still_runs_programs():
    program = "".join(i.encode().hex() for i in assemble("r0 = 7\nexit"))
    done = subprocess.run([sys.executable, "-m", "pybpf", "conformance-plugin", "00"],
                          input=program, capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC)})
    assert (done.returncode, done.stdout.strip()) == (0, "7"), done.stderr


def test_json_goes_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["-j", "prog", "list"]).json is True
    assert parser.parse_args(["prog", "list", "-p"]).pretty is True
    assert parser.parse_args(["prog", "list"]).json is False


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="no ziglang")
def test_cc_verbose_shows_the_compiler_command(tmp_path, capsys):
    src = tmp_path / "p.bpf.c"
    src.write_text('#include <bpf/bpf_helpers.h>\nSEC("socket") int p(void *c) '
                   "{ return 0; }\nchar L[] SEC(\"license\") = \"GPL\";\n")
    assert main(["cc", "-v", str(src), "-o", str(tmp_path / "p.o")]) == 0
    err = capsys.readouterr().err
    command = err.splitlines()[0]
    assert "-target" in command and str(src) in command and "-o" in command


# --- argument words ----------------------------------------------------------------------


@pytest.mark.parametrize("words, expected", [
    (["1"], ("id", "1")),
    (["id", "7"], ("id", "7")),
    (["/sys/fs/bpf/x"], ("pinned", "/sys/fs/bpf/x")),
    (["pinned", "p"], ("pinned", "p")),
    (["counts"], ("name", "counts")),
    (["tag", "6b1ea1a5d5faa698"], ("tag", "6b1ea1a5d5faa698")),
])
def test_selectors(words, expected):
    assert take_selector(Words(words, "prog show"), "prog") == expected


def test_selector_errors():
    with pytest.raises(ArgumentError, match="select with"):
        take_selector(Words(["tag", "x"], "map show"), "map")
    with pytest.raises(ArgumentError, match="expected id"):
        take_selector(Words([], "link show"), "link")
    with pytest.raises(ArgumentError, match="expected id"):
        take_selector(Words(["foo"], "link show"), "link")


@pytest.mark.parametrize("words, size, expected", [
    (["1", "0", "0", "0"], 4, b"\x01\0\0\0"),
    (["0x10", "010", "255", "0"], 4, b"\x10\x08\xff\x00"),      # hex, C octal, decimal
    (["hex", "01", "ff", "0a", "00"], 4, b"\x01\xff\x0a\x00"),
    (["hex", "01ff0a00"], 4, b"\x01\xff\x0a\x00"),
])
def test_bytes(words, size, expected):
    w = Words([*words, "value"], "map update")
    assert take_bytes(w, size, "key") == expected
    assert w.peek() == "value"


@pytest.mark.parametrize("words, message", [
    (["1", "0"], "expected 4 bytes, got 2"),
    (["256", "0", "0", "0"], "not a byte"),
    (["08", "0", "0", "0"], "not a byte"),
    (["x", "0", "0", "0"], "not a byte"),
])
def test_bad_bytes(words, message):
    with pytest.raises(ArgumentError, match=message):
        take_bytes(Words(words, "map lookup"), 4, "key")


# --- layouts ------------------------------------------------------------------------------


def test_hex_as_bpftool_prints_it():
    assert hex_bytes(bytes(range(4))) == "00 01 02 03"
    assert hex_bytes(bytes(range(20))) == ("00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f\n"
                                           "10 11 12 13")
    assert hex_list(b"\x01\xff") == ["0x01", "0xff"]


def test_json_laid_out_as_bpftool():
    data = [{"key": 2, "value": {"x": -1, "tag": "ab", "ids": [1, 2]}}]
    assert bpftool_json(data) == '[{"key":2,"value":{"x":-1,"tag":"ab","ids":[1,2]}}]'
    assert bpftool_json(data, pretty=True) == (
        '[{\n'
        '        "key": 2,\n'
        '        "value": {\n'
        '            "x": -1,\n'
        '            "tag": "ab",\n'
        '            "ids": [1,2\n'
        '            ]\n'
        '        }\n'
        '    }\n'
        ']')
    assert bpftool_json({"a": [], "b": {}}, pretty=True) == '{\n    "a": [],\n    "b": {}\n}'
    assert json.loads(bpftool_json(data, pretty=True)) == data


# --- the kernel's notation ------------------------------------------------------------------


def _one(text: str, **kw) -> str:
    insns = assemble(text)
    return format_insn(insns[0], insns[1] if len(insns) > 1 else None, **kw)


@pytest.mark.parametrize("text, expected", [
    ("w1 = 1", "(b4) w1 = 1"),
    ("r2 = r10", "(bf) r2 = r10"),
    ("r2 += -4", "(07) r2 += -4"),
    ("w2 += w1", "(0c) w2 += w1"),
    ("r1 s>>= 3", "(c7) r1 s>>= 3"),
    ("r1 s/= r2", "(3f) r1 s/= r2"),
    ("r1 = (s8)r2", "(bf) r1 = (s8)r2"),
    ("r1 = -r1", "(87) r1 = -r1"),
    ("r1 = be16 r1", "(dc) r1 = be16 r1"),
    ("r1 = bswap32 r1", "(d7) r1 = bswap32 r1"),
    ("*(u32 *)(r10 - 4) = r1", "(63) *(u32 *)(r10 -4) = r1"),
    ("*(u64 *)(r10 - 8) = 5", "(7a) *(u64 *)(r10 -8) = 5"),
    ("r1 = *(u32 *)(r1 + 0)", "(61) r1 = *(u32 *)(r1 +0)"),
    ("r1 = *(s16 *)(r1 + 2)", "(89) r1 = *(s16 *)(r1 +2)"),
    ("lock *(u64 *)(r1 + 8) += r2", "(db) lock *(u64 *)(r1 +8) += r2"),
    ("r2 = atomic64_fetch_add((u64 *)(r1 + 0), r2)",
     "(db) r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)"),
    ("w0 = atomic_cmpxchg((u32 *)(r1 + 0), w0, w2)",
     "(c3) r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)"),
    ("if r0 == 0 goto +1", "(15) if r0 == 0x0 goto pc+1"),
    ("if w3 != 8 goto +18", "(56) if w3 != 0x8 goto pc+18"),
    ("if r1 s> r2 goto -3", "(6d) if r1 s> r2 goto pc-3"),
    ("if r1 > -1 goto +0", "(25) if r1 > 0xffffffff goto pc+0"),
    ("goto +4", "(05) goto pc+4"),
    ("call 1", "(85) call bpf_map_lookup_elem#1"),
    ("exit", "(95) exit"),
    ("r0 = 0x1122334455667788 ll", "(18) r0 = 0x1122334455667788"),
    ("r0 = *(u8 *)skb[12]", "(30) r0 = *(u8 *)skb[12]"),
])
def test_kernel_notation(text, expected):
    assert _one(text) == expected


def test_kernel_notation_names_what_the_caller_knows():
    lddw = (Insn(0x18, 1, 1, 0, 12), Insn(0, 0, 0, 0, 0))  # map[id:12] in a translated program
    assert format_insn(*lddw) == "(18) r1 = map[id:12]"
    value = (Insn(0x18, 1, 2, 0, 12), Insn(0, 0, 0, 0, 8))
    assert format_insn(*value) == "(18) r1 = map[id:12][0]+8"
    call = Insn(0x85, 0, 0, 0, 343344)
    assert format_insn(call, call_name=lambda i: "__htab_map_lookup_elem") == \
        "(85) call __htab_map_lookup_elem#343344"
    local = Insn(0x85, 0, 1, 5, 1)
    assert format_insn(local, call_name=lambda i: f"{i.off:+d}#bpf_prog_x_f") == \
        "(85) call pc+5#bpf_prog_x_f"
    assert format_insn(local) == "(85) call pc+1"
    percpu = Insn(0xBF, 0, 0, -1, 0)
    assert format_insn(percpu) == "(bf) r0 = &(void __percpu *)(r0)"


# --- BTF values and refusals ---------------------------------------------------------------


def test_btf_values_shaped_as_bpftool_prints_them():
    from pybpf.btf import BTFBuilder
    from pybpf.kernel.map_dump import MapEntry, btf_json, formatted

    b = BTFBuilder()
    i32 = b.add_int("int", 4, signed=True)
    u8 = b.add_int("unsigned char", 1)
    char = b.add_int("char", 1, signed=True, char=True)
    boolean = b.add_int("_Bool", 1, bool_=True)
    name = b.add_array(char, 8)
    raw = b.add_array(u8, 3)
    color = b.add_enum("color", {"RED": 0, "BLUE": 5}, 4)
    point = b.add_struct("point", 24, [("x", i32, 0), ("name", name, 32), ("raw", raw, 96),
                                       ("ok", boolean, 120), ("color", color, 128),
                                       ("full", b.add_array(char, 4), 160)])
    knob = b.add_var("knob", i32)
    sec = b.add_datasec(".rodata", 4, [(knob, 0, 4)])
    btf = b.build()
    data = ((-3).to_bytes(4, "little", signed=True) + b"ab\0\0\0\0\0\0" + b"\x01\x02\x03"
            + b"\x01" + (5).to_bytes(4, "little") + b"wxyz")
    assert btf_json(btf, point, data) == {"x": -3, "name": "ab", "raw": [1, 2, 3], "ok": True,
                                          "color": "BLUE", "full": ["w", "x", "y", "z"]}
    assert btf_json(btf, sec, (7).to_bytes(4, "little")) == {".rodata": [{"knob": 7}]}

    class Info:
        btf_key_type_id, btf_value_type_id = 0, i32

    assert formatted(btf, Info, MapEntry(b"\0" * 4, [b"\x01\0\0\0", b"\x02\0\0\0"])) == \
        {"values": [{"cpu": 0, "value": 1}, {"cpu": 1, "value": 2}]}


def test_the_source_line_of_a_refusal():
    log = ("0: R1=ctx() R10=fp0\n"
           "; int bad(struct xdp_md *ctx) @ bad.bpf.c:5\n"
           "0: (b4) w1 = 1                        ; R1=1\n"
           "; return *v;   /* no NULL check */ @ bad.bpf.c:9\n"
           "7: (79) r0 = *(u64 *)(r0 +0)\n"
           "R0 invalid mem access 'map_value_or_null'\n"
           "processed 7 insns (limit 1000000)\n")
    where = source_of_refusal(log, 7)
    assert where == SourceRef("bad.bpf.c", 9, "return *v;   /* no NULL check */")
    assert str(where) == "bad.bpf.c:9: return *v;   /* no NULL check */"
    assert source_of_refusal(log, 0) == SourceRef("bad.bpf.c", 5, "int bad(struct xdp_md *ctx)")
    assert source_of_refusal(log) == where
    assert source_of_refusal("R0 invalid mem access\n", None) is None


def test_btf_dump_of_an_object_as_json(capsys):
    rich = DATA / "rich.bpf.zig.o"
    assert main(["-j", "btf", "dump", "file", str(rich)]) == 0
    types = json.loads(capsys.readouterr().out)["types"]
    by_name = {t["name"]: t for t in types}
    assert by_name["task_struct"]["kind"] == "STRUCT"
    assert all({"id", "kind", "name"} <= set(t) for t in types)
    assert main(["btf", "dump", "file", str(rich), "format", "c"]) == 0
    assert "struct task_struct {" in capsys.readouterr().out


def test_an_error_names_pybpf_once(tmp_path, capsys):
    empty = tmp_path / "empty.asm"
    empty.write_text("")
    assert main(["run", str(empty)]) != 0
    err = capsys.readouterr().err.strip()
    assert err == "pybpf: error: empty program", err
