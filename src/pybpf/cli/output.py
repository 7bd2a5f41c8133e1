"""How the ``pybpf`` command prints: bpftool's ``-j/--json`` and
``-p/--pretty`` (pretty implies JSON), given before the command or after it,
and the one-line hex bytes bpftool prints."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_output_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Give ``parser`` ``-j/--json`` and ``-p/--pretty``.  The top-level
    parser holds the defaults; a subcommand's copies leave the value alone
    unless given, so ``pybpf -j prog list`` and ``pybpf prog list -j`` agree."""
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("-j", "--json", action="store_true", default=default,
                        help="print JSON (one document per command)")
    parser.add_argument("-p", "--pretty", action="store_true", default=default,
                        help="print indented JSON (implies --json)")


def json_mode(args: argparse.Namespace) -> bool:
    """Whether the command should print JSON."""
    return bool(getattr(args, "json", False) or getattr(args, "pretty", False))


def dumps(args: argparse.Namespace, data: Any) -> str:
    """``data`` as the JSON text the options ask for."""
    return bpftool_json(data, pretty=bool(getattr(args, "pretty", False)))


def bpftool_json(data: Any, *, pretty: bool = False) -> str:
    """``data`` as JSON laid out as bpftool lays it out: compact without
    ``pretty``; with it, each member of an object on its own line indented
    by four spaces, array elements following each other on one line, and a
    closing bracket on a line of its own (bpftool's plain output of maps
    with BTF is this pretty form)."""
    out: list[str] = []

    def emit(value: Any, depth: int) -> None:
        if isinstance(value, dict):
            out.append("{")
            for i, (key, item) in enumerate(value.items()):
                out.append("," if i else "")
                if pretty:
                    out.append("\n" + "    " * (depth + 1))
                out.append(json.dumps(str(key), ensure_ascii=False) + (": " if pretty else ":"))
                emit(item, depth + 1)
            if value and pretty:
                out.append("\n" + "    " * depth)
            out.append("}")
        elif isinstance(value, list | tuple):
            out.append("[")
            for i, item in enumerate(value):
                out.append("," if i else "")
                emit(item, depth + 1)
            if value and pretty:
                out.append("\n" + "    " * depth)
            out.append("]")
        else:
            out.append(json.dumps(value, ensure_ascii=False))

    emit(data, 0)
    return "".join(out)


def print_json(args: argparse.Namespace, data: Any) -> None:
    """Print ``data`` as JSON."""
    print(dumps(args, data))


def hex_bytes(data: bytes) -> str:
    """Bytes as bpftool prints them: ``01 02 ...``, two spaces after every
    eighth byte and a new line after every sixteenth."""
    parts = []
    for i, b in enumerate(data):
        if i:
            parts.append("\n" if i % 16 == 0 else "  " if i % 8 == 0 else " ")
        parts.append(f"{b:02x}")
    return "".join(parts)


def hex_list(data: bytes) -> list[str]:
    """Bytes as bpftool's JSON lists them: ``["0x01", "0x02"]``."""
    return [f"0x{b:02x}" for b in data]


def note(text: str) -> None:
    """A remark for the user on standard error (not part of the output)."""
    print(f"pybpf: {text}", file=sys.stderr)


def write_file(path: str, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8, where names taken from
    undecodable arguments go back to their own bytes) to ``path``; a path
    that cannot be written is a one-line :class:`~pybpf.errors.BPFError`."""
    from ..errors import BPFError

    try:
        if isinstance(data, str):
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(data)
        else:
            with open(path, "wb") as f:
                f.write(data)
    except OSError as e:
        raise BPFError(f"{path}: {e.strerror or e}") from None
