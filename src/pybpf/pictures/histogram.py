"""Histograms and heatmaps drawn in a terminal.

::

    from pybpf.pictures import Style, log2_bars, HeatmapRows

    print(log2_bars(counts, "@usecs:", style=Style.for_stream()))

    rows = HeatmapRows(log2_axis_labels(32), style=Style.for_stream())
    every second:  print(rows.row(time.strftime("%H:%M:%S"), counts))

Bars are drawn with eighths of a character cell (``▏▎▍▌▋▊▉█``), so a bar
40 cells wide tells 320 heights apart; a bucket that counted anything
shows at least an eighth.  A heatmap is time by bucket: each cell is shaded
by its count.  :class:`HeatmapRows` draws one row per interval as the
intervals come (time runs down the screen, buckets across), which works
on a terminal, in a pipe and in a log file alike; :func:`heatmap` draws a
whole series at once with time across and buckets up.  Every picture has a
plain ASCII form for terminals that cannot show the blocks
(:class:`~pybpf.pictures.terminal.Style`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .terminal import BAR_COLOURS, DIM, EIGHTHS, PLAIN, Style, visible_width

BAR_WIDTH = 40
"""Cells of the longest bar."""
LABEL_WIDTH = 16
COUNT_WIDTH = 8


def _human(n: int) -> str:
    for suffix, scale in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20),
                          ("K", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def log2_label(slot: int) -> str:
    """The range log2 slot ``slot`` counts: ``[0]``, ``[1]``, ``[2, 4)``,
    ``[1K, 2K)``... (slot 0 counts zeros, slot i values in [2^(i-1), 2^i))."""
    if slot == 0:
        return "[0]"
    if slot == 1:
        return "[1]"
    return f"[{_human(1 << (slot - 1))}, {_human(1 << slot)})"


def log2_low(slot: int) -> int:
    """The smallest value log2 slot ``slot`` counts."""
    return 0 if slot == 0 else 1 << (slot - 1)


def linear_label(index: int, low: int, step: int) -> str:
    """The range of linear bucket ``index`` of buckets ``step`` wide from
    ``low``: ``[low + index*step, low + (index+1)*step)``."""
    lo = low + index * step
    return f"[{lo}, {lo + step})"


def log2_axis_labels(slots: int) -> list[str]:
    """Short labels for log2 slots along a heatmap axis: each slot's lower
    bound (``0``, ``1``, ``2``, ``4``... ``1K``)."""
    return [_human(log2_low(s)) for s in range(slots)]


def bar(value: int, top: int, width: int = BAR_WIDTH, style: Style = PLAIN) -> str:
    """A bar for ``value`` out of ``top`` in ``width`` cells (not padded):
    eighths of a cell in Unicode, whole ``#`` cells in ASCII; a non-zero
    value is never drawn empty."""
    if value <= 0 or top <= 0:
        return ""
    if style.unicode:
        eighths = max(1, round(value * width * 8 / top))
        full, part = divmod(eighths, 8)
        return EIGHTHS[8] * full + (EIGHTHS[part] if part else "")
    cells = round(value * width / top)
    return "#" * cells if cells else "."


def format_bars(counts: Sequence[int], labels: Sequence[str], title: str = "", *,
                style: Style = PLAIN, width: int = BAR_WIDTH, trim: bool = True) -> str:
    """Buckets as lines of ``label  count │bar     │ percent``.  With
    ``trim``, only the buckets from the first to the last non-empty one
    (``(no samples)`` when all are empty).  Bars are coloured green,
    yellow or red by height when ``style.colour``."""
    lines = [title] if title else []
    used = [i for i, c in enumerate(counts) if c]
    if trim:
        if not used:
            return "\n".join([*lines, "(no samples)"])
        span = range(used[0], used[-1] + 1)
    else:
        span = range(len(counts))
    top = max(counts, default=0)
    total = sum(counts)
    frame = style.sgr(style.frame, DIM)
    for i in span:
        c = counts[i]
        drawn = bar(c, top, width, style)
        pad = " " * (width - visible_width(drawn))
        if style.colour and drawn:
            drawn = style.sgr(drawn, BAR_COLOURS[min(2, c * 3 // top) if top else 0])
        share = f"{100 * c / total:5.1f}%" if total else ""
        lines.append(f"{labels[i]:<{LABEL_WIDTH}}{c:>{COUNT_WIDTH}} {frame}{drawn}{pad}{frame} "
                     f"{style.sgr(share, DIM)}".rstrip())
    return "\n".join(lines)


def log2_bars(counts: Sequence[int], title: str = "", *, style: Style = PLAIN,
              width: int = BAR_WIDTH) -> str:
    """A log2 histogram (slot 0 counts zeros, slot i values in
    [2^(i-1), 2^i)) drawn with :func:`format_bars`."""
    return format_bars(counts, [log2_label(i) for i in range(len(counts))], title,
                       style=style, width=width)


def linear_bars(counts: Sequence[int], low: int, step: int, title: str = "", *,
                style: Style = PLAIN, width: int = BAR_WIDTH) -> str:
    """A linear histogram (bucket i counts [low + i*step, low + (i+1)*step))
    drawn with :func:`format_bars`."""
    return format_bars(counts, [linear_label(i, low, step) for i in range(len(counts))],
                       title, style=style, width=width)


def shade(count: int, top: int, style: Style) -> str:
    """One heatmap cell character for ``count`` out of ``top``: empty for
    zero, and for anything counted at least the lightest shade."""
    shades = style.shades
    if count <= 0 or top <= 0:
        return shades[0]
    levels = len(shades) - 1
    return shades[max(1, min(levels, -(-count * levels // top)))]


def _cell(count: int, top: int, style: Style, cell_width: int) -> str:
    text = shade(count, top, style) * cell_width
    return style.heat(text, count / top) if count > 0 and top > 0 else text


def axis_line(labels: Sequence[str], cell_width: int) -> str:
    """Labels placed under (or over) the cells they name, left to right,
    each where it fits without touching the one before it."""
    out = ""
    for i, label in enumerate(labels):
        at = i * cell_width
        if at >= len(out) + (1 if out else 0):
            out = out.ljust(at) + label
    return out


class HeatmapRows:
    """A heatmap drawn one row per interval (time down, buckets across), for
    tools that print every interval.  Columns start at bucket 0 and grow to
    the right as higher buckets fill, so rows already printed stay true;
    the axis is printed again whenever it grows.  Each row is shaded
    against its own busiest bucket and ends with its total count."""

    def __init__(self, labels: Sequence[str], *, unit: str = "", style: Style = PLAIN,
                 cell_width: int = 2, time_width: int = 8):
        self.labels = list(labels)
        self.unit = unit
        self.style = style
        self.cell_width = cell_width
        self.time_width = time_width
        self.columns = 0
        """How many buckets the axis shows so far."""

    def legend(self) -> str:
        """What the shades and buckets mean (printed over the first axis)."""
        return f"{' ' * (self.time_width + 1)}shades {self.style.shades[1:]}: share of the " \
               f"interval's busiest bucket" + (f"; buckets in {self.unit}" if self.unit else "")

    def header(self) -> str:
        """The axis over the rows: each bucket's label where it fits."""
        pad = " " * (self.time_width + 1)
        return f"{pad} {axis_line(self.labels[:self.columns], self.cell_width)}"

    def row(self, when: str, counts: Sequence[int]) -> str:
        """The row for one interval labelled ``when`` (a time), preceded by
        the axis when it is the first row or the buckets grew."""
        used = [i for i, c in enumerate(counts) if c]
        want = max(self.columns, used[-1] + 1 if used else 0, 1)
        lines = []
        moved = len(when) > self.time_width  # a longer label: the axis moves right
        self.time_width = max(self.time_width, len(when))
        if want != self.columns or moved:
            if not self.columns:
                lines.append(self.legend())
            self.columns = want
            lines.append(self.header())
        top = max(counts, default=0)
        cells = "".join(_cell(counts[i] if i < len(counts) else 0, top, self.style,
                              self.cell_width) for i in range(self.columns))
        frame = self.style.sgr(self.style.frame, DIM)
        lines.append(f"{when:<{self.time_width}} {frame}{cells}{frame} {sum(counts)}")
        return "\n".join(lines)


