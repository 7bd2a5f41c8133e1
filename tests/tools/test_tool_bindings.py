"""The tools' shipped bindings (tools/bindings/NAME_bpf.py): one per
shipped object, equal to what the object generates now, mypy --strict
clean, referring to the object rather than embedding it; the tools load
through them without parsing the object when the prepared cache has it."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SRC
from pybpf.tools import PROGRAMLESS, TOOLS
from pybpf.tools.prebuilt import (
    BINDINGS,
    OBJECTS,
    bindings_path,
    bindings_text,
    stale_bindings,
    tool_names,
)


def test_every_tool_object_has_its_bindings_module():
    assert set(tool_names()) == set(TOOLS) - PROGRAMLESS
    for name in tool_names():
        assert bindings_path(name).is_file(), name


def test_the_shipped_bindings_are_what_the_shipped_objects_generate():
    assert stale_bindings() == []


def test_a_stale_bindings_module_is_reported(monkeypatch, tmp_path):
    from pybpf.tools import prebuilt

    copy = tmp_path / "bindings"
    shutil.copytree(BINDINGS, copy)
    path = copy / "exitsnoop_bpf.py"
    path.write_text(path.read_text().replace("target_ppid", "target_parent"))
    monkeypatch.setattr(prebuilt, "BINDINGS", copy)
    problems = stale_bindings()
    assert len(problems) == 1 and "exitsnoop" in problems[0] and "stale" in problems[0]


def test_the_bindings_refer_to_the_object_instead_of_embedding_it():
    text = bindings_text("exitsnoop")
    assert "base64" not in text and "../objects/exitsnoop.bpf.o" in text
    module = importlib.import_module("pybpf.tools.bindings.exitsnoop_bpf")
    assert module.OBJECT_FILE.resolve() == (OBJECTS / "exitsnoop.bpf.o").resolve()
    skel = module.Exitsnoop()
    assert not skel.parsed                      # nothing parsed until it is needed
    skel.rodata.target_pid = 7                  # an int knob waits for the load
    assert not skel.parsed and skel.initial == {"target_pid": 7}
    assert skel.rodata.target_pid == 7 and skel.parsed     # reading parses, with it set


def test_the_shipped_bindings_type_check_strictly():
    pytest.importorskip("mypy", reason="mypy is not installed")
    out = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                          "--follow-imports=silent", str(BINDINGS)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "MYPYPATH": str(SRC)})
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.kernel
def test_a_tool_loads_through_the_cache_and_decodes_records_without_parsing(tmp_path,
                                                                            monkeypatch):
    from pybpf.tools import _runtime as rt
    from pybpf.tools.bindings.exitsnoop_bpf import ExitEvent, Exitsnoop

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rt.open_tool(Exitsnoop(rt.object_path("exitsnoop"))).close()     # prepares the entry
    skel = Exitsnoop(rt.object_path("exitsnoop"))
    skel.rodata.target_ppid = os.getpid()
    with rt.open_tool(skel):
        skel.attach()
        heard: list[ExitEvent] = []
        reader = skel.maps.events.reader(heard.append)
        subprocess.run(["sh", "-c", "exit 5"], check=False)
        for _ in range(50):
            reader.poll(0.1)
            if heard:
                break
        assert any(isinstance(e, ExitEvent) and e.exit_code == 5 for e in heard), heard
        assert not skel.parsed                  # knobs, load and records: no ELF or BTF


@pytest.mark.kernel
def test_a_map_of_records_decodes_through_the_loaded_btf_without_parsing(tmp_path,
                                                                         monkeypatch):
    from pybpf.tools import _runtime as rt
    from pybpf.tools.bindings.syscount_bpf import Syscount, SysStat

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rt.open_tool(Syscount(rt.object_path("syscount"))).close()       # prepares the entry
    skel = Syscount(rt.object_path("syscount"))
    skel.rodata.target_pid = os.getpid()
    with rt.open_tool(skel):
        skel.attach()
        for _ in range(20):
            os.getppid()
        stats = dict(skel.maps.stats.items())
        getppid = 110 if os.uname().machine == "x86_64" else 173
        assert isinstance(stats[getppid], SysStat) and stats[getppid].count >= 20, stats
        skel.maps.stats[getppid] = SysStat(count=1, total_ns=2, comm="x")
        assert skel.maps.stats[getppid] == SysStat(1, 2, "x")
        assert not skel.parsed
