"""The documentation site's generated pages, and the MkDocs hook that adds them.

Nothing here is written by hand twice: at every build the site takes

* ``README.md`` split at its ``##`` headings: the part before the first one
  is the home page, each section a page of the guide (links between
  sections and to ``SECURITY.md``/``DESIGN.md`` are rewritten to the pages);
* ``DESIGN.md`` and ``SECURITY.md`` as pages of their own;
* the command-line reference, from ``pybpf.cli.main.build_parser()``;
* one page per tool, from ``pybpf.tools.TOOLS``, each tool's module
  docstring and its ``build_parser()``;
* one API page per package or module of ``src/pybpf`` (mkdocstrings renders
  it from the docstrings, reading the source without importing it);
* every hand-written page under ``docs/``: in the guide, or under *Project*
  for those named in :data:`PROJECT_PAGES`.

So a new README section, command, tool, package or page appears on the site
without editing anything here.  The navigation is built here too.

``tests/docs`` imports this module (without MkDocs) for :func:`markdown_sources`,
the files whose code blocks it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import posixpath
import re
import sys
import textwrap
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
DOCS = ROOT / "docs"
PACKAGE = SRC / "pybpf"

PROJECT_PAGES = ["verifier-status.md", "writing-docs.md"]
"""Hand-written pages about the project rather than its use: they go under
*Project*; every other hand-written page goes in the guide (``getting-started``
first, the README's sections next, then the others by name)."""

ROOT_PAGES = {"DESIGN.md": "project/design.md", "SECURITY.md": "project/security.md"}
"""Files at the root of the repository shown as pages, and where."""

HELP_WIDTH = "88"
"""Columns the generated ``--help`` texts are wrapped at."""

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")


def slugify(text: str) -> str:
    """The anchor Python-Markdown's ``toc`` (and GitHub) give a heading."""
    text = text.replace("`", "")
    text = unicodedata.normalize("NFKD", text)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _outside_fences(lines: list[str]):
    """(index, line, inside a fence) for each line of Markdown ``lines``."""
    fence = None
    for i, line in enumerate(lines):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)[0] * len(m.group(2))
            yield i, line, True
        elif fence is not None:
            yield i, line, True
            if m and m.group(2).startswith(fence) and not line.strip()[len(m.group(2)):]:
                fence = None
        else:
            yield i, line, False


def readme_sections(text: str) -> list[tuple[str, str, str]]:
    """README.md cut at its ``##`` headings: (slug, title, Markdown) for the
    part before the first heading (slug ``""``) and for each section."""
    lines = text.splitlines()
    cuts = [(0, "", "")]
    for i, line, fenced in _outside_fences(lines):
        if not fenced and line.startswith("## "):
            title = line[3:].strip()
            cuts.append((i, slugify(title), title))
    sections = []
    for n, (start, slug, title) in enumerate(cuts):
        end = cuts[n + 1][0] if n + 1 < len(cuts) else len(lines)
        sections.append((slug, title, "\n".join(lines[start:end]).strip() + "\n"))
    return sections


def promote_headings(markdown: str) -> str:
    """Every heading one level up (``##`` -> ``#``), code blocks untouched."""
    lines = markdown.splitlines()
    for i, line, fenced in _outside_fences(lines):
        if not fenced and line.startswith("##"):
            lines[i] = line[1:]
    return "\n".join(lines) + "\n"


def _relative(target: str, page: str) -> str:
    """Link from page ``page`` to ``target`` (both site paths of .md files)."""
    path, _, anchor = target.partition("#")
    rel = posixpath.relpath(path, posixpath.dirname(page) or ".")
    return rel + (f"#{anchor}" if anchor else "")


