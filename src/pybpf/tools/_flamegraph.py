"""Flame graphs as SVG, from folded stacks, for ``profile --svg`` and
``offcputime --svg``.

A flame graph draws every sampled stack as a tower of boxes, the outermost
call at the bottom; each box is as wide as the share of samples (or time)
spent in that function under the boxes below it, and boxes of the same
function in the same place merge.  The x order is alphabetical (it is not
time).  This module writes the picture as a self-contained SVG file: one
``<rect>`` and ``<text>`` per box, with a ``<title>`` tooltip giving the
function, its samples and share; no script, so it opens anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from xml.sax.saxutils import escape

WIDTH = 1200
"""Picture width in pixels."""
FRAME_HEIGHT = 16
FONT_SIZE = 12
CHAR_WIDTH = 0.59 * FONT_SIZE
"""About how wide a character of the (sans-serif) font is."""
MARGIN = 10
TITLE_HEIGHT = 40
MIN_WIDTH = 0.1
"""Boxes narrower than this (pixels) are left out."""


class Node:
    """One box: a function under its callers, with its total count and callees."""

    __slots__ = ("children", "count", "name")

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.children: dict[str, Node] = {}

    def child(self, name: str) -> Node:
        """The callee box ``name``, made on first use."""
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name)
        return node

    def depth(self) -> int:
        """Levels of boxes at and above this one."""
        return 1 + max((c.depth() for c in self.children.values()), default=0)


def parse_folded(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """Folded-stack lines (``a;b;c 12``) as ``(frames, count)`` pairs;
    lines that are not that are skipped."""
    out = []
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        try:
            n = int(count)
        except ValueError:
            continue
        out.append((stack.split(";"), n))
    return out


def build_tree(stacks: Iterable[tuple[list[str], int]]) -> Node:
    """The tree of boxes of ``stacks`` (frames from the outermost)."""
    root = Node("all")
    for frames, count in stacks:
        root.count += count
        node = root
        for frame in frames:
            node = node.child(frame)
            node.count += count
    return root


def frame_color(name: str, *, kernel: bool = False) -> str:
    """A warm colour that depends only on ``name`` (the same function
    always gets the same one); kernel frames (``_[k]``) in orange-brown
    tones, others red-yellow, as flame graphs are usually coloured."""
    digest = hashlib.sha1(name.encode()).digest()
    v1, v2, v3 = digest[0] / 255, digest[1] / 255, digest[2] / 255
    if kernel:
        return f"rgb({200 + int(55 * v1)},{100 + int(60 * v2)},{20 + int(30 * v3)})"
    return f"rgb({205 + int(50 * v3)},{int(230 * v1)},{int(55 * v2)})"


def _label(name: str, width: float) -> str:
    fits = int((width - 6) / CHAR_WIDTH)
    if fits < 3:
        return ""
    return name if len(name) <= fits else name[:fits - 2] + ".."


def render_svg(stacks: Iterable[tuple[list[str], int]], *, title: str = "Flame Graph",
               unit: str = "samples", width: int = WIDTH) -> str:
    """The flame graph of ``stacks`` (``(frames, count)``, frames from the
    outermost call; a frame ending in ``_[k]`` is drawn as kernel code) as
    SVG text."""
    root = build_tree(stacks)
    levels = root.depth()
    height = TITLE_HEIGHT + levels * FRAME_HEIGHT + 2 * MARGIN
    scale = (width - 2 * MARGIN) / root.count if root.count else 0.0
    out = [
        '<?xml version="1.0" standalone="no"?>',
        f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        '<style>text { font-family: Verdana, sans-serif; font-size: '
        f'{FONT_SIZE}px; fill: #000; }} rect {{ stroke: #fff; stroke-width: 0.5; }}</style>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f0" stroke="none"/>',
        f'<text x="{width / 2:.0f}" y="24" text-anchor="middle" font-size="17">'
        f'{escape(title)}</text>',
    ]

    def draw(node: Node, x: float, level: int) -> None:
        w = node.count * scale
        if w < MIN_WIDTH:
            return
        y = height - MARGIN - (level + 1) * FRAME_HEIGHT
        share = 100.0 * node.count / root.count
        kernel = node.name.endswith("_[k]")
        text = escape(node.name)
        out.append(f'<g><title>{text} ({node.count} {unit}, {share:.2f}%)</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{FRAME_HEIGHT - 1}" '
                   f'fill="{"#e0e0e0" if level == 0 else frame_color(node.name, kernel=kernel)}"'
                   f'/>')
        label = _label(node.name, w)
        if label:
            out.append(f'<text x="{x + 3:.1f}" y="{y + FRAME_HEIGHT - 4}">{escape(label)}</text>')
        out.append("</g>")
        cx = x
        for name in sorted(node.children):
            child = node.children[name]
            draw(child, cx, level + 1)
            cx += child.count * scale

    if root.count:
        draw(root, MARGIN, 0)
    else:
        out.append(f'<text x="{width / 2:.0f}" y="{height - MARGIN - 4}" text-anchor="middle">'
                   f'(no {escape(unit)})</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path: str, stacks: Iterable[tuple[list[str], int]], **options) -> None:
    """Write :func:`render_svg` of ``stacks`` to ``path``."""
    with open(path, "w") as f:
        f.write(render_svg(stacks, **options))


__all__ = ["Node", "build_tree", "frame_color", "parse_folded", "render_svg", "write_svg"]
