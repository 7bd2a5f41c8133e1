"""Control-flow graphs drawn: DOT for graphviz, and SVG laid out here.

:func:`to_dot` writes one ``digraph`` with a cluster per function (feed it
to ``dot -Tsvg`` when graphviz is installed); :func:`to_svg` needs nothing:
it lays the blocks out itself in layers (a block sits one layer below the
lowest block that jumps or falls into it; blocks in a layer are ordered by
the mean position of their predecessors) and draws each block as one SVG
group (``<g class="block">``) holding its instructions and, when the
program was verified, the verifier's state on entry.  Edges: green for a
taken branch, red for the fallthrough of a conditional jump, grey for plain
fallthrough and ``goto``, dashed for calls; a jump back (a loop) bends
around the right of the blocks it spans.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from .cfg import CALL, FALLTHROUGH, GOTO, TAKEN, Block, ControlFlowGraph, Edge

EDGE_COLOURS = {TAKEN: "#2e7d32", FALLTHROUGH: "#c62828", GOTO: "#546e7a", CALL: "#6a1b9a"}
"""Edge colours by kind (a fallthrough out of a block that does not branch
is drawn in :data:`PLAIN_EDGE`)."""
PLAIN_EDGE = "#546e7a"
STATE_WRAP = 60
"""Characters per line of a verifier state in a block."""
MAX_STATES_SHOWN = 4
"""Entry states drawn per block (the rest are counted)."""


def _edge_colour(g: ControlFlowGraph, e: Edge) -> str:
    if e.kind == FALLTHROUGH and not any(o.source == e.source and o.kind == TAKEN
                                         for o in g.edges):
        return PLAIN_EDGE
    return EDGE_COLOURS[e.kind]


def block_text(block: Block) -> tuple[list[str], list[str]]:
    """A block's lines: ``pc: instruction`` lines, and the lines under them
    (the verifier's entry states, wrapped; a refusal; "not reached")."""
    body = [f"{pc}: {text}" for pc, text in block.lines]
    notes: list[str] = []
    if block.reached is False:
        notes.append("not reached by the verifier")
    for i, state in enumerate(block.states[:MAX_STATES_SHOWN]):
        head = "entry: " if len(block.states) == 1 else f"entry {i + 1}: "
        notes.extend(textwrap.wrap(head + state, STATE_WRAP, subsequent_indent="  ",
                                   break_on_hyphens=False, break_long_words=False))
    if len(block.states) > MAX_STATES_SHOWN:
        notes.append(f"... and {len(block.states) - MAX_STATES_SHOWN} more entry states")
    if block.note:
        notes.extend(textwrap.wrap(block.note, STATE_WRAP, subsequent_indent="  "))
    return body, notes


# --- DOT ---------------------------------------------------------------------

def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_label(lines: Sequence[str]) -> str:
    """Left-justified lines as a DOT string (``\\l`` ends each line)."""
    return '"' + "".join(ln.replace("\\", "\\\\").replace('"', '\\"') + "\\l"
                         for ln in lines) + '"'


def node_id(g: ControlFlowGraph, block: Block, index: int) -> str:
    """The identifier of ``block`` of the ``index``-th graph (unique across
    the graphs of one document)."""
    return f"p{index}_b{block.id}"


def to_dot(graphs: Sequence[ControlFlowGraph], name: str | None = None) -> str:
    """``graphs`` as one DOT ``digraph``: a cluster per function of each
    program, a box per block, an edge per :class:`~pybpf.pictures.cfg.Edge`."""
    title = name or (graphs[0].name if len(graphs) == 1 else "programs")
    out = [f"digraph {_dot_string(title)} {{",
           '  graph [fontname="monospace" fontsize=11];',
           '  node [shape=box fontname="monospace" fontsize=10];',
           '  edge [fontname="monospace" fontsize=9];']
    for gi, g in enumerate(graphs):
        for entry, fname in sorted(g.functions.items()):
            label = fname if len(graphs) == 1 or fname == g.name else f"{g.name}: {fname}"
            out.append(f"  subgraph {_dot_string(f'cluster_p{gi}_f{entry}')} {{")
            out.append(f"    label={_dot_string(label)};")
            for b in g.blocks:
                if b.function != entry:
                    continue
                body, notes = block_text(b)
                attrs = [f"label={_dot_label(body + (['', *notes] if notes else []))}"]
                if b.note:
                    attrs.append('color="#c62828" penwidth=2')
                elif b.reached is False:
                    attrs.append('style=filled fillcolor="#eeeeee"')
                out.append(f"    {node_id(g, b, gi)} [{' '.join(attrs)}];")
            out.append("  }")
        for e in g.edges:
            attrs = [f'color="{_edge_colour(g, e)}"']
            if e.kind in (TAKEN, CALL):
                attrs.append(f"label={_dot_string(e.kind)}")
            if e.kind == CALL:
                attrs.append("style=dashed")
            src, dst = g.blocks[e.source], g.blocks[e.target]
            out.append(f"  {node_id(g, src, gi)} -> {node_id(g, dst, gi)} [{' '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# --- SVG layout ----------------------------------------------------------------

CHAR_WIDTH = 7.2
"""Pixels per character of the 12px monospace font (0.6 em)."""
LINE_HEIGHT = 15.0
PAD = 6.0
H_GAP = 28.0
V_GAP = 36.0
TITLE_HEIGHT = 22.0
LOOP_GAP = 14.0


@dataclass
class Box:
    """Where a block is drawn: top-left corner, size, its text."""

    block: Block
    body: list[str]
    notes: list[str]
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    layer: int = 0

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def _measure(block: Block) -> Box:
    body, notes = block_text(block)
    chars = max((len(s) for s in body + notes), default=4)
    rows = len(body) + (len(notes) + 1 if notes else 0) - (1 if notes and not body else 0)
    return Box(block, body, notes, w=chars * CHAR_WIDTH + 2 * PAD,
               h=max(rows, 1) * LINE_HEIGHT + 2 * PAD)


def _layout_function(boxes: list[Box], edges: list[Edge]) -> tuple[float, float]:
    """Place one function's boxes (ordered by pc) from (0, 0); returns the
    width and height it takes."""
    index = {b.block.id: i for i, b in enumerate(boxes)}
    preds: dict[int, list[int]] = {i: [] for i in range(len(boxes))}
    for e in edges:
        if e.kind == CALL or e.source not in index or e.target not in index:
            continue
        s, t = index[e.source], index[e.target]
        if t > s:  # forward: pcs grow down the page; a jump back is a loop
            preds[t].append(s)
    for i, b in enumerate(boxes):
        b.layer = max((boxes[p].layer + 1 for p in preds[i]), default=0)
    layers: dict[int, list[int]] = {}
    for i, b in enumerate(boxes):
        layers.setdefault(b.layer, []).append(i)
    position = {i: float(k) for row in layers.values() for k, i in enumerate(row)}
    for _ in range(3):  # order each layer by its predecessors' mean position
        for depth in sorted(layers)[1:]:
            row = layers[depth]
            row.sort(key=lambda i: (sum(position[p] for p in preds[i]) / len(preds[i])
                                    if preds[i] else position[i], boxes[i].block.start))
            for k, i in enumerate(row):
                position[i] = float(k)
    y = 0.0
    for depth in sorted(layers):
        row = layers[depth]
        left = 0.0
        for k, i in enumerate(row):
            b = boxes[i]
            want = (sum(boxes[p].cx for p in preds[i]) / len(preds[i]) - b.w / 2) \
                if preds[i] and depth else left
            b.x = max(want, left) if k else want
            left = b.x + b.w + H_GAP
            b.y = y
        y += max(boxes[i].h for i in row) + V_GAP
    low = min((b.x for b in boxes), default=0.0)
    for b in boxes:
        b.x -= low
    width = max((b.x + b.w for b in boxes), default=0.0)
    return width, max(y - V_GAP, 0.0)


def _edge_path(src: Box, dst: Box, kind: str, between: list[Box], loop: int) -> str:
    if dst.y > src.y:
        sx = src.x + src.w * (0.7 if kind == TAKEN else 0.3 if kind == FALLTHROUGH else 0.5)
        if kind == FALLTHROUGH and not between:
            sx = src.cx
        sy, tx, ty = src.y + src.h, dst.cx, dst.y
        lo, hi = min(sx, tx) - PAD, max(sx, tx) + PAD
        blocking = [b for b in between if b.y > sy and b.y + b.h < ty
                    and b.x < hi and b.x + b.w > lo]
        if not blocking:
            bend = max((ty - sy) / 2, 12.0)
            return f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + bend:.1f} {tx:.1f},{ty - bend:.1f} " \
                   f"{tx:.1f},{ty:.1f}"
        # around the blocks in the way, on the side nearer the source
        left = min(b.x for b in blocking) - H_GAP / 2
        right = max(b.x + b.w for b in blocking) + H_GAP / 2
        lane = left if abs(sx - left) <= abs(sx - right) else right
        top, bottom = min(b.y for b in blocking), max(b.y + b.h for b in blocking)
        up, down = (top - sy) / 2, (ty - bottom) / 2
        return f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + up:.1f} {lane:.1f},{sy + up:.1f} " \
               f"{lane:.1f},{top:.1f} L{lane:.1f},{bottom:.1f} C{lane:.1f},{ty - down:.1f} " \
               f"{tx:.1f},{ty - down:.1f} {tx:.1f},{ty:.1f}"
    # a loop: out of the right side, around everything in between, into the right side
    right = max(b.x + b.w for b in [src, dst, *between]) + LOOP_GAP * (loop + 1)
    sy, ty = src.y + src.h / 2, dst.y + min(dst.h / 2, LINE_HEIGHT)
    return f"M{src.x + src.w:.1f},{sy:.1f} C{right:.1f},{sy:.1f} {right:.1f},{ty:.1f} " \
           f"{dst.x + dst.w:.1f},{ty:.1f}"