def rewrite_links(markdown: str, page: str, anchors: dict[str, str]) -> str:
    """Links written for the repository, rewritten for the site: ``(#x)`` to
    the page holding heading ``x``, ``(DESIGN.md)`` and the like to their
    pages, ``(docs/x.md)`` (or an image under ``docs/``) to the site's copy.
    A link to another file of the repository, which the site does not hold,
    becomes its text followed by the path."""

    def replace(m: re.Match) -> str:
        bang, text, target = m.groups()
        path, _, anchor = target.partition("#")
        suffix = f"#{anchor}" if anchor else ""
        if not path and anchor in anchors:
            new = target if anchors[anchor] == page else _relative(anchors[anchor] + target, page)
        elif path in ROOT_PAGES:
            new = _relative(ROOT_PAGES[path] + suffix, page)
        elif path == "README.md":
            new = _relative("index.md" + suffix, page)
        elif path.startswith("docs/"):
            new = _relative(path[len("docs/"):] + suffix, page)
        elif path and "://" not in path and not path.startswith("mailto:") \
                and (ROOT / path).exists():
            return f"{text} (`{path}`)"
        else:
            return m.group(0)
        return f"{bang}[{text}]({new})"

    return re.sub(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)", replace, markdown)


def readme_pages() -> dict[str, str]:
    """The home page and the guide's pages, from README.md."""
    sections = readme_sections((ROOT / "README.md").read_text())
    uris = {slug: ("index.md" if not slug else f"guide/{slug}.md") for slug, _, _ in sections}
    anchors: dict[str, str] = {}
    for slug, _, body in sections:
        for _, line, fenced in _outside_fences(body.splitlines()):
            if not fenced and line.startswith("#"):
                anchors[slugify(line.lstrip("#").strip())] = uris[slug]
    pages = {}
    for slug, _, body in sections:
        uri = uris[slug]
        text = body if not slug else promote_headings(body)
        pages[uri] = rewrite_links(text, uri, anchors)
    return pages


def root_pages() -> dict[str, str]:
    """DESIGN.md, SECURITY.md... as pages."""
    pages = {}
    for name, uri in ROOT_PAGES.items():
        path = ROOT / name
        if path.is_file():
            pages[uri] = rewrite_links(path.read_text(), uri, {})
    return pages


ROLE = re.compile(r":(?:py:)?[a-z]+:`~?([^`]+)`")


def rst_to_markdown(text: str) -> str:
    """A docstring's reStructuredText habits in Markdown: ``::`` literal
    blocks as fenced text blocks, ``>>>`` examples as fenced ``pycon``,
    ``:role:`name``` as code, escaped spaces dropped.  The tool pages and
    the API reference (``griffe_rst.py``) both render docstrings through it."""
    lines = ROLE.sub(r"`\1`", textwrap.dedent(text)).splitlines()
    out: list[str] = []
    i = 0
    fenced = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if fenced:
            out.append(line)
            i += 1
            continue
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.endswith(":::"):
            head = stripped[:-2].rstrip()
            if head:
                out.append(head + ":")
            block: list[str] = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            body = textwrap.dedent("\n".join(block)).strip("\n")
            if body:
                out += ["", "```text", body, "```", ""]
            continue
        if line.lstrip().startswith(">>>"):
            indent = len(line) - len(line.lstrip())
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].strip())
                i += 1
            out += ["", "```pycon", *block, "```", ""]
            continue
        out.append(line.replace("\\ ", ""))  # RST's escaped space: ``Spec``\ s
        i += 1
    return "\n".join(out).strip("\n") + "\n"


@contextlib.contextmanager
def _help_width():
    """argparse wraps help at $COLUMNS: the same width on every machine."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _import(name: str):
    """Import ``name`` from this checkout's ``src`` (not an installed copy)."""
    if str(SRC) not in sys.path[:1]:
        sys.path.insert(0, str(SRC))
    return importlib.import_module(name)


def subcommands(parser: argparse.ArgumentParser):
    """(name, parser) of each sub-command of ``parser``, aliases left out."""
    seen = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    yield name, sub


