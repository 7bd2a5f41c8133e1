"""bpftop: the cost of every loaded program, from the kernel's run-time
statistics — seen for a tool's program the test makes run."""

from __future__ import annotations

import subprocess

import pytest
from tool_process import ToolProcess, run_tool

from pybpf.tools.bpftop import ProgramCost, costs, format_table, sort_rows


def test_costs_are_the_change_over_the_period():
    before = {1: ("tracepoint", "a", 10, 1000), 2: ("kprobe", "b", 5, 5000)}
    after = {1: ("tracepoint", "a", 30, 3000), 2: ("kprobe", "b", 5, 5000),
             3: ("xdp", "c", 4, 400)}
    rows = {r.id: r for r in costs(before, after, 2.0)}
    assert (rows[1].period_runs, rows[1].period_time_ns) == (20, 2000)
    assert rows[1].events_per_second == 10.0 and rows[1].avg_ns == 100.0
    assert rows[2].period_runs == 0 and rows[2].avg_ns == 0.0 and rows[2].total_avg_ns == 1000
    assert rows[3].period_runs == 4  # loaded meanwhile: counts from zero
    assert [r.id for r in sort_rows(list(rows.values()), "events")] == [1, 3, 2]
    assert [r.id for r in sort_rows(list(rows.values()), "name")] == [1, 2, 3]
    table = format_table([rows[1]]).splitlines()
    assert table[0].split() == ["ID", "TYPE", "NAME", "AVG_NS", "TOTAL_AVG_NS", "EVENTS/S",
                                "CPU%"]
    assert table[1].split()[:6] == ["1", "tracepoint", "a", "100", "100", "10.0"]
    one = ProgramCost(1, "xdp", "x", 1, 1, 1, 10**9, 1.0)
    assert 0 < one.cpu_percent <= 100.0


@pytest.mark.kernel
def test_bpftop_shows_a_running_tools_program(built_exitsnoop):
    snoop = ToolProcess("exitsnoop", "-d", "4")
    top = ToolProcess("bpftop", "-n", "1", "-i", "1", "-j", "-s", "events")
    for _ in range(20):
        subprocess.run(["true"])
    rows = top.finish_json()
    snoop.finish()
    mine = [r for r in rows if r["name"] == "handle_exit" and r["type"] == "tracepoint"]
    assert mine and max(r["period_runs"] for r in mine) >= 20, rows
    assert all(r["period_time_ns"] > 0 and r["events_per_second"] > 0 for r in mine), rows


@pytest.mark.kernel
def test_bpftop_prints_tables_and_runs_a_command():
    out = run_tool("bpftop", "-n", "2", "-i", "0.2", "-a", "--", "sh", "-c", "exit 4")
    assert out.returncode == 4, out.stderr
    assert "Traceback" not in out.stderr
    heads = [ln for ln in out.stdout.splitlines() if ln.split()[:3] == ["ID", "TYPE", "NAME"]]
    assert 1 <= len(heads) <= 2, out.stdout


@pytest.fixture(scope="module")
def built_exitsnoop():
    """exitsnoop's object (shipped, or compiled here once if its C changed)."""
    from pybpf.toolchain import CompilerNotFound
    from pybpf.tools._runtime import object_path

    try:
        return object_path("exitsnoop", quiet=True)
    except CompilerNotFound as e:
        pytest.skip(str(e))
