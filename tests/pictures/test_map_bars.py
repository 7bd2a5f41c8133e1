"""``pybpf map dump MAP --bars``: a histogram-shaped map in the kernel
drawn as bars."""

from __future__ import annotations

import argparse
import json

import pytest

from pybpf.cli.main import main
from pybpf.cli.map_cmds import parse_bars


def test_parse_bars():
    assert parse_bars("log2") == ("log2", 0, 0)
    assert parse_bars("linear:10") == ("linear", 10, 0)
    assert parse_bars("linear:5:100") == ("linear", 5, 100)
    for bad in ("log3", "linear", "linear:0", "linear:x", "log2:4"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_bars(bad)


@pytest.mark.kernel
@pytest.mark.parametrize("kind", ["array", "percpu_array"])
def test_map_dump_bars(kind, capsys):
    from pybpf.kernel.maps import KernelMap

    with KernelMap.create(kind, 4, 8, 8, name="pic_hist") as m:
        per_cpu = kind.startswith("percpu")
        for slot, count in ((1, 3), (2, 12), (4, 6)):
            value = count.to_bytes(8, "little")
            m.raw.update(slot.to_bytes(4, "little"),
                         [value] + [bytes(8)] * (m.num_cpus - 1) if per_cpu else value)
        mid = str(m.info().id)
        assert main(["map", "dump", "id", mid, "--bars", "log2"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "@pic_hist:" and lines[1].startswith("[1]") and " 3 " in lines[1]
        assert lines[2].startswith("[2, 4)") and lines[2].count("█") == 40  # the tallest
        assert main(["map", "dump", "id", mid, "--bars", "linear:10", "-j"]) == 0
        assert json.loads(capsys.readouterr().out) == [
            {"bucket": "[10, 20)", "index": 1, "count": 3},
            {"bucket": "[20, 30)", "index": 2, "count": 12},
            {"bucket": "[40, 50)", "index": 4, "count": 6}]


@pytest.mark.kernel
def test_map_dump_bars_refuses_a_map_that_is_no_histogram(capsys):
    from pybpf.kernel.maps import KernelMap

    with KernelMap.create("hash", 16, 8, 4, name="pic_nohist") as m:
        assert main(["map", "dump", "id", str(m.info().id), "--bars", "log2"]) == 1
        assert "is not a histogram" in capsys.readouterr().err