def _text_block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```\n"


def cli_page() -> str:
    """The command-line reference: every command's ``--help``."""
    main = _import("pybpf.cli.main")
    parser = main.build_parser()
    out = ["# Command line", "",
           "Every command's `--help`, generated from the argument parser "
           "(`pybpf.cli.main.build_parser`) when the site is built.  The tools "
           "(`pybpf tools NAME`) have pages of their own: [Tools](../tools/index.md).", ""]
    with _help_width():
        out.append(_text_block(parser.format_help()))

        def walk(p: argparse.ArgumentParser, words: list[str]) -> None:
            for name, sub in subcommands(p):
                full = [*words, name]
                out.append("#" * min(len(full) + 1, 4) + " " + " ".join(["pybpf", *full]))
                out.append("")
                out.append(_text_block(sub.format_help()))
                walk(sub, full)

        walk(parser, [])
    return "\n".join(out)


def tool_names() -> dict[str, str]:
    """The tools, name -> one-line description."""
    return dict(_import("pybpf.tools").TOOLS)


def tool_page(name: str, summary: str) -> str:
    """One tool's page: its docstring, options and where its program is."""
    module = _import(f"pybpf.tools.{name}")
    doc = rst_to_markdown(module.__doc__ or summary)
    out = [f"# {name}", "", doc.strip(), ""]
    with _help_width():
        out += ["## Options", "", _text_block(_tool_help(module))]
    source = PACKAGE / "tools" / f"{name}.bpf.c"
    out += ["## Where it comes from", "",
            f"Front end: `src/pybpf/tools/{name}.py` ([API](../api/tools.md))."]
    if source.is_file():
        out.append(f"BPF program: `src/pybpf/tools/{name}.bpf.c`, shipped prebuilt "
                   f"(`src/pybpf/tools/objects/{name}.bpf.o`).")
    return "\n".join(out) + "\n"


def _tool_help(module) -> str:
    """A tool's ``--help``: from its ``build_parser()``, or else what its
    ``main(["--help"])`` prints."""
    if hasattr(module, "build_parser"):
        return module.build_parser().format_help()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        module.main(["--help"])
    return out.getvalue()


def tools_index(tools: dict[str, str]) -> str:
    """The tools' overview page."""
    doc = rst_to_markdown(_import("pybpf.tools").__doc__ or "")
    rows = [f"| [{n}]({n}.md) | {text} |" for n, text in tools.items()]
    return "\n".join(["# Tools", "", doc, "| tool | what it shows |", "|---|---|", *rows, ""])


def api_units() -> list[str]:
    """The packages and modules of ``src/pybpf`` with an API page (private
    ones and ``__main__`` left out), found on disk without importing."""
    units = []
    for path in sorted(PACKAGE.iterdir()):
        if path.name.startswith("_"):
            continue
        if path.is_dir() and any(path.glob("*.py")):  # namespace packages too
            units.append(path.name)
        elif path.suffix == ".py":
            units.append(path.stem)
    return units


def api_page(unit: str | None) -> str:
    """The API page of ``pybpf.<unit>`` (``None``: the ``pybpf`` package)."""
    if unit is None:
        return top_level_page()
    folder = PACKAGE / unit
    if folder.is_dir() and not (folder / "__init__.py").is_file():
        return namespace_page(unit)
    return f"# pybpf.{unit}\n\n::: pybpf.{unit}\n"


def namespace_page(unit: str) -> str:
    """The API page of a namespace package (a folder without
    ``__init__.py``), which mkdocstrings cannot collect: its modules'
    public classes, functions and methods with their docstrings, read with
    ``ast``."""
    import ast

    def signature(node) -> str:
        return f"{node.name}({ast.unparse(node.args)})"

    def doc(node) -> list[str]:
        text = ast.get_docstring(node)
        return [rst_to_markdown(text), ""] if text else []

    out = [f"# pybpf.{unit}", "",
           f"`pybpf.{unit}` is a namespace package: its modules, one section each.", ""]
    for path in sorted((PACKAGE / unit).glob("*.py")):
        if path.stem.startswith("_"):
            continue
        tree = ast.parse(path.read_text())
        out += [f"## pybpf.{unit}.{path.stem}", "", *doc(tree)]
        for node in tree.body:
            if getattr(node, "name", "_").startswith("_"):
                continue
            if isinstance(node, ast.ClassDef):
                out += [f"### class `{node.name}`", "", *doc(node)]
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) \
                            and not item.name.startswith("_"):
                        out += [f"#### `{node.name}.{signature(item)}`", "", *doc(item)]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out += [f"### `{signature(node)}`", "", *doc(node)]
    return "\n".join(out) + "\n"


def top_level_page() -> str:
    """The ``pybpf`` package: its docstring and where each name of its
    ``__all__`` is documented (most are imported lazily, on first use)."""
    pybpf = _import("pybpf")
    rows = []
    for name in pybpf.__all__:
        value = getattr(pybpf, name)
        module = getattr(value, "__module__", None) if callable(value) else None
        if not module or not module.startswith("pybpf."):
            rows.append(f"| `pybpf.{name}` | `{value!r}` |")
            continue
        page = module.split(".")[1] + ".md"
        public = not any(p.startswith("_") for p in module.split("."))
        anchor = f"#{module}.{name}" if public else ""
        rows.append(f"| `pybpf.{name}` | [`{module}.{name}`]({page}{anchor}) |")
    return "\n".join([
        "# pybpf", "", "::: pybpf", "    options:", "      members: false", "",
        "## What `import pybpf` gives", "",
        "| name | documented as |", "|---|---|", *rows, "",
        "Each package and module of `src/pybpf` has its own page in this section.", ""])


def generated_pages() -> dict[str, str]:
    """Every generated page: site path -> Markdown."""
    pages = {**readme_pages(), **root_pages()}
    pages["reference/cli.md"] = cli_page()
    tools = tool_names()
    pages["tools/index.md"] = tools_index(tools)
    for name, summary in tools.items():
        pages[f"tools/{name}.md"] = tool_page(name, summary)
    pages["api/index.md"] = api_page(None)
    for unit in api_units():
        pages[f"api/{unit}.md"] = api_page(unit)
    return pages


def hand_written_pages() -> list[str]:
    """The Markdown pages under ``docs/``, as site paths, by name."""
    return sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                  if "hooks" not in p.relative_to(DOCS).parts)


def markdown_sources() -> list[Path]:
    """The Markdown files whose text appears on the site as it is written
    (so their code blocks are the site's): README.md, the root pages and
    the hand-written pages.  Generated pages hold only ``text`` blocks."""
    files = [ROOT / "README.md", *(ROOT / n for n in ROOT_PAGES)]
    files += [DOCS / p for p in hand_written_pages()]
    return [f for f in files if f.is_file()]


def _title(markdown: str, default: str) -> str:
    for _, line, fenced in _outside_fences(markdown.splitlines()):
        if not fenced and line.startswith("# "):
            return line[2:].strip().replace("`", "")
    return default