def to_svg(graphs: Sequence[ControlFlowGraph]) -> str:
    """``graphs`` as one SVG document: each program a row of its functions
    (titled), each block a ``<g class="block">`` with its instructions and
    notes, each edge a ``<path class="edge KIND">``."""
    parts: list[str] = []
    y0 = PAD
    total_w = 0.0
    for gi, g in enumerate(graphs):
        boxes = {b.id: _measure(b) for b in g.blocks}
        x0 = PAD + H_GAP / 2  # room for an edge routed left of the first blocks
        placed: list[tuple[str, float, float]] = []
        for entry in sorted(g.functions):
            members = [boxes[b.id] for b in g.blocks if b.function == entry]
            w, _ = _layout_function(members, g.edges)
            loops = sum(1 for e in g.edges if e.kind != CALL
                        and g.blocks[e.source].function == entry
                        and g.blocks[e.target].start <= g.blocks[e.source].start)
            for b in members:
                b.x += x0
                b.y += y0 + 2 * TITLE_HEIGHT
            placed.append((g.functions[entry], x0, y0 + TITLE_HEIGHT))
            x0 += w + LOOP_GAP * (loops + 1) + 2 * H_GAP
        parts.append(f'<g class="program" id={quoteattr(f"p{gi}")} '
                     f'data-name={quoteattr(g.name)}>')
        parts.append(f'<text class="title" x="{PAD:.1f}" y="{y0 + 14:.1f}">'
                     f'{escape(g.name)}</text>')
        for fname, fx, fy in placed:
            if len(placed) > 1 or fname != g.name:
                parts.append(f'<text class="function" x="{fx:.1f}" y="{fy + 14:.1f}">'
                             f'{escape(fname)}</text>')
        loop_count: dict[int, int] = {}
        for e in g.edges:
            src, dst = boxes[e.source], boxes[e.target]
            if e.kind == CALL:
                d = f"M{src.x + src.w:.1f},{src.y + src.h / 2:.1f} " \
                    f"L{dst.x:.1f},{dst.y + LINE_HEIGHT / 2:.1f}"
            else:
                lo, hi = sorted((src.block.start, dst.block.start))
                between = [b for b in boxes.values() if lo < b.block.start < hi
                           and b.block.function == src.block.function]
                k = loop_count.get(src.block.function, 0)
                if dst.y <= src.y:
                    loop_count[src.block.function] = k + 1
                d = _edge_path(src, dst, e.kind, between, k)
            colour = _edge_colour(g, e)
            dash = ' stroke-dasharray="5,3"' if e.kind == CALL else ""
            parts.append(f'<path class="edge {e.kind}" d="{d}" stroke="{colour}"{dash} '
                         f'marker-end="url(#arrow-{colour[1:]})"/>')
        for b in g.blocks:
            parts.append(_block_svg(boxes[b.id], gi))
        parts.append("</g>")
        right = max((bx.x + bx.w for bx in boxes.values()), default=0.0)
        total_w = max(total_w, right + LOOP_GAP * (sum(loop_count.values()) + 2), x0)
        bottom = max((bx.y + bx.h for bx in boxes.values()), default=y0 + 2 * TITLE_HEIGHT)
        y0 = bottom + 2 * V_GAP
    width, height = total_w + PAD, y0 - 2 * V_GAP + PAD
    colours = sorted(set(EDGE_COLOURS.values()) | {PLAIN_EDGE})
    markers = "".join(
        f'<marker id="arrow-{c[1:]}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{c}"/></marker>' for c in colours)
    style = ("text{font-family:monospace;font-size:12px;white-space:pre}"
             ".title{font-size:14px;font-weight:bold}.function{font-weight:bold}"
             ".block rect{fill:#fffdf5;stroke:#37474f}.block.unreached rect{fill:#eeeeee}"
             ".block.refused rect{stroke:#c62828;stroke-width:2}"
             ".notes{fill:#1565c0}.refused .note{fill:#c62828}.edge{fill:none;stroke-width:1.4}"
             ".rule{stroke:#b0bec5}")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.1f} {height:.1f}">\n'
            f"<defs>{markers}</defs>\n<style>{style}</style>\n"
            + "\n".join(parts) + "\n</svg>\n")


