"""The tools' BPF objects, built ahead and shipped inside the package.

Each tool's C (``tools/NAME.bpf.c``) is compiled once, by
``python generators/build_tools.py``, into ``tools/objects/NAME.bpf.o``;
``tools/objects/manifest.json`` records, per tool, a digest of everything
that went in (the C source, the tools' headers, pybpf's ``bpf/*.h``) and of
the object that came out, with the compiler that built them.  A plain
``pip install`` therefore runs every tool with no compiler: the objects are
CO-RE (the types they read come from ``tools/include/vmlinux.h``, written
by hand with ``preserve_access_index``), so the loader fits them to the
running kernel.

The build is deterministic: the same sources and the same zig give the
same bytes (paths are written relative to the package, the compilation
directory as ``.``), on any machine and kernel, for either architecture
(the objects must not depend on it: :func:`build_all` checks).
:func:`check` rebuilds into a temporary directory and compares.

Each object has typed bindings beside it, ``tools/bindings/NAME_bpf.py``
(``pybpf gen bindings``, :mod:`pybpf.bindings.generate`), which the tools
load it through: written from the shipped object whenever it is built
(:func:`write_bindings`), referring to the object file rather than
embedding it (the package ships the object already).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
INCLUDE = HERE / "include"
OBJECTS = HERE / "objects"
MANIFEST = OBJECTS / "manifest.json"
BINDINGS = HERE / "bindings"
"""The package of the objects' generated bindings (``NAME_bpf.py``)."""
ARCHES = ("x86", "arm64")
"""The objects are built for each and must come out the same."""

MANIFEST_FORMAT = 1


def tool_names() -> list[str]:
    """Every tool with a BPF C source, by name."""
    return sorted(p.name[:-len(".bpf.c")] for p in HERE.glob("*.bpf.c"))


def inputs_digest(files: list[str]) -> str:
    """SHA-256 of the files a tool's object is built from (``files``:
    paths relative to the package, as the manifest lists them; their names
    and bytes count).  A missing file digests as missing."""
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0")
        try:
            h.update((PACKAGE / rel).read_bytes())
        except OSError:
            h.update(b"(missing)")
        h.update(b"\0")
    return h.hexdigest()


def read_manifest() -> dict[str, Any]:
    """The manifest of the shipped objects (empty without one)."""
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError):
        return {}


def shipped_object(name: str) -> tuple[Path | None, str]:
    """Tool ``name``'s shipped object and ``""``, or None and why it cannot
    be used (absent, or built from other sources than the package holds)."""
    path = OBJECTS / f"{name}.bpf.o"
    entry = read_manifest().get("tools", {}).get(name)
    if entry is None or not path.is_file():
        return None, f"no prebuilt object for {name} in {OBJECTS}"
    if entry.get("inputs") != inputs_digest(entry.get("sources", [])):
        return None, (f"{name}.bpf.c or the headers changed since {path.name} was built "
                      f"(python generators/build_tools.py rebuilds it)")
    return path, ""


# --- bindings -----------------------------------------------------------------------------

def bindings_path(name: str) -> Path:
    """Where tool ``name``'s bindings module is shipped."""
    return BINDINGS / f"{name}_bpf.py"


def bindings_text(name: str, data: bytes | None = None) -> str:
    """Tool ``name``'s bindings module for its object (the shipped one, or
    ``data``): the object is referred to (``../objects/NAME.bpf.o``), not
    embedded."""
    from ..bindings.generate import generate
    from ..elf import load_object

    if data is None:
        data = (OBJECTS / f"{name}.bpf.o").read_bytes()
    return generate(load_object(data), data, object_name=f"{name}.bpf.o",
                    object_file=f"../{OBJECTS.name}/{name}.bpf.o")


def write_bindings(names: list[str] | None = None) -> list[Path]:
    """Write the bindings of the shipped objects (or those of ``names``);
    the paths written."""
    written = []
    for name in names or tool_names():
        path = bindings_path(name)
        text = bindings_text(name)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def stale_bindings(names: list[str] | None = None) -> list[str]:
    """The shipped bindings that differ from the ones the shipped objects
    give now (generated in memory), as problems; empty when all match."""
    problems = []
    for name in names or tool_names():
        path = bindings_path(name)
        if not (OBJECTS / f"{name}.bpf.o").is_file():
            continue
        if not path.is_file():
            problems.append(f"{name}: no bindings module {path}")
        elif path.read_text() != bindings_text(name):
            problems.append(f"{name}: {path} is stale (python generators/build_tools.py "
                            f"--bindings writes it again)")
    return problems


# --- building -----------------------------------------------------------------------------

def compiler_identity() -> str:
    """The compiler the objects are built with: ``zig VERSION (clang
    VERSION)``, from the ziglang wheel.  Raises
    :class:`~pybpf.toolchain.CompilerNotFound` without it."""
    from ..toolchain import find_compiler

    cc = find_compiler("zig")
    zig = subprocess.run([cc.command[0], "-m", "ziglang", "version"], capture_output=True,
                         text=True, check=True).stdout.strip()
    clang = subprocess.run([*cc.command, "--version"], capture_output=True, text=True,
                           check=True).stdout.splitlines()[0].strip()
    return f"zig {zig} ({clang})"


def build_object(name: str, output: str | os.PathLike, *, arch: str = ARCHES[0]
                 ) -> tuple[Path, list[str]]:
    """Compile tool ``name`` to ``output`` the reproducible way (zig; file
    names relative to the package; compilation directory ``.``).  Returns
    the object's path and the files it was built from (relative to the
    package, from the compiler's dependency list)."""
    from ..toolchain import compile

    output = Path(output)
    depfile = output.with_suffix(".d")
    flags = [f"-ffile-prefix-map={PACKAGE}={PACKAGE.name}", "-fdebug-compilation-dir=.",
             "-MD", "-MF", os.fspath(depfile)]
    path = compile(HERE / f"{name}.bpf.c", output, compiler="zig", include_dirs=[INCLUDE],
                   arch=arch, extra_flags=flags, vmlinux=False)
    return path, _dependencies(depfile)


