"""A strict reader of the Prometheus text format (0.0.4), written for the
tests independently of pybpf.export's writer: every line must parse, every
sample must belong to the family whose TYPE came before it, and histogram
buckets must be cumulative with a +Inf bucket equal to _count."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, suffix: str = "", **labels: str) -> float:
        found = [v for n, ls, v in self.samples if n == self.name + suffix and ls == labels]
        assert len(found) == 1, (self.name + suffix, labels, self.samples)
        return found[0]


def _unescape_help(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "\\n":
            out.append("\n" if text[i + 1] == "n" else "\\")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _labels(text: str, pos: int) -> tuple[dict[str, str], int]:
    labels: dict[str, str] = {}
    assert text[pos] == "{"
    pos += 1
    while text[pos] != "}":
        m = LABEL.match(text, pos)
        assert m, f"bad label name at {text[pos:]!r}"
        name = m.group()
        pos = m.end()
        assert text[pos:pos + 2] == '="', f"expected =\" at {text[pos:]!r}"
        pos += 2
        value = []
        while text[pos] != '"':
            if text[pos] == "\\":
                nxt = text[pos + 1]
                assert nxt in '\\"n', f"bad escape \\{nxt}"
                value.append({"n": "\n"}.get(nxt, nxt))
                pos += 2
            else:
                assert text[pos] != "\n"
                value.append(text[pos])
                pos += 1
        pos += 1
        assert name not in labels, f"label {name} twice"
        labels[name] = "".join(value)
        if text[pos] == ",":
            pos += 1
    return labels, pos + 1


def _value(text: str) -> float:
    special = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    return float(text)


def parse(text: str) -> dict[str, Family]:
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, Family] = {}
    current: Family | None = None
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            word, rest = line[2:6], line[7:]
            name, _, arg = rest.partition(" ")
            assert NAME.fullmatch(name), name
            fam = families.setdefault(name, Family(name))
            if word == "HELP":
                assert fam.help is None, f"two HELP lines for {name}"
                fam.help = _unescape_help(arg)
            else:
                assert arg in ("counter", "gauge", "histogram", "summary", "untyped"), arg
                assert not fam.samples, f"TYPE after samples of {name}"
                fam.type = arg
            current = fam
            continue
        assert not line.startswith("#"), line
        m = NAME.match(line)
        assert m, line
        name = m.group()
        pos = m.end()
        labels: dict[str, str] = {}
        if line[pos] == "{":
            labels, pos = _labels(line, pos)
        assert line[pos] == " ", line
        value = _value(line[pos + 1:].split(" ")[0])
        assert current is not None, f"sample {name} before any TYPE"
        base = current.name
        allowed = {base} | ({base + s for s in ("_bucket", "_sum", "_count")}
                            if current.type == "histogram" else set())
        assert name in allowed, f"{name} is not a sample of {base} ({current.type})"
        current.samples.append((name, labels, value))
    for fam in families.values():
        if fam.type == "histogram":
            _check_histogram(fam)
    return families


def _check_histogram(fam: Family) -> None:
    series: dict[tuple, list[tuple[float, float]]] = {}
    counts: dict[tuple, float] = {}
    for name, labels, value in fam.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name.endswith("_bucket"):
            series.setdefault(rest, []).append((_value(labels["le"]), value))
        elif name.endswith("_count"):
            counts[rest] = value
    for rest, buckets in series.items():
        les = [le for le, _ in buckets]
        assert les == sorted(les) and les[-1] == math.inf, les
        values = [v for _, v in buckets]
        assert values == sorted(values), f"buckets not cumulative: {values}"
        assert counts[rest] == values[-1], "+Inf bucket differs from _count"
