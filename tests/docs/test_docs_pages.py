"""The site's generated pages (docs/hooks/pages.py), without MkDocs: every
command, tool and package gets its page, README sections and links are cut
and rewritten correctly, docstrings' reStructuredText becomes Markdown."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
import pages  # noqa: E402


def test_every_command_is_in_the_cli_reference():
    from pybpf.cli.main import build_parser

    text = pages.cli_page()
    for name, sub in pages.subcommands(build_parser()):
        assert f"# pybpf {name}\n" in text
        for inner, _ in pages.subcommands(sub):
            assert f" pybpf {name} {inner}\n" in text
    assert "pybpf prog dump" in text and "--prog-type" in text


def test_every_tool_and_package_has_a_page():
    from pybpf.tools import TOOLS

    generated = pages.generated_pages()
    for name in TOOLS:
        page = generated[f"tools/{name}.md"]
        assert f"usage: pybpf tools {name}" in page
        assert f"[{name}]({name}.md)" in generated["tools/index.md"]
    units = pages.api_units()
    assert {"isa", "vm", "kernel", "verifier", "errors", "objects"} <= set(units)
    assert not [u for u in units if u.startswith("_")]
    for unit in units:
        assert generated[f"api/{unit}.md"].startswith(f"# pybpf.{unit}\n\n")
        assert f"pybpf.{unit}" in generated[f"api/{unit}.md"].split("\n", 3)[2]
    assert "[`pybpf.elf.loader.load_object`](elf.md#pybpf.elf.loader.load_object)" in \
        generated["api/index.md"]


def test_navigation_holds_every_page():
    generated = pages.generated_pages()
    nav = pages.navigation(generated)

    def uris(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from uris(value)
        else:
            for item in node:
                yield from uris(item)

    listed = list(uris(nav))
    assert len(listed) == len(set(listed))
    assert set(listed) == set(generated) | set(pages.hand_written_pages())


def test_readme_sections_ignore_headings_in_code():
    text = "# t\nintro\n```sh\n## not a heading\n```\n## One `x`\nbody\n### Sub\n## Two\n"
    sections = pages.readme_sections(text)
    assert [(s, t) for s, t, _ in sections] == [("", ""), ("one-x", "One `x`"), ("two", "Two")]
    assert "## not a heading" in sections[0][2]
    assert pages.promote_headings(sections[1][2]).startswith("# One `x`\nbody\n## Sub\n")


def test_links_are_rewritten_for_the_site():
    anchors = {"the-jit": "guide/the-jit.md", "python": "guide/python.md"}
    text = "[a](#the-jit) [b](#python) [c](SECURITY.md) [d](docs/x.md#y) [e](https://e.org)"
    assert pages.rewrite_links(text, "guide/python.md", anchors) == (
        "[a](the-jit.md#the-jit) [b](#python) [c](../project/security.md) [d](../x.md#y) "
        "[e](https://e.org)")
    assert pages.rewrite_links("[a](#the-jit)", "index.md", anchors) == \
        "[a](guide/the-jit.md#the-jit)"
    assert pages.rewrite_links("![f](docs/img/f.svg) [s](examples/sum.s)", "guide/x.md",
                               anchors) == "![f](../img/f.svg) s (`examples/sum.s`)"


def test_rst_docstrings_become_markdown():
    doc = ("Use :func:`pybpf.vm.load`::\n\n    x = 1\n    y = 2\n\nthen\n\n"
           ">>> 1 + 1\n2\n>>> [i for i in b]\n[(1, 2)]\n\n``Spec``\\ s end\n")
    assert pages.rst_to_markdown(doc) == (
        "Use `pybpf.vm.load`:\n\n```text\nx = 1\ny = 2\n```\n\nthen\n\n\n"
        "```pycon\n>>> 1 + 1\n2\n>>> [i for i in b]\n[(1, 2)]\n```\n\n\n``Spec``s end\n")