def navigation(pages: dict[str, str]) -> list:
    """The site's navigation: home, guide, tools, references, project."""

    def entry(uri: str, text: str | None = None) -> dict[str, str]:
        if text is None:
            text = (DOCS / uri).read_text() if (DOCS / uri).is_file() else pages[uri]
        return {_title(text, uri): uri}

    hand = hand_written_pages()
    guide = [entry(p) for p in hand if p == "getting-started.md"]
    guide += [entry(u) for u in pages if u.startswith("guide/")]
    guide += [entry(p) for p in hand if p not in PROJECT_PAGES and p != "getting-started.md"]
    tools = [{"Overview": "tools/index.md"}]
    tools += [{u[len("tools/"):-3]: u} for u in pages
              if u.startswith("tools/") and u != "tools/index.md"]
    api = [{"pybpf": "api/index.md"}]
    api += [{f"pybpf.{u[len('api/'):-3]}": u} for u in pages
            if u.startswith("api/") and u != "api/index.md"]
    project = [entry(u) for u in ROOT_PAGES.values() if u in pages]
    project += [entry(p) for p in hand if p in PROJECT_PAGES]
    return [{"Home": "index.md"}, {"Guide": guide}, {"Tools": tools},
            {"Command line": "reference/cli.md"}, {"API reference": api},
            {"Project": project}]


# --- the MkDocs hook ------------------------------------------------------------------

_PAGES: dict[str, str] = {}


def on_config(config):
    """Generate the pages and set the navigation from them."""
    _PAGES.clear()
    _PAGES.update(generated_pages())
    config["nav"] = navigation(_PAGES)
    return config


def on_files(files, config):
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    for uri, text in _PAGES.items():
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, content=text))
    return files