def _block_svg(box: Box, gi: int) -> str:
    b = box.block
    classes = "block" + (" unreached" if b.reached is False else "") + \
        (" refused" if b.note else "")
    out = [f'<g class="{classes}" id="p{gi}-b{b.id}" data-start="{b.start}" '
           f'data-end="{b.end}">',
           f"<title>instructions {b.start}..{b.end - 1}</title>",
           f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
           f'rx="3"/>']
    y = box.y + PAD + LINE_HEIGHT - 3
    for line in box.body:
        out.append(f'<text x="{box.x + PAD:.1f}" y="{y:.1f}">{escape(line)}</text>')
        y += LINE_HEIGHT
    if box.notes:
        if box.body:
            rule = y - LINE_HEIGHT + 6
            out.append(f'<line class="rule" x1="{box.x:.1f}" y1="{rule:.1f}" '
                       f'x2="{box.x + box.w:.1f}" y2="{rule:.1f}"/>')
            y += LINE_HEIGHT
        for line in box.notes:
            cls = "note" if b.note and line.lstrip() in b.note else "notes"
            out.append(f'<text class="{cls}" x="{box.x + PAD:.1f}" y="{y:.1f}">'
                       f"{escape(line)}</text>")
            y += LINE_HEIGHT
    out.append("</g>")
    return "\n".join(out)


__all__ = ["EDGE_COLOURS", "block_text", "node_id", "to_dot", "to_svg"]
