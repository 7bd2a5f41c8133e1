"""The start-up cache of ``pybpf trace``: what it keys on, what it refuses,
and that a program run before starts without the compiler."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from trace_util import ROOT, needs_tracefs

from pybpf.trace import startup
from pybpf.trace import types as T
from pybpf.trace.layout import Action, MapInfo, Plan, ProgramInfo, Target


def small_plan(binary: str | None = None) -> Plan:
    params = {"category": "syscalls", "event": "sys_enter_openat"}
    kind = "tracepoint"
    if binary:
        kind, params = "uprobe", {"binary": binary, "symbol": "main", "offset": 0}
    maps = [MapInfo("", "count", [T.String(16)], T.Aggregate("count")),
            MapInfo("h", "lhist", None, T.Aggregate("lhist", (0, 100, 10)), (0, 100, 10)),
            MapInfo("t", "value", [T.INT64, T.UINT32],
                    T.Tuple((T.String(16), T.Stack(True), T.Symbol(True))))]
    actions = [Action(0, "printf", "%s %d\n", (T.String(64), T.INT64)),
               Action(1, "print_map", "h", (), (5, 1)), Action(2, "exit")]
    return Plan(None, [ProgramInfo("p0_x", Target(kind, f"{kind}:x", params))], maps, actions,
                uses_stacks=True)


def test_plan_round_trips_as_plain_data():
    import marshal

    plan = small_plan()
    data = marshal.loads(marshal.dumps(plan.to_data()))
    back = Plan.from_data(data)
    assert back.to_data() == plan.to_data()
    assert back.maps[2].value == plan.maps[2].value
    assert back.actions == plan.actions
    assert back.layouts["t"].key.size == plan.layouts["t"].key.size
    assert back.records[0].size == plan.records[0].size
    assert back.programs[0].target == plan.programs[0].target


def test_key_changes_with_text_parameters_and_options():
    base = startup.start_key("BEGIN { exit(); }", [], False, None)
    assert base == startup.start_key("BEGIN { exit(); }", [], False, None)
    others = {startup.start_key("BEGIN { exit();  }", [], False, None),
              startup.start_key("BEGIN { exit(); }", ["1"], False, None),
              startup.start_key("BEGIN { exit(); }", [], True, None),
              startup.start_key("BEGIN { exit(); }", [], False, 1)}
    assert base not in others and len(others) == 4


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    from pybpf import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache.reset()
    yield tmp_path / "cache" / "pybpf" / "trace"
    cache.reset()


def test_entries_read_back_and_damage_is_ignored(cache_home):
    plan = small_plan()
    prepared = {"format": 0, "linked": {"anything": [1, 2]}}
    startup.write("k1", prepared, plan)
    got = startup.read("k1")
    assert got is not None and got[0] == prepared and got[1].to_data() == plan.to_data()
    entry = cache_home / "k1.start"
    data = bytearray(entry.read_bytes())
    data[-1] ^= 1
    entry.write_bytes(bytes(data))
    assert startup.read("k1") is None          # the seal no longer matches
    assert startup.read("absent") is None
    startup.write("k2", prepared, plan)
    os.chmod(cache_home / "k2.start", 0o666)
    assert startup.read("k2") is None          # writable by others: not trusted


def test_an_entry_holds_for_the_same_binaries_only(cache_home, tmp_path):
    binary = tmp_path / "prog"
    binary.write_bytes(b"\x7fELF one")
    plan = small_plan(str(binary))
    startup.write("k", {"format": 0}, plan)
    assert startup.read("k") is not None
    binary.write_bytes(b"\x7fELF two, rebuilt")
    assert startup.read("k") is None


def test_turned_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("PYBPF_TRACE_CACHE", "0")
    assert not startup.enabled()


HEAVY = ("llvmlite", "pybpf.trace.parser", "pybpf.trace.semantic", "pybpf.trace.codegen",
         "pybpf.lang", "pybpf.elf", "pybpf.btf", "pybpf.linker")
"""What a program read back from the start-up cache must not import."""


@pytest.mark.kernel
@needs_tracefs
def test_second_run_starts_from_the_cache_without_the_compiler(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"),
               XDG_CACHE_HOME=str(tmp_path))
    env.pop("PYBPF_TRACE_CACHE", None)
    prog = ('tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } '
            'BEGIN { printf("hi %d\\n", 42); exit(); }')
    cmd = [sys.executable, "-X", "importtime", "-m", "pybpf", "trace", "-e", prog]
    runs = [subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120,
                           check=False) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
        assert "hi 42" in r.stdout
    assert runs[0].stdout == runs[1].stdout
    imported = set(re.findall(r"\|\s*([\w.]+)\s*$", runs[1].stderr, re.M))
    assert "pybpf.trace.startup" in imported
    assert not [m for m in imported if m.startswith(HEAVY)]
    first = set(re.findall(r"\|\s*([\w.]+)\s*$", runs[0].stderr, re.M))
    assert "pybpf.trace.codegen" in first          # the first run compiled it
    assert list((tmp_path / "pybpf" / "trace").glob("*.start"))


def test_only_the_newest_entries_are_kept(cache_home, monkeypatch):
    monkeypatch.setattr(startup, "KEEP", 3)
    plan = small_plan()
    for i in range(5):
        startup.write(f"k{i}", {"format": 0}, plan)
        os.utime(cache_home / f"k{i}.start", ns=(i * 10**9, i * 10**9))
    startup.write("k5", {"format": 0}, plan)
    assert sorted(p.name for p in cache_home.glob("*.start")) == ["k3.start", "k4.start",
                                                                  "k5.start"]
