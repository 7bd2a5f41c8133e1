"""The structure DESIGN.md promises, enforced: imports point down its layer
table, no module is part of an import cycle, no private name crosses a
module boundary, and ABI numbers live in ``spec/`` and ``isa/``."""

from __future__ import annotations

import io
import re
import tokenize
from collections import defaultdict

import pytest
from import_graph import PACKAGE, SRC, graph, modules, strongly_connected

from conftest import ROOT

DESIGN = ROOT / "DESIGN.md"

FACADE = {PACKAGE, f"{PACKAGE}.__main__"}
"""``import pybpf`` and ``python -m pybpf``: the package's front door, which
names everything lazily; it sits outside the layers."""


def layer_table() -> dict[str, tuple[set[str], bool]]:
    """DESIGN.md's layer table: unit -> (units it may import, planned?)."""
    text = DESIGN.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[str], bool]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        unit = _unit(cells[0])
        allowed = {_unit(x) for x in re.findall(r"`([^`]+)`", cells[-1])}
        table[unit] = (allowed, "planned" in cells[1].lower())
    return table


def _unit(cell: str) -> str:
    name = cell.strip("` ")
    name = name.removesuffix("/").removesuffix(".py")
    return name.replace("/", ".")


def unit_of(module: str, units: set[str]) -> str | None:
    """The table's unit for ``pybpf.x.y``: the longest unit that prefixes it."""
    rest = module.removeprefix(PACKAGE + ".")
    parts = rest.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in units:
            return candidate
    return None


def closure(table: dict[str, tuple[set[str], bool]]) -> dict[str, set[str]]:
    """What each unit may import, directly or through what it may import."""
    out: dict[str, set[str]] = {}
    for unit in table:
        seen: set[str] = set()
        todo = list(table[unit][0])
        while todo:
            u = todo.pop()
            if u in seen:
                continue
            seen.add(u)
            todo.extend(table.get(u, (set(), False))[0])
        out[unit] = seen
    return out


def test_design_has_a_layer_table_naming_only_existing_units():
    table = layer_table()
    assert len(table) >= 10
    mods = modules()
    for unit, (allowed, planned) in table.items():
        exists = any(m == f"{PACKAGE}.{unit}" or m.startswith(f"{PACKAGE}.{unit}.")
                     for m in mods)
        assert exists or planned, f"DESIGN.md names {unit!r}, which does not exist " \
                                  f"(mark it planned or remove it)"
        assert not (exists and planned), f"{unit!r} exists but DESIGN.md calls it planned"
        unknown = allowed - set(table)
        assert not unknown, f"{unit!r} may import {sorted(unknown)}, not in the table"


def test_every_module_belongs_to_a_unit_of_the_table():
    units = set(layer_table())
    orphans = [m for m in modules() if m not in FACADE and unit_of(m, units) is None]
    assert not orphans, f"modules DESIGN.md's layer table does not place: {orphans}"


def test_imports_point_down_the_layer_table():
    table = layer_table()
    units = set(table)
    may = closure(table)
    wrong = []
    for imp in graph():
        if imp.source in FACADE or imp.target == PACKAGE:
            continue
        src, dst = unit_of(imp.source, units), unit_of(imp.target, units)
        if src is None or dst is None or src == dst:
            continue
        if imp.source == f"{PACKAGE}.{src}" and dst.startswith(src + "."):
            continue  # a package's __init__ gathers the units inside it
        if dst not in may[src]:
            wrong.append(f"{imp.source}:{imp.line} imports {imp.target} "
                         f"({src} may not import {dst})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    mods = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in graph():
        if imp.target in mods and imp.target != imp.source and imp.source not in FACADE:
            # a submodule importing its own package's __init__ is not a cycle of ours
            if imp.source.startswith(imp.target + "."):
                continue
            edges[imp.source].add(imp.target)
    cycles = strongly_connected(set(mods), edges)
    assert not cycles, "import cycles: " + "; ".join(", ".join(c) for c in cycles)


def test_no_private_names_cross_modules():
    crossing = [f"{imp.source}:{imp.line} takes {name} from {imp.target}"
                for imp in graph() for name in imp.names
                if name.startswith("_") and not name.startswith("__")
                and imp.target != imp.source]
    assert not crossing, "\n".join(crossing)


# --- ABI numbers ------------------------------------------------------------------------

ABI_HOMES = ("spec/", "isa/")

NOT_ABI = {
    # file -> hex literals that are not facts of the Linux BPF ABI, with why
    "elf/reader.py": "the ELF file format's own header offsets and special section "
                     "indexes: the ELF reader is where they belong",
    "btf/values.py": "character codes of C string escapes",
    "helpers/environment.py": "the fixed, made-up addresses of a reproducible environment",
    "maps/jhash.py": "the jhash algorithm's initial value",
    "jit/x86.py": "x86-64 instruction encodings (opcodes, prefixes, ModRM forms): the "
                  "encoder is where they belong",
}


def _is_mask(v: int) -> bool:
    return v == 0 or v & (v + 1) == 0 or v & (v - 1) == 0


@pytest.mark.parametrize("path", sorted((SRC / PACKAGE).rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SRC / PACKAGE)))
def test_abi_numbers_live_in_spec_and_isa(path):
    rel = path.relative_to(SRC / PACKAGE).as_posix()
    if rel.startswith(ABI_HOMES) or rel in NOT_ABI:
        return
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NUMBER and tok.string.lower().startswith("0x") and \
                not _is_mask(int(tok.string, 16)):
            found.append(f"line {tok.start[0]}: {tok.string}")
    assert not found, (f"{rel} spells ABI numbers (opcodes, ids, magic values) that "
                       f"belong in pybpf.spec or pybpf.isa: {found}")
