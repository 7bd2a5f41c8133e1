"""A griffe extension for the API reference: pybpf's docstrings are written
with reStructuredText habits (``::`` literal blocks, ``>>>`` examples,
``:func:`name``` roles) and rendered as Markdown; this rewrites those habits
into their Markdown forms (``pages.rst_to_markdown``) before mkdocstrings
renders them.  Only the rendering changes: the source stays as it is."""

from __future__ import annotations

import sys
from pathlib import Path

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pages import rst_to_markdown


class RstDocstrings(griffe.Extension):
    """Rewrites every docstring griffe loads (see the module docstring)."""

    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)

    def on_module_members(self, *, mod, **kwargs) -> None:
        """A package's re-exports of its own public submodules' objects are
        documented once, in the submodule that defines them (the API pages
        show each package with its submodules)."""
        if not mod.is_init_module or mod.path == "pybpf":
            return
        prefix = mod.path + "."
        moved = set()
        for name, member in list(mod.members.items()):
            target = member.target_path if member.is_alias else ""
            if target.startswith(prefix) and not any(
                    part.startswith("_") for part in target[len(prefix):].split(".")):
                del mod.members[name]
                moved.add(name)
        if moved and mod.exports:
            mod.exports = [e for e in mod.exports if str(getattr(e, "name", e)) not in moved]