def _dependencies(depfile: Path) -> list[str]:
    """The package files a make-style dependency file lists, sorted."""
    text = depfile.read_text().replace("\\\n", " ")
    _target, _, deps = text.partition(": ")
    files = set()
    for dep in deps.split():
        path = Path(dep).resolve()
        if path.is_relative_to(PACKAGE):
            files.add(path.relative_to(PACKAGE).as_posix())
    return sorted(files)


def build_all(directory: str | os.PathLike, names: list[str] | None = None, *,
              log: Any = None) -> dict[str, Any]:
    """Build every tool's object (or those in ``names``) into
    ``directory``, each for every architecture of :data:`ARCHES` (which
    must give the same bytes); returns the manifest describing them."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": MANIFEST_FORMAT, "compiler": compiler_identity(),
                                "tools": {}}
    with tempfile.TemporaryDirectory(prefix="pybpf-tools-") as tmp:
        for name in names or tool_names():
            if log is not None:
                log(f"{name}: compiling {name}.bpf.c")
            built, sources = [], []
            for arch in ARCHES:
                path, sources = build_object(name, Path(tmp) / f"{name}.{arch}.o", arch=arch)
                built.append(path.read_bytes())
            if any(b != built[0] for b in built[1:]):
                raise RuntimeError(f"{name}: the object differs between {' and '.join(ARCHES)} "
                                   f"(does it use pt_regs?): ship one object per architecture")
            (out / f"{name}.bpf.o").write_bytes(built[0])
            manifest["tools"][name] = {"sources": sources, "inputs": inputs_digest(sources),
                                       "object": hashlib.sha256(built[0]).hexdigest()}
    return manifest


def write_manifest(manifest: dict[str, Any], path: str | os.PathLike = MANIFEST) -> None:
    """Write ``manifest`` as :func:`read_manifest` reads it (sorted keys,
    one trailing newline: the same bytes for the same content)."""
    Path(path).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check(names: list[str] | None = None) -> list[str]:
    """Rebuild the objects in a temporary directory and compare them with
    the shipped ones, and the bindings with the shipped objects'; returns
    the differences found (empty: they match)."""
    shipped = read_manifest()
    problems = stale_bindings(names)
    with tempfile.TemporaryDirectory(prefix="pybpf-tools-check-") as tmp:
        fresh = build_all(tmp, names)
        if shipped.get("compiler") != fresh["compiler"]:
            problems.append(f"built with {shipped.get('compiler')}, this compiler is "
                            f"{fresh['compiler']}")
        for name, entry in fresh["tools"].items():
            have = shipped.get("tools", {}).get(name)
            if have is None:
                problems.append(f"{name}: not in {MANIFEST}")
                continue
            if have.get("inputs") != entry["inputs"]:
                problems.append(f"{name}: its sources changed since the object was built")
            path = OBJECTS / f"{name}.bpf.o"
            data = path.read_bytes() if path.is_file() else b""
            if data != (Path(tmp) / f"{name}.bpf.o").read_bytes():
                problems.append(f"{name}: {path} differs from a fresh build")
            elif hashlib.sha256(data).hexdigest() != have["object"]:
                problems.append(f"{name}: the manifest's digest of {path.name} is wrong")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python generators/build_tools.py [--check | --bindings] [NAME...]``."""
    import argparse

    p = argparse.ArgumentParser(prog="build_tools.py",
                                description="Build the tools' BPF objects shipped in "
                                            "src/pybpf/tools/objects (needs the ziglang "
                                            "wheel: pip install 'pybpf[tools]').")
    p.add_argument("names", nargs="*", metavar="NAME", help="tools to build (default: all)")
    p.add_argument("--check", action="store_true",
                   help="rebuild in a temporary directory and compare with the shipped "
                        "objects (and the bindings with the objects); exit 1 when they differ")
    p.add_argument("--bindings", action="store_true",
                   help="only write the bindings modules (tools/bindings/NAME_bpf.py) of the "
                        "shipped objects, compiling nothing")
    args = p.parse_args(argv)
    if args.bindings:
        for path in write_bindings(args.names or None):
            print(f"wrote {path}")
        return 0
    if args.check:
        problems = check(args.names or None)
        for line in problems:
            print(f"build_tools: {line}", file=sys.stderr)
        if not problems:
            print(f"build_tools: the shipped objects match their sources "
                  f"({read_manifest().get('compiler')})")
        return 1 if problems else 0
    manifest = build_all(OBJECTS, args.names or None,
                         log=lambda text: print(text, file=sys.stderr))
    if args.names:  # keep the others' entries
        old = read_manifest().get("tools", {})
        manifest["tools"] = {**old, **manifest["tools"]}
    write_manifest(manifest)
    write_bindings(args.names or None)
    for name, entry in sorted(manifest["tools"].items()):
        size = (OBJECTS / f"{name}.bpf.o").stat().st_size
        print(f"{name:<12} {size:>7} bytes  sha256 {entry['object'][:16]}")
    print(f"wrote {MANIFEST} ({manifest['compiler']}) and the bindings in {BINDINGS}")
    return 0


__all__ = ["ARCHES", "BINDINGS", "INCLUDE", "MANIFEST", "OBJECTS", "bindings_path",
           "bindings_text", "build_all", "build_object", "check", "compiler_identity",
           "inputs_digest", "main", "read_manifest", "shipped_object", "stale_bindings",
           "tool_names", "write_bindings", "write_manifest"]
