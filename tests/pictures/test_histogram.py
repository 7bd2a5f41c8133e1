"""Terminal histograms and heatmaps: exact small pictures, and the choice of
Unicode, ASCII and colour by where the text goes."""

from __future__ import annotations

import argparse
import io

import pytest

from pybpf.pictures import (
    PLAIN,
    HeatmapRows,
    Style,
    bar,
    heatmap,
    linear_bars,
    log2_axis_labels,
    log2_bars,
    log2_label,
)
from pybpf.pictures.terminal import visible_width
from pybpf.textio import can_show

UNICODE = Style(unicode=True, colour=False)
COLOUR = Style(unicode=True, colour=True)


class Tty(io.StringIO):
    """A text stream that says it is a terminal, in ``encoding``."""

    def __init__(self, encoding: str = "utf-8"):
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self):  # StringIO's is read-only and None
        return self._encoding

    def isatty(self):
        return True


def test_bars_use_eighths_of_a_cell():
    assert bar(8, 8, width=4, style=UNICODE) == "████"
    assert bar(1, 8, width=4, style=UNICODE) == "▌"
    assert bar(3, 8, width=4, style=UNICODE) == "█▌"
    assert bar(1, 64, width=4, style=UNICODE) == "▏"     # never empty when counted
    assert bar(0, 8, width=4, style=UNICODE) == ""
    assert bar(3, 8, width=4, style=PLAIN) == "##"
    assert bar(1, 1000, width=4, style=PLAIN) == "."


def test_log2_bars_exact():
    text = log2_bars([0, 0, 4, 8, 0, 2], "@usecs:", style=UNICODE, width=8)
    assert text.splitlines() == [
        "@usecs:",
        "[2, 4)                 4 │████    │  28.6%",
        "[4, 8)                 8 │████████│  57.1%",
        "[8, 16)                0 │        │   0.0%",
        "[16, 32)               2 │██      │  14.3%",
    ]
    assert log2_bars([0, 0], "@x:") == "@x:\n(no samples)"


def test_linear_bars_ascii():
    text = linear_bars([1, 0, 2], 0, 10, style=PLAIN, width=4)
    assert text.splitlines() == [
        "[0, 10)                1 |##  |  33.3%",
        "[10, 20)               0 |    |   0.0%",
        "[20, 30)               2 |####|  66.7%",
    ]


def test_colour_bars_are_coloured_by_height_and_keep_their_width():
    text = log2_bars([0, 1, 9], style=COLOUR, width=8)
    low, high = text.splitlines()
    assert "\x1b[32m" in low and "\x1b[31m" in high      # green short bar, red tall one
    plain = log2_bars([0, 1, 9], style=UNICODE, width=8).splitlines()
    assert visible_width(high) == len(plain[1])


def test_heatmap_rows_exact_and_axis_grows():
    rows = HeatmapRows(log2_axis_labels(32), unit="usecs", style=UNICODE)
    first = rows.row("10:00:01", [0, 1, 4, 4]).splitlines()
    assert first == [
        "         shades ░▒▓█: share of the interval's busiest bucket; buckets in usecs",
        "          0 1 2 4",
        "10:00:01 │  ░░████│ 9",
    ]
    assert rows.row("10:00:02", [0, 0, 4, 2]) == "10:00:02 │    ██▒▒│ 6"
    grown = rows.row("10:00:03", [0, 0, 0, 0, 0, 1]).splitlines()
    assert grown == ["          0 1 2 4 8 16", "10:00:03 │          ██│ 1"]
    assert rows.row("10:00:04", [0] * 32) == "10:00:04 │            │ 0"


def test_heatmap_rows_ascii():
    rows = HeatmapRows(["a", "b", "c"], style=PLAIN, cell_width=1)
    assert rows.row("t", [4, 1, 2]).splitlines()[-1] == "t        |#.:| 7"


def test_whole_heatmap_exact():
    labels = [log2_label(i) for i in range(8)]
    text = heatmap([[0, 1, 4], [0, 0, 2, 4], [2]], labels, ["t0", "t2"], style=UNICODE,
                   title="@usecs:")
    assert text.splitlines() == [
        "@usecs:",
        "[4, 8) │ █ │",
        "[2, 4) │█▒ │",
        "   [1] │░  │",
        "   [0] │  ▒│",
        "       └───┘",
        "       t0 t2",
    ]
    ascii_text = heatmap([[0, 1, 4]], labels, style=PLAIN)
    assert ascii_text.splitlines()[-1] == "       +-+"
    assert heatmap([[0, 0]], labels) == "(no samples)"


@pytest.mark.parametrize("isatty,env,colour", [
    (True, {}, True),
    (True, {"NO_COLOR": "1"}, False),
    (True, {"NO_COLOR": ""}, True),          # empty means unset (no-color.org)
    (True, {"TERM": "dumb"}, False),
    (False, {}, False),
])
def test_style_colour_only_on_a_terminal_without_no_color(isatty, env, colour):
    stream = Tty() if isatty else io.StringIO()
    assert Style.for_stream(stream, env).colour is colour


def test_style_falls_back_to_ascii_where_the_encoding_cannot_show_blocks():
    assert Style.for_stream(Tty("utf-8"), {}).unicode
    assert not Style.for_stream(Tty("ascii"), {}).unicode
    assert not Style.for_stream(Tty("latin-1"), {}).unicode
    assert can_show(Tty("ascii"), "abc") and not can_show(Tty("ascii"), "█")
    # what a picture drawn for an ASCII terminal holds encodes in ASCII
    st = Style.for_stream(Tty("ascii"), {})
    log2_bars([0, 3, 5], "@x:", style=st).encode("ascii")
    HeatmapRows(log2_axis_labels(4), style=st).row("t", [1, 2, 3]).encode("ascii")


def _tool_args(**kw) -> argparse.Namespace:
    from pybpf.tools._hist import add_picture_options

    p = argparse.ArgumentParser()
    p.add_argument("-i", "--interval", type=float)
    add_picture_options(p)
    argv = [f"--{k}" if v is True else f"--{k}={v}" for k, v in kw.items()]
    return p.parse_args(argv)


def test_tool_view_keeps_bcc_output_by_default():
    from pybpf.tools._hist import HistogramView, format_log2

    args = _tool_args()
    view = HistogramView(args, "usecs", Tty())
    assert view.render([0, 2, 3]) == format_log2([0, 2, 3], "@usecs:")
    assert "@" in view.render([0, 2, 3]).splitlines()[-1]


def test_tool_view_bars_and_heatmap():
    from pybpf.tools._hist import HistogramView

    view = HistogramView(_tool_args(bars=True), "usecs", io.StringIO())
    text = view.render([0, 2, 4], "disk = 'vda'\n")
    assert text.splitlines()[:2] == ["disk = 'vda'", "@usecs:"]
    assert "│████" in text and "\x1b" not in text  # a StringIO holds anything; not a TTY
    args = _tool_args(heatmap=True)
    view = HistogramView(args, "usecs", io.StringIO())
    assert args.interval == 1.0 and view.heatmap  # a heatmap needs intervals
    row = view.render([0, 2, 4], when="12:00:00").splitlines()[-1]
    assert row.startswith("12:00:00 │") and row.endswith("│ 6")
    with pytest.raises(SystemExit):
        _tool_args(bars=True, heatmap=True)
