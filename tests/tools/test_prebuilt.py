"""The tools' BPF objects ship inside the package, built ahead from their
sources (generators/build_tools.py), byte for byte reproducible; the tools
load them with no compiler anywhere, and ``pybpf cc`` without one says how
to get one."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SRC
from pybpf.tools import PROGRAMLESS, TOOLS, prebuilt
from pybpf.tools._runtime import object_path

HAVE_ZIG = importlib.util.find_spec("ziglang") is not None
OBJECT_TOOLS = sorted(set(TOOLS) - PROGRAMLESS)
"""The tools with a BPF object of their own."""


def test_every_tool_has_a_current_shipped_object():
    manifest = prebuilt.read_manifest()
    assert manifest["format"] == prebuilt.MANIFEST_FORMAT
    assert sorted(manifest["tools"]) == OBJECT_TOOLS == prebuilt.tool_names()
    for name, entry in manifest["tools"].items():
        data = (prebuilt.OBJECTS / f"{name}.bpf.o").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["object"], name
        assert f"tools/{name}.bpf.c" in entry["sources"]
        assert "tools/include/vmlinux.h" in entry["sources"]
        # the sources in the tree are those the object was built from: when this
        # fails, run python generators/build_tools.py
        assert prebuilt.inputs_digest(entry["sources"]) == entry["inputs"], \
            f"{name}: sources changed since its object was built (python generators/build_tools.py)"
        assert prebuilt.shipped_object(name) == (prebuilt.OBJECTS / f"{name}.bpf.o", "")


def test_the_objects_are_packaged_and_small():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"tools/objects/*.bpf.o"' in text and '"tools/objects/manifest.json"' in text
    for name in OBJECT_TOOLS:
        data = (prebuilt.OBJECTS / f"{name}.bpf.o").read_bytes()
        assert data[:4] == b"\x7fELF" and len(data) < 64 * 1024, name
        # nothing of the machine that built them: no absolute paths
        assert b"/home/" not in data and b"/work/" not in data and b"/tmp/" not in data


def test_a_tool_uses_its_shipped_object_without_a_compiler(monkeypatch):
    from pybpf import toolchain
    from pybpf.toolchain import CompilerNotFound

    def refuse(*args, **kwargs):
        raise CompilerNotFound("hidden by the test")

    monkeypatch.setattr(toolchain, "find_compiler", refuse)
    monkeypatch.setattr(toolchain, "compile", refuse)
    for name in OBJECT_TOOLS:
        assert object_path(name) == prebuilt.OBJECTS / f"{name}.bpf.o"


def test_a_stale_object_is_compiled_or_used_with_a_warning(monkeypatch, tmp_path, capsys):
    from pybpf import toolchain
    from pybpf.toolchain import CompilerNotFound

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(prebuilt, "shipped_object", lambda name: (None, "its C changed"))
    compiled = []

    def fake_compile(src, out, **options):
        compiled.append((src.name, options.get("vmlinux")))
        out.write_bytes(b"fresh")
        return out

    monkeypatch.setattr(toolchain, "find_compiler", lambda *a, **k: None)
    monkeypatch.setattr(toolchain, "compile", fake_compile)
    path = object_path("exitsnoop")
    assert path.read_bytes() == b"fresh" and compiled == [("exitsnoop.bpf.c", False)]
    assert "compiling exitsnoop.bpf.c (its C changed" in capsys.readouterr().err
    assert object_path("exitsnoop") == path and len(compiled) == 1  # cached

    def refuse(*args, **kwargs):
        raise CompilerNotFound("no BPF C compiler found (auto): pip install 'pybpf[tools]'")

    monkeypatch.setattr(toolchain, "find_compiler", refuse)
    assert object_path("execsnoop") == prebuilt.OBJECTS / "execsnoop.bpf.o"
    err = capsys.readouterr().err
    assert "warning: its C changed; no compiler here to rebuild it" in err


def test_the_shipped_objects_decode_their_records():
    from pybpf.elf import load_object
    from pybpf.records import DECLARED, choose_record

    for name, struct in (("exitsnoop", "exit_event"), ("execsnoop", "exec_event"),
                         ("opensnoop", "open_event")):
        spec = load_object(prebuilt.OBJECTS / f"{name}.bpf.o")
        choice = choose_record(spec, "events")
        assert (choice.rule, choice.name) == (DECLARED, f"struct {struct}"), name


@pytest.mark.skipif(not HAVE_ZIG, reason="no ziglang wheel: pip install 'pybpf[tools]'")
def test_the_shipped_objects_match_a_fresh_build():
    shipped = prebuilt.read_manifest()["compiler"]
    here = prebuilt.compiler_identity()
    if here != shipped:
        pytest.skip(f"the objects were built with {shipped}; this machine has {here}")
    assert prebuilt.check() == []


def _hidden_compilers_env(tmp_path) -> dict[str, str]:
    """An environment where neither zig (the ziglang module) nor clang can
    be found, with an empty cache."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ziglang'] = None\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PYTHONPATH=f"{hide}{os.pathsep}{SRC}", PATH=str(empty),
               XDG_CACHE_HOME=str(tmp_path / "cache"), PYBPF_TOOL_ATTACHED_MARK="ATTACHED")
    probe = subprocess.run([sys.executable, "-c", "from pybpf.toolchain import find_compiler\n"
                            "find_compiler()"], capture_output=True, text=True, env=env)
    assert probe.returncode != 0 and "no BPF C compiler found" in probe.stderr
    return env


def test_cc_without_a_compiler_says_how_to_get_one(tmp_path):
    env = _hidden_compilers_env(tmp_path)
    src = tmp_path / "p.bpf.c"
    src.write_text("int x;\n")
    out = subprocess.run([sys.executable, "-m", "pybpf", "cc", str(src)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "pip install 'pybpf[tools]'" in out.stderr and "clang" in out.stderr


@pytest.mark.kernel
def test_exitsnoop_runs_without_a_compiler(tmp_path):
    env = _hidden_compilers_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "tools", "exitsnoop", "-x",
                             "-d", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    line = proc.stderr.readline()
    while line and "ATTACHED" not in line:
        line = proc.stderr.readline()
    assert "ATTACHED" in line, proc.communicate(timeout=30)
    subprocess.run(["/bin/sh", "-c", "exit 7"])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "compiling" not in err and "warning" not in err
    assert any(ln.split()[0] == "sh" and ln.split()[-2:] == ["code", "7"]
               for ln in out.splitlines()[1:]), out


@pytest.mark.parametrize("name", [n for n in TOOLS if n not in PROGRAMLESS])
def test_every_program_of_a_shipped_tool_passes_pybpfs_verifier(name):
    from pybpf.elf import load_object
    from pybpf.verifier import verify_object

    results = verify_object(load_object(prebuilt.OBJECTS / f"{name}.bpf.o"))
    assert results, f"{name}: no programs"
    refused = {prog: str(r.error) for prog, r in results.items() if r.verdict != "accept"}
    assert not refused, refused
