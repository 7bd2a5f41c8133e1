"""Pictures of what programs and maps hold: histograms and heatmaps in a
terminal (:mod:`.histogram`, :mod:`.terminal`), and control-flow graphs of
programs as DOT and SVG (:mod:`.cfg`, :mod:`.graph`)::

    from pybpf.pictures import Style, log2_bars

    print(log2_bars([0, 3, 10, 4], "@usecs:", style=Style.for_stream()))

The histogram and terminal names are available here; the graph modules are
imported by name (``from pybpf.pictures.cfg import control_flow_graph``).
"""

from __future__ import annotations

from .histogram import (
    BAR_WIDTH,
    HeatmapRows,
    bar,
    format_bars,
    heatmap,
    linear_bars,
    linear_label,
    log2_axis_labels,
    log2_bars,
    log2_label,
)
from .terminal import PLAIN, Style

__all__ = ["BAR_WIDTH", "PLAIN", "HeatmapRows", "Style", "bar", "format_bars", "heatmap",
           "linear_bars", "linear_label", "log2_axis_labels", "log2_bars", "log2_label"]