def heatmap(series: Sequence[Sequence[int]], labels: Sequence[str],
            times: Sequence[str] = (), *, style: Style = PLAIN, title: str = "") -> str:
    """A whole heatmap: ``series[t][b]`` counts bucket ``b`` in interval
    ``t``; time runs across (one column per interval), buckets up (the
    highest non-empty bucket at the top, bucket labels on the left).  Cells
    are shaded against the busiest cell of the whole series; ``times``
    labels the first and last columns."""
    lines = [title] if title else []
    used = sorted({b for column in series for b, c in enumerate(column) if c})
    if not used:
        return "\n".join([*lines, "(no samples)"])
    top = max(max(column, default=0) for column in series)
    width = max(len(labels[b]) for b in range(used[0], used[-1] + 1))
    frame = style.sgr(style.frame, DIM)
    for b in range(used[-1], used[0] - 1, -1):
        cells = "".join(_cell(column[b] if b < len(column) else 0, top, style, 1)
                        for column in series)
        lines.append(f"{labels[b]:>{width}} {frame}{cells}{frame}")
    rule = ("─" if style.unicode else "-") * len(series)
    lines.append(f"{'':>{width}} {'+' if not style.unicode else '└'}{rule}"
                 f"{'+' if not style.unicode else '┘'}")
    if times:
        first, last = times[0], times[-1]
        gap = len(series) + 2 - len(first) - len(last)
        axis = first + " " * gap + last if len(times) > 1 and gap > 0 else first
        lines.append(f"{'':>{width}} {axis}")
    return "\n".join(lines)


__all__ = ["BAR_WIDTH", "HeatmapRows", "axis_line", "bar", "format_bars", "heatmap",
           "linear_bars", "linear_label", "log2_axis_labels", "log2_bars", "log2_label",
           "log2_low", "shade"]
